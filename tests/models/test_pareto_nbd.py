"""Pareto/NBD: published CDNOW figures, the lifetimes oracle, 60-digit references, stability."""

from __future__ import annotations

import itertools
import warnings

import lifetimes  # test oracle only
import mpmath
import numpy as np
import pandas as pd
import pytest
from clvpredict.pareto_nbd import (
    ParetoNBDModel,
    _tricomi_scaled,
    pareto_nbd_conditional_expected_purchases,
    pareto_nbd_expected_discounted_residual_transactions,
    pareto_nbd_log_likelihood,
    pareto_nbd_negll_and_gradient,
    pareto_nbd_probability_alive,
    pareto_nbd_probability_alive_at,
)
from scipy import integrate, optimize

import clvpredict as cp

PNBD_MLE = {"r": 0.5533, "alpha": 10.578, "s": 0.6062, "beta": 11.668}
PNBD_SE = {"r": 0.048, "alpha": 0.843, "s": 0.187, "beta": 6.21}


@pytest.fixture(scope="module")
def pnbd(cdnow_summary) -> ParetoNBDModel:
    return ParetoNBDModel().fit(cdnow_summary)


def _columns(summary):
    return (summary[c].to_numpy(dtype=float) for c in ("frequency", "recency", "T"))


# ------------------------------------------------------------------ published figures


def test_mle_matches_published(pnbd):
    for name, value in PNBD_MLE.items():
        assert pnbd.params_[name] == pytest.approx(value, rel=5e-3), name
    assert pnbd.log_likelihood_ == pytest.approx(-9594.98, abs=0.05)
    assert pnbd.converged_ is True
    assert pnbd.time_unit_ == "W"


def test_standard_errors_match_published(pnbd):
    # beta's standard error is sensitive to the Hessian approximation: compare loosely.
    for name, value in PNBD_SE.items():
        assert pnbd.standard_errors_[name] == pytest.approx(value, rel=0.05), name


def test_unconditional_expectation_published():
    model = ParetoNBDModel.from_params(
        {"r": 0.55, "alpha": 10.56, "s": 0.61, "beta": 11.64}, time_unit="W"
    )
    got = model.expected_purchases_new_customer(np.arange(1.0, 6.0)).to_numpy()
    np.testing.assert_allclose(got, [0.05078, 0.09916, 0.14543, 0.18980, 0.23247], atol=5e-6)


def test_heavy_buyer_stress_case_published():
    model = ParetoNBDModel.from_params(
        {"r": 0.55, "alpha": 10.58, "s": 0.61, "beta": 11.67}, time_unit="W"
    )
    got = model.expected_purchases(10, frequency=[132, 133], recency=[200, 200], T=[200, 200])
    np.testing.assert_allclose(got.to_numpy(), [6.206, 6.253], atol=5e-4)


# ------------------------------------------------------------------ the lifetimes oracle


def test_agrees_with_lifetimes_per_customer(pnbd, cdnow_summary):
    oracle = lifetimes.ParetoNBDFitter()
    oracle.params_ = pd.Series(pnbd.params_.to_dict())
    x, t_x, big_t = _columns(cdnow_summary)
    for t in (1.0, 10.0, 39.0, 104.0):
        theirs = np.asarray(
            oracle.conditional_expected_number_of_purchases_up_to_time(t, x, t_x, big_t), float
        )
        np.testing.assert_allclose(
            pnbd.expected_purchases(t, cdnow_summary).to_numpy(), theirs, rtol=1e-9
        )
    theirs = np.asarray(oracle.conditional_probability_alive(x, t_x, big_t), float)
    np.testing.assert_allclose(pnbd.probability_alive(cdnow_summary).to_numpy(), theirs, rtol=1e-9)
    ts = np.array([0.5, 1.0, 39.0, 520.0])
    np.testing.assert_allclose(
        pnbd.expected_purchases_new_customer(ts).to_numpy(),
        oracle.expected_number_of_purchases_up_to_time(ts),
        rtol=1e-12,
    )
    # A fresh customer's conditional PMF is the unconditional one.
    for n in range(6):
        assert pnbd.probability_of_purchases(n, 39.0) == pytest.approx(
            float(oracle.conditional_probability_of_n_purchases_up_to_time(n, 39.0, 0, 0, 0)),
            rel=1e-9,
        )


@pytest.mark.parametrize(
    "params",
    [
        {"r": 0.5533, "alpha": 10.578, "s": 0.6062, "beta": 11.668},
        {"r": 0.5, "alpha": 1.0, "s": 0.8, "beta": 500.0},  # alpha << beta
        {"r": 2.0, "alpha": 300.0, "s": 0.3, "beta": 0.5},  # alpha >> beta
        {"r": 0.1, "alpha": 0.01, "s": 5.0, "beta": 100.0},
    ],
)
def test_agrees_with_lifetimes_on_a_stress_grid_where_it_is_finite(params):
    rows = [
        (x, t_x, big_t)
        for x in (0, 1, 5, 20, 50, 100, 132, 200, 500, 1000, 5000)
        for big_t in (1.0, 39.0, 200.0, 500.0)
        for t_x in ((0.0,) if x == 0 else (0.5, big_t / 2, 0.99 * big_t, big_t))
    ]
    x, t_x, big_t = (np.array(c, dtype=float) for c in zip(*rows, strict=True))
    oracle = lifetimes.ParetoNBDFitter()
    oracle.params_ = pd.Series(params)
    theta = tuple(params.values())
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore")
        theirs = np.asarray(
            oracle.conditional_expected_number_of_purchases_up_to_time(10.0, x, t_x, big_t), float
        )
        theirs_alive = np.asarray(oracle.conditional_probability_alive(x, t_x, big_t), float)
    ours = pareto_nbd_conditional_expected_purchases(10.0, *theta, x, t_x, big_t)
    ours_alive = pareto_nbd_probability_alive(*theta, x, t_x, big_t)
    assert np.all(np.isfinite(ours)) and np.all(np.isfinite(ours_alive))
    finite = np.isfinite(theirs)
    assert finite.sum() > len(rows) / 2
    np.testing.assert_allclose(ours[finite], theirs[finite], rtol=1e-8, atol=1e-12)
    finite = np.isfinite(theirs_alive)
    np.testing.assert_allclose(ours_alive[finite], theirs_alive[finite], rtol=1e-8, atol=1e-12)


# ------------------------------------------------------------------ numerical accuracy


def _log_likelihood_60_digits(r, alpha, s, beta, x, t_x, big_t):
    """The closed form of the papers (Gauss hypergeometric functions) in 60-digit arithmetic."""
    with mpmath.workdps(60):
        r, alpha, s, beta, x, t_x, big_t = (
            mpmath.mpf(v) for v in (r, alpha, s, beta, x, t_x, big_t)
        )
        rsx = r + s + x
        # The papers' two cases keep the hypergeometric argument in [0, 1).
        if alpha >= beta:
            gap, shift, second = alpha - beta, alpha, s + 1
        else:
            gap, shift, second = beta - alpha, beta, r + x

        def piece(t):
            return mpmath.hyp2f1(rsx, second, rsx + 1, gap / (shift + t)) / (shift + t) ** rsx

        a0 = piece(t_x) - piece(big_t)
        value = (
            mpmath.gamma(r + x)
            * alpha**r
            * beta**s
            / mpmath.gamma(r)
            * (1 / ((alpha + big_t) ** (r + x) * (beta + big_t) ** s) + s / rsx * a0)
        )
        return float(mpmath.log(value))


@pytest.mark.parametrize(
    "case",
    [
        (0.55, 10.58, 0.61, 11.67, 132, 200.0, 200.0),
        (0.55, 10.58, 0.61, 11.67, 2, 30.43, 38.86),
        (1e-3, 1e3, 1e3, 1e-3, 0, 0.0, 500.0),
        (1e-3, 1e3, 1e3, 1e-3, 5000, 1.0, 500.0),
        (1e3, 1e-3, 1e-3, 1e3, 5000, 1.0, 500.0),
        (1e3, 1e-3, 1e-3, 1e3, 20, 3.0, 400.0),
        (2.0, 1e-3, 0.5, 1e3, 5000, 499.9, 500.0),
        (0.5, 1e3, 2.0, 1e-3, 1, 0.01, 0.02),
        (1e-3, 1e-3, 1e-3, 1e-3, 50, 100.0, 500.0),
    ],
)
def test_log_likelihood_against_60_digit_closed_form(case):
    *theta, x, t_x, big_t = case
    ours = pareto_nbd_log_likelihood(*theta, np.array([x]), np.array([t_x]), np.array([big_t]))[0]
    reference = _log_likelihood_60_digits(*theta, x, t_x, big_t)
    # Relative to the size of the terms that make up the log-likelihood (rounding of r log alpha).
    assert ours == pytest.approx(reference, rel=1e-11, abs=1e-11)


def test_no_nan_or_inf_on_an_extreme_grid():
    rows = [
        (x, 0.0 if x == 0 else frac * big_t, big_t)
        for x in (0, 1, 2, 10, 100, 1000, 5000)
        for big_t in (0.01, 1.0, 39.0, 500.0)
        for frac in (0.0, 1e-3, 0.5, 0.999, 1.0)
    ]
    x, t_x, big_t = (np.array(c, dtype=float) for c in zip(*rows, strict=True))
    weights = np.ones_like(x)
    values = (1e-3, 1e-1, 1.0, 30.0, 1e3)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no overflow or invalid-value warnings either
        for theta in itertools.product(values, repeat=4):
            ll = pareto_nbd_log_likelihood(*theta, x, t_x, big_t)
            alive = pareto_nbd_probability_alive(*theta, x, t_x, big_t)
            later = pareto_nbd_probability_alive_at(5.0, *theta, x, t_x, big_t)
            expected = pareto_nbd_conditional_expected_purchases(10.0, *theta, x, t_x, big_t)
            dert = pareto_nbd_expected_discounted_residual_transactions(0.01, *theta, x, t_x, big_t)
            f, grad = pareto_nbd_negll_and_gradient(np.array(theta), x, t_x, big_t, weights)
            for name, v in (
                ("ll", ll),
                ("p_alive", alive),
                ("p_alive_at", later),
                ("expected", expected),
                ("dert", dert),
                ("negll", f),
                ("gradient", grad),
            ):
                assert np.all(np.isfinite(v)), (name, theta)
            assert np.all((alive >= 0) & (alive <= 1)), theta
            assert np.all(later <= alive), theta
            assert np.all(expected >= 0) and np.all(dert >= 0), theta


@pytest.mark.parametrize(
    "theta", [(0.5533, 10.578, 0.6062, 11.668), (2.0, 0.01, 0.3, 300.0), (0.05, 500.0, 4.0, 0.2)]
)
def test_gradient_matches_finite_differences(theta, cdnow_summary):
    x, t_x, big_t = _columns(cdnow_summary)
    x = np.append(x, [2000.0, 3000.0])
    t_x = np.append(t_x, [30.0, 38.0])
    big_t = np.append(big_t, [38.0, 38.0])
    w = np.ones_like(x)
    phi = np.log(theta)

    def f(p):
        return pareto_nbd_negll_and_gradient(np.exp(p), x, t_x, big_t, w)[0]

    numeric = optimize.approx_fprime(phi, f, 1e-6)
    analytic = pareto_nbd_negll_and_gradient(np.array(theta), x, t_x, big_t, w)[1] * theta
    np.testing.assert_allclose(analytic, numeric, rtol=1e-5, atol=1e-3)


def test_fit_with_heavy_buyers_converges(cdnow_summary):
    heavy = pd.DataFrame(
        {"frequency": [1500, 4000, 5000], "recency": [38.0, 20.0, 38.8], "T": [38.86] * 3}
    )
    heavy.attrs["time_unit"] = "W"
    data = pd.concat([cdnow_summary[["frequency", "recency", "T"]], heavy], ignore_index=True)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        model = ParetoNBDModel(time_unit="W").fit(data)
    assert model.converged_ is True
    assert np.isfinite(model.log_likelihood_)
    assert np.all(np.isfinite(model.expected_purchases(52, heavy)))


# ------------------------------------------------------------------ predictions


def test_probability_alive_at_against_its_definition(pnbd, cdnow_summary):
    """P(alive at T+t | data) = P(data, alive at T+t) / P(data), the joint in closed form."""
    r, alpha, s, beta = pnbd.params_
    x, t_x, big_t = _columns(cdnow_summary.iloc[:50])
    t = 13.0
    from scipy.special import gammaln

    log_joint = (
        gammaln(r + x)
        - gammaln(r)
        + r * np.log(alpha)
        - (r + x) * np.log(alpha + big_t)
        + s * np.log(beta / (beta + big_t + t))
    )
    expected = np.exp(log_joint - pareto_nbd_log_likelihood(r, alpha, s, beta, x, t_x, big_t))
    got = pnbd.probability_alive_at(t, cdnow_summary.iloc[:50])
    np.testing.assert_allclose(got.to_numpy(), expected, rtol=1e-12)
    pd.testing.assert_series_equal(
        pnbd.probability_alive_at(0, cdnow_summary), pnbd.probability_alive(cdnow_summary)
    )
    with pytest.raises(cp.ClvDataError, match="t_future"):
        pnbd.probability_alive_at(-1, cdnow_summary)


def test_pmf_sums_to_one_and_has_the_right_mean(pnbd):
    pmf = pnbd.probability_of_purchases(np.arange(0, 400), 39.0)
    assert pmf.sum() == pytest.approx(1.0, abs=1e-12)
    assert (pmf.index * pmf).sum() == pytest.approx(pnbd.expected_purchases_new_customer(39.0))
    assert pnbd.probability_of_purchases(0, 0.0) == 1.0


def test_dert_matches_discounted_integral_of_expected_purchases(pnbd, cdnow_summary):
    """DERT = delta * integral e^(-delta t) E[Y(t)] dt (integration by parts)."""
    delta = 0.0014  # per week, about 7.5% a year
    rows = cdnow_summary.iloc[[0, 1, 2, 157]]
    dert = pnbd.expected_discounted_residual_transactions(rows, delta).to_numpy()
    for i in range(len(rows)):
        one = rows.iloc[[i]]

        def integrand(t, one=one):
            return delta * np.exp(-delta * t) * float(pnbd.expected_purchases(t, one).iloc[0])

        value = integrate.quad(integrand, 0, np.inf, limit=400, epsabs=0, epsrel=1e-11)[0]
        assert dert[i] == pytest.approx(value, rel=1e-8)


def test_dert_large_beta_and_large_s_stay_finite():
    x, t_x, big_t = np.array([0.0, 3.0, 500.0]), np.array([0.0, 20.0, 38.0]), np.array([39.0] * 3)
    for beta in (1e3, 1e8, 1e12):
        dert = pareto_nbd_expected_discounted_residual_transactions(
            0.002, 0.55, 10.6, 0.6, beta, x, t_x, big_t
        )
        assert np.all(np.isfinite(dert)) and np.all(dert > 0)
    # With beta -> infinity nobody dies: DERT -> P(alive) (r+x)/(alpha+T) / delta.
    limit = (
        pareto_nbd_probability_alive(0.55, 10.6, 0.6, 1e12, x, t_x, big_t)
        * (0.55 + x)
        / (10.6 + big_t)
        / 0.002
    )
    np.testing.assert_allclose(dert, limit, rtol=1e-6)
    dert = pareto_nbd_expected_discounted_residual_transactions(
        0.002, 0.55, 10.6, 800.0, 3.0, x, t_x, big_t
    )
    assert np.all(np.isfinite(dert))


def _k_reference(s, z):
    """z^s U(s, s, z) = integral_0^inf e^-v (1 + v/z)^-s dv, by 30-digit quadrature."""
    with mpmath.workdps(30):
        s, z = mpmath.mpf(s), mpmath.mpf(z)
        points = sorted({mpmath.mpf(0), *(z / s * k for k in (0.1, 1, 10, 100)), 1, 10, 100})
        return float(
            mpmath.quad(lambda v: mpmath.exp(-v) * (1 + v / z) ** (-s), [*points, mpmath.inf])
        )


@pytest.mark.parametrize("s", [0.003, 0.6062, 1.0, 2.5, 4.0, 6.0, 9.5, 10.0, 250.0])
def test_scaled_tricomi_against_quadrature(s):
    zs = np.array([1e-6, 1e-3, 0.05, 0.29, 0.31, 1.0, 30.0, 1e4, 1e8])
    got = _tricomi_scaled(s, zs)
    expected = [_k_reference(s, z) for z in zs]
    np.testing.assert_allclose(got, expected, rtol=1e-12)


def test_dert_needs_a_positive_rate(pnbd, cdnow_summary):
    with pytest.raises(cp.ClvDataError, match="continuous_discount_rate"):
        pnbd.expected_discounted_residual_transactions(cdnow_summary, 0.0)


# ------------------------------------------------------------------ plumbing


def test_summary_repr_and_from_params(pnbd, cdnow_summary):
    table = pnbd.summary()
    assert list(table.index) == ["r", "alpha", "s", "beta"]
    text = repr(pnbd)
    for piece in ("Pareto/NBD", "-9594.97", "weeks", "converged       yes"):
        assert piece in text
    clone = ParetoNBDModel.from_params(pnbd.params_, time_unit="W")
    pd.testing.assert_series_equal(
        clone.expected_purchases(39, cdnow_summary), pnbd.expected_purchases(39, cdnow_summary)
    )
    assert repr(ParetoNBDModel()) == "ParetoNBDModel(time_unit=None, on_nonconvergence='warn')"


def test_plugs_into_clv(pnbd, gg_cdnow, cdnow_summary):
    clv = cp.predictive_clv(pnbd, gg_cdnow, cdnow_summary, horizon_months=12)
    assert clv.notna().all() and (clv >= 0).all()
    assert clv.index.equals(cdnow_summary.index)


# ------------------------------------------------------------------ fast evaluator for CLV intervals


def _monthly_horizons(unit: str = "W") -> list[float]:
    from clvpredict._units import months_to_units

    return [months_to_units(m, unit) for m in range(1, 13)]


def _per_horizon(model, ts, theta, arrays):
    """Reference: the public expected_purchases, once per horizon, at the parameters theta."""
    at = model._at(theta)
    return np.column_stack(
        [at.expected_purchases(t, **{c: arrays[c] for c in model._columns}).to_numpy() for t in ts]
    )


def test_planner_matches_expected_purchases_at_every_horizon_on_cdnow(pnbd, cdnow_summary):
    arrays, _ = pnbd._arrays(cdnow_summary, {})
    # Monthly horizons as the CLV uses them, plus 0 and a fraction of a week.
    ts = [0.0, 0.3, *_monthly_horizons(), 520.0]
    plan = pnbd._cumulative_purchases_planner(ts, arrays)
    draws = cp.uncertainty.parameter_draws(pnbd, 5, 11)
    for theta in [pnbd.params_.to_numpy(), *draws]:
        got = plan(theta)
        assert got.shape == (len(cdnow_summary), len(ts))
        np.testing.assert_allclose(got, _per_horizon(pnbd, ts, theta, arrays), rtol=1e-12, atol=0)
        assert np.all(got[:, 0] == 0.0) and np.all(np.diff(got, axis=1) >= 0)
    # The one-call evaluator at the estimates is the same function.
    np.testing.assert_array_equal(
        pnbd._cumulative_purchases(ts, pnbd.params_.to_numpy(), arrays),
        plan(pnbd.params_.to_numpy()),
    )


@pytest.mark.parametrize(
    "theta",
    [
        (0.5533, 10.578, 0.6062, 11.668),  # CDNOW
        (2.0, 1e3, 0.3, 1e-3),  # alpha >> beta
        (0.05, 1e-3, 4.0, 1e3),  # beta >> alpha
        (30.0, 0.01, 1.0, 300.0),  # s == 1: the time factor's series branch
        (1e-3, 1e3, 1e3, 1e-3),
        (1e3, 1e-3, 1e-3, 1e3),
    ],
)
def test_planner_matches_expected_purchases_for_heavy_buyers_and_extreme_parameters(theta):
    rng = np.random.default_rng(20261125)
    x = np.concatenate([[0, 1, 2, 10, 100, 1000, 5000], rng.integers(0, 5001, 200)]).astype(float)
    big_t = rng.uniform(0.01, 500.0, x.size)
    t_x = np.where(x > 0, big_t * rng.uniform(0.0, 1.0, x.size), 0.0)
    t_x[1:4] = big_t[1:4]  # bought at the very end of observation
    arrays = {"frequency": x, "recency": t_x, "T": big_t}
    names = ("r", "alpha", "s", "beta")
    model = ParetoNBDModel.from_params(dict(zip(names, theta, strict=True)), time_unit="W")
    ts = [1e-3, *_monthly_horizons(), 1e4]
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no overflow or invalid-value warnings either
        got = model._cumulative_purchases_planner(ts, arrays)(np.array(theta))
    assert np.all(np.isfinite(got)) and np.all(got >= 0)
    np.testing.assert_allclose(got, _per_horizon(model, ts, theta, arrays), rtol=1e-12, atol=0)


def test_clv_interval_is_the_same_as_with_the_generic_evaluator(
    pnbd, gg_cdnow, cdnow_summary, monkeypatch
):
    from clvpredict._base import BaseModel

    def clv():
        return cp.predictive_clv(
            pnbd, gg_cdnow, cdnow_summary, interval=0.9, n_draws=40, random_state=2026
        )

    fast = clv()
    # The generic path: the public expected_purchases once per horizon and parameter draw.
    monkeypatch.setattr(ParetoNBDModel, "_cumulative_purchases", BaseModel._cumulative_purchases)
    monkeypatch.setattr(
        ParetoNBDModel,
        "_cumulative_purchases_planner",
        lambda self, ts, arrays: BaseModel._cumulative_purchases_planner(self, ts, arrays),
    )
    generic = clv()
    assert list(fast.columns) == [
        "predictive_clv",
        "predictive_clv_lower",
        "predictive_clv_upper",
    ]
    np.testing.assert_allclose(fast.to_numpy(), generic.to_numpy(), rtol=1e-10, atol=0)
    assert (fast["predictive_clv_lower"] < fast["predictive_clv_upper"]).any()

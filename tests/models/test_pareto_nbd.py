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
    assert repr(ParetoNBDModel()) == ("ParetoNBDModel()")
    assert repr(ParetoNBDModel(time_unit="W", purchase_covariates=["channel"])) == (
        "ParetoNBDModel(time_unit='W', purchase_covariates=['channel'])"
    )


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


# ------------------------------------------------------------------ the grouped likelihood of the fit


def _histories(n, seed, theta=(0.55, 10.6, 0.6, 11.7), horizon=(0.0, 78.0)):
    """``n`` customers drawn from the Pareto/NBD in continuous time (every row distinct)."""
    model = ParetoNBDModel.from_params(dict(zip(("r", "alpha", "s", "beta"), theta, strict=True)))
    rng = np.random.default_rng(seed)
    big_t = rng.uniform(*horizon, n)
    sim = model.simulate(big_t, random_state=seed)
    return tuple(sim[c].to_numpy(dtype=float) for c in ("frequency", "recency", "T"))


def _grouped(theta, x, t_x, big_t, w, hessian=False):
    from clvpredict.models._pareto_grouped import ParetoHistories, pareto_nbd_negll_grouped

    return pareto_nbd_negll_grouped(
        np.asarray(theta, float), ParetoHistories(x, t_x, big_t, w), hessian=hessian
    )


GROUPED_THETAS = [
    (0.5533, 10.578, 0.6062, 11.668),  # CDNOW: alpha close to beta
    (0.5, 1.0, 0.8, 500.0),  # alpha << beta
    (2.0, 300.0, 0.3, 0.5),  # alpha >> beta
    (0.1, 0.01, 5.0, 100.0),  # heavy decay of f over a group: its scale range is too wide
    (1e-3, 1e3, 1e3, 1e-3),
]


@pytest.mark.parametrize("theta", GROUPED_THETAS)
def test_grouped_likelihood_equals_the_per_customer_one(theta):
    """Value and gradient of the fit's grouped likelihood (frequency groups, virtual customers,
    single customers) against the per-customer quadrature, on 30,000 simulated customers plus
    heavy buyers, purchases at the very start and at the very end, and T = 0."""
    x, t_x, big_t = _histories(30_000, 7)
    extra = np.array(
        [
            (0, 0, 0.0),
            (1, 0.0, 0.0),
            (3, 1e-9, 50.0),
            (3, 50.0, 50.0),
            (3, 50.0 - 1e-9, 50.0),
            (5000, 1.0, 500.0),
            (5000, 499.9, 500.0),
            (200, 3.0, 400.0),
        ]
    )
    x, t_x, big_t = (np.concatenate([c, e]) for c, e in zip((x, t_x, big_t), extra.T, strict=True))
    w = np.random.default_rng(3).integers(1, 4, x.size).astype(float)
    f, grad = _grouped(theta, x, t_x, big_t, w)
    reference = float(w @ pareto_nbd_log_likelihood(*theta, x, t_x, big_t))
    # Virtual customers are exact to about 1e-11 per customer (their check allows the nested rule
    # 1e-7); the groups and single customers to rounding.
    assert abs(-f - reference) <= 1e-11 * w.sum() + 1e-13 * abs(reference)
    assert -f == pytest.approx(reference, rel=1e-11)
    _, ref_grad = pareto_nbd_negll_and_gradient(np.array(theta), x, t_x, big_t, w)
    # Per log-parameter and customer: the scale at which the optimiser judges the gradient.
    np.testing.assert_allclose(grad * theta / w.sum(), ref_grad * theta / w.sum(), atol=1e-11)


@pytest.mark.parametrize("theta", GROUPED_THETAS[:3])
def test_grouped_hessian_matches_finite_differences_of_the_gradient(theta):
    x, t_x, big_t = _histories(20_000, 11)
    w = np.ones_like(x)
    _, grad, hess = _grouped(theta, x, t_x, big_t, w, hessian=True)
    phi = np.log(theta)
    numeric = np.empty((4, 4))
    for k in range(4):
        step = np.zeros(4)
        step[k] = 1e-5
        up = _grouped(np.exp(phi + step), x, t_x, big_t, w)[1]
        down = _grouped(np.exp(phi - step), x, t_x, big_t, w)[1]
        numeric[:, k] = (up * np.exp(phi + step) - down * np.exp(phi - step)) / 2e-5
    analytic = hess * np.outer(theta, theta) + np.diag(grad * theta)
    np.testing.assert_allclose(analytic, 0.5 * (numeric + numeric.T), rtol=1e-6, atol=1e-6)


def test_virtual_customers_replace_large_groups_and_agree_with_them():
    from clvpredict.models import _pareto_grouped as grouped

    # Customers acquired over 12 weeks and observed for 27 to 39 weeks.
    x, t_x, big_t = _histories(60_000, 5, horizon=(27.0, 39.0))
    rows = grouped.ParetoHistories(x, t_x, big_t, np.ones_like(x))
    # The frequencies 0 and 1, with tens of thousands of customers each.
    assert len(rows.virtual) >= 2
    real = sum(len(v.rows[1]) for v in rows.virtual)
    assert sum(len(v.main.w) for v in rows.virtual) < 0.2 * real
    theta = (0.5533, 10.578, 0.6062, 11.668)
    for virtual in rows.virtual:
        approx = grouped._one_virtual_terms(theta, virtual, True)
        exact = grouped._exact_terms(theta, virtual.exact_group(), True)
        # The designed accuracy of the virtual customers, as in the test of the whole likelihood.
        assert abs(approx[0] - exact[0]) <= 1e-11 * len(virtual.rows[1])
        np.testing.assert_allclose(approx[1], exact[1], rtol=1e-11, atol=1e-9)
        np.testing.assert_allclose(approx[2], exact[2], rtol=1e-9, atol=1e-6)
    # All virtual groups in one pass: the same sums.
    merged = grouped._virtual_terms(theta, rows, True)
    each = grouped._sum_terms([grouped._one_virtual_terms(theta, v, True) for v in rows.virtual])
    # The merged pass evaluates the same customers in other blocks: equal to 1e-12 per customer
    # (ten times inside the designed 1e-11; numpy 1.24 / scipy 1.10 differ by 2e-13 per customer,
    # today's versions by less than 1e-16).
    assert abs(merged[0] - each[0]) <= 1e-12 * x.size
    np.testing.assert_allclose(merged[1], each[1], rtol=1e-12, atol=1e-9)
    np.testing.assert_allclose(merged[2], each[2], rtol=1e-12, atol=1e-6)


def test_virtual_customers_fall_back_to_the_real_ones_when_the_check_fails(monkeypatch):
    from clvpredict.models import _pareto_grouped as grouped

    x, t_x, big_t = _histories(60_000, 5, horizon=(27.0, 39.0))
    rows = grouped.ParetoHistories(x, t_x, big_t, np.ones_like(x))
    theta = (0.5533, 10.578, 0.6062, 11.668)
    exact = grouped._sum_terms(
        [grouped._exact_terms(theta, v.exact_group(), False) for v in rows.virtual]
    )
    # A tolerance no interpolation meets: every group's real customers are used.
    monkeypatch.setattr(grouped, "_CHECK_TOLERANCE", 0.0)
    got = grouped._virtual_terms(theta, rows, False)
    # The same customers in one merged pass: equal to 1e-12 per customer, as above.
    assert abs(got[0] - exact[0]) <= 1e-12 * x.size
    np.testing.assert_allclose(got[1], exact[1], rtol=1e-12, atol=1e-9)
    one = grouped._one_virtual_terms(theta, rows.virtual[1], False)
    reference = grouped._exact_terms(theta, rows.virtual[1].exact_group(), False)
    assert one[0] == reference[0]
    np.testing.assert_array_equal(one[1], reference[1])


@pytest.mark.parametrize(
    "theta",
    [
        (0.55, 10.58, 0.61, 11.67),
        (2.0, 1e-3, 0.5, 1e3),
        (0.5, 1e3, 2.0, 1e-3),
        (1e-3, 1e-3, 1e-3, 1e-3),
    ],
)
def test_grouped_likelihood_against_60_digit_closed_form(theta):
    """Groups of 20 customers per frequency (so the grouped path, not the per-customer one,
    evaluates them) at hard points: x up to 5,000, t_x near 0 and near T, alpha close to beta,
    alpha < beta and alpha > beta; every row compared with 60-digit arithmetic."""
    rows = [
        (x, t_x, big_t)
        for x in (0, 1, 20, 5000)
        for big_t in (0.5, 39.0, 500.0)
        for t_x in ((0.0,) if x == 0 else (1e-6 * big_t, 0.5 * big_t, big_t * (1 - 1e-9), big_t))
    ]
    x, t_x, big_t = (np.repeat(np.array(c, dtype=float), 20) for c in zip(*rows, strict=True))
    reference = sum(20 * _log_likelihood_60_digits(*theta, *row) for row in rows)
    f, _ = _grouped(theta, x, t_x, big_t, np.ones_like(x))
    assert -f == pytest.approx(reference, rel=1e-12)


def test_end_points_sorted_by_packed_keys():
    from clvpredict.models._pareto_grouped import _sorted_points

    rng = np.random.default_rng(1)
    base = rng.uniform(0, 40, 5000)
    # Exact duplicates, values a few ulps apart, -0.0 and 0.0.
    values = np.concatenate([base, base[:100], base[:100] * (1 + 1e-15), [0.0, -0.0, 0.0]])
    points, where, order = _sorted_points(values)
    np.testing.assert_array_equal(points[where], values)  # each value maps to itself exactly
    assert np.all(np.diff(points) > -1e-9 * points[1:])  # sorted up to ~1e-10 relative
    assert len(points) == len(np.unique(values))
    np.testing.assert_array_equal(np.sort(order), np.arange(values.size))


def test_fit_equals_a_direct_maximisation_of_the_per_customer_likelihood():
    """The Newton fit on the grouped likelihood reaches the maximum of the per-customer
    quadrature found by scipy's L-BFGS-B from another start."""
    x, t_x, big_t = _histories(20_000, 21)
    data = pd.DataFrame({"frequency": x, "recency": t_x, "T": big_t})
    model = ParetoNBDModel(time_unit="W").fit(data)
    assert model.converged_ and model.fit_result_.message.startswith("Newton")
    w = np.ones_like(x)

    def objective(phi):
        theta = np.exp(phi)
        f, g = pareto_nbd_negll_and_gradient(theta, x, t_x, big_t, w)
        return f / x.size, g * theta / x.size

    start = np.log([1.0, 5.0, 1.0, 5.0])
    res = optimize.minimize(
        objective, start, jac=True, method="L-BFGS-B", options={"ftol": 1e-15, "gtol": 1e-11}
    )
    np.testing.assert_allclose(model.params_.to_numpy(), np.exp(res.x), rtol=1e-6)
    assert model.log_likelihood_ == pytest.approx(-res.fun * x.size, rel=1e-12, abs=1e-7)
    per_customer = float(pareto_nbd_log_likelihood(*model.params_, x, t_x, big_t).sum())
    assert model.log_likelihood_ == pytest.approx(per_customer, rel=1e-12)


def test_v_panels_computed_arithmetically_match_a_search():
    from clvpredict.models._pareto_grouped import _V_EDGES, _v_panel

    v = np.concatenate(
        [
            np.random.default_rng(2).uniform(0.0, 1.0, 100_000),
            _V_EDGES,
            _V_EDGES * (1 - 1e-16),
            _V_EDGES * (1 + 1e-16),
            [0.0, 1e-300, 1.0],
        ]
    )
    v = np.clip(v, 0.0, 1.0)
    expected = np.clip(np.searchsorted(_V_EDGES, v, side="right") - 1, 0, len(_V_EDGES) - 2)
    np.testing.assert_array_equal(_v_panel(v), expected)

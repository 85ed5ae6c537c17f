"""MBG/NBD: published CDNOW fit, the lifetimes oracle, independent checks of the predictions."""

from __future__ import annotations

import warnings

import lifetimes  # test oracle only
import mpmath
import numpy as np
import pandas as pd
import pytest
from clvpredict.modified_beta_geo import (
    ModifiedBetaGeoModel,
    _residual_mean,
    mbgnbd_conditional_expected_purchases,
    mbgnbd_log_likelihood,
    mbgnbd_negll_and_gradient,
    mbgnbd_probability_alive,
)
from scipy import integrate, optimize, special

import clvpredict as cp

MBG_MLE = {"r": 0.525, "alpha": 6.183, "a": 0.891, "b": 1.614}


@pytest.fixture(scope="module")
def mbg(cdnow_summary) -> ModifiedBetaGeoModel:
    return ModifiedBetaGeoModel().fit(cdnow_summary)


@pytest.fixture(scope="module")
def oracle(mbg):
    fitter = lifetimes.ModifiedBetaGeoFitter()
    fitter.params_ = pd.Series(mbg.params_.to_dict())
    return fitter


def _columns(summary):
    return (summary[c].to_numpy(dtype=float) for c in ("frequency", "recency", "T"))


def test_mle_matches_published(mbg):
    for name, value in MBG_MLE.items():
        assert mbg.params_[name] == pytest.approx(value, rel=5e-3), name
    assert mbg.log_likelihood_ == pytest.approx(-9582.13, abs=0.05)
    assert mbg.converged_ is True
    assert mbg.time_unit_ == "W"
    assert np.all(np.isfinite(mbg.standard_errors_)) and np.all(mbg.standard_errors_ > 0)


def test_log_likelihood_is_sum_of_individual_terms(mbg, cdnow_summary):
    ll = mbgnbd_log_likelihood(*mbg.params_, *_columns(cdnow_summary))
    assert ll.sum() == pytest.approx(mbg.log_likelihood_, rel=1e-12)


@pytest.mark.parametrize("t", [1.0, 10.0, 39.0, 104.0])
def test_conditional_expectation_agrees_with_lifetimes(mbg, oracle, cdnow_summary, t):
    theirs = oracle.conditional_expected_number_of_purchases_up_to_time(t, *_columns(cdnow_summary))
    ours = mbg.expected_purchases(t, cdnow_summary)
    np.testing.assert_allclose(ours.to_numpy(), np.asarray(theirs, float), rtol=1e-9)
    assert ours.index.equals(cdnow_summary.index)


def test_probability_alive_agrees_with_lifetimes(mbg, oracle, cdnow_summary):
    theirs = oracle.conditional_probability_alive(*_columns(cdnow_summary))
    ours = mbg.probability_alive(cdnow_summary)
    np.testing.assert_allclose(ours.to_numpy(), np.asarray(theirs, float), rtol=1e-12)
    # Unlike the BG/NBD, one-time buyers may already be gone.
    assert (ours[cdnow_summary["frequency"] == 0] < 1).all()


def test_unconditional_predictions_agree_with_lifetimes(mbg, oracle):
    ts = np.array([0.5, 1.0, 10.0, 39.0, 78.0, 500.0])
    np.testing.assert_allclose(
        mbg.expected_purchases_new_customer(ts).to_numpy(),
        oracle.expected_number_of_purchases_up_to_time(ts),
        rtol=1e-10,
    )
    for n in range(10):
        assert mbg.probability_of_purchases(n, 39.0) == pytest.approx(
            float(oracle.probability_of_n_purchases_up_to_time(39.0, n)), rel=1e-9
        )


def test_pmf_sums_to_one_and_has_the_right_mean(mbg):
    pmf = mbg.probability_of_purchases(np.arange(0, 500), 39.0)
    assert pmf.sum() == pytest.approx(1.0, abs=1e-12)
    assert (pmf.index * pmf).sum() == pytest.approx(mbg.expected_purchases_new_customer(39.0))


@pytest.mark.parametrize("theta", [(0.525, 6.183, 0.891, 1.614), (3.0, 0.05, 40.0, 0.2)])
def test_gradient_matches_finite_differences(theta, cdnow_summary):
    x, t_x, big_t = _columns(cdnow_summary)
    w = np.ones_like(x)

    def f(p):
        return mbgnbd_negll_and_gradient(np.exp(p), x, t_x, big_t, w)[0]

    numeric = optimize.approx_fprime(np.log(theta), f, 1e-6)
    analytic = mbgnbd_negll_and_gradient(np.array(theta), x, t_x, big_t, w)[1] * theta
    np.testing.assert_allclose(analytic, numeric, rtol=1e-5, atol=1e-3)


def test_probability_alive_at_against_its_definition(mbg, cdnow_summary):
    """P(alive at T+t | data) = P(data, alive at T+t) / P(data), integrating over p numerically.

    Given (lambda, p) the joint is (1-p)^(x+1) lambda^x e^(-lambda T) e^(-lambda p t); over lambda
    it is Gamma(r+x) alpha^r / Gamma(r) / (alpha + T + p t)^(r+x).
    """
    r, alpha, a, b = mbg.params_
    rows = cdnow_summary.iloc[[0, 1, 2, 37, 157]]
    t = 26.0
    got = mbg.probability_alive_at(t, rows).to_numpy()
    for i, (x, t_x, big_t) in enumerate(zip(*_columns(rows), strict=True)):

        def joint(p, x=x, big_t=big_t):
            log_density = (a - 1) * np.log(p) + (b - 1) * np.log1p(-p) - special.betaln(a, b)
            return np.exp(
                log_density
                + (x + 1) * np.log1p(-p)
                + special.gammaln(r + x)
                - special.gammaln(r)
                + r * np.log(alpha)
                - (r + x) * np.log(alpha + big_t + p * t)
            )

        value = integrate.quad(joint, 0, 1, epsabs=0, epsrel=1e-12, limit=200)[0]
        ll = mbgnbd_log_likelihood(r, alpha, a, b, x, t_x, big_t)
        assert got[i] == pytest.approx(value / np.exp(ll), rel=1e-8)
    pd.testing.assert_series_equal(
        mbg.probability_alive_at(0, cdnow_summary), mbg.probability_alive(cdnow_summary)
    )


@pytest.mark.parametrize("a", [1.0, 1 - 1e-9, 1 + 1e-7, 1.004, 0.996, 1.006])
def test_residual_mean_is_accurate_around_its_removable_singularity(a):
    """(a+b+x)/(a-1) [1 - ...] is 0/0 at a = 1; compare with 50-digit arithmetic."""
    r, alpha, b = 0.5, 6.0, 1.6
    for x, big_t, t in ((0.0, 39.0, 39.0), (3.0, 39.0, 1.0), (100.0, 39.0, 39.0)):
        got = float(np.ravel(_residual_mean(np.array(t), r, alpha, a, b, x, big_t))[0])
        with mpmath.workdps(50):
            # Every operand in 50 digits: b + x + 1 rounded in double would move the singularity.
            aa = mpmath.mpf(a) if a != 1.0 else 1 + mpmath.mpf("1e-20")
            bb, rx = mpmath.mpf(b) + x, mpmath.mpf(r) + x
            c = aa + bb
            z = mpmath.mpf(t) / (alpha + big_t + t)
            ref = c / (aa - 1) * (1 - (1 - z) ** rx * mpmath.hyp2f1(rx, bb + 1, c, z))
        assert got == pytest.approx(float(ref), rel=1e-9), (x, t)


def test_heavy_buyers_stay_finite(mbg):
    x = np.array([0.0, 1000.0, 5000.0, 5000.0])
    t_x = np.array([0.0, 30.0, 38.0, 1.0])
    big_t = np.full(4, 38.86)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        values = mbgnbd_conditional_expected_purchases(39.0, *mbg.params_, x, t_x, big_t)
        alive = mbgnbd_probability_alive(*mbg.params_, x, t_x, big_t)
        later = mbg.probability_alive_at(10, frequency=x, recency=t_x, T=big_t).to_numpy()
    assert np.all(np.isfinite(values)) and np.all(np.isfinite(later))
    assert np.all(later <= alive + 1e-15)
    # An active heavy buyer buys about (r+x)/(alpha+T) per week while alive.
    assert values[2] == pytest.approx(alive[2] * (0.525 + 5000) / (6.183 + 38.86) * 39, rel=0.2)


def test_summary_repr_and_from_params(mbg, cdnow_summary):
    assert list(mbg.summary().index) == ["r", "alpha", "a", "b"]
    text = repr(mbg)
    for piece in ("MBG/NBD", "-9582.13", "weeks", "converged       yes"):
        assert piece in text
    clone = ModifiedBetaGeoModel.from_params(mbg.params_, time_unit="W")
    pd.testing.assert_series_equal(
        clone.expected_purchases(39, cdnow_summary), mbg.expected_purchases(39, cdnow_summary)
    )


def test_plugs_into_clv(mbg, gg_cdnow, cdnow_cal_holdout):
    table = cp.clv_table(mbg, gg_cdnow, cdnow_cal_holdout, lifetime_years=2.0)
    assert table["predictive_clv"].notna().all()
    np.testing.assert_array_equal(
        table["p_alive"].to_numpy(), mbg.probability_alive(cdnow_cal_holdout).to_numpy()
    )
    # The holdout forecast is the model's, over the holdout's length.
    assert table["expected_purchases_holdout"].sum() == pytest.approx(
        mbg.expected_purchases(
            cdnow_cal_holdout["duration_holdout"].iloc[0], cdnow_cal_holdout
        ).sum()
    )


def test_survival_where_scipy_hyp2f1_is_wrong_comes_from_its_definition():
    """scipy's 2F1 returns -0.55 for this survival probability; quadrature replaces it."""
    from scipy import integrate, special

    one = {"frequency": [0], "recency": [0.0], "T": [0.01]}
    r, alpha, a, b = 0.1, 0.001, 0.1, 0.1
    model = ModifiedBetaGeoModel.from_params({"r": r, "alpha": alpha, "a": a, "b": b})
    value = model.probability_alive_at(10.0, **one).iloc[0]
    # E_p[(1 + p s)^-r] with p ~ Beta(a, b + 1), times P(alive at T).
    s = 10.0 / (alpha + 0.01)
    survive = integrate.quad(
        lambda p: (1 + p * s) ** -r, 0, 1, weight="alg", wvar=(a - 1, b), epsabs=0, epsrel=1e-10
    )[0] / np.exp(special.betaln(a, b + 1))
    expected = model.probability_alive(**one).iloc[0] * survive
    assert 0 < value <= 1
    assert value == pytest.approx(expected, rel=1e-7)


def test_the_higher_of_two_likelihood_maxima_is_found():
    """Sample 202 of benchmarks/recovery.py: all four standard starts reach a local maximum
    (b ~ 3.2); the restarts find the higher one (b ~ 0.8), and the profile agrees."""
    truth = cp.ModifiedBetaGeoModel.from_params(
        {"r": 0.525, "alpha": 6.183, "a": 0.891, "b": 1.614}, time_unit="W"
    )
    rng = np.random.default_rng(np.random.SeedSequence([20261205, 1, 2357, 202]))
    data = truth.simulate(rng.uniform(27.0, 39.0, 2357), random_state=rng)

    class StandardStartsOnly(cp.ModifiedBetaGeoModel):
        def _restarts(self, theta):
            return []

    local = StandardStartsOnly().fit(data)
    model = cp.ModifiedBetaGeoModel().fit(data)
    assert local.converged_ and model.converged_
    assert local.params_["b"] > 2.0 > 1.0 > model.params_["b"]
    assert model.log_likelihood_ > local.log_likelihood_ + 0.1
    with pytest.raises(cp.ConvergenceError, match=r"local maximum|higher"):
        local.summary(method="profile")
    table = model.summary(method="profile")
    assert (table["lower_95"] < model.params_).all() and (model.params_ < table["upper_95"]).all()

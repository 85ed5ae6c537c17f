"""BG/BB: published donations fit, the lifetimes oracle, identities between the formulas."""

from __future__ import annotations

import lifetimes  # test oracle only
import numpy as np
import pandas as pd
import pytest
from clvpredict.beta_geo_beta_binom import (
    BetaGeoBetaBinomModel,
    _survival_sum,
    bgbb_log_likelihood,
    bgbb_negll_and_gradient,
)
from scipy import optimize, special

import clvpredict as cp
from clvpredict import beta_geo_beta_binom as bgbb_module

BGBB_MLE = {"alpha": 1.2035, "beta": 0.7498, "gamma": 0.6568, "delta": 2.7839}


@pytest.fixture(scope="module")
def donations() -> pd.DataFrame:
    return cp.datasets.load_donations()


@pytest.fixture(scope="module")
def bgbb(donations) -> BetaGeoBetaBinomModel:
    return BetaGeoBetaBinomModel().fit(donations, weights="weights")


@pytest.fixture(scope="module")
def oracle(bgbb):
    fitter = lifetimes.BetaGeoBetaBinomFitter()
    fitter.params_ = pd.Series(bgbb.params_.to_dict())
    return fitter


def _columns(data):
    return (data[c].to_numpy(dtype=float) for c in ("frequency", "recency", "periods"))


def test_mle_matches_published(bgbb):
    for name, value in BGBB_MLE.items():
        assert bgbb.params_[name] == pytest.approx(value, rel=5e-3), name
    assert bgbb.log_likelihood_ == pytest.approx(-33225.58, abs=0.05)
    assert bgbb.converged_ is True
    assert bgbb.n_obs_ == 11104
    assert bgbb.time_unit_ is None
    assert np.all(np.isfinite(bgbb.standard_errors_)) and np.all(bgbb.standard_errors_ > 0)


def test_unconditional_expectation_published(bgbb):
    got = bgbb.expected_purchases_new_customer(np.arange(1, 7)).to_numpy()
    np.testing.assert_allclose(got, [0.4985, 0.9233, 1.2969, 1.6323, 1.9381, 2.2202], atol=5e-5)
    assert bgbb.expected_purchases_new_customer(0) == 0.0


def test_column_names_and_weights(bgbb, donations):
    renamed = donations.rename(columns={"periods": "n_periods"})
    again = BetaGeoBetaBinomModel().fit(renamed, weights="weights")
    np.testing.assert_allclose(again.params_, bgbb.params_, rtol=1e-10)
    by_keyword = BetaGeoBetaBinomModel().fit(
        frequency=donations["frequency"],
        recency=donations["recency"],
        T=donations["periods"],
        weights=donations["weights"].to_numpy(),
    )
    np.testing.assert_allclose(by_keyword.params_, bgbb.params_, rtol=1e-10)
    # One row per donor, unweighted: exactly the same likelihood.
    donors = donations.loc[donations.index.repeat(donations["weights"])].drop(columns="weights")
    each = BetaGeoBetaBinomModel().fit(donors)
    np.testing.assert_allclose(each.params_, bgbb.params_, rtol=1e-8)
    assert each.log_likelihood_ == pytest.approx(bgbb.log_likelihood_, rel=1e-12)
    # Predictions accept either name too.
    pd.testing.assert_series_equal(
        bgbb.probability_alive(renamed), bgbb.probability_alive(donations)
    )


@pytest.mark.parametrize("m", [1, 2, 5, 10])
def test_conditional_predictions_agree_with_lifetimes(bgbb, oracle, donations, m):
    x, t_x, n = _columns(donations)
    theirs = oracle.conditional_expected_number_of_purchases_up_to_time(m, x, t_x, n)
    np.testing.assert_allclose(
        bgbb.expected_purchases(m, donations).to_numpy(), np.asarray(theirs, float), rtol=1e-10
    )
    theirs = oracle.conditional_probability_alive(m, x, t_x, n)
    np.testing.assert_allclose(
        bgbb.probability_alive_at(m, donations).to_numpy(), np.asarray(theirs, float), rtol=1e-10
    )
    theirs = oracle.conditional_probability_alive(0, x, t_x, n)
    np.testing.assert_allclose(
        bgbb.probability_alive(donations).to_numpy(), np.asarray(theirs, float), rtol=1e-10
    )


def test_pmf_is_the_likelihood_summed_over_histories(bgbb):
    """P(X(n) = x) = sum_{t_x} C(t_x - 1, x - 1) L(x, t_x, n): L is one sequence's probability."""
    n = 6
    pmf = bgbb.probability_of_purchases(np.arange(0, n + 1), n)
    assert pmf.sum() == pytest.approx(1.0, abs=1e-12)
    assert (pmf.index * pmf).sum() == pytest.approx(bgbb.expected_purchases_new_customer(n))
    theta = bgbb.params_.to_numpy()
    for x in range(n + 1):
        if x == 0:
            total = np.exp(bgbb_log_likelihood(*theta, 0, 0, n))[0]
        else:
            t_x = np.arange(x, n + 1, dtype=float)
            counts = special.comb(t_x - 1, x - 1)
            total = counts @ np.exp(bgbb_log_likelihood(*theta, np.full_like(t_x, x), t_x, n))
        assert pmf.loc[x] == pytest.approx(total, rel=1e-12), x
    assert bgbb.probability_of_purchases(7, 6) == 0.0


def test_pmf_matches_observed_counts(bgbb, donations):
    """The published fit reproduces the histogram of repeat donations (within 6%)."""
    observed = donations.groupby("frequency")["weights"].sum()
    expected = bgbb.probability_of_purchases(np.arange(0, 7), 6) * 11104
    np.testing.assert_allclose(expected.to_numpy(), observed.to_numpy(), rtol=0.07)


def test_dert_is_the_discounted_sum_of_future_transactions(bgbb, donations):
    d = 0.1
    dert = bgbb.expected_discounted_residual_transactions(donations, d).to_numpy()
    cumulative = np.column_stack(
        [np.zeros(len(donations))]
        + [bgbb.expected_purchases(k, donations).to_numpy() for k in range(1, 1500)]
    )
    per_period = np.diff(cumulative, axis=1)
    discount = (1 + d) ** -np.arange(1, 1500)
    np.testing.assert_allclose(dert, per_period @ discount, rtol=1e-9)
    with pytest.raises(cp.ClvDataError, match="discount_rate"):
        bgbb.expected_discounted_residual_transactions(donations, 0.0)


def test_gradient_matches_finite_differences(donations):
    x, t_x, n = _columns(donations)
    w = donations["weights"].to_numpy(float)
    for theta in ((1.2, 0.75, 0.66, 2.8), (0.05, 20.0, 3.0, 0.1)):

        def f(p):
            return bgbb_negll_and_gradient(np.exp(p), x, t_x, n, w)[0]

        numeric = optimize.approx_fprime(np.log(theta), f, 1e-6)
        analytic = bgbb_negll_and_gradient(np.array(theta), x, t_x, n, w)[1] * theta
        np.testing.assert_allclose(analytic, numeric, rtol=1e-5, atol=1e-2)


def test_many_periods_are_processed_in_chunks(monkeypatch):
    rng = np.random.default_rng(0)
    n = np.full(400, 300.0)
    t_x = rng.integers(0, 301, size=400).astype(float)
    x = np.minimum(t_x, rng.integers(0, 301, size=400)).astype(float)
    x[t_x == 0] = 0
    theta = (1.2, 0.75, 0.66, 2.8)
    whole = bgbb_negll_and_gradient(np.array(theta), x, t_x, n, np.ones(400))
    monkeypatch.setattr(bgbb_module, "_MAX_CELLS", 5000)
    chunked = bgbb_negll_and_gradient(np.array(theta), x, t_x, n, np.ones(400))
    assert chunked[0] == pytest.approx(whole[0], rel=1e-13)
    np.testing.assert_allclose(chunked[1], whole[1], rtol=1e-12)
    assert np.all(np.isfinite(bgbb_log_likelihood(*theta, x, t_x, n)))


def test_gamma_one_is_a_removable_singularity():
    for t in (1.0, 6.0, 50.0):
        at_one = _survival_sum(1.0, 2.8, t)
        near = [_survival_sum(1.0 + e, 2.8, t) for e in (-1e-5, 1e-5)]
        assert at_one == pytest.approx(np.mean(near), rel=1e-8)
        # Directly: sum_k E[(1-theta)^k] with E = delta / (delta + k) for theta ~ Beta(1, delta).
        assert at_one == pytest.approx(sum(2.8 / (2.8 + k) for k in range(1, int(t) + 1)))


@pytest.mark.parametrize(
    ("columns", "message"),
    [
        ({"frequency": [2], "recency": [1], "T": [6]}, "'frequency' exceeds 'recency'"),
        ({"frequency": [1], "recency": [7], "T": [6]}, "'recency' exceeds 'T'"),
        ({"frequency": [1], "recency": [2.5], "T": [6]}, "whole numbers of periods"),
        ({"frequency": [1], "recency": [2], "T": [6.5]}, r"discrete=True"),
        ({"frequency": [0], "recency": [2], "T": [6]}, "frequency 0 must have recency 0"),
        ({"frequency": [1], "recency": [2]}, "'T' is required"),
    ],
)
def test_bad_input_is_named(columns, message):
    with pytest.raises(cp.ClvDataError, match=message):
        BetaGeoBetaBinomModel().fit(**columns)


def test_horizons_hold_the_whole_periods_within_them(bgbb, donations):
    """An opportunity falls at its period's end: 2.5 periods hold 2, 12 months one year."""
    pd.testing.assert_series_equal(
        bgbb.expected_purchases(2.5, donations), bgbb.expected_purchases(2, donations)
    )
    pd.testing.assert_series_equal(
        bgbb.expected_purchases(0.999, donations), bgbb.expected_purchases(0, donations)
    )
    assert bgbb.expected_purchases(0, donations).eq(0).all()
    one_year = 12 * (365.2425 / 12) / 365.2425
    pd.testing.assert_series_equal(
        bgbb.expected_purchases(one_year, donations), bgbb.expected_purchases(1, donations)
    )
    assert bgbb.expected_purchases_new_customer(3.7) == bgbb.expected_purchases_new_customer(3)
    with pytest.raises(cp.ClvDataError, match=">= 0"):
        bgbb.probability_alive_at(-1, donations)
    with pytest.raises(cp.ClvDataError, match="t=nan is not a time span"):
        bgbb.expected_purchases(float("nan"), donations)


def test_clv_needs_the_period_length(bgbb, donations, gg_cdnow):
    clone = BetaGeoBetaBinomModel.from_params(bgbb.params_)
    assert clone.time_unit_ is None
    pd.testing.assert_series_equal(
        clone.expected_purchases(5, donations), bgbb.expected_purchases(5, donations)
    )
    # Calendar-month CLV needs to know how long a period is.
    data = donations.assign(monetary_value=50.0)
    with pytest.raises(cp.ClvDataError, match="time unit"):
        cp.predictive_clv(bgbb, gg_cdnow, data)


def test_summary_and_repr(bgbb):
    assert list(bgbb.summary().index) == ["alpha", "beta", "gamma", "delta"]
    text = repr(bgbb)
    for piece in ("BG/BB", "-33225.58", "11,104 (22 distinct rows)", "converged       yes"):
        assert piece in text
    assert "period length   not set (bare periods)" in text
    annual = BetaGeoBetaBinomModel.from_params(bgbb.params_, time_unit="Y")
    assert "period length   1 year (Y)" in repr(annual)
    assert repr(BetaGeoBetaBinomModel()) == ("BetaGeoBetaBinomModel()")


def test_recovers_the_parameters_of_simulated_donors():
    """Simulate the story of the model (with this module's column conventions) and refit it."""
    rng = np.random.default_rng(2010)
    truth = {"alpha": 1.2, "beta": 0.75, "gamma": 0.66, "delta": 2.8}
    customers, periods = 20_000, 20
    p = rng.beta(truth["alpha"], truth["beta"], customers)
    theta = rng.beta(truth["gamma"], truth["delta"], customers)
    # Periods 1..n in which the customer is still alive: dropout is tossed at each period's start.
    alive_for = np.minimum(rng.geometric(theta) - 1, periods)
    period = np.arange(1, periods + 1)
    buys = (rng.random((customers, periods)) < p[:, None]) & (period <= alive_for[:, None])
    data = pd.DataFrame(
        {
            "frequency": buys.sum(axis=1),
            "recency": np.where(buys.any(axis=1), (buys * period).max(axis=1), 0),
            "n_periods": periods,
        }
    )
    model = BetaGeoBetaBinomModel().fit(data)
    assert model.converged_ is True
    for name, value in truth.items():
        assert abs(model.params_[name] - value) < 4 * model.standard_errors_[name], name


@pytest.mark.parametrize("t", [1, 3, 10])
def test_conditional_pmf_sums_to_one_and_has_the_conditional_mean(bgbb, donations, t):
    """P(Y(t) = k | history) from the posterior process: a distribution over 0..t whose mean is
    eq. 13, which is computed independently."""
    pmf = np.column_stack(
        [bgbb.conditional_probability_of_purchases(k, t, donations) for k in range(t + 1)]
    )
    np.testing.assert_allclose(pmf.sum(axis=1), 1.0, rtol=1e-12)
    mean = pmf @ np.arange(t + 1)
    np.testing.assert_allclose(mean, bgbb.expected_purchases(t, donations), rtol=1e-10)
    assert (bgbb.conditional_probability_of_purchases(t + 1, t, donations) == 0).all()
    band = bgbb.purchases_predictive_interval(t, donations, level=0.8)
    cdf = np.cumsum(pmf, axis=1)
    for row, (lower, upper) in enumerate(band[["lower", "upper"]].to_numpy()):
        assert cdf[row, int(upper)] >= 0.9 - 1e-12
        assert lower == 0 or cdf[row, int(lower) - 1] <= 0.1


@pytest.mark.parametrize(
    ("gamma", "d", "t", "rel"),
    [
        (7.25e-07, 134452.9, 3, 1e-13),  # a degenerate fit: the closed form gave 3.0000026 of 3
        (0.66, 2.78, 6, 1e-13),
        (1e3, 1e-3, 5, 1e-13),
        (1e-3, 1e3, 50, 1e-13),
        (0.5, 1e8, 2, 1e-13),
        (2.0, 3.0, 100, 1e-13),
        (1.0, 5.0, 10, 1e-13),
        # Beyond the summed horizons the closed form is used: log-gammas of about 4,000 leave
        # about 1e-12 relative.
        (0.66, 2.78, 600, 1e-11),
    ],
)
def test_survival_sum_against_60_digits(gamma, d, t, rel):
    """E[sum_{k<=t} (1-theta)^k] = sum_k B(gamma, d+k)/B(gamma, d), evaluated with mpmath."""
    import mpmath as mp

    with mp.workdps(60):
        g, dd = mp.mpf(gamma), mp.mpf(d)
        ref = float(mp.fsum(mp.beta(g, dd + k) / mp.beta(g, dd) for k in range(1, t + 1)))
    assert float(_survival_sum(gamma, d, t)) == pytest.approx(ref, rel=rel)
    assert float(_survival_sum(gamma, d, t)) <= t

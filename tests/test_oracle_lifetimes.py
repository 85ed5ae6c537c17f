"""Agreement with the ``lifetimes`` package (test oracle only) on all 2,357 CDNOW customers.

Two separate questions, so that no test depends on how far the oracle's optimiser gets:

- **Formulas.** With the oracle's ``params_`` set to ours, every prediction agrees to rounding
  error (``rtol=1e-10``). This checks our closed forms against an independent implementation.
- **Fits.** The oracle is fitted with its *default* settings (BFGS, ``tol=1e-7``; a tighter
  ``tol`` ends in scipy's "precision loss" on current numpy/scipy, which lifetimes turns into
  ``ConvergenceError``). Its stopping rule is a gradient of the *mean* negative log-likelihood
  in log-parameters below ``tol`` (infinity norm), so it can stop short of the optimum by the
  Newton step from such a gradient: ``|d log theta_i| <= N * sum_j |Cov_log[i, j]| * tol``
  (``Cov_log`` is the covariance of the log-parameters, i.e. the inverse Hessian of the total
  negative log-likelihood, and ``N`` the number of customers). The fits must agree within that
  bound, and our optimum must be at least as high as the oracle's, judged by the oracle's own
  likelihood.
"""

from __future__ import annotations

import lifetimes  # the dev extra installs this oracle; a missing oracle must fail, not skip
import numpy as np
import pandas as pd
import pytest

#: lifetimes' default ``tol`` for ``fit`` (BaseFitter._fit), passed to scipy's BFGS as gtol.
ORACLE_GTOL = 1e-7
#: Predictions at identical parameters: the same formulas, up to rounding.
FORMULA_RTOL = 1e-10


def _columns(summary):
    return summary["frequency"], summary["recency"], summary["T"]


def _reach_of_oracle(model, n_obs: float) -> np.ndarray:
    """Per parameter, the largest distance in log-parameters at which the oracle may stop."""
    theta = model.params_.to_numpy()
    cov_log = model.covariance_.to_numpy() / np.outer(theta, theta)
    return n_obs * np.abs(cov_log).sum(axis=1) * ORACLE_GTOL


@pytest.fixture(scope="module")
def lifetimes_bg(cdnow_summary):
    return lifetimes.BetaGeoFitter().fit(*_columns(cdnow_summary))


@pytest.fixture(scope="module")
def lifetimes_gg(cdnow_summary):
    repeat = cdnow_summary[cdnow_summary["frequency"] > 0]
    return lifetimes.GammaGammaFitter().fit(repeat["frequency"], repeat["monetary_value"])


@pytest.fixture(scope="module")
def oracle_bg_at_ours(bg_cdnow):
    oracle = lifetimes.BetaGeoFitter()
    oracle.params_ = bg_cdnow.params_[["r", "alpha", "a", "b"]].copy()
    return oracle


@pytest.fixture(scope="module")
def oracle_gg_at_ours(gg_cdnow):
    oracle = lifetimes.GammaGammaFitter()
    oracle.params_ = pd.Series(gg_cdnow.params_.to_numpy(), index=["p", "q", "v"])
    return oracle


def test_bgnbd_fit_agrees_within_the_oracles_reach(bg_cdnow, lifetimes_bg, cdnow_summary):
    names = ["r", "alpha", "a", "b"]
    ours = bg_cdnow.params_[names].to_numpy()
    theirs = lifetimes_bg.params_[names].to_numpy()
    reach = _reach_of_oracle(bg_cdnow, bg_cdnow.n_obs_)
    assert np.all(np.abs(np.log(ours / theirs)) <= reach), (ours, theirs, reach)
    # The bound is meaningful: far below the statistical uncertainty of the estimates.
    assert np.all(reach * ours < 1e-3 * bg_cdnow.standard_errors_[names].to_numpy())

    # Judged by the oracle's own likelihood, our optimum is at least as good as its own.
    x, t_x, big_t = (c.to_numpy(dtype=float) for c in _columns(cdnow_summary))
    weights = np.ones_like(x)

    def oracle_mean_negll(params: np.ndarray) -> float:
        return float(
            lifetimes.BetaGeoFitter._negative_log_likelihood(
                np.log(params), x, t_x, big_t, weights, 0.0
            )
        )

    assert oracle_mean_negll(ours) <= oracle_mean_negll(theirs) + 1e-14
    # And both likelihood implementations agree on the value at our optimum.
    assert -oracle_mean_negll(ours) * len(x) == pytest.approx(bg_cdnow.log_likelihood_, rel=1e-12)


def test_gamma_gamma_fit_agrees_within_the_oracles_reach(gg_cdnow, lifetimes_gg):
    ours = gg_cdnow.params_.to_numpy()
    theirs = lifetimes_gg.params_[["p", "q", "v"]].to_numpy()
    reach = _reach_of_oracle(gg_cdnow, gg_cdnow.n_obs_)
    assert np.all(np.abs(np.log(ours / theirs)) <= reach), (ours, theirs, reach)
    assert np.all(reach * ours < 1e-3 * gg_cdnow.standard_errors_.to_numpy())


@pytest.mark.parametrize("t", [0.5, 1.0, 10.0, 39.0, 104.0, 520.0])
def test_conditional_expectation_per_customer(bg_cdnow, oracle_bg_at_ours, cdnow_summary, t):
    ours = bg_cdnow.expected_purchases(t, cdnow_summary)
    theirs = oracle_bg_at_ours.conditional_expected_number_of_purchases_up_to_time(
        t, *_columns(cdnow_summary)
    )
    np.testing.assert_allclose(ours.to_numpy(), np.asarray(theirs), rtol=FORMULA_RTOL)
    assert ours.index.equals(cdnow_summary.index)


def test_probability_alive_per_customer(bg_cdnow, oracle_bg_at_ours, cdnow_summary):
    ours = bg_cdnow.probability_alive(cdnow_summary)
    theirs = oracle_bg_at_ours.conditional_probability_alive(*_columns(cdnow_summary))
    np.testing.assert_allclose(ours.to_numpy(), np.asarray(theirs), rtol=FORMULA_RTOL)
    assert ours.index.equals(cdnow_summary.index)


def test_new_customer_predictions(bg_cdnow, oracle_bg_at_ours):
    ts = np.array([0.5, 1.0, 10.0, 39.0, 78.0, 500.0])
    np.testing.assert_allclose(
        bg_cdnow.expected_purchases_new_customer(ts).to_numpy(),
        oracle_bg_at_ours.expected_number_of_purchases_up_to_time(ts),
        rtol=FORMULA_RTOL,
    )
    for n in range(0, 12):
        assert bg_cdnow.probability_of_purchases(n, 39.0) == pytest.approx(
            float(oracle_bg_at_ours.probability_of_n_purchases_up_to_time(39.0, n)), rel=1e-9
        )


def test_gamma_gamma_per_customer(gg_cdnow, oracle_gg_at_ours, cdnow_summary):
    ours = gg_cdnow.expected_average_value(cdnow_summary)
    theirs = oracle_gg_at_ours.conditional_expected_average_profit(
        cdnow_summary["frequency"], cdnow_summary["monetary_value"].fillna(0.0)
    )
    np.testing.assert_allclose(ours.to_numpy(), np.asarray(theirs), rtol=FORMULA_RTOL)
    assert isinstance(ours, pd.Series) and ours.name == "expected_avg_value"
    assert ours.index.equals(cdnow_summary.index)

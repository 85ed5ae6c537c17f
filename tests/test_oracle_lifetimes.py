"""Agreement with the ``lifetimes`` package (test oracle only) on all 2,357 CDNOW customers."""

from __future__ import annotations

import lifetimes  # the dev extra installs this oracle; a missing oracle must fail, not skip
import numpy as np
import pandas as pd
import pytest

RTOL = 1e-6


@pytest.fixture(scope="module")
def lifetimes_bg(cdnow_summary):
    # A tight tolerance: the oracle's default stops ~1e-7 short of the optimum.
    return lifetimes.BetaGeoFitter().fit(
        cdnow_summary["frequency"], cdnow_summary["recency"], cdnow_summary["T"], tol=1e-10
    )


@pytest.fixture(scope="module")
def lifetimes_gg(cdnow_summary):
    repeat = cdnow_summary[cdnow_summary["frequency"] > 0]
    return lifetimes.GammaGammaFitter().fit(repeat["frequency"], repeat["monetary_value"])


def _columns(summary):
    return summary["frequency"], summary["recency"], summary["T"]


def test_bgnbd_fit_agrees(bg_cdnow, lifetimes_bg):
    np.testing.assert_allclose(
        bg_cdnow.params_[["r", "alpha", "a", "b"]].to_numpy(),
        lifetimes_bg.params_[["r", "alpha", "a", "b"]].to_numpy(),
        rtol=1e-7,
    )


@pytest.mark.parametrize("t", [1.0, 10.0, 39.0, 104.0])
def test_conditional_expectation_per_customer(bg_cdnow, lifetimes_bg, cdnow_summary, t):
    ours = bg_cdnow.expected_purchases(t, cdnow_summary)
    theirs = lifetimes_bg.conditional_expected_number_of_purchases_up_to_time(
        t, *_columns(cdnow_summary)
    )
    np.testing.assert_allclose(ours.to_numpy(), np.asarray(theirs), rtol=RTOL)
    assert ours.index.equals(cdnow_summary.index)


def test_probability_alive_per_customer(bg_cdnow, lifetimes_bg, cdnow_summary):
    ours = bg_cdnow.probability_alive(cdnow_summary)
    theirs = lifetimes_bg.conditional_probability_alive(*_columns(cdnow_summary))
    np.testing.assert_allclose(ours.to_numpy(), np.asarray(theirs), rtol=RTOL)


def test_same_parameters_same_formulas(bg_cdnow, cdnow_summary):
    """At identical parameters the formulas agree to rounding error, not just to 1e-6."""
    oracle = lifetimes.BetaGeoFitter()
    oracle.params_ = bg_cdnow.params_.copy()
    for t in (1.0, 39.0, 520.0):
        np.testing.assert_allclose(
            bg_cdnow.expected_purchases(t, cdnow_summary).to_numpy(),
            np.asarray(
                oracle.conditional_expected_number_of_purchases_up_to_time(
                    t, *_columns(cdnow_summary)
                )
            ),
            rtol=1e-10,
        )
    ts = np.array([0.5, 1.0, 10.0, 39.0, 78.0, 500.0])
    np.testing.assert_allclose(
        bg_cdnow.expected_purchases_new_customer(ts).to_numpy(),
        oracle.expected_number_of_purchases_up_to_time(ts),
        rtol=1e-10,
    )
    for n in range(0, 12):
        assert bg_cdnow.probability_of_purchases(n, 39.0) == pytest.approx(
            float(oracle.probability_of_n_purchases_up_to_time(39.0, n)), rel=1e-9
        )


def test_gamma_gamma_per_customer(gg_cdnow, lifetimes_gg, cdnow_summary):
    np.testing.assert_allclose(
        gg_cdnow.params_.to_numpy(), lifetimes_gg.params_[["p", "q", "v"]].to_numpy(), rtol=1e-6
    )
    ours = gg_cdnow.expected_average_value(cdnow_summary)
    theirs = lifetimes_gg.conditional_expected_average_profit(
        cdnow_summary["frequency"], cdnow_summary["monetary_value"].fillna(0.0)
    )
    np.testing.assert_allclose(ours.to_numpy(), np.asarray(theirs), rtol=RTOL)
    assert isinstance(ours, pd.Series) and ours.name == "expected_avg_value"

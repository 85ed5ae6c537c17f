"""Hardened input: each awkward log gets a clear error or a documented, logged correction.

(Empty logs, missing columns, missing or mixed ids, bad dates, bad amounts, returns and purchases
after the end are covered in test_data.py; extreme amounts in test_models.py.)
"""

from __future__ import annotations

import logging
import warnings

import numpy as np
import pandas as pd
import pytest

import clvpredict as cp
from clvpredict import ClvDataError, ConvergenceWarning


def test_timezone_aware_mixed_with_naive_is_refused():
    tx = pd.DataFrame(
        {
            "c": [1, 2],
            "t": [pd.Timestamp("2024-01-01 10:00", tz="UTC"), pd.Timestamp("2024-01-02 10:00")],
        }
    )
    with pytest.raises(ClvDataError, match=r"timezone-aware and naive.*utc=True"):
        cp.rfm_summary(tx, "c", "t")
    strings = pd.DataFrame({"c": [1, 2], "t": ["2024-01-01T10:00+02:00", "2024-01-02 10:00"]})
    with pytest.raises(ClvDataError, match=r"'t' mixes timezone-aware and naive.*row 1"):
        cp.rfm_summary(strings, "c", "t")


@pytest.fixture
def doubled() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "c": ["a", "a", "a", "b"],
            "d": ["2024-01-01", "2024-01-01", "2024-01-10", "2024-01-05"],
            "m": [10.0, 10.0, 30.0, 5.0],
        }
    )


def test_duplicate_rows_keep_drop_error(doubled, caplog):
    with caplog.at_level(logging.WARNING):
        kept = cp.rfm_summary(doubled, "c", "d", "m")
    assert "1 rows repeat an earlier row" in caplog.text
    # Kept, as the warning says, in the customer's one purchase of that day: 10 + 10 on day 1.
    assert "kept, and their amounts are added to that customer's purchase of that day" in (
        caplog.text
    )
    assert kept.loc["a", "frequency"] == 1
    assert kept.loc["a", "avg_order_value"] == pytest.approx((20 + 30) / 2)
    dropped = cp.rfm_summary(doubled, "c", "d", "m", duplicates="drop")
    assert dropped.loc["a", "avg_order_value"] == pytest.approx((10 + 30) / 2)
    with pytest.raises(ClvDataError, match=r"1 rows repeat.*duplicates='drop'"):
        cp.rfm_summary(doubled, "c", "d", "m", duplicates="error")


def test_single_customer_fit_says_it_did_not_converge():
    tx = pd.DataFrame({"c": [1, 1, 1], "d": ["2024-01-01", "2024-02-01", "2024-03-01"]})
    rfm = cp.rfm_summary(tx, "c", "d", observation_end="2024-04-01", time_unit="W")
    assert rfm.loc[1, "frequency"] == 2
    with pytest.warns(ConvergenceWarning, match="did not converge"):
        model = cp.BetaGeoModel().fit(rfm)
    assert model.converged_ is False
    # Predictions still come back finite and in range: no NaN leaks out of a degenerate fit.
    assert 0 <= model.probability_alive(rfm).iloc[0] <= 1
    assert np.isfinite(model.expected_purchases(10, rfm).iloc[0])


def test_only_one_time_buyers():
    tx = pd.DataFrame({"c": [1, 2, 3], "d": ["2024-01-01", "2024-01-05", "2024-02-01"], "m": 9.0})
    rfm = cp.rfm_summary(tx, "c", "d", "m", time_unit="W")
    with pytest.raises(ClvDataError, match="Gamma-Gamma model cannot be fitted"):
        cp.GammaGammaModel().fit(rfm)


def test_all_purchases_on_one_day():
    tx = pd.DataFrame({"c": range(20), "d": "2024-03-01", "m": 5.0})
    rfm = cp.rfm_summary(tx, "c", "d", "m", time_unit="D")
    assert (rfm["T"] == 0).all() and (rfm["frequency"] == 0).all()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with pytest.raises(ConvergenceWarning):
            cp.BetaGeoModel().fit(rfm)
    with pytest.raises(cp.ConvergenceError):
        cp.BetaGeoModel(on_nonconvergence="raise").fit(rfm)
    # The simple formula does not divide by a zero tenure: one month is the floor.
    simple = cp.simple_clv(rfm, lifetime_years=1.0)
    assert simple.iloc[0] == pytest.approx(5.0 * 12)


def test_calibration_end_before_first_purchase(doubled):
    with pytest.raises(ClvDataError, match="calibration period is empty"):
        cp.calibration_holdout_summary(doubled, "c", "d", "2023-12-31", "2024-02-01")

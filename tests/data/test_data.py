"""RFM summaries: the published CDNOW summary, hand-computed examples and bad input."""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd
import pytest

import clvpredict as cp
from clvpredict import ClvDataError


def test_cdnow_summary_reproduces_published(cdnow_tx, cdnow_published):
    rfm = cp.rfm_summary(
        cdnow_tx,
        "customer_id",
        "date",
        "amount",
        observation_end="1997-09-30",
        time_unit="W",
        after_end="drop",
    )
    pub = cdnow_published.set_index("ID")
    assert len(rfm) == len(pub) == 2357
    rfm = rfm.loc[pub.index]
    np.testing.assert_array_equal(rfm["frequency"].to_numpy(), pub["x"].to_numpy())
    assert np.max(np.abs(rfm["recency"] - pub["t_x"])) <= 0.005
    assert np.max(np.abs(rfm["T"] - pub["T"])) <= 0.005
    repeat = pub["x"] > 0
    # zbar is published to two decimals: half a cent of rounding, plus float noise.
    assert (
        np.max(np.abs(rfm.loc[repeat, "monetary_value"] - pub.loc[repeat, "zbar"])) <= 0.005 + 1e-9
    )
    assert rfm.loc[~repeat, "monetary_value"].isna().all()
    assert rfm.attrs["time_unit"] == "W"
    assert rfm.attrs["observation_end"] == "1997-09-30"


@pytest.fixture
def tiny() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "cust": ["a", "a", "a", "a", "b", "c"],
            "when": [
                "2024-01-01 09:00",
                "2024-01-01 17:30",  # same day as the first: merged, amounts summed
                "2024-01-15",
                "2024-01-29",
                "2024-01-08",
                "2024-01-10",
            ],
            "amount": [10.0, 5.0, 20.0, 40.0, 8.0, 3.0],
        }
    )


def test_tiny_by_hand_in_days(tiny):
    rfm = cp.rfm_summary(tiny, "cust", "when", "amount", observation_end="2024-02-05")
    a, b = rfm.loc["a"], rfm.loc["b"]
    assert a["frequency"] == 2  # purchase days 01-01, 01-15, 01-29
    assert a["recency"] == 28.0
    assert a["T"] == 35.0
    assert a["monetary_value"] == pytest.approx((20 + 40) / 2)
    assert a["avg_order_value"] == pytest.approx((15 + 20 + 40) / 3)
    assert b["frequency"] == 0 and b["recency"] == 0.0 and b["T"] == 28.0
    assert np.isnan(b["monetary_value"]) and b["avg_order_value"] == 8.0
    assert rfm.index.name == "cust"
    assert rfm["frequency"].dtype == np.int64


@pytest.mark.parametrize(
    ("unit", "days"), [("D", 1.0), ("W", 7.0), ("M", 30.436875), ("Y", 365.2425)]
)
def test_time_units_only_change_the_measure(tiny, unit, days):
    daily = cp.rfm_summary(tiny, "cust", "when", "amount", observation_end="2024-02-05")
    other = cp.rfm_summary(
        tiny, "cust", "when", "amount", observation_end="2024-02-05", time_unit=unit
    )
    np.testing.assert_array_equal(other["frequency"], daily["frequency"])
    np.testing.assert_allclose(other["recency"], daily["recency"] / days)
    np.testing.assert_allclose(other["T"], daily["T"] / days)
    assert other.attrs["time_unit"] == unit


def test_default_observation_end_is_last_purchase_day(tiny):
    rfm = cp.rfm_summary(tiny, "cust", "when", time_unit="D")
    assert rfm.loc["a", "T"] == 28.0
    assert "monetary_value" not in rfm.columns


def test_timezone_aware_dates_use_local_calendar_day():
    tx = pd.DataFrame(
        {
            "c": [1, 1],
            # 23:30 and 00:30 local time are on different days, though 1 h apart.
            "t": pd.to_datetime(["2024-03-01 23:30", "2024-03-02 00:30"]).tz_localize(
                "America/New_York"
            ),
        }
    )
    rfm = cp.rfm_summary(tx, "c", "t")
    assert rfm.loc[1, "frequency"] == 1 and rfm.loc[1, "recency"] == 1.0


def test_calibration_holdout_by_hand(tiny):
    extra = pd.DataFrame(
        {
            "cust": ["a", "a", "d", "b"],
            "when": ["2024-02-03", "2024-02-03", "2024-02-04", "2024-02-06"],
            "amount": [7.0, 3.0, 9.0, 4.0],
        }
    )
    tx = pd.concat([tiny, extra], ignore_index=True)
    ch = cp.calibration_holdout_summary(
        tx, "cust", "when", "2024-01-31", "2024-02-14", monetary_value_col="amount"
    )
    assert "d" not in ch.index  # first seen in the holdout: excluded
    assert list(ch.index) == ["a", "b", "c"]
    assert ch.loc["a", "frequency"] == 2 and ch.loc["a", "T"] == 30.0
    assert ch.loc["a", "frequency_holdout"] == 1  # two rows on one day
    assert ch.loc["a", "monetary_value_holdout"] == 10.0
    assert ch.loc["b", "frequency_holdout"] == 1
    assert ch.loc["c", "frequency_holdout"] == 0
    assert np.isnan(ch.loc["c", "monetary_value_holdout"])
    assert (ch["duration_holdout"] == 14.0).all()
    assert ch.attrs["calibration_end"] == "2024-01-31"


def test_cdnow_holdout_counts_match_hand_count(cdnow_tx, cdnow_cal_holdout):
    days = cdnow_tx.assign(day=cdnow_tx["date"].dt.normalize())
    cal_customers = set(days.loc[days["day"] <= "1997-09-30", "customer_id"])
    hold = days[(days["day"] > "1997-09-30") & (days["day"] <= "1998-06-30")]
    hold = hold[hold["customer_id"].isin(cal_customers)]
    by_hand = hold.drop_duplicates(["customer_id", "day"]).groupby("customer_id").size()
    got = cdnow_cal_holdout["frequency_holdout"]
    assert got.sum() == by_hand.sum()
    pd.testing.assert_series_equal(
        got[got > 0].sort_index(), by_hand.sort_index(), check_names=False, check_dtype=False
    )
    assert cdnow_cal_holdout["duration_holdout"].iloc[0] == pytest.approx(273 / 7)


# ------------------------------------------------------------------------- bad input


def test_missing_column_is_named(tiny):
    with pytest.raises(ClvDataError, match=r"'amt'.*available columns"):
        cp.rfm_summary(tiny, "cust", "when", "amt")


def test_missing_customer_ids_are_reported(tiny):
    bad = tiny.copy()
    bad.loc[2, "cust"] = None
    with pytest.raises(ClvDataError, match="missing customer ids at row 2"):
        cp.rfm_summary(bad, "cust", "when")


def test_unparseable_dates_are_reported(tiny):
    bad = tiny.copy()
    bad.loc[4, "when"] = "not a date"
    with pytest.raises(ClvDataError, match="row 4: 'not a date'"):
        cp.rfm_summary(bad, "cust", "when")


def test_negative_amounts(tiny, caplog):
    bad = tiny.copy()
    bad.loc[2, "amount"] = -20.0
    with pytest.raises(ClvDataError, match=r"negative amounts.*returns='drop'"):
        cp.rfm_summary(bad, "cust", "when", "amount")
    with caplog.at_level(logging.WARNING):
        dropped = cp.rfm_summary(bad, "cust", "when", "amount", returns="drop")
    assert "discarded 1" in caplog.text
    assert dropped.loc["a", "frequency"] == 1
    # Netting: the -20 cancels 01-15's purchase entirely, so that day is no purchase.
    netted = cp.rfm_summary(bad, "cust", "when", "amount", returns="net")
    assert netted.loc["a", "frequency"] == 1


def test_zero_amounts_are_kept_and_logged(tiny, caplog):
    zero = tiny.copy()
    zero.loc[2, "amount"] = 0.0
    with caplog.at_level(logging.WARNING):
        rfm = cp.rfm_summary(zero, "cust", "when", "amount")
    assert "1 zero amounts" in caplog.text
    assert rfm.loc["a", "frequency"] == 2


def test_non_numeric_and_nan_amounts(tiny):
    bad = tiny.astype({"amount": object})
    bad.loc[1, "amount"] = "$5"
    with pytest.raises(ClvDataError, match=r"non-numeric amounts: row 1: '\$5'"):
        cp.rfm_summary(bad, "cust", "when", "amount")
    nan = tiny.copy()
    nan.loc[3, "amount"] = np.nan
    with pytest.raises(ClvDataError, match=r"NaN.*row 3"):
        cp.rfm_summary(nan, "cust", "when", "amount")


def test_purchases_after_observation_end(tiny, caplog):
    with pytest.raises(ClvDataError, match="after observation_end"):
        cp.rfm_summary(tiny, "cust", "when", observation_end="2024-01-20")
    rfm = cp.rfm_summary(tiny, "cust", "when", observation_end="2024-01-20", after_end="drop")
    assert rfm.loc["a", "frequency"] == 1 and "c" in rfm.index


def test_empty_and_ends_before_first_purchase(tiny):
    with pytest.raises(ClvDataError, match="empty"):
        cp.rfm_summary(tiny.iloc[:0], "cust", "when")
    with pytest.raises(ClvDataError, match="before the first purchase"):
        cp.rfm_summary(tiny, "cust", "when", observation_end="2023-01-01", after_end="drop")
    with pytest.raises(ClvDataError, match="calibration period is empty"):
        cp.calibration_holdout_summary(tiny, "cust", "when", "2023-12-01", "2024-02-01")
    with pytest.raises(ClvDataError, match="must be after calibration_end"):
        cp.calibration_holdout_summary(tiny, "cust", "when", "2024-02-01", "2024-01-15")


def test_bad_time_unit_lists_the_choices(tiny):
    with pytest.raises(ClvDataError, match="'W' \\(weeks\\)"):
        cp.rfm_summary(tiny, "cust", "when", time_unit="fortnight")


def test_mixed_id_types_are_refused(tiny):
    bad = tiny.astype({"cust": object})
    bad.loc[4, "cust"] = 7
    with pytest.raises(ClvDataError, match="mixes id types"):
        cp.rfm_summary(bad, "cust", "when")


def test_not_a_dataframe():
    with pytest.raises(ClvDataError, match=r"must be a DataFrame \(pandas, polars, pyarrow"):
        cp.rfm_summary([1, 2, 3], "a", "b")


def test_a_parsed_log_gives_exactly_what_the_raw_frame_gives(cdnow_tx):
    """Every reader of a TransactionLog returns what it returns on the raw log, parsed anew."""
    log = cp.TransactionLog(cdnow_tx, "customer_id", "date", "amount")
    columns = ("customer_id", "date")
    pd.testing.assert_frame_equal(
        cp.rfm_summary(log, observation_end="1998-06-30", time_unit="W"),
        cp.rfm_summary(cdnow_tx, *columns, "amount", observation_end="1998-06-30", time_unit="W"),
    )
    split = {"calibration_end": "1997-09-30", "observation_end": "1998-06-30", "time_unit": "W"}
    from_log = cp.calibration_holdout_summary(log, **split)
    pd.testing.assert_frame_equal(
        from_log,
        cp.calibration_holdout_summary(cdnow_tx, *columns, monetary_value_col="amount", **split),
    )
    assert cp.estimate_lifetime_years(log, window_months=6) == cp.estimate_lifetime_years(
        cdnow_tx, *columns, window_months=6
    )
    bg = cp.BetaGeoModel().fit(from_log)
    ends = {"calibration_end": "1997-09-30", "observation_end": "1998-06-30"}
    pd.testing.assert_frame_equal(
        cp.expected_repeat_transactions_over_time(bg, log, **ends),
        cp.expected_repeat_transactions_over_time(bg, cdnow_tx, *columns, **ends),
    )
    assert log.n_rows == len(cdnow_tx) == 6919


def test_a_parsed_log_refuses_contradicting_columns_and_policies(cdnow_tx):
    log = cp.TransactionLog(cdnow_tx, "customer_id", "date", "amount")
    with pytest.raises(cp.ClvDataError, match=r"parsed with \{'customer_id_col': 'customer_id'\}"):
        cp.rfm_summary(log, "client", "date")
    with pytest.raises(cp.ClvDataError, match="'returns': 'drop'"):
        cp.rfm_summary(log, returns="drop")
    with pytest.raises(cp.ClvDataError, match="Name the customer id and date columns"):
        cp.rfm_summary(cdnow_tx)

"""The lifetime estimate, the tracking table and the P(alive) history on every engine.

Each is computed from pandas (the reference, pinned by the other tests to published figures and
to counts by hand) and from polars (eager and lazy), pyarrow, DuckDB and Spark logs, given raw or
parsed once into a :class:`~clvpredict.data.TransactionLog`. The results must be identical: they
are counts of customers and purchase days, and the model's expectations at the same ages.
Engines count in their own engine: what comes back to pandas is one row per day (or period),
never one per customer or customer-day.
"""

from __future__ import annotations

import narwhals.stable.v2 as nw
import pandas as pd
import pytest
from engine_frames import on_engine

import clvpredict as cp
from clvpredict.data import TransactionLog
from clvpredict.evaluation import expected_repeat_transactions_over_time, probability_alive_history

ENGINES = ["polars", "polars-lazy", "pyarrow", "duckdb", "spark"]
CAL_END, OBS_END = "1997-09-30", "1998-06-30"


@pytest.fixture(autouse=True)
def _spark_session_for_spark_cases(request):
    callspec = getattr(request.node, "callspec", None)
    if callspec is not None and callspec.params.get("engine") == "spark":
        request.getfixturevalue("spark")


@pytest.fixture(scope="module")
def cdnow() -> pd.DataFrame:
    return cp.datasets.load_cdnow()


@pytest.fixture(scope="module")
def bg(cdnow):
    ch = cp.calibration_holdout_summary(cdnow, "customer_id", "date", CAL_END, OBS_END)
    return cp.BetaGeoModel().fit(ch)


@pytest.fixture(scope="module")
def bgbb(cdnow):
    """A discrete-time model in calendar months (the calibration ends on a month's end)."""
    ch = cp.calibration_holdout_summary(
        cdnow, "customer_id", "date", CAL_END, OBS_END, time_unit="M", discrete=True
    )
    return cp.BetaGeoBetaBinomModel().fit(ch)


@pytest.fixture
def rows_to_pandas(monkeypatch):
    """The lengths of the frames that narwhals hands to pandas while the test runs."""
    lengths: list[int] = []
    original = nw.DataFrame.to_pandas

    def counted(self):
        frame = original(self)
        lengths.append(len(frame))
        return frame

    monkeypatch.setattr(nw.DataFrame, "to_pandas", counted)
    return lengths


def parsed(frame, engine: str) -> TransactionLog:
    return TransactionLog(on_engine(frame, engine), "customer_id", "date", "amount")


# ------------------------------------------------------------------------------------------
# The lifetime estimate for the simple CLV
# ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("engine", ENGINES)
def test_lifetime_estimate_is_the_same_on_every_engine(cdnow, engine, rows_to_pandas):
    cases = [(6, None), (2, None), (1, "1998-03-15"), (5, "1998-06-20")]
    native = on_engine(cdnow, engine)
    log = parsed(cdnow, engine)
    for window_months, end in cases:
        options = dict(window_months=window_months, observation_end=end)
        reference = cp.estimate_lifetime_years(cdnow, "customer_id", "date", **options)
        assert cp.estimate_lifetime_years(native, "customer_id", "date", **options) == reference
        assert cp.estimate_lifetime_years(log, **options) == reference
    # The docstring's figure, from 6-month windows over the whole history.
    assert round(cp.estimate_lifetime_years(cdnow, "customer_id", "date"), 3) == 1.035
    # Only counts are asked of the engine: no table of customers or days comes back.
    assert not rows_to_pandas


@pytest.mark.parametrize("engine", ["pandas", *ENGINES])
def test_lifetime_estimate_refusals_are_the_same(cdnow, engine):
    native = cdnow if engine == "pandas" else on_engine(cdnow, engine)
    with pytest.raises(cp.ClvDataError, match="fewer than two complete windows of 12 months"):
        cp.estimate_lifetime_years(native, "customer_id", "date", window_months=12)
    with pytest.raises(cp.ClvDataError, match="before the first purchase: there is no history"):
        cp.estimate_lifetime_years(native, "customer_id", "date", observation_end="1990-01-01")


# ------------------------------------------------------------------------------------------
# Tracking: repeat transactions per period
# ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize("freq", ["W", "10D"])
def test_tracking_table_is_the_same_on_every_engine(cdnow, bg, engine, freq, rows_to_pandas):
    ends = dict(calibration_end=CAL_END, observation_end="1998-06-20", freq=freq, after_end="drop")
    reference = expected_repeat_transactions_over_time(bg, cdnow, "customer_id", "date", **ends)
    n_days = len(rows_to_pandas)
    for log in (on_engine(cdnow, engine), parsed(cdnow, engine)):
        got = expected_repeat_transactions_over_time(bg, log, "customer_id", "date", **ends)
        pd.testing.assert_frame_equal(got, reference, check_exact=True)
        assert got.attrs == reference.attrs
    # The cohort of the published calibration summary.
    assert reference["customers"].iloc[-1] == 2357
    # At most one row per day with a purchase came back, never a row per customer.
    assert max(rows_to_pandas[n_days:]) <= cdnow["date"].dt.normalize().nunique() < 2357


@pytest.mark.parametrize("engine", ENGINES)
def test_discrete_tracking_table_is_the_same_on_every_engine(cdnow, bgbb, engine):
    ends = dict(calibration_end=CAL_END, observation_end=OBS_END)
    reference = expected_repeat_transactions_over_time(bgbb, cdnow, "customer_id", "date", **ends)
    got = expected_repeat_transactions_over_time(
        bgbb, on_engine(cdnow, engine), "customer_id", "date", **ends
    )
    pd.testing.assert_frame_equal(got, reference, check_exact=True)
    assert reference.attrs["counted"] == "periods with a purchase"
    assert len(reference) == 18  # January 1997 to June 1998


@pytest.mark.parametrize("engine", ["pandas", *ENGINES])
def test_tracking_refuses_a_calibration_before_the_first_purchase(cdnow, bg, engine):
    native = cdnow if engine == "pandas" else on_engine(cdnow, engine)
    with pytest.raises(cp.ClvDataError, match="no customer was acquired in calibration"):
        expected_repeat_transactions_over_time(bg, native, "customer_id", "date", "1996-06-30")


# ------------------------------------------------------------------------------------------
# One customer's P(alive) history
# ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("engine", ENGINES)
def test_probability_alive_history_is_the_same_on_every_engine(cdnow, bg, engine, rows_to_pandas):
    for end in (CAL_END, None):
        reference = probability_alive_history(bg, cdnow, "customer_id", "date", 1, end=end)
        n_before = len(rows_to_pandas)
        for log in (on_engine(cdnow, engine), parsed(cdnow, engine)):
            got = probability_alive_history(bg, log, "customer_id", "date", 1, end=end)
            pd.testing.assert_frame_equal(got, reference, check_exact=True)
            assert got.attrs == reference.attrs
        # Customer 1's purchase days only.
        own = cdnow.loc[cdnow["customer_id"] == 1, "date"].dt.normalize().nunique()
        assert max(rows_to_pandas[n_before:]) == own


@pytest.mark.parametrize("engine", ENGINES)
def test_an_unknown_customer_is_refused_alike(cdnow, bg, engine):
    """The same message as pandas', naming the first ids; a text id among numbers matches
    nobody (DuckDB would otherwise convert it)."""
    for unknown in (99_999, "1"):
        messages = []
        for native in (cdnow, on_engine(cdnow, engine)):
            log = TransactionLog(native, "customer_id", "date")
            with pytest.raises(cp.ClvDataError, match="has no transactions") as refused:
                probability_alive_history(bg, log, "customer_id", "date", unknown)
            messages.append(str(refused.value))
        assert messages[0] == messages[1]

"""Property tests: any generated transaction log gives valid output or our own error, never
another exception."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

import clvpredict as cp
from clvpredict import ClvDataError, ConvergenceWarning

ids = st.integers(0, 30)
amounts = st.floats(0.01, 1e7, allow_nan=False)
clean_rows = st.lists(st.tuples(ids, st.integers(0, 800), amounts), min_size=0, max_size=60)
# Now and then one row carries a value that real logs have: a return, a zero, a gap, extremes.
odd_value = st.sampled_from([0.0, -5.0, np.nan, 1e-9, 1e12])


@st.composite
def rows(draw):
    raw = draw(clean_rows)
    # Ids are integers or strings; now and then a log mixes both (which must be refused).
    kind = draw(st.sampled_from(["int", "int", "str", "str", "mixed"]))
    if kind != "int":
        raw = [(f"c{c}" if kind == "str" or c % 2 else c, day, amount) for c, day, amount in raw]
    if raw and draw(st.booleans()):
        i = draw(st.integers(0, len(raw) - 1))
        raw[i] = (raw[i][0], raw[i][1], draw(odd_value))
    return raw


PROFILE = settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
    derandomize=True,
)


def _frame(raw, with_time: bool) -> pd.DataFrame:
    start = pd.Timestamp("2023-01-01")
    return pd.DataFrame(
        {
            "customer": [r[0] for r in raw],
            "when": [
                start + pd.Timedelta(days=r[1], hours=(r[1] % 24) if with_time else 0) for r in raw
            ],
            "amount": [r[2] for r in raw],
        }
    )


def _check_rfm(rfm: pd.DataFrame) -> None:
    assert (rfm["frequency"] >= 0).all()
    assert rfm["frequency"].dtype == np.int64
    assert (rfm["recency"] >= 0).all()
    assert (rfm["recency"] <= rfm["T"]).all()
    repeat = rfm["frequency"] > 0
    assert rfm.loc[~repeat, "monetary_value"].isna().all()
    assert np.isfinite(rfm.loc[repeat, "monetary_value"]).all()


@PROFILE
@given(
    raw=rows(),
    unit=st.sampled_from(["D", "W", "M", "Y"]),
    returns=st.sampled_from(["error", "drop", "net"]),
    duplicates=st.sampled_from(["keep", "drop", "error"]),
    with_time=st.booleans(),
)
def test_rfm_summary_valid_or_our_error(raw, unit, returns, duplicates, with_time):
    tx = _frame(raw, with_time)
    try:
        rfm = cp.rfm_summary(
            tx,
            "customer",
            "when",
            "amount",
            time_unit=unit,
            returns=returns,
            duplicates=duplicates,
        )
    except ClvDataError:
        event("refused")
        return
    event("summarised")
    _check_rfm(rfm)
    assert rfm.attrs["time_unit"] == unit
    # Every customer appears once, and every purchase day is accounted for.
    assert rfm.index.is_unique


@PROFILE
@given(raw=rows(), unit=st.sampled_from(["D", "W", "M"]))
def test_fit_and_predict_valid_or_our_error(raw, unit):
    tx = _frame(raw, with_time=False)
    try:
        rfm = cp.rfm_summary(tx, "customer", "when", "amount", time_unit=unit, returns="drop")
    except ClvDataError:
        event("summary refused")
        return
    event("fitted")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        bg = cp.BetaGeoModel().fit(rfm)
        p_alive = bg.probability_alive(rfm)
        expected = bg.expected_purchases(10, rfm)
        try:
            gg = cp.GammaGammaModel().fit(rfm)
        except ClvDataError:
            gg = None
    assert isinstance(bg.converged_, bool)
    assert ((p_alive >= 0) & (p_alive <= 1)).all()
    assert (np.isfinite(expected) & (expected >= 0)).all()
    if gg is not None and gg.params_["q"] > 1:
        value = gg.expected_average_value(rfm)
        assert (np.isfinite(value) & (value > 0)).all()


@PROFILE
@given(raw=rows(), cut=st.integers(0, 800))
def test_calibration_holdout_valid_or_our_error(raw, cut):
    tx = _frame(raw, with_time=True)
    end = pd.Timestamp("2023-01-01") + pd.Timedelta(days=cut)
    try:
        ch = cp.calibration_holdout_summary(
            tx,
            "customer",
            "when",
            calibration_end=end,
            observation_end=pd.Timestamp("2025-12-31"),
            monetary_value_col="amount",
            returns="net",
        )
    except ClvDataError:
        return
    _check_rfm(ch)
    assert (ch["frequency_holdout"] >= 0).all()
    assert (ch["duration_holdout"] > 0).all()


@PROFILE
@given(
    raw=rows(),
    unit=st.sampled_from(["D", "W", "M", "Y"]),
    end_offset=st.integers(0, 400),
    cut=st.integers(0, 800),
)
def test_discrete_summaries_valid_or_our_error(raw, unit, end_offset, cut):
    """Period counts: whole numbers with frequency <= recency <= T, and the holdout counts at
    most one transaction per whole holdout period; a fit of the BG/BB on them is valid."""
    tx = _frame(raw, with_time=True)
    end = pd.Timestamp("2025-03-01") + pd.Timedelta(days=end_offset)
    try:
        rfm = cp.rfm_summary(
            tx, "customer", "when", "amount", end, unit, returns="drop", discrete=True
        )
        ch = cp.calibration_holdout_summary(
            tx,
            "customer",
            "when",
            pd.Timestamp("2023-01-01") + pd.Timedelta(days=cut),
            end,
            "amount",
            unit,
            returns="drop",
            discrete=True,
        )
    except ClvDataError:
        event("refused")
        return
    event("summarised")
    for summary in (rfm, ch):
        _check_rfm(summary)
        assert summary["recency"].dtype == np.int64 and summary["T"].dtype == np.int64
        assert (summary["frequency"] <= summary["recency"]).all()
        assert summary.attrs["discrete"] is True
    assert (ch["frequency_holdout"] <= ch["duration_holdout"]).all()
    assert (ch["duration_holdout"] >= 1).all()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        model = cp.BetaGeoBetaBinomModel().fit(rfm)
        p_alive = model.probability_alive(rfm)
        expected = model.expected_purchases(3, rfm)
    assert model.time_unit_ == unit
    assert ((p_alive >= 0) & (p_alive <= 1 + 1e-12)).all()
    assert (np.isfinite(expected) & (expected >= 0) & (expected <= 3 + 1e-9)).all()

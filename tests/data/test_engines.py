"""The same logs through every engine give the same summaries and the same refusals.

Each log is summarised from pandas (the reference: the suite's other tests pin its numbers to
published figures and to a by-hand implementation) and from polars (eager and lazy), pyarrow,
DuckDB and Spark (local mode, the session of the ``spark`` fixture). Counts must be equal, times and money equal to 1e-12; a summary comes back in the kind of
frame it was given; every data check refuses the same bad log on every engine.
"""

from __future__ import annotations

import logging
from contextlib import contextmanager
from datetime import date, timedelta

import duckdb
import numpy as np
import pandas as pd
import polars as pl
import pytest
from engine_frames import on_engine, to_pandas

import clvpredict as cp
from clvpredict.data.engines import UNIT_COLUMN, frame_kind, summary_unit

ENGINES = ["polars", "polars-lazy", "pyarrow", "duckdb", "spark"]


@pytest.fixture(autouse=True)
def _spark_session_for_spark_cases(request):
    """Tests run on the "spark" engine get the session's Spark started (once per run)."""
    callspec = getattr(request.node, "callspec", None)
    if callspec is not None and callspec.params.get("engine") == "spark":
        request.getfixturevalue("spark")


def assert_same(reference: pd.DataFrame, other, id_col: str, engine: str) -> None:
    assert frame_kind(other) == engine
    assert summary_unit(other) == reference.attrs["time_unit"]
    got = to_pandas(other, id_col)
    assert (got.pop(UNIT_COLUMN) == reference.attrs["time_unit"]).all()
    ref = reference.sort_index()
    assert list(got.columns) == list(ref.columns)
    assert got.index.astype(str).tolist() == ref.index.astype(str).tolist()
    for column in ref.columns:
        expected, actual = ref[column].to_numpy(), got[column].to_numpy()
        if column.startswith("frequency") or ref[column].dtype.kind == "i":
            np.testing.assert_array_equal(actual.astype(np.int64), expected, err_msg=column)
        else:
            np.testing.assert_allclose(
                actual.astype(float), expected, rtol=1e-12, atol=1e-12, err_msg=column
            )


# ------------------------------------------------------------------------------------------
# Logs
# ------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def cdnow() -> pd.DataFrame:
    return cp.datasets.load_cdnow()


def synthetic() -> pd.DataFrame:
    """Same-day purchases, a zero amount, returns, ids that are text with leading zeros."""
    return pd.DataFrame(
        {
            "id": ["007", "007", "007", "7", "7", "0042", "0042", "0042", "abc"],
            "when": pd.to_datetime(
                [
                    "2024-01-01 09:00",
                    "2024-01-01 17:30",
                    "2024-02-10",
                    "2024-01-03",
                    "2024-03-01",
                    "2023-12-30",
                    "2024-01-15",
                    "2024-01-15 12:00",
                    "2024-02-29",
                ],
                format="ISO8601",
            ),
            "amount": [10.0, 5.5, 20.0, 0.0, 12.0, 30.0, -10.0, 25.0, 7.25],
        }
    )


def zoned() -> pd.DataFrame:
    """Timestamps in New York: late-evening purchases are on the local calendar day."""
    stamps = pd.to_datetime(
        ["2024-01-01 23:30", "2024-01-02 00:30", "2024-03-10 23:59", "2024-03-11 00:01"],
        format="ISO8601",
    ).tz_localize("America/New_York")
    return pd.DataFrame({"id": ["a", "a", "b", "b"], "when": stamps, "amount": [1.0, 2.0, 3, 4]})


def text_dates() -> pd.DataFrame:
    """ISO 8601 text, with and without a time, and a date before 1970."""
    return pd.DataFrame(
        {
            "id": ["a", "a", "b", "b", "c"],
            "when": [
                "1969-12-31",
                "1970-01-01 10:00",
                "2024-02-29",
                "2024-03-01T08:00:00",
                "2024-03-01",
            ],
            "amount": [1.0, 2.0, 3.0, 4.0, 5.0],
        }
    )


# ------------------------------------------------------------------------------------------
# Same numbers on every engine
# ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize("unit", ["D", "W"])
def test_cdnow_rfm_summary(cdnow, engine, unit, caplog):
    options = dict(observation_end="1997-09-30", time_unit=unit, after_end="drop")
    reference = cp.rfm_summary(cdnow, "customer_id", "date", "amount", **options)
    other = cp.rfm_summary(on_engine(cdnow, engine), "customer_id", "date", "amount", **options)
    assert_same(reference, other, "customer_id", engine)
    assert len(reference) == 2357  # FHL 2005's cohort (shared/REFERENCE.md)


@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize("discrete", [False, True])
def test_cdnow_calibration_holdout(cdnow, engine, discrete):
    options = dict(
        calibration_end="1997-09-30",
        observation_end="1998-06-30",
        monetary_value_col="amount",
        time_unit="W",
        discrete=discrete,
    )
    reference = cp.calibration_holdout_summary(cdnow, "customer_id", "date", **options)
    other = cp.calibration_holdout_summary(
        on_engine(cdnow, engine), "customer_id", "date", **options
    )
    assert_same(reference, other, "customer_id", engine)
    if not discrete:
        assert int(reference["frequency_holdout"].sum()) == 1882  # the docstring's CDNOW count


@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize("returns", ["drop", "net"])
@pytest.mark.parametrize("unit", ["D", "M"])
def test_synthetic_log_with_returns(engine, returns, unit):
    log = synthetic()
    options = dict(observation_end="2024-03-31", time_unit=unit, returns=returns)
    reference = cp.rfm_summary(log, "id", "when", "amount", **options)
    other = cp.rfm_summary(on_engine(log, engine), "id", "when", "amount", **options)
    assert_same(reference, other, "id", engine)
    # Text ids keep their leading zeros: "007" and "7" are two customers.
    assert {"007", "7", "0042", "abc"} == set(reference.index)


@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize("unit", ["M", "Y"])
def test_discrete_calendar_periods(engine, unit):
    log = synthetic()
    options = dict(observation_end="2024-12-31", time_unit=unit, returns="net", discrete=True)
    reference = cp.rfm_summary(log, "id", "when", "amount", **options)
    other = cp.rfm_summary(on_engine(log, engine), "id", "when", "amount", **options)
    assert_same(reference, other, "id", engine)


@contextmanager
def session_time_zone(engine: str, zone: str):
    """DuckDB and Spark keep the zone in the session, not in the data: the session's zone is set
    for the duration of the block."""
    if engine == "duckdb":
        before = duckdb.sql("select current_setting('TimeZone')").fetchall()[0][0]
        duckdb.sql(f"SET TimeZone = '{zone}'")
        try:
            yield
        finally:
            duckdb.sql(f"SET TimeZone = '{before}'")
    elif engine == "spark":
        from pyspark.sql import SparkSession

        conf = SparkSession.getActiveSession().conf
        before = conf.get("spark.sql.session.timeZone")
        conf.set("spark.sql.session.timeZone", zone)
        try:
            yield
        finally:
            conf.set("spark.sql.session.timeZone", before)
    else:
        yield


@pytest.mark.parametrize("engine", ENGINES)
def test_time_zones_keep_local_days(engine):
    log = zoned()
    reference = cp.rfm_summary(log, "id", "when", "amount", observation_end="2024-03-31")
    # By hand: a buys on 1 and 2 January local time (both UTC 2 January), b on 10 and 11 March.
    assert reference.loc["a", "recency"] == 1.0 and reference.loc["b", "recency"] == 1.0
    with session_time_zone(engine, "America/New_York"):
        native = on_engine(log, engine)
        other = cp.rfm_summary(native, "id", "when", "amount", observation_end="2024-03-31")
        assert_same(reference, other, "id", engine)


@pytest.mark.parametrize("engine", ["duckdb", "spark"])
def test_session_zoned_engines_read_days_in_the_session_zone_and_say_so(engine, caplog):
    """In a UTC session, each customer's two New York purchases fall on one UTC day (a: 04:30
    and 05:30 on 2 January; b: 03:59 and 04:01 on 11 March, daylight time): the engine's own
    cast to a date. The log says which zone was used."""
    with session_time_zone(engine, "UTC"), caplog.at_level(logging.WARNING, logger="clvpredict"):
        out = cp.rfm_summary(
            on_engine(zoned(), engine), "id", "when", "amount", observation_end="2024-03-31"
        )
        got = to_pandas(out, "id")
    assert got["frequency"].tolist() == [0, 0]
    assert "calendar days are taken in the session's time zone 'UTC'" in caplog.text


@pytest.mark.parametrize("engine", ENGINES)
def test_iso_text_dates(engine):
    log = text_dates()
    reference = cp.rfm_summary(log, "id", "when", "amount", observation_end="2024-03-31")
    # By hand: a's purchases are one day apart across the epoch; b's one day apart in a leap year.
    assert reference.loc["a", "recency"] == 1.0 and reference.loc["b", "recency"] == 1.0
    other = cp.rfm_summary(
        on_engine(log, engine), "id", "when", "amount", observation_end="2024-03-31"
    )
    assert_same(reference, other, "id", engine)


@pytest.mark.parametrize("engine", ENGINES)
def test_the_same_warnings_are_logged(engine, caplog):
    log = pd.concat([synthetic(), synthetic().iloc[[0]]], ignore_index=True)
    with caplog.at_level(logging.WARNING, logger="clvpredict"):
        cp.rfm_summary(
            on_engine(log, engine),
            "id",
            "when",
            "amount",
            returns="drop",
            observation_end="2024-03-31",
        )
    text = caplog.text
    assert "1 rows repeat an earlier row exactly" in text
    assert "kept, and their amounts are added to that customer's purchase of that day" in text
    assert "has 1 zero amounts" in text
    assert "returns='drop': discarded 1 transactions" in text


# ------------------------------------------------------------------------------------------
# The same refusals on every engine
# ------------------------------------------------------------------------------------------


def _future() -> str:
    return str(date.today() + timedelta(days=400))


BAD_LOGS = {
    "missing id": (
        lambda: synthetic().assign(id=[None, *synthetic()["id"][1:]]),
        {},
        r"missing customer ids",
    ),
    "negative amount": (lambda: synthetic(), {}, r"negative amounts \(returns or refunds\?\)"),
    "missing amount": (
        lambda: synthetic().assign(amount=[np.nan, *synthetic()["amount"][1:]]),
        {"returns": "drop"},
        r"missing \(NaN\) amounts",
    ),
    "infinite amount": (
        lambda: synthetic().assign(amount=[np.inf, *synthetic()["amount"][1:]]),
        {"returns": "drop"},
        r"infinite amounts",
    ),
    "duplicates refused": (
        lambda: pd.concat([synthetic(), synthetic().iloc[[0]]], ignore_index=True),
        {"returns": "drop", "duplicates": "error"},
        r"1 rows repeat an earlier row exactly",
    ),
    "after the end": (
        lambda: synthetic(),
        {"returns": "drop", "observation_end": "2024-02-01"},
        r"purchase day\(s\) fall after observation_end=2024-02-01",
    ),
    "dated in the future": (
        lambda: synthetic().assign(when=[pd.Timestamp(_future()), *synthetic()["when"][1:]]),
        {"returns": "drop"},
        r"1 row is dated after today",
    ),
    "text that is not a date": (
        lambda: text_dates().assign(when=["soon", *text_dates()["when"][1:]]),
        {},
        r"values that are not dates.*'soon'",
    ),
    "a date that does not exist": (
        lambda: text_dates().assign(when=["2023-02-29", *text_dates()["when"][1:]]),
        {},
        r"values that are not dates.*2023-02-29",
    ),
    "ids with spaces": (
        lambda: synthetic().assign(id=[" 7", *synthetic()["id"][1:]]),
        {"returns": "drop"},
        r"differ only by surrounding spaces",
    ),
    "every purchase returned": (
        lambda: synthetic().assign(amount=-1.0),
        {"returns": "drop"},
        r"No purchases are left after removing returns",
    ),
    "missing column": (lambda: synthetic().drop(columns="amount"), {}, r"not found"),
    "missing date": (
        lambda: synthetic().assign(when=[pd.NaT, *synthetic()["when"][1:]]),
        {"returns": "drop"},
        r"missing dates",
    ),
}


@pytest.mark.parametrize("engine", ["pandas", *ENGINES])
@pytest.mark.parametrize("case", list(BAD_LOGS))
def test_bad_logs_are_refused_alike(case, engine):
    make, options, message = BAD_LOGS[case]
    log = make()
    native = log if engine == "pandas" else on_engine(log, engine)
    with pytest.raises(cp.ClvDataError, match=message):
        cp.rfm_summary(native, "id", "when", "amount", **options)


def test_a_summary_from_polars_states_its_unit_in_a_column(cdnow):
    summary = cp.rfm_summary(
        pl.from_pandas(cdnow),
        "customer_id",
        "date",
        "amount",
        observation_end="1997-09-30",
        time_unit="W",
        after_end="drop",
    )
    assert summary[UNIT_COLUMN].unique().to_list() == ["W"]
    mixed = pl.concat([summary, summary.with_columns(pl.lit("D").alias(UNIT_COLUMN))])
    with pytest.raises(cp.ClvDataError, match=r"holds several units \['D', 'W'\]"):
        summary_unit(mixed)

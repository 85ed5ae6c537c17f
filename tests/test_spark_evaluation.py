"""The holdout check of a Spark calibration/holdout summary: the customers' forecasts are made on
the executors, the tables are Spark aggregates equal to the pandas path's (counts exact, the rest
to 1e-12 relative), and nothing of one row per customer comes to the driver."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from engine_frames import (
    Collected,
    assert_same_evaluation,
    assert_same_predictions,
    count_collections,
    on_engine,
)

import clvpredict as cp
from clvpredict.data.engines import frame_kind
from clvpredict.evaluation import evaluate_holdout, mean_spend_density, period_transactions

CAL_END, OBS_END = "1997-09-30", "1998-06-30"
OPTIONS = dict(monetary_value_col="amount", time_unit="W")


@pytest.fixture(scope="module")
def cdnow() -> pd.DataFrame:
    return cp.datasets.load_cdnow()[["customer_id", "date", "amount"]]


@pytest.fixture(scope="module")
def spark_log(spark, cdnow):
    # Four partitions: the customers reach the executors in several batches.
    return on_engine(cdnow, "spark").repartition(4)


@pytest.fixture(scope="module")
def reference(cdnow):
    ch = cp.calibration_holdout_summary(cdnow, "customer_id", "date", CAL_END, OBS_END, **OPTIONS)
    bg, gg = cp.BetaGeoModel().fit(ch), cp.GammaGammaModel().fit(ch)
    return ch, bg, gg, evaluate_holdout(bg, ch, spend_model=gg)


@pytest.fixture(scope="module")
def spark_summary(spark_log):
    summary = cp.calibration_holdout_summary(
        spark_log, "customer_id", "date", CAL_END, OBS_END, **OPTIONS
    ).cache()
    assert summary.count() == 2357  # computed into the cache now, not during a test
    yield summary
    summary.unpersist()


@pytest.fixture
def collected(spark, monkeypatch) -> Collected:
    """Counts the rows of every collection on the driver while a test runs."""
    return count_collections(spark, monkeypatch)


def cached_rdds(spark) -> int:
    return spark.sparkContext._jsc.getPersistentRDDs().size()


def test_spark_summary_gives_the_pandas_tables(spark, reference, spark_summary, collected):
    _, bg, gg, want = reference
    cached = cached_rdds(spark)
    got = evaluate_holdout(bg, spark_summary, spend_model=gg)
    # The forecasts were cached for the two aggregates, and released.
    assert cached_rdds(spark) == cached
    assert_same_evaluation(want, got)
    assert int(got.totals["actual"].iloc[0]) == 1882
    # The driver received the checks, one customer's row (the executors' output types), the
    # group-by (at most 8 frequency x 9 recency bins x bought or not) and the centred sums.
    assert max(rows for _, rows in collected.frames) <= 8 * 9 * 2
    assert collected.rows_with("customer_id") == [1]
    # The per-customer table is a Spark query computed on the executors.
    assert frame_kind(got.predictions) == "spark"
    assert got.predictions.columns == ["customer_id", *want.predictions.columns]
    assert_same_predictions(want.predictions, got.predictions)


def test_compare_models_and_the_calibration_plots_tables(reference, spark_summary, collected):
    """compare_models fits on the distinct histories and checks by aggregates; the tables of
    the calibration plots are counts."""
    ch, bg, gg, _ = reference
    models = [cp.BetaGeoModel, cp.ParetoNBDModel]
    want = cp.compare_models(ch, [m() for m in models])
    got = cp.compare_models(spark_summary, [m() for m in models])
    assert got.index.tolist() == want.index.tolist()
    assert got["best"].tolist() == want["best"].tolist()
    for column in ("mae", "rmse", "correlation", "pct_error"):
        np.testing.assert_allclose(got[column], want[column], rtol=1e-12, atol=0)
    for column in ("log_likelihood", "aic", "bic"):
        np.testing.assert_allclose(got[column], want[column], rtol=1e-9, atol=0)
    pd.testing.assert_frame_equal(
        period_transactions(bg, spark_summary),
        period_transactions(bg, ch),
        check_exact=False,
        rtol=1e-12,
        atol=0,
    )
    grid = np.linspace(0.0, 300.0, 31)
    pd.testing.assert_series_equal(
        mean_spend_density(gg, spark_summary, grid), mean_spend_density(gg, ch, grid)
    )
    # Per customer, only the one row that gives each scoring's output types.
    assert set(collected.rows_with("customer_id")) == {1}
    distinct = len(ch[["frequency", "recency", "T"]].drop_duplicates())
    assert max(collected.rows_with("weight")) <= distinct < len(ch)


def synthetic_log(n: int = 1500, seed: int = 5) -> pd.DataFrame:
    """Simulated BG/NBD customers acquired over 20 weeks, with text ids and amounts."""
    rng = np.random.default_rng(seed)
    acquired = pd.Series(
        pd.Timestamp("2021-01-04") + pd.to_timedelta(rng.integers(0, 140, size=n), unit="D"),
        index=[f"c{k:05d}" for k in range(n)],
    )
    return cp.simulate_transactions(
        "bgnbd",
        {"r": 0.6, "alpha": 4.0, "a": 0.7, "b": 2.0},
        acquired,
        "2022-06-30",
        time_unit="W",
        spend_params={"p": 5.0, "q": 4.0, "gamma": 12.0},
        random_state=seed,
    ).transactions[["customer_id", "date", "amount"]]


def test_several_holdout_durations(spark):
    """Summaries with holdouts of 12 and 52 weeks, and one putting them together (customers
    with different holdout lengths), each equal to the pandas check."""
    tx = synthetic_log()
    log = on_engine(tx, "spark").repartition(3)
    summaries = {}
    for cal_end in ("2022-04-07", "2021-06-30"):
        ends = (cal_end, "2022-06-30")
        ch = cp.calibration_holdout_summary(tx, "customer_id", "date", *ends, **OPTIONS)
        spark_ch = cp.calibration_holdout_summary(log, "customer_id", "date", *ends, **OPTIONS)
        summaries[cal_end] = (ch, spark_ch)
        bg, gg = cp.BetaGeoModel().fit(ch), cp.GammaGammaModel().fit(ch)
        want = evaluate_holdout(bg, ch, spend_model=gg)
        got = evaluate_holdout(bg, spark_ch, spend_model=gg)
        assert_same_evaluation(want, got)
    assert sorted(round(s[0]["duration_holdout"].iloc[0]) for s in summaries.values()) == [12, 52]

    (late, late_spark), (early, early_spark) = summaries["2022-04-07"], summaries["2021-06-30"]
    mixed = pd.concat([late.iloc[::2], early.iloc[1::2]])
    mixed.attrs["time_unit"] = "W"
    ids = set(mixed.index)
    both = late_spark.filter(late_spark["customer_id"].isin(list(late.index[::2]))).unionByName(
        early_spark.filter(early_spark["customer_id"].isin(list(early.index[1::2])))
    )
    bg = cp.BetaGeoModel().fit(mixed)
    want = evaluate_holdout(bg, mixed, max_frequency=5)
    got = evaluate_holdout(bg, both, max_frequency=5)
    assert mixed["duration_holdout"].nunique() == 2 and len(ids) == len(mixed)
    assert_same_evaluation(want, got)
    assert_same_predictions(want.predictions, got.predictions)

"""CLV tables of Spark summaries, scored on the executors, equal clv_table's in one process."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from engine_frames import on_engine

import clvpredict as cp
from clvpredict.spark import spark_clv_table


@pytest.fixture(scope="module")
def cdnow_log() -> pd.DataFrame:
    return cp.datasets.load_cdnow()


@pytest.fixture(scope="module")
def spark_log(spark, cdnow_log):
    # Four partitions: the customers reach the scoring in several batches. (`spark` starts the
    # session that on_engine builds the frame in.)
    return on_engine(cdnow_log, "spark").repartition(4)


def _collected(table) -> pd.DataFrame:
    return table.toPandas().set_index("customer_id").sort_index()


def _assert_same_table(expected: pd.DataFrame, got: pd.DataFrame) -> None:
    assert list(got.columns) == list(expected.columns)
    assert got.index.tolist() == expected.index.tolist()
    for column in expected.columns:
        want, have = expected[column].to_numpy(), got[column].to_numpy()
        assert have.dtype == want.dtype, column
        if want.dtype.kind == "i":
            np.testing.assert_array_equal(have, want, err_msg=column)
        else:
            # The same NaN pattern (one-time buyers' monetary_value) and values to 1e-12.
            np.testing.assert_allclose(have, want, rtol=1e-12, atol=0, err_msg=column)


def test_scores_on_the_executors_equal_the_pandas_table(cdnow_log, spark_log):
    options = dict(observation_end="1997-09-30", time_unit="W", after_end="drop")
    reference = cp.rfm_summary(cdnow_log, "customer_id", "date", "amount", **options)
    bg = cp.BetaGeoModel().fit(reference)
    gg = cp.GammaGammaModel().fit(reference)
    settings = dict(lifetime_years=2.5, horizon_months=24, annual_discount_rate=0.08, margin=0.3)
    expected = cp.clv_table(bg, gg, reference, **settings).sort_index()

    summary = cp.rfm_summary(spark_log, "customer_id", "date", "amount", **options)
    table = spark_clv_table(bg, gg, summary, **settings)
    assert table.columns == ["customer_id", *expected.columns]
    got = _collected(table)
    assert len(got) == 2357
    _assert_same_table(expected, got)
    assert np.isnan(got["monetary_value"]).sum() == (got["frequency"] == 0).sum() > 0


def test_holdout_columns_and_intervals_match_with_one_seed(cdnow_log, spark_log):
    """With an interval, every batch draws the same parameters: the bounds are clv_table's for
    the same seed. The holdout columns and the holdout forecast come along."""
    options = dict(
        calibration_end="1997-09-30",
        observation_end="1998-06-30",
        monetary_value_col="amount",
        time_unit="D",
    )
    reference = cp.calibration_holdout_summary(cdnow_log, "customer_id", "date", **options)
    bg = cp.BetaGeoModel().fit(reference)
    gg = cp.GammaGammaModel().fit(reference)
    settings = dict(lifetime_years=3.0, interval=0.9, n_draws=40, random_state=7)
    expected = cp.clv_table(bg, gg, reference, **settings).sort_index()
    assert {"predictive_clv_lower", "expected_purchases_holdout"} <= set(expected.columns)

    summary = cp.calibration_holdout_summary(spark_log, "customer_id", "date", **options)
    got = _collected(spark_clv_table(bg, gg, summary, **settings))
    _assert_same_table(expected, got)


def test_refusals(cdnow_log, spark_log):
    """A lifetime per customer or none, a pandas summary, and a summary mixing units."""
    options = dict(observation_end="1997-09-30", after_end="drop")
    reference = cp.rfm_summary(cdnow_log, "customer_id", "date", "amount", **options)
    bg = cp.BetaGeoModel().fit(reference)
    gg = cp.GammaGammaModel().fit(reference)
    summary = cp.rfm_summary(spark_log, "customer_id", "date", "amount", **options)
    weeks = cp.rfm_summary(spark_log, "customer_id", "date", "amount", time_unit="W", **options)
    mixed = summary.unionByName(weeks.filter("customer_id % 2 = 0"))
    with pytest.raises(Exception, match=r"holds several units \['D', 'W'\]"):
        spark_clv_table(bg, gg, mixed, lifetime_years=1.0).collect()
    with pytest.raises(cp.ClvDataError, match="lifetime_years= as one number"):
        spark_clv_table(bg, bg, summary)
    with pytest.raises(cp.ClvDataError, match="lifetime_years= as one number"):
        spark_clv_table(bg, bg, summary, lifetime_years=pd.Series([1.0]))
    with pytest.raises(cp.ClvDataError, match="scores a Spark DataFrame"):
        spark_clv_table(bg, bg, cdnow_log, lifetime_years=1.0)


def test_predictions_of_a_spark_summary_are_made_on_the_executors(cdnow_log, spark_log):
    """Each prediction of a Spark summary is a Spark DataFrame computed by mapInPandas, with the
    numbers of the same prediction of the pandas summary; clv_table too."""
    options = dict(observation_end="1997-09-30", after_end="drop", time_unit="W")
    reference = cp.rfm_summary(cdnow_log, "customer_id", "date", "amount", **options)
    bg = cp.BetaGeoModel().fit(reference)
    gg = cp.GammaGammaModel().fit(reference)
    summary = cp.rfm_summary(spark_log, "customer_id", "date", "amount", **options)
    cases = [
        (lambda data: bg.expected_purchases(52, data), 1e-12),
        (lambda data: bg.probability_alive(data), 1e-12),
        (lambda data: gg.expected_average_value(data), 1e-12),
        (lambda data: cp.predictive_clv(bg, gg, data), 1e-12),
    ]
    for call, rtol in cases:
        want = call(reference)
        want = want.to_frame() if isinstance(want, pd.Series) else want
        table = call(summary)
        assert cp.data.engines.frame_kind(table) == "spark"
        assert table.columns == ["customer_id", *map(str, want.columns)]
        got = _collected(table)
        assert got.index.tolist() == sorted(want.index.tolist())
        for column in want.columns:
            np.testing.assert_allclose(
                got[str(column)].to_numpy(), want.sort_index()[column].to_numpy(), rtol=rtol
            )
    settings = dict(lifetime_years=2.0, horizon_months=12)
    expected = cp.clv_table(bg, gg, reference, **settings).sort_index()
    _assert_same_table(expected, _collected(cp.clv_table(bg, gg, summary, **settings)))
    with pytest.raises(cp.ClvDataError, match="one number for every customer"):
        cp.clv_table(bg, gg, summary, lifetime_years=pd.Series([1.0]))

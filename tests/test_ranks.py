"""Exact ranks of a CLV table on every engine: the value tiers, the customers at risk, the top
customers, the concentration marks and the spend histogram of a Spark (or lazy polars) table
equal those of the same table in pandas.

The order is predictive CLV descending, missing values last, ties by customer id. The rank
search of an engine's table (:mod:`clvpredict.data.ranks`) is run here with a small band and
sample, so that it narrows its range over several rounds before collecting it, as it does at
scale. Counts and ids are exact; sums agree to 1e-12 (they are added in another order).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import polars as pl
import pytest
from engine_frames import on_engine

import clvpredict as cp
from clvpredict import plotting, segments
from clvpredict.data import ranks
from clvpredict.data.ranks import RankKey, rank_keys

LOOKBACK = 13.0


def tied_table(n: int = 3_000, seed: int = 5) -> pd.DataFrame:
    """A CLV table with many ties (values on a coarse grid, a block of exact zeros), missing
    values, text ids in shuffled order, and histories for the at-risk check."""
    rng = np.random.default_rng(seed)
    frequency = rng.poisson(2.0, n)
    T = rng.choice([20.0, 30.0, 40.0], n)
    recency = np.where(frequency > 0, np.round(rng.uniform(0, 1, n) * T, 1), 0.0)
    predictive = np.round(rng.gamma(0.6, 40.0, n) / 5.0) * 5.0
    predictive[rng.random(n) < 0.15] = 0.0
    predictive[rng.random(n) < 0.03] = np.nan
    simple = np.round(rng.gamma(0.6, 60.0, n), 2)
    simple[rng.random(n) < 0.05] = np.nan
    table = pd.DataFrame(
        {
            "frequency": frequency,
            "recency": recency,
            "T": T,
            "p_alive": rng.uniform(0, 1, n),
            "predictive_clv": predictive,
            "simple_clv": simple,
        },
        index=pd.Index([f"c{k:05d}" for k in rng.permutation(n)], name="customer_id"),
    )
    return table


def reference_order(table: pd.DataFrame) -> list[str]:
    """The ids in rank order, written out plainly: missing last, value down, id up."""

    def key(item: tuple[str, float]) -> tuple[bool, float, str]:
        ident, value = item
        return (bool(np.isnan(value)), 0.0 if np.isnan(value) else -value, ident)

    pairs = zip(table.index, table["predictive_clv"].to_numpy(), strict=True)
    return [ident for ident, _ in sorted(pairs, key=key)]


@pytest.fixture(scope="module")
def cdnow_table() -> tuple[cp.BetaGeoModel, pd.DataFrame]:
    tx = cp.datasets.load_cdnow()
    rfm = cp.rfm_summary(
        tx, "customer_id", "date", "amount", observation_end="1998-06-30", time_unit="W"
    )
    bg = cp.BetaGeoModel().fit(rfm)
    table = cp.clv_table(bg, cp.GammaGammaModel().fit(rfm), rfm, lifetime_years=1.5)
    # Ties: every one-time buyer observed for the same T has the same CLV.
    assert table["predictive_clv"].duplicated().sum() > 1000
    return bg, table


def on(table: pd.DataFrame, kind: str, spark=None):
    flat = table.reset_index()
    if kind == "polars-lazy":
        return pl.from_pandas(flat).lazy()
    if kind == "spark":
        # As every engine test makes one (pyspark 3.5 takes pandas only, through Arrow).
        return on_engine(flat, "spark").repartition(3)
    raise AssertionError(kind)


@pytest.fixture
def small_band(monkeypatch):
    """A band and a sample small enough for the rank search to take several rounds."""
    monkeypatch.setattr(ranks, "BAND_ROWS", 300)
    monkeypatch.setattr(ranks, "SAMPLE_ROWS", 1_024)


def test_rank_keys_are_exact_with_ties_and_missing_values():
    table = tied_table()
    order = reference_order(table)
    value = table["predictive_clv"]
    wanted = [0, 1, 299, 300, 900, 1_799, 1_800, 2_500, 2_950, 2_999]
    expected = {
        r: RankKey(True, 0.0, order[r])
        if np.isnan(value[order[r]])
        else RankKey(False, float(value[order[r]]), order[r])
        for r in wanted
    }
    assert np.isnan(value[order[-1]]) and value[order[2_500]] == 0.0
    lazy = on(table, "polars-lazy")
    # Several rounds of narrowing: a band of 40 rows, samples of 64.
    assert (
        rank_keys(lazy, "predictive_clv", "customer_id", wanted, band_rows=40, sample_rows=64)
        == expected
    )
    assert rank_keys(table.reset_index(), "predictive_clv", "customer_id", wanted) == expected


def test_pandas_ties_are_broken_by_id_whatever_the_rows_order():
    table = tied_table()
    in_order = table.sort_index()
    pd.testing.assert_frame_equal(segments.segment_table(table), segments.segment_table(in_order))
    top = segments.top_customers(table, 40)
    assert top.index.tolist() == reference_order(table)[:40]
    # On a table in id order the rank order is the table's (a stable sort), as nlargest keeps it.
    assert segments.top_customers(in_order, 40).index.tolist() == (
        in_order.nlargest(40, "predictive_clv", keep="first").index.tolist()
    )


def assert_same_tiers(expected: pd.DataFrame, got: pd.DataFrame) -> None:
    assert got.index.tolist() == expected.index.tolist()
    assert got["n_customers"].tolist() == expected["n_customers"].tolist()
    for column in expected.columns.drop("n_customers"):
        np.testing.assert_allclose(got[column], expected[column], rtol=1e-12, err_msg=column)


def test_tiers_by_hand_on_tied_values():
    table = tied_table()
    order = reference_order(table)
    tiers = segments.segment_table(table)
    assert tiers["n_customers"].tolist() == [300, 600, 900, 1_200]
    for (label, row), (lo, hi) in zip(
        tiers.iterrows(), [(0, 300), (300, 900), (900, 1_800), (1_800, 3_000)], strict=True
    ):
        members = table.loc[order[lo:hi]]
        assert row["total_predictive_clv"] == pytest.approx(
            members["predictive_clv"].sum(), rel=1e-14
        ), label
        assert row["mean_simple_clv"] == pytest.approx(members["simple_clv"].mean(), rel=1e-14)


@pytest.mark.parametrize("data", ["tied", "cdnow"])
def test_tiers_at_risk_and_top_customers_agree_on_polars(data, cdnow_table, small_band):
    bg, table = cdnow_table
    if data == "tied":
        table = tied_table()
    lazy = on(table, "polars-lazy")
    assert_same_tiers(segments.segment_table(table), segments.segment_table(lazy))
    pd.testing.assert_frame_equal(
        segments.top_customers(table, 20), segments.top_customers(lazy, 20), check_dtype=False
    )
    expected = segments.at_risk_customers(bg, table, lookback=LOOKBACK)
    got = segments.at_risk_customers(bg, lazy, lookback=LOOKBACK).collect().to_pandas()
    assert len(expected) > 20
    pd.testing.assert_frame_equal(
        expected, got.set_index("customer_id"), check_dtype=False, rtol=1e-12
    )


def test_tiers_at_risk_and_top_customers_agree_on_spark(spark, cdnow_table, monkeypatch):
    # One round of narrowing (each Spark query costs a second here), then the band collected.
    monkeypatch.setattr(ranks, "BAND_ROWS", 600)
    monkeypatch.setattr(ranks, "SAMPLE_ROWS", 2_048)
    bg, cdnow = cdnow_table
    for table in (tied_table(), cdnow):
        frame = on(table, "spark", spark).cache()
        assert_same_tiers(segments.segment_table(table), segments.segment_table(frame))
        pd.testing.assert_frame_equal(
            segments.top_customers(table, 20),
            segments.top_customers(frame, 20),
            check_dtype=False,
        )
        expected = segments.at_risk_customers(bg, table, lookback=LOOKBACK)
        listed = segments.at_risk_customers(bg, frame, lookback=LOOKBACK)
        assert listed.count() == len(expected) > 20
        pd.testing.assert_frame_equal(
            expected.head(50),
            segments.top_customers(listed, 50),
            check_dtype=False,
            rtol=1e-12,
        )
        frame.unpersist()


def test_linear_quantile_is_numpy_quantile_bit_for_bit():
    rng = np.random.default_rng(3)
    for k in range(2_000):
        n = int(rng.integers(1, 400))
        values = rng.gamma(0.4, 10.0, n)
        if k % 2:
            values = np.round(values, 1)
        q = float(rng.choice([0.8, 1 - 0.2, 0.99, 0.5, 0.0, 1.0, rng.random()]))
        ordered = np.sort(values)
        low, high = segments.quantile_positions(n, q)
        got = segments.linear_quantile(ordered[low], ordered[high], n, q)
        # numpy's default method, which takes q itself (pandas 2.0 hands numpy q x 100 and can
        # differ from both in the last bit).
        assert got == np.quantile(values, q), (n, q)


def test_concentration_marks_and_spend_histogram_agree_on_polars(cdnow_table, small_band):
    _, table = cdnow_table
    marks = (0.1, 0.2, 0.123, 0.5, 1.0)
    curve, shares, n = plotting.concentration_points(table["predictive_clv"], marks=marks)
    lazy = on(table, "polars-lazy")
    points, got, got_n = plotting.concentration_points(lazy, marks=marks)
    assert got_n == n == 2357
    for fraction in marks:
        assert got[fraction] == pytest.approx(shares[fraction], rel=1e-12), fraction
    # Every point drawn for the engine's table lies on the exact curve.
    exact = np.interp(
        points["share_of_customers"], curve["share_of_customers"], curve["share_of_value"]
    )
    np.testing.assert_allclose(points["share_of_value"], exact, rtol=0, atol=1e-12)
    assert len(points) <= plotting.CURVE_BUCKETS + 2

    tx = cp.datasets.load_cdnow()
    cal = cp.calibration_holdout_summary(
        tx,
        customer_id_col="customer_id",
        datetime_col="date",
        monetary_value_col="amount",
        calibration_end="1997-09-30",
        observation_end="1998-06-30",
    )
    for bins, q in ((40, 0.99), (13, 0.9), (7, 1.0)):
        n_buyers, edges, counts = plotting.spend_histogram(cal, bins, q)
        got_buyers, got_edges, got_counts = plotting.spend_histogram(
            on(cal, "polars-lazy"), bins, q
        )
        assert got_buyers == n_buyers == 946
        np.testing.assert_array_equal(got_edges, edges)
        np.testing.assert_array_equal(got_counts, counts)


def test_heatmap_limits_of_an_engine_summary_are_the_pandas_ones(cdnow_table):
    """The heatmaps' T and frequency quantiles from distinct frequencies and their counts."""
    from clvpredict.plotting import _heatmap_limits

    bg, table = cdnow_table
    expected = _heatmap_limits(bg, table, None, None)
    assert expected[1] >= 2 and set(expected[2]) == {"0.5", "0.9", "0.99"}
    assert _heatmap_limits(bg, on(table, "polars-lazy"), None, None) == expected

"""RFM-named segments: quintile scores worked by hand, and the same on another engine."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import clvpredict as cp
from clvpredict.segments import rfm_segment_table, rfm_segments

# Ten customers (weeks). Time since the last purchase, T - recency: a 60, b 10, c 50, d 2,
# e 50, f 3, g 80, h 4, i 5, j 5.
HISTORIES = pd.DataFrame(
    {
        "frequency": [0, 0, 1, 3, 3, 6, 2, 0, 9, 1],
        "recency": [0.0, 0.0, 20.0, 48.0, 30.0, 55.0, 10.0, 0.0, 95.0, 40.0],
        "T": [60.0, 10.0, 70.0, 50.0, 80.0, 58.0, 90.0, 4.0, 100.0, 45.0],
        "monetary_value": [0.0, 0.0, 25.0, 40.0, 40.0, 80.0, 15.0, 0.0, 28.0, 5.0],
        "avg_order_value": [10.0, 30.0, 25.0, 40.0, 40.0, 80.0, 15.0, 20.0, 28.0, 5.0],
    },
    index=pd.Index(list("abcdefghij"), name="customer_id"),
)
HISTORIES.attrs["time_unit"] = "W"
# With n = 10 a score is 1 + floor(5 b / 10) = 1 + b // 2, b = the customers strictly worse.
#   R, by time since the last purchase (longer is worse): g 80 (b=0) -> 1, a 60 (1) -> 1,
#     c and e 50 (2) -> 2, b 10 (4) -> 3, i and j 5 (5) -> 3 (tied: i would be 3, j 4),
#     h 4 (7) -> 4, f 3 (8) -> 5, d 2 (9) -> 5.
#   F: a, b, h 0 (b=0) -> 1; c, j 1 (3) -> 2; g 2 (5) -> 3; d, e 3 (6) -> 4; f 6 (8) -> 5;
#     i 9 (9) -> 5.
#   M, by avg_order_value: j 5 -> 1, a 10 -> 1, g 15 -> 2, h 20 -> 2, c 25 -> 3, i 28 -> 3,
#     b 30 (6) -> 4, d and e 40 (7) -> 4 (tied: e would be 5), f 80 (9) -> 5.
EXPECTED = pd.DataFrame(
    {
        "r_score": [1, 3, 2, 5, 2, 5, 1, 4, 3, 3],
        "f_score": [1, 1, 2, 4, 4, 5, 3, 1, 5, 2],
        "m_score": [1, 4, 3, 4, 4, 5, 2, 2, 3, 1],
        "rfm_segment": [
            "Lost",  # r 1, f 1-2
            "About to sleep",  # r 3, f 1
            "Hibernating",  # r 2, f 1-2
            "Champions",  # r, f, m all 4-5
            "Can't lose them",  # r 1-2, f and m 4-5
            "Champions",
            "At risk",  # r 1-2, f 3-5, m 2
            "New customers",  # r 4-5, f 1
            "Loyal customers",  # r 3, f 5 (m 3: not a Champion)
            "Need attention",  # r 3, f 2-3
        ],
    },
    index=HISTORIES.index,
)


def test_scores_and_segments_by_hand():
    got = rfm_segments(HISTORIES)
    pd.testing.assert_frame_equal(got, EXPECTED, check_dtype=False)
    assert got.index.equals(HISTORIES.index)
    assert cp.rfm_segments is rfm_segments


def test_recency_is_scored_by_the_time_since_the_last_purchase():
    """i has the longest recency (95 weeks from first to last purchase) but bought 5 weeks
    ago; e (recency 30) last bought 50 weeks ago, b (recency 0) 10 weeks ago."""
    got = rfm_segments(HISTORIES)
    assert HISTORIES["recency"].idxmax() == "i" and got.loc["i", "r_score"] == 3
    assert got.loc["b", "r_score"] > got.loc["e", "r_score"]
    # Scored on recency itself, the order would be the reverse for these two.
    assert HISTORIES.loc["e", "recency"] > HISTORIES.loc["b", "recency"]


def test_spend_is_scored_on_the_named_column():
    # On monetary_value (repeat purchases only) a, b and h spend 0 and tie at the bottom;
    # then j 5 (b=3) -> 2, g 15 (4) -> 3, c 25 (5) -> 3, i 28 (6) -> 4, d and e 40 (7) -> 4,
    # f 80 (9) -> 5.
    got = rfm_segments(HISTORIES, monetary="monetary_value")
    assert got["m_score"].tolist() == [1, 1, 3, 4, 4, 5, 3, 1, 4, 2]
    assert rfm_segments(HISTORIES.drop(columns="avg_order_value"))["m_score"].equals(got["m_score"])
    with pytest.raises(cp.ClvDataError, match="monetary='spend'"):
        rfm_segments(HISTORIES, monetary="spend")


def test_segment_table_by_hand():
    table = HISTORIES[["frequency", "recency", "T", "monetary_value"]].copy()
    table["predictive_clv"] = [1.0, 4.0, 2.0, 50.0, 30.0, 90.0, 5.0, 8.0, 40.0, 10.0]
    table["p_alive"] = [0.1, 0.6, 0.3, 0.9, 0.4, 0.95, 0.2, 0.99, 0.8, 0.7]
    got = rfm_segment_table(table, rfm_segments(HISTORIES))
    assert list(got.index) == [rule[0] for rule in cp.segments.RFM_SEGMENT_RULES]
    champions = got.loc["Champions"]  # d and f
    assert champions["n_customers"] == 2 and champions["share_of_customers"] == 0.2
    assert champions["total_predictive_clv"] == 140.0
    assert champions["mean_predictive_clv"] == 70.0
    assert champions["share_of_predictive_clv"] == pytest.approx(140.0 / 240.0)
    assert champions["mean_p_alive"] == pytest.approx(0.925)
    assert got.loc["Lost", "total_predictive_clv"] == 1.0
    empty = got.loc["Potential loyalists"]
    assert empty["n_customers"] == 0 and empty["total_predictive_clv"] == 0.0
    assert np.isnan(empty["mean_predictive_clv"]) and np.isnan(empty["mean_p_alive"])
    assert got["n_customers"].sum() == 10
    assert got["total_predictive_clv"].sum() == 240.0


def test_equal_times_tie_whatever_their_last_bits():
    """Two customers who last bought 3 weeks ago: 20/7 - 17/7 and 30/7 - 27/7 differ in the
    last bit as floats, yet they tie (and take the lower score)."""
    two = pd.DataFrame(
        {"frequency": [1, 1], "recency": [17 / 7, 27 / 7], "T": [20 / 7, 30 / 7]},
        index=["x", "y"],
    ).assign(monetary_value=10.0)
    two.attrs["time_unit"] = "W"
    assert two["T"].iloc[0] - two["recency"].iloc[0] != two["T"].iloc[1] - two["recency"].iloc[1]
    assert rfm_segments(two)["r_score"].tolist() == [1, 1]
    bare = two.copy()
    bare.attrs = {}
    with pytest.raises(cp.ClvDataError, match="needs the time unit"):
        rfm_segments(bare)


def test_ties_share_a_score_and_a_small_table_scores_sparsely():
    # Three customers: 1 + floor(5 b / 3) gives 1, 2, 4; two equal values share the lower.
    three = HISTORIES.iloc[:3].assign(frequency=[4, 7, 7])
    assert rfm_segments(three)["f_score"].tolist() == [1, 2, 2]
    assert rfm_segments(HISTORIES.iloc[:3])["f_score"].tolist() == [1, 1, 4]


def test_another_engine_scores_as_pandas(cdnow_tx, monkeypatch):
    """A lazy polars summary of CDNOW: the engine finds the edges by exact ranks (the rank
    search made to narrow over rounds, as at scale) and gives pandas' scores and table."""
    import polars as pl

    from clvpredict.data import ranks

    monkeypatch.setattr(ranks, "BAND_ROWS", 300)
    monkeypatch.setattr(ranks, "SAMPLE_ROWS", 1_024)
    args = ("customer_id", "date", "amount")
    rfm = cp.rfm_summary(cdnow_tx, *args, observation_end="1998-06-30", time_unit="W")
    lazy_log = pl.from_pandas(cdnow_tx[list(args)]).lazy()
    lazy = cp.rfm_summary(lazy_log, *args, observation_end="1998-06-30", time_unit="W")
    expected = rfm_segments(rfm)
    got = rfm_segments(lazy).collect().to_pandas().set_index("customer_id")
    pd.testing.assert_frame_equal(got.loc[expected.index], expected, check_dtype=False)
    # Every score is used; a fifth of the customers in each, but for ties.
    assert set(expected["r_score"]) == {1, 2, 3, 4, 5}
    bg, gg = cp.BetaGeoModel().fit(rfm), cp.GammaGammaModel().fit(rfm)
    table = cp.clv_table(bg, gg, rfm, lifetime_years=1.5)
    lazy_table = cp.clv_table(bg, gg, lazy, lifetime_years=1.5)
    pd.testing.assert_frame_equal(
        rfm_segment_table(lazy_table, rfm_segments(lazy)),
        rfm_segment_table(table, expected),
        check_dtype=False,
        rtol=1e-12,
    )

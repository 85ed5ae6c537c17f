"""The holdout check of a calibration/holdout summary held by polars, DuckDB or pyarrow gives the
pandas path's tables: counts exact, every other number to 1e-12 relative (the engines sum in
another order). The Spark case is in test_spark_evaluation.py."""

from __future__ import annotations

from itertools import pairwise

import numpy as np
import pandas as pd
import pytest
from engine_frames import assert_same_evaluation, assert_same_predictions, on_engine

import clvpredict as cp
from clvpredict import ClvDataError
from clvpredict.data.engines import frame_kind
from clvpredict.evaluation import (
    evaluate_holdout,
    mean_spend_density,
    period_transactions,
)

CAL_END, OBS_END = "1997-09-30", "1998-06-30"
OPTIONS = dict(monetary_value_col="amount", time_unit="W")
ENGINES = ["polars", "polars-lazy", "pyarrow", "duckdb"]


@pytest.fixture(scope="module")
def cdnow() -> pd.DataFrame:
    return cp.datasets.load_cdnow()[["customer_id", "date", "amount"]]


@pytest.fixture(scope="module")
def reference(cdnow):
    ch = cp.calibration_holdout_summary(cdnow, "customer_id", "date", CAL_END, OBS_END, **OPTIONS)
    bg, gg = cp.BetaGeoModel().fit(ch), cp.GammaGammaModel().fit(ch)
    return ch, bg, gg, evaluate_holdout(bg, ch, spend_model=gg)


@pytest.mark.parametrize("engine", ENGINES)
def test_engine_summary_gives_the_pandas_tables(engine, cdnow, reference):
    _, bg, gg, want = reference
    summary = cp.calibration_holdout_summary(
        on_engine(cdnow, engine), "customer_id", "date", CAL_END, OBS_END, **OPTIONS
    )
    got = evaluate_holdout(bg, summary, spend_model=gg)
    assert_same_evaluation(want, got)
    assert frame_kind(got.predictions) == engine
    assert_same_predictions(want.predictions, got.predictions)
    assert int(got.totals["actual"].iloc[0]) == 1882
    assert "HoldoutEvaluation(BG/NBD, holdout 39 weeks, 2,357 customers)" in repr(got)


@pytest.mark.parametrize("engine", ENGINES)
def test_engine_spread_per_bin_by_hand(engine, cdnow, reference):
    """Each bin's standard deviation of holdout purchases, from numpy on the customers' rows,
    with a bin of one customer (no spread: NaN) and an empty one."""
    ch, bg, _, _ = reference
    top = np.sort(ch["recency"].to_numpy())[-2:]
    bins = [0, 10, top[0], top[1], top[1] + 1]
    summary = cp.calibration_holdout_summary(
        on_engine(cdnow, engine), "customer_id", "date", CAL_END, OBS_END, **OPTIONS
    )
    got = evaluate_holdout(bg, summary, max_frequency=3, recency_bins=bins)
    actual = ch["frequency_holdout"].to_numpy(dtype=float)
    frequency, recency = ch["frequency"].to_numpy(), ch["recency"].to_numpy()
    by_frequency = [np.minimum(frequency, 3) == k for k in range(4)]
    by_recency = [recency == 0] + [(recency > lo) & (recency <= hi) for lo, hi in pairwise(bins)]
    for table, masks in ((got.by_frequency, by_frequency), (got.by_recency, by_recency)):
        sizes = [int(m.sum()) for m in masks]
        assert table["n_customers"].tolist() == sizes
        want = [np.std(actual[m], ddof=1) if m.sum() > 1 else np.nan for m in masks]
        np.testing.assert_allclose(table["sd_actual"].to_numpy(), want, rtol=1e-12)
    assert got.by_recency["n_customers"].tolist()[-2:] == [1, 0]


def test_custom_bins_and_several_holdout_durations(cdnow, reference):
    """Customers with different holdout lengths (two summaries put together), custom recency
    bins with empty bins, another frequency pooling, no spend model."""
    ch, bg, _, _ = reference
    early = cp.calibration_holdout_summary(
        cdnow, "customer_id", "date", "1997-06-30", OBS_END, **OPTIONS
    )
    mixed = pd.concat([ch.iloc[::2], early.iloc[1::2]])
    mixed.attrs["time_unit"] = "W"
    assert mixed["duration_holdout"].nunique() == 2
    options = dict(max_frequency=4, recency_bins=[0, 1, 2, 30, 60, 100])
    want = evaluate_holdout(bg, mixed, **options)
    assert (want.by_recency["n_customers"] == 0).any()
    native = on_engine(mixed.reset_index().assign(time_unit="W"), "polars")
    got = evaluate_holdout(bg, native, **options)
    assert_same_evaluation(want, got)
    assert_same_predictions(want.predictions, got.predictions)


def test_compare_models_of_an_engine_summary(cdnow, reference):
    ch = reference[0]
    summary = cp.calibration_holdout_summary(
        on_engine(cdnow, "duckdb"), "customer_id", "date", CAL_END, OBS_END, **OPTIONS
    )
    models = [cp.BetaGeoModel, cp.ParetoNBDModel]
    want = cp.compare_models(ch, [m() for m in models])
    got = cp.compare_models(summary, [m() for m in models])
    assert got.index.tolist() == want.index.tolist()
    assert got["best"].tolist() == want["best"].tolist()
    assert got["converged"].tolist() == want["converged"].tolist()
    for column in ("mae", "rmse", "correlation", "pct_error"):
        np.testing.assert_allclose(got[column], want[column], rtol=1e-12, atol=0)
    # The fits see the same distinct histories, whose times differ in the last bits only.
    for column in ("log_likelihood", "aic", "bic"):
        np.testing.assert_allclose(got[column], want[column], rtol=1e-9, atol=0)


def test_constant_sides_give_no_correlation(reference):
    """A side that does not vary has no correlation (NaN), as in the pandas path."""
    ch, bg, gg, _ = reference
    flat = ch[ch["frequency_holdout"] == 0].copy()
    want = evaluate_holdout(bg, flat, spend_model=gg)
    got = evaluate_holdout(bg, on_engine(flat.reset_index().assign(time_unit="W"), "polars"), gg)
    assert np.isnan(want.metrics["correlation"].iloc[0])
    assert want.spend["n_customers"].tolist() == [0, 0, 0]
    assert_same_evaluation(want, got)


def test_engine_refusals_read_as_the_pandas_ones(reference):
    ch, bg, gg, _ = reference
    flat = ch.reset_index().assign(time_unit="W")

    def both(frame: pd.DataFrame, match: str, **kwargs) -> None:
        pandas = frame.set_index("customer_id").drop(columns="time_unit")
        pandas.attrs["time_unit"] = frame["time_unit"].iloc[0] if len(frame) else "W"
        messages = []
        for data in (pandas, on_engine(frame, "polars")):
            with pytest.raises(ClvDataError, match=match) as error:
                evaluate_holdout(bg, data, **kwargs)
            messages.append(str(error.value))
        if "lacks column" not in match and "monetary_value_col" not in match:
            # The same words (a missing column's message lists the columns, id included).
            assert messages[0] == messages[1]

    both(flat.drop(columns="duration_holdout"), r"lacks column\(s\) \['duration_holdout'\]")
    both(flat.iloc[:0], "has no customers")
    both(flat.assign(time_unit="D"), "measured in time_unit='D'")
    both(flat, "max_frequency=0", max_frequency=0)
    both(flat, "recency_bins end at 20", recency_bins=[0, 10, 20])
    both(flat, "must be increasing edges", recency_bins=[1, 10, 60])
    negative = flat.assign(frequency_holdout=np.where(flat.index % 400 == 1, -1, 1))
    both(negative, r"counts >= 0; offending values: -1\.0, -1\.0, .*\.\.\. \(1 more\)")
    both(flat.drop(columns="monetary_value_holdout"), "monetary_value_col", spend_model=gg)
    mixed = flat.assign(time_unit=np.where(flat.index % 2 == 0, "W", "D"))
    with pytest.raises(ClvDataError, match=r"holds several units \['D', 'W'\]"):
        evaluate_holdout(bg, on_engine(mixed, "polars"))


@pytest.mark.parametrize("engine", ENGINES)
def test_period_transactions_and_spend_density_of_an_engine_summary(engine, cdnow, reference):
    """Both read only counts of the summary's customers (per frequency bin and distinct T; per
    repeat buyers' frequency): the pandas summary moved to an engine gives the pandas numbers
    exactly, and the engine's own summary (whose T differ from pandas' in the last bits) to
    1e-12."""
    ch, bg, gg, _ = reference
    moved = on_engine(ch.reset_index().assign(time_unit="W"), engine)
    summary = cp.calibration_holdout_summary(
        on_engine(cdnow, engine), "customer_id", "date", CAL_END, OBS_END, **OPTIONS
    )
    grid = np.linspace(0.0, 300.0, 61)
    want_density = mean_spend_density(gg, ch, grid)
    for k in (7, 3):
        want = period_transactions(bg, ch, k)
        pd.testing.assert_frame_equal(period_transactions(bg, moved, k), want, check_exact=True)
        got = period_transactions(bg, summary, k)
        pd.testing.assert_frame_equal(got, want, check_exact=False, rtol=1e-12, atol=0)
        assert got.attrs == want.attrs
    for data in (moved, summary):
        pd.testing.assert_series_equal(
            mean_spend_density(gg, data, grid), want_density, check_exact=True
        )


def test_period_transactions_and_spend_density_refusals(reference):
    ch, bg, gg, _ = reference
    flat = ch.reset_index().assign(time_unit="W")
    bad_t = on_engine(flat.assign(T=np.where(flat.index < 7, -1.0, flat["T"])), "polars")
    with pytest.raises(ClvDataError, match=r"'T' must be finite and >= 0; .*\(2 more\)"):
        period_transactions(bg, bad_t)
    with pytest.raises(ClvDataError, match=r"lacks column\(s\) \['T'\]"):
        period_transactions(bg, on_engine(flat.drop(columns="T"), "polars"))
    with pytest.raises(ClvDataError, match="measured in time_unit='D'"):
        period_transactions(bg, on_engine(flat.assign(time_unit="D"), "duckdb"))
    no_repeat = on_engine(flat[flat["frequency"] == 0], "pyarrow")
    with pytest.raises(ClvDataError, match="no repeat buyers"):
        mean_spend_density(gg, no_repeat, [1.0, 2.0])


def test_correlations_keep_their_digits_far_from_zero(reference):
    """Spend near a million with a spread of tens: a correlation from raw sums (sum xy - n mean_x
    mean_y) loses most of its digits to cancellation; the engine's sums are centred on the
    means of a first pass and keep them (1e-12, as the pandas path)."""
    ch, bg, gg, _ = reference
    shifted = ch.assign(
        monetary_value=ch["monetary_value"] + 1e6,
        monetary_value_holdout=ch["monetary_value_holdout"] + 1e6,
    )
    want = evaluate_holdout(bg, shifted, spend_model=gg)
    got = evaluate_holdout(bg, on_engine(shifted.reset_index().assign(time_unit="W"), "polars"), gg)
    assert_same_evaluation(want, got)
    # The raw-sum formula on the same customers is off by far more than 1e-12.
    bought = want.predictions[want.predictions["actual"] > 0]
    x = bought["predicted_avg_value"].to_numpy()
    y = bought["monetary_value_holdout"].to_numpy()
    n = len(x)
    raw = (np.sum(x * y) - n * x.mean() * y.mean()) / np.sqrt(
        (np.sum(x * x) - n * x.mean() ** 2) * (np.sum(y * y) - n * y.mean() ** 2)
    )
    exact = want.spend.loc["all", "correlation"]
    assert abs(raw - exact) > 1e-9 * abs(exact)

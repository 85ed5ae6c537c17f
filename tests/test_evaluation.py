"""Holdout evaluation and the tables behind the diagnostic plots.

Actual counts are checked against independent pandas code on the CDNOW transactions, model
numbers against lifetimes (at the same parameters) or against plain per-customer loops.
"""

from __future__ import annotations

import warnings
from itertools import pairwise

import numpy as np
import pandas as pd
import pytest
from scipy import integrate, stats

import clvpredict as cp
from clvpredict import ClvDataError
from clvpredict.evaluation import (
    HoldoutEvaluation,
    evaluate_holdout,
    expected_repeat_transactions_over_time,
    frequency_recency_matrix,
    mean_spend_density,
    period_transactions,
    probability_alive_history,
    value_concentration,
)

CAL_END = "1997-09-30"
OBS_END = "1998-06-30"


@pytest.fixture(scope="module")
def tx() -> pd.DataFrame:
    return cp.datasets.load_cdnow("sample")


@pytest.fixture(scope="module")
def ch(tx) -> pd.DataFrame:
    return cp.calibration_holdout_summary(
        tx,
        "customer_id",
        "date",
        calibration_end=CAL_END,
        observation_end=OBS_END,
        monetary_value_col="amount",
        time_unit="W",
    )


@pytest.fixture(scope="module")
def bg(ch) -> cp.BetaGeoModel:
    return cp.BetaGeoModel().fit(ch)


@pytest.fixture(scope="module")
def gg(ch) -> cp.GammaGammaModel:
    return cp.GammaGammaModel().fit(ch)


@pytest.fixture(scope="module")
def result(bg, gg, ch) -> HoldoutEvaluation:
    return evaluate_holdout(bg, ch, gg)


@pytest.fixture(scope="module")
def hand(tx) -> pd.DataFrame:
    """Per-customer counts by hand: one transaction per customer and calendar day."""
    days = tx[["customer_id", "date"]].drop_duplicates()
    first = days.groupby("customer_id")["date"].min()
    cohort = first[first <= pd.Timestamp(CAL_END)].index
    days = days[days["customer_id"].isin(cohort)]
    in_cal = days["date"] <= pd.Timestamp(CAL_END)
    in_hold = (days["date"] > pd.Timestamp(CAL_END)) & (days["date"] <= pd.Timestamp(OBS_END))
    out = pd.DataFrame(index=pd.Index(sorted(cohort), name="customer_id"))
    out["cal_days"] = days[in_cal].groupby("customer_id").size().reindex(out.index, fill_value=0)
    out["holdout_days"] = (
        days[in_hold].groupby("customer_id").size().reindex(out.index, fill_value=0)
    )
    last = days[in_cal].groupby("customer_id")["date"].max()
    out["recency_weeks"] = (last - first.loc[out.index]).dt.days.to_numpy() / 7.0
    return out


@pytest.fixture(scope="module")
def lifetimes_bg(bg):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from lifetimes import BetaGeoFitter
    fitter = BetaGeoFitter()
    fitter.params_ = pd.Series({k: float(bg.params_[k]) for k in ("r", "alpha", "a", "b")})
    return fitter


# ------------------------------------------------------------------------------------------
# evaluate_holdout
# ------------------------------------------------------------------------------------------


def test_holdout_actuals_match_hand_count(result, hand):
    pred = result.predictions
    assert pred.index.equals(hand.index)
    np.testing.assert_array_equal(pred["actual"].to_numpy(), hand["holdout_days"].to_numpy())
    assert result.totals["actual"].iloc[0] == hand["holdout_days"].sum() == 1882
    assert result.totals["n_customers"].iloc[0] == len(hand) == 2357

    cal_frequency = hand["cal_days"] - 1
    bins = cal_frequency.clip(upper=7)
    by_hand = hand["holdout_days"].groupby(bins).agg(["size", "mean"])
    table = result.by_frequency
    assert table.index.tolist() == ["0", "1", "2", "3", "4", "5", "6", "7+"]
    np.testing.assert_array_equal(table["n_customers"].to_numpy(), by_hand["size"].to_numpy())
    np.testing.assert_allclose(table["mean_actual"].to_numpy(), by_hand["mean"].to_numpy())


def test_predictions_match_lifetimes(result, ch, lifetimes_bg):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        oracle = lifetimes_bg.conditional_expected_number_of_purchases_up_to_time(
            39.0,
            ch["frequency"].to_numpy(),
            ch["recency"].to_numpy(),
            ch["T"].to_numpy(),
        )
    assert result.duration_holdout == 39.0
    np.testing.assert_allclose(result.predictions["predicted"].to_numpy(), oracle, rtol=1e-9)


def test_metrics_and_totals_by_hand(result, hand):
    predicted = result.predictions["predicted"].to_numpy()
    actual = hand["holdout_days"].to_numpy(dtype=float)
    err = predicted - actual
    metrics = result.metrics.iloc[0]
    assert metrics["mae"] == pytest.approx(np.mean(np.abs(err)), rel=1e-12)
    assert metrics["rmse"] == pytest.approx(np.sqrt(np.mean(err**2)), rel=1e-12)
    centred_p, centred_a = predicted - predicted.mean(), actual - actual.mean()
    corr = (centred_p @ centred_a) / np.sqrt((centred_p @ centred_p) * (centred_a @ centred_a))
    assert metrics["correlation"] == pytest.approx(corr, rel=1e-10)
    totals = result.totals.iloc[0]
    assert totals["predicted"] == pytest.approx(predicted.sum())
    assert totals["difference"] == pytest.approx(predicted.sum() - actual.sum())
    assert totals["pct_error"] == pytest.approx(100 * (predicted.sum() / actual.sum() - 1))
    # BG/NBD under-forecasts the CDNOW holdout a little: a sanity range, not a reference value.
    assert -20 < totals["pct_error"] < 0

    bins = np.minimum(hand["cal_days"].to_numpy() - 1, 7)
    means = [predicted[bins == k].mean() for k in range(8)]
    np.testing.assert_allclose(result.by_frequency["mean_predicted"].to_numpy(), means)


def test_recency_bins_by_hand(result, hand):
    table = result.by_recency
    # Default bins on CDNOW: 39-week calibration, width rounded up to 5 weeks.
    assert table.index[0] == "0 (no repeat)"
    np.testing.assert_array_equal(
        table["recency_high"].to_numpy(), [0, 5, 10, 15, 20, 25, 30, 35, 40]
    )
    rec = hand["recency_weeks"].to_numpy()
    actual = hand["holdout_days"].to_numpy(dtype=float)
    predicted = result.predictions["predicted"].to_numpy()
    edges = [0, 5, 10, 15, 20, 25, 30, 35, 40]
    masks = [rec == 0] + [(rec > lo) & (rec <= hi) for lo, hi in pairwise(edges)]
    np.testing.assert_array_equal(table["n_customers"].to_numpy(), [m.sum() for m in masks])
    np.testing.assert_allclose(table["mean_actual"].to_numpy(), [actual[m].mean() for m in masks])
    np.testing.assert_allclose(
        table["mean_predicted"].to_numpy(), [predicted[m].mean() for m in masks]
    )


def test_spread_of_actual_purchases_per_bin_by_hand(result, hand, bg, ch):
    actual = hand["holdout_days"].to_numpy(dtype=float)
    bins = np.minimum(hand["cal_days"].to_numpy() - 1, 7)
    sd = [np.std(actual[bins == k], ddof=1) for k in range(8)]
    np.testing.assert_allclose(result.by_frequency["sd_actual"].to_numpy(), sd, rtol=1e-12)
    rec = hand["recency_weeks"].to_numpy()
    edges = [0, 5, 10, 15, 20, 25, 30, 35, 40]
    masks = [rec == 0] + [(rec > lo) & (rec <= hi) for lo, hi in pairwise(edges)]
    np.testing.assert_allclose(
        result.by_recency["sd_actual"].to_numpy(),
        [np.std(actual[m], ddof=1) for m in masks],
        rtol=1e-12,
    )
    # A bin of one customer has no spread (NaN, without a warning), an empty bin neither.
    top = np.sort(ch["recency"].to_numpy())[-2:]
    assert top[0] < top[1]  # the customer with the longest recency is alone past the other
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        lone = evaluate_holdout(bg, ch, recency_bins=[0, top[0], top[1], top[1] + 1])
    table = lone.by_recency
    assert table["n_customers"].tolist()[2:] == [1, 0]
    assert np.isnan(table["sd_actual"].iloc[2]) and np.isnan(table["sd_actual"].iloc[3])
    assert (
        table["mean_actual"].iloc[2] == ch["frequency_holdout"].loc[ch["recency"] == top[1]].iloc[0]
    )


def test_custom_recency_bins_and_empty_bins(bg, ch):
    res = evaluate_holdout(bg, ch, recency_bins=[0, 10, 39, 60], max_frequency=3)
    assert res.by_recency.index.tolist() == ["0 (no repeat)", "(0, 10]", "(10, 39]", "(39, 60]"]
    assert res.by_recency["n_customers"].sum() == len(ch)
    assert res.by_recency["n_customers"].iloc[-1] == 0
    assert np.isnan(res.by_recency["mean_actual"].iloc[-1])
    assert res.by_frequency.index.tolist() == ["0", "1", "2", "3+"]
    with pytest.raises(ClvDataError, match="recency_bins"):
        evaluate_holdout(bg, ch, recency_bins=[0, 10, 20])
    with pytest.raises(ClvDataError, match="recency_bins"):
        evaluate_holdout(bg, ch, recency_bins=[1, 10, 60])


def test_spend_check_by_hand(result, gg, ch):
    bought = ch["frequency_holdout"] > 0
    predicted = gg.expected_average_value(ch)[bought]
    actual = ch["monetary_value_holdout"][bought]
    row = result.spend.loc["all"]
    assert row["n_customers"] == bought.sum()
    assert row["mean_predicted"] == pytest.approx(predicted.mean())
    assert row["mean_actual"] == pytest.approx(actual.mean())
    assert row["mae"] == pytest.approx((predicted - actual).abs().mean())
    assert row["correlation"] == pytest.approx(np.corrcoef(predicted, actual)[0, 1])
    repeat = ch["frequency"][bought] > 0
    assert result.spend.loc["repeat buyers", "n_customers"] == repeat.sum()
    # One-time buyers all get the population mean: a correlation is undefined, not noise.
    assert np.isnan(result.spend.loc["one-time buyers", "correlation"])
    assert result.spend.loc["one-time buyers", "mean_predicted"] == pytest.approx(
        gg.population_mean()
    )


def test_result_is_plain_tables_with_readable_repr(result, tmp_path):
    text = repr(result)
    assert "HoldoutEvaluation(BG/NBD, holdout 39 weeks, 2,357 customers)" in text
    assert "actual 1,882" in text and "MAE" in text and "spend" in text
    tables = result.tables()
    assert set(tables) == {
        "predictions",
        "metrics",
        "totals",
        "by_frequency",
        "by_recency",
        "spend",
    }
    for name, table in tables.items():
        assert type(table) is pd.DataFrame
        table.to_csv(tmp_path / f"{name}.csv")
    back = pd.read_csv(tmp_path / "by_frequency.csv", index_col=0, dtype={"frequency_bin": str})
    pd.testing.assert_frame_equal(
        back, result.by_frequency, check_names=False, check_index_type=False
    )


def test_evaluate_holdout_errors(bg, ch):
    with pytest.raises(ClvDataError, match="frequency_holdout"):
        evaluate_holdout(bg, ch.drop(columns="frequency_holdout"))
    with pytest.raises(ClvDataError, match="monetary_value_holdout"):
        evaluate_holdout(
            bg, ch.drop(columns="monetary_value_holdout"), cp.GammaGammaModel().fit(ch)
        )
    days = ch.copy()
    days.attrs["time_unit"] = "D"
    with pytest.raises(ClvDataError, match="time_unit"):
        evaluate_holdout(bg, days)
    with pytest.raises(cp.NotFittedError):
        evaluate_holdout(cp.BetaGeoModel(), ch)
    with pytest.raises(ClvDataError, match="max_frequency"):
        evaluate_holdout(bg, ch, max_frequency=0)


# ------------------------------------------------------------------------------------------
# Tracking
# ------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def tracking(bg, tx) -> pd.DataFrame:
    return expected_repeat_transactions_over_time(
        bg, tx, "customer_id", "date", CAL_END, OBS_END, freq="W"
    )


def test_tracking_actual_matches_hand_count(tracking, tx, hand):
    days = tx[["customer_id", "date"]].drop_duplicates().sort_values(["customer_id", "date"])
    first = days.groupby("customer_id")["date"].transform("min")
    repeats = days[(days["date"] > first) & (first <= pd.Timestamp(CAL_END))]
    # CDNOW's calibration is exactly 39 weeks from 1997-01-01, so weeks can be counted from there.
    week = (repeats["date"] - pd.Timestamp("1997-01-01")).dt.days // 7
    by_week = week.value_counts().sort_index()
    assert len(tracking) == 78
    assert tracking.index[0] == pd.Timestamp("1997-01-07")
    assert tracking.index[-1] == pd.Timestamp(OBS_END)
    assert tracking["period_start"].iloc[0] == pd.Timestamp("1997-01-01")
    np.testing.assert_array_equal(
        tracking["actual"].to_numpy(), by_week.reindex(range(78), fill_value=0).to_numpy()
    )
    assert tracking["in_calibration"].sum() == 39
    assert tracking.loc[tracking["in_calibration"], "actual"].sum() == (hand["cal_days"] - 1).sum()
    assert tracking.loc[~tracking["in_calibration"], "actual"].sum() == hand["holdout_days"].sum()
    np.testing.assert_array_equal(
        tracking["actual_cumulative"].to_numpy(), np.cumsum(tracking["actual"].to_numpy())
    )
    assert tracking["customers"].iloc[-1] == 2357
    assert tracking.attrs["time_unit"] == "W" and tracking.attrs["period_days"] == 7


def test_tracking_expectation_matches_per_customer_loop(bg, tx, lifetimes_bg):
    ids = tx["customer_id"].drop_duplicates().iloc[::97].to_numpy()  # 25 customers
    small = tx[tx["customer_id"].isin(ids)]
    track = expected_repeat_transactions_over_time(
        bg, small, "customer_id", "date", CAL_END, OBS_END, freq="2W"
    )
    firsts = small.groupby("customer_id")["date"].min()
    expected = np.zeros(len(track))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for first in firsts:
            for j, end in enumerate(track.index):
                weeks = (end - first).days / 7.0
                if weeks > 0:
                    expected[j] += lifetimes_bg.expected_number_of_purchases_up_to_time(weeks)
    np.testing.assert_allclose(track["expected_cumulative"].to_numpy(), expected, rtol=1e-9)
    np.testing.assert_allclose(track["expected"].cumsum().to_numpy(), expected, rtol=1e-9)
    assert track["customers"].iloc[-1] == len(ids)


def test_tracking_periods_anchor_on_calibration_end(bg, tx):
    # A 10-day holdout tail that is not a whole number of 2-week periods is cut short.
    track = expected_repeat_transactions_over_time(
        bg, tx, "customer_id", "date", "1997-09-30", "1997-10-10", freq="2W", after_end="drop"
    )
    assert pd.Timestamp("1997-09-30") in track.index
    assert track.index[-1] == pd.Timestamp("1997-10-10")
    assert track["period_start"].iloc[-1] == pd.Timestamp("1997-10-01")
    daily = expected_repeat_transactions_over_time(
        bg, tx, "customer_id", "date", "1997-09-30", "1997-10-10", freq="D", after_end="drop"
    )
    assert daily["actual"].sum() == track["actual"].sum()
    assert daily["expected_cumulative"].iloc[-1] == pytest.approx(
        track["expected_cumulative"].iloc[-1]
    )


def test_tracking_errors(bg, tx):
    with pytest.raises(ClvDataError, match="freq"):
        expected_repeat_transactions_over_time(
            bg, tx, "customer_id", "date", CAL_END, OBS_END, freq="M"
        )
    with pytest.raises(ClvDataError, match="after calibration_end"):
        expected_repeat_transactions_over_time(bg, tx, "customer_id", "date", OBS_END, CAL_END)
    with pytest.raises(ClvDataError, match="after"):
        expected_repeat_transactions_over_time(bg, tx, "customer_id", "date", CAL_END, "1998-01-01")
    with pytest.raises(ClvDataError, match="no customer"):
        expected_repeat_transactions_over_time(bg, tx, "customer_id", "date", "1996-01-01", OBS_END)


# ------------------------------------------------------------------------------------------
# Tables behind the other plots
# ------------------------------------------------------------------------------------------


def test_period_transactions_exact_and_sums_to_customers(bg, ch, lifetimes_bg):
    table = period_transactions(bg, ch, max_frequency=7)
    assert table["actual"].sum() == len(ch)
    assert table["expected"].sum() == pytest.approx(len(ch), rel=1e-12)
    np.testing.assert_array_equal(
        table["actual"].to_numpy(), np.bincount(np.minimum(ch["frequency"], 7), minlength=8)
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        by_loop = np.zeros(7)
        for T in ch["T"]:
            for n in range(7):
                by_loop[n] += lifetimes_bg.probability_of_n_purchases_up_to_time(T, n)
    np.testing.assert_allclose(table["expected"].to_numpy()[:7], by_loop, rtol=1e-8)


def test_frequency_recency_matrix_matches_model(bg):
    grid = frequency_recency_matrix(bg, 39.0, 5, quantity="expected_purchases", t=52, n_recency=7)
    assert grid.shape == (6, 7)
    assert grid.columns[-1] == 39.0
    assert np.isnan(grid.iloc[0, 1:]).all() and not np.isnan(grid.iloc[1:]).any().any()
    value = bg.expected_purchases(52, frequency=[3], recency=[grid.columns[2]], T=[39.0]).iloc[0]
    assert grid.iloc[3, 2] == pytest.approx(value)
    alive = frequency_recency_matrix(bg, 39.0, 5, quantity="probability_alive", n_recency=7)
    assert alive.iloc[0, 0] == 1.0
    assert ((alive.to_numpy()[1:] > 0) & (alive.to_numpy()[1:] <= 1)).all()
    with pytest.raises(ClvDataError, match="t="):
        frequency_recency_matrix(bg, 39.0, 5)


def test_probability_alive_history_matches_summaries(bg, tx, ch):
    hist = probability_alive_history(bg, tx, "customer_id", "date", 1, end=CAL_END)
    assert hist.index[0] == pd.Timestamp("1997-01-01")
    assert hist.index[-1] == pd.Timestamp(CAL_END)
    assert hist["purchase"].sum() == ch.loc[1, "frequency"] + 1
    last = hist.iloc[-1]
    assert last["frequency"] == ch.loc[1, "frequency"]
    assert last["recency"] == pytest.approx(ch.loc[1, "recency"])
    assert last["T"] == pytest.approx(ch.loc[1, "T"])
    assert last["p_alive"] == pytest.approx(bg.probability_alive(ch).loc[1])
    full = probability_alive_history(bg, tx, "customer_id", "date", 1)
    assert full.index[-1] == pd.Timestamp(OBS_END)
    with pytest.raises(ClvDataError, match="customer_id"):
        probability_alive_history(bg, tx, "customer_id", "date", -5)


def test_value_concentration_by_hand():
    curve = value_concentration(pd.Series([10.0, 0.0, 30.0, 60.0]))
    np.testing.assert_allclose(curve["share_of_customers"], [0, 0.25, 0.5, 0.75, 1.0])
    np.testing.assert_allclose(curve["share_of_value"], [0, 0.6, 0.9, 1.0, 1.0])
    with pytest.raises(ClvDataError, match=">= 0"):
        value_concentration([1.0, -2.0])
    with pytest.raises(ClvDataError, match="sum to 0"):
        value_concentration([0.0, 0.0])


def test_mean_spend_density_matches_numerical_mixture(gg, ch):
    p, q, gamma = (float(gg.params_[k]) for k in ("p", "q", "gamma"))

    def density_given_x(z: float, x: int) -> float:
        # zbar | nu ~ Gamma(shape p x, rate x nu), nu ~ Gamma(shape q, rate gamma): integrate nu.
        def integrand(nu: float) -> float:
            return stats.gamma.pdf(z, p * x, scale=1 / (x * nu)) * stats.gamma.pdf(
                nu, q, scale=1 / gamma
            )

        return integrate.quad(integrand, 0, np.inf, limit=200)[0]

    x = ch["frequency"][ch["frequency"] > 0]
    counts = x.value_counts(normalize=True)
    z = np.array([10.0, 30.0, 80.0])
    by_hand = [sum(w * density_given_x(zz, int(k)) for k, w in counts.items()) for zz in z]
    np.testing.assert_allclose(mean_spend_density(gg, ch, z).to_numpy(), by_hand, rtol=1e-6)
    grid = np.linspace(0, 3000, 60001)
    assert integrate.trapezoid(mean_spend_density(gg, ch, grid).to_numpy(), grid) == pytest.approx(
        1.0, abs=2e-3
    )


def test_alive_history_of_an_unknown_customer_names_it_in_both_paths(bg_cdnow, cdnow_tx):
    from clvpredict.evaluation import probability_alive_history

    log = cp.TransactionLog(cdnow_tx, "customer_id", "date")
    for source in (cdnow_tx, log):
        with pytest.raises(
            cp.ClvDataError, match=r"customer_id='1' has no transactions .*ids look"
        ):
            probability_alive_history(
                bg_cdnow, source, "customer_id", "date", "1", end="1997-09-30"
            )
    # The same customer, by its real (integer) id, has a history from either source.
    a = probability_alive_history(bg_cdnow, cdnow_tx, "customer_id", "date", 1, end="1997-09-30")
    b = probability_alive_history(bg_cdnow, log, "customer_id", "date", 1, end="1997-09-30")
    pd.testing.assert_frame_equal(a, b)

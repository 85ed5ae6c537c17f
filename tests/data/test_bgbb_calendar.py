"""The BG/BB in calendar time: discrete summaries, CLV, evaluation and plots without special cases.

Checks are identities computed by hand from the model's own closed forms (or the published
donations fit), not "it runs".
"""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd
import pytest

import clvpredict as cp
from clvpredict.evaluation import (
    expected_repeat_transactions_over_time,
    frequency_recency_matrix,
    probability_alive_history,
)

BGBB_MLE = {"alpha": 1.2035, "beta": 0.7497, "gamma": 0.6567, "delta": 2.7834}


def _mid_year(year: int) -> str:
    # Far from the period boundaries, which drift a quarter day a year from 1 January.
    return f"{year}-07-01"


@pytest.fixture(scope="module")
def donation_log() -> pd.DataFrame:
    """A transaction log behind the published donations table (1995 cohort, 1995-2001).

    Each donor of a (frequency x, recency t_x) row gives in 1995 (period 0) and in the x years
    t_x - x + 1 .. t_x after it: any such pattern has the same (x, t_x, n).
    """
    rng = np.random.default_rng(1995)
    rows = []
    donor = 0
    for x, t_x, _, weight in cp.datasets.load_donations().itertuples(index=False):
        for _ in range(weight):
            years = [0, *range(t_x - x + 1, t_x + 1)] if x else [0]
            spend = rng.gamma(4.0, rng.gamma(6.0, 1.0 / 3.0) * 10.0 / 4.0, size=len(years))
            rows += [
                (donor, _mid_year(1995 + k), amount) for k, amount in zip(years, spend, strict=True)
            ]
            donor += 1
    return pd.DataFrame(rows, columns=["donor", "date", "amount"])


@pytest.fixture(scope="module")
def donation_rfm(donation_log) -> pd.DataFrame:
    return cp.rfm_summary(
        donation_log,
        "donor",
        "date",
        "amount",
        observation_end="2001-12-31",
        time_unit="Y",
        discrete=True,
    )


@pytest.fixture(scope="module")
def annual(donation_rfm) -> cp.BetaGeoBetaBinomModel:
    return cp.BetaGeoBetaBinomModel().fit(donation_rfm)


def test_discrete_summary_by_hand():
    tx = pd.DataFrame(
        {
            "id": ["a", "a", "a", "a", "b", "c", "c"],
            "date": [
                "2020-03-01",  # a: period 0 (2020)
                "2020-09-01",  # same period: merged into period 0
                "2022-05-01",  # period 2
                "2022-06-01",  # period 2 again: one transaction of 30 + 5
                "2021-02-01",  # b: first in 2021, nothing after
                "2023-04-01",  # c: first in the last period
                "2023-12-31",  # the last day of it
            ],
            "amount": [10.0, 20.0, 30.0, 5.0, 8.0, 4.0, 6.0],
        }
    )
    rfm = cp.rfm_summary(tx, "id", "date", "amount", "2023-12-31", "Y", discrete=True)
    expected = pd.DataFrame(
        {
            "frequency": [1, 0, 0],
            "recency": [2, 0, 0],
            "T": [3, 2, 0],
            "monetary_value": [35.0, np.nan, np.nan],
            "avg_order_value": [(30.0 + 35.0) / 2, 8.0, 10.0],
        },
        index=pd.Index(["a", "b", "c"], name="id"),
    )
    pd.testing.assert_frame_equal(rfm, expected)
    assert rfm.attrs == {"time_unit": "Y", "observation_end": "2023-12-31", "discrete": True}
    # In days, discrete and continuous summaries are the same thing: one opportunity a day.
    days = cp.rfm_summary(tx, "id", "date", "amount", "2023-12-31", "D", discrete=True)
    cont = cp.rfm_summary(tx, "id", "date", "amount", "2023-12-31", "D")
    np.testing.assert_array_equal(
        days[["frequency", "recency", "T"]], cont[["frequency", "recency", "T"]]
    )


def test_discrete_holdout_by_hand(caplog):
    tx = pd.DataFrame(
        {
            "id": ["a", "a", "a", "a", "a", "b", "n"],
            "date": [
                "2020-03-01",
                "2021-03-01",  # calibration ends 2021-12-31: a has x = 1, t_x = 1, T = 1
                "2022-03-01",  # holdout period 0
                "2022-04-01",  # same holdout period
                "2024-02-01",  # after the two whole holdout periods: ignored (logged)
                "2021-06-01",
                "2022-06-01",  # n: first seen in the holdout, excluded
            ],
            "amount": [1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0],
        }
    )
    with caplog.at_level(logging.INFO, logger="clvpredict.data"):
        ch = cp.calibration_holdout_summary(
            tx, "id", "date", "2021-12-31", "2024-03-31", "amount", "Y", discrete=True
        )
    assert "incomplete period" in caplog.text
    assert list(ch.index) == ["a", "b"]
    assert ch["frequency"].tolist() == [1, 0]
    assert ch["recency"].tolist() == [1, 0]
    assert ch["T"].tolist() == [1, 0]
    assert ch["frequency_holdout"].tolist() == [1, 0]
    assert ch["monetary_value_holdout"].iloc[0] == 7.0
    assert ch["duration_holdout"].tolist() == [2, 2]
    with pytest.raises(cp.ClvDataError, match="shorter than one period"):
        cp.calibration_holdout_summary(
            tx,
            "id",
            "date",
            "2021-12-31",
            "2022-06-30",
            time_unit="Y",
            after_end="drop",
            discrete=True,
        )


def test_log_to_published_fit(donation_rfm, annual):
    """Transactions -> discrete summary -> BG/BB reproduces the published donations fit."""
    donations = cp.datasets.load_donations()
    counts = donation_rfm.groupby(["frequency", "recency", "T"]).size()
    published = donations.set_index(["frequency", "recency", "periods"])["weights"]
    np.testing.assert_array_equal(counts.to_numpy(), published.to_numpy())
    assert annual.time_unit_ == "Y"
    for name, value in BGBB_MLE.items():
        assert annual.params_[name] == pytest.approx(value, rel=5e-4)
    assert annual.log_likelihood_ == pytest.approx(-33225.58, abs=0.01)
    assert "period length   1 year (Y)" in repr(annual)


def test_continuous_summary_is_refused(donation_log):
    weekly = cp.rfm_summary(
        donation_log, "donor", "date", observation_end="2001-12-31", time_unit="W"
    )
    with pytest.raises(cp.ClvDataError, match="discrete=True"):
        cp.BetaGeoBetaBinomModel().fit(weekly)


def test_predictive_clv_by_hand(annual, donation_rfm):
    """Annual opportunities: month 12 receives period n+1, month 24 period n+2."""
    spend = cp.GammaGammaModel.from_params({"p": 6.0, "q": 4.0, "gamma": 15.0})
    clv = cp.predictive_clv(annual, spend, donation_rfm, horizon_months=30, margin=0.3)
    e1 = annual.expected_purchases(1, donation_rfm).to_numpy()
    e2 = annual.expected_purchases(2, donation_rfm).to_numpy()
    value = spend.expected_average_value(donation_rfm).to_numpy()
    by_hand = 0.3 * value * (e1 / 1.1 + (e2 - e1) / 1.1**2)
    np.testing.assert_allclose(clv.to_numpy(), by_hand, rtol=1e-12)
    # Eleven months hold no opportunity at all.
    eleven = cp.predictive_clv(annual, spend, donation_rfm, horizon_months=11)
    assert (eleven == 0).all()


def test_clv_table_and_intervals(annual, donation_rfm):
    spend = cp.GammaGammaModel().fit(donation_rfm)
    table = cp.clv_table(
        annual,
        spend,
        donation_rfm,
        lifetime_years=3.0,
        horizon_months=36,
        interval=0.9,
        n_draws=50,
        random_state=1,
    )
    np.testing.assert_allclose(
        table["expected_purchases"], annual.expected_purchases(3, donation_rfm), rtol=1e-12
    )
    np.testing.assert_allclose(table["p_alive"], annual.probability_alive(donation_rfm))
    assert (table["predictive_clv_lower"] <= table["predictive_clv"] + 1e-9).all()
    assert (table["predictive_clv"] <= table["predictive_clv_upper"] + 1e-9).all()
    assert (table["predictive_clv_upper"] > table["predictive_clv_lower"]).any()


@pytest.fixture(scope="module")
def donation_log_with_holdout() -> pd.DataFrame:
    """Donors of the 1995 and 1996 cohorts drawn from the BG/BB story, 1995-2006."""
    rng = np.random.default_rng(2010)
    rows = []
    for donor in range(3000):
        start = 1995 + int(donor % 2)
        p = rng.beta(BGBB_MLE["alpha"], BGBB_MLE["beta"])
        theta = rng.beta(BGBB_MLE["gamma"], BGBB_MLE["delta"])
        rows.append((donor, _mid_year(start)))
        for year in range(start + 1, 2007):
            if rng.random() < theta:
                break
            if rng.random() < p:
                rows.append((donor, _mid_year(year)))
    return pd.DataFrame(rows, columns=["donor", "date"])


@pytest.fixture(scope="module")
def split(donation_log_with_holdout):
    ch = cp.calibration_holdout_summary(
        donation_log_with_holdout,
        "donor",
        "date",
        "2001-12-31",
        "2006-12-31",
        time_unit="Y",
        discrete=True,
    )
    return ch, cp.BetaGeoBetaBinomModel().fit(ch)


def test_holdout_evaluation(split):
    ch, model = split
    assert ch["duration_holdout"].eq(5).all()
    evaluation = cp.evaluate_holdout(model, ch)
    np.testing.assert_allclose(
        evaluation.predictions["predicted"], model.expected_purchases(5, ch), rtol=1e-12
    )
    totals = evaluation.totals.iloc[0]
    assert totals["actual"] == ch["frequency_holdout"].sum()
    # The model is the truth here: the aggregate forecast is within sampling error (a few %).
    assert abs(totals["pct_error"]) < 10


def test_tracking_is_per_period(split, donation_log_with_holdout):
    ch, model = split
    track = expected_repeat_transactions_over_time(
        model, donation_log_with_holdout, "donor", "date", "2001-12-31", "2006-12-31"
    )
    assert len(track) == 12  # 1995 .. 2006
    assert track.index[6] == pd.Timestamp("2001-12-31")
    assert track["in_calibration"].sum() == 7
    assert track.attrs["counted"] == "periods with a purchase"
    calibration = track[track["in_calibration"]]
    assert calibration["actual"].sum() == ch["frequency"].sum()
    assert track.loc[~track["in_calibration"], "actual"].sum() == ch["frequency_holdout"].sum()
    # At the end of the holdout each customer has had T + 5 opportunities.
    by_hand = model.expected_purchases_new_customer(ch["T"].to_numpy() + 5).sum()
    assert track["expected_cumulative"].iloc[-1] == pytest.approx(by_hand, rel=1e-12)
    at_cal_end = model.expected_purchases_new_customer(ch["T"].to_numpy()).sum()
    assert calibration["expected_cumulative"].iloc[-1] == pytest.approx(at_cal_end, rel=1e-12)
    assert track["customers"].tolist()[:2] == [1500, 3000]
    with pytest.raises(cp.ClvDataError, match="leave freq out"):
        expected_repeat_transactions_over_time(
            model, donation_log_with_holdout, "donor", "date", "2001-12-31", freq="W"
        )


def test_probability_alive_history_per_period(split, donation_log_with_holdout):
    ch, model = split
    donor = int(ch.index[ch["frequency"].to_numpy() == 2][0])
    history = probability_alive_history(
        model, donation_log_with_holdout, "donor", "date", donor, end="2001-12-31"
    )
    assert history.index[-1] == pd.Timestamp("2001-12-31")
    last = history.iloc[-1]
    assert (last["frequency"], last["recency"], last["T"]) == tuple(
        ch.loc[donor, ["frequency", "recency", "T"]]
    )
    assert last["p_alive"] == pytest.approx(model.probability_alive(ch).loc[donor], rel=1e-12)
    assert history["purchase"].sum() == 3  # period 0 and the two repeats


def test_frequency_recency_matrix_is_whole_periods(annual):
    grid = frequency_recency_matrix(annual, 6, 6, quantity="expected_purchases", t=5)
    assert list(grid.columns) == list(range(7))
    assert grid.isna().to_numpy().sum() == 6 + 21  # frequency 0 beyond recency 0; x > t_x
    assert grid.loc[3, 5] == pytest.approx(
        float(annual.expected_purchases(5, frequency=[3], recency=[5], T=[6]).iloc[0])
    )
    with pytest.raises(cp.ClvDataError, match="whole number of periods"):
        frequency_recency_matrix(annual, 6.5, 6, quantity="probability_alive")


def test_compare_models_across_kinds(split):
    ch, _ = split
    table = cp.compare_models(ch, [cp.BetaGeoBetaBinomModel(), cp.BetaGeoModel()])
    assert set(table.index) == {"BG/BB", "BG/NBD"}
    assert table["best"].sum() == 1
    with pytest.raises(cp.ClvDataError, match="different scales"):
        cp.compare_models(ch, [cp.BetaGeoBetaBinomModel(), cp.BetaGeoModel()], criterion="aic")


def test_plots_label_periods(split, donation_log_with_holdout, annual):
    from clvpredict import plotting

    ch, model = split
    track = expected_repeat_transactions_over_time(
        model, donation_log_with_holdout, "donor", "date", "2001-12-31", "2006-12-31"
    )
    ax = plotting.plot_incremental_transactions(track)
    assert ax.get_ylabel() == "Repeat transactions per year\n(periods with a purchase)"
    ax = plotting.plot_probability_alive_heatmap(annual, T=6, max_frequency=6)
    assert ax.get_xlabel() == "Recency: period of the last transaction (periods of 1 year)"
    # Periods and repeat periods are counts: whole-number ticks on both axes, even on a small
    # grid where matplotlib would put ticks at halves.
    from matplotlib.figure import Figure

    small = plotting.plot_probability_alive_heatmap(
        annual, T=2, max_frequency=1, ax=Figure().add_subplot()
    )
    for ticks in (small.get_xticks(), small.get_yticks()):
        assert len(ticks) > 1
        np.testing.assert_array_equal(ticks, np.round(ticks))
    ax = plotting.plot_period_transactions(model, ch)
    assert ax.get_ylabel()


@pytest.mark.parametrize("unit", ["D", "W", "M", "Y"])
def test_period_bounds_tile_the_calendar(unit):
    """period_bounds and period_index agree: periods are back to back, each day in one period."""
    from clvpredict.data import period_bounds, period_index

    epoch = pd.Timestamp("1970-01-01")
    for end in ("2023-12-31", "2024-01-30", "2024-02-28", "2023-05-15"):
        end_day = (pd.Timestamp(end) - epoch).days
        ks = np.arange(-30, 30)
        starts, ends = period_bounds(ks, end_day, unit)
        assert ends[ks == -1][0] == end_day
        np.testing.assert_array_equal(starts[1:], ends[:-1] + 1)
        days = np.arange(starts[0], ends[-1] + 1)
        np.testing.assert_array_equal(
            period_index(days, end_day, unit), np.repeat(ks, ends - starts + 1)
        )
    # With the end on 31 December, years are calendar years and months calendar months.
    _, ends = period_bounds([0, 1], (pd.Timestamp("2001-12-31") - epoch).days, unit)
    last_days = {"D": ["2002-01-01", "2002-01-02"], "W": ["2002-01-07", "2002-01-14"]}
    last_days.update(M=["2002-01-31", "2002-02-28"], Y=["2002-12-31", "2003-12-31"])
    assert [str((epoch + pd.Timedelta(days=int(d))).date()) for d in ends] == last_days[unit]


def test_nightly_refresh_and_score_with_the_bgbb(donation_log_with_holdout, tmp_path):
    """The command line fits the BG/BB on periods, checks it on whole holdout years, scores."""
    import json
    import subprocess
    import sys

    rng = np.random.default_rng(7)
    log = donation_log_with_holdout.assign(
        amount=rng.gamma(4.0, 10.0, len(donation_log_with_holdout))
    )
    log.to_csv(tmp_path / "gifts.csv", index=False)
    common = ["--transactions", str(tmp_path / "gifts.csv"), "--customer-col", "donor"]
    common += ["--time-unit", "Y", "--observation-end", "2006-12-31"]

    def run(*args):
        return subprocess.run(
            [sys.executable, "-m", "clvpredict", *args], capture_output=True, text=True, timeout=600
        )

    short = run("refresh", *common, "--purchase-model", "bgbb", "--out", str(tmp_path / "x"))
    assert short.returncode == 2
    assert "shorter than one period" in short.stderr
    out = tmp_path / "clv"
    done = run(
        "refresh", *common, "--purchase-model", "bgbb", "--holdout-months", "36", "--out", str(out)
    )
    assert done.returncode == 0, done.stderr
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["models"]["purchase"]["class"] == "BetaGeoBetaBinomModel"
    assert metrics["holdout"]["calibration_end"] == "2003-12-31"
    # The holdout check is the BG/BB fitted on 1995-2003 forecasting 2004-2006.
    ch = cp.calibration_holdout_summary(
        log, "donor", "date", "2003-12-31", "2006-12-31", "amount", "Y", discrete=True
    )
    cal_model = cp.BetaGeoBetaBinomModel().fit(ch)
    assert metrics["holdout"]["actual_repeat_transactions"] == ch["frequency_holdout"].sum()
    assert metrics["holdout"]["predicted_repeat_transactions"] == pytest.approx(
        cal_model.expected_purchases(3, ch).sum(), rel=1e-6
    )
    bundle = cp.load_model(out / "model.json")
    assert bundle.purchase_model.time_unit_ == "Y"
    rfm = cp.rfm_summary(log, "donor", "date", "amount", "2006-12-31", "Y", discrete=True)
    predictions = pd.read_csv(out / "predictions.csv", index_col="donor")
    np.testing.assert_allclose(
        predictions["p_alive"],
        bundle.purchase_model.probability_alive(rfm).loc[predictions.index],
        rtol=1e-9,
    )
    assert "Repeat transactions per year" in (out / "report.html").read_text()
    scored = run("score", *common, "--model", str(out / "model.json"), "--out", str(tmp_path / "s"))
    assert scored.returncode == 0, scored.stderr
    again = pd.read_csv(tmp_path / "s" / "predictions.csv", index_col="donor")
    np.testing.assert_allclose(again["predictive_clv"], predictions["predictive_clv"], rtol=1e-9)


def test_periods_off_the_calendar_are_logged(caplog):
    tx = pd.DataFrame({"c": ["a", "a", "b"], "d": ["2020-03-01", "2021-05-01", "2021-02-01"]})
    with caplog.at_level(logging.WARNING, logger="clvpredict.data"):
        on = cp.rfm_summary(
            tx, "c", "d", observation_end="2021-12-31", time_unit="Y", discrete=True
        )
    assert "month" not in caplog.text
    with caplog.at_level(logging.WARNING, logger="clvpredict.data"):
        off = cp.rfm_summary(
            tx, "c", "d", observation_end="2021-08-15", time_unit="Y", discrete=True
        )
    assert "each year starts on day 16 of a month" in caplog.text
    # Calendar years 2020, 2021 against 16 August - 15 August years.
    assert on[["frequency", "recency", "T"]].to_numpy().tolist() == [[1, 1, 1], [0, 0, 0]]
    assert off[["frequency", "recency", "T"]].to_numpy().tolist() == [[1, 1, 1], [0, 0, 0]]

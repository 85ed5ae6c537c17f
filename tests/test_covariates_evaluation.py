"""Evaluation tables and plots of purchase models fitted with covariates: every customer with
their own covariates (tracking, period transactions, holdout, heatmaps, P(alive) history,
customers at risk), checked against direct per-customer sums of each customer's profile model."""

from __future__ import annotations

import copy

import matplotlib
import numpy as np
import pandas as pd
import pytest

import clvpredict as cp
from clvpredict import evaluation as ev
from clvpredict import plotting
from clvpredict.data import datasets
from clvpredict.exceptions import ClvDataError
from clvpredict.segments import at_risk_customers

matplotlib.use("Agg")

CAL_END, OBS_END = "2025-01-31", "2025-06-29"
COLUMNS = ["channel", "loyalty", "age_decades"]


@pytest.fixture(scope="module")
def data():
    tx = datasets.load_covariates_transactions()
    customers = datasets.load_covariates_customers()
    ch = cp.calibration_holdout_summary(tx, "customer_id", "date", CAL_END, OBS_END, time_unit="W")
    return tx, customers, ch, cp.attach_covariates(ch, customers)


@pytest.fixture(scope="module")
def model(data):
    return cp.BetaGeoModel(purchase_covariates=COLUMNS, dropout_covariates=["loyalty"]).fit(data[3])


def _profile(customers: pd.DataFrame, customer_id: str) -> dict:
    return {c: customers.loc[customer_id, c] for c in COLUMNS}


def _new_axes():
    from matplotlib.figure import Figure

    return Figure().subplots()


def _cells(ax) -> np.ndarray:
    """The heatmap's cells (frequency x recency) from the mesh drawn on ``ax``."""
    from matplotlib.collections import QuadMesh

    (mesh,) = [c for c in ax.collections if isinstance(c, QuadMesh)]
    return np.ma.getdata(mesh.get_array()).reshape(-1, 60)


def _small_log(tx: pd.DataFrame, n: int = 40) -> pd.DataFrame:
    ids = sorted(tx["customer_id"].unique())[:n]
    return tx[tx["customer_id"].isin(ids)]


def test_tracking_is_the_sum_over_customers_of_their_own_expectation(data, model):
    tx, customers, _, _ = data
    small = _small_log(tx)
    track = ev.expected_repeat_transactions_over_time(
        model, small, "customer_id", "date", CAL_END, OBS_END, covariates=customers
    )
    days = pd.to_datetime(small["date"]).dt.normalize()
    firsts = days.groupby(small["customer_id"]).min()
    cohort = firsts[firsts <= pd.Timestamp(CAL_END)]
    assert 20 <= len(cohort) < 40
    ends = track.index.to_numpy()
    direct = np.zeros(len(ends))
    for customer_id, first in cohort.items():
        lag_days = np.clip((ends - first.to_datetime64()) / np.timedelta64(1, "D"), 0, None)
        plain = model.profile_model(_profile(customers, customer_id))
        direct += np.asarray(plain.expected_purchases_new_customer(lag_days / 7.0))
    np.testing.assert_allclose(track["expected_cumulative"], direct, rtol=1e-12, atol=1e-10)
    assert int(track["customers"].iloc[-1]) == len(cohort)
    # The summary with its covariate columns is a per-customer table too; so is polars.
    pl = pytest.importorskip("polars")
    for table, log in (
        (data[3], small),
        (pl.from_pandas(customers.reset_index()), pl.from_pandas(small)),
        (customers, pl.from_pandas(small)),
    ):
        again = ev.expected_repeat_transactions_over_time(
            model, log, "customer_id", "date", CAL_END, OBS_END, covariates=table
        )
        np.testing.assert_allclose(again["expected_cumulative"], direct, rtol=1e-12, atol=1e-10)
        assert (again["actual"] == track["actual"]).all()


def test_tracking_with_zero_coefficients_is_the_plain_models(data, model):
    tx, customers, _, _ = data
    zero = copy.deepcopy(model)
    base = len(zero._param_names)
    zero.params_.iloc[base:] = 0.0
    plain = zero.profile_model(_profile(customers, customers.index[0]))
    assert plain.params_.to_dict() == zero.params_.iloc[:base].to_dict()
    with_covariates = ev.expected_repeat_transactions_over_time(
        zero, tx, "customer_id", "date", CAL_END, OBS_END, covariates=customers
    )
    without = ev.expected_repeat_transactions_over_time(
        plain, tx, "customer_id", "date", CAL_END, OBS_END
    )
    np.testing.assert_allclose(
        with_covariates["expected_cumulative"], without["expected_cumulative"], rtol=1e-12
    )
    assert with_covariates["expected_cumulative"].iloc[-1] > 1000


def test_tracking_refusals(data, model):
    tx, customers, _, _ = data
    with pytest.raises(ClvDataError, match=r"'channel', 'loyalty', 'age_decades'.*covariates="):
        ev.expected_repeat_transactions_over_time(
            model, tx, "customer_id", "date", CAL_END, OBS_END
        )
    with pytest.raises(ClvDataError, match="not in the covariates table"):
        ev.expected_repeat_transactions_over_time(
            model, tx, "customer_id", "date", CAL_END, OBS_END, covariates=customers.iloc[:100]
        )
    pl = pytest.importorskip("polars")
    table = pl.from_pandas(customers.reset_index())
    with pytest.raises(ClvDataError, match="not in the covariates table"):
        ev.expected_repeat_transactions_over_time(
            model, pl.from_pandas(tx), "customer_id", "date", CAL_END, OBS_END,
            covariates=table.head(100),
        )  # fmt: skip
    with pytest.raises(ClvDataError, match="more than one row"):
        ev.expected_repeat_transactions_over_time(
            model, pl.from_pandas(tx), "customer_id", "date", CAL_END, OBS_END,
            covariates=pl.concat([table, table.head(2)]),
        )  # fmt: skip
    plain = cp.BetaGeoModel().fit(data[2])
    with pytest.raises(ClvDataError, match="without covariates; drop covariates="):
        ev.expected_repeat_transactions_over_time(
            plain, tx, "customer_id", "date", CAL_END, OBS_END, covariates=customers
        )


def test_period_transactions_mix_the_customers_own_pmfs(data, model):
    _, customers, ch, ch_cov = data
    sample = ch_cov.iloc[::24]
    k = 5
    table = ev.period_transactions(model, sample, max_frequency=k)
    n = np.arange(k)
    direct = np.zeros(k + 1)
    for customer_id, row in sample.iterrows():
        pmf = model.profile_model(_profile(customers, customer_id)).probability_of_purchases(
            n, float(row["T"])
        )
        direct[:k] += pmf.to_numpy()
        direct[k] += 1.0 - pmf.sum()
    np.testing.assert_allclose(table["expected"], direct, rtol=1e-12, atol=1e-12)
    assert table["actual"].sum() == len(sample)
    # The covariates from a table, and from a summary held by polars.
    joined = ev.period_transactions(model, ch.iloc[::24], k, covariates=customers)
    np.testing.assert_allclose(joined["expected"], direct, rtol=1e-12, atol=1e-12)
    pl = pytest.importorskip("polars")
    engine = pl.from_pandas(sample.reset_index()).with_columns(pl.lit("W").alias("time_unit"))
    np.testing.assert_allclose(
        ev.period_transactions(model, engine, k)["expected"], direct, rtol=1e-12, atol=1e-12
    )
    ax = plotting.plot_period_transactions(model, ch.iloc[::24], k, covariates=customers)
    heights = [bar.get_height() for bar in ax.containers[1]]
    np.testing.assert_allclose(heights, direct, rtol=1e-12)
    with pytest.raises(ClvDataError, match=r"lacks the covariate column\(s\) \['channel'"):
        ev.period_transactions(model, ch)
    with pytest.raises(ClvDataError, match="join the covariates to it there"):
        ev.period_transactions(model, engine, k, covariates=customers)


def test_holdout_predictions_are_each_customers_expectation(data, model):
    _, _, _, ch_cov = data
    result = ev.evaluate_holdout(model, ch_cov)
    duration = ch_cov["duration_holdout"].to_numpy()
    assert len(np.unique(duration)) == 1
    direct = model.expected_purchases(float(duration[0]), ch_cov)
    np.testing.assert_allclose(result.predictions["predicted"], direct, rtol=1e-13)
    pl = pytest.importorskip("polars")
    engine = pl.from_pandas(ch_cov.reset_index()).with_columns(pl.lit("W").alias("time_unit"))
    in_engine = ev.evaluate_holdout(model, engine)
    predicted = in_engine.predictions.sort("customer_id")["predicted"].to_numpy()
    np.testing.assert_allclose(predicted, direct.sort_index().to_numpy(), rtol=1e-13)
    pd.testing.assert_frame_equal(in_engine.by_frequency, result.by_frequency, rtol=1e-12)
    ax = plotting.plot_calibration_vs_holdout(result)
    assert "covariates" in ax.get_title()
    with pytest.raises(ClvDataError, match="channel"):
        ev.evaluate_holdout(model, data[2])


def test_heatmaps_draw_one_profile(data, model):
    profile = {"channel": "web", "loyalty": 1, "age_decades": 0.5}
    plain = model.profile_model(profile)
    ax = plotting.plot_expected_purchases_heatmap(model, t=10, covariates=profile, ax=_new_axes())
    assert "channel=web, loyalty=1, age_decades=0.5" in ax.get_title()
    grid = _cells(ax)
    T = model.training_data_["columns"]["T"]["max"]
    recency = np.linspace(0.0, T, 60)
    for frequency, column in ((1, 7), (3, 40), (0, 0)):
        expected = plain.expected_purchases(
            10.0, frequency=[frequency], recency=[recency[column]], T=[T]
        )
        assert grid[frequency, column] == pytest.approx(float(expected.iloc[0]), rel=1e-13)
    ax = plotting.plot_probability_alive_heatmap(model, data[3], covariates=profile, ax=_new_axes())
    grid = _cells(ax)
    T = float(data[3]["T"].max())
    alive = plain.probability_alive(frequency=[2], recency=[np.linspace(0, T, 60)[30]], T=[T])
    assert grid[2, 30] == pytest.approx(float(alive.iloc[0]), rel=1e-13)
    with pytest.raises(ClvDataError, match=r"covariates=\{'channel': \.\.\."):
        plotting.plot_expected_purchases_heatmap(model)
    with pytest.raises(ClvDataError, match="missing"):
        plotting.plot_probability_alive_heatmap(model, covariates={"channel": "web"})
    with pytest.raises(ClvDataError, match="one profile"):
        ev.frequency_recency_matrix(model, 20, 5, quantity="probability_alive", covariates=[1])


def test_probability_alive_history_uses_the_customers_covariates(data, model):
    tx, customers, _, _ = data
    customer = "C00003"
    plain = model.profile_model(_profile(customers, customer))
    mapping = ev.probability_alive_history(
        model, tx, "customer_id", "date", customer, covariates=_profile(customers, customer)
    )
    direct = plain.probability_alive(
        frequency=mapping["frequency"], recency=mapping["recency"], T=mapping["T"]
    )
    np.testing.assert_allclose(mapping["p_alive"], direct, rtol=1e-14)
    assert mapping["p_alive"].iloc[-1] < 0.99
    with_columns = tx.merge(customers.reset_index(), on="customer_id")
    for source, extra in (
        (tx, {"covariates": customers}),
        (with_columns, {}),
    ):
        again = ev.probability_alive_history(
            model, source, "customer_id", "date", customer, **extra
        )
        np.testing.assert_array_equal(again["p_alive"], mapping["p_alive"])
    assert again.attrs["covariates"] == {"channel": "web", "loyalty": 0, "age_decades": -2.2}
    ax = plotting.plot_probability_alive_history(
        model, tx, "customer_id", "date", customer, covariates=customers
    )
    assert "channel=web" in ax.get_title()
    with pytest.raises(ClvDataError, match="give the customer's values as covariates="):
        ev.probability_alive_history(model, tx, "customer_id", "date", customer)
    with pytest.raises(ClvDataError, match="not in the covariates table"):
        ev.probability_alive_history(
            model, tx, "customer_id", "date", customer, covariates=customers.iloc[:2]
        )


def test_at_risk_customers_with_covariates(data, model):
    tx, customers, _, _ = data
    summary = cp.attach_covariates(
        cp.rfm_summary(tx, "customer_id", "date", monetary_value_col="amount", time_unit="W"),
        customers,
    )
    spend = cp.GammaGammaModel().fit(summary[summary["frequency"] > 0])
    table = cp.clv_table(model, spend, summary, lifetime_years=1)
    listed = at_risk_customers(model, table, lookback=8, covariates=customers)
    assert len(listed) > 10
    for customer_id in listed.index[:3]:
        row = listed.loc[customer_id]
        before = model.profile_model(_profile(customers, customer_id)).probability_alive(
            frequency=[row["frequency"]], recency=[row["recency"]], T=[row["T"] - 8]
        )
        assert row["p_alive_before"] == pytest.approx(float(before.iloc[0]), rel=1e-13)
    joined = at_risk_customers(model, table.join(customers), lookback=8)
    np.testing.assert_array_equal(joined["p_alive_before"], listed["p_alive_before"])
    with pytest.raises(ClvDataError, match=r"table lacks \['channel', 'loyalty', 'age_decades'\]"):
        at_risk_customers(model, table, lookback=8)

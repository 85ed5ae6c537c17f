"""Predictive CLV, simple-formula CLV, the lifetime helper and the CLV table."""

from __future__ import annotations

import functools

import numpy as np
import pandas as pd
import pytest
from scipy.special import hyp2f1

import clvpredict as cp
from clvpredict import ClvDataError

BG = {"r": 0.25, "alpha": 1.0, "a": 0.8, "b": 2.5}  # alpha in months
GG = {"p": 6.0, "q": 4.0, "gamma": 15.0}


def _fhl_conditional(t, r, alpha, a, b, x, t_x, T):
    """FHL (2005) eq. 10 written out directly, without the library's transformation."""
    head = (a + b + x - 1) / (a - 1)
    z = t / (alpha + T + t)
    body = 1 - ((alpha + T) / (alpha + T + t)) ** (r + x) * hyp2f1(r + x, b + x, a + b + x - 1, z)
    odds = (a / (b + x - 1)) * ((alpha + T) / (alpha + t_x)) ** (r + x) if x > 0 else 0.0
    return head * body / (1 + odds)


def test_predictive_clv_by_hand():
    bg = cp.BetaGeoModel.from_params(BG, time_unit="M")
    gg = cp.GammaGammaModel.from_params(GG)
    customer = pd.DataFrame(
        {"frequency": [3], "recency": [7.0], "T": [9.0], "monetary_value": [40.0]}, index=["c1"]
    )
    customer.attrs["time_unit"] = "M"
    x, zbar = 3, 40.0
    spend = GG["p"] * (GG["gamma"] + x * zbar) / (GG["p"] * x + GG["q"] - 1)
    cumulative = [0.0] + [_fhl_conditional(m, *BG.values(), 3, 7.0, 9.0) for m in (1, 2, 3)]
    by_hand = sum(
        0.3 * spend * (cumulative[m] - cumulative[m - 1]) / 1.08 ** (m / 12) for m in (1, 2, 3)
    )
    got = cp.predictive_clv(
        bg, gg, customer, horizon_months=3, annual_discount_rate=0.08, margin=0.3
    )
    assert got.loc["c1"] == pytest.approx(by_hand, rel=1e-10)
    assert got.name == "predictive_clv"


def test_clv_does_not_depend_on_the_fitting_unit(cdnow_tx):
    clvs = {}
    for unit in ("D", "W", "M"):
        rfm = cp.rfm_summary(
            cdnow_tx, "customer_id", "date", "amount", observation_end="1998-06-30", time_unit=unit
        )
        bg = cp.BetaGeoModel().fit(rfm)
        gg = cp.GammaGammaModel().fit(rfm)
        assert bg.time_unit_ == unit
        clvs[unit] = cp.predictive_clv(bg, gg, rfm, horizon_months=24)
    # alpha scales with the unit; everything measured in money and months is the same.
    np.testing.assert_allclose(clvs["W"], clvs["D"], rtol=1e-6)
    np.testing.assert_allclose(clvs["M"], clvs["D"], rtol=1e-6)


def test_zero_margin_gives_zero(bg_cdnow, gg_cdnow, cdnow_summary):
    clv = cp.predictive_clv(bg_cdnow, gg_cdnow, cdnow_summary, margin=0.0)
    assert (clv == 0).all()


def test_higher_discount_rate_gives_lower_clv(bg_cdnow, gg_cdnow, cdnow_summary):
    low = cp.predictive_clv(bg_cdnow, gg_cdnow, cdnow_summary, annual_discount_rate=0.05)
    high = cp.predictive_clv(bg_cdnow, gg_cdnow, cdnow_summary, annual_discount_rate=0.25)
    assert (high < low).all()
    undiscounted = cp.predictive_clv(bg_cdnow, gg_cdnow, cdnow_summary, annual_discount_rate=0)
    # Without discounting, CLV is spend times the expected purchases over the horizon.
    weeks = 12 * 30.436875 / 7
    np.testing.assert_allclose(
        undiscounted,
        gg_cdnow.expected_average_value(cdnow_summary)
        * bg_cdnow.expected_purchases(weeks, cdnow_summary),
        rtol=1e-12,
    )


def test_clv_settings_are_validated(bg_cdnow, gg_cdnow, cdnow_summary):
    with pytest.raises(ClvDataError, match="fraction between 0 and 1"):
        cp.predictive_clv(bg_cdnow, gg_cdnow, cdnow_summary, margin=30)
    with pytest.raises(ClvDataError, match="whole number of months"):
        cp.predictive_clv(bg_cdnow, gg_cdnow, cdnow_summary, horizon_months=2.5)
    with pytest.raises(ClvDataError, match="annual_discount_rate"):
        cp.predictive_clv(bg_cdnow, gg_cdnow, cdnow_summary, annual_discount_rate=-0.1)
    # 10 meant as 10%: refused as the command line refuses it, not valued at 1000% a year.
    table = functools.partial(cp.clv_table, lifetime_years=1.0)
    for call in (cp.predictive_clv, table):
        with pytest.raises(
            ClvDataError, match=r"annual_discount_rate=10 .*looks like a percentage"
        ):
            call(bg_cdnow, gg_cdnow, cdnow_summary, annual_discount_rate=10)
    unitless = cp.BetaGeoModel().fit(
        frequency=cdnow_summary["frequency"], recency=cdnow_summary["recency"], T=cdnow_summary["T"]
    )
    with pytest.raises(ClvDataError, match="does not know its time unit"):
        cp.predictive_clv(unitless, gg_cdnow, cdnow_summary)


def test_simple_clv_by_hand():
    data = pd.DataFrame(
        {"frequency": [2, 0, 0], "T": [26.0, 52.0, 0.0], "avg_order_value": [20.0, 50.0, 10.0]},
        index=["a", "b", "c"],
    )
    data.attrs["time_unit"] = "W"
    got = cp.simple_clv(data, lifetime_years=2.0, margin=0.5)
    years = np.array([26.0, 52.0]) * 7 / 365.2425
    assert got["a"] == pytest.approx(20 * (3 / years[0]) * 0.5 * 2)
    assert got["b"] == pytest.approx(50 * (1 / years[1]) * 0.5 * 2)
    # A first purchase on the last day is annualised over the one-month floor, not over zero.
    assert got["c"] == pytest.approx(10 * 12 * 0.5 * 2)


def test_simple_clv_needs_the_order_value(cdnow_summary):
    with pytest.raises(ClvDataError, match="avg_order_value"):
        cp.simple_clv(cdnow_summary, lifetime_years=1)


def test_lifetime_from_churn_by_hand():
    # Three whole windows of one average month (30.44 days) fit between 2024-01-01 and
    # 2024-04-01, counted back from the end: Jan 1-31, Jan 31-Mar 2, Mar 2-Apr 1.
    tx = pd.DataFrame(
        {
            "c": ["a", "b", "c", "d", "a", "b", "e", "a"],
            "d": [
                "2024-01-01",
                "2024-01-06",
                "2024-01-07",
                "2024-01-08",
                "2024-02-10",
                "2024-02-11",
                "2024-02-12",
                "2024-03-20",
            ],
        }
    )
    # Window Jan: a, b, c, d; Feb: a, b, e; Mar: a. Retained: {a, b} of 4, then {a} of 3.
    retention = (2 + 1) / (4 + 3)
    expected = (1 / 12) / (1 - retention)
    got = cp.estimate_lifetime_years(tx, "c", "d", window_months=1, observation_end="2024-04-01")
    assert got == pytest.approx(expected)


def test_lifetime_refuses_short_history_and_no_churn():
    tx = pd.DataFrame({"c": ["a", "b"], "d": ["2024-01-01", "2024-03-01"]})
    with pytest.raises(ClvDataError, match="fewer than two complete windows"):
        cp.estimate_lifetime_years(tx, "c", "d", window_months=6)
    loyal = pd.DataFrame({"c": ["a", "a", "a"], "d": ["2024-01-10", "2024-02-10", "2024-03-10"]})
    with pytest.raises(ClvDataError, match="no churn was observed"):
        cp.estimate_lifetime_years(loyal, "c", "d", window_months=1, observation_end="2024-03-31")


def test_clv_table_side_by_side(cdnow_cal_holdout):
    bg = cp.BetaGeoModel().fit(cdnow_cal_holdout)
    gg = cp.GammaGammaModel().fit(cdnow_cal_holdout)
    table = cp.clv_table(bg, gg, cdnow_cal_holdout, lifetime_years=1.5, margin=0.3)
    assert list(table.columns[:9]) == [
        "frequency",
        "recency",
        "T",
        "monetary_value",
        "p_alive",
        "expected_purchases",
        "expected_avg_value",
        "predictive_clv",
        "simple_clv",
    ]
    assert {"frequency_holdout", "monetary_value_holdout", "duration_holdout"} <= set(table)
    assert table.index.equals(cdnow_cal_holdout.index)
    assert table.attrs["lifetime_years"] == 1.5 and table.attrs["margin"] == 0.3
    # A lifetime per customer is not one setting: none is recorded.
    each = pd.Series(1.5, index=cdnow_cal_holdout.index)
    assert (
        "lifetime_years" not in cp.clv_table(bg, gg, cdnow_cal_holdout, lifetime_years=each).attrs
    )
    pd.testing.assert_series_equal(
        table["predictive_clv"], cp.predictive_clv(bg, gg, cdnow_cal_holdout, margin=0.3)
    )
    pd.testing.assert_series_equal(
        table["simple_clv"], cp.simple_clv(cdnow_cal_holdout, lifetime_years=1.5, margin=0.3)
    )
    weeks_12m = 12 * 30.436875 / 7
    np.testing.assert_allclose(
        table["expected_purchases"], bg.expected_purchases(weeks_12m, cdnow_cal_holdout)
    )
    np.testing.assert_allclose(
        table["expected_purchases_holdout"], bg.expected_purchases(39, cdnow_cal_holdout)
    )
    with pytest.raises(ClvDataError, match="estimate_lifetime_years"):
        cp.clv_table(bg, gg, cdnow_cal_holdout)


def _clv_at_each_draw(bg, gg, summary, n_draws, seed, **settings):
    """Every customer's predictive CLV at each joint parameter draw (draws x customers), by
    predictive_clv itself with models made from the drawn parameters: the draws are taken as
    predictive_clv(..., interval=) takes them, the purchase model's then the spend model's."""
    from clvpredict.models import uncertainty

    rng = np.random.default_rng(seed)
    draws_bg = uncertainty.parameter_draws(bg, n_draws, rng)
    draws_gg = uncertainty.parameter_draws(gg, n_draws, rng)
    return np.array(
        [
            cp.predictive_clv(
                cp.BetaGeoModel.from_params(
                    dict(zip(bg.params_.index, tb, strict=True)), time_unit=bg.time_unit_
                ),
                cp.GammaGammaModel.from_params(dict(zip(gg.params_.index, tg, strict=True))),
                summary,
                **settings,
            ).to_numpy()
            for tb, tg in zip(draws_bg, draws_gg, strict=True)
        ]
    )


def test_total_interval_equals_a_loop_over_the_draws(bg_cdnow, gg_cdnow, cdnow_summary):
    settings = dict(horizon_months=24, annual_discount_rate=0.08, margin=0.4)
    got = cp.total_clv_interval(
        bg_cdnow, gg_cdnow, cdnow_summary, level=0.8, n_draws=60, random_state=9, **settings
    )
    per_draw = _clv_at_each_draw(bg_cdnow, gg_cdnow, cdnow_summary, 60, 9, **settings)
    totals = per_draw.sum(axis=1)
    assert got.lower == pytest.approx(np.quantile(totals, 0.1), rel=1e-9)
    assert got.upper == pytest.approx(np.quantile(totals, 0.9), rel=1e-9)
    point = cp.predictive_clv(bg_cdnow, gg_cdnow, cdnow_summary, **settings).sum()
    assert got.total == point
    assert got.lower < got.total < got.upper
    assert (got.n_customers, got.n_evaluated, got.n_draws, got.level) == (2357, 2357, 60, 0.8)
    assert not got.sampled


def test_total_interval_of_a_sample_is_within_its_standard_error(bg_cdnow, gg_cdnow, cdnow_summary):
    """Above max_customers the draws are evaluated on a random sample and the interval is the
    total times the quantiles of (sample total at a draw / sample total at the estimate).

    The tolerance: at each draw d the sample's ratio r_d estimates the whole table's ratio
    R_d = total at d / total; a ratio estimator from a simple random sample of n of N has the
    standard error sqrt((1 - n/N) / n * S_d^2) / mean(CLV), with S_d^2 the variance over the
    customers of CLV_i(d) - R_d CLV_i (here computed from every customer's CLV at every
    draw). If every r_d is within eps of R_d, every quantile of r is within eps of the same
    quantile of R (order statistics move by at most eps), so the bounds agree within total x
    eps: eps = 5 standard errors of the worst draw.
    """
    n_draws, seed, n = 200, 11, 1_000
    got = cp.total_clv_interval(
        bg_cdnow, gg_cdnow, cdnow_summary, n_draws=n_draws, random_state=seed, max_customers=n
    )
    assert (got.n_customers, got.n_evaluated) == (2357, 1000) and got.sampled
    per_draw = _clv_at_each_draw(bg_cdnow, gg_cdnow, cdnow_summary, n_draws, seed)
    clv = cp.predictive_clv(bg_cdnow, gg_cdnow, cdnow_summary).to_numpy()
    total, customers = clv.sum(), len(clv)
    assert got.total == total
    exact_lower, exact_upper = np.quantile(per_draw.sum(axis=1), [0.05, 0.95])
    ratio = per_draw.sum(axis=1) / total
    residual = per_draw - ratio[:, None] * clv[None, :]
    spread = (residual**2).sum(axis=1) / (customers - 1)
    standard_error = np.sqrt((1 - n / customers) / n * spread) / clv.mean()
    tolerance = 5 * standard_error.max() * total
    # The check can fail: the tolerance is a fraction of the interval's width.
    assert tolerance < 0.25 * (exact_upper - exact_lower)
    assert abs(got.lower - exact_lower) <= tolerance
    assert abs(got.upper - exact_upper) <= tolerance
    again = cp.total_clv_interval(
        bg_cdnow, gg_cdnow, cdnow_summary, n_draws=n_draws, random_state=seed, max_customers=n
    )
    assert again == got


def test_total_interval_of_an_engine_summary(bg_cdnow, gg_cdnow, cdnow_summary):
    """A lazy polars summary is grouped by its engine (all customers) or sampled by the hash of
    the customer id (above the bound): the same interval as pandas, and within the sample's
    error of it."""
    import polars as pl

    frame = cdnow_summary.reset_index()
    frame["time_unit"] = cdnow_summary.attrs["time_unit"]
    lazy = pl.from_pandas(frame).lazy()
    settings = dict(n_draws=80, random_state=4)
    exact = cp.total_clv_interval(bg_cdnow, gg_cdnow, cdnow_summary, **settings)
    engine = cp.total_clv_interval(bg_cdnow, gg_cdnow, lazy, **settings)
    assert engine.n_evaluated == engine.n_customers == 2357
    for field in ("total", "lower", "upper"):
        assert getattr(engine, field) == pytest.approx(getattr(exact, field), rel=1e-12)
    sampled = cp.total_clv_interval(bg_cdnow, gg_cdnow, lazy, max_customers=1_000, **settings)
    assert (sampled.n_customers, sampled.n_evaluated) == (2357, 1000)
    assert sampled.total == pytest.approx(exact.total, rel=1e-12)
    # The tolerance of the pandas sample's test above (5 standard errors of the worst draw:
    # at most 0.25 of the width there).
    width = exact.upper - exact.lower
    assert abs(sampled.lower - exact.lower) <= 0.25 * width
    assert abs(sampled.upper - exact.upper) <= 0.25 * width


def test_total_interval_settings_are_checked(bg_cdnow, gg_cdnow, cdnow_summary):
    with pytest.raises(ClvDataError, match="max_customers=0"):
        cp.total_clv_interval(bg_cdnow, gg_cdnow, cdnow_summary, max_customers=0)
    with pytest.raises(ClvDataError, match=r"interval=1\.5"):
        cp.total_clv_interval(bg_cdnow, gg_cdnow, cdnow_summary, level=1.5)
    given = cp.BetaGeoModel.from_params(BG, time_unit="W")
    with pytest.raises(ClvDataError, match="has no covariance"):
        cp.total_clv_interval(given, gg_cdnow, cdnow_summary)

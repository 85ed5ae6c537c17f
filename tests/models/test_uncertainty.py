"""Parameter-uncertainty intervals and the predictive distribution of purchase counts."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from clvpredict.beta_geo import (
    bgnbd_conditional_expected_purchases,
    bgnbd_conditional_probability_of_purchases,
)

import clvpredict as cp
from clvpredict import uncertainty


@pytest.fixture(scope="module")
def few(cdnow_cal_holdout) -> pd.DataFrame:
    return cdnow_cal_holdout.iloc[[0, 1, 2, 10, 50, 200, 1000]]


@pytest.fixture(scope="module")
def fitted(cdnow_cal_holdout):
    return cp.BetaGeoModel().fit(cdnow_cal_holdout), cp.GammaGammaModel().fit(cdnow_cal_holdout)


def test_draws_follow_the_log_scale_normal(bg_cdnow):
    draws = uncertainty.parameter_draws(bg_cdnow, 20000, 1)
    assert (draws > 0).all()
    theta = bg_cdnow.params_.to_numpy()
    cov_log = bg_cdnow.covariance_.to_numpy() / np.outer(theta, theta)
    np.testing.assert_allclose(np.log(draws).mean(axis=0), np.log(theta), atol=0.01)
    # Sampling error of a covariance is about s_i s_j / sqrt(n) = 0.007 s_i s_j here.
    scale = np.sqrt(np.outer(np.diag(cov_log), np.diag(cov_log)))
    assert np.all(np.abs(np.cov(np.log(draws).T) - cov_log) <= 0.03 * scale)


def test_expected_purchases_interval_equals_a_plain_loop(fitted, few):
    bg, _ = fitted
    got = bg.expected_purchases(26, few, interval=0.8, n_draws=50, random_state=7)
    assert list(got.columns) == [
        "expected_purchases",
        "expected_purchases_lower",
        "expected_purchases_upper",
    ]
    draws = uncertainty.parameter_draws(bg, 50, 7)
    per_draw = np.array(
        [
            bgnbd_conditional_expected_purchases(
                26, *theta, few["frequency"], few["recency"], few["T"]
            )
            for theta in draws
        ]
    )
    np.testing.assert_allclose(got["expected_purchases_lower"], np.quantile(per_draw, 0.1, axis=0))
    np.testing.assert_allclose(got["expected_purchases_upper"], np.quantile(per_draw, 0.9, axis=0))
    pd.testing.assert_series_equal(
        got["expected_purchases"], bg.expected_purchases(26, few), check_names=False
    )
    assert got.index.equals(few.index)


def test_clv_interval_equals_a_plain_loop_over_both_models(fitted, few):
    bg, gg = fitted
    got = cp.predictive_clv(bg, gg, few, interval=0.9, n_draws=40, random_state=3, margin=0.5)
    rng = np.random.default_rng(3)
    draws_bg = uncertainty.parameter_draws(bg, 40, rng)
    draws_gg = uncertainty.parameter_draws(gg, 40, rng)
    per_draw = np.array(
        [
            cp.predictive_clv(
                cp.BetaGeoModel.from_params(
                    dict(zip(bg.params_.index, tb, strict=True)), time_unit="W"
                ),
                cp.GammaGammaModel.from_params(dict(zip(gg.params_.index, tg, strict=True))),
                few,
                margin=0.5,
            ).to_numpy()
            for tb, tg in zip(draws_bg, draws_gg, strict=True)
        ]
    )
    np.testing.assert_allclose(
        got["predictive_clv_lower"], np.quantile(per_draw, 0.05, axis=0), rtol=1e-9
    )
    np.testing.assert_allclose(
        got["predictive_clv_upper"], np.quantile(per_draw, 0.95, axis=0), rtol=1e-9
    )
    assert (got["predictive_clv_lower"] <= got["predictive_clv"]).all()
    assert (got["predictive_clv"] <= got["predictive_clv_upper"]).all()


def test_blocks_and_compression_do_not_change_the_answer(fitted, cdnow_cal_holdout, monkeypatch):
    bg, gg = fitted
    reference = cp.predictive_clv(
        bg, gg, cdnow_cal_holdout, interval=0.9, n_draws=20, random_state=5
    )
    monkeypatch.setattr(uncertainty, "BLOCK_ROWS", 97)
    small_blocks = cp.predictive_clv(
        bg, gg, cdnow_cal_holdout, interval=0.9, n_draws=20, random_state=5
    )
    pd.testing.assert_frame_equal(reference, small_blocks, rtol=1e-10)


def test_more_data_narrows_the_interval(cdnow_summary):
    once = cp.BetaGeoModel().fit(cdnow_summary)
    four = cp.BetaGeoModel().fit(cdnow_summary, weights=np.full(len(cdnow_summary), 4.0))
    np.testing.assert_allclose(four.params_, once.params_, rtol=1e-6)
    # Four times the customers: standard errors halve, and so, nearly, do the intervals.
    np.testing.assert_allclose(four.standard_errors_, once.standard_errors_ / 2, rtol=1e-3)
    row = cdnow_summary.iloc[[0]]
    w1 = once.probability_alive(row, interval=0.9, n_draws=4000, random_state=0)
    w4 = four.probability_alive(row, interval=0.9, n_draws=4000, random_state=0)
    width = lambda f: float(f["p_alive_upper"].iloc[0] - f["p_alive_lower"].iloc[0])  # noqa: E731
    assert width(w4) == pytest.approx(width(w1) / 2, rel=0.1)


def test_spend_interval(fitted, few):
    _, gg = fitted
    got = gg.expected_average_value(few, interval=0.9, n_draws=100, random_state=1)
    assert (got["expected_avg_value_lower"] < got["expected_avg_value"]).all()
    assert (got["expected_avg_value"] < got["expected_avg_value_upper"]).all()


def test_intervals_need_estimated_parameters(few):
    given = cp.BetaGeoModel.from_params({"r": 0.2, "alpha": 4, "a": 0.8, "b": 2.4}, time_unit="W")
    with pytest.raises(cp.ClvDataError, match="no covariance"):
        given.expected_purchases(10, few, interval=0.9)
    with pytest.raises(cp.ClvDataError, match="between 0 and 1"):
        uncertainty.check_level(90)


def test_conditional_pmf_is_a_distribution_with_the_right_mean(fitted, few):
    bg, _ = fitted
    theta = bg.params_.to_numpy()
    n = np.arange(0, 400)[:, None]
    pmf = bgnbd_conditional_probability_of_purchases(
        n, 39.0, *theta, few["frequency"].to_numpy(), few["recency"].to_numpy(), few["T"].to_numpy()
    )
    np.testing.assert_allclose(pmf.sum(axis=0), 1.0, atol=1e-10)
    np.testing.assert_allclose(
        (n * pmf).sum(axis=0), bg.expected_purchases(39, few).to_numpy(), rtol=1e-8
    )


def test_purchases_predictive_interval_by_cdf(fitted, few):
    bg, _ = fitted
    got = bg.purchases_predictive_interval(39, few, level=0.9)
    theta = bg.params_.to_numpy()
    for (label, row), (_, bounds) in zip(few.iterrows(), got.iterrows(), strict=True):
        pmf = bgnbd_conditional_probability_of_purchases(
            np.arange(200), 39.0, *theta, row["frequency"], row["recency"], row["T"]
        )
        cdf = np.cumsum(pmf)
        assert bounds["lower"] == np.searchsorted(cdf, 0.05, side="right"), label
        assert bounds["upper"] == np.searchsorted(cdf, 0.95 - 1e-12), label
        assert bounds["lower"] <= bounds["expected_purchases"] <= bounds["upper"] + 1


@pytest.mark.parametrize("model_class", [cp.ModifiedBetaGeoModel, cp.ParetoNBDModel])
def test_other_models_conditional_pmf_matches_their_expectation(model_class, few):
    model = model_class().fit(cp.datasets.load_cdnow_summary())
    probabilities = np.array(
        [model.conditional_probability_of_purchases(n, 39.0, few).to_numpy() for n in range(300)]
    )
    np.testing.assert_allclose(probabilities.sum(axis=0), 1.0, atol=1e-9)
    mean = (np.arange(300)[:, None] * probabilities).sum(axis=0)
    np.testing.assert_allclose(mean, model.expected_purchases(39.0, few).to_numpy(), rtol=1e-7)
    bounds = model.purchases_predictive_interval(39.0, few, level=0.8)
    cdf = np.cumsum(probabilities, axis=0)
    np.testing.assert_array_equal(bounds["lower"], (cdf <= 0.1).sum(axis=0))
    np.testing.assert_array_equal(bounds["upper"], (cdf < 0.9 - 1e-12).sum(axis=0))


def test_fast_monthly_path_equals_the_public_method_for_mbgnbd(cdnow_summary):
    """MBG/NBD borrows the BG/NBD's vectorised and interpolated evaluators (b shifted by 1)."""
    model = cp.ModifiedBetaGeoModel().fit(cdnow_summary)
    arrays, _ = model._arrays(cdnow_summary, {})
    ts = [4.0, 13.0, 52.0]
    theta = model.params_.to_numpy() * np.array([1.05, 0.97, 1.1, 0.9])
    by_method = np.column_stack(
        [model._at(theta).expected_purchases(t, cdnow_summary).to_numpy() for t in ts]
    )
    np.testing.assert_allclose(
        model._cumulative_purchases(ts, theta, arrays), by_method, rtol=1e-12
    )
    planned = model._cumulative_purchases_planner(ts, arrays)(theta)
    np.testing.assert_allclose(planned, by_method, rtol=1e-9)

"""Models fitted and scored on summaries held by polars, pyarrow and DuckDB.

A fit receives from the engine only the distinct histories with their counts; predictions and the
CLV table collect one row per customer and hand the table back in the caller's kind. Every number
must be the pandas one: the same likelihood (to rounding), the same optimum (to a sliver of a
standard error, since the optimiser meets the rows in another order), the same predictions.
"""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd
import polars as pl
import pytest
from engine_frames import on_engine, to_pandas

import clvpredict as cp
from clvpredict._registry import all_models
from clvpredict.data import engines
from clvpredict.data.engines import UNIT_COLUMN, frame_kind

ENGINES = ["polars", "polars-lazy", "pyarrow", "duckdb"]
CALENDAR = [s.cls for s in all_models() if not s.discrete_time]
#: CDNOW to its last purchase (1998-06-30) in weeks: the summary of issue 9's published totals.
OPTIONS = dict(time_unit="W")


@pytest.fixture(scope="module")
def summaries() -> dict[str, object]:
    logging.disable(logging.WARNING)
    try:
        tx = cp.datasets.load_cdnow()
        out = {"pandas": cp.rfm_summary(tx, "customer_id", "date", "amount", **OPTIONS)}
        for engine in ENGINES:
            native = on_engine(tx, engine)
            out[engine] = cp.rfm_summary(native, "customer_id", "date", "amount", **OPTIONS)
    finally:
        logging.disable(logging.NOTSET)
    return out


@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize("cls", CALENDAR, ids=lambda c: c.__name__)
def test_a_fit_on_an_engine_summary_is_the_pandas_fit(cls, engine, summaries, monkeypatch):
    received = []
    real = engines.histories

    def recorded(*args, **kwargs):
        out = real(*args, **kwargs)
        received.append(out)
        return out

    monkeypatch.setattr("clvpredict.models._base.histories", recorded)
    reference = cls(on_nonconvergence="raise").fit(summaries["pandas"])
    fitted = cls(on_nonconvergence="raise").fit(summaries[engine])
    # Only the distinct histories came to this process, each with how many customers share it.
    (histories,) = received
    assert histories["weight"].sum() == 2357
    assert len(histories) < 2357
    assert fitted.time_unit_ == reference.time_unit_
    assert fitted.log_likelihood_ == pytest.approx(reference.log_likelihood_, rel=1e-12)
    gap = (fitted.params_ - reference.params_).abs()
    assert (gap <= 1e-3 * reference.standard_errors_).all(), gap
    assert fitted.training_data_["n_customers"] == 2357


#: Per-customer predictions, each as ``(name, call(models, summary))``.
PREDICTIONS = [
    ("expected_purchases", lambda m, s: m["bg"].expected_purchases(52, s)),
    (
        "expected_purchases with interval",
        lambda m, s: m["bg"].expected_purchases(52, s, interval=0.8, n_draws=10, random_state=4),
    ),
    ("p_alive", lambda m, s: m["bg"].probability_alive(s)),
    ("p_alive in 10 weeks", lambda m, s: m["bg"].probability_alive_at(10, s)),
    ("P(2 purchases)", lambda m, s: m["bg"].conditional_probability_of_purchases(2, 39, s)),
    ("purchases interval", lambda m, s: m["bg"].purchases_predictive_interval(39, s)),
    ("expected_avg_value", lambda m, s: m["gg"].expected_average_value(s)),
    ("Pareto/NBD DERT", lambda m, s: m["pnbd"].expected_discounted_residual_transactions(s, 0.002)),
    ("predictive_clv", lambda m, s: cp.predictive_clv(m["bg"], m["gg"], s)),
    ("simple_clv", lambda m, s: cp.simple_clv(s, lifetime_years=2.0)),
]


@pytest.fixture(scope="module")
def models(summaries) -> dict[str, object]:
    pandas = summaries["pandas"]
    pareto = {"r": 0.55, "alpha": 10.58, "s": 0.61, "beta": 11.67}
    return {
        "bg": cp.BetaGeoModel().fit(pandas),
        "gg": cp.GammaGammaModel().fit(pandas),
        "pnbd": cp.ParetoNBDModel.from_params(pareto, time_unit="W"),
    }


@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize(("name", "predict"), PREDICTIONS, ids=[p[0] for p in PREDICTIONS])
def test_predictions_come_back_in_the_callers_kind(engine, name, predict, summaries, models):
    """The customer id column, then the prediction's named column(s), in the summary's kind;
    the numbers are the pandas ones."""
    expected = predict(models, summaries["pandas"])
    expected = expected.to_frame() if isinstance(expected, pd.Series) else expected
    got = predict(models, summaries[engine])
    assert frame_kind(got) == engine
    got = to_pandas(got, "customer_id")
    assert list(got.columns) == list(expected.columns)
    np.testing.assert_allclose(
        got.to_numpy(float), expected.loc[got.index].to_numpy(float), rtol=1e-12
    )
    assert got.index.sort_values().equals(expected.index.sort_values())


def test_a_polars_prediction_keeps_the_summary_order(summaries, models):
    shuffled = summaries["polars"].sample(fraction=1.0, shuffle=True, seed=3)
    got = models["bg"].expected_purchases(52, shuffled)
    assert got.columns == ["customer_id", "expected_purchases"]
    assert got["customer_id"].to_list() == shuffled["customer_id"].to_list()
    # The CDNOW total the suite pins elsewhere (shared/REFERENCE.md): 1966.66 purchases.
    assert got["expected_purchases"].sum() == pytest.approx(1966.66, abs=0.005)


def test_pandas_predictions_are_unchanged(summaries, models):
    got = models["bg"].expected_purchases(52, summaries["pandas"])
    assert isinstance(got, pd.Series) and got.name == "expected_purchases"
    assert got.index.equals(summaries["pandas"].index)
    keywords = models["bg"].probability_alive(frequency=[0, 2], recency=[0, 5.0], T=[10.0, 10.0])
    assert isinstance(keywords, pd.Series) and len(keywords) == 2


@pytest.mark.parametrize("engine", ENGINES)
def test_clv_table_comes_back_in_the_callers_kind(engine, summaries):
    bg = cp.BetaGeoModel().fit(summaries["pandas"])
    gg = cp.GammaGammaModel().fit(summaries["pandas"])
    reference = cp.clv_table(bg, gg, summaries["pandas"], lifetime_years=2.0)
    table = cp.clv_table(bg, gg, summaries[engine], lifetime_years=2.0)
    assert frame_kind(table) == engine
    got = to_pandas(table, "customer_id")
    assert (got.pop(UNIT_COLUMN) == "W").all()
    assert list(got.columns) == list(reference.columns)
    np.testing.assert_allclose(got.to_numpy(float), reference.to_numpy(float), rtol=1e-12)
    # The weekly CDNOW total of issue 9 (tests/models/test_trust_models.py).
    assert got["predictive_clv"].sum() == pytest.approx(68812.01, abs=0.01)


def test_a_polars_summary_converted_to_pandas_keeps_its_unit_in_the_column(summaries):
    """``.to_pandas()`` of a polars summary has no attrs, but its ``time_unit`` column: the
    models and CLV functions read the unit there (it used to be lost, the model fitted
    without one and the CLV refused it), and give the pandas summary's numbers, with CDNOW's
    weekly total. A column mixing units is refused."""
    converted = summaries["polars"].to_pandas().set_index("customer_id")
    assert converted.attrs == {}
    bg = cp.BetaGeoModel().fit(converted)
    assert bg.time_unit_ == "W"
    gg = cp.GammaGammaModel().fit(converted)
    table = cp.clv_table(bg, gg, converted, lifetime_years=2.0)
    reference = cp.BetaGeoModel().fit(summaries["pandas"])
    np.testing.assert_allclose(bg.params_, reference.params_, rtol=1e-9)
    assert table["predictive_clv"].sum() == pytest.approx(68812.01, abs=0.01)
    # A monthly model reads the weekly durations in weeks and converts them.
    monthly = cp.BetaGeoModel(time_unit="M").fit(converted)
    assert monthly.time_unit_ == "M"
    np.testing.assert_allclose(
        monthly.probability_alive(converted), bg.probability_alive(converted), rtol=1e-6
    )
    mixed = converted.assign(**{UNIT_COLUMN: ["W"] * (len(converted) - 1) + ["D"]})
    with pytest.raises(cp.ClvDataError, match="holds several units"):
        cp.BetaGeoModel().fit(mixed)


def test_a_summary_without_its_unit_column_is_refused_by_a_weekly_model(summaries):
    bg = cp.BetaGeoModel().fit(summaries["pandas"])
    bare = summaries["polars"].drop(UNIT_COLUMN)
    with pytest.raises(cp.ClvDataError, match="do not record their time unit"):
        bg.expected_purchases(52, bare)


def test_weights_of_an_engine_summary_are_a_column(summaries):
    counted = summaries["polars"].with_columns(n=pl.lit(2.0))
    doubled = cp.BetaGeoModel().fit(counted, weights="n")
    single = cp.BetaGeoModel().fit(summaries["polars"])
    np.testing.assert_allclose(doubled.params_, single.params_, rtol=1e-6)
    assert doubled.log_likelihood_ == pytest.approx(2 * single.log_likelihood_, rel=1e-10)
    with pytest.raises(cp.ClvDataError, match="as the name of one of its columns"):
        cp.BetaGeoModel().fit(summaries["polars"], weights=np.ones(2357))

"""Categorical covariates in the models: numbers coded as categories, the declared order of
categories, the coding kept by model files, and the time unit that a pandas join loses.

The customers are the first 600 of the shipped data set with covariates; their channel (store,
web, partner) is also given as a region code (1, 2, 10), whose text order ("1", "10", "2") is
not its numeric order.
"""

from __future__ import annotations

import json
import warnings

import numpy as np
import pandas as pd
import pytest

import clvpredict as cp
from clvpredict import ClvDataError
from clvpredict.data import datasets
from clvpredict.jobs.values import covariate_values

REGION = {"store": 1, "web": 2, "partner": 10}
SETTINGS = {
    "purchase_covariates": ["region", "loyalty"],
    "dropout_covariates": ["loyalty"],
    "categorical_covariates": ["region"],
}


@pytest.fixture(scope="module")
def data() -> dict:
    customers = datasets.load_covariates_customers()
    tx = datasets.load_covariates_transactions()
    first = customers.index[:600]
    tx = tx[tx["customer_id"].isin(first)]
    summary = cp.rfm_summary(tx, "customer_id", "date", "amount", time_unit="W")
    region = customers["channel"].astype(str).map(REGION).astype("int64")
    table = customers.assign(region=region).loc[first, ["region", "loyalty", "channel"]]
    return {"summary": summary, "table": table}


def fit(cls, summary, table, **settings):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        return cls(**settings).fit(summary, covariates=table)


@pytest.fixture(scope="module")
def by_number(data) -> cp.BetaGeoModel:
    return fit(cp.BetaGeoModel, data["summary"], data["table"][["region", "loyalty"]], **SETTINGS)


def test_numbers_as_categories_fit_as_the_same_levels_given_as_text(data, by_number):
    summary, table = data["summary"], data["table"][["region", "loyalty"]]
    assert list(by_number.params_.index) == [
        "r",
        "alpha",
        "a",
        "b",
        "purchase.region[2]",
        "purchase.region[10]",
        "purchase.loyalty",
        "dropout.loyalty",
    ]
    assert by_number.covariate_design_.column("region").reference == "1"  # store, the largest
    text = {k: v for k, v in SETTINGS.items() if k != "categorical_covariates"}
    # The same levels as text categories declared in the same order: the same design, the
    # same fit.
    declared = table.assign(
        region=pd.Categorical(table["region"].astype(str), categories=["1", "2", "10"])
    )
    same = fit(cp.BetaGeoModel, summary, declared, **text)
    assert same.covariate_design_.purchase_names == by_number.covariate_design_.purchase_names
    np.testing.assert_allclose(same.params_, by_number.params_, rtol=1e-12, atol=0)
    # As plain text the levels come in text order ("10" before "2"): the dummy columns are the
    # same ones in another order, so the optimiser takes another path to the same maximum. The
    # estimates agree by name to a millionth of their standard errors (2.5e-7 of one at most
    # when this was written).
    plain = fit(cp.BetaGeoModel, summary, table.astype({"region": str}), **text)
    assert plain.covariate_design_.purchase_names[:2] == ("region[10]", "region[2]")
    difference = plain.params_[by_number.params_.index] - by_number.params_
    assert (difference.abs() <= 1e-6 * by_number.standard_errors_).all(), difference
    assert plain.log_likelihood_ == pytest.approx(by_number.log_likelihood_, rel=1e-12)


def test_the_channel_category_fits_in_its_declared_order(data, by_number):
    """The data set declares the channel's categories store, web, partner: its coefficients
    come in that order and equal the region code's (the same customers, renamed)."""
    table = data["table"][["channel", "loyalty"]]
    settings = {"purchase_covariates": ["channel", "loyalty"], "dropout_covariates": ["loyalty"]}
    model = fit(cp.BetaGeoModel, data["summary"], table, **settings)
    assert model.covariate_design_.purchase_names == (
        "channel[web]",
        "channel[partner]",
        "loyalty",
    )
    np.testing.assert_allclose(
        model.params_.to_numpy(), by_number.params_.to_numpy(), rtol=1e-12, atol=0
    )


def test_a_saved_model_keeps_the_coding_and_scores_the_same(data, tmp_path):
    summary, table = data["summary"], data["table"][["region", "loyalty"]]
    model = fit(
        cp.ParetoNBDModel,
        summary,
        table,
        purchase_covariates=["region"],
        shared_covariates=["loyalty"],
        categorical_covariates=["region"],
        reference_levels={"region": 2},
    )
    path = model.save(tmp_path / "model.json")
    document = json.loads(path.read_text())
    assert document["settings"]["categorical_covariates"] == ["region"]
    assert document["covariate_design"]["covariates"][0] == {
        "name": "region",
        "kind": "categorical",
        "value_type": "integer",
        "levels": ["1", "2", "10"],
        "reference": "2",
        "mean": None,
        "std": None,
    }
    loaded = cp.load_model(path)
    assert loaded.categorical_covariates == ["region"]
    assert loaded.covariate_design_ == model.covariate_design_
    assert list(loaded.params_.index) == [
        "r",
        "alpha",
        "s",
        "beta",
        "purchase.region[1]",
        "purchase.region[10]",
        "shared.loyalty",
    ]
    scoring = cp.attach_covariates(summary, table)
    for method in ("expected_purchases", "probability_alive"):
        args = (26.0, scoring) if method == "expected_purchases" else (scoring,)
        pd.testing.assert_series_equal(
            getattr(loaded, method)(*args), getattr(model, method)(*args)
        )
    # A scoring table with the region codes as text scores the same.
    as_text = cp.attach_covariates(summary, table.astype({"region": str}))
    pd.testing.assert_series_equal(
        loaded.expected_purchases(26.0, as_text), model.expected_purchases(26.0, scoring)
    )
    # So does a new customer given by number or by text.
    assert loaded.expected_purchases_new_customer(
        52.0, covariates={"region": "10", "loyalty": 1}
    ) == model.expected_purchases_new_customer(52.0, covariates={"region": 10, "loyalty": 1})


def test_the_value_by_covariate_table_lists_the_levels_in_order(data, by_number):
    summary = cp.attach_covariates(data["summary"], data["table"][["region", "loyalty"]])
    spend = cp.GammaGammaModel().fit(summary)
    settings = {"horizon_months": 12, "annual_discount_rate": 0.1, "margin": 0.3}
    table = cp.clv_table(by_number, spend, summary, lifetime_years=2, **settings)
    values = covariate_values(by_number, spend, table, summary, **settings)
    shown = values.tables["region"]
    assert list(shown.index) == ["1 (reference)", "2", "10"]
    counts = data["table"]["region"].value_counts()
    assert shown["n_customers"].tolist() == [counts[1], counts[2], counts[10]]
    assert values.baseline["region"] == "1"
    mean_clv = table["predictive_clv"].groupby(summary["region"]).mean()
    np.testing.assert_allclose(shown["mean_predictive_clv"], mean_clv.loc[[1, 2, 10]], rtol=1e-12)


# -- the time unit a pandas join loses -----------------------------------------------------------


def test_a_pandas_join_gives_a_model_without_unit_as_a_plain_fit_does(data):
    summary, table = data["summary"], data["table"][["region", "loyalty"]]
    joined = summary.join(table)
    assert joined.attrs == {} and summary.attrs["time_unit"] == "W"
    settings = {"purchase_covariates": ["region"], "categorical_covariates": ["region"]}
    blind = fit(cp.BetaGeoModel, joined, None, **settings)
    attached = cp.attach_covariates(summary, table)
    known = fit(cp.BetaGeoModel, attached, None, **settings)
    # As the plain model fitted on a summary that records no unit: no time unit ...
    assert blind.time_unit_ is None and known.time_unit_ == "W"
    assert cp.BetaGeoModel().fit(joined).time_unit_ is None
    # ... the same estimates, and the same predictions on the frame it was fitted on, in the
    # frame's own unit.
    pd.testing.assert_series_equal(blind.params_, known.params_)
    pd.testing.assert_series_equal(
        blind.expected_purchases(26.0, joined), known.expected_purchases(26.0, attached)
    )
    # What needs the unit is refused, naming attach_covariates as the fix.
    with pytest.raises(ClvDataError, match=r"does not know its time unit.*attach_covariates"):
        blind.expected_purchases(26.0, attached)
    with pytest.raises(ClvDataError, match=r"do not record their time unit.*attach_covariates"):
        known.expected_purchases(26.0, joined)
    spend = cp.GammaGammaModel().fit(attached)
    with pytest.raises(ClvDataError, match=r"does not know its time unit.*attach_covariates"):
        cp.new_customer_clv(blind, spend, 12, covariates={"region": 2})
    with pytest.raises(ClvDataError, match=r"does not know its time unit.*attach_covariates"):
        cp.clv_table(blind, spend, joined, lifetime_years=2)
    # A plain model's refusal says nothing of covariates.
    plain = cp.BetaGeoModel().fit(joined)
    with pytest.raises(ClvDataError) as refusal:
        plain.expected_purchases(26.0, attached)
    assert "attach_covariates" not in str(refusal.value)

"""new_customer_clv: what a customer acquired today is worth, by covariate profile."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import clvpredict as cp
from clvpredict import ClvDataError
from clvpredict._units import months_to_units
from clvpredict.data import datasets


@pytest.fixture(scope="module")
def fitted():
    log = datasets.load_covariates_transactions()
    summary = cp.rfm_summary(log, "customer_id", "date", "amount", time_unit="W")
    customers = cp.attach_covariates(summary, datasets.load_covariates_customers())
    purchase = cp.BetaGeoModel(
        purchase_covariates=["channel", "loyalty"], dropout_covariates=["loyalty"]
    ).fit(customers)
    spend = cp.GammaGammaModel().fit(customers[customers["frequency"] > 0])
    plain = cp.BetaGeoModel().fit(customers)
    return purchase, spend, plain


def test_undiscounted_value_is_purchases_times_mean_spend_times_margin(fitted):
    _, spend, plain = fitted
    out = cp.new_customer_clv(plain, spend, 36, annual_discount_rate=0.0, margin=0.3)
    purchases = plain.expected_purchases_new_customer(months_to_units(36, "W"))
    p, q, gamma = spend.params_
    assert out["expected_purchases"] == pytest.approx(purchases, rel=1e-13)
    assert out["expected_avg_value"] == pytest.approx(p * gamma / (q - 1), rel=1e-13)
    assert out["new_customer_clv"] == pytest.approx(
        0.3 * purchases * p * gamma / (q - 1), rel=1e-12
    )


def test_discounting_month_by_month_by_hand(fitted):
    _, spend, plain = fitted
    out = cp.new_customer_clv(plain, spend, 24, annual_discount_rate=0.12)
    total, before = 0.0, 0.0
    for month in range(1, 25):
        now = plain.expected_purchases_new_customer(months_to_units(month, "W"))
        total += (now - before) * 1.12 ** (-month / 12)
        before = now
    assert out["new_customer_clv"] == pytest.approx(total * spend.population_mean(), rel=1e-12)


def test_a_table_of_profiles_is_each_profile_on_its_own(fitted):
    purchase, spend, _ = fitted
    profiles = pd.DataFrame(
        {"channel": ["store", "web", "partner"], "loyalty": [0, 1, 0]}, index=["a", "b", "c"]
    )
    table = cp.new_customer_clv(purchase, spend, covariates=profiles, interval=0.9, n_draws=50)
    assert list(table.index) == ["a", "b", "c"]
    for name, profile in profiles.iterrows():
        one = cp.new_customer_clv(purchase.profile_model(dict(profile)), spend)
        assert table.loc[name, "new_customer_clv"] == pytest.approx(one["new_customer_clv"])
        assert (
            table.loc[name, "new_customer_clv_lower"]
            < table.loc[name, "new_customer_clv"]
            < table.loc[name, "new_customer_clv_upper"]
        )
    # Web customers buy more often than store customers in the data's truth (coefficient 0.4).
    assert table.loc["b", "new_customer_clv"] > table.loc["a", "new_customer_clv"]
    assert np.isfinite(table.to_numpy()).all()


def test_covariates_are_required_exactly_when_the_model_has_them(fitted):
    purchase, spend, plain = fitted
    with pytest.raises(ClvDataError, match="channel"):
        cp.new_customer_clv(purchase, spend)
    with pytest.raises(ClvDataError, match="no covariates"):
        cp.new_customer_clv(plain, spend, covariates={"channel": "web"})
    with pytest.raises(ClvDataError, match="'mail'"):
        cp.new_customer_clv(purchase, spend, covariates={"channel": "mail", "loyalty": 0})


def test_a_table_of_many_customers_repeats_the_answer_of_each_profile(fitted):
    purchase, spend, _ = fitted
    customers = datasets.load_covariates_customers().iloc[:400].assign(label="x")
    table = cp.new_customer_clv(purchase, spend, covariates=customers, margin=0.3)
    assert table.index.equals(customers.index)
    for (channel, loyalty), rows in customers.groupby(["channel", "loyalty"]):
        one = cp.new_customer_clv(
            purchase.profile_model({"channel": channel, "loyalty": loyalty}), spend, margin=0.3
        )
        for column in one.index:
            np.testing.assert_allclose(table.loc[rows.index, column], one[column], rtol=1e-13)

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


def test_a_row_of_the_customer_table_is_the_profile_of_its_values(fitted):
    """A pandas Series (customers.loc[id]) is a mapping by its index: the same numbers, to the
    bit, as the dict of its values, in every function that takes one profile."""
    purchase, spend, _ = fitted
    customers = datasets.load_covariates_customers()
    for customer in ("C00001", "C00002"):
        row = customers.loc[customer, ["channel", "loyalty"]]
        assert isinstance(row, pd.Series)
        values = {"channel": row["channel"], "loyalty": int(row["loyalty"])}
        pd.testing.assert_series_equal(
            cp.new_customer_clv(purchase, spend, margin=0.3, covariates=row),
            cp.new_customer_clv(purchase, spend, margin=0.3, covariates=values),
            check_exact=True,
        )
        assert purchase.expected_purchases_new_customer(
            52.0, covariates=row
        ) == purchase.expected_purchases_new_customer(52.0, covariates=values)
        pd.testing.assert_series_equal(
            purchase.probability_of_purchases(np.arange(4), 52.0, covariates=row),
            purchase.probability_of_purchases(np.arange(4), 52.0, covariates=values),
            check_exact=True,
        )
        mine, theirs = purchase.profile_model(row), purchase.profile_model(values)
        pd.testing.assert_series_equal(mine.params_, theirs.params_, check_exact=True)
        pd.testing.assert_frame_equal(mine.covariance_, theirs.covariance_, check_exact=True)
    # A row with a column the model does not use is refused by name, as a dict is.
    with pytest.raises(ClvDataError, match=r"not covariates of the model: \['age_decades'\]"):
        purchase.profile_model(customers.loc["C00001"])


def test_a_polars_table_of_profiles_gives_the_pandas_numbers_by_row_position(fitted):
    pl = pytest.importorskip("polars")
    purchase, spend, _ = fitted
    customers = datasets.load_covariates_customers().iloc[:300]
    expected = cp.new_customer_clv(purchase, spend, margin=0.3, covariates=customers)
    for table in (pl.from_pandas(customers.reset_index()), pl.from_pandas(customers).lazy()):
        got = cp.new_customer_clv(purchase, spend, margin=0.3, covariates=table)
        assert isinstance(got.index, pd.RangeIndex) and len(got) == 300
        pd.testing.assert_frame_equal(got, expected.reset_index(drop=True), check_exact=True)


def test_a_table_given_where_one_profile_goes_points_to_the_functions_for_tables(fitted):
    pl = pytest.importorskip("polars")
    purchase, _, _ = fitted
    table = datasets.load_covariates_customers().head(3)[["channel", "loyalty"]]
    calls = {
        "expected_purchases_new_customer": lambda c: purchase.expected_purchases_new_customer(
            52.0, covariates=c
        ),
        "probability_of_purchases": lambda c: purchase.probability_of_purchases(
            1, 52.0, covariates=c
        ),
        "profile_model": purchase.profile_model,
    }
    for name, call in calls.items():
        for given, kind in ((table, "pandas"), (pl.from_pandas(table), "polars")):
            with pytest.raises(ClvDataError) as refused:
                call(given)
            message = str(refused.value)
            assert f"model.{name}(covariates=...) takes one covariate profile" in message
            assert f"this is a table ({kind})" in message
            assert "clvpredict.new_customer_clv(model, spend_model, covariates=table)" in message
            assert "model.profile_models(table)" in message
            assert "matrices()" not in message
    # A column of values in a dict: the same pointers.
    with pytest.raises(ClvDataError) as refused:
        purchase.expected_purchases_new_customer(
            52.0, covariates={"channel": ["web", "store"], "loyalty": 0}
        )
    message = str(refused.value)
    assert "'channel' must be one value, not list" in message
    assert "model.profile_models(table)" in message and "matrices()" not in message


@pytest.mark.parametrize(
    "model_class", [cp.BetaGeoModel, cp.ModifiedBetaGeoModel, cp.ParetoNBDModel]
)
def test_many_profiles_of_a_numeric_covariate_equal_their_profile_models(model_class):
    """A table of profiles is valued all at once (each profile's parameters, then each horizon
    over all of them): the same numbers as each profile's own model valued alone, for every
    model with covariates, with a numeric covariate that gives most customers a profile of
    their own."""
    log = datasets.load_covariates_transactions()
    summary = cp.rfm_summary(log, "customer_id", "date", "amount", time_unit="W")
    customers = cp.attach_covariates(summary, datasets.load_covariates_customers())
    purchase = model_class(
        purchase_covariates=["channel", "age_decades"], dropout_covariates=["loyalty"]
    ).fit(customers)
    spend = cp.GammaGammaModel().fit(customers[customers["frequency"] > 0])
    profiles = datasets.load_covariates_customers().iloc[::10]
    table = cp.new_customer_clv(purchase, spend, 24, 0.08, 0.3, covariates=profiles)
    assert table.index.equals(profiles.index)
    assert len(profiles.drop_duplicates()) > 100
    models, profile_of = purchase.profile_models(profiles)
    alone = pd.DataFrame(
        [cp.new_customer_clv(model, spend, 24, 0.08, 0.3) for model in models]
    ).iloc[profile_of]
    for column in alone.columns:
        np.testing.assert_allclose(table[column], alone[column], rtol=1e-12)

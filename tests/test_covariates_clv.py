"""CLV of customers with covariates: each customer valued at their own profile's parameters,
by every path (the table, the per-customer interval, the total) and on an engine."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import clvpredict as cp
from clvpredict.data import datasets

COLUMNS = ["channel", "loyalty", "age_decades"]


@pytest.fixture(scope="module")
def setup():
    log = datasets.load_covariates_transactions()
    summary = cp.rfm_summary(log, "customer_id", "date", "amount", time_unit="W")
    customers = cp.attach_covariates(summary, datasets.load_covariates_customers())
    purchase = cp.BetaGeoModel(purchase_covariates=COLUMNS, dropout_covariates=["loyalty"]).fit(
        customers
    )
    spend = cp.GammaGammaModel().fit(customers[customers["frequency"] > 0])
    return log, customers, purchase, spend


def test_each_customer_is_valued_at_their_profile(setup):
    _, customers, purchase, spend = setup
    table = cp.clv_table(purchase, spend, customers, lifetime_years=3)
    assert table.index.equals(customers.index)
    # A few customers of each channel, one at a time through a plain model at their profile.
    picked = customers.groupby("channel", observed=True).head(3).index
    for customer in picked:
        row = customers.loc[[customer]]
        plain = purchase.profile_model(row[COLUMNS].iloc[0].to_dict())
        alone = cp.clv_table(plain, spend, row, lifetime_years=3)
        for column in ("p_alive", "expected_purchases", "predictive_clv"):
            assert table.loc[customer, column] == pytest.approx(alone[column].iloc[0], rel=1e-12), (
                column
            )


def test_the_interval_brackets_the_estimate_and_the_total_adds_up(setup):
    _, customers, purchase, spend = setup
    few = customers.iloc[:400]
    few.attrs = dict(customers.attrs)
    clv = cp.predictive_clv(purchase, spend, few, interval=0.9, n_draws=60, random_state=2)
    inside = (clv["predictive_clv_lower"] <= clv["predictive_clv"]) & (
        clv["predictive_clv"] <= clv["predictive_clv_upper"]
    )
    assert inside.all()
    total = cp.total_clv_interval(purchase, spend, few, n_draws=60, random_state=2)
    assert total.total == pytest.approx(clv["predictive_clv"].sum(), rel=1e-12)
    assert total.lower < total.total < total.upper


def test_a_polars_summary_gives_the_pandas_numbers(setup):
    pl = pytest.importorskip("polars")
    log, customers, purchase, spend = setup
    summary = cp.rfm_summary(pl.from_pandas(log), "customer_id", "date", "amount", time_unit="W")
    covariates = pl.from_pandas(datasets.load_covariates_customers().reset_index())
    joined = summary.join(
        covariates.with_columns(pl.col("channel").cast(pl.String)), on="customer_id"
    )
    table = cp.clv_table(purchase, spend, joined, lifetime_years=3).to_pandas()
    reference = cp.clv_table(purchase, spend, customers, lifetime_years=3)
    table = table.set_index("customer_id").loc[reference.index]
    np.testing.assert_allclose(table["predictive_clv"], reference["predictive_clv"], rtol=1e-12)
    on_engine = cp.total_clv_interval(purchase, spend, joined, n_draws=40, random_state=3)
    in_pandas = cp.total_clv_interval(purchase, spend, customers, n_draws=40, random_state=3)
    assert on_engine.total == pytest.approx(in_pandas.total, rel=1e-12)
    assert (on_engine.lower, on_engine.upper) == pytest.approx(
        (in_pandas.lower, in_pandas.upper), rel=1e-12
    )
    assert isinstance(reference, pd.DataFrame)

"""Covariate models on a Spark summary: the covariates travel with the summary.

The fit receives the distinct (history, covariates) rows counted by Spark; per-customer
predictions and the CLV table are computed on the executors, each customer at their own
profile. Every number must equal the pandas computation on the same customers.
"""

from __future__ import annotations

import numpy as np
import pytest

import clvpredict as cp
from clvpredict.data import datasets

pytest.importorskip("pyspark")

SETTINGS = {
    "purchase_covariates": ["channel", "loyalty", "age_decades"],
    "dropout_covariates": ["loyalty"],
}


@pytest.fixture(scope="module")
def both(spark):
    log = datasets.load_covariates_transactions()
    summary = cp.rfm_summary(log, "customer_id", "date", "amount", time_unit="W")
    # The channel as text on both sides (Spark has no categories): levels in text order.
    table = datasets.load_covariates_customers().astype({"channel": str})
    customers = cp.attach_covariates(summary, table)
    # On Spark: the summary of the log, and the covariate table joined to it there.
    spark_log = spark.createDataFrame(log.assign(date=log["date"].astype(str)))
    spark_summary = cp.rfm_summary(spark_log, "customer_id", "date", "amount", time_unit="W")
    spark_table = spark.createDataFrame(table.reset_index())
    return customers, spark_summary.join(spark_table, on="customer_id")


def test_fit_on_spark_equals_the_pandas_fit(both):
    customers, on_spark = both
    in_pandas = cp.BetaGeoModel(**SETTINGS).fit(customers)
    in_spark = cp.BetaGeoModel(**SETTINGS).fit(on_spark)
    np.testing.assert_allclose(in_spark.params_.to_numpy(), in_pandas.params_.to_numpy(), rtol=1e-9)
    assert in_spark.log_likelihood_ == pytest.approx(in_pandas.log_likelihood_, rel=1e-12)
    assert list(in_spark.params_.index) == list(in_pandas.params_.index)


def test_predictions_and_clv_on_the_executors(both):
    customers, on_spark = both
    purchase = cp.BetaGeoModel(**SETTINGS).fit(customers)
    spend = cp.GammaGammaModel().fit(customers[customers["frequency"] > 0])
    alive = purchase.probability_alive(on_spark).toPandas().set_index("customer_id")
    expected = purchase.probability_alive(customers)
    np.testing.assert_allclose(alive.loc[expected.index, "p_alive"], expected, rtol=1e-12)
    table = cp.clv_table(purchase, spend, on_spark, lifetime_years=3)
    local = cp.clv_table(purchase, spend, customers, lifetime_years=3)
    got = table.toPandas().set_index("customer_id").loc[local.index]
    np.testing.assert_allclose(got["predictive_clv"], local["predictive_clv"], rtol=1e-10)

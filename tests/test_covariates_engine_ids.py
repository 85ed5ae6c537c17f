"""A summary held by another engine than pandas: covariate messages name customers by their id.

A model is fitted on such a summary's distinct rows (the engine groups the customers by history
and covariates), which carry no ids: a missing or infinite covariate is looked up in the engine
to name the customers, as the pandas path names them from the summary's index. Predictions find
the id column wherever the user's join put the covariate columns.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import polars as pl
import pytest
from engine_frames import on_engine, to_pandas

import clvpredict as cp
from clvpredict import ClvDataError
from clvpredict.data.engines import UNIT_COLUMN

ENGINES = ["polars", "polars-lazy", "pyarrow", "duckdb"]
SETTINGS = {"purchase_covariates": ["channel"], "dropout_covariates": ["age_decades"]}
#: Customers without a row in the covariates table: more than a message shows.
ABSENT = ["C00017", "C00043", "C00053", "C00334", "C00393", "C00512", "C00871"]


@pytest.fixture(scope="module")
def shop() -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """The first 1,000 customers of the covariates data set: their purchases, their pandas
    summary, and their covariates with the id as a column and the channel as text."""
    customers = cp.datasets.load_covariates_customers().iloc[:1000]
    log = cp.datasets.load_covariates_transactions()
    log = log[log["customer_id"].isin(customers.index)].reset_index(drop=True)
    summary = cp.rfm_summary(log, "customer_id", "date", "amount", time_unit="W")
    table = customers.reset_index().assign(channel=lambda d: d["channel"].astype(str))
    return log, summary, table


def left_join(summary, customers, engine: str):
    """The user's join in their engine, keeping every customer of the summary."""
    if engine == "pyarrow":
        return summary.join(customers, "customer_id", join_type="left outer")
    if engine == "duckdb":
        return summary.join(customers.set_alias("c"), "customer_id", how="left")
    return summary.join(customers, on="customer_id", how="left")


def message(call) -> str:
    with pytest.raises(ClvDataError) as caught:
        call()
    return str(caught.value)


@pytest.mark.parametrize("engine", ENGINES)
def test_customers_without_covariates_are_named_by_id_as_pandas_names_them(shop, engine):
    log, summary, customers = shop
    some = customers[~customers["customer_id"].isin(ABSENT)]
    engine_summary = cp.rfm_summary(
        on_engine(log, engine), "customer_id", "date", "amount", time_unit="W"
    )
    joined = left_join(engine_summary, on_engine(some, engine), engine)
    got = message(lambda: cp.BetaGeoModel(**SETTINGS).fit(joined))
    # The pandas path: the summary indexed by id, joined the same way, names the ids.
    want = message(
        lambda: cp.BetaGeoModel(**SETTINGS).fit(summary.join(some.set_index("customer_id")))
    )
    assert got == want
    assert got.startswith(
        "Covariate 'channel' is missing for 7 customer(s): 'C00017', 'C00043', 'C00053', "
        "'C00334', 'C00393', ... (2 more)."
    )


def test_a_nan_and_an_infinite_number_are_named_by_id_as_pandas_names_them(shop):
    """polars keeps NaN apart from null: a NaN age is missing too; an infinite one is named."""
    log, summary, customers = shop
    engine_summary = cp.rfm_summary(
        pl.from_pandas(log), "customer_id", "date", "amount", time_unit="W"
    )
    joined = engine_summary.join(pl.from_pandas(customers), on="customer_id", how="left")
    reference = summary.join(customers.set_index("customer_id"))
    for value, ids in ((np.nan, ["C00200", "C00100"]), (np.inf, ["C00300", "C00005"])):
        bad = joined.with_columns(
            pl.when(pl.col("customer_id").is_in(ids))
            .then(pl.lit(value))
            .otherwise(pl.col("age_decades"))
            .alias("age_decades")
        )
        assert bad["age_decades"].is_null().sum() == 0
        pandas_bad = reference.assign(
            age_decades=reference["age_decades"].mask(reference.index.isin(ids), value)
        )
        got = message(lambda bad=bad: cp.BetaGeoModel(**SETTINGS).fit(bad))
        want = message(lambda data=pandas_bad: cp.BetaGeoModel(**SETTINGS).fit(data))
        assert got == want
        assert f"'{min(ids)}', '{max(ids)}'" in got


def test_covariate_columns_before_the_id_column_are_not_taken_for_the_id(shop):
    """A join with the customer table on the left puts its columns first: the fit names the
    customers, and predictions come back by customer id with the pandas path's numbers."""
    log, summary, customers = shop
    engine_summary = cp.rfm_summary(
        pl.from_pandas(log), "customer_id", "date", "amount", time_unit="W"
    )
    first = ["channel", "age_decades"]
    joined = engine_summary.join(pl.from_pandas(customers), on="customer_id", how="left")
    joined = joined.select([*first, *engine_summary.columns])
    missing = joined.with_columns(
        pl.when(pl.col("customer_id") == "C00042")
        .then(None)
        .otherwise(pl.col("channel"))
        .alias("channel")
    )
    assert "missing for 1 customer(s): 'C00042'." in message(
        lambda: cp.BetaGeoModel(**SETTINGS).fit(missing)
    )

    model = cp.BetaGeoModel(**SETTINGS).fit(joined)
    reference = summary.join(customers.set_index("customer_id"))
    reference.attrs = dict(summary.attrs)
    spend = cp.GammaGammaModel().fit(summary)
    for got, want in (
        (model.probability_alive(joined), model.probability_alive(reference).to_frame()),
        (
            cp.clv_table(model, spend, joined, lifetime_years=3),
            cp.clv_table(model, spend, reference, lifetime_years=3),
        ),
    ):
        assert isinstance(got, pl.DataFrame)
        rows = to_pandas(got, "customer_id").drop(columns=[UNIT_COLUMN], errors="ignore")
        want = want.sort_index()
        assert rows.index.tolist() == want.index.tolist()
        for column in rows.columns:
            np.testing.assert_allclose(
                rows[column].to_numpy(float), want[column].to_numpy(float), rtol=1e-12, atol=0
            )
    # A prediction on the summary with a missing covariate names the customer too.
    assert "missing for 1 customer(s): 'C00042'." in message(
        lambda: model.probability_alive(missing)
    )

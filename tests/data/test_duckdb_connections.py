"""What clvpredict computes from a DuckDB relation stays on that relation's connection.

DuckDB refuses to combine relations of two connections ("Cannot combine LEFT and RIGHT relations
of different connections!"). A user whose log and customer table live in their own connection (an
in-memory one, or a file-backed warehouse) must be able to join clvpredict's summaries and
predictions to that table: the results are built on the log's connection, not DuckDB's default
one, and their numbers are the pandas path's.
"""

from __future__ import annotations

import duckdb
import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
from engine_frames import to_pandas

import clvpredict as cp
from clvpredict.data.engines import UNIT_COLUMN

CUSTOMERS = 1000
#: DuckDB before 2.0 (the lowest version declared is 1.3).
OLD_DUCKDB = int(duckdb.__version__.split(".")[0]) < 2
CALIBRATION_END = "2025-01-01"
SETTINGS = {"purchase_covariates": ["channel"], "dropout_covariates": ["loyalty", "age_decades"]}


@pytest.fixture(scope="module")
def shop() -> tuple[pd.DataFrame, pd.DataFrame]:
    """The first 1,000 customers of the covariates data set: their purchases, and their
    covariates with the id as a column and the channel as text (as a warehouse holds them)."""
    customers = cp.datasets.load_covariates_customers().iloc[:CUSTOMERS]
    log = cp.datasets.load_covariates_transactions()
    log = log[log["customer_id"].isin(customers.index)].reset_index(drop=True)
    table = customers.reset_index().assign(channel=lambda d: d["channel"].astype(str))
    return log, table


def connection(where: str, log: pd.DataFrame, customers: pd.DataFrame, tmp_path):
    """A connection that is not DuckDB's default one, holding tables ``log`` and ``customers``:
    in memory, or a database file opened again read-only."""
    con = duckdb.connect() if where == "memory" else duckdb.connect(str(tmp_path / "shop.db"))
    for name, frame in (("log", log), ("customers", customers)):
        con.from_arrow(pa.Table.from_pandas(frame, preserve_index=False)).to_table(name)
    if where == "memory":
        return con
    con.close()
    return duckdb.connect(str(tmp_path / "shop.db"), read_only=True)


def with_customers(relation, con):
    """``relation`` joined to the connection's customer table (raises if on another one)."""
    return relation.join(con.table("customers").set_alias("c"), "customer_id")


def tables(con) -> list:
    return con.sql("SELECT schema_name, table_name FROM duckdb_tables() ORDER BY 2").fetchall()


def assert_equal_frames(got: pd.DataFrame, want: pd.DataFrame) -> None:
    """Same customers and columns; counts equal, other numbers to 1e-12 (NaN where NaN)."""
    assert got.index.tolist() == want.index.tolist()
    assert list(got.columns) == list(want.columns)
    for column in want.columns:
        if pd.api.types.is_integer_dtype(want[column]):
            np.testing.assert_array_equal(got[column].to_numpy(), want[column].to_numpy())
        else:
            np.testing.assert_allclose(
                got[column].to_numpy(float), want[column].to_numpy(float), rtol=1e-12, atol=0
            )


@pytest.mark.parametrize("where", ["memory", "file read-only"])
def test_summaries_of_a_relation_join_its_connections_tables_with_pandas_numbers(
    shop, where, tmp_path, caplog
):
    log, customers = shop
    con = connection(where, log, customers, tmp_path)
    before = tables(con)
    relation = con.table("log")
    with caplog.at_level("WARNING", logger="clvpredict.data.engines"):
        whole = cp.rfm_summary(relation, "customer_id", "date", "amount", time_unit="W")
        split = cp.calibration_holdout_summary(
            relation,
            "customer_id",
            "date",
            calibration_end=CALIBRATION_END,
            monetary_value_col="amount",
            time_unit="W",
        )
    if where == "file read-only" and OLD_DUCKDB:
        # DuckDB 1.x queries a relation through a view, which a read-only database refuses:
        # the results fall back to the default connection, and the warning says so.
        assert "its database is read-only" in caplog.text
        join_to = duckdb.default_connection()
        join_to.from_arrow(pa.Table.from_pandas(customers, preserve_index=False)).create_view(
            "customers", replace=True
        )
    else:
        assert "default connection" not in caplog.text
        join_to = con
    references = (
        cp.rfm_summary(log, "customer_id", "date", "amount", time_unit="W"),
        cp.calibration_holdout_summary(
            log,
            "customer_id",
            "date",
            calibration_end=CALIBRATION_END,
            monetary_value_col="amount",
            time_unit="W",
        ),
    )
    for summary, reference in zip((whole, split), references, strict=True):
        assert isinstance(summary, duckdb.DuckDBPyRelation)
        joined = to_pandas(with_customers(summary, join_to), "customer_id")
        assert (joined.pop(UNIT_COLUMN) == "W").all()
        # Every customer of the summary found its row of the connection's table.
        assert (
            joined.pop("channel").tolist()
            == customers.set_index("customer_id").loc[reference.index, "channel"].tolist()
        )
        joined = joined.drop(columns=["loyalty", "age_decades"])
        assert_equal_frames(joined, reference.sort_index())
    # Nothing was left in the user's database (the checkpoints are Arrow tables in memory).
    assert tables(con) == before
    con.close()


def test_fit_and_predictions_on_a_relation_of_an_own_connection_equal_pandas(shop):
    log, customers = shop
    con = connection("memory", log, customers, None)
    summary = cp.rfm_summary(con.table("log"), "customer_id", "date", "amount", time_unit="W")
    # The user's own join, in DuckDB, of the summary and their customer table.
    joined = with_customers(summary, con)
    model = cp.BetaGeoModel(**SETTINGS).fit(joined)

    reference_summary = cp.rfm_summary(log, "customer_id", "date", "amount", time_unit="W")
    by_id = customers.set_index("customer_id")
    reference = cp.BetaGeoModel(**SETTINGS).fit(reference_summary, covariates=by_id)
    assert model.converged_ and reference.converged_
    assert model.params_.index.tolist() == reference.params_.index.tolist()
    np.testing.assert_allclose(model.params_, reference.params_, rtol=1e-9, atol=1e-12)
    assert model.log_likelihood_ == pytest.approx(reference.log_likelihood_, rel=1e-12)

    # The same model scores the same customers alike from DuckDB and from pandas.
    spend = cp.GammaGammaModel().fit(reference_summary)
    with_covariates = cp.attach_covariates(reference_summary, by_id)
    results = {
        "p_alive": (
            model.probability_alive(joined),
            model.probability_alive(with_covariates).to_frame(),
        ),
        "clv_table": (
            cp.clv_table(model, spend, joined, lifetime_years=3),
            cp.clv_table(model, spend, with_covariates, lifetime_years=3),
        ),
    }
    for name, (got, want) in results.items():
        assert isinstance(got, duckdb.DuckDBPyRelation), name
        # Back on the user's connection: it joins their table, in DuckDB.
        rows = to_pandas(with_customers(got, con), "customer_id")
        rows = rows.drop(
            columns=["channel", "loyalty", "age_decades", UNIT_COLUMN], errors="ignore"
        )
        assert_equal_frames(rows, want.sort_index()[list(rows.columns)])
    # The other DuckDB results of a summary: segments and the at-risk list join as well.
    table = results["clv_table"][0]
    at_risk = cp.at_risk_customers(model, table, lookback=8, covariates=by_id)
    for got in (cp.rfm_segments(summary), at_risk):
        assert isinstance(got, duckdb.DuckDBPyRelation)
        assert with_customers(got, con).aggregate("count(*)").fetchall()[0][0] > 0
    assert with_customers(table, con).aggregate("count(*)").fetchall() == [(CUSTOMERS,)]
    con.close()


def test_holdout_predictions_of_a_relation_join_its_connection(shop):
    log, customers = shop
    con = connection("memory", log, customers, None)
    settings = dict(calibration_end=CALIBRATION_END, monetary_value_col="amount", time_unit="W")
    split = cp.calibration_holdout_summary(con.table("log"), "customer_id", "date", **settings)
    reference_split = cp.calibration_holdout_summary(log, "customer_id", "date", **settings)
    model = cp.BetaGeoModel().fit(reference_split)
    got = cp.evaluate_holdout(model, split).predictions
    want = cp.evaluate_holdout(model, reference_split).predictions
    rows = to_pandas(with_customers(got, con), "customer_id")
    want = want.sort_index()
    assert rows.index.tolist() == want.index.tolist()
    np.testing.assert_array_equal(rows["actual"].to_numpy(float), want["actual"].to_numpy(float))
    np.testing.assert_allclose(rows["predicted"], want["predicted"], rtol=1e-12, atol=0)
    con.close()


def test_without_python_scans_results_fall_back_to_the_default_connection(shop, caplog):
    """A connection that does not read Python objects by name still gets the summary (on the
    default connection, as before), with a warning that says why joins will be refused."""
    log, customers = shop
    con = connection("memory", log, customers, None)
    con.execute("SET python_enable_replacements = false")
    with caplog.at_level("WARNING", logger="clvpredict.data.engines"):
        summary = cp.rfm_summary(con.table("log"), "customer_id", "date", "amount", time_unit="W")
    assert "python_enable_replacements is off" in caplog.text
    assert "default connection" in caplog.text
    got = to_pandas(summary, "customer_id").drop(columns=[UNIT_COLUMN])
    assert_equal_frames(got, cp.rfm_summary(log, "customer_id", "date", "amount", time_unit="W"))
    con.close()

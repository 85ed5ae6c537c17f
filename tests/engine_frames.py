"""Logs and summaries moved between engines, for the tests that run one case on every engine."""

from __future__ import annotations

import duckdb
import numpy as np
import pandas as pd
import polars as pl
import pyarrow as pa

from clvpredict.data.engines import frame_kind

#: The small tables of a HoldoutEvaluation, pandas on every engine.
SMALL_TABLES = ("metrics", "totals", "by_frequency", "by_recency", "spend")


def on_engine(frame: pd.DataFrame, engine: str):
    """The pandas log ``frame`` as a native frame of ``engine``."""
    table = pa.Table.from_pandas(frame, preserve_index=False)
    if engine == "pyarrow":
        return table
    if engine == "duckdb":
        return duckdb.from_arrow(table)
    if engine == "spark":
        import pyspark
        from pyspark.sql import SparkSession

        session = SparkSession.getActiveSession()
        if int(pyspark.__version__.split(".")[0]) >= 4:
            # From the Arrow table: the types are Arrow's, not guessed per row.
            return session.createDataFrame(table)
        # pyspark 3.5 takes pandas only; the session converts it through Arrow, with no
        # fallback to the row-by-row path (see the spark fixture).
        return session.createDataFrame(table.to_pandas())
    polars = pl.from_arrow(table)
    return polars.lazy() if engine == "polars-lazy" else polars


def to_pandas(result, id_col: str) -> pd.DataFrame:
    """A summary of any kind as pandas indexed by customer, for comparison."""
    if isinstance(result, pl.LazyFrame):
        result = result.collect()
    if isinstance(result, duckdb.DuckDBPyRelation):
        result = result.arrow()
        result = result.read_all() if hasattr(result, "read_all") else result
    # Spark through Arrow (the fixture's setting); toArrow would need pyspark 4.
    frame = result.toPandas() if frame_kind(result) == "spark" else result.to_pandas()
    return frame.set_index(id_col).sort_index()


def assert_same_evaluation(want, got) -> None:
    """Every small table equal to the pandas path's: same index, columns, dtypes and attrs,
    integer columns exact, floats to 1e-12 relative (NaN where the pandas path has NaN)."""
    assert (got.model, got.time_unit) == (want.model, want.time_unit)
    assert got.duration_holdout == want.duration_holdout
    for name in SMALL_TABLES:
        expected, table = getattr(want, name), getattr(got, name)
        if expected is None:
            assert table is None, name
            continue
        assert isinstance(table, pd.DataFrame), name
        pd.testing.assert_index_equal(table.index, expected.index)
        assert list(table.columns) == list(expected.columns), name
        assert table.attrs == expected.attrs, name
        for column in expected.columns:
            have, wanted = table[column].to_numpy(), expected[column].to_numpy()
            assert have.dtype == wanted.dtype, (name, column)
            if wanted.dtype.kind in "iub":
                np.testing.assert_array_equal(have, wanted, err_msg=f"{name}.{column}")
            else:
                np.testing.assert_allclose(
                    have, wanted, rtol=1e-12, atol=0, err_msg=f"{name}.{column}"
                )


def assert_same_predictions(want: pd.DataFrame, got, id_col: str = "customer_id") -> None:
    """The per-customer table of an engine, collected, equals the pandas one customer by
    customer: counts and bins exact, forecasts to 1e-12."""
    table = to_pandas(got, id_col)
    expected = want.sort_index()
    assert list(table.columns) == list(expected.columns)
    assert table.index.tolist() == expected.index.tolist()
    for column in expected.columns:
        have, wanted = table[column].to_numpy(), expected[column].to_numpy()
        if wanted.dtype.kind in "iuO" or column.endswith("_bin"):
            assert have.tolist() == wanted.tolist(), column
        else:
            np.testing.assert_allclose(have, wanted, rtol=1e-12, atol=0, err_msg=column)


#: pyspark DataFrame methods that bring rows to the driver (narwhals collects with toArrow on
#: pyspark 4 and _collect_as_arrow on 3.5; toPandas, collect, take, head and tail are the rest).
COLLECTING = ("toArrow", "_collect_as_arrow", "toPandas", "collect", "take", "head", "tail")


class Collected:
    """Every collection of a Spark DataFrame to the driver: its columns and how many rows."""

    def __init__(self) -> None:
        self.frames: list[tuple[list[str], int]] = []
        self.depth = 0

    def rows_with(self, column: str) -> list[int]:
        return [rows for columns, rows in self.frames if column in columns]


def count_collections(spark, monkeypatch) -> Collected:
    """Count the rows of every collection of a Spark DataFrame on the driver from now until
    ``monkeypatch`` is undone (the end of the test). A method called by another of them (head
    calls collect) is counted once, by the outer one."""
    record = Collected()
    frame_class = type(spark.range(1))
    for name in COLLECTING:
        method = getattr(frame_class, name, None)
        if method is None:
            continue

        def counting(self, *args, __method=method, **kwargs):
            if record.depth:  # called by another of these methods: counted there
                return __method(self, *args, **kwargs)
            record.depth += 1
            try:
                out = __method(self, *args, **kwargs)
            finally:
                record.depth -= 1
            if isinstance(out, list) and out and hasattr(out[0], "num_rows"):
                rows = sum(batch.num_rows for batch in out)  # Arrow record batches
            elif isinstance(out, list):
                rows = len(out)
            elif hasattr(out, "num_rows"):  # an Arrow table
                rows = out.num_rows
            elif isinstance(out, pd.DataFrame):
                rows = len(out)
            elif out is None or isinstance(out, tuple):  # head() or first(): one Row or none
                rows = 0 if out is None else 1
            else:
                raise AssertionError(f"{type(out).__name__} from a collection: count its rows")
            record.frames.append((list(self.columns), rows))
            return out

        monkeypatch.setattr(frame_class, name, counting)
    return record

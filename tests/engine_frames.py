"""Logs and summaries moved between engines, for the tests that run one case on every engine."""

from __future__ import annotations

import duckdb
import pandas as pd
import polars as pl
import pyarrow as pa

from clvpredict.data.engines import frame_kind


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

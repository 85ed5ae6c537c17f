"""Frames of any engine: which kind the caller gave, a narwhals view of it, and the way back.

clvpredict computes its summaries where the data live. A pandas DataFrame, a polars DataFrame or
LazyFrame, a pyarrow Table, a DuckDB relation and a PySpark DataFrame are all read through
`narwhals <https://narwhals-dev.github.io/narwhals/>`_, so one implementation of each summary runs
on every engine, and the result comes back in the caller's own kind: polars in, polars out; a
DuckDB relation or a Spark DataFrame stays in its engine and is not collected.

Summaries in another kind than pandas cannot carry ``DataFrame.attrs``; they carry the unit of
``recency`` and ``T`` in a constant column ``time_unit`` instead (see :func:`summary_unit`), which
survives joins, filters and being written to a file.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Collection, Iterator, Sequence
from typing import Any

import narwhals.stable.v2 as nw
import pandas as pd
import pyarrow as pa

from .._units import UNIT_COLUMN, recorded_unit, single_unit
from ..exceptions import ClvDataError

logger = logging.getLogger("clvpredict.data.engines")

__all__ = [
    "SPARK_BACKENDS",
    "SUMMARY_COLUMNS",
    "TABLE_COLUMNS",
    "UNIT_COLUMN",
    "backend",
    "checkpoint",
    "collect_summary",
    "count_true",
    "frame_kind",
    "head_rows",
    "histories",
    "is_engine_frame",
    "map_summary_batches",
    "scalars",
    "single_unit",
    "summary_id_column",
    "summary_unit",
    "table_to_kind",
    "to_caller",
]

#: Kinds that are collected in this process (eager), as opposed to queries run by an engine.
EAGER_KINDS = ("pandas", "polars", "pyarrow")
#: narwhals backends that are Spark (or speak its SQL): one kind, "spark", for clvpredict.
SPARK_BACKENDS = ("pyspark", "pyspark[connect]", "sqlframe")


def backend(frame: nw.DataFrame | nw.LazyFrame) -> str:
    """The engine of a narwhals frame: its backend's name, with every Spark one named "spark"."""
    name = str(frame.implementation)
    return "spark" if name in SPARK_BACKENDS else name


def frame_kind(obj: Any) -> str | None:
    """``"pandas"``, ``"polars"``, ``"polars-lazy"``, ``"pyarrow"``, ``"duckdb"``, ``"spark"``
    (or another narwhals backend's name) for a frame; ``None`` for anything else."""
    if isinstance(obj, pd.DataFrame):
        return "pandas"
    try:
        frame = nw.from_native(obj)
    except TypeError:
        return None
    if not isinstance(frame, nw.DataFrame | nw.LazyFrame):
        return None
    name = backend(frame)
    if name == "polars" and isinstance(frame, nw.LazyFrame):
        return "polars-lazy"
    return name


def release(frame: Any) -> None:
    """Free what :func:`checkpoint` (or a Spark ``cache()``) holds for ``frame``.

    Spark keeps a cached table on the executors until it is unpersisted, however long the
    session runs; the frame can still be read afterwards (computed again from its sources).
    The other engines' checkpoints are in this process's memory and go with their objects:
    nothing to do.
    """
    if frame_kind(frame) == "spark":
        native = frame.to_native() if isinstance(frame, nw.LazyFrame | nw.DataFrame) else frame
        native.unpersist()


def checkpoint(frame: nw.LazyFrame) -> nw.LazyFrame:
    """A query computed once, for several later queries to read without running it again.

    polars collects it (with its streaming engine) into memory; DuckDB fetches it as an Arrow
    table and reads that back (a relation is a query, run again at every read); Spark caches it
    on the executors.
    """
    name = backend(frame)
    if name == "polars":
        return nw.from_native(frame.to_native().collect(engine="streaming").lazy())
    if name == "spark":
        return nw.from_native(frame.to_native().cache())
    if name == "duckdb":
        relation = frame.to_native()
        # to_arrow_table from DuckDB 1.4; the older name warns from then on.
        fetch = getattr(relation, "to_arrow_table", None) or relation.fetch_arrow_table
        return nw.from_native(duckdb_relation(fetch(), relation))
    return frame.collect().lazy()


def is_engine_frame(obj: Any) -> bool:
    """Whether ``obj`` is a frame of an engine other than pandas that narwhals reads."""
    kind = frame_kind(obj)
    return kind is not None and kind != "pandas"


def as_lazy(obj: Any) -> nw.LazyFrame:
    """A narwhals LazyFrame over a native frame of any supported kind (no copy, no collect)."""
    frame = nw.from_native(obj)
    return frame.lazy() if isinstance(frame, nw.DataFrame) else frame


def to_caller(
    frame: nw.LazyFrame | nw.DataFrame, kind: str, *, sort_by: str | list[str] | None = None
) -> Any:
    """``frame`` as the caller's kind: collected for eager kinds (sorted by ``sort_by``, since
    group-bys in most engines return groups in no set order), left lazy for engines."""
    if kind in EAGER_KINDS:
        eager = frame.collect() if isinstance(frame, nw.LazyFrame) else frame
        if sort_by is not None:
            eager = eager.sort(sort_by)
        if kind == "pyarrow":
            return eager.to_arrow()
        if kind == "polars":
            return eager.to_polars()
        return eager.to_pandas()
    lazy = frame.lazy() if isinstance(frame, nw.DataFrame) else frame
    return lazy.to_native()


def _python(value: Any) -> Any:
    """A plain Python value (older narwhals hand back pyarrow scalars, which are always true)."""
    return value.as_py() if hasattr(value, "as_py") else value


def count_true(condition: Any) -> Any:
    """Rows where a boolean expression holds (Spark sums numbers only, not booleans)."""
    return condition.cast(nw.Int64).sum()


def scalars(frame: nw.DataFrame | nw.LazyFrame, *exprs: Any) -> tuple[Any, ...]:
    """The one row of an aggregate query, run by the frame's engine, as Python values."""
    out = frame.select(*exprs)
    if isinstance(out, nw.LazyFrame):
        out = out.collect()
    return tuple(_python(v) for v in out.row(0))


def head_rows(frame: nw.DataFrame | nw.LazyFrame, n: int = 5) -> list[tuple[Any, ...]]:
    """The first ``n`` rows of a query, as tuples of Python values."""
    out = frame.head(n)
    if isinstance(out, nw.LazyFrame):
        out = out.collect()
    return [tuple(_python(v) for v in row) for row in out.rows()]


def summary_unit(data: Any) -> str | None:
    """The time unit a summary records: ``attrs["time_unit"]`` (pandas) or the one value of its
    ``time_unit`` column (other kinds); ``None`` when it records none."""
    if isinstance(data, pd.DataFrame) or not is_engine_frame(data):
        return recorded_unit(data)
    lazy = as_lazy(data)
    if UNIT_COLUMN not in lazy.collect_schema().names():
        return None
    # The smallest and largest value tell a constant column in one aggregate, on any engine.
    lowest, highest = scalars(
        lazy, nw.col(UNIT_COLUMN).min().alias("lo"), nw.col(UNIT_COLUMN).max().alias("hi")
    )
    return single_unit(pd.Series([lowest, highest]))


#: Columns of clvpredict's summaries and tables; any other column of a summary names customers.
SUMMARY_COLUMNS = frozenset(
    {
        "frequency",
        "recency",
        "T",
        "monetary_value",
        "avg_order_value",
        "frequency_holdout",
        "monetary_value_holdout",
        "duration_holdout",
        UNIT_COLUMN,
    }
)


#: The columns of a clv_table and of the customers at risk (a summary's, and the predictions');
#: any other column of an engine's table names the customers.
TABLE_COLUMNS = SUMMARY_COLUMNS | frozenset(
    {
        "p_alive",
        "expected_purchases",
        "expected_purchases_holdout",
        "expected_avg_value",
        "predictive_clv",
        "predictive_clv_lower",
        "predictive_clv_upper",
        "simple_clv",
        "p_alive_before",
        "p_alive_change",
        "time_since_last_purchase",
    }
)


def summary_id_column(names: Sequence[str], others: Collection[str] = ()) -> str | None:
    """The customer id column of an engine's summary with columns ``names``: its first column
    that is neither a summary column nor one of ``others`` (covariate columns joined to it,
    wherever the join put them); ``None`` when it has none."""
    return next((n for n in names if n not in SUMMARY_COLUMNS and n not in others), None)


def histories(data: Any, columns: list[str], weights: Any = None) -> pd.DataFrame:
    """The distinct rows of ``columns`` in a summary of any engine, with how many customers
    share each (or the sum of a ``weights`` column), computed by the engine.

    This is all a model needs to be fitted: the likelihood is a weighted sum over distinct
    histories, so a million customers come to this process as a few hundred thousand rows,
    never one row per customer. The result is pandas with a ``weight`` column and
    ``attrs["time_unit"]`` from the summary; a ``Categorical`` column comes as text, an
    ``Enum`` as a pandas category of its declared order.
    """
    lazy = as_lazy(data)
    schema = lazy.collect_schema()
    names = schema.names()
    missing = [c for c in columns if c not in names]
    if missing:
        raise ClvDataError(
            f"Column(s) {missing} are required but missing (data has columns {names}). Pass a "
            "summary from rfm_summary."
        )
    if weights is not None and not isinstance(weights, str):
        raise ClvDataError(
            "With a summary held by another engine than pandas, give weights as the name of "
            "one of its columns (weights='n'), not as an array."
        )
    if isinstance(weights, str) and weights not in names:
        raise ClvDataError(f"weights={weights!r} is not a column of the data ({names}).")
    weight = nw.col(weights).sum() if weights else nw.len()
    # A Categorical (polars; an Arrow dictionary) declares no order of its levels, and pandas
    # would get them in the order first seen: it comes back as text. An Enum keeps its order.
    undeclared = [c for c in columns if schema[c] == nw.Categorical]
    if undeclared:
        lazy = lazy.with_columns(nw.col(*undeclared).cast(nw.String))
    out = (
        lazy.group_by(list(columns))
        .agg(weight.alias("weight"))
        .with_columns(nw.col("weight").cast(nw.Float64))
    )
    frame = to_caller(out, "pandas", sort_by=list(columns))
    unit = summary_unit(data)
    if unit is not None:
        frame.attrs["time_unit"] = unit
    return frame


def collect_summary(data: Any, others: Collection[str] = ()) -> tuple[pd.DataFrame, str | None]:
    """A summary of any engine as pandas indexed by its customer id column, with
    ``attrs["time_unit"]``, and the name of that column (``None`` when it has none); columns
    ``others`` (a model's covariates) are never taken for the id.

    For predictions, which are one number per customer and so come to this process anyway.
    """
    lazy = as_lazy(data)
    ident = summary_id_column(lazy.collect_schema().names(), others)
    frame = to_caller(lazy, "pandas")
    # Read from the collected table: asking the engine too would run the summary once more.
    unit = summary_unit(frame)
    if ident is not None:
        frame = frame.set_index(ident)
    frame = frame.drop(columns=[UNIT_COLUMN], errors="ignore")
    if unit is not None:
        frame.attrs["time_unit"] = unit
    return frame, ident


def table_to_kind(table: pd.DataFrame, kind: str, id_name: str | None, source: Any = None) -> Any:
    """A per-customer pandas table (indexed by customer) as a frame of ``kind``, the id in a
    column, in the caller's engine. For a query engine (DuckDB), the table is handed to it from
    Arrow without a copy, on the connection of ``source`` (the caller's relation; DuckDB's
    default connection without one)."""
    flat = table.reset_index() if id_name is not None else table.reset_index(drop=True)
    flat.attrs = {}
    if kind == "pandas":
        return table
    if kind in ("polars", "polars-lazy", "pyarrow"):
        frame = nw.from_native(pa_table(flat), eager_only=True)
        if kind == "pyarrow":
            return frame.to_native()
        polars_frame = frame.to_polars()
        return polars_frame.lazy() if kind == "polars-lazy" else polars_frame
    if kind == "duckdb":
        if source is None:
            import duckdb

            return duckdb.from_arrow(pa_table(flat))
        return duckdb_relation(pa_table(flat), source)
    raise ClvDataError(
        f"Per-customer tables of a {kind} summary are made on its executors "
        "(map_summary_batches), not collected."
    )


def duckdb_relation(table: pa.Table, like: Any) -> Any:
    """The Arrow ``table`` as a DuckDB relation on the connection of the relation ``like``.

    DuckDB refuses to combine relations of two connections, so what clvpredict hands back from a
    user's relation must be on that relation's connection (a file-backed warehouse, say), not on
    DuckDB's default one, for the user to join it to their tables. DuckDB has no public way to
    ask a relation for its connection; a query of ``like`` runs on it, and reads ``table`` by
    its Python name (DuckDB's scan of Python objects). ``like`` is only bound, never run.
    Where that cannot be done, the table goes to DuckDB's default connection, as it did before,
    with a warning that says why: the scan is turned off (``SET python_enable_replacements =
    false``), or the database is read-only and DuckDB older than 2.0 runs the query through a
    view it cannot create there.
    """
    import duckdb

    clvpredict_arrow_rows = table  # noqa: F841 (read by name in the query below)
    try:
        return like.query("clvpredict_like", "FROM clvpredict_arrow_rows")
    except duckdb.CatalogException:
        why = "it does not read Python objects by name (python_enable_replacements is off)"
        fix = "Turn the setting on"
    except duckdb.Error as exc:
        if "read-only" not in str(exc):
            raise
        why = f"its database is read-only, where DuckDB {duckdb.__version__} cannot query it"
        fix = "Use DuckDB 2.0 or later, or open the database read-write,"
    logger.warning(
        "clvpredict's result is on DuckDB's default connection, not on this relation's: %s. "
        "Joins to this connection's tables are refused. %s to get results on this connection.",
        why,
        fix,
    )
    return duckdb.from_arrow(table)


def pa_table(frame: pd.DataFrame) -> pa.Table:
    return pa.Table.from_pandas(frame, preserve_index=False)


def id_column(
    columns: Sequence[str], given: str | None, known: Collection[str], what: str = "summary"
) -> str:
    """The customer id column of an engine's ``what`` (a summary, a CLV table) with these
    ``columns``: ``given`` (checked), or its one column that is not among the ``known`` ones."""
    columns = list(columns)
    if given is not None:
        if given not in columns:
            raise ClvDataError(
                f"customer_id_col={given!r} is not a column of the {what}; it has {columns}."
            )
        return given
    others = [c for c in columns if c not in known]
    if len(others) != 1:
        raise ClvDataError(
            f"Cannot tell the customer id column of the {what} among {others or columns}: "
            "pass customer_id_col=."
        )
    return others[0]


def _spark_type(dtype: Any) -> str:
    """The Spark SQL type of a scored column."""
    if dtype.kind in "iu":
        return "bigint"
    if dtype.kind == "b":
        return "boolean"
    if dtype.kind == "f":
        return "double"
    raise ClvDataError(f"A score of type {dtype} has no Spark type here.")


def map_summary_batches(
    summary: Any,
    score: Callable[[pd.DataFrame], pd.DataFrame],
    customer_id_col: str | None = None,
    other_columns: Collection[str] = (),
) -> Any:
    """Score a Spark summary on the executors, batch by batch (``mapInPandas``).

    ``score`` takes a pandas summary indexed by customer id, its unit in ``attrs["time_unit"]``,
    and returns one row per customer, indexed the same way; it travels to the executors pickled,
    with what it refers to (the fitted models). Every column of its result must depend only on
    the customer's own row, so that batches give what one process would. Returns a Spark
    DataFrame: the id column, then the result's columns; nothing is computed until it is
    written or collected. ``other_columns``: columns the score reads besides the summary's own
    (a covariate model's covariates), which are not candidates for the id column.
    """
    columns = list(summary.columns)
    id_col = id_column(columns, customer_id_col, SUMMARY_COLUMNS | set(other_columns))
    if UNIT_COLUMN not in columns:
        raise ClvDataError(
            f"The summary has no {UNIT_COLUMN!r} column stating the unit of recency and T; "
            "build it with clvpredict.rfm_summary or calibration_holdout_summary."
        )
    # One customer, scored on the driver, gives the unit and the result's columns and types. A
    # summary that is a query (not yet written or cached) is computed for it, once more than for
    # the scoring; every batch then checks that its rows are in the same unit.
    sample = nw.from_native(summary).head(1).collect().to_pandas()
    if len(sample) == 0:
        raise ClvDataError("The summary is empty: there are no customers to score.")
    unit = summary_unit(sample)

    def scored(batch: pd.DataFrame) -> pd.DataFrame:
        # Refuses a batch in another unit than the sample's, as a table mixing units.
        single_unit(pd.concat([pd.Series([unit]), batch[UNIT_COLUMN]], ignore_index=True))
        rfm = batch.drop(columns=[UNIT_COLUMN]).set_index(id_col)
        # Spark does not carry pandas attrs: the unit comes from the summary's column.
        rfm.attrs["time_unit"] = unit
        table = score(rfm)
        table.index.name = id_col
        return table.reset_index()

    example = scored(sample)
    out_columns = [c for c in example.columns if c != id_col]
    dtypes = {c: example[c].dtype for c in out_columns}
    id_type = summary.schema[id_col].dataType.simpleString()
    schema = ", ".join(
        [f"`{id_col}` {id_type}"] + [f"`{c}` {_spark_type(dtypes[c])}" for c in out_columns]
    )

    def score_batches(batches: Iterator[pd.DataFrame]) -> Iterator[pd.DataFrame]:
        for batch in batches:
            if len(batch) == 0:
                continue
            table = scored(batch)
            # A column the score adds only for some data (clv_table's holdout forecast, when
            # every duration is equal) is missing (NaN) in a batch without it, never shifted.
            table = table.reindex(columns=[id_col, *out_columns])
            yield table.astype(dtypes)

    return summary.mapInPandas(score_batches, schema)

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

from typing import Any

import narwhals.stable.v2 as nw
import pandas as pd

from ..exceptions import ClvDataError

__all__ = [
    "UNIT_COLUMN",
    "count_true",
    "frame_kind",
    "head_rows",
    "is_engine_frame",
    "scalars",
    "summary_unit",
    "to_caller",
]

#: Column that states the time unit of a summary in a kind without ``attrs``.
UNIT_COLUMN = "time_unit"

#: Kinds that are collected in this process (eager), as opposed to queries run by an engine.
EAGER_KINDS = ("pandas", "polars", "pyarrow")


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
    name = str(frame.implementation)
    if name in ("pyspark", "pyspark[connect]", "sqlframe"):
        return "spark"
    if name == "polars" and isinstance(frame, nw.LazyFrame):
        return "polars-lazy"
    return name


def is_engine_frame(obj: Any) -> bool:
    """Whether ``obj`` is a frame of an engine other than pandas that narwhals reads."""
    kind = frame_kind(obj)
    return kind is not None and kind != "pandas"


def as_lazy(obj: Any) -> nw.LazyFrame:
    """A narwhals LazyFrame over a native frame of any supported kind (no copy, no collect)."""
    frame = nw.from_native(obj)
    return frame.lazy() if isinstance(frame, nw.DataFrame) else frame


def to_caller(frame: nw.LazyFrame | nw.DataFrame, kind: str, *, sort_by: str | None = None) -> Any:
    """``frame`` as the caller's kind: collected for eager kinds (sorted by ``sort_by``, since
    group-bys in most engines return groups in no set order), left lazy for engines."""
    if kind in EAGER_KINDS or kind == "pandas":
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
    attrs = getattr(data, "attrs", None)
    if isinstance(attrs, dict) and attrs.get("time_unit") is not None:
        return attrs["time_unit"]
    if isinstance(data, pd.DataFrame):
        return _unit_of_column(data[UNIT_COLUMN]) if UNIT_COLUMN in data.columns else None
    if not is_engine_frame(data):
        return None
    lazy = as_lazy(data)
    if UNIT_COLUMN not in lazy.collect_schema().names():
        return None
    # The smallest and largest value tell a constant column in one aggregate, on any engine.
    lowest, highest = scalars(
        lazy, nw.col(UNIT_COLUMN).min().alias("lo"), nw.col(UNIT_COLUMN).max().alias("hi")
    )
    return _unit_of_column(pd.Series([lowest, highest]))


def _unit_of_column(units: pd.Series) -> str | None:
    distinct = pd.unique(units.dropna())
    if len(distinct) > 1:
        raise ClvDataError(
            f"The {UNIT_COLUMN!r} column holds several units {sorted(map(str, distinct))}: rows "
            "summarised in different units were put together. Summarise them again in one unit."
        )
    return str(distinct[0]) if len(distinct) else None

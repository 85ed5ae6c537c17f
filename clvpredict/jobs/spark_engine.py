"""The command line's Spark engine: the session, the log read by Spark, the scores it writes.

``--engine spark`` keeps every per-customer table in Spark. The log is read with
``spark.read`` and checked and summarised there (:mod:`clvpredict.data`); the fits receive only
the distinct histories with their counts; the customers are scored on the executors
(:func:`clvpredict.spark.spark_clv_table`); and the predictions are written by the executors
as a Parquet folder of part files. What the driver receives are the histories and aggregates.

The session is the one this process already has when there is one: a Databricks notebook or
job, or ``spark-submit``, which start Python with the cluster's session. Otherwise a new one is
started, on ``--spark-master`` (default ``local[*]``: every core of this machine).

pyspark is imported here only, when the engine is used (it is the ``[spark]`` extra).
"""

from __future__ import annotations

import logging
import os
import re
import sys
import warnings
from pathlib import Path
from typing import Any

import narwhals.stable.v2 as nw
import pandas as pd

from ..data.covariates import _zeros_hint, clashing_columns_error, missing_customers_error
from ..exceptions import ClvDataError, describe_values
from ..spark import spark_clv_table

logger = logging.getLogger("clvpredict.spark")

__all__ = [
    "PANDAS_3_WARNING",
    "PREDICTION_COLUMNS",
    "count_rows",
    "join_covariates",
    "read_covariates",
    "read_log",
    "read_predictions",
    "refuse_repeated_ids",
    "score",
    "spark_session",
    "summary_facts",
    "totals",
    "write_parquet",
]

#: The columns of the predictions file after the customer id, as the embedded engines write it.
PREDICTION_COLUMNS = [
    "frequency",
    "recency",
    "T",
    "monetary_value",
    "p_alive",
    "expected_purchases",
    "expected_avg_value",
    "predictive_clv",
    "simple_clv",
]

#: The warning pyspark 4 gives on every pandas conversion with pandas 3 (benchmarks/README.md
#: says what was checked); the conversions clvpredict makes go through Arrow and are exact.
PANDAS_3_WARNING = "PySpark does not yet fully support pandas"

_LOCAL = re.compile(r"^local(?:\[(\*|\d+)(?:,\s*\d+)?\])?$")


def _local_cores(master: str) -> int | None:
    """Cores of a ``local``/``local[N]``/``local[*]`` master; None for a cluster's."""
    match = _LOCAL.match(master)
    if match is None:
        return None
    cores = match.group(1)
    if cores is None:
        return 1
    return (os.cpu_count() or 1) if cores == "*" else int(cores)


def spark_session(master: str | None = None) -> Any:
    """The Spark session to run in: this process's own, or a new one on ``master``.

    * A session already active in this process (a Databricks notebook, or a caller that made
      one) is used as it is. A ``master`` that differs from its master is refused: a process
      has one Spark context.
    * Without ``master``, a process that ``spark-submit`` or a Databricks job started gets the
      session of the master they were given; any other process starts ``local[*]``.
    * A new session uses Arrow for every transfer to pandas (with no silent fallback to the
      row-by-row path) and no console progress bars; a local one also runs this interpreter
      for its Python workers, one shuffle partition per core, on the loopback address.

    Raises
    ------
    ClvDataError
        The master differs from the running session's, or Spark could not start (no Java?).
    """
    from pyspark.sql import SparkSession

    active = SparkSession.getActiveSession()
    if active is not None:
        running = active.sparkContext.master
        if master is not None and master != running:
            raise ClvDataError(
                f"spark_master={master!r}: this process already runs a Spark session on "
                f"{running!r}, and a process has one Spark context. Leave spark_master out to "
                "use that session, or run the command in a process of its own."
            )
        return active
    launched = "PYSPARK_GATEWAY_PORT" in os.environ  # by spark-submit or a Databricks job
    if master is None and not launched:
        master = "local[*]"
    builder = SparkSession.builder.appName("clvpredict")
    cores = None if master is None else _local_cores(master)
    if master is not None:
        builder = builder.master(master)
    if cores is not None:
        # Workers on this machine run this interpreter, with clvpredict importable.
        os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
        # Everything runs in this machine: no network address to look up.
        os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
        builder = (
            builder.config("spark.sql.shuffle.partitions", str(cores))
            .config("spark.default.parallelism", str(cores))
            .config("spark.driver.bindAddress", "127.0.0.1")
            .config("spark.driver.host", "127.0.0.1")
        )
    builder = (
        builder.config("spark.sql.execution.arrow.pyspark.enabled", "true")
        .config("spark.sql.execution.arrow.pyspark.fallback.enabled", "false")
        .config("spark.ui.showConsoleProgress", "false")
    )
    try:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", PANDAS_3_WARNING)
            session = builder.getOrCreate()
    except Exception as exc:
        raise ClvDataError(
            f"Spark could not start a session (master {master or 'from the launcher'!r}): "
            f"{exc}. Spark needs Java 17 or later on the PATH (or JAVA_HOME)."
        ) from exc
    if cores is not None:
        session.sparkContext.setLogLevel("ERROR")
    logger.info("Spark session on %s", session.sparkContext.master)
    return session


def has_scheme(path: str) -> bool:
    """Whether ``path`` is a URI that Spark resolves (``dbfs:/...``, ``s3a://...``) rather than
    a path of this machine's file system."""
    return re.match(r"^[A-Za-z][A-Za-z0-9+.-]*:", path) is not None and not re.match(
        r"^[A-Za-z]:[\\/]", path
    )


def read_log(session: Any, path: str, parquet: bool, **csv_options: Any) -> Any:
    """A Spark DataFrame over a Parquet file, folder or glob, or a CSV file (with a header).

    CSV columns are read as text, as the embedded engine reads them: ids keep their leading
    zeros, dates are checked as ISO 8601 (or ``--date-format``) and amounts as numbers by the
    log's checks, and no pass over the file is spent guessing types. ``csv_options`` are more
    options of Spark's CSV reader (a ``schema``; :func:`read_covariates` gives one).
    """
    from py4j.protocol import Py4JJavaError
    from pyspark.errors import AnalysisException

    try:
        if parquet:
            return session.read.parquet(path)
        if path.lower().endswith(".zip"):
            raise ClvDataError(
                f"{path!r}: Spark reads .csv, .csv.gz and .csv.bz2 files, not .zip archives. "
                "Unzip it, or use --engine polars."
            )
        return session.read.csv(path, header=True, **{"inferSchema": False, **csv_options})
    except (AnalysisException, Py4JJavaError) as exc:
        # Spark 3.5 reports a file it cannot read as a failed job with the cause inside.
        text = str(exc)
        causes = re.findall(r"Exception: (.+)", text)
        detail = causes[-1] if causes else text.strip().splitlines()[0]
        hint = ""
        if "NANOS" in text:
            hint = (
                " Spark reads no timestamps stored in nanoseconds (pandas 2 writes them so by "
                "default): write the file with microseconds, e.g. "
                "df.to_parquet(path, coerce_timestamps='us'), or use --engine polars."
            )
        raise ClvDataError(f"Input {path!r} cannot be read by Spark: {detail}{hint}") from exc


def read_covariates(session: Any, path: str, parquet: bool, id_col: str) -> Any:
    """A per-customer table (the covariates file) as a Spark DataFrame, its columns typed as
    pandas and polars type them when they read the file.

    Parquet columns keep their stored types. A CSV's id column ``id_col`` is text (so that
    "007" stays "007"); its other columns are typed from their values by Spark's schema
    inference, one pass over the file: whole numbers, decimals and ``true``/``false`` become
    numbers and booleans (a decimal Spark would keep exact becomes a float, as pandas reads it),
    and everything else, dates included, stays text. The file is then read with that schema.
    """
    from pyspark.sql import types as T

    if parquet:
        return read_log(session, path, parquet)
    inferred = read_log(session, path, parquet, inferSchema=True).schema
    numbers = (T.IntegerType, T.LongType, T.ShortType, T.ByteType, T.DoubleType, T.BooleanType)
    fields = []
    for column in inferred.fields:
        kind = column.dataType
        if column.name == id_col or not isinstance(kind, (*numbers, T.DecimalType)):
            kind = T.StringType()
        elif isinstance(kind, T.DecimalType):
            kind = T.DoubleType()
        fields.append(T.StructField(column.name, kind, True))
    return read_log(session, path, parquet, schema=T.StructType(fields))


def join_covariates(
    summary: Any, table: Any, *, customer_col: str, id_col: str, columns: list[str]
) -> Any:
    """The Spark ``summary`` with each customer's covariate ``columns`` of the Spark
    ``table`` (one row per customer, ids in ``id_col``), joined in Spark and cached.

    The checks are those of :func:`~clvpredict.attach_covariates`, with its messages, made by
    Spark queries: covariate columns that the summary already has; ids that are text on one
    side and numbers on the other; customers of the summary missing from the table (counted,
    the first few named in id order). The table must hold one row per customer
    (:func:`refuse_repeated_ids`). Customers of the table without purchases are left out.
    The summary is cached while the joined one is computed, and unpersisted then (the joined
    one holds its rows): the caller reads the joined one only.
    """
    from pyspark.sql import functions as F
    from pyspark.sql import types as T

    clash = [c for c in columns if c in summary.columns]
    if clash:
        raise clashing_columns_error(clash)

    def kind(frame: Any, column: str) -> str:
        data_type = frame.schema[column].dataType
        if isinstance(data_type, T.BooleanType):
            return "other values"
        if isinstance(data_type, T.NumericType):
            return "numbers"
        return "text" if isinstance(data_type, T.StringType) else "other values"

    theirs, mine = kind(summary, customer_col), kind(table, id_col)
    if {mine, theirs} == {"text", "numbers"}:
        examples = {
            side: describe_values([r[0] for r in frame.select(col).orderBy(col).limit(3).collect()])
            for side, frame, col in (("summary", summary, customer_col), ("table", table, id_col))
        }
        raise ClvDataError(
            f"Customer ids are {theirs} in the summary ({examples['summary']}) and {mine} in the "
            f"covariates table ({examples['table']}): matching them would lose leading zeros "
            '("007" is not 7). Read the ids as text on both sides (a CSV\'s are read as text; '
            "a Parquet file keeps the type it was written with)."
        )
    right = table.select(F.col(id_col).alias(customer_col), *columns)
    # The summary is read twice below (the join, and its count): computed once.
    summary = summary if summary.is_cached else summary.cache()
    joined = summary.join(right, on=customer_col, how="inner").cache()
    # Ids are unique on both sides: a customer of the summary missing from the table is a row
    # fewer. The count fills the joined cache, which then no longer needs the summary's.
    n_summary = summary.count()
    n_missing = n_summary - joined.count()
    if n_missing:
        unmatched = summary.join(right, on=customer_col, how="left_anti").select(customer_col)
        sample = [row[0] for row in unmatched.orderBy(customer_col).limit(1000).collect()]
        joined.unpersist()
        summary.unpersist()
        hints = _spark_zeros_hint(sample, table, id_col) + _spark_unmatched_hint(
            sample, n_missing == n_summary, summary, customer_col, table, id_col
        )
        raise missing_customers_error(n_missing, describe_values(sample, total=n_missing), hints)
    summary.unpersist()
    return joined


def _spark_unmatched_hint(
    missing: list[Any], none_matched: bool, summary: Any, customer_col: str, table: Any, id_col: str
) -> str:
    """:func:`~clvpredict.attach_covariates`' hints when the first missing text ids are in the
    table with other spaces around them (from the table's ids that match them once trimmed),
    and when no customer of the summary is in the table at all (the first ids of each side, in
    id order, with their Spark types)."""
    from pyspark.sql import functions as F

    hint = ""
    if missing and all(isinstance(i, str) for i in missing):
        trimmed = sorted({i.strip() for i in missing})
        near = table.where(F.trim(F.col(id_col).cast("string")).isin(trimmed))
        there = {
            row[0].strip(): row[0] for row in near.select(id_col).limit(len(missing)).collect()
        }
        pairs = [(i, there[i.strip()]) for i in missing if i.strip() in there]
        if pairs:
            shown = ", ".join(f"{mine!r} is {theirs!r}" for mine, theirs in pairs[:3])
            hint = (
                f" Some are in the table with other spaces around them ({shown} there): strip "
                "the ids on both sides, e.g. table[id_col].str.strip()."
            )
    if none_matched:
        first = {
            side: (
                [r[0] for r in frame.select(col).orderBy(col).limit(3).collect()],
                frame.schema[col].dataType.simpleString(),
            )
            for side, frame, col in (("table", table, id_col), ("summary", summary, customer_col))
        }
        if first["table"][0]:
            hint += (
                " No customer of the summary is in the table: the table's ids look like "
                f"{describe_values(first['table'][0])} ({first['table'][1]}), the summary's like "
                f"{describe_values(first['summary'][0])} ({first['summary'][1]}). Check that "
                "both are written the same way: spaces, case, prefixes, and the same type (read "
                "ids as text on both sides)."
            )
    return hint


def refuse_repeated_ids(table: Any, id_col: str) -> None:
    """Refuse a Spark per-customer table with an id on more than one row, as
    :func:`~clvpredict.attach_covariates` does: one aggregate query, two when refused."""
    from pyspark.sql import functions as F

    repeated = table.groupBy(id_col).count().where(F.col("count") > 1).select(id_col)
    shown = [row[0] for row in repeated.orderBy(id_col).limit(5).collect()]
    if shown:
        total = repeated.count()
        raise ClvDataError(
            f"The covariates table has {total} customer id(s) on more than one row: "
            f"{describe_values(shown, total=total)}. Give one row per customer."
        )


def _spark_zeros_hint(missing: list[Any], table: Any, id_col: str) -> str:
    """:func:`~clvpredict.data.covariates.attach_covariates`' hint when the first missing text
    ids are in the table with other leading zeros, from the table's ids that match them
    without their zeros (a Spark query that returns at most as many rows as ``missing``)."""
    from pyspark.sql import functions as F

    if not missing or not all(isinstance(i, str) for i in missing):
        return ""
    stripped = sorted({i.lstrip("0") for i in missing})
    bare = F.regexp_replace(F.col(id_col).cast("string"), "^0+", "")
    found = table.where(bare.isin(stripped)).select(id_col).limit(len(missing)).collect()
    ids = [row[0] for row in found]
    if not ids:
        return ""
    return _zeros_hint(pd.Index(missing), pd.Index(ids, dtype=object))


def summary_facts(rfm: Any) -> dict[str, Any]:
    """The number of customers and the longest ``T`` of a Spark summary, in one aggregate."""
    row = nw.from_native(rfm).select(nw.len(), nw.col("T").max()).collect().row(0)
    return {"n_customers": int(row[0]), "longest_T": float(row[1])}


def score(bundle: Any, rfm: Any, customer_col: str, *, allow_unconverged: bool = False) -> Any:
    """The predictions of a Spark summary with a model bundle, computed on the executors: the
    customer id, then :data:`PREDICTION_COLUMNS` (a Spark DataFrame, not yet computed)."""
    keys = ("lifetime_years", "horizon_months", "annual_discount_rate", "margin")
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", PANDAS_3_WARNING)
        table = spark_clv_table(
            bundle.purchase_model,
            bundle.spend_model,
            rfm,
            customer_id_col=customer_col,
            allow_unconverged=allow_unconverged,
            **{k: bundle.settings[k] for k in keys if k in bundle.settings},
        )
    return table.select(customer_col, *PREDICTION_COLUMNS)


def write_parquet(table: Any, folder: Path) -> None:
    """Have the executors write ``table`` as Parquet part files into the new folder ``folder``."""
    table.write.mode("errorifexists").parquet(str(folder))


def count_rows(session: Any, folder: Path) -> int:
    """Rows of a Parquet folder (Spark reads the count from the files' footers)."""
    return int(session.read.parquet(str(folder)).count())


def totals(session: Any, folder: Path) -> dict[str, float]:
    """The sums of predictive and simple CLV over a predictions folder, as a Spark aggregate."""
    frame = nw.from_native(session.read.parquet(str(folder)))
    row = frame.select(nw.col("predictive_clv").sum(), nw.col("simple_clv").sum()).collect()
    predictive, simple = row.row(0)
    return {"predictive_clv": float(predictive), "simple_clv": float(simple)}


def read_predictions(session: Any, folder: Path) -> Any:
    """The predictions folder the executors wrote, read back by Spark (a Spark DataFrame: the
    customer id, then :data:`PREDICTION_COLUMNS`), for the report to query where it lies."""
    return session.read.parquet(str(folder))

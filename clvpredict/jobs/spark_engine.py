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

from ..exceptions import ClvDataError
from ..spark import spark_clv_table

logger = logging.getLogger("clvpredict.spark")

__all__ = [
    "PANDAS_3_WARNING",
    "PREDICTION_COLUMNS",
    "count_rows",
    "read_log",
    "read_predictions",
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


def read_log(session: Any, path: str, parquet: bool) -> Any:
    """A Spark DataFrame over a Parquet file, folder or glob, or a CSV file (with a header).

    CSV columns are read as text, as the embedded engine reads them: ids keep their leading
    zeros, dates are checked as ISO 8601 (or ``--date-format``) and amounts as numbers by the
    log's checks, and no pass over the file is spent guessing types.
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
        return session.read.csv(path, header=True, inferSchema=False)
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

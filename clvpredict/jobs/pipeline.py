"""Production jobs behind the command line: fit, score and the nightly refresh.

The nightly ``refresh`` takes the output folder's lock, reads and validates transactions, fits
BG/NBD and Gamma-Gamma, checks them on a holdout window when the history allows it, applies
quality gates (convergence, holdout error, parameter drift against the previous model) and only
then publishes the model bundle, the predictions, a metrics file and the HTML report.

Publishing is crash-atomic across files (:mod:`clvpredict.publishing`): the night's files go into
a new folder ``OUT/releases/<UTC time>/``, and one rename of the link ``OUT/current`` makes them
current together; ``OUT/model.json`` and the other reader paths are links through
``OUT/current``. Whether the job fails a gate, hits a full disk or is killed at any instant,
readers find either the previous night's complete outputs or the new night's, never a mix. Only
one refresh runs on a folder at a time (a second one stops with exit code 5), and each run first
removes what an interrupted run left behind. The ``keep`` newest releases are kept.
"""

from __future__ import annotations

import csv
import glob
import io
import json
import logging
import os
import tempfile
import threading
import time
import warnings
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import asdict, dataclass, field, replace
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import narwhals.stable.v2 as nw
import numpy as np
import pandas as pd
import polars as pl
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pa_csv

try:
    import resource
except ImportError:  # Windows
    resource = None

from .._progress import StepBar
from .._units import DAYS_PER_MONTH, unit_in_days
from ..clv import estimate_lifetime_years
from ..data.covariates import attach_covariates
from ..data.engines import release, scalars
from ..data.summaries import calibration_holdout_summary, rfm_summary
from ..data.transactions import TransactionLog
from ..evaluation import model_label
from ..exceptions import ClvDataError, ClvError, ReferenceLevelError
from ..publishing import (
    publish_release,
    refresh_lock,
    release_scratch,
    tidy_output_folder,
    write_bytes_atomic,
)
from . import spark_engine
from .assessment import Assessment, assess, fit_whole_history
from .persistence import ModelBundle, _plain, load_model, model_from_dict
from .report import build_report
from .settings import (
    BundleSettingsError,
    Settings,
    check_bundle_settings,
    is_discrete,
    load_config,
    purchase_model_class,
    purchase_model_kinds,
)
from .values import covariate_values

logger = logging.getLogger("clvpredict.pipeline")
#: "step 3 of 13: ..." lines; the command line shows them unless --quiet (the steps' timings
#: on the logger above need --verbose).
progress_logger = logging.getLogger("clvpredict.progress")

# Settings live in clvpredict.settings; the names are re-exported for the jobs' callers.
__all__ = [
    "BundleSettingsError",
    "GateFailure",
    "Settings",
    "check_bundle_settings",
    "is_discrete",
    "load_config",
    "purchase_model_class",
    "purchase_model_kinds",
    "read_table",
    "run_fit",
    "run_refresh",
    "run_score",
]


class GateFailure(ClvError):
    """A quality gate of the nightly refresh failed; nothing was published."""


def read_table(
    path: str | os.PathLike[str] | None,
    what: str = "--transactions",
    *,
    customer_col: str | None = None,
    engine: str = "pandas",
    spark_master: str | None = None,
    infer_types: bool = False,
) -> Any:
    """Read a CSV (optionally compressed) or Parquet file, or a directory or glob of Parquet
    files (a partitioned table).

    Parameters
    ----------
    path : path
        The file, directory or glob (``"lake/tx/*.parquet"``).
    what : str
        The flag that named it, for error messages.
    customer_col : str, optional
        The customer id column. In a CSV it is read as text: ids are labels, and reading them as
        numbers would merge "007" with "7" and drop the leading zeros of every id written back.
        Parquet columns keep the type they were stored with.
    engine : {"pandas", "polars", "spark"}
        ``"polars"`` scans the file lazily: the log is checked and summarised in polars'
        streaming engine and never loaded into pandas (the command line's default for
        transaction logs). ``"pandas"`` reads it into a pandas DataFrame. ``"spark"`` reads it
        with ``spark.read`` into a Spark DataFrame (CSV columns as text), in the session of
        :func:`~clvpredict.jobs.spark_engine.spark_session`; its path may also be a URI of the
        cluster's storage (``dbfs:/...``, ``s3a://...``), which Spark checks.
    spark_master : str, optional
        The Spark master for ``engine="spark"`` (see ``spark_session``).
    infer_types : bool
        With ``engine="spark"``, a CSV's columns other than ``customer_col`` are typed from
        their values, as pandas and polars type them (numbers, booleans, text), instead of
        read as text: for a per-customer table such as the covariates file, whose columns no
        later check parses (:func:`~clvpredict.jobs.spark_engine.read_covariates`).
    """
    if path is None:
        raise ClvDataError(f"No input file: pass {what} PATH (a .csv or .parquet file).")
    text = os.fspath(path)
    path = Path(path)
    is_glob = any(ch in text for ch in "*?[")
    remote = engine == "spark" and spark_engine.has_scheme(text)
    if remote:
        pass  # on the cluster's storage: Spark says whether it exists
    elif is_glob:
        if not glob.glob(text, recursive=True):
            raise ClvDataError(f"No file matches {text!r} ({what}).")
    elif path.is_dir():
        if not any(path.rglob("*.parquet")):
            raise ClvDataError(
                f"Input directory {text!r} ({what}) holds no .parquet files: a directory is read "
                "as a partitioned Parquet table."
            )
    elif not path.is_file():
        raise ClvDataError(f"Input file {text!r} ({what}) does not exist.")
    name = path.name.lower()
    parquet = is_glob or path.is_dir() or name.endswith((".parquet", ".pq"))
    csv = name.endswith((".csv", ".csv.gz", ".csv.bz2", ".csv.zip", ".txt"))
    # A folder of the cluster's storage is a Parquet table, like a local one.
    parquet = parquet or (remote and not csv)
    if not (parquet or csv):
        raise ClvDataError(
            f"Input file {text!r} has an unknown type: use .csv (optionally .gz) or .parquet, "
            "or a directory or glob of .parquet files."
        )
    if engine == "spark":
        session = spark_engine.spark_session(spark_master)
        if infer_types:
            return spark_engine.read_covariates(session, text, parquet, customer_col)
        return spark_engine.read_log(session, text, parquet)
    try:
        if engine == "polars":
            return _scan_with_polars(text, parquet, customer_col)
        if parquet:
            if is_glob:
                raise ClvDataError(
                    f"{what} {text!r} is a glob: read it with the polars engine (--engine polars)."
                )
            return pd.read_parquet(path)
        return pd.read_csv(path, dtype=None if customer_col is None else {customer_col: str})
    except (ValueError, OSError, UnicodeDecodeError, pl.exceptions.PolarsError) as exc:
        raise ClvDataError(f"Input file {text!r} cannot be read: {exc}") from exc


def _scan_with_polars(path: str, parquet: bool, customer_col: str | None) -> pl.LazyFrame:
    if parquet:
        return pl.scan_parquet(path)
    ids = {} if customer_col is None else {customer_col: pl.String}
    if path.lower().endswith(".csv") or path.lower().endswith(".txt"):
        return pl.scan_csv(path, schema_overrides=ids)
    # polars streams plain CSV only: a compressed one is read whole, then summarised lazily.
    return pl.read_csv(path, schema_overrides=ids).lazy()


def read_covariates(
    settings: Settings, columns: list[str] | None = None, *, named_by: str | None = None
) -> pd.DataFrame:
    """The covariates file of ``settings``: one row per customer, the id column (read as text
    from a CSV, so that "007" stays "007") and the covariate ``columns`` (default: the
    settings' covariate columns), checked to be there.

    With the spark engine it is a Spark DataFrame, read by Spark (a per-customer table may be
    as long as the summary) with its columns typed as pandas types them, and checked there to
    hold one row per customer; otherwise a pandas DataFrame.

    ``named_by`` says what named the columns, for the message when one is missing (default:
    the settings that name each).
    """
    path = settings.covariates
    id_col = settings.covariate_id_col or settings.customer_col
    columns = settings.covariate_columns if columns is None else columns
    spark = settings.engine == "spark"
    table = read_table(
        path,
        "--covariates",
        customer_col=id_col,
        engine="spark" if spark else "pandas",
        spark_master=settings.spark_master,
        infer_types=True,
    )
    if id_col not in table.columns:
        flag = (
            "--covariate-id-col"
            if settings.covariate_id_col
            else "--covariate-id-col (default: --customer-col)"
        )
        raise ClvDataError(
            f"The covariates file {path!r} has no customer id column {id_col!r}; its columns are "
            f"{list(map(str, table.columns))}. Name its id column with {flag}."
        )
    absent = [c for c in columns if c not in table.columns]
    if absent:
        if named_by is None:
            lists = ("covariate_cols", *settings.covariate_lists)
            named_by = "; ".join(
                f"{c!r} by " + " and ".join(n for n in lists if c in (getattr(settings, n) or []))
                for c in absent
            )
        raise ClvDataError(
            f"Covariate column(s) {absent} are not in the covariates file {path!r} (named "
            f"{named_by}); its columns are {[str(c) for c in table.columns if c != id_col]}."
        )
    if spark:
        table = table.select(id_col, *columns)
        spark_engine.refuse_repeated_ids(table, id_col)
        return table
    return table[[id_col, *columns]]


def settings_covariates(
    settings: Settings, record: StepRecord | None = None
) -> pd.DataFrame | None:
    """The covariates file of ``settings`` read as a step (:func:`read_covariates`), or None
    when the settings name no covariate column; a file given without any column named is
    refused."""
    if settings.covariates is not None and not settings.covariate_columns:
        raise ClvDataError(
            f"--covariates {settings.covariates} is given, but no covariate column is named: "
            "say which columns enter the purchase model with --covariate-cols (both "
            "processes), --purchase-covariates, --dropout-covariates or --shared-covariates "
            "(settings covariate_cols, ...)."
        )
    if not settings.covariate_columns:
        return None
    with step("read covariates", record):
        return read_covariates(settings)


def with_covariates(settings: Settings, summary: Any, table: Any, columns: list[str]) -> Any:
    """``summary`` with each customer's covariate ``columns`` of ``table`` (from
    :func:`read_covariates`); a customer missing from the table is refused by name. Spark
    frames are joined by Spark, and the result is cached
    (:func:`~clvpredict.jobs.spark_engine.join_covariates`)."""
    if settings.engine == "spark":
        return spark_engine.join_covariates(
            summary,
            table,
            customer_col=settings.customer_col,
            id_col=settings.covariate_id_col or settings.customer_col,
            columns=columns,
        )
    return attach_covariates(
        summary,
        table,
        columns=columns,
        id_col=settings.covariate_id_col or settings.customer_col,
    )


_PAGE_BYTES = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096


def _resident_bytes() -> int | None:
    """This process's resident memory now (Linux), else None."""
    try:
        with open("/proc/self/statm") as handle:
            return int(handle.read().split()[1]) * _PAGE_BYTES
    except (OSError, ValueError, IndexError):
        return None


class _PeakSampler:
    """The largest resident memory seen during a block, sampled every 20 ms by a thread.

    Sampling, rather than resetting the kernel's high-water mark, leaves the process's own peak
    (``ru_maxrss``, what ``/usr/bin/time`` reports) intact; a spike shorter than 20 ms may be
    missed, which at the gigabytes a step allocates does not change the figure. Without
    ``/proc`` (not Linux) the peak is the process's so far.
    """

    def __init__(self) -> None:
        self.peak = _resident_bytes()
        self._stop = threading.Event()
        self._thread = None
        if self.peak is not None:
            self._thread = threading.Thread(target=self._run, daemon=True)
            self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(0.02):
            now = _resident_bytes()
            if now is not None and now > self.peak:
                self.peak = now

    def stop(self) -> int | None:
        if self._thread is None:
            if resource is None:
                return None
            return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
        self._stop.set()
        self._thread.join()
        now = _resident_bytes()
        return max(self.peak, now or 0)


class JobProgress:
    """Where a job is among its ``total`` steps: each step announced as it starts ("step 3 of
    13: validate and summarise", INFO on the ``clvpredict.progress`` logger) and, with ``bar``,
    a bar over the steps (:class:`~clvpredict._progress.StepBar`: in a Jupyter kernel or a
    terminal, after a couple of seconds; never in a log file)."""

    def __init__(self, total: int, *, desc: str, bar: bool = True) -> None:
        self.total = total
        self.position = 0
        self._bar = StepBar(total, desc=desc) if bar else None

    def start(self, name: str) -> None:
        self.position += 1
        progress_logger.info("step %d of %d: %s", self.position, self.total, name)
        if self._bar is not None:
            self._bar.start(name)

    def done(self) -> None:
        if self._bar is not None:
            self._bar.advance()

    def skip(self, name: str, reason: str) -> None:
        """A planned step that the run does not need; it counts as done."""
        self.start(f"{name} skipped: {reason}")
        self.done()

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()


@dataclass
class StepRecord:
    """Wall time (seconds) and peak resident memory (bytes) of each job step, by name, and
    the job's :class:`JobProgress` if its steps are announced."""

    seconds: dict[str, float] = field(default_factory=dict)
    peak_memory_bytes: dict[str, int] = field(default_factory=dict)
    progress: JobProgress | None = field(default=None, repr=False, compare=False)


@contextmanager
def step(name: str, record: StepRecord | None = None) -> Iterator[None]:
    """Log the start, duration and peak memory of a job step (shown with ``--verbose``); with
    the record's :class:`JobProgress`, the start is announced with the step's position.

    The peak is the step's own on Linux (sampled while it runs), elsewhere the process's peak
    so far.
    """
    progress = None if record is None else record.progress
    sampler = _PeakSampler()
    start = time.perf_counter()
    if progress is None:
        logger.info("%s ...", name)
    else:
        progress.start(name)
    try:
        yield
    finally:
        elapsed = time.perf_counter() - start
        peak = sampler.stop()
    if peak is None:
        logger.info("%s: %.2f s", name, elapsed)
    else:
        logger.info("%s: %.2f s, peak memory %.2f GB", name, elapsed, peak / 1e9)
    if record is not None:
        record.seconds[name] = round(elapsed, 3)
        if peak is not None:
            record.peak_memory_bytes[name] = peak
    if progress is not None:
        progress.done()


# --------------------------------------------------------------------------------------------
# Jobs
# --------------------------------------------------------------------------------------------


def _summary_kwargs(settings: Settings, *, per_customer: bool = False) -> dict[str, Any]:
    """The summaries' arguments from the settings. The jobs work on one row per customer in
    pandas (computed in the log's engine, then collected), except a ``per_customer`` summary on
    Spark (the whole-history one, which is fitted and scored, and the calibration/holdout one,
    which is fitted and checked): it stays in Spark."""
    native = per_customer and settings.engine == "spark"
    return {
        "customer_id_col": settings.customer_col,
        "datetime_col": settings.date_col,
        "monetary_value_col": settings.amount_col,
        "time_unit": settings.time_unit,
        "datetime_format": settings.date_format,
        "returns": settings.returns,
        "duplicates": settings.duplicates,
        "after_end": settings.after_end,
        "discrete": is_discrete(settings.purchase_model),
        "output": "native" if native else "pandas",
    }


def parse_log(settings: Settings, tx: pd.DataFrame) -> TransactionLog:
    """The job's transaction log, validated once with the settings' columns and policies."""
    return TransactionLog(
        tx,
        settings.customer_col,
        settings.date_col,
        settings.amount_col,
        datetime_format=settings.date_format,
        returns=settings.returns,
        duplicates=settings.duplicates,
    )


def calibration_split(
    settings: Settings, tx: pd.DataFrame | TransactionLog, facts: dict[str, Any]
) -> tuple[pd.DataFrame | None, pd.Timestamp | None]:
    """Calibration/holdout summary with the last ``holdout_months`` held out, if the history is
    at least twice that long; ``(None, None)`` otherwise. ``facts`` are the whole-history
    summary's (:func:`_summarise`).

    On Spark the summary stays there, cached for the fits and the holdout check (which read it
    several times); :meth:`Assessment.release` unpersists it when the run is done with it.
    """

    end = pd.Timestamp(facts["observation_end"])
    holdout_days = round(settings.holdout_months * DAYS_PER_MONTH)
    history_days = facts["longest_T"] * unit_in_days(settings.time_unit)
    if history_days < 2 * holdout_days:
        return None, None
    if is_discrete(settings.purchase_model):
        # Whole calendar months, so that a 12-month holdout is exactly one year of periods.
        day = pd.Timedelta(days=1)
        cal_end = end + day - pd.DateOffset(months=settings.holdout_months) - day
    else:
        cal_end = end - pd.Timedelta(days=holdout_days)
    # The end is the summary's: rows after it were refused there, or dropped on request.
    cal = calibration_holdout_summary(
        tx,
        calibration_end=cal_end,
        observation_end=end,
        **{**_summary_kwargs(settings, per_customer=True), "after_end": "drop"},
    )
    if settings.engine == "spark":
        cal = cal.cache()
    return cal, cal_end


def choose_purchase_model(
    settings: Settings,
    log: TransactionLog,
    cal: Any,
    *,
    compare: bool,
    calibration_end: pd.Timestamp | None = None,
    observation_end: str | None = None,
    covariate_options: dict[str, Any] | None = None,
) -> tuple[str, Assessment | None]:
    """The purchase model to use and, when there is a holdout, the assessment made on it.

    The configured model, or with ``"auto"`` the best holdout forecaster of
    :func:`~clvpredict.compare_models` (BG/NBD when there is no holdout). ``compare`` fits the
    other candidates too (for the report's comparison); each model is fitted once.
    ``calibration_end`` and ``observation_end`` are the days ``cal`` was built with (a Spark
    summary does not record them).
    """
    auto = settings.purchase_model == "auto"
    if cal is None:
        if auto:
            logger.warning(
                "purchase_model='auto': the history is too short for a %d-month holdout; "
                "using BG/NBD",
                settings.holdout_months,
            )
            return "bgnbd", None
        purchase_model_class(settings.purchase_model)
        return settings.purchase_model, None
    purchase_class = None if auto else purchase_model_class(settings.purchase_model)
    with warnings.catch_warnings():
        if settings.engine == "spark":
            # Given by pyspark at each holdout check's mapInPandas (spark_engine says why).
            warnings.filterwarnings("ignore", spark_engine.PANDAS_3_WARNING)
        assessment = assess(
            log,
            cal,
            purchase_class,
            compare=compare,
            after_end="drop",
            strict=True,
            calibration_end=None if calibration_end is None else str(calibration_end.date()),
            observation_end=observation_end,
            covariate_options=covariate_options,
        )
    if auto:
        logger.info(
            "purchase_model='auto' chose %s (holdout RMSE)", model_label(assessment.purchase_model)
        )
    return assessment.chosen_kind, assessment


def _lifetime(settings: Settings, tx: pd.DataFrame | TransactionLog, end: str) -> float:
    if settings.lifetime_years is not None:
        return float(settings.lifetime_years)
    return estimate_lifetime_years(
        tx,
        settings.customer_col,
        settings.date_col,
        window_months=settings.lifetime_window_months,
        observation_end=end,
        datetime_format=settings.date_format,
    )


def _summarise(settings: Settings, log: TransactionLog) -> tuple[Any, dict[str, Any]]:
    """The whole-history summary, and its facts: ``observation_end`` (text), ``n_customers``
    and ``longest_T``.

    On Spark the summary stays there, cached for the fits and the scoring, and the facts are
    one aggregate of it. Its end of observation is found first, as the summary would (the last
    purchase day of the log without purchases after today, by the ``after_end`` policy), and
    then given to it: a Spark summary carries no ``attrs``.
    """
    end = settings.observation_end
    if settings.engine == "spark" and end is None:
        last = scalars(log.until(settings.after_end), nw.col("day").max())[0]
        end = str(pd.Timestamp(int(last), unit="D").date())
    rfm = rfm_summary(log, observation_end=end, **_summary_kwargs(settings, per_customer=True))
    if settings.engine == "spark":
        rfm = rfm.cache()
        return rfm, {"observation_end": end, **spark_engine.summary_facts(rfm)}
    facts = {
        "observation_end": rfm.attrs["observation_end"],
        "n_customers": len(rfm),
        "longest_T": float(rfm["T"].max()),
    }
    return rfm, facts


def run_fit(
    settings: Settings,
    record: StepRecord | None = None,
    *,
    evaluate_holdout_too: bool = False,
    transactions: pd.DataFrame | None = None,
) -> tuple[Any, Any, Any, dict[str, Any]]:
    """Read transactions, summarise, choose the purchase model and fit both models.

    ``transactions`` is a log in memory, used instead of reading ``settings.transactions``.

    Returns
    -------
    (bundle, transactions, rfm, context)
        The :class:`~clvpredict.ModelBundle`, the inputs it was fitted on (with
        ``engine="spark"``, ``rfm`` is a cached Spark DataFrame, and the context's log holds
        another: ``rfm.unpersist()`` and ``context["log"].release()`` when done with them),
        and a dict with the
        parsed log (``"log"``, a :class:`~clvpredict.data.TransactionLog` for every later step),
        the calibration/holdout split (when made), the model comparison (``"auto"``) and the
        chosen purchase model.

    Raises
    ------
    ClvDataError
        Bad input or settings.
    ConvergenceError
        A model did not converge.
    """

    if transactions is None:
        with step("read transactions", record):
            tx = read_table(
                settings.transactions,
                customer_col=settings.customer_col,
                engine=settings.engine,
                spark_master=settings.spark_master,
            )
    else:
        tx = transactions
    columns = settings.covariate_columns
    covariates = settings_covariates(settings, record)
    with step("validate and summarise", record):
        log = parse_log(settings, tx)
        rfm, facts = _summarise(settings, log)
        if covariates is not None:
            rfm = with_covariates(settings, rfm, covariates, columns)
    context: dict[str, Any] = {
        "log": log,
        "assessment": None,
        "calibration": None,
        "calibration_end": None,
        "comparison": None,
        "summary": facts,
    }
    if settings.purchase_model == "auto" or evaluate_holdout_too:
        with step("calibration/holdout split", record):
            context["calibration"], context["calibration_end"] = calibration_split(
                settings, log, facts
            )
            if covariates is not None and context["calibration"] is not None:
                context["calibration"] = with_covariates(
                    settings, context["calibration"], covariates, columns
                )
    with step("assess the models on the holdout", record):
        kind, context["assessment"] = choose_purchase_model(
            settings,
            log,
            context["calibration"],
            compare=evaluate_holdout_too and settings.report,
            calibration_end=context["calibration_end"],
            observation_end=facts["observation_end"],
            covariate_options=settings.covariate_options(),
        )
    if context["assessment"] is not None and not evaluate_holdout_too:
        # Only the choice of model was wanted: the calibration summary is done with.
        context["assessment"].release()
    if settings.purchase_model == "auto" and context["assessment"] is not None:
        context["comparison"] = context["assessment"].comparison
    context["purchase_model"] = kind
    label = model_label(purchase_model_class(kind)) + (" with covariates" if columns else "")
    with step(f"fit {label} and Gamma-Gamma", record):
        bg, gg = fit_whole_history(
            rfm,
            purchase_model_class(kind),
            strict=True,
            covariate_options=settings.covariate_options(),
        )
    end = facts["observation_end"]
    with step("expected lifetime for the simple CLV", record):
        lifetime = _lifetime(settings, log, end)
    bundle = ModelBundle(
        bg,
        gg,
        {
            "observation_end": end,
            "time_unit": settings.time_unit,
            "horizon_months": settings.horizon_months,
            "annual_discount_rate": settings.annual_discount_rate,
            "margin": settings.margin,
            "currency": settings.currency,
            "lifetime_years": lifetime,
            "purchase_model": kind,
            "customer_col": settings.customer_col,
            "n_customers": facts["n_customers"],
            "n_transactions": log.n_rows,
            **(
                {
                    "covariate_id_col": settings.covariate_id_col or settings.customer_col,
                    "covariate_columns": columns,
                }
                if columns
                else {}
            ),
        },
    )
    return bundle, tx, rfm, context


def run_score(
    settings: Settings, record: StepRecord | None = None, *, cleanup: ExitStack | None = None
) -> Any:
    """Score customers with a saved bundle: the per-customer CLV table.

    Reads ``settings.model`` and either ``settings.transactions`` (summarised up to
    ``observation_end``, default the last transaction day) or ``settings.rfm`` (an RFM table
    with a ``customer_col`` column and ``frequency, recency, T, monetary_value,
    avg_order_value``, with ``recency`` and ``T`` in ``settings.rfm_time_unit``). A file in
    another unit than the model's is converted to the model's (refused for the BG/BB, whose
    periods cannot be rescaled); ``recency`` and ``T`` in the result are in the model's unit.

    With ``engine="spark"`` the table is a Spark DataFrame (the customer id column, then the
    same columns), a query that the executors compute when it is written. The summary it reads
    and the parsed log are cached; ``cleanup`` (an ``ExitStack`` the caller closes once the
    table is written) is given their release, and without one they stay cached until the
    Spark session ends.
    """

    if settings.model is None:
        raise ClvDataError("score needs --model PATH: a model.json written by fit or refresh.")

    with step("load model", record):
        bundle = load_model(settings.model)
    if not isinstance(bundle, ModelBundle):
        raise ClvDataError(
            f"{settings.model!r} holds a single {type(bundle).__name__}; score needs the model "
            "bundle (purchase and spend model) written by clvpredict fit or refresh."
        )
    unit = bundle.purchase_model.time_unit_
    discrete = bool(getattr(bundle.purchase_model, "discrete_time", False))
    if settings.rfm is not None and settings.rfm_time_unit is None:
        # An RFM table is bare numbers: nothing in it says whether T = 30 means days or weeks.
        raise ClvDataError(
            f"--rfm {settings.rfm} needs --rfm-time-unit (setting rfm_time_unit): the unit, D, "
            "W, M or Y, in which the file measures recency and T. The model works in "
            f"{unit!r}; a file in another unit is converted."
        )
    if settings.rfm is not None and discrete and settings.rfm_time_unit != unit:
        raise ClvDataError(
            f"--rfm-time-unit {settings.rfm_time_unit}: the model is a BG/BB counting periods "
            f"of time_unit={unit!r}, and periods of one unit cannot be rescaled into another. "
            f"Summarise the log with rfm_summary(..., time_unit={unit!r}, discrete=True), or "
            "score from --transactions."
        )
    if settings.rfm is not None and settings.engine == "spark":
        raise ClvDataError(
            f"--rfm {settings.rfm}: the spark engine scores from --transactions only. Score the "
            "RFM table with --engine polars, or give the transaction log."
        )
    if settings.rfm is not None:
        with step("read RFM table", record):
            rfm = read_table(settings.rfm, "--rfm", customer_col=settings.customer_col)
            if settings.customer_col not in rfm.columns:
                raise ClvDataError(
                    f"The RFM file has no customer column {settings.customer_col!r}; its columns "
                    f"are {list(map(str, rfm.columns))}. Pass --customer-col."
                )
            rfm = _durations_in(rfm.set_index(settings.customer_col), settings.rfm_time_unit, unit)
            rfm.attrs["time_unit"] = unit
            rfm.attrs["discrete"] = discrete
    else:
        with step("read and summarise transactions", record):
            tx = read_table(
                settings.transactions,
                customer_col=settings.customer_col,
                engine=settings.engine,
                spark_master=settings.spark_master,
            )
            kwargs = _summary_kwargs(settings, per_customer=True)
            kwargs["time_unit"] = unit
            kwargs["discrete"] = discrete
            log = parse_log(settings, tx)
            if cleanup is not None:
                cleanup.callback(log.release)
            rfm = rfm_summary(log, observation_end=settings.observation_end, **kwargs)
    design = getattr(bundle.purchase_model, "covariate_design_", None)
    if design is not None:
        rfm = _scored_with_covariates(settings, bundle, design, rfm, record)
    elif settings.covariates is not None:
        logger.warning(
            "--covariates %s is not read: the model in %s has no covariates.",
            settings.covariates,
            settings.model,
        )
    if settings.engine == "spark":
        # A query: the executors score the customers when the caller writes it. The summary is
        # cached (joined to the covariates, it is already), since the scoring reads it twice (a
        # sample for the types, then every batch).
        rfm = rfm if rfm.is_cached else rfm.cache()
        if cleanup is not None:
            cleanup.callback(rfm.unpersist)
        return spark_engine.score(
            bundle, rfm, settings.customer_col, allow_unconverged=settings.allow_unconverged
        )
    with step("score customers", record):
        table = bundle.score(rfm, allow_unconverged=settings.allow_unconverged)
    return table[spark_engine.PREDICTION_COLUMNS]


def _scored_with_covariates(
    settings: Settings, bundle: ModelBundle, design: Any, rfm: pd.DataFrame, record: Any
) -> pd.DataFrame:
    """The summary to score with a model fitted with covariates: with each customer's
    covariates from ``--covariates`` (or those of an ``--rfm`` table that holds them)."""
    columns = list(design.columns)
    if settings.covariates is None:
        if all(c in rfm.columns for c in columns):
            return rfm
        raise ClvDataError(
            f"The model in {settings.model} was fitted with the customer covariates {columns}: "
            "scoring needs each customer's, from the same kind of table. Pass --covariates FILE "
            "(one row per customer with those columns"
            + (
                f"; id column {bundle.settings['covariate_id_col']!r} at fit time"
                if bundle.settings.get("covariate_id_col")
                else ""
            )
            + ")."
        )
    named = [c for c in settings.covariate_columns if c not in columns]
    if named:
        logger.warning(
            "covariate columns %s of the settings are not the model's: the model's %s are read.",
            named,
            columns,
        )
    with step("read covariates", record):
        table = read_covariates(settings, columns, named_by=f"by the model {settings.model}")
    return with_covariates(settings, rfm, table, columns)


def _durations_in(rfm: pd.DataFrame, given: str, wanted: str) -> pd.DataFrame:
    """``rfm`` with its durations (``recency``, ``T``, ``duration_holdout``) converted from
    ``given`` to ``wanted`` time units. Non-numeric columns are left for the models to
    refuse by name."""
    if given == wanted:
        return rfm
    scale = unit_in_days(given) / unit_in_days(wanted)
    logger.info("--rfm: recency and T converted from %s to %s (x %.6g)", given, wanted, scale)
    rfm = rfm.copy()
    for column in ("recency", "T", "duration_holdout"):
        if column in rfm.columns and pd.api.types.is_numeric_dtype(rfm[column].dtype):
            if not pd.api.types.is_bool_dtype(rfm[column].dtype):
                rfm[column] = rfm[column] * scale
    return rfm


def table_bytes(table: pd.DataFrame, output_format: str) -> bytes:
    """Serialise a prediction table deterministically (same data, same bytes).

    CSV goes through Arrow's writer: about 15 times faster than pandas' on millions of rows (a
    10M-customer table takes seconds instead of minutes). Numbers are written in their shortest
    form that reads back to the same float; ids are written as they are, quoted only when one of
    them holds a comma, quote or line break. Not polars' writer: its thread pool deadlocks in a
    forked child (multiprocessing's default start method on Linux) once the parent has used it,
    and Arrow's survives a fork.
    """
    if output_format == "parquet":
        buffer = io.BytesIO()
        table.to_parquet(buffer, index=True)
        return buffer.getvalue()
    index_name = table.index.name if table.index.name is not None else ""
    frame = pa.Table.from_pandas(table.reset_index(names=index_name), preserve_index=False)
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\n").writerow(frame.column_names)
    quoting = "needed" if any(_needs_quotes(column) for column in frame.columns) else "none"
    body = io.BytesIO()
    pa_csv.write_csv(
        frame, body, write_options=pa_csv.WriteOptions(include_header=False, quoting_style=quoting)
    )
    return buffer.getvalue().encode("utf-8") + body.getvalue()


def _needs_quotes(column: pa.ChunkedArray) -> bool:
    """Whether a column's CSV text could hold a delimiter, a quote or a line break."""
    kind = column.type
    if pa.types.is_integer(kind) or pa.types.is_floating(kind) or pa.types.is_boolean(kind):
        return False
    if pa.types.is_string(kind) or pa.types.is_large_string(kind):
        return bool(pc.any(pc.match_substring_regex(column, '[,"\r\n]')).as_py())
    return True


# --------------------------------------------------------------------------------------------
# Nightly refresh
# --------------------------------------------------------------------------------------------


@dataclass
class Gate:
    """One quality gate's outcome (recorded in metrics.json)."""

    name: str
    passed: bool | None
    value: float | None = None
    threshold: float | None = None
    detail: str = ""


@dataclass
class RefreshOutcome:
    """What a refresh did: gates, metrics, and the release and files it published."""

    gates: list[Gate] = field(default_factory=list)
    metrics: dict[str, Any] = field(default_factory=dict)
    published: list[str] = field(default_factory=list)
    release: str | None = None


def _holdout_gate(settings: Settings, context: dict[str, Any]) -> tuple[Gate, dict]:
    """Compare the forecast of the chosen model, fitted without the holdout, with what happened."""

    cal, cal_end = context["calibration"], context["calibration_end"]
    if cal is None:
        detail = (
            f"history too short for a {settings.holdout_months}-month holdout (needs at least "
            f"twice that); skipped"
        )
        logger.warning("holdout gate: %s", detail)
        return Gate("holdout_error", None, detail=detail), {}
    comparison = context["comparison"]
    evaluation = context["assessment"].evaluation
    totals = evaluation.totals.iloc[0]
    error = abs(float(totals["pct_error"])) / 100.0
    metrics = {
        "purchase_model": context["purchase_model"],
        "calibration_end": str(cal_end.date()),
        "observation_end": context["assessment"].observation_end,
        "actual_repeat_transactions": float(totals["actual"]),
        "predicted_repeat_transactions": float(totals["predicted"]),
        "pct_error": float(totals["pct_error"]),
        "mae": float(evaluation.metrics["mae"].iloc[0]),
        "rmse": float(evaluation.metrics["rmse"].iloc[0]),
        "correlation": float(evaluation.metrics["correlation"].iloc[0]),
    }
    if comparison is not None:
        metrics["comparison"] = comparison.reset_index().to_dict(orient="records")
    gate = Gate(
        "holdout_error",
        error <= settings.max_holdout_error,
        error,
        settings.max_holdout_error,
        f"aggregate holdout error {error:.2%} (limit {settings.max_holdout_error:.2%})",
    )
    return gate, metrics


def _previous_bundle(previous_path: Path) -> Any:
    """The model file of the last published night, or None if there is none."""
    if not previous_path.is_file():
        return None
    try:
        return load_model(previous_path)
    except BundleSettingsError as exc:
        # Written by an older version with a setting that cannot score (margin = "0.3"): its
        # parameters are still the last published ones, and tonight's bundle replaces it.
        logger.warning("parameter drift: comparing with the previous model anyway: %s", exc)
        document = json.loads(previous_path.read_text(encoding="utf-8"))
        return ModelBundle(
            model_from_dict(document["purchase_model"], str(previous_path)),
            model_from_dict(document["spend_model"], str(previous_path)),
        )


def _keep_reference_levels(settings: Settings, previous: Any) -> tuple[Settings, dict]:
    """``settings`` with the previous model's reference level for each categorical covariate
    whose reference level they do not give, and those levels by column.

    By default a categorical's reference level is its most frequent one, which can change
    from one night to the next; the coefficients would then be renamed (``channel[web]``
    becomes ``channel[store]``) and measure against another level. Kept, tonight's
    coefficients have last night's names and meaning, and the drift gate compares them.
    """
    if not settings.covariate_columns:
        return settings, {}
    design = getattr(getattr(previous, "purchase_model", None), "covariate_design_", None)
    if design is None:
        return settings, {}
    given = dict(settings.reference_levels or {})
    kept = {
        name: design.column(name).reference
        for name in design.columns
        if name in settings.covariate_columns
        and name not in given
        and design.column(name).kind == "categorical"
    }
    if not kept:
        return settings, {}
    logger.info(
        "covariates: keeping the previous model's reference level(s) %s (the settings give "
        "none), so that the coefficients keep their names; --reference-level chooses them",
        ", ".join(f"{name}={level}" for name, level in kept.items()),
    )
    return replace(settings, reference_levels={**given, **kept}), kept


def _drift_gate(
    settings: Settings, bundle: Any, previous_path: Path, *, previous: Any = None
) -> Gate:
    """Largest relative parameter change against the last published model; it fails when the
    two are not comparable: another time unit, another purchase model, or parameters that one
    of them lacks (a covariate added or removed, a level new or gone, another reference
    level). ``previous`` is the model file already read (:func:`_previous_bundle`), if it
    was."""

    if previous is None:
        previous = _previous_bundle(previous_path)
    if previous is None:
        return Gate("parameter_drift", None, detail="no previous model; skipped")
    if not isinstance(previous, ModelBundle):
        return Gate("parameter_drift", False, detail=f"{previous_path} is not a model bundle")
    changes = _model_changes(previous, bundle)
    if changes:
        what = "; ".join(changes)
        if settings.accept_model_change:
            return Gate(
                "parameter_drift",
                None,
                detail=f"{what}: the change is accepted (accept_model_change), drift not measured",
            )
        return Gate(
            "parameter_drift",
            False,
            detail=(
                f"{what}: the models are not comparable. If the change is deliberate (new "
                "settings), run this refresh once with --accept-model-change."
            ),
        )
    if settings.accept_model_change:
        logger.info(
            "accept_model_change: the previous model is comparable with tonight's, so the drift "
            "gate applies as usual"
        )
    worst, where = 0.0, ""
    for role in ("purchase_model", "spend_model"):
        old = getattr(previous, role).params_
        new = getattr(bundle, role).params_
        # A covariate coefficient (a name with a dot) takes any sign and may be near 0: its
        # change is that of the factor e^coef it multiplies by, |e^(new - old) - 1|.
        coefficient = np.array(["." in str(n) for n in new.index], dtype=bool)
        ratio = np.where(
            coefficient,
            np.exp(new.to_numpy() - old[new.index].to_numpy()),
            new.to_numpy() / old[new.index].to_numpy(),
        )
        change = pd.Series(np.abs(ratio - 1.0), index=new.index)
        if len(change) and change.max() > worst:
            worst, where = float(change.max()), f"{role}.{change.idxmax()}"
    return Gate(
        "parameter_drift",
        worst <= settings.max_param_drift,
        worst,
        settings.max_param_drift,
        f"largest relative parameter change {worst:.2%} ({where}), limit "
        f"{settings.max_param_drift:.2%}",
    )


def _model_changes(previous: ModelBundle, bundle: ModelBundle) -> list[str]:
    """Why the parameters of two model bundles cannot be compared one by one (empty when they
    can): another time unit, another purchase model (the BG/NBD's ``a`` and ``b`` are not the
    MBG/NBD's), or parameters that one of them lacks (a covariate added or removed, a level new
    or gone, another reference level)."""
    before, after = previous.purchase_model, bundle.purchase_model
    if before.time_unit_ != after.time_unit_:
        return [f"time unit changed from {before.time_unit_!r} to {after.time_unit_!r}"]
    if type(before) is not type(after):
        return [
            f"purchase model changed from {model_label(type(before))} to {model_label(type(after))}"
        ]
    changes = []
    for role in ("purchase_model", "spend_model"):
        old, new = getattr(previous, role).params_.index, getattr(bundle, role).params_.index
        added = [str(n) for n in new if n not in old]
        dropped = [str(n) for n in old if n not in new]
        parts = [f"added {added}" if added else "", f"dropped {dropped}" if dropped else ""]
        if added or dropped:
            changes.append(f"{role} parameters " + "; ".join(p for p in parts if p))
    return changes


def refresh_step_count(settings: Settings) -> int:
    """How many steps :func:`run_refresh` announces with ``settings``: tidy the output folder,
    read, validate and summarise, split, assess, fit, lifetime, the holdout and drift gates,
    score and publish; writing the predictions, except on Spark (whose executors write them
    while scoring); and the HTML report when it is asked for (announced as skipped when the
    history has no room for a holdout window); and reading the covariates file when the
    settings name covariates."""
    return (
        11 + (settings.engine != "spark") + bool(settings.report) + bool(settings.covariate_columns)
    )


def run_refresh(settings: Settings, *, progress_bar: bool = True) -> RefreshOutcome:
    """The nightly job. Publishes only when every gate passes.

    Each step is announced with its position on the ``clvpredict.progress`` logger (INFO),
    and with ``progress_bar`` a bar follows the steps in a Jupyter kernel or a terminal once
    the job has run a couple of seconds (:class:`JobProgress`). The command line shows the
    log lines instead.

    Raises
    ------
    ClvDataError
        Bad input or settings (nothing published).
    ConvergenceError
        A fit did not converge (nothing published).
    GateFailure
        A quality gate failed: nothing published; ``OUT/last-rejected-metrics.json`` records
        the night's metrics and gates.
    RefreshLocked
        Another refresh is running on the same output folder (nothing done).
    """
    out = Path(settings.out)
    with refresh_lock(out), ExitStack() as cleanup:
        progress = JobProgress(
            refresh_step_count(settings), desc="clvpredict refresh", bar=progress_bar
        )
        cleanup.callback(progress.close)
        record = StepRecord(progress=progress)
        with step("tidy the output folder", record):
            tidy_output_folder(out)
        if settings.engine == "spark":
            # Spark's executors write the predictions into OUT, to be moved into the release.
            with release_scratch(out) as scratch:
                return _refresh(settings, out, record, cleanup, scratch)
        return _refresh(settings, out, record, cleanup)


def _refresh(
    settings: Settings,
    out: Path,
    record: StepRecord,
    cleanup: ExitStack,
    scratch: Path | None = None,
) -> RefreshOutcome:
    """The body of :func:`run_refresh`, run holding the output folder's lock; on Spark,
    ``scratch`` is the folder of :func:`~clvpredict.publishing.release_scratch`. What
    ``cleanup`` is given runs when the refresh ends, however it ends."""
    outcome = RefreshOutcome()
    # With covariates the previous model is read before the fit (its reference levels are
    # kept), and the drift gate reuses it; without, the gate reads it in its own step.
    previous = _previous_bundle(out / "model.json") if settings.covariate_columns else None
    settings, kept = _keep_reference_levels(settings, previous)
    try:
        bundle, _tx, rfm, context = run_fit(settings, record, evaluate_holdout_too=True)
    except ReferenceLevelError as exc:
        if exc.column not in kept:
            raise
        lost = [exc.column]
        raise ClvDataError(
            f"{exc} The reference level of {lost} is the previous model's ({out / 'model.json'}), "
            "kept because the settings give none, and tonight's data do not have it as a level "
            "of that column. Choose "
            "one with --reference-level COLUMN=LEVEL (setting reference_levels); the "
            "coefficients of that column then measure against another level than last "
            "night's, and the drift gate fails as they cannot be compared."
        ) from exc
    # Spark's cached log and summary are read until the last step (the report's tables).
    cleanup.callback(context["log"].release)
    cleanup.callback(release, rfm)
    if context["assessment"] is not None:
        # A cached Spark calibration summary stays cached until the report has read it.
        cleanup.callback(context["assessment"].release)
    end = bundle.settings["observation_end"]
    cal_end = context["calibration_end"]
    outcome.gates.append(
        Gate("convergence", True, detail="both models converged (checked during the fit)")
    )
    with step("holdout evaluation", record):
        holdout_gate, holdout_metrics = _holdout_gate(settings, context)
    outcome.gates.append(holdout_gate)
    with step("parameter drift against the previous model", record):
        outcome.gates.append(_drift_gate(settings, bundle, out / "model.json", previous=previous))
    predictions = f"predictions.{settings.output_format}"
    folders: dict[str, Path] = {}
    by_covariate = None
    with step("score customers", record):
        if scratch is None:
            table = bundle.score(rfm)
            totals = {
                "predictive_clv": float(table["predictive_clv"].sum()),
                "simple_clv": float(table["simple_clv"].sum()),
            }
        else:
            # Scored and written by the executors; the totals are a Spark aggregate of the file,
            # which is read where it lies from here on.
            folders[predictions] = scratch / predictions
            scores = spark_engine.score(bundle, rfm, settings.customer_col)
            spark_engine.write_parquet(scores, folders[predictions])
            totals = spark_engine.totals(scores.sparkSession, folders[predictions])
            table = spark_engine.read_predictions(scores.sparkSession, folders[predictions])
        if getattr(bundle.purchase_model, "covariate_design_", None) is not None:
            by_covariate = covariate_values(
                bundle.purchase_model,
                bundle.spend_model,
                table,
                rfm,
                horizon_months=settings.horizon_months,
                annual_discount_rate=settings.annual_discount_rate,
                margin=settings.margin,
                customer_id_col=settings.customer_col,
            )
    outcome.metrics = {
        "run_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "observation_end": end,
        "n_transactions": context["log"].n_rows,
        "n_customers": context["summary"]["n_customers"],
        "models": {
            role: {
                "class": type(model).__name__,
                "params": {k: float(v) for k, v in model.params_.items()},
                "log_likelihood": model.log_likelihood_,
                "converged": model.converged_,
            }
            for role, model in (("purchase", bundle.purchase_model), ("spend", bundle.spend_model))
        },
        "holdout": holdout_metrics,
        "gates": [asdict(g) for g in outcome.gates],
        "totals": totals,
        "settings": asdict(settings),
        "timings_seconds": record.seconds,
        "peak_memory_bytes": record.peak_memory_bytes,
    }
    if by_covariate is not None:
        lr = by_covariate.likelihood_ratio
        design = bundle.purchase_model.covariate_design_
        outcome.metrics["covariates"] = {
            "columns": list(design.columns),
            "reference_levels": {
                name: design.column(name).reference
                for name in design.columns
                if design.column(name).kind == "categorical"
            },
            "reference_levels_kept_from_previous_model": kept,
            "likelihood_ratio_test": None
            if lr is None
            else {k: float(lr[k]) for k in ("statistic", "df", "p_value")},
        }
    failed = [g for g in outcome.gates if g.passed is False]
    if failed:
        # The rejected night's metrics go to a file of their own; the published ones stay.
        rejected = json.dumps(_plain(outcome.metrics), indent=2, allow_nan=False) + "\n"
        write_bytes_atomic(rejected.encode(), out / "last-rejected-metrics.json")
        raise GateFailure(
            "quality gate(s) failed, nothing published: " + "; ".join(g.detail for g in failed)
        )

    files: dict[str, bytes] = {}
    files["model.json"] = (json.dumps(bundle.to_dict(), indent=2, allow_nan=False) + "\n").encode()
    if not folders:
        with step(f"write {predictions}", record):
            files[predictions] = table_bytes(table, settings.output_format)
    if settings.report and cal_end is not None:
        with step("HTML report", record), tempfile.TemporaryDirectory() as report_folder:
            # On Spark the report queries the summary and the predictions where they lie: only
            # aggregates, first rows by rank and a bounded sample come to the driver.
            assessment = context["assessment"]
            report = build_report(
                Path(report_folder) / "report.html",
                context["log"],
                settings.customer_col,
                settings.date_col,
                settings.amount_col,
                calibration_end=cal_end,
                observation_end=end,
                time_unit=settings.time_unit,
                horizon_months=settings.horizon_months,
                annual_discount_rate=settings.annual_discount_rate,
                margin=settings.margin,
                currency=settings.currency,
                lifetime_years=bundle.settings["lifetime_years"],
                purchase_model=bundle.purchase_model,
                spend_model=bundle.spend_model,
                calibration=context["calibration"],
                rfm=rfm,
                assessment=assessment,
                table=table,
                datetime_format=settings.date_format,
                returns=settings.returns,
                after_end=settings.after_end,
                duplicates=settings.duplicates,
                covariates=by_covariate,
            )
            files["report.html"] = report.read_bytes()
    elif settings.report and record.progress is not None:
        record.progress.skip(
            "HTML report",
            f"the history is shorter than two holdout windows of {settings.holdout_months} months",
        )
    files["metrics.json"] = (
        json.dumps(_plain(outcome.metrics), indent=2, allow_nan=False) + "\n"
    ).encode()
    with step("publish", record):
        outcome.release = publish_release(out, files, settings.keep, folders=folders)
    outcome.published = sorted([*files, *folders])
    return outcome

"""The RFM summary on embedded engines: plain polars, plain DuckDB, one narwhals implementation.

Measures, for one Parquet log (a file or a directory of files, from make_logs.py), the time and
peak memory of computing ``clvpredict.rfm_summary``'s columns (``frequency``, ``recency``,
``T``, ``monetary_value``, ``avg_order_value``; continuous time, ``--time-unit``, an explicit
``--observation-end``) in several ways, each in a fresh subprocess per run:

``polars``
    A plain polars lazy query, collected with the streaming engine.
``duckdb``
    Plain DuckDB SQL, fetched as an Arrow table.
``nw-polars``, ``nw-duckdb``, ``nw-pandas``
    One narwhals implementation (``rfm_narwhals`` below) on a polars LazyFrame, a DuckDB relation
    and a pandas DataFrame read with ``pd.read_parquet``.
``clvpredict``
    ``pd.read_parquet`` then ``clvpredict.rfm_summary`` (pandas; its checks included).
``clvpredict-polars``, ``clvpredict-duckdb``
    ``clvpredict.rfm_summary`` with its checks on ``polars.scan_parquet`` / ``duckdb.read_parquet``
    of the log: what the command line does (polars) and what a DuckDB user gets.
``lifetimes``
    ``pd.read_parquet`` then lifetimes' ``summary_data_from_transaction_data`` (days, divided
    by 7 for weeks). The same numbers, except a monetary value of 0 for one-time buyers.

Each engine is run three ways: ``agg`` (the summary alone), ``checks`` (the data-quality checks
alone: rows, missing ids, dates and amounts, NaN and infinite amounts, negative and zero amounts,
rows dated after today and after the observation end, and exactly repeated rows), and ``both``
(what ``rfm_summary`` has to do: the checks and the summary in one run).

With ``--calibration-end DATE`` the summary timed is ``calibration_holdout_summary``'s instead
(``frequency``, ``recency``, ``T``, ``monetary_value``, ``avg_order_value`` up to DATE, and
``frequency_holdout``, ``monetary_value_holdout``, ``duration_holdout`` after it, for the
customers whose first purchase is on or before DATE), for the plain queries, the ``clvpredict*``
methods and ``lifetimes`` (``calibration_and_holdout_data``).

Before timing, ``--verify`` compares every implementation's summary with ``rfm_summary`` on the
same log: frequencies exactly, times and money to 1e-12 (relative, or absolute below 1).

    python benchmarks/bench_engines.py --log DIR/log_1m.parquet --verify
    python benchmarks/bench_engines.py --customers 1000000 --data DIR --repeats 3
    python benchmarks/bench_engines.py --log DIR/log_10m --methods polars duckdb nw-polars
    python benchmarks/bench_engines.py --log DIR/log_1m.parquet --calibration-end 2024-08-31 \
        --methods polars duckdb clvpredict-polars clvpredict-duckdb --kinds both

The table gives the median wall time (inside the subprocess, from reading to the materialised
result; imports excluded) and the median peak RSS of the subprocess (imports included), and the
ratio of each time to the fastest plain query (polars or DuckDB) of the same kind.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import date, datetime, timedelta, timezone
from pathlib import Path

END = "2024-12-31"
UNIT_DAYS = {"D": 1.0, "W": 7.0, "M": 365.2425 / 12.0, "Y": 365.2425}
ID, DATE, AMOUNT = "customer_id", "date", "amount"
METHODS = (
    "polars",
    "duckdb",
    "nw-polars",
    "nw-duckdb",
    "nw-pandas",
    "clvpredict",
    "clvpredict-polars",
    "clvpredict-duckdb",
    "lifetimes",
)
PLAIN = ("polars", "duckdb")
KINDS = ("agg", "checks", "both", "scan-checks")
SUMMARY_COLUMNS = ["frequency", "recency", "T", "monetary_value", "avg_order_value"]
HOLDOUT_COLUMNS = ["frequency_holdout", "monetary_value_holdout", "duration_holdout"]
#: ``--calibration-end``: time the calibration/holdout summary, split at this date.
SPLIT: dict[str, str | None] = {"calibration_end": None}
CALIBRATION_METHODS = ("polars", "duckdb", "clvpredict", "clvpredict-polars", "clvpredict-duckdb")
#: DuckDB spills to disk past its memory limit; the default (80% of RAM) is too much on a
#: shared machine. Set with --duckdb-memory-limit.
DUCKDB_CONFIG = {"memory_limit": os.environ.get("BENCH_DUCKDB_MEMORY_LIMIT", "6GB")}
CHECK_NAMES = [
    "rows",
    "null_ids",
    "null_dates",
    "null_amounts",
    "nan_amounts",
    "inf_amounts",
    "negative_amounts",
    "zero_amounts",
    "after_today",
    "after_end",
    "repeated_rows",
]


def day_number(value: str | date) -> int:
    """Days since 1970-01-01 of a calendar day."""
    day = date.fromisoformat(value) if isinstance(value, str) else value
    return (day - date(1970, 1, 1)).days


def today_day() -> int:
    """The latest calendar day on Earth now (UTC+14), as rfm_summary's check uses."""
    return day_number((datetime.now(timezone.utc) + timedelta(hours=14)).date())


def parquet_glob(path: str) -> str:
    return str(Path(path) / "*.parquet") if Path(path).is_dir() else path


# --------------------------------------------------------------------------------------------
# polars
# --------------------------------------------------------------------------------------------


def rfm_polars(lf, end_day: int, days_per_unit: float):
    """The summary as a polars lazy query; ``lf`` has the log's three columns."""
    import polars as pl

    daily = lf.group_by(ID, pl.col(DATE).dt.epoch("d").cast(pl.Int64).alias("day")).agg(
        pl.col(AMOUNT).sum()
    )
    stats = daily.group_by(ID).agg(
        first=pl.col("day").min(),
        last=pl.col("day").max(),
        n=pl.len(),
        total=pl.col(AMOUNT).sum(),
        first_amount=pl.col(AMOUNT).min_by("day"),
    )
    frequency = pl.col("n").cast(pl.Int64) - 1
    return stats.select(
        ID,
        frequency.alias("frequency"),
        ((pl.col("last") - pl.col("first")) / days_per_unit).alias("recency"),
        ((end_day - pl.col("first")) / days_per_unit).alias("T"),
        pl.when(frequency > 0)
        .then((pl.col("total") - pl.col("first_amount")) / frequency)
        .otherwise(None)
        .alias("monetary_value"),
        (pl.col("total") / pl.col("n")).alias("avg_order_value"),
    )


def calibration_polars(lf, cal_day: int, end_day: int, days_per_unit: float):
    """The calibration/holdout summary as a polars lazy query: calibration columns up to day
    ``cal_day`` (included), holdout columns after it, customers first seen by ``cal_day``."""
    import polars as pl

    daily = lf.group_by(ID, pl.col(DATE).dt.epoch("d").cast(pl.Int64).alias("day")).agg(
        pl.col(AMOUNT).sum()
    )
    day, amount = pl.col("day"), pl.col(AMOUNT)
    calibration = day <= cal_day
    stats = (
        daily.group_by(ID)
        .agg(
            first=day.min(),
            last=day.filter(calibration).max(),
            n=calibration.sum(),
            total=amount.filter(calibration).sum(),
            first_amount=amount.min_by("day"),
            n_holdout=(~calibration).sum(),
            total_holdout=amount.filter(~calibration).sum(),
        )
        .filter(pl.col("first") <= cal_day)
    )
    frequency = pl.col("n").cast(pl.Int64) - 1
    n_holdout = pl.col("n_holdout").cast(pl.Int64)
    return stats.select(
        ID,
        frequency.alias("frequency"),
        ((pl.col("last") - pl.col("first")) / days_per_unit).alias("recency"),
        ((cal_day - pl.col("first")) / days_per_unit).alias("T"),
        pl.when(frequency > 0)
        .then((pl.col("total") - pl.col("first_amount")) / frequency)
        .otherwise(None)
        .alias("monetary_value"),
        (pl.col("total") / pl.col("n")).alias("avg_order_value"),
        n_holdout.alias("frequency_holdout"),
        pl.when(n_holdout > 0)
        .then(pl.col("total_holdout") / n_holdout)
        .otherwise(None)
        .alias("monetary_value_holdout"),
        pl.lit((end_day - cal_day) / days_per_unit).alias("duration_holdout"),
    )


def checks_polars(lf, end_day: int, today: int, repeated: bool = True):
    """One row of counts: the data-quality checks of rfm_summary."""
    import polars as pl

    day = pl.col(DATE).dt.epoch("d")
    amount = pl.col(AMOUNT)
    counts = lf.select(
        rows=pl.len(),
        null_ids=pl.col(ID).null_count(),
        null_dates=pl.col(DATE).null_count(),
        null_amounts=amount.null_count(),
        nan_amounts=amount.is_nan().sum(),
        inf_amounts=amount.is_infinite().sum(),
        negative_amounts=(amount < 0).sum(),
        zero_amounts=(amount == 0).sum(),
        after_today=(day > today).sum(),
        after_end=(day > end_day).sum(),
    )
    if not repeated:
        return counts
    distinct = lf.group_by(ID, DATE, AMOUNT).agg(pl.len()).select(distinct=pl.len())
    return counts.join(distinct, how="cross").select(
        *CHECK_NAMES[:-1], repeated_rows=pl.col("rows") - pl.col("distinct")
    )


def run_polars(path: str, kind: str, end_day: int, days_per_unit: float, today: int):
    import polars as pl

    lf = pl.scan_parquet(parquet_glob(path)).select(ID, DATE, AMOUNT)
    queries = []
    if kind in ("checks", "both", "scan-checks"):
        queries.append(checks_polars(lf, end_day, today, kind != "scan-checks"))
    if kind in ("agg", "both"):
        split = SPLIT["calibration_end"]
        if split is None:
            queries.append(rfm_polars(lf, end_day, days_per_unit))
        else:
            queries.append(calibration_polars(lf, day_number(split), end_day, days_per_unit))
    results = pl.collect_all(queries, engine="streaming")
    return results[-1]


# --------------------------------------------------------------------------------------------
# DuckDB
# --------------------------------------------------------------------------------------------


def rfm_duckdb_sql(source: str, end_day: int, days_per_unit: float) -> str:
    """The summary in DuckDB SQL; ``source`` is a table expression with the log's columns."""
    return f"""
        WITH daily AS (
            SELECT {ID}, CAST({DATE} AS DATE) - DATE '1970-01-01' AS day, sum({AMOUNT}) AS amount
            FROM {source}
            GROUP BY ALL
        ), stats AS (
            SELECT {ID}, min(day) AS first, max(day) AS last, count(*) AS n,
                   sum(amount) AS total, arg_min(amount, day) AS first_amount
            FROM daily
            GROUP BY {ID}
        )
        SELECT {ID},
               n - 1 AS frequency,
               (last - first) / {days_per_unit!r} AS recency,
               ({end_day} - first) / {days_per_unit!r} AS T,
               CASE WHEN n > 1 THEN (total - first_amount) / (n - 1) END AS monetary_value,
               total / n AS avg_order_value
        FROM stats
    """


def calibration_duckdb_sql(source: str, cal_day: int, end_day: int, days_per_unit: float) -> str:
    """The calibration/holdout summary in DuckDB SQL (see ``calibration_polars``)."""
    return f"""
        WITH daily AS (
            SELECT {ID}, CAST({DATE} AS DATE) - DATE '1970-01-01' AS day, sum({AMOUNT}) AS amount
            FROM {source}
            GROUP BY ALL
        ), stats AS (
            SELECT {ID}, min(day) AS first,
                   max(day) FILTER (WHERE day <= {cal_day}) AS last,
                   count(*) FILTER (WHERE day <= {cal_day}) AS n,
                   sum(amount) FILTER (WHERE day <= {cal_day}) AS total,
                   arg_min(amount, day) AS first_amount,
                   count(*) FILTER (WHERE day > {cal_day}) AS n_holdout,
                   sum(amount) FILTER (WHERE day > {cal_day}) AS total_holdout
            FROM daily
            GROUP BY {ID}
            HAVING min(day) <= {cal_day}
        )
        SELECT {ID},
               n - 1 AS frequency,
               (last - first) / {days_per_unit!r} AS recency,
               ({cal_day} - first) / {days_per_unit!r} AS T,
               CASE WHEN n > 1 THEN (total - first_amount) / (n - 1) END AS monetary_value,
               total / n AS avg_order_value,
               n_holdout AS frequency_holdout,
               CASE WHEN n_holdout > 0 THEN total_holdout / n_holdout END
                   AS monetary_value_holdout,
               {(end_day - cal_day) / days_per_unit!r} AS duration_holdout
        FROM stats
    """


def checks_duckdb_sql(source: str, end_day: int, today: int, repeated: bool = True) -> str:
    day = f"(CAST({DATE} AS DATE) - DATE '1970-01-01')"
    if not repeated:
        return f"""
            SELECT count(*) AS rows,
                   count(*) FILTER (WHERE {AMOUNT} < 0) AS negative_amounts,
                   count(*) FILTER (WHERE {AMOUNT} = 0) AS zero_amounts,
                   count(*) - count({ID}) AS null_ids,
                   count(*) - count({DATE}) AS null_dates,
                   count(*) - count({AMOUNT}) AS null_amounts,
                   count(*) FILTER (WHERE isnan({AMOUNT})) AS nan_amounts,
                   count(*) FILTER (WHERE isinf({AMOUNT})) AS inf_amounts,
                   count(*) FILTER (WHERE {day} > {today}) AS after_today,
                   count(*) FILTER (WHERE {day} > {end_day}) AS after_end
            FROM {source}
        """
    return f"""
        WITH counts AS (
            SELECT count(*) AS rows,
                   count(*) - count({ID}) AS null_ids,
                   count(*) - count({DATE}) AS null_dates,
                   count(*) - count({AMOUNT}) AS null_amounts,
                   count(*) FILTER (WHERE isnan({AMOUNT})) AS nan_amounts,
                   count(*) FILTER (WHERE isinf({AMOUNT})) AS inf_amounts,
                   count(*) FILTER (WHERE {AMOUNT} < 0) AS negative_amounts,
                   count(*) FILTER (WHERE {AMOUNT} = 0) AS zero_amounts,
                   count(*) FILTER (WHERE {day} > {today}) AS after_today,
                   count(*) FILTER (WHERE {day} > {end_day}) AS after_end
            FROM {source}
        ), distinct_rows AS (
            SELECT count(*) AS n FROM (SELECT DISTINCT {ID}, {DATE}, {AMOUNT} FROM {source})
        )
        SELECT counts.*, counts.rows - distinct_rows.n AS repeated_rows
        FROM counts, distinct_rows
    """


def run_duckdb(path: str, kind: str, end_day: int, days_per_unit: float, today: int):
    import duckdb

    con = duckdb.connect(config=DUCKDB_CONFIG)
    source = f"read_parquet('{parquet_glob(path)}')"
    result = None
    if kind in ("checks", "both", "scan-checks"):
        sql = checks_duckdb_sql(source, end_day, today, kind != "scan-checks")
        result = con.sql(sql).to_arrow_table()
    if kind in ("agg", "both"):
        split = SPLIT["calibration_end"]
        if split is None:
            sql = rfm_duckdb_sql(source, end_day, days_per_unit)
        else:
            sql = calibration_duckdb_sql(source, day_number(split), end_day, days_per_unit)
        result = con.sql(sql).to_arrow_table()
    return result


# --------------------------------------------------------------------------------------------
# narwhals: one implementation for every backend
# --------------------------------------------------------------------------------------------


def _nw_day(column: str):
    """Whole days since 1970-01-01 of a naive timestamp column, floored.

    narwhals has no ``dt.total_days`` and no ``dt.timestamp`` on DuckDB, and DuckDB cannot cast
    a DATE to an integer; the duration since the epoch in whole seconds, floor-divided, works on
    polars, DuckDB and pandas alike.
    """
    import narwhals as nw

    return (nw.col(column) - nw.lit(datetime(1970, 1, 1))).dt.total_seconds() // 86_400


def rfm_narwhals(frame, end_day: int, days_per_unit: float):
    """The summary of a narwhals LazyFrame with the log's columns, as a narwhals LazyFrame."""
    import narwhals as nw

    daily = frame.with_columns(day=_nw_day(DATE)).group_by(ID, "day").agg(nw.col(AMOUNT).sum())
    stats = daily.group_by(ID).agg(
        nw.col("day").min().alias("first"),
        nw.col("day").max().alias("last"),
        nw.len().alias("n"),
        nw.col(AMOUNT).sum().alias("total"),
        # The amount of the first purchase day. An ordered aggregation: lazy backends need the
        # order given (a window minimum and a masked sum also work, at twice the cost on DuckDB).
        nw.col(AMOUNT).first(order_by="day").alias("first_amount"),
    )
    frequency = nw.col("n").cast(nw.Int64) - 1
    return stats.select(
        ID,
        frequency.alias("frequency"),
        ((nw.col("last") - nw.col("first")) / days_per_unit).alias("recency"),
        ((end_day - nw.col("first")) / days_per_unit).alias("T"),
        nw.when(frequency > 0)
        .then((nw.col("total") - nw.col("first_amount")) / frequency)
        .alias("monetary_value"),
        (nw.col("total") / nw.col("n")).alias("avg_order_value"),
    )


def checks_narwhals(frame, end_day: int, today: int, repeated: bool = True):
    import narwhals as nw

    day = _nw_day(DATE)
    amount = nw.col(AMOUNT)
    counts = frame.select(
        nw.len().alias("rows"),
        nw.col(ID).null_count().alias("null_ids"),
        nw.col(DATE).null_count().alias("null_dates"),
        amount.null_count().alias("null_amounts"),
        amount.is_nan().sum().alias("nan_amounts"),
        (~amount.is_finite() & ~amount.is_nan()).sum().alias("inf_amounts"),
        (amount < 0).sum().alias("negative_amounts"),
        (amount == 0).sum().alias("zero_amounts"),
        (day > today).sum().alias("after_today"),
        (day > end_day).sum().alias("after_end"),
    )
    if not repeated:
        return counts
    distinct = frame.group_by(ID, DATE, AMOUNT).agg(nw.len()).select(nw.len().alias("distinct"))
    return counts.join(distinct, how="cross").select(
        *CHECK_NAMES[:-1], (nw.col("rows") - nw.col("distinct")).alias("repeated_rows")
    )


def run_narwhals(
    backend: str, path: str, kind: str, end_day: int, days_per_unit: float, today: int
):
    import narwhals as nw

    if SPLIT["calibration_end"] is not None:
        raise SystemExit("the narwhals methods time rfm_summary's columns only")
    if backend == "polars":
        import polars as pl

        native = pl.scan_parquet(parquet_glob(path))
        collect = {"engine": "streaming"}
    elif backend == "duckdb":
        import duckdb

        native = duckdb.connect(config=DUCKDB_CONFIG).read_parquet(parquet_glob(path))
        collect = {}
    else:
        import pandas as pd

        native = pd.read_parquet(path)
        collect = {}
    frame = nw.from_native(native).lazy().select(ID, DATE, AMOUNT)
    result = None
    if kind in ("checks", "both", "scan-checks"):
        checks = checks_narwhals(frame, end_day, today, kind != "scan-checks")
        result = checks.collect(**collect)
    if kind in ("agg", "both"):
        result = rfm_narwhals(frame, end_day, days_per_unit).collect(**collect)
    return result.to_native()


# --------------------------------------------------------------------------------------------
# pandas: clvpredict and lifetimes
# --------------------------------------------------------------------------------------------


def run_clvpredict(path: str, kind: str, time_unit: str):
    import pandas as pd

    import clvpredict as cp

    tx = pd.read_parquet(path)
    if kind != "both":
        raise SystemExit("clvpredict runs its checks and summary together: only --kind both")
    return clvpredict_summary(cp, tx, time_unit)


def clvpredict_summary(cp, log, time_unit: str):
    """``rfm_summary``, or with ``--calibration-end`` ``calibration_holdout_summary``, of ``log``."""
    split = SPLIT["calibration_end"]
    if split is None:
        return cp.rfm_summary(log, ID, DATE, AMOUNT, observation_end=END, time_unit=time_unit)
    return cp.calibration_holdout_summary(
        log, ID, DATE, split, END, monetary_value_col=AMOUNT, time_unit=time_unit
    )


def run_clvpredict_engine(engine: str, path: str, kind: str, time_unit: str):
    """clvpredict.rfm_summary with its checks, on a log scanned lazily by polars or DuckDB."""
    import clvpredict as cp

    if kind != "both":
        raise SystemExit("clvpredict runs its checks and summary together: only --kind both")
    if engine == "polars":
        import polars as pl

        log = pl.scan_parquet(parquet_glob(path))
        return clvpredict_summary(cp, log, time_unit).collect()
    import duckdb

    log = duckdb.read_parquet(parquet_glob(path))
    return clvpredict_summary(cp, log, time_unit).to_arrow_table()


def run_lifetimes(path: str, kind: str, time_unit: str):
    import pandas as pd
    from lifetimes.utils import summary_data_from_transaction_data

    tx = pd.read_parquet(path)
    if kind != "both":
        raise SystemExit("lifetimes has no separate checks: only --kind both")
    if SPLIT["calibration_end"] is not None:
        from lifetimes.utils import calibration_and_holdout_data

        return calibration_and_holdout_data(
            tx,
            ID,
            DATE,
            calibration_period_end=SPLIT["calibration_end"],
            observation_period_end=END,
            freq="D",
            freq_multiplier=UNIT_DAYS[time_unit],
            monetary_value_col=AMOUNT,
        )
    return summary_data_from_transaction_data(
        tx,
        ID,
        DATE,
        AMOUNT,
        observation_period_end=END,
        freq="D",
        freq_multiplier=UNIT_DAYS[time_unit],
    )


def compute(method: str, path: str, kind: str, time_unit: str):
    end_day, days_per_unit, today = day_number(END), UNIT_DAYS[time_unit], today_day()
    if method == "polars":
        return run_polars(path, kind, end_day, days_per_unit, today)
    if method == "duckdb":
        return run_duckdb(path, kind, end_day, days_per_unit, today)
    if method.startswith("nw-"):
        return run_narwhals(method[3:], path, kind, end_day, days_per_unit, today)
    if method == "clvpredict":
        return run_clvpredict(path, kind, time_unit)
    if method.startswith("clvpredict-"):
        return run_clvpredict_engine(method.split("-", 1)[1], path, kind, time_unit)
    if method == "lifetimes":
        return run_lifetimes(path, kind, time_unit)
    raise SystemExit(f"unknown method {method!r}")


def to_pandas(result):
    """Any result as a pandas DataFrame indexed by customer id, sorted."""
    import pandas as pd

    if isinstance(result, pd.DataFrame):
        frame = result
    elif hasattr(result, "to_pandas"):
        frame = result.to_pandas()
    else:
        frame = result.df()
    if ID in frame.columns:
        frame = frame.set_index(ID)
    return frame.sort_index()


# --------------------------------------------------------------------------------------------
# one timed run (in a subprocess) and the driver
# --------------------------------------------------------------------------------------------


def peak_rss_mb() -> float:
    """Peak resident memory of this process (VmHWM: reset by exec, unlike ru_maxrss, which a
    child started by fork and exec inherits from its parent)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def child(method: str, path: str, kind: str, time_unit: str) -> None:
    """Import the engine, then time one computation; print JSON."""
    if method in ("polars", "nw-polars", "clvpredict-polars"):
        import polars  # noqa: F401
    if method in ("duckdb", "nw-duckdb", "clvpredict-duckdb"):
        import duckdb  # noqa: F401
    if method.startswith("nw-"):
        import narwhals  # noqa: F401
    if method in ("clvpredict", "nw-pandas", "lifetimes"):
        import pandas  # noqa: F401
    if method.startswith("clvpredict"):
        import clvpredict  # noqa: F401
    if method == "lifetimes":
        import lifetimes  # noqa: F401
    rss_before = peak_rss_mb()
    started = time.perf_counter()
    cpu = time.process_time()
    error = None
    try:
        result = compute(method, path, kind, time_unit)
        rows = len(result) if not hasattr(result, "num_rows") else result.num_rows
    except Exception as exc:  # a crash is a result (lifetimes on pandas 3)
        error, rows = f"{type(exc).__name__}: {str(exc).splitlines()[0][:200]}", None
    wall = time.perf_counter() - started
    cpu = time.process_time() - cpu
    peak = peak_rss_mb()
    print(
        json.dumps(
            {
                "wall": wall,
                "cpu": cpu,
                "peak_rss_mb": peak,
                "rss_after_imports_mb": rss_before,
                "rows": rows,
                "error": error,
            }
        )
    )


def rss_mb(pid: int) -> float:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


def run_once(method: str, path: str, kind: str, time_unit: str, rss_limit_mb: float) -> dict:
    """One timed run in a fresh process, stopped if its memory passes ``rss_limit_mb``."""
    command = [sys.executable, __file__, "--child", method, "--log", path, "--kind", kind]
    command += ["--time-unit", time_unit]
    if SPLIT["calibration_end"] is not None:
        command += ["--calibration-end", SPLIT["calibration_end"]]
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        process = subprocess.Popen(command, stdout=out, stderr=err, text=True)
        stopped = None
        while process.poll() is None:
            if rss_mb(process.pid) > rss_limit_mb:
                process.kill()
                stopped = f"stopped: resident memory passed the limit of {rss_limit_mb:.0f} MB"
            time.sleep(0.1)
        out.seek(0)
        err.seek(0)
        stdout, stderr = out.read(), err.read()
    if stopped:
        return {"error": stopped}
    lines = [line for line in stdout.splitlines() if line.startswith("{")]
    if process.returncode or not lines:
        tail = (stderr or stdout).strip().splitlines()[-1:]
        return {"error": f"exit {process.returncode}: {' '.join(tail)[:200]}"}
    return json.loads(lines[-1])


def verify(path: str, time_unit: str, methods: list[str]) -> bool:
    """Every method's summary against rfm_summary's: counts exact, the rest to 1e-12."""
    import numpy as np

    reference = to_pandas(compute("clvpredict", path, "both", time_unit))
    end_day, today = day_number(END), today_day()
    ok = True
    for method in methods:
        if method in ("clvpredict", "lifetimes"):
            continue
        kind = "both" if method.startswith("clvpredict-") else "agg"
        got = to_pandas(compute(method, path, kind, time_unit))
        same_ids = got.index.equals(reference.index.astype(got.index.dtype))
        problems = [] if same_ids else ["customer ids differ"]
        if same_ids:
            if not np.array_equal(got["frequency"].to_numpy(), reference["frequency"].to_numpy()):
                problems.append("frequency differs")
            columns = SUMMARY_COLUMNS[1:]
            if SPLIT["calibration_end"] is not None:
                columns = [*columns, *HOLDOUT_COLUMNS]
            for column in columns:
                a = got[column].to_numpy(dtype=float, na_value=np.nan)
                b = reference[column].to_numpy(dtype=float, na_value=np.nan)
                if not np.array_equal(np.isnan(a), np.isnan(b)):
                    problems.append(f"{column}: NaN in different places")
                    continue
                both = ~np.isnan(a)
                error = np.abs(a[both] - b[both]) / np.maximum(1.0, np.abs(b[both]))
                worst = float(error.max()) if error.size else 0.0
                if worst > 1e-12:
                    problems.append(f"{column}: max scaled error {worst:.2e}")
                print(f"  {method:<11} {column:<16} max |diff| / max(1, |ref|) = {worst:.1e}")
        if not method.startswith("clvpredict-"):  # clvpredict runs its checks inside
            checks = to_pandas(compute(method, path, "checks", time_unit))
            counts = {name: int(checks[name].iloc[0]) for name in CHECK_NAMES}
            print(f"  {method:<11} checks: {counts}")
        print(f"  {method:<11} {'OK' if not problems else 'FAILED: ' + '; '.join(problems)}")
        ok &= not problems
    print(f"  reference: {len(reference):,} customers; end day {end_day}, today {today}")
    return ok


def machine() -> dict:
    import duckdb
    import narwhals
    import numpy
    import pandas
    import polars
    import pyarrow

    import clvpredict

    try:
        import lifetimes

        lifetimes_version = lifetimes.__version__
    except Exception as exc:  # pragma: no cover
        lifetimes_version = f"not importable: {exc}"
    return {
        "python": platform.python_version(),
        "cpus": os.cpu_count(),
        "load_average_at_start": os.getloadavg(),
        "polars": polars.__version__,
        "duckdb": duckdb.__version__,
        "narwhals": narwhals.__version__,
        "pandas": pandas.__version__,
        "pyarrow": pyarrow.__version__,
        "numpy": numpy.__version__,
        "lifetimes": lifetimes_version,
        "clvpredict": clvpredict.__version__,
        "duckdb_memory_limit": DUCKDB_CONFIG["memory_limit"],
    }


def table(results: dict, kinds: list[str]) -> str:
    """Medians per kind, with the ratio to the fastest plain query (by median and by minimum)."""
    lines = []
    for kind in kinds:
        rows = {m: r for (m, k), r in results.items() if k == kind}
        plain = [r for m, r in rows.items() if m in PLAIN and "median_wall" in r]
        best_median = min((r["median_wall"] for r in plain), default=None)
        best_min = min((r["min_wall"] for r in plain), default=None)
        lines.append(f"\n[{kind}]  ratio: wall / fastest plain query (polars or DuckDB)")
        lines.append(
            f"{'method':<12}{'median s':>9}{'min s':>7}{'max s':>7}{'cpu s':>7}"
            f"{'peak RSS MB':>12}{'ratio med':>10}{'ratio min':>10}"
        )
        for method, r in rows.items():
            if "median_wall" not in r:
                lines.append(f"{method:<12} {r.get('error', 'failed')}")
                continue
            ratio_median = f"{r['median_wall'] / best_median:.2f}" if best_median else "-"
            ratio_min = f"{r['min_wall'] / best_min:.2f}" if best_min else "-"
            lines.append(
                f"{method:<12}{r['median_wall']:>9.2f}{r['min_wall']:>7.2f}{r['max_wall']:>7.2f}"
                f"{r['median_cpu']:>7.2f}{r['median_peak_rss_mb']:>12.0f}"
                f"{ratio_median:>10}{ratio_min:>10}"
            )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--log", help="Parquet file or directory of Parquet files")
    parser.add_argument("--customers", type=int, help="use DATA/log_<N>m[.parquet]")
    parser.add_argument("--data", default="bigdata", help="directory of make_logs.py's output")
    parser.add_argument("--methods", nargs="+", default=list(METHODS), choices=METHODS)
    parser.add_argument("--kinds", nargs="+", default=list(KINDS), choices=KINDS)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--time-unit", default="W", choices=sorted(UNIT_DAYS))
    parser.add_argument(
        "--calibration-end",
        help="time calibration_holdout_summary split at this date (YYYY-MM-DD) instead",
    )
    parser.add_argument("--verify", action="store_true", help="check the numbers, then exit")
    parser.add_argument("--json", type=Path, help="write every measurement here")
    parser.add_argument(
        "--rss-limit-mb", type=float, default=8000, help="stop a run whose memory passes this"
    )
    parser.add_argument(
        "--duckdb-memory-limit", default=None, help="DuckDB memory_limit (default 6GB)"
    )
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--kind", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)

    if args.log is None:
        if args.customers is None:
            parser.error("give --log or --customers")
        tag = f"{args.customers // 1_000_000}m"
        single = Path(args.data) / f"log_{tag}.parquet"
        args.log = str(single if single.exists() else Path(args.data) / f"log_{tag}")
    if args.duckdb_memory_limit:
        os.environ["BENCH_DUCKDB_MEMORY_LIMIT"] = args.duckdb_memory_limit
        DUCKDB_CONFIG["memory_limit"] = args.duckdb_memory_limit
    if args.calibration_end:
        SPLIT["calibration_end"] = args.calibration_end
        args.methods = [m for m in args.methods if m in (*CALIBRATION_METHODS, "lifetimes")]
    if args.child:
        child(args.child, args.log, args.kind, args.time_unit)
        return 0
    if args.verify:
        return 0 if verify(args.log, args.time_unit, args.methods) else 1

    info = machine()
    print(json.dumps(info))
    # Repeats are interleaved (every method once, then again) so that a burst of load from
    # elsewhere on the machine falls on all methods rather than on one.
    cases = [
        (method, kind)
        for kind in args.kinds
        for method in args.methods
        if kind == "both" or not method.startswith(("clvpredict", "lifetimes"))
    ]
    runs: dict = {case: [] for case in cases}
    for repeat in range(args.repeats):
        for method, kind in cases:
            if any(r.get("error") for r in runs[(method, kind)]):
                continue
            runs[(method, kind)].append(
                run_once(method, args.log, kind, args.time_unit, args.rss_limit_mb)
            )
            line = json.dumps(runs[(method, kind)][-1])
            print(f"{repeat + 1} {kind:<7}{method:<12}{line}", flush=True)
    results: dict = {}
    for case in cases:
        good = [r for r in runs[case] if not r.get("error")]
        entry: dict = {"runs": runs[case]}
        if good:
            walls = [r["wall"] for r in good]
            entry.update(
                median_wall=statistics.median(walls),
                min_wall=min(walls),
                max_wall=max(walls),
                median_cpu=statistics.median(r["cpu"] for r in good),
                median_peak_rss_mb=statistics.median(r["peak_rss_mb"] for r in good),
            )
        else:
            entry["error"] = runs[case][-1]["error"]
        results[case] = entry
    info["load_average_at_end"] = os.getloadavg()
    text = table(results, args.kinds)
    print(text)
    print(
        f"load average at start {info['load_average_at_start']}, end {info['load_average_at_end']}"
    )
    if args.json:
        payload = {
            "log": Path(args.log).name,
            "time_unit": args.time_unit,
            "machine": info,
            "results": [{"method": m, "kind": k, **r} for (m, k), r in results.items()],
        }
        args.json.write_text(json.dumps(payload, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

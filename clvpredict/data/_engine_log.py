"""A transaction log checked and reduced to customer-days inside its own engine (narwhals).

The pandas path (:mod:`clvpredict.data.transactions`) reads pandas' loose column types (object
columns mixing ids, text amounts, dates in several formats). Columns of the other engines are
typed, so here every check is a query the engine runs: one pass of counts over the rows, a second
query for a few examples only when a count is not zero. Rows are never brought into Python.

The checks and their messages are those of the pandas path; rows are named by customer and value,
since a lazy engine has no row labels.
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

import narwhals.stable.v2 as nw

from ..exceptions import ClvDataError
from .engines import as_lazy, backend, checkpoint, count_true, head_rows, scalars

logger = logging.getLogger("clvpredict.data.transactions")

_EPOCH = datetime(1970, 1, 1)
_SECONDS_PER_DAY = 86_400
#: Money is summed exactly, as whole numbers: micro-units of the currency (``amount``) and the
#: rest in micro-micro-units (``amount_fine``, 1e-12). Amounts are read to 1e-12 of the currency,
#: and the largest total that fits an int64 is 9.2e12 currency units.
MICROS = 1_000_000
_LARGEST_TOTAL = 9.0e12
#: Whole numbers below 2**53 add exactly in float64, in any order. While the log's absolute
#: total stays below it (9e9 currency units), the whole numbers are summed as floats: DuckDB adds
#: int64 columns in 128 bits, at a cost that was most of its daily group-by.
_EXACT_IN_FLOAT = 2.0**53

#: ISO 8601 dates, with an optional time and zone (what pandas reads without a format).
_ISO = r"^\d{4}-\d{2}-\d{2}([T ]\d{2}(:\d{2}(:\d{2}([.,]\d+)?)?)?)?(Z|[+-]\d{2}(:?\d{2})?)?$"
_ZONED = r"(Z|[+-]\d{2}(:?\d{2})?)$"
#: Engines whose zoned timestamps are instants read in the session's zone (the type holds none).
_SESSION_ZONED = {"duckdb": "DuckDB", "spark": "Spark"}
_NUMBER = r"^\s*[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?\s*$"


def money(micro: Any, fine: Any) -> Any:
    """Currency from the two exact whole-number parts of a sum (see :data:`MICROS`)."""
    return micro.cast(nw.Float64) / MICROS + fine.cast(nw.Float64) / (MICROS * MICROS)


def _examples(lazy: nw.LazyFrame, condition: Any, columns: list[str], n: int = 5) -> str:
    """A short list of the rows where ``condition`` holds, by their values."""
    rows = head_rows(lazy.filter(condition).select(columns), n)
    shown = ", ".join(
        "(" + ", ".join(f"{c}={v!r}" for c, v in zip(columns, row, strict=True)) + ")"
        for row in rows
    )
    return shown


def _count_text(n: int, total: Any) -> str:
    extra = int(total) - n
    return f" ... and {extra} more" if extra > 0 else ""


def _with_civil_day(frame: nw.LazyFrame) -> nw.LazyFrame:
    """``day`` (days since 1970-01-01) from the columns ``_y``, ``_m``, ``_d`` of a proleptic
    Gregorian date, in integer steps every engine evaluates alike (H. Hinnant's days_from_civil;
    years >= 1 keep every term >= 0). Intermediates are columns, not nested expressions, so that
    SQL engines do not receive every reused term spelled out again."""
    c = nw.col
    steps = [
        {"_yy": c("_y") - (c("_m") <= 2).cast(nw.Int64)},
        {"_era": c("_yy") // 400},
        {"_yoe": c("_yy") - c("_era") * 400},
        {
            "_doy": (153 * nw.when(c("_m") > 2).then(c("_m") - 3).otherwise(c("_m") + 9) + 2) // 5
            + c("_d")
            - 1
        },
        {"_doe": c("_yoe") * 365 + c("_yoe") // 4 - c("_yoe") // 100 + c("_doy")},
        {"day": c("_era") * 146_097 + c("_doe") - 719_468},
    ]
    for step in steps:
        frame = frame.with_columns(**step)
    return frame.drop("_yy", "_era", "_yoe", "_doy", "_doe")


def _with_days_of_text(lazy: nw.LazyFrame, column: str, datetime_format: str | None) -> Any:
    """``lazy`` with ``day`` from dates written as text: a strftime format, or ISO 8601 checked
    row by row.

    An ISO stamp's calendar day is its first ten characters, whatever the time and zone: the
    wall-clock date where it was written, as the pandas path reads zoned stamps.
    """
    if datetime_format is not None:
        return _with_days_of_datetimes(lazy, nw.col(column).str.to_datetime(datetime_format))
    lazy = lazy.with_columns(_text=nw.col(column).str.strip_chars())
    text = nw.col("_text")
    lazy = lazy.with_columns(
        _iso=text.str.contains(_ISO), _zoned=text.str.contains(_ZONED) & text.str.contains("[T ]")
    )
    iso, zoned = nw.col("_iso"), nw.col("_zoned")
    counts = scalars(
        lazy,
        count_true(~iso).alias("not_iso"),
        count_true(iso & zoned).alias("zoned"),
        count_true(iso & ~zoned).alias("naive"),
        nw.when(iso & zoned).then(text.str.slice(-6)).otherwise(None).n_unique().alias("offsets"),
    )
    not_iso, n_zoned, n_naive, offsets = counts
    if not_iso:
        raise ClvDataError(
            f"Column {column!r} has values that are not dates: "
            f"{_examples(lazy, ~iso, [column])}{_count_text(min(5, not_iso), not_iso)}. Pass "
            "datetime_format= (e.g. '%Y%m%d') to say how they are written."
        )
    if n_zoned and n_naive:
        raise ClvDataError(
            f"Column {column!r} mixes timezone-aware and naive timestamps (with a zone: "
            f"{_examples(lazy, iso & zoned, [column])}; without: "
            f"{_examples(lazy, iso & ~zoned, [column])}), so calendar days are ambiguous. "
            "Convert the column to one zone first, or add the zone to every stamp."
        )
    # offsets counts distinct zone suffixes plus the null of the rows without one.
    if n_zoned and offsets - (1 if n_naive else 0) > 1:
        raise ClvDataError(
            f"Column {column!r} holds timestamps with different UTC offsets (a daylight-saving "
            "change?), so one calendar day cannot be read from them. Convert the column to one "
            "zone first, keeping local days."
        )
    lazy = lazy.with_columns(
        _y=text.str.slice(0, 4).cast(nw.Int64),
        _m=text.str.slice(5, 2).cast(nw.Int64),
        _d=text.str.slice(8, 2).cast(nw.Int64),
    )
    y, m, d = nw.col("_y"), nw.col("_m"), nw.col("_d")
    leap = ((y % 4 == 0) & (y % 100 != 0)) | (y % 400 == 0)
    lazy = lazy.with_columns(
        _dim=nw.when(m == 2)
        .then(28 + leap.cast(nw.Int64))
        .when(m.is_in([4, 6, 9, 11]))
        .then(30)
        .otherwise(31)
    )
    valid = (y >= 1) & (m >= 1) & (m <= 12) & (d >= 1) & (d <= nw.col("_dim"))
    n_bad = scalars(lazy, count_true(~valid))[0]
    if n_bad:
        raise ClvDataError(
            f"Column {column!r} has values that are not dates: "
            f"{_examples(lazy, ~valid, [column])}{_count_text(min(5, n_bad), n_bad)}."
        )
    return _with_civil_day(lazy).drop("_text", "_iso", "_zoned", "_y", "_m", "_d", "_dim")


def _with_days_of_datetimes(lazy: nw.LazyFrame, col: Any) -> nw.LazyFrame:
    """``lazy`` with ``day`` from the calendar date of the dates or timestamps ``col``.

    Where narwhals measures durations, the day is the whole days since the epoch of the
    timestamp truncated to its day. Spark has no duration in seconds: there the engine reads the
    year, month and day, and integer arithmetic counts the days. Both give the same numbers, but
    the calendar route costs polars 0.3 s more per 8.7M rows (8x the truncation), so it is kept
    for the engines that need it.
    """
    # Spark's SQL has no duration in seconds between timestamps.
    if backend(lazy) != "spark":
        # The seconds from the epoch to a day's start are a whole number of days: the division
        # is exact (to 2**53 seconds), so it needs no floor, whose portable form costs DuckDB a
        # nested expression per row that took longer than the group-by.
        seconds = (col.dt.truncate("1d") - nw.lit(_EPOCH)).dt.total_seconds()
        return lazy.with_columns(day=(seconds / _SECONDS_PER_DAY).cast(nw.Int64))
    lazy = lazy.with_columns(_ts=col)
    ts = nw.col("_ts")
    lazy = lazy.with_columns(
        _y=ts.dt.year().cast(nw.Int64),
        _m=ts.dt.month().cast(nw.Int64),
        _d=ts.dt.day().cast(nw.Int64),
    )
    return _with_civil_day(lazy).drop("_ts", "_y", "_m", "_d")


def _session_zone(lazy: nw.LazyFrame, reported: str) -> str:
    """The zone in which the session reads instants. narwhals reports Spark's as it was when
    first asked in the process, but a session's zone can be changed at any time."""
    if backend(lazy) == "spark":
        return lazy.to_native().sparkSession.conf.get("spark.sql.session.timeZone")
    return reported


def _with_day(lazy: nw.LazyFrame, column: str, datetime_format: str | None) -> nw.LazyFrame:
    """``lazy`` with the calendar day (days since 1970-01-01) of each row in ``day``."""
    dtype = lazy.collect_schema()[column]
    col = nw.col(column)
    if isinstance(dtype, nw.Datetime):
        if dtype.time_zone is not None:
            # The calendar day a customer experienced is the wall-clock date in the data's zone.
            col = col.dt.replace_time_zone(None)
            if backend(lazy) in _SESSION_ZONED:
                logger.warning(
                    "Column %r holds timestamps with a time zone, which %s keeps as instants: "
                    "calendar days are taken in the session's time zone %r, as the engine's own "
                    "cast to a date does. If the customers' days are in another zone, set the "
                    "session's time zone to it, or store local timestamps without a zone.",
                    column,
                    _SESSION_ZONED[backend(lazy)],
                    _session_zone(lazy, dtype.time_zone),
                )
        return _with_days_of_datetimes(lazy, col)
    if dtype == nw.Date:
        return _with_days_of_datetimes(lazy, col.cast(nw.Datetime("us")))
    if dtype == nw.String:
        return _with_days_of_text(lazy, column, datetime_format)
    if dtype.is_integer() and datetime_format is not None:
        parsed = col.cast(nw.String).str.to_datetime(datetime_format)
        return _with_days_of_datetimes(lazy, parsed)
    raise ClvDataError(
        f"Column {column!r} holds {dtype}, not dates. Store dates or timestamps (or ISO 8601 "
        "text such as '1997-01-01'); for numbers such as 19970101 pass datetime_format='%Y%m%d'."
    )


def _amount_expression(lazy: nw.LazyFrame, column: str) -> Any:
    dtype = lazy.collect_schema()[column]
    col = nw.col(column)
    if dtype == nw.String:
        bad = ~col.str.contains(_NUMBER) & ~col.is_null()
        n_bad = scalars(lazy, count_true(bad))[0]
        if n_bad:
            raise ClvDataError(
                f"Column {column!r} has non-numeric amounts: "
                f"{_examples(lazy, bad, [column])}{_count_text(min(5, n_bad), n_bad)}. Clean "
                "them (strip currency symbols, thousands separators) and cast the column to "
                "a number before summarising."
            )
        return col.str.strip_chars().cast(nw.Float64)
    if dtype == nw.Boolean or not dtype.is_numeric():
        raise ClvDataError(
            f"Column {column!r} has non-numeric amounts ({dtype}). Cast it to a number before "
            "summarising."
        )
    return col.cast(nw.Float64)


def parse_engine_log(
    native: Any,
    customer_id_col: str,
    datetime_col: str,
    monetary_value_col: str | None,
    datetime_format: str | None,
    returns: str,
    duplicates: str,
) -> tuple[nw.LazyFrame, int, tuple[nw.LazyFrame, ...]]:
    """Checked customer-day table of a log held by any engine: ``customer_id``, ``day`` (int,
    days since 1970-01-01), the day's spend as two exact whole numbers ``amount`` and
    ``amount_fine`` (see :data:`MICROS`; one currency unit per row without money) and ``rows``
    (rows of the log merged into that customer-day), computed once by the log's engine (see
    :func:`~clvpredict.data.engines.checkpoint`); the number of rows of the log as read; and the
    other tables it checkpointed on the way, which the daily table is computed from (to
    release after it)."""
    lazy = as_lazy(native)
    names = lazy.collect_schema().names()
    needed = [customer_id_col, datetime_col] + ([monetary_value_col] if monetary_value_col else [])
    missing = [c for c in needed if c not in names]
    if missing:
        raise ClvDataError(
            f"Column(s) {missing} not found in the transactions; available columns are "
            f"{names}. Pass the right names as customer_id_col=, datetime_col= and "
            "monetary_value_col=."
        )
    lazy = lazy.select(needed)
    cid = nw.col(customer_id_col)
    # With money, exactly repeated rows are found by a first group-by, which every count below
    # and the daily table are then read from: the checks cost one aggregation over the rows and
    # one pass over its result, not a pass over the log each.
    distinct = (
        checkpoint(lazy.group_by(needed).agg(nw.len().alias("rows")))
        if monetary_value_col
        else None
    )
    # The rows of the log where a condition holds: each distinct row counts ``rows`` times.
    counted = count_true if distinct is None else weighted_count
    amount_checks = monetary_value_col is not None and _numeric(lazy, monetary_value_col)
    counts = scalars(
        lazy if distinct is None else distinct,
        (nw.len() if distinct is None else nw.col("rows").sum()).alias("n"),
        counted(cid.is_null()).alias("ids"),
        counted(nw.col(datetime_col).is_null()).alias("dates"),
        *([(nw.col("rows") - 1).sum().alias("repeated")] if distinct is not None else []),
        *_spaces_count(lazy, customer_id_col),
        *(_amount_counts(nw.col(monetary_value_col).cast(nw.Float64)) if amount_checks else []),
    )
    n_rows, null_ids, null_dates = (int(c or 0) for c in counts[:3])
    rest = list(counts[3:])
    repeated = int(rest.pop(0) or 0) if distinct is not None else 0
    spaced = int(rest.pop(0) or 0) if lazy.collect_schema()[customer_id_col] == nw.String else 0
    if n_rows == 0:
        raise ClvDataError("The transaction log is empty: there is nothing to summarise.")
    if null_ids:
        raise ClvDataError(
            f"Column {customer_id_col!r} has missing customer ids ({null_ids} rows, e.g. "
            f"{_examples(lazy, cid.is_null(), needed)}). Every transaction needs a customer; "
            "drop those rows or fill the ids."
        )
    if spaced:
        _check_spaces_in_ids(lazy if distinct is None else distinct, customer_id_col)
    if null_dates:
        raise ClvDataError(
            f"Column {datetime_col!r} has missing dates ({null_dates} rows, e.g. "
            f"{_examples(lazy, nw.col(datetime_col).is_null(), needed)}). Drop or fill those "
            "transactions first."
        )

    if distinct is not None and monetary_value_col:
        if repeated:
            if duplicates == "error":
                raise ClvDataError(
                    f"{repeated} rows repeat an earlier row exactly in {needed} (e.g. "
                    f"{_examples(distinct, nw.col('rows') > 1, needed)}). Pass "
                    "duplicates='drop' if they are double-ingested, or duplicates='keep' if "
                    "they are real orders (their amounts are then added to that customer's "
                    "purchase of that day)."
                )
            if duplicates == "drop":
                logger.warning("duplicates='drop': discarded %d exactly repeated rows.", repeated)
                distinct = distinct.with_columns(rows=nw.lit(1, nw.Int64))
            else:
                logger.warning(
                    "%d rows repeat an earlier row exactly in %s; they are kept, and their "
                    "amounts are added to that customer's purchase of that day (pass "
                    "duplicates='drop' if they are double-ingested).",
                    repeated,
                    needed,
                )
        rows = distinct
        amount = _amount_expression(rows, monetary_value_col)
        rows = rows.with_columns(unit_amount=amount)
        if amount_checks and not (repeated and duplicates == "drop"):
            # Counted above, with each row of the log as read.
            amount_counts = rest
        else:
            # Text amounts are counted once they are known to be numbers; dropped repeats
            # change what is counted.
            amount_counts = list(scalars(rows, *_amount_counts(nw.col("unit_amount"))))
        n_neg = _check_amounts(rows, amount_counts, monetary_value_col, needed, returns)
        whole = _whole_numbers(n_rows, float(amount_counts[4] or 0.0))
        # Whole micro-units of the currency, so that every sum below is exact and the same log
        # gives the same bits on every run, whatever order the engine adds rows in.
        micros = nw.col("unit_amount") * MICROS
        rows = rows.with_columns(_micro=micros.round(0).cast(nw.Int64))
        rows = rows.with_columns(
            amount=(nw.col("_micro") * nw.col("rows")).cast(whole),
            amount_fine=(
                ((micros - nw.col("_micro")) * MICROS).round(0).cast(nw.Int64) * nw.col("rows")
            ).cast(whole),
        ).drop("_micro")
    else:
        whole = _whole_numbers(n_rows, float(n_rows))
        rows = lazy.with_columns(
            rows=nw.lit(1, nw.Int64),
            amount=nw.lit(MICROS, whole),
            amount_fine=nw.lit(0, whole),
        )
    rows = _with_day(rows, datetime_col, datetime_format)
    tidy = rows.select(
        nw.col(customer_id_col).alias("customer_id"),
        nw.col("day").cast(nw.Int64),
        nw.col("amount"),
        nw.col("amount_fine"),
        nw.col("rows"),
        *([nw.col("unit_amount")] if monetary_value_col else []),
    )
    if monetary_value_col and returns == "drop" and n_neg:
        logger.warning(
            "returns='drop': discarded %d transactions with negative %r.",
            n_neg,
            monetary_value_col,
        )
        tidy = tidy.filter(~(nw.col("unit_amount") < 0))
    daily = checkpoint(
        tidy.group_by("customer_id", "day").agg(
            nw.col("amount").sum(), nw.col("amount_fine").sum(), nw.col("rows").sum()
        )
    )
    # Asked of the materialised table: on Spark, asking of the query would compute every
    # group-by once more.
    if monetary_value_col and returns == "net":
        positive = money(nw.col("amount"), nw.col("amount_fine")) > 0
        n_days, n_dropped = scalars(daily, nw.len(), count_true(~positive).alias("dropped"))
        if n_dropped:
            logger.warning(
                "returns='net': %d customer-days had a net %r <= 0 after netting returns and "
                "were discarded (a day with only zero-value purchases is discarded too).",
                n_dropped,
                monetary_value_col,
            )
            daily = daily.filter(positive)
        n_days -= n_dropped
    else:
        n_days = scalars(daily, nw.len())[0]
    if not n_days:
        raise ClvDataError("No purchases are left after removing returns: nothing to summarise.")
    # The first group-by stays held while the daily table lives: on Spark, uncaching a table
    # that a cached one was built from can make that one be computed again from the log.
    return daily, int(n_rows), () if distinct is None else (distinct,)


def _whole_numbers(n_rows: int, total: float) -> Any:
    """The type that sums the whole micro-units exactly: float64 while no sum can reach 2**53
    (each row adds at most ``|amount| * MICROS + 0.5`` micro-units and half a million
    micro-micro-units; the total's own rounding is far inside the margin), int64 beyond."""
    bound = total * MICROS * (1 + 1e-6) + n_rows * MICROS
    return nw.Float64 if bound < _EXACT_IN_FLOAT else nw.Int64


def _numeric(lazy: nw.LazyFrame, column: str) -> bool:
    """Whether a column holds numbers (booleans are not amounts)."""
    dtype = lazy.collect_schema()[column]
    return dtype.is_numeric() and dtype != nw.Boolean


def weighted_count(condition: Any) -> Any:
    """Rows of the log where ``condition`` holds, counting each distinct row ``rows`` times."""
    return nw.when(condition).then(nw.col("rows")).otherwise(0).sum()


def _spaces_count(lazy: nw.LazyFrame, column: str) -> list[Any]:
    """For text ids, a count of the ids with surrounding spaces: only they can clash."""
    if lazy.collect_schema()[column] != nw.String:
        return []
    ids = nw.col(column)
    return [count_true(ids != ids.str.strip_chars()).alias("spaced")]


def _check_spaces_in_ids(lazy: nw.LazyFrame, column: str) -> None:
    """Text ids that differ only by surrounding spaces would be two customers."""
    if lazy.collect_schema()[column] != nw.String:
        return
    ids = nw.col(column)
    n_ids, n_bare = scalars(lazy, ids.n_unique(), ids.str.strip_chars().n_unique().alias("bare"))
    if n_ids == n_bare:
        return
    clashing = (
        lazy.select(ids)
        .unique()
        .with_columns(bare=ids.str.strip_chars())
        .filter(nw.col(column).count().over("bare") > 1)
        .sort("bare", column)
        .head(6)
        .collect()
        .get_column(column)
        .to_list()
    )
    raise ClvDataError(
        f"Column {column!r} has ids that differ only by surrounding spaces "
        f"({', '.join(map(repr, clashing))}), so one customer may be counted as two. Strip "
        "them if they are the same customer."
    )


def _amount_conditions(amount: Any) -> tuple[Any, Any, Any, Any]:
    """Missing, infinite, negative and zero amounts."""
    missing = amount.is_null() | amount.is_nan()
    infinite = ~missing & ~amount.is_finite()
    return missing, infinite, ~missing & (amount < 0), amount == 0


def _amount_counts(amount: Any) -> list[Any]:
    """Aggregates of a table of distinct rows (with ``rows``): rows of the log with missing,
    infinite, negative and zero amounts, and the sum of the absolute finite amounts."""
    missing, infinite, negative, zero = _amount_conditions(amount)
    return [
        weighted_count(missing).alias("missing"),
        weighted_count(infinite).alias("infinite"),
        weighted_count(negative).alias("negative"),
        weighted_count(zero).alias("zero"),
        nw.when(~missing & ~infinite)
        .then(amount.abs() * nw.col("rows"))
        .otherwise(0.0)
        .sum()
        .alias("total"),
    ]


def _check_amounts(
    rows: nw.LazyFrame, counts: list[Any], column: str, needed: list[str], returns: str
) -> int:
    """Refusals and warnings from the counts of :func:`_amount_counts`; examples are fetched
    from ``rows`` only for an error or a warning. Returns the number of negative amounts."""
    missing, infinite, negative, zero = _amount_conditions(nw.col("unit_amount"))
    n_missing, n_inf, n_neg, n_zero = (int(c or 0) for c in counts[:4])
    total = float(counts[4] or 0.0)
    if n_missing:
        raise ClvDataError(
            f"Column {column!r} has missing (NaN) amounts ({n_missing} rows, e.g. "
            f"{_examples(rows, missing, needed)}). Drop those transactions or fill the amounts "
            "before summarising."
        )
    if n_inf:
        raise ClvDataError(
            f"Column {column!r} has infinite amounts ({n_inf} rows, e.g. "
            f"{_examples(rows, infinite, needed)}). Fix or drop those transactions."
        )
    if n_neg and returns == "error":
        raise ClvDataError(
            f"Column {column!r} has negative amounts (returns or refunds?) in {n_neg} rows, e.g. "
            f"{_examples(rows, negative, needed)}. Pass returns='drop' to discard those rows, or "
            "returns='net' to net them against the purchases of the same customer and day."
        )
    if total > _LARGEST_TOTAL:
        raise ClvDataError(
            f"Column {column!r} sums to {total:.3g} in absolute value, more than the "
            f"{_LARGEST_TOTAL:.3g} this engine adds exactly (in micro-units of the currency). "
            "Express the amounts in a larger unit (thousands), or summarise with pandas."
        )
    if n_zero:
        # Zero-value purchases (free items, vouchers) are real transactions: kept, and said so.
        logger.warning(
            "Column %r has %d zero amounts (e.g. %s); they are kept as purchases with no spend.",
            column,
            n_zero,
            _examples(rows, zero, needed, 3),
        )
    return n_neg

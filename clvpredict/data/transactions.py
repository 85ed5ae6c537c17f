"""A transaction log, checked once and reduced to one row per customer and purchase day.

:class:`TransactionLog` is what every summary, the lifetime estimate and the tracking tables
read. A pandas log is parsed here, where pandas' loose column types (object columns, text dates in
several formats) are read; a log held by another engine (polars, DuckDB, Spark, pyarrow) is
checked by queries run in that engine (:mod:`clvpredict.data._engine_log`) and stays there.
"""

from __future__ import annotations

import logging
import warnings
from datetime import date, datetime, timedelta, timezone
from typing import Any, Literal

import narwhals.stable.v2 as nw
import numpy as np
import pandas as pd

from ..exceptions import ClvDataError, describe_values
from ._engine_log import money, parse_engine_log, weighted_count
from .engines import frame_kind, head_rows, release, scalars

__all__ = ["TransactionLog", "as_log", "pandas_daily"]

logger = logging.getLogger(__name__)


ReturnsPolicy = Literal["error", "drop", "net"]
AfterEndPolicy = Literal["error", "drop"]
DuplicatesPolicy = Literal["keep", "drop", "error"]


def _rows(mask: np.ndarray | pd.Series, frame: pd.DataFrame, column: str) -> str:
    """A short 'row label: value' list of the rows where ``mask`` holds."""
    mask = np.asarray(mask, dtype=bool)
    labels = frame.index[mask][:5]
    values = frame[column].to_numpy()[mask][:5].tolist()
    shown = ", ".join(f"row {lab!r}: {val!r}" for lab, val in zip(labels, values, strict=False))
    extra = int(mask.sum()) - len(labels)
    return shown + (f" ... and {extra} more" if extra > 0 else "")


def _to_timestamp(value: Any, argument: str) -> pd.Timestamp:
    try:
        ts = pd.Timestamp(value)
    except (OverflowError, pd.errors.OutOfBoundsDatetime) as exc:
        # pandas 2 holds nanoseconds: 1677-09-21 to 2262-04-11.
        raise ClvDataError(
            f"{argument}={value!r} is outside the dates pandas can hold "
            f"({pd.Timestamp.min.date()} to {pd.Timestamp.max.date()}). Pass a date in that range."
        ) from exc
    except (TypeError, ValueError) as exc:
        raise ClvDataError(
            f"{argument}={value!r} is not a date. Pass a date such as '1997-09-30' or a pandas Timestamp."
        ) from exc
    if pd.isna(ts):
        raise ClvDataError(f"{argument} is missing (NaT). Pass a date such as '1997-09-30'.")
    if ts.tzinfo is not None:
        ts = ts.tz_localize(None)
    return ts


def _day_number(ts: pd.Timestamp) -> int:
    """Whole days since 1970-01-01 of the calendar day holding ``ts``."""
    return int((ts.normalize() - pd.Timestamp("1970-01-01")) // pd.Timedelta(days=1))


def _today() -> date:
    """The latest calendar day anywhere on Earth now: today at UTC+14 (the Line Islands).

    No purchase can be dated later. A log kept in local time east of UTC runs up to a day
    ahead of the UTC date and must not be refused for it. (Tests replace this function.)
    """
    return (datetime.now(timezone.utc) + timedelta(hours=14)).date()


_FUTURE_FIX = (
    "pass after_end='drop' (--after-end drop on the command line) to ignore them, or an "
    "observation_end (--observation-end) of today or earlier"
)


def _end_day(value: Any, argument: str = "observation_end") -> int:
    """Day number of an explicit end of observation, which cannot be after today."""
    day = _day_number(_to_timestamp(value, argument))
    today = _today()
    if day > _day_number(pd.Timestamp(today)):
        raise ClvDataError(
            f"{argument}={value!s} is after today ({today}, the latest date in any time zone): "
            "nobody has observed the customers until then, and counting the days still to come "
            "as observed without purchases would make every customer look lapsed. Pass a date "
            "of today or earlier, or leave it out to end on the last purchase day."
        )
    return day


def _future_rows(
    frame: pd.DataFrame,
    days: np.ndarray,
    customer_id_col: str,
    datetime_col: str,
    after_end: AfterEndPolicy,
    fix: str = _FUTURE_FIX,
) -> np.ndarray:
    """Mask of the rows to keep: rows dated after today are refused, or dropped when asked.

    Without an explicit end of observation the end is the last purchase day, so one mistyped
    year would stretch every customer's ``T`` to it: such rows are an error unless
    ``after_end="drop"``.
    """
    today = _today()
    late = days > _day_number(pd.Timestamp(today))
    if not late.any():
        return np.ones(len(days), dtype=bool)
    n_late = int(late.sum())
    if after_end == "drop":
        logger.warning("after_end='drop': ignored %d row(s) dated after today (%s).", n_late, today)
        return ~late
    if after_end != "error":
        raise ClvDataError(f"after_end={after_end!r} is not one of 'error', 'drop'.")
    labels = frame.index[late][:5]
    customers = frame[customer_id_col].to_numpy()[late][:5].tolist()
    dates = pd.to_datetime(days[late][:5], unit="D").date
    shown = [
        f"row {lab!r} (customer {cust!r}): {day}"
        for lab, cust, day in zip(labels, customers, dates, strict=True)
    ]
    raise _future_rows_error(n_late, shown, today, datetime_col, fix)


def _future_rows_error(
    n_late: int, shown: list[str], today: date, datetime_col: str, fix: str
) -> ClvDataError:
    """The refusal of rows dated after today, naming the first few (``shown``)."""
    more = f" ... and {n_late - len(shown)} more" if n_late > len(shown) else ""
    return ClvDataError(
        f"{n_late} {'row is' if n_late == 1 else 'rows are'} dated after today ({today}, the "
        f"latest date in any time zone) in column {datetime_col!r}: {', '.join(shown)}{more}. A "
        "purchase cannot be in the future, and the end of observation would move to it. Fix the "
        f"dates (a wrong year, or a placeholder such as 2099-12-31?), or {fix}."
    )


def _parse_dates(frame: pd.DataFrame, column: str, datetime_format: str | None) -> np.ndarray:
    """Parse ``column`` to whole day numbers (days since 1970-01-01, local wall-clock date)."""
    raw = frame[column]
    if isinstance(raw.dtype, pd.DatetimeTZDtype):
        # The calendar day a customer experienced is the wall-clock date in the data's own zone.
        parsed = raw.dt.tz_localize(None)
    elif pd.api.types.is_datetime64_any_dtype(raw.dtype):
        parsed = raw
    else:
        if raw.isna().any():
            raise ClvDataError(
                f"Column {column!r} has missing dates at {_rows(raw.isna(), frame, column)}. "
                "Drop or fill those transactions first."
            )
        if raw.map(type).eq(str).all():
            # Some pandas versions give naive strings the zone of their neighbours when parsing
            # mixed ISO 8601 text: refuse the mixture before any parser can guess.
            zoned = raw.str.strip().str.contains(r"(?:Z|[+-]\d{2}:?\d{2})$", regex=True)
            if zoned.any() and not zoned.all():
                raise ClvDataError(
                    f"Column {column!r} mixes timezone-aware and naive timestamps (with a zone: "
                    f"{_rows(zoned.to_numpy(), frame, column)}; without: "
                    f"{_rows(~zoned.to_numpy(), frame, column)}), so calendar days are "
                    "ambiguous. Convert the column to one zone first, e.g. "
                    "pd.to_datetime(col, utc=True), or add the zone to every stamp."
                )
        try:
            parsed = pd.to_datetime(raw, format=datetime_format, errors="coerce")
            if datetime_format is None and parsed.isna().any():
                # pandas infers one format from the first value; ISO 8601 data often mixes
                # "2024-01-01" with "2024-01-01 09:30", which that inference rejects.
                iso = pd.to_datetime(raw, format="ISO8601", errors="coerce")
                if iso.isna().sum() < parsed.isna().sum():
                    parsed = iso
        except (TypeError, ValueError) as exc:
            # pandas refuses to mix timezone-aware and naive stamps in one column.
            raise ClvDataError(
                f"Column {column!r} could not be parsed as dates ({exc}). If it mixes "
                "timezone-aware and naive timestamps, convert them all to one zone first, e.g. "
                "pd.to_datetime(col, utc=True)."
            ) from exc
        if isinstance(parsed.dtype, pd.DatetimeTZDtype):
            parsed = parsed.dt.tz_localize(None)
        if not pd.api.types.is_datetime64_any_dtype(parsed.dtype) and parsed.notna().all():
            # pandas before 3 keeps stamps with different UTC offsets (a daylight-saving change)
            # as separate objects instead of a datetime column.
            raise ClvDataError(
                f"Column {column!r} holds timestamps with different UTC offsets (a daylight-"
                "saving change?), so one calendar day cannot be read from them. Convert the "
                "column to one zone first, keeping local days: "
                "pd.to_datetime(col, utc=True).dt.tz_convert('Europe/Berlin') with your zone."
            )
        bad = parsed.isna().to_numpy()
        if bad.any():
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                as_utc = pd.to_datetime(raw, utc=True, errors="coerce", format=datetime_format)
            if as_utc.notna().sum() > parsed.notna().sum():
                # Parsed once every stamp is read in UTC: the column mixes zones with naive.
                raise ClvDataError(
                    f"Column {column!r} mixes timezone-aware and naive timestamps (e.g. "
                    f"{_rows(bad, frame, column)}), so calendar days are ambiguous. Convert the "
                    "column to one zone first, e.g. pd.to_datetime(col, utc=True), or localise "
                    "the naive stamps."
                )
            hint = (
                " Pass datetime_format= (e.g. '%Y%m%d') to say how they are written."
                if datetime_format is None
                else f" They do not match datetime_format={datetime_format!r}."
            )
            raise ClvDataError(
                f"Column {column!r} has values that are not dates: {_rows(bad, frame, column)}.{hint}"
            )
    if parsed.isna().any():
        raise ClvDataError(
            f"Column {column!r} has missing dates at {_rows(parsed.isna(), frame, column)}. "
            "Drop or fill those transactions first."
        )
    # Straight to whole days at the parsed resolution: pandas 3 keeps dates outside 1677-2262
    # in seconds or microseconds, which a detour through nanoseconds would overflow silently.
    # Integer floor division, not numpy's cast to datetime64[D]: numpy 1.24's cast wraps near
    # the nanosecond range's lower edge (1677-09-22 came out as 2262-04-11).
    values = parsed.to_numpy()
    unit, count = np.datetime_data(values.dtype)
    per_day = int(np.timedelta64(1, "D") // np.timedelta64(count, unit))
    return np.floor_divide(values.view(np.int64), per_day)


def _check_customer_ids(frame: pd.DataFrame, column: str) -> None:
    ids = frame[column]
    missing = ids.isna().to_numpy()
    if missing.any():
        raise ClvDataError(
            f"Column {column!r} has missing customer ids at {_rows(missing, frame, column)}. "
            "Every transaction needs a customer; drop those rows or fill the ids."
        )
    if ids.dtype == object:
        kinds = ids.map(type)
        distinct = kinds.unique()
        if len(distinct) > 1:
            names = sorted(t.__name__ for t in distinct)
            first_of_each = [ids[kinds == t].iloc[0] for t in distinct]
            raise ClvDataError(
                f"Column {column!r} mixes id types {names} (e.g. {describe_values(first_of_each)}), "
                "so the same customer could be counted twice. Convert the column to one type, "
                f"e.g. df[{column!r}] = df[{column!r}].astype(str)."
            )
    if pd.api.types.is_string_dtype(ids.dtype):
        # Ids read as text from a CSV keep their spaces: " 7" and "7" are then two customers,
        # where a numeric reading made them one. Which is right only the user knows.
        labels = pd.Series(pd.unique(ids)).astype(str)
        bare = labels.str.strip()
        clash = labels[bare.duplicated(keep=False).to_numpy()]
        if len(clash):
            shown = describe_values(clash.sort_values(key=lambda s: s.str.strip()).tolist())
            raise ClvDataError(
                f"Column {column!r} has ids that differ only by surrounding spaces ({shown}), so "
                "one customer may be counted as two. Strip them if they are the same customer: "
                f"df[{column!r}] = df[{column!r}].str.strip()."
            )


def _parse_amounts(frame: pd.DataFrame, column: str, returns: ReturnsPolicy) -> np.ndarray:
    raw = frame[column]
    if pd.api.types.is_bool_dtype(raw.dtype) or not pd.api.types.is_numeric_dtype(raw.dtype):
        numeric = pd.to_numeric(raw, errors="coerce")
        bad = numeric.isna().to_numpy() & raw.notna().to_numpy()
        if bad.any() or pd.api.types.is_bool_dtype(raw.dtype):
            if pd.api.types.is_bool_dtype(raw.dtype):
                bad = np.ones(len(raw), dtype=bool)
            raise ClvDataError(
                f"Column {column!r} has non-numeric amounts: {_rows(bad, frame, column)}. "
                "Clean them (strip currency symbols, thousands separators) and convert with "
                "pd.to_numeric before summarising."
            )
        raw = numeric
    amounts = raw.to_numpy(dtype=float, na_value=np.nan)
    nan = np.isnan(amounts)
    if nan.any():
        raise ClvDataError(
            f"Column {column!r} has missing (NaN) amounts at {_rows(nan, frame, column)}. "
            "Drop those transactions or fill the amounts before summarising."
        )
    inf = np.isinf(amounts)
    if inf.any():
        raise ClvDataError(
            f"Column {column!r} has infinite amounts at {_rows(inf, frame, column)}. "
            "Fix or drop those transactions."
        )
    negative = amounts < 0
    if negative.any() and returns == "error":
        raise ClvDataError(
            f"Column {column!r} has negative amounts (returns or refunds?) at "
            f"{_rows(negative, frame, column)}. Pass returns='drop' to discard those rows, or "
            "returns='net' to net them against the purchases of the same customer and day."
        )
    zero = amounts == 0
    if zero.any():
        # Zero-value purchases (free items, vouchers) are real transactions: CDNOW's published
        # summaries count them. They are kept, and said so, rather than dropped.
        logger.warning(
            "Column %r has %d zero amounts (e.g. %s); they are kept as purchases with no spend.",
            column,
            int(zero.sum()),
            _rows(zero, frame, column),
        )
    return amounts


class TransactionLog:
    """A transaction log validated once and reduced to one row per customer and purchase day.

    Every summary, the lifetime estimate and the tracking tables accept a ``TransactionLog``
    in place of a raw DataFrame, so a job parses its log once and hands the result to each
    consumer: the checks run and their warnings are logged once, with the policies set once.
    The end of observation is the consumer's own argument (:meth:`until`), applied to the
    parsed days.

    Parameters
    ----------
    transactions : DataFrame
        One row per purchase.
    customer_id_col, datetime_col, monetary_value_col, datetime_format, returns, duplicates
        As in :func:`rfm_summary`.

    Attributes
    ----------
    daily : DataFrame
        ``customer_id``, ``day`` (int, days since 1970-01-01) and ``amount`` (float, currency;
        1.0 per row without a money column), one row per customer and purchase day, sorted by
        customer and day. Rows dated after today are still in it: :meth:`until` applies the
        ``after_end`` policy to them.

    Examples
    --------
    >>> import clvpredict as cp
    >>> from clvpredict.data import TransactionLog
    >>> log = TransactionLog(cp.datasets.load_cdnow(), "customer_id", "date", "amount")
    >>> rfm = cp.rfm_summary(log, observation_end="1997-09-30", time_unit="W", after_end="drop")
    >>> len(rfm), len(log.daily)
    (2357, 6696)
    """

    def __init__(
        self,
        transactions: pd.DataFrame,
        customer_id_col: str,
        datetime_col: str,
        monetary_value_col: str | None = None,
        *,
        datetime_format: str | None = None,
        returns: ReturnsPolicy = "error",
        duplicates: DuplicatesPolicy = "keep",
    ) -> None:
        self.customer_id_col = customer_id_col
        self.datetime_col = datetime_col
        self.monetary_value_col = monetary_value_col
        self.datetime_format = datetime_format
        self.returns = returns
        self.duplicates = duplicates
        self.kind = frame_kind(transactions)
        self.daily, self._rows, self._row_days, self._n_read, self._held = _parse_log(
            transactions,
            customer_id_col,
            datetime_col,
            monetary_value_col,
            datetime_format,
            returns,
            duplicates,
        )

    @property
    def n_rows(self) -> int:
        """Rows of the log as read, before any policy dropped some and before merging by day."""
        return self._n_read

    def until(
        self, after_end: AfterEndPolicy | None = "error", future_fix: str = _FUTURE_FIX
    ) -> pd.DataFrame:
        """The customer-day table without purchases after today.

        ``after_end`` says what to do with rows dated after today: refuse them (``"error"``,
        naming the rows of the original log), drop them (``"drop"``, logged), or ``None``:
        keep them, for callers whose explicit end of observation (itself not after today)
        trims them with its own policy. ``future_fix`` is the caller's way out in the error.
        """
        if after_end is None:
            return self.daily
        if self.kind != "pandas":
            return _engine_until(self, after_end, future_fix)
        keep_rows = _future_rows(
            self._rows,
            self._row_days,
            self.customer_id_col,
            self.datetime_col,
            after_end,
            future_fix,
        )
        if keep_rows.all():
            return self.daily
        # A row is dated after today exactly when its day is, so the days tell which to keep.
        daily = self.daily[self.daily["day"] <= _day_number(pd.Timestamp(_today()))]
        if len(daily) == 0:
            raise ClvDataError("Every row is dated after today: nothing to summarise.")
        return daily.reset_index(drop=True)

    def release(self) -> None:
        """Free the engine's copy of :attr:`daily`: Spark caches it on the executors, and keeps
        it there until told, however long the session runs. The log can still be read
        afterwards, at the cost of parsing the transactions again. A pandas, polars or DuckDB
        log holds nothing outside this object: nothing to do."""
        # The daily table first: it is built from the others, which are released after it.
        for frame in (self.daily, *self._held):
            release(frame)

    def check_columns(self, **given: Any) -> None:
        """Refuse column names or policies that contradict the ones this log was parsed with."""
        clash = {
            name: value
            for name, value in given.items()
            if value is not None and value != getattr(self, name)
        }
        if clash:
            parsed = {name: getattr(self, name) for name in clash}
            raise ClvDataError(
                f"This TransactionLog was parsed with {parsed}, but {clash} was given: leave "
                "those arguments out (the log's own apply), or parse the log again."
            )


def _engine_until(log: TransactionLog, after_end: AfterEndPolicy, future_fix: str) -> Any:
    """:meth:`TransactionLog.until` for a log held by another engine: the same policy, with the
    rows named by customer and date."""
    today = _today()
    late = nw.col("day") > _day_number(pd.Timestamp(today))
    n_late = int(scalars(log.daily, weighted_count(late))[0] or 0)
    if not n_late:
        return log.daily
    if after_end == "drop":
        logger.warning("after_end='drop': ignored %d row(s) dated after today (%s).", n_late, today)
        daily = log.daily.filter(~late)
        if not scalars(daily, nw.len())[0]:
            raise ClvDataError("Every row is dated after today: nothing to summarise.")
        return daily
    if after_end != "error":
        raise ClvDataError(f"after_end={after_end!r} is not one of 'error', 'drop'.")
    examples = head_rows(log.daily.filter(late).select("customer_id", "day"))
    shown = [
        f"customer {cust!r}: {pd.Timestamp(int(day), unit='D').date()}" for cust, day in examples
    ]
    raise _future_rows_error(n_late, shown, today, log.datetime_col, future_fix)


def pandas_daily(daily: Any) -> pd.DataFrame:
    """A customer-day table as pandas (``customer_id``, ``day``, ``amount``, sorted by customer
    and day). A pandas table is returned as is; another engine's is collected, one row per
    customer and day, so the package's own consumers (the lifetime estimate, the tracking
    table, the P(alive) history) query the engine instead and collect only what they need."""
    if isinstance(daily, pd.DataFrame):
        return daily
    # Engines add money as exact whole numbers (see _engine_log.MICROS): back to currency here.
    amount = money(nw.col("amount"), nw.col("amount_fine")).alias("amount")
    table = daily.select("customer_id", "day", amount).sort("customer_id", "day")
    if isinstance(table, nw.LazyFrame):
        table = table.collect()
    return table.to_pandas()


def _prepare_transactions(
    transactions: pd.DataFrame | TransactionLog,
    customer_id_col: str | None,
    datetime_col: str | None,
    monetary_value_col: str | None,
    datetime_format: str | None,
    returns: ReturnsPolicy,
    duplicates: DuplicatesPolicy = "keep",
    *,
    after_today: AfterEndPolicy | None = "error",
    future_fix: str = _FUTURE_FIX,
) -> pd.DataFrame:
    """Validate a transaction log and reduce it to one row per customer and purchase day.

    Returns a frame with columns ``customer_id``, ``day`` (int, days since 1970-01-01) and
    ``amount`` (float; 1.0 per row when there is no monetary column), sorted by customer and day.
    Rows dated after today follow ``after_today`` (``None``: not checked here, for callers
    whose explicit end of observation, itself not after today, already trims them), and
    ``future_fix`` says the caller's way out in the error. A :class:`TransactionLog` is used as
    parsed (its columns and policies must not be contradicted).
    """
    return pandas_daily(
        as_log(
            transactions,
            customer_id_col,
            datetime_col,
            monetary_value_col,
            datetime_format=datetime_format,
            returns=returns,
            duplicates=duplicates,
        ).until(after_today, future_fix)
    )


def as_log(
    transactions: pd.DataFrame | TransactionLog,
    customer_id_col: str | None,
    datetime_col: str | None,
    monetary_value_col: str | None = None,
    *,
    datetime_format: str | None = None,
    returns: ReturnsPolicy = "error",
    duplicates: DuplicatesPolicy = "keep",
) -> TransactionLog:
    """``transactions`` parsed into a :class:`TransactionLog`, or the log itself when it is one.

    With a log, the column arguments may be left out; given ones, and policies other than the
    defaults, must match the log's.
    """
    if isinstance(transactions, TransactionLog):
        transactions.check_columns(
            customer_id_col=customer_id_col,
            datetime_col=datetime_col,
            monetary_value_col=monetary_value_col,
            datetime_format=datetime_format,
            returns=None if returns == "error" else returns,
            duplicates=None if duplicates == "keep" else duplicates,
        )
        return transactions
    if customer_id_col is None or datetime_col is None:
        raise ClvDataError(
            "Name the customer id and date columns (customer_id_col=, datetime_col=), or pass a "
            "TransactionLog that was parsed with them."
        )
    return TransactionLog(
        transactions,
        customer_id_col,
        datetime_col,
        monetary_value_col,
        datetime_format=datetime_format,
        returns=returns,
        duplicates=duplicates,
    )


def _parse_log(
    transactions: pd.DataFrame,
    customer_id_col: str,
    datetime_col: str,
    monetary_value_col: str | None,
    datetime_format: str | None,
    returns: ReturnsPolicy,
    duplicates: DuplicatesPolicy,
) -> tuple[Any, pd.DataFrame | None, np.ndarray | None, int, tuple[Any, ...]]:
    """The work of :class:`TransactionLog`: the customer-day table; for pandas the rows (after
    the duplicates policy) with their day numbers, which name future-dated rows in messages;
    the number of rows of the log as read; and, for another engine, the tables it holds
    besides the customer-day one (see :meth:`TransactionLog.release`)."""
    kind = frame_kind(transactions)
    if kind is None:
        raise ClvDataError(
            f"transactions must be a DataFrame (pandas, polars, pyarrow, DuckDB or Spark), got "
            f"{type(transactions).__name__}. Read files with pd.read_csv, pd.read_parquet or "
            "polars.scan_parquet first."
        )
    if returns not in ("error", "drop", "net"):
        raise ClvDataError(f"returns={returns!r} is not one of 'error', 'drop', 'net'.")
    if duplicates not in ("keep", "drop", "error"):
        raise ClvDataError(f"duplicates={duplicates!r} is not one of 'keep', 'drop', 'error'.")
    if kind != "pandas":
        daily, n_rows, held = parse_engine_log(
            transactions,
            customer_id_col,
            datetime_col,
            monetary_value_col,
            datetime_format,
            returns,
            duplicates,
        )
        # Rows with a future date are named by customer and value (no row labels to keep).
        return daily, None, None, n_rows, held
    needed = [customer_id_col, datetime_col] + ([monetary_value_col] if monetary_value_col else [])
    missing = [c for c in needed if c not in transactions.columns]
    if missing:
        raise ClvDataError(
            f"Column(s) {missing} not found in the transactions; available columns are "
            f"{list(map(str, transactions.columns))}. Pass the right names as customer_id_col=, "
            "datetime_col= and monetary_value_col=."
        )
    if len(transactions) == 0:
        raise ClvDataError("The transaction log is empty: there is nothing to summarise.")
    n_read = len(transactions)
    # Without amounts, repeated rows change nothing: purchases are merged by day anyway.
    repeated = (
        transactions.duplicated(subset=needed, keep="first").to_numpy()
        if monetary_value_col
        else np.zeros(len(transactions), dtype=bool)
    )
    if repeated.any():
        n_rep = int(repeated.sum())
        if duplicates == "error":
            raise ClvDataError(
                f"{n_rep} rows repeat an earlier row exactly in {needed} (e.g. "
                f"{_rows(repeated, transactions, customer_id_col)}). Pass duplicates='drop' if "
                "they are double-ingested, or duplicates='keep' if they are real orders (their "
                "amounts are then added to that customer's purchase of that day)."
            )
        if duplicates == "drop":
            logger.warning("duplicates='drop': discarded %d exactly repeated rows.", n_rep)
            transactions = transactions[~repeated]
        else:
            # Real data has them (two identical orders on one day): kept, but said. Like every
            # row, they merge into the customer's one purchase of that day (amounts summed).
            logger.warning(
                "%d rows repeat an earlier row exactly in %s; they are kept, and their amounts are "
                "added to that customer's purchase of that day (pass duplicates='drop' if they are "
                "double-ingested).",
                n_rep,
                needed,
            )

    _check_customer_ids(transactions, customer_id_col)
    days = _parse_dates(transactions, datetime_col, datetime_format)
    if monetary_value_col:
        amounts = _parse_amounts(transactions, monetary_value_col, returns)
    else:
        amounts = np.ones(len(transactions))

    tidy = pd.DataFrame(
        {
            "customer_id": transactions[customer_id_col].to_numpy(),
            "day": days,
            "amount": amounts,
        }
    )
    if monetary_value_col and returns == "drop":
        keep = tidy["amount"] >= 0
        if not keep.all():
            logger.warning(
                "returns='drop': discarded %d transactions with negative %r.",
                int((~keep).sum()),
                monetary_value_col,
            )
            tidy = tidy[keep]
    daily = tidy.groupby(["customer_id", "day"], sort=True, observed=True)["amount"].sum()
    daily = daily.reset_index()
    if monetary_value_col and returns == "net":
        keep = daily["amount"] > 0
        if not keep.all():
            logger.warning(
                "returns='net': %d customer-days had a net %r <= 0 after netting returns and "
                "were discarded (a day with only zero-value purchases is discarded too).",
                int((~keep).sum()),
                monetary_value_col,
            )
            daily = daily[keep].reset_index(drop=True)
    if len(daily) == 0:
        raise ClvDataError("No purchases are left after removing returns: nothing to summarise.")
    return daily, transactions, days, n_read, ()

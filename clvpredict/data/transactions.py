"""Data preparation: from a transaction log to per-customer RFM summaries.

Conventions (those of the BG/NBD, Pareto/NBD and Gamma-Gamma papers):

* Purchases are aggregated by **calendar day**: several purchases by one customer on one day count
  as one transaction whose amount is the sum of theirs.
* ``frequency`` is the number of *repeat* purchase days (purchase days minus one).
* ``recency`` is the time from the first to the last purchase day and ``T`` the time from the first
  purchase day to the end of observation, both measured in ``time_unit``.
* ``monetary_value`` is the mean amount of the repeat purchase days (the Gamma-Gamma convention:
  the first purchase is excluded). One-time buyers (``frequency == 0``) get ``NaN`` because the mean
  of zero repeat purchases is undefined; the spend model gives them the population mean.

Day aggregation and the unit of measurement are independent: summarising by day and measuring in
weeks gives ``recency = days / 7``, never a count of calendar weeks.
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Sequence
from datetime import date, datetime, timedelta, timezone
from typing import Any, Literal

import numpy as np
import pandas as pd

from .._units import DAYS_PER_UNIT, UNIT_NAMES, check_time_unit, unit_in_days
from ..exceptions import ClvDataError, describe_values

__all__ = ["calibration_holdout_summary", "rfm_summary"]

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
    shown = ", ".join(
        f"row {lab!r} (customer {cust!r}): {day}"
        for lab, cust, day in zip(labels, customers, dates, strict=True)
    )
    more = f" ... and {n_late - len(labels)} more" if n_late > len(labels) else ""
    raise ClvDataError(
        f"{n_late} {'row is' if n_late == 1 else 'rows are'} dated after today ({today}, the "
        f"latest date in any time zone) in column {datetime_col!r}: {shown}{more}. A purchase "
        "cannot be in the future, and the end of observation would move to it. Fix the dates "
        f"(a wrong year, or a placeholder such as 2099-12-31?), or {fix}."
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
        self._n_read = len(transactions) if isinstance(transactions, pd.DataFrame) else 0
        self.daily, self._rows, self._row_days = _parse_log(
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
    return as_log(
        transactions,
        customer_id_col,
        datetime_col,
        monetary_value_col,
        datetime_format=datetime_format,
        returns=returns,
        duplicates=duplicates,
    ).until(after_today, future_fix)


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
) -> tuple[pd.DataFrame, pd.DataFrame, np.ndarray]:
    """The work of :class:`TransactionLog`: the customer-day table, and the rows (after the
    duplicates policy) with their day numbers, which name future-dated rows in messages."""
    if not isinstance(transactions, pd.DataFrame):
        raise ClvDataError(
            f"transactions must be a pandas DataFrame, got {type(transactions).__name__}. "
            "Read files with pd.read_csv or pd.read_parquet first."
        )
    if returns not in ("error", "drop", "net"):
        raise ClvDataError(f"returns={returns!r} is not one of 'error', 'drop', 'net'.")
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
    if duplicates not in ("keep", "drop", "error"):
        raise ClvDataError(f"duplicates={duplicates!r} is not one of 'keep', 'drop', 'error'.")
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
                "they are double-ingested, or duplicates='keep' if they are real separate purchases."
            )
        if duplicates == "drop":
            logger.warning("duplicates='drop': discarded %d exactly repeated rows.", n_rep)
            transactions = transactions[~repeated]
        else:
            # Real data has them (two identical orders on one day): kept, but said.
            logger.warning(
                "%d rows repeat an earlier row exactly in %s; they are kept as separate purchases "
                "(pass duplicates='drop' if they are double-ingested).",
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
    return daily, transactions, days


def _apply_end(
    daily: pd.DataFrame, end_day: int, after_end: AfterEndPolicy, what: str
) -> pd.DataFrame:
    late = daily["day"].to_numpy() > end_day
    if late.any():
        n_late = int(late.sum())
        if after_end == "error":
            first_late = pd.Timestamp(int(daily["day"].to_numpy()[late].min()), unit="D").date()
            raise ClvDataError(
                f"{n_late} purchase day(s) fall after {what} (the first on {first_late}). Pass "
                "after_end='drop' to ignore them, or move the end date; use "
                "calibration_holdout_summary to keep them as a holdout period."
            )
        if after_end != "drop":
            raise ClvDataError(f"after_end={after_end!r} is not one of 'error', 'drop'.")
        logger.info("Ignored %d purchase day(s) after %s.", n_late, what)
        daily = daily[~late]
    return daily


def _summarise_daily(
    daily: pd.DataFrame, end_day: int, days_per_unit: float, with_money: bool
) -> pd.DataFrame:
    """RFM columns from a customer/day table sorted by customer and day."""
    grouped = daily.groupby("customer_id", sort=True)
    stats = grouped.agg(
        first=("day", "min"),
        last=("day", "max"),
        n=("day", "size"),
        total=("amount", "sum"),
        first_amount=("amount", "first"),
    )
    frequency = stats["n"].to_numpy(dtype=np.int64) - 1
    out = pd.DataFrame(
        {
            "frequency": frequency,
            "recency": (stats["last"].to_numpy() - stats["first"].to_numpy()) / days_per_unit,
            "T": (end_day - stats["first"].to_numpy()) / days_per_unit,
        },
        index=stats.index,
    )
    if with_money:
        repeat_total = stats["total"].to_numpy() - stats["first_amount"].to_numpy()
        with np.errstate(invalid="ignore", divide="ignore"):
            out["monetary_value"] = np.where(frequency > 0, repeat_total / frequency, np.nan)
        out["avg_order_value"] = stats["total"].to_numpy() / stats["n"].to_numpy()
    return out


def _calendar(days: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Month number since 1970-01 and day of the month of day numbers."""
    dates = np.asarray(days, dtype=np.int64).astype("datetime64[D]")
    months = dates.astype("datetime64[M]")
    return months.astype(np.int64), (dates - months.astype("datetime64[D]")).astype(np.int64) + 1


def period_index(days: Any, end_day: int, time_unit: str) -> np.ndarray:
    """Number of the period of one ``time_unit`` that holds each calendar day.

    Periods are laid back to back so that period ``-1`` ends with day ``end_day`` (inclusive)
    and period ``0`` starts the day after: the periods of a discrete summary end exactly at its
    observation end, and a holdout after ``end_day`` is made of periods ``0, 1, ...``. Days
    and weeks are 1 and 7 days; months and years are *calendar* months and years counted from
    the day after ``end_day`` (so with ``end_day`` on 31 December, years are calendar years).

    Parameters
    ----------
    days : array of int
        Day numbers (days since 1970-01-01).
    end_day : int
        Day number of the last day of period -1.
    time_unit : {"D", "W", "M", "Y"}
        Length of one period.

    Returns
    -------
    ndarray of int
        The period of each day (negative up to ``end_day``).

    Examples
    --------
    >>> import pandas as pd
    >>> day = lambda s: (pd.Timestamp(s) - pd.Timestamp("1970-01-01")).days
    >>> period_index([day("2023-12-31"), day("2024-01-01"), day("2026-12-31")],
    ...              day("2023-12-31"), "Y").tolist()
    [-1, 0, 2]
    """
    unit = check_time_unit(time_unit)
    days = np.asarray(days, dtype=np.int64)
    if unit in ("D", "W"):
        return (days - int(end_day) - 1) // int(DAYS_PER_UNIT[unit])
    step = 12 if unit == "Y" else 1
    month, dom = _calendar(days)
    anchor_month, anchor_dom = _calendar(np.array([int(end_day) + 1]))
    # Whole months from the anchor: a day before the anchor's day of the month has not yet
    # completed the month.
    elapsed = month - anchor_month[0] - (dom < anchor_dom[0])
    return elapsed // step


def period_bounds(periods: Any, end_day: int, time_unit: str) -> tuple[np.ndarray, np.ndarray]:
    """First and last day number of each period of :func:`period_index`'s grid."""
    unit = check_time_unit(time_unit)
    ks = np.asarray(periods, dtype=np.int64)
    if unit in ("D", "W"):
        length = int(DAYS_PER_UNIT[unit])
        starts = int(end_day) + 1 + ks * length
        return starts, starts + length - 1
    step = 12 if unit == "Y" else 1
    anchor_month, anchor_dom = _calendar(np.array([int(end_day) + 1]))

    def first_day(k: np.ndarray) -> np.ndarray:
        month = (anchor_month[0] + k * step).astype("datetime64[M]")
        month_start = month.astype("datetime64[D]").astype(np.int64)
        next_start = (month + 1).astype("datetime64[D]").astype(np.int64)
        # In a month too short for the anchor's day (31 January -> February), the period starts
        # with the next month, as period_index counts it.
        candidate = month_start + anchor_dom[0] - 1
        return np.where(candidate < next_start, candidate, next_start)

    return first_day(ks), first_day(ks + 1) - 1


def _per_period(daily: pd.DataFrame, end_day: int, time_unit: str) -> pd.DataFrame:
    """The customer/day table re-counted by period: one row per customer and period with a
    purchase, its amounts summed; ``day`` holds the period number (see :func:`period_index`)."""
    periods = daily.assign(day=period_index(daily["day"].to_numpy(), end_day, time_unit))
    return periods.groupby(["customer_id", "day"], sort=True)["amount"].sum().reset_index()


def _summarise(
    daily: pd.DataFrame, end_day: int, time_unit: str, with_money: bool, discrete: bool
) -> pd.DataFrame:
    """RFM columns in time units (continuous) or in whole periods of one unit (discrete)."""
    if not discrete:
        return _summarise_daily(daily, end_day, unit_in_days(time_unit), with_money)
    anchor_day = int(_calendar(np.array([end_day + 1]))[1][0])
    if time_unit in ("M", "Y") and anchor_day != 1:
        logger.warning(
            "discrete=True: the periods end on %s, not on the last day of a month, so each %s "
            "starts on day %d of a month rather than being a calendar %s. End on a month end "
            "(e.g. 31 December for calendar years) if the opportunities follow the calendar.",
            pd.Timestamp(end_day, unit="D").date(),
            UNIT_NAMES[time_unit][:-1],
            anchor_day,
            UNIT_NAMES[time_unit][:-1],
        )
    # Period -1 ends at end_day, so T = -1 - (period of the first purchase) periods.
    out = _summarise_daily(_per_period(daily, end_day, time_unit), -1, 1.0, with_money)
    return out.astype({"recency": np.int64, "T": np.int64})


def rfm_summary(
    transactions: pd.DataFrame | TransactionLog,
    customer_id_col: str | None = None,
    datetime_col: str | None = None,
    monetary_value_col: str | None = None,
    observation_end: Any = None,
    time_unit: str = "D",
    *,
    datetime_format: str | None = None,
    returns: ReturnsPolicy = "error",
    after_end: AfterEndPolicy = "error",
    duplicates: DuplicatesPolicy = "keep",
    discrete: bool = False,
) -> pd.DataFrame:
    """Summarise a transaction log into one RFM row per customer.

    Parameters
    ----------
    transactions : DataFrame
        One row per purchase.
    customer_id_col, datetime_col : str
        Names of the customer id and purchase date (or timestamp) columns.
    monetary_value_col : str, optional
        Name of the purchase amount column (currency units). Without it, no money columns are made.
    observation_end : date-like, optional
        Last calendar day of observation (inclusive). Defaults to the last purchase day.
    time_unit : {"D", "W", "M", "Y"}
        Unit in which ``recency`` and ``T`` are measured: days, weeks, average Gregorian months
        (30.436875 days) or average Gregorian years (365.2425 days). Purchases are aggregated by
        calendar day whatever the unit.
    datetime_format : str, optional
        ``strftime`` format of ``datetime_col`` when it holds strings or numbers (e.g. ``"%Y%m%d"``).
    returns : {"error", "drop", "net"}
        What to do with negative amounts (returns, refunds): refuse them (default), drop those
        rows, or net them against the same customer's purchases on the same day (days whose net is
        <= 0 are then dropped). Both corrections are logged. Zero amounts are not returns: they are
        kept as purchases with no spend (CDNOW has a few), with a logged warning.
    after_end : {"error", "drop"}
        What to do with purchases after ``observation_end``: refuse (default) or ignore them (logged).
        Without ``observation_end``, purchases dated after today (the latest date in any time
        zone) follow it too: a mistyped year would otherwise become the end of observation.
        An ``observation_end`` after today is refused.
    duplicates : {"keep", "drop", "error"}
        Rows identical in the id, date and amount columns: keep them as separate purchases
        (default, with a logged warning: real logs have two identical orders on one day), drop
        the repeats (logged), or refuse.
    discrete : bool
        Count transaction *opportunities* of one ``time_unit`` each, for the discrete-time
        BG/BB (:class:`~clvpredict.BetaGeoBetaBinomModel`): periods of one ``time_unit`` are
        laid back from ``observation_end`` (the last one ends on it), a period with any purchase
        is one transaction (its amounts summed), the period of the first purchase is period 0,
        and ``frequency``, ``recency`` and ``T`` become whole numbers of periods (repeat periods
        with a purchase, period of the last one, periods observed after period 0). ``"M"`` and
        ``"Y"`` periods are calendar months and years counted back from ``observation_end``
        (calendar years when it is a 31 December); see :func:`period_index`.

    Returns
    -------
    DataFrame
        Indexed by customer id, with columns

        * ``frequency`` (int): number of repeat purchase days;
        * ``recency`` (float, ``time_unit``): first to last purchase day;
        * ``T`` (float, ``time_unit``): first purchase day to ``observation_end``;
        * ``monetary_value`` (float, currency): mean amount of the repeat purchase days, ``NaN``
          for one-time buyers (the mean of no purchases is undefined);
        * ``avg_order_value`` (float, currency): mean amount over *all* purchase days, first
          included (the "average order value" of the simple CLV formula).

        ``result.attrs`` records ``time_unit``, ``observation_end`` and ``discrete`` so that
        models fitted on it know their unit. With ``discrete=True`` "purchase days" above read
        "periods with a purchase".

    Raises
    ------
    ClvDataError
        Missing columns, missing ids, unparseable dates, invalid amounts, purchases after the end.

    Examples
    --------
    >>> import pandas as pd
    >>> from clvpredict import rfm_summary
    >>> tx = pd.DataFrame({
    ...     "customer": ["a", "a", "a", "b"],
    ...     "date": ["2024-01-01", "2024-01-01", "2024-01-15", "2024-01-08"],
    ...     "amount": [10.0, 5.0, 20.0, 8.0],
    ... })
    >>> rfm_summary(tx, "customer", "date", "amount", observation_end="2024-01-29", time_unit="W")
              frequency  recency    T  monetary_value  avg_order_value
    customer
    a                 1      2.0  4.0            20.0             17.5
    b                 0      0.0  3.0             NaN              8.0

    Counted in weekly periods instead, one transaction opportunity per week (for the BG/BB):

    >>> rfm_summary(tx, "customer", "date", observation_end="2024-01-29", time_unit="W",
    ...             discrete=True)
              frequency  recency  T
    customer
    a                 1        2  4
    b                 0        0  3
    """
    unit = check_time_unit(time_unit)
    log = as_log(
        transactions,
        customer_id_col,
        datetime_col,
        monetary_value_col,
        datetime_format=datetime_format,
        returns=returns,
        duplicates=duplicates,
    )
    customer_id_col, monetary_value_col = log.customer_id_col, log.monetary_value_col
    daily = log.until(after_end if observation_end is None else None)
    if observation_end is None:
        end_day = int(daily["day"].max())
    else:
        end_day = _end_day(observation_end)
        daily = _apply_end(daily, end_day, after_end, f"observation_end={observation_end!s}")
        if len(daily) == 0:
            raise ClvDataError(
                f"observation_end={observation_end!s} is before the first purchase: nothing to summarise."
            )
    out = _summarise(daily, end_day, unit, monetary_value_col is not None, bool(discrete))
    out.index.name = customer_id_col
    out.attrs.update(
        time_unit=unit,
        observation_end=str(pd.Timestamp(end_day, unit="D").date()),
        discrete=bool(discrete),
    )
    return out


def calibration_holdout_summary(
    transactions: pd.DataFrame | TransactionLog,
    customer_id_col: str | None = None,
    datetime_col: str | None = None,
    calibration_end: Any = None,
    observation_end: Any = None,
    monetary_value_col: str | None = None,
    time_unit: str = "D",
    *,
    datetime_format: str | None = None,
    returns: ReturnsPolicy = "error",
    after_end: AfterEndPolicy = "error",
    duplicates: DuplicatesPolicy = "keep",
    discrete: bool = False,
) -> pd.DataFrame:
    """RFM summary of a calibration period plus what each customer did in the holdout after it.

    The calibration period runs up to and including ``calibration_end``; the holdout from the next
    day up to and including ``observation_end``. **Customers whose first purchase falls in the
    holdout are excluded**: the models describe customers already acquired at the end of
    calibration, and their holdout purchases cannot be forecast from a calibration history.

    Parameters
    ----------
    transactions, customer_id_col, datetime_col, monetary_value_col, time_unit,
    datetime_format, returns, duplicates
        As in :func:`rfm_summary`.
    discrete : bool
        Count periods of one ``time_unit`` as in :func:`rfm_summary` (for the BG/BB). The
        calibration periods end on ``calibration_end`` and the holdout periods start the day
        after; a holdout that is not a whole number of periods loses its last, incomplete
        period (logged), and ``frequency_holdout`` counts holdout periods with a purchase.
    calibration_end : date-like
        Last calendar day of the calibration period (inclusive).
    observation_end : date-like, optional
        Last calendar day of the holdout (inclusive). Defaults to the last purchase day.
    after_end : {"error", "drop"}
        What to do with purchases after ``observation_end`` (without one: after today), as in
        :func:`rfm_summary`.

    Returns
    -------
    DataFrame
        The calibration columns of :func:`rfm_summary` (``frequency``, ``recency``, ``T``, and with
        money ``monetary_value``, ``avg_order_value``) plus

        * ``frequency_holdout`` (int): purchase days in the holdout (all of them are repeats);
        * ``monetary_value_holdout`` (float, currency): mean amount per holdout purchase day,
          ``NaN`` when there was none (only with ``monetary_value_col``);
        * ``duration_holdout`` (float, ``time_unit``): holdout length, the same for everybody.

        ``attrs`` records ``time_unit``, ``calibration_end``, ``observation_end`` and
        ``discrete``.

    Examples
    --------
    >>> from clvpredict.datasets import load_cdnow
    >>> tx = load_cdnow()
    >>> ch = calibration_holdout_summary(tx, "customer_id", "date", "1997-09-30", "1998-06-30",
    ...                                  monetary_value_col="amount", time_unit="W")
    >>> int(ch["frequency_holdout"].sum())
    1882
    """
    unit = check_time_unit(time_unit)
    days_per_unit = unit_in_days(unit)
    log = as_log(
        transactions,
        customer_id_col,
        datetime_col,
        monetary_value_col,
        datetime_format=datetime_format,
        returns=returns,
        duplicates=duplicates,
    )
    customer_id_col, monetary_value_col = log.customer_id_col, log.monetary_value_col
    daily, cal_end, obs_end = daily_with_holdout(log, calibration_end, observation_end, after_end)
    in_cal = daily["day"].to_numpy() <= cal_end
    if not in_cal.any():
        first = pd.Timestamp(int(daily["day"].min()), unit="D").date()
        raise ClvDataError(
            f"calibration_end={calibration_end!s} is before the first purchase ({first}): the "
            "calibration period is empty. Choose a later calibration_end."
        )
    with_money = monetary_value_col is not None
    cal = _summarise(daily[in_cal], cal_end, unit, with_money, bool(discrete))
    hold = daily[~in_cal]
    hold = hold[hold["customer_id"].isin(cal.index)]
    n_new = daily.loc[~in_cal, "customer_id"].nunique() - hold["customer_id"].nunique()
    if n_new:
        logger.info("Excluded %d customers first seen in the holdout period.", n_new)
    duration = (obs_end - cal_end) / days_per_unit
    if discrete:
        # Whole periods only: the day after the holdout starts period number `duration`.
        duration = int(period_index([obs_end + 1], cal_end, unit)[0])
        if duration < 1:
            raise ClvDataError(
                f"The holdout ({obs_end - cal_end} days) is shorter than one period of "
                f"time_unit={unit!r}: a discrete summary needs at least one whole period. Move "
                "observation_end or calibration_end."
            )
        hold = _per_period(hold, cal_end, unit)
        partial = hold["day"].to_numpy() >= duration
        if partial.any():
            logger.info(
                "Ignored the purchases of %d customer(s) in the incomplete period after the last "
                "whole holdout period.",
                int(partial.sum()),
            )
            hold = hold[~partial]
    hstats = hold.groupby("customer_id", sort=True)["amount"].agg(["size", "mean"])
    cal["frequency_holdout"] = hstats["size"].reindex(cal.index).fillna(0).astype(np.int64)
    if with_money:
        cal["monetary_value_holdout"] = hstats["mean"].reindex(cal.index)
    cal["duration_holdout"] = duration
    cal.index.name = customer_id_col
    cal.attrs.update(
        time_unit=unit,
        calibration_end=str(pd.Timestamp(cal_end, unit="D").date()),
        observation_end=str(pd.Timestamp(obs_end, unit="D").date()),
        discrete=bool(discrete),
    )
    return cal


def daily_with_holdout(
    log: TransactionLog, calibration_end: Any, observation_end: Any, after_end: AfterEndPolicy
) -> tuple[pd.DataFrame, int, int]:
    """Validated customer/day table up to ``observation_end``, and both ends as day numbers.

    ``observation_end`` defaults to the last purchase day and must come after
    ``calibration_end``; purchases after it follow ``after_end``.
    """
    if calibration_end is None:
        raise ClvDataError("calibration_end is required: the last day of the calibration period.")
    daily = log.until(after_end if observation_end is None else None)
    cal_end = _day_number(_to_timestamp(calibration_end, "calibration_end"))
    if observation_end is None:
        obs_end = int(daily["day"].max())
    else:
        obs_end = _end_day(observation_end)
    # Checked before trimming so that swapped dates get this message, not "purchases after end".
    if obs_end <= cal_end:
        raise ClvDataError(
            f"observation_end ({pd.Timestamp(obs_end, unit='D').date()}) must be after "
            f"calibration_end ({pd.Timestamp(cal_end, unit='D').date()}) so that there is a holdout."
        )
    if observation_end is not None:
        daily = _apply_end(daily, obs_end, after_end, f"observation_end={observation_end!s}")
        if len(daily) == 0:
            raise ClvDataError(
                f"observation_end={observation_end!s} is before the first purchase: nothing to "
                "summarise. Choose a later observation_end."
            )
    return daily, cal_end, obs_end


# --------------------------------------------------------------------------------------------
# RFM arrays for the models
# --------------------------------------------------------------------------------------------


def rfm_arrays(
    data: pd.DataFrame | None,
    columns: Sequence[str],
    overrides: dict[str, Any],
    *,
    nan_where_no_repeat: Sequence[str] = (),
) -> tuple[dict[str, np.ndarray], pd.Index]:
    """Pull validated float arrays for ``columns`` from ``data`` or from keyword arrays.

    ``overrides`` maps a column name to an array passed as a keyword (or ``None``). Keyword arrays
    win over DataFrame columns. The returned index is ``data.index`` (or a RangeIndex). Columns
    named in ``nan_where_no_repeat`` may be NaN where ``frequency == 0``; they become 0 there.
    """
    arrays: dict[str, np.ndarray] = {}
    index: pd.Index | None = None
    if data is not None:
        if isinstance(data, pd.Series):
            data = data.to_frame().T
        if not isinstance(data, pd.DataFrame):
            raise ClvDataError(
                f"data must be a pandas DataFrame with columns {list(columns)}, got "
                f"{type(data).__name__}. Pass arrays as keywords instead, e.g. frequency=..."
            )
        index = data.index
    for col in columns:
        value = overrides.get(col)
        if value is None:
            if data is None or col not in data.columns:
                where = (
                    f"data has columns {list(map(str, data.columns))}"
                    if data is not None
                    else "no data was given"
                )
                raise ClvDataError(
                    f"Column {col!r} is required but missing ({where}). Pass a DataFrame from "
                    f"rfm_summary or the array as the keyword {col}=..."
                )
            value = data[col]
        series = value
        arr = np.asarray(series)
        if arr.dtype == object or not (
            np.issubdtype(arr.dtype, np.number) or np.issubdtype(arr.dtype, np.bool_)
        ):
            converted = pd.to_numeric(pd.Series(np.ravel(arr)), errors="coerce").to_numpy(float)
            bad = np.isnan(converted) & pd.notna(pd.Series(np.ravel(arr))).to_numpy()
            if bad.any():
                raise ClvDataError(
                    f"Column {col!r} must be numeric; offending values: "
                    f"{describe_values(np.ravel(arr)[bad])}."
                )
            arr = converted
        arr = np.atleast_1d(np.asarray(arr, dtype=float))
        if arr.ndim != 1:
            raise ClvDataError(f"{col!r} must be one-dimensional, got shape {arr.shape}.")
        arrays[col] = arr
        if index is None and isinstance(series, pd.Series):
            index = series.index
    lengths = {k: len(v) for k, v in arrays.items()}
    if len(set(lengths.values())) > 1:
        raise ClvDataError(f"The RFM arrays have different lengths: {lengths}. They must align.")
    n = next(iter(lengths.values()))
    if index is None or len(index) != n:
        index = pd.RangeIndex(n)
    for col in nan_where_no_repeat:
        if col in arrays and "frequency" in arrays:
            arrays[col] = np.where(
                (arrays["frequency"] == 0) & np.isnan(arrays[col]), 0.0, arrays[col]
            )
    for col, arr in arrays.items():
        bad = ~np.isfinite(arr)
        if bad.any():
            raise ClvDataError(
                f"Column {col!r} has missing or infinite values at {_labels(index, bad)}. "
                "Drop those customers first."
            )
        bad = arr < 0
        if bad.any():
            raise ClvDataError(
                f"Column {col!r} has negative values at {_labels(index, bad, arr)}; it must be >= 0."
            )
    if "frequency" in arrays:
        x = arrays["frequency"]
        bad = x != np.round(x)
        if bad.any():
            raise ClvDataError(
                f"Column 'frequency' must hold whole numbers of repeat purchases; offending "
                f"values at {_labels(index, bad, x)}."
            )
    if "recency" in arrays and "T" in arrays:
        t_x, big_t = arrays["recency"], arrays["T"]
        # Allow rounding noise from summaries published to two decimals.
        bad = t_x > big_t * (1 + 1e-9) + 1e-9
        if bad.any():
            raise ClvDataError(
                "Column 'recency' exceeds 'T' (a last purchase after the end of observation) at "
                f"{_labels(index, bad, t_x)}. Recompute the summary with the right observation_end."
            )
        arrays["recency"] = np.minimum(t_x, big_t)
    if "recency" in arrays and "frequency" in arrays:
        bad = (arrays["frequency"] == 0) & (arrays["recency"] > 0)
        if bad.any():
            raise ClvDataError(
                "Customers with frequency 0 must have recency 0 (there is no repeat purchase); "
                f"offending recency at {_labels(index, bad, arrays['recency'])}."
            )
    return arrays, index


def _labels(index: pd.Index, mask: np.ndarray, values: np.ndarray | None = None) -> str:
    labels = index[mask][:5]
    if values is None:
        shown = ", ".join(repr(lab) for lab in labels)
    else:
        shown = ", ".join(
            f"{lab!r}: {val!r}" for lab, val in zip(labels, values[mask][:5].tolist(), strict=False)
        )
    extra = int(mask.sum()) - len(labels)
    return shown + (f" ... and {extra} more" if extra > 0 else "")

"""Per-customer summaries of a transaction log, computed where the log lives.

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

The summaries are written once, as narwhals queries over the customer-day table of a
:class:`~clvpredict.data.TransactionLog`: the same code runs on pandas and in polars, DuckDB or
Spark, and returns the caller's kind of frame (:mod:`clvpredict.data.engines`).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any, Literal

import narwhals.stable.v2 as nw
import numpy as np
import pandas as pd

from .._units import DAYS_PER_UNIT, UNIT_NAMES, check_time_unit, unit_in_days
from ..exceptions import ClvDataError, describe_values
from ._engine_log import money
from .engines import UNIT_COLUMN, count_true, scalars, to_caller
from .transactions import (
    AfterEndPolicy,
    DuplicatesPolicy,
    ReturnsPolicy,
    TransactionLog,
    _day_number,
    _end_day,
    _to_timestamp,
    as_log,
)

__all__ = ["calibration_holdout_summary", "period_bounds", "period_index", "rfm_summary"]

logger = logging.getLogger("clvpredict.data.transactions")

Frame = Any  # a pandas DataFrame, or a narwhals DataFrame/LazyFrame


def _nw(daily: Frame) -> nw.DataFrame | nw.LazyFrame:
    """A narwhals view of a customer-day table (pandas tables stay eager pandas)."""
    if isinstance(daily, nw.DataFrame | nw.LazyFrame):
        return daily
    return nw.from_native(daily, eager_only=True)


def _like(result: nw.DataFrame | nw.LazyFrame, given: Frame) -> Frame:
    """``result`` in the kind ``given`` was: pandas back to pandas, narwhals stays narwhals."""
    if isinstance(given, nw.DataFrame | nw.LazyFrame):
        return result
    return result.to_native()


def _n_rows(frame: nw.DataFrame | nw.LazyFrame) -> int:
    return int(scalars(frame, nw.len())[0])


def _day_date(day: int) -> Any:
    return pd.Timestamp(int(day), unit="D").date()


def _apply_end(
    daily: Frame,
    end_day: int,
    after_end: AfterEndPolicy,
    what: str,
    nothing_left: str | None = None,
) -> Frame:
    """The customer-day table without days after ``end_day``: refused or dropped (logged).

    With ``nothing_left``, a table with no day left is refused with that message; the days
    are counted in the same query as the late ones.
    """
    table = _nw(daily)
    late = nw.col("day") > end_day
    n_late, first_late, n_days = scalars(
        table,
        count_true(late).alias("n"),
        nw.when(late).then(nw.col("day")).min().alias("first"),
        nw.len().alias("days"),
    )
    # pandas sums a cast boolean as a float.
    n_late = int(n_late or 0)
    if n_late:
        if after_end == "error":
            raise ClvDataError(
                f"{n_late} purchase day(s) fall after {what} (the first on "
                f"{_day_date(first_late)}). Pass after_end='drop' to ignore them, or move the end "
                "date; use calibration_holdout_summary to keep them as a holdout period."
            )
        if after_end != "drop":
            raise ClvDataError(f"after_end={after_end!r} is not one of 'error', 'drop'.")
        logger.info("Ignored %d purchase day(s) after %s.", n_late, what)
        table = table.filter(~late)
    if nothing_left is not None and not n_days - n_late:
        raise ClvDataError(nothing_left)
    return _like(table, daily)


def _summarise_daily(
    daily: nw.DataFrame | nw.LazyFrame, end_day: int, days_per_unit: float, with_money: bool
) -> nw.DataFrame | nw.LazyFrame:
    """RFM columns (and ``customer_id``) from a customer-day table, one row per customer."""
    exact = "amount_fine" in daily.collect_schema().names()
    stats = daily.group_by("customer_id").agg(
        nw.col("day").min().alias("first"),
        nw.col("day").max().alias("last"),
        nw.len().alias("n"),
        nw.col("amount").sum().alias("total"),
        *([nw.col("amount_fine").sum().alias("total_fine")] if exact else []),
    )
    if with_money:
        # The first day's amount: each customer's row of the table (one per customer and day)
        # on its first day, joined to the customer's totals. A window over customers costs
        # Spark an extra sort.
        stats = daily.select(
            "customer_id",
            "day",
            nw.col("amount").alias("first_amount"),
            *([nw.col("amount_fine").alias("first_fine")] if exact else []),
        ).join(stats.rename({"first": "day"}), on=["customer_id", "day"], how="inner")
        stats = stats.rename({"day": "first"})
        if exact:
            # Engines other than pandas add money as exact whole numbers: back to currency here.
            stats = stats.with_columns(
                total=money(nw.col("total"), nw.col("total_fine")),
                first_amount=money(nw.col("first_amount"), nw.col("first_fine")),
            )
    frequency = nw.col("n").cast(nw.Int64) - 1
    columns = [
        nw.col("customer_id"),
        frequency.alias("frequency"),
        ((nw.col("last") - nw.col("first")) / days_per_unit).alias("recency"),
        ((end_day - nw.col("first")) / days_per_unit).alias("T"),
    ]
    if with_money:
        repeat_mean = (nw.col("total") - nw.col("first_amount")) / frequency
        columns += [
            nw.when(frequency > 0)
            .then(repeat_mean)
            .otherwise(nw.lit(float("nan")))
            .alias("monetary_value"),
            (nw.col("total") / nw.col("n")).alias("avg_order_value"),
        ]
    return stats.select(columns)


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


#: Days added before integer division so that every engine divides non-negative numbers (engines
#: differ in how they round a negative quotient); about 27,000 years of days.
_SHIFT = 10_000_000


def _floor_div(numerator: Any, divisor: int) -> Any:
    """``floor(numerator / divisor)`` for integer expressions of either sign, on any engine."""
    shift = _SHIFT - _SHIFT % divisor
    return (numerator + shift) // divisor - shift // divisor


def _with_periods(frame: Any, end_day: int, unit: str) -> Any:
    """``frame`` with its ``day`` replaced by :func:`period_index`, in steps every engine runs.

    Each intermediate is a column rather than a nested expression: SQL engines would otherwise
    receive every reused term spelled out again, and the query text grows exponentially.
    """
    if unit in ("D", "W"):
        return frame.with_columns(
            day=_floor_div(nw.col("day") - (int(end_day) + 1), int(DAYS_PER_UNIT[unit]))
        )
    c = nw.col
    # H. Hinnant's civil_from_days: every term is >= 0 for dates from 0000-03-01 on, so integer
    # division is floor division on every engine.
    steps = [
        {"_z": c("day") + 719_468},
        {"_era": c("_z") // 146_097},
        {"_doe": c("_z") - c("_era") * 146_097},
        {
            "_yoe": (c("_doe") - c("_doe") // 1_460 + c("_doe") // 36_524 - c("_doe") // 146_096)
            // 365
        },
        {"_doy": c("_doe") - (365 * c("_yoe") + c("_yoe") // 4 - c("_yoe") // 100)},
        {"_mp": (5 * c("_doy") + 2) // 153},
        {
            "_dom": c("_doy") - (153 * c("_mp") + 2) // 5 + 1,
            "_m": nw.when(c("_mp") < 10).then(c("_mp") + 3).otherwise(c("_mp") - 9),
        },
        {
            "_month": (c("_yoe") + c("_era") * 400 + (c("_m") <= 2).cast(nw.Int64)) * 12
            + c("_m")
            - 1
        },
    ]
    for step in steps:
        frame = frame.with_columns(**step)
    anchor_month, anchor_dom = _calendar(np.array([int(end_day) + 1]))
    # _month counts from year 0; _calendar's months count from 1970-01.
    elapsed = (
        c("_month")
        - (int(anchor_month[0]) + 1970 * 12)
        - (c("_dom") < int(anchor_dom[0])).cast(nw.Int64)
    )
    frame = frame.with_columns(day=_floor_div(elapsed, 12 if unit == "Y" else 1))
    return frame.drop("_z", "_era", "_doe", "_yoe", "_doy", "_mp", "_dom", "_m", "_month")


def _per_period(daily: Frame, end_day: int, time_unit: str) -> Frame:
    """The customer/day table re-counted by period: one row per customer and period with a
    purchase, its amounts summed; ``day`` holds the period number (see :func:`period_index`)."""
    table = _nw(daily)
    periods = _with_periods(table, end_day, time_unit)
    sums = [nw.col("amount").sum()]
    if "amount_fine" in periods.collect_schema().names():
        sums.append(nw.col("amount_fine").sum())
    out = periods.group_by("customer_id", "day").agg(*sums)
    return _like(out, daily)


def _summarise(
    daily: Frame, end_day: int, time_unit: str, with_money: bool, discrete: bool
) -> nw.DataFrame | nw.LazyFrame:
    """RFM columns in time units (continuous) or in whole periods of one unit (discrete)."""
    table = _nw(daily)
    if not discrete:
        return _summarise_daily(table, end_day, unit_in_days(time_unit), with_money)
    anchor_day = int(_calendar(np.array([end_day + 1]))[1][0])
    if time_unit in ("M", "Y") and anchor_day != 1:
        logger.warning(
            "discrete=True: the periods end on %s, not on the last day of a month, so each %s "
            "starts on day %d of a month rather than being a calendar %s. End on a month end "
            "(e.g. 31 December for calendar years) if the opportunities follow the calendar.",
            _day_date(end_day),
            UNIT_NAMES[time_unit][:-1],
            anchor_day,
            UNIT_NAMES[time_unit][:-1],
        )
    # Period -1 ends at end_day, so T = -1 - (period of the first purchase) periods.
    out = _summarise_daily(_per_period(table, end_day, time_unit), -1, 1.0, with_money)
    return out.with_columns(nw.col("recency").cast(nw.Int64), nw.col("T").cast(nw.Int64))


def _finish(
    out: nw.DataFrame | nw.LazyFrame, log: TransactionLog, attrs: dict[str, Any], output: str
) -> Any:
    """A summary in the caller's kind: pandas indexed by customer id with ``attrs``; other
    kinds with the id column and the unit in a ``time_unit`` column."""
    name = log.customer_id_col
    if output not in ("native", "pandas"):
        raise ClvDataError(f"output={output!r} is not one of 'native', 'pandas'.")
    if log.kind == "pandas" or output == "pandas":
        frame = to_caller(out, "pandas", sort_by="customer_id")
        frame = frame.set_index("customer_id")
        frame.index.name = name
        frame["frequency"] = frame["frequency"].astype(np.int64)
        if attrs.get("discrete"):
            frame = frame.astype({"recency": np.int64, "T": np.int64})
        frame.attrs.update(attrs)
        return frame
    out = out.rename({"customer_id": name}).with_columns(
        nw.lit(attrs["time_unit"]).alias(UNIT_COLUMN)
    )
    return to_caller(out, log.kind, sort_by=name)


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
    output: Literal["native", "pandas"] = "native",
) -> Any:
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
        Rows identical in the id, date and amount columns: keep them (default, with a logged
        warning: real logs have two identical orders on one day; like every row, their amounts
        are added to the customer's one purchase of that day), drop the repeats (logged), or
        refuse.
    discrete : bool
        Count transaction *opportunities* of one ``time_unit`` each, for the discrete-time
        BG/BB (:class:`~clvpredict.BetaGeoBetaBinomModel`): periods of one ``time_unit`` are
        laid back from ``observation_end`` (the last one ends on it), a period with any purchase
        is one transaction (its amounts summed), the period of the first purchase is period 0,
        and ``frequency``, ``recency`` and ``T`` become whole numbers of periods (repeat periods
        with a purchase, period of the last one, periods observed after period 0). ``"M"`` and
        ``"Y"`` periods are calendar months and years counted back from ``observation_end``
        (calendar years when it is a 31 December); see :func:`period_index`.
    output : {"native", "pandas"}
        The kind of the result: the log's own (``"native"``: a polars log gives polars, a
        DuckDB relation or a polars LazyFrame a query of its engine, a Spark DataFrame a Spark
        DataFrame), or pandas with ``attrs`` whatever the log (computed in the log's engine and
        collected: one row per customer).

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
        models fitted on it know their unit. Results of other kinds than pandas have the
        customer id as a column and the unit in a constant ``time_unit`` column. With ``discrete=True`` "purchase days" above read
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
    daily = _nw(log.until(after_end if observation_end is None else None))
    if observation_end is None:
        end_day = int(scalars(daily, nw.col("day").max())[0])
    else:
        end_day = _end_day(observation_end)
        daily = _apply_end(
            daily,
            end_day,
            after_end,
            f"observation_end={observation_end!s}",
            f"observation_end={observation_end!s} is before the first purchase: nothing to "
            "summarise.",
        )
    out = _summarise(daily, end_day, unit, log.monetary_value_col is not None, bool(discrete))
    attrs = {
        "time_unit": unit,
        "observation_end": str(_day_date(end_day)),
        "discrete": bool(discrete),
    }
    return _finish(out, log, attrs, output)


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
    output: Literal["native", "pandas"] = "native",
) -> Any:
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
    output : {"native", "pandas"}
        As in :func:`rfm_summary`.
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
    daily, cal_end, obs_end = daily_with_holdout(log, calibration_end, observation_end, after_end)
    daily = _nw(daily)
    in_cal = nw.col("day") <= cal_end
    n_cal, first_day = scalars(
        daily, count_true(in_cal).alias("n"), nw.col("day").min().alias("first")
    )
    if not n_cal:
        raise ClvDataError(
            f"calibration_end={calibration_end!s} is before the first purchase "
            f"({_day_date(first_day)}): the calibration period is empty. Choose a later "
            "calibration_end."
        )
    with_money = log.monetary_value_col is not None
    cal = _summarise(daily.filter(in_cal), cal_end, unit, with_money, bool(discrete))
    hold = daily.filter(~in_cal)
    # Counted from each customer's first day alone: asking which holdout customers the
    # calibration summary lacks would compute that summary once more.
    first_days = daily.group_by("customer_id").agg(nw.col("day").min().alias("first"))
    n_new = _n_rows(first_days.filter(nw.col("first") > cal_end))
    if n_new:
        logger.info("Excluded %d customers first seen in the holdout period.", n_new)
    duration: float | int = (obs_end - cal_end) / days_per_unit
    if discrete:
        # Whole periods only: the day after the holdout starts period number `duration`.
        duration = int(period_index([obs_end + 1], cal_end, unit)[0])
        if duration < 1:
            raise ClvDataError(
                f"The holdout ({obs_end - cal_end} days) is shorter than one period of "
                f"time_unit={unit!r}: a discrete summary needs at least one whole period. Move "
                "observation_end or calibration_end."
            )
        # Only the calibration's customers: their holdout purchases are counted below.
        hold = hold.join(cal.select("customer_id"), on="customer_id", how="semi")
        hold = _per_period(hold, cal_end, unit)
        partial = nw.col("day") >= duration
        n_partial = int(scalars(hold, count_true(partial))[0] or 0)
        if n_partial:
            logger.info(
                "Ignored the purchases of %d customer(s) in the incomplete period after the last "
                "whole holdout period.",
                n_partial,
            )
            hold = hold.filter(~partial)
    if "amount_fine" in hold.collect_schema().names():
        hstats = hold.group_by("customer_id").agg(
            nw.len().alias("frequency_holdout"), nw.col("amount").sum(), nw.col("amount_fine").sum()
        )
        spent = money(nw.col("amount"), nw.col("amount_fine"))
    else:
        hstats = hold.group_by("customer_id").agg(
            nw.len().alias("frequency_holdout"), nw.col("amount").sum()
        )
        spent = nw.col("amount")
    hstats = hstats.select(
        "customer_id",
        "frequency_holdout",
        (spent / nw.col("frequency_holdout")).alias("monetary_value_holdout"),
    )
    # The left join leaves out the customers first seen in the holdout.
    out = cal.join(hstats, on="customer_id", how="left").with_columns(
        nw.col("frequency_holdout").fill_null(0).cast(nw.Int64),
        nw.lit(duration).alias("duration_holdout"),
    )
    columns = out.collect_schema().names()
    if with_money:
        out = out.with_columns(nw.col("monetary_value_holdout").fill_null(float("nan")))
    else:
        columns.remove("monetary_value_holdout")
    # The holdout columns after the calibration ones, in a fixed order.
    order = [
        c
        for c in columns
        if c not in ("frequency_holdout", "monetary_value_holdout", "duration_holdout")
    ]
    order += ["frequency_holdout"] + (["monetary_value_holdout"] if with_money else [])
    order += ["duration_holdout"]
    attrs = {
        "time_unit": unit,
        "calibration_end": str(_day_date(cal_end)),
        "observation_end": str(_day_date(obs_end)),
        "discrete": bool(discrete),
    }
    return _finish(out.select(order), log, attrs, output)


def daily_with_holdout(
    log: TransactionLog, calibration_end: Any, observation_end: Any, after_end: AfterEndPolicy
) -> tuple[Frame, int, int]:
    """Validated customer/day table up to ``observation_end``, and both ends as day numbers.

    ``observation_end`` defaults to the last purchase day and must come after
    ``calibration_end``; purchases after it follow ``after_end``. The table is of the log's
    kind: pandas for a pandas log, a narwhals query of its engine otherwise.
    """
    if calibration_end is None:
        raise ClvDataError("calibration_end is required: the last day of the calibration period.")
    daily = log.until(after_end if observation_end is None else None)
    cal_end = _day_number(_to_timestamp(calibration_end, "calibration_end"))
    if observation_end is None:
        obs_end = int(scalars(_nw(daily), nw.col("day").max())[0])
    else:
        obs_end = _end_day(observation_end)
    # Checked before trimming so that swapped dates get this message, not "purchases after end".
    if obs_end <= cal_end:
        raise ClvDataError(
            f"observation_end ({_day_date(obs_end)}) must be after "
            f"calibration_end ({_day_date(cal_end)}) so that there is a holdout."
        )
    if observation_end is not None:
        daily = _apply_end(
            daily,
            obs_end,
            after_end,
            f"observation_end={observation_end!s}",
            f"observation_end={observation_end!s} is before the first purchase: nothing to "
            "summarise. Choose a later observation_end.",
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

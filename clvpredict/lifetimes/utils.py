"""lifetimes' data summaries and CLV helper, working on pandas 3.

The summaries follow lifetimes' definitions: purchases are grouped by period of ``freq`` (a
customer's purchases in one day, for ``freq="D"``, are one transaction with their values
summed); ``frequency`` is the number of periods with a purchase after the first one,
``recency`` the time from the first to the last of them and ``T`` the time from the first to
``observation_period_end``, all in periods of ``freq`` divided by ``freq_multiplier``;
``monetary_value`` is the mean value of the repeat periods and 0 for customers without one.

lifetimes' aliases of pandas frequencies that pandas 3 removed (``"H"``, ``"T"``, ``"S"``,
``"L"``, ``"U"``, ``"N"``) are translated, so calls written for lifetimes keep working.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from .fitters import check_inputs

__all__ = [
    "calculate_alive_path",
    "calibration_and_holdout_data",
    "expected_cumulative_transactions",
    "summary_data_from_transaction_data",
]

#: Month length of lifetimes' CLV (and of its ``freq`` factors): 30 days.
_PERIODS_PER_MONTH = {"W": 4.345, "M": 1.0, "D": 30.0, "H": 30.0 * 24}

_OLD_ALIASES = {"H": "h", "T": "min", "S": "s", "L": "ms", "U": "us", "N": "ns"}


def _pandas_freq(freq: str) -> str:
    """``freq`` in the spelling today's pandas accepts (``"H"`` -> ``"h"``, ...)."""
    return _OLD_ALIASES.get(freq, freq)


def _check_inputs(frequency, recency=None, T=None, monetary_value=None) -> None:
    """lifetimes' input checks (``ValueError`` with its messages)."""
    check_inputs(
        np.asarray(frequency),
        None if recency is None else np.asarray(recency),
        None if T is None else np.asarray(T),
        None if monetary_value is None else np.asarray(monetary_value),
    )


def _scale_time(age: Any) -> float:
    """The factor that makes the largest age 1 (lifetimes' rescaling of time)."""
    return 1.0 / np.asarray(age).max()


def _period_numbers(dates: pd.Series, freq: str) -> np.ndarray:
    """Each date's period of ``freq`` as an integer (consecutive periods differ by 1)."""
    return dates.dt.to_period(_pandas_freq(freq)).array.asi8


def _dates(values: Any, datetime_format: str | None) -> pd.Series:
    """Dates parsed with ``datetime_format``. Numbers such as CDNOW's ``19970101`` are read as
    text in that format (pandas will read numbers given a format as epochs)."""
    values = pd.Series(values)
    if datetime_format is not None and pd.api.types.is_numeric_dtype(values.dtype):
        values = values.astype(str)
    return pd.to_datetime(values, format=datetime_format)


def _moment(value: Any, datetime_format: str | None) -> pd.Timestamp:
    """One date parsed as :func:`_dates` parses a column."""
    if datetime_format is not None and isinstance(value, int | float | np.number):
        value = str(value)
    return pd.to_datetime(value, format=datetime_format)


def _purchase_periods(
    transactions: pd.DataFrame,
    customer_id_col: str,
    dates: pd.Series,
    freq: str,
    monetary_value_col: str | None,
) -> pd.DataFrame:
    """One row per transaction: ``customer``, the whole ``period`` of ``freq`` it falls in and,
    with a money column, its ``value``."""
    periods = pd.DataFrame(
        {
            "customer": transactions[customer_id_col].to_numpy(),
            "period": _period_numbers(dates, freq),
        }
    )
    if monetary_value_col is not None:
        periods["value"] = transactions[monetary_value_col].to_numpy(dtype=float)
    return periods


def _end_period(end: Any, datetime_format: str | None, freq: str) -> int:
    moment = _moment(end, datetime_format)
    return int(pd.Series([moment]).dt.to_period(_pandas_freq(freq)).array.asi8[0])


def summary_data_from_transaction_data(
    transactions: pd.DataFrame,
    customer_id_col: str,
    datetime_col: str,
    monetary_value_col: str | None = None,
    datetime_format: str | None = None,
    observation_period_end: Any = None,
    freq: str = "D",
    freq_multiplier: float = 1,
    include_first_transaction: bool = False,
) -> pd.DataFrame:
    """One row per customer: ``frequency``, ``recency``, ``T`` (and ``monetary_value``).

    Parameters
    ----------
    transactions : DataFrame
        One row per purchase.
    customer_id_col, datetime_col : str
        Columns of the customer id and the purchase time.
    monetary_value_col : str, optional
        Column of the purchase value; adds ``monetary_value``.
    datetime_format : str, optional
        ``strptime`` format of ``datetime_col`` and ``observation_period_end`` given as text.
    observation_period_end : date-like, optional
        End of observation (default: the last purchase). Later purchases are dropped.
    freq : str
        Period of the summary (``"D"``, ``"W"``, ``"M"``, ``"h"``, ...).
    freq_multiplier : float
        Divides the durations: e.g. ``freq="D", freq_multiplier=7`` gives weeks counted in
        days (unlike ``freq="W"``, which counts calendar weeks).
    include_first_transaction : bool
        Count the first purchase in ``frequency`` and ``monetary_value``.

    Returns
    -------
    DataFrame
        Indexed by ``customer_id_col``, sorted by it.
    """
    dates = _dates(transactions[datetime_col].to_numpy(), datetime_format)
    if observation_period_end is None:
        end = _period_numbers(dates.iloc[[dates.argmax()]], freq)[0]
    else:
        end = _end_period(observation_period_end, datetime_format, freq)
    periods = _purchase_periods(transactions, customer_id_col, dates, freq, monetary_value_col)
    periods = periods[periods["period"] <= end]
    per_period = periods.groupby(["customer", "period"], sort=True).sum().reset_index()
    grouped = per_period.groupby("customer", sort=True)
    first = grouped["period"].min()
    last = grouped["period"].max()
    count = grouped["period"].size()
    offset = 0 if include_first_transaction else 1
    summary = pd.DataFrame(
        {
            "frequency": (count - offset).astype(float),
            "recency": (last - first) / freq_multiplier,
            "T": (end - first) / freq_multiplier,
        }
    )
    summary.index.name = customer_id_col
    if monetary_value_col is not None:
        values = per_period.copy()
        if not include_first_transaction:
            is_first = values["period"].to_numpy() == first.reindex(values["customer"]).to_numpy()
            values = values[~is_first]
        mean = values.groupby("customer")["value"].mean()
        summary["monetary_value"] = mean.reindex(summary.index).fillna(0.0).to_numpy()
    return summary.astype(float)


def calibration_and_holdout_data(
    transactions: pd.DataFrame,
    customer_id_col: str,
    datetime_col: str,
    calibration_period_end: Any,
    observation_period_end: Any = None,
    freq: str = "D",
    freq_multiplier: float = 1,
    datetime_format: str | None = None,
    monetary_value_col: str | None = None,
    include_first_transaction: bool = False,
) -> pd.DataFrame:
    """Summary of the calibration period with the holdout period's purchases beside it.

    Returns
    -------
    DataFrame
        ``frequency_cal``, ``recency_cal``, ``T_cal`` (and ``monetary_value_cal``) of the
        customers who bought by ``calibration_period_end``, with ``frequency_holdout``
        (periods with a purchase after the calibration end, up to ``observation_period_end``),
        ``duration_holdout`` (in periods / ``freq_multiplier``) and ``monetary_value_holdout``
        (mean value of those periods, 0 without one).
    """
    dates = _dates(transactions[datetime_col].to_numpy(), datetime_format)
    if observation_period_end is None:
        observation_period_end = dates.max()
    calibration_end = _moment(calibration_period_end, datetime_format)
    cal_mask = (dates <= calibration_end).to_numpy()
    if not cal_mask.any():
        raise ValueError(
            "There is no data available: no transaction falls on or before "
            f"calibration_period_end ({calibration_period_end!r}). Check calibration_period_end "
            "and observation_period_end against the dates in the transactions."
        )
    calibration = summary_data_from_transaction_data(
        transactions[cal_mask],
        customer_id_col,
        datetime_col,
        monetary_value_col=monetary_value_col,
        datetime_format=datetime_format,
        observation_period_end=calibration_end,
        freq=freq,
        freq_multiplier=freq_multiplier,
        include_first_transaction=include_first_transaction,
    )
    calibration.columns = [f"{name}_cal" for name in calibration.columns]
    end_period = _end_period(observation_period_end, datetime_format, freq)
    cal_period = _end_period(calibration_end, None, freq)
    holdout = _purchase_periods(transactions, customer_id_col, dates, freq, monetary_value_col)
    holdout = holdout[(~cal_mask) & (holdout["period"].to_numpy() <= end_period)]
    per_period = holdout.groupby(["customer", "period"]).sum().reset_index()
    counts = per_period.groupby("customer").size()
    combined = calibration.copy()
    combined["frequency_holdout"] = counts.reindex(combined.index).fillna(0).to_numpy(float)
    if monetary_value_col is not None:
        means = per_period.groupby("customer")["value"].mean()
        combined["monetary_value_holdout"] = (
            means.reindex(combined.index).fillna(0.0).to_numpy(float)
        )
    combined["duration_holdout"] = float(end_period - cal_period) / freq_multiplier
    return combined


def _find_first_transactions(
    transactions: pd.DataFrame,
    customer_id_col: str,
    datetime_col: str,
    monetary_value_col: str | None = None,
    datetime_format: str | None = None,
    observation_period_end: Any = None,
    freq: str = "D",
) -> pd.DataFrame:
    """The transaction log reduced to one row per customer and period, first purchases marked.

    Rows are sorted by customer, then period; purchases in one period of ``freq`` are one row
    (their ``monetary_value_col`` summed); periods that start after ``observation_period_end``
    (default: the last purchase) are dropped. Columns: the customer, the period (a pandas
    Period of ``freq``), the value if given, and ``first`` (True on each customer's first
    period). lifetimes kept this private; it is here because code and tests call it.
    """
    columns = [customer_id_col, datetime_col]
    if monetary_value_col:
        columns.append(monetary_value_col)
    frame = transactions[columns].copy()
    frame[datetime_col] = _dates(frame[datetime_col], datetime_format).to_numpy()
    if observation_period_end is None:
        end = frame[datetime_col].max()
    elif isinstance(observation_period_end, pd.Period):
        end = observation_period_end.to_timestamp()
    else:
        end = _moment(observation_period_end, datetime_format)
    frame = frame.sort_values(columns)
    periods = frame[datetime_col].dt.to_period(_pandas_freq(freq))
    frame[datetime_col] = periods
    frame = frame[(periods.dt.start_time <= end).to_numpy()].reset_index(drop=True)
    if monetary_value_col:
        frame = frame.groupby([customer_id_col, datetime_col], sort=False, as_index=False)[
            monetary_value_col
        ].sum()
    else:
        frame = frame[~frame.duplicated([customer_id_col, datetime_col])]
    frame["first"] = ~frame.duplicated(customer_id_col)
    return frame[[*columns, "first"]]


def expected_cumulative_transactions(
    model: Any,
    transactions: pd.DataFrame,
    datetime_col: str,
    customer_id_col: str,
    t: int,
    datetime_format: str | None = None,
    freq: str = "D",
    freq_multiplier: int = 1,
    set_index_date: bool = False,
) -> pd.DataFrame:
    """Actual and expected cumulative repeat purchases of the whole log, period by period.

    Following Fader, Hardie & Lee's note on the Pareto/NBD in MATLAB (BTYD's
    ``cum.tracking``): the customers whose first purchase was ``k`` periods before a date are
    expected to have made ``model.expected_number_of_purchases_up_to_time(k /
    freq_multiplier)`` repeat purchases by then; the sum over all customers acquired before it
    is the expected cumulative count. The actual count is that of the repeat periods (several
    purchases of a customer in one period count once).

    Parameters
    ----------
    model : fitted fitter
        Any fitter with ``expected_number_of_purchases_up_to_time``, fitted in the unit
        ``freq`` / ``freq_multiplier``.
    transactions : DataFrame
        The log (customer and date columns).
    datetime_col, customer_id_col : str
        Its date and customer columns.
    t : int
        Number of periods of ``freq`` from the first purchase in the log.
    datetime_format : str, optional
        ``strptime`` format of the dates.
    freq : str
        Period of the tracking (``"D"``, ``"W"``, ...).
    freq_multiplier : int
        Periods of ``freq`` per unit of the model (e.g. 7 for a model in weeks tracked by
        day); one row per ``freq_multiplier`` periods.
    set_index_date : bool
        Index the rows by period instead of ``0 .. t // freq_multiplier - 1``.

    Returns
    -------
    DataFrame
        ``actual`` and ``predicted``, one row per ``freq_multiplier`` periods. As in lifetimes,
        row ``j`` holds the actual purchases of the first ``(j + 1) * freq_multiplier`` periods
        and the prediction at the end of that span.
    """
    pandas_freq = _pandas_freq(freq)
    start = _dates(transactions[datetime_col].to_numpy(), datetime_format).min()
    start_period = start.to_period(pandas_freq)
    log = _find_first_transactions(
        transactions,
        customer_id_col,
        datetime_col,
        datetime_format=datetime_format,
        observation_period_end=start_period + t,
        freq=freq,
    )
    offsets = (log[datetime_col].array.asi8 - start_period.ordinal).astype(int)
    first = log["first"].to_numpy()
    # New customers per period offset, and repeat periods per period offset.
    acquired = np.bincount(offsets[first], minlength=t + 1)[: t + 1]
    repeats = np.bincount(offsets[~first], minlength=t + 1)[: t + 1]

    lags = np.arange(1, t + 1, dtype=float) / freq_multiplier
    expected_by_lag = np.concatenate(
        [[0.0], np.asarray(model.expected_number_of_purchases_up_to_time(lags), dtype=float)]
    )
    rows = t // freq_multiplier
    ends = freq_multiplier * np.arange(1, rows + 1)
    predicted = np.array(
        [np.sum(acquired[:end] * expected_by_lag[end - np.arange(end)]) for end in ends]
    )
    actual = np.array([repeats[:end].sum() for end in ends])
    if set_index_date:
        periods = pd.period_range(start_period, periods=t + 1, freq=pandas_freq)
        index = periods[freq_multiplier - 1 : -1 : freq_multiplier]
    else:
        index = range(rows)
    return pd.DataFrame({"actual": actual, "predicted": predicted}, index=index)


def calculate_alive_path(
    model: Any,
    transactions: pd.DataFrame,
    datetime_col: str,
    t: int,
    freq: str = "D",
) -> pd.Series:
    """P(alive) of one customer at each of ``t`` periods from the first purchase.

    ``transactions`` are that customer's purchases. At period ``k`` the history is the
    purchases up to ``k`` (several in one period count once).
    """
    periods = _period_numbers(_dates(transactions[datetime_col].to_numpy(), None), freq)
    first = periods.min()
    purchase_periods = np.unique(periods - first)
    ages = np.arange(t, dtype=float)
    frequency = np.array([np.sum(purchase_periods[1:] <= age) for age in ages], dtype=float)
    recency = np.array(
        [purchase_periods[purchase_periods <= age].max() for age in ages], dtype=float
    )
    alive = model.conditional_probability_alive(frequency, recency, ages)
    return pd.Series(np.asarray(alive, dtype=float))


def _customer_lifetime_value(
    transaction_prediction_model: Any,
    frequency: Any,
    recency: Any,
    T: Any,
    monetary_value: Any,
    time: int = 12,
    discount_rate: float = 0.01,
    freq: str = "D",
) -> pd.Series:
    """Discounted value over ``time`` months: lifetimes' monthly cash-flow sum.

    For each month ``k`` of ``time``, the purchases expected in that month (the difference of
    the model's cumulative predictions at ``k`` and ``k - 1`` months) times ``monetary_value``,
    discounted by ``(1 + discount_rate) ** k``.

    Units, which lifetimes left to the reader: a month is 30 days (4.345 weeks, 720 hours), and
    ``freq`` must name the unit of ``recency`` and ``T`` (``"D"``, ``"W"``, ``"M"`` or ``"H"``):
    a wrong ``freq`` silently scales the horizon. ``discount_rate`` is per *month* (0.01 a
    month is about 12.7% a year), not per year.

    Returns
    -------
    Series
        ``clv``, on the index of ``frequency`` (a Series).
    """
    factor = _PERIODS_PER_MONTH[freq]
    index = frequency.index if isinstance(frequency, pd.Series) else None
    clv = np.zeros(len(np.atleast_1d(np.asarray(frequency))))
    value = np.asarray(monetary_value, dtype=float)
    for month in range(1, time + 1):
        horizon = month * factor
        purchases = np.asarray(
            transaction_prediction_model.predict(horizon, frequency, recency, T), dtype=float
        ) - np.asarray(
            transaction_prediction_model.predict(horizon - factor, frequency, recency, T),
            dtype=float,
        )
        clv = clv + value * purchases / (1 + discount_rate) ** (horizon / factor)
    return pd.Series(clv, index=index, name="clv")

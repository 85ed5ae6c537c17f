"""Simulate customers from the models: RFM summaries and whole transaction logs.

Each model has a plain vectorised function that draws a population of customers from given
parameters and returns their summary in the columns the model is fitted on, so that a fit of the
result should give the parameters back (see ``tests/test_simulation.py`` and
``benchmarks/recovery.py``). The model classes wrap them as ``model.simulate(...)``.

* :func:`simulate_bgnbd`: BG/NBD (Fader, Hardie & Lee 2005): ``frequency``, ``recency``, ``T``;
* :func:`simulate_mbgnbd`: MBG/NBD (Batislam, Denizel & Filiztekin 2007): the same columns;
* :func:`simulate_pareto_nbd`: Pareto/NBD (Schmittlein, Morrison & Colombo 1987): the same;
* :func:`simulate_bgbb`: BG/BB (Fader, Hardie & Shang 2010): the same columns, counted in
  periods;
* :func:`simulate_gamma_gamma`: Gamma-Gamma (Fader & Hardie, note 025): ``frequency``,
  ``monetary_value``.

:func:`simulate_transactions` goes one step further and writes a transaction log (customer id,
timestamp, amount) from a purchase model and the Gamma-Gamma spend model, for testing a whole
pipeline from :func:`~clvpredict.rfm_summary` on.

How the continuous-time models are drawn
----------------------------------------
No customer is simulated purchase by purchase. For the BG/NBD, MBG/NBD and Pareto/NBD the
purchases of an alive customer form a Poisson process of rate ``lambda``; the dropout mechanism
only decides *how many* of its events the customer lives to make. So, per customer:

1. the number ``n`` of Poisson events in the window where purchases can happen (all of ``(0, T]``
   for the BG/NBD-type models, ``(0, min(lifetime, T)]`` for the Pareto/NBD) is
   ``Poisson(lambda * window)``;
2. the number of them actually made, ``x`` (the frequency), is ``n`` capped by the dropout:
   a BG/NBD customer drops out at the ``K``-th repeat purchase, ``K ~ Geometric(p)``
   (the MBG/NBD tosses the coin at time 0 too, so ``K = Geometric(p) - 1`` there);
3. given ``n``, the event times are ``n`` independent uniform points on the window, so the time of
   the ``x``-th, the recency, is ``window * Beta(x, n - x + 1)`` (an order statistic).

Every step is exact in distribution and vectorised across customers, without a loop over
purchases. The BG/BB, in discrete time, loops over periods (few, in its applications).

Randomness
----------
``random_state`` is anything :func:`numpy.random.default_rng` accepts: ``None`` (fresh entropy),
an integer seed, a :class:`~numpy.random.SeedSequence` or a :class:`~numpy.random.Generator`
(used as is, so consecutive calls continue its stream). The same seed gives the same customers
with the same numpy version; numpy does not promise identical streams across versions.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from ._registry import all_models, model_spec
from ._units import check_time_unit, unit_in_days
from .data.transactions import _day_number, _to_timestamp
from .exceptions import ClvDataError
from .models._simulators import (
    _SECONDS_PER_DAY,
    RandomState,
    _check_params,
    simulate_bgbb,
    simulate_bgnbd,
    simulate_gamma_gamma,
    simulate_mbgnbd,
    simulate_pareto_nbd,
)

__all__ = [
    "SimulatedTransactions",
    "simulate_bgbb",
    "simulate_bgnbd",
    "simulate_gamma_gamma",
    "simulate_mbgnbd",
    "simulate_pareto_nbd",
    "simulate_transactions",
]


# ------------------------------------------------------------------------------------------
# Transaction logs
# ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SimulatedTransactions:
    """What :func:`simulate_transactions` returns.

    Attributes
    ----------
    transactions : DataFrame
        The log, one row per purchase: ``customer_id``, ``date`` (timestamp, to the second) and
        ``amount`` (currency; only with spend parameters), sorted by customer and time.
    rfm : DataFrame
        Its RFM summary by calendar day in the requested time unit, computed here independently
        of :func:`~clvpredict.rfm_summary` but by the same conventions, so that
        ``rfm_summary(transactions, "customer_id", "date", "amount", observation_end, time_unit)``
        reproduces it: ``frequency``, ``recency``, ``T`` and, with spend,
        ``monetary_value`` and ``avg_order_value``; ``attrs`` hold ``time_unit``,
        ``observation_end`` and ``discrete`` (False).
    customers : DataFrame
        The truth behind each customer: ``first_purchase`` (timestamp), the summary in
        continuous time before purchases are put on calendar days (``continuous_frequency``,
        ``continuous_recency``, ``continuous_T``, in the time unit), ``alive`` (at the end of
        the last observed day), the model's latent variables (see the simulators' ``latent=``)
        and, with spend, ``mean_spend``.
    """

    transactions: pd.DataFrame
    rfm: pd.DataFrame
    customers: pd.DataFrame


def _acquisition_days(dates: Any) -> tuple[np.ndarray, pd.Index]:
    index = dates.index if isinstance(dates, pd.Series) else None
    values = pd.Series(np.asarray(dates) if not isinstance(dates, pd.Series) else dates.to_numpy())
    try:
        stamps = pd.to_datetime(values)
    except (TypeError, ValueError) as exc:
        raise ClvDataError(
            f"acquisition_dates could not be read as dates ({exc}); pass dates such as "
            "'1997-01-01' or Timestamps."
        ) from exc
    if isinstance(stamps.dtype, pd.DatetimeTZDtype):
        # The calendar day is the wall-clock date in the dates' own zone, as in rfm_summary.
        stamps = stamps.dt.tz_localize(None)
    if stamps.isna().any():
        raise ClvDataError("acquisition_dates has missing values; every customer needs one.")
    ns = stamps.to_numpy().astype("datetime64[ns]").astype(np.int64)
    days = np.floor_divide(ns, np.int64(_SECONDS_PER_DAY) * 1_000_000_000)
    if index is None:
        index = pd.RangeIndex(len(days), name="customer_id")
    elif index.has_duplicates:
        raise ClvDataError(
            "acquisition_dates is a Series whose index (the customer ids) has duplicates; "
            "every customer must have one id."
        )
    return days, index


def _spend_parameters(spend_params: Mapping[str, float] | pd.Series | None):
    if spend_params is None:
        return None
    given = dict(spend_params)
    names = ("p", "q", "gamma")
    if set(given) != set(names):
        raise ClvDataError(
            f"spend_params must give the Gamma-Gamma parameters {list(names)}; got {list(given)}."
        )
    return _check_params("Gamma-Gamma", **{k: given[k] for k in names})


def simulate_transactions(
    purchase_model: str,
    params: Mapping[str, float] | pd.Series,
    acquisition_dates: Any,
    observation_end: Any,
    *,
    time_unit: str,
    spend_params: Mapping[str, float] | pd.Series | None = None,
    random_state: RandomState = None,
) -> SimulatedTransactions:
    """Simulate a transaction log: customers acquired on given days, buying until an end date.

    Parameters
    ----------
    purchase_model : {"bgnbd", "mbgnbd", "paretonbd"}
        The purchase model (the BG/BB has no calendar time and is not offered).
    params : mapping or Series
        Its parameters by name (e.g. a fitted model's ``params_``), in ``time_unit``.
    acquisition_dates : array-like or Series of dates
        Day of each customer's first purchase. A Series's index gives the customer ids;
        otherwise customers are numbered 0 .. n - 1.
    observation_end : date-like
        Last calendar day observed (inclusive); no acquisition date may be after it.
    time_unit : {"D", "W", "M", "Y"}
        The time unit of ``params`` (``alpha``, ``beta``) and of the summary in ``rfm``.
    spend_params : mapping or Series, optional
        Gamma-Gamma parameters ``p``, ``q``, ``gamma`` (currency units): each purchase, the first
        included, is worth ``Gamma(p, nu)`` with the customer's ``nu ~ Gamma(q, gamma)``.
        Without them the log has no ``amount`` column.
    random_state : int, Generator, SeedSequence or None
        Source of randomness.

    Returns
    -------
    SimulatedTransactions
        ``transactions`` (the log), ``rfm`` (its summary, equal to what
        :func:`~clvpredict.rfm_summary` makes of the log) and ``customers`` (the truth).

    Notes
    -----
    **Time.** The models run in continuous time and the log is placed on the calendar as
    follows. A customer's first purchase happens at a uniformly random second of the acquisition
    day; observation ends at midnight after ``observation_end``. The purchase process is simulated
    in continuous time over that window (its length in ``time_unit`` is the model's ``T``), and
    each repeat purchase is stamped at its moment, truncated to the second.
    :func:`~clvpredict.rfm_summary` then counts calendar days, so the summary differs from the
    continuous-time one in two ways:

    * purchases on the same calendar day merge into one (also a repeat purchase on the
      acquisition day merges into the first): ``frequency`` in ``rfm`` counts repeat purchase
      *days* and can be lower than ``customers["continuous_frequency"]``;
    * ``recency`` and ``T`` are whole numbers of days (converted to ``time_unit``) between
      calendar days. Because the first purchase is at a random moment of its day, the whole-day
      recency is unbiased for the continuous one; the whole-day ``T`` is on average half a day
      shorter than the continuous window.

    The rounding of times is harmless, but the merging is not always: it removes purchases
    from the heaviest buyers, who carry most of the information about ``r`` and ``alpha``. With
    the published CDNOW BG/NBD parameters (weeks; 10,000 customers acquired over 12 weeks and
    observed to week 39), about 1.5% of customers bought twice on some day, and a BG/NBD fitted
    on the daily summary had ``alpha`` about 6% (1.5 standard errors) and ``r`` about 2% (0.9
    standard errors) above the fit on the continuous summary of the same customers; ``a``,
    ``b`` and a Gamma-Gamma fit were unaffected. The shift is a fixed proportion, so in standard
    errors it grows with the square root of the number of customers. It is a property of
    day-level data under a continuous-time model, real data included, not of the simulator: to
    check an estimator, fit the ``continuous_*`` columns of ``customers``; to check a pipeline,
    expect this shift.

    Examples
    --------
    >>> import pandas as pd
    >>> from clvpredict import rfm_summary
    >>> from clvpredict.simulation import simulate_transactions
    >>> sim = simulate_transactions(
    ...     "bgnbd", {"r": 0.5, "alpha": 2.0, "a": 0.8, "b": 2.4},
    ...     ["2024-01-01", "2024-01-15", "2024-02-03"], "2024-06-30", time_unit="W",
    ...     spend_params={"p": 6.0, "q": 3.7, "gamma": 15.0}, random_state=4)
    >>> list(sim.transactions.columns)
    ['customer_id', 'date', 'amount']
    >>> again = rfm_summary(sim.transactions, "customer_id", "date", "amount",
    ...                     observation_end="2024-06-30", time_unit="W")
    >>> bool(again[["frequency", "recency", "T"]].equals(sim.rfm[["frequency", "recency", "T"]]))
    True
    """
    # The purchase models in calendar time, each with the core that draws its customers.
    cores = {spec.kind: spec for spec in all_models("purchase", discrete_time=False)}
    if purchase_model not in cores:
        discrete = [spec.kind for spec in all_models("purchase", discrete_time=True)]
        key = str(purchase_model).lower()
        hint = (
            f" The {model_spec(key).label} counts discrete periods, not calendar time; use "
            f"its simulate method (e.g. simulate_bgbb)."
            if key in discrete
            else ""
        )
        raise ClvDataError(
            f"purchase_model={purchase_model!r} is not one of {sorted(cores)}.{hint}"
        )
    spec = cores[purchase_model]
    names, core, label = spec.cls._param_names, spec.cls._simulation_core, spec.label
    given = dict(params)
    if set(given) != set(names):
        raise ClvDataError(f"{label} takes parameters {list(names)}; got {list(given)}.")
    theta = _check_params(label, **{k: given[k] for k in names})
    spend = _spend_parameters(spend_params)
    unit = check_time_unit(time_unit)
    seconds_per_unit = unit_in_days(unit) * _SECONDS_PER_DAY
    acquired, ids = _acquisition_days(acquisition_dates)
    # Named like the log's column, as rfm_summary(log, "customer_id", ...) names its index.
    ids = ids.rename("customer_id")
    end_day = _day_number(_to_timestamp(observation_end, "observation_end"))
    # Purchases are stamped in nanoseconds (pandas' datetime64[ns]), which end in April 2262:
    # a later one would wrap around to 1677 rather than fail.
    last_day = _day_number(pd.Timestamp.max.floor("D")) - 1
    if end_day > last_day:
        raise ClvDataError(
            f"observation_end={observation_end!s} is after "
            f"{pd.Timestamp(last_day, unit='D').date()}, the last day whose purchases a "
            "nanosecond timestamp can hold. Simulate a window that ends by then (the model's "
            "time is relative: shift the acquisition dates back)."
        )
    late = acquired > end_day
    if late.any():
        raise ClvDataError(
            f"{int(late.sum())} acquisition date(s) fall after observation_end={observation_end!s}; "
            "a customer must be acquired by the end of observation."
        )
    rng = np.random.default_rng(random_state)
    n = len(acquired)

    # Continuous time, in seconds since 1970-01-01: first purchase at a random second of its day,
    # observation until midnight after the last observed day.
    start = acquired * _SECONDS_PER_DAY + rng.integers(0, _SECONDS_PER_DAY, size=n)
    window = (end_day + 1) * _SECONDS_PER_DAY - start
    frequency, recency, hidden = core(rng, theta, window / seconds_per_unit)

    # The last repeat purchase is at ``recency``; given it, the earlier ones are independent
    # uniform points before it (the Poisson process conditioned on its x-th event time).
    owner = np.repeat(np.arange(n), frequency)
    offsets = rng.random(len(owner)) * recency[owner]
    last = np.cumsum(frequency) - 1
    offsets[last[frequency > 0]] = recency[frequency > 0]
    # Truncating to the second keeps every purchase before midnight after observation_end.
    repeat_seconds = start[owner] + np.minimum(
        np.floor(offsets * seconds_per_unit).astype(np.int64), window[owner] - 1
    )
    customer = np.concatenate([np.arange(n), owner])
    seconds = np.concatenate([start, repeat_seconds])
    order = np.lexsort((seconds, customer))
    customer, seconds = customer[order], seconds[order]

    log = {
        "customer_id": ids.to_numpy()[customer],
        "date": (seconds * 1_000_000_000).astype("datetime64[ns]"),
    }
    truth: dict[str, Any] = {
        "first_purchase": (start * 1_000_000_000).astype("datetime64[ns]"),
        # The summary before calendar days: what the model itself generated.
        "continuous_frequency": frequency.astype(np.int64),
        "continuous_recency": np.minimum(recency, window / seconds_per_unit),
        "continuous_T": window / seconds_per_unit,
        **hidden,
    }
    amount = None
    if spend is not None:
        p, q, gamma = spend
        nu = rng.gamma(q, 1.0 / gamma, size=n)
        amount = rng.standard_gamma(p, size=len(customer)) / nu[customer]
        log["amount"] = amount
        truth["mean_spend"] = p / nu

    rfm = _daily_summary(customer, seconds // _SECONDS_PER_DAY, amount, acquired, end_day, unit)
    rfm.index = ids
    rfm.attrs.update(
        time_unit=unit,
        observation_end=str(pd.Timestamp(end_day, unit="D").date()),
        discrete=False,
    )
    return SimulatedTransactions(
        transactions=pd.DataFrame(log),
        rfm=rfm,
        customers=pd.DataFrame(truth, index=ids),
    )


def _daily_summary(
    customer: np.ndarray,
    day: np.ndarray,
    amount: np.ndarray | None,
    acquired: np.ndarray,
    end_day: int,
    unit: str,
) -> pd.DataFrame:
    """RFM by calendar day of purchases sorted by customer and time (the rfm_summary rules).

    Written without pandas' groupby so that the round trip through
    :func:`~clvpredict.rfm_summary` in the tests compares two independent computations.
    """
    n = len(acquired)
    days_per_unit = unit_in_days(unit)
    # A row opens a new purchase day when the customer or the day changes from the row before.
    opens = np.ones(len(day), dtype=bool)
    opens[1:] = (customer[1:] != customer[:-1]) | (day[1:] != day[:-1])
    day_of = np.cumsum(opens) - 1
    day_customer, purchase_day = customer[opens], day[opens]
    n_days = np.bincount(day_customer, minlength=n)
    last_day = purchase_day[np.cumsum(n_days) - 1]
    frequency = n_days - 1
    out = pd.DataFrame(
        {
            "frequency": frequency.astype(np.int64),
            "recency": (last_day - acquired) / days_per_unit,
            "T": (end_day - acquired) / days_per_unit,
        }
    )
    if amount is not None:
        day_amount = np.bincount(day_of, weights=amount)
        total = np.bincount(day_customer, weights=day_amount, minlength=n)
        first_amount = day_amount[np.cumsum(n_days) - n_days]
        with np.errstate(invalid="ignore", divide="ignore"):
            out["monetary_value"] = np.where(
                frequency > 0, (total - first_amount) / frequency, np.nan
            )
        out["avg_order_value"] = total / n_days
    return out

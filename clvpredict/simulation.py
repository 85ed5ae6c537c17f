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

:func:`simulate_with_covariates` draws customers of the BG/NBD, MBG/NBD or Pareto/NBD whose
parameters depend on their covariates (:func:`customer_parameters` gives each customer's), the
simulators above taking one parameter value per customer.

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

from ._registry import ModelSpec, all_models, model_spec
from ._units import check_time_unit, unit_in_days
from .data.transactions import _day_number, _to_timestamp
from .exceptions import ClvDataError
from .models._covariate_math import individual_parameters
from .models._simulators import (
    _SECONDS_PER_DAY,
    RandomState,
    _aligned,
    _check_params,
    _customer_params,
    simulate_bgbb,
    simulate_bgnbd,
    simulate_gamma_gamma,
    simulate_mbgnbd,
    simulate_pareto_nbd,
)

__all__ = [
    "SimulatedTransactions",
    "customer_parameters",
    "simulate_bgbb",
    "simulate_bgnbd",
    "simulate_gamma_gamma",
    "simulate_mbgnbd",
    "simulate_pareto_nbd",
    "simulate_transactions",
    "simulate_with_covariates",
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


def _calendar_model(kind: Any, setting: str) -> ModelSpec:
    """The registered purchase model in calendar time of this kind (e.g. ``"bgnbd"``)."""
    specs = {spec.kind: spec for spec in all_models("purchase", discrete_time=False)}
    if kind not in specs:
        discrete = [spec.kind for spec in all_models("purchase", discrete_time=True)]
        key = str(kind).lower()
        hint = (
            f" The {model_spec(key).label} counts discrete periods, not calendar time; use "
            f"its simulate method (e.g. simulate_bgbb)."
            if key in discrete
            else ""
        )
        raise ClvDataError(f"{setting}={kind!r} is not one of {sorted(specs)}.{hint}")
    return specs[kind]


def _parameters_by_name(label: str, names: tuple[str, ...], params: Any) -> dict[str, Any]:
    """The model's parameters from a mapping (or Series, or DataFrame), in the model's order."""
    try:
        given = dict(params)
    except (TypeError, ValueError) as exc:
        raise ClvDataError(
            f"{label} parameters must be given by name, e.g. "
            f"{dict.fromkeys(names, 1.0)}; got {params!r:.80}."
        ) from exc
    if set(given) != set(names):
        raise ClvDataError(f"{label} takes parameters {list(names)}; got {list(given)}.")
    return {name: given[name] for name in names}


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
    params : mapping, Series or DataFrame
        Its parameters by name (e.g. a fitted model's ``params_``), in ``time_unit``. Each is
        one value for all customers or one per customer (an array in the order of
        ``acquisition_dates``, or a Series indexed by the customer ids), so the columns of
        :func:`customer_parameters` give a log of customers with covariates.
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
    spec = _calendar_model(purchase_model, "purchase_model")
    names, core, label = spec.cls._param_names, spec.cls._simulation_core, spec.label
    given = _parameters_by_name(label, names, params)
    spend = _spend_parameters(spend_params)
    unit = check_time_unit(time_unit)
    seconds_per_unit = unit_in_days(unit) * _SECONDS_PER_DAY
    acquired, ids = _acquisition_days(acquisition_dates)
    theta, n_params, _ = _customer_params(label, given, ids)
    if n_params is not None and n_params != len(acquired):
        raise ClvDataError(
            f"The {label} parameters given per customer have {n_params} values for "
            f"{len(acquired)} acquisition dates; give one per customer."
        )
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


# ------------------------------------------------------------------------------------------
# Customers with covariates
# ------------------------------------------------------------------------------------------

#: The processes a coefficient can belong to, as the prefix of its name.
_PROCESSES = ("purchase", "dropout", "shared")


def _covariate_table(covariates: Any) -> pd.DataFrame:
    """The design columns as floats, refused unless numeric, finite and one row per customer."""
    if not isinstance(covariates, pd.DataFrame):
        raise ClvDataError(
            "covariates must be a pandas DataFrame with one row per customer (indexed by the "
            f"customer id) and one numeric column per design column; got {type(covariates)}."
        )
    repeated = covariates.index[covariates.index.duplicated()].unique()
    if len(repeated):
        raise ClvDataError(
            f"covariates has several rows for the customers {repeated[:5].tolist()}; give one "
            "row per customer."
        )
    text = [
        str(column)
        for column, dtype in covariates.dtypes.items()
        if not (pd.api.types.is_numeric_dtype(dtype) or pd.api.types.is_bool_dtype(dtype))
    ]
    if text:
        raise ClvDataError(
            f"covariates columns {text} are not numeric. The simulator takes design columns: "
            "numbers as they are and one 0/1 dummy per level of a category besides its "
            "reference level, named like 'channel[web]'."
        )
    table = covariates.astype(float)
    values = table.to_numpy()
    bad = ~np.isfinite(values)
    if bad.any():
        columns = table.columns[bad.any(axis=0)].tolist()
        customers = table.index[bad.any(axis=1)][:5].tolist()
        raise ClvDataError(
            f"covariates has missing or infinite values in columns {columns} (customers "
            f"{customers}, first five); every customer needs a finite value."
        )
    return table


def _coefficients(coefficients: Any, columns: pd.Index) -> dict[str, dict[str, float]]:
    """The coefficients by process and design column, every name and column accounted for."""
    try:
        given = dict(coefficients)
    except (TypeError, ValueError) as exc:
        raise ClvDataError(
            "coefficients must be a mapping (or Series) from names like 'purchase.age', "
            f"'dropout.channel[web]' or 'shared.age' to numbers; got {coefficients!r:.80}."
        ) from exc
    by_process: dict[str, dict[str, float]] = {process: {} for process in _PROCESSES}
    unknown: list[str] = []
    not_finite: list[str] = []
    for name, value in given.items():
        process, dot, column = str(name).partition(".")
        if not dot or process not in by_process or column not in columns:
            unknown.append(str(name))
            continue
        try:
            number = float(value)
        except (TypeError, ValueError):
            number = np.nan
        if not np.isfinite(number):
            not_finite.append(f"{name}={value!r}")
            continue
        by_process[process][column] = number
    if unknown:
        raise ClvDataError(
            f"Unknown coefficients {unknown}: a coefficient is named '<process>.<column>', the "
            f"process one of {list(_PROCESSES)} (shared: one coefficient in both processes) and "
            f"the column one of the covariates' columns {columns.tolist()}."
        )
    if not_finite:
        raise ClvDataError(f"Coefficients must be finite numbers; got {not_finite}.")
    both = sorted(
        set(by_process["shared"]) & (set(by_process["purchase"]) | set(by_process["dropout"]))
    )
    if both:
        raise ClvDataError(
            f"The columns {both} have a shared coefficient and a coefficient of their own in a "
            "process; a shared coefficient already enters both processes, give one or the other."
        )
    used = set().union(*(set(v) for v in by_process.values()))
    unused = [str(column) for column in columns if column not in used]
    if unused:
        raise ClvDataError(
            f"The covariates columns {unused} have no coefficient; give each a coefficient "
            "(e.g. 'purchase.<column>', 0 for no effect) or leave the column out."
        )
    return by_process


def customer_parameters(
    kind: str,
    params: Mapping[str, float] | pd.Series,
    coefficients: Mapping[str, float] | pd.Series,
    covariates: pd.DataFrame,
) -> pd.DataFrame:
    """Each customer's model parameters, from the population's, the coefficients and covariates.

    Parameters
    ----------
    kind : {"bgnbd", "mbgnbd", "paretonbd"}
        The purchase model.
    params : mapping or Series
        The population parameters by name: ``r``, ``alpha``, ``a``, ``b`` (BG/NBD, MBG/NBD) or
        ``r``, ``alpha``, ``s``, ``beta`` (Pareto/NBD), all > 0 and in one time unit. They are
        the parameters of a customer whose covariates are all 0.
    coefficients : mapping or Series
        One number per design column and process, by name: ``purchase.<column>`` scales the
        purchase rate, ``dropout.<column>`` the dropout, ``shared.<column>`` is one coefficient
        entering both. A column may have a purchase and a dropout coefficient, or a shared one.
    covariates : DataFrame
        One row per customer, indexed by the customer id, one numeric column per design column:
        numbers as they are (better centred, e.g. ``age_decades = (age - 40) / 10``) and 0/1
        dummies for the levels of a category besides its reference level (``channel[web]``).

    Returns
    -------
    DataFrame
        Indexed like ``covariates``, one column per model parameter in the model's order.

    Notes
    -----
    With ``z`` a customer's row, ``g_p . z`` the sum of the purchase and shared coefficients
    times their columns and ``g_d . z`` that of the dropout and shared ones:

    * every model: ``alpha_i = alpha * exp(-g_p . z)`` (a positive coefficient, more purchases:
      the mean purchase rate ``r / alpha_i`` grows by ``exp(g_p . z)``);
    * Pareto/NBD: ``beta_i = beta * exp(-g_d . z)`` (a positive coefficient, a higher dropout
      rate ``s / beta_i``, shorter lifetimes);
    * BG/NBD and MBG/NBD: ``a_i = a * exp(g_d . z)`` and ``b_i = b * exp(g_d . z)``: the mean
      dropout probability ``a / (a + b)`` stays, and a positive coefficient concentrates the
      customers' dropout probabilities around it (fewer customers who almost never drop out,
      so fewer purchases and fewer customers alive in the long run).

    Examples
    --------
    >>> import pandas as pd
    >>> from clvpredict.simulation import customer_parameters
    >>> z = pd.DataFrame({"channel[web]": [0, 1]}, index=["C1", "C2"])
    >>> customer_parameters("paretonbd", {"r": 0.5, "alpha": 10.0, "s": 0.6, "beta": 12.0},
    ...                     {"purchase.channel[web]": 0.5, "dropout.channel[web]": -0.2}, z).round(3)
          r  alpha    s    beta
    C1  0.5  10.000  0.6  12.000
    C2  0.5   6.065  0.6  14.657
    """
    return _individual(kind, params, coefficients, _covariate_table(covariates))


def _individual(kind: str, params: Any, coefficients: Any, table: pd.DataFrame) -> pd.DataFrame:
    """:func:`customer_parameters` of a checked covariate table."""
    spec = _calendar_model(kind, "kind")
    names, label = spec.cls._param_names, spec.label
    base = _check_params(label, **_parameters_by_name(label, names, params))
    by_process = _coefficients(coefficients, table.columns)
    purchase = {**by_process["purchase"], **by_process["shared"]}
    dropout = {**by_process["dropout"], **by_process["shared"]}
    with np.errstate(over="ignore", under="ignore"):
        individual = individual_parameters(
            spec.kind,
            base,
            np.fromiter(purchase.values(), float, len(purchase)),
            np.fromiter(dropout.values(), float, len(dropout)),
            table[list(purchase)].to_numpy(),
            table[list(dropout)].to_numpy(),
        )
    out = pd.DataFrame(dict(zip(names, individual, strict=True)), index=table.index)
    bad = ~(np.isfinite(out.to_numpy()) & (out.to_numpy() > 0)).all(axis=1)
    if bad.any():
        raise ClvDataError(
            f"The coefficients give {int(bad.sum())} customers parameters that overflow to "
            f"infinity or underflow to 0 (customers {out.index[bad][:5].tolist()}, first five); "
            "the covariates or coefficients are far too large (centre and scale the numbers)."
        )
    return out


def simulate_with_covariates(
    kind: str,
    params: Mapping[str, float] | pd.Series,
    coefficients: Mapping[str, float] | pd.Series,
    covariates: pd.DataFrame,
    T: Any,
    *,
    time_unit: str | None = None,
    random_state: RandomState = None,
    latent: bool = False,
) -> pd.DataFrame:
    """Draw customers whose purchase and dropout processes depend on their covariates.

    Each customer gets their own parameters (:func:`customer_parameters`) and is drawn from
    the model with them: the purchase rate from the customer's own Gamma, the dropout from the
    customer's own Beta (BG/NBD, MBG/NBD) or Gamma (Pareto/NBD), exactly as the model says.

    Parameters
    ----------
    kind : {"bgnbd", "mbgnbd", "paretonbd"}
        The purchase model.
    params : mapping or Series
        The population parameters by name, those of a customer whose covariates are all 0
        (``alpha`` and ``beta`` in the time unit of ``T``).
    coefficients : mapping or Series
        By name: ``purchase.<column>``, ``dropout.<column>``, ``shared.<column>`` (one
        coefficient entering both processes). Every column of ``covariates`` needs one.
    covariates : DataFrame
        One row per customer, indexed by the customer id; numeric design columns (numbers and
        0/1 dummies such as ``channel[web]``). See :func:`customer_parameters`.
    T : float, array or Series
        Observation length of each customer since the first purchase (one value for all, an
        array in the order of ``covariates``' rows, or a Series indexed by the customer ids).
    time_unit : {"D", "W", "M", "Y"}, optional
        The time unit of ``T`` and the parameters, stored in ``attrs["time_unit"]``.
    random_state : int, Generator, SeedSequence or None
        Source of randomness.
    latent : bool
        Also return each customer's hidden state (as the model's simulator does) and parameters.

    Returns
    -------
    DataFrame
        Indexed like ``covariates``: ``frequency``, ``recency``, ``T``, then (with ``latent``)
        the hidden state and the customer's parameters (``r``, ``alpha``, ...), then the
        covariates' columns.

    Notes
    -----
    The draws are those of the model's own simulator (e.g. :func:`simulate_bgnbd`) given
    per-customer parameters, so customers whose covariates are all 0 are drawn as the model
    without covariates would draw them with the same seed. For a transaction log of such
    customers, pass ``customer_parameters(...)`` as the parameters of
    :func:`simulate_transactions`.

    Examples
    --------
    >>> import pandas as pd
    >>> from clvpredict.simulation import simulate_with_covariates
    >>> z = pd.DataFrame({"channel[web]": [0, 1] * 2_000}, index=range(4_000))
    >>> sim = simulate_with_covariates(
    ...     "bgnbd", {"r": 0.243, "alpha": 4.414, "a": 0.793, "b": 2.426},
    ...     {"purchase.channel[web]": 1.0}, z, 39.0, time_unit="W", random_state=1)
    >>> list(sim.columns), sim.attrs
    (['frequency', 'recency', 'T', 'channel[web]'], {'time_unit': 'W'})
    >>> means = sim.groupby("channel[web]")["frequency"].mean()
    >>> bool(means[1.0] > 1.5 * means[0.0])
    True
    """
    unit = None if time_unit is None else check_time_unit(time_unit)
    table = _covariate_table(covariates)
    individual = _individual(kind, params, coefficients, table)
    spec = _calendar_model(kind, "kind")
    names = list(individual.columns)
    if isinstance(T, pd.Series):
        T = _aligned(T, individual.index, "T")
    out = spec.cls._simulator(
        *(individual[name] for name in names), T, random_state=random_state, latent=latent
    )
    if latent:
        out = out.join(individual)
    clash = sorted(set(map(str, table.columns)) & set(map(str, out.columns)))
    if clash:
        raise ClvDataError(
            f"The covariates columns {clash} have the names of simulated columns; rename them."
        )
    out = out.join(table)
    if unit is not None:
        out.attrs["time_unit"] = unit
    return out

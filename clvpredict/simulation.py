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

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from ._units import check_time_unit, unit_in_days
from .data import _day_number, _to_timestamp
from .exceptions import ClvDataError

__all__ = [
    "SimulatedTransactions",
    "simulate_bgbb",
    "simulate_bgnbd",
    "simulate_gamma_gamma",
    "simulate_mbgnbd",
    "simulate_pareto_nbd",
    "simulate_transactions",
]

RandomState = int | np.random.Generator | np.random.SeedSequence | None

_SECONDS_PER_DAY = 86_400
#: Stands for "never drops out" (dropout probability exactly 0); far above any purchase count.
_NEVER = np.iinfo(np.int64).max


# ------------------------------------------------------------------------------------------
# Validation helpers
# ------------------------------------------------------------------------------------------


def _check_params(model: str, **params: float) -> tuple[float, ...]:
    try:
        values = tuple(float(v) for v in params.values())
    except (TypeError, ValueError) as exc:
        raise ClvDataError(f"{model} parameters must be numbers; got {params}.") from exc
    if not all(np.isfinite(v) and v > 0 for v in values):
        raise ClvDataError(f"{model} parameters must be finite and > 0; got {params}.")
    return values


def _per_customer(
    values: Any, n_customers: int | None, name: str, *, whole: bool = False
) -> tuple[np.ndarray, pd.Index]:
    """One value per customer from a scalar (with ``n_customers``), an array or a Series.

    A Series keeps its index, so ``simulate_bgnbd(..., summary["T"])`` gives rows labelled like
    ``summary``; otherwise the rows are numbered 0 .. n - 1 in an index named ``customer_id``.
    """
    if values is None:
        raise ClvDataError(
            f"{name} is required: give one value per customer (an array or Series), or one "
            f"value for all together with n_customers=."
        )
    if n_customers is not None and (
        not isinstance(n_customers, int | np.integer)
        or isinstance(n_customers, bool)
        or n_customers < 0
    ):
        raise ClvDataError(f"n_customers={n_customers!r} must be a whole number >= 0.")
    index = values.index if isinstance(values, pd.Series) else None
    try:
        array = np.asarray(values, dtype=float)
    except (TypeError, ValueError) as exc:
        raise ClvDataError(f"{name} must be numeric, got {values!r:.80}.") from exc
    if array.ndim == 0:
        if n_customers is None:
            raise ClvDataError(
                f"{name}={float(array)!r} is one value for everybody: say how many customers to "
                "simulate with n_customers=, or pass one value per customer."
            )
        array = np.full(int(n_customers), float(array))
    elif array.ndim != 1:
        raise ClvDataError(f"{name} must be one-dimensional, got shape {array.shape}.")
    elif n_customers is not None and n_customers != len(array):
        raise ClvDataError(
            f"n_customers={n_customers} disagrees with the {len(array)} values of {name}; "
            "leave n_customers out when passing one value per customer."
        )
    bad = ~np.isfinite(array) | (array < 0)
    if whole:
        bad |= array != np.round(array)
    if bad.any():
        kind = "whole numbers >= 0" if whole else "finite and >= 0"
        raise ClvDataError(f"{name} must be {kind}; offending values: {array[bad][:5].tolist()}.")
    if index is None:
        index = pd.RangeIndex(len(array), name="customer_id")
    return array, index


# ------------------------------------------------------------------------------------------
# Draws shared by the continuous-time models
# ------------------------------------------------------------------------------------------


def _purchase_rates(rng: np.random.Generator, r: float, alpha: float, n: int) -> np.ndarray:
    """``lambda ~ Gamma(shape r, rate alpha)`` per time unit (numpy's gamma takes the scale)."""
    return rng.gamma(r, 1.0 / alpha, size=n)


def _geometric_or_never(rng: np.random.Generator, p: np.ndarray) -> np.ndarray:
    """Number of coin tosses up to and including the first success, ``_NEVER`` where ``p == 0``.

    A Beta draw with a small first parameter can underflow to exactly 0; numpy's geometric
    refuses that, and such a customer never drops out.
    """
    tosses = np.full(len(p), _NEVER, dtype=np.int64)
    positive = p > 0
    tosses[positive] = rng.geometric(p[positive])
    return tosses


def _last_purchase_times(
    rng: np.random.Generator, made: np.ndarray, events: np.ndarray, window: np.ndarray
) -> np.ndarray:
    """Time of the ``made``-th of ``events`` uniform points on ``(0, window)`` (0 if none made).

    The k-th smallest of n independent uniforms is ``Beta(k, n - k + 1)``; arguments are made
    valid where nothing was bought and the result is replaced by 0 there.
    """
    bought = made > 0
    k = np.where(bought, made, 1).astype(float)
    rest = np.where(bought, events - made + 1, 1).astype(float)
    return np.where(bought, window * rng.beta(k, rest), 0.0)


def _poisson_events(rng: np.random.Generator, rate: np.ndarray, window: np.ndarray) -> np.ndarray:
    with np.errstate(invalid="ignore"):
        mean = rate * window
    return rng.poisson(np.nan_to_num(mean, nan=0.0))


# Each core takes (rng, parameters, T) and returns frequency, recency and the latent columns.
_Core = Callable[
    [np.random.Generator, tuple[float, ...], np.ndarray],
    tuple[np.ndarray, np.ndarray, dict[str, np.ndarray]],
]


def _bg_family(
    rng: np.random.Generator, params: tuple[float, ...], big_t: np.ndarray, *, toss_at_zero: bool
) -> tuple[np.ndarray, np.ndarray, dict[str, np.ndarray]]:
    r, alpha, a, b = params
    n = len(big_t)
    rate = _purchase_rates(rng, r, alpha, n)
    p = rng.beta(a, b, size=n)
    tosses = _geometric_or_never(rng, p)
    # BG/NBD: the coin is tossed after each repeat purchase, so the customer drops out at repeat
    # purchase number K = tosses. MBG/NBD: the first toss is at time 0, right after the first
    # purchase, so K = tosses - 1 (K = 0: gone before any repeat purchase).
    allowed = np.where(tosses == _NEVER, _NEVER, tosses - 1) if toss_at_zero else tosses
    events = _poisson_events(rng, rate, big_t)
    frequency = np.minimum(events, allowed)
    recency = _last_purchase_times(rng, frequency, events, big_t)
    latent = {
        "purchase_rate": rate,
        "dropout_probability": p,
        # Alive at T when fewer purchases fell in (0, T] than the one the customer drops out at.
        "alive": events < allowed,
    }
    return frequency, recency, latent


def _bgnbd_core(rng, params, big_t):
    return _bg_family(rng, params, big_t, toss_at_zero=False)


def _mbgnbd_core(rng, params, big_t):
    return _bg_family(rng, params, big_t, toss_at_zero=True)


def _pareto_core(rng, params, big_t):
    r, alpha, s, beta = params
    n = len(big_t)
    rate = _purchase_rates(rng, r, alpha, n)
    dropout_rate = rng.gamma(s, 1.0 / beta, size=n)
    with np.errstate(divide="ignore"):
        # An underflowed dropout rate of 0 means an infinite lifetime.
        lifetime = rng.standard_exponential(n) / dropout_rate
    window = np.minimum(lifetime, big_t)
    # Purchases stop at the dropout, so every Poisson event in the window is made.
    frequency = _poisson_events(rng, rate, window)
    recency = _last_purchase_times(rng, frequency, frequency, window)
    latent = {
        "purchase_rate": rate,
        "dropout_rate": dropout_rate,
        "lifetime": lifetime,
        "alive": lifetime > big_t,
    }
    return frequency, recency, latent


def _rfm_frame(
    frequency: np.ndarray,
    recency: np.ndarray,
    big_t: np.ndarray,
    latent: dict[str, np.ndarray],
    index: pd.Index,
    with_latent: bool,
) -> pd.DataFrame:
    columns = {
        "frequency": frequency.astype(np.int64),
        # A Beta draw can round to exactly 1; recency never exceeds T.
        "recency": np.minimum(recency, big_t),
        "T": big_t,
    }
    if with_latent:
        columns.update(latent)
    return pd.DataFrame(columns, index=index)


def _continuous_time(
    core: _Core,
    model: str,
    params: dict[str, float],
    T: Any,
    n_customers: int | None,
    random_state: RandomState,
    latent: bool,
) -> pd.DataFrame:
    theta = _check_params(model, **params)
    big_t, index = _per_customer(T, n_customers, "T")
    rng = np.random.default_rng(random_state)
    frequency, recency, hidden = core(rng, theta, big_t)
    return _rfm_frame(frequency, recency, big_t, hidden, index, latent)


# ------------------------------------------------------------------------------------------
# Public simulators, one per model
# ------------------------------------------------------------------------------------------


def simulate_bgnbd(
    r: float,
    alpha: float,
    a: float,
    b: float,
    T: Any,
    *,
    n_customers: int | None = None,
    random_state: RandomState = None,
    latent: bool = False,
) -> pd.DataFrame:
    """Draw BG/NBD customers and summarise them as ``frequency``, ``recency``, ``T``.

    Each customer makes a first purchase at time 0, then buys as a Poisson process with rate
    ``lambda ~ Gamma(shape r, rate alpha)`` while alive; after each *repeat* purchase the customer
    drops out with probability ``p ~ Beta(a, b)``. A customer without repeat purchases is alive.

    Parameters
    ----------
    r, alpha, a, b : float
        BG/NBD parameters, all > 0; ``alpha`` is in the time unit of ``T``.
    T : float, array or Series
        Observation length of each customer, from the first purchase to the end of observation,
        in the time unit of the parameters (e.g. weeks). One value for all needs
        ``n_customers``; a Series lends its index to the result.
    n_customers : int, optional
        Number of customers when ``T`` is a single value.
    random_state : int, Generator, SeedSequence or None
        Source of randomness (see the module docstring).
    latent : bool
        Also return each customer's hidden state: ``purchase_rate`` (lambda, per time unit),
        ``dropout_probability`` (p) and ``alive`` (still alive at ``T``).

    Returns
    -------
    DataFrame
        One row per customer: ``frequency`` (int, repeat purchases in ``(0, T]``), ``recency``
        (time of the last repeat purchase, 0 without one) and ``T``, in the unit of ``T``.

    Examples
    --------
    >>> from clvpredict.simulation import simulate_bgnbd
    >>> sim = simulate_bgnbd(0.243, 4.414, 0.793, 2.426, 39.0, n_customers=5, random_state=1)
    >>> list(sim.columns), len(sim)
    (['frequency', 'recency', 'T'], 5)
    >>> bool((sim["recency"] <= sim["T"]).all())
    True
    """
    return _continuous_time(
        _bgnbd_core,
        "BG/NBD",
        {"r": r, "alpha": alpha, "a": a, "b": b},
        T,
        n_customers,
        random_state,
        latent,
    )


def simulate_mbgnbd(
    r: float,
    alpha: float,
    a: float,
    b: float,
    T: Any,
    *,
    n_customers: int | None = None,
    random_state: RandomState = None,
    latent: bool = False,
) -> pd.DataFrame:
    """Draw MBG/NBD customers and summarise them as ``frequency``, ``recency``, ``T``.

    As :func:`simulate_bgnbd`, except that the dropout coin (probability ``p ~ Beta(a, b)``) is
    also tossed right after the first purchase, at time 0: a share of the customers never makes a
    repeat purchase because they are gone from the start.

    Parameters
    ----------
    r, alpha, a, b : float
        MBG/NBD parameters, all > 0; ``alpha`` is in the time unit of ``T``.
    T : float, array or Series
        Observation length of each customer since the first purchase, in the parameters' time
        unit (one value for all needs ``n_customers``).
    n_customers : int, optional
        Number of customers when ``T`` is a single value.
    random_state : int, Generator, SeedSequence or None
        Source of randomness.
    latent : bool
        Also return ``purchase_rate``, ``dropout_probability`` and ``alive`` (at ``T``).

    Returns
    -------
    DataFrame
        ``frequency`` (int), ``recency`` and ``T`` (time unit of ``T``), one row per customer.

    Examples
    --------
    >>> from clvpredict.simulation import simulate_mbgnbd
    >>> sim = simulate_mbgnbd(0.525, 6.183, 0.891, 1.614, [30.0, 39.0], random_state=7, latent=True)
    >>> list(sim.columns)
    ['frequency', 'recency', 'T', 'purchase_rate', 'dropout_probability', 'alive']
    """
    return _continuous_time(
        _mbgnbd_core,
        "MBG/NBD",
        {"r": r, "alpha": alpha, "a": a, "b": b},
        T,
        n_customers,
        random_state,
        latent,
    )


def simulate_pareto_nbd(
    r: float,
    alpha: float,
    s: float,
    beta: float,
    T: Any,
    *,
    n_customers: int | None = None,
    random_state: RandomState = None,
    latent: bool = False,
) -> pd.DataFrame:
    """Draw Pareto/NBD customers and summarise them as ``frequency``, ``recency``, ``T``.

    Each customer buys as a Poisson process with rate ``lambda ~ Gamma(shape r, rate alpha)``
    during a lifetime ``~ Exponential(mu)`` with ``mu ~ Gamma(shape s, rate beta)``, both counted
    from the first purchase at time 0.

    Parameters
    ----------
    r, alpha, s, beta : float
        Pareto/NBD parameters, all > 0; ``alpha`` and ``beta`` are in the time unit of ``T``.
    T : float, array or Series
        Observation length of each customer since the first purchase, in the parameters' time
        unit (one value for all needs ``n_customers``).
    n_customers : int, optional
        Number of customers when ``T`` is a single value.
    random_state : int, Generator, SeedSequence or None
        Source of randomness.
    latent : bool
        Also return ``purchase_rate`` (lambda), ``dropout_rate`` (mu), ``lifetime`` (time unit of
        ``T``, possibly beyond ``T``) and ``alive`` (``lifetime > T``).

    Returns
    -------
    DataFrame
        ``frequency`` (int), ``recency`` and ``T`` (time unit of ``T``), one row per customer.

    Examples
    --------
    >>> from clvpredict.simulation import simulate_pareto_nbd
    >>> sim = simulate_pareto_nbd(0.553, 10.58, 0.606, 11.67, 39.0, n_customers=1000,
    ...                           random_state=3)
    >>> bool((sim.loc[sim["frequency"] == 0, "recency"] == 0).all())
    True
    """
    return _continuous_time(
        _pareto_core,
        "Pareto/NBD",
        {"r": r, "alpha": alpha, "s": s, "beta": beta},
        T,
        n_customers,
        random_state,
        latent,
    )


def simulate_bgbb(
    alpha: float,
    beta: float,
    gamma: float,
    delta: float,
    n_periods: Any,
    *,
    n_customers: int | None = None,
    random_state: RandomState = None,
    latent: bool = False,
) -> pd.DataFrame:
    """Draw BG/BB customers and summarise them as ``frequency``, ``recency``, ``T`` (periods).

    Period 0 holds the first transaction. At the start of each later period ``t = 1, 2, ...`` an
    alive customer drops out for good with probability ``theta ~ Beta(gamma, delta)``, so the
    customer is alive in period ``t`` with probability ``(1 - theta)^t``; in each period alive, the
    customer transacts with probability ``p ~ Beta(alpha, beta)`` (Fader, Hardie & Shang 2010).

    Parameters
    ----------
    alpha, beta, gamma, delta : float
        BG/BB parameters, all > 0 (dimensionless).
    n_periods : int, array or Series
        Number of transaction opportunities observed after period 0, per customer (whole
        numbers; one value for all needs ``n_customers``).
    n_customers : int, optional
        Number of customers when ``n_periods`` is a single value.
    random_state : int, Generator, SeedSequence or None
        Source of randomness.
    latent : bool
        Also return ``transaction_probability`` (p), ``dropout_probability`` (theta) and
        ``alive`` (alive in period ``n_periods``).

    Returns
    -------
    DataFrame
        ``frequency`` (transactions in periods 1..n), ``recency`` (last period with a
        transaction, 0 if none) and ``T`` (= ``n_periods``), all int, one row per customer.

    Examples
    --------
    >>> from clvpredict.simulation import simulate_bgbb
    >>> sim = simulate_bgbb(1.2, 0.75, 0.66, 2.78, 6, n_customers=1000, random_state=2)
    >>> bool(((sim["frequency"] <= sim["recency"]) & (sim["recency"] <= 6)).all())
    True
    """
    a, b, g, d = _check_params("BG/BB", alpha=alpha, beta=beta, gamma=gamma, delta=delta)
    periods, index = _per_customer(n_periods, n_customers, "n_periods", whole=True)
    periods = periods.astype(np.int64)
    rng = np.random.default_rng(random_state)
    n = len(periods)
    p = rng.beta(a, b, size=n)
    theta = rng.beta(g, d, size=n)
    alive = np.ones(n, dtype=bool)
    frequency = np.zeros(n, dtype=np.int64)
    recency = np.zeros(n, dtype=np.int64)
    # One pass per period, vectorised across customers; periods past a customer's own n_periods
    # leave that customer unchanged, so ``alive`` ends as the state in the customer's last period.
    for t in range(1, int(periods.max(initial=0)) + 1):
        observed = t <= periods
        alive &= ~observed | (rng.random(n) >= theta)
        buys = alive & observed & (rng.random(n) < p)
        frequency += buys
        recency[buys] = t
    columns: dict[str, Any] = {"frequency": frequency, "recency": recency, "T": periods}
    if latent:
        columns.update(transaction_probability=p, dropout_probability=theta, alive=alive)
    return pd.DataFrame(columns, index=index)


def simulate_gamma_gamma(
    p: float,
    q: float,
    gamma: float,
    frequency: Any,
    *,
    n_customers: int | None = None,
    random_state: RandomState = None,
    latent: bool = False,
) -> pd.DataFrame:
    """Draw the mean repeat spend of customers with given numbers of repeat purchases.

    Each customer has a spend rate ``nu ~ Gamma(shape q, rate gamma)`` and every transaction is
    worth ``Gamma(shape p, rate nu)``, so the customer's mean spend is ``p / nu`` and the
    population mean is ``p * gamma / (q - 1)`` (for ``q > 1``).

    Parameters
    ----------
    p, q, gamma : float
        Gamma-Gamma parameters, all > 0; ``gamma`` is in currency units.
    frequency : int, array or Series
        Number of repeat purchases per customer (whole numbers >= 0; one value for all needs
        ``n_customers``).
    n_customers : int, optional
        Number of customers when ``frequency`` is a single value.
    random_state : int, Generator, SeedSequence or None
        Source of randomness.
    latent : bool
        Also return ``mean_spend`` (``p / nu``, currency), each customer's true mean spend.

    Returns
    -------
    DataFrame
        ``frequency`` (int) and ``monetary_value`` (currency): the mean of ``frequency``
        simulated spends, ``NaN`` for ``frequency == 0`` as in :func:`~clvpredict.rfm_summary`.

    Notes
    -----
    The spends are not drawn one by one: the sum of ``x`` independent ``Gamma(p, nu)`` spends is
    ``Gamma(x p, nu)``, so their mean is drawn directly as ``Gamma(x p, x nu)``, which has exactly
    the same distribution.

    Examples
    --------
    >>> from clvpredict.simulation import simulate_gamma_gamma
    >>> sim = simulate_gamma_gamma(6.25, 3.74, 15.44, [0, 1, 4], random_state=0)
    >>> sim["monetary_value"].isna().tolist()
    [True, False, False]
    """
    shape, q_, scale = _check_params("Gamma-Gamma", p=p, q=q, gamma=gamma)
    x, index = _per_customer(frequency, n_customers, "frequency", whole=True)
    rng = np.random.default_rng(random_state)
    nu = rng.gamma(q_, 1.0 / scale, size=len(x))
    repeat = x > 0
    totals = rng.standard_gamma(np.where(repeat, shape * x, 1.0))
    with np.errstate(divide="ignore", invalid="ignore"):
        # mean of x spends = Gamma(x p, 1) / (x nu); an underflowed nu gives an infinite spend.
        monetary = np.where(repeat, totals / (np.where(repeat, x, 1.0) * nu), np.nan)
    columns: dict[str, Any] = {"frequency": x.astype(np.int64), "monetary_value": monetary}
    if latent:
        with np.errstate(divide="ignore"):
            columns["mean_spend"] = shape / nu
    return pd.DataFrame(columns, index=index)


# ------------------------------------------------------------------------------------------
# Transaction logs
# ------------------------------------------------------------------------------------------

#: Purchase models that live in calendar time: parameter names and simulator core.
_PURCHASE_MODELS: dict[str, tuple[tuple[str, ...], _Core, str]] = {
    "bgnbd": (("r", "alpha", "a", "b"), _bgnbd_core, "BG/NBD"),
    "mbgnbd": (("r", "alpha", "a", "b"), _mbgnbd_core, "MBG/NBD"),
    "paretonbd": (("r", "alpha", "s", "beta"), _pareto_core, "Pareto/NBD"),
}


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
    if purchase_model not in _PURCHASE_MODELS:
        hint = (
            " The BG/BB counts discrete periods, not calendar time; use simulate_bgbb."
            if str(purchase_model).lower() in ("bgbb", "bg/bb")
            else ""
        )
        raise ClvDataError(
            f"purchase_model={purchase_model!r} is not one of {sorted(_PURCHASE_MODELS)}.{hint}"
        )
    names, core, label = _PURCHASE_MODELS[purchase_model]
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

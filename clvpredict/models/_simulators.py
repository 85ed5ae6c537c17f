"""The generative story of each model: draws of customers from given parameters.

Each model has a plain vectorised function that draws a population of customers and returns
their summary in the columns the model is fitted on; the model classes wrap them as
``model.simulate(...)``, and :mod:`clvpredict.simulation` (a layer above the models) builds
whole transaction logs from the calendar-time ones, found through the registry by their
``_simulation_core``. How they are drawn is told in :mod:`clvpredict.simulation`'s docstring.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd

from ..exceptions import ClvDataError

__all__ = [
    "simulate_bgbb",
    "simulate_bgnbd",
    "simulate_gamma_gamma",
    "simulate_mbgnbd",
    "simulate_pareto_nbd",
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


#: A model parameter: one value for every customer, or one per customer.
Parameter = float | np.ndarray


def _customer_params(
    model: str, params: dict[str, Any], index: pd.Index | None = None
) -> tuple[tuple[Parameter, ...], int | None, pd.Index | None]:
    """Parameters that may differ per customer: floats, or 1-D arrays of one common length.

    Returns the parameters (a float where one value was given, a float array otherwise), the
    number of customers the arrays imply (``None`` when all are single values) and the
    customers' index: ``index`` when given (the observation lengths'), else that of the first
    Series among the parameters, else ``None``. A Series is put in the order of that index
    (the same customer ids, possibly reordered; others are refused).
    With single values only, this is :func:`_check_params`, so the draws stay those of a
    population with one set of parameters.
    """
    if all(np.ndim(v) == 0 and not isinstance(v, pd.Series) for v in params.values()):
        return _check_params(model, **params), None, None
    values: list[Parameter] = []
    n: int | None = None
    for name, given in params.items():
        if isinstance(given, pd.Series):
            if index is None:
                index = given.index
            given = _aligned(given, index, f"{model} parameter {name}")
        try:
            array = np.asarray(given, dtype=float)
        except (TypeError, ValueError) as exc:
            raise ClvDataError(
                f"{model} parameter {name} must be numeric; got {given!r:.80}."
            ) from exc
        if array.ndim > 1:
            raise ClvDataError(
                f"{model} parameter {name} must be one value or one per customer (1-D), got "
                f"shape {array.shape}."
            )
        bad = ~(np.isfinite(array) & (array > 0))
        if bad.any():
            shown = np.atleast_1d(array)[np.atleast_1d(bad)][:5].tolist()
            raise ClvDataError(
                f"{model} parameter {name} must be finite and > 0 for every customer; "
                f"offending values: {shown}."
            )
        if array.ndim == 1:
            if n is not None and len(array) != n:
                raise ClvDataError(
                    f"{model} parameters per customer must have one length; {name} has "
                    f"{len(array)} values where another has {n}."
                )
            n = len(array)
            values.append(array)
        else:
            values.append(float(array))
    return tuple(values), n, index


def _aligned(values: pd.Series, index: pd.Index, name: str) -> pd.Series:
    """``values`` in the order of ``index``: the same customer ids, possibly reordered."""
    if values.index.equals(index):
        return values
    if values.index.has_duplicates or index.has_duplicates:
        raise ClvDataError(f"{name} is a Series whose customer ids repeat; give one per customer.")
    missing = index.difference(values.index)
    extra = values.index.difference(index)
    if len(missing) or len(extra):
        raise ClvDataError(
            f"{name} is a Series whose customer ids differ from the customers': missing "
            f"{missing[:5].tolist()}, unknown {extra[:5].tolist()} (first five of each)."
        )
    return values.reindex(index)


# ------------------------------------------------------------------------------------------
# Draws shared by the continuous-time models
# ------------------------------------------------------------------------------------------


def _purchase_rates(rng: np.random.Generator, r: Parameter, alpha: Parameter, n: int) -> np.ndarray:
    """``lambda ~ Gamma(shape r, rate alpha)`` per time unit (numpy's gamma takes the scale).

    ``r`` and ``alpha`` are single values or one per customer: numpy draws element by element
    with the same algorithm either way, so an array repeating one value gives the same draws
    as that value (and each customer's rate comes from the customer's own Gamma).
    """
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
# A parameter is a float or an array of one value per customer (the length of T).
_Core = Callable[
    [np.random.Generator, tuple[Parameter, ...], np.ndarray],
    tuple[np.ndarray, np.ndarray, dict[str, np.ndarray]],
]


def _bg_family(
    rng: np.random.Generator,
    params: tuple[Parameter, ...],
    big_t: np.ndarray,
    *,
    toss_at_zero: bool,
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
    params: dict[str, Any],
    T: Any,
    n_customers: int | None,
    random_state: RandomState,
    latent: bool,
) -> pd.DataFrame:
    reference = T.index if isinstance(T, pd.Series) else None
    theta, n_params, param_index = _customer_params(model, params, reference)
    if n_params is not None:
        if n_customers is not None and n_customers != n_params:
            raise ClvDataError(
                f"n_customers={n_customers} disagrees with the {n_params} customers of the "
                f"{model} parameters given per customer."
            )
        if not isinstance(T, pd.Series) and np.ndim(T) == 0 and T is not None:
            # One observation length for the customers the parameters count.
            n_customers = n_params
    big_t, index = _per_customer(T, n_customers, "T")
    if n_params is not None:
        if len(big_t) != n_params:
            raise ClvDataError(
                f"T has {len(big_t)} values but the {model} parameters given per customer have "
                f"{n_params}; give both one value per customer."
            )
        if param_index is not None and not isinstance(T, pd.Series):
            index = param_index
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
    r, alpha, a, b : float or array
        BG/NBD parameters, all > 0; ``alpha`` is in the time unit of ``T``.
        One value for all customers, or one per customer (an array or Series as long as
        ``T``; a Series is matched to the customers by its index): each customer then draws
        from their own mixing distributions (see :func:`~clvpredict.simulation.simulate_with_covariates`).
    T : float, array or Series
        Observation length of each customer, from the first purchase to the end of observation,
        in the time unit of the parameters (e.g. weeks). One value for all needs
        ``n_customers`` or parameters given per customer; a Series lends its index to the
        result.
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
    r, alpha, a, b : float or array
        MBG/NBD parameters, all > 0; ``alpha`` is in the time unit of ``T``.
        One value for all customers, or one per customer (an array or Series as long as
        ``T``; a Series is matched to the customers by its index): each customer then draws
        from their own mixing distributions (see :func:`~clvpredict.simulation.simulate_with_covariates`).
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
    r, alpha, s, beta : float or array
        Pareto/NBD parameters, all > 0; ``alpha`` and ``beta`` are in the time unit of ``T``.
        One value for all customers, or one per customer (an array or Series as long as
        ``T``; a Series is matched to the customers by its index): each customer then draws
        from their own mixing distributions (see :func:`~clvpredict.simulation.simulate_with_covariates`).
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

"""lifetimes' simulators of customers, drawn by clvpredict's.

Each returns lifetimes' columns: ``frequency``, ``recency``, ``T`` and the latent ``lambda`` /
``p`` (or ``mu``) / ``alive``, indexed by ``customer_id``. The draws come from numpy's global
random state (lifetimes' habit: ``np.random.seed`` makes them repeatable).

``frequency`` follows lifetimes' convention, which is the one of its summaries of transaction
logs: it counts the distinct whole time units (purchase periods) that hold at least one repeat
purchase, counting from the first purchase at time 0, so two repeat purchases in one period
count once and the same parameters give fewer purchases in weeks than in days. ``recency`` is
the exact time of the last repeat purchase, not rounded. The native simulators
(:func:`clvpredict.simulate_transactions`, ``model.simulate``) count every repeat purchase
instead, which is what the models' likelihoods describe when time is continuous.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from ..models._simulators import (
    simulate_bgbb,
    simulate_bgnbd,
    simulate_mbgnbd,
    simulate_pareto_nbd,
)

__all__ = [
    "beta_geometric_beta_binom_model",
    "beta_geometric_nbd_model",
    "beta_geometric_nbd_model_transactional_data",
    "modified_beta_geometric_nbd_model",
    "pareto_nbd_model",
]


def _ages(T: Any, size: int) -> np.ndarray:
    ages = np.asarray(T, dtype=float)
    return np.full(size, float(ages)) if ages.ndim == 0 else ages


def _seed() -> int:
    """A seed drawn from numpy's global state, so that np.random.seed repeats the draws."""
    # lifetimes drew from the global state: code that seeds it expects repeatable draws.
    return int(np.random.randint(0, 2**31 - 1))  # noqa: NPY002


def _lifetimes_frame(simulated: pd.DataFrame, renames: dict[str, str]) -> pd.DataFrame:
    out = simulated.rename(columns=renames).reset_index(drop=True)
    # lifetimes' simulators returned float counts, as its summaries of transactions do.
    out["frequency"] = out["frequency"].astype(float)
    out.index = pd.RangeIndex(len(out), name="customer_id")
    return out


def _repeat_purchase_times(
    purchases: np.ndarray, last: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """The times of every customer's repeat purchases, given how many and when the last one.

    Given that the last of ``n`` purchases of a Poisson process falls at ``t``, the other
    ``n - 1`` are uniform on ``(0, t)``: they are drawn so (from a generator seeded off numpy's
    global state). Returns the customer's row number and the time of each repeat purchase.
    """
    rng = np.random.default_rng(_seed())
    purchases = purchases.astype(np.int64)
    earlier = np.maximum(purchases - 1, 0)
    rows = np.arange(len(purchases))
    earlier_rows = np.repeat(rows, earlier)
    earlier_times = rng.uniform(size=int(earlier.sum())) * last[earlier_rows]
    buyers = purchases > 0
    return (
        np.concatenate([earlier_rows, rows[buyers]]),
        np.concatenate([earlier_times, last[buyers]]),
    )


def _distinct_periods(rows: np.ndarray, times: np.ndarray, size: int) -> np.ndarray:
    """Per customer, the number of distinct whole time units holding a repeat purchase."""
    pairs = np.unique(np.stack([rows, np.floor(times)]), axis=1)
    return np.bincount(pairs[0].astype(np.int64), minlength=size).astype(float)


def _customers(
    simulate: Any, params: tuple[float, ...], T: Any, size: int, renames: dict[str, str]
) -> tuple[pd.DataFrame, np.ndarray, np.ndarray]:
    """Customers drawn by a native simulator, their repeat purchase times and lifetimes' frame.

    The frame's ``frequency`` counts distinct periods (see the module docstring); the rows and
    times are those of every repeat purchase, for the transaction log.
    """
    ages = _ages(T, size)
    simulated = simulate(*params, ages, random_state=_seed(), latent=True)
    out = _lifetimes_frame(simulated, renames)
    rows, times = _repeat_purchase_times(
        simulated["frequency"].to_numpy(), simulated["recency"].to_numpy(dtype=float)
    )
    out["frequency"] = _distinct_periods(rows, times, len(out))
    return out, rows, times


_BG_NAMES = {"purchase_rate": "lambda", "dropout_probability": "p"}


def beta_geometric_nbd_model(
    T: Any, r: float, alpha: float, a: float, b: float, size: int = 1
) -> pd.DataFrame:
    """Customers drawn from the BG/NBD, observed for ``T`` time units.

    Parameters
    ----------
    T : float or array-like
        Time from each customer's first purchase to the end of observation, one value for all
        or one per customer.
    r, alpha, a, b : float
        BG/NBD parameters (``alpha`` in the time unit of ``T``).
    size : int
        Number of customers.

    Returns
    -------
    DataFrame
        Indexed by ``customer_id``: ``frequency`` (distinct whole time units with a repeat
        purchase, as summaries of transactions count them), ``recency`` (exact time of the last
        repeat purchase), ``T``, and the latent ``lambda``, ``p`` and ``alive``.
    """
    out, _, _ = _customers(simulate_bgnbd, (r, alpha, a, b), T, size, _BG_NAMES)
    return out


def beta_geometric_nbd_model_transactional_data(
    T: Any,
    r: float,
    alpha: float,
    a: float,
    b: float,
    observation_period_end: Any = "2019-1-1",
    freq: str = "D",
    size: int = 1,
) -> pd.DataFrame:
    """A transaction log (``customer_id``, ``date``) of BG/NBD customers observed for ``T``.

    The customers and their purchases are those :func:`beta_geometric_nbd_model` draws from the
    same random state (so after the same ``np.random.seed`` both give the same customers). Each
    one's first purchase is ``T`` units of ``freq`` before ``observation_period_end`` and a
    repeat purchase at time ``t`` after it is dated ``1 + t`` units after it, as lifetimes
    placed them. Summarising the log by ``freq`` therefore gives ``T``, the drawn ``frequency``
    (distinct periods with a repeat purchase) and ``ceil(recency)``.
    """
    end = pd.Timestamp(observation_period_end)
    customers, rows, times = _customers(simulate_bgnbd, (r, alpha, a, b), T, size, _BG_NAMES)
    unit = pd.Timedelta(1, unit=_timedelta_unit(freq))
    first = -customers["T"].to_numpy(dtype=float)
    all_rows = np.concatenate([np.arange(len(customers)), rows])
    offsets = np.concatenate([first, first[rows] + 1.0 + times])
    order = np.lexsort((offsets, all_rows))
    return pd.DataFrame(
        {
            "customer_id": all_rows[order],
            "date": end
            + pd.to_timedelta(offsets[order] * (unit / pd.Timedelta(1, unit="ns")), unit="ns"),
        }
    )


def _timedelta_unit(freq: str) -> str:
    """The ``pd.Timedelta`` unit of a period alias (``"D"``, ``"h"``/``"H"``, ``"W"``, ...)."""
    units = {"D": "D", "H": "h", "h": "h", "W": "W", "T": "min", "min": "min", "S": "s", "s": "s"}
    if freq not in units:
        raise ValueError(f"freq={freq!r}: use one of {sorted(units)} (a fixed-length unit).")
    return units[freq]


def modified_beta_geometric_nbd_model(
    T: Any, r: float, alpha: float, a: float, b: float, size: int = 1
) -> pd.DataFrame:
    """Customers drawn from the MBG/NBD, observed for ``T``.

    As :func:`beta_geometric_nbd_model` (``frequency`` counts distinct whole time units with a
    repeat purchase), with the MBG/NBD's dropout chance right after the first purchase.
    """
    out, _, _ = _customers(simulate_mbgnbd, (r, alpha, a, b), T, size, _BG_NAMES)
    return out


def pareto_nbd_model(
    T: Any, r: float, alpha: float, s: float, beta: float, size: int = 1
) -> pd.DataFrame:
    """Customers drawn from the Pareto/NBD, observed for ``T``.

    Columns ``frequency`` (distinct whole time units with a repeat purchase, as in
    :func:`beta_geometric_nbd_model`), ``recency``, ``T`` and the latent ``lambda``, ``mu`` and
    ``alive``, indexed by ``customer_id``.
    """
    names = {"purchase_rate": "lambda", "dropout_rate": "mu"}
    out, _, _ = _customers(simulate_pareto_nbd, (r, alpha, s, beta), T, size, names)
    return out


def beta_geometric_beta_binom_model(
    N: Any, alpha: float, beta: float, gamma: float, delta: float, size: int = 1
) -> pd.DataFrame:
    """Customers drawn from the BG/BB over ``N`` transaction opportunities.

    As lifetimes returned them: one row per customer with a ``customer_id`` column,
    ``frequency``, ``recency``, ``n_periods``, the latent ``p`` and ``theta``, and ``alive``:
    alive at the *next* opportunity (``N + 1``), the event whose probability
    ``BetaGeoBetaBinomFitter.conditional_probability_alive(1, ...)`` gives.
    """
    opportunities = _ages(N, size).astype(int)
    simulated = simulate_bgbb(
        alpha, beta, gamma, delta, opportunities, random_state=_seed(), latent=True
    )
    out = _lifetimes_frame(
        simulated,
        {"T": "n_periods", "transaction_probability": "p", "dropout_probability": "theta"},
    )
    # One more dropout chance before the next opportunity.
    survives = np.random.default_rng(_seed()).random(len(out)) >= out["theta"].to_numpy()
    out["alive"] = out["alive"].to_numpy(dtype=bool) & survives
    return out.reset_index()

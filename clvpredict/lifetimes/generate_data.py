"""lifetimes' simulators of customers, drawn by clvpredict's.

Each returns lifetimes' columns: ``frequency``, ``recency``, ``T`` and the latent ``lambda`` /
``p`` (or ``mu``) / ``alive``, indexed by ``customer_id``. The draws come from numpy's global
random state (lifetimes' habit: ``np.random.seed`` makes them repeatable).

Difference from lifetimes: lifetimes counted ``frequency`` as the number of distinct *whole
time units* holding a repeat purchase (it truncated purchase times to integers), so the same
parameters gave fewer purchases in weeks than in days. Here ``frequency`` counts the repeat
purchases, which is what the models' likelihoods assume.
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


def beta_geometric_nbd_model(
    T: Any, r: float, alpha: float, a: float, b: float, size: int = 1
) -> pd.DataFrame:
    """Customers drawn from the BG/NBD, observed for ``T`` (a number or one per customer)."""
    ages = _ages(T, size)
    simulated = simulate_bgnbd(r, alpha, a, b, ages, random_state=_seed(), latent=True)
    return _lifetimes_frame(simulated, {"purchase_rate": "lambda", "dropout_probability": "p"})


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

    The customers are those :func:`beta_geometric_nbd_model` draws from the same random state
    (so ``np.random.seed`` makes both give the same customers). Each one's first purchase is
    ``T`` units of ``freq`` before ``observation_period_end``; the last repeat purchase comes
    ``1 + recency`` units after it and the other repeat purchases at uniformly drawn times
    before that, which is how a Poisson process places them given their number and the last
    one. As in lifetimes, summarising the log by ``freq`` gives ``T``, the drawn ``frequency``
    and ``ceil(recency)``; customers with two repeat purchases in one period show one fewer
    there (the summary counts periods with a purchase).
    """
    end = pd.Timestamp(observation_period_end)
    customers = beta_geometric_nbd_model(T, r, alpha, a, b, size=size)
    rng = np.random.default_rng(_seed())
    unit = pd.Timedelta(1, unit=_timedelta_unit(freq))
    ids: list[np.ndarray] = []
    offsets: list[np.ndarray] = []
    for customer, (x, t_x, age) in enumerate(
        customers[["frequency", "recency", "T"]].to_numpy(dtype=float)
    ):
        repeats = int(x)
        times = np.sort(rng.uniform(0.0, t_x, size=max(repeats - 1, 0)))
        if repeats > 0:
            times = np.concatenate([1.0 + times, [1.0 + t_x]])
        first = -age
        ids.append(np.full(repeats + 1, customer))
        offsets.append(first + np.concatenate([[0.0], times]))
    offset_values = np.concatenate(offsets) if offsets else np.empty(0)
    return pd.DataFrame(
        {
            "customer_id": np.concatenate(ids) if ids else np.empty(0, dtype=int),
            "date": end
            + pd.to_timedelta(offset_values * (unit / pd.Timedelta(1, unit="ns")), unit="ns"),
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
    """Customers drawn from the MBG/NBD, observed for ``T``."""
    ages = _ages(T, size)
    simulated = simulate_mbgnbd(r, alpha, a, b, ages, random_state=_seed(), latent=True)
    return _lifetimes_frame(simulated, {"purchase_rate": "lambda", "dropout_probability": "p"})


def pareto_nbd_model(
    T: Any, r: float, alpha: float, s: float, beta: float, size: int = 1
) -> pd.DataFrame:
    """Customers drawn from the Pareto/NBD, observed for ``T``."""
    ages = _ages(T, size)
    simulated = simulate_pareto_nbd(r, alpha, s, beta, ages, random_state=_seed(), latent=True)
    return _lifetimes_frame(simulated, {"purchase_rate": "lambda", "dropout_rate": "mu"})


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

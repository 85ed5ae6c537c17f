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
    out.index = pd.RangeIndex(len(out), name="customer_id")
    return out


def beta_geometric_nbd_model(
    T: Any, r: float, alpha: float, a: float, b: float, size: int = 1
) -> pd.DataFrame:
    """Customers drawn from the BG/NBD, observed for ``T`` (a number or one per customer)."""
    ages = _ages(T, size)
    simulated = simulate_bgnbd(r, alpha, a, b, ages, random_state=_seed(), latent=True)
    return _lifetimes_frame(simulated, {"purchase_rate": "lambda", "dropout_probability": "p"})


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
    """Customers drawn from the BG/BB over ``N`` transaction opportunities."""
    opportunities = _ages(N, size).astype(int)
    simulated = simulate_bgbb(
        alpha, beta, gamma, delta, opportunities, random_state=_seed(), latent=True
    )
    return _lifetimes_frame(
        simulated,
        {"T": "n_periods", "transaction_probability": "p", "dropout_probability": "theta"},
    )

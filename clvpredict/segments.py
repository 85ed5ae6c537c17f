"""Customers grouped by value: tiers of predictive CLV and high-value customers at risk.

Both read a :func:`~clvpredict.clv_table` (one row per customer) and, for the customers at risk,
the fitted purchase model; money columns are in the currency of the log's amounts.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from .exceptions import ClvDataError

__all__ = ["DEFAULT_TIERS", "at_risk_customers", "segment_table"]

#: Default value tiers: (label, share of customers), from the most valuable down.
DEFAULT_TIERS: tuple[tuple[str, float], ...] = (
    ("top 10%", 0.10),
    ("next 20%", 0.20),
    ("middle 30%", 0.30),
    ("bottom 40%", 0.40),
)


def _total_and_mean(values: np.ndarray) -> tuple[float, float]:
    """Sum and mean of ``values`` skipping NaN, as pandas computes them: NaN counted as 0 in the
    sum, mean = sum / number of values that are not NaN."""
    missing = np.isnan(values)
    count = len(values) - int(missing.sum())
    if count < len(values):
        values = np.where(missing, 0.0, values)
    total = float(values.sum())
    return total, total / count if count else np.nan


def segment_table(
    table: pd.DataFrame, tiers: Sequence[tuple[str, float]] = DEFAULT_TIERS
) -> pd.DataFrame:
    """Customers split into value tiers by predictive CLV, with totals and means per tier.

    Parameters
    ----------
    table : DataFrame
        From :func:`~clvpredict.clv_table` (``predictive_clv``, ``simple_clv``, ``p_alive``).
    tiers : sequence of (label, share)
        Tiers from the most valuable down, as shares of the customers (summing to 1). Customers
        are ranked by predictive CLV (ties broken by position) and cut at the cumulative shares.

    Returns
    -------
    DataFrame
        Indexed by tier label: ``n_customers``, ``total_predictive_clv``,
        ``mean_predictive_clv``, ``share_of_predictive_clv`` (fraction of the total),
        ``total_simple_clv``, ``mean_simple_clv`` (currency) and ``mean_p_alive``.

    Examples
    --------
    >>> import pandas as pd
    >>> t = pd.DataFrame({"predictive_clv": [50.0, 30, 10, 10], "simple_clv": [40.0, 40, 20, 0],
    ...                   "p_alive": [0.9, 0.8, 0.5, 0.1]})
    >>> segment_table(t, [("top half", 0.5), ("bottom half", 0.5)])["total_predictive_clv"].tolist()
    [80.0, 20.0]
    """
    shares = np.array([s for _, s in tiers], dtype=float)
    if np.any(shares <= 0) or not np.isclose(shares.sum(), 1.0):
        raise ClvDataError(f"Tier shares must be > 0 and sum to 1, got {list(shares)}.")
    missing = [c for c in ("predictive_clv", "simple_clv", "p_alive") if c not in table.columns]
    if missing:
        raise ClvDataError(f"segment_table needs column(s) {missing}: pass a clv_table result.")
    n = len(table)
    predictive = table["predictive_clv"].to_numpy(dtype=float)
    order = np.argsort(-predictive, kind="stable")
    # One sort, then each column once in that order: tiers are slices of these arrays (copying
    # only the three columns used, not the table's rows).
    ranked = {
        "predictive_clv": predictive[order],
        "simple_clv": table["simple_clv"].to_numpy(dtype=float)[order],
        "p_alive": table["p_alive"].to_numpy(dtype=float)[order],
    }
    bounds = np.rint(np.concatenate([[0.0], np.cumsum(shares)]) * n).astype(int)
    total_clv = float(table["predictive_clv"].sum())
    rows = []
    for (label, _), lo, hi in zip(tiers, bounds[:-1], bounds[1:], strict=True):
        total, mean = _total_and_mean(ranked["predictive_clv"][lo:hi])
        total_simple, mean_simple = _total_and_mean(ranked["simple_clv"][lo:hi])
        rows.append(
            {
                "tier": label,
                "n_customers": int(hi - lo),
                "total_predictive_clv": total,
                "mean_predictive_clv": mean,
                "share_of_predictive_clv": total / total_clv if total_clv else np.nan,
                "total_simple_clv": total_simple,
                "mean_simple_clv": mean_simple,
                "mean_p_alive": _total_and_mean(ranked["p_alive"][lo:hi])[1],
            }
        )
    return pd.DataFrame(rows).set_index("tier")


def at_risk_customers(
    purchase_model: Any,
    table: pd.DataFrame,
    *,
    lookback: float,
    top_share: float = 0.2,
    min_drop: float = 0.1,
) -> pd.DataFrame:
    """High-value customers whose P(alive) is falling: candidates for a retention action.

    A customer is listed when (1) their predictive CLV is in the top ``top_share`` of customers
    and (2) their P(alive) today is at least ``min_drop`` below what it was ``lookback`` time units
    ago. P(alive) ``lookback`` ago is computed from the same history observed up to then
    (``T - lookback``), which is possible when the last purchase is older than that; customers who
    bought since are not falling.

    Parameters
    ----------
    purchase_model : fitted purchase model
    table : DataFrame
        From :func:`~clvpredict.clv_table` (``frequency``, ``recency``, ``T``, ``p_alive``,
        ``predictive_clv``, ``simple_clv``).
    lookback : float
        How far back to compare, in the model's time unit.
    top_share : float
        Share of customers, ranked by predictive CLV, considered high-value.
    min_drop : float
        Minimal fall of P(alive) (probability points) to be listed.

    Returns
    -------
    DataFrame
        The listed customers, highest predictive CLV first, with ``predictive_clv``,
        ``simple_clv``, ``p_alive``, ``p_alive_before``, ``p_alive_change``, ``frequency``,
        ``recency``, ``T`` and ``time_since_last_purchase`` (model time unit).
    """
    if lookback <= 0:
        raise ClvDataError(f"lookback={lookback!r} must be > 0 (in the model's time unit).")
    if not 0 < top_share <= 1:
        raise ClvDataError(f"top_share={top_share!r} must be in (0, 1].")
    threshold = table["predictive_clv"].quantile(1 - top_share)
    candidates = table[
        (table["predictive_clv"] >= threshold) & (table["recency"] <= table["T"] - lookback)
    ]
    if candidates.empty:
        before = pd.Series(dtype=float)
    else:
        before = purchase_model.probability_alive(
            frequency=candidates["frequency"],
            recency=candidates["recency"],
            T=candidates["T"] - lookback,
        )
    out = candidates[["predictive_clv", "simple_clv", "p_alive"]].copy()
    out["p_alive_before"] = before.to_numpy() if len(before) else np.array([])
    out["p_alive_change"] = out["p_alive"] - out["p_alive_before"]
    out["frequency"] = candidates["frequency"]
    out["recency"] = candidates["recency"]
    out["T"] = candidates["T"]
    out["time_since_last_purchase"] = candidates["T"] - candidates["recency"]
    out = out[out["p_alive_change"] <= -min_drop]
    return out.sort_values("predictive_clv", ascending=False)

"""Customers grouped by value: tiers of predictive CLV, the top customers and high-value
customers at risk.

Each reads a :func:`~clvpredict.clv_table` (one row per customer) and, for the customers at risk,
the fitted purchase model; money columns are in the currency of the log's amounts. The table may
be pandas (indexed by customer) or a frame of another engine with the id in a column, such as the
Spark DataFrame of a Spark summary's predictions: then the engine computes the tiers, the ranks
and the customers at risk, and this process receives only bounded results (tiers, the first
customers, counts), never one row per customer.

**Ranks.** Customers are ranked by predictive CLV, largest first; customers without one (NaN)
come last; ties are broken by customer id, smallest first (the index of a pandas table). On a
table in id order, as :func:`~clvpredict.clv_table` of clvpredict's summaries is, that is the
table's order. Every engine ranks alike (:mod:`clvpredict.data.ranks`), so tiers cut at the
same customers.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import narwhals.stable.v2 as nw
import numpy as np
import pandas as pd

from ._units import unit_in_days
from .data.covariates import attach_covariates
from .data.engines import (
    TABLE_COLUMNS,
    UNIT_COLUMN,
    as_lazy,
    count_true,
    frame_kind,
    id_column,
    map_summary_batches,
    scalars,
    summary_unit,
    table_to_kind,
    to_caller,
)
from .data.ranks import missing, rank_keys, rank_order, ranked_before, ranked_head
from .exceptions import ClvDataError

__all__ = [
    "DEFAULT_TIERS",
    "RFM_SEGMENT_RULES",
    "at_risk_customers",
    "linear_quantile",
    "quantile_positions",
    "rfm_segment_table",
    "rfm_segments",
    "segment_table",
    "table_id_column",
    "top_customers",
]

#: Default value tiers: (label, share of customers), from the most valuable down.
DEFAULT_TIERS: tuple[tuple[str, float], ...] = (
    ("top 10%", 0.10),
    ("next 20%", 0.20),
    ("middle 30%", 0.30),
    ("bottom 40%", 0.40),
)


def table_id_column(table: Any, customer_id_col: str | None = None) -> str:
    """The customer id column of an engine's CLV table: ``customer_id_col``, or its one column
    that is not a :func:`~clvpredict.clv_table` column."""
    names = as_lazy(table).collect_schema().names()
    return id_column(names, customer_id_col, TABLE_COLUMNS, "table")


def _require(table: Any, columns: Sequence[str], what: str) -> None:
    names = list(table.columns) if isinstance(table, pd.DataFrame) else None
    if names is None:
        names = as_lazy(table).collect_schema().names()
    absent = [c for c in columns if c not in names]
    if absent:
        raise ClvDataError(f"{what} needs column(s) {absent}: pass a clv_table result.")


def _pandas_order(table: pd.DataFrame) -> np.ndarray:
    """Positions of a pandas table's customers in rank order (ties by the index)."""
    predictive = table["predictive_clv"].to_numpy(dtype=float)
    if table.index.is_monotonic_increasing:
        # Ids in order: a stable sort keeps them so among ties (NaN sort last).
        return np.argsort(-predictive, kind="stable")
    try:
        return rank_order(pd.DataFrame({"v": predictive, "i": table.index.to_numpy()}), "v", "i")
    except TypeError:  # ids of mixed types cannot be ordered: by position then
        return np.argsort(-predictive, kind="stable")


def _total_and_mean(values: np.ndarray) -> tuple[float, float]:
    """Sum and mean of ``values`` skipping NaN, as pandas computes them: NaN counted as 0 in the
    sum, mean = sum / number of values that are not NaN."""
    missing_values = np.isnan(values)
    count = len(values) - int(missing_values.sum())
    if count < len(values):
        values = np.where(missing_values, 0.0, values)
    total = float(values.sum())
    return total, total / count if count else np.nan


def _tier_bounds(tiers: Sequence[tuple[str, float]], n: int) -> np.ndarray:
    """Ranks where the tiers start, then ``n``: the cumulative shares times ``n``, rounded."""
    shares = np.array([s for _, s in tiers], dtype=float)
    if np.any(shares <= 0) or not np.isclose(shares.sum(), 1.0):
        raise ClvDataError(f"Tier shares must be > 0 and sum to 1, got {list(shares)}.")
    return np.rint(np.concatenate([[0.0], np.cumsum(shares)]) * n).astype(int)


def _tier_frame(rows: list[dict[str, Any]], total_clv: float) -> pd.DataFrame:
    for row in rows:
        total = row["total_predictive_clv"]
        row["share_of_predictive_clv"] = total / total_clv if total_clv else np.nan
    columns = [
        "tier",
        "n_customers",
        "total_predictive_clv",
        "mean_predictive_clv",
        "share_of_predictive_clv",
        "total_simple_clv",
        "mean_simple_clv",
        "mean_p_alive",
    ]
    return pd.DataFrame(rows, columns=columns).set_index("tier")


def segment_table(
    table: Any,
    tiers: Sequence[tuple[str, float]] = DEFAULT_TIERS,
    *,
    customer_id_col: str | None = None,
) -> pd.DataFrame:
    """Customers split into value tiers by predictive CLV, with totals and means per tier.

    Parameters
    ----------
    table : DataFrame or engine frame
        From :func:`~clvpredict.clv_table` (``predictive_clv``, ``simple_clv``, ``p_alive``):
        pandas indexed by customer, or a frame of another engine (a Spark DataFrame) with the
        customer id in a column, whose tiers the engine computes.
    tiers : sequence of (label, share)
        Tiers from the most valuable down, as shares of the customers (summing to 1). Customers
        are ranked by predictive CLV (ties broken by customer id, see the module's notes) and
        cut at the cumulative shares times the number of customers, rounded.
    customer_id_col : str, optional
        The id column of an engine's table, when it cannot be told (the one column that is not
        a clv_table column).

    Returns
    -------
    DataFrame
        Indexed by tier label: ``n_customers``, ``total_predictive_clv``,
        ``mean_predictive_clv``, ``share_of_predictive_clv`` (fraction of the total),
        ``total_simple_clv``, ``mean_simple_clv`` (currency) and ``mean_p_alive``. Totals and
        means skip missing values. Always pandas: one row per tier.

    Examples
    --------
    >>> import pandas as pd
    >>> t = pd.DataFrame({"predictive_clv": [50.0, 30, 10, 10], "simple_clv": [40.0, 40, 20, 0],
    ...                   "p_alive": [0.9, 0.8, 0.5, 0.1]})
    >>> segment_table(t, [("top half", 0.5), ("bottom half", 0.5)])["total_predictive_clv"].tolist()
    [80.0, 20.0]
    """
    needed = ("predictive_clv", "simple_clv", "p_alive")
    if isinstance(table, pd.DataFrame):
        _require(table, needed, "segment_table")
        return _pandas_segments(table, tiers)
    _require(table, needed, "segment_table")
    return _engine_segments(table, tiers, table_id_column(table, customer_id_col))


def _pandas_segments(table: pd.DataFrame, tiers: Sequence[tuple[str, float]]) -> pd.DataFrame:
    bounds = _tier_bounds(tiers, len(table))
    order = _pandas_order(table)
    # One sort, then each column once in that order: tiers are slices of these arrays (copying
    # only the three columns used, not the table's rows).
    ranked = {c: table[c].to_numpy(dtype=float)[order] for c in ("predictive_clv", "simple_clv")}
    ranked["p_alive"] = table["p_alive"].to_numpy(dtype=float)[order]
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
                "total_simple_clv": total_simple,
                "mean_simple_clv": mean_simple,
                "mean_p_alive": _total_and_mean(ranked["p_alive"][lo:hi])[1],
            }
        )
    return _tier_frame(rows, float(table["predictive_clv"].sum()))


def _sum_and_count(column: str) -> list[nw.Expr]:
    """Sum (missing as 0) and count of the present values of a column, as engine aggregates."""
    present = ~missing(column)
    return [
        nw.when(present).then(nw.col(column)).otherwise(0.0).sum().alias(f"sum_{column}"),
        count_true(present).alias(f"n_{column}"),
    ]


def _engine_segments(table: Any, tiers: Sequence[tuple[str, float]], ident: str) -> pd.DataFrame:
    """The tiers of an engine's table: the keys at the cut ranks found exactly
    (:func:`~clvpredict.data.ranks.rank_keys`), then one group-by of each row's tier."""
    frame = as_lazy(table)
    (n,) = scalars(frame, nw.len())
    bounds = _tier_bounds(tiers, int(n))
    cuts = [int(b) for b in bounds[1:-1] if 0 < b < n]
    keys = rank_keys(frame, "predictive_clv", ident, cuts)
    # A row's tier: how many cuts it is at or after (cut ranks equal to 0 count for every row,
    # those equal to n for none).
    tier = nw.lit(int(sum(1 for b in bounds[1:-1] if b <= 0)))
    for b in bounds[1:-1]:
        if 0 < b < n:
            tier = tier + (~ranked_before(keys[int(b)], "predictive_clv", ident)).cast(nw.Int64)
    columns = ("predictive_clv", "simple_clv", "p_alive")
    grouped = (
        frame.with_columns(tier.alias("_tier"))
        .group_by("_tier")
        .agg(nw.len().alias("n"), *[e for c in columns for e in _sum_and_count(c)])
    )
    sums = to_caller(grouped, "pandas").set_index("_tier")
    rows = []
    for k, (label, _) in enumerate(tiers):
        got = sums.loc[k] if k in sums.index else None

        def mean(column: str, got: Any = got) -> tuple[float, float]:
            if got is None:
                return 0.0, np.nan
            total, count = float(got[f"sum_{column}"] or 0.0), int(got[f"n_{column}"] or 0)
            return total, total / count if count else np.nan

        total, mean_clv = mean("predictive_clv")
        total_simple, mean_simple = mean("simple_clv")
        rows.append(
            {
                "tier": label,
                "n_customers": 0 if got is None else int(got["n"]),
                "total_predictive_clv": total,
                "mean_predictive_clv": mean_clv,
                "total_simple_clv": total_simple,
                "mean_simple_clv": mean_simple,
                "mean_p_alive": mean("p_alive")[1],
            }
        )
    total_clv = math.fsum(row["total_predictive_clv"] for row in rows)
    return _tier_frame(rows, total_clv)


def top_customers(table: Any, n: int = 20, *, customer_id_col: str | None = None) -> pd.DataFrame:
    """The ``n`` customers with the highest predictive CLV, in rank order (ties by id;
    customers without a predictive CLV are left out), every column of the table.

    Parameters
    ----------
    table : DataFrame or engine frame
        From :func:`~clvpredict.clv_table`, as in :func:`segment_table`.
    n : int
        How many customers.
    customer_id_col : str, optional
        As in :func:`segment_table`.

    Returns
    -------
    DataFrame
        pandas, indexed by customer id: at most ``n`` rows, whatever the engine (the
        ``time_unit`` column of an engine's table left out).
    """
    _require(table, ("predictive_clv",), "top_customers")
    if isinstance(table, pd.DataFrame):
        order = _pandas_order(table)
        present = order[~np.isnan(table["predictive_clv"].to_numpy(dtype=float)[order])]
        return table.iloc[present[: int(n)]]
    ident = table_id_column(table, customer_id_col)
    # The unit column of an engine's table is a pandas table's attrs: not a customer's column.
    columns = [c for c in as_lazy(table).collect_schema().names() if c != UNIT_COLUMN]
    return ranked_head(table, "predictive_clv", ident, int(n), columns).set_index(ident)


def linear_quantile(lower: float, upper: float, n: int, q: float) -> float:
    """The ``q`` quantile of ``n`` values from the two order statistics around it, as numpy's
    default (linear) method computes it: at the virtual position ``h = (n - 1) q``, between the
    values at ``floor(h)`` (``lower``) and ``floor(h) + 1`` (``upper``; ascending, 0-based).

    With the two order statistics of any engine, this is the number ``numpy.quantile`` gives
    on the whole column, bit for bit (the same operations in the same order); recent pandas'
    ``Series.quantile`` too (pandas 2.0 hands numpy ``q x 100`` and can differ in the last bit).
    """
    h = (n - 1) * q
    position = math.floor(h)
    if position >= n - 1:
        return float(lower)
    t = h - position
    diff = upper - lower
    if t >= 0.5:
        return float(upper - diff * (1 - t))
    return float(lower + diff * t)


def quantile_positions(n: int, q: float) -> tuple[int, int]:
    """Ascending 0-based positions of the order statistics :func:`linear_quantile` reads."""
    position = min(math.floor((n - 1) * q), n - 1)
    return position, min(position + 1, n - 1)


def _covariate_columns(purchase_model: Any) -> list[str]:
    """The covariate columns of a model fitted with covariates (``[]`` for any other)."""
    design = getattr(purchase_model, "covariate_design_", None)
    return [] if design is None else list(design.columns)


def _with_covariates(purchase_model: Any, table: pd.DataFrame, covariates: Any) -> pd.DataFrame:
    """``table`` with the covariate columns of the model: its own, or joined from the
    per-customer table ``covariates``; refused, naming them, when it has neither."""
    columns = _covariate_columns(purchase_model)
    if not columns:
        if covariates is not None:
            raise ClvDataError(
                "covariates= was given, but the purchase model was fitted without covariates; "
                "drop covariates=."
            )
        return table
    if covariates is not None:
        return attach_covariates(table, covariates, columns=columns)
    absent = [c for c in columns if c not in table.columns]
    if absent:
        raise ClvDataError(
            f"The purchase model was fitted with the covariates {columns!r}: P(alive) before "
            f"needs each customer's, and the table lacks {absent}. Pass covariates= (one row "
            "per customer, indexed by customer id) or join them with "
            "clvpredict.attach_covariates."
        )
    return table


def _at_risk_rows(purchase_model: Any, candidates: pd.DataFrame, lookback: float) -> pd.DataFrame:
    """The at-risk columns of candidate customers (not yet filtered by the fall of P(alive));
    for a model fitted with covariates, ``candidates`` has the covariate columns."""
    columns = _covariate_columns(purchase_model)
    if len(candidates) and columns:
        earlier = candidates[["frequency", "recency", *columns]].assign(
            T=candidates["T"] - lookback
        )
        # The table's times are in the model's unit, as the arrays of a model without
        # covariates are read.
        earlier.attrs = {"time_unit": purchase_model.time_unit_}
        before = np.asarray(purchase_model.probability_alive(earlier), dtype=float)
    elif len(candidates):
        before = np.asarray(
            purchase_model.probability_alive(
                frequency=candidates["frequency"],
                recency=candidates["recency"],
                T=candidates["T"] - lookback,
            ),
            dtype=float,
        )
    else:
        before = np.array([], dtype=float)
    out = candidates[["predictive_clv", "simple_clv", "p_alive"]].copy()
    out["p_alive_before"] = before
    out["p_alive_change"] = out["p_alive"] - out["p_alive_before"]
    out["frequency"] = candidates["frequency"]
    out["recency"] = candidates["recency"]
    out["T"] = candidates["T"]
    out["time_since_last_purchase"] = candidates["T"] - candidates["recency"]
    return out


def at_risk_customers(
    purchase_model: Any,
    table: Any,
    *,
    lookback: float,
    top_share: float = 0.2,
    min_drop: float = 0.1,
    customer_id_col: str | None = None,
    covariates: Any = None,
) -> Any:
    """High-value customers whose P(alive) is falling: candidates for a retention action.

    A customer is listed when (1) their predictive CLV is in the top ``top_share`` of customers
    (at or above the ``1 - top_share`` quantile of predictive CLV, numpy's linear method,
    missing values left out) and (2) their P(alive) today is at least ``min_drop`` below what it
    was ``lookback`` time units ago. P(alive) ``lookback`` ago is computed from the same history
    observed up to then (``T - lookback``), which is possible when the last purchase is older
    than that; customers who bought since are not falling.

    Parameters
    ----------
    purchase_model : fitted purchase model
    table : DataFrame or engine frame
        From :func:`~clvpredict.clv_table` (``frequency``, ``recency``, ``T``, ``p_alive``,
        ``predictive_clv``, ``simple_clv``): pandas indexed by customer, or a frame of another
        engine with the id in a column (a Spark DataFrame: the quantile is found exactly by the
        engine and P(alive) before is computed on its executors).
    lookback : float
        How far back to compare, in the model's time unit.
    top_share : float
        Share of customers, ranked by predictive CLV, considered high-value.
    min_drop : float
        Minimal fall of P(alive) (probability points) to be listed.
    customer_id_col : str, optional
        As in :func:`segment_table`.
    covariates : DataFrame, optional
        For a purchase model fitted with covariates, when ``table`` lacks the covariate
        columns: one row per customer with them, joined on the customer id as
        :func:`~clvpredict.attach_covariates` does (pandas ``table`` or one of another engine of
        this process). A Spark ``table`` must carry the covariate columns itself.

    Returns
    -------
    DataFrame or engine frame
        The listed customers with ``predictive_clv``, ``simple_clv``, ``p_alive``,
        ``p_alive_before``, ``p_alive_change``, ``frequency``, ``recency``, ``T`` and
        ``time_since_last_purchase`` (model time unit). pandas: indexed by customer, in rank
        order (highest predictive CLV first, ties by id). Another engine: the same columns after
        the id, as a query of that engine in no set order (count it, or take its first rows
        with :func:`top_customers`).
    """
    if lookback <= 0:
        raise ClvDataError(f"lookback={lookback!r} must be > 0 (in the model's time unit).")
    if not 0 < top_share <= 1:
        raise ClvDataError(f"top_share={top_share!r} must be in (0, 1].")
    needed = ("frequency", "recency", "T", "p_alive", "predictive_clv", "simple_clv")
    _require(table, needed, "at_risk_customers")
    kind = frame_kind(table)
    if kind == "spark":
        ident = table_id_column(table, customer_id_col)
        columns = _covariate_columns(purchase_model)
        if covariates is not None:
            raise ClvDataError(
                "table is a Spark DataFrame: join the covariates to it in Spark, on the customer "
                "id column, and pass it without covariates=."
            )
        absent = [c for c in columns if c not in as_lazy(table).collect_schema().names()]
        if absent:
            raise ClvDataError(
                f"The purchase model was fitted with the covariates {columns!r}: P(alive) "
                f"before needs each customer's, and the table lacks {absent}. Join them to it "
                "in Spark, on the customer id column."
            )
        return _engine_at_risk(purchase_model, table, ident, lookback, top_share, min_drop)
    if kind != "pandas":
        # An engine of this process: its table is scored here, and the list handed back in
        # its kind.
        ident = table_id_column(table, customer_id_col)
        rows = to_caller(as_lazy(table), "pandas").set_index(ident)
        listed = at_risk_customers(
            purchase_model,
            rows,
            lookback=lookback,
            top_share=top_share,
            min_drop=min_drop,
            covariates=covariates,
        )
        return table_to_kind(listed, kind, ident, table)
    values = table["predictive_clv"].to_numpy(dtype=float)
    present = np.sort(values[~np.isnan(values)])
    if len(present):
        low, high = quantile_positions(len(present), 1 - top_share)
        threshold = linear_quantile(present[low], present[high], len(present), 1 - top_share)
    else:
        threshold = np.nan
    candidates = table[
        (table["predictive_clv"] >= threshold) & (table["recency"] <= table["T"] - lookback)
    ]
    candidates = _with_covariates(purchase_model, candidates, covariates)
    out = _at_risk_rows(purchase_model, candidates, lookback)
    out = out[out["p_alive_change"] <= -min_drop]
    return out.iloc[_pandas_order(out)]


def _engine_at_risk(
    purchase_model: Any,
    table: Any,
    ident: str,
    lookback: float,
    top_share: float,
    min_drop: float,
) -> Any:
    frame = as_lazy(table)
    (n,) = scalars(frame, count_true(~missing("predictive_clv")))
    n = int(n or 0)
    columns = [
        "predictive_clv",
        "simple_clv",
        "p_alive",
        "p_alive_before",
        "p_alive_change",
        "frequency",
        "recency",
        "T",
        "time_since_last_purchase",
    ]
    q = 1 - top_share
    if n:
        # Ascending position j among the n present values is rank n - 1 - j (largest first).
        low, high = quantile_positions(n, q)
        keys = rank_keys(frame, "predictive_clv", ident, [n - 1 - low, n - 1 - high])
        threshold = linear_quantile(keys[n - 1 - low].value, keys[n - 1 - high].value, n, q)
        candidates = frame.filter(
            ~missing("predictive_clv")
            & (nw.col("predictive_clv") >= threshold)
            & (nw.col("recency") <= nw.col("T") - lookback)
        )
    else:
        candidates = frame.filter(nw.lit(False))
    if len(candidates.head(1).collect()):
        unit = getattr(purchase_model, "time_unit_", None) or "D"

        def score(batch: pd.DataFrame) -> pd.DataFrame:
            return _at_risk_rows(purchase_model, batch, lookback)[columns]

        needed = ["frequency", "recency", "T", "p_alive", "predictive_clv", "simple_clv"]
        needed += _covariate_columns(purchase_model)
        summary = candidates.select(ident, *needed).with_columns(nw.lit(unit).alias(UNIT_COLUMN))
        scored = nw.from_native(map_summary_batches(summary.to_native(), score, ident))
    else:
        scored = candidates.with_columns(
            nw.lit(0.0).alias("p_alive_before"),
            nw.lit(0.0).alias("p_alive_change"),
            (nw.col("T") - nw.col("recency")).alias("time_since_last_purchase"),
        )
    listed = scored.filter(nw.col("p_alive_change") <= -min_drop)
    return listed.select(ident, *columns).to_native()


# ---------------------------------------------------------------- RFM-named segments

#: The named RFM segments, tried in this order; a customer takes the first whose ranges hold
#: their scores: ``(name, (r_low, r_high), (f_low, f_high), (m_low, m_high))``, inclusive
#: ranges of the 1-5 scores (5: most recent, most frequent, highest spend).
RFM_SEGMENT_RULES: tuple[tuple[str, tuple[int, int], tuple[int, int], tuple[int, int]], ...] = (
    ("Champions", (4, 5), (4, 5), (4, 5)),
    ("Loyal customers", (3, 5), (4, 5), (1, 5)),
    ("Potential loyalists", (4, 5), (2, 3), (1, 5)),
    ("New customers", (4, 5), (1, 1), (1, 5)),
    ("Need attention", (3, 3), (2, 3), (1, 5)),
    ("About to sleep", (3, 3), (1, 1), (1, 5)),
    ("Can't lose them", (1, 2), (4, 5), (4, 5)),
    ("At risk", (1, 2), (3, 5), (1, 5)),
    ("Hibernating", (2, 2), (1, 2), (1, 5)),
    ("Lost", (1, 1), (1, 2), (1, 5)),
)
#: The segment of a customer whose scores no rule holds (none with the default rules).
OTHER_SEGMENT = "Other"
#: The columns :func:`rfm_segments` adds.
RFM_COLUMNS = ("r_score", "f_score", "m_score", "rfm_segment")


def _rfm_monetary(names: Sequence[str], monetary: str | None) -> str:
    """The spend column scored: ``monetary``, else ``avg_order_value`` when present (every
    purchase day, the first included), else ``monetary_value`` (repeat purchases only)."""
    if monetary is not None:
        if monetary not in names:
            raise ClvDataError(f"monetary={monetary!r} is not a column of the data ({names}).")
        return monetary
    return "avg_order_value" if "avg_order_value" in names else "monetary_value"


def _quintile_scores(values: np.ndarray) -> np.ndarray:
    """``1 + floor(5 b / n)`` for each value, where ``b`` counts the values strictly below it
    (integers 1-5; equal values share the score of the first of them)."""
    below = np.searchsorted(np.sort(values), values, side="left")
    return 1 + (5 * below) // len(values)


def _segment_names(
    r: np.ndarray, f: np.ndarray, m: np.ndarray, rules: Sequence[tuple[Any, ...]]
) -> np.ndarray:
    names = np.full(len(r), OTHER_SEGMENT, dtype=object)
    open_rows = np.ones(len(r), dtype=bool)
    for name, (r_lo, r_hi), (f_lo, f_hi), (m_lo, m_hi) in rules:
        hit = open_rows & (r >= r_lo) & (r <= r_hi) & (f >= f_lo) & (f <= f_hi)
        hit &= (m >= m_lo) & (m <= m_hi)
        names[hit] = name
        open_rows &= ~hit
    return names


def _segment_expr(rules: Sequence[tuple[Any, ...]]) -> nw.Expr:
    """The segment of a row with columns ``r_score, f_score, m_score``, as an engine expression
    (the rules tried in order)."""
    expr: Any = nw.lit(OTHER_SEGMENT)
    for name, *ranges in reversed(list(rules)):
        hit = nw.lit(True)
        for column, (low, high) in zip(("r_score", "f_score", "m_score"), ranges, strict=True):
            hit = hit & (nw.col(column) >= low) & (nw.col(column) <= high)
        expr = nw.when(hit).then(nw.lit(name)).otherwise(expr)
    return expr


def rfm_segments(
    data: Any,
    *,
    monetary: str | None = None,
    rules: Sequence[tuple[Any, ...]] = RFM_SEGMENT_RULES,
    customer_id_col: str | None = None,
) -> Any:
    """Each customer's recency, frequency and monetary quintile scores and named RFM segment
    (Champions, Loyal customers, ..., Lost), as marketing teams name them.

    **Scores.** Each of three values is scored 1 to 5 over all the customers: a customer's
    score is ``1 + floor(5 b / n)``, where ``n`` is the number of customers and ``b`` the
    number whose value is strictly worse. Without ties that puts a fifth of the customers in
    each score. Customers with equal values share one score, the one of the first of them
    (ties go down): with 60% of customers at 0 repeat purchases, all of them score 1 in
    frequency, and the first score above is that of the customers just past them. The values:

    * recency (R): the time since the customer's last purchase, ``T - recency`` (``recency``
      in clvpredict's summaries is the time from the first purchase to the last, as in the
      probabilistic models), in whole days: the shorter, the higher the score;
    * frequency (F): ``frequency``, the repeat purchases (purchase days after the first);
    * monetary (M): the spend per purchase, ``avg_order_value`` (every purchase day, the
      first included) when the data have it, else ``monetary_value`` (the mean of the repeat
      purchases, 0 without any); or the column named by ``monetary``. Compared to a
      millionth of a currency unit.

    Durations and means are rounded so (``floor(x + 0.5)`` of days and of millionths) before
    they are compared, so that customers with the same history tie whatever the last bits of
    their floating-point ``recency``, ``T`` and means, which differ between engines.

    **Segments.** The first of ``rules`` whose ranges hold the customer's scores names the
    segment (:data:`RFM_SEGMENT_RULES`; ``"Other"`` when none does). The default rules, on
    the scores ``r``, ``f`` and ``m``:

    ======================  =========  =========  =========
    Segment                 r          f          m
    ======================  =========  =========  =========
    Champions               4-5        4-5        4-5
    Loyal customers         3-5        4-5        any
    Potential loyalists     4-5        2-3        any
    New customers           4-5        1          any
    Need attention          3          2-3        any
    About to sleep          3          1          any
    Can't lose them         1-2        4-5        4-5
    At risk                 1-2        3-5        any
    Hibernating             2          1-2        any
    Lost                    1          1-2        any
    ======================  =========  =========  =========

    Every combination of scores falls in one of them.

    Parameters
    ----------
    data : DataFrame or engine frame
        An RFM summary or :func:`~clvpredict.clv_table` (``frequency``, ``recency``, ``T`` and
        a spend column; no missing values): pandas indexed by customer, or a frame of another
        engine with the customer id in a column. An engine finds the scores' edges from exact
        ranks (:mod:`clvpredict.data.ranks`) and scores its rows itself.
    monetary : str, optional
        The spend column to score (default as above).
    rules : sequence
        Segment rules as :data:`RFM_SEGMENT_RULES`.
    customer_id_col : str, optional
        The id column of an engine's frame, when it cannot be told.

    Returns
    -------
    DataFrame or engine frame
        ``r_score``, ``f_score``, ``m_score`` (integers 1-5) and ``rfm_segment``: pandas with
        one row per customer indexed like ``data``; another engine's kind with the id column
        first.

    Examples
    --------
    >>> import pandas as pd
    >>> s = pd.DataFrame({"frequency": [0, 5, 1, 8, 2], "recency": [0.0, 30, 2, 50, 10],
    ...                   "T": [40.0, 31, 52, 51, 45], "monetary_value": [0.0, 20, 9, 70, 15]})
    >>> s.attrs["time_unit"] = "W"
    >>> rfm_segments(s)["rfm_segment"].tolist()
    ['Hibernating', 'Champions', 'Lost', 'Champions', 'Need attention']
    """
    names = (
        list(data.columns)
        if isinstance(data, pd.DataFrame)
        else as_lazy(data).collect_schema().names()
    )
    spend = _rfm_monetary(names, monetary)
    _require(data, ("frequency", "recency", "T", spend), "rfm_segments")
    unit = summary_unit(data)
    if unit is None:
        raise ClvDataError(
            "rfm_segments needs the time unit of recency and T: build the summary with "
            "rfm_summary (or set data.attrs['time_unit'])."
        )
    days = unit_in_days(unit)
    if isinstance(data, pd.DataFrame):
        since = data["T"].to_numpy(dtype=float) - data["recency"].to_numpy(dtype=float)
        values = {
            # Higher scores better: minus the whole days since the last purchase.
            "r_score": -np.floor(since * days + 0.5),
            "f_score": data["frequency"].to_numpy(dtype=float),
            "m_score": np.floor(data[spend].to_numpy(dtype=float) * _MONEY_STEPS + 0.5),
        }
        if any(np.isnan(v).any() for v in values.values()):
            raise ClvDataError("rfm_segments needs frequency, recency, T and spend for everyone.")
        out = pd.DataFrame(index=data.index)
        if len(data):
            for column, value in values.items():
                out[column] = _quintile_scores(value)
        else:
            for column in values:
                out[column] = np.array([], dtype=np.int64)
        out["rfm_segment"] = _segment_names(
            out["r_score"].to_numpy(), out["f_score"].to_numpy(), out["m_score"].to_numpy(), rules
        )
        return out
    ident = id_column(names, customer_id_col, TABLE_COLUMNS, "data")
    scored = _engine_rfm(as_lazy(data), ident, spend, days, rules)
    return to_caller(scored, frame_kind(data) or "pandas")


#: Spend is compared in millionths of a currency unit.
_MONEY_STEPS = 1e6


def _engine_rfm(
    frame: nw.LazyFrame, ident: str, spend: str, days: float, rules: Sequence[tuple[Any, ...]]
) -> nw.LazyFrame:
    """The scores and segments of an engine's rows: each score's four edges (the values at
    ascending positions ``ceil(k n / 5) - 1``, k = 1..4) found exactly, then ``1 + the number
    of edges the value is above``, which is ``1 + floor(5 b / n)`` of the pandas rows."""
    since = nw.col("T").cast(nw.Float64) - nw.col("recency").cast(nw.Float64)
    values = {
        "r_score": -((since * days + 0.5).floor()),
        "f_score": nw.col("frequency").cast(nw.Float64),
        "m_score": (nw.col(spend).cast(nw.Float64) * _MONEY_STEPS + 0.5).floor(),
    }
    keyed = frame.select(ident, *[e.alias(f"_{c}") for c, e in values.items()])
    (n, *gaps) = scalars(
        keyed, nw.len().alias("n"), *[count_true(missing(f"_{c}")).alias(c) for c in values]
    )
    if any(int(g or 0) for g in gaps):
        raise ClvDataError("rfm_segments needs frequency, recency, T and spend for everyone.")
    n = int(n)
    # The ascending positions of the four edges; position p is rank n - 1 - p in rank_keys'
    # order (largest first).
    positions = [math.ceil(k * n / 5) - 1 for k in range(1, 5)] if n else []
    scores = []
    for column in values:
        keys = rank_keys(keyed, f"_{column}", ident, [n - 1 - p for p in sorted(set(positions))])
        score = nw.lit(1, nw.Int64)
        for p in positions:
            score = score + (nw.col(f"_{column}") > keys[n - 1 - p].value).cast(nw.Int64)
        scores.append(score.alias(column))
    scored = keyed.select(ident, *scores)
    return scored.with_columns(_segment_expr(rules).alias("rfm_segment"))


def rfm_segment_table(
    table: Any,
    segments: Any = None,
    *,
    rules: Sequence[tuple[Any, ...]] = RFM_SEGMENT_RULES,
    customer_id_col: str | None = None,
) -> pd.DataFrame:
    """Customers and their predictive CLV by RFM segment.

    Parameters
    ----------
    table : DataFrame or engine frame
        :func:`~clvpredict.clv_table` of the customers (``predictive_clv``, ``p_alive``), as
        in :func:`segment_table`.
    segments : DataFrame or engine frame, optional
        :func:`rfm_segments` of the same customers (e.g. of their summary, whose
        ``avg_order_value`` scores the spend); by default of ``table`` itself (spend scored
        on ``monetary_value``). pandas indexed like ``table``, or of ``table``'s engine with
        the same id column.
    rules : sequence
        The rules the segments were named with: their order is the table's.
    customer_id_col : str, optional
        As in :func:`segment_table`.

    Returns
    -------
    DataFrame
        Indexed by segment, every segment of ``rules`` (and ``"Other"`` when some customer
        is in none): ``n_customers``, ``share_of_customers`` (fraction), ``total_predictive_clv``,
        ``mean_predictive_clv`` (currency), ``share_of_predictive_clv`` (fraction) and
        ``mean_p_alive`` (probability). Totals and means skip missing values; a segment without
        customers has a total of 0 and no means. Always pandas.
    """
    _require(table, ("predictive_clv", "p_alive"), "rfm_segment_table")
    if isinstance(table, pd.DataFrame):
        if segments is None:
            segments = rfm_segments(table, rules=rules)
        if not isinstance(segments, pd.DataFrame) or not segments.index.equals(table.index):
            raise ClvDataError(
                "segments must be the rfm_segments of the table's customers, indexed alike."
            )
        frame = pd.DataFrame(
            {
                "segment": segments["rfm_segment"].to_numpy(),
                "clv": table["predictive_clv"].to_numpy(dtype=float),
                "alive": table["p_alive"].to_numpy(dtype=float),
            }
        )
        present = frame.notna()
        grouped = (
            frame.assign(
                n_clv=present["clv"],
                n_alive=present["alive"],
                clv=frame["clv"].fillna(0.0),
                alive=frame["alive"].fillna(0.0),
            )
            .groupby("segment")
            .agg(
                n=("clv", "size"),
                sum_clv=("clv", "sum"),
                n_clv=("n_clv", "sum"),
                sum_alive=("alive", "sum"),
                n_alive=("n_alive", "sum"),
            )
        )
    else:
        ident = table_id_column(table, customer_id_col)
        if segments is None:
            segments = rfm_segments(table, rules=rules, customer_id_col=ident)
        joined = (
            as_lazy(table)
            .select(ident, "predictive_clv", "p_alive")
            .join(as_lazy(segments).select(ident, "rfm_segment"), on=ident, how="left")
        )
        sums = [e for c in ("predictive_clv", "p_alive") for e in _sum_and_count(c)]
        grouped = to_caller(
            joined.group_by("rfm_segment").agg(nw.len().alias("n"), *sums), "pandas"
        ).set_index("rfm_segment")
        grouped = grouped.rename(
            columns={
                "sum_predictive_clv": "sum_clv",
                "n_predictive_clv": "n_clv",
                "sum_p_alive": "sum_alive",
                "n_p_alive": "n_alive",
            }
        )
    order = [rule[0] for rule in rules]
    if any(name not in order for name in grouped.index):
        order.append(OTHER_SEGMENT)
    grouped = grouped.reindex(order)
    n = grouped["n"].fillna(0).astype(np.int64)
    total = grouped["sum_clv"].fillna(0.0).astype(float)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean_clv = total / grouped["n_clv"].astype(float)
        mean_alive = grouped["sum_alive"].astype(float) / grouped["n_alive"].astype(float)
    customers, value = int(n.sum()), math.fsum(total)
    out = pd.DataFrame(
        {
            "n_customers": n,
            "share_of_customers": n / customers if customers else np.nan,
            "total_predictive_clv": total,
            "mean_predictive_clv": mean_clv,
            "share_of_predictive_clv": total / value if value else np.nan,
            "mean_p_alive": mean_alive,
        }
    )
    out.index.name = "rfm_segment"
    return out

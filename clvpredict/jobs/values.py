"""What the report shows of the customers' CLV table, computed where the table lives.

The report's value part reads one row per customer: tiers, the customers at risk, the top
customers, totals, a scatter plot, a histogram and a concentration curve (the heatmaps read the summary's
frequency quantiles, :mod:`clvpredict.plotting`). Here all
of it is computed once into a :class:`CustomerValues` whose size does not depend on the number of
customers. A pandas table is read in this process, with the numbers the report always printed; a
Spark table (the predictions of ``clvpredict refresh --engine spark``) is read by Spark, and
this process receives only aggregates, the first rows in rank order and a bounded sample: a
hundred million customers never sit in one process.

Every number printed is exact on both (sums to rounding): the tiers and the ranks come from
:mod:`clvpredict.data.ranks`, ties broken by customer id (:mod:`clvpredict.segments`). What is
only drawn is bounded: the scatter plot's sample (a seeded random one, at most
:data:`~clvpredict.plotting.MAX_POINTS` customers) and the concentration curve's points.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import narwhals.stable.v2 as nw
import numpy as np
import pandas as pd

from .. import plotting
from ..clv import ClvTotal, _total_interval, new_customer_clv
from ..data.covariates import _as_text
from ..data.engines import as_lazy, checkpoint, release, scalars, summary_unit, to_caller
from ..data.ranks import hashed_sample, missing, rank_keys
from ..exceptions import ClvDataError
from ..plotting import (
    ClvHistogram,
    ComparisonExtent,
    _sample_positions,
    clv_histogram,
    comparison_extent,
    concentration_points,
)
from ..segments import (
    at_risk_customers,
    linear_quantile,
    quantile_positions,
    rfm_segment_table,
    rfm_segments,
    segment_table,
    table_id_column,
    top_customers,
)

__all__ = [
    "AT_RISK_ROWS",
    "TOP_ROWS",
    "CovariateValues",
    "CustomerValues",
    "covariate_values",
    "customer_values",
]

#: Customers at risk listed in the report (all are counted).
AT_RISK_ROWS = 50
#: Top customers listed in the report.
TOP_ROWS = 20


@dataclass
class CustomerValues:
    """The customers' value as the report shows it; bounded whatever the number of customers.

    Attributes
    ----------
    n_customers : int
        Customers in the table.
    total_predictive_clv, total_simple_clv : float
        Sums over the customers (currency; missing values skipped).
    tiers : DataFrame
        :func:`~clvpredict.segment_table`.
    at_risk : DataFrame
        The first :data:`AT_RISK_ROWS` of :func:`~clvpredict.at_risk_customers`, in rank order,
        indexed by customer.
    n_at_risk : int
        How many customers are at risk.
    top : DataFrame
        The :data:`TOP_ROWS` customers with the highest predictive CLV (every column of the
        table), indexed by customer.
    scatter : DataFrame
        ``simple_clv`` and ``predictive_clv`` of the customers drawn in the scatter plot.
    n_scatter : int
        Customers with both CLVs finite, of whom ``scatter`` is all or a random sample.
    scatter_extent : ComparisonExtent
        What the scatter plot states of all those customers
        (:func:`~clvpredict.plotting.comparison_extent`, with the table's lifetime and horizon).
    concentration : DataFrame
        Points of the predictive CLV concentration curve
        (:func:`~clvpredict.plotting.concentration_points`).
    concentration_marks : dict
        Share of predictive CLV (percent) held by the top 10% and 20% of customers.
    horizon_months : int or None
        The CLV horizon of the table, for the plots' labels.
    """

    n_customers: int
    total_predictive_clv: float
    total_simple_clv: float
    tiers: pd.DataFrame
    at_risk: pd.DataFrame
    n_at_risk: int
    top: pd.DataFrame
    scatter: pd.DataFrame
    n_scatter: int
    scatter_extent: ComparisonExtent
    concentration: pd.DataFrame
    concentration_marks: dict[float, float] = field(default_factory=dict)
    horizon_months: int | None = None
    #: Expected revenue over the table's horizon: the sum of expected purchases times expected
    #: spend per purchase (currency; before margin and discounting; missing values skipped).
    expected_revenue: float = float("nan")
    #: Predictive CLV of all the customers at risk (currency).
    at_risk_value: float = float("nan")
    #: The total predictive CLV with its parameter-uncertainty interval
    #: (:func:`~clvpredict.total_clv_interval`; ``None`` without the spend model).
    total_interval: ClvTotal | None = None
    #: Customers and predictive CLV by RFM segment (:func:`~clvpredict.rfm_segment_table`).
    rfm_table: pd.DataFrame | None = None
    #: Histogram of the predictive CLV across the customers, on log bins
    #: (:func:`~clvpredict.plotting.clv_histogram`), for the distribution plot.
    distribution: ClvHistogram | None = None

    @property
    def best(self) -> Any:
        """The customer with the highest predictive CLV (ties by id)."""
        return self.top.index[0]


def customer_values(
    purchase_model: Any,
    table: Any,
    *,
    lookback: float,
    horizon_months: int | None = None,
    lifetime_years: float | None = None,
    customer_id_col: str | None = None,
    max_points: int | None = None,
    seed: int = 0,
    spend_model: Any = None,
    annual_discount_rate: float = 0.10,
    margin: float = 1.0,
    summary: Any = None,
    time_unit: str | None = None,
    interval_level: float = 0.9,
    n_draws: int = 200,
) -> CustomerValues:
    """Everything the report shows of a CLV table, computed where the table lives.

    Parameters
    ----------
    purchase_model : fitted purchase model
        The model the table was scored with (for the customers at risk).
    table : DataFrame or engine frame
        :func:`~clvpredict.clv_table` of the customers: pandas indexed by customer, or a frame
        of another engine (a Spark DataFrame) with the customer id in a column.
    lookback : float
        The at-risk comparison's lookback, in the model's time unit.
    horizon_months : int, optional
        The table's CLV horizon (read from a pandas table's ``attrs`` when omitted).
    lifetime_years : float, optional
        The lifetime the table's simple CLV was computed with, to put it on the predictive
        CLV's horizon in the scatter plot (read from a pandas table's ``attrs`` when omitted;
        without it the plot draws the simple CLV as it is and says so).
    customer_id_col : str, optional
        The id column of an engine's table, when it cannot be told.
    max_points : int, optional
        Most customers drawn in the scatter plot (default :data:`~clvpredict.plotting.MAX_POINTS`).
    seed : int
        Seed of the scatter plot's sample, of the parameter draws and of the interval's sample.
    spend_model : fitted GammaGammaModel, optional
        The spend model the table was scored with: with it, the total's interval is computed
        (:func:`~clvpredict.total_clv_interval`, ``n_draws`` draws at ``interval_level``,
        the draws evaluated on at most
        :data:`~clvpredict.clv.TOTAL_INTERVAL_CUSTOMERS` customers).
    annual_discount_rate, margin : float
        The table's CLV settings, for the interval.
    summary : DataFrame or engine frame, optional
        The customers' RFM summary (of the same kind, indexed or keyed alike): its
        ``avg_order_value`` scores the RFM segments' spend. The table's ``monetary_value``
        does otherwise.
    time_unit : str, optional
        The unit of the table's ``recency`` and ``T`` when it records none (Spark predictions).
    """
    if max_points is None:
        max_points = plotting.MAX_POINTS
    if isinstance(table, pd.DataFrame):
        values = _pandas_values(
            purchase_model, table, lookback, horizon_months, lifetime_years, max_points, seed
        )
        ident = None
    else:
        values = _engine_values(
            purchase_model,
            table,
            lookback,
            horizon_months,
            lifetime_years,
            max_points,
            seed,
            customer_id_col,
        )
        ident = table_id_column(table, customer_id_col)
    if values.horizon_months is not None and spend_model is not None:
        values.total_interval = _total_interval(
            purchase_model,
            spend_model,
            table,
            horizon=int(values.horizon_months),
            annual_discount_rate=annual_discount_rate,
            margin=margin,
            level=interval_level,
            n_draws=n_draws,
            random_state=seed,
            max_customers=None,
            customer_id_col=ident,
            total=values.total_predictive_clv,
            time_unit=time_unit,
        )
    if summary is not None and isinstance(summary, pd.DataFrame) == (ident is None):
        segments = rfm_segments(summary, customer_id_col=ident)
        values.rfm_table = rfm_segment_table(table, segments, customer_id_col=ident)
    elif summary_unit(table) is not None:
        values.rfm_table = rfm_segment_table(table, customer_id_col=ident)
    return values


def _engine_values(
    purchase_model: Any,
    table: Any,
    lookback: float,
    horizon_months: int | None,
    lifetime_years: float | None,
    max_points: int,
    seed: int,
    customer_id_col: str | None,
) -> CustomerValues:
    """:func:`customer_values` of an engine's table, read by its engine."""
    ident = table_id_column(table, customer_id_col)
    frame = as_lazy(table)
    simple, predictive = nw.col("simple_clv"), nw.col("predictive_clv")
    finite = simple.is_finite() & predictive.is_finite()

    def present_sum(column: str) -> nw.Expr:
        return nw.when(~missing(column)).then(nw.col(column)).otherwise(0.0).sum()

    purchases, spend = nw.col("expected_purchases"), nw.col("expected_avg_value")
    revenue = nw.when(~missing("expected_purchases") & ~missing("expected_avg_value"))
    row = scalars(
        frame,
        nw.len().alias("n"),
        revenue.then(purchases * spend).otherwise(0.0).sum().alias("revenue"),
        present_sum("predictive_clv").alias("total_predictive"),
        present_sum("simple_clv").alias("total_simple"),
    )
    n, revenue_total, total_predictive, total_simple = row
    extent = comparison_extent(table, lifetime_years=lifetime_years, horizon_months=horizon_months)
    at_risk = at_risk_customers(purchase_model, table, lookback=lookback, customer_id_col=ident)
    n_at_risk, at_risk_value = scalars(
        as_lazy(at_risk), nw.len().alias("n"), present_sum("predictive_clv").alias("value")
    )
    scatter = hashed_sample(
        frame.filter(finite), max_points, ident, ["simple_clv", "predictive_clv"], seed=seed
    )
    curve, marks, _ = concentration_points(table, customer_id_col=ident)
    distribution = clv_histogram(table, horizon_months=horizon_months, customer_id_col=ident)
    return CustomerValues(
        n_customers=int(n),
        total_predictive_clv=float(total_predictive or 0.0),
        total_simple_clv=float(total_simple or 0.0),
        tiers=segment_table(table, customer_id_col=ident),
        at_risk=top_customers(at_risk, AT_RISK_ROWS, customer_id_col=ident),
        n_at_risk=int(n_at_risk),
        top=top_customers(table, TOP_ROWS, customer_id_col=ident),
        scatter=scatter,
        n_scatter=extent.n_customers,
        scatter_extent=extent,
        concentration=curve,
        concentration_marks=marks,
        horizon_months=horizon_months,
        expected_revenue=float(revenue_total or 0.0),
        at_risk_value=float(at_risk_value or 0.0),
        distribution=distribution,
    )


def _pandas_values(
    purchase_model: Any,
    table: pd.DataFrame,
    lookback: float,
    horizon_months: int | None,
    lifetime_years: float | None,
    max_points: int,
    seed: int,
) -> CustomerValues:
    """The same from a pandas table, in this process: the numbers the report always printed."""
    at_risk = at_risk_customers(purchase_model, table, lookback=lookback)
    both = table[["simple_clv", "predictive_clv"]]
    finite = np.isfinite(both.to_numpy(dtype=float)).all(axis=1)
    kept = both[finite]
    shown = _sample_positions(len(kept), max_points, seed)
    curve, marks, _ = concentration_points(table["predictive_clv"])
    if horizon_months is None:
        horizon_months = table.attrs.get("horizon_months")
    extent = comparison_extent(table, lifetime_years=lifetime_years, horizon_months=horizon_months)
    return CustomerValues(
        n_customers=len(table),
        total_predictive_clv=float(table["predictive_clv"].sum()),
        total_simple_clv=float(table["simple_clv"].sum()),
        tiers=segment_table(table),
        at_risk=at_risk.head(AT_RISK_ROWS),
        n_at_risk=len(at_risk),
        top=top_customers(table, TOP_ROWS),
        scatter=kept if shown is None else kept.iloc[shown],
        n_scatter=len(kept),
        scatter_extent=extent,
        concentration=curve,
        concentration_marks=marks,
        horizon_months=horizon_months,
        expected_revenue=float((table["expected_purchases"] * table["expected_avg_value"]).sum()),
        at_risk_value=float(at_risk["predictive_clv"].sum()),
        distribution=clv_histogram(table, horizon_months=horizon_months),
    )


# --------------------------------------------------------------------------------------------
# Value by covariate (models with customer covariates)
# --------------------------------------------------------------------------------------------

#: Bins of a numeric covariate in the value-by-covariate table (quintiles); a numeric column
#: with at most this many distinct values gets one row per value instead.
COVARIATE_BINS = 5

#: The value-by-covariate tables value every distinct covariate profile of the customers as a
#: new customer when there are at most this many (all profiles at once: about 0.1 ms each for a
#: BG/NBD, less for a Pareto/NBD); with more (a continuous covariate among hundreds of
#: thousands of customers, or an engine's millions), each row's typical new customer averages
#: :data:`NEW_CUSTOMER_SAMPLE` of its customers instead, spread evenly through the summary's
#: order, and the report says so.
NEW_CUSTOMER_PROFILES = 100_000
#: Customers per row valued as new customers when the profiles are too many to value them all.
NEW_CUSTOMER_SAMPLE = 2_000


@dataclass
class CovariateValues:
    """What the report shows of a purchase model with customer covariates.

    Attributes
    ----------
    tables : dict of str to DataFrame
        One table per covariate column, one row per level (categorical) or per bin (numeric),
        indexed by ``level``: ``n_customers``, ``mean_p_alive``, ``mean_expected_purchases``,
        ``mean_predictive_clv``, ``total_predictive_clv`` of the customers in it, and
        ``new_customer_purchases`` / ``new_customer_clv``: the row's *typical new customer*,
        the mean over the row's customers of the expected repeat purchases and the CLV over
        the horizon of a customer acquired today with that customer's covariates (all of them,
        as they are; :func:`~clvpredict.new_customer_clv`). It is what the next customers of
        the level are worth if they resemble the level's customers so far; the level's own
        effect, the other covariates equal, is in ``coefficients``.
    notes : dict of str to str
        Per column, how its rows were made (reference level; bins and their edges; a sample
        of the customers for the new-customer values, if one was taken).
    baseline : dict
        One profile for the figures that need a single customer (the heatmaps): each
        categorical's reference level, each numeric's median value among the customers (a
        value some customer has: a 0/1 flag stays 0 or 1).
    likelihood_ratio : Series or None
        The likelihood-ratio test against the model without covariates
        (``likelihood_ratio_test()``), or None when the fit is penalised (``lr_note`` says so).
    coefficients : DataFrame
        Each covariate coefficient: ``estimate``, ``std_error``, the interval, and the factor
        ``e^coef`` (with its interval) by which it multiplies what it acts on (``acts_on``).
    lr_note : str
        Why there is no likelihood-ratio test, if there is none.
    """

    tables: dict[str, pd.DataFrame]
    notes: dict[str, str]
    baseline: dict[str, Any]
    likelihood_ratio: pd.Series | None
    coefficients: pd.DataFrame
    lr_note: str = ""


def _typical_new_customers(
    purchase_model: Any,
    spend_model: Any,
    profiles: pd.DataFrame,
    groups: dict[str, pd.Series],
    *,
    horizon_months: int,
    annual_discount_rate: float,
    margin: float,
) -> tuple[dict[str, pd.DataFrame], int | None]:
    """The typical new customer of each row of the value-by-covariate tables.

    ``profiles`` holds the customers' covariates (one row per customer), ``groups`` each
    table's row key of every customer. Each customer is valued as a new customer with their own
    covariates (:func:`~clvpredict.new_customer_clv`, once per distinct profile), and the values
    are averaged over the customers of each row. With more than :data:`NEW_CUSTOMER_PROFILES`
    distinct profiles, each row averages :data:`NEW_CUSTOMER_SAMPLE` of its customers (all
    of them in a smaller row): a systematic sample, the row's customers at evenly spaced
    positions of the summary's order (the first and the last among them), so that the same
    summary always gives the same values.

    Returns
    -------
    (tables, sampled)
        Per column, ``expected_purchases`` and ``new_customer_clv`` indexed by row key; and
        the number of distinct profiles when a sample was taken, else None.
    """
    n = len(profiles)
    distinct = len(profiles.drop_duplicates())
    chosen: dict[str, np.ndarray] = {}
    if distinct <= NEW_CUSTOMER_PROFILES:
        chosen = {name: np.arange(n) for name in groups}
        sampled = None
    else:
        for name, keys in groups.items():
            parts = []
            for positions in pd.Series(np.arange(n)).groupby(keys.to_numpy()).groups.values():
                positions = np.sort(np.asarray(positions))
                parts.append(positions[_sampled_positions(len(positions))])
            chosen[name] = np.sort(np.concatenate(parts))
        sampled = distinct
    valued = np.unique(np.concatenate(list(chosen.values())))
    new = new_customer_clv(
        purchase_model,
        spend_model,
        horizon_months,
        annual_discount_rate,
        margin,
        covariates=profiles.iloc[valued],
        allow_unconverged=True,
    )
    per_customer = np.full((n, 2), np.nan)
    per_customer[valued] = new[["expected_purchases", "new_customer_clv"]].to_numpy(dtype=float)
    frame = pd.DataFrame(per_customer, columns=["expected_purchases", "new_customer_clv"])
    tables = {
        name: frame.iloc[chosen[name]].groupby(groups[name].to_numpy()[chosen[name]]).mean()
        for name in groups
    }
    return tables, sampled


def _sampled_positions(count: int) -> np.ndarray:
    """Which of a row's ``count`` customers (0-based positions in the summary's order) value
    its typical new customer when the profiles are sampled: all of them, or
    :data:`NEW_CUSTOMER_SAMPLE` evenly spaced from the first to the last. One rule for the
    pandas path and the engines', so that both pick the same customers."""
    if count <= NEW_CUSTOMER_SAMPLE:
        return np.arange(count)
    return np.round(np.linspace(0, count - 1, NEW_CUSTOMER_SAMPLE)).astype(np.int64)


#: The table's columns that the value-by-covariate rows count, average and sum.
_LEVEL_COLUMNS = ("p_alive", "expected_purchases", "predictive_clv")


@dataclass
class _Rows:
    """One covariate's rows in its value table: their keys in ``order`` (a level, a value or
    a bin's number), each key's label, and a note on how the rows were made."""

    order: list[Any]
    labels: dict[Any, str]
    note: str


def _categorical_rows(column: Any) -> _Rows:
    """A categorical covariate's rows: one per level, in the design's order."""
    order = list(column.levels)
    labels = {
        level: f"{level} (reference)" if level == column.reference else level for level in order
    }
    return _Rows(
        order, labels, f"one row per level; the model's reference level is {column.reference!r}"
    )


def _value_rows(distinct: np.ndarray) -> _Rows:
    """A numeric covariate's rows when it takes few values: one per value, in order."""
    order = list(distinct)
    return _Rows(order, {v: f"{v:g}" for v in order}, "numeric: one row per value")


def _bin_rows(bins: np.ndarray) -> _Rows:
    """A numeric covariate's rows by quantile bin (edges ``bins``), labelled as pandas'
    ``qcut`` labels its bins."""
    edges = pd.cut(bins, bins, include_lowest=True).categories
    labels = {k: f"Q{k + 1}: {edge.left:.4g} to {edge.right:.4g}" for k, edge in enumerate(edges)}
    shown = ", ".join(f"{e:.4g}" for e in [edges[0].left, *(e.right for e in edges)])
    note = (
        f"numeric: {len(edges)} quantile bins of the customers (edges {shown}; each bin holds "
        "its upper edge)"
    )
    return _Rows(list(range(len(edges))), labels, note)


def _quantile_bins(n: int, order_statistics: Callable[[np.ndarray], np.ndarray]) -> np.ndarray:
    """The distinct edges of :data:`COVARIATE_BINS` quantile bins of ``n`` values (n >= 2).

    As pandas' ``qcut`` puts them: numpy's linear quantiles at 0, 1/5, ..., 1 (a level not
    exact in binary rounded up), from the two order statistics around each
    (``order_statistics(positions)``: the values at those 0-based positions of the values in
    ascending order), interpolated as :func:`~clvpredict.segments.linear_quantile` does. One
    definition for a pandas table and an engine's, which knows its values only by such
    queries.
    """
    levels = np.linspace(0.0, 1.0, COVARIATE_BINS + 1)
    inexact = COVARIATE_BINS * levels != np.arange(COVARIATE_BINS + 1)
    levels[inexact] = np.nextafter(levels[inexact], 1.0)
    around = [quantile_positions(n, float(q)) for q in levels]
    positions = np.array(sorted({p for pair in around for p in pair}), dtype=np.int64)
    found = dict(zip(positions.tolist(), order_statistics(positions), strict=True))
    edges = [
        linear_quantile(found[low], found[high], n, float(q))
        for (low, high), q in zip(around, levels, strict=True)
    ]
    return np.unique(edges)


def _pandas_tables(
    purchase_model: Any,
    spend_model: Any,
    table: pd.DataFrame,
    summary: pd.DataFrame,
    design: Any,
    settings: dict[str, Any],
) -> tuple[dict, dict, dict, dict, int | None]:
    """:func:`covariate_values`' parts from a pandas table and summary: the baseline, and per
    covariate its rows, their stats and their typical new customers; and the number of
    distinct profiles when the new customers were sampled."""
    baseline: dict[str, Any] = {}
    rows_of: dict[str, _Rows] = {}
    keys_of: dict[str, pd.Series] = {}
    for name in design.columns:
        column = design.column(name)
        values = summary[name]
        if column.kind == "categorical":
            baseline[name] = column.reference
            keys, rows_of[name] = _as_text(values, name), _categorical_rows(column)
        else:
            numbers = values.to_numpy(dtype=float)
            baseline[name] = float(np.quantile(numbers, 0.5, method="lower"))
            distinct = np.unique(numbers)
            if len(distinct) <= COVARIATE_BINS:
                keys, rows_of[name] = numbers, _value_rows(distinct)
            else:
                ordered = np.sort(numbers)
                bins = _quantile_bins(len(numbers), ordered.__getitem__)
                # The bin of a value: the number of inner edges below it (qcut's codes).
                keys = np.searchsorted(bins[1:-1], numbers, side="left")
                rows_of[name] = _bin_rows(bins)
        keys_of[name] = pd.Series(keys, index=summary.index)
    stats_of = {}
    for name, keys in keys_of.items():
        grouped = table[list(_LEVEL_COLUMNS)].groupby(keys.to_numpy(), sort=False)
        stats = grouped.agg(["count", "mean", "sum"])
        stats_of[name] = pd.DataFrame(
            {
                "n": stats[("p_alive", "count")],
                **{f"mean_{c}": stats[(c, "mean")] for c in _LEVEL_COLUMNS},
                "total_predictive_clv": stats[("predictive_clv", "sum")],
            }
        )
    typical, sampled = _typical_new_customers(
        purchase_model, spend_model, summary[list(design.columns)], keys_of, **settings
    )
    return baseline, rows_of, stats_of, typical, sampled


def _engine_tables(
    purchase_model: Any,
    spend_model: Any,
    table: Any,
    summary: Any,
    design: Any,
    customer_id_col: str | None,
    settings: dict[str, Any],
) -> tuple[dict, dict, dict, dict, int | None]:
    """:func:`_pandas_tables` of an engine's table and summary, computed by the engine.

    The two are joined there once on the id (cached on Spark until done). This process
    receives aggregates: one row per level or bin of each covariate, the exact order statistics
    of a numeric one's bin edges and median (:func:`~clvpredict.data.ranks.rank_keys`), and
    the distinct covariate profiles with their counts when they are at most
    :data:`NEW_CUSTOMER_PROFILES`, else the sampled customers' profiles (at most
    :data:`NEW_CUSTOMER_SAMPLE` per row), picked by their position in id order within the row:
    a summary from :func:`~clvpredict.rfm_summary` is in id order, so the pandas path picks the
    same customers.
    """
    columns = list(design.columns)
    ident = table_id_column(table, customer_id_col)
    values = as_lazy(table).select(ident, *_LEVEL_COLUMNS)
    frame = checkpoint(values.join(as_lazy(summary).select(ident, *columns), on=ident))
    try:
        (n,) = scalars(frame, nw.len())
        baseline: dict[str, Any] = {}
        rows_of: dict[str, _Rows] = {}
        keys: dict[str, tuple[nw.Expr, Callable[[pd.Series], np.ndarray]]] = {}
        for name in columns:
            column = design.column(name)
            if column.kind == "categorical":
                baseline[name] = column.reference
                rows_of[name] = _categorical_rows(column)
                keys[name] = (nw.col(name), lambda s, name=name: _as_text(s, name))
                continue

            def order_statistics(positions: np.ndarray, name: str = name) -> np.ndarray:
                # Rank 0 is the largest value: position p from the smallest is rank n - 1 - p.
                found = rank_keys(frame, name, ident, [int(n - 1 - p) for p in positions])
                return np.array([found[int(n - 1 - p)].value for p in positions], dtype=float)

            # np.quantile(..., 0.5, method="lower") is the value at position floor((n-1)/2).
            baseline[name] = float(order_statistics(np.array([(n - 1) // 2]))[0])
            (distinct,) = scalars(frame, nw.col(name).n_unique())
            if distinct <= COVARIATE_BINS:
                keys[name] = (nw.col(name), lambda s: s.to_numpy(dtype=float))
                rows_of[name] = _Rows([], {}, "")  # the values are known from the group-by
                continue
            bins = _quantile_bins(int(n), order_statistics)
            inner = (nw.col(name) > float(edge) for edge in bins[1:-1])
            code = nw.sum_horizontal(*(below.cast(nw.Int64) for below in inner))
            keys[name] = (code, lambda s: s.to_numpy(dtype=np.int64))
            rows_of[name] = _bin_rows(bins)
        stats_of, counts_of = {}, {}
        for name, (key, convert) in keys.items():
            sums = _engine_sums(frame, key)
            counts_of[name] = sums["count_p_alive"]  # by the engine's key
            sums.index = convert(pd.Series(sums.index))
            # Keys the engine tells apart but this process does not (none in a typed column).
            sums = sums.groupby(level=0, sort=False).sum()
            stats_of[name] = pd.DataFrame(
                {
                    "n": sums["count_p_alive"],
                    **{f"mean_{c}": sums[f"sum_{c}"] / sums[f"count_{c}"] for c in _LEVEL_COLUMNS},
                    "total_predictive_clv": sums["sum_predictive_clv"],
                }
            )
            if not rows_of[name].order:
                rows_of[name] = _value_rows(np.sort(stats_of[name].index.to_numpy()))
        typical, sampled = _engine_typical(
            purchase_model, spend_model, frame, ident, keys, counts_of, settings
        )
    finally:
        release(frame)
    return baseline, rows_of, stats_of, typical, sampled


def _engine_sums(frame: nw.LazyFrame, key: nw.Expr) -> pd.DataFrame:
    """Counts and sums of the table's columns by ``key``, run by the engine (one row per key
    comes back), indexed by the engine's key."""
    aggregates = [
        part
        for column in _LEVEL_COLUMNS
        for part in (
            nw.col(column).count().alias(f"count_{column}"),
            nw.col(column).sum().alias(f"sum_{column}"),
        )
    ]
    grouped = frame.with_columns(key.alias("_key")).group_by("_key").agg(*aggregates)
    return to_caller(grouped, "pandas").set_index("_key")


def _engine_typical(
    purchase_model: Any,
    spend_model: Any,
    frame: nw.LazyFrame,
    ident: str,
    keys: dict[str, tuple[nw.Expr, Callable[[pd.Series], np.ndarray]]],
    counts_of: dict[str, pd.Series],
    settings: dict[str, Any],
) -> tuple[dict[str, pd.DataFrame], int | None]:
    """:func:`_typical_new_customers` of an engine's customers (``frame``, each row's
    ``keys`` an engine expression and how to read its values here; ``counts_of`` the rows'
    customers by the engine's key)."""
    columns = list(keys)
    named = {name: f"_key{i}" for i, name in enumerate(columns)}
    keyed = frame.with_columns(*(keys[name][0].alias(named[name]) for name in columns))
    (distinct,) = scalars(frame.select(*columns).unique(), nw.len())
    valued = ["expected_purchases", "new_customer_clv"]

    def value(profiles: pd.DataFrame) -> pd.DataFrame:
        new = new_customer_clv(
            purchase_model,
            spend_model,
            **settings,
            covariates=profiles[columns].reset_index(drop=True),
            allow_unconverged=True,
        )
        return pd.DataFrame(new[valued].to_numpy(dtype=float), columns=valued)

    if distinct <= NEW_CUSTOMER_PROFILES:
        # Every customer is valued by their profile: the mean over a row's customers is the
        # mean over its profiles weighted by their customers.
        grouped = keyed.group_by(*columns, *named.values()).agg(nw.len().alias("_customers"))
        profiles = to_caller(grouped, "pandas")
        weights = profiles["_customers"].to_numpy(dtype=float)
        weighted = value(profiles).mul(weights, axis=0)
        tables = {}
        for name in columns:
            rows = keys[name][1](profiles[named[name]])
            tables[name] = (
                weighted.groupby(rows).sum().div(pd.Series(weights).groupby(rows).sum(), axis=0)
            )
        return tables, None
    samples = {}
    for name in columns:
        key = named[name]
        # Each row's customers at evenly spaced positions (1 = first) of their id order.
        wanted = None
        for engine_key, count in counts_of[name].items():
            positions = (_sampled_positions(int(count)) + 1).tolist()
            literal = engine_key.item() if hasattr(engine_key, "item") else engine_key
            picked = (nw.col(key) == literal) & nw.col("_position").is_in(positions)
            wanted = picked if wanted is None else wanted | picked
        # A window over each row: on Spark a row's customers are sorted in one task (spilling
        # to disk when they are many), a few rows of a covariate make few, large tasks.
        position = nw.col(ident).rank(method="ordinal").over(key).alias("_position")
        chosen = keyed.with_columns(position).filter(wanted).select(ident, *columns, key)
        samples[name] = to_caller(chosen, "pandas")
    everyone = pd.concat([s[[ident, *columns]] for s in samples.values()])
    everyone = everyone.drop_duplicates(subset=ident).reset_index(drop=True)
    new = value(everyone).set_index(everyone[ident])
    tables = {
        name: new.loc[sample[ident].to_numpy()]
        .reset_index(drop=True)
        .groupby(keys[name][1](sample[named[name]]))
        .mean()
        for name, sample in samples.items()
    }
    return tables, int(distinct)


def _acts_on(kind: str, name: str) -> str:
    """What a coefficient multiplies by ``e^coef``, in plain words (see
    :mod:`clvpredict.models._covariate_math` for the parameterisation)."""
    process = name.split(".", 1)[0]
    purchase = "purchase rate (its population mean)"
    if kind == "paretonbd":
        dropout = "dropout rate (its population mean)"
    else:
        # a and b of the Beta both scale: the mean dropout chance a/(a+b) stays, its spread
        # across customers narrows (coef > 0) or widens.
        dropout = "a and b of the dropout chance's Beta (mean unchanged; spread narrower if > 1)"
    return {"purchase": purchase, "dropout": dropout, "shared": f"{purchase}; {dropout}"}[process]


def covariate_values(
    purchase_model: Any,
    spend_model: Any,
    table: Any,
    summary: Any,
    *,
    horizon_months: int,
    annual_discount_rate: float,
    margin: float,
    customer_id_col: str | None = None,
) -> CovariateValues:
    """The value-by-covariate tables, the likelihood-ratio test and the coefficients of a
    purchase model fitted with covariates.

    Parameters
    ----------
    purchase_model : fitted purchase model with covariates
    spend_model : fitted GammaGammaModel
        Its population mean spend per purchase prices the new customers' purchases.
    table : DataFrame or engine frame
        The customers' :func:`~clvpredict.clv_table`: pandas indexed by customer, or a frame of
        another engine with the customer id in a column (the Spark predictions of
        ``clvpredict refresh --engine spark``), which that engine then reads
        (:func:`_engine_tables`: what comes to this process is bounded).
    summary : DataFrame or engine frame
        Their summary with the covariate columns (the one ``table`` was scored from), of the
        same kind as ``table``.
    horizon_months, annual_discount_rate, margin
        The CLV settings of ``table``: a new customer's CLV is ``margin x mean spend x`` their
        expected repeat purchases month by month over the horizon, each month discounted as in
        the predictive CLV (``(1 + rate)^(-m/12)`` at the end of month ``m``).
    customer_id_col : str, optional
        The id column of an engine's table, when it cannot be told.
    """
    design = purchase_model.covariate_design_
    columns = list(design.columns)
    settings = dict(
        horizon_months=horizon_months, annual_discount_rate=annual_discount_rate, margin=margin
    )
    if isinstance(table, pd.DataFrame):
        if not table.index.equals(summary.index):
            raise ValueError("table and summary must hold the same customers in the same order")
        parts = _pandas_tables(purchase_model, spend_model, table, summary, design, settings)
    else:
        parts = _engine_tables(
            purchase_model, spend_model, table, summary, design, customer_id_col, settings
        )
    baseline, rows_of, stats_of, typical, sampled = parts

    tables, notes = {}, {}
    for name in columns:
        rows, stats, new = rows_of[name], stats_of[name], typical[name]
        notes[name] = rows.note
        if sampled is not None:
            notes[name] += (
                f"; the customers have {sampled:,} distinct covariate profiles, so each row's "
                f"typical new customer averages {NEW_CUSTOMER_SAMPLE:,} of its customers, spread "
                "evenly through the customers' order (all of them in a smaller row)"
            )
        tables[name] = pd.DataFrame(
            [
                {
                    "level": rows.labels[key],
                    "n_customers": int(stats.loc[key, "n"]),
                    "mean_p_alive": float(stats.loc[key, "mean_p_alive"]),
                    "mean_expected_purchases": float(stats.loc[key, "mean_expected_purchases"]),
                    "mean_predictive_clv": float(stats.loc[key, "mean_predictive_clv"]),
                    "total_predictive_clv": float(stats.loc[key, "total_predictive_clv"]),
                    "new_customer_purchases": float(new.loc[key, "expected_purchases"]),
                    "new_customer_clv": float(new.loc[key, "new_customer_clv"]),
                }
                for key in rows.order
                if key in stats.index
            ]
        ).set_index("level")

    lr, lr_note = None, ""
    try:
        lr = purchase_model.likelihood_ratio_test()
    except ClvDataError as exc:  # a penalised fit: not maximum likelihood
        lr_note = str(exc)
    summary_table = purchase_model.summary()
    names = [n for n in summary_table.index if "." in str(n)]
    coefficients = summary_table.loc[names].copy()
    lower, upper = coefficients.columns[2], coefficients.columns[3]
    coefficients["factor"] = np.exp(coefficients["estimate"])
    coefficients["factor_lower"] = np.exp(coefficients[lower])
    coefficients["factor_upper"] = np.exp(coefficients[upper])
    coefficients["acts_on"] = [_acts_on(purchase_model.kind, str(n)) for n in names]
    coefficients.attrs["interval_columns"] = (lower, upper)
    return CovariateValues(tables, notes, baseline, lr, coefficients, lr_note)

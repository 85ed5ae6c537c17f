"""Diagnostic plots of fitted models (matplotlib).

Every function takes ``ax=None`` and returns the :class:`~matplotlib.axes.Axes` it drew on; none
calls ``plt.show()``. Without ``ax`` a plot draws on pyplot's current axes (a new figure when
there is none), as pandas and seaborn do, so that it shows in Jupyter and ``plt.show()`` shows
it; inside :func:`standalone_figures` it draws on a new standalone
:class:`matplotlib.figure.Figure` instead, not registered with pyplot, so that reporting jobs can
draw many plots without leaking figures or opening windows (save one with
``ax.figure.savefig("plot.png")``).

The numbers behind each plot come from :mod:`clvpredict.evaluation`, so they can be saved as
tables next to the figures. matplotlib is imported only when a plot is drawn.

Drawing costs the same at any number of customers: the plots show aggregates (binned means,
counts, histograms, model grids), the value concentration curve is read at most at
:data:`MAX_CURVE_POINTS` shares of customers, and the per-customer scatter plot draws a seeded
random sample of at most :data:`MAX_POINTS` customers, said in its legend. Whatever a plot
states as a number (axis limits, counts, shares) is computed over all customers, but for one:
the scatter plot of a table held by another engine gives the rank correlation of its sample,
and says so (ranks of all customers would take a sort of all of them).
"""

from __future__ import annotations

import contextlib
import contextvars
import math
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

import narwhals.stable.v2 as nw
import numpy as np
import pandas as pd
from scipy.stats import rankdata

from . import _lifetimes_habits
from ._units import (
    DAYS_PER_UNIT,
    UNIT_NAMES,
    check_currency,
    duration_phrase,
    money_unit,
    next_phrase,
)
from ._validation import model_time_unit
from .data.engines import as_lazy, count_true, is_engine_frame, scalars, to_caller
from .data.ranks import rank_keys, ranked_before
from .evaluation import (
    HoldoutEvaluation,
    _discrete,
    _pearson,
    _profile_text,
    frequency_recency_matrix,
    mean_spend_density,
    model_label,
    period_transactions,
    probability_alive_history,
    value_concentration,
)
from .exceptions import ClvDataError
from .models._base import frequency_quantiles
from .segments import linear_quantile, quantile_positions, table_id_column

if TYPE_CHECKING:
    from matplotlib.axes import Axes

__all__ = [
    "CURVE_BUCKETS",
    "MAX_CURVE_POINTS",
    "MAX_POINTS",
    "ClvHistogram",
    "ComparisonExtent",
    "clv_histogram",
    "comparison_extent",
    "concentration_points",
    "period_name",
    "plot_calibration_vs_holdout",
    "plot_clv_comparison",
    "plot_clv_distribution",
    "plot_concentration_curve",
    "plot_cumulative_transactions",
    "plot_expected_purchases_heatmap",
    "plot_incremental_transactions",
    "plot_period_transactions",
    "plot_probability_alive_heatmap",
    "plot_probability_alive_history",
    "plot_spend_distribution",
    "plot_value_concentration",
    "spend_histogram",
]

_ACTUAL = "#1f4e79"
_MODEL = "#d9822b"

#: Most customers a scatter plot draws; more are drawn as a seeded random sample of this size.
MAX_POINTS = 5_000
#: Most points of a curve with one step per customer; longer curves are read at this many
#: evenly spaced shares of customers (a figure has far fewer pixels).
MAX_CURVE_POINTS = 10_000


def __getattr__(name: str) -> Any:
    """Module attributes not found: lifetimes' plotting functions get a pointer to ours."""
    if name in _lifetimes_habits.PLOTTING_NAMES:
        raise AttributeError(_lifetimes_habits.plotting_message(name), name=name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}", name=name)


#: Set by :func:`standalone_figures`: plots without ``ax`` get a Figure of their own.
_STANDALONE: contextvars.ContextVar[bool] = contextvars.ContextVar("standalone", default=False)


@contextlib.contextmanager
def standalone_figures() -> Iterator[None]:
    """Within this block, a plot called without ``ax`` draws on a new standalone matplotlib
    Figure (no pyplot), which never shows in a notebook or a window nor changes pyplot's
    current figure: for code that saves figures itself, such as the HTML report.

    Examples
    --------
    >>> import clvpredict as cp
    >>> bg = cp.BetaGeoModel().fit(cp.datasets.load_cdnow_summary())
    >>> import matplotlib.pyplot as plt
    >>> before = plt.get_fignums()
    >>> with cp.plotting.standalone_figures():
    ...     ax = cp.plotting.plot_probability_alive_heatmap(bg)
    >>> plt.get_fignums() == before
    True
    """
    token = _STANDALONE.set(True)
    try:
        yield
    finally:
        _STANDALONE.reset(token)


def _axes(ax: Axes | None, figsize: tuple[float, float] = (8.0, 5.0)) -> Axes:
    """The axes to draw on: ``ax``; else pyplot's current axes, as pandas and seaborn do, so
    that a plot shows in Jupyter and ``plt.show()`` shows it (a new figure of ``figsize`` when
    there is none); inside :func:`standalone_figures`, a new standalone Figure."""
    if ax is not None:
        return ax
    if _STANDALONE.get():
        from matplotlib.figure import Figure

        return Figure(figsize=figsize, layout="constrained").add_subplot()
    import matplotlib.pyplot as plt

    if not plt.get_fignums():
        plt.figure(figsize=figsize, layout="constrained")
    return plt.gca()


def _check_max_points(max_points: Any, name: str = "max_points") -> int | None:
    if max_points is None:
        return None
    if isinstance(max_points, bool) or not isinstance(max_points, (int, np.integer)):
        raise ClvDataError(f"{name}={max_points!r} must be a whole number >= 1, or None for all.")
    if max_points < 1:
        raise ClvDataError(f"{name}={max_points!r} must be >= 1, or None for all.")
    return int(max_points)


def _sample_positions(n: int, max_points: int | None, random_state: Any = 0) -> np.ndarray | None:
    """Positions (ascending) of a uniform random sample of ``max_points`` of ``n`` items, drawn
    without replacement with ``numpy.random.default_rng(random_state)``; ``None`` when all ``n``
    are to be drawn (``n <= max_points`` or ``max_points=None``)."""
    max_points = _check_max_points(max_points)
    if max_points is None or n <= max_points:
        return None
    rng = np.random.default_rng(random_state)
    return np.sort(rng.choice(n, size=max_points, replace=False))


def _sample_note(n: int, max_points: int | None, what: str = "customers") -> str:
    """How a plot of ``n`` items capped at ``max_points`` names what it shows: "all 2,357
    customers" or "a random 5,000 of 1,000,000 customers"."""
    max_points = _check_max_points(max_points)
    if max_points is None or n <= max_points:
        return f"all {n:,} {what}"
    return f"a random {max_points:,} of {n:,} {what}"


def _unit_name(unit: str | None) -> str:
    return UNIT_NAMES.get(unit or "", unit or "time units")


def period_name(period_days: float | None) -> str:
    """How a tracking period of ``period_days`` days reads in titles: "week", "month",
    "2-week period"..."""
    if period_days == DAYS_PER_UNIT["Y"]:
        return "year"
    if period_days == DAYS_PER_UNIT["M"]:
        return "month"
    if period_days == 7:
        return "week"
    if period_days == 1:
        return "day"
    if period_days and period_days % 7 == 0:
        return f"{period_days // 7}-week period"
    return f"{period_days}-day period" if period_days else "period"


def _date_axis(ax: Axes) -> None:
    import matplotlib.dates as mdates

    locator = mdates.AutoDateLocator(minticks=4, maxticks=10)
    ax.xaxis.set_major_locator(locator)
    ax.xaxis.set_major_formatter(mdates.ConciseDateFormatter(locator))


# ------------------------------------------------------------------------------------------
# 1. Calibration vs holdout
# ------------------------------------------------------------------------------------------


def plot_calibration_vs_holdout(
    evaluation: HoldoutEvaluation,
    by: Literal["frequency", "recency"] = "frequency",
    *,
    ax: Axes | None = None,
) -> Axes:
    """Mean actual vs predicted holdout purchases per customer, by calibration frequency or recency.

    The points are exactly ``evaluation.by_frequency`` (or ``by_recency``) ``mean_actual`` and
    ``mean_predicted``; tick labels show the number of customers in each bin. Empty bins are gaps.

    Each actual mean has an error bar: the 95% interval ``mean_actual ± 1.96 se`` of the bin's
    mean holdout purchases per customer (purchase days), with the standard error
    ``se = sd_actual / sqrt(n_customers)`` from the bin's sample standard deviation (a normal
    approximation, which is good for bins of a few dozen customers or more). A bin of 19
    customers thus shows a long bar and one of 1,411 a short one. A bin of one customer has no
    standard deviation to estimate and gets no bar; the legend says so when there is one. The
    y-axis starts at 0, so a bar reaching below 0 (few customers buying rarely) is cut there.

    Parameters
    ----------
    evaluation : HoldoutEvaluation
        From :func:`~clvpredict.evaluation.evaluate_holdout`.
    by : {"frequency", "recency"}
        Group customers by calibration frequency (0 .. 6, 7+ repeat purchases) or recency bins
        (model time unit).
    ax : matplotlib Axes, optional
        Where to draw; a new figure by default.

    Returns
    -------
    matplotlib Axes

    Examples
    --------
    >>> import clvpredict as cp
    >>> from clvpredict.evaluation import evaluate_holdout
    >>> from clvpredict.plotting import plot_calibration_vs_holdout
    >>> ch = cp.calibration_holdout_summary(cp.datasets.load_cdnow(), "customer_id", "date",
    ...                                     "1997-09-30", "1998-06-30", time_unit="W")
    >>> result = evaluate_holdout(cp.BetaGeoModel().fit(ch), ch)
    >>> ax = plot_calibration_vs_holdout(result, by="recency")
    >>> ax.figure.savefig("calibration_vs_holdout.png")  # doctest: +SKIP
    """
    if not isinstance(evaluation, HoldoutEvaluation):
        raise ClvDataError(
            f"evaluation must be the result of evaluate_holdout(...), got "
            f"{type(evaluation).__name__}."
        )
    if by not in ("frequency", "recency"):
        raise ClvDataError(f"by={by!r} is not one of 'frequency', 'recency'.")
    table = evaluation.by_frequency if by == "frequency" else evaluation.by_recency
    unit = _unit_name(evaluation.time_unit)
    ax = _axes(ax)
    positions = np.arange(len(table))
    mean_actual = table["mean_actual"].to_numpy(dtype=float)
    ax.plot(positions, mean_actual, marker="o", color=_ACTUAL, label="actual (mean per customer)")
    ax.plot(
        positions,
        table["mean_predicted"].to_numpy(),
        marker="s",
        linestyle="--",
        color=_MODEL,
        label=f"{evaluation.model} (conditional expectation)",
    )
    half = _mean_interval_half_width(table)
    barred = np.isfinite(half)
    if barred.any():
        label = "95% interval of the actual mean (± 1.96 standard errors)"
        lone = int(np.sum(table["n_customers"].to_numpy() == 1))
        if lone:
            label += f";\nno bar for {lone} bin{'s' if lone > 1 else ''} of one customer"
        ax.errorbar(
            positions[barred],
            mean_actual[barred],
            yerr=half[barred],
            fmt="none",
            ecolor=_ACTUAL,
            elinewidth=1.2,
            capsize=4,
            label=label,
        )
    ax.set_xticks(
        positions,
        [
            f"{label.replace(' (', chr(10) + '(')}\nn={n:,}"
            for label, n in zip(table.index, table["n_customers"], strict=True)
        ],
        fontsize="small",
    )
    if by == "frequency":
        ax.set_xlabel("Repeat purchases in calibration (purchase days); n = customers in the bin")
    else:
        ax.set_xlabel(
            f"Recency in calibration: last purchase since the first ({unit}); "
            "n = customers in the bin"
        )
    ax.set_ylabel(
        f"Mean purchases per customer in holdout\n(purchase days in {evaluation.duration_holdout:g} {unit})"
    )
    ax.set_title(f"Holdout purchases by calibration {by}: actual vs {evaluation.model}")
    ax.set_ylim(bottom=0)
    ax.grid(axis="y", alpha=0.3)
    ax.legend(loc="upper left")
    return ax


def _mean_interval_half_width(table: pd.DataFrame) -> np.ndarray:
    """Half-width of the 95% normal interval of each bin's mean actual purchases:
    ``1.96 sd_actual / sqrt(n_customers)`` (purchase days per customer), NaN for a bin of fewer
    than two customers."""
    counts = table["n_customers"].to_numpy(dtype=float)
    spread = table["sd_actual"].to_numpy(dtype=float)
    half = np.full(len(table), np.nan)
    known = (counts > 1) & np.isfinite(spread)
    half[known] = 1.96 * spread[known] / np.sqrt(counts[known])
    return half


# ------------------------------------------------------------------------------------------
# 2. Tracking plots
# ------------------------------------------------------------------------------------------


def _check_tracking(tracking: Any) -> None:
    needed = ("actual", "expected", "actual_cumulative", "expected_cumulative", "in_calibration")
    if not isinstance(tracking, pd.DataFrame) or any(c not in tracking.columns for c in needed):
        raise ClvDataError(
            "tracking must be the DataFrame returned by "
            "expected_repeat_transactions_over_time(...), with columns " + ", ".join(needed) + "."
        )


def _calibration_end(tracking: pd.DataFrame) -> pd.Timestamp | None:
    if "calibration_end" in tracking.attrs:
        return pd.Timestamp(tracking.attrs["calibration_end"])
    # attrs can be lost by pandas operations; the last calibration period ends on the same day.
    in_cal = tracking.index[tracking["in_calibration"].to_numpy(dtype=bool)]
    return pd.Timestamp(in_cal.max()) if len(in_cal) else None


def _tracking_plot(tracking: pd.DataFrame, cumulative: bool, ax: Axes | None) -> Axes:
    _check_tracking(tracking)
    ax = _axes(ax, (9.0, 5.0))
    suffix = "_cumulative" if cumulative else ""
    model = tracking.attrs.get("model", "model")
    period = period_name(tracking.attrs.get("period_days"))
    counted = tracking.attrs.get("counted", "purchase days")
    x = tracking.index.to_numpy()
    ax.plot(x, tracking["actual" + suffix].to_numpy(), color=_ACTUAL, label="actual")
    ax.plot(
        x,
        tracking["expected" + suffix].to_numpy(),
        color=_MODEL,
        linestyle="--",
        label=f"{model} (expected, exact)",
    )
    cal_end = _calibration_end(tracking)
    if cal_end is not None:
        ax.axvline(
            cal_end,
            color="grey",
            linestyle=":",
            label=f"end of calibration ({cal_end.date()})",
        )
    _date_axis(ax)
    ax.set_xlabel(f"Date (end of each {period})")
    if cumulative:
        ax.set_ylabel(f"Repeat transactions since the start, cumulative\n({counted})")
        ax.set_title(f"Cumulative repeat transactions: actual vs {model}")
    else:
        ax.set_ylabel(f"Repeat transactions per {period}\n({counted})")
        ax.set_title(f"Repeat transactions per {period}: actual vs {model}")
    ax.set_ylim(bottom=0)
    ax.grid(alpha=0.3)
    # Cumulative curves leave the upper left empty; weekly counts peak early, on the left.
    ax.legend(loc="upper left" if cumulative else "upper right")
    return ax


def plot_cumulative_transactions(tracking: pd.DataFrame, *, ax: Axes | None = None) -> Axes:
    """Cumulative repeat transactions of the cohort, actual vs model, over calibration and holdout.

    Parameters
    ----------
    tracking : DataFrame
        From :func:`~clvpredict.evaluation.expected_repeat_transactions_over_time`; the lines
        are its ``actual_cumulative`` and ``expected_cumulative`` columns.
    ax : matplotlib Axes, optional

    Returns
    -------
    matplotlib Axes

    Examples
    --------
    >>> import clvpredict as cp
    >>> from clvpredict.evaluation import expected_repeat_transactions_over_time
    >>> from clvpredict.plotting import plot_cumulative_transactions
    >>> tx = cp.datasets.load_cdnow()
    >>> bg = cp.BetaGeoModel().fit(cp.datasets.load_cdnow_summary())
    >>> track = expected_repeat_transactions_over_time(
    ...     bg, tx, "customer_id", "date", "1997-09-30", "1998-06-30")
    >>> ax = plot_cumulative_transactions(track)
    """
    return _tracking_plot(tracking, True, ax)


def plot_incremental_transactions(tracking: pd.DataFrame, *, ax: Axes | None = None) -> Axes:
    """Repeat transactions per period (e.g. weekly), actual vs model, over calibration and holdout.

    Parameters
    ----------
    tracking : DataFrame
        From :func:`~clvpredict.evaluation.expected_repeat_transactions_over_time`; the lines
        are its ``actual`` and ``expected`` columns.
    ax : matplotlib Axes, optional

    Returns
    -------
    matplotlib Axes

    Examples
    --------
    >>> import clvpredict as cp
    >>> from clvpredict.evaluation import expected_repeat_transactions_over_time
    >>> from clvpredict.plotting import plot_incremental_transactions
    >>> tx = cp.datasets.load_cdnow()
    >>> bg = cp.BetaGeoModel().fit(cp.datasets.load_cdnow_summary())
    >>> track = expected_repeat_transactions_over_time(
    ...     bg, tx, "customer_id", "date", "1997-09-30", "1998-06-30")
    >>> ax = plot_incremental_transactions(track)
    """
    return _tracking_plot(tracking, False, ax)


# ------------------------------------------------------------------------------------------
# 3. Period transactions
# ------------------------------------------------------------------------------------------


def plot_period_transactions(
    purchase_model: Any,
    data: pd.DataFrame,
    max_frequency: int = 7,
    *,
    covariates: Any = None,
    ax: Axes | None = None,
) -> Axes:
    """Customers with 0, 1, ..., k+ repeat purchases in calibration: actual vs model bars.

    The model bars are the exact probabilities ``P(X(T_i) = n)`` summed over the customers (the
    ``k+`` bar gets the remaining probability), see
    :func:`~clvpredict.evaluation.period_transactions`; they sum to the number of customers.

    Parameters
    ----------
    purchase_model : fitted purchase model
    data : DataFrame
        RFM summary with ``frequency`` and ``T``.
    max_frequency : int
        ``k``, the first frequency pooled into the last bar.
    covariates : DataFrame, optional
        For a model fitted with covariates, when ``data`` lacks the covariate columns: one
        row per customer with them (see :func:`~clvpredict.evaluation.period_transactions`;
        each customer's bars are those of their own covariates).
    ax : matplotlib Axes, optional

    Returns
    -------
    matplotlib Axes
        ``ax.containers[0]`` holds the actual bars, ``ax.containers[1]`` the model's.

    Examples
    --------
    >>> import clvpredict as cp
    >>> from clvpredict.plotting import plot_period_transactions
    >>> s = cp.datasets.load_cdnow_summary()
    >>> ax = plot_period_transactions(cp.BetaGeoModel().fit(s), s)
    """
    table = period_transactions(purchase_model, data, max_frequency, covariates=covariates)
    ax = _axes(ax)
    positions = np.arange(len(table))
    width = 0.4
    ax.bar(positions - width / 2, table["actual"], width, color=_ACTUAL, label="actual")
    ax.bar(
        positions + width / 2,
        table["expected"],
        width,
        color=_MODEL,
        label=f"{model_label(purchase_model)} (expected: exact PMF at each customer's T)",
    )
    ax.set_xticks(positions, list(table.index))
    ax.set_xlabel("Repeat purchases in calibration (purchase days)")
    ax.set_ylabel("Customers (count)")
    ax.set_title(
        f"Customers by number of repeat purchases in calibration "
        f"(n = {int(table['actual'].sum()):,})"
    )
    ax.grid(axis="y", alpha=0.3)
    ax.legend(loc="upper right")
    return ax


# ------------------------------------------------------------------------------------------
# 4. Frequency / recency heatmaps
# ------------------------------------------------------------------------------------------


def _heatmap_limits(
    purchase_model: Any, data: pd.DataFrame | None, T: float | None, max_frequency: int | None
) -> tuple[float, int, dict[str, float], float | None]:
    """``T``, the highest frequency shown, the frequency quantiles of the customers and the
    share of them with frequency 0 (None when unknown): from ``data`` when given, else from the
    data the model was fitted on (its ``training_data_``).

    The frequencies shown by default reach the 99th percentile of the customers (at least 2):
    one customer with 43 purchase days would otherwise squeeze the 92% with at most 3 into the
    bottom rows. A summary of another engine (Spark) gives its distinct frequencies with their
    counts and its longest ``T``: the same quantiles, from a bounded table.
    """
    if is_engine_frame(data) and not isinstance(data, pd.DataFrame):
        frame = as_lazy(data)
        counts = to_caller(
            frame.group_by("frequency").agg(nw.len().alias("n")), "pandas", sort_by="frequency"
        )
        frequency, n = (counts[name].to_numpy(dtype=float) for name in ("frequency", "n"))
        quantiles = frequency_quantiles(frequency, n)
        zero_share = float(n[frequency == 0].sum() / n.sum()) if n.sum() > 0 else None
        (longest,) = scalars(frame, nw.col("T").max().alias("T"))
        longest = float(longest)
    elif data is not None:
        frequency = data["frequency"].to_numpy(dtype=float)
        quantiles = frequency_quantiles(frequency)
        zero_share = float(np.mean(frequency == 0)) if len(frequency) else None
        longest = float(data["T"].max())
    else:
        training = getattr(purchase_model, "training_data_", None) or {}
        quantiles = training.get("frequency_quantiles") or {}
        repeat = training.get("share_repeat_buyers")
        zero_share = None if repeat is None else 1.0 - float(repeat)
        longest = (training.get("columns", {}).get("T") or {}).get("max")
    if (T is None and longest is None) or (max_frequency is None and "0.99" not in quantiles):
        raise ClvDataError(
            "Pass data= (an RFM summary, to take T and the frequencies from it) or both T= and "
            "max_frequency=: this model does not record the data it was fitted on (it was made "
            "with from_params, or loaded from an older model file)."
        )
    if T is None:
        T = float(longest)
    if max_frequency is None:
        max_frequency = max(int(quantiles["0.99"]), 2)
    return T, max_frequency, quantiles, zero_share


def _heatmap(
    purchase_model: Any,
    data: pd.DataFrame | None,
    quantity: str,
    t: float | None,
    T: float | None,
    max_frequency: int | None,
    ax: Axes | None,
    covariates: Any = None,
) -> Axes:
    import matplotlib as mpl
    from matplotlib.lines import Line2D
    from matplotlib.patches import Patch
    from matplotlib.ticker import MaxNLocator

    # An engine's summary states its unit in a column, not in attrs: the model's unit is used.
    time_unit = model_time_unit(purchase_model, data if isinstance(data, pd.DataFrame) else None)
    unit = _unit_name(time_unit)
    limit = "up to their 99th percentile" if max_frequency is None else f"up to {max_frequency}"
    T, max_frequency, quantiles, zero_share = _heatmap_limits(
        purchase_model, data, T, max_frequency
    )
    grid = frequency_recency_matrix(
        purchase_model, T, max_frequency, quantity=quantity, t=t, covariates=covariates
    )
    ax = _axes(ax, (8.0, 6.0))
    cmap = mpl.colormaps["viridis"].with_extremes(bad="#d9d9d9")
    mesh = ax.pcolormesh(
        grid.columns.to_numpy(),
        grid.index.to_numpy(),
        np.ma.masked_invalid(grid.to_numpy()),
        shading="nearest",
        cmap=cmap,
        vmin=0.0,
        vmax=1.0 if quantity == "probability_alive" else None,
    )
    model = model_label(purchase_model)
    if quantity == "probability_alive":
        bar_label = "P(alive) at the end of observation (probability)"
        title = f"{model}: P(alive) by frequency and recency"
    else:
        horizon = next_phrase(t, time_unit) if time_unit else f"the next {t:g} {unit}"
        bar_label = f"Expected purchases in {horizon}"
        title = f"{model}: expected purchases in {horizon}"
    ax.figure.colorbar(mesh, ax=ax, label=bar_label)
    # Where the customers are: the lowest frequency at or below which at least half, and at
    # least nine in ten, of them lie. The quantiles say "at least"; the share at frequency 0 is
    # known exactly (on CDNOW 60%, not half).
    marked = []
    for share, label in (("0.5", "half"), ("0.9", "90%")):
        frequency = quantiles.get(share)
        if frequency is not None and frequency < max_frequency and frequency not in marked:
            marked.append(frequency)
            ax.axhline(frequency + 0.5, color="white", linestyle="--", linewidth=1.2)
            if frequency == 0 and zero_share is not None:
                text = f"{zero_share:.0%} of customers: frequency 0"
            else:
                text = f"at least {label} of customers: frequency " + (
                    "0" if frequency == 0 else f"<= {frequency:g}"
                )
            ax.annotate(
                text,
                xy=(0.99, frequency + 0.5),
                xycoords=("axes fraction", "data"),
                ha="right",
                va="bottom",
                color="white",
                fontsize="small",
            )
    # Frequencies (and the recency of a discrete model) are whole numbers: so are their ticks.
    ax.yaxis.set_major_locator(MaxNLocator(integer=True))
    if _discrete(purchase_model):
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_xlabel(f"Recency: period of the last transaction (periods of 1 {unit[:-1]})")
        ax.set_ylabel("Frequency (repeat periods with a purchase)")
        impossible = "impossible: frequency 0 means recency 0; frequency <= recency"
    else:
        ax.set_xlabel(f"Recency: time from first to last purchase ({unit})")
        ax.set_ylabel("Frequency (repeat purchase days)")
        impossible = "impossible: frequency 0 means recency 0"
    observed = duration_phrase(T, time_unit) if time_unit else f"{T:.3g} {unit}"
    profile = grid.attrs.get("covariates")
    who = f"; {_profile_text(profile)}" if profile else ""
    ax.set_title(f"{title}\n(customers observed for T = {observed}{who})")
    source = "these customers" if data is not None else "the customers the model was fitted on"
    ax.legend(
        handles=[
            Patch(facecolor="#d9d9d9", label=impossible),
            Line2D(
                [],
                [],
                color="#7f7f7f",
                linestyle="--",
                label=f"frequencies of {source} ({limit} shown)",
            ),
        ],
        loc="upper center",
        bbox_to_anchor=(0.5, -0.12),
        frameon=False,
        fontsize="small",
    )
    return ax


def plot_expected_purchases_heatmap(
    purchase_model: Any,
    t: float = 1.0,
    data: pd.DataFrame | None = None,
    *,
    T: float | None = None,
    max_frequency: int | None = None,
    covariates: Any = None,
    ax: Axes | None = None,
) -> Axes:
    """Heatmap of expected purchases in the next ``t`` time units by frequency and recency.

    Parameters
    ----------
    purchase_model : fitted purchase model
    t : float
        Forecast horizon in the model's time unit (default 1: the next week of a weekly model;
        ``months_to_units(12, "W")`` for the next 12 months).
    data : DataFrame, optional
        RFM summary; supplies the defaults ``T = max(T)`` and ``max_frequency`` = the 99th
        percentile of its frequencies (at least 2), and the marks of where its customers are.
        Without it they come from the data the model was fitted on.
    T : float, optional
        Length of observation of the hypothetical customers (model time unit).
    max_frequency : int, optional
        Highest frequency shown.
    covariates : mapping, optional
        Required for a model fitted with covariates: the profile of the customers of the
        grid, one value per covariate column (e.g. ``{"channel": "web", "loyalty": 1}``),
        named in the title.
    ax : matplotlib Axes, optional

    Returns
    -------
    matplotlib Axes
        The cells are :func:`~clvpredict.evaluation.frequency_recency_matrix`.

    Examples
    --------
    >>> import clvpredict as cp
    >>> from clvpredict.plotting import plot_expected_purchases_heatmap
    >>> s = cp.datasets.load_cdnow_summary()
    >>> ax = plot_expected_purchases_heatmap(cp.BetaGeoModel().fit(s))
    >>> ax.get_title().splitlines()[0]
    'BG/NBD: expected purchases in the next week'
    >>> ax = plot_expected_purchases_heatmap(cp.BetaGeoModel().fit(s), t=52, data=s)
    """
    return _heatmap(purchase_model, data, "expected_purchases", t, T, max_frequency, ax, covariates)


def plot_probability_alive_heatmap(
    purchase_model: Any,
    data: pd.DataFrame | None = None,
    *,
    T: float | None = None,
    max_frequency: int | None = None,
    covariates: Any = None,
    ax: Axes | None = None,
) -> Axes:
    """Heatmap of P(alive) by frequency and recency, for customers observed for ``T``.

    Parameters
    ----------
    purchase_model : fitted purchase model
    data : DataFrame, optional
        RFM summary; supplies the defaults ``T = max(T)`` and ``max_frequency`` = the 99th
        percentile of its frequencies (at least 2), and the marks of where its customers are.
        Without it they come from the data the model was fitted on.
    T : float, optional
        Length of observation (model time unit).
    max_frequency : int, optional
        Highest frequency shown.
    covariates : mapping, optional
        Required for a model fitted with covariates: the profile of the customers of the
        grid, one value per covariate column (e.g. ``{"channel": "web", "loyalty": 1}``),
        named in the title.
    ax : matplotlib Axes, optional

    Returns
    -------
    matplotlib Axes

    Examples
    --------
    >>> import clvpredict as cp
    >>> from clvpredict.plotting import plot_probability_alive_heatmap
    >>> s = cp.datasets.load_cdnow_summary()
    >>> ax = plot_probability_alive_heatmap(cp.BetaGeoModel().fit(s), s)
    """
    return _heatmap(
        purchase_model, data, "probability_alive", None, T, max_frequency, ax, covariates
    )


# ------------------------------------------------------------------------------------------
# 5. P(alive) history of one customer
# ------------------------------------------------------------------------------------------


def plot_probability_alive_history(
    purchase_model: Any,
    transactions: pd.DataFrame,
    customer_id_col: str,
    datetime_col: str,
    customer_id: Any,
    *,
    end: Any = None,
    days: int | None = None,
    calibration_end: Any = None,
    covariates: Any = None,
    ax: Axes | None = None,
) -> Axes:
    """One customer's P(alive) day by day, with its purchase days marked.

    Under the BG/NBD the curve stays at 1 until the customer's first repeat purchase and then
    drops (customer 1 of CDNOW: from 1.0 to 0.75): the model lets a customer drop out only
    right after a purchase, so one who has not bought again has had no chance to leave. This
    is the model's assumption at work, not a fault; the plot marks it. The MBG/NBD and the
    Pareto/NBD let customers leave before any repeat purchase and show no such step.

    Parameters
    ----------
    purchase_model : fitted purchase model
    transactions : DataFrame
        Transaction log.
    customer_id_col, datetime_col : str
        Names of the id and date columns.
    customer_id
        The customer to show.
    end : date-like, optional
        Last day shown (default: the last date in ``transactions``).
    days : int, optional
        Instead of ``end``: show this many days from the customer's first purchase (day 1 is
        the first purchase day).
    calibration_end : date-like, optional
        Draw a vertical line there (e.g. the end of the period the model was fitted on).
    covariates : mapping or DataFrame, optional
        For a model fitted with covariates, the customer's covariates (a mapping, or a table
        of one row per customer); without it, read from the covariate columns of
        ``transactions``. See :func:`~clvpredict.evaluation.probability_alive_history`.
    ax : matplotlib Axes, optional

    Returns
    -------
    matplotlib Axes
        The curve is :func:`~clvpredict.evaluation.probability_alive_history`.

    Raises
    ------
    ClvDataError
        Both ``end`` and ``days``, ``days`` not a whole number >= 1, or an end after today.

    Examples
    --------
    >>> import clvpredict as cp
    >>> from clvpredict.plotting import plot_probability_alive_history
    >>> bg = cp.BetaGeoModel().fit(cp.datasets.load_cdnow_summary())
    >>> ax = plot_probability_alive_history(bg, cp.datasets.load_cdnow(), "customer_id",
    ...                                     "date", 1, calibration_end="1997-09-30")
    """
    if days is not None:
        if end is not None:
            raise ClvDataError("Pass end= or days=, not both: both say where the plot ends.")
        if isinstance(days, bool) or not isinstance(days, (int, np.integer)) or days < 1:
            raise ClvDataError(f"days={days!r} must be a whole number of days >= 1.")
    history = probability_alive_history(
        purchase_model,
        transactions,
        customer_id_col,
        datetime_col,
        customer_id,
        end=end,
        covariates=covariates,
    )
    if days is not None:
        first = pd.Timestamp(history.index[0])
        end = first + pd.Timedelta(days=int(days) - 1)
        if end != pd.Timestamp(history.index[-1]):
            history = probability_alive_history(
                purchase_model,
                transactions,
                customer_id_col,
                datetime_col,
                customer_id,
                end=end,
                covariates=covariates,
            )
    discrete = _discrete(purchase_model)
    ax = _axes(ax, (9.0, 4.5))
    dates = history.index.to_numpy()
    ax.plot(dates, history["p_alive"].to_numpy(), color=_ACTUAL, label="P(alive)")
    bought = history["purchase"].to_numpy()
    ax.plot(
        dates[bought],
        history["p_alive"].to_numpy()[bought],
        linestyle="none",
        marker="o",
        markersize=7,
        color=_MODEL,
        label=f"{'period with a purchase' if discrete else 'purchase day'} ({int(bought.sum())})",
    )
    repeats = np.flatnonzero(bought)[1:]
    if getattr(purchase_model, "kind", None) == "bgnbd" and len(repeats):
        # The step at the first repeat purchase looks like a fault to a reader: say why.
        first_repeat = repeats[0]
        ax.annotate(
            "BG/NBD: a customer can leave only after a purchase,\n"
            "so P(alive) is 1 until the first repeat purchase",
            xy=(dates[first_repeat], history["p_alive"].to_numpy()[first_repeat]),
            xytext=(0.35, 0.2),
            textcoords="axes fraction",
            fontsize="small",
            arrowprops={"arrowstyle": "->", "color": "grey"},
        )
    if calibration_end is not None:
        cal = pd.Timestamp(calibration_end)
        ax.axvline(cal, color="grey", linestyle=":", label=f"end of calibration ({cal.date()})")
    _date_axis(ax)
    ax.set_ylim(0, 1.05)
    step = "period" if discrete else "day"
    ax.set_xlabel(f"Date (P(alive) given the history up to the end of each {step})")
    ax.set_ylabel("P(alive) (probability)")
    # "customer 1981" on a date axis would read as a year.
    profile = history.attrs.get("covariates")
    who = f"; {_profile_text(profile)}" if profile else ""
    ax.set_title(
        f"P(alive) over time of customer ID {customer_id} ({model_label(purchase_model)}{who})"
    )
    ax.grid(alpha=0.3)
    ax.legend(loc="lower left")
    return ax


# ------------------------------------------------------------------------------------------
# 6. CLV plots
# ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ComparisonExtent:
    """What :func:`plot_clv_comparison` states of all customers: the frame, the counts under
    the floor and the rank correlation; from :func:`comparison_extent`.

    Attributes
    ----------
    n_customers : int
        Customers with both CLVs finite (those the plot describes).
    scale : float or None
        Factor the simple CLV is multiplied by to cover the predictive CLV's horizon
        (``horizon_months / 12 / lifetime_years``); ``None`` when it is drawn unscaled.
    floor : float
        Smallest CLV drawn to scale (currency units).
    top : float
        Largest CLV of either kind, the simple one scaled (currency units; at least ``floor``).
    below : tuple of int
        Customers whose (scaled) simple CLV, and whose predictive CLV, is below ``floor``,
        0 included.
    zeros : tuple of int
        Of those, the customers whose simple CLV, and whose predictive CLV, is 0 (or less).
    spearman : float or None
        Spearman rank correlation of the two CLVs over all the customers (ties share their
        mean rank; NaN when either CLV is constant); ``None`` when it was not computed (a table
        of another engine, whose ranks would need a sort of every customer).
    """

    n_customers: int
    scale: float | None
    floor: float
    top: float
    below: tuple[int, int]
    zeros: tuple[int, int]
    spearman: float | None = None


def _decade(value: float) -> float:
    """The power of 10 at or below ``value`` > 0."""
    return 10.0 ** math.floor(math.log10(value) + 1e-12)


def _check_floor(floor: Any) -> float | None:
    if floor is None:
        return None
    if (
        isinstance(floor, bool)
        or not isinstance(floor, (int, float, np.number))
        or not np.isfinite(floor)
        or floor <= 0
    ):
        raise ClvDataError(f"floor={floor!r} must be a number > 0 (currency units), or None.")
    return float(floor)


def _extent_frame(
    smallest: float | None, largest: float | None, floor: float | None, decades: int = 4
) -> tuple[float, float]:
    """The floor and top of the plot from the smallest positive and the largest CLV (``None``
    when no CLV is positive): by default ``decades`` decades under the largest CLV's decade,
    or the smallest positive CLV's decade when that is higher."""
    if floor is None:
        if smallest is None or largest is None or largest <= 0:
            floor = 1.0
        else:
            floor = max(_decade(largest) / 10.0**decades, _decade(smallest))
    top = max(float(largest) if largest is not None else 0.0, floor)
    return floor, top


def _simple_scale(lifetime_years: Any, horizon_months: Any) -> float | None:
    """Factor putting the simple CLV on the predictive CLV's horizon, ``horizon_months / 12 /
    lifetime_years``; ``None`` when the lifetime or the horizon is not known."""
    if lifetime_years is None or horizon_months is None:
        return None
    if isinstance(lifetime_years, bool) or np.ndim(lifetime_years) != 0:
        raise ClvDataError(
            "lifetime_years must be the one lifetime (years) the simple CLV was computed with. "
            "For a lifetime per customer, rescale simple_clv yourself (x horizon_months / 12 / "
            "lifetime) and pass lifetime_years=horizon_months / 12."
        )
    lifetime = float(lifetime_years)
    if not np.isfinite(lifetime) or lifetime <= 0:
        raise ClvDataError(
            f"lifetime_years={lifetime_years!r} must be > 0: the simple CLV is put on the "
            "predictive CLV's horizon by dividing by it."
        )
    return float(horizon_months) / 12.0 / lifetime


def comparison_extent(
    table: Any,
    *,
    lifetime_years: float | None = None,
    horizon_months: int | None = None,
    floor: float | None = None,
) -> ComparisonExtent:
    """The numbers of all customers that :func:`plot_clv_comparison` states (frame, counts under
    the floor, rank correlation), computed where the table lives: for a plot of a sample.

    Parameters
    ----------
    table : DataFrame or engine frame
        A :func:`~clvpredict.clv_table`: pandas, or a frame of another engine (a Spark
        DataFrame) with ``simple_clv`` and ``predictive_clv``, whose numbers are two
        aggregates of one row computed by the engine.
    lifetime_years : float, optional
        As in :func:`plot_clv_comparison` (default: a pandas table's
        ``attrs["lifetime_years"]``).
    horizon_months : int, optional
        The predictive CLV's horizon (default: a pandas table's ``attrs["horizon_months"]``;
        an engine's table has no attrs).
    floor : float, optional
        As in :func:`plot_clv_comparison`.

    Returns
    -------
    ComparisonExtent
        With the rank correlation for a pandas table only (an engine would have to sort every
        customer for it).
    """
    floor = _check_floor(floor)
    if isinstance(table, pd.DataFrame):
        if lifetime_years is None:
            lifetime_years = table.attrs.get("lifetime_years")
        if horizon_months is None:
            horizon_months = table.attrs.get("horizon_months")
    scale = _simple_scale(lifetime_years, horizon_months)
    if isinstance(table, pd.DataFrame):
        _check_clv_columns(table.columns)
        x = table["simple_clv"].to_numpy(dtype=float) * (1.0 if scale is None else scale)
        y = table["predictive_clv"].to_numpy(dtype=float)
        keep = np.isfinite(x) & np.isfinite(y)
        return _extent_of(x[keep], y[keep], scale, floor)
    if not is_engine_frame(table):
        raise ClvDataError(
            "table must come from clv_table(...), with simple_clv and predictive_clv."
        )
    frame = as_lazy(table)
    _check_clv_columns(frame.collect_schema().names())
    x = nw.col("simple_clv") * (1.0 if scale is None else scale)
    y = nw.col("predictive_clv")
    finite = x.is_finite() & y.is_finite()
    row = scalars(
        frame,
        count_true(finite).alias("n"),
        nw.when(finite & (x > 0)).then(x).min().alias("low_x"),
        nw.when(finite & (y > 0)).then(y).min().alias("low_y"),
        nw.when(finite).then(x).max().alias("top_x"),
        nw.when(finite).then(y).max().alias("top_y"),
        count_true(finite & (x <= 0)).alias("zero_x"),
        count_true(finite & (y <= 0)).alias("zero_y"),
    )
    n, low_x, low_y, top_x, top_y, zero_x, zero_y = row
    lows = [float(v) for v in (low_x, low_y) if v is not None]
    tops = [float(v) for v in (top_x, top_y) if v is not None]
    floor, top = _extent_frame(min(lows, default=None), max(tops, default=None), floor)
    below_x, below_y = scalars(
        frame,
        count_true(finite & (x < floor)).alias("below_x"),
        count_true(finite & (y < floor)).alias("below_y"),
    )
    return ComparisonExtent(
        n_customers=int(n or 0),
        scale=scale,
        floor=floor,
        top=top,
        below=(int(below_x or 0), int(below_y or 0)),
        zeros=(int(zero_x or 0), int(zero_y or 0)),
    )


def _check_clv_columns(names: Any) -> None:
    if any(c not in list(names) for c in ("simple_clv", "predictive_clv")):
        raise ClvDataError(
            "table must come from clv_table(...), with simple_clv and predictive_clv."
        )


def _spearman(x: np.ndarray, y: np.ndarray) -> float:
    """Spearman rank correlation (ties share their mean rank); NaN when a side is constant or
    there are fewer than two pairs."""
    if len(x) < 2:
        return float("nan")
    return _pearson(rankdata(x), rankdata(y))


def _extent_of(
    x: np.ndarray, y: np.ndarray, scale: float | None, floor: float | None
) -> ComparisonExtent:
    """:class:`ComparisonExtent` of finite CLVs in this process: ``x`` simple (scaled), ``y``
    predictive."""
    both = np.concatenate([x, y])
    positive = both[both > 0]
    floor, top = _extent_frame(
        float(positive.min()) if len(positive) else None,
        float(both.max()) if len(both) else None,
        floor,
    )
    return ComparisonExtent(
        n_customers=len(x),
        scale=scale,
        floor=floor,
        top=top,
        below=(int(np.sum(x < floor)), int(np.sum(y < floor))),
        zeros=(int(np.sum(x <= 0)), int(np.sum(y <= 0))),
        spearman=_spearman(x, y),
    )


def _money_tick(value: float) -> str:
    """A money tick label: 0.1, 1, 10, 1,000, 1,000,000."""
    return f"{value:,.0f}" if value >= 1 else f"{value:.10g}"


def _money_ticks(low: float, high: float) -> tuple[list[float], list[float]]:
    """Major and minor ticks of a log money axis from ``low`` to ``high``: powers of 10 (and
    2 and 5 of each decade when fewer than three fit), and the other multiples unlabelled."""
    first = math.floor(math.log10(low) + 1e-12)
    decades = [10.0**k for k in range(first, math.floor(math.log10(high) + 1e-12) + 1)]
    majors = [v for v in decades if low <= v <= high]
    minors = [m * v for v in decades for m in range(2, 10) if low < m * v <= high]
    if len(majors) < 3:
        majors = sorted(majors + [v for v in minors if round(v / _decade(v)) in (2, 5)])
        minors = [v for v in minors if v not in majors]
    return majors, minors


def _set_money_ticks(
    axis: Any, majors: list[float], minors: list[float], labels: dict[float, str]
) -> None:
    """Fixed ticks on a log ``axis`` (after its scale is set, which resets them), the majors
    written as money (or as ``labels`` says)."""
    from matplotlib.ticker import FixedLocator, FuncFormatter, NullFormatter

    axis.set_major_locator(FixedLocator(majors))
    axis.set_minor_locator(FixedLocator(minors))
    axis.set_major_formatter(FuncFormatter(lambda v, _: labels.get(v) or _money_tick(v)))
    axis.set_minor_formatter(NullFormatter())


def _money_log_axes(ax: Axes, floor: float, top: float, strips: tuple[str, str] | None) -> float:
    """Log scales on both axes from ``floor`` to above ``top`` with money ticks; with
    ``strips`` (the x and y labels), a grey strip under the floor on each axis, its label at
    its middle. Returns where the strips' points go (``floor`` without strips)."""
    high = top * 10**0.15
    majors, minors = _money_ticks(floor, high)
    middle, low = floor, floor / 10**0.05
    if strips is not None:
        middle, low = floor / 10**0.5, floor / 10**0.8
        majors = [middle, *majors]
    ax.set_xscale("log")
    ax.set_yscale("log")
    for position, (axis, span) in enumerate(((ax.xaxis, ax.axvspan), (ax.yaxis, ax.axhspan))):
        labels = {middle: strips[position]} if strips is not None else {}
        _set_money_ticks(axis, majors, minors, labels)
        if strips is not None:
            span(low, floor / 10**0.2, color="grey", alpha=0.15, linewidth=0)
    ax.set_xlim(low, high)
    ax.set_ylim(low, high)
    return middle


def plot_clv_comparison(
    table: pd.DataFrame,
    *,
    lifetime_years: float | None = None,
    floor: float | None = None,
    max_points: int | None = MAX_POINTS,
    random_state: Any = 0,
    extent: ComparisonExtent | None = None,
    currency: str | None = None,
    ax: Axes | None = None,
) -> Axes:
    """Predictive vs simple-formula CLV per customer, over the same horizon, on log-log axes.

    The two CLVs of :func:`~clvpredict.clv_table` cover different spans of time: the predictive
    CLV the next ``horizon_months``, the simple formula (average order value x purchases per
    year x margin x lifetime) the customer's whole expected lifetime of ``lifetime_years``.
    The simple formula is linear in the lifetime, so this plot puts it on the predictive CLV's
    horizon: its x-axis is ``simple_clv x (horizon_months / 12) / lifetime_years``, e.g. the
    simple CLV x 1 / 1.03 for 12 months and a lifetime of 1.03 years. On the line y = x a
    customer is worth the same over those months by either method; above it the model expects
    more. The predictive CLV is discounted (``annual_discount_rate``) and the simple formula is
    not, which puts the predictive CLV about 5% lower over 12 months at 10% a year. Without a
    known lifetime (neither ``lifetime_years`` nor the table's ``attrs["lifetime_years"]``) the
    simple CLV is drawn as it is, and the labels say that the horizons differ.

    Both axes are logarithmic, with plain money ticks (1, 10, 100, 1,000). A CLV below
    ``floor`` (0 included) cannot be drawn to scale: such customers are drawn in a grey strip
    under the floor on their axis and counted in the legend (how many, and how many are 0).
    The corner note gives the Spearman rank correlation of the two CLVs (1: both methods rank
    the customers alike), for the question of which customers matter most.

    More than ``max_points`` customers are drawn as a uniform random sample of ``max_points``
    of them (without replacement, seeded by ``random_state``, so the same table gives the same
    figure), and the legend says so ("a random 5,000 of 1,000,000 customers"). The frame, the
    counts and the rank correlation are those of all customers.

    Parameters
    ----------
    table : DataFrame
        From :func:`~clvpredict.clv_table`, with ``simple_clv`` and ``predictive_clv``
        (currency units); its ``attrs["horizon_months"]`` is the predictive CLV's horizon.
    lifetime_years : float, optional
        The lifetime (years) the simple CLV was computed with (default: the table's
        ``attrs["lifetime_years"]``). For a lifetime per customer, rescale ``simple_clv``
        yourself and pass ``horizon_months / 12``.
    floor : float, optional
        Smallest CLV drawn to scale (currency units, > 0). Default: four decades under the
        decade of the largest CLV (0.1 for a largest CLV of 5,000), or the decade of the
        smallest positive CLV when that is higher.
    max_points : int or None
        Most customers drawn; ``None`` draws them all.
    random_state : int or numpy Generator
        Seed of the sample, as :func:`numpy.random.default_rng` accepts.
    extent : ComparisonExtent, optional
        Given when ``table`` is a sample drawn already (as the report draws one from a Spark
        table): the numbers of all the customers, from :func:`comparison_extent` with the same
        lifetime and horizon. Then ``table`` is drawn whole, the frame, counts and legend are
        those of all customers, and the rank correlation is the extent's (or the sample's when
        the extent has none, said so).
    currency : str, optional
        The amounts' currency for the axis labels (default: the table's ``attrs["currency"]``,
        which :func:`~clvpredict.clv_table` records; "currency units" without one).
    ax : matplotlib Axes, optional

    Returns
    -------
    matplotlib Axes
        ``ax.collections[0]`` holds one point per customer drawn, in the table's order: x the
        simple CLV on the predictive CLV's horizon, y the predictive CLV (currency units), a
        value under the floor at the middle of its strip; customers whose CLVs are not finite
        are left out. ``ax.lines[0]`` is the line y = x.

    Examples
    --------
    >>> import clvpredict as cp
    >>> from clvpredict.plotting import plot_clv_comparison
    >>> tx = cp.datasets.load_cdnow()
    >>> s = cp.rfm_summary(tx, "customer_id", "date", "amount", observation_end="1997-09-30",
    ...                    time_unit="W", after_end="drop")
    >>> table = cp.clv_table(cp.BetaGeoModel().fit(s), cp.GammaGammaModel().fit(s), s,
    ...                      lifetime_years=2.0)
    >>> ax = plot_clv_comparison(table, lifetime_years=2.0)
    >>> import matplotlib.pyplot as plt
    >>> plt.close(ax.figure)  # the next plot draws on axes of its own, not these log ones
    """
    if not isinstance(table, pd.DataFrame):
        raise ClvDataError(
            "table must come from clv_table(...), with simple_clv and predictive_clv."
        )
    _check_clv_columns(table.columns)
    max_points = _check_max_points(max_points)
    horizon = table.attrs.get("horizon_months")
    if lifetime_years is None:
        lifetime_years = table.attrs.get("lifetime_years")
    scale = _simple_scale(lifetime_years, horizon)
    x = table["simple_clv"].to_numpy(dtype=float) * (1.0 if scale is None else scale)
    y = table["predictive_clv"].to_numpy(dtype=float)
    keep = np.isfinite(x) & np.isfinite(y)
    if not keep.all():
        x, y = x[keep], y[keep]
    rho_of = "all customers"
    if extent is None:
        extent = _extent_of(x, y, scale, _check_floor(floor))
        shown = _sample_positions(len(x), max_points, random_state)
        if shown is None:
            label = f"customers (n = {len(x):,})"
        else:
            label = _sample_note(len(x), max_points)
            x, y = x[shown], y[shown]
    else:
        if not isinstance(extent, ComparisonExtent):
            raise ClvDataError("extent must come from plotting.comparison_extent(...).")
        if (extent.scale is None) != (scale is None) or (
            scale is not None and not math.isclose(scale, extent.scale, rel_tol=1e-12)
        ):
            raise ClvDataError(
                "extent was computed with another lifetime or horizon than the plot's: give "
                "comparison_extent and the plot the same lifetime_years and horizon."
            )
        if floor is not None and _check_floor(floor) != extent.floor:
            raise ClvDataError(f"floor={floor!r} is not the extent's floor {extent.floor:g}.")
        n = extent.n_customers
        label = f"customers (n = {n:,})" if len(x) >= n else _sample_note(n, len(x))
        if extent.spearman is None and len(x) < n:
            rho_of = f"the {len(x):,} drawn"
    rho = extent.spearman if extent.spearman is not None else _spearman(x, y)
    low = extent.floor
    strips = None
    if any(extent.below):
        # A strip of zeros only says 0; one holding small CLVs too says below what.
        strips = tuple(
            "0" if below == zeros else f"< {_money_tick(low)}"
            for below, zeros in zip(extent.below, extent.zeros, strict=True)
        )
    ax = _axes(ax, (7.0, 6.5))
    middle = _money_log_axes(ax, low, extent.top, strips)
    ax.scatter(
        np.where(x < low, middle, x),
        np.where(y < low, middle, y),
        s=10,
        alpha=0.35,
        color=_ACTUAL,
        edgecolors="none",
        label=label,
    )
    span = duration_phrase(horizon, "M") if horizon else None
    line = np.array([low, extent.top * 10**0.15])
    if scale is not None:
        meaning = f"y = x: the same value over the {span} by both methods"
    else:
        meaning = "y = x: equal amounts (over different horizons)"
    ax.plot(line, line, color=_MODEL, linestyle="--", label=meaning, zorder=3)
    handles, labels = ax.get_legend_handles_labels()
    if strips is not None:
        from matplotlib.patches import Patch

        parts = []
        for name, below, zeros in (
            ("simple", extent.below[0], extent.zeros[0]),
            ("predictive", extent.below[1], extent.zeros[1]),
        ):
            if below == zeros:
                parts.append(f"{name} CLV of 0: {below:,}")
            else:
                of_them = f"{zeros:,} of them 0" if zeros else "none 0"
                parts.append(f"{name} CLV < {_money_tick(low)}: {below:,} ({of_them})")
        handles.append(Patch(color="grey", alpha=0.15))
        labels.append("grey strips, not to scale:\n" + "\n".join(parts))
    money = money_unit(check_currency(currency or table.attrs.get("currency")))
    if scale is not None:
        life = f"{float(lifetime_years):.3g}"
        ax.set_xlabel(
            f"Simple-formula CLV over the same {span} ({money}; log scale)\n"
            f"= simple CLV over a {life}-year lifetime × {float(horizon) / 12:g} / {life}"
        )
    else:
        ax.set_xlabel(
            f"Simple-formula CLV over the customer's lifetime ({money}; log scale)\n"
            "(a horizon other than the predictive CLV's: give lifetime_years to match them)"
        )
    ahead = f"over the next {span}" if span else "over the forecast horizon"
    ax.set_ylabel(f"Predictive CLV {ahead} ({money}; log scale)")
    ax.set_title("Predictive vs simple-formula CLV per customer")
    ax.grid(alpha=0.3, which="major")
    # The rank correlation heads the legend, in the corner the customers leave empty.
    ax.legend(
        handles,
        labels,
        loc="upper left",
        fontsize="small",
        title=f"Spearman rank correlation {rho:.2f}\n({rho_of}; 1 = the same ranking)",
        title_fontsize="small",
    )
    return ax


def plot_value_concentration(
    values: pd.DataFrame | pd.Series | np.ndarray,
    column: str = "predictive_clv",
    *,
    marks: tuple[float, ...] = (0.1, 0.2),
    max_points: int | None = MAX_CURVE_POINTS,
    ax: Axes | None = None,
) -> Axes:
    """Share of total CLV held by the top x% of customers (a value concentration curve).

    Parameters
    ----------
    values : DataFrame, Series or array
        A :func:`~clvpredict.clv_table` (then ``column`` is used) or one value per customer.
    column : str
        Column of ``values`` to use when it is a DataFrame.
    marks : tuple of float
        Fractions of customers (e.g. 0.2 = top 20%) to annotate with their share of value.
    max_points : int or None
        With more customers than this, the curve is drawn through its values at
        ``max_points + 1`` evenly spaced shares of customers (0, 1/max_points, ..., 1), read
        off the exact curve; ``None`` draws a point per customer. The marks are always read off
        the exact curve.
    ax : matplotlib Axes, optional

    Returns
    -------
    matplotlib Axes
        ``ax.lines[0]`` is :func:`~clvpredict.evaluation.value_concentration` in percent (at
        most ``max_points + 1`` points of it, as above).

    Examples
    --------
    >>> from clvpredict.plotting import plot_value_concentration
    >>> ax = plot_value_concentration([10.0, 0.0, 30.0, 60.0])
    """
    if isinstance(values, pd.DataFrame):
        if column not in values.columns:
            raise ClvDataError(
                f"column={column!r} is not in the table (columns: {list(map(str, values.columns))})."
            )
        series = values[column]
        what = column.replace("_", " ").replace("clv", "CLV")
    else:
        series = values
        what = column.replace("_", " ").replace("clv", "CLV") if column else "value"
    drawn, shares, n = concentration_points(series, max_points=max_points, marks=marks)
    return plot_concentration_curve(drawn, shares, n_customers=n, what=what, ax=ax)


#: Buckets of log(1 + value) whose edges are the points of a concentration curve drawn from an
#: engine's table (a figure is a few hundred pixels wide).
CURVE_BUCKETS = 2_048


def concentration_points(
    values: Any,
    column: str = "predictive_clv",
    *,
    max_points: int | None = MAX_CURVE_POINTS,
    marks: tuple[float, ...] = (0.1, 0.2),
    customer_id_col: str | None = None,
) -> tuple[pd.DataFrame, dict[float, float], int]:
    """Points of the value concentration curve to draw, and the shares held at the marks.

    Parameters
    ----------
    values : Series, array or engine frame
        One non-negative value per customer; or a table of another engine (a Spark DataFrame)
        with ``column`` and the customer id in a column.
    column : str
        The value column of an engine's table.
    max_points : int or None
        As in :func:`plot_value_concentration` (values in this process).
    marks : tuple of float
        Fractions of customers (0.1 = the top 10%) whose share of the value is wanted.
    customer_id_col : str, optional
        The id column of an engine's table, when it cannot be told.

    Returns
    -------
    tuple
        The points (``share_of_customers``, ``share_of_value``, fractions from (0, 0) to
        (1, 1)), each mark with the share of value (percent) the top customers hold, read off
        the exact curve by linear interpolation (:func:`numpy.interp`), and the number of
        customers.

    Notes
    -----
    In this process, the points are those of :func:`plot_value_concentration`. An engine's
    table gives at most :data:`CURVE_BUCKETS` + 2 points, all on the exact curve: the customers
    are grouped by ``floor(K log(1 + value))`` (``K`` spreading the largest value over the
    buckets), and each group's edge is the point (customers with a value from there up, their
    share of the value). Between two such points the customers' values differ by less than a
    bucket's relative width, ``(1 + largest) ** (1 / CURVE_BUCKETS) - 1`` (1% for a largest
    value of a billion), so the curve there is straight to within that share of the value held
    between them. The marks are exact: the
    customer at the rank where a mark falls is found by :func:`~clvpredict.data.ranks.rank_keys`
    and the value before it summed by the engine.
    """
    marks = tuple(float(f) for f in marks)
    if not is_engine_frame(values) or isinstance(values, pd.DataFrame):
        max_points = _check_max_points(max_points)
        curve = value_concentration(values)
        share_customers = 100.0 * curve["share_of_customers"].to_numpy()
        share_value = 100.0 * curve["share_of_value"].to_numpy()
        n = len(curve) - 1
        if max_points is None or n <= max_points:
            drawn_x, drawn_y = share_customers, share_value
        else:
            drawn_x = np.linspace(0.0, 100.0, max_points + 1)
            drawn_y = np.interp(drawn_x, share_customers, share_value)
        shares = {f: float(np.interp(100.0 * f, share_customers, share_value)) for f in marks}
        drawn = pd.DataFrame(
            {"share_of_customers": drawn_x / 100.0, "share_of_value": drawn_y / 100.0}
        )
        return drawn, shares, n
    return _engine_concentration(values, column, marks, table_id_column(values, customer_id_col))


def _engine_concentration(
    table: Any, column: str, marks: tuple[float, ...], ident: str
) -> tuple[pd.DataFrame, dict[float, float], int]:
    frame = as_lazy(table)
    value = nw.col(column)
    bad_value = value.is_null() | value.is_nan() | ~value.is_finite() | (value < 0)
    n, bad, total, largest = scalars(
        frame,
        nw.len().alias("n"),
        count_true(bad_value).alias("bad"),
        nw.when(~bad_value).then(value).otherwise(0.0).sum().alias("total"),
        nw.when(~bad_value).then(value).otherwise(0.0).max().alias("largest"),
    )
    n, bad = int(n), int(bad or 0)
    if n == 0:
        raise ClvDataError("values must be a non-empty one-dimensional array of customer values.")
    if bad:
        raise ClvDataError(
            f"values must be finite and >= 0; {bad:,} customers are not. Drop those customers "
            "or clip negative values to 0 first."
        )
    total, largest = float(total), float(largest)
    if total <= 0:
        raise ClvDataError("values sum to 0: there is no value to concentrate.")
    scale = CURVE_BUCKETS / math.log1p(largest)
    bucket = ((value + 1.0).log() * scale).floor().cast(nw.Int64)
    grouped = (
        frame.with_columns(bucket.alias("_bucket"))
        .group_by("_bucket")
        .agg(nw.len().alias("n"), value.sum().alias("value"))
    )
    groups = to_caller(grouped, "pandas").sort_values("_bucket", ascending=False)
    counts = np.concatenate([[0], np.cumsum(groups["n"].to_numpy(dtype=np.int64))])
    sums = np.concatenate([[0.0], np.cumsum(groups["value"].to_numpy(dtype=float))])
    drawn = pd.DataFrame(
        {"share_of_customers": counts / n, "share_of_value": np.minimum(sums / total, 1.0)}
    )
    # Each mark falls between the curve's points at ranks j and j + 1, as numpy.interp finds
    # them on the exact curve (x_k = 100 k / n, y_k = 100 S_k / total, S_k the top k's value).
    places = {}
    for fraction in marks:
        x = 100.0 * fraction
        j = min(max(math.floor(fraction * n), 0), n)
        while j < n and 100.0 * ((j + 1) / n) <= x:
            j += 1
        while j > 0 and 100.0 * (j / n) > x:
            j -= 1
        places[fraction] = (x, j)
    ranks = sorted({j for _, j in places.values() if j < n})
    keys = rank_keys(frame, column, ident, ranks)
    before = scalars(
        frame,
        *[
            nw.when(ranked_before(keys[j], column, ident))
            .then(value)
            .otherwise(0.0)
            .sum()
            .alias(f"held{j}")
            for j in ranks
        ],
    )
    held = {j: float(v or 0.0) for j, v in zip(ranks, before, strict=True)}
    shares = {}
    for fraction, (x, j) in places.items():
        if j >= n:
            shares[fraction] = 100.0 * (total / total)
            continue
        x_low, x_high = 100.0 * (j / n), 100.0 * ((j + 1) / n)
        y_low = 100.0 * (held[j] / total)
        y_high = 100.0 * ((held[j] + keys[j].value) / total)
        slope = (y_high - y_low) / (x_high - x_low)
        shares[fraction] = float(slope * (x - x_low) + y_low)
    return drawn, shares, n


def plot_concentration_curve(
    curve: pd.DataFrame,
    marks: dict[float, float],
    *,
    n_customers: int,
    what: str = "predictive CLV",
    ax: Axes | None = None,
) -> Axes:
    """Draw a value concentration curve computed already (see :func:`plot_value_concentration`).

    Parameters
    ----------
    curve : DataFrame
        Points of the curve, from (0, 0) to (1, 1): ``share_of_customers`` and
        ``share_of_value`` (fractions), drawn joined by straight lines.
    marks : dict
        Fraction of customers (0.1 = the top 10%) -> share of the value they hold, in percent,
        annotated on the curve.
    n_customers : int
        Customers the curve describes (in the legend).
    what : str
        Name of the value, for the labels.
    ax : matplotlib Axes, optional

    Returns
    -------
    matplotlib Axes
        ``ax.lines[0]`` is the curve in percent.
    """
    ax = _axes(ax, (7.0, 5.5))
    drawn_x = 100.0 * curve["share_of_customers"].to_numpy(dtype=float)
    drawn_y = 100.0 * curve["share_of_value"].to_numpy(dtype=float)
    ax.plot(drawn_x, drawn_y, color=_ACTUAL, label=f"{what} (n = {n_customers:,})")
    ax.plot([0, 100], [0, 100], color="grey", linestyle=":", label="equal value per customer")
    for fraction, share in marks.items():
        ax.plot([100.0 * fraction], [share], marker="o", color=_MODEL, linestyle="none")
        ax.annotate(
            f"top {100 * fraction:g}% hold {share:.0f}%",
            (100.0 * fraction, share),
            xytext=(8, -14),
            textcoords="offset points",
            fontsize="small",
        )
    ax.set_xlim(0, 100)
    ax.set_ylim(0, 102)
    ax.set_xlabel(f"Top customers ranked by {what} (% of customers)")
    ax.set_ylabel(f"Share of total {what} (%)")
    ax.set_title(f"Share of total {what} held by the top customers")
    ax.grid(alpha=0.3)
    ax.legend(loc="lower right")
    return ax


# ------------------------------------------------------------------------------------------
# 7. Gamma-Gamma: observed vs model distribution of mean repeat spend
# ------------------------------------------------------------------------------------------


def plot_spend_distribution(
    spend_model: Any,
    data: pd.DataFrame,
    *,
    bins: int = 40,
    upper_quantile: float = 0.99,
    currency: str | None = None,
    ax: Axes | None = None,
) -> Axes:
    """Observed distribution of mean repeat spend vs the Gamma-Gamma model's.

    What is plotted: for the repeat buyers (``frequency > 0``), the histogram of their observed
    mean repeat spend ``zbar`` (``monetary_value``) against the model density of ``zbar``, i.e.
    ``f(zbar | x)`` of Fader & Hardie (note 025, eq. 4) averaged over the customers' ``x``
    (:func:`~clvpredict.evaluation.mean_spend_density`). Averaging over ``x`` matters: the mean
    of many purchases is less dispersed than a single purchase, so the population density of one
    transaction's value would not match the histogram. The histogram is normalised by *all*
    repeat buyers, so it is on the same scale as the model density although the x-axis stops at
    the ``upper_quantile`` of ``zbar`` (spend is heavy-tailed).

    Parameters
    ----------
    spend_model : fitted GammaGammaModel
    data : DataFrame or engine frame
        With ``frequency`` and ``monetary_value`` (currency units): pandas, or a summary of
        another engine (a Spark DataFrame with the customer id in a column), which computes the
        histogram (:func:`spend_histogram`).
    bins : int
        Number of histogram bins between 0 and the ``upper_quantile`` of ``zbar``.
    upper_quantile : float
        Quantile of the observed ``zbar`` where the x-axis stops, in (0, 1].
    currency : str, optional
        The amounts' currency for the axis labels ("currency units" without one).
    ax : matplotlib Axes, optional

    Returns
    -------
    matplotlib Axes

    Examples
    --------
    >>> import clvpredict as cp
    >>> from clvpredict.plotting import plot_spend_distribution
    >>> s = cp.datasets.load_cdnow_summary()
    >>> ax = plot_spend_distribution(cp.GammaGammaModel().fit(s), s)
    """
    if not 0 < upper_quantile <= 1:
        raise ClvDataError(f"upper_quantile={upper_quantile!r} must be in (0, 1], e.g. 0.99.")
    n_buyers, edges, counts = spend_histogram(data, bins, upper_quantile)
    upper = float(edges[-1])
    heights = counts / (n_buyers * np.diff(edges))
    grid = np.linspace(0.0, upper, 400)
    density = mean_spend_density(spend_model, data, grid)
    ax = _axes(ax)
    ax.bar(
        edges[:-1],
        heights,
        width=np.diff(edges),
        align="edge",
        color=_ACTUAL,
        alpha=0.45,
        edgecolor="white",
        label=f"observed zbar, {n_buyers:,} repeat buyers",
    )
    ax.plot(
        grid,
        density.to_numpy(),
        color=_MODEL,
        linewidth=2,
        label="Gamma-Gamma: density of zbar given x,\naveraged over the buyers' x",
    )
    ax.set_xlim(0, upper)
    money = money_unit(check_currency(currency))
    ax.set_xlabel(
        f"Mean spend per repeat purchase, zbar ({money}; axis cut at the "
        f"{100 * upper_quantile:g}th percentile)"
    )
    per = f"per {currency}" if currency else "per currency unit"
    ax.set_ylabel(f"Density (share of customers {per})")
    ax.set_title("Mean repeat spend: observed vs Gamma-Gamma model")
    ax.grid(axis="y", alpha=0.3)
    ax.legend(loc="upper right")
    return ax


def spend_histogram(
    data: Any, bins: int = 40, upper_quantile: float = 0.99
) -> tuple[int, np.ndarray, np.ndarray]:
    """Histogram of the repeat buyers' mean spend ``zbar``, cut at its ``upper_quantile``.

    Repeat buyers are the customers with ``frequency > 0`` and a finite ``monetary_value``.
    The edges run evenly from 0 to the ``upper_quantile`` of their ``zbar`` (numpy's linear
    method; the largest ``zbar`` if that is 0, or 1 if both are), and the counts are those of
    :func:`numpy.histogram` (each bin holds its left edge; the last its right one too).

    Parameters
    ----------
    data : DataFrame or engine frame
        A summary with ``frequency`` and ``monetary_value``: pandas, or a frame of another
        engine with the customer id in a column, where the engine finds the quantile exactly
        (:mod:`clvpredict.data.ranks`) and counts the bins in one group-by.
    bins : int
        Number of bins.
    upper_quantile : float
        In (0, 1].

    Returns
    -------
    tuple
        The number of repeat buyers, the ``bins + 1`` edges (currency units) and the counts.
    """
    needed = ("frequency", "monetary_value")
    if isinstance(data, pd.DataFrame):
        names = list(data.columns)
    elif is_engine_frame(data):
        names = as_lazy(data).collect_schema().names()
    else:
        names = []
    if any(c not in names for c in needed):
        raise ClvDataError(
            "data must be an RFM summary with frequency and monetary_value; build it with "
            "rfm_summary(..., monetary_value_col=...)."
        )
    if isinstance(data, pd.DataFrame):
        repeat = data["frequency"].to_numpy(dtype=float) > 0
        zbar = data["monetary_value"].to_numpy(dtype=float)[repeat]
        zbar = zbar[np.isfinite(zbar)]
        if len(zbar) == 0:
            raise ClvDataError("data has no repeat buyers with a monetary_value: nothing to plot.")
        upper = float(np.quantile(zbar, upper_quantile))
        upper = upper if upper > 0 else float(zbar.max()) or 1.0
        edges = np.linspace(0.0, upper, int(bins) + 1)
        counts, _ = np.histogram(zbar, bins=edges)
        return len(zbar), edges, counts
    ident = table_id_column(data)
    spend = nw.col("monetary_value")
    buyers = as_lazy(data).filter((nw.col("frequency") > 0) & spend.is_finite())
    n, largest = scalars(buyers, nw.len().alias("n"), spend.max().alias("largest"))
    n = int(n or 0)
    if n == 0:
        raise ClvDataError("data has no repeat buyers with a monetary_value: nothing to plot.")
    # Ascending position j of n values is rank n - 1 - j (ranks run from the largest).
    low, high = quantile_positions(n, upper_quantile)
    keys = rank_keys(buyers, "monetary_value", ident, [n - 1 - low, n - 1 - high])
    upper = linear_quantile(keys[n - 1 - low].value, keys[n - 1 - high].value, n, upper_quantile)
    upper = upper if upper > 0 else float(largest) or 1.0
    edges = np.linspace(0.0, upper, int(bins) + 1)
    # The bin of a value: how many inner edges it reaches, as numpy's histogram compares them.
    index = nw.lit(0)
    for edge in edges[1:-1]:
        index = index + (spend >= float(edge)).cast(nw.Int64)
    inside = buyers.filter((spend >= 0.0) & (spend <= upper))
    grouped = inside.with_columns(index.alias("_bin")).group_by("_bin").agg(nw.len().alias("n"))
    table = to_caller(grouped, "pandas")
    counts = np.zeros(int(bins), dtype=np.int64)
    counts[table["_bin"].to_numpy(dtype=np.int64)] = table["n"].to_numpy(dtype=np.int64)
    return n, edges, counts


# ------------------------------------------------------------------------------------------
# 8. Distribution of CLV across customers
# ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ClvHistogram:
    """A histogram of one CLV column across customers, on logarithmic bins; from
    :func:`clv_histogram`, drawn by :func:`plot_clv_distribution`.

    Attributes
    ----------
    column : str
        The CLV column (``"predictive_clv"`` or ``"simple_clv"``).
    n_customers : int
        Customers with a finite value.
    edges : ndarray
        ``bins + 1`` increasing bin edges (currency units), evenly spaced in ``log10``, from
        the floor (a power of 10) to the power of 10 at or above the largest value.
    counts : ndarray
        Customers per bin, as :func:`numpy.histogram` counts them on ``edges`` (each bin holds
        its left edge, the last its right one too).
    n_zero : int
        Customers with a value of 0 (or less), not drawn on the log axis.
    n_below : int
        Customers with a positive value under the floor, not drawn either.
    mean, median : float
        Over the ``n_customers`` (currency units; NaN without any).
    total : float
        Sum over them (currency units).
    horizon_months : int or None
        The predictive CLV's horizon, for the labels.
    """

    column: str
    n_customers: int
    edges: np.ndarray
    counts: np.ndarray
    n_zero: int
    n_below: int
    mean: float
    median: float
    total: float
    horizon_months: int | None = None


def _log_edges(smallest: float | None, largest: float | None, bins: int, floor: float | None):
    """Edges of ``bins`` log-spaced bins from the floor (three decades under the largest
    value's decade, or ``floor``) to the power of 10 at or above ``largest``."""
    floor, top = _extent_frame(smallest, largest, floor, decades=3)
    high = max(10.0 ** math.ceil(math.log10(top) - 1e-12), floor * 10.0)
    return np.geomspace(floor, high, int(bins) + 1)


def _check_bins(bins: Any) -> int:
    if isinstance(bins, bool) or not isinstance(bins, (int, np.integer)) or bins < 1:
        raise ClvDataError(f"bins={bins!r} must be a whole number >= 1.")
    return int(bins)


def clv_histogram(
    table: Any,
    column: str = "predictive_clv",
    *,
    bins: int = 40,
    floor: float | None = None,
    horizon_months: int | None = None,
    customer_id_col: str | None = None,
) -> ClvHistogram:
    """Histogram of a CLV column across customers, computed where the table lives.

    Parameters
    ----------
    table : DataFrame or engine frame
        A :func:`~clvpredict.clv_table`: pandas, or a frame of another engine (polars, DuckDB,
        pyarrow, Spark) with the customer id in a column. An engine computes the counts in one
        group-by on the bin index, the extremes, sum and zeros in one aggregate, and the
        median from the two customers around it (:func:`~clvpredict.data.ranks.rank_keys`):
        no row per customer leaves it.
    column : str
        The CLV column, in currency units.
    bins : int
        Number of bins, evenly spaced in ``log10`` between the floor and the power of 10 at or
        above the largest value.
    floor : float, optional
        The first edge (currency units, > 0). Default: three decades under the decade of the
        largest value (0.1 for a largest value of 942), or the decade of the smallest positive
        value when that is higher.
    horizon_months : int, optional
        The predictive CLV's horizon for the labels (default: a pandas table's
        ``attrs["horizon_months"]``).
    customer_id_col : str, optional
        The id column of an engine's table, when it cannot be told.

    Returns
    -------
    ClvHistogram
    """
    bins = _check_bins(bins)
    floor = _check_floor(floor)
    if isinstance(table, pd.DataFrame):
        if column not in table.columns:
            raise ClvDataError(
                f"column={column!r} is not in the table (columns: {list(map(str, table.columns))})."
            )
        if horizon_months is None:
            horizon_months = table.attrs.get("horizon_months")
        values = table[column].to_numpy(dtype=float)
        values = values[np.isfinite(values)]
        positive = values[values > 0]
        edges = _log_edges(
            float(positive.min()) if len(positive) else None,
            float(values.max()) if len(values) else None,
            bins,
            floor,
        )
        counts, _ = np.histogram(values, bins=edges)
        return ClvHistogram(
            column=column,
            n_customers=len(values),
            edges=edges,
            counts=counts.astype(np.int64),
            n_zero=int(np.sum(values <= 0)),
            n_below=int(np.sum((values > 0) & (values < edges[0]))),
            mean=float(values.mean()) if len(values) else float("nan"),
            median=float(np.median(values)) if len(values) else float("nan"),
            total=float(values.sum()),
            horizon_months=horizon_months,
        )
    if not is_engine_frame(table):
        raise ClvDataError(f"table must come from clv_table(...), got {type(table).__name__}.")
    names = as_lazy(table).collect_schema().names()
    if column not in names:
        raise ClvDataError(f"column={column!r} is not in the table (columns: {names}).")
    ident = table_id_column(table, customer_id_col)
    value = nw.col(column)
    rows = as_lazy(table).filter(value.is_finite())
    n, smallest, largest, total, n_zero = scalars(
        rows,
        nw.len().alias("n"),
        nw.when(value > 0).then(value).min().alias("smallest"),
        value.max().alias("largest"),
        value.sum().alias("total"),
        count_true(value <= 0).alias("zero"),
    )
    n = int(n or 0)
    edges = _log_edges(
        None if smallest is None else float(smallest),
        None if largest is None else float(largest),
        bins,
        floor,
    )
    # The bin of a value: how many inner edges it reaches, as numpy's histogram compares them.
    index = nw.lit(0)
    for edge in edges[1:-1]:
        index = index + (value >= float(edge)).cast(nw.Int64)
    inside = rows.filter((value >= float(edges[0])) & (value <= float(edges[-1])))
    grouped = inside.with_columns(index.alias("_bin")).group_by("_bin").agg(nw.len().alias("n"))
    found = to_caller(grouped, "pandas")
    counts = np.zeros(bins, dtype=np.int64)
    counts[found["_bin"].to_numpy(dtype=np.int64)] = found["n"].to_numpy(dtype=np.int64)
    median = float("nan")
    if n:
        # Ascending position j of n values is rank n - 1 - j (ranks run from the largest).
        low, high = quantile_positions(n, 0.5)
        keys = rank_keys(rows, column, ident, sorted({n - 1 - low, n - 1 - high}))
        median = linear_quantile(keys[n - 1 - low].value, keys[n - 1 - high].value, n, 0.5)
    n_zero = int(n_zero or 0)
    return ClvHistogram(
        column=column,
        n_customers=n,
        edges=edges,
        counts=counts,
        n_zero=n_zero,
        n_below=n - n_zero - int(counts.sum()),
        mean=float(total) / n if n else float("nan"),
        median=median,
        total=float(total or 0.0),
        horizon_months=horizon_months,
    )


def plot_clv_distribution(
    table: Any,
    column: str = "predictive_clv",
    *,
    bins: int = 40,
    floor: float | None = None,
    currency: str | None = None,
    ax: Axes | None = None,
) -> Axes:
    """How CLV is spread across customers: a histogram on a logarithmic money axis.

    CLV is heavy-tailed (on CDNOW the largest 12-month predictive CLV is over 100 times
    the median), so the bins are evenly spaced in ``log10``: each spans the same ratio of values,
    and the bars show how many customers are worth about 1, 10, 100 or 1,000. The median and
    the mean are marked; their gap tells how much a few large customers lift the mean. A CLV
    of 0, or one under the floor, has no place on a log axis: those customers are counted in
    the title instead.

    Parameters
    ----------
    table : DataFrame, engine frame or ClvHistogram
        A :func:`~clvpredict.clv_table` (pandas, or another engine's, which computes the
        histogram: :func:`clv_histogram`), or its histogram computed already (as the report
        passes one).
    column : str
        The CLV column (currency units), ``"predictive_clv"`` by default.
    bins, floor
        As in :func:`clv_histogram` (unused for a histogram given).
    currency : str, optional
        The amounts' currency for the axis label (default: a pandas table's
        ``attrs["currency"]``; "currency units" without one).
    ax : matplotlib Axes, optional

    Returns
    -------
    matplotlib Axes
        ``ax.containers[0]`` holds one bar per bin (left edge, width and height = customers).

    Examples
    --------
    >>> import clvpredict as cp
    >>> from clvpredict.plotting import plot_clv_distribution
    >>> s = cp.rfm_summary(cp.datasets.load_cdnow(), "customer_id", "date", "amount",
    ...                    time_unit="W")
    >>> table = cp.clv_table(cp.BetaGeoModel().fit(s), cp.GammaGammaModel().fit(s), s,
    ...                      lifetime_years=1.0, currency="USD")
    >>> ax = plot_clv_distribution(table)
    >>> import matplotlib.pyplot as plt
    >>> plt.close(ax.figure)  # the next plot draws on axes of its own, not these log ones
    """
    if isinstance(table, ClvHistogram):
        histogram = table
    else:
        histogram = clv_histogram(table, column, bins=bins, floor=floor)
    if currency is None and isinstance(table, pd.DataFrame):
        currency = table.attrs.get("currency")
    currency = check_currency(currency)
    money = money_unit(currency)
    edges, counts = histogram.edges, histogram.counts
    ax = _axes(ax)
    ax.bar(
        edges[:-1],
        counts,
        width=np.diff(edges),
        align="edge",
        color=_ACTUAL,
        alpha=0.6,
        edgecolor="white",
        linewidth=0.5,
        label=f"customers per bin (n = {int(counts.sum()):,} drawn)",
    )
    ax.set_xscale("log")
    _set_money_ticks(ax.xaxis, *_money_ticks(edges[0], edges[-1]), {})
    ax.set_xlim(edges[0], edges[-1])
    for name, value, style in (
        ("median", histogram.median, "-"),
        ("mean", histogram.mean, "--"),
    ):
        if np.isfinite(value) and edges[0] <= value <= edges[-1]:
            ax.axvline(
                value,
                color=_MODEL,
                linestyle=style,
                linewidth=2,
                label=f"{name} {value:,.2f} {money}",
            )
        else:
            ax.plot([], [], " ", label=f"{name} {value:,.2f} {money} (off the axis)")
    name = histogram.column.replace("_", " ").replace("clv", "CLV")
    what = name[:1].upper() + name[1:]
    if histogram.column == "simple_clv":
        what = "Simple-formula CLV over the customer's lifetime"
    elif histogram.horizon_months:
        what += f" over the next {duration_phrase(histogram.horizon_months, 'M')}"
    ax.set_xlabel(f"{what} ({money}; log scale)")
    ax.set_ylabel("Customers (count per bin)")
    left_out = []
    if histogram.n_zero:
        left_out.append(f"{histogram.n_zero:,} at 0")
    if histogram.n_below:
        left_out.append(f"{histogram.n_below:,} below {_money_tick(float(edges[0]))}")
    title = f"{what.split(' over ')[0]} across {histogram.n_customers:,} customers"
    if left_out:
        title += f"\n(not drawn on the log axis: {', '.join(left_out)})"
    ax.set_title(title)
    ax.grid(axis="y", alpha=0.3)
    ax.legend(loc="upper right", fontsize="small")
    return ax

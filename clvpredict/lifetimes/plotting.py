"""lifetimes' ``plot_*`` functions, drawn with matplotlib as clvpredict's plots are.

Each function keeps lifetimes' name, arguments, titles and axis labels, and returns the
matplotlib Axes it drew on. Like :mod:`clvpredict.plotting` they draw on pyplot's current axes
(or the ``ax`` given), so they show in Jupyter and with ``plt.show()``, and they follow
:func:`clvpredict.plotting.standalone_figures`.

Differences from lifetimes:

* ``plot_period_transactions`` draws the model's *expected* number of customers with each
  repeat-purchase count (the sum over customers of P(X(T) = n) at each customer's age), where
  lifetimes drew one random simulation of that many customers: the bars no longer change from
  run to run. Rows are counted with their ``weights``.
* ``plot_expected_repeat_purchases`` takes the next colour of the axes' cycle through
  matplotlib's public interface (lifetimes reached into a private attribute that matplotlib 3.8
  removed, so it failed there), and draws a legend only when ``label`` is given.
* The heterogeneity plots use their ``suptitle`` argument (lifetimes ignored it in
  ``plot_transaction_rate_heterogeneity``).
* ``plot_cumulative_transactions`` and ``plot_incremental_transactions`` accept
  ``freq_multiplier`` (passed to :func:`~clvpredict.lifetimes.utils.expected_cumulative_transactions`).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from ..plotting import _axes
from .utils import calculate_alive_path, expected_cumulative_transactions

__all__ = [
    "plot_calibration_purchases_vs_holdout_purchases",
    "plot_cumulative_transactions",
    "plot_dropout_rate_heterogeneity",
    "plot_expected_repeat_purchases",
    "plot_frequency_recency_matrix",
    "plot_history_alive",
    "plot_incremental_transactions",
    "plot_period_transactions",
    "plot_probability_alive_matrix",
    "plot_transaction_rate_heterogeneity",
]


def _expected_frequency_counts(model: Any, frequencies: np.ndarray) -> np.ndarray | None:
    """Expected customers with each of ``frequencies`` repeat purchases, or None when the
    fitter has no purchase-count distribution (then a simulation stands in, as in lifetimes)."""
    pmf = getattr(getattr(model, "_model", None), "_new_customer_pmf", None)
    if pmf is None or "T" not in model.data:
        return None
    weights = model.data["weights"] if "weights" in model.data else 1.0
    ages = pd.Series(np.broadcast_to(weights, len(model.data)), index=model.data["T"].to_numpy())
    per_age = ages.groupby(level=0).sum()
    counts = np.zeros(len(frequencies))
    theta = model._theta()
    for age, customers in per_age.items():
        counts += customers * np.asarray(pmf(frequencies.astype(int), float(age), *theta))
    return counts


def plot_period_transactions(
    model: Any,
    max_frequency: int = 7,
    title: str = "Frequency of Repeat Transactions",
    xlabel: str = "Number of Calibration Period Transactions",
    ylabel: str = "Customers",
    **kwargs: Any,
) -> Any:
    """Bars of customers by repeat purchases in calibration: actual and the model's.

    Parameters
    ----------
    model : fitted fitter
        Its ``data`` gives the actual counts (and the customers' ages).
    max_frequency : int
        Bars for 0 .. ``max_frequency - 1`` repeat purchases.
    title, xlabel, ylabel : str
        Texts of the plot.
    **kwargs
        ``label`` (the two legend entries, default ``["Actual", "Model"]``), ``ax``, and
        options for matplotlib's ``bar``.

    Returns
    -------
    matplotlib Axes
        ``ax.patches``: the actual bars, then the model's.
    """
    labels = kwargs.pop("label", ["Actual", "Model"])
    ax = kwargs.pop("ax", None)
    if ax is None:
        # lifetimes drew these bars with DataFrame.plot, which opens a figure of its own.
        import matplotlib.pyplot as plt

        ax = plt.figure().add_subplot()
    data = model.data
    weights = data["weights"] if "weights" in data else pd.Series(1.0, index=data.index)
    actual = weights.groupby(data["frequency"].to_numpy()).sum().sort_index()
    frequencies = np.arange(max_frequency)
    expected = _expected_frequency_counts(model, frequencies)
    if expected is None:
        simulated = model.generate_new_data(size=data.shape[0])["frequency"]
        expected = simulated.value_counts().reindex(frequencies, fill_value=0).to_numpy()
    actual = actual.reindex(frequencies, fill_value=0).to_numpy(dtype=float)
    width = 0.25
    ax.bar(frequencies - width / 2, actual, width, label=labels[0], **kwargs)
    ax.bar(frequencies + width / 2, expected, width, label=labels[1], **kwargs)
    ax.set_xticks(frequencies, [str(n) for n in frequencies])
    ax.legend()
    ax.set_title(title)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    return ax


def plot_calibration_purchases_vs_holdout_purchases(
    model: Any,
    calibration_holdout_matrix: pd.DataFrame,
    kind: str = "frequency_cal",
    n: int = 7,
    **kwargs: Any,
) -> Any:
    """Mean holdout purchases, actual and predicted, by a calibration-period feature.

    Parameters
    ----------
    model : fitted fitter
        Fitted on the calibration columns.
    calibration_holdout_matrix : DataFrame
        From :func:`~clvpredict.lifetimes.utils.calibration_and_holdout_data`.
    kind : str
        Group by ``"frequency_cal"``, ``"recency_cal"``, ``"T_cal"`` or
        ``"time_since_last_purchase"`` (``T_cal - recency_cal``).
    n : int
        Number of groups drawn (the smallest values).
    **kwargs
        ``ax`` and options for matplotlib's ``plot``.

    Returns
    -------
    matplotlib Axes
        ``ax.lines[0]``: actual means (``frequency_holdout``); ``ax.lines[1]``: predicted
        (``model_predictions``).
    """
    x_labels = {
        "frequency_cal": "Purchases in calibration period",
        "recency_cal": "Age of customer at last purchase",
        "T_cal": "Age of customer at the end of calibration period",
        "time_since_last_purchase": "Time since user made last purchase",
    }
    ax = _axes(kwargs.pop("ax", None))
    summary = calibration_holdout_matrix.copy()
    horizon = summary["duration_holdout"].iloc[0]
    summary["model_predictions"] = model.conditional_expected_number_of_purchases_up_to_time(
        horizon, summary["frequency_cal"], summary["recency_cal"], summary["T_cal"]
    )
    if kind == "time_since_last_purchase":
        summary[kind] = summary["T_cal"] - summary["recency_cal"]
    means = summary.groupby(kind)[["frequency_holdout", "model_predictions"]].mean().iloc[:n]
    for column in means.columns:
        ax.plot(means.index.to_numpy(), means[column].to_numpy(), label=column, **kwargs)
    ax.set_title("Actual Purchases in Holdout Period vs Predicted Purchases")
    ax.set_xlabel(x_labels[kind])
    ax.set_ylabel("Average of Purchases in Holdout Period")
    ax.legend()
    return ax


def _matrix_plot(
    matrix: np.ndarray, title: str, xlabel: str, ylabel: str, kwargs: dict[str, Any]
) -> Any:
    ax = _axes(kwargs.pop("ax", None))
    interpolation = kwargs.pop("interpolation", "none")
    image = ax.imshow(matrix, interpolation=interpolation, **kwargs)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    # Square picture whatever the grid's shape, as lifetimes drew it.
    left, right, bottom, top = image.get_extent()
    ax.set_aspect(abs((right - left) / (top - bottom)))
    ax.figure.colorbar(image, ax=ax)
    return ax


def plot_frequency_recency_matrix(
    model: Any,
    T: float = 1,
    max_frequency: int | None = None,
    max_recency: int | None = None,
    title: str | None = None,
    xlabel: str = "Customer's Historical Frequency",
    ylabel: str = "Customer's Recency",
    **kwargs: Any,
) -> Any:
    """Heatmap of the purchases expected in the next ``T``, by frequency and recency.

    Customers are of age ``max_recency`` (default: the largest fitted ``T``); frequencies run to
    ``max_frequency`` (default: the largest fitted one). Row ``i`` is recency ``i``, column
    ``j`` frequency ``j``.

    Returns
    -------
    matplotlib Axes
        ``ax.get_images()[0].get_array()`` is the matrix.
    """
    if max_frequency is None:
        max_frequency = int(model.data["frequency"].max())
    if max_recency is None:
        max_recency = int(model.data["T"].max())
    recency, frequency = np.meshgrid(
        np.arange(max_recency + 1, dtype=float),
        np.arange(max_frequency + 1, dtype=float),
        indexing="ij",
    )
    values = model.conditional_expected_number_of_purchases_up_to_time(
        T, frequency.ravel(), recency.ravel(), np.full(frequency.size, float(max_recency))
    )
    matrix = np.asarray(values, dtype=float).reshape(frequency.shape)
    if title is None:
        unit = "Unit" if T == 1 else "Units"
        title = (
            f"Expected Number of Future Purchases for {T} {unit} of Time,"
            "\nby Frequency and Recency of a Customer"
        )
    return _matrix_plot(matrix, title, xlabel, ylabel, kwargs)


def plot_probability_alive_matrix(
    model: Any,
    max_frequency: int | None = None,
    max_recency: int | None = None,
    title: str = "Probability Customer is Alive,\nby Frequency and Recency of a Customer",
    xlabel: str = "Customer's Historical Frequency",
    ylabel: str = "Customer's Recency",
    **kwargs: Any,
) -> Any:
    """Heatmap of P(alive) by frequency and recency (``model.conditional_probability_alive_matrix``)."""
    matrix = model.conditional_probability_alive_matrix(max_frequency, max_recency)
    return _matrix_plot(np.asarray(matrix, dtype=float), title, xlabel, ylabel, kwargs)


def plot_expected_repeat_purchases(
    model: Any,
    title: str = "Expected Number of Repeat Purchases per Customer",
    xlabel: str = "Time Since First Purchase",
    ax: Any = None,
    label: str | None = None,
    **kwargs: Any,
) -> Any:
    """Expected repeat purchases of a new customer against time since the first purchase.

    A solid line up to the largest fitted ``T`` and a dashed one on to 1.5 times it, in one
    colour (``color`` / ``c``, or the axes' next one).
    """
    ax = _axes(ax)
    color = kwargs.pop("c", None)
    color = kwargs.pop("color", None) if color is None else color
    max_age = float(model.data["T"].max())
    times = np.linspace(0, max_age, 100)
    (solid,) = ax.plot(
        times,
        model.expected_number_of_purchases_up_to_time(times),
        color=color,
        label=label,
        **kwargs,
    )
    times = np.linspace(max_age, 1.5 * max_age, 100)
    ax.plot(
        times,
        model.expected_number_of_purchases_up_to_time(times),
        color=solid.get_color(),
        ls="--",
        **kwargs,
    )
    ax.set_title(title)
    ax.set_xlabel(xlabel)
    if label is not None:
        ax.legend(loc="lower right")
    return ax


def plot_history_alive(
    model: Any,
    t: int,
    transactions: pd.DataFrame,
    datetime_col: str,
    freq: str = "D",
    start_date: Any = None,
    ax: Any = None,
    **kwargs: Any,
) -> Any:
    """One customer's P(alive) over ``t`` periods from the first purchase, purchases marked.

    ``transactions`` are that customer's purchases; the path is
    :func:`~clvpredict.lifetimes.utils.calculate_alive_path`.
    """
    ax = _axes(ax)
    dates = pd.to_datetime(transactions[datetime_col])
    first = dates.min()
    if start_date is None:
        start_date = first
    path = calculate_alive_path(model, transactions, datetime_col, t, freq)
    path_dates = pd.date_range(start=first, periods=len(path), freq=freq)
    ax.plot(path_dates, path.to_numpy(), "-", label="P_alive", **kwargs)
    purchase_periods = dates.dt.to_period(freq).drop_duplicates().dt.start_time
    ax.vlines(
        purchase_periods.to_numpy(),
        ymin=0,
        ymax=1,
        colors="r",
        linestyles="dashed",
        label="purchases",
    )
    ax.set_ylim(0, 1.0)
    ax.set_yticks(np.arange(0, 1.1, 0.1))
    ax.set_xlim(pd.Timestamp(start_date), path_dates[-1])
    ax.legend(loc=3)
    ax.set_ylabel("P_alive")
    ax.set_title("History of P_alive")
    return ax


def _tracking_plot(
    tracking: pd.DataFrame,
    t_cal: float,
    set_index_date: bool,
    title: str,
    xlabel: str,
    ylabel: str,
    ax: Any,
    kwargs: dict[str, Any],
) -> Any:
    ax = _axes(ax)
    x = tracking.index.to_timestamp() if set_index_date else np.asarray(tracking.index)
    for column in ("actual", "predicted"):
        ax.plot(x, tracking[column].to_numpy(), label=column, **kwargs)
    ax.legend()
    ax.set_title(title)
    if set_index_date:
        ax.axvline(x=x[int(t_cal)], color="r", linestyle="--")
        xlabel = "date"
    else:
        ax.axvline(x=t_cal, color="r", linestyle="--")
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    return ax


def plot_cumulative_transactions(
    model: Any,
    transactions: pd.DataFrame,
    datetime_col: str,
    customer_id_col: str,
    t: int,
    t_cal: float,
    datetime_format: str | None = None,
    freq: str = "D",
    set_index_date: bool = False,
    title: str = "Tracking Cumulative Transactions",
    xlabel: str = "day",
    ylabel: str = "Cumulative Transactions",
    ax: Any = None,
    freq_multiplier: int = 1,
    **kwargs: Any,
) -> Any:
    """Actual and expected cumulative repeat purchases, a dashed line at the calibration end
    ``t_cal`` (see :func:`~clvpredict.lifetimes.utils.expected_cumulative_transactions`)."""
    tracking = expected_cumulative_transactions(
        model,
        transactions,
        datetime_col,
        customer_id_col,
        t,
        datetime_format=datetime_format,
        freq=freq,
        freq_multiplier=freq_multiplier,
        set_index_date=set_index_date,
    )
    return _tracking_plot(tracking, t_cal, set_index_date, title, xlabel, ylabel, ax, kwargs)


def plot_incremental_transactions(
    model: Any,
    transactions: pd.DataFrame,
    datetime_col: str,
    customer_id_col: str,
    t: int,
    t_cal: float,
    datetime_format: str | None = None,
    freq: str = "D",
    set_index_date: bool = False,
    title: str = "Tracking Daily Transactions",
    xlabel: str = "day",
    ylabel: str = "Transactions",
    ax: Any = None,
    freq_multiplier: int = 1,
    **kwargs: Any,
) -> Any:
    """Actual and expected repeat purchases per period (differences of the cumulative ones)."""
    tracking = expected_cumulative_transactions(
        model,
        transactions,
        datetime_col,
        customer_id_col,
        t,
        datetime_format=datetime_format,
        freq=freq,
        freq_multiplier=freq_multiplier,
        set_index_date=set_index_date,
    )
    incremental = tracking - tracking.shift(1)
    return _tracking_plot(incremental, t_cal, set_index_date, title, xlabel, ylabel, ax, kwargs)


def _heterogeneity_plot(
    distribution: Any,
    mean: float,
    variance: float,
    suptitle: str,
    xlabel: str,
    ylabel: str,
    suptitle_fontsize: float,
    ax: Any,
    kwargs: dict[str, Any],
) -> Any:
    if ax is None:
        import matplotlib.pyplot as plt

        _, ax = plt.subplots(1)
    figure = ax.figure
    x = np.linspace(0, distribution.ppf(0.99), 100)
    figure.suptitle(suptitle, fontsize=suptitle_fontsize, fontweight="bold")
    ax.set_title(f"mean: {mean:.3f}, var: {variance:.3f}")
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    figure.tight_layout(rect=(0, 0.03, 1, 0.95))
    ax.plot(x, distribution.pdf(x), **kwargs)
    return ax


def plot_transaction_rate_heterogeneity(
    model: Any,
    suptitle: str = "Heterogeneity in Transaction Rate",
    xlabel: str = "Transaction Rate",
    ylabel: str = "Density",
    suptitle_fontsize: float = 14,
    ax: Any = None,
    **kwargs: Any,
) -> Any:
    """Density of the customers' purchase rates: the Gamma(``r``, ``alpha``) of the model, to
    its 99th percentile, on a new figure (or ``ax``)."""
    r, alpha = model._unload_params("r", "alpha")
    distribution = stats.gamma(r, scale=1.0 / alpha)
    return _heterogeneity_plot(
        distribution,
        r / alpha,
        r / alpha**2,
        suptitle,
        xlabel,
        ylabel,
        suptitle_fontsize,
        ax,
        kwargs,
    )


def plot_dropout_rate_heterogeneity(
    model: Any,
    suptitle: str = "Heterogeneity in Dropout Probability",
    xlabel: str = "Dropout Probability p",
    ylabel: str = "Density",
    suptitle_fontsize: float = 14,
    ax: Any = None,
    **kwargs: Any,
) -> Any:
    """Density of the customers' dropout probabilities: the Beta(``a``, ``b``) of a BG/NBD or
    MBG/NBD model, to its 99th percentile, on a new figure (or ``ax``)."""
    a, b = model._unload_params("a", "b")
    distribution = stats.beta(a, b)
    mean = a / (a + b)
    variance = a * b / ((a + b) ** 2) / (a + b + 1)
    return _heterogeneity_plot(
        distribution, mean, variance, suptitle, xlabel, ylabel, suptitle_fontsize, ax, kwargs
    )

"""Model evaluation: calibration/holdout checks and the tables behind the diagnostic plots.

Every function returns plain pandas objects (a reporting job can save them with ``to_csv``) and
works through the purchase model's public methods (``expected_purchases``,
``expected_purchases_new_customer``, ``probability_of_purchases``, ``probability_alive``), so any
purchase model with that interface plugs in.

Conventions are those of :func:`~clvpredict.rfm_summary`: purchases are aggregated by calendar
day, a *repeat transaction* is a purchase day after the customer's first purchase day, and times
are measured in the purchase model's time unit (``purchase_model.time_unit_``).

:func:`evaluate_holdout` and :func:`compare_models` also take a calibration/holdout summary held
by an engine (polars, DuckDB, pyarrow, Spark): each customer's forecast is computed in that
engine's kind (on Spark, on the executors) and every table but the per-customer
``predictions`` is made of engine aggregates, so no table of one row per customer comes to this
process from Spark.
"""

from __future__ import annotations

import re
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from itertools import pairwise
from typing import Any

import narwhals.stable.v2 as nw
import numpy as np
import pandas as pd

from ._progress import progress
from ._registry import all_models
from ._units import UNIT_NAMES, unit_in_days
from ._validation import check_is_fitted, model_time_unit
from .data.covariates import attach_covariates
from .data.engines import (
    UNIT_COLUMN,
    as_lazy,
    backend,
    count_true,
    frame_kind,
    head_rows,
    is_engine_frame,
    scalars,
    single_unit,
    to_caller,
)
from .data.summaries import (
    _nw,
    _with_periods,
    daily_with_holdout,
    period_bounds,
    period_index,
)
from .data.transactions import (
    AfterEndPolicy,
    ReturnsPolicy,
    TransactionLog,
    _end_day,
    _future_rows,
    _parse_dates,
    _prepare_transactions,
    as_log,
)
from .exceptions import ClvDataError, ConvergenceWarning, describe_values
from .models._base import in_callers_kind
from .models.gamma_gamma import gamma_gamma_log_likelihood

__all__ = [
    "HoldoutEvaluation",
    "compare_models",
    "evaluate_holdout",
    "expected_repeat_transactions_over_time",
    "frequency_recency_matrix",
    "mean_spend_density",
    "period_transactions",
    "probability_alive_history",
    "value_concentration",
]

# ------------------------------------------------------------------------------------------
# Helpers
# ------------------------------------------------------------------------------------------


def model_label(model: Any) -> str:
    """Short human name of a model, e.g. ``"BG/NBD"`` (``"BG/NBD + covariates"`` for one
    fitted with covariates), for legends and titles."""
    label = getattr(model, "label", "") or type(model).__name__
    if getattr(model, "covariate_design_", None) is not None:
        label += " + covariates"
    return label


def _distinct_labels(models: Sequence[Any]) -> list[str]:
    """Each model's :func:`model_label`, told apart by settings where several share one.

    Among models of one label, the settings whose values differ between them are added to
    the label of each model that changed them from their defaults:
    ``"BG/NBD + covariates (covariate_penalty=0.01)"`` next to ``"BG/NBD + covariates"``.
    Labels still equal after that (the same settings: models fitted elsewhere, or given
    parameters) are numbered ``"BG/NBD (2)"``, ``"BG/NBD (3)"`` in order.
    """
    labels = [model_label(m) for m in models]
    settings = [_changed(m) for m in models]
    named = []
    for label, mine in zip(labels, settings, strict=True):
        group = [s for s, other in zip(settings, labels, strict=True) if other == label]
        keys = dict.fromkeys(k for s in group for k in s)
        differ = [k for k in keys if len({_setting_text(s.get(k, _UNCHANGED)) for s in group}) > 1]
        shown = [f"{k}={_setting_text(mine[k])}" for k in differ if k in mine]
        named.append(f"{label} ({', '.join(shown)})" if shown else label)
    seen: dict[str, int] = {}
    out = []
    for label in named:
        seen[label] = seen.get(label, 0) + 1
        out.append(label if seen[label] == 1 else f"{label} ({seen[label]})")
    return out


#: Stands for a setting at its default in :func:`_distinct_labels`.
_UNCHANGED = "<default>"


def _changed(model: Any) -> dict[str, Any]:
    """A model's settings changed from their defaults (none for an object that cannot say)."""
    changed = getattr(model, "_changed_settings", None)
    return changed() if callable(changed) else {}


def _setting_text(value: Any) -> str:
    """A setting's value as a label shows it: ``0.01``, ``['channel']``, ``{'channel': 'web'}``
    (a tuple as the list it stands for, a numpy number as the number)."""
    if value is _UNCHANGED:
        return value
    if isinstance(value, tuple):
        value = list(value)
    return repr(_plain_value(value))


def _covariate_test(model: Any) -> dict[str, Any]:
    """The likelihood-ratio test of a model's covariates against the same model without them
    (``lr_statistic``, ``lr_df``, ``lr_p_value``), and ``lr_note``: empty when the test is
    there, else why not (no covariates; a penalised fit, whose estimates are not
    maximum-likelihood ones; a model without its fit without covariates)."""
    out = {"lr_statistic": np.nan, "lr_df": np.nan, "lr_p_value": np.nan}
    if getattr(model, "covariate_design_", None) is None:
        return {**out, "lr_note": "no covariates"}
    penalties = ", ".join(
        f"{name}={_setting_text(getattr(model, name))}"
        for name in ("covariate_penalty", "penalizer_coef")
        if getattr(model, name, 0.0)
    )
    if penalties:
        note = f"no LR test: penalised fit ({penalties}), not maximum likelihood"
        return {**out, "lr_note": note}
    try:
        test = model.likelihood_ratio_test()
    except ClvDataError:
        return {**out, "lr_note": "no LR test: no fit without covariates to test against"}
    return {
        "lr_statistic": float(test["statistic"]),
        "lr_df": float(test["df"]),
        "lr_p_value": float(test["p_value"]),
        "lr_note": "",
    }


def _discrete(model: Any) -> bool:
    """Whether a purchase model counts discrete opportunities (whole periods), like the BG/BB."""
    return bool(getattr(model, "discrete_time", False))


def _require_columns(data: Any, columns: Sequence[str], what: str, fix: str) -> None:
    if not isinstance(data, pd.DataFrame):
        raise ClvDataError(f"{what} must be a pandas DataFrame, got {type(data).__name__}. {fix}")
    missing = [c for c in columns if c not in data.columns]
    if missing:
        raise ClvDataError(
            f"{what} lacks column(s) {missing}; it has {list(map(str, data.columns))}. {fix}"
        )


def _design(model: Any) -> Any:
    """The covariate design of a model fitted with covariates; ``None`` for any other model."""
    return getattr(model, "covariate_design_", None)


def _check_covariates_argument(model: Any, covariates: Any, needed: bool, how: str) -> Any:
    """The model's covariate design, after refusing ``covariates=`` for a model without
    covariates, and (with ``needed``) its absence for a model with them (``how`` says what to
    give)."""
    design = _design(model)
    if design is None:
        if covariates is not None:
            raise ClvDataError(
                f"covariates= was given, but this {model_label(model)} model was fitted without "
                "covariates; drop covariates=."
            )
        return None
    if needed and covariates is None:
        raise ClvDataError(
            f"This {model_label(model)} model was fitted with the covariates "
            f"{list(design.columns)!r}, so its answer depends on each customer's values: {how}"
        )
    return design


def _with_covariates(data: pd.DataFrame, covariates: Any, columns: list[str], what: str):
    """A pandas summary with the covariate ``columns``: its own, or joined from
    ``covariates`` (a per-customer table); refused, naming them, when it has neither."""
    if covariates is not None:
        return attach_covariates(data, covariates, columns=columns)
    absent = [c for c in columns if c not in data.columns]
    if absent:
        raise ClvDataError(
            f"{what} lacks the covariate column(s) {absent} of the model; it has "
            f"{list(map(str, data.columns))}. Pass covariates= (one row per customer, indexed by "
            "customer id) or join them with clvpredict.attach_covariates."
        )
    return data


def _plain_value(value: Any) -> Any:
    """A numpy scalar as the Python value (for profiles shown in titles and attrs)."""
    return value.item() if isinstance(value, np.generic) else value


def _profile_text(profile: Any) -> str:
    """A covariate profile for titles: ``channel=web, loyalty=1``."""
    return ", ".join(f"{name}={value}" for name, value in profile.items())


def _pearson(a: np.ndarray, b: np.ndarray) -> float:
    """Pearson correlation, NaN (not a warning) when either side is constant or too short."""

    def constant(v: np.ndarray) -> bool:
        # Rounding noise in a constant prediction must not produce a spurious correlation.
        return bool(np.ptp(v) <= 1e-12 * max(1.0, float(np.max(np.abs(v)))))

    if len(a) < 2 or constant(a) or constant(b):
        return float("nan")
    return float(np.corrcoef(a, b)[0, 1])


def _pearson_from_sums(
    n: int,
    centred: tuple[float, float, float],
    range_a: tuple[float, float],
    range_b: tuple[float, float],
) -> float:
    """Pearson correlation of ``n`` pairs from their centred sums, as :func:`_pearson` gives it.

    Parameters
    ----------
    n : int
        Number of pairs.
    centred : (float, float, float)
        ``sum (a - mean_a)(b - mean_b)``, ``sum (a - mean_a)^2`` and ``sum (b - mean_b)^2``,
        centred on the means (units of ``a`` times units of ``b``, and squares).
    range_a, range_b : (float, float)
        Smallest and largest value of each side, for the test of a constant side.

    Notes
    -----
    Sums of centred products lose no digits to cancellation, unlike ``sum ab - n mean_a
    mean_b``. Means that are off by ``d_a`` and ``d_b`` (their own rounding) change the
    cross sum by exactly ``n d_a d_b`` (the centred sums of each side vanish), which is of
    relative order ``eps^2 (mean / std)^2``.
    """

    def constant(low: float, high: float) -> bool:
        return bool(high - low <= 1e-12 * max(1.0, abs(low), abs(high)))

    if n < 2 or constant(*range_a) or constant(*range_b):
        return float("nan")
    # As numpy.corrcoef: the covariances over n - 1, divided by each standard deviation.
    cross, square_a, square_b = (value / (n - 1) for value in centred)
    value = cross / np.sqrt(square_a) / np.sqrt(square_b)
    return float(np.clip(value, -1.0, 1.0))


def _nice_ceil(value: float) -> float:
    """Smallest number of the form {1, 2, 5} x 10^k that is >= ``value``."""
    if value <= 0:
        return 1.0
    exponent = np.floor(np.log10(value))
    for step in (1.0, 2.0, 5.0, 10.0):
        candidate = step * 10.0**exponent
        if candidate >= value * (1 - 1e-12):
            return float(candidate)
    return float(10.0 ** (exponent + 1))  # pragma: no cover - the loop always returns


def frequency_bin_labels(max_frequency: int) -> list[str]:
    """Labels ``"0", "1", ..., "<max-1>", "<max>+"`` of the calibration-frequency bins."""
    return [str(k) for k in range(max_frequency)] + [f"{max_frequency}+"]


def _check_max_frequency(max_frequency: Any) -> int:
    if (
        isinstance(max_frequency, bool)
        or not float(max_frequency).is_integer()
        or max_frequency < 1
    ):
        raise ClvDataError(
            f"max_frequency={max_frequency!r} must be a whole number >= 1 (the last bin holds "
            "customers with at least that many repeat purchases)."
        )
    return int(max_frequency)


def _frequency_bins(frequency: np.ndarray, max_frequency: int) -> np.ndarray:
    return np.minimum(frequency.astype(np.int64), max_frequency)


def recency_bin_edges(recency: np.ndarray, n_bins: int = 8) -> np.ndarray:
    """Default recency bin edges: ``n_bins`` equal widths from 0, width rounded up to 1-2-5.

    The width is ``max(recency) / n_bins`` rounded up to a number of the form {1, 2, 5} x 10^k,
    so that on CDNOW (recency up to ~39 weeks) the edges are 0, 5, 10, ..., 40 weeks.
    """
    top = float(np.max(recency)) if len(recency) else 0.0
    width = _nice_ceil(top / n_bins) if top > 0 else 1.0
    count = max(int(np.ceil(top / width - 1e-9)), 1)
    return width * np.arange(count + 1)


def _recency_bins(recency: np.ndarray, edges: np.ndarray) -> tuple[np.ndarray, list[str]]:
    """Bin 0 holds recency == 0 (no repeat purchase); bin j >= 1 holds (edges[j-1], edges[j]]."""
    labels = ["0 (no repeat)"] + [f"({_fmt(lo)}, {_fmt(hi)}]" for lo, hi in pairwise(edges)]
    codes = np.searchsorted(edges, recency, side="left")
    codes = np.where(recency <= 0, 0, np.maximum(codes, 1))
    return codes, labels


def _recency_edges(
    recency_bins: Sequence[float] | None, recency: np.ndarray, unit: str
) -> np.ndarray:
    """The recency bin edges to use: ``recency_bins`` checked against the largest recency, or
    :func:`recency_bin_edges` of ``recency`` (which depend on its maximum only)."""
    if recency_bins is None:
        return recency_bin_edges(recency)
    edges = np.asarray(recency_bins, dtype=float)
    if edges.ndim != 1 or len(edges) < 2 or edges[0] != 0 or np.any(np.diff(edges) <= 0):
        raise ClvDataError(
            f"recency_bins={list(np.ravel(edges))!r} must be increasing edges starting at 0, "
            "e.g. [0, 5, 10, 20, 40] (in the model's time unit)."
        )
    if recency.max() > edges[-1]:
        raise ClvDataError(
            f"recency_bins end at {edges[-1]:g} but some recency reaches {recency.max():g} "
            f"{UNIT_NAMES[unit]}; add a last edge >= {recency.max():g}."
        )
    return edges


def _totals_table(
    n: int, total_actual: float, total_predicted: float, model_index: pd.Index
) -> pd.DataFrame:
    """The holdout's totals: customers, actual and predicted repeat purchases (all customers),
    their difference and the percentage error (positive: over-forecast)."""
    return pd.DataFrame(
        {
            "n_customers": [n],
            "actual": [total_actual],
            "predicted": [total_predicted],
            "difference": [total_predicted - total_actual],
            "pct_error": [
                100.0 * (total_predicted - total_actual) / total_actual if total_actual else np.nan
            ],
        },
        index=model_index,
    )


def _fmt(value: float) -> str:
    return f"{value:g}"


def _binned_means(
    codes: np.ndarray, labels: list[str], actual: np.ndarray, predicted: np.ndarray, name: str
) -> pd.DataFrame:
    k = len(labels)
    n = np.bincount(codes, minlength=k)[:k]
    sum_actual = np.bincount(codes, weights=actual, minlength=k)[:k]
    sum_predicted = np.bincount(codes, weights=predicted, minlength=k)[:k]
    # Squares of the deviations from each bin's own mean: no digits lost to cancellation.
    with np.errstate(invalid="ignore", divide="ignore"):
        means = np.where(n > 0, sum_actual / n, 0.0)
    deviation = actual - means[codes]
    square_actual = np.bincount(codes, weights=deviation * deviation, minlength=k)[:k]
    return _binned_table(n, sum_actual, sum_predicted, square_actual, labels, name)


def _binned_table(
    n: np.ndarray,
    sum_actual: np.ndarray,
    sum_predicted: np.ndarray,
    square_actual: np.ndarray,
    labels: list[str],
    name: str,
) -> pd.DataFrame:
    """Mean actual and predicted holdout purchases per bin, and the spread of the actual ones,
    from the bins' customer counts, sums (purchases) and sums of squared deviations of the
    actual purchases from the bin's mean (purchases squared).

    The means are NaN for an empty bin; ``sd_actual`` (sample standard deviation, ``n - 1`` in
    the denominator) is NaN for a bin of fewer than two customers, which has no spread to
    estimate.
    """
    with np.errstate(invalid="ignore", divide="ignore"):
        out = pd.DataFrame(
            {
                "n_customers": n.astype(np.int64),
                "mean_actual": np.where(n > 0, sum_actual / n, np.nan),
                "mean_predicted": np.where(n > 0, sum_predicted / n, np.nan),
                "sd_actual": np.where(
                    n > 1, np.sqrt(np.maximum(square_actual, 0.0) / (n - 1)), np.nan
                ),
            },
            index=pd.Index(labels, name=name),
        )
    return out


# ------------------------------------------------------------------------------------------
# Calibration / holdout evaluation
# ------------------------------------------------------------------------------------------


@dataclass(frozen=True, repr=False, eq=False)
class HoldoutEvaluation:
    """How well a purchase (and optionally a spend) model forecast the holdout period.

    All tables are plain DataFrames; ``predictions`` is a frame of the summary's own kind when the
    summary is held by an engine. Times are in ``time_unit``; purchase counts are purchase days.

    Attributes
    ----------
    model : str
        Name of the purchase model.
    time_unit : str
        Unit of ``recency``, ``T`` and ``duration_holdout`` (e.g. ``"W"``).
    duration_holdout : float
        Holdout length in ``time_unit`` (the longest, if customers differ).
    predictions : DataFrame
        One row per customer: ``frequency, recency, T, duration_holdout``, ``actual`` (purchase
        days in the holdout), ``predicted`` (the model's conditional expectation over
        ``duration_holdout``), ``error`` (predicted - actual), ``frequency_bin``,
        ``recency_bin``; with a spend model also ``predicted_avg_value`` and
        ``monetary_value_holdout`` (currency). Indexed like the summary for a pandas summary;
        for a summary held by an engine, a frame of its kind (a Spark DataFrame, a polars
        DataFrame or LazyFrame, a DuckDB relation, a pyarrow Table) with the customer id column
        first, then these columns, and no ``attrs``. On Spark it is a query, computed on the
        executors again (not cached) each time it is written or collected.
    metrics : DataFrame
        One row (indexed by model name): ``n_customers``, ``mae``, ``rmse`` (purchases per
        customer) and ``correlation`` (Pearson, predicted vs actual).
    totals : DataFrame
        One row: ``n_customers``, ``actual`` and ``predicted`` repeat transactions in the holdout
        (all customers), ``difference`` (predicted - actual) and ``pct_error``
        (100 x difference / actual; positive means over-forecast).
    by_frequency : DataFrame
        Indexed by calibration frequency bin ``"0" ... "6", "7+"``: ``n_customers``,
        ``mean_actual`` and ``mean_predicted`` holdout purchases per customer (NaN for empty
        bins), and ``sd_actual``, the sample standard deviation (``n - 1`` in the denominator)
        of the bin's holdout purchases per customer (NaN for a bin of fewer than two
        customers): ``sd_actual / sqrt(n_customers)`` is the standard error of ``mean_actual``.
    by_recency : DataFrame
        The same by calibration recency bin, with ``recency_low`` and ``recency_high`` (in
        ``time_unit``). Bin ``"0 (no repeat)"`` is recency 0 (frequency 0); the others are
        right-closed intervals ``(low, high]``.
    spend : DataFrame or None
        With a spend model, for customers who bought in the holdout: rows ``all``,
        ``repeat buyers`` (frequency > 0 in calibration) and ``one-time buyers``; columns
        ``n_customers``, ``mean_predicted`` (the spend model's expected average value),
        ``mean_actual`` (mean of each customer's holdout average spend), ``pct_error``, ``mae``,
        ``rmse`` and ``correlation`` (currency units, per customer, unweighted).
    """

    model: str
    time_unit: str
    duration_holdout: float
    predictions: pd.DataFrame
    metrics: pd.DataFrame
    totals: pd.DataFrame
    by_frequency: pd.DataFrame
    by_recency: pd.DataFrame
    spend: pd.DataFrame | None = field(default=None)

    def tables(self) -> dict[str, pd.DataFrame]:
        """The result's tables by name, e.g. to write each to a CSV file (``predictions`` is a
        frame of the summary's kind when an engine held the summary)."""
        out = {
            "predictions": self.predictions,
            "metrics": self.metrics,
            "totals": self.totals,
            "by_frequency": self.by_frequency,
            "by_recency": self.by_recency,
        }
        if self.spend is not None:
            out["spend"] = self.spend
        return out

    def __repr__(self) -> str:
        unit = UNIT_NAMES.get(self.time_unit, self.time_unit)
        tot = self.totals.iloc[0]
        met = self.metrics.iloc[0]
        lines = [
            f"HoldoutEvaluation({self.model}, holdout {self.duration_holdout:g} {unit}, "
            f"{int(tot['n_customers']):,} customers)",
            f"  repeat transactions in holdout: actual {tot['actual']:,.0f}, "
            f"predicted {tot['predicted']:,.1f} ({tot['pct_error']:+.1f}%)",
            f"  per customer: MAE {met['mae']:.4f}, RMSE {met['rmse']:.4f}, "
            f"correlation {met['correlation']:.4f}",
        ]
        if self.spend is not None:
            row = self.spend.loc["all"]
            lines.append(
                f"  spend of {int(row['n_customers']):,} holdout buyers: predicted "
                f"{row['mean_predicted']:.2f}, actual {row['mean_actual']:.2f} "
                f"({row['pct_error']:+.1f}%)"
            )
        lines.append("  tables: " + ", ".join(self.tables()))
        return "\n".join(lines)


def _holdout_predictions(purchase_model: Any, data: pd.DataFrame) -> np.ndarray:
    """Conditional expected purchases over each customer's own ``duration_holdout``."""
    durations = data["duration_holdout"].to_numpy(dtype=float)
    predicted = np.empty(len(data))
    # One call per distinct holdout length keeps the public method's scalar-t signature.
    for duration in np.unique(durations):
        rows = durations == duration
        subset = data.iloc[np.flatnonzero(rows)]
        predicted[rows] = np.asarray(purchase_model.expected_purchases(float(duration), subset))
    return predicted


#: The spend check's groups of holdout buyers: name, and whether calibration frequency > 0 is
#: required (True), excluded (False) or either (None).
_SPEND_GROUPS = (("all", None), ("repeat buyers", True), ("one-time buyers", False))
#: The spend check's columns after ``n_customers`` (NaN for a group with no customer).
_SPEND_COLUMNS = ("mean_predicted", "mean_actual", "pct_error", "mae", "rmse", "correlation")


def _spend_row(
    n: int,
    mean_predicted: float = np.nan,
    mean_actual: float = np.nan,
    mae: float = np.nan,
    rmse: float = np.nan,
    correlation: float = np.nan,
) -> dict[str, Any]:
    """One group's row of the spend check (currency units), its ``pct_error`` derived."""
    if not n:
        return {"n_customers": 0} | dict.fromkeys(_SPEND_COLUMNS, np.nan)
    return {
        "n_customers": n,
        "mean_predicted": mean_predicted,
        "mean_actual": mean_actual,
        "pct_error": 100.0 * (mean_predicted - mean_actual) / mean_actual
        if mean_actual
        else np.nan,
        "mae": mae,
        "rmse": rmse,
        "correlation": correlation,
    }


def _spend_table(data: pd.DataFrame, predicted_value: np.ndarray) -> pd.DataFrame:
    actual_value = data["monetary_value_holdout"].to_numpy(dtype=float)
    bought = data["frequency_holdout"].to_numpy() > 0
    repeat = data["frequency"].to_numpy() > 0
    rows = []
    for _, needs_repeat in _SPEND_GROUPS:
        mask = bought if needs_repeat is None else bought & (repeat == needs_repeat)
        pred, act = predicted_value[mask], actual_value[mask]
        n = int(mask.sum())
        if not n:
            rows.append(_spend_row(0))
            continue
        err = pred - act
        rows.append(
            _spend_row(
                n,
                float(pred.mean()),
                float(act.mean()),
                float(np.abs(err).mean()),
                float(np.sqrt((err**2).mean())),
                _pearson(pred, act),
            )
        )
    return pd.DataFrame(rows, index=pd.Index([g for g, _ in _SPEND_GROUPS], name="group"))


def evaluate_holdout(
    purchase_model: Any,
    cal_holdout: Any,
    spend_model: Any = None,
    *,
    max_frequency: int = 7,
    recency_bins: Sequence[float] | None = None,
) -> HoldoutEvaluation:
    """Compare a fitted model's holdout forecast with what customers actually did.

    Parameters
    ----------
    purchase_model : fitted purchase model (e.g. :class:`~clvpredict.BetaGeoModel`)
        Fitted on the calibration columns of ``cal_holdout``; its
        ``expected_purchases(t, data)`` gives the forecast.
    cal_holdout : DataFrame or engine frame
        From :func:`~clvpredict.calibration_holdout_summary`: ``frequency``, ``recency``, ``T``,
        ``frequency_holdout``, ``duration_holdout`` (and ``monetary_value``,
        ``monetary_value_holdout`` for the spend check). Times in the model's unit. pandas, or a
        summary held by an engine (polars, DuckDB, pyarrow, Spark), whose unit is read from its
        ``time_unit`` column.
    spend_model : fitted GammaGammaModel, optional
        When given, its ``expected_average_value`` is compared with the holdout spend.
    max_frequency : int
        Calibration frequencies ``>= max_frequency`` share the last bin (default ``"7+"``).
    recency_bins : sequence of float, optional
        Increasing recency bin edges in the model's time unit, starting at 0; bins are
        ``(e[j-1], e[j]]`` and recency 0 (no repeat purchase) is a bin of its own. By default
        eight equal widths rounded up to a 1-2-5 number (on CDNOW in weeks: 0, 5, ..., 40).

    Returns
    -------
    HoldoutEvaluation
        Per-customer predictions, error metrics, totals, the by-frequency and by-recency tables
        and (with ``spend_model``) the spend check; see :class:`HoldoutEvaluation`. For a
        summary held by an engine, the customers' forecasts are computed in it (on Spark, on
        the executors) and every table but ``predictions`` is built from aggregates of them,
        with the numbers of the pandas path (sums in another order: equal to about 1e-15
        relative); ``predictions`` is then a frame of the summary's kind.

    Raises
    ------
    ClvDataError
        Missing columns, a model fitted in another time unit, bad bins.

    Examples
    --------
    >>> import clvpredict as cp
    >>> from clvpredict.evaluation import evaluate_holdout
    >>> ch = cp.calibration_holdout_summary(
    ...     cp.datasets.load_cdnow(), "customer_id", "date", "1997-09-30", "1998-06-30",
    ...     monetary_value_col="amount", time_unit="W")
    >>> result = evaluate_holdout(cp.BetaGeoModel().fit(ch), ch)
    >>> int(result.totals["actual"].iloc[0])
    1882
    >>> result.by_frequency.columns.tolist()
    ['n_customers', 'mean_actual', 'mean_predicted', 'sd_actual']
    """
    if is_engine_frame(cal_holdout):
        return _evaluate_in_engine(
            purchase_model, cal_holdout, spend_model, max_frequency, recency_bins
        )
    fix = "Build it with calibration_holdout_summary(...)."
    _require_columns(
        cal_holdout,
        ("frequency", "recency", "T", "frequency_holdout", "duration_holdout"),
        "cal_holdout",
        fix,
    )
    if len(cal_holdout) == 0:
        raise ClvDataError("cal_holdout has no customers: there is nothing to evaluate.")
    unit = model_time_unit(purchase_model, cal_holdout)
    max_frequency = _check_max_frequency(max_frequency)
    actual = cal_holdout["frequency_holdout"].to_numpy(dtype=float)
    bad = ~np.isfinite(actual) | (actual < 0)
    if bad.any():
        raise ClvDataError(
            "Column 'frequency_holdout' must hold counts >= 0; offending values: "
            f"{describe_values(actual[bad])}. {fix}"
        )
    frequency = cal_holdout["frequency"].to_numpy(dtype=float)
    recency = cal_holdout["recency"].to_numpy(dtype=float)
    predicted = _holdout_predictions(purchase_model, cal_holdout)
    error = predicted - actual

    edges = _recency_edges(recency_bins, recency, unit)
    freq_codes = _frequency_bins(frequency, max_frequency)
    freq_labels = frequency_bin_labels(max_frequency)
    rec_codes, rec_labels = _recency_bins(recency, edges)

    name = model_label(purchase_model)
    predictions = pd.DataFrame(
        {
            "frequency": cal_holdout["frequency"].to_numpy(),
            "recency": recency,
            "T": cal_holdout["T"].to_numpy(dtype=float),
            "duration_holdout": cal_holdout["duration_holdout"].to_numpy(dtype=float),
            "actual": cal_holdout["frequency_holdout"].to_numpy(),
            "predicted": predicted,
            "error": error,
            "frequency_bin": np.asarray(freq_labels, dtype=object)[freq_codes],
            "recency_bin": np.asarray(rec_labels, dtype=object)[rec_codes],
        },
        index=cal_holdout.index,
    )
    model_index = pd.Index([name], name="model")
    metrics = pd.DataFrame(
        {
            "n_customers": [len(actual)],
            "mae": [float(np.mean(np.abs(error)))],
            "rmse": [float(np.sqrt(np.mean(error**2)))],
            "correlation": [_pearson(predicted, actual)],
        },
        index=model_index,
    )
    total_actual, total_predicted = float(actual.sum()), float(predicted.sum())
    totals = _totals_table(len(actual), total_actual, total_predicted, model_index)
    by_frequency = _binned_means(freq_codes, freq_labels, actual, predicted, "frequency_bin")
    by_recency = _binned_means(rec_codes, rec_labels, actual, predicted, "recency_bin")
    by_recency.insert(0, "recency_high", np.concatenate([[0.0], edges[1:]]))
    by_recency.insert(0, "recency_low", np.concatenate([[0.0], edges[:-1]]))

    spend = None
    if spend_model is not None:
        check_is_fitted(spend_model, "spend model")
        _require_columns(
            cal_holdout,
            ("monetary_value", "monetary_value_holdout"),
            "cal_holdout",
            "Build it with calibration_holdout_summary(..., monetary_value_col=...).",
        )
        predicted_value = np.asarray(spend_model.expected_average_value(cal_holdout), dtype=float)
        predictions["predicted_avg_value"] = predicted_value
        predictions["monetary_value_holdout"] = cal_holdout["monetary_value_holdout"].to_numpy(
            dtype=float
        )
        spend = _spend_table(cal_holdout, predicted_value)

    durations = predictions["duration_holdout"].to_numpy()
    for table in (predictions, metrics, totals, by_frequency, by_recency):
        table.attrs.update(time_unit=unit, model=name)
    return HoldoutEvaluation(
        model=name,
        time_unit=unit,
        duration_holdout=float(durations.max()),
        predictions=predictions,
        metrics=metrics,
        totals=totals,
        by_frequency=by_frequency,
        by_recency=by_recency,
        spend=spend,
    )


# ------------------------------------------------------------------------------------------
# Calibration / holdout evaluation of a summary held by an engine
# ------------------------------------------------------------------------------------------

_HOLDOUT_COLUMNS = ("frequency", "recency", "T", "frequency_holdout", "duration_holdout")
_MONEY_COLUMNS = ("monetary_value", "monetary_value_holdout")


@in_callers_kind
def _holdout_table(purchase_model: Any, data: pd.DataFrame, spend_model: Any) -> pd.DataFrame:
    """Each customer's holdout forecast next to what happened, one row per customer of ``data``.

    Runs on a pandas summary (on Spark, on each batch of customers on the executors); every
    value depends on the customer's own row only. Columns: ``frequency``, ``recency``, ``T``,
    ``duration_holdout`` (the model's time unit), ``actual`` (holdout purchase days),
    ``predicted`` (conditional expectation over the customer's ``duration_holdout``),
    ``error`` (predicted - actual); with ``spend_model``, ``predicted_avg_value`` and
    ``monetary_value_holdout`` (currency units).
    """
    actual = data["frequency_holdout"].to_numpy()
    predicted = _holdout_predictions(purchase_model, data)
    table = pd.DataFrame(
        {
            "frequency": data["frequency"].to_numpy(),
            "recency": data["recency"].to_numpy(dtype=float),
            "T": data["T"].to_numpy(dtype=float),
            "duration_holdout": data["duration_holdout"].to_numpy(dtype=float),
            "actual": actual,
            "predicted": predicted,
            "error": predicted - actual.astype(float),
        },
        index=data.index,
    )
    if spend_model is not None:
        table["predicted_avg_value"] = np.asarray(
            spend_model.expected_average_value(data), dtype=float
        )
        table["monetary_value_holdout"] = data["monetary_value_holdout"].to_numpy(dtype=float)
    return table


def _checked_unit(purchase_model: Any, units: Sequence[Any]) -> str:
    """The purchase model's unit, checked (as :func:`model_time_unit` checks a pandas summary's
    attrs) against the smallest and largest value of a summary's ``time_unit`` column (empty:
    the summary has none); a column holding two units is refused."""
    recorded = pd.DataFrame()
    recorded.attrs["time_unit"] = single_unit(pd.Series(list(units), dtype=object))
    return model_time_unit(purchase_model, recorded)


def _bin_label(code: Any, labels: list[str]) -> Any:
    """An engine expression: the label of a bin code ``0 .. len(labels) - 1``."""
    label = nw.lit(labels[-1])
    for position in range(len(labels) - 2, -1, -1):
        label = nw.when(code == position).then(nw.lit(labels[position])).otherwise(label)
    return label


def _engine_checks(
    purchase_model: Any, lazy: nw.LazyFrame, spend_model: Any, max_frequency: Any
) -> tuple[str, int, float, float]:
    """The checks of :func:`evaluate_holdout` on an engine summary, as one aggregate.

    Returns the model's time unit, the checked ``max_frequency``, the largest calibration
    recency and the longest holdout (both in that unit).
    """
    fix = "Build it with calibration_holdout_summary(...)."
    names = lazy.collect_schema().names()
    missing = [c for c in _HOLDOUT_COLUMNS if c not in names]
    if missing:
        raise ClvDataError(f"cal_holdout lacks column(s) {missing}; it has {names}. {fix}")
    holdout = nw.col("frequency_holdout")
    bad = holdout.is_null() | (holdout < 0)
    if lazy.collect_schema()["frequency_holdout"].is_float():
        bad = bad | ~holdout.is_finite()
    exprs = [
        nw.len().alias("n"),
        count_true(bad).alias("bad"),
        nw.col("recency").max().alias("top"),
        nw.col("duration_holdout").max().alias("longest"),
    ]
    if UNIT_COLUMN in names:
        # As text: the column of an empty summary may have no type (polars 1.30 has no min).
        unit = nw.col(UNIT_COLUMN).cast(nw.String)
        exprs += [unit.min().alias("lo"), unit.max().alias("hi")]
    n, n_bad, top, longest, *units = scalars(lazy, *exprs)
    if not n:
        raise ClvDataError("cal_holdout has no customers: there is nothing to evaluate.")
    unit = _checked_unit(purchase_model, units)
    max_frequency = _check_max_frequency(max_frequency)
    if n_bad:
        # As floats, the way the pandas path reads the column, for the same message.
        shown = np.array([row[0] for row in head_rows(lazy.filter(bad).select(holdout), 5)], float)
        more = f", ... ({n_bad - len(shown)} more)" if n_bad > len(shown) else ""
        raise ClvDataError(
            "Column 'frequency_holdout' must hold counts >= 0; offending values: "
            f"{describe_values(shown)}{more}. {fix}"
        )
    if spend_model is not None:
        check_is_fitted(spend_model, "spend model")
        missing = [c for c in _MONEY_COLUMNS if c not in names]
        if missing:
            raise ClvDataError(
                f"cal_holdout lacks column(s) {missing}; it has {names}. Build it with "
                "calibration_holdout_summary(..., monetary_value_col=...)."
            )
    return unit, max_frequency, float(top), float(longest)


def _group_sums(frame: nw.LazyFrame, keys: list[str], spend: bool) -> pd.DataFrame:
    """First pass: per group of ``keys``, the customers, sums and extremes of the forecast."""
    error = nw.col("error")
    terms = {
        "actual": nw.col("actual").cast(nw.Float64),
        "predicted": nw.col("predicted"),
        "abs_error": error.abs(),
        "sq_error": error * error,
    }
    if spend:
        value, spent = nw.col("predicted_avg_value"), nw.col("monetary_value_holdout")
        # Only the groups of holdout buyers are read: the others' spent is NaN.
        terms |= {
            "value": value,
            "spent": spent,
            "abs_value_error": (value - spent).abs(),
            "sq_value_error": (value - spent) * (value - spent),
        }
    extremes = ["actual", "predicted"] + (["value", "spent"] if spend else [])
    # Elementary aggregations of prepared columns: what every engine's group-by takes.
    prepared = frame.select(*keys, *(expr.alias(f"_{name}") for name, expr in terms.items()))
    aggregates = [nw.len().alias("n")]
    aggregates += [nw.col(f"_{name}").sum().alias(f"sum_{name}") for name in terms]
    aggregates += [nw.col(f"_{name}").min().alias(f"min_{name}") for name in extremes]
    aggregates += [nw.col(f"_{name}").max().alias(f"max_{name}") for name in extremes]
    out = prepared.group_by(keys).agg(*aggregates).collect().to_pandas()
    return out.sort_values(keys, kind="stable").reset_index(drop=True)


def _combine(groups: pd.DataFrame) -> dict[str, float]:
    """Counts, sums and extremes of a union of groups of :func:`_group_sums`."""
    out = {c: float(groups[c].sum()) for c in groups.columns if c == "n" or c.startswith("sum_")}
    for column in groups.columns:
        if column.startswith("min_"):
            out[column] = float(groups[column].min())
        elif column.startswith("max_"):
            out[column] = float(groups[column].max())
    out["n"] = int(groups["n"].sum())
    return out


def _spend_table_from_sums(
    groups: dict[str, dict[str, float]], centred: dict[str, tuple[float, float, float]]
) -> pd.DataFrame:
    """The spend check of :func:`_spend_table` from each group's sums (currency units)."""
    rows = []
    for name, _ in _SPEND_GROUPS:
        sums = groups[name]
        n = sums["n"]
        if not n:
            rows.append(_spend_row(0))
            continue
        rows.append(
            _spend_row(
                n,
                sums["sum_value"] / n,
                sums["sum_spent"] / n,
                sums["sum_abs_value_error"] / n,
                float(np.sqrt(sums["sum_sq_value_error"] / n)),
                _pearson_from_sums(
                    n,
                    centred[name],
                    (sums["min_value"], sums["max_value"]),
                    (sums["min_spent"], sums["max_spent"]),
                ),
            )
        )
    return pd.DataFrame(rows, index=pd.Index([g for g, _ in _SPEND_GROUPS], name="group"))


def _evaluate_in_engine(
    purchase_model: Any,
    cal_holdout: Any,
    spend_model: Any,
    max_frequency: Any,
    recency_bins: Sequence[float] | None,
) -> HoldoutEvaluation:
    """:func:`evaluate_holdout` of a summary held by an engine (polars, DuckDB, pyarrow, Spark).

    The forecast of each customer is computed in the engine's kind (on Spark, on the
    executors); every table but ``predictions`` is made of aggregates of it: one aggregate for
    the checks, then one group-by (customers, sums and extremes per frequency bin, recency bin
    and holdout purchase) and one aggregate of sums centred on the means the group-by gave
    (for the correlations, and each bin's spread of actual purchases). Only those rows come to
    this process.
    """
    kind = frame_kind(cal_holdout)
    lazy = as_lazy(cal_holdout)
    unit, k, top, longest = _engine_checks(purchase_model, lazy, spend_model, max_frequency)
    edges = _recency_edges(recency_bins, np.array([top]), unit)
    freq_labels = frequency_bin_labels(k)
    rec_labels = _recency_bins(np.zeros(0), edges)[1]

    scored = _holdout_table(purchase_model, cal_holdout, spend_model)
    spark = kind == "spark"
    if spark:
        # Read by the two passes below; computed once on the executors, released after them.
        scored = scored.cache()
    try:
        frame = as_lazy(scored)
        id_col = frame.collect_schema().names()[0]
        frequency = nw.col("frequency").cast(nw.Int64)
        # As _frequency_bins and _recency_bins: min(frequency, k); the number of edges below
        # recency (0 for recency <= 0, which is below none of them).
        freq_code = nw.when(frequency >= k).then(nw.lit(k)).otherwise(frequency)
        rec_code = nw.sum_horizontal(
            *((nw.col("recency") > float(edge)).cast(nw.Int64) for edge in edges)
        )
        keyed = frame.with_columns(
            freq_code.alias("_frequency_code"),
            rec_code.alias("_recency_code"),
            (nw.col("actual") > 0).cast(nw.Int64).alias("_bought"),
        )
        groups = _group_sums(
            keyed, ["_frequency_code", "_recency_code", "_bought"], spend_model is not None
        )
        overall = _combine(groups)
        n = overall["n"]
        mean_predicted = overall["sum_predicted"] / n
        mean_actual = overall["sum_actual"] / n
        actual = nw.col("actual").cast(nw.Float64)
        centred = [
            ((nw.col("predicted") - mean_predicted) * (actual - mean_actual)).sum(),
            ((nw.col("predicted") - mean_predicted) ** 2).sum(),
            ((actual - mean_actual) ** 2).sum(),
        ]
        spend_groups: dict[str, dict[str, float]] = {}
        if spend_model is not None:
            value, spent = nw.col("predicted_avg_value"), nw.col("monetary_value_holdout")
            for name, repeat in _SPEND_GROUPS:
                rows = groups["_bought"] == 1
                mask = nw.col("_bought") == 1
                if repeat is not None:
                    rows &= (groups["_frequency_code"] > 0) == repeat
                    mask = mask & ((nw.col("_frequency_code") > 0) == repeat)
                group = _combine(groups[rows]) if rows.any() else {"n": 0}
                spend_groups[name] = group
                if group["n"]:
                    mv, ms = group["sum_value"] / group["n"], group["sum_spent"] / group["n"]
                else:
                    mv = ms = 0.0
                for product in ((value - mv) * (spent - ms), (value - mv) ** 2, (spent - ms) ** 2):
                    centred.append(nw.when(mask).then(product).otherwise(nw.lit(0.0)).sum())
        per_bin: dict[str, pd.DataFrame] = {}
        spread_at: dict[tuple[str, int], int] = {}
        for code, labels in (("_frequency_code", freq_labels), ("_recency_code", rec_labels)):
            bins = groups.groupby(code)[["n", "sum_actual", "sum_predicted"]].sum()
            per_bin[code] = bins = bins.reindex(range(len(labels)), fill_value=0)
            # Each bin's actual purchases centred on the bin's mean, as _binned_means squares
            # them; a bin of one customer has no spread to estimate.
            for j, (count, total) in enumerate(zip(bins["n"], bins["sum_actual"], strict=True)):
                if count > 1:
                    spread_at[(code, j)] = len(centred)
                    deviation = actual - float(total) / int(count)
                    centred.append(
                        nw.when(nw.col(code) == j)
                        .then(deviation * deviation)
                        .otherwise(nw.lit(0.0))
                        .sum()
                    )
        sums = scalars(keyed, *(expr.alias(f"c{i}") for i, expr in enumerate(centred)))
    finally:
        if spark:
            scored.unpersist()
    sums = [float(v) for v in sums]

    name = model_label(purchase_model)
    model_index = pd.Index([name], name="model")
    metrics = pd.DataFrame(
        {
            "n_customers": [n],
            "mae": [overall["sum_abs_error"] / n],
            "rmse": [float(np.sqrt(overall["sum_sq_error"] / n))],
            "correlation": [
                _pearson_from_sums(
                    n,
                    tuple(sums[:3]),
                    (overall["min_predicted"], overall["max_predicted"]),
                    (overall["min_actual"], overall["max_actual"]),
                )
            ],
        },
        index=model_index,
    )
    total_actual, total_predicted = overall["sum_actual"], overall["sum_predicted"]
    totals = _totals_table(n, total_actual, total_predicted, model_index)
    tables = []
    for code, labels, what in (
        ("_frequency_code", freq_labels, "frequency_bin"),
        ("_recency_code", rec_labels, "recency_bin"),
    ):
        bins = per_bin[code]
        squares = [
            sums[spread_at[(code, j)]] if (code, j) in spread_at else 0.0 for j in bins.index
        ]
        tables.append(
            _binned_table(
                bins["n"].to_numpy(dtype=np.int64),
                bins["sum_actual"].to_numpy(dtype=float),
                bins["sum_predicted"].to_numpy(dtype=float),
                np.array(squares, dtype=float),
                labels,
                what,
            )
        )
    by_frequency, by_recency = tables
    by_recency.insert(0, "recency_high", np.concatenate([[0.0], edges[1:]]))
    by_recency.insert(0, "recency_low", np.concatenate([[0.0], edges[:-1]]))
    spend = None
    if spend_model is not None:
        spend = _spend_table_from_sums(
            spend_groups,
            {g: tuple(sums[3 + 3 * i : 6 + 3 * i]) for i, (g, _) in enumerate(_SPEND_GROUPS)},
        )
    for table in (metrics, totals, by_frequency, by_recency):
        table.attrs.update(time_unit=unit, model=name)

    columns = [
        id_col,
        "frequency",
        "recency",
        "T",
        "duration_holdout",
        "actual",
        "predicted",
        "error",
        "frequency_bin",
        "recency_bin",
    ]
    if spend_model is not None:
        columns += ["predicted_avg_value", "monetary_value_holdout"]
    predictions = as_lazy(scored).with_columns(
        _bin_label(freq_code, freq_labels).alias("frequency_bin"),
        _bin_label(rec_code, rec_labels).alias("recency_bin"),
    )
    return HoldoutEvaluation(
        model=name,
        time_unit=unit,
        duration_holdout=longest,
        predictions=to_caller(predictions.select(columns), kind),
        metrics=metrics,
        totals=totals,
        by_frequency=by_frequency,
        by_recency=by_recency,
        spend=spend,
    )


# ------------------------------------------------------------------------------------------
# Tracking: repeat transactions over calendar time
# ------------------------------------------------------------------------------------------

_PERIOD = re.compile(r"^\s*(\d*)\s*([DW])\s*$", re.IGNORECASE)


def _period_days(freq: str) -> int:
    match = _PERIOD.match(freq) if isinstance(freq, str) else None
    if match is None or match.group(1) in ("0", "00"):
        raise ClvDataError(
            f"freq={freq!r} is not supported. Use fixed-length periods: 'D' (days), 'W' (weeks) "
            "or a multiple such as '2W' or '14D'. Calendar months have unequal lengths, so use "
            "'4W' for roughly monthly periods."
        )
    count = int(match.group(1) or 1)
    return count * (7 if match.group(2).upper() == "W" else 1)


def expected_repeat_transactions_over_time(
    purchase_model: Any,
    transactions: pd.DataFrame | TransactionLog,
    customer_id_col: str | None = None,
    datetime_col: str | None = None,
    calibration_end: Any = None,
    observation_end: Any = None,
    *,
    freq: str | None = None,
    monetary_value_col: str | None = None,
    datetime_format: str | None = None,
    returns: ReturnsPolicy = "error",
    after_end: AfterEndPolicy = "error",
    covariates: Any = None,
) -> pd.DataFrame:
    """Actual and model-expected repeat transactions per period, over calibration and holdout.

    The cohort is the customers whose first purchase day is on or before ``calibration_end``
    (the customers of :func:`~clvpredict.calibration_holdout_summary`). Each joins at its own
    first purchase day; its repeat transactions are its later purchase days (several purchases on
    one day count once). The model side is exact, not simulated: by the end of calendar day
    ``d`` the cohort is expected to have made ``sum_i E[X((d - first_i) days)]`` repeat
    purchases, with ``E[X(t)]`` the model's unconditional expectation
    (``expected_purchases_new_customer``) and ``t`` converted to the model's time unit. A model
    fitted with covariates gives each customer the expectation of their own covariates: the
    cohort is counted by acquisition day and covariate profile, and each profile's customers
    get that profile's ``E[X(t)]``.

    Parameters
    ----------
    purchase_model : fitted purchase model
        Needs ``expected_purchases_new_customer(t)`` accepting an array of times and a
        ``time_unit_``.
    transactions : DataFrame or TransactionLog
        One row per purchase: pandas, or a frame of another engine (polars, pyarrow, DuckDB,
        Spark), which counts the cohort's purchases per day itself (one row per day comes
        back). A :class:`~clvpredict.data.TransactionLog` is used as parsed.
    customer_id_col, datetime_col : str
        Names of the customer id and purchase date columns.
    calibration_end : date-like
        Last calendar day of calibration (inclusive).
    observation_end : date-like, optional
        Last calendar day of the holdout (inclusive); defaults to the last purchase day.
    freq : str, optional
        Period length: ``"D"`` (days), ``"W"`` (weeks, the default) or a multiple (``"2W"``,
        ``"14D"``). Periods are anchored so that one ends exactly on ``calibration_end``; the
        last one is cut short at ``observation_end`` when the holdout is not a whole number of
        periods. A discrete-time model (``discrete_time``, the BG/BB) is tracked per period of
        its own ``time_unit_`` instead, laid out as in ``calibration_holdout_summary(...,
        discrete=True)``: leave ``freq`` out; a period with any purchase is one transaction,
        the model side counts whole periods since each customer's first, and only whole
        holdout periods are shown.
    monetary_value_col, returns : optional
        Pass the same values as to :func:`~clvpredict.calibration_holdout_summary` when returns
        were netted or dropped there, so that the same purchase days are counted.
    datetime_format, after_end
        As in :func:`~clvpredict.calibration_holdout_summary`.
    covariates : DataFrame or engine frame, optional
        Required for a model fitted with covariates (refused for one without): one row per
        customer with the model's covariate columns, joined on the customer id like
        :func:`~clvpredict.attach_covariates`: a pandas frame indexed by customer id (a
        summary with the covariate columns will do) or with the id in a column named like
        ``customer_id_col``, or a frame of another engine with that column. Every cohort
        customer needs a row. When it is a frame of the log's own engine, the join and the
        count of customers per acquisition day and covariate profile are made there (only
        those counts come back); otherwise each cohort customer's id and first purchase day
        come to this process, one row per customer, to be joined with the table here.

    Returns
    -------
    DataFrame
        Indexed by ``period_end`` (last calendar day of the period, inclusive), with columns

        * ``period_start`` (datetime): first calendar day of the period;
        * ``in_calibration`` (bool): the period ends on or before ``calibration_end``;
        * ``customers`` (int): cohort customers acquired by the end of the period;
        * ``actual``, ``expected``: repeat transactions (purchase days) in the period;
        * ``actual_cumulative``, ``expected_cumulative``: the same summed from the start.

        ``attrs`` records ``time_unit`` (of the model), ``freq``, ``period_days``,
        ``calibration_end`` and ``observation_end``.

    Examples
    --------
    >>> import clvpredict as cp
    >>> from clvpredict.evaluation import expected_repeat_transactions_over_time
    >>> tx = cp.datasets.load_cdnow()
    >>> ch = cp.calibration_holdout_summary(tx, "customer_id", "date", "1997-09-30",
    ...                                     "1998-06-30", time_unit="W")
    >>> track = expected_repeat_transactions_over_time(
    ...     cp.BetaGeoModel().fit(ch), tx, "customer_id", "date", "1997-09-30", "1998-06-30")
    >>> len(track), int(track["actual"].sum())        # 78 weeks; calibration + holdout repeats
    (78, 4339)
    """
    unit = model_time_unit(purchase_model)
    design = _check_covariates_argument(
        purchase_model,
        covariates,
        True,
        "pass covariates= (a table of one row per customer with those columns, indexed by "
        "customer id; the summary with its covariate columns will do).",
    )
    discrete = _discrete(purchase_model)
    if discrete and freq is not None:
        raise ClvDataError(
            f"freq={freq!r}: a discrete-time model is tracked per period of its own time unit "
            f"({unit!r}); leave freq out."
        )
    log = as_log(
        transactions,
        customer_id_col,
        datetime_col,
        monetary_value_col,
        datetime_format=datetime_format,
        returns=returns,
    )
    daily, cal_end, obs_end = daily_with_holdout(log, calibration_end, observation_end, after_end)
    n_holdout = int(period_index([obs_end + 1], cal_end, unit)[0]) if discrete else 0
    acquired, acquired_counts, repeat_days, repeat_counts, cohort = _cohort_days(
        daily, cal_end, unit if discrete else None, n_holdout
    )
    if not len(acquired):
        raise ClvDataError(
            f"calibration_end={calibration_end!s} is before the first purchase: no customer was "
            "acquired in calibration. Choose a later calibration_end."
        )

    if discrete:
        period = unit_in_days(unit)
        ks = np.arange(int(acquired[0]), n_holdout)
        starts, ends = period_bounds(ks, cal_end, unit)
        bins = repeat_days - ks[0]
        grid, per_unit = ks, 1.0
    else:
        period = _period_days(freq or "W")
        # Period k ends on cal_end + k * period; the first period holds the earliest acquisition.
        k_first = -((cal_end - int(acquired[0])) // period)
        k_last = -(-(obs_end - cal_end) // period)
        ends = cal_end + np.arange(k_first, k_last + 1) * period
        starts = ends - period + 1
        ends[-1] = min(ends[-1], obs_end)
        bins = np.searchsorted(ends, repeat_days, side="left")
        grid, per_unit = ends, unit_in_days(unit)
    actual = np.zeros(len(grid), dtype=np.int64)
    np.add.at(actual, bins, repeat_counts)

    lags = np.clip(grid[None, :] - acquired[:, None], 0, None)
    unique_lags, inverse = np.unique(lags, return_inverse=True)
    lag_index = inverse.reshape(lags.shape)
    if design is None:
        per_customer = np.asarray(
            purchase_model.expected_purchases_new_customer(unique_lags / per_unit), dtype=float
        )
        expected_cumulative = acquired_counts @ per_customer[lag_index]
    else:
        groups = _cohort_profiles(log, cohort, covariates, list(design.columns))
        models, profile_of = purchase_model.profile_models(groups[list(design.columns)])
        day_of = np.searchsorted(acquired, groups["_first"].to_numpy(dtype=np.int64))
        group_counts = groups["_n"].to_numpy(dtype=float)
        expected_cumulative = np.zeros(len(grid))
        for number, plain in enumerate(models):
            # The profile's customers by acquisition day, each with the profile's E[X(t)].
            counts = np.zeros(len(acquired))
            mine = profile_of == number
            np.add.at(counts, day_of[mine], group_counts[mine])
            days = np.flatnonzero(counts)
            per_customer = np.asarray(
                plain.expected_purchases_new_customer(unique_lags / per_unit), dtype=float
            )
            expected_cumulative += counts[days] @ per_customer[lag_index[days]]

    # Cohort customers acquired by the end of each period.
    acquired_by = np.concatenate([[0], np.cumsum(acquired_counts)])
    customers = acquired_by[np.searchsorted(acquired, grid, side="right")]
    out = pd.DataFrame(
        {
            "period_start": pd.to_datetime(starts, unit="D"),
            "in_calibration": ends <= cal_end,
            "customers": customers.astype(np.int64),
            "actual": actual.astype(np.int64),
            "expected": np.diff(expected_cumulative, prepend=0.0),
            "actual_cumulative": np.cumsum(actual).astype(np.int64),
            "expected_cumulative": expected_cumulative,
        },
        index=pd.DatetimeIndex(pd.to_datetime(ends, unit="D"), name="period_end"),
    )
    out.attrs.update(
        time_unit=unit,
        freq=f"1{unit}" if discrete else (freq or "W"),
        period_days=period,
        counted="periods with a purchase" if discrete else "purchase days",
        calibration_end=str(pd.Timestamp(cal_end, unit="D").date()),
        observation_end=str(pd.Timestamp(obs_end, unit="D").date()),
        model=model_label(purchase_model),
    )
    return out


def _cohort_days(
    daily: Any, cal_end: int, discrete_unit: str | None, n_holdout: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, nw.LazyFrame]:
    """The days (or periods) the cohort's customers were acquired on and made repeat purchases
    on, with how many of each, counted by the log's engine: one row per day comes back, never
    one per customer.

    The cohort is the customers whose first purchase day is on or before ``cal_end``. With
    ``discrete_unit``, days become periods of that unit (period -1 ends on ``cal_end``), a
    period with any purchase is one transaction, and only periods before ``n_holdout`` count.
    Returns the acquisition days and counts, and the repeat days and counts, sorted by day,
    and the cohort as a query of the log's engine (``customer_id``, first day ``_first``).
    """
    table = _nw(daily).select("customer_id", "day")
    if discrete_unit is not None:
        table = _with_periods(table, cal_end, discrete_unit).unique()
        table = table.filter(nw.col("day") < n_holdout)
    firsts = table.group_by("customer_id").agg(nw.col("day").min().alias("_first"))
    cohort = firsts.filter(nw.col("_first") <= (-1 if discrete_unit is not None else cal_end))
    # Each customer's first day is its acquisition; every later day is a repeat transaction.
    per_day = (
        table.join(cohort, on="customer_id", how="inner")
        .with_columns(_acquired=(nw.col("day") == nw.col("_first")).cast(nw.Int64))
        .group_by("day")
        .agg(nw.len().alias("_rows"), nw.col("_acquired").sum())
    )
    counts = to_caller(per_day, "pandas", sort_by="day")
    days = counts["day"].to_numpy(dtype=np.int64)
    acquired = counts["_acquired"].to_numpy(dtype=np.int64)
    repeats = counts["_rows"].to_numpy(dtype=np.int64) - acquired
    return (
        days[acquired > 0],
        acquired[acquired > 0],
        days[repeats > 0],
        repeats[repeats > 0],
        cohort,
    )


def _cohort_profiles(
    log: TransactionLog, cohort: Any, covariates: Any, columns: list[str]
) -> pd.DataFrame:
    """The cohort's customers counted by first day and covariate values: columns ``_first``,
    the covariate ``columns`` and ``_n`` (customers).

    A covariates table of the log's engine is joined there and only the counts come back;
    any other table is joined here, with each cohort customer's id and first day.
    """
    kind = frame_kind(covariates)
    if kind is None:
        raise ClvDataError(
            "covariates= must be a table of one row per customer (pandas indexed by customer id, "
            f"or a frame with a customer id column); got {type(covariates).__name__}."
        )
    cohort = _nw(cohort)
    if not isinstance(cohort, nw.LazyFrame):
        cohort = cohort.lazy()
    if kind != "pandas" and log.kind != "pandas":
        table = as_lazy(covariates)
        if backend(table) == backend(cohort):
            try:
                return _engine_cohort_profiles(cohort, table, columns, log.customer_id_col)
            except ClvDataError:
                raise
            except Exception as exc:
                # DuckDB joins relations of one connection only: a table of another is read
                # here, as a pandas one would be.
                if type(exc).__module__.lstrip("_").split(".")[0] != "duckdb":
                    raise
                covariates = to_caller(table, "pandas")
    # One row per cohort customer comes here, to be joined with a table held here.
    firsts = to_caller(cohort.select("customer_id", "_first"), "pandas", sort_by="customer_id")
    firsts = firsts.set_index("customer_id")
    firsts.index.name = log.customer_id_col
    joined = attach_covariates(firsts, covariates, columns=columns)
    joined["_n"] = 1
    return joined


def _engine_cohort_profiles(
    cohort: nw.LazyFrame, table: nw.LazyFrame, columns: list[str], id_col: str
) -> pd.DataFrame:
    """:func:`_cohort_profiles` with the covariates table in the log's engine: the join, the
    checks (customers without covariates, ids on several rows, missing values) and the count
    per first day and covariate values are engine queries."""
    names = table.collect_schema().names()
    if id_col not in names:
        raise ClvDataError(
            f"The covariates table has no customer id column {id_col!r}; it has {names}."
        )
    absent = [c for c in columns if c not in names]
    if absent:
        raise ClvDataError(
            f"Covariate column(s) {absent} of the model are not in the covariates table; it has "
            f"{names}."
        )
    ours, theirs = cohort.collect_schema()["customer_id"], table.collect_schema()[id_col]
    if (ours == nw.String) != (theirs == nw.String):
        raise ClvDataError(
            f"Customer ids are {ours} in the transactions and {theirs} in the covariates table: "
            'matching them would lose leading zeros ("007" is not 7). Read the ids as text on '
            "both sides."
        )
    right = table.select(nw.col(id_col).alias("customer_id"), *columns).with_columns(
        nw.lit(1).alias("_matched")
    )
    joined = cohort.select("customer_id", "_first").join(right, on="customer_id", how="left")
    unmatched = nw.col("_matched").is_null()
    missing = nw.any_horizontal(*(nw.col(c).is_null() for c in columns), ignore_nulls=False)
    n_cohort, n_joined, n_unmatched, n_missing = scalars(
        joined,
        nw.col("customer_id").n_unique().alias("customers"),
        nw.len().alias("rows"),
        count_true(unmatched).alias("unmatched"),
        count_true(missing & ~unmatched).alias("missing"),
    )
    for count, condition, problem in (
        (n_unmatched, unmatched, "are not in the covariates table"),
        (n_missing, missing & ~unmatched, "have missing covariate values"),
    ):
        if count:
            ids = [row[0] for row in head_rows(joined.filter(condition).select("customer_id"))]
            raise ClvDataError(
                f"{count} cohort customer(s) {problem}: {describe_values(np.array(ids))}. Every "
                "customer needs all covariates."
            )
    if n_joined != n_cohort:
        raise ClvDataError(
            f"The covariates table has customer ids on more than one row ({n_joined} rows for "
            f"{n_cohort} cohort customers). Give one row per customer."
        )
    counts = joined.group_by("_first", *columns).agg(nw.len().alias("_n"))
    return to_caller(counts, "pandas", sort_by=["_first", *columns])


# ------------------------------------------------------------------------------------------
# Tables behind the other plots
# ------------------------------------------------------------------------------------------


def _engine_unit(purchase_model: Any, lazy: nw.LazyFrame) -> str:
    """The purchase model's unit, checked against the one an engine summary records in its
    ``time_unit`` column."""
    units: list[Any] = []
    if UNIT_COLUMN in lazy.collect_schema().names():
        units = list(
            scalars(
                lazy, nw.col(UNIT_COLUMN).min().alias("lo"), nw.col(UNIT_COLUMN).max().alias("hi")
            )
        )
    return _checked_unit(purchase_model, units)


def _require_engine_columns(lazy: nw.LazyFrame, columns: Sequence[str], fix: str) -> None:
    names = lazy.collect_schema().names()
    missing = [c for c in columns if c not in names]
    if missing:
        raise ClvDataError(f"data lacks column(s) {missing}; it has {names}. {fix}")


def _period_counts(
    purchase_model: Any, data: Any, max_frequency: Any, columns: Sequence[str] = ()
) -> tuple[np.ndarray, np.ndarray, np.ndarray, pd.DataFrame]:
    """What :func:`period_transactions` needs of an engine summary, from one group-by:
    customers per frequency bin ``0 .. k``, the distinct ``T`` (increasing, model's unit)
    with their customers, and the customers per ``T`` and values of the covariate ``columns``
    (columns ``T``, the covariates, ``_n``)."""
    lazy = as_lazy(data)
    _require_engine_columns(
        lazy,
        ("frequency", "T", *columns),
        "Build it with rfm_summary(...)"
        + (", and join the covariates to it in its engine." if columns else "."),
    )
    _engine_unit(purchase_model, lazy)
    if columns:
        missing = nw.any_horizontal(*(nw.col(c).is_null() for c in columns), ignore_nulls=False)
        (n_missing,) = scalars(lazy, count_true(missing).alias("missing"))
        if n_missing:
            shown = head_rows(lazy.filter(missing).select(*columns), 5)
            raise ClvDataError(
                f"{n_missing} customer(s) of data have missing covariate values (of {list(columns)}"
                f"): {shown}. Every customer needs all covariates."
            )
    k = _check_max_frequency(max_frequency)
    big_t = nw.col("T").cast(nw.Float64)
    frequency = nw.col("frequency").cast(nw.Int64)
    bad = big_t.is_null() | ~big_t.is_finite() | (big_t < 0)
    (n_bad,) = scalars(lazy, count_true(bad))
    if n_bad:
        shown = np.array([r[0] for r in head_rows(lazy.filter(bad).select(big_t), 5)], float)
        more = f", ... ({n_bad - len(shown)} more)" if n_bad > len(shown) else ""
        raise ClvDataError(
            f"Column 'T' must be finite and >= 0; offending values: {describe_values(shown)}{more}."
        )
    counts = (
        lazy.select(
            nw.when(frequency >= k).then(nw.lit(k)).otherwise(frequency).alias("code"),
            big_t.alias("T"),
            *columns,
        )
        .group_by("code", "T", *columns)
        .agg(nw.len().alias("n"))
        .collect()
        .to_pandas()
    )
    actual = counts.groupby("code")["n"].sum().reindex(range(k + 1), fill_value=0)
    per_t = counts.groupby("T")["n"].sum().sort_index()
    profiles = counts[["T", *columns]].assign(_n=counts["n"].to_numpy(dtype=np.int64))
    return (
        actual.to_numpy(dtype=np.int64),
        per_t.index.to_numpy(dtype=float),
        per_t.to_numpy(dtype=np.int64),
        profiles,
    )


def period_transactions(
    purchase_model: Any, data: Any, max_frequency: int = 7, *, covariates: Any = None
) -> pd.DataFrame:
    """Customers with 0, 1, ..., k+ repeat purchases in calibration: actual vs the model.

    The model's count for ``n < k`` is ``sum_i P(X(T_i) = n)``, the exact probability that a
    customer observed for ``T_i`` makes ``n`` repeat purchases (``probability_of_purchases``),
    summed over customers; the ``k+`` bin gets ``sum_i (1 - sum_{n<k} P(X(T_i) = n))``, so the
    model column sums to the number of customers. With a model fitted with covariates, each
    customer's probabilities are those of their own covariates (the model's column is the
    mixture over the customers' profiles).

    Parameters
    ----------
    purchase_model : fitted purchase model
        Needs ``probability_of_purchases(n, t)`` with ``n`` an array.
    data : DataFrame or engine frame
        RFM summary with ``frequency`` and ``T`` (model's time unit). A summary held by an
        engine (polars, DuckDB, pyarrow, Spark) stays there: what is used of it is the number
        of customers per frequency bin and per distinct ``T``, one engine group-by. For a
        model fitted with covariates it needs the covariate columns (an engine's summary:
        joined there) and the customers are counted per ``T`` and covariate values too.
    max_frequency : int
        ``k``: the last bin holds ``k`` or more repeat purchases.
    covariates : DataFrame, optional
        For a model fitted with covariates and a pandas ``data`` without the covariate
        columns: one row per customer with them, joined on the customer id as
        :func:`~clvpredict.attach_covariates` does.

    Returns
    -------
    DataFrame
        Indexed by ``frequency_bin`` (``"0", ..., "k-1", "k+"``), columns ``actual`` (customers,
        int) and ``expected`` (customers, float).

    Examples
    --------
    >>> import clvpredict as cp
    >>> from clvpredict.evaluation import period_transactions
    >>> s = cp.datasets.load_cdnow_summary()
    >>> table = period_transactions(cp.BetaGeoModel().fit(s), s)
    >>> int(table["actual"].sum()), round(float(table["expected"].sum()))
    (2357, 2357)
    """
    design = _check_covariates_argument(purchase_model, covariates, False, "")
    columns = list(design.columns) if design is not None else []
    profiles = None
    if is_engine_frame(data):
        if covariates is not None:
            raise ClvDataError(
                f"data is held by {frame_kind(data)}: join the covariates to it there (one row "
                "per customer) and pass it without covariates=."
            )
        actual, unique_t, counts, profiles = _period_counts(
            purchase_model, data, max_frequency, columns
        )
        k = len(actual) - 1
        if design is None:
            profiles = None
    else:
        _require_columns(data, ("frequency", "T"), "data", "Build it with rfm_summary(...).")
        model_time_unit(purchase_model, data)
        k = _check_max_frequency(max_frequency)
        frequency = data["frequency"].to_numpy(dtype=float)
        big_t = data["T"].to_numpy(dtype=float)
        if not (np.isfinite(big_t).all() and (big_t >= 0).all()):
            raise ClvDataError(
                "Column 'T' must be finite and >= 0; offending values: "
                f"{describe_values(big_t[~(np.isfinite(big_t) & (big_t >= 0))])}."
            )
        actual = np.bincount(_frequency_bins(frequency, k), minlength=k + 1)
        unique_t, counts = np.unique(big_t, return_counts=True)
        if design is not None:
            frame = _with_covariates(data, covariates, columns, "data")
            profiles = frame[columns].assign(T=big_t, _n=1)
    expected = np.zeros(k + 1)
    n = np.arange(k)
    if profiles is None:
        # Customers observed for the same T share one PMF, so group them (CDNOW: 84 distinct T).
        for t, count in zip(unique_t, counts, strict=True):
            pmf = np.asarray(purchase_model.probability_of_purchases(n, float(t)), dtype=float)
            expected[:k] += count * pmf
            expected[k] += count * (1.0 - pmf.sum())
    else:
        models, profile_of = purchase_model.profile_models(profiles[columns])
        all_t = profiles["T"].to_numpy(dtype=float)
        weights = profiles["_n"].to_numpy(dtype=float)
        for number, plain in enumerate(models):
            # The profile's customers with the same T share one PMF: all of its T at once.
            mine = profile_of == number
            ts, where = np.unique(all_t[mine], return_inverse=True)
            count = np.bincount(np.asarray(where).ravel(), weights=weights[mine])
            pmf = type(plain)._new_customer_pmf(n[:, None], ts[None, :], *plain._theta())
            pmf = np.asarray(pmf, dtype=float).reshape(k, len(ts))
            expected[:k] += pmf @ count
            expected[k] += float(count.sum() - pmf.sum(axis=0) @ count)
    out = pd.DataFrame(
        {"actual": actual.astype(np.int64), "expected": expected},
        index=pd.Index(frequency_bin_labels(k), name="frequency_bin"),
    )
    out.attrs.update(model=model_label(purchase_model))
    return out


def frequency_recency_matrix(
    purchase_model: Any,
    T: float,
    max_frequency: int,
    *,
    quantity: str = "expected_purchases",
    t: float | None = None,
    n_recency: int = 60,
    covariates: Any = None,
) -> pd.DataFrame:
    """A model quantity over a grid of histories (frequency x recency) observed for ``T``.

    Parameters
    ----------
    purchase_model : fitted purchase model
    T : float
        Length of observation of the hypothetical customers, in the model's time unit.
    max_frequency : int
        Rows are frequencies ``0 .. max_frequency`` (repeat purchases).
    quantity : {"expected_purchases", "probability_alive"}
        ``expected_purchases``: expected purchases in the next ``t`` time units;
        ``probability_alive``: P(alive at T).
    t : float, optional
        Forecast horizon in the model's time unit (required for ``expected_purchases``).
    n_recency : int
        Number of recency values, evenly spaced from 0 to ``T`` inclusive (a discrete-time
        model takes every whole period 0..T instead, and frequency <= recency).
    covariates : mapping, optional
        Required for a model fitted with covariates: the covariate profile of the
        hypothetical customers, one value per covariate column (e.g.
        ``{"channel": "web", "loyalty": 1}``); the grid is that of
        ``purchase_model.profile_model(covariates)``.

    Returns
    -------
    DataFrame
        Rows indexed by ``frequency``, columns by ``recency`` (model time unit). Impossible
        histories (frequency 0 with recency > 0) are NaN. ``attrs["covariates"]`` holds the
        profile (``None`` without covariates).

    Examples
    --------
    >>> import clvpredict as cp
    >>> from clvpredict.evaluation import frequency_recency_matrix
    >>> s = cp.datasets.load_cdnow_summary()
    >>> grid = frequency_recency_matrix(cp.BetaGeoModel().fit(s), T=39, max_frequency=10,
    ...                                 quantity="probability_alive", n_recency=40)
    >>> grid.shape
    (11, 40)
    """
    model_time_unit(purchase_model)
    design = _check_covariates_argument(
        purchase_model,
        covariates,
        True,
        "pass covariates= with the profile of the customers of the grid, one value for each "
        "(e.g. covariates={"
        + ", ".join(f"{c!r}: ..." for c in getattr(_design(purchase_model), "columns", ()))
        + "}).",
    )
    if design is not None and not isinstance(covariates, Mapping):
        raise ClvDataError(
            "covariates= is one profile for the whole grid: a mapping of each covariate column "
            f"{list(design.columns)!r} to a value, not {type(covariates).__name__}."
        )
    label = model_label(purchase_model)
    profile = None if design is None else dict(covariates)
    if profile is not None:
        purchase_model = purchase_model.profile_model(profile)
    if quantity not in ("expected_purchases", "probability_alive"):
        raise ClvDataError(
            f"quantity={quantity!r} is not one of 'expected_purchases', 'probability_alive'."
        )
    if quantity == "expected_purchases" and (t is None or not np.isfinite(t) or t <= 0):
        raise ClvDataError(
            f"t={t!r}: expected purchases need a forecast horizon t > 0 in the model's time unit, "
            "e.g. t=52 for a year in weeks."
        )
    if not np.isfinite(T) or T <= 0:
        raise ClvDataError(f"T={T!r} must be a length of observation > 0 (model's time unit).")
    max_frequency = int(_check_max_frequency(max_frequency))
    if isinstance(n_recency, bool) or int(n_recency) < 2:
        raise ClvDataError(f"n_recency={n_recency!r} must be a whole number >= 2.")
    discrete = _discrete(purchase_model)
    if discrete:
        # Histories of a discrete-time model are whole periods, with at most one transaction
        # per period: recency runs over 0..T and frequency cannot exceed it.
        if float(T) != round(float(T)):
            raise ClvDataError(f"T={T!r} must be a whole number of periods for this model.")
        recency = np.arange(round(float(T)) + 1, dtype=float)
    else:
        recency = np.linspace(0.0, float(T), int(n_recency))
    frequency = np.arange(max_frequency + 1)
    x, t_x = np.meshgrid(frequency.astype(float), recency, indexing="ij")
    valid = (x > 0) | (t_x == 0)
    if discrete:
        valid &= x <= t_x
    xs, txs = x[valid], t_x[valid]
    big_t = np.full(xs.shape, float(T))
    if quantity == "expected_purchases":
        values = purchase_model.expected_purchases(float(t), frequency=xs, recency=txs, T=big_t)
    else:
        values = purchase_model.probability_alive(frequency=xs, recency=txs, T=big_t)
    grid = np.full(x.shape, np.nan)
    grid[valid] = np.asarray(values, dtype=float)
    out = pd.DataFrame(
        grid,
        index=pd.Index(frequency, name="frequency"),
        columns=pd.Index(recency, name="recency"),
    )
    out.attrs.update(quantity=quantity, t=t, T=float(T), model=label, covariates=profile)
    return out


def probability_alive_history(
    purchase_model: Any,
    transactions: pd.DataFrame | TransactionLog | Any,
    customer_id_col: str,
    datetime_col: str,
    customer_id: Any,
    *,
    end: Any = None,
    datetime_format: str | None = None,
    covariates: Any = None,
) -> pd.DataFrame:
    """One customer's P(alive) day by day, from its first purchase to ``end``.

    A discrete-time model (``discrete_time``, the BG/BB) is traced period by period instead,
    at the end of each period of its ``time_unit_``, with periods laid back from ``end`` as in
    ``rfm_summary(..., discrete=True)``.

    On each calendar day ``d`` the customer's history is summarised as of the end of ``d``
    (purchases by day, as in :func:`~clvpredict.rfm_summary`): ``frequency`` = repeat purchase
    days up to ``d``, ``recency`` and ``T`` = time from the first purchase day to the last one and
    to ``d``, in the model's time unit; then ``probability_alive`` is evaluated on those histories.

    Parameters
    ----------
    purchase_model : fitted purchase model
    transactions : DataFrame or TransactionLog
        The transaction log (all customers, or only this one): pandas, a parsed
        :class:`~clvpredict.data.TransactionLog`, or a frame of another engine, where the
        customer's days are found (only they come back).
    customer_id_col, datetime_col : str
        Names of the customer id and purchase date columns.
    customer_id
        The customer to trace.
    end : date-like, optional
        Last calendar day of the grid, not after today; defaults to the last date in
        ``transactions`` (a date after today is then refused). Purchases after ``end`` are
        ignored.
    datetime_format : str, optional
        As in :func:`~clvpredict.rfm_summary`.
    covariates : mapping or DataFrame, optional
        For a model fitted with covariates, the customer's covariates: a mapping of each
        covariate column to the customer's value, or a table of one row per customer (indexed
        by customer id, or with a column named ``customer_id_col``; a summary with the
        covariate columns will do) where the customer's row is read. Without it they are
        read from the covariate columns of ``transactions`` (pandas or another engine's
        frame, not a parsed log), which must hold one value per column for the customer.

    Returns
    -------
    DataFrame
        Indexed by ``date`` (one row per calendar day), columns ``frequency``, ``recency``, ``T``
        (model time unit), ``p_alive`` and ``purchase`` (bool: a purchase day).
        ``attrs["covariates"]`` holds the customer's covariates (``None`` without them).

    Examples
    --------
    >>> import clvpredict as cp
    >>> from clvpredict.evaluation import probability_alive_history
    >>> tx = cp.datasets.load_cdnow()
    >>> bg = cp.BetaGeoModel().fit(cp.datasets.load_cdnow_summary())
    >>> hist = probability_alive_history(bg, tx, "customer_id", "date", 1, end="1997-09-30")
    >>> round(float(hist["p_alive"].iloc[-1]), 3)
    0.727
    """
    unit = model_time_unit(purchase_model)
    label = model_label(purchase_model)
    design = _check_covariates_argument(purchase_model, covariates, False, "")
    given = transactions
    if is_engine_frame(transactions):
        # A log held by another engine is parsed there; the customer's days come back.
        transactions = as_log(
            transactions, customer_id_col, datetime_col, datetime_format=datetime_format
        )
    if isinstance(transactions, TransactionLog):
        daily, end_day = _history_from_log(
            transactions, customer_id_col, datetime_col, customer_id, end, datetime_format
        )
    else:
        daily, end_day = _history_from_frame(
            transactions, customer_id_col, datetime_col, customer_id, end, datetime_format
        )
    days = daily["day"].to_numpy(dtype=np.int64)
    first = int(days[0])
    if end_day < first:
        raise ClvDataError(
            f"end={end!s} is before customer {customer_id!r}'s first purchase "
            f"({pd.Timestamp(first, unit='D').date()}); choose a later end."
        )
    per_unit = unit_in_days(unit)
    if _discrete(purchase_model):
        # Whole periods laid back from ``end`` (as rfm_summary(..., discrete=True) does), one
        # row per period end; positions are period numbers, P(alive) is at each period's end.
        days = np.unique(period_index(days, end_day, unit))
        grid = np.arange(days[0], 0)
        dates = period_bounds(grid, end_day, unit)[1]
        per_unit = 1.0
    else:
        grid = np.arange(first, end_day + 1)
        dates = grid
    first = int(days[0])
    last_index = np.searchsorted(days, grid, side="right") - 1
    frequency = last_index.astype(float)
    recency = (days[last_index] - first) / per_unit
    big_t = (grid - first) / per_unit
    profile = None
    if design is not None:
        profile = _customer_covariates(
            design, given, customer_id_col, customer_id, covariates, label
        )
        purchase_model = purchase_model.profile_model(profile)
    p_alive = purchase_model.probability_alive(frequency=frequency, recency=recency, T=big_t)
    out = pd.DataFrame(
        {
            "frequency": last_index.astype(np.int64),
            "recency": recency,
            "T": big_t,
            "p_alive": np.asarray(p_alive, dtype=float),
            "purchase": np.isin(grid, days),
        },
        index=pd.DatetimeIndex(pd.to_datetime(dates, unit="D"), name="date"),
    )
    out.attrs.update(time_unit=unit, customer_id=customer_id, model=label, covariates=profile)
    return out


def _customer_covariates(
    design: Any,
    transactions: Any,
    customer_id_col: str,
    customer_id: Any,
    covariates: Any,
    label: str,
) -> dict[str, Any]:
    """One customer's covariates, as a profile: from ``covariates`` (a mapping, or a table of
    one row per customer) or else from the covariate columns of ``transactions``."""
    columns = list(design.columns)
    if isinstance(covariates, Mapping):
        return dict(covariates)
    if covariates is not None:
        one = pd.DataFrame(index=pd.Index([customer_id], name=customer_id_col))
        row = attach_covariates(one, covariates, columns=columns).iloc[0]
        return {c: _plain_value(row[c]) for c in columns}
    kind = frame_kind(transactions)
    names = list(as_lazy(transactions).collect_schema().names()) if kind is not None else []
    if kind is None or any(c not in names for c in columns):
        raise ClvDataError(
            f"This {label} model was fitted with the covariates {columns!r}: give the "
            f"customer's values as covariates= (a mapping, or a table of one row per customer), "
            "or pass transactions with those columns."
        )
    own = as_lazy(transactions).filter(nw.col(customer_id_col) == customer_id)
    values = to_caller(own.select(*columns).unique(), "pandas")
    if len(values) > 1:
        raise ClvDataError(
            f"Customer {customer_id!r} has {len(values)} different sets of covariate values in "
            f"the rows of transactions ({columns}); covariates are one value per customer. "
            "Pass covariates= instead."
        )
    return {c: _plain_value(values[c].iloc[0]) for c in columns}


_HISTORY_FIX = "pass an end of today or earlier (later purchases are ignored)"


def _unknown_customer(customer_id: Any, column: str, ids: pd.Series) -> ClvDataError:
    examples = describe_values(pd.unique(ids)[:5])
    return ClvDataError(
        f"customer_id={customer_id!r} has no transactions in column {column!r} "
        f"(ids look like {examples}). Check the id and its type."
    )


def _history_from_log(
    log: TransactionLog,
    customer_id_col: str,
    datetime_col: str,
    customer_id: Any,
    end: Any,
    datetime_format: str | None,
) -> tuple[pd.DataFrame, int]:
    """One customer's purchase days and the end day, from a log parsed already: the log's
    engine finds the customer's days and the last day; only those come to this process."""
    log.check_columns(
        customer_id_col=customer_id_col, datetime_col=datetime_col, datetime_format=datetime_format
    )
    everyone = _nw(log.until("error" if end is None else None, _HISTORY_FIX))
    table = _nw(log.daily)
    own = (
        to_caller(
            table.filter(nw.col("customer_id") == customer_id).select("day"),
            "pandas",
            sort_by="day",
        )
        if log.kind == "pandas" or _comparable_id(table, customer_id)
        else pd.DataFrame({"day": []})
    )
    if len(own) == 0:
        # The first ids in order, as examples.
        ids = table.select("customer_id").unique().sort("customer_id").head(5)
        raise _unknown_customer(
            customer_id, log.customer_id_col, to_caller(ids, "pandas")["customer_id"]
        )
    end_day = (
        int(scalars(everyone, nw.col("day").max())[0]) if end is None else _end_day(end, "end")
    )
    return own.reset_index(drop=True), end_day


def _comparable_id(table: Any, customer_id: Any) -> bool:
    """Whether an engine can compare ``customer_id`` with the table's ids: pandas finds no
    customer where the types differ (a text id among numbers), where engines would raise or
    convert the text."""
    dtype = table.collect_schema()["customer_id"]
    if dtype == nw.String:
        return isinstance(customer_id, str)
    if dtype.is_numeric():
        return isinstance(customer_id, int | float | np.number) and not isinstance(
            customer_id, bool | np.bool_
        )
    return True


def _history_from_frame(
    transactions: pd.DataFrame,
    customer_id_col: str,
    datetime_col: str,
    customer_id: Any,
    end: Any,
    datetime_format: str | None,
) -> tuple[pd.DataFrame, int]:
    """One customer's purchase days and the end day, parsing only that customer's rows (and,
    without ``end``, every row's date for the last day)."""
    _require_columns(
        transactions,
        (customer_id_col, datetime_col),
        "transactions",
        "Pass the right names as customer_id_col= and datetime_col=.",
    )
    own = transactions[transactions[customer_id_col] == customer_id]
    if len(own) == 0:
        raise _unknown_customer(customer_id, customer_id_col, transactions[customer_id_col])
    if end is None:
        all_days = _parse_dates(transactions, datetime_col, datetime_format)
        keep = _future_rows(
            transactions,
            all_days,
            customer_id_col,
            datetime_col,
            "error",
            fix=_HISTORY_FIX,
        )
        end_day = int(all_days[keep].max())
    else:
        end_day = _end_day(end, "end")
    daily = _prepare_transactions(
        own, customer_id_col, datetime_col, None, datetime_format, "error", after_today=None
    )
    return daily, end_day


def value_concentration(values: pd.Series | np.ndarray) -> pd.DataFrame:
    """Share of the total value held by the top x% of customers (a concentration curve).

    Parameters
    ----------
    values : Series or array
        One non-negative value per customer (e.g. ``predictive_clv``, currency units).

    Returns
    -------
    DataFrame
        ``n + 1`` rows starting at (0, 0): ``share_of_customers`` (fraction of customers, ranked
        from the most valuable) and ``share_of_value`` (their fraction of the total).

    Examples
    --------
    >>> from clvpredict.evaluation import value_concentration
    >>> value_concentration([10.0, 0.0, 30.0, 60.0])["share_of_value"].tolist()
    [0.0, 0.6, 0.9, 1.0, 1.0]
    """
    v = np.asarray(values, dtype=float)
    if v.ndim != 1 or len(v) == 0:
        raise ClvDataError("values must be a non-empty one-dimensional array of customer values.")
    bad = ~np.isfinite(v) | (v < 0)
    if bad.any():
        raise ClvDataError(
            f"values must be finite and >= 0; offending values: {describe_values(v[bad])}. "
            "Drop those customers or clip negative values to 0 first."
        )
    total = v.sum()
    if total <= 0:
        raise ClvDataError("values sum to 0: there is no value to concentrate.")
    ranked = np.sort(v)[::-1]
    out = pd.DataFrame(
        {
            "share_of_customers": np.arange(len(v) + 1) / len(v),
            "share_of_value": np.concatenate([[0.0], np.cumsum(ranked) / total]),
        }
    )
    return out


def mean_spend_density(
    spend_model: Any, data: Any, spend: Sequence[float] | np.ndarray
) -> pd.Series:
    """Model density of a customer's mean repeat spend, mixed over the customers' frequencies.

    Under the Gamma-Gamma model the mean ``zbar`` of ``x`` repeat transactions has the closed-form
    density ``f(zbar | x)`` of Fader & Hardie (note 025, eq. 4). The density returned is
    ``(1/N) sum_i f(z | x_i)`` over the ``N`` repeat buyers (``frequency > 0``) in ``data``: the
    distribution that the histogram of their observed ``monetary_value`` should follow.

    Parameters
    ----------
    spend_model : fitted GammaGammaModel
    data : DataFrame or engine frame
        With ``frequency``; the repeat buyers' frequencies are the mixing weights. A summary
        held by an engine (polars, DuckDB, pyarrow, Spark) stays there: what is used of it is
        the number of repeat buyers per distinct frequency (one engine group-by).
    spend : array
        Mean spend values (currency units, > 0) at which to evaluate the density.

    Returns
    -------
    Series
        Density in 1 / currency unit, indexed by ``spend``.

    Examples
    --------
    >>> import numpy as np, clvpredict as cp
    >>> from scipy.integrate import trapezoid
    >>> from clvpredict.evaluation import mean_spend_density
    >>> s = cp.datasets.load_cdnow_summary()
    >>> dens = mean_spend_density(cp.GammaGammaModel().fit(s), s, np.linspace(0.5, 2000, 40000))
    >>> round(float(trapezoid(dens, dens.index)), 2)
    1.0
    """

    check_is_fitted(spend_model, "spend model")
    engine = is_engine_frame(data)
    if engine:
        lazy = as_lazy(data)
        _require_engine_columns(lazy, ("frequency",), "Build it with rfm_summary(...).")
    else:
        _require_columns(data, ("frequency",), "data", "Build it with rfm_summary(...).")
    p, q, gamma = (float(spend_model.params_[k]) for k in ("p", "q", "gamma"))
    z = np.asarray(spend, dtype=float)
    if z.ndim != 1 or np.any(~np.isfinite(z)) or np.any(z < 0):
        raise ClvDataError("spend must be a one-dimensional array of amounts >= 0.")
    if engine:
        # The repeat buyers' distinct frequencies and their customers: one engine group-by.
        x = nw.col("frequency").cast(nw.Float64)
        table = (
            lazy.select(x.alias("x"))
            .filter(nw.col("x") > 0)
            .group_by("x")
            .agg(nw.len().alias("n"))
            .collect()
            .to_pandas()
            .sort_values("x")
        )
        xs, counts = table["x"].to_numpy(dtype=float), table["n"].to_numpy(dtype=np.int64)
    else:
        x = data["frequency"].to_numpy(dtype=float)
        xs, counts = np.unique(x[x > 0], return_counts=True)
    if len(xs) == 0:
        raise ClvDataError(
            "data has no repeat buyers (frequency > 0): there is no mean repeat spend to describe."
        )
    weights = counts / counts.sum()
    with np.errstate(divide="ignore"):
        log_f = gamma_gamma_log_likelihood(p, q, gamma, xs[:, None], np.maximum(z, 1e-300)[None, :])
    density = weights @ np.exp(log_f)
    density = np.where(z > 0, density, 0.0)
    return pd.Series(density, index=pd.Index(z, name="spend"), name="density")


# ------------------------------------------------------------------------------------------
# Model comparison
# ------------------------------------------------------------------------------------------

#: Criteria compare_models can rank by, and whether lower is better.
_CRITERIA = {"rmse": True, "mae": True, "abs_pct_error": True, "aic": True, "bic": True}


def default_purchase_models() -> list[Any]:
    """Unfitted instances of every registered purchase model for continuous time."""
    return [spec.cls() for spec in all_models("purchase", discrete_time=False)]


def compare_models(
    cal_holdout: Any,
    models: Sequence[Any] | None = None,
    *,
    criterion: str = "rmse",
) -> pd.DataFrame:
    """Fit several purchase models on the calibration period and rank their holdout forecasts.

    Parameters
    ----------
    cal_holdout : DataFrame or engine frame
        From :func:`~clvpredict.calibration_holdout_summary`; a summary held by an engine
        (polars, DuckDB, pyarrow, Spark) stays there: the fits receive its distinct histories
        and the holdout check is made of engine aggregates (see :func:`evaluate_holdout`).
    models : sequence of models, optional
        Unfitted models are fitted on the calibration columns; fitted ones are used as they are.
        By default BG/NBD, MBG/NBD and Pareto/NBD.
    criterion : {"rmse", "mae", "abs_pct_error", "aic", "bic"}
        What "best" means: per-customer holdout RMSE or MAE (purchases), absolute aggregate
        holdout error (%), or an information criterion of the calibration fit. The default
        judges models by how well they forecast customers they have not seen yet.
        Log-likelihood, AIC and BIC compare models of the same kind only: a discrete-time
        model (the BG/BB, on ``discrete=True`` summaries) next to continuous-time ones is
        ranked by a holdout criterion.

    Returns
    -------
    DataFrame
        One row per model, indexed by its name: the model's label (``"BG/NBD"``,
        ``"BG/NBD + covariates"``) and, where several models share a label, the settings in
        which they differ, for each model that changed them from their defaults
        (``"BG/NBD + covariates (covariate_penalty=0.01)"``; models with the same settings are
        numbered ``"BG/NBD (2)"``). Columns: ``log_likelihood``, ``n_params``, ``aic``,
        ``bic`` (calibration fit), ``mae``, ``rmse``, ``correlation`` (per customer, holdout
        purchases), ``pct_error`` (aggregate holdout, %), ``converged``, the likelihood-ratio
        test of a model's covariates against the same model without them (``lr_statistic``,
        ``lr_df``, ``lr_p_value``, and ``lr_note`` saying why they are NaN: a model without
        covariates, or a penalised fit, ``covariate_penalty`` or ``penalizer_coef`` > 0, whose
        estimates are not maximum-likelihood ones, so Wilks' chi-square does not apply; these
        four columns only when some model has covariates) and ``best`` (True for the best
        converged model by ``criterion``). ``attrs["models"]`` holds the fitted models by name.

    Examples
    --------
    >>> import clvpredict as cp
    >>> ch = cp.calibration_holdout_summary(cp.datasets.load_cdnow(), "customer_id", "date",
    ...                                     "1997-09-30", "1998-06-30", time_unit="W")
    >>> table = cp.compare_models(ch, [cp.BetaGeoModel()])
    >>> bool(table.loc["BG/NBD", "best"])
    True
    """
    if criterion not in _CRITERIA:
        raise ClvDataError(f"criterion={criterion!r} is not one of {sorted(_CRITERIA)}.")
    candidates = list(models) if models is not None else default_purchase_models()
    if not candidates:
        raise ClvDataError("models is empty: pass at least one purchase model.")
    if criterion in ("aic", "bic") and len({_discrete(m) for m in candidates}) > 1:
        raise ClvDataError(
            f"criterion={criterion!r} cannot rank discrete-time models (BG/BB: a probability "
            "per history) against continuous-time ones (a density in time): their "
            "log-likelihoods are on different scales. Rank them by a holdout criterion "
            "('rmse', 'mae' or 'abs_pct_error') instead."
        )
    evaluated = []
    for model in progress(candidates, desc="comparing purchase models", unit="model"):
        if not model.is_fitted:
            with warnings.catch_warnings():
                # Non-convergence is reported in the table rather than as a warning per model.
                warnings.simplefilter("ignore", ConvergenceWarning)
                model.fit(cal_holdout)
        evaluated.append((model, evaluate_holdout(model, cal_holdout)))
    rows = []
    fitted: dict[str, Any] = {}
    # Variants of one model (other settings) keep distinct rows, named by those settings.
    names = _distinct_labels([model for model, _ in evaluated])
    for name, (model, evaluation) in zip(names, evaluated, strict=True):
        fitted[name] = model
        totals = evaluation.totals.iloc[0]
        metrics = evaluation.metrics.iloc[0]
        rows.append(
            {
                "model": name,
                "log_likelihood": model.log_likelihood_,
                "n_params": len(model.params_),
                "aic": model.aic_,
                "bic": model.bic_,
                "mae": float(metrics["mae"]),
                "rmse": float(metrics["rmse"]),
                "correlation": float(metrics["correlation"]),
                "pct_error": float(totals["pct_error"]),
                "converged": bool(model.converged_),
                **_covariate_test(model),
            }
        )
    table = pd.DataFrame(rows).set_index("model")
    if not any(getattr(m, "covariate_design_", None) is not None for m in fitted.values()):
        # Without covariate models the table keeps the columns it always had.
        table = table.drop(columns=["lr_statistic", "lr_df", "lr_p_value", "lr_note"])
    score = table["pct_error"].abs() if criterion == "abs_pct_error" else table[criterion]
    eligible = score.where(table["converged"])
    table["best"] = False
    if eligible.notna().any():
        table.loc[eligible.idxmin(), "best"] = True
    table.attrs["models"] = fitted
    table.attrs["criterion"] = criterion
    return table

"""Customer lifetime value: the model-based (predictive) CLV and the simple formula beside it.

Predictive CLV
    ``sum_{m=1..H} margin * E[spend per purchase] * E[purchases in month m | history] / (1+d)^(m/12)``
    where month ``m`` is the ``m``-th average Gregorian month (30.436875 days) after the end of
    observation, the purchases in it are the difference of the conditional expectation at the
    month's end and start, and ``d`` is the effective annual discount rate applied at each
    month's end. Months are converted into the purchase model's time unit, so the result does not
    depend on the unit the model was fitted in.

Simple CLV
    ``average order value * purchases per year * margin * expected lifetime in years``, the formula
    businesses use without a model. The average order value includes the first purchase, purchases
    per year are the customer's purchase days divided by the observed tenure ``T``, and the lifetime
    is given or estimated with :func:`estimate_lifetime_years`.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from numbers import Real
from typing import Any

import narwhals.stable.v2 as nw
import numpy as np
import pandas as pd

from ._progress import progress
from ._units import (
    DAYS_PER_MONTH,
    check_currency,
    check_time_unit,
    months_to_units,
    recorded_unit,
    unit_in_days,
    units_to_years,
)
from ._validation import check_horizon, model_time_unit
from .data.engines import (
    TABLE_COLUMNS,
    UNIT_COLUMN,
    as_lazy,
    backend,
    collect_summary,
    frame_kind,
    histories,
    id_column,
    map_summary_batches,
    scalars,
    summary_unit,
    table_to_kind,
)
from .data.ranks import hashed_sample
from .data.summaries import _apply_end, _nw
from .data.transactions import TransactionLog, _end_day, as_log
from .exceptions import ClvDataError, ConvergenceError
from .models import uncertainty
from .models._base import in_callers_kind
from .models.uncertainty import (
    check_level,
    interval_columns,
    parameter_draws,
    simulate_quantiles,
)

__all__ = [
    "TOTAL_INTERVAL_CUSTOMERS",
    "ClvTotal",
    "clv_table",
    "discount_factors",
    "estimate_lifetime_years",
    "new_customer_clv",
    "predictive_clv",
    "simple_clv",
    "total_clv_interval",
]

logger = logging.getLogger(__name__)


def _check_money_settings(horizon_months: Any, annual_discount_rate: float, margin: float) -> int:
    check_horizon(horizon_months, "horizon_months")
    if (
        isinstance(horizon_months, bool)
        or not float(horizon_months).is_integer()
        or horizon_months < 1
    ):
        raise ClvDataError(
            f"horizon_months={horizon_months!r} must be a whole number of months >= 1."
        )
    if not np.isfinite(annual_discount_rate) or annual_discount_rate < 0:
        raise ClvDataError(
            f"annual_discount_rate={annual_discount_rate!r} must be a rate >= 0, e.g. 0.10 for 10%."
        )
    if annual_discount_rate >= 1:
        # As the command line's settings: 100% a year or more is a percentage typed as a rate.
        raise ClvDataError(
            f"annual_discount_rate={annual_discount_rate!r} is 100% a year or more: it looks "
            f"like a percentage. Pass a fraction, e.g. 0.10 for 10% a year."
        )
    if not np.isfinite(margin) or not 0 <= margin <= 1:
        raise ClvDataError(
            f"margin={margin!r} must be a fraction between 0 and 1 (e.g. 0.3 for a 30% margin)."
        )
    return int(horizon_months)


def discount_factors(horizon_months: int, annual_discount_rate: float) -> np.ndarray:
    """End-of-month discount factors ``(1 + d)^(-m/12)`` for months ``m = 1..horizon_months``."""
    months = np.arange(1, horizon_months + 1)
    return (1.0 + annual_discount_rate) ** (-months / 12.0)


def _check_converged(models: dict[str, Any], allow_unconverged: bool) -> None:
    """Refuse to value customers with a model whose fit did not converge, unless asked.

    ``converged_`` is ``None`` for parameters given with ``from_params`` (nothing was
    estimated): those are used as given.
    """
    if allow_unconverged:
        return
    for role, model in models.items():
        if getattr(model, "converged_", None) is False:
            notes = getattr(getattr(model, "fit_result_", None), "notes", None)
            why = f" ({'; '.join(notes)})" if notes else ""
            raise ConvergenceError(
                f"The {role} ({type(model).__name__}) did not converge{why}: its parameters are "
                "not maximum-likelihood estimates, and CLV computed from them is not "
                "trustworthy. Re-fit it (check the data and the time unit, or try another "
                "model). To score with it anyway pass allow_unconverged=True (command line: "
                "clvpredict score --allow-unconverged)."
            )


def monthly_expected_purchases(
    purchase_model: Any, data: pd.DataFrame, horizon_months: int
) -> pd.DataFrame:
    """Expected purchases in each of the next ``horizon_months`` months, one column per month.

    Each month's value is the difference of the conditional expectation at its end and start.
    """
    monthly, index = _monthly_purchases(purchase_model, data, horizon_months)
    return pd.DataFrame(monthly, index=index, columns=pd.RangeIndex(1, horizon_months + 1))


def _monthly_purchases(
    purchase_model: Any, data: pd.DataFrame, horizon_months: int
) -> tuple[np.ndarray, pd.Index]:
    """:func:`monthly_expected_purchases` as an array (customers x months), and the index."""
    unit = model_time_unit(purchase_model)
    arrays, index = purchase_model._arrays(data, {})
    monthly = _cumulative(purchase_model, purchase_model._theta(), arrays, horizon_months, unit)
    if not (monthly.flags.owndata and monthly.flags.writeable):
        monthly = np.array(monthly, dtype=float)
    # Differences of consecutive months, in place (numpy buffers the overlapping operands).
    np.subtract(monthly[:, 1:], monthly[:, :-1], out=monthly[:, 1:])
    return monthly, index


def _cumulative(
    purchase_model: Any, theta: Any, arrays: dict[str, np.ndarray], horizon_months: int, unit: str
) -> np.ndarray:
    """Conditional expected purchases at the end of each month: customers x months."""
    ts = [months_to_units(m, unit) for m in range(1, horizon_months + 1)]
    return purchase_model._cumulative_purchases(ts, np.asarray(theta, dtype=float), arrays)


def _horizon_weights(horizon_months: int, annual_discount_rate: float) -> np.ndarray:
    """Weights (months x 2) that turn the cumulative expected purchases ``C_1..C_H`` at the
    months' ends into the expected purchases over the horizon and their discounted sum.

    The first column picks ``C_H``. The second is the discounted sum by parts:
    ``sum_m f_m (C_m - C_{m-1}) = sum_m C_m (f_m - f_{m+1})`` with ``f_{H+1} = 0``, where
    ``f_m - f_{m+1} = f_m (1 - (1+d)^(-1/12))`` is computed without cancellation. Every weight
    is >= 0.
    """
    factors = discount_factors(horizon_months, annual_discount_rate)
    weights = np.zeros((horizon_months, 2))
    weights[-1, 0] = 1.0
    weights[:, 1] = factors * -np.expm1(-np.log1p(annual_discount_rate) / 12.0)
    weights[-1, 1] = factors[-1]
    return weights


def _purchase_totals(
    purchase_model: Any,
    arrays: dict[str, np.ndarray],
    horizon_months: int,
    annual_discount_rate: float,
    alive: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Each customer's expected purchases over the next ``horizon_months`` months, and the
    same purchases discounted month by month (the CLV before spend and margin).

    Both are weighted sums of the cumulative expectations at the months' ends, which the
    purchase model forms without a customers x months table where it can
    (``_purchase_sums``).
    """
    unit = model_time_unit(purchase_model)
    ts = [months_to_units(m, unit) for m in range(1, horizon_months + 1)]
    sums = purchase_model._purchase_sums(
        ts,
        _horizon_weights(horizon_months, annual_discount_rate),
        np.asarray(purchase_model._theta(), dtype=float),
        arrays,
        alive,
    )
    return sums[:, 0], sums[:, 1]


@in_callers_kind
def predictive_clv(
    purchase_model: Any,
    spend_model: Any,
    data: pd.DataFrame,
    horizon_months: int = 12,
    annual_discount_rate: float = 0.10,
    margin: float = 1.0,
    *,
    interval: float | None = None,
    n_draws: int = 200,
    random_state: Any = None,
    allow_unconverged: bool = False,
) -> pd.Series | pd.DataFrame:
    """Discounted model-based CLV of each customer over the next ``horizon_months`` months.

    Parameters
    ----------
    purchase_model : fitted BetaGeoModel (or another purchase model)
        Gives ``expected_purchases(t, data)`` in its own ``time_unit_``.
    spend_model : fitted GammaGammaModel
        Gives ``expected_average_value(data)`` in currency units.
    data : DataFrame
        RFM summary with ``frequency``, ``recency``, ``T`` and ``monetary_value``, recording
        the unit of ``recency`` and ``T`` in ``attrs["time_unit"]`` (as
        :func:`~clvpredict.rfm_summary` does); they are converted to the purchase model's unit.
    horizon_months : int
        Number of average Gregorian months (30.436875 days each) to sum over.
    annual_discount_rate : float
        Effective annual discount rate as a fraction in [0, 1) (0.10 = 10%; 10 is refused as
        a percentage); month ``m`` is discounted by ``(1 + rate)^(-m/12)``.
    margin : float
        Profit margin as a fraction of revenue, in [0, 1]; 1 gives revenue CLV.
    interval : float, optional
        E.g. 0.9 for a 90% interval reflecting the uncertainty of *both* models' parameters:
        ``n_draws`` parameter vectors are drawn from each model's asymptotic normal on the log
        scale and the CLV is recomputed for each (see :mod:`clvpredict.uncertainty`). It does
        not cover a customer's own randomness.
    n_draws : int
        Number of parameter draws.
    random_state : int or numpy Generator, optional
        Seed of the draws.
    allow_unconverged : bool
        Value customers even with a model whose fit did not converge (``converged_`` is
        ``False``). By default that raises :class:`~clvpredict.ConvergenceError`.

    Returns
    -------
    Series or DataFrame
        ``predictive_clv`` in currency units, indexed like ``data``; with ``interval`` a
        DataFrame adding ``predictive_clv_lower`` and ``predictive_clv_upper``. A summary of
        polars, pyarrow or DuckDB gives a frame of the same kind with the customer id column.

    Examples
    --------
    >>> from clvpredict import BetaGeoModel, GammaGammaModel, predictive_clv
    >>> from clvpredict.datasets import load_cdnow_summary
    >>> s = load_cdnow_summary()
    >>> bg, gg = BetaGeoModel().fit(s), GammaGammaModel().fit(s)
    >>> round(float(predictive_clv(bg, gg, s, horizon_months=12).loc[1]), 2)
    36.74
    """
    horizon = _check_money_settings(horizon_months, annual_discount_rate, margin)
    _check_converged(
        {"purchase model": purchase_model, "spend model": spend_model}, allow_unconverged
    )
    # The same computation as clv_table's, so that both give the same numbers to the last bit.
    arrays, _ = purchase_model._arrays(data, {})
    _, discounted = _purchase_totals(purchase_model, arrays, horizon, annual_discount_rate)
    spend = spend_model.expected_average_value(data).to_numpy()
    value = margin * spend * discounted
    if interval is None:
        return pd.Series(value, index=data.index, name="predictive_clv")
    lower, upper = _clv_bounds(
        purchase_model,
        spend_model,
        data,
        horizon,
        annual_discount_rate,
        margin,
        interval,
        n_draws,
        random_state,
    )
    return interval_columns("predictive_clv", value, lower, upper, data.index)


def new_customer_clv(
    purchase_model: Any,
    spend_model: Any,
    horizon_months: int = 36,
    annual_discount_rate: float = 0.10,
    margin: float = 1.0,
    *,
    covariates: Any = None,
    interval: float | None = None,
    n_draws: int = 200,
    random_state: Any = None,
    allow_unconverged: bool = False,
) -> pd.Series | pd.DataFrame:
    """What a customer acquired today is worth over the next ``horizon_months`` months.

    The predictive CLV of a customer who has just made their first purchase:
    ``sum_m margin * E[spend] * (E[X(t_m)] - E[X(t_{m-1})]) / (1 + d)^(m/12)``, with ``E[X(t)]``
    the purchase model's expected repeat purchases of a new customer by ``t`` and ``E[spend]``
    the spend model's population mean spend per purchase (a new customer has no purchases of
    their own to learn from). The first purchase, which made them a customer, is not counted:
    add ``E[spend] * margin`` for the value of the whole relationship.

    Parameters
    ----------
    purchase_model : fitted purchase model
        With covariates, ``covariates`` says which new customer.
    spend_model : fitted GammaGammaModel
        Gives ``population_mean()`` in currency units.
    horizon_months, annual_discount_rate, margin
        As in :func:`predictive_clv` (the default horizon here: 36 months).
    covariates : mapping, Series or DataFrame, optional
        For a purchase model with covariates (required then): one profile (``{"channel":
        "web", ...}``, or a pandas Series such as a row of the customer table, indexed by
        column), or a DataFrame of profiles, one per row, for a table of them ("what is a new
        customer from each channel worth over 3 years?"); other columns are ignored, and rows
        with equal covariates are worked out once. The table may be pandas or any table
        narwhals reads (polars, pyarrow, DuckDB).
    interval : float, optional
        E.g. 0.9: also the bounds of a 90% interval over joint draws of both models'
        parameters (the profile's parameters inherit the covariance of the fit).
    n_draws, random_state, allow_unconverged
        As in :func:`predictive_clv`.

    Returns
    -------
    Series or DataFrame
        Without profiles or with one: a Series with ``expected_purchases`` (repeat purchases
        over the horizon), ``expected_avg_value`` (currency per purchase) and
        ``new_customer_clv`` (currency), plus ``new_customer_clv_lower`` / ``_upper`` with
        ``interval``. With a DataFrame of profiles: a pandas DataFrame of those columns, one
        row per profile, indexed like a pandas table, and by row position (0, 1, ...) in the
        order the table gives its rows for a table of another kind, which has no index.
    """
    horizon = _check_money_settings(horizon_months, annual_discount_rate, margin)
    _check_converged(
        {"purchase model": purchase_model, "spend model": spend_model}, allow_unconverged
    )
    # The unit of the model itself, not of a profile's plain model: the refusal of a model
    # with covariates says how the unit is usually lost.
    model_time_unit(purchase_model)
    takes = getattr(purchase_model, "covariate_design_", None) is not None
    if takes and covariates is None:
        raise ClvDataError(
            f"The {type(purchase_model).__name__} was fitted with covariates: say which new "
            "customer with covariates={...} (a value for each of "
            f"{list(purchase_model.covariate_design_.columns)}), or a DataFrame of profiles."
        )
    if not takes and covariates is not None:
        raise ClvDataError(
            f"The {type(purchase_model).__name__} has no covariates; drop covariates=."
        )
    if not isinstance(covariates, Mapping | pd.Series) and frame_kind(covariates) is not None:
        # A table of many customers from a few segments: one answer per distinct profile.

        def indexed(rows: pd.DataFrame, profile_of: np.ndarray) -> pd.DataFrame:
            # A lazy table (DuckDB, polars' LazyFrame) has no length before it runs.
            index = (
                covariates.index
                if isinstance(covariates, pd.DataFrame)
                else pd.RangeIndex(len(profile_of))
            )
            return rows.iloc[profile_of].set_axis(index)

        if interval is None:
            # All profiles at once: the parameters of each, then the expectation per horizon
            # over all of them, so that a continuous covariate's thousands of profiles cost
            # about what a few do.
            params, profile_of = purchase_model._distinct_profile_parameters(covariates)
            purchases, spend, clv = _new_customer_values(
                type(purchase_model),
                _month_ends(purchase_model, horizon),
                discount_factors(horizon, annual_discount_rate),
                params,
                spend_model.params_.to_numpy(float),
                margin,
            )
            table = pd.DataFrame(
                {
                    "expected_purchases": purchases,
                    "expected_avg_value": spend,
                    "new_customer_clv": clv,
                }
            )
            return indexed(table, profile_of)
        models, profile_of = purchase_model.profile_models(covariates)
        rows = [
            _one_new_customer(
                model,
                spend_model,
                horizon,
                annual_discount_rate,
                margin,
                interval,
                n_draws,
                random_state,
            )
            for model in models
        ]
        return indexed(pd.DataFrame(rows), profile_of)
    model = purchase_model.profile_model(covariates) if takes else purchase_model
    return _one_new_customer(
        model, spend_model, horizon, annual_discount_rate, margin, interval, n_draws, random_state
    )


def _one_new_customer(
    purchase_model: Any,
    spend_model: Any,
    horizon: int,
    annual_discount_rate: float,
    margin: float,
    interval: float | None,
    n_draws: int,
    random_state: Any,
) -> pd.Series:
    """:func:`new_customer_clv` of a purchase model without covariates."""
    ts = _month_ends(purchase_model, horizon)
    factors = discount_factors(horizon, annual_discount_rate)

    def value(purchase_theta: np.ndarray, spend_theta: np.ndarray) -> tuple[float, float, float]:
        purchases, spend, clv = _new_customer_values(
            type(purchase_model), ts, factors, purchase_theta, spend_theta, margin
        )
        return float(purchases[0]), spend, float(clv[0])

    purchases, spend, clv = value(
        purchase_model.params_.to_numpy(float), spend_model.params_.to_numpy(float)
    )
    out = {"expected_purchases": purchases, "expected_avg_value": spend, "new_customer_clv": clv}
    if interval is not None:
        level = check_level(interval)
        draws = _joint_draws(
            purchase_model, spend_model, n_draws, np.random.default_rng(random_state)
        )
        k = len(purchase_model.params_)
        values = [value(d[:k], d[k:])[2] for d in draws]
        out["new_customer_clv_lower"], out["new_customer_clv_upper"] = np.quantile(
            values, [(1 - level) / 2, (1 + level) / 2]
        )
    return pd.Series(out, name="new_customer")


def _month_ends(purchase_model: Any, horizon: int) -> np.ndarray:
    """The ends of the horizon's months 1..``horizon``, in the purchase model's time unit."""
    unit = model_time_unit(purchase_model)
    return np.array([months_to_units(m, unit) for m in range(1, horizon + 1)])


def _new_customer_values(
    model_type: type,
    ts: np.ndarray,
    factors: np.ndarray,
    purchase_params: Any,
    spend_theta: np.ndarray,
    margin: float,
) -> tuple[np.ndarray, float, np.ndarray]:
    """New customers' expected repeat purchases by the last of ``ts``, the population's spend
    per purchase (currency) and their CLV (currency) with the month ends ``ts`` discounted by
    ``factors``.

    ``purchase_params`` are the purchase model's parameters: numbers (one customer), or arrays
    of one value per profile for some of them (many); the results have one value per profile.
    """
    expectation = model_type._new_customer_expectation
    if all(np.ndim(p) == 0 for p in purchase_params):
        # One customer (the draws of an interval come this way, one at a time): every horizon
        # in one call.
        cumulative = np.asarray(expectation(ts, *purchase_params), dtype=float).reshape(1, -1)
    else:
        # One horizon at a time over all profiles, as the per-row predictions evaluate: every
        # expectation takes a number t beside parameter arrays.
        cumulative = np.column_stack(
            [np.atleast_1d(np.asarray(expectation(t, *purchase_params))) for t in ts]
        ).astype(float)
    monthly = np.diff(cumulative, axis=1, prepend=0.0)
    p, q, gamma = spend_theta
    spend = float(p * gamma / (q - 1)) if q > 1 else np.inf
    return cumulative[:, -1], spend, margin * spend * (monthly @ factors)


def _clv_at_draws(
    purchase_model: Any,
    spend_model: Any,
    columns: dict[str, np.ndarray],
    horizon: int,
    annual_discount_rate: float,
    margin: float,
) -> Any:
    """``evaluate(rows, theta)``: the predictive CLV (currency) of the rows ``rows`` of
    ``columns`` (both models' arrays, in the purchase model's unit) at the joint parameters
    ``theta`` (the purchase model's, then the spend model's).

    Rows come block by block with every draw of a block in a row, as
    :func:`~clvpredict.models.uncertainty.simulate_quantiles` hands them: each block is
    planned once (:meth:`_cumulative_purchases_planner`).
    """
    unit = model_time_unit(purchase_model)
    k = len(purchase_model.params_)
    factors = discount_factors(horizon, annual_discount_rate)
    ts = [months_to_units(m, unit) for m in range(1, horizon + 1)]
    planned: dict[int, tuple[dict[str, np.ndarray], Any]] = {}

    def evaluate(rows: np.ndarray, theta: np.ndarray) -> np.ndarray:
        if rows[0] not in planned:
            planned.clear()
            block = {c: values[rows] for c, values in columns.items()}
            planned[rows[0]] = (block, purchase_model._cumulative_purchases_planner(ts, block))
        block, cumulative_at = planned[rows[0]]
        monthly = np.diff(cumulative_at(theta[:k]), axis=1, prepend=0.0)
        spend = spend_model._expected_value(theta[k:], block)
        return margin * spend * (monthly @ factors)

    return evaluate


def _model_columns(
    purchase_model: Any, spend_model: Any, data: pd.DataFrame
) -> dict[str, np.ndarray]:
    """Both models' arrays of ``data`` (the purchase model's unit), by column name."""
    purchase_arrays, _ = purchase_model._arrays(data, {})
    spend_arrays, _ = spend_model._arrays(data, {})
    return {**purchase_arrays, **spend_arrays}


def _joint_draws(
    purchase_model: Any, spend_model: Any, n_draws: int, rng: np.random.Generator
) -> np.ndarray:
    """Joint parameter draws (draws x parameters): the purchase model's, then the spend
    model's, drawn in that order from ``rng``."""
    draws_purchase = parameter_draws(purchase_model, n_draws, rng)
    draws_spend = parameter_draws(spend_model, n_draws, rng)
    return np.hstack([draws_purchase, draws_spend])


def _clv_bounds(
    purchase_model: Any,
    spend_model: Any,
    data: pd.DataFrame,
    horizon: int,
    annual_discount_rate: float,
    margin: float,
    interval: float,
    n_draws: int,
    random_state: Any,
) -> tuple[np.ndarray, np.ndarray]:
    """Per-customer CLV quantiles over joint draws of both models' parameters.

    Customers with identical histories share one row; draws run block by block over those rows
    (:func:`clvpredict.uncertainty.simulate_quantiles`), so memory stays bounded.
    """
    draws = _joint_draws(purchase_model, spend_model, n_draws, np.random.default_rng(random_state))
    columns = _model_columns(purchase_model, spend_model, data)
    unique_columns, n_unique, inverse = _distinct_rows(columns)
    evaluate = _clv_at_draws(
        purchase_model, spend_model, unique_columns, horizon, annual_discount_rate, margin
    )
    lower, upper = simulate_quantiles(n_unique, evaluate, draws, interval)
    return lower[inverse], upper[inverse]


def _distinct_rows(
    columns: dict[str, np.ndarray],
) -> tuple[dict[str, np.ndarray], int, np.ndarray]:
    """The distinct rows of ``columns`` (each a column, or a matrix of columns such as a
    covariate model's design), as columns of the same shapes, their number, and the row of
    each original row among them."""
    names = list(columns)
    blocks = [np.asarray(columns[c], dtype=float) for c in names]
    widths = [1 if b.ndim == 1 else b.shape[1] for b in blocks]
    stacked = np.column_stack([b.reshape(len(b), -1) for b in blocks])
    unique, inverse = np.unique(stacked, axis=0, return_inverse=True)
    edges = np.cumsum([0, *widths])
    out = {
        c: unique[:, edges[i]] if blocks[i].ndim == 1 else unique[:, edges[i] : edges[i + 1]]
        for i, c in enumerate(names)
    }
    return out, len(unique), inverse.ravel()


#: Most customers whose CLV :func:`total_clv_interval` recomputes at every parameter draw; a
#: table of more customers is represented by a uniform random sample of this many.
TOTAL_INTERVAL_CUSTOMERS = 100_000

#: The summary's columns both models read.
_HISTORY_COLUMNS = ["frequency", "recency", "T", "monetary_value"]


@dataclass(frozen=True)
class ClvTotal:
    """The total predictive CLV of a set of customers, with its parameter-uncertainty interval.

    Attributes
    ----------
    total : float
        Sum of every customer's predictive CLV at the fitted parameters (currency).
    lower, upper : float
        The ``(1 - level) / 2`` and ``(1 + level) / 2`` quantiles of the total over the
        parameter draws (currency).
    level : float
        Central interval level, e.g. 0.9.
    n_customers : int
        Customers in the total.
    n_evaluated : int
        Customers whose CLV was recomputed at every draw: all of them, or a uniform random
        sample (see :func:`total_clv_interval`).
    n_draws : int
        Parameter draws.
    """

    total: float
    lower: float
    upper: float
    level: float
    n_customers: int
    n_evaluated: int
    n_draws: int

    @property
    def sampled(self) -> bool:
        """Whether the draws were evaluated on a sample of the customers."""
        return self.n_evaluated < self.n_customers


def total_clv_interval(
    purchase_model: Any,
    spend_model: Any,
    data: Any,
    *,
    horizon_months: int = 12,
    annual_discount_rate: float = 0.10,
    margin: float = 1.0,
    level: float = 0.9,
    n_draws: int = 200,
    random_state: Any = None,
    max_customers: int | None = None,
    customer_id_col: str | None = None,
    allow_unconverged: bool = False,
) -> ClvTotal:
    """Total predictive CLV of all the customers, with an interval for the uncertainty of
    both models' parameters.

    The draws are those of ``predictive_clv(..., interval=level)`` with the same
    ``random_state``: ``n_draws`` parameter vectors of each model from its asymptotic normal
    on the log scale (:func:`~clvpredict.models.uncertainty.parameter_draws`). At each draw
    the total over the customers is recomputed, and the interval is the quantiles of those
    totals. Like the per-customer interval it says how well the data pin the parameters down,
    not how far the customers' actual spending may fall from its expectation.

    Customers with identical histories (``frequency``, ``recency``, ``T``,
    ``monetary_value``) are evaluated once and counted as many times as they occur. With more
    than ``max_customers`` customers, the draws are evaluated on a uniform random sample of
    ``max_customers`` of them (without replacement; the sample is drawn from ``random_state``
    after the parameters) and scaled: the interval is the whole total times the quantiles of
    ``sample total at the draw / sample total at the estimate``. The sample's only error is
    that of this ratio, whose relative standard error falls as ``1 / sqrt(max_customers)``
    and is far smaller than the spread of the totals, since a change of parameters moves
    nearly every customer's CLV in the same direction.

    Parameters
    ----------
    purchase_model, spend_model
        Fitted models (with covariances: fitted on data, not given with ``from_params``).
    data : DataFrame or engine frame
        RFM summary (or :func:`clv_table`) with ``frequency``, ``recency``, ``T`` and
        ``monetary_value`` in a recorded time unit. A Spark or polars frame is read by its
        engine: it counts and groups the histories, or draws the sample (the rows with the
        smallest seeded hash of the customer id, :func:`~clvpredict.data.ranks.hashed_sample`),
        so at most ``max_customers`` rows come to this process. Other kinds are collected.
    horizon_months, annual_discount_rate, margin, allow_unconverged
        As in :func:`predictive_clv`.
    level : float
        Central interval level, e.g. 0.9 for the 5% and 95% quantiles.
    n_draws : int
        Number of parameter draws.
    random_state : int or numpy Generator, optional
        Seed of the draws and of the sample.
    max_customers : int, optional
        Most customers evaluated at every draw (default :data:`TOTAL_INTERVAL_CUSTOMERS`, read
        when called).
    customer_id_col : str, optional
        The id column of an engine's frame, when it cannot be told.

    Returns
    -------
    ClvTotal
        The total (the sum of :func:`predictive_clv`), its bounds, and how they were
        computed; money in the amounts' currency.

    Examples
    --------
    >>> from clvpredict import BetaGeoModel, GammaGammaModel, total_clv_interval
    >>> from clvpredict.datasets import load_cdnow_summary
    >>> s = load_cdnow_summary()
    >>> bg, gg = BetaGeoModel().fit(s), GammaGammaModel().fit(s)
    >>> t = total_clv_interval(bg, gg, s, n_draws=50, random_state=1)
    >>> t.lower < t.total < t.upper
    True
    """
    horizon = _check_money_settings(horizon_months, annual_discount_rate, margin)
    _check_converged(
        {"purchase model": purchase_model, "spend model": spend_model}, allow_unconverged
    )
    return _total_interval(
        purchase_model,
        spend_model,
        data,
        horizon=horizon,
        annual_discount_rate=annual_discount_rate,
        margin=margin,
        level=level,
        n_draws=n_draws,
        random_state=random_state,
        max_customers=max_customers,
        customer_id_col=customer_id_col,
    )


def _total_interval(
    purchase_model: Any,
    spend_model: Any,
    data: Any,
    *,
    horizon: int,
    annual_discount_rate: float,
    margin: float,
    level: float,
    n_draws: int,
    random_state: Any,
    max_customers: int | None,
    customer_id_col: str | None = None,
    total: float | None = None,
    time_unit: str | None = None,
) -> ClvTotal:
    """:func:`total_clv_interval` with checked settings. ``total`` is the sum of the
    customers' predictive CLV when the caller has it (a report's table); ``time_unit`` the
    unit of an engine frame that records none (a Spark predictions file)."""
    level = check_level(level)
    if max_customers is None:
        max_customers = TOTAL_INTERVAL_CUSTOMERS
    whole = isinstance(max_customers, int | np.integer) and not isinstance(max_customers, bool)
    if not whole or max_customers < 1:
        raise ClvDataError(f"max_customers={max_customers!r} must be a whole number >= 1.")
    rng = np.random.default_rng(random_state)
    draws = _joint_draws(purchase_model, spend_model, n_draws, rng)
    kind = frame_kind(data)
    if kind not in (None, "pandas") and backend(as_lazy(data)) not in ("spark", "polars"):
        # An engine without a seeded hash here: the summary comes to this process, as it does
        # for predictive_clv.
        data, customer_id_col = collect_summary(data, _covariate_columns(purchase_model))
        kind = "pandas"
    history_columns = _HISTORY_COLUMNS + _covariate_columns(purchase_model)
    if kind in (None, "pandas"):
        histories_, n_customers = _pandas_histories(data, max_customers, rng, history_columns)
    else:
        histories_, n_customers = _engine_histories(
            data, max_customers, rng, customer_id_col, time_unit, history_columns
        )
    if n_customers == 0:
        raise ClvDataError("There are no customers: the total has no interval.")
    columns = _model_columns(purchase_model, spend_model, histories_)
    counts = histories_["weight"].to_numpy(dtype=float)
    evaluate = _clv_at_draws(
        purchase_model, spend_model, columns, horizon, annual_discount_rate, margin
    )
    estimate = np.concatenate(
        [purchase_model.params_.to_numpy(dtype=float), spend_model.params_.to_numpy(dtype=float)]
    )
    at_draws, at_estimate = _weighted_totals(evaluate, len(counts), counts, draws, estimate)
    n_evaluated = int(counts.sum())
    if total is None:
        total = _predictive_total(
            purchase_model, spend_model, data, horizon, annual_discount_rate, margin
        )
    q = [(1 - level) / 2, (1 + level) / 2]
    if n_evaluated == n_customers:
        lower, upper = np.quantile(at_draws, q)
    else:
        lower, upper = total * np.quantile(at_draws / at_estimate, q)
    return ClvTotal(
        total=float(total),
        lower=float(lower),
        upper=float(upper),
        level=level,
        n_customers=int(n_customers),
        n_evaluated=n_evaluated,
        n_draws=len(draws),
    )


def _covariate_columns(purchase_model: Any) -> list[str]:
    """The covariate columns a purchase model fitted with covariates reads (else none)."""
    design = getattr(purchase_model, "covariate_design_", None)
    return [] if design is None else list(design.columns)


def _pandas_histories(
    data: pd.DataFrame,
    max_customers: int,
    rng: np.random.Generator,
    columns: list[str] = _HISTORY_COLUMNS,
) -> tuple[pd.DataFrame, int]:
    """The distinct histories of a pandas summary (or of a uniform random sample of
    ``max_customers`` of its customers) with a ``weight`` column counting them, and the
    number of customers. ``columns``: the history columns and a covariate model's
    covariates."""
    missing_columns = [c for c in columns if c not in data.columns]
    if missing_columns:
        raise ClvDataError(
            f"The total CLV needs column(s) {missing_columns}: pass an RFM summary with "
            "monetary_value (rfm_summary(..., monetary_value_col=...)) or its clv_table"
            + (", with the covariate columns" if len(columns) > len(_HISTORY_COLUMNS) else "")
            + "."
        )
    n = len(data)
    rows = data[columns]
    if n > max_customers:
        rows = rows.iloc[np.sort(rng.choice(n, size=max_customers, replace=False))]
    out = _counted_rows(rows, columns)
    out.attrs.update(data.attrs)
    return out, n


def _counted_rows(rows: pd.DataFrame, columns: list[str]) -> pd.DataFrame:
    """The distinct rows of ``columns`` of a pandas frame, with a ``weight`` column counting
    each: the history columns as numbers, or with a covariate model's covariates, which may be
    text (categories), by a group-by."""
    if len(columns) == len(_HISTORY_COLUMNS):
        return _counted_histories(rows[columns].to_numpy(dtype=float))
    return (
        rows.groupby(columns, dropna=False, observed=True, sort=False)
        .size()
        .rename("weight")
        .astype(float)
        .reset_index()
    )


def _counted_histories(rows: np.ndarray) -> pd.DataFrame:
    """The distinct rows of ``_HISTORY_COLUMNS`` values, with a ``weight`` column counting
    each."""
    unique, counts = np.unique(rows, axis=0, return_counts=True)
    out = pd.DataFrame(unique, columns=_HISTORY_COLUMNS)
    out["weight"] = counts.astype(float)
    return out


def _engine_histories(
    data: Any,
    max_customers: int,
    rng: np.random.Generator,
    customer_id_col: str | None,
    time_unit: str | None,
    columns: list[str] = _HISTORY_COLUMNS,
) -> tuple[pd.DataFrame, int]:
    """:func:`_pandas_histories` of a Spark or polars frame, computed by its engine: the
    distinct histories of all the customers (their group-by), or of the rows with the smallest
    seeded hash of the customer id; at most ``max_customers`` rows come to this process."""
    frame = as_lazy(data)
    names = frame.collect_schema().names()
    # A covariate model's covariate columns are known columns too, not candidate ids.
    ident = id_column(names, customer_id_col, TABLE_COLUMNS | set(columns), "data")
    (n,) = scalars(frame, nw.len())
    n = int(n)
    unit = summary_unit(data) or time_unit
    if n <= max_customers:
        out = histories(frame.select(*columns), columns)
    else:
        seed = int(rng.integers(2**31))
        sample = hashed_sample(frame, max_customers, ident, columns, seed=seed)
        out = _counted_rows(sample, columns)
    if unit is not None:
        out.attrs["time_unit"] = unit
    return out, n


def _weighted_totals(
    evaluate: Any, n_rows: int, counts: np.ndarray, draws: np.ndarray, estimate: np.ndarray
) -> tuple[np.ndarray, float]:
    """``sum_rows counts * evaluate(rows, theta)`` at every draw and at the estimate, block by
    block of :data:`~clvpredict.models.uncertainty.BLOCK_ROWS` rows."""
    thetas = np.vstack([draws, estimate[None, :]])
    totals = np.zeros(len(thetas))
    starts = range(0, n_rows, uncertainty.BLOCK_ROWS)
    steps = progress(
        ((start, d) for start in starts for d in range(len(thetas))),
        total=len(starts) * len(thetas),
        desc=f"total CLV interval: {len(draws)} parameter draws x {n_rows:,} distinct rows",
        unit="draw",
    )
    for start, d in steps:
        rows = np.arange(start, min(start + uncertainty.BLOCK_ROWS, n_rows))
        totals[d] += float(counts[rows] @ evaluate(rows, thetas[d]))
    return totals[:-1], float(totals[-1])


def _predictive_total(
    purchase_model: Any,
    spend_model: Any,
    data: Any,
    horizon: int,
    annual_discount_rate: float,
    margin: float,
) -> float:
    """The sum of the customers' :func:`predictive_clv` (computed by an engine's frame's
    engine)."""
    values = predictive_clv(
        purchase_model,
        spend_model,
        data,
        horizon,
        annual_discount_rate,
        margin,
        allow_unconverged=True,
    )
    if isinstance(values, pd.Series):
        return float(values.sum())
    (total,) = scalars(as_lazy(values), nw.col("predictive_clv").sum())
    return float(total)


@in_callers_kind
def simple_clv(
    data: pd.DataFrame,
    lifetime_years: float | pd.Series,
    margin: float = 1.0,
    *,
    time_unit: str | None = None,
    min_tenure_years: float = 1.0 / 12.0,
) -> pd.Series:
    """The simple business formula: AOV x purchases per year x margin x lifetime in years.

    Parameters
    ----------
    data : DataFrame
        RFM summary with ``frequency``, ``T`` and ``avg_order_value`` (mean amount over all purchase
        days, first included: :func:`~clvpredict.rfm_summary` makes it when given a money column).
    lifetime_years : float or Series
        Expected customer lifetime in years, for everybody or per customer; see
        :func:`estimate_lifetime_years`.
    margin : float
        Profit margin as a fraction in [0, 1].
    time_unit : {"D", "W", "M", "Y"}, optional
        Unit of ``T``; by default ``data.attrs["time_unit"]``.
    min_tenure_years : float
        Purchases per year are ``(frequency + 1) / T``; a customer observed for less than this
        (e.g. who bought for the first time yesterday) is annualised over this floor instead, so a
        single recent purchase does not become hundreds per year. Applying it is logged.

    Returns
    -------
    Series
        ``simple_clv`` in currency units, indexed like ``data`` (a summary of polars,
        pyarrow or DuckDB gives a frame of its kind with the customer id column).

    Examples
    --------
    A customer with 3 purchases of average value 20 over half a year, margin 0.3, 2-year
    lifetime: ``20 * 6 * 0.3 * 2 = 72``.

    >>> import pandas as pd
    >>> from clvpredict import simple_clv
    >>> d = pd.DataFrame({"frequency": [2], "T": [0.5], "avg_order_value": [20.0]})
    >>> float(simple_clv(d, lifetime_years=2, margin=0.3, time_unit="Y").iloc[0])
    72.0
    """
    _check_money_settings(1, 0.0, margin)
    unit = check_time_unit(time_unit or recorded_unit(data), "time_unit")
    missing = [c for c in ("frequency", "T", "avg_order_value") if c not in data.columns]
    if missing:
        raise ClvDataError(
            f"simple_clv needs column(s) {missing}. avg_order_value (mean amount of all purchase "
            "days, first included) comes from rfm_summary(..., monetary_value_col=...)."
        )
    lifetime = np.asarray(lifetime_years, dtype=float)
    if np.any(~np.isfinite(lifetime)) or np.any(lifetime < 0):
        raise ClvDataError(f"lifetime_years must be finite and >= 0, got {lifetime_years!r}.")
    tenure = units_to_years(data["T"].to_numpy(dtype=float), unit)
    short = tenure < min_tenure_years
    if short.any():
        logger.info(
            "simple_clv: %d customers observed for less than %.3g years are annualised over %.3g "
            "years.",
            int(short.sum()),
            min_tenure_years,
            min_tenure_years,
        )
    per_year = (data["frequency"].to_numpy(dtype=float) + 1.0) / np.maximum(
        tenure, min_tenure_years
    )
    value = data["avg_order_value"].to_numpy(dtype=float) * per_year * margin * lifetime
    return pd.Series(value, index=data.index, name="simple_clv")


def estimate_lifetime_years(
    transactions: pd.DataFrame | TransactionLog,
    customer_id_col: str | None = None,
    datetime_col: str | None = None,
    *,
    window_months: int = 6,
    observation_end: Any = None,
    datetime_format: str | None = None,
) -> float:
    """Expected customer lifetime in years from observed churn between consecutive windows.

    The history up to ``observation_end`` is cut, backwards from that day, into as many complete
    windows of ``window_months`` average months as fit. A customer active (with a purchase) in one
    window is *retained* if also active in the next. With the pooled retention rate ``rho`` over all
    consecutive pairs, churn per window is ``1 - rho`` and, for a geometric lifetime, the expected
    lifetime is ``window_months / 12 / (1 - rho)`` years. This is the textbook estimate behind the
    simple CLV formula; it ignores that inactive customers may still be alive, which the
    probabilistic models account for.

    Parameters
    ----------
    transactions : DataFrame or TransactionLog
        The transaction log: pandas, or a frame of another engine (polars, pyarrow, DuckDB,
        Spark), where the windows are counted (no daily rows come back). A
        :class:`~clvpredict.data.TransactionLog` is used as parsed.
    customer_id_col, datetime_col : str
        Column names.
    window_months : int
        Window length in average Gregorian months.
    observation_end : date-like, optional
        Last day of the history used (inclusive), not after today; later purchases are
        ignored. Default the last purchase day (then purchases dated after today are refused).
    datetime_format : str, optional
        As in :func:`~clvpredict.rfm_summary`.

    Returns
    -------
    float
        Expected lifetime in years.

    Raises
    ------
    ClvDataError
        If the history holds fewer than two complete windows, or no churn was observed.

    Examples
    --------
    >>> from clvpredict import estimate_lifetime_years
    >>> from clvpredict.datasets import load_cdnow
    >>> round(estimate_lifetime_years(load_cdnow(), "customer_id", "date", window_months=6), 3)
    1.035
    """
    if window_months <= 0:
        raise ClvDataError(f"window_months={window_months!r} must be > 0.")
    log = as_log(transactions, customer_id_col, datetime_col, datetime_format=datetime_format)
    daily = _nw(
        log.until(
            "error" if observation_end is None else None,
            "pass an observation_end of today or earlier (later purchases are ignored)",
        )
    )
    if observation_end is None:
        start, end = (
            int(v) for v in scalars(daily, nw.col("day").min(), nw.col("day").max().alias("end"))
        )
    else:
        end = _end_day(observation_end)
        daily = _apply_end(
            daily,
            end,
            "drop",
            "observation_end",
            f"observation_end={observation_end!s} is before the first purchase: there is no "
            "history to estimate a lifetime from.",
        )
        start = int(scalars(daily, nw.col("day").min())[0])
    window_days = window_months * DAYS_PER_MONTH
    span_days = end - start + 1
    n_windows = int(np.floor(span_days / window_days + 1e-9))
    if n_windows < 2:
        raise ClvDataError(
            f"The history spans {span_days} days ({span_days / DAYS_PER_MONTH:.1f} months), fewer "
            f"than two complete windows of {window_months} months, so churn between consecutive "
            "windows cannot be observed. Pass lifetime_years= yourself, or use a shorter "
            "window_months."
        )
    at_risk, retained = _window_retention(daily, end, window_days, n_windows)
    if at_risk == 0:
        raise ClvDataError("No customer was active in the earlier windows: churn is undefined.")
    churn = 1.0 - retained / at_risk
    if churn <= 0:
        raise ClvDataError(
            "Every active customer stayed active in the next window: no churn was observed, so "
            "the expected lifetime is unbounded. Pass lifetime_years= yourself."
        )
    lifetime = window_months / 12.0 / churn
    logger.info(
        "estimate_lifetime_years: %d windows of %s months, retention %.3f, lifetime %.3f years.",
        n_windows,
        window_months,
        1.0 - churn,
        lifetime,
    )
    return float(lifetime)


def _window_retention(daily: Any, end: int, window_days: float, n_windows: int) -> tuple[int, int]:
    """Customers at risk and retained over the consecutive windows, counted by the log's engine.

    Window 0 is the latest; a purchase day belongs to window ``floor((end - day) /
    window_days)``. A customer active in window ``w`` (of ``1 .. n_windows - 1``) is at risk,
    and retained when also active in window ``w - 1``. A purchase day in window ``v`` marks its
    customer active in ``v`` and, in the earlier window ``v + 1``, active in the next one: one
    group-by over customer and window then reads both, without a join.
    """
    window = ((end - nw.col("day")) / window_days).floor().cast(nw.Int64)
    one, zero = nw.lit(1, nw.Int64), nw.lit(0, nw.Int64)
    marks = nw.concat(
        [
            daily.select(
                "customer_id", window.alias("window"), one.alias("_in"), zero.alias("_next")
            ),
            daily.select(
                "customer_id", (window + 1).alias("window"), zero.alias("_in"), one.alias("_next")
            ),
        ],
        how="vertical",
    )
    windows = (
        marks.filter((nw.col("window") >= 1) & (nw.col("window") < n_windows))
        .group_by("customer_id", "window")
        .agg(nw.col("_in").max(), nw.col("_next").max())
    )
    at_risk, retained = scalars(
        windows, nw.col("_in").sum(), (nw.col("_in") * nw.col("_next")).sum().alias("retained")
    )
    return int(at_risk or 0), int(retained or 0)


def clv_table(
    purchase_model: Any,
    spend_model: Any,
    data: pd.DataFrame,
    *,
    lifetime_years: float | pd.Series | None = None,
    horizon_months: int = 12,
    annual_discount_rate: float = 0.10,
    margin: float = 1.0,
    interval: float | None = None,
    n_draws: int = 200,
    random_state: Any = None,
    allow_unconverged: bool = False,
    currency: str | None = None,
) -> pd.DataFrame:
    """One row per customer: history, model predictions, predictive CLV and simple CLV side by side.

    Parameters
    ----------
    purchase_model, spend_model
        Fitted purchase (e.g. :class:`~clvpredict.BetaGeoModel`) and spend
        (:class:`~clvpredict.GammaGammaModel`) models.
    data : DataFrame
        RFM summary from :func:`~clvpredict.rfm_summary` or
        :func:`~clvpredict.calibration_holdout_summary` (then the holdout actuals are kept),
        in any time unit: the models read it in the unit it records. The columns copied into
        the table (``recency``, ``T``, ``duration_holdout``) stay in that unit. A summary of
        polars, pyarrow or DuckDB gives a table of the same kind, with the customer id and
        ``time_unit`` as columns. A Spark summary is scored on its executors and gives a Spark
        DataFrame (``lifetime_years`` must then be one number).
    lifetime_years : float or Series
        Expected lifetime for the simple formula; see :func:`estimate_lifetime_years`.
    horizon_months, annual_discount_rate, margin, interval, n_draws, random_state
    allow_unconverged
        As in :func:`predictive_clv`; with ``interval`` the table also has
        ``predictive_clv_lower`` and ``predictive_clv_upper`` (parameter uncertainty).
    currency : str, optional
        The currency of the log's amounts (``"USD"``, ``"EUR"``, ``"$"``), recorded in
        ``attrs["currency"]`` for the plots and the report to label money with. It changes no
        number: the money columns are in the amounts' own currency.

    Returns
    -------
    DataFrame
        Columns ``frequency, recency, T, monetary_value, p_alive, expected_purchases`` (over the
        next ``horizon_months``), ``expected_avg_value, predictive_clv, simple_clv``; with holdout
        data also ``frequency_holdout, monetary_value_holdout, duration_holdout`` and
        ``expected_purchases_holdout`` (the model's forecast over ``duration_holdout``).
        ``attrs`` record the settings (``horizon_months``, ``annual_discount_rate``,
        ``margin``, ``currency``, ``time_unit``, and ``lifetime_years`` when it is one number).
    """
    currency = check_currency(currency)
    if lifetime_years is None:
        raise ClvDataError(
            "clv_table needs lifetime_years= for the simple CLV formula: pass your business's "
            "figure, or estimate it with clvpredict.estimate_lifetime_years(transactions, ...)."
        )
    kind = frame_kind(data)
    if kind not in (None, "pandas"):
        settings = dict(
            lifetime_years=lifetime_years,
            horizon_months=horizon_months,
            annual_discount_rate=annual_discount_rate,
            margin=margin,
            interval=interval,
            n_draws=n_draws,
            random_state=random_state,
            allow_unconverged=allow_unconverged,
            currency=currency,
        )
        if kind == "spark":
            return _clv_table_on_spark(purchase_model, spend_model, data, None, **settings)
        # One row per customer comes back: the summary is collected, scored here, and handed
        # back to the caller's engine with its id column.
        summary, ident = collect_summary(data, _covariate_columns(purchase_model))
        table = clv_table(purchase_model, spend_model, summary, **settings)
        table[UNIT_COLUMN] = table.attrs["time_unit"]
        return table_to_kind(table, kind, ident, data)
    horizon = _check_money_settings(horizon_months, annual_discount_rate, margin)
    unit = model_time_unit(purchase_model)
    _check_converged(
        {"purchase model": purchase_model, "spend model": spend_model}, allow_unconverged
    )
    columns: dict[str, Any] = {}
    for col in ("frequency", "recency", "T", "monetary_value"):
        if col not in data.columns:
            raise ClvDataError(
                f"clv_table needs column {col!r}; data has {list(map(str, data.columns))}. Build "
                "it with rfm_summary(..., monetary_value_col=...)."
            )
        # By position, keeping the column's dtype.
        columns[col] = data[col].array
    # The purchase model reads the customers once for P(alive) and the expected purchases.
    arrays, _ = purchase_model._arrays(data, {})
    alive = purchase_model._alive_rows(purchase_model._theta(), arrays)
    columns["p_alive"] = alive
    expected, discounted = _purchase_totals(
        purchase_model, arrays, horizon, annual_discount_rate, alive
    )
    columns["expected_purchases"] = expected
    spend = spend_model.expected_average_value(data).to_numpy()
    columns["expected_avg_value"] = spend
    columns["predictive_clv"] = margin * spend * discounted
    out = pd.DataFrame(columns, index=data.index, copy=False)
    if interval is not None:
        out["predictive_clv_lower"], out["predictive_clv_upper"] = _clv_bounds(
            purchase_model,
            spend_model,
            data,
            horizon,
            annual_discount_rate,
            margin,
            interval,
            n_draws,
            random_state,
        )
    # The purchase model read the data in their own unit (converted to its unit if need be);
    # the columns copied from the data stay in theirs.
    data_unit = recorded_unit(data) or unit
    out["simple_clv"] = simple_clv(data, lifetime_years, margin, time_unit=data_unit)
    for col in ("frequency_holdout", "monetary_value_holdout", "duration_holdout"):
        if col in data.columns:
            out[col] = data[col]
    if "duration_holdout" in data.columns:
        durations = data["duration_holdout"].to_numpy(dtype=float)
        if np.allclose(durations, durations[0]):
            holdout = float(durations[0]) * unit_in_days(data_unit) / unit_in_days(unit)
            out["expected_purchases_holdout"] = purchase_model.expected_purchases(holdout, data)
    out.attrs.update(
        data.attrs,
        horizon_months=horizon,
        annual_discount_rate=annual_discount_rate,
        margin=margin,
        currency=currency,
    )
    if np.ndim(lifetime_years) == 0:
        # One lifetime for everyone: the comparison plot puts the simple CLV on the horizon.
        out.attrs["lifetime_years"] = float(lifetime_years)
    return out


def _clv_table_on_spark(
    purchase_model: Any,
    spend_model: Any,
    summary: Any,
    customer_id_col: str | None,
    **settings: Any,
) -> Any:
    """:func:`clv_table` of a Spark summary, computed on the executors (a Spark DataFrame).

    One customer is scored on the driver first, so bad settings and unconverged models are
    refused there, before any job runs.
    """
    lifetime = settings.get("lifetime_years")
    if not isinstance(lifetime, Real) or isinstance(lifetime, bool):
        raise ClvDataError(
            "A Spark summary needs lifetime_years= as one number for every customer (got "
            f"{type(lifetime).__name__}): estimate it once on the driver, e.g. with "
            "clvpredict.estimate_lifetime_years, and pass the result."
        )
    if settings.get("interval") is not None and settings.get("random_state") is None:
        # One seed for every batch: each batch then draws the same model parameters.
        settings["random_state"] = int(np.random.SeedSequence().generate_state(1)[0])

    def score(rfm: pd.DataFrame) -> pd.DataFrame:
        return clv_table(purchase_model, spend_model, rfm, **settings)

    return map_summary_batches(
        summary, score, customer_id_col, other_columns=_covariate_columns(purchase_model)
    )

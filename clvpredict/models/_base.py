"""Plumbing shared by all model classes: fitting orchestration, fitted state and summaries.

The classes stay thin: the mathematics of each model lives in plain vectorised functions in its
own module, and this base class only moves arrays between pandas and those functions.

The model interface
-------------------
What the layers above (CLV, evaluation, plotting, simulation, the jobs) may use of a model,
beyond its public methods. Everything else is the model's own business.

Declared by every model class (class attributes):

``kind``, ``label``, ``citation``
    Registry entry (:mod:`clvpredict._registry`): the name in settings, the short name in
    tables and plots, the source.
``_param_names``, ``_columns``
    Parameter names in the order of every parameter vector ``theta``; the summary columns the
    model reads (``frequency, recency, T`` or ``frequency, monetary_value``).
``_time_parameters``
    The parameters measured in the model's time unit (the scale of a Gamma distribution of
    rates, in time units): they grow 7-fold from weeks to days, and the rest do not change.
``discrete_time``
    Purchase models: one transaction opportunity per period of ``time_unit_`` (the BG/BB).
``_simulation_core``
    Calendar-time purchase models: ``(rng, theta, T) -> (frequency, recency, latent)``, the
    draw that :func:`~clvpredict.simulate_transactions` turns into a log.

Provided by :class:`BaseModel` and :class:`PurchaseModel` for a fitted model:

``_arrays(data, overrides) -> (arrays, index)``
    The model's columns as validated float arrays in the model's time unit (converted from the
    summary's recorded unit, or refused), and the index predictions come back with.
``_theta() -> tuple``
    The fitted parameters in ``_param_names`` order.
``_cumulative_purchases_planner(ts, arrays) -> theta -> ndarray``
    Purchase models: conditional expected purchases at each horizon of ``ts`` (rows x
    horizons), as a function of ``theta`` so that parameter draws reuse what does not depend
    on it (CLV and its intervals).
``_purchase_sums(ts, weights, theta, arrays, alive=None) -> ndarray``
    Purchase models: weighted sums over the horizons ``ts`` of those expectations (rows x
    columns of ``weights``), e.g. the expected purchases over a horizon and their discounted
    sum, which is all the CLV needs; no rows x horizons table where the model can avoid it.
``_expected_value(theta, arrays)``
    Spend models: the expected mean spend per purchase of each row.
``overview()``
    The :class:`~clvpredict._summary.ModelSummary` behind ``repr``, the notebook and the report.
``is_fitted`` and :func:`~clvpredict._validation.check_is_fitted`
    The one test of "fitted": the model holds ``params_``.

The mathematical hooks each purchase model supplies (``_conditional_expectation``,
``_alive``, ...) are listed in :class:`PurchaseModel`'s docstring.
"""

from __future__ import annotations

import copy
import dataclasses
import functools
import hashlib
import html
import inspect
import os
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import pandas as pd
from scipy import stats

from .. import _lifetimes_habits as habits
from .._fitting import (
    FitResult,
    compress,
    maximise_likelihood,
    report_convergence,
    serial_blas,
)
from .._registry import Role, register
from .._units import UNIT_COLUMN, UNIT_NAMES, check_time_unit, recorded_unit, unit_in_days
from .._validation import check_counts, check_horizon, check_is_fitted, is_fitted
from ..data.engines import (
    collect_summary,
    frame_kind,
    histories,
    is_engine_frame,
    map_summary_batches,
    table_to_kind,
)
from ..data.summaries import rfm_arrays
from ..exceptions import ClvDataError
from ._profile import profile_likelihood_intervals
from ._summary import ModelSummary
from .model_file import save_model
from .uncertainty import check_level, interval_columns, parameter_draws, simulate_quantiles

#: Docstring sections every model shares. A line ``<<name>>`` in a model class's docstring is
#: replaced by the text, indented like the marker, when the class is created.
_SHARED_DOCS = {
    "time_unit": """time_unit : {"D", "W", "M", "Y"}, optional
    The model's time unit: every ``t`` of the prediction methods, and the rate parameters, are
    in it. By default it is the unit the fitted data record in ``data.attrs["time_unit"]``
    (which :func:`~clvpredict.rfm_summary` sets). Given here, it also states the unit of
    fitted data that record none, and data recorded in another unit are converted to it.
    Data given to the prediction methods are read in the unit they record (``recency`` and
    ``T`` are converted to the model's), and refused when they record none while the model
    has one; keyword arrays (``recency=..., T=...``) are in the model's unit.""",
    "on_nonconvergence": """on_nonconvergence : {"warn", "raise"}
    Whether a fit that did not converge emits a :class:`~clvpredict.ConvergenceWarning` or
    raises :class:`~clvpredict.ConvergenceError`. Either way ``converged_`` is ``False``.""",
    "penalizer_coef": """penalizer_coef : float, default 0
    L2 penalty on the parameters, as lifetimes' fitters had it: ``fit`` maximises the mean
    log-likelihood per customer minus ``penalizer_coef * sum(params_ ** 2)``. 0 (the
    default) is plain maximum likelihood. A small value pulls the estimates towards 0 and
    keeps a fit on few or extreme customers finite.
    Its effect depends on the parameters' scale: the continuous-time models' time
    parameters (``alpha``; the Pareto/NBD's ``beta`` too) are in the model's time unit, so
    the same coefficient penalises ``alpha`` 49 times as hard in days as in weeks, and
    Gamma-Gamma's ``gamma`` is in currency units (cents differ from dollars); the BG/BB's
    parameters have no unit. A coefficient is only comparable between fits in the same
    units.
    lifetimes measured time in units of the largest ``T`` of the data, so its coefficient
    means something else: ``clvpredict.lifetimes`` reproduces lifetimes' penalty. With a
    penalty, ``log_likelihood_`` (and AIC, BIC) is the log-likelihood at the penalised
    estimates, the standard errors come from the curvature of the penalised objective, and
    profile intervals are refused.""",
    "covariates": """purchase_covariates : sequence of str, default ()
    Customer covariates (columns of the data, one value per customer) that shift the purchase
    process: one coefficient per design column, ``purchase.<column>``, with the purchase
    rates' gamma rate ``alpha_i = alpha * exp(-gamma . z)``, so ``exp(gamma)`` is a ratio of
    mean purchase rates. Text, category and boolean columns are dummy coded against a
    reference level (``purchase.channel[web]``); numbers enter as they are.
    The columns of this and the next two settings come from the data given to ``fit`` (join
    them with :func:`~clvpredict.attach_covariates`) or from ``fit(data, covariates=table)``,
    and every per-customer prediction needs them in its data; new customers are valued by
    profile (:meth:`profile_model`, ``expected_purchases_new_customer(t, covariates=...)``,
    :func:`~clvpredict.new_customer_clv`). With no column named in any of the three, the model
    is the plain one. docs/covariates.md is the reference.
dropout_covariates : sequence of str, default ()
    Covariates that shift the dropout process, one coefficient each, ``dropout.<column>``:
    the Pareto/NBD's dropout rates have ``beta_i = beta * exp(-delta . w)`` (a positive
    coefficient: customers leave sooner); the BG/NBD's and MBG/NBD's dropout probabilities
    have both ``a`` and ``b`` multiplied by ``exp(delta . w)``, which moves their spread
    around an unchanged mean. A column may be in both lists: a coefficient in each process.
shared_covariates : sequence of str, default ()
    Covariates that shift both processes with one coefficient, ``shared.<column>``; a column
    here may not be in the other two lists.
categorical_covariates : sequence of str, default ()
    Covariates of numbers to dummy code as categories (a region code, a cohort year), levels
    in numeric order; text, category and boolean columns are categories anyway. It only says
    how columns named in the three settings above are coded.
reference_levels : mapping of str to level, optional
    The reference level of a categorical covariate, e.g. ``{"channel": "store"}``: its
    customers have the population parameters, and every other level gets a dummy column.
    By default the level with the most customers, ties going to the first in the column's
    order (booleans: ``False``).
covariate_penalty : float, default 0
    L2 penalty on the covariates' coefficients (not on the population parameters, which
    ``penalizer_coef`` penalises): ``fit`` maximises the mean log-likelihood per customer
    minus ``covariate_penalty * sum(coefficients ** 2)``. 0 is maximum likelihood; a
    penalised fit has no likelihood-ratio test and no profile intervals.""",
    "covariate_attributes": """covariate_design_ : CovariateDesign
    With covariates: how each covariate column is coded (levels, reference level, or mean and
    standard deviation), so predictions code new data the same way. The coefficients follow
    the population parameters in ``params_``.
null_log_likelihood_ : float
    With covariates: the log-likelihood of the same model fitted without them, the null of
    :meth:`likelihood_ratio_test`.""",
    "fit_attributes": """standard_errors_, covariance_ : Series, DataFrame
    From the inverse observed information (Hessian of the log-likelihood).
log_likelihood_, aic_, bic_ : float
converged_ : bool""",
}


def in_callers_kind(function: Callable[..., Any]) -> Callable[..., Any]:
    """Make a per-customer prediction of a summary held by another engine come back in that
    engine's kind.

    ``function`` takes the summary as its argument ``data`` and returns a Series or DataFrame
    indexed by customer. Given a polars, pyarrow or DuckDB summary, the summary is collected
    once (one number per customer comes back anyway), ``function`` runs on it as pandas, and the
    result is handed back as a frame of the summary's kind, as :func:`~clvpredict.clv_table`
    does: the customer id column, then the prediction's columns (a Series becomes its one named
    column), one row per customer in the order the engine hands them. So a polars summary
    gives a polars DataFrame to join on the id, a lazy polars one a LazyFrame, DuckDB a
    relation, pyarrow a Table. pandas data and keyword arrays are served as before. A Spark
    summary is not brought to the driver: its customers are scored on the executors
    (``mapInPandas``), and a Spark DataFrame of the same shape comes back.
    """
    signature = inspect.signature(function)

    @functools.wraps(function)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        bound = signature.bind(*args, **kwargs)
        data = bound.arguments.get("data")
        kind = frame_kind(data) if data is not None else None
        if kind in (None, "pandas"):
            return function(*args, **kwargs)
        # The covariate columns of a model among the arguments (the method's own, or a purchase
        # model passed to a function) are never taken for the id column.
        covariates = tuple(
            column for value in bound.arguments.values() for column in _covariate_columns(value)
        )
        if kind == "spark":
            # Computed on the executors; the closure carries the other arguments (the model,
            # the horizon), never the Spark DataFrame itself.
            bound.arguments["data"] = None
            call_args, call_kwargs = bound.args, bound.kwargs

            def score(rfm: pd.DataFrame) -> pd.DataFrame:
                rebound = signature.bind(*call_args, **call_kwargs)
                rebound.arguments["data"] = rfm
                result = function(*rebound.args, **rebound.kwargs)
                return result.to_frame() if isinstance(result, pd.Series) else result

            return map_summary_batches(data, score, other_columns=covariates)
        summary, ident = collect_summary(data, covariates)
        bound.arguments["data"] = summary
        result = function(*bound.args, **bound.kwargs)
        frame = result.to_frame() if isinstance(result, pd.Series) else result
        return table_to_kind(frame, kind, ident, data)

    return wrapper


def _covariate_columns(model: Any) -> tuple[str, ...]:
    """The covariate columns of a model fitted with covariates (none for any other): columns
    of a summary that are not its customer id."""
    design = getattr(model, "covariate_design_", None)
    return () if design is None else tuple(design.columns)


def lifetimes_call_hints(method: Callable[..., Any]) -> Callable[..., Any]:
    """Turn lifetimes-style calls of a model's ``__init__`` or ``fit`` into errors that help.

    lifetimes' fitters took ``penalizer_coef`` positionally and ``fit(frequency, recency,
    T)``; ours take keyword settings and ``fit(summary)``. Such a call raises a
    ``TypeError`` naming the habit, the native way and the drop-in (see
    :mod:`clvpredict._lifetimes_habits`); every other call goes through unchanged.
    """
    constructor = method.__name__ == "__init__"

    @functools.wraps(method)
    def wrapper(self: Any, *args: Any, **kwargs: Any) -> Any:
        model = type(self).__name__
        if constructor and args:
            raise TypeError(habits.constructor_message(model))
        if not constructor and (len(args) > 1 or (args and isinstance(args[0], pd.Series))):
            raise TypeError(habits.positional_fit_message(model, type(self)._columns))
        return method(self, *args, **kwargs)

    return wrapper


def _fill_shared_docs(doc: str | None) -> str | None:
    if not doc:
        return doc
    lines = []
    for line in doc.split("\n"):
        stripped = line.strip()
        if stripped.startswith("<<") and stripped.endswith(">>"):
            indent = line[: len(line) - len(line.lstrip())]
            text = _SHARED_DOCS[stripped[2:-2]]
            lines += [indent + part if part else part for part in text.split("\n")]
        else:
            lines.append(line)
    return "\n".join(lines)


class BaseModel:
    """Common behaviour of clvpredict's maximum-likelihood models (not used directly)."""

    _param_names: ClassVar[tuple[str, ...]] = ()
    _time_parameters: ClassVar[tuple[str, ...]] = ()
    _columns: ClassVar[tuple[str, ...]] = ()
    _uses_time: ClassVar[bool] = True
    #: Name in settings and on the command line; a class that declares one joins the registry.
    kind: ClassVar[str] = ""
    #: Short name for tables, legends and the report, e.g. "BG/NBD".
    label: ClassVar[str] = ""
    #: Where the model comes from, e.g. "Fader, Hardie & Lee 2005".
    citation: ClassVar[str] = ""
    _role: ClassVar[Role] = "spend"
    _model_name: ClassVar[str] = ""
    #: The prepared objective (see :meth:`_prepare_likelihood`) also returns the analytic
    #: Hessian when called with ``hessian=True``: fits then use Newton's method.
    _analytic_hessian: ClassVar[bool] = False
    #: With an analytic Hessian and :meth:`_restarts`: on data of at least four times this many
    #: distinct rows, the restarts are first run on a systematic sample of about this many
    #: (see ``_fitting._screen_restarts``); 0: never.
    _screening_rows: ClassVar[int] = 0

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        cls.__doc__ = _fill_shared_docs(cls.__doc__)
        if "kind" in vars(cls):
            cls._model_name = register(cls, cls._role).title

    @lifetimes_call_hints
    def __init__(self, *, on_nonconvergence: str = "warn", penalizer_coef: float = 0.0) -> None:
        self.on_nonconvergence = on_nonconvergence
        self.penalizer_coef = penalizer_coef

    def __getattr__(self, name: str) -> Any:
        """Called only for names the model lacks: lifetimes' fitter names get a hint."""
        habit = habits.FITTER_NAMES.get(name)
        if habit is not None and (habit.needs is None or hasattr(type(self), habit.needs)):
            raise AttributeError(habits.attribute_message(type(self).__name__, name), name=name)
        # Anything else fails as it would without this method (a property's own
        # AttributeError, such as NotFittedError, is raised again as it was).
        return object.__getattribute__(self, name)

    # ---------------------------------------------------------------- hooks for subclasses
    @staticmethod
    def _negll(theta: np.ndarray, *columns: np.ndarray) -> tuple[float, np.ndarray]:
        raise NotImplementedError

    def _starting_values(self, columns: list[np.ndarray], weights: np.ndarray) -> list[np.ndarray]:
        raise NotImplementedError

    def _restarts(self, theta: np.ndarray) -> list[np.ndarray]:
        """Further starts tried after the first optimum ``theta`` (default: none), for models
        whose likelihood can have a second maximum; the highest one is kept."""
        return []

    def _prepare_likelihood(
        self, columns: list[np.ndarray], weights: np.ndarray
    ) -> tuple[Callable[..., tuple[float, np.ndarray]], list[Any]]:
        """The objective and its data, arranged once per fit (default: ``_negll`` as is)."""
        return self._negll, columns

    def _fitted_likelihood(
        self, columns: list[np.ndarray], weights: np.ndarray
    ) -> tuple[Callable[..., tuple[float, np.ndarray]], list[Any]]:
        """The objective of this fit on its stored rows ``_fit_data_`` (for the profile
        intervals): :meth:`_prepare_likelihood`'s, unless the fit had another (covariates)."""
        return self._prepare_likelihood(columns, weights)

    def _read_arrays(
        self, data: pd.DataFrame | None, overrides: dict[str, Any]
    ) -> tuple[dict[str, np.ndarray], pd.Index]:
        """Validated float arrays of the model's columns as ``data`` holds them (a hook)."""
        return rfm_arrays(data, self._columns, overrides)

    def _arrays(
        self, data: pd.DataFrame | None, overrides: dict[str, Any], *, fitting: bool = False
    ) -> tuple[dict[str, np.ndarray], pd.Index]:
        """Validated float arrays of the model's columns, in the model's time unit, and the
        index of the rows.

        Every method that reads customers goes through here. Outside ``fit`` the model must be
        fitted, and ``recency`` and ``T`` taken from ``data`` are measured in the unit that
        ``data.attrs["time_unit"]`` records: converted to the model's unit when it differs
        (continuous time), refused when it cannot be converted or is not recorded (see
        :meth:`_time_scale`). Keyword arrays are in the model's unit as documented.
        """
        if not fitting:
            check_is_fitted(self)
        if is_engine_frame(data):
            # One number per customer comes back anyway: the summary is collected here.
            data = collect_summary(data, _covariate_columns(self))[0]
        arrays, index = self._read_arrays(data, overrides)
        from_data = [c for c in ("recency", "T") if c in arrays and overrides.get(c) is None]
        if self._uses_time and from_data:
            target = getattr(self, "time_unit", None) if fitting else self.time_unit_
            scale = self._time_scale(data, target, fitting)
            if scale != 1.0:
                for column in from_data:
                    arrays[column] = arrays[column] * scale
        return arrays, index

    def _time_scale(self, data: Any, unit: str | None, fitting: bool) -> float:
        """Factor that turns durations of ``data`` into ``unit`` (the model's), or an error.

        ``unit`` is the model's unit: ``time_unit_`` for predictions, the ``time_unit`` setting
        while fitting (``None``: the model adopts the unit of the data).
        """
        name = type(self).__name__
        recorded = recorded_unit(data)
        data_unit = (
            None if recorded is None else check_time_unit(recorded, 'data.attrs["time_unit"]')
        )
        if unit is None:
            if fitting or data_unit is None:
                return 1.0
            raise ClvDataError(
                f"The {name} does not know its time unit (it was fitted on data that did not "
                "record one, or made with from_params without time_unit=), but these data are "
                f"in {UNIT_NAMES[data_unit]} ({data_unit!r}); its parameters may be per another "
                "unit. Fit it on a summary from rfm_summary (which records the unit), pass "
                f"time_unit= to {name}(...) or from_params, or, if its parameters are per "
                f"{UNIT_NAMES[data_unit][:-1]}, set model.time_unit_ = {data_unit!r}."
            )
        unit = check_time_unit(unit)
        if data_unit is None:
            if fitting:
                # time_unit= given to the constructor states the unit of unlabelled data.
                return 1.0
            # Keyword arrays are in the model's unit, but a model with covariates takes none.
            arrays = (
                ""
                if getattr(self, "covariate_design_", None) is not None
                else f"; or pass frequency=, recency=, T= as arrays in {UNIT_NAMES[unit]}"
            )
            raise ClvDataError(
                f"These data do not record their time unit (no data.attrs['time_unit'], no "
                f"{UNIT_COLUMN!r} column), but "
                f"the {name} measures time in {UNIT_NAMES[unit]} ({unit!r}): recency and T "
                "would be read as such whatever they are. State the unit they are in, e.g. "
                f'summary.attrs["time_unit"] = {unit!r} (or "D", "W", "M", "Y"), or build the '
                f"summary with rfm_summary / calibration_holdout_summary, which record it{arrays}"
                ". (pandas keeps attrs through most operations, but a DataFrame built anew from "
                "columns or read from a file has none.)"
            )
        if data_unit == unit:
            return 1.0
        if getattr(self, "discrete_time", False):
            raise ClvDataError(
                f"These data count periods of one {UNIT_NAMES[data_unit][:-1]} ({data_unit!r}) "
                f"but the {name} counts periods of one {UNIT_NAMES[unit][:-1]} ({unit!r}), and "
                "whole periods cannot be converted into other periods. Summarise the "
                f"transactions again with rfm_summary(..., time_unit={unit!r}, discrete=True)."
            )
        return unit_in_days(data_unit) / unit_in_days(unit)

    def _standardise(
        self, columns: list[np.ndarray], weights: np.ndarray
    ) -> tuple[list[np.ndarray], Callable[[FitResult], FitResult], np.ndarray]:
        """Optionally rescale the data before optimising, and how to map the result back.

        The default does nothing. Models whose data have a unit of scale (money) override it so
        that the optimiser always sees values of order one, whatever the currency. The third
        item is, per parameter, the factor from the optimised parameter to the reported one
        (the penalty of ``penalizer_coef`` is on the reported parameters).
        """
        return columns, lambda result: result, np.ones(len(self._param_names))

    def _select_fit_rows(
        self, arrays: dict[str, np.ndarray], weights: np.ndarray, index: pd.Index
    ) -> tuple[dict[str, np.ndarray], np.ndarray]:
        """Validate and (optionally) subset the rows that enter the likelihood."""
        return arrays, weights

    # ---------------------------------------------------------------- fitting
    # Single-threaded BLAS for the whole fit, not only the optimiser: the dot products of the
    # data summary and the starting values are as short-lived (see serial_blas).
    @serial_blas
    def _fit(
        self,
        data: pd.DataFrame | None,
        overrides: dict[str, Any],
        weights: np.ndarray | str | None,
    ) -> BaseModel:
        if self.on_nonconvergence not in ("warn", "raise"):
            raise ClvDataError(
                f"on_nonconvergence={self.on_nonconvergence!r} is not one of 'warn', 'raise'."
            )
        if is_engine_frame(data):
            # The engine reduces its customers to distinct histories with counts: only those
            # come to this process.
            data, weights = histories(data, list(self._columns), weights), "weight"
        arrays, index = self._arrays(data, overrides, fitting=True)
        if len(index) == 0:
            raise ClvDataError(
                f"The data given to {type(self).__name__}.fit have no rows: there are no "
                "customers to fit on. Check the filter or the date range that built them."
            )
        w = _weights(weights, data, len(index))
        training = training_data_summary(arrays, w)
        arrays, w = self._select_fit_rows(arrays, w, index)
        if not w.sum() > 0:
            raise ClvDataError(
                f"The weights of the rows {type(self).__name__} fits on sum to zero: there is "
                "nothing to fit. Give those customers weights > 0."
            )
        columns, uw = compress([arrays[c] for c in self._columns], w)
        fit_data = (tuple(columns), uw)
        penalizer = _checked_penalizer(getattr(self, "penalizer_coef", 0.0))
        columns, undo, factors = self._standardise(columns, uw)
        starts = self._starting_values(columns, uw)
        negll, likelihood_columns = self._prepare_likelihood(columns, uw)
        objective = _penalised(negll, penalizer, factors)
        screen = None
        if self._screening_rows and len(uw) >= 4 * self._screening_rows:
            # Every k-th distinct row: stratified by whatever order the rows come in.
            sample = np.arange(0, len(uw), len(uw) // self._screening_rows)
            sample_w = uw[sample]
            sample_negll, sample_columns = self._prepare_likelihood(
                [c[sample] for c in columns], sample_w
            )
            screen = (_penalised(sample_negll, penalizer, factors), sample_columns, sample_w)
        result = maximise_likelihood(
            objective,
            likelihood_columns,
            uw,
            starts,
            self._param_names,
            restarts=self._restarts,
            hessian=self._analytic_hessian,
            screen=screen,
        )
        if penalizer:
            # Report the log-likelihood at the estimates, not the penalised objective.
            with np.errstate(all="ignore"):
                value = negll(result.params, *likelihood_columns, uw)[0]
            result = dataclasses.replace(result, log_likelihood=-float(value))
        result = undo(result)
        self._store(result, data)
        self.training_data_ = training
        # The distinct rows and their weights, on the data's own scale, so that
        # summary(method="profile") can re-maximise the likelihood. The trailing underscore keeps
        # them out of the settings that save() writes; they are not saved.
        self._fit_data_ = fit_data
        report_convergence(result, type(self).__name__, self.on_nonconvergence)
        return self

    def _parameter_names(self) -> list[str]:
        """Names of the fitted parameters, in ``params_`` order: the class's ``_param_names``
        (a model with covariates adds its coefficients)."""
        return list(self._param_names)

    def _positive_parameters(self) -> np.ndarray:
        """Which parameters of ``params_`` are positive (the rest are regression coefficients,
        of any sign): Wald intervals are taken on the log scale of the positive ones."""
        return np.ones(len(self._parameter_names()), dtype=bool)

    def _store(self, result: FitResult, data: pd.DataFrame | None) -> None:
        names = self._parameter_names()
        self.params_ = pd.Series(result.params, index=names, name="estimate")
        self.covariance_ = pd.DataFrame(result.covariance, index=names, columns=names)
        self.standard_errors_ = pd.Series(
            np.sqrt(np.diag(result.covariance)), index=names, name="std_error"
        )
        self.log_likelihood_ = float(result.log_likelihood)
        k, n = len(names), float(result.n_obs)
        self.n_obs_ = n
        self.aic_ = 2 * k - 2 * self.log_likelihood_
        self.bic_ = k * np.log(n) - 2 * self.log_likelihood_
        self.converged_ = bool(result.converged)
        self.fit_result_ = result
        if self._uses_time:
            unit = getattr(self, "time_unit", None)
            if unit is None and data is not None:
                unit = recorded_unit(data)
            self.time_unit_ = check_time_unit(unit) if unit is not None else None
        else:
            self.time_unit_ = None

    @classmethod
    def _checked_params(cls, params: Mapping[str, Any] | pd.Series) -> np.ndarray:
        """The values of every parameter, in ``_param_names`` order, each a finite number > 0.

        Raises :class:`ClvDataError` naming missing, unknown or invalid parameters.
        """
        names = list(cls._param_names)
        given = dict(params)
        missing = [n for n in names if n not in given]
        extra = [n for n in given if n not in names]
        if missing or extra:
            raise ClvDataError(
                f"{cls.__name__} takes parameters {names}; missing {missing}, unknown {extra}."
            )
        values = np.full(len(names), np.nan)
        for i, name in enumerate(names):
            # A string or a bool is not a parameter value even where float() would take it.
            if not isinstance(given[name], str | bool):
                try:
                    values[i] = float(given[name])
                except (TypeError, ValueError):
                    pass  # stays NaN: reported below
        valid = np.isfinite(values) & (values > 0)
        bad = [f"{n}={given[n]!r}" for n, ok in zip(names, valid, strict=True) if not ok]
        if bad:
            raise ClvDataError(
                f"{cls.__name__} parameters must be finite numbers > 0; got {', '.join(bad)}."
            )
        return values

    @classmethod
    def from_params(
        cls, params: Mapping[str, float] | pd.Series, *, time_unit: str | None = None, **settings
    ):
        """A model with given parameters, without fitting (e.g. published estimates).

        Parameters
        ----------
        params : mapping or Series
            A value for every parameter of the model (see ``_param_names``), all > 0.
        time_unit : {"D", "W", "M", "Y"}, optional
            The time unit the parameters refer to (models of time only).
        **settings
            Constructor settings.

        Returns
        -------
        model
            With ``params_`` set; standard errors and fit statistics are ``NaN`` and
            ``converged_`` is ``None`` (nothing was estimated).
        """
        names = list(cls._param_names)
        values = cls._checked_params(params)
        if cls._uses_time:
            settings["time_unit"] = time_unit
        elif time_unit is not None:
            raise ClvDataError(f"{cls.__name__} does not model time; drop time_unit=.")
        model = cls(**settings)
        nan = np.full((len(names), len(names)), np.nan)
        model.params_ = pd.Series(values, index=names, name="estimate")
        model.covariance_ = pd.DataFrame(nan, index=names, columns=names)
        model.standard_errors_ = pd.Series(np.nan, index=names, name="std_error")
        model.log_likelihood_ = model.aic_ = model.bic_ = float("nan")
        model.n_obs_ = 0.0
        model.converged_ = None
        model.time_unit_ = check_time_unit(time_unit) if time_unit is not None else None
        return model

    # ---------------------------------------------------------------- predictions at other parameters
    def _at(self, theta: np.ndarray) -> BaseModel:
        """A shallow copy predicting with the parameters ``theta`` (same order as ``params_``)."""
        clone = copy.copy(self)
        clone.params_ = pd.Series(
            np.asarray(theta, dtype=float), index=self.params_.index, name="estimate"
        )
        return clone

    def _cumulative_purchases(
        self, ts: Sequence[float], theta: np.ndarray, arrays: dict[str, np.ndarray]
    ) -> np.ndarray:
        """Conditional expected purchases at each horizon in ``ts``: rows x len(ts).

        Purchase models may override this with a faster vectorised version; the default asks the
        public ``expected_purchases`` once per horizon.
        """
        model = self._at(theta)
        keywords = {c: arrays[c] for c in self._columns}
        return np.column_stack([model.expected_purchases(t, **keywords).to_numpy() for t in ts])

    # The product below is a tall, thin one: OpenBLAS's threads cost 15x its work on 2 busy
    # cores (0.7 s against 0.04 s at 1M customers x 12 months).
    @serial_blas
    def _purchase_sums(
        self,
        ts: Sequence[float],
        weights: np.ndarray,
        theta: np.ndarray,
        arrays: dict[str, np.ndarray],
        alive: np.ndarray | None = None,
    ) -> np.ndarray:
        """``sum_m weights[m, j] E[Y(ts[m]) | history]`` for each row: rows x columns of
        ``weights`` (horizons x columns), e.g. the expected purchases over a horizon and their
        discounted sum (CLV). ``alive`` is P(alive) of the rows at ``theta`` when the caller
        has it already (a model may use it rather than compute it again).

        The default forms every horizon (:meth:`_cumulative_purchases`) and combines them;
        models may compute the sums without that.
        """
        return self._cumulative_purchases(ts, theta, arrays) @ np.asarray(weights, dtype=float)

    def _cumulative_purchases_planner(
        self, ts: Sequence[float], arrays: dict[str, np.ndarray]
    ) -> Callable[[np.ndarray], np.ndarray]:
        """``theta -> _cumulative_purchases(ts, theta, arrays)``, for many parameter draws.

        Models can precompute what does not depend on the parameters; the default does not.
        """
        return lambda theta: self._cumulative_purchases(ts, theta, arrays)

    def _interval_frame(
        self,
        name: str,
        point: np.ndarray,
        index: pd.Index,
        columns: Sequence[np.ndarray],
        evaluate: Callable[..., np.ndarray],
        interval: float,
        n_draws: int,
        random_state: Any,
    ) -> pd.DataFrame:
        """Point estimate with parameter-uncertainty bounds (see :mod:`clvpredict.uncertainty`).

        ``evaluate(theta, *columns)`` gives the prediction at one parameter draw; it runs once per
        draw on the distinct rows of ``columns`` only.
        """

        draws = parameter_draws(self, n_draws, random_state)
        stacked = np.column_stack([np.asarray(c, dtype=float) for c in columns])
        unique, inverse = np.unique(stacked, axis=0, return_inverse=True)
        cols = [unique[:, j] for j in range(unique.shape[1])]
        lower, upper = simulate_quantiles(
            len(unique),
            lambda rows, theta: evaluate(theta, *(c[rows] for c in cols)),
            draws,
            interval,
        )
        inverse = inverse.ravel()
        return interval_columns(name, point, lower[inverse], upper[inverse], index)

    # ---------------------------------------------------------------- fitted state helpers
    def _theta(self) -> tuple[float, ...]:
        check_is_fitted(self)
        return tuple(float(v) for v in self.params_.to_numpy())

    @property
    def is_fitted(self) -> bool:
        """Whether the model holds parameters (fitted, given with ``from_params`` or loaded)."""
        return is_fitted(self)

    def save(self, path: str | os.PathLike[str]) -> Path:
        """Save the fitted model as a JSON model file, atomically.

        See :func:`clvpredict.load_model` (and :mod:`clvpredict.persistence` for the format).
        Returns the path written.
        """

        return save_model(self, path)

    # ---------------------------------------------------------------- summaries
    def summary(self, alpha: float = 0.05, method: str = "wald") -> pd.DataFrame:
        """Parameter table: estimate, standard error and confidence interval.

        A method, to be called (``model.summary()``): lifetimes' fitters had ``summary`` as a
        DataFrame attribute.

        Parameters
        ----------
        alpha : float
            1 - confidence level (0.05 gives 95% intervals).
        method : {"wald", "profile"}
            How the interval is computed; both keep every bound of a positive parameter > 0.

            * ``"wald"`` (default, instant): ``estimate * exp(+-z * se / estimate)``, the normal
              approximation on the log scale, from the standard errors of ``fit``; for a
              covariate's coefficient, which may take any sign, ``estimate +- z * se``.
            * ``"profile"``: profile-likelihood interval, the parameter values whose
              likelihood-ratio statistic against the fit stays below the chi-square(1) quantile
              (3.841 at 95%), re-maximising over the other parameters at each trial value (see
              :func:`clvpredict._profile.profile_likelihood_intervals`). It follows the shape of
              the likelihood, so it is asymmetric where the likelihood is skewed and covers
              better there (the MBG/NBD on CDNOW-sized data); it needs the data, so only a model
              fitted in this session has it. About 0.05 to 0.3 s on CDNOW-sized data (one
              BLAS thread), seconds for a model with covariates (each bound re-maximises
              every parameter); a bound the data do not limit is reported as 0 (a
              coefficient's as ``-inf``) or ``inf``.

        Returns
        -------
        DataFrame
            One row per parameter with ``estimate``, ``std_error``, ``lower_<level>`` and
            ``upper_<level>`` (level in per cent, e.g. ``lower_95``), all in the parameter's own
            units (e.g. ``alpha`` of a purchase model in its time unit). ``std_error`` is the
            Hessian-based standard error whichever ``method`` is used.

        Raises
        ------
        ClvDataError
            ``method`` is not one of "wald", "profile" (or, with "profile", ``alpha`` is not
            in (0, 1)).
        NotFittedError
            The model has no parameters; or, with "profile", no data (given with
            ``from_params`` or loaded from a file).
        ConvergenceError
            With "profile": the profile reached a higher likelihood than the fit, so the fit
            stopped at a local maximum and its estimates are not the maximum-likelihood ones.

        Examples
        --------
        >>> from clvpredict import ModifiedBetaGeoModel
        >>> from clvpredict.datasets import load_cdnow_summary
        >>> model = ModifiedBetaGeoModel().fit(load_cdnow_summary())
        >>> model.summary(method="profile")[["lower_95", "upper_95"]].round(2)
                   lower_95  upper_95
        parameter
        r              0.40      0.73
        alpha          5.02      7.83
        a              0.66      1.34
        b              0.93      3.37
        >>> model.summary()[["lower_95", "upper_95"]].round(2)   # Wald: narrower, symmetric in log
                   lower_95  upper_95
        parameter
        r              0.38      0.72
        alpha          4.96      7.71
        a              0.63      1.25
        b              0.84      3.10
        """
        if method not in ("wald", "profile"):
            raise ClvDataError(f"method={method!r} is not one of 'wald', 'profile'.")
        check_is_fitted(self)
        penalties = {
            name: getattr(self, name)
            for name in ("penalizer_coef", "covariate_penalty")
            if getattr(self, name, 0.0)
        }
        if method == "profile" and penalties:
            settings = ", ".join(f"{k}={v!r}" for k, v in penalties.items())
            raise ClvDataError(
                f"Profile-likelihood intervals describe a maximum-likelihood fit, and this one "
                f"is penalised ({settings}). Use method='wald', or refit without the penalty."
            )
        est = self.params_.to_numpy()
        se = self.standard_errors_.to_numpy()
        if method == "profile":
            bounds = profile_likelihood_intervals(self, alpha)
            lower, upper = bounds["lower"].to_numpy(), bounds["upper"].to_numpy()
        else:
            z = stats.norm.ppf(1 - alpha / 2)
            positive = self._positive_parameters()
            # np.where computes both branches: a coefficient's (any sign, possibly a huge
            # standard error at the edge of the parameter space) overflows the log-scale one.
            with np.errstate(invalid="ignore", over="ignore", divide="ignore"):
                spread = np.exp(z * se / est)
                # Coefficients of covariates take any sign: their interval is est +- z se.
                lower = np.where(positive, est / spread, est - z * se)
                upper = np.where(positive, est * spread, est + z * se)
        level = round(100 * (1 - alpha))
        return pd.DataFrame(
            {
                "estimate": est,
                "std_error": se,
                f"lower_{level}": lower,
                f"upper_{level}": upper,
            },
            index=pd.Index(self.params_.index, name="parameter"),
        )

    def _header_lines(self) -> list[tuple[str, str]]:
        code = getattr(self, "time_unit_", None)
        label = "time unit"
        unit = f"{code} ({UNIT_NAMES[code]})" if code else "not set"
        if getattr(self, "discrete_time", False):
            label = "period length"
            unit = f"1 {UNIT_NAMES[code][:-1]} ({code})" if code else "not set (bare periods)"
        res: FitResult | None = getattr(self, "fit_result_", None)
        if res is None:
            return [(label, unit)] * self._uses_time + [
                ("source", "parameters given, not estimated")
            ]
        rows = [
            ("customers", f"{self.n_obs_:,.0f} ({res.n_unique:,} distinct rows)"),
            ("log-likelihood", f"{self.log_likelihood_:.4f}"),
            ("AIC", f"{self.aic_:.2f}"),
            ("BIC", f"{self.bic_:.2f}"),
            ("converged", "yes" if self.converged_ else "NO: " + "; ".join(res.notes)),
            ("iterations", str(res.n_iterations)),
        ]
        penalties = self._penalties()
        if penalties:
            # The estimates are not maximum-likelihood ones: say so before the numbers.
            shown = ", ".join(f"{name} {value:g}" for name, value in penalties.items())
            rows.insert(1, ("penalty", f"{shown} (L2)"))
        if self._uses_time:
            rows.insert(1, (label, unit))
        return rows

    def _penalties(self) -> dict[str, float]:
        """The penalty settings that are not 0, by name (``penalizer_coef``, and a covariate
        model's ``covariate_penalty``)."""
        return {
            name: float(getattr(self, name))
            for name in ("penalizer_coef", "covariate_penalty")
            if getattr(self, name, 0.0)
        }

    def overview(self) -> ModelSummary:
        """The fitted model's summary object: name and source, fit statistics and parameter
        table, printable (``as_text``) and renderable (``as_html``). ``repr(model)``, the
        notebook display and the HTML report all show it."""
        check_is_fitted(self)
        return ModelSummary(
            type(self).__name__, self._model_name, tuple(self._header_lines()), self.summary()
        )

    def __repr__(self) -> str:
        if not self.is_fitted:
            # Only the settings changed from their defaults, as scikit-learn prints estimators:
            # a model with eight settings at their defaults reads as one.
            settings = ", ".join(f"{k}={v!r}" for k, v in self._changed_settings().items())
            return f"{type(self).__name__}({settings})"
        return self.overview().as_text()

    def _changed_settings(self) -> dict[str, Any]:
        """The model's settings (constructor arguments) whose values differ from the
        defaults, by name, in the order they were set: what tells this model apart from
        another of its class (``{"covariate_penalty": 0.01}``)."""
        defaults = {
            name: parameter.default
            for name, parameter in inspect.signature(type(self)).parameters.items()
        }
        return {
            k: v
            for k, v in vars(self).items()
            if not k.endswith("_")
            and not k.startswith("_")
            and not _is_default(v, defaults.get(k, inspect.Parameter.empty))
        }

    def _repr_html_(self) -> str:
        if not self.is_fitted:
            return f"<pre>{html.escape(repr(self))}</pre>"
        return self.overview().as_html()


def _is_default(value: Any, default: Any) -> bool:
    """Whether a setting holds its default (an empty list counts as the default ``()``)."""
    if default is inspect.Parameter.empty:
        return False
    if isinstance(value, list | tuple) and isinstance(default, list | tuple):
        return tuple(value) == tuple(default)
    return (type(value) is type(default) and value == default) or value is default


def _checked_penalizer(value: Any) -> float:
    """``penalizer_coef`` as a float, refused unless a finite number >= 0."""
    try:
        coef = float(value)
    except (TypeError, ValueError) as exc:
        raise ClvDataError(f"penalizer_coef={value!r} must be a number >= 0.") from exc
    if not np.isfinite(coef) or coef < 0:
        raise ClvDataError(f"penalizer_coef={value!r} must be a finite number >= 0.")
    return coef


def _penalised(negll: Callable[..., Any], coef: float, factors: np.ndarray) -> Callable[..., Any]:
    """``negll`` plus ``coef * W * sum((factors * theta) ** 2)``, W the sum of the weights.

    The optimiser divides the objective by W (the number of customers), so the penalty is
    ``coef * sum(params ** 2)`` on the mean negative log-likelihood, with the parameters as
    reported (``factors`` maps the optimised ones to those). Gradient and Hessian get the
    penalty's too. ``coef == 0`` returns ``negll`` itself.
    """
    if coef == 0.0:
        return negll
    squared = np.asarray(factors, dtype=float) ** 2

    def objective(theta: np.ndarray, *args: Any, hessian: bool = False) -> tuple:
        # The weights are the last positional argument (see maximise_likelihood).
        strength = coef * float(np.sum(args[-1]))
        out = negll(theta, *args, hessian=True) if hessian else negll(theta, *args)
        value = out[0] + strength * float(squared @ theta**2)
        gradient = out[1] + 2.0 * strength * squared * theta
        if not hessian:
            return value, gradient
        return value, gradient, out[2] + np.diag(2.0 * strength * squared)

    return objective


def training_data_summary(arrays: dict[str, np.ndarray], weights: np.ndarray) -> dict[str, Any]:
    """Fingerprint and summary statistics of the data a model was fitted on.

    The SHA-256 fingerprint covers the exact float64 bytes of every column and the weights, so any
    change in the training data changes it; the statistics let a reader compare data sets
    without having them.
    """
    digest = hashlib.sha256()
    for name in sorted(arrays):
        digest.update(name.encode())
        digest.update(np.ascontiguousarray(arrays[name], dtype=np.float64).tobytes())
    digest.update(np.ascontiguousarray(weights, dtype=np.float64).tobytes())
    total = float(weights.sum())
    stats_by_column = {}
    for name, values in arrays.items():
        finite = np.isfinite(values)
        if finite.all():
            # The common case: no copies of the columns.
            kept, kept_weights = values, weights
        else:
            kept, kept_weights = values[finite], weights[finite]
        stats_by_column[name] = {
            "mean": float(kept_weights @ kept / max(kept_weights.sum(), 1e-300)),
            "min": float(kept.min()) if kept.size else None,
            "max": float(kept.max()) if kept.size else None,
        }
    summary: dict[str, Any] = {
        "fingerprint": "sha256:" + digest.hexdigest(),
        "n_rows": len(weights),
        "n_customers": total,
        "columns": stats_by_column,
    }
    if "frequency" in arrays:
        summary["share_repeat_buyers"] = float(weights @ (arrays["frequency"] > 0) / total)
        summary["frequency_quantiles"] = frequency_quantiles(arrays["frequency"], weights)
    return summary


#: The shares of customers at which :func:`frequency_quantiles` reads the frequencies.
FREQUENCY_SHARES = (0.5, 0.9, 0.99)


def frequency_quantiles(frequency: np.ndarray, weights: np.ndarray | None = None) -> dict:
    """The smallest frequency at or below which each share of :data:`FREQUENCY_SHARES` of the
    customers lies (rows weighted by ``weights``), keyed by the share as text (``"0.9"``):
    where the customers are, for plots of a model without its data."""
    frequency = np.asarray(frequency, dtype=float)
    weights = np.ones(len(frequency)) if weights is None else np.asarray(weights, dtype=float)
    keep = np.isfinite(frequency) & (weights > 0)
    if not keep.any():
        return {}
    order = np.argsort(frequency[keep], kind="stable")
    values, cumulative = frequency[keep][order], np.cumsum(weights[keep][order])
    shares = cumulative / cumulative[-1]
    # A share reached within rounding of the cumulative sum counts as reached.
    found = np.searchsorted(shares, np.asarray(FREQUENCY_SHARES) - 1e-12, side="left")
    return {
        str(q): float(values[min(i, len(values) - 1)])
        for q, i in zip(FREQUENCY_SHARES, found, strict=True)
    }


def _weights(weights: np.ndarray | str | Sequence[float] | None, data: Any, n: int) -> np.ndarray:
    if weights is None:
        return np.ones(n)
    if isinstance(weights, str):
        if data is None or weights not in data.columns:
            raise ClvDataError(f"weights={weights!r} names a column that is not in the data.")
        weights = data[weights]
    w = np.asarray(weights, dtype=float)
    if w.shape != (n,):
        raise ClvDataError(f"weights has shape {w.shape}; expected ({n},), one per row.")
    bad = ~np.isfinite(w) | (w < 0)
    if bad.any():
        raise ClvDataError(
            f"weights must be finite and >= 0; offending values: {w[bad][:5].tolist()}."
        )
    if w.sum() <= 0:
        raise ClvDataError("weights sum to zero: there is nothing to fit.")
    return w


class PurchaseModel(BaseModel):
    """Shared behaviour of the purchase models (BG/NBD, MBG/NBD, Pareto/NBD and the BG/BB).

    Subclasses supply the mathematics as plain vectorised functions (class attributes, each a
    ``staticmethod``), the parameter names and starting values; this class turns them into the
    public prediction methods, all with the same signatures, units and options.

    Given a summary held by polars, pyarrow or DuckDB, a per-customer prediction comes back as
    a frame of that kind with the customer id column and the prediction's column(s) (see
    :func:`in_callers_kind`); given pandas, a Series or DataFrame indexed like the summary.

    Hooks
    -----
    _conditional_expectation(t, *theta, x, t_x, T)
        Expected purchases in the next ``t``, given the history.
    _alive(*theta, x, t_x, T)
        P(alive) at the end of observation.
    _new_customer_expectation(t, *theta)
        E[X(t)] for a newly acquired customer.
    _new_customer_pmf(n, t, *theta)
        P(X(t) = n) for a newly acquired customer.
    _simulator(*theta, T, n_customers=..., random_state=..., latent=...)
        Customers drawn from the model (see :mod:`clvpredict.simulation`).
    _alive_at(t, *theta, x, t_x, T)
        P(alive) ``t`` after the end of observation.
    _alive_process(theta, x, t_x, T)
        ``(pmf, params)``: the new-customer PMF and the posterior parameters that describe a
        customer alive at ``T`` from then on (for :meth:`purchases_predictive_interval`).
    """

    _columns: ClassVar[tuple[str, ...]] = ("frequency", "recency", "T")
    _role: ClassVar[Role] = "purchase"
    #: True for models of discrete transaction opportunities (one per period of ``time_unit_``),
    #: whose summaries count periods (``rfm_summary(..., discrete=True)``).
    discrete_time: ClassVar[bool] = False
    _conditional_expectation: ClassVar[Callable[..., np.ndarray]]
    _alive: ClassVar[Callable[..., np.ndarray]]
    _new_customer_expectation: ClassVar[Callable[..., np.ndarray]]
    _new_customer_pmf: ClassVar[Callable[..., np.ndarray]]
    _simulator: ClassVar[Callable[..., pd.DataFrame]]
    _alive_at: ClassVar[Callable[..., np.ndarray]]
    _alive_process: ClassVar[Callable[..., tuple[Callable[..., np.ndarray], tuple]]]
    #: Calendar-time models: ``(rng, theta, T) -> (frequency, recency, latent)``, the draw of
    #: customers that :func:`~clvpredict.simulate_transactions` turns into a log (None: none).
    _simulation_core: ClassVar[Callable[..., tuple] | None] = None

    @lifetimes_call_hints
    def __init__(
        self,
        *,
        time_unit: str | None = None,
        on_nonconvergence: str = "warn",
        penalizer_coef: float = 0.0,
    ) -> None:
        self.time_unit = time_unit
        self.on_nonconvergence = on_nonconvergence
        self.penalizer_coef = penalizer_coef

    @lifetimes_call_hints
    def fit(
        self,
        data: pd.DataFrame | None = None,
        *,
        frequency: Any = None,
        recency: Any = None,
        T: Any = None,
        weights: Any = None,
    ):
        """Estimate the parameters by maximum likelihood.

        Parameters
        ----------
        data : DataFrame, optional
            With columns ``frequency``, ``recency`` and ``T`` (e.g. from
            :func:`~clvpredict.rfm_summary`, which also records the time unit).
        frequency, recency, T : array-like, optional
            The same as arrays; they override columns of ``data``.
        weights : array-like or str, optional
            Number of customers each row stands for (or the name of such a column).

        Returns
        -------
        self
            Fitted: ``params_``, ``standard_errors_``, ``covariance_``, ``log_likelihood_``,
            ``aic_``, ``bic_``, ``converged_``, ``time_unit_``.
        """
        return self._fit(data, {"frequency": frequency, "recency": recency, "T": T}, weights)

    def _rfm(self, data, frequency, recency, T):
        arrays, index = self._arrays(data, {"frequency": frequency, "recency": recency, "T": T})
        return arrays["frequency"], arrays["recency"], arrays["T"], index

    def _history(self, data, frequency, recency, T):
        """``(theta, x, t_x, T, index)``: the customers' histories and the parameters they are
        predicted with, the model's own (a model with covariates gives each row its own)."""
        x, t_x, big_t, index = self._rfm(data, frequency, recency, T)
        return self._theta(), x, t_x, big_t, index

    def _alive_rows(self, theta: Sequence[float], arrays: dict[str, np.ndarray]) -> np.ndarray:
        """P(alive) of the rows of ``arrays`` (from :meth:`_arrays`) at the parameters
        ``theta`` (a model with covariates gives each row its own)."""
        return type(self)._alive(*theta, *(arrays[c] for c in self._columns))

    @in_callers_kind
    def expected_purchases(
        self,
        t: float,
        data: pd.DataFrame | None = None,
        *,
        frequency: Any = None,
        recency: Any = None,
        T: Any = None,
        interval: float | None = None,
        n_draws: int = 200,
        random_state: Any = None,
    ) -> pd.Series | pd.DataFrame:
        """Expected number of purchases in the next ``t`` time units, given each history.

        Parameters
        ----------
        t : float
            Forecast horizon in the model's time unit (``time_unit_``; e.g. weeks), counted
            from the end of each customer's observation ``T``.
        data : DataFrame, optional
            RFM rows (``frequency``, ``recency``, ``T``) whose ``attrs["time_unit"]`` records
            the unit of ``recency`` and ``T`` (as :func:`~clvpredict.rfm_summary` does); a unit
            other than the model's is converted. Or pass the arrays as keywords, in the model's
            unit. A model fitted with covariates needs each customer's covariate columns in
            ``data`` too (the levels it was fitted with), and takes no keyword arrays:
            :func:`~clvpredict.attach_covariates` joins a per-customer table onto the summary
            and keeps its ``attrs``.
        interval : float, optional
            E.g. 0.9: also return a 90% interval reflecting *parameter* uncertainty, from
            ``n_draws`` parameter draws (see :mod:`clvpredict.uncertainty`; it does not cover a
            customer's own randomness).
        n_draws : int
            Number of parameter draws for the interval.
        random_state : int or numpy Generator, optional
            Seed of the draws, for reproducible intervals.

        Returns
        -------
        Series or DataFrame
            ``expected_purchases`` indexed like ``data``; with ``interval``, a DataFrame that
            adds ``expected_purchases_lower`` and ``expected_purchases_upper``.
        """
        check_horizon(t, "t")
        function = type(self)._conditional_expectation
        return self._history_prediction(
            "expected_purchases",
            lambda theta, *history: function(t, *theta, *history),
            (data, frequency, recency, T),
            interval,
            n_draws,
            random_state,
        )

    @in_callers_kind
    def probability_alive(
        self,
        data: pd.DataFrame | None = None,
        *,
        frequency: Any = None,
        recency: Any = None,
        T: Any = None,
        interval: float | None = None,
        n_draws: int = 200,
        random_state: Any = None,
    ) -> pd.Series | pd.DataFrame:
        """Probability that each customer is still active at the end of observation ``T``.

        Parameters
        ----------
        data, frequency, recency, T
            As in :meth:`expected_purchases` (with covariates: ``data`` with the covariate
            columns, see :func:`~clvpredict.attach_covariates`).
        interval, n_draws, random_state
            Optional parameter-uncertainty interval, as in :meth:`expected_purchases`.

        Returns
        -------
        Series or DataFrame
            ``p_alive`` in [0, 1], indexed like ``data`` (with ``interval``, also
            ``p_alive_lower`` and ``p_alive_upper``).
        """
        function = type(self)._alive
        return self._history_prediction(
            "p_alive",
            lambda theta, *history: function(*theta, *history),
            (data, frequency, recency, T),
            interval,
            n_draws,
            random_state,
        )

    def _history_prediction(
        self,
        name: str,
        evaluate: Callable[..., np.ndarray],
        rfm: tuple[Any, Any, Any, Any],
        interval: float | None,
        n_draws: int,
        random_state: Any,
    ) -> pd.Series | pd.DataFrame:
        """``evaluate(theta, x, t_x, T)`` for each customer of ``rfm`` (data and the three
        column overrides), as a Series named ``name``; with ``interval``, the frame with
        parameter-uncertainty bounds."""
        x, t_x, big_t, index = self._rfm(*rfm)
        values = evaluate(self._theta(), x, t_x, big_t)
        if interval is None:
            return pd.Series(values, index=index, name=name)
        return self._interval_frame(
            name, values, index, [x, t_x, big_t], evaluate, interval, n_draws, random_state
        )

    @in_callers_kind
    def probability_alive_at(
        self,
        t_future: float,
        data: pd.DataFrame | None = None,
        *,
        frequency: Any = None,
        recency: Any = None,
        T: Any = None,
    ) -> pd.Series:
        """Probability that each customer is still active ``t_future`` time units after ``T``.

        Parameters
        ----------
        t_future : float
            Time after the end of observation, in the model's time unit (>= 0; 0 gives
            :meth:`probability_alive`).
        data, frequency, recency, T
            As in :meth:`expected_purchases` (with covariates: ``data`` with the covariate
            columns, see :func:`~clvpredict.attach_covariates`).

        Returns
        -------
        Series
            ``p_alive``, indexed like ``data``.
        """
        check_horizon(t_future, "t_future")
        theta, x, t_x, big_t, index = self._history(data, frequency, recency, T)
        values = type(self)._alive_at(t_future, *theta, x, t_x, big_t)
        return pd.Series(values, index=index, name="p_alive")

    @in_callers_kind
    def conditional_probability_of_purchases(
        self,
        n: int,
        t: float,
        data: pd.DataFrame | None = None,
        *,
        frequency: Any = None,
        recency: Any = None,
        T: Any = None,
    ) -> pd.Series:
        """P(Y(t) = n | history): probability of exactly ``n`` purchases in the next ``t``.

        A customer alive at ``T`` behaves from then on like a newly acquired one whose latent
        rates follow their posteriors given the history; a customer already gone buys nothing.
        So the distribution is the mixture ``(1 - p_alive) [n == 0] + p_alive P_new(n)`` with
        the model's new-customer PMF at posterior parameters.

        Parameters
        ----------
        n : int
            Number of purchases.
        t : float
            Horizon in the model's time unit.
        data, frequency, recency, T
            As in :meth:`expected_purchases` (with covariates: ``data`` with the covariate
            columns, see :func:`~clvpredict.attach_covariates`).

        Returns
        -------
        Series
            ``probability``, indexed like ``data``.
        """
        check_counts(n)
        check_horizon(t, "t")
        theta, x, t_x, big_t, index = self._history(data, frequency, recency, T)
        values = self._conditional_pmf(n, t, theta, x, t_x, big_t)
        return pd.Series(values, index=index, name="probability")

    def _conditional_pmf(self, n, t, theta, x, t_x, big_t):
        alive = type(self)._alive(*theta, x, t_x, big_t)
        pmf, posterior = type(self)._alive_process(theta, x, t_x, big_t)
        return alive * pmf(n, t, *posterior) + (1.0 - alive) * (np.asarray(n) == 0)

    @in_callers_kind
    def purchases_predictive_interval(
        self,
        t: float,
        data: pd.DataFrame | None = None,
        *,
        level: float = 0.9,
        frequency: Any = None,
        recency: Any = None,
        T: Any = None,
    ) -> pd.DataFrame:
        """Range of each customer's own number of purchases in the next ``t``, at ``level``.

        Unlike the ``interval=`` option, which reflects uncertainty about the parameters, this
        comes from the model's distribution of the count itself
        (:meth:`conditional_probability_of_purchases`), at the fitted parameters: with
        probability at least ``level`` the customer makes between ``lower`` and ``upper``
        purchases (equal-tailed, whole numbers).

        Parameters
        ----------
        t : float
            Horizon in the model's time unit.
        data, frequency, recency, T
            As in :meth:`expected_purchases` (with covariates: ``data`` with the covariate
            columns, see :func:`~clvpredict.attach_covariates`).
        level : float
            Probability that the count falls in the range, e.g. 0.9.

        Returns
        -------
        DataFrame
            ``expected_purchases``, ``lower`` and ``upper`` (counts), indexed like ``data``.
        """

        level = check_level(level)
        check_horizon(t, "t")
        theta, x, t_x, big_t, index = self._history(data, frequency, recency, T)
        tail = (1 - level) / 2
        lower = np.full(len(x), -1.0)
        upper = np.full(len(x), -1.0)
        cdf = np.zeros(len(x))
        n = 0
        # Walk up the counts until every customer's upper quantile is reached.
        while (upper < 0).any():
            cdf = cdf + self._conditional_pmf(n, t, theta, x, t_x, big_t)
            lower = np.where((lower < 0) & (cdf > tail), n, lower)
            upper = np.where((upper < 0) & (cdf >= 1 - tail - 1e-12), n, upper)
            n += 1
            if n > 100_000:  # pragma: no cover - only for absurd parameter values
                upper = np.where(upper < 0, np.inf, upper)
        expected = type(self)._conditional_expectation(t, *theta, x, t_x, big_t)
        return pd.DataFrame(
            {"expected_purchases": expected, "lower": lower, "upper": upper}, index=index
        )

    def expected_purchases_new_customer(self, t: float | np.ndarray) -> float | pd.Series:
        """E[X(t)]: expected repeat purchases of a newly acquired customer within ``t``.

        Parameters
        ----------
        t : float or array
            Time since acquisition, in the model's time unit.

        Returns
        -------
        float, or Series indexed by ``t`` when ``t`` is an array.
        """
        check_horizon(t, "t")
        values = type(self)._new_customer_expectation(t, *self._theta())
        if np.ndim(t) == 0:
            return float(values)
        return pd.Series(values, index=pd.Index(np.asarray(t), name="t"), name="expected_purchases")

    def probability_of_purchases(self, n: int | np.ndarray, t: float) -> float | pd.Series:
        """P(X(t) = n): probability that a new customer makes exactly ``n`` repeat purchases in ``t``.

        Parameters
        ----------
        n : int or array of int
            Number of purchases.
        t : float
            Time since acquisition, in the model's time unit.

        Returns
        -------
        float, or Series indexed by ``n`` when ``n`` is an array.
        """
        check_counts(n)
        check_horizon(t, "t")
        values = type(self)._new_customer_pmf(n, t, *self._theta())
        if np.ndim(n) == 0:
            return float(values)
        return pd.Series(values, index=pd.Index(np.asarray(n), name="n"), name="probability")

    def simulate(
        self,
        T: Any = None,
        *,
        n_customers: int | None = None,
        random_state: Any = None,
        latent: bool = False,
    ) -> pd.DataFrame:
        """Draw new customers from the model at its parameters (see :mod:`clvpredict.simulation`).

        Parameters
        ----------
        T : float, array or Series
            Observation length of each customer since the first purchase, in ``time_unit_``.
            One value for all needs ``n_customers``; a Series lends its index to the result, so
            ``model.simulate(summary["T"])`` draws a cohort observed like ``summary``.
        n_customers : int, optional
            Number of customers when ``T`` is a single value.
        random_state : int, Generator, SeedSequence or None
            Source of randomness (an integer seed for reproducible customers).
        latent : bool
            Also return each customer's hidden state (rates, dropout).

        Returns
        -------
        DataFrame
            ``frequency`` (int), ``recency`` and ``T`` (``time_unit_``), one row per customer;
            ``attrs["time_unit"]`` is ``time_unit_`` (when set), so a model fitted on the result
            has the same unit.

        Examples
        --------
        >>> from clvpredict import BetaGeoModel
        >>> truth = BetaGeoModel.from_params(
        ...     {"r": 0.243, "alpha": 4.414, "a": 0.793, "b": 2.426}, time_unit="W")
        >>> sim = truth.simulate(39.0, n_customers=20_000, random_state=1)
        >>> refit = BetaGeoModel().fit(sim)       # the unit comes with the data
        >>> refit.time_unit_
        'W'
        >>> table = refit.summary(alpha=0.01)
        >>> bool(((table["lower_99"] < truth.params_) & (truth.params_ < table["upper_99"])).all())
        True
        """
        out = type(self)._simulator(
            *self._theta(), T, n_customers=n_customers, random_state=random_state, latent=latent
        )
        if getattr(self, "time_unit_", None) is not None:
            out.attrs["time_unit"] = self.time_unit_
        return out

"""Purchase models with time-invariant customer covariates: the shared estimator plumbing.

The BG/NBD, MBG/NBD and Pareto/NBD take three settings that name covariate columns:
``purchase_covariates`` shift the purchase rate, ``dropout_covariates`` the dropout process, and
``shared_covariates`` both, with one coefficient (see :mod:`clvpredict.models._covariate_math`
for the formulas). Two more settings say how columns are coded: ``categorical_covariates`` names
numeric columns to dummy code as categories (a region code, a cohort year), and
``reference_levels`` gives a categorical column's reference level. Without covariates the model
is the plain one, fitted and predicted exactly as before.

How a model with covariates is fitted
-------------------------------------
1. The covariate columns (of the summary, or of a per-customer table joined on the customer id)
   become numeric design columns (:class:`clvpredict.data.covariates.CovariateDesign`: dummies
   for categories, numbers as given), kept as ``covariate_design_`` for predictions.
2. The model without covariates is fitted first. Its estimates, with every coefficient at 0,
   are the starting point, and its log-likelihood is the null model of the likelihood-ratio
   test (:meth:`CovariatePurchaseModel.likelihood_ratio_test`).
3. Identical rows (history and covariates) are merged into weights, and the log-likelihood is
   maximised over the population parameters (on the log scale) and the coefficients (as they
   are), with the analytic gradient (:func:`~clvpredict.models._covariate_math.covariate_negll_and_gradient`).
   The standard errors come from the curvature at the maximum (a finite-difference Hessian of
   the analytic gradient).

How it predicts
---------------
Every per-customer prediction (P(alive), expected purchases, the purchase-count distribution)
evaluates the model's formulas with each row's own parameters, all rows at once; its
parameter-uncertainty interval draws all parameters jointly, coefficients included, so it
carries the coefficients' uncertainty. The CLV sums run one plain model per group of customers
with equal covariates, with the plain models' fast evaluators, when there are few such groups
(categorical covariates), and every row at its own parameters when there are many (a
continuous covariate). :meth:`CovariatePurchaseModel.profile_model` gives the plain model of
one covariate profile, with the covariance its parameters inherit from the fit (the delta
method), for new-customer questions.
"""

from __future__ import annotations

import dataclasses
import functools
import warnings
from collections.abc import Callable, Mapping, Sequence
from typing import Any, ClassVar

import numpy as np
import pandas as pd
from scipy import stats

from .._fitting import compress, maximise_likelihood, report_convergence, serial_blas
from .._validation import check_is_fitted
from ..data.covariates import (
    LOST_UNIT_HINT,
    CovariateDesign,
    attach_covariates,
    check_engine_values,
)
from ..data.engines import frame_kind, histories, is_engine_frame
from ..exceptions import ClvDataError, ConvergenceWarning
from ._base import (
    PurchaseModel,
    _checked_penalizer,
    _weights,
    lifetimes_call_hints,
    training_data_summary,
)
from ._covariate_math import (
    DROPOUT_SCALED,
    DROPOUT_SIGN,
    PURCHASE_SCALED,
    PURCHASE_SIGN,
    covariate_negll_and_gradient,
    scaled_parameters,
)

__all__ = ["CovariatePurchaseModel"]


def _names(values: Any, setting: str) -> tuple[str, ...]:
    """A setting naming covariate columns as a tuple of strings (one string is one column)."""
    if values is None:
        return ()
    if isinstance(values, str):
        return (values,)
    try:
        names = tuple(values)
    except TypeError as exc:
        raise ClvDataError(f"{setting}={values!r} must be a list of column names.") from exc
    bad = [v for v in names if not isinstance(v, str)]
    if bad:
        raise ClvDataError(f"{setting} must name columns as text; got {bad!r}.")
    return names


class CovariatePurchaseModel(PurchaseModel):
    """A purchase model whose population parameters can depend on customer covariates.

    Not used directly: :class:`~clvpredict.BetaGeoModel`, :class:`~clvpredict.ModifiedBetaGeoModel`
    and :class:`~clvpredict.ParetoNBDModel` derive from it.
    """

    #: Registry entry: these models take customer covariates.
    takes_covariates: ClassVar[bool] = True
    #: ``(r, alpha, p3, p4, x, t_x, T) -> (ll, derivatives)``: individual log-likelihoods and
    #: their derivatives wrt the 4 parameters, which may be arrays of one value per row.
    _derivatives: ClassVar[Callable[..., tuple[np.ndarray, tuple[np.ndarray, ...]]]]

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        # A model's fast CLV evaluators assume one set of parameters for all rows: with
        # covariates they run once per set of customers with the same covariates.
        _wrap_evaluators(cls)

    @lifetimes_call_hints
    def __init__(
        self,
        *,
        time_unit: str | None = None,
        purchase_covariates: Sequence[str] = (),
        dropout_covariates: Sequence[str] = (),
        shared_covariates: Sequence[str] = (),
        categorical_covariates: Sequence[str] = (),
        reference_levels: Mapping[str, Any] | None = None,
        covariate_penalty: float = 0.0,
        on_nonconvergence: str = "warn",
        penalizer_coef: float = 0.0,
    ) -> None:
        self.time_unit = time_unit
        self.purchase_covariates = purchase_covariates
        self.dropout_covariates = dropout_covariates
        self.shared_covariates = shared_covariates
        self.categorical_covariates = categorical_covariates
        self.reference_levels = reference_levels
        self.covariate_penalty = covariate_penalty
        self.on_nonconvergence = on_nonconvergence
        self.penalizer_coef = penalizer_coef

    # ---------------------------------------------------------------- settings and names
    @property
    def has_covariates(self) -> bool:
        """Whether the settings name any covariate (the model is then fitted with them)."""
        return bool(
            _names(self.purchase_covariates, "purchase_covariates")
            or _names(self.dropout_covariates, "dropout_covariates")
            or _names(self.shared_covariates, "shared_covariates")
        )

    def _coefficient_names(self) -> list[str]:
        design = getattr(self, "covariate_design_", None)
        if design is None:
            return []
        return (
            [f"purchase.{c}" for c in design.purchase_names]
            + [f"dropout.{c}" for c in design.dropout_names]
            + [f"shared.{c}" for c in design.shared_names]
        )

    def _parameter_names(self) -> list[str]:
        return list(self._param_names) + self._coefficient_names()

    def _positive_parameters(self) -> np.ndarray:
        k = len(self._coefficient_names())
        return np.array([True] * len(self._param_names) + [False] * k)

    # ---------------------------------------------------------------- fitting
    @lifetimes_call_hints
    def fit(
        self,
        data: pd.DataFrame | None = None,
        *,
        covariates: Any = None,
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
            :func:`~clvpredict.rfm_summary`, which also records the time unit), indexed by
            customer id; with covariates, also the covariate columns unless ``covariates`` is
            given.
        covariates : DataFrame, optional
            One row per customer with the covariate columns the settings name, joined on the
            customer id (the index of ``data``); see
            :func:`~clvpredict.data.covariates.attach_covariates`.
        frequency, recency, T : array-like, optional
            The same as arrays; they override columns of ``data`` (models without covariates
            only).
        weights : array-like or str, optional
            Number of customers each row stands for (or the name of such a column).

        Returns
        -------
        self
            Fitted: ``params_`` (the population parameters, then one coefficient per design
            column: ``purchase.<column>``, ``dropout.<column>``, ``shared.<column>``),
            ``standard_errors_``, ``covariance_``, ``log_likelihood_``, ``aic_``, ``bic_``,
            ``converged_``, ``time_unit_``; with covariates also ``covariate_design_`` and
            ``null_log_likelihood_`` (the fit without covariates).
        """
        overrides = {"frequency": frequency, "recency": recency, "T": T}
        for stale in ("covariate_design_", "null_log_likelihood_", "null_params_"):
            self.__dict__.pop(stale, None)
        if not self.has_covariates:
            if covariates is not None:
                raise ClvDataError(
                    f"covariates= was given, but the {type(self).__name__} names no covariate "
                    "column to use: set purchase_covariates=, dropout_covariates= or "
                    "shared_covariates= (e.g. purchase_covariates=['channel'])."
                )
            return self._fit(data, overrides, weights)
        if any(v is not None for v in overrides.values()):
            raise ClvDataError(
                f"A {type(self).__name__} with covariates is fitted on a summary (with "
                "frequency, recency and T columns, indexed by customer id), not on keyword "
                "arrays: the covariates are joined on the customer id."
            )
        return self._fit_with_covariates(data, covariates, weights)

    @serial_blas
    def _fit_with_covariates(self, data: Any, covariates: Any, weights: Any):
        name = type(self).__name__
        if self.on_nonconvergence not in ("warn", "raise"):
            raise ClvDataError(
                f"on_nonconvergence={self.on_nonconvergence!r} is not one of 'warn', 'raise'."
            )
        if data is None:
            raise ClvDataError(f"{name}.fit needs the summary (data=) to fit covariates on.")
        purchase = _names(self.purchase_covariates, "purchase_covariates")
        dropout = _names(self.dropout_covariates, "dropout_covariates")
        shared = _names(self.shared_covariates, "shared_covariates")
        if is_engine_frame(data):
            if covariates is not None:
                raise ClvDataError(
                    f"This summary is held by {frame_kind(data)}: join the covariate table to "
                    "it there (one row per customer), and fit on the joined summary without "
                    "covariates=."
                )
            # The engine groups the customers by history and covariates: only the distinct
            # rows, with their counts, come to this process.
            used = list(dict.fromkeys([*purchase, *dropout, *shared]))
            rows = histories(data, [*self._columns, *used], weights)
            check_engine_values(data, rows, used, weights if isinstance(weights, str) else None)
            data, weights = rows, "weight"
        if covariates is not None:
            data = attach_covariates(data, covariates)
        _require_covariate_columns(data, [*purchase, *dropout, *shared], name, fitting=True)
        if weights is not None and not isinstance(weights, str):
            # The default reference levels and the scale checks count customers, not rows.
            data = data.assign(**{_WEIGHT_COLUMN: _weights(weights, data, len(data))})
            weights = _WEIGHT_COLUMN
        design = CovariateDesign.from_frame(
            data,
            purchase=purchase,
            dropout=dropout,
            shared=shared,
            categorical=_names(self.categorical_covariates, "categorical_covariates"),
            reference_levels=self.reference_levels,
            weights=weights if isinstance(weights, str) else None,
        )
        arrays, index = self._arrays(data, {}, fitting=True)
        if len(index) == 0:
            raise ClvDataError(f"The data given to {name}.fit have no rows: nothing to fit on.")
        w = _weights(weights, data, len(index))
        z_p, z_d, z_s = (np.asarray(m, dtype=float) for m in design.matrices(data))
        penalizer = _checked_penalizer(self.penalizer_coef)
        coefficient_penalty = _checked_penalty(self.covariate_penalty)

        # The model without covariates: the starting point and the likelihood-ratio test's null.
        plain = type(self)(
            time_unit=self.time_unit,
            on_nonconvergence="warn",
            penalizer_coef=self.penalizer_coef,
        )
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            plain._fit(data, {}, w)

        k_p, k_d = z_p.shape[1], z_d.shape[1]
        history = [arrays[c] for c in self._columns]
        design_columns = [*z_p.T, *z_d.T, *z_s.T]
        columns, uw = compress(history + design_columns, w)
        n_rows = len(uw)

        def block(start: int, stop: int) -> np.ndarray:
            return np.column_stack(columns[start:stop]) if stop > start else np.empty((n_rows, 0))

        likelihood_columns = [
            *columns[:3],
            block(3, 3 + k_p),
            block(3 + k_p, 3 + k_p + k_d),
            block(3 + k_p + k_d, len(columns)),
        ]
        self.covariate_design_ = design
        negll, _ = self._fitted_likelihood(likelihood_columns, uw)
        n_base = len(self._param_names)
        names = self._parameter_names()
        objective = _penalised_split(negll, penalizer, coefficient_penalty, n_base)
        start = np.concatenate([plain.params_.to_numpy(), np.zeros(len(names) - n_base)])
        result = maximise_likelihood(
            objective,
            likelihood_columns,
            uw,
            [start],
            names,
            positive=self._positive_parameters(),
        )
        if penalizer or coefficient_penalty:
            with np.errstate(all="ignore"):
                value = negll(result.params, *likelihood_columns, uw)[0]
            result = dataclasses.replace(result, log_likelihood=-float(value))
        self._store(result, data)
        self.null_log_likelihood_ = float(plain.log_likelihood_)
        self.null_params_ = plain.params_.copy()
        training_arrays = dict(arrays)
        for label, column in zip(self._coefficient_names(), design_columns, strict=True):
            training_arrays[label.split(".", 1)[1]] = column
        self.training_data_ = training_data_summary(training_arrays, w)
        self._fit_data_ = (tuple(likelihood_columns), uw)
        report_convergence(result, name, self.on_nonconvergence)
        return self

    def _fitted_likelihood(self, columns, weights):
        if getattr(self, "covariate_design_", None) is None:
            return super()._fitted_likelihood(columns, weights)
        negll = functools.partial(
            covariate_negll_and_gradient, kind=self.kind, derivatives=type(self)._derivatives
        )
        return negll, list(columns)

    def _header_lines(self) -> list[tuple[str, str]]:
        rows = super()._header_lines()
        design = getattr(self, "covariate_design_", None)
        if design is None:
            return rows
        rows.append(("covariates", ", ".join(design.columns)))
        null = getattr(self, "null_log_likelihood_", None)
        if null is not None and self._penalties():
            rows.append(("vs none", "no LR test: the fit is penalised, not maximum likelihood"))
        elif null is not None:
            test = self.likelihood_ratio_test()
            rows.append(
                (
                    "vs none",
                    f"LR {test['statistic']:.2f} on {test['df']:.0f} df, p = {test['p_value']:.3g}",
                )
            )
        return rows

    # ---------------------------------------------------------------- tests
    def likelihood_ratio_test(self) -> pd.Series:
        """Likelihood-ratio test of the covariates against the same model without them.

        The statistic ``2 (LL - LL_0)`` is chi-square with as many degrees of freedom as
        coefficients when the covariates have no effect (Wilks); both fits are maximum-likelihood
        fits on the same customers.

        Returns
        -------
        Series
            ``statistic``, ``df``, ``p_value``, ``log_likelihood`` (with covariates) and
            ``null_log_likelihood`` (without).

        Raises
        ------
        NotFittedError
            The model was not fitted with covariates in this session.
        ClvDataError
            The fit is penalised: its estimates are not maximum-likelihood ones.
        """
        check_is_fitted(self)
        if getattr(self, "null_log_likelihood_", None) is None:
            raise ClvDataError(
                f"This {type(self).__name__} was not fitted with covariates in this session: "
                "there is no fit without them to test against."
            )
        if self.penalizer_coef or self.covariate_penalty:
            raise ClvDataError(
                "The likelihood-ratio test compares maximum-likelihood fits, and this one is "
                f"penalised (penalizer_coef={self.penalizer_coef!r}, covariate_penalty="
                f"{self.covariate_penalty!r}). Refit without penalties to test the covariates."
            )
        df = len(self._coefficient_names())
        statistic = max(2.0 * (self.log_likelihood_ - self.null_log_likelihood_), 0.0)
        return pd.Series(
            {
                "statistic": statistic,
                "df": float(df),
                "p_value": float(stats.chi2.sf(statistic, df)),
                "log_likelihood": self.log_likelihood_,
                "null_log_likelihood": self.null_log_likelihood_,
            },
            name="likelihood_ratio_test",
        )

    # ---------------------------------------------------------------- per-row parameters
    def _time_scale(self, data: Any, unit: str | None, fitting: bool) -> float:
        """As the plain model's (data that record no time unit are read in the model's, and a
        model fitted on such data has none); a refusal of a model with covariates says how the
        unit is usually lost: a pandas join of the summary and its covariates."""
        try:
            return super()._time_scale(data, unit, fitting)
        except ClvDataError as exc:
            if not self.has_covariates:
                raise
            raise ClvDataError(f"{exc} {LOST_UNIT_HINT}") from None

    def _read_arrays(self, data, overrides):
        arrays, index = super()._read_arrays(data, overrides)
        design = getattr(self, "covariate_design_", None)
        if design is not None:
            if data is None or any(v is not None for v in overrides.values()):
                raise ClvDataError(
                    f"This {type(self).__name__} was fitted with covariates: give the customers "
                    "as a summary (frequency, recency, T) with the covariate columns "
                    f"{list(design.columns)!r}, not as keyword arrays; "
                    "clvpredict.attach_covariates joins a covariate table on the customer id."
                )
            _require_covariate_columns(data, design.columns, type(self).__name__, fitting=False)
            matrices = design.matrices(data)
            for key, matrix in zip(_DESIGN_KEYS, matrices, strict=True):
                arrays[key] = np.asarray(matrix, dtype=float)
        return arrays, index

    def _row_parameters(self, theta: Any, arrays: Mapping[str, np.ndarray]) -> tuple[Any, ...]:
        """The 4 parameters of each row of ``arrays`` at the full parameters ``theta``: arrays
        for the ones covariates scale, numbers for the others."""
        base, g_p, g_d, g_s = self._split_theta(theta)
        z_p, z_d, z_s = (arrays[key] for key in _DESIGN_KEYS)
        index_p = z_p @ g_p + z_s @ g_s
        index_d = z_d @ g_d + z_s @ g_s
        return tuple(scaled_parameters(self.kind, base, index_p, index_d))

    def _history(self, data, frequency, recency, T):
        if getattr(self, "covariate_design_", None) is None:
            return super()._history(data, frequency, recency, T)
        arrays, index = self._arrays(data, {"frequency": frequency, "recency": recency, "T": T})
        theta = self._row_parameters(self.params_.to_numpy(), arrays)
        return theta, arrays["frequency"], arrays["recency"], arrays["T"], index

    def _alive_rows(self, theta, arrays):
        if getattr(self, "covariate_design_", None) is None:
            return super()._alive_rows(theta, arrays)
        history = (arrays[c] for c in self._columns)
        return type(self)._alive(*self._row_parameters(theta, arrays), *history)

    def _history_prediction(self, name, evaluate, rfm, interval, n_draws, random_state):
        if getattr(self, "covariate_design_", None) is None:
            return super()._history_prediction(name, evaluate, rfm, interval, n_draws, random_state)
        data, frequency, recency, T = rfm
        arrays, index = self._arrays(data, {"frequency": frequency, "recency": recency, "T": T})
        history = [arrays[c] for c in self._columns]
        values = evaluate(self._row_parameters(self.params_.to_numpy(), arrays), *history)
        if interval is None:
            return pd.Series(values, index=index, name=name)
        widths = np.cumsum([0] + [arrays[key].shape[1] for key in _DESIGN_KEYS])

        def at_draw(theta, x, t_x, big_t, *design_columns):
            block = np.column_stack(design_columns) if design_columns else np.empty((len(x), 0))
            rows = {key: block[:, widths[i] : widths[i + 1]] for i, key in enumerate(_DESIGN_KEYS)}
            return evaluate(self._row_parameters(theta, rows), x, t_x, big_t)

        columns = [*history, *np.hstack([arrays[key] for key in _DESIGN_KEYS]).T]
        return self._interval_frame(
            name, values, index, columns, at_draw, interval, n_draws, random_state
        )

    # ---------------------------------------------------------------- CLV sums, group by group
    def _design_groups(self, arrays: Mapping[str, np.ndarray]):
        """``(rows, design row)`` of each set of customers of ``arrays`` with the same
        covariates; ``None`` when there are so many (a continuous covariate) that one plain
        model per set costs more than evaluating every row at its own parameters."""
        design_rows = np.hstack([arrays[key] for key in _DESIGN_KEYS])
        n = len(design_rows)
        if design_rows.shape[1] == 0:
            return [(np.arange(n), np.zeros(0))]
        unique, inverse = np.unique(design_rows, axis=0, return_inverse=True)
        if len(unique) > max(_MAX_GROUPS, n // 50):
            return None
        inverse = inverse.ravel()
        order = np.argsort(inverse, kind="stable")
        bounds = np.searchsorted(inverse[order], np.arange(len(unique) + 1))
        return [(order[bounds[j] : bounds[j + 1]], unique[j]) for j in range(len(unique))]

    def _group_models(self, theta: Any, arrays: Mapping[str, np.ndarray], groups):
        """``(rows, design row, parameters, plain model, arrays of the rows)`` of each of
        ``groups`` (from :meth:`_design_groups`), at the full parameters ``theta``."""
        plain_arrays = {k: v for k, v in arrays.items() if k not in _DESIGN_KEYS}
        for rows, row in groups:
            values = self._profile_parameters(theta, row)
            rows_arrays = {k: v[rows] for k, v in plain_arrays.items()}
            yield rows, row, values, self._plain_model(values), rows_arrays

    def _profile_parameters(self, theta: Any, design_row: np.ndarray) -> np.ndarray:
        """The 4 parameters of a customer whose design columns (purchase, dropout, shared in
        order) are ``design_row``, at the full parameters ``theta``."""
        base, g_p, g_d, g_s = self._split_theta(theta)
        k_p, k_d = len(g_p), len(g_d)
        z_p, z_d, z_s = design_row[:k_p], design_row[k_p : k_p + k_d], design_row[k_p + k_d :]
        index_p = float(z_p @ g_p + z_s @ g_s)
        index_d = float(z_d @ g_d + z_s @ g_s)
        return np.array(scaled_parameters(self.kind, base, index_p, index_d), dtype=float)

    def _rowwise_cumulative(self, ts, theta, arrays):
        """Conditional expected purchases at each horizon of ``ts``, every row at its own
        parameters (rows x horizons)."""
        row_theta = self._row_parameters(theta, arrays)
        history = [arrays[c] for c in self._columns]
        function = type(self)._conditional_expectation
        return np.column_stack([function(t, *row_theta, *history) for t in ts])

    def _grouped_sums(self, plain, ts, weights, theta, arrays, alive=None):
        groups = self._design_groups(arrays)
        if groups is None:
            return self._rowwise_cumulative(ts, theta, arrays) @ np.asarray(weights, dtype=float)
        return _assembled(
            len(arrays["frequency"]),
            (
                (rows, plain(model, ts, weights, values, rows_arrays, _rows_of(alive, rows)))
                for rows, _, values, model, rows_arrays in self._group_models(theta, arrays, groups)
            ),
        )

    def _grouped_cumulative(self, plain, ts, theta, arrays):
        groups = self._design_groups(arrays)
        if groups is None:
            return self._rowwise_cumulative(ts, theta, arrays)
        return _assembled(
            len(arrays["frequency"]),
            (
                (rows, plain(model, ts, values, rows_arrays))
                for rows, _, values, model, rows_arrays in self._group_models(theta, arrays, groups)
            ),
        )

    def _grouped_planner(self, plain, ts, arrays):
        groups = self._design_groups(arrays)
        if groups is None:
            return lambda theta: self._rowwise_cumulative(ts, theta, arrays)
        # Each group's evaluator is planned once, at the estimates; a draw of the full
        # parameters gives every group its own parameters.
        planned = [
            (rows, row, plain(model, ts, rows_arrays))
            for rows, row, _, model, rows_arrays in self._group_models(
                self.params_.to_numpy(), arrays, groups
            )
        ]
        n = len(arrays["frequency"])

        def evaluate(theta: np.ndarray) -> np.ndarray:
            return _assembled(
                n,
                (
                    (rows, planner(self._profile_parameters(theta, row)))
                    for rows, row, planner in planned
                ),
            )

        return evaluate

    # ---------------------------------------------------------------- new customers
    def expected_purchases_new_customer(
        self, t: float | np.ndarray, covariates: Mapping[str, Any] | None = None
    ) -> float | pd.Series:
        """E[X(t)]: expected repeat purchases of a newly acquired customer within ``t``.

        Parameters
        ----------
        t : float or array
            Time since acquisition, in the model's time unit.
        covariates : mapping or pandas Series, optional
            With covariates (required then): the new customer's value of each covariate
            column, e.g. ``{"channel": "web", "age_decades": 0.5}``, or a row of the customer
            table (a Series indexed by column). For a table of profiles, one per row, see
            :func:`~clvpredict.new_customer_clv` and :meth:`profile_models`.

        Returns
        -------
        float, or Series indexed by ``t`` when ``t`` is an array.
        """
        return self._for_profile(covariates, "expected_purchases_new_customer")(t)

    def probability_of_purchases(
        self, n: int | np.ndarray, t: float, covariates: Mapping[str, Any] | None = None
    ) -> float | pd.Series:
        """P(X(t) = n): probability that a new customer makes exactly ``n`` repeat purchases in
        ``t`` (with covariates: a new customer with the values ``covariates``).

        Parameters
        ----------
        n : int or array of int
            Number of purchases.
        t : float
            Time since acquisition, in the model's time unit.
        covariates : mapping or pandas Series, optional
            As in :meth:`expected_purchases_new_customer`.

        Returns
        -------
        float, or Series indexed by ``n`` when ``n`` is an array.
        """
        return self._for_profile(covariates, "probability_of_purchases")(n, t)

    def _for_profile(self, covariates: Mapping[str, Any] | None, method: str):
        check_is_fitted(self)
        design = getattr(self, "covariate_design_", None)
        if design is None:
            if covariates is not None:
                raise ClvDataError(
                    f"This {type(self).__name__} has no covariates; drop covariates=."
                )
            return functools.partial(getattr(PurchaseModel, method), self)
        if covariates is None:
            raise ClvDataError(
                f"This {type(self).__name__} was fitted with covariates, so a new customer's "
                f"purchases depend on theirs: give covariates= with a value for each of "
                f"{list(design.columns)!r}."
            )
        return getattr(self._at_profile(covariates, method), method)

    def simulate(self, T: Any = None, **kwargs: Any) -> pd.DataFrame:
        """Draw new customers from the model (see :meth:`PurchaseModel.simulate`). A model
        fitted with covariates draws one profile at a time:
        ``model.profile_model({...}).simulate(...)``."""
        if getattr(self, "covariate_design_", None) is not None:
            raise ClvDataError(
                f"This {type(self).__name__} was fitted with covariates: simulate customers "
                "of one profile with model.profile_model({...}).simulate(...), or many profiles "
                "with clvpredict.simulation.simulate_with_covariates."
            )
        return super().simulate(T, **kwargs)

    # ---------------------------------------------------------------- profiles
    def _split_theta(self, theta: Any) -> tuple[np.ndarray, ...]:
        design = self.covariate_design_
        n_base = len(self._param_names)
        k_p, k_d = len(design.purchase_names), len(design.dropout_names)
        theta = np.asarray(theta, dtype=float)
        return (
            theta[:n_base],
            theta[n_base : n_base + k_p],
            theta[n_base + k_p : n_base + k_p + k_d],
            theta[n_base + k_p + k_d :],
        )

    def _profile_jacobian(self, design_row: np.ndarray) -> np.ndarray:
        """d (profile's 4 parameters) / d params_, at the estimates."""
        theta = self.params_.to_numpy()
        values = self._profile_parameters(theta, design_row)
        n_base = len(self._param_names)
        _, g_p, g_d, _ = self._split_theta(theta)
        k_p, k_d = len(g_p), len(g_d)
        z_p, z_d, z_s = design_row[:k_p], design_row[k_p : k_p + k_d], design_row[k_p + k_d :]
        kind = self.kind
        jacobian = np.zeros((n_base, len(theta)))
        jacobian[np.arange(n_base), np.arange(n_base)] = values / theta[:n_base]
        # param_i = param * exp(sign * index): d/dgamma = sign * param_i * z, for the process's
        # own columns and the shared ones.
        for positions, sign, first, k, z in (
            (PURCHASE_SCALED[kind], PURCHASE_SIGN[kind], n_base, k_p, z_p),
            (DROPOUT_SCALED[kind], DROPOUT_SIGN[kind], n_base + k_p, k_d, z_d),
        ):
            for position in positions:
                jacobian[position, first : first + k] = sign * values[position] * z
                jacobian[position, n_base + k_p + k_d :] = sign * values[position] * z_s
        return jacobian

    def _plain_model(self, values: np.ndarray, jacobian: np.ndarray | None = None):
        """A model without covariates at the 4 parameters ``values``."""
        names = list(self._param_names)
        plain = type(self).from_params(dict(zip(names, values, strict=True)))
        plain.time_unit = self.time_unit
        plain.time_unit_ = self.time_unit_
        plain.converged_ = self.converged_
        if jacobian is not None and getattr(self, "covariance_", None) is not None:
            cov = jacobian @ self.covariance_.to_numpy() @ jacobian.T
            plain.covariance_ = pd.DataFrame(cov, index=names, columns=names)
            plain.standard_errors_ = pd.Series(np.sqrt(np.diag(cov)), index=names, name="std_error")
        return plain

    def profile_model(self, covariates: Mapping[str, Any]):
        """The model without covariates of a customer with the covariate values ``covariates``.

        E.g. ``model.profile_model({"channel": "web"}).expected_purchases_new_customer(52)``
        is what a new customer from the web is expected to buy in the first 52 time units.

        Parameters
        ----------
        covariates : mapping or pandas Series
            A value for every covariate column of the fit, by column name: a dict, or a
            Series such as a row of the customer table (``customers.loc["C00001"]``), whose
            index gives the names. For a table of profiles, see :meth:`profile_models`.

        Returns
        -------
        model
            The plain model at that customer's parameters, with the covariance they inherit
            from the fit (the delta method), so its intervals carry the coefficients'
            uncertainty.
        """
        check_is_fitted(self)
        if getattr(self, "covariate_design_", None) is None:
            raise ClvDataError(f"This {type(self).__name__} has no covariates.")
        return self._at_profile(covariates, "profile_model")

    def _at_profile(self, covariates: Any, method: str):
        """:meth:`profile_model` of one profile given to ``method`` (named in refusals)."""
        values = _one_profile(covariates, method)
        row = np.concatenate(
            [np.asarray(m, dtype=float).reshape(-1) for m in self.covariate_design_.profile(values)]
        )
        theta = self.params_.to_numpy()
        return self._plain_model(self._profile_parameters(theta, row), self._profile_jacobian(row))

    def profile_models(self, covariates: Any) -> tuple[list[Any], np.ndarray]:
        """:meth:`profile_model` of every distinct covariate profile among many rows.

        Parameters
        ----------
        covariates : DataFrame
            One row per customer or profile with (at least) the covariate columns of the fit:
            pandas, or a table narwhals reads (polars, pyarrow, DuckDB), its rows in the order
            it gives them. For one profile, see :meth:`profile_model`.

        Returns
        -------
        models : list
            One plain model per distinct profile (as :meth:`profile_model` gives it), in the
            order of their design rows.
        profile_of : ndarray of int
            For each row of ``covariates``, the position of its model in ``models``; rows with
            equal covariates share one model, so a table of many customers from a few segments
            builds a few models.
        """
        unique, inverse = self._distinct_profiles(covariates)
        theta = self.params_.to_numpy()
        models = [
            self._plain_model(self._profile_parameters(theta, row), self._profile_jacobian(row))
            for row in unique
        ]
        return models, inverse

    def _distinct_profiles(self, covariates: Any) -> tuple[np.ndarray, np.ndarray]:
        """The distinct design rows (purchase, dropout, shared columns in order) among the
        rows of the table ``covariates``, and each row's position among them."""
        check_is_fitted(self)
        design = getattr(self, "covariate_design_", None)
        if design is None:
            raise ClvDataError(f"This {type(self).__name__} has no covariates.")
        rows = np.hstack([np.asarray(m, dtype=float) for m in design.matrices(covariates)])
        unique, inverse = np.unique(rows, axis=0, return_inverse=True)
        return unique, np.asarray(inverse).ravel()

    def _distinct_profile_parameters(self, covariates: Any) -> tuple[tuple[Any, ...], np.ndarray]:
        """:meth:`_distinct_profiles`, as each distinct profile's 4 parameters at the
        estimates: arrays of one value per profile for the ones covariates scale, numbers for
        the others (as :meth:`_row_parameters`); and each row's profile position. What
        :meth:`profile_models` gives, without building a model (and its covariance) per
        profile."""
        unique, inverse = self._distinct_profiles(covariates)
        _, g_p, g_d, _ = self._split_theta(self.params_.to_numpy())
        cuts = np.cumsum([len(g_p), len(g_d)])
        arrays = dict(zip(_DESIGN_KEYS, np.split(unique, cuts, axis=1), strict=True))
        return self._row_parameters(self.params_.to_numpy(), arrays), inverse


def _require_covariate_columns(
    data: Any, columns: Sequence[str], name: str, *, fitting: bool
) -> None:
    """Refuse pandas ``data`` that lack covariate ``columns`` of the model, saying how to
    join them (the data layer's own message names only the columns)."""
    if not isinstance(data, pd.DataFrame):
        return
    absent = [c for c in dict.fromkeys(columns) if c not in data.columns]
    if not absent:
        return
    have = [str(c) for c in data.columns]
    if fitting:
        raise ClvDataError(
            f"The {name}'s covariate settings name the column(s) {absent}, which the data "
            f"lack; they have columns {have}. Join each customer's covariates onto the "
            "summary with clvpredict.attach_covariates(summary, customers) (it keeps the "
            "summary's attrs, where the time unit is recorded), or give the per-customer table "
            "to fit(summary, covariates=customers)."
        )
    raise ClvDataError(
        f"The {name} was fitted with covariates, and these data lack its covariate column(s) "
        f"{absent}; they have columns {have}. Every prediction needs each customer's "
        "covariates: join them onto the summary with clvpredict.attach_covariates(summary, "
        "customers), which keeps its attrs (the time unit), or pass covariates=customers "
        "where a function takes it (e.g. at_risk_customers, probability_alive_history)."
    )


def _one_profile(covariates: Any, method: str) -> Mapping[str, Any]:
    """One covariate profile as a mapping of column to value: a mapping as it is, a pandas
    Series (a row of a customer table) by its index. A table of profiles is refused, pointing
    to the functions that take one."""
    if isinstance(covariates, pd.Series):
        return dict(covariates.items())
    if isinstance(covariates, Mapping):
        return covariates
    kind = frame_kind(covariates)
    if kind is not None:
        raise ClvDataError(
            f"model.{method}(covariates=...) takes one covariate profile (a dict, or a pandas "
            f"Series such as a row customers.loc[id]); this is a table ({kind}). For a table "
            "of profiles, one per row: clvpredict.new_customer_clv(model, spend_model, "
            "covariates=table) values each row, and model.profile_models(table) gives one "
            "model per distinct profile."
        )
    raise ClvDataError(
        f"model.{method}: covariates= must map each covariate column to its value (a dict such as "
        "{'channel': 'web', 'age': 0.5}, or a pandas Series indexed by column); got "
        f"{type(covariates).__name__}."
    )


#: The column that carries array weights into the design (a name no summary uses).
_WEIGHT_COLUMN = "__clvpredict_weight__"

#: Up to this many groups of customers with equal covariates (or one per 50 rows, if more),
#: CLV sums run one plain model per group, with the models' fast evaluators; beyond it (a
#: continuous covariate), every row at its own parameters.
_MAX_GROUPS = 64


def _assembled(n: int, parts) -> np.ndarray:
    """One array of ``n`` rows from ``(rows, values)`` parts that cover them all."""
    out = None
    for rows, part in parts:
        if out is None:
            out = np.empty((n, *np.shape(part)[1:]))
        out[rows] = part
    return out


def _rows_of(values: np.ndarray | None, rows: np.ndarray) -> np.ndarray | None:
    return None if values is None else values[rows]


#: The design matrices of a covariate model among the arrays of :meth:`_arrays`.
_DESIGN_KEYS = ("z_purchase", "z_dropout", "z_shared")


def _in_groups(name: str, plain: Callable[..., Any]) -> Callable[..., Any]:
    """The CLV evaluator ``name`` of a model class, made to run group by group (one plain
    model per set of covariates) when the model was fitted with covariates."""
    grouped = {
        "_purchase_sums": "_grouped_sums",
        "_cumulative_purchases": "_grouped_cumulative",
        "_cumulative_purchases_planner": "_grouped_planner",
    }[name]

    @functools.wraps(plain)
    def method(self: Any, *args: Any, **kwargs: Any) -> Any:
        if getattr(self, "covariate_design_", None) is None:
            return plain(self, *args, **kwargs)
        return getattr(self, grouped)(plain, *args, **kwargs)

    method._plain = plain  # type: ignore[attr-defined]
    return method


_GROUPED = ("_purchase_sums", "_cumulative_purchases", "_cumulative_purchases_planner")


def _wrap_evaluators(cls: type) -> None:
    for name in _GROUPED:
        own = vars(cls).get(name)
        if own is not None and not hasattr(own, "_plain"):
            setattr(cls, name, _in_groups(name, own))


def _checked_penalty(value: Any) -> float:
    try:
        coef = float(value)
    except (TypeError, ValueError) as exc:
        raise ClvDataError(f"covariate_penalty={value!r} must be a number >= 0.") from exc
    if not np.isfinite(coef) or coef < 0:
        raise ClvDataError(f"covariate_penalty={value!r} must be a finite number >= 0.")
    return coef


def _penalised_split(
    negll: Callable[..., tuple[float, np.ndarray]], base: float, coefficients: float, n_base: int
) -> Callable[..., tuple[float, np.ndarray]]:
    """``negll`` plus ``W (base * sum(params**2) + coefficients * sum(gammas**2))``, W the sum
    of the weights: L2 penalties on the mean negative log-likelihood, the population
    parameters' as ``penalizer_coef`` defines it, the coefficients' as ``covariate_penalty``."""
    if base == 0.0 and coefficients == 0.0:
        return negll

    def objective(theta: np.ndarray, *args: Any) -> tuple[float, np.ndarray]:
        total = float(np.sum(args[-1]))
        strength = np.where(np.arange(len(theta)) < n_base, base, coefficients) * total
        value, gradient = negll(theta, *args)
        return value + float(strength @ theta**2), gradient + 2.0 * strength * theta

    return objective


for _name in _GROUPED:
    setattr(CovariatePurchaseModel, _name, _in_groups(_name, getattr(PurchaseModel, _name)))

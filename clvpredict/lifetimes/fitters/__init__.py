"""lifetimes' fitter classes, computed by clvpredict's models.

Each fitter keeps lifetimes' constructor, ``fit`` signature, attribute names (``params_``,
``data``, ``summary``, ``predict``, ``standard_errors_``, ...) and argument order, and hands the
mathematics to the matching clvpredict model. The numbers agree with lifetimes' where lifetimes
is right; where it is not, the method's docstring says what differs and why.

Differences that hold for every fitter:

* ``save_model`` writes JSON (parameters, settings and optionally the fitted data), never a
  pickle; ``load_model`` reads that JSON and refuses lifetimes' dill pickles, because loading
  a pickle runs whatever code the file holds. Refit instead (see :meth:`BaseFitter.load_model`).
* ``variance_matrix_`` is the delta-method covariance of the estimates in full; lifetimes scaled
  only the columns (``params**2 * inv(H)``), which gives the right diagonal (so the same
  ``standard_errors_``) but wrong, asymmetric off-diagonal terms.
* Options for scipy's optimiser given as extra keywords to ``fit`` (and lifetimes' old
  ``iterative_fitting``) are accepted and ignored: the models find the maximum by their own
  Newton / quasi-Newton search, which does not need them.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import pandas as pd
from scipy import optimize

from ...exceptions import ConvergenceError

__all__ = ["BaseFitter", "ConvergenceError"]

#: Marks a file written by :meth:`BaseFitter.save_model`.
FORMAT = "clvpredict.lifetimes-fitter"
FORMAT_VERSION = 1


def _column(values: Any, dtype: type = float) -> np.ndarray:
    """A 1-d float array of ``values`` (a scalar becomes one element)."""
    return np.atleast_1d(np.asarray(values, dtype=dtype))


def _shaped_like(values: np.ndarray, *inputs: Any) -> Any:
    """``values`` shaped as lifetimes returns them for ``inputs``.

    A Series among the inputs gives a Series on its index; all scalars give a float; otherwise an
    array of the broadcast shape.
    """
    for given in inputs:
        if isinstance(given, pd.Series):
            return pd.Series(np.asarray(values, dtype=float), index=given.index)
    if all(np.ndim(given) == 0 for given in inputs):
        return float(np.asarray(values).reshape(-1)[0])
    return np.asarray(values, dtype=float)


def check_inputs(
    frequency: np.ndarray,
    recency: np.ndarray | None = None,
    T: np.ndarray | None = None,
    monetary_value: np.ndarray | None = None,
) -> None:
    """lifetimes' input checks, with its messages, raised as ``ValueError``."""
    if recency is not None:
        if T is not None and np.any(recency > T):
            raise ValueError("Some values in recency vector are larger than T vector.")
        if np.any(recency[frequency == 0] != 0):
            raise ValueError("There exist non-zero recency values when frequency is zero.")
        if np.any(recency < 0):
            raise ValueError("There exist negative recency (ex: last order set before first order)")
        if any(len(column) == 0 for column in (recency, frequency, T) if column is not None):
            raise ValueError("There exists a zero length vector in one of frequency, recency or T.")
    if np.any(frequency != np.floor(frequency)):
        raise ValueError("There exist non-integer values in the frequency vector.")
    if monetary_value is not None and np.any(monetary_value <= 0):
        raise ValueError("There exist non-positive (<= 0) values in the monetary_value vector.")


class BaseFitter:
    """What every lifetimes fitter shares: repr, parameters, saving, summary and fitting.

    Subclasses set :attr:`_param_names`, :attr:`_model` (the clvpredict model class whose
    mathematics they use), :attr:`_data_columns` and :attr:`_time_params` (the parameters
    measured per unit of time, which lifetimes penalised on its rescaled time axis).
    """

    _param_names: ClassVar[tuple[str, ...]] = ()
    _model: ClassVar[type | None] = None
    _data_columns: ClassVar[tuple[str, ...]] = ()
    _time_params: ClassVar[tuple[str, ...]] = ()
    #: lifetimes divides the summed negative log-likelihood by the sum of the weights (a mean)
    #: for every model but the Pareto/NBD, which divides it by their mean.
    _objective_divisor: ClassVar[str] = "sum"

    def __init__(self, penalizer_coef: float = 0.0) -> None:
        self.penalizer_coef = penalizer_coef

    # ------------------------------------------------------------------ representation
    def __repr__(self) -> str:
        name = type(self).__name__
        data = getattr(self, "data", None)
        subjects = "" if data is None else f" fitted with {data.shape[0]:d} subjects,"
        params = getattr(self, "params_", None)
        if params is None:
            return f"<lifetimes.{name}>"
        shown = ", ".join(f"{key}: {value:.2f}" for key, value in sorted(dict(params).items()))
        return f"<lifetimes.{name}:{subjects} {shown}>"

    def _unload_params(self, *names: str) -> list[float]:
        """The values of ``names`` in ``params_``; ValueError before ``fit``."""
        if getattr(self, "params_", None) is None:
            raise ValueError("Model has not been fit yet. Please call the .fit method first.")
        return [self.params_[name] for name in names]

    def _theta(self) -> tuple[float, ...]:
        """The parameters in the order of the clvpredict model's functions."""
        return tuple(float(v) for v in self._unload_params(*self._param_names))

    # ------------------------------------------------------------------ fitting
    def _negll_sum(
        self, theta: np.ndarray, columns: list[np.ndarray], weights: np.ndarray
    ) -> tuple[float, np.ndarray]:
        """Weighted negative log-likelihood (a sum) and its gradient in natural parameters."""
        return self._model._negll(theta, *columns, weights)

    def _native_fit(
        self,
        columns: list[np.ndarray],
        weights: np.ndarray,
        penalizer_coef: float = 0.0,
        time_scale: float = 1.0,
    ) -> np.ndarray:
        """The clvpredict model's estimate, with lifetimes' penalty given in the model's terms.

        The model penalises its own parameters; lifetimes penalised the rate parameters on its
        rescaled time axis (time times ``time_scale``). With a penalty the model is therefore
        fitted with time in lifetimes' rescaled units, where its parameters are the ones
        lifetimes penalised, and the rates are converted back.
        """
        data = dict(zip(self._data_columns, columns, strict=True))
        if penalizer_coef == 0.0:
            time_scale = 1.0  # the maximum-likelihood estimate does not depend on the axis
        scales = self._penalty_scales(time_scale)
        if time_scale != 1.0:
            data = {
                name: values * time_scale if name in ("recency", "T") else values
                for name, values in data.items()
            }
        model = self._model(penalizer_coef=penalizer_coef)
        model.fit(**data, weights=weights)
        return model.params_.to_numpy(dtype=float) / scales

    def _penalty_scales(self, time_scale: float) -> np.ndarray:
        """Per-parameter factors to the axis lifetimes penalised (rescaled time for rates)."""
        return np.array(
            [time_scale if name in self._time_params else 1.0 for name in self._param_names]
        )

    def _estimate(
        self,
        columns: list[np.ndarray],
        weights: np.ndarray,
        *,
        time_scale: float = 1.0,
        initial_params: Any = None,
        constraint: Callable[[np.ndarray], bool] | None = None,
    ) -> None:
        """Fit and store ``params_``, the objective's minimum and the covariance.

        lifetimes minimises ``negll / d + penalizer_coef * sum(params_scaled**2)`` over the log
        parameters, with ``d`` the sum of the weights (the mean of them for the Pareto/NBD) and
        ``params_scaled`` the parameters on its rescaled time axis (rates per ``1 / max(T)``).
        The clvpredict model minimises it (its ``penalizer_coef`` is the same penalty, on
        the parameters in the data's time axis: see :meth:`_native_fit`); given
        ``initial_params``, lifetimes' search from there is run instead.
        """
        divisor = weights.sum() if self._objective_divisor == "sum" else weights.mean()
        scales = self._penalty_scales(time_scale)
        coef = float(self.penalizer_coef)

        def objective(phi: np.ndarray) -> tuple[float, np.ndarray]:
            theta = np.exp(phi)
            if constraint is not None and not constraint(theta):
                return np.inf, np.zeros_like(phi)
            value, gradient = self._negll_sum(theta, columns, weights)
            scaled = theta * scales
            value = value / divisor + coef * np.sum(scaled**2)
            gradient = gradient / divisor + 2.0 * coef * scaled * scales
            return float(value), gradient * theta

        start = None if initial_params is None else np.asarray(initial_params, dtype=float)
        if start is None:
            # The model's penalty is coef * sum(params ** 2) on the negative log-likelihood
            # divided by the sum of the weights: lifetimes' divisor may be another one.
            native_coef = coef * divisor / float(weights.sum())
            theta = self._native_fit(columns, weights, native_coef, time_scale)
            if coef > 0.0 and constraint is not None and not constraint(theta):
                # The model knows no constraint: search within it from the unpenalised fit,
                # as before the penalty moved into the model (unpenalised, it is not applied).
                start = np.log(self._native_fit(columns, weights))
        if start is not None:
            result = optimize.minimize(
                objective,
                start,
                jac=True,
                method="L-BFGS-B",
                options={"ftol": 1e-15, "gtol": 1e-10, "maxiter": 5000},
            )
            if not np.all(np.isfinite(result.x)) or not np.isfinite(result.fun):
                raise ConvergenceError(
                    f"{type(self).__name__} did not converge (penalizer_coef={coef}). Try a "
                    "larger penalizer_coef, or check the data for extreme values."
                )
            theta = np.exp(result.x)
        phi = np.log(theta)
        self._negative_log_likelihood_ = objective(phi)[0]
        hessian = _numerical_hessian(lambda p: objective(p)[1], phi)
        self._hessian_ = hessian
        names = list(self._param_names)
        self.params_ = pd.Series(theta, index=names)
        try:
            log_covariance = np.linalg.inv(hessian) / divisor
        except np.linalg.LinAlgError:
            log_covariance = np.full_like(hessian, np.nan)
        self.variance_matrix_ = pd.DataFrame(
            np.outer(theta, theta) * log_covariance, index=names, columns=names
        )
        self.standard_errors_ = pd.Series(
            np.sqrt(np.diag(self.variance_matrix_.to_numpy())), index=names
        )
        z = 1.96
        self.confidence_intervals_ = pd.DataFrame(
            {
                "lower 95% bound": self.params_ - z * self.standard_errors_,
                "upper 95% bound": self.params_ + z * self.standard_errors_,
            },
            index=names,
        )

    @property
    def summary(self) -> pd.DataFrame:
        """Estimates with standard errors and 95% Wald bounds (lifetimes' columns)."""
        return pd.DataFrame(
            {
                "coef": self.params_,
                "se(coef)": self.standard_errors_,
                "lower 95% bound": self.confidence_intervals_["lower 95% bound"],
                "upper 95% bound": self.confidence_intervals_["upper 95% bound"],
            },
            index=self.params_.index,
        )

    # ------------------------------------------------------------------ saving
    def save_model(
        self,
        path: str | os.PathLike[str],
        save_data: bool = True,
        save_generate_data_method: bool = True,
        values_to_save: Any = None,
    ) -> None:
        """Write the fitter to ``path`` as JSON (lifetimes wrote a dill pickle).

        Parameters
        ----------
        path : str or path-like
            File to write.
        save_data : bool
            Also write ``data`` (the fitted rows), so that a loaded fitter has them.
        save_generate_data_method : bool
            With False, the loaded fitter's ``generate_new_data`` is a placeholder (see
            ``values_to_save``) rather than the simulator, which is otherwise rebuilt from the
            parameters and the saved ages.
        values_to_save : list, optional
            lifetimes' placeholders for the attributes left out: paired in order with
            ``data`` (when ``save_data`` is False) and ``generate_new_data`` (when
            ``save_generate_data_method`` is False), as lifetimes paired them (``None`` each by
            default). They must be JSON values (``None``, text, numbers).
        """
        params = getattr(self, "params_", None)
        data = getattr(self, "data", None)
        # lifetimes' pairing: position 0 is data, position 1 generate_new_data, an empty name
        # where the attribute is kept; zip stops at the shorter list.
        left_out = ["data" * (not save_data), "generate_new_data" * (not save_generate_data_method)]
        given = [None] * len(left_out) if values_to_save is None else list(values_to_save)
        placeholders = {name: value for name, value in zip(left_out, given, strict=False) if name}
        content: dict[str, Any] = {
            "format": FORMAT,
            "version": FORMAT_VERSION,
            "fitter": type(self).__name__,
            "penalizer_coef": float(self.penalizer_coef),
            "params": None if params is None else {k: float(v) for k, v in params.items()},
            "data": None,
            "placeholders": placeholders,
        }
        for name in ("_scale", "_negative_log_likelihood_"):
            value = getattr(self, name, None)
            if value is not None:
                content[name] = float(value)
        for name in ("variance_matrix_",):
            value = getattr(self, name, None)
            if value is not None:
                content[name] = value.to_numpy().tolist()
        if "data" not in placeholders and isinstance(data, pd.DataFrame):
            content["data"] = _frame_content(data)
        try:
            text = json.dumps(content)
        except TypeError as error:
            raise TypeError(
                f"values_to_save must hold JSON values (None, text, numbers): {error}"
            ) from None
        Path(path).write_text(text)

    def load_model(self, path: str | os.PathLike[str]) -> None:
        """Read a fitter written by :meth:`save_model` into this object.

        lifetimes' ``save_model`` wrote dill pickles. Those are refused: unpickling runs code
        stored in the file. Refit the model from its data (``fitter.fit(...)``) and save it
        again with this ``save_model``.
        """
        raw = Path(path).read_bytes()
        try:
            content = json.loads(raw.decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError):
            content = None
        if not isinstance(content, dict) or content.get("format") != FORMAT:
            raise ValueError(
                f"{os.fspath(path)!r} is not a fitter saved by clvpredict.lifetimes (JSON). "
                "lifetimes saved fitters as dill pickles, which are not loaded because "
                "unpickling runs code stored in the file. Refit instead: "
                f"{type(self).__name__}().fit(...) on the same data, then save_model(path) to "
                "write it in the JSON format."
            )
        if content["fitter"] != type(self).__name__:
            raise ValueError(
                f"{os.fspath(path)!r} holds a {content['fitter']}, not a {type(self).__name__}."
            )
        self.penalizer_coef = content["penalizer_coef"]
        if content["params"] is not None:
            self.params_ = pd.Series(content["params"])
        for name in ("_scale", "_negative_log_likelihood_"):
            if content.get(name) is not None:
                setattr(self, name, content[name])
        if content.get("variance_matrix_") is not None and content["params"] is not None:
            names = list(content["params"])
            self.variance_matrix_ = pd.DataFrame(
                content["variance_matrix_"], index=names, columns=names
            )
            self.standard_errors_ = pd.Series(
                np.sqrt(np.diag(self.variance_matrix_.to_numpy())), index=names
            )
        placeholders = content.get("placeholders", {})
        if "data" in placeholders:
            self.data = placeholders["data"]
        elif content["data"] is not None:
            self.data = _frame_from_content(content["data"])
        else:
            self.data = None
        self._after_load()
        if "generate_new_data" in placeholders:
            self.generate_new_data = placeholders["generate_new_data"]

    def _after_load(self) -> None:
        """Rebuild what a fitted object derives from its parameters (``predict``, ...)."""


def _frame_content(frame: pd.DataFrame) -> dict[str, Any]:
    """``frame`` as JSON values that read back to the same numbers (floats are written in full)."""
    content = {
        "index": frame.index.tolist(),
        "index_name": frame.index.name,
        "columns": [str(column) for column in frame.columns],
        "values": [frame[column].tolist() for column in frame.columns],
        "dtypes": [str(dtype) for dtype in frame.dtypes],
    }
    try:
        json.dumps(content)
    except TypeError:
        # An index of dates or other objects: written as pandas writes it.
        content["index"] = json.loads(frame.index.to_series().to_json(orient="values"))
    return content


def _frame_from_content(content: dict[str, Any]) -> pd.DataFrame:
    frame = pd.DataFrame(
        dict(zip(content["columns"], content["values"], strict=True)),
        index=pd.Index(content["index"], name=content["index_name"]),
    )
    return frame.astype(dict(zip(content["columns"], content["dtypes"], strict=True)))


def _numerical_hessian(gradient: Callable[[np.ndarray], np.ndarray], x: np.ndarray) -> np.ndarray:
    """Symmetrised central differences of an analytic gradient."""
    n = len(x)
    hessian = np.empty((n, n))
    for i in range(n):
        step = 1e-5 * max(1.0, abs(x[i]))
        up, down = x.copy(), x.copy()
        up[i] += step
        down[i] -= step
        hessian[:, i] = (gradient(up) - gradient(down)) / (2 * step)
    return (hessian + hessian.T) / 2

"""Checks of arguments shared by every layer above: is a model fitted, is a horizon a time span.

They live at the bottom so that the models, persistence, CLV and evaluation all call the same
check without importing one another.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ._units import check_time_unit, recorded_unit
from .exceptions import ClvDataError, NotFittedError, describe_values

__all__ = [
    "check_counts",
    "check_horizon",
    "check_is_fitted",
    "is_fitted",
    "model_time_unit",
]


def is_fitted(model: Any) -> bool:
    """Whether ``model`` holds parameters (after ``fit``, ``from_params`` or loading)."""
    return getattr(model, "params_", None) is not None


def check_is_fitted(model: Any, role: str | None = None) -> None:
    """Raise :class:`NotFittedError` unless ``model`` holds parameters.

    The one test of "is it fitted" for every model and every function that takes one: a model
    has parameters after ``fit``, ``from_params`` or loading a model file.

    Parameters
    ----------
    model
        Any clvpredict model.
    role : str, optional
        What the model is for the caller (e.g. ``"spend model"``), named in the message.
    """
    if not is_fitted(model):
        who = f"The {role} ({type(model).__name__})" if role else f"This {type(model).__name__}"
        raise NotFittedError(
            f"{who} is not fitted yet. Call fit(data), or load a saved model with "
            "clvpredict.load_model(path)."
        )


def check_horizon(value: Any, argument: str) -> Any:
    """A time span (scalar or array) of the public API, checked once for every caller.

    Horizons and times after ``T`` must be finite and >= 0 (0 is the present): a negative, NaN
    or infinite value would otherwise come back as zeros or NaN without a word.

    Parameters
    ----------
    value : float or array
        The span, in the model's time unit.
    argument : str
        The caller's argument name (``"t"``, ``"t_future"``...), named in the message.

    Returns
    -------
    The value, unchanged.

    Raises
    ------
    ClvDataError
        Naming the argument and the offending value.
    """
    try:
        array = np.asarray(value, dtype=float)
    except (TypeError, ValueError) as exc:
        raise ClvDataError(f"{argument}={value!r} must be a number of time units >= 0.") from exc
    bad = ~np.isfinite(array) | (array < 0)
    if bad.any():
        raise ClvDataError(
            f"{_offending(argument, value, array, bad)} not a time span: it must be finite and "
            ">= 0 (in the model's time unit; 0 is the end of observation)."
        )
    return value


def _offending(argument: str, value: Any, array: np.ndarray, bad: np.ndarray) -> str:
    """``"t=-1.0 is"`` for a scalar, ``"t holds -1.0, nan that are"`` for an array."""
    if array.ndim == 0:
        return f"{argument}={value!r} is"
    return f"{argument} holds {describe_values(array[bad].tolist())} that are"


def check_counts(value: Any, argument: str = "n") -> Any:
    """Numbers of purchases (scalar or array): whole numbers >= 0, else :class:`ClvDataError`."""
    try:
        array = np.asarray(value, dtype=float)
    except (TypeError, ValueError) as exc:
        raise ClvDataError(f"{argument}={value!r} must be a whole number of purchases.") from exc
    bad = ~np.isfinite(array) | (array < 0) | (array != np.round(array))
    if bad.any():
        raise ClvDataError(
            f"{_offending(argument, value, array, bad)} not a number of purchases: counts are "
            "whole numbers >= 0."
        )
    return value


def model_time_unit(purchase_model: Any, data: Any = None) -> str:
    """A fitted purchase model's time unit, checked against the unit recorded on ``data``.

    The one place where CLV, evaluation and plotting learn the unit they convert months and
    periods into: a model that knows none, with data that record none, is refused.
    """
    check_is_fitted(purchase_model, "purchase model")
    unit = getattr(purchase_model, "time_unit_", None)
    data_unit = None if data is None else recorded_unit(data)
    if unit is None and data_unit is None:
        hint = ""
        if getattr(purchase_model, "covariate_design_", None) is not None:
            # The covariates were most likely joined with pandas, which drops attrs.
            hint = (
                " It was fitted with covariates: a summary joined to its covariate table by "
                "summary.join(table), merge or concat has lost the unit rfm_summary recorded. "
                "Join them with clvpredict.attach_covariates(summary, table), which keeps it, "
                "and fit again."
            )
        raise ClvDataError(
            f"The {type(purchase_model).__name__} does not know its time unit. Fit it on a summary "
            "from rfm_summary / calibration_holdout_summary (which record the unit) or pass "
            f"time_unit='W' (or 'D', 'M', 'Y') when creating the model.{hint}"
        )
    if unit is not None and data_unit is not None and check_time_unit(data_unit) != unit:
        raise ClvDataError(
            f"The data are measured in time_unit={data_unit!r} but the "
            f"{type(purchase_model).__name__} was fitted in {unit!r}: recency, T and the holdout "
            "duration would be read in the wrong unit. Rebuild the summary with "
            f"time_unit={unit!r}."
        )
    return check_time_unit(unit if unit is not None else data_unit)

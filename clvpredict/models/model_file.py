"""The model file of one fitted model: a self-describing, checksummed JSON document.

A model file holds the schema version, the model class, its settings and parameters, the
covariance, the time unit, fit statistics, the clvpredict version, a creation timestamp, and a
fingerprint plus summary statistics of the training data (the data itself is not stored). No
pickle: a model file can be read by any JSON tool and loading one never executes code.

Floats are written with Python's shortest round-trip representation, so a loaded model predicts
bit for bit what the saved one did. ``NaN`` (e.g. unavailable standard errors) is written as
``null``. A SHA-256 checksum over the canonical document detects any corruption, and the content
itself is checked on loading (parameters, covariance, time unit, convergence flag).

This module belongs to the models: it finds a class through the registry, by the name the file
stores, and imports no model module. Bundles of two models with their CLV settings, and
:func:`clvpredict.load_model`, are in :mod:`clvpredict.persistence`.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from .._fitting import FitResult
from .._registry import all_models, model_class_named
from .._units import check_time_unit
from .._validation import check_is_fitted
from .._version import __version__
from ..data.covariates import CovariateDesign
from ..exceptions import ClvDataError
from ..publishing import write_bytes_atomic

__all__ = [
    "SCHEMA_VERSION",
    "ModelFileError",
    "model_from_dict",
    "model_to_dict",
    "save_model",
    "write_text_atomic",
]

#: Version of the model-file layout; bumped whenever a field changes meaning.
SCHEMA_VERSION = 1
_FORMAT = "clvpredict-model"
_BUNDLE_FORMAT = "clvpredict-bundle"


#: Settings added after the first model files, with their defaults: left out of the file when
#: at the default.
_LATER_SETTINGS: dict[str, Any] = {
    "penalizer_coef": 0,
    "purchase_covariates": (),
    "dropout_covariates": (),
    "shared_covariates": (),
    "categorical_covariates": (),
    "reference_levels": None,
    "covariate_penalty": 0,
}


class ModelFileError(ClvDataError):
    """A model file is missing, corrupted, or of an unknown schema version."""


def _plain(value: Any) -> Any:
    """JSON-ready copy: numpy scalars to Python, NaN/inf to None."""
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if isinstance(value, np.ndarray):
        return _plain(value.tolist())
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def _nan(value: Any) -> float:
    return float("nan") if value is None else float(value)


def _checksum(document: dict[str, Any]) -> str:
    body = {k: v for k, v in document.items() if k != "checksum"}
    canonical = json.dumps(body, sort_keys=True, separators=(",", ":"), allow_nan=False)
    return "sha256:" + hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def model_to_dict(model: Any) -> dict[str, Any]:
    """The JSON document of a fitted model (see the module docstring for its fields)."""

    check_is_fitted(model)
    result: FitResult | None = getattr(model, "fit_result_", None)
    settings = {k: v for k, v in vars(model).items() if not k.endswith("_")}
    for name, default in _LATER_SETTINGS.items():
        value = settings.get(name, default)
        if value is None or value == default or (isinstance(value, list | tuple) and not value):
            # A model that does not use a later setting keeps the file it had before the
            # setting existed, which older clvpredict reads.
            settings.pop(name, None)
    document: dict[str, Any] = {
        "format": _FORMAT,
        "schema_version": SCHEMA_VERSION,
        "model_class": type(model).__name__,
        "clvpredict_version": __version__,
        "created_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "settings": settings,
        "time_unit": getattr(model, "time_unit_", None),
        "params": {k: float(v) for k, v in model.params_.items()},
        "covariance": model.covariance_.to_numpy().tolist(),
        "fit": {
            "log_likelihood": model.log_likelihood_,
            "aic": model.aic_,
            "bic": model.bic_,
            "n_obs": model.n_obs_,
            "converged": model.converged_,
            "n_iterations": result.n_iterations if result else None,
            "n_unique": result.n_unique if result else None,
            "gradient_norm": result.gradient_norm if result else None,
            "message": result.message if result else None,
            "notes": list(result.notes) if result else [],
        },
        "training_data": getattr(model, "training_data_", None),
    }
    design = getattr(model, "covariate_design_", None)
    if design is not None:
        # Written only for a model with covariates: other files stay as they were.
        document["covariate_design"] = design.to_dict()
        document["fit"]["null_log_likelihood"] = getattr(model, "null_log_likelihood_", None)
    document = _plain(document)
    document["checksum"] = _checksum(document)
    return document


def model_from_dict(document: dict[str, Any], source: str = "the document") -> Any:
    """Rebuild a fitted model from :func:`model_to_dict`'s document, checking it first."""
    _check_envelope(document, source)
    if document.get("format") != _FORMAT:
        raise ModelFileError(f"{source} is a model bundle; load it with clvpredict.load_model.")
    name = document.get("model_class")
    cls = model_class_named(name) if isinstance(name, str) else None
    if cls is None:
        known = sorted(spec.cls.__name__ for spec in all_models())
        raise ModelFileError(f"{source} holds an unknown model class {name!r}; known: {known}.")
    try:
        settings = dict(document["settings"])
        model = cls(**settings)
        if document.get("covariate_design") is not None:
            model.covariate_design_ = _checked_design(document["covariate_design"], source)
        names = model._parameter_names()
        params = _checked_file_params(cls, document["params"], source, names)
        model.params_ = pd.Series(params, index=names, name="estimate")
        cov = _checked_covariance(document["covariance"], names, source)
        model.covariance_ = pd.DataFrame(cov, index=names, columns=names)
        model.standard_errors_ = pd.Series(np.sqrt(np.diag(cov)), index=names, name="std_error")
        fit = document["fit"]
        model.log_likelihood_ = _nan(fit["log_likelihood"])
        model.aic_ = _nan(fit["aic"])
        model.bic_ = _nan(fit["bic"])
        model.n_obs_ = _nan(fit["n_obs"])
        model.converged_ = fit["converged"]
        if not any(model.converged_ is v for v in (True, False, None)):
            raise ModelFileError(
                f"{source} has fit.converged = {model.converged_!r}; it must be true, false or "
                "null. The file was edited or corrupted: re-fit the model."
            )
        model.time_unit_ = _checked_file_unit(cls, document["time_unit"], settings, source)
        if fit.get("null_log_likelihood") is not None:
            model.null_log_likelihood_ = float(fit["null_log_likelihood"])
        model.training_data_ = document.get("training_data")
        if fit.get("n_iterations") is not None:
            model.fit_result_ = FitResult(
                params=model.params_.to_numpy(),
                log_likelihood=model.log_likelihood_,
                covariance=cov,
                converged=bool(fit["converged"]),
                n_iterations=int(fit["n_iterations"]),
                message=str(fit.get("message", "")),
                gradient_norm=_nan(fit.get("gradient_norm")),
                n_obs=model.n_obs_,
                n_unique=int(fit.get("n_unique") or 0),
                notes=list(fit.get("notes", [])),
            )
    except ModelFileError:
        raise
    except (KeyError, TypeError, ValueError) as exc:
        raise ModelFileError(f"{source} is incomplete or malformed ({exc!r}).") from exc
    model.model_file_ = {k: document.get(k) for k in ("created_at", "clvpredict_version")}
    return model


def _checked_file_params(
    cls: type, params: Any, source: str, names: list[str] | None = None
) -> np.ndarray:
    """The parameters of a model file, held to the standard of ``from_params``; a model with
    covariates also has its coefficients (``names`` after the class's own), finite numbers of
    any sign."""
    if not isinstance(params, dict):
        raise ModelFileError(f"{source} has params = {params!r}; expected an object of numbers.")
    own = list(cls._param_names)
    names = own if names is None else names
    coefficients = [n for n in names if n not in own]
    try:
        values = cls._checked_params({k: v for k, v in params.items() if k not in coefficients})
        missing = [n for n in coefficients if n not in params]
        if missing:
            raise ClvDataError(f"{cls.__name__} with covariates needs coefficients {missing}.")
        bad = [
            f"{n}={params[n]!r}"
            for n in coefficients
            if isinstance(params[n], bool)
            or not isinstance(params[n], int | float)
            or not math.isfinite(params[n])
        ]
        if bad:
            raise ClvDataError(f"Covariate coefficients must be finite numbers; got {bad}.")
    except ClvDataError as exc:
        raise ModelFileError(
            f"{source}: {exc} A fitted model cannot have them: the file was edited or "
            "corrupted. Re-fit the model or restore the file from a backup."
        ) from exc
    return np.concatenate([values, [float(params[n]) for n in coefficients]])


def _checked_design(document: Any, source: str) -> CovariateDesign:
    """The covariate design of a model file, or a :class:`ModelFileError` saying why not."""
    try:
        return CovariateDesign.from_dict(document)
    except (ClvDataError, KeyError, TypeError, ValueError) as exc:
        raise ModelFileError(
            f"{source} has a covariate design that cannot be read ({exc}); the file was edited "
            "or corrupted: re-fit the model."
        ) from exc


def _checked_covariance(rows: Any, names: list[str], source: str) -> np.ndarray:
    """A k x k covariance of numbers, ``null`` (unavailable) read as NaN."""
    k = len(names)
    shape_ok = (
        isinstance(rows, list)
        and len(rows) == k
        and all(isinstance(row, list) and len(row) == k for row in rows)
    )
    if not shape_ok:
        raise ModelFileError(
            f"{source} has a covariance that is not a {k} x {k} table ({names}); the file was "
            "edited or corrupted: re-fit the model."
        )
    cells = [v for row in rows for v in row]
    bad = [
        v
        for v in cells
        if v is not None
        and (isinstance(v, bool) or not isinstance(v, int | float) or not math.isfinite(v))
    ]
    if bad:
        raise ModelFileError(
            f"{source} has covariance entries {bad[:3]!r} that are neither finite numbers nor "
            "null; the file was edited or corrupted: re-fit the model."
        )
    return np.array([_nan(v) for v in cells], dtype=float).reshape(k, k)


def _checked_file_unit(cls: type, unit: Any, settings: dict[str, Any], source: str) -> Any:
    """The time unit of a model file: a known code, or null; null for a model without time."""

    if not cls._uses_time:
        if unit is not None:
            raise ModelFileError(
                f"{source} gives the {cls.__name__}, which does not model time, the time unit "
                f"{unit!r}; the file was edited or corrupted: re-fit the model."
            )
        return None
    for label, value in (("time_unit", unit), ("settings.time_unit", settings.get("time_unit"))):
        if value is not None:
            try:
                check_time_unit(value, label)
            except ClvDataError as exc:
                raise ModelFileError(f"{source}: {exc}") from exc
    return None if unit is None else check_time_unit(unit)


def _check_envelope(document: Any, source: str) -> None:
    """Format marker, schema version and checksum of a model or bundle document."""
    if not isinstance(document, dict) or document.get("format") not in (_FORMAT, _BUNDLE_FORMAT):
        raise ModelFileError(f"{source} is not a clvpredict model file (no 'format' marker).")
    version = document.get("schema_version")
    if version != SCHEMA_VERSION:
        raise ModelFileError(
            f"{source} has model-file schema version {version!r}; this clvpredict "
            f"({_installed_version()}) reads version {SCHEMA_VERSION}. Re-fit the model, or use "
            f"the clvpredict version that wrote it ({document.get('clvpredict_version')!r})."
        )
    try:
        expected = _checksum(document)
    except ValueError as exc:
        # NaN or Infinity: not JSON, so never written by save().
        raise ModelFileError(
            f"{source} holds a number that JSON does not allow ({exc}); the file was edited or "
            "corrupted. Restore it from a backup or re-fit the model."
        ) from exc
    if document.get("checksum") != expected:
        raise ModelFileError(
            f"{source} is corrupted: its checksum does not match its content. Restore it from a "
            "backup or re-fit the model."
        )


def _installed_version() -> str:
    return __version__


def write_text_atomic(text: str, path: str | os.PathLike[str]) -> Path:
    """Write ``text`` (UTF-8) to ``path`` via a temporary file in the same folder and a rename.

    Readers see either the old file or the complete new one, never a half-written file; see
    :func:`clvpredict.publishing.write_bytes_atomic`.
    """
    return write_bytes_atomic(text.encode("utf-8"), path)


def save_model(model: Any, path: str | os.PathLike[str]) -> Path:
    """Write ``model`` to ``path`` as JSON, atomically. Returns the path."""
    text = json.dumps(model_to_dict(model), indent=2, allow_nan=False) + "\n"
    return write_text_atomic(text, path)

"""Model files: fitted models as self-describing, checksummed JSON documents.

A model file holds the schema version, the model class, its settings and parameters, the
covariance, the time unit, fit statistics, the clvpredict version, a creation timestamp, and a
fingerprint plus summary statistics of the training data (the data itself is not stored). No
pickle: a model file can be read by any JSON tool and loading one never executes code.

Floats are written with Python's shortest round-trip representation, so a loaded model predicts
bit for bit what the saved one did. ``NaN`` (e.g. unavailable standard errors) is written as
``null``. A SHA-256 checksum over the canonical document detects any corruption.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import shutil
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ._fitting import FitResult
from .exceptions import ClvDataError

__all__ = [
    "SCHEMA_VERSION",
    "ModelBundle",
    "ModelFileError",
    "load_model",
    "model_from_dict",
    "model_to_dict",
]

#: Version of the model-file layout; bumped whenever a field changes meaning.
SCHEMA_VERSION = 1
_FORMAT = "clvpredict-model"
_BUNDLE_FORMAT = "clvpredict-bundle"


class ModelFileError(ClvDataError):
    """A model file is missing, corrupted, or of an unknown schema version."""


def _model_classes() -> dict[str, type]:
    from .beta_geo import BetaGeoModel
    from .beta_geo_beta_binom import BetaGeoBetaBinomModel
    from .gamma_gamma import GammaGammaModel
    from .modified_beta_geo import ModifiedBetaGeoModel
    from .pareto_nbd import ParetoNBDModel

    return {
        cls.__name__: cls
        for cls in (
            BetaGeoModel,
            ModifiedBetaGeoModel,
            ParetoNBDModel,
            BetaGeoBetaBinomModel,
            GammaGammaModel,
        )
    }


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
    from . import __version__

    model._check_fitted()
    result: FitResult | None = getattr(model, "fit_result_", None)
    settings = {k: v for k, v in vars(model).items() if not k.endswith("_")}
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
    document = _plain(document)
    document["checksum"] = _checksum(document)
    return document


def model_from_dict(document: dict[str, Any], source: str = "the document") -> Any:
    """Rebuild a fitted model from :func:`model_to_dict`'s document, checking it first."""
    _check_envelope(document, source)
    if document.get("format") != _FORMAT:
        raise ModelFileError(f"{source} is a model bundle; load it with clvpredict.load_model.")
    classes = _model_classes()
    name = document.get("model_class")
    if name not in classes:
        raise ModelFileError(
            f"{source} holds an unknown model class {name!r}; known: {sorted(classes)}."
        )
    cls = classes[name]
    try:
        settings = dict(document["settings"])
        model = cls(**settings)
        names = list(cls._param_names)
        params = document["params"]
        model.params_ = pd.Series([float(params[n]) for n in names], index=names, name="estimate")
        cov = np.array(
            [[_nan(v) for v in row] for row in document["covariance"]], dtype=float
        ).reshape(len(names), len(names))
        model.covariance_ = pd.DataFrame(cov, index=names, columns=names)
        model.standard_errors_ = pd.Series(np.sqrt(np.diag(cov)), index=names, name="std_error")
        fit = document["fit"]
        model.log_likelihood_ = _nan(fit["log_likelihood"])
        model.aic_ = _nan(fit["aic"])
        model.bic_ = _nan(fit["bic"])
        model.n_obs_ = _nan(fit["n_obs"])
        model.converged_ = fit["converged"]
        model.time_unit_ = document["time_unit"]
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
    except (KeyError, TypeError, ValueError) as exc:
        raise ModelFileError(f"{source} is incomplete or malformed ({exc!r}).") from exc
    model.model_file_ = {k: document.get(k) for k in ("created_at", "clvpredict_version")}
    return model


@dataclass
class ModelBundle:
    """A purchase model, a spend model and the CLV settings that go with them.

    This is what the command line's ``fit`` and ``refresh`` publish and ``score`` reads: one
    file from which a reporting job can score customers the same way every night.

    Attributes
    ----------
    purchase_model, spend_model
        Fitted models.
    settings : dict
        CLV settings (``horizon_months``, ``annual_discount_rate``, ``margin``,
        ``lifetime_years``) and provenance (e.g. ``observation_end``, column names).

    Examples
    --------
    >>> import clvpredict as cp
    >>> s = cp.rfm_summary(cp.datasets.load_cdnow(), "customer_id", "date", "amount", time_unit="W")
    >>> bundle = cp.ModelBundle(cp.BetaGeoModel().fit(s), cp.GammaGammaModel().fit(s),
    ...                         {"lifetime_years": 1.0, "horizon_months": 12,
    ...                          "annual_discount_rate": 0.1, "margin": 1.0})
    >>> list(bundle.score(s).columns[:4])
    ['frequency', 'recency', 'T', 'monetary_value']
    """

    purchase_model: Any
    spend_model: Any
    settings: dict[str, Any] = field(default_factory=dict)

    def score(self, data: pd.DataFrame) -> pd.DataFrame:
        """The per-customer CLV table (:func:`~clvpredict.clv_table`) with the stored settings."""
        from .clv import clv_table

        keys = ("lifetime_years", "horizon_months", "annual_discount_rate", "margin")
        return clv_table(
            self.purchase_model,
            self.spend_model,
            data,
            **{k: self.settings[k] for k in keys if k in self.settings},
        )

    def to_dict(self) -> dict[str, Any]:
        """The JSON document: both model documents plus the settings, checksummed."""
        from . import __version__

        document = _plain(
            {
                "format": _BUNDLE_FORMAT,
                "schema_version": SCHEMA_VERSION,
                "clvpredict_version": __version__,
                "created_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
                "settings": self.settings,
                "purchase_model": model_to_dict(self.purchase_model),
                "spend_model": model_to_dict(self.spend_model),
            }
        )
        document["checksum"] = _checksum(document)
        return document

    def save(self, path: str | os.PathLike[str]) -> Path:
        """Write the bundle as JSON, atomically. Returns the path."""
        text = json.dumps(self.to_dict(), indent=2, allow_nan=False) + "\n"
        return write_text_atomic(text, path)


def _bundle_from_dict(document: dict[str, Any], source: str) -> ModelBundle:
    _check_envelope(document, source)
    try:
        purchase = model_from_dict(document["purchase_model"], f"{source} (purchase model)")
        spend = model_from_dict(document["spend_model"], f"{source} (spend model)")
        settings = dict(document["settings"])
    except (KeyError, TypeError) as exc:
        raise ModelFileError(f"{source} is incomplete or malformed ({exc!r}).") from exc
    from .pipeline import check_bundle_settings

    # An older version could write settings that scoring cannot use (margin = "0.3").
    return ModelBundle(purchase, spend, check_bundle_settings(settings, source))


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
    if document.get("checksum") != _checksum(document):
        raise ModelFileError(
            f"{source} is corrupted: its checksum does not match its content. Restore it from a "
            "backup or re-fit the model."
        )


def _installed_version() -> str:
    from . import __version__

    return __version__


def default_file_mode() -> int:
    """The mode a plain ``open(..., "w")`` would give: 0o666 minus the process umask.

    Temporary files are created 0o600; published files must be readable like any other output.
    """
    umask = os.umask(0)
    os.umask(umask)
    return 0o666 & ~umask


def write_text_atomic(text: str, path: str | os.PathLike[str]) -> Path:
    """Write ``text`` to ``path`` via a temporary file in the same folder and a rename.

    Readers see either the old file or the complete new one, never a half-written file.
    """
    path = Path(path)
    publish_atomically(path.parent, {path.name: text.encode("utf-8")})
    return path


def publish_atomically(out: Path, files: Mapping[str, bytes]) -> None:
    """Write every file or none: stage all, then rename into place, rolling back on failure.

    Parameters
    ----------
    out : Path
        Output folder (created if needed).
    files : mapping of relative path to content
        What to publish.

    Notes
    -----
    Each staged file lives next to its target, so the rename is atomic. Before renaming, the
    current version of each target is hard-linked to a backup; if a rename fails, the targets
    already replaced are restored from their backups (or removed if they are new), so readers
    find the previous outputs byte for byte.
    """
    out.mkdir(parents=True, exist_ok=True)
    staged: dict[Path, Path] = {}
    backups: dict[Path, Path] = {}
    replaced: list[Path] = []
    try:
        for name, content in files.items():
            target = out / name
            target.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
            staged[target] = Path(tmp)
            with os.fdopen(fd, "wb") as handle:
                handle.write(content)
                handle.flush()
                os.fsync(handle.fileno())
            os.chmod(tmp, default_file_mode())
        for target in staged:
            if target.exists():
                backup = target.with_name(f".{target.name}.previous")
                backup.unlink(missing_ok=True)
                try:
                    os.link(target, backup)
                except OSError:
                    # No hard links on this file system: a copy serves the same purpose.
                    shutil.copy2(target, backup)
                backups[target] = backup
        for target, tmp in staged.items():
            os.replace(tmp, target)
            replaced.append(target)
    except BaseException:
        for target in reversed(replaced):
            if target in backups:
                os.replace(backups.pop(target), target)
            else:
                target.unlink(missing_ok=True)
        raise
    finally:
        for tmp in staged.values():
            tmp.unlink(missing_ok=True)
        for backup in backups.values():
            backup.unlink(missing_ok=True)


def save_model(model: Any, path: str | os.PathLike[str]) -> Path:
    """Write ``model`` to ``path`` as JSON, atomically. Returns the path."""
    text = json.dumps(model_to_dict(model), indent=2, allow_nan=False) + "\n"
    return write_text_atomic(text, path)


def load_model(path: str | os.PathLike[str]) -> Any:
    """Load a model saved with ``model.save(path)``.

    Parameters
    ----------
    path : str or path
        A JSON model file.

    Returns
    -------
    model or ModelBundle
        A fitted :class:`~clvpredict.BetaGeoModel` or :class:`~clvpredict.GammaGammaModel` that
        predicts exactly what the saved one did, or a :class:`ModelBundle` (both models and the
        CLV settings) for files written by ``clvpredict fit`` / ``refresh``.

    Raises
    ------
    ModelFileError
        The file is missing, not JSON, corrupted (checksum mismatch), or of an unknown schema
        version. ``ModelFileError`` is a :class:`~clvpredict.ClvDataError`.

    Examples
    --------
    >>> import tempfile, os
    >>> import clvpredict as cp
    >>> summary = cp.datasets.load_cdnow_summary()
    >>> model = cp.BetaGeoModel().fit(summary)
    >>> path = os.path.join(tempfile.mkdtemp(), "bgnbd.json")
    >>> _ = model.save(path)
    >>> loaded = cp.load_model(path)
    >>> loaded.expected_purchases(39, summary).equals(model.expected_purchases(39, summary))
    True
    """
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError as exc:
        raise ModelFileError(f"Model file {str(path)!r} does not exist.") from exc
    except (OSError, UnicodeDecodeError) as exc:
        raise ModelFileError(f"Model file {str(path)!r} cannot be read: {exc}.") from exc
    try:
        document = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ModelFileError(
            f"Model file {str(path)!r} is not valid JSON ({exc}); it is corrupted or truncated."
        ) from exc
    source = f"Model file {str(path)!r}"
    if isinstance(document, dict) and document.get("format") == _BUNDLE_FORMAT:
        return _bundle_from_dict(document, source)
    return model_from_dict(document, source=source)

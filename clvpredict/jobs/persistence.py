"""Model bundles and loading: a purchase model, a spend model and their CLV settings in one
checksummed JSON file, and :func:`load_model` for every file clvpredict writes.

The format of one model's document is in :mod:`clvpredict.model_file` (re-exported here).

Saving writes a temporary file beside the target, fsyncs it and renames it over the target, so a
reader finds the previous file or the complete new one, also if the writer is killed; a
temporary file a killed writer left is removed by the next save to the same path. Several files
that must change together (the nightly refresh) are published by
:mod:`clvpredict.publishing`.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pandas as pd

from .._version import __version__
from ..clv import clv_table
from ..models.model_file import (
    _BUNDLE_FORMAT,
    SCHEMA_VERSION,
    ModelFileError,
    _check_envelope,
    _checksum,
    _plain,
    model_from_dict,
    model_to_dict,
    write_text_atomic,
)
from .settings import check_bundle_settings

__all__ = [
    "SCHEMA_VERSION",
    "ModelBundle",
    "ModelFileError",
    "load_model",
    "model_from_dict",
    "model_to_dict",
]


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

    def score(self, data: pd.DataFrame, *, allow_unconverged: bool = False) -> pd.DataFrame:
        """The per-customer CLV table (:func:`~clvpredict.clv_table`) with the stored settings.

        A bundle whose purchase or spend model did not converge raises
        :class:`~clvpredict.ConvergenceError` unless ``allow_unconverged=True``.
        """
        keys = ("lifetime_years", "horizon_months", "annual_discount_rate", "margin", "currency")
        return clv_table(
            self.purchase_model,
            self.spend_model,
            data,
            **{k: self.settings[k] for k in keys if k in self.settings},
            allow_unconverged=allow_unconverged,
        )

    def to_dict(self) -> dict[str, Any]:
        """The JSON document: both model documents plus the settings, checksummed."""

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
    # An older version could write settings that scoring cannot use (margin = "0.3").
    return ModelBundle(purchase, spend, check_bundle_settings(settings, source))


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

"""The one list of models, filled as each model class is defined.

A model class joins the registry by declaring a ``kind`` (its name in settings and on the
command line), a ``label`` (its short name in tables and plots) and a ``citation``; nothing else
anywhere lists the models. Persistence finds a class by the name stored in a model file, the
jobs by ``kind``, evaluation and the report by role, and the common tests run over all of them,
so adding a model is one new module.

The registry is complete once :mod:`clvpredict` is imported (its ``__init__`` imports every
model module); look-ups happen at call time, never at import time.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from .exceptions import ClvDataError

__all__ = ["ModelSpec", "all_models", "model_class_named", "model_spec", "register"]

Role = Literal["purchase", "spend"]


@dataclass(frozen=True)
class ModelSpec:
    """What the rest of the package needs to know about one model class."""

    kind: str
    label: str
    citation: str
    role: Role
    discrete_time: bool
    cls: type
    #: Whether the model takes customer covariates (``purchase_covariates=`` ...).
    covariates: bool = False

    @property
    def title(self) -> str:
        """Label and source, e.g. ``"BG/NBD (Fader, Hardie & Lee 2005)"``."""
        return f"{self.label} ({self.citation})"


_MODELS: dict[str, ModelSpec] = {}


def register(cls: type, role: Role) -> ModelSpec:
    """Add ``cls`` (a model class that declares ``kind``, ``label`` and ``citation``)."""
    kind = cls.__dict__["kind"]
    label, citation = getattr(cls, "label", ""), getattr(cls, "citation", "")
    if not (isinstance(kind, str) and kind and label and citation):
        raise TypeError(f"{cls.__qualname__} must declare a kind, a label and a citation.")
    known = _MODELS.get(kind)
    # A module reloaded (importlib.reload) defines its class again: the new one replaces it.
    if known is not None and (known.cls.__module__, known.cls.__qualname__) != (
        cls.__module__,
        cls.__qualname__,
    ):
        raise TypeError(f"kind {kind!r} is taken by {known.cls.__qualname__}.")
    spec = ModelSpec(
        kind,
        label,
        citation,
        role,
        bool(getattr(cls, "discrete_time", False)),
        cls,
        bool(getattr(cls, "takes_covariates", False)),
    )
    _MODELS[kind] = spec
    return spec


def all_models(
    role: Role | None = None,
    *,
    discrete_time: bool | None = None,
    covariates: bool | None = None,
) -> list[ModelSpec]:
    """Registered models, optionally of one role, time kind and ability to take covariates:
    purchase models in continuous time, then in discrete time, then spend models; within each,
    in the order defined."""
    chosen = [
        spec
        for spec in _MODELS.values()
        if (role is None or spec.role == role)
        and (discrete_time is None or spec.discrete_time == discrete_time)
        and (covariates is None or spec.covariates == covariates)
    ]
    # sorted() is stable: ties keep the order of definition.
    return sorted(chosen, key=lambda spec: (spec.role != "purchase", spec.discrete_time))


def model_spec(kind: str, role: Role | None = None, setting: str = "kind") -> ModelSpec:
    """The registered model of this ``kind`` (e.g. ``"bgnbd"``), or a :class:`ClvDataError`
    naming the known ones."""
    spec = _MODELS.get(kind) if isinstance(kind, str) else None
    if spec is None or (role is not None and spec.role != role):
        known = [s.kind for s in all_models(role)]
        raise ClvDataError(f"{setting}={kind!r} is not one of {known}.")
    return spec


def model_class_named(name: str) -> type | None:
    """The registered class called ``name`` (as model files store it), or None."""
    for spec in _MODELS.values():
        if spec.cls.__name__ == name:
            return spec.cls
    return None

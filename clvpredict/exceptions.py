"""Exception and warning types raised by clvpredict.

Every error caused by the caller's data or settings is a :class:`ClvDataError`, which subclasses
``ValueError`` so that generic ``except ValueError`` handlers keep working, while
``except clvpredict.ClvError`` catches everything that this package raises on purpose.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

__all__ = [
    "ClvDataError",
    "ClvError",
    "ConvergenceError",
    "ConvergenceWarning",
    "NotFittedError",
]


class ClvError(Exception):
    """Base class of every exception that clvpredict raises deliberately."""


class ClvDataError(ClvError, ValueError):
    """The input data or a setting is invalid.

    The message names the offending column (or argument), shows a few offending values and says
    how to fix it.
    """


class NotFittedError(ClvError, AttributeError):
    """A model was used for prediction before ``fit`` (or ``load_model``)."""


class ConvergenceError(ClvError, RuntimeError):
    """Maximum-likelihood estimation did not converge and the caller asked for an exception."""


class ConvergenceWarning(UserWarning):
    """Maximum-likelihood estimation did not converge; the fitted values are not trustworthy."""


def describe_values(values: Iterable[Any], limit: int = 5) -> str:
    """Render at most ``limit`` offending values for an error message."""
    values = list(values)
    # numpy scalars as the plain numbers they are: -1.0, not np.float64(-1.0) (numpy 2's repr).
    shown = ", ".join(
        repr(v.item() if hasattr(v, "item") and hasattr(v, "dtype") else v) for v in values[:limit]
    )
    more = len(values) - limit
    return shown + (f", ... ({more} more)" if more > 0 else "")

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
    "ReferenceLevelError",
]


class ClvError(Exception):
    """Base class of every exception that clvpredict raises deliberately."""


class ClvDataError(ClvError, ValueError):
    """The input data or a setting is invalid.

    The message names the offending column (or argument), shows a few offending values and says
    how to fix it.
    """


class ReferenceLevelError(ClvDataError):
    """A reference level that ``reference_levels`` names cannot be used: the fitting data do
    not have it as a level of the covariate, or the covariate is numeric.

    Attributes
    ----------
    column : str
        The covariate whose reference level it is, so that a caller that chose the level (a
        nightly refresh keeping last night's) can say so without reading the message.
    """

    def __init__(self, message: str, column: str) -> None:
        super().__init__(message)
        self.column = column

    def __reduce__(self) -> tuple[Any, ...]:
        # Pickled by its message and column (across processes), not by the message alone.
        return (type(self), (str(self), self.column))


class NotFittedError(ClvError, AttributeError):
    """A model was used for prediction before ``fit`` (or ``load_model``)."""


class ConvergenceError(ClvError, RuntimeError):
    """Maximum-likelihood estimation did not converge and the caller asked for an exception."""


class ConvergenceWarning(UserWarning):
    """Maximum-likelihood estimation did not converge; the fitted values are not trustworthy."""


def describe_values(values: Iterable[Any], limit: int = 5, total: int | None = None) -> str:
    """Render at most ``limit`` offending values for an error message. ``total`` is how many
    there are, when ``values`` are only the first of them (a query's first rows)."""
    values = list(values)
    # numpy scalars as the plain numbers they are: -1.0, not np.float64(-1.0) (numpy 2's repr).
    shown = ", ".join(
        repr(v.item() if hasattr(v, "item") and hasattr(v, "dtype") else v) for v in values[:limit]
    )
    more = (len(values) if total is None else total) - limit
    return shown + (f", ... ({more} more)" if more > 0 else "")

"""Parameter uncertainty propagated to predictions by simulation.

What the intervals cover
------------------------
The estimates of a model's parameters are uncertain; their sampling distribution is approximately
normal on the log scale with the covariance from the observed information (the Hessian at the
optimum). clvpredict draws parameter vectors from that distribution, recomputes the prediction
for every draw, and reports quantiles. The interval therefore says *how well the data pin down
the expected value* (e.g. of a customer's purchases or CLV). It does **not** cover the
randomness of what an individual customer will actually do: a customer expected to buy 1.2 times
will buy 0, 1, 2 or more times. For that, see the model's own distribution of purchase counts,
e.g. :meth:`clvpredict.BetaGeoModel.purchases_predictive_interval`. It also does not cover
model misspecification; the holdout checks in :mod:`clvpredict.evaluation` speak to that.

Draws are processed in blocks of customers so that no draws x customers matrix larger than
``block_rows x n_draws`` is held at once.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd

from .._progress import progress
from ..exceptions import ClvDataError

__all__ = ["interval_columns", "parameter_draws", "simulate_quantiles"]

#: Customers per block when propagating draws (rows x draws floats are held at once).
BLOCK_ROWS = 20_000


def parameter_draws(
    model: object, n_draws: int, rng: np.random.Generator | int | None
) -> np.ndarray:
    """Parameter vectors drawn from the asymptotic normal of the log-parameters.

    ``log theta ~ N(log theta_hat, D^-1 Sigma D^-1)`` with ``D = diag(theta_hat)`` (the delta
    method), so every draw is positive.

    Parameters
    ----------
    model : fitted model
        With ``params_`` and ``covariance_``.
    n_draws : int
        Number of draws (at least 2).
    rng : Generator, int or None
        Random source or seed (``None`` for a fresh one).

    Returns
    -------
    ndarray, shape (n_draws, n_params)
    """
    if not isinstance(n_draws, int | np.integer) or n_draws < 2:
        raise ClvDataError(f"n_draws={n_draws!r} must be a whole number >= 2.")
    theta = model.params_.to_numpy(dtype=float)
    cov = model.covariance_.to_numpy(dtype=float)
    if not np.all(np.isfinite(cov)):
        raise ClvDataError(
            f"The {type(model).__name__} has no covariance (standard errors unavailable: the fit "
            "did not converge, or the parameters were given rather than estimated), so parameter "
            "uncertainty cannot be propagated. Fit the model on data first."
        )
    positive_of = getattr(model, "_positive_parameters", None)
    positive = np.ones(len(theta), dtype=bool) if positive_of is None else positive_of()
    # Positive parameters are drawn on the log scale; covariate coefficients as they are.
    scale = np.where(positive, theta, 1.0)
    centre = np.where(positive, np.log(np.where(positive, theta, 1.0)), theta)
    generator = np.random.default_rng(rng)
    draws = generator.multivariate_normal(centre, cov / np.outer(scale, scale), size=n_draws)
    return np.where(positive, np.exp(np.where(positive, draws, 0.0)), draws)


def check_level(level: float) -> float:
    """Validate a central interval level such as 0.9."""
    if not isinstance(level, int | float) or not 0 < level < 1:
        raise ClvDataError(f"interval={level!r} must be a probability between 0 and 1, e.g. 0.9.")
    return float(level)


def simulate_quantiles(
    n_rows: int,
    evaluate: Callable[[np.ndarray, np.ndarray], np.ndarray],
    draws: np.ndarray,
    level: float,
    block_rows: int = BLOCK_ROWS,
) -> tuple[np.ndarray, np.ndarray]:
    """Lower and upper quantiles over parameter draws, computed block by block.

    Parameters
    ----------
    n_rows : int
        Number of rows (customers) to predict for.
    evaluate : callable
        ``evaluate(rows, theta)`` returns the prediction for the row positions ``rows`` at one
        parameter draw ``theta``.
    draws : ndarray, shape (n_draws, n_params)
        Parameter draws (rows), e.g. from :func:`parameter_draws`.
    level : float
        Central interval level.

    Returns
    -------
    lower, upper : ndarray
        Per-row ``(1 - level) / 2`` and ``(1 + level) / 2`` quantiles.
    """
    level = check_level(level)
    lower = np.empty(n_rows)
    upper = np.empty(n_rows)
    q = [(1 - level) / 2, (1 + level) / 2]
    starts = range(0, n_rows, block_rows)
    steps = progress(
        ((start, d) for start in starts for d in range(len(draws))),
        total=len(starts) * len(draws),
        desc=f"intervals: {len(draws)} parameter draws x {n_rows:,} distinct rows",
        unit="draw",
    )
    block = np.empty(0)
    for start, d in steps:
        rows = np.arange(start, min(start + block_rows, n_rows))
        if d == 0:
            block = np.empty((len(rows), len(draws)))
        block[:, d] = evaluate(rows, draws[d])
        if d == len(draws) - 1:
            lower[rows], upper[rows] = np.quantile(block, q, axis=1)
    return lower, upper


def interval_columns(
    name: str, point: np.ndarray, lower: np.ndarray, upper: np.ndarray, index: pd.Index
) -> pd.DataFrame:
    """A frame with the point estimate and its bounds: ``name, name_lower, name_upper``."""
    return pd.DataFrame({name: point, f"{name}_lower": lower, f"{name}_upper": upper}, index=index)

"""Profile-likelihood confidence intervals for the parameters of a fitted model.

For one parameter ``theta_j`` the profile log-likelihood is

    LL_p(v) = max { LL(theta) : theta_j = v },

the best the model can do once ``theta_j`` is pinned at ``v``. By Wilks' theorem the
likelihood-ratio statistic ``2 (LL_max - LL_p(theta_j))`` at the true value is approximately
chi-square with one degree of freedom, so

    { v : 2 (LL_max - LL_p(v)) <= chi2_1(1 - alpha) }

is an approximate ``1 - alpha`` confidence set. Unlike the Wald interval it follows the shape of
the likelihood, so it is not symmetric on the log scale when the likelihood is skewed (the
MBG/NBD at CDNOW size, where Wald intervals are too narrow), and it does not depend on how the
parameter is written: the interval for ``log theta_j`` is the log of the interval for
``theta_j``.

How it is computed, for each parameter and each side:

* everything happens on the log scale of the parameters, relative to the maximum-likelihood
  estimate ``phi_hat = log theta_hat``, with the model's own likelihood and analytic gradient on
  the distinct data rows kept by ``fit`` (so a refit is never needed);
* the distance ``d`` of ``log theta_j`` from ``phi_hat_j`` is increased from the Wald guess until
  the statistic crosses the threshold, each constrained maximisation (L-BFGS-B over the other
  parameters, then Newton steps) warm-started from the nearest points already profiled;
* the crossing is then located by Brent's method on the signed root ``sqrt(statistic)``, which
  is close to linear in ``d``, so few constrained fits are needed.

Nothing is random and no state is kept between calls: the same fitted model gives the same
intervals every time.
"""

from __future__ import annotations

import numbers
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from scipy import optimize, stats

from .._fitting import (
    POLISH_BELOW,
    _coordinates,
    _log_objective,
    _natural,
    _newton_polish,
    serial_blas,
)
from .._progress import progress
from .._validation import check_is_fitted
from ..exceptions import ClvDataError, ConvergenceError, NotFittedError

__all__ = ["profile_likelihood_intervals", "profile_likelihood_ratio"]

#: Default widest search on each side, in units of log-parameter: a factor e^15 (about 3.3e6)
#: from the estimate. A side that has not crossed the threshold by then is reported as open.
MAX_LOG_DISTANCE = 15.0
#: Box for the other parameters during a constrained fit, relative to their estimates (log
#: scale): wide enough never to bind in practice, small enough that exp() never overflows.
_NUISANCE_BOX = 30.0
#: A constrained fit better than the unconstrained one by more than this (log-likelihood units)
#: means the model's fit was not at the maximum.
_LL_SLACK = 1e-6
#: Brent's method stops when the bracket on the log-parameter is this narrow. Near a bound the
#: statistic changes by about 4 / (standard error of log theta) per unit of log theta, so the
#: statistic at the reported bound is exact to far better than 1e-6.
_XTOL = 1e-10

Objective = Callable[[np.ndarray], tuple[float, np.ndarray]]


@serial_blas
def profile_likelihood_intervals(
    model: Any, alpha: float = 0.05, *, max_log_distance: float = MAX_LOG_DISTANCE
) -> pd.DataFrame:
    """Profile-likelihood confidence interval of every parameter of a fitted model.

    Parameters
    ----------
    model : fitted clvpredict model
        Fitted with ``fit(data)`` in this session: the intervals need the data, which the model
        keeps (as its distinct rows) after ``fit``. Models built with ``from_params`` or read
        with ``load_model`` do not have them.
    alpha : float
        1 - confidence level, in (0, 1): 0.05 gives 95% intervals, whose ends are where the
        likelihood-ratio statistic equals the chi-square(1) 95% point, 3.841.
    max_log_distance : float
        How far from the estimate to search, on the natural-log scale of the parameter (default
        15, a factor of about 3.3 million each way). A covariate's coefficient, already on a
        log scale, is searched that far plus the estimate's own distance from 0, so that each
        side reaches past 0.

    Returns
    -------
    DataFrame
        Indexed by parameter name, with columns ``lower`` and ``upper`` in the parameter's own
        units (the same as ``params_``: e.g. ``alpha`` of a purchase model in the model's time
        unit, ``gamma`` of the Gamma-Gamma model in currency). A side on which the statistic
        stays below the threshold all the way to ``max_log_distance`` is *open*: the data do not
        bound the parameter there, and the bound is reported as ``0.0`` (lower) or ``inf``
        (upper), or ``-inf`` (lower) for a covariate's coefficient.

    Raises
    ------
    NotFittedError
        The model has no data to profile: not fitted, or its parameters were given
        (``from_params``) or loaded from a file.
    ClvDataError
        ``alpha`` or ``max_log_distance`` is out of range.
    ConvergenceError
        The model's fit is not at the maximum of its likelihood: a search from it, or one of the
        constrained fits, reached a log-likelihood higher by more than 1e-6 (a fit that did not
        converge, or a second, higher mode).

    Examples
    --------
    >>> from clvpredict import BetaGeoModel
    >>> from clvpredict.datasets import load_cdnow_summary
    >>> model = BetaGeoModel().fit(load_cdnow_summary())
    >>> profile_likelihood_intervals(model).round(3)
                lower  upper
    parameter
    r           0.219  0.269
    alpha       3.724  5.212
    a           0.515  1.319
    b           1.430  4.567
    """
    alpha = _check_alpha(alpha)
    if not (np.isfinite(max_log_distance) and max_log_distance > 0):
        raise ClvDataError(f"max_log_distance={max_log_distance!r} must be a finite number > 0.")
    fitted = _FittedLikelihood.of(model)
    threshold = float(stats.chi2.ppf(1 - alpha, df=1))
    k = len(fitted.names)
    lower = np.empty(k)
    upper = np.empty(k)
    searches = progress(
        [(j, side, out) for j in range(k) for side, out in ((-1.0, lower), (1.0, upper))],
        desc=f"profile intervals of {k} parameters",
        unit="bound",
    )
    for j, side, out in searches:
        profile = fitted.profile(j, side)
        positive = bool(fitted.positive[j])
        # A coefficient's estimate can lie far from 0 when the data barely bound it (a rare
        # level whose customers never bought again runs off to -30): its search must reach
        # past 0, or a bound the likelihood does set would be reported open.
        limit = max_log_distance + (0.0 if positive else abs(float(fitted.centre[j])))
        distance = _find_crossing(profile, threshold, fitted.slope[j, j], limit)
        if distance is None:
            out[j] = (0.0 if positive else -np.inf) if side < 0 else np.inf
        elif positive:
            out[j] = float(np.exp(fitted.centre[j] + side * distance))
        else:
            # A covariate's coefficient is profiled as it is, not on a log scale.
            out[j] = float(fitted.centre[j] + side * distance)
    return pd.DataFrame(
        {"lower": lower, "upper": upper}, index=pd.Index(fitted.names, name="parameter")
    )


@serial_blas
def profile_likelihood_ratio(model: Any, values: Mapping[str, float] | pd.Series) -> pd.Series:
    """Likelihood-ratio statistic of each parameter at a given value, the others profiled out.

    ``2 (LL_max - LL_p(v))`` for each ``name: v`` in ``values``, one parameter at a time. It is
    the statistic whose level sets :func:`profile_likelihood_intervals` reports: ``v`` lies
    inside the ``1 - alpha`` interval when the statistic is below ``chi2_1(1 - alpha)`` (for a
    profile that rises steadily away from the estimate, as it does in every case met so far).
    Simulation studies use it to read coverage at every level from one constrained fit per
    parameter.

    Parameters
    ----------
    model : fitted clvpredict model
        As for :func:`profile_likelihood_intervals`.
    values : mapping or Series
        Parameter name to value (> 0, in the parameter's units), for any subset of parameters.

    Returns
    -------
    Series
        The statistic (>= 0, dimensionless; chi-square(1) distributed at the true value in large
        samples), indexed like ``values``.

    Examples
    --------
    >>> from clvpredict import GammaGammaModel
    >>> from clvpredict.datasets import load_cdnow_summary
    >>> model = GammaGammaModel().fit(load_cdnow_summary())
    >>> bounds = profile_likelihood_intervals(model)
    >>> profile_likelihood_ratio(model, bounds["upper"]).round(4).tolist()   # 3.8415 = chi2_1(0.95)
    [3.8415, 3.8415, 3.8415]
    """
    fitted = _FittedLikelihood.of(model)
    given = pd.Series(values, dtype=float)
    unknown = [n for n in given.index if n not in fitted.names]
    if unknown:
        raise ClvDataError(
            f"{type(model).__name__} has parameters {fitted.names}; unknown {unknown}."
        )
    positive = np.array([fitted.positive[fitted.names.index(n)] for n in given.index], dtype=bool)
    values_ok = np.isfinite(given.to_numpy()) & ((given.to_numpy() > 0) | ~positive)
    if not np.all(values_ok):
        raise ClvDataError(
            "Parameter values must be finite, and > 0 except covariate coefficients; got "
            f"{given.to_dict()}."
        )
    out = []
    for name, value in given.items():
        j = fitted.names.index(name)
        coordinate = np.log(value) if fitted.positive[j] else value
        offset = float(coordinate - fitted.centre[j])
        out.append(fitted.profile(j, 1.0 if offset >= 0 else -1.0).statistic(abs(offset)))
    return pd.Series(out, index=given.index, name="lr_statistic", dtype=float)


@dataclass
class _FittedLikelihood:
    """A fitted model's log-likelihood, set up for constrained re-maximisation.

    Coordinates are log-parameters relative to the model's estimate ``phi_hat``, so that the
    boxes of the constrained fits mean the same whatever the parameters' units (a Gamma-Gamma
    ``gamma`` in cents or in millions).
    """

    model_name: str
    names: list[str]
    origin: np.ndarray  # phi_hat: the coordinates are log-parameters minus this
    objective: Objective
    total: float
    u_max: np.ndarray
    f_max: float
    centre: np.ndarray  # log-parameters at the maximum
    slope: np.ndarray
    #: Which parameters are positive (log scale); covariate coefficients are not.
    positive: np.ndarray

    @classmethod
    def of(cls, model: Any) -> _FittedLikelihood:
        columns, weights = _fit_data(model)
        penalties = {
            name: getattr(model, name)
            for name in ("penalizer_coef", "covariate_penalty")
            if getattr(model, name, 0.0)
        }
        if penalties:
            # The stored likelihood is the unpenalised one: its maximum is not the fit's.
            settings = ", ".join(f"{k}={v!r}" for k, v in penalties.items())
            raise ClvDataError(
                f"Profile likelihoods describe a maximum-likelihood fit, and this "
                f"{type(model).__name__} is penalised ({settings}). Refit without the penalty."
            )
        negll, likelihood_columns = model._fitted_likelihood(list(columns), weights)
        positive = np.asarray(model._positive_parameters(), dtype=bool)
        log_objective = _log_objective(negll, likelihood_columns, weights, positive)
        total = float(weights.sum())
        result = model.fit_result_
        phi_hat = _coordinates(np.asarray(result.params, dtype=float), positive)

        def objective(u: np.ndarray) -> tuple[float, np.ndarray]:
            return log_objective(phi_hat + u)

        k = len(phi_hat)
        # Polish the maximum with this very objective, so that the statistic is exactly 0 there
        # (the fit may have run on rescaled data); a fit far from it is refused.
        f_fit = objective(np.zeros(k))[0]
        f_max, u_max = _constrained_minimum(objective, np.zeros(k), fixed=None)
        if f_max > f_fit:
            f_max, u_max = f_fit, np.zeros(k)
        fitted = cls(
            model_name=type(model).__name__,
            names=list(model.params_.index),
            origin=phi_hat,
            objective=objective,
            total=total,
            u_max=u_max,
            f_max=f_max,
            centre=phi_hat + u_max,
            slope=_conditional_slopes(result.covariance, result.params, positive),
            positive=positive,
        )
        if total * (f_fit - f_max) > _LL_SLACK:
            raise fitted.not_at_maximum(total * (f_fit - f_max), u_max)
        return fitted

    def profile(self, j: int, side: float) -> _Profile:
        return _Profile(self, j, side)

    def not_at_maximum(self, gain: float, u: np.ndarray) -> ConvergenceError:
        """The error for a point ``u`` whose log-likelihood beats the fit's by ``gain``."""
        better = ", ".join(
            f"{n}={v:.6g}"
            for n, v in zip(self.names, _natural(self.origin + u, self.positive), strict=True)
        )
        return ConvergenceError(
            f"The {self.model_name}'s fit is not at the maximum of its likelihood: {better} has "
            f"a log-likelihood higher by {gain:.3g}. The fit stopped at a local maximum (or did "
            "not converge), so its estimates, and any interval around them, are not the "
            "maximum-likelihood ones. The likelihood may have several modes on these data; "
            "compare the two solutions, or use more data or another model."
        )


# ------------------------------------------------------------------------------------------------
# Input checks
# ------------------------------------------------------------------------------------------------


def _check_alpha(alpha: Any) -> float:
    real = isinstance(alpha, numbers.Real) and not isinstance(alpha, bool)
    if not (real and 0 < float(alpha) < 1):
        raise ClvDataError(
            f"alpha={alpha!r} must be a number strictly between 0 and 1 (1 - confidence level; "
            "0.05 gives 95% intervals)."
        )
    return float(alpha)


def _fit_data(model: Any) -> tuple[tuple[np.ndarray, ...], np.ndarray]:
    """The distinct rows and weights the model was fitted on, or a clear error."""
    name = type(model).__name__
    check_is_fitted(model)
    data = getattr(model, "_fit_data_", None)
    if data is None or getattr(model, "fit_result_", None) is None:
        raise NotFittedError(
            f"This {name} was not fitted to data in this session (its parameters were given with "
            "from_params, or it was loaded from a file), so there is no likelihood to profile. "
            "Fit it with fit(data) to get profile-likelihood intervals; summary(method='wald') "
            "works from the stored covariance of a loaded model."
        )
    return data


# ------------------------------------------------------------------------------------------------
# Constrained maximisation
# ------------------------------------------------------------------------------------------------


def _constrained_minimum(
    objective: Objective, start: np.ndarray, fixed: int | None
) -> tuple[float, np.ndarray]:
    """Minimise ``objective`` over every coordinate except ``fixed`` (held at ``start[fixed]``)."""
    free = np.array([i for i in range(len(start)) if i != fixed], dtype=int)
    base = np.array(start, dtype=float)
    if len(free) == 0:
        return objective(base)[0], base

    def sub(v: np.ndarray) -> tuple[float, np.ndarray]:
        u = base.copy()
        u[free] = v
        f, g = objective(u)
        return f, g[free]

    def sub_grad(v: np.ndarray) -> np.ndarray:
        return sub(v)[1]

    res = optimize.minimize(
        sub,
        base[free],
        jac=True,
        method="L-BFGS-B",
        bounds=[(-_NUISANCE_BOX, _NUISANCE_BOX)] * len(free),
        options={"maxiter": 2000, "ftol": 1e-15, "gtol": 1e-10, "maxcor": 20},
    )
    v, f = np.asarray(res.x, dtype=float), float(res.fun)
    if np.max(np.abs(sub_grad(v))) > POLISH_BELOW:
        # L-BFGS-B stops short of the optimum by more than the statistic can afford near a bound.
        v, f = _newton_polish(sub, sub_grad, v, f)
    out = base.copy()
    out[free] = v
    return f, out


def _conditional_slopes(
    covariance: np.ndarray, params: np.ndarray, positive: np.ndarray | None = None
) -> np.ndarray:
    """Row j: how the other log-parameters move per unit of log theta_j along the profile.

    Near the estimate the likelihood is quadratic and the profile path is straight, with slope
    ``Cov(phi_i, phi_j) / Var(phi_j)``. It only seeds the first constrained fit of each side;
    without a covariance (singular Hessian) the others start where they are.
    """
    theta = np.asarray(params, dtype=float)
    scale = theta if positive is None else np.where(positive, theta, 1.0)
    with np.errstate(invalid="ignore", divide="ignore"):
        cov_phi = np.asarray(covariance, dtype=float) / np.outer(scale, scale)
        slopes = cov_phi / np.diag(cov_phi)[:, None]
    # Keep the diagonal (the log-variance), used for the first step of the search.
    diag = np.diag(cov_phi).copy()
    slopes = np.where(np.isfinite(slopes), slopes, 0.0)
    np.fill_diagonal(slopes, diag)
    return slopes


class _Profile:
    """The likelihood-ratio statistic along one side of one parameter's profile.

    ``statistic(d)`` is ``2 (LL_max - LL_p)`` with ``log theta_j`` at ``d`` from the estimate on
    side ``side`` (-1 below, +1 above); every evaluation is cached, and each constrained fit is
    warm-started from the points already profiled nearest to ``d``.
    """

    def __init__(self, fitted: _FittedLikelihood, j: int, side: float) -> None:
        self.fitted = fitted
        self.objective = fitted.objective
        self.j = j
        self.side = side
        self.slope = np.where(np.arange(len(fitted.u_max)) == j, 0.0, fitted.slope[j])
        self.points: dict[float, np.ndarray] = {0.0: fitted.u_max}
        self.values: dict[float, float] = {0.0: 0.0}

    def _start(self, d: float) -> np.ndarray:
        """Candidate starts (extrapolated along the path, or the nearest point); the better one."""
        known = sorted(self.points, key=lambda e: (abs(e - d), e))
        nearest = self.points[known[0]]
        if len(known) >= 2:
            e0, e1 = known[0], known[1]
            path = nearest + (self.points[e1] - nearest) * (d - e0) / (e1 - e0)
        else:
            path = nearest + self.slope * self.side * (d - known[0])
        candidates = []
        for guess in (path, nearest):
            # The box is for the others: the profiled coordinate may go beyond it.
            start = np.clip(guess, -_NUISANCE_BOX, _NUISANCE_BOX)
            start[self.j] = self.points[0.0][self.j] + self.side * d
            candidates.append((self.objective(start)[0], start))
        # Ties go to the extrapolated start; both are deterministic.
        return min(candidates, key=lambda c: c[0])[1]

    def statistic(self, d: float) -> float:
        d = float(d)
        if d not in self.values:
            f, u = _constrained_minimum(self.objective, self._start(d), fixed=self.j)
            value = 2.0 * self.fitted.total * (f - self.fitted.f_max)
            if value < -2.0 * _LL_SLACK:
                # Walking along the profile reached another, higher mode of the likelihood.
                raise self.fitted.not_at_maximum(-value / 2, u)
            self.values[d] = max(value, 0.0)
            self.points[d] = u
        return self.values[d]

    def signed_root(self, d: float, threshold: float) -> float:
        # sqrt of the statistic is close to linear in d, which Brent's method converges on fast.
        return float(np.sqrt(self.statistic(d)) - np.sqrt(threshold))


def _find_crossing(
    profile: _Profile, threshold: float, log_variance: float, max_distance: float
) -> float | None:
    """Distance (log scale) at which the statistic reaches ``threshold``; ``None`` if open."""
    target = np.sqrt(threshold)
    # First try: the Wald bound, where a quadratic likelihood would cross.
    first = target * np.sqrt(log_variance) if np.isfinite(log_variance) and log_variance > 0 else 1
    d = float(min(first, max_distance))
    inside = 0.0
    while True:
        root = np.sqrt(profile.statistic(d))
        if root >= target:
            break
        inside = d
        if d >= max_distance:
            return None
        # Where a straight signed root through this point would cross, a little beyond so that
        # the next point usually brackets; at least 1.25x and at most 4x further.
        aim = 1.1 * d * target / root if root > 0 else 4.0 * d
        d = float(min(max(aim, 1.25 * d), 4.0 * d, max_distance))
    if profile.signed_root(d, threshold) == 0.0:
        return d
    return float(
        optimize.brentq(
            profile.signed_root,
            inside,
            d,
            args=(threshold,),
            xtol=_XTOL,
            rtol=4 * np.finfo(float).eps,
        )
    )

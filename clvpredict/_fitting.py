"""The maximum-likelihood engine shared by every model.

* Identical data rows are collapsed into one row with a weight (:func:`compress`): the likelihood
  is a weighted sum, so the result is exactly the same while the work shrinks to the number of
  distinct histories.
* The optimiser works on log-parameters (all model parameters are positive) with the model's
  analytic gradient, chained through ``d/dlog(theta) = theta * d/dtheta``.
* A model that also gives the analytic Hessian is fitted by a safeguarded Newton method (absolute
  eigenvalues, a step limit that grows and shrinks with success): a handful of iterations from
  the starting point to machine precision, each one likelihood, gradient and Hessian. If Newton
  does not reach an interior optimum with a positive definite Hessian, the fit falls back to the
  general path below from the same start.
* Otherwise, L-BFGS-B; then a few Newton steps on a finite-difference Hessian of the analytic
  gradient polish the optimum to machine precision; the same Hessian gives the standard errors
  (the analytic one where the model has it).
* Several deterministic starting points are tried only if the first does not converge, so that no
  penalizer and no random start are needed. A fit that did not converge is reported, never
  silently returned.
* A model whose likelihood can have a second maximum adds restarts from the first optimum. On a
  large data set they can be screened on a sample of the rows first (:func:`_screen_restarts`):
  only a restart that reaches another maximum there is continued on all rows.
"""

from __future__ import annotations

import functools
import logging
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from scipy import optimize

from .exceptions import ConvergenceError, ConvergenceWarning

logger = logging.getLogger(__name__)

_BLAS_CONTROL: Any = None


def serial_blas(function: Callable[..., Any]) -> Callable[..., Any]:
    """Run ``function`` with BLAS limited to one thread, restored afterwards.

    The optimisers' linear algebra (L-BFGS-B's updates, the Hessian of 3-4 parameters) is on
    vectors of a few numbers; with OpenBLAS's default threading every such call hands work to
    the other threads and back, which doubled the time of a 200,000-customer BG/NBD fit on a
    2-core machine (benchmarks/README.md, run 6). The likelihood's sums lose nothing measurable.
    """

    @functools.wraps(function)
    def limited(*args: Any, **kwargs: Any) -> Any:
        global _BLAS_CONTROL
        if _BLAS_CONTROL is None:
            # Inspecting the loaded libraries takes milliseconds: done once, then cached.
            from threadpoolctl import ThreadpoolController

            _BLAS_CONTROL = ThreadpoolController()
        with _BLAS_CONTROL.limit(limits=1, user_api="blas"):
            return function(*args, **kwargs)

    return limited


#: Objective: (theta, *columns, weights) -> (negative log-likelihood, gradient wrt theta).
NegLogLik = Callable[..., tuple[float, np.ndarray]]

#: log-parameter box: parameters stay within [e^-30, e^30] so exp() never overflows.
_LOG_BOUND = 30.0
#: Largest |gradient| of the mean negative log-likelihood wrt log-parameters taken as converged.
GRADIENT_TOLERANCE = 1e-6
#: A parameter whose log has a standard error above this (a 95% interval wider than a factor of
#: e^20) is reported as not identified: the optimiser wandered along a flat ridge.
MAX_LOG_STANDARD_ERROR = 5.0
#: L-BFGS-B results whose gradient is above this get Newton steps (each costs a Hessian).
POLISH_BELOW = 1e-9
#: Relative rounding noise allowed in the mean negative log-likelihood when a Newton step is
#: judged (see _newton_polish): a few thousand terms of size ~10 summed in double precision.
OBJECTIVE_NOISE = 1e-12


@dataclass
class FitResult:
    """Outcome of :func:`maximise_likelihood`."""

    params: np.ndarray
    log_likelihood: float
    covariance: np.ndarray
    converged: bool
    n_iterations: int
    message: str
    gradient_norm: float
    n_obs: float
    n_unique: int
    starts_tried: int = 1
    notes: list[str] = field(default_factory=list)
    #: Evaluations of the likelihood (with its gradient, and with its Hessian on the Newton path)
    #: over all starts, the final Hessian included.
    n_evaluations: int = 0
    #: Evaluations on the sample that screened the restarts (each costs the sample's share).
    n_screening_evaluations: int = 0


def compress(
    columns: Sequence[np.ndarray], weights: np.ndarray | None = None
) -> tuple[list[np.ndarray], np.ndarray]:
    """Collapse identical rows of ``columns`` into unique rows with summed weights.

    Parameters
    ----------
    columns : sequence of 1-d arrays of equal length
        The data columns that enter the likelihood (e.g. frequency, recency, T).
    weights : array, optional
        Existing row weights (default 1 per row).

    Returns
    -------
    unique_columns, unique_weights
        The distinct rows (one array per column, in the order of their first appearance) and
        the total weight of each.

    Notes
    -----
    Rows are grouped by a 64-bit hash of their bit patterns. Sorting the hashes (a fraction of
    the cost of grouping) first tells whether any two rows can be equal at all: when every row
    is distinct, as for customers with continuous times, the data are returned as they are.
    Otherwise the hashes are factorised and every row is checked to be bit-for-bit equal to its
    group's representative; should two different rows ever share a hash, the rows are grouped
    by their values instead.
    """
    n = len(columns[0])
    w = np.ones(n) if weights is None else np.asarray(weights, dtype=float)
    cols = [np.ascontiguousarray(c, dtype=float) for c in columns]
    if n == 0:
        return cols, w
    grouped = group_rows(cols)
    if grouped is None:
        return cols, w
    first, codes = grouped
    uw = np.bincount(codes, weights=w, minlength=len(first))
    return [c[first] for c in cols], uw


def group_rows(columns: Sequence[np.ndarray]) -> tuple[np.ndarray, np.ndarray] | None:
    """Groups of identical rows of float columns: ``(first, codes)`` with one row number per
    group (groups in the order of their first appearance) and the group of every row; ``None``
    when all rows are distinct. See :func:`compress` for the method."""
    cols = [np.ascontiguousarray(c, dtype=float) for c in columns]
    n = len(cols[0])
    bits = [c.view(np.uint64) for c in cols]
    key = _row_hash(bits)
    ordered = np.sort(key)
    if not np.any(ordered[1:] == ordered[:-1]):
        return None
    codes, uniques = pd.factorize(key)
    representative = np.empty(len(uniques), dtype=np.intp)
    representative[codes] = np.arange(n)
    if all(np.array_equal(b[representative][codes], b) for b in bits):
        return representative, codes
    # A hash collision between different rows: group by the values themselves.
    codes = (
        pd.DataFrame({i: c for i, c in enumerate(cols)})
        .groupby(list(range(len(cols))), sort=False)
        .ngroup()
        .to_numpy()
    )
    _, first = np.unique(codes, return_index=True)
    return first, codes


def distinct_values(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Sorted distinct values and the index of each element among them (``np.unique``'s
    ``return_inverse``), by counting when the values are small whole numbers (frequencies),
    which takes one pass instead of a sort."""
    if values.size and values.min() >= 0 and values.max() < 1e6:
        whole = values.astype(np.intp)
        if np.array_equal(whole, values):
            present = np.bincount(whole) > 0
            lookup = np.cumsum(present) - 1
            return np.flatnonzero(present).astype(float), lookup[whole]
    distinct, inverse = np.unique(values, return_inverse=True)
    return distinct, inverse.ravel()


def _row_hash(bits: Sequence[np.ndarray]) -> np.ndarray:
    """A 64-bit hash of each row of the ``uint64`` columns ``bits`` (multiply-xorshift mixing)."""
    mix = np.uint64(0x9E3779B97F4A7C15)
    key = np.zeros(len(bits[0]), dtype=np.uint64)
    for column in bits:
        key ^= column
        key *= mix
        key ^= key >> np.uint64(29)
    return key


def _natural(phi: np.ndarray, positive: np.ndarray | None) -> np.ndarray:
    """Parameters from optimiser coordinates: ``exp`` of the positive ones, the rest as they are."""
    if positive is None:
        return np.exp(phi)
    return np.where(positive, np.exp(np.where(positive, phi, 0.0)), phi)


def _coordinates(theta: np.ndarray, positive: np.ndarray | None) -> np.ndarray:
    """Optimiser coordinates of ``theta``: logs of the positive parameters (clipped into the
    box), the others (regression coefficients) as they are."""
    logs = np.log(np.clip(np.asarray(theta, dtype=float), 1e-12, 1e12))
    return logs if positive is None else np.where(positive, logs, theta)


def _log_objective(
    negll: NegLogLik,
    columns: Sequence[np.ndarray],
    weights: np.ndarray,
    positive: np.ndarray | None = None,
) -> Callable[[np.ndarray], tuple[float, np.ndarray]]:
    """Mean negative log-likelihood and its gradient as functions of log-parameters (of the
    positive parameters; coefficients that may take any sign enter as they are)."""
    total = float(weights.sum())

    def objective(phi: np.ndarray) -> tuple[float, np.ndarray]:
        theta = _natural(phi, positive)
        with np.errstate(all="ignore"):
            f, g = negll(theta, *columns, weights)
        if not np.isfinite(f) or not np.all(np.isfinite(g)):
            # Steer the line search away from a region where the likelihood underflows.
            return 1e300, np.zeros_like(phi)
        jacobian = theta if positive is None else np.where(positive, theta, 1.0)
        return f / total, g * jacobian / total

    return objective


def _log_objective_with_hessian(
    negll: NegLogLik, columns: Sequence[np.ndarray], weights: np.ndarray
) -> Callable[[np.ndarray], tuple[float, np.ndarray, np.ndarray | None]]:
    """Mean negative log-likelihood, gradient and Hessian as functions of log-parameters.

    With ``theta = exp(phi)``: ``grad_phi = theta * grad_theta`` and
    ``H_phi = diag(theta) H_theta diag(theta) + diag(theta * grad_theta)``.
    """
    total = float(weights.sum())

    def objective(phi: np.ndarray) -> tuple[float, np.ndarray, np.ndarray | None]:
        theta = np.exp(phi)
        with np.errstate(all="ignore"):
            f, g, h = negll(theta, *columns, weights, hessian=True)
        if not np.isfinite(f) or not np.all(np.isfinite(g)) or not np.all(np.isfinite(h)):
            return 1e300, np.zeros_like(phi), None
        g_phi = g * theta
        h_phi = h * np.outer(theta, theta) + np.diag(g_phi)
        return f / total, g_phi / total, 0.5 * (h_phi + h_phi.T) / total

    return objective


#: The Newton path stops when the largest gradient component is below this (or when a step can
#: no longer be resolved from rounding noise); quadratic convergence gets there from 1e-6 in one
#: step.
NEWTON_GRADIENT = 1e-12


def _newton(
    objective: Callable[[np.ndarray], tuple[float, np.ndarray, np.ndarray | None]],
    phi: np.ndarray,
    max_iterations: int = 50,
) -> tuple[np.ndarray, float, np.ndarray, np.ndarray | None, int, int]:
    """Safeguarded Newton minimisation of ``objective`` (value, gradient, Hessian) from ``phi``.

    Each step solves with the Hessian's eigenvalues replaced by their absolute values (floored
    relative to the largest), so that it always goes downhill, and is cut to at most ``radius``
    in every log-parameter. The radius starts at 1, grows to twice a step taken at the first try,
    and shrinks to the step finally taken after rejections (each rejection quarters the step). A step is taken when it lowers the objective, or
    keeps it within rounding noise while halving the gradient (as in :func:`_newton_polish`).

    Returns ``(phi, f, gradient, hessian, iterations, evaluations)``; the caller judges whether
    the point is an optimum.
    """
    f, g, h = objective(phi)
    evaluations, iterations = 1, 0
    if h is None:
        return phi, f, g, h, iterations, evaluations
    radius = 1.0
    while iterations < max_iterations:
        g_max = float(np.max(np.abs(g)))
        eig, vec = np.linalg.eigh(h)
        if g_max < NEWTON_GRADIENT and eig.min() > 0:
            break
        scale = np.maximum(np.abs(eig), 1e-10 * max(float(np.max(np.abs(eig))), 1e-300))
        step = -(vec @ ((vec.T @ g) / scale))
        if not np.all(np.isfinite(step)):
            break
        size = float(np.max(np.abs(step)))
        if size < 1e-15:
            break
        if size > radius:
            step *= radius / size
            size = radius
        iterations += 1
        taken, first_try = False, True
        while size >= 1e-15:
            candidate = np.clip(phi + step, -_LOG_BOUND, _LOG_BOUND)
            f_new, g_new, h_new = objective(candidate)
            evaluations += 1
            lower = f_new <= f + 1e-15 * abs(f) and f_new < 1e299
            level_and_flatter = (
                f_new <= f + OBJECTIVE_NOISE * max(1.0, abs(f))
                and float(np.max(np.abs(g_new))) <= 0.5 * g_max
            )
            if h_new is not None and (lower or level_and_flatter):
                phi, f, g, h = candidate, f_new, g_new, h_new
                taken = True
                break
            first_try = False
            step *= 0.25
            size *= 0.25
        if not taken:
            break
        radius = min(max(radius, 2.0 * size), 10.0) if first_try else size
    return phi, f, g, h, iterations, evaluations


def _hessian(grad: Callable[[np.ndarray], np.ndarray], phi: np.ndarray) -> np.ndarray:
    """Central finite-difference Hessian of an analytic gradient (symmetrised)."""
    k = len(phi)
    h = np.empty((k, k))
    step = 1e-5 * np.maximum(1.0, np.abs(phi))
    for i in range(k):
        e = np.zeros(k)
        e[i] = step[i]
        h[:, i] = (grad(phi + e) - grad(phi - e)) / (2 * step[i])
    return 0.5 * (h + h.T)


@serial_blas
def maximise_likelihood(
    negll: NegLogLik,
    columns: Sequence[np.ndarray],
    weights: np.ndarray,
    starts: Sequence[np.ndarray],
    param_names: Sequence[str],
    *,
    max_iterations: int = 2000,
    restarts: Callable[[np.ndarray], Sequence[np.ndarray]] | None = None,
    hessian: bool = False,
    screen: tuple[NegLogLik, Sequence[Any], np.ndarray] | None = None,
    positive: Sequence[bool] | None = None,
) -> FitResult:
    """Maximise a weighted log-likelihood over positive parameters.

    Parameters
    ----------
    negll : callable
        ``negll(theta, *columns, weights) -> (f, grad)``: weighted negative log-likelihood and its
        analytic gradient with respect to the natural parameters ``theta``.
    columns : sequence of arrays
        Data columns (already compressed or not).
    weights : array
        Weight of each row (number of customers it stands for).
    starts : sequence of arrays
        Deterministic starting points (natural scale), tried in order until one converges.
    param_names : sequence of str
        Names, for messages.
    restarts : callable, optional
        ``restarts(theta) -> starts``: for likelihoods known to have more than one maximum,
        further starting points derived from the first optimum found (e.g. in the other basin);
        all are run and the highest maximum is kept.
    hessian : bool
        ``negll(theta, *columns, weights, hessian=True)`` also returns the analytic Hessian wrt
        ``theta``: each start is first tried with Newton's method (see :func:`_newton`).
    screen : (negll, columns, weights), optional
        With ``hessian``: the objective on a sample of the rows, which screens the ``restarts``
        (see :func:`_screen_restarts`) so that those falling back to the first optimum cost
        only evaluations on the sample.
    positive : sequence of bool, optional
        Which parameters are positive (optimised on the log scale; the default: all). The
        others, such as covariate coefficients, take any real value and are optimised as they
        are, within +-30. Only for fits without ``hessian`` and ``restarts``.

    Returns
    -------
    FitResult
        The best optimum found; ``converged`` says whether its gradient vanished.
    """
    mask = None if positive is None else np.asarray(positive, dtype=bool)
    if mask is not None and (hessian or restarts is not None):
        raise ValueError("positive= is for fits without an analytic Hessian or restarts")
    counted = _log_objective(negll, columns, weights, mask)
    evaluations = 0

    def objective(phi: np.ndarray) -> tuple[float, np.ndarray]:
        nonlocal evaluations
        evaluations += 1
        return counted(phi)

    grad_only = lambda phi: objective(phi)[1]  # noqa: E731
    with_hessian = _log_objective_with_hessian(negll, columns, weights) if hessian else None
    bounds = [(-_LOG_BOUND, _LOG_BOUND)] * len(param_names)
    best: tuple[float, np.ndarray, int, str] | None = None
    #: The analytic Hessian (log scale, mean) at the best point, when Newton found it.
    best_hessian: np.ndarray | None = None
    best_gradient: np.ndarray | None = None
    tried = 0

    def run(start: np.ndarray) -> bool:
        """Optimise from ``start``, keep the result if it is the best so far; True if it
        converged to an interior point."""
        nonlocal best, best_hessian, best_gradient, tried, evaluations
        tried += 1
        phi0 = _coordinates(start, mask)
        if with_hessian is not None:
            phi, f, g, h, nit, n_eval = _newton(with_hessian, phi0)
            evaluations += n_eval
            interior = bool(np.all(np.abs(phi) < _LOG_BOUND - 1))
            if (
                h is not None
                and float(np.max(np.abs(g))) < POLISH_BELOW
                and interior
                and np.linalg.eigvalsh(h).min() > 0
            ):
                if best is None or f < best[0]:
                    best = (f, phi, nit, "Newton: gradient vanished, Hessian positive definite")
                    best_hessian, best_gradient = h, g
                return True
        res = optimize.minimize(
            objective,
            phi0,
            jac=True,
            method="L-BFGS-B",
            bounds=bounds,
            options={"maxiter": max_iterations, "ftol": 1e-15, "gtol": 1e-10, "maxcor": 20},
        )
        phi, f = res.x, float(res.fun)
        gnorm = float(np.max(np.abs(grad_only(phi))))
        if gnorm > POLISH_BELOW:
            phi, f = _newton_polish(objective, grad_only, phi, f)
            gnorm = float(np.max(np.abs(grad_only(phi))))
        if best is None or f < best[0]:
            best = (f, phi, int(res.nit), str(res.message))
            best_hessian = best_gradient = None
        return gnorm < GRADIENT_TOLERANCE and bool(np.all(np.abs(phi) < _LOG_BOUND - 1))

    for start in starts:
        if run(start):
            break
    screening_evaluations = 0
    if restarts is not None and best is not None and np.isfinite(best[0]):
        first = best
        candidates = list(restarts(np.exp(best[1])))
        if screen is not None and with_hessian is not None and candidates:
            sample = _log_objective_with_hessian(*screen)
            candidates, screening_evaluations = _screen_restarts(sample, best[1], candidates)
        for start in candidates:
            run(start)
        if best is not first:
            logger.info(
                "A second start found a higher maximum of the likelihood (by %.3g "
                "log-likelihood units); using it.",
                (first[0] - best[0]) * float(weights.sum()),
            )

    assert best is not None
    f, phi, nit, message = best
    theta = _natural(phi, mask)
    total = float(weights.sum())
    gnorm = float(np.max(np.abs(grad_only(phi) if best_gradient is None else best_gradient)))
    notes: list[str] = []
    at_bound = np.abs(phi) >= _LOG_BOUND - 1
    if at_bound.any():
        names = [n for n, b in zip(param_names, at_bound, strict=True) if b]
        notes.append(
            f"parameter(s) {names} ran to the edge of the parameter space "
            f"({', '.join(f'{theta[i]:.3g}' for i in np.flatnonzero(at_bound))}): the data do not "
            "identify them"
        )
    if gnorm >= GRADIENT_TOLERANCE:
        notes.append(f"the gradient did not vanish (max |gradient| = {gnorm:.2e})")
    if not np.isfinite(f) or f >= 1e299:
        notes.append("the likelihood is not finite at any point tried")

    cov = np.full((len(theta), len(theta)), np.nan)
    if best_hessian is not None:
        h_phi = best_hessian * total
    else:
        analytic = with_hessian(phi)[2] if with_hessian is not None else None
        if analytic is not None:
            evaluations += 1
            h_phi = analytic * total
        else:
            h_phi = _hessian(grad_only, phi) * total
    try:
        cov_phi = np.linalg.inv(h_phi)
        eigen = np.linalg.eigvalsh(h_phi)
    except np.linalg.LinAlgError:
        cov_phi, eigen = None, None
    if cov_phi is None or not np.all(np.isfinite(cov_phi)) or eigen.min() <= 0:
        # A flat or saddle-shaped likelihood: the optimum is not unique, whatever the optimiser
        # says, and the estimates (often the starting values) mean nothing.
        notes.append(
            "the log-likelihood is flat or not concave at the optimum (singular or indefinite "
            "Hessian): the data do not identify all parameters, and standard errors are unavailable"
        )
    else:
        # Delta method back to the natural scale; exact at an optimum (zero gradient).
        jacobian = theta if mask is None else np.where(mask, theta, 1.0)
        cov = cov_phi * np.outer(jacobian, jacobian)
        log_se = np.sqrt(np.diag(cov_phi))
        loose = log_se > MAX_LOG_STANDARD_ERROR
        if loose.any():
            # A coefficient's standard error of 5 is a factor of e^5 on the rate it scales,
            # each way: as loose as a positive parameter's log standard error of 5.
            names = [n for n, b in zip(param_names, loose, strict=True) if b]
            notes.append(
                f"parameter(s) {names} are not identified by the data (standard error of their "
                f"logarithm, or of the coefficient, {', '.join(f'{v:.3g}' for v in log_se[loose])}"
                ": a 95% interval spanning many orders of magnitude)"
            )

    converged = not notes
    return FitResult(
        params=theta,
        log_likelihood=-f * total,
        covariance=cov,
        converged=converged,
        n_iterations=nit,
        message=message,
        gradient_norm=gnorm,
        n_obs=total,
        n_unique=len(columns[0]),
        starts_tried=tried,
        notes=notes,
        n_evaluations=evaluations,
        n_screening_evaluations=screening_evaluations,
    )


#: Two Newton optima on the screening sample closer than this in every log-parameter are the
#: same maximum (each is converged to a gradient of 1e-12 or less).
SAME_MAXIMUM = 1e-6


def _screen_restarts(
    sample: Callable[[np.ndarray], tuple[float, np.ndarray, np.ndarray | None]],
    phi_best: np.ndarray,
    starts: Sequence[np.ndarray],
) -> tuple[list[np.ndarray], int]:
    """The restarts worth running on all rows, judged on a sample of them.

    The restarts look for a second maximum far from the first (a factor of 4 in a parameter).
    Each one is run by Newton's method on the sample's objective ``sample`` (log-parameters,
    with Hessian); so is the best point found so far, ``phi_best``, which lands on the sample's
    version of its maximum. A restart that ends at that same point fell back into the first
    maximum's basin and is dropped; one that ends at another maximum of the sample continues
    on all rows from there, and one that does not converge on the sample is run on all rows
    from where it started, as without screening. Whatever the screening lets through is judged
    on all rows; what it drops is judged on the sample alone. With tens of thousands of rows
    the sample's mean log-likelihood is close to the full one's, so maxima as far apart as the
    restarts look for appear in both; a second maximum of the full likelihood can still be
    missed where its basin is too shallow to survive the sampling noise.

    Returns the starts to run (natural scale) and the number of sample evaluations.
    """

    def optimum(phi0: np.ndarray) -> tuple[np.ndarray | None, int]:
        phi, _, g, h, _, n_eval = _newton(sample, phi0)
        converged = (
            h is not None
            and float(np.max(np.abs(g))) < POLISH_BELOW
            and bool(np.all(np.abs(phi) < _LOG_BOUND - 1))
            and np.linalg.eigvalsh(h).min() > 0
        )
        return (phi if converged else None), n_eval

    home, evaluations = optimum(phi_best)
    if home is None:
        # No verdict without the sample's version of the first maximum: run them all.
        return list(starts), evaluations
    kept: list[np.ndarray] = []
    for start in starts:
        phi0 = np.log(np.clip(np.asarray(start, dtype=float), 1e-12, 1e12))
        phi, n_eval = optimum(phi0)
        evaluations += n_eval
        if phi is None:
            kept.append(np.asarray(start, dtype=float))
        elif float(np.max(np.abs(phi - home))) >= SAME_MAXIMUM:
            logger.info("A restart reached another maximum on the screening sample; refitting.")
            kept.append(np.exp(phi))
    return kept, evaluations


def _newton_polish(
    objective: Callable[[np.ndarray], tuple[float, np.ndarray]],
    grad: Callable[[np.ndarray], np.ndarray],
    phi: np.ndarray,
    f: float,
    steps: int = 4,
) -> tuple[np.ndarray, float]:
    """A few safeguarded Newton steps: quasi-Newton stops short of machine-precision optima.

    A step is taken when it lowers the objective, or when the objective stays within its own
    rounding noise (:data:`OBJECTIVE_NOISE`) while the largest gradient component at least
    halves. Next to the optimum the true decrease, ``g' H^-1 g / 2``, falls below what a sum
    over thousands of customers can resolve, so comparing values alone would refuse the very
    steps that reach the optimum (seen with scipy 1.10: a Gamma-Gamma fit left at a gradient of
    2.6e-6, declared not converged, where one Newton step gave 2e-12).
    """
    for _ in range(steps):
        g = grad(phi)
        g_max = float(np.max(np.abs(g)))
        if g_max < 1e-13:
            break
        try:
            step = np.linalg.solve(_hessian(grad, phi), g)
        except np.linalg.LinAlgError:
            break
        if not np.all(np.isfinite(step)):
            break
        candidate = np.clip(phi - step, -_LOG_BOUND, _LOG_BOUND)
        f_new, g_new = objective(candidate)
        lower = f_new <= f + 1e-15 * abs(f)
        level_and_flatter = (
            f_new <= f + OBJECTIVE_NOISE * max(1.0, abs(f))
            and float(np.max(np.abs(g_new))) <= 0.5 * g_max
        )
        if lower or level_and_flatter:
            phi, f = candidate, f_new
        else:
            break
    return phi, f


def report_convergence(result: FitResult, model_name: str, on_failure: str) -> None:
    """Warn about (or raise for) a fit that did not converge."""
    if result.converged:
        return
    text = (
        f"{model_name} did not converge: "
        + "; ".join(result.notes)
        + ". The estimates are not trustworthy. Check the data (enough repeat buyers? the right "
        "time unit?) or try another model."
    )
    if on_failure == "raise":
        raise ConvergenceError(text)
    # report_convergence <- BaseModel._fit <- Model.fit <- the caller
    warnings.warn(text, ConvergenceWarning, stacklevel=4)

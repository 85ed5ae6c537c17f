"""Pareto/NBD: the Pareto / NBD model of Schmittlein, Morrison & Colombo (1987).

While alive, a customer buys as a Poisson process with rate ``lambda ~ Gamma(r, alpha)``; the
lifetime is exponential with rate ``mu ~ Gamma(s, beta)`` (shape ``r``/``s``, rate
``alpha``/``beta``, so ``alpha`` and ``beta`` are in the model's time unit). Unlike the BG/NBD,
a customer can drop out at any moment, not only right after a purchase.

Formulas follow Schmittlein, Morrison & Colombo (1987); Fader & Hardie (2005), "A note on deriving
the Pareto/NBD model and related expressions"; and Fader, Hardie & Lee (2005), "RFM and CLV: using
iso-value curves for customer base analysis" (DERT).

Numerical approach
------------------
The individual likelihood is

``L = Gamma(r+x) alpha^r beta^s / Gamma(r) * [ (alpha+T)^-(r+x) (beta+T)^-s + s J ]``,
``J = integral over tau in (t_x, T] of (alpha+tau)^-(r+x) (beta+tau)^-(s+1) dtau``,

where the second summand is the probability of dying at ``tau`` after the last purchase. The
papers write ``J`` as a difference of two Gauss hypergeometric functions, whose argument tends to 1
and whose parameters grow with ``x``; both series and cancellation then break down for heavy
buyers or ``alpha`` far from ``beta``. Here ``J`` is integrated directly, in log space, after the
substitution ``tau = t_x + c (e^w - 1)``. The scale ``c`` is the smallest length on which the
integrand changes (the width of its initial decay and the offsets ``alpha + t_x``); in ``w`` every
feature of the integrand (power laws become exponentials) has a width of order one, so composite
Gauss-Legendre rules of 16 nodes on pieces of length <= 3 give ``ln J`` to about 1e-12 for any
``x`` and any parameters (the tests compare the log-likelihood with a 60-digit evaluation of the
papers' closed form, and the rule itself was checked against adaptive 30-digit quadrature).
The terms are combined with ``logaddexp``; the gradient is the same quadrature applied to the
parameter derivatives of the log-integrand, so no finite differences are involved. The rule is
evaluated over blocks of rows small enough to stay in the CPU cache, nodes x rows, which is
several times faster than one rows x nodes array for many customers.

The fit does not evaluate this per customer: :mod:`clvpredict.models._pareto_grouped` sums the
same likelihood, with its analytic gradient and Hessian (for Newton's method, as the BG/NBD), over
customers grouped by frequency, where ``J`` is a difference of one cumulative integral per
frequency, and large frequency groups are replaced by weighted virtual customers at Chebyshev
points. On a million customers one evaluation costs about as much as the BG/NBD's.

For CLV intervals (many parameter draws, monthly horizons),
:func:`pareto_nbd_conditional_expected_purchases_by_horizon` computes P(alive), the only part
that needs the quadrature, once per customer and draw rather than once per horizon.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike
from scipy import special

from ..exceptions import ClvDataError
from ._base import in_callers_kind
from ._covariate_model import CovariatePurchaseModel
from ._pareto_grouped import ParetoHistories, pareto_nbd_negll_grouped
from ._simulators import _pareto_core, simulate_pareto_nbd

__all__ = [
    "ParetoNBDModel",
    "pareto_nbd_conditional_expected_purchases",
    "pareto_nbd_conditional_expected_purchases_by_horizon",
    "pareto_nbd_expected_discounted_residual_transactions",
    "pareto_nbd_expected_purchases",
    "pareto_nbd_log_likelihood",
    "pareto_nbd_negll_and_gradient",
    "pareto_nbd_probability_alive",
    "pareto_nbd_probability_alive_at",
    "pareto_nbd_probability_of_purchases",
]

# ------------------------------------------------------------------------------------------
# Quadrature in log space
# ------------------------------------------------------------------------------------------

_GL_NODES, _GL_WEIGHTS = np.polynomial.legendre.leggauss(16)
_GL_NODES = (_GL_NODES + 1.0) / 2.0
_GL_WEIGHTS = _GL_WEIGHTS / 2.0
#: Longest piece (in the log-scale variable w) given to one 16-node Gauss-Legendre rule.
_PIECE_WIDTH = 3.0
#: Elements (rows x nodes, rows x horizons) evaluated at once: 2**14 doubles (128 KiB) per
#: temporary, so that all of them stay in the CPU cache (measured fastest from 2**13 to 2**15).
_CHUNK_SIZE = 1 << 14
#: Pieces of 16 nodes over the window of a peaked integrand (see :func:`_peak_window`): each
#: spans at most a fall of 5 in its logarithm, or 2.2 standard deviations of a peak.
_PEAK_PIECES = 16
#: Points (rows x split points) at which one pass of the peak window's multisection evaluates
#: the integrand: 2**10, enough to leave numpy's per-call overhead behind for a single row.
_MULTISECTION_POINTS = 1 << 10


def _log_power_integral(lo, hi, m, p, q, alpha, beta, *, moments=False):
    """ln of ``integral_lo^hi tau^m (alpha+tau)^-p (beta+tau)^-q dtau`` for arrays of rows.

    ``m`` is 0 except in the purchase-count PMF (where ``lo == 0``). With ``moments=True`` also
    returns the means of ``ln(alpha+tau)``, ``1/(alpha+tau)``, ``ln(beta+tau)`` and
    ``1/(beta+tau)`` under the normalised integrand: the derivatives of ``ln`` of the integral
    with respect to ``p``, ``alpha``, ``q`` and ``beta`` follow from them.

    Rows with ``hi <= lo`` give ``-inf`` (an empty interval).
    """
    lo, hi, m, p, q = np.broadcast_arrays(*(np.asarray(v, dtype=float) for v in (lo, hi, m, p, q)))
    shape = lo.shape
    lo, hi, m, p, q = (v.ravel() for v in (lo, hi, m, p, q))
    n = lo.size
    out = np.full(n, -np.inf)
    mom = np.zeros((4, n)) if moments else None
    length = hi - lo
    live = length > 0
    a0 = alpha + lo
    b0 = beta + lo
    # Width of the steepest feature: the initial decay 1/(d/dtau -ln f) or the offset alpha+lo
    # (the offset beta+lo is never smaller than the decay width because q > 1).
    with np.errstate(divide="ignore"):
        decay = 1.0 / (p / a0 + q / b0)
    scale = np.minimum(decay, a0)
    with np.errstate(divide="ignore", invalid="ignore"):
        span = np.where(live, np.log1p(length / scale), 0.0)
    pieces = np.maximum(1, np.ceil(span / _PIECE_WIDTH)).astype(np.int64)
    start_w = np.zeros(n)
    width = span
    peaked = live & (m > 0)
    if peaked.any():
        # tau^m makes the integrand peak (or climb to hi) on a scale in w that shrinks like
        # 1/sqrt(m): too narrow for pieces of width 3. Integrate over the window around the
        # maximum that holds all but e^-40 of it, in _PEAK_PIECES pieces.
        width = span.copy()
        a0_p, b0_p = (np.broadcast_to(v, lo.shape)[peaked] for v in (a0, b0))
        start_w[peaked], width[peaked] = _peak_window(
            span[peaked], m[peaked], p[peaked], q[peaked], a0_p, b0_p, scale[peaked]
        )
        pieces[peaked] = _PEAK_PIECES
    # bincount lists the few distinct piece counts faster than np.unique.
    for k in np.flatnonzero(np.bincount(pieces[live])):
        rows_k = np.flatnonzero(live & (pieces == k))
        frac = ((np.arange(k)[:, None] + _GL_NODES[None, :]) / k).ravel()
        log_w = np.log(np.tile(_GL_WEIGHTS, k) / k)
        # Work through the rows in chunks whose rows x nodes temporaries stay in the CPU cache:
        # on one large array every elementwise pass goes to main memory, ~3x slower in all.
        step = max(1, _CHUNK_SIZE // frac.size)
        for start in range(0, rows_k.size, step):
            rows = rows_k[start : start + step]
            _quadrature_chunk(
                rows, frac, log_w, lo, m, p, q, a0, b0, scale, start_w, width, out, mom, moments
            )
    if moments:
        return out.reshape(shape), mom.reshape((4, *shape))
    return out.reshape(shape)


def _peak_window(span, m, p, q, a0, b0, scale, drop: float = 40.0, steps: int = 80):
    """Where in ``w`` (0 to ``span``) the log-integrand of the PMF's death-time integral is
    within ``drop`` of its maximum: ``(start, width)`` per row.

    With ``lo == 0`` the log-integrand ``m ln tau - p ln(a0+tau) - q ln(b0+tau) + w``,
    ``tau = c (e^w - 1)``, is concave in ``w`` (``c <= a0`` and ``c <= b0``), so its maximum
    and the two points ``drop`` below it are found by bisection (multisection for few rows);
    e^-40 of the integral is left out.
    """

    def log_f(w):
        offset = scale * np.expm1(w)
        return m * np.log(offset) - p * np.log(a0 + offset) - q * np.log(b0 + offset) + w

    def slope(w):
        grow = scale * np.exp(w)
        offset = scale * np.expm1(w)
        return m * grow / offset - p * grow / (a0 + offset) - q * grow / (b0 + offset) + 1.0

    # Few rows (one P(X(t) = n) at a time, as lifetimes' callers ask) would spend a bisection
    # in numpy's per-call overhead. So each pass splits the interval into 2**bits equal parts
    # (2 for many rows), with about _MULTISECTION_POINTS split points over all rows, and keeps
    # the part the root is in: the same ``steps`` halvings in ``steps / bits`` passes.
    bits = int(np.clip(np.log2(_MULTISECTION_POINTS / max(span.size, 1)), 1, 8))
    parts = 1 << bits
    inner = (np.arange(1, parts) / parts)[:, None]  # the split points, grid x rows

    def bisect(low, high, rising):
        # rising(w) is True left of the root and False right of it (the log-integrand is
        # concave), so the number of split points where it holds is the part of the root.
        if bits == 1:
            for _ in range(steps):
                mid = 0.5 * (low + high)
                left = rising(mid)
                low, high = np.where(left, mid, low), np.where(left, high, mid)
            return low, high
        length = high - low
        for _ in range(-(-steps // bits)):
            below = rising(low + inner * length).sum(axis=0)
            low = low + length * (below / parts)
            length = length / parts
        return low, low + length

    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        climbing = slope(span) >= 0
        top_w = np.where(
            climbing, span, bisect(np.zeros_like(span), span, lambda w: slope(w) > 0)[1]
        )
        top = log_f(top_w)
        level = top - drop
        start = bisect(np.zeros_like(span), top_w, lambda w: log_f(w) < level)[0]
        end = np.where(
            log_f(span) >= level, span, bisect(top_w, span, lambda w: log_f(w) >= level)[1]
        )
    return start, end - start


def _quadrature_chunk(
    rows: np.ndarray,
    frac: np.ndarray,
    log_w: np.ndarray,
    lo: np.ndarray,
    m: np.ndarray,
    p: np.ndarray,
    q: np.ndarray,
    a0: np.ndarray,
    b0: np.ndarray,
    scale: np.ndarray,
    start_w: np.ndarray,
    width: np.ndarray,
    out: np.ndarray,
    mom: np.ndarray | None,
    moments: bool,
) -> None:
    """The composite Gauss-Legendre sum of :func:`_log_power_integral` for ``rows``, in place.

    All rows share the nodes ``frac`` (fractions of each row's interval ``start_w`` to
    ``start_w + width`` in w) and the log-weights ``log_w``; the result goes to ``out[rows]``
    (and the means to ``mom[:, rows]``). The arrays are nodes x rows, so that the reductions
    over the nodes run along contiguous rows (numpy reduces a short trailing axis several
    times slower).
    """
    c = scale[rows]
    w = start_w[rows] + frac[:, None] * width[rows]
    offset = np.expm1(w)
    offset *= c
    ln_a = offset + a0[rows]
    np.log(ln_a, out=ln_a)
    ln_b = offset + b0[rows]
    np.log(ln_b, out=ln_b)
    # d tau = c e^w dw: the Jacobian contributes w (plus ln c, ln span outside the sum).
    log_f = ln_a * -p[rows]
    log_f -= q[rows] * ln_b
    log_f += w
    log_f += log_w[:, None]
    mm = m[rows]
    if np.any(mm > 0):
        with np.errstate(divide="ignore"):
            log_f += np.where(mm > 0, mm * np.log(offset + lo[rows]), 0.0)
    top = log_f.max(axis=0)
    log_f -= top
    share = np.exp(log_f, out=log_f)
    total = share.sum(axis=0)
    out[rows] = top + np.log(total) + np.log(c) + np.log(width[rows])
    if moments:
        share /= total
        mom[0, rows] = (share * ln_a).sum(axis=0)
        mom[1, rows] = (share / (offset + a0[rows])).sum(axis=0)
        mom[2, rows] = (share * ln_b).sum(axis=0)
        mom[3, rows] = (share / (offset + b0[rows])).sum(axis=0)


# ------------------------------------------------------------------------------------------
# Mathematics: plain vectorised functions of (parameters, data)
# ------------------------------------------------------------------------------------------


def _alive_died_terms(r, alpha, s, beta, x, t_x, T, moments=False):
    """The 'alive at T' and the 'died in (t_x, T]' log-terms of the likelihood, without the
    common factor (which P(alive) does not need)."""
    alive = -(r + x) * np.log(alpha + T) - s * np.log(beta + T)
    res = _log_power_integral(t_x, T, 0.0, r + x, s + 1.0, alpha, beta, moments=moments)
    if moments:
        log_j, mom = res
        return alive, np.log(s) + log_j, mom
    return alive, np.log(s) + res


def _ll_parts(r, alpha, s, beta, x, t_x, T, moments=False):
    """Common log-factor, the 'alive at T' log-term and the 'died in (t_x, T]' log-term."""
    common = special.gammaln(r + x) - special.gammaln(r) + r * np.log(alpha) + s * np.log(beta)
    return (common, *_alive_died_terms(r, alpha, s, beta, x, t_x, T, moments=moments))


def pareto_nbd_log_likelihood(r, alpha, s, beta, x, t_x, T) -> np.ndarray:
    """Individual Pareto/NBD log-likelihoods ln L(r, alpha, s, beta | x, t_x, T).

    Parameters
    ----------
    r, alpha, s, beta : float
        Model parameters (``alpha`` and ``beta`` in the time unit of ``t_x`` and ``T``).
    x : array
        Number of repeat purchases.
    t_x, T : array
        Time of the last purchase and length of observation, both since the first purchase.

    Returns
    -------
    ndarray
        One log-likelihood per row; finite for any positive parameters and any ``x``.
    """
    x, t_x, T = (np.asarray(v, dtype=float) for v in (x, t_x, T))
    common, alive, died = _ll_parts(r, alpha, s, beta, x, t_x, T)
    return common + np.logaddexp(alive, died)


def pareto_nbd_negll_and_gradient(theta, x, t_x, T, weights) -> tuple[float, np.ndarray]:
    """Weighted negative log-likelihood and its analytic gradient wrt (r, alpha, s, beta)."""
    ll, derivatives = pareto_nbd_log_likelihood_and_derivatives(*theta, x, t_x, T)
    grad = np.array([weights @ d for d in derivatives])
    return -float(weights @ ll), -grad


def pareto_nbd_log_likelihood_and_derivatives(r, alpha, s, beta, x, t_x, T):
    """Individual log-likelihoods and their derivatives wrt (r, alpha, s, beta), per row.

    ``alpha`` and ``beta`` may be arrays of one value per row (customers with covariates);
    ``r`` and ``s`` are shared. ``w2`` is the share of the 'died in (t_x, T]' summand in each
    likelihood; its derivatives are the quadrature means returned by the integral
    (differentiation under the integral sign).

    Returns
    -------
    ll : ndarray, shape (n,)
    derivatives : tuple of 4 ndarrays of shape (n,)
    """
    common, alive, died, mom = _ll_parts(r, alpha, s, beta, x, t_x, T, moments=True)
    total = np.logaddexp(alive, died)
    ll = common + total
    w2 = np.exp(died - total)
    w1 = 1.0 - w2
    mean_ln_a, mean_inv_a, mean_ln_b, mean_inv_b = mom
    rx = r + x
    d_r = (
        special.digamma(rx)
        - special.digamma(r)
        + np.log(alpha)
        - w1 * np.log(alpha + T)
        - w2 * mean_ln_a
    )
    d_alpha = r / alpha - rx * (w1 / (alpha + T) + w2 * mean_inv_a)
    d_s = np.log(beta) - w1 * np.log(beta + T) + w2 * (1.0 / s - mean_ln_b)
    d_beta = s / beta - w1 * s / (beta + T) - w2 * (s + 1.0) * mean_inv_b
    return ll, (d_r, d_alpha, d_s, d_beta)


def pareto_nbd_probability_alive(r, alpha, s, beta, x, t_x, T) -> np.ndarray:
    """P(alive at T | x, t_x, T): the share of the 'alive at T' summand in the likelihood."""
    x, t_x, T = (np.asarray(v, dtype=float) for v in (x, t_x, T))
    alive, died = _alive_died_terms(r, alpha, s, beta, x, t_x, T)
    return special.expit(alive - died)


def pareto_nbd_probability_alive_at(t, r, alpha, s, beta, x, t_x, T) -> np.ndarray:
    """P(alive at T + t | x, t_x, T).

    Given alive at ``T``, the posterior of the dropout rate is ``Gamma(s, beta + T)`` whatever the
    purchases, so surviving ``t`` more has probability ``((beta+T)/(beta+T+t))^s``.
    """
    t = np.asarray(t, dtype=float)
    T = np.asarray(T, dtype=float)
    survive = np.exp(-s * np.log1p(t / (beta + T)))
    return pareto_nbd_probability_alive(r, alpha, s, beta, x, t_x, T) * survive


def _lomax_mean_factor(s, u):
    """(1 - e^{-(s-1) u}) / (s - 1), with its limit ``u`` at ``s == 1`` (u >= 0)."""
    u = np.asarray(u, dtype=float)
    k = s - 1.0
    # (-k) u and x / (-k) are exactly -(k u) and -(x / k): one pass less over large arrays.
    minus_ku = u * -k
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        out = np.expm1(minus_ku)
        out /= -k
    # Near s == 1 the quotient is 0/0; the Taylor series u (1 - ku/2 + (ku)^2/6) is exact there.
    near = np.abs(minus_ku) < 1e-5
    if np.any(near):
        ku = -np.broadcast_to(minus_ku, near.shape)[near]
        u_near = np.broadcast_to(u, near.shape)[near]
        out = np.array(np.broadcast_to(out, near.shape))
        out[near] = u_near * (1.0 - ku / 2.0 + ku * ku / 6.0)
    return out


def pareto_nbd_expected_purchases(t, r, alpha, s, beta) -> np.ndarray:
    """E[X(t)] for a customer just acquired.

    ``E[X(t)] = r beta / (alpha (s-1)) [1 - (beta/(beta+t))^(s-1)]`` (finite at ``s = 1``, where it
    is ``r beta / alpha ln(1 + t/beta)``).
    """
    t = np.asarray(t, dtype=float)
    out = r * beta / alpha * _lomax_mean_factor(s, np.log1p(np.maximum(t, 0.0) / beta))
    return np.where(t > 0, out, 0.0)


def pareto_nbd_conditional_expected_purchases(t, r, alpha, s, beta, x, t_x, T) -> np.ndarray:
    """E[Y(t) | x, t_x, T]: expected purchases in (T, T + t] given the history.

    ``(r+x)(beta+T) / ((alpha+T)(s-1)) [1 - ((beta+T)/(beta+T+t))^(s-1)] P(alive at T)``: the
    posterior purchase rate given alive is ``Gamma(r+x, alpha+T)`` and the remaining lifetime is
    ``Exp(mu)`` with ``mu ~ Gamma(s, beta+T)``.
    """
    x, t_x, T = (np.asarray(v, dtype=float) for v in (x, t_x, T))
    t = np.asarray(t, dtype=float)
    u = np.log1p(np.maximum(t, 0.0) / (beta + T))
    rate = (r + x) * (beta + T) / (alpha + T) * _lomax_mean_factor(s, u)
    out = rate * pareto_nbd_probability_alive(r, alpha, s, beta, x, t_x, T)
    return np.where(t > 0, out, 0.0)


def pareto_nbd_conditional_expected_purchases_by_horizon(
    ts: ArrayLike,
    r: float,
    alpha: float,
    s: float,
    beta: float,
    x: ArrayLike,
    t_x: ArrayLike,
    T: ArrayLike,
) -> np.ndarray:
    """E[Y(t) | x, t_x, T] at every horizon ``t`` in ``ts`` at once: rows x len(ts).

    The same numbers as :func:`pareto_nbd_conditional_expected_purchases` called once per
    horizon, but P(alive at T), the costly part (a quadrature per customer), is computed once
    and only the cheap time factor per horizon.

    Parameters
    ----------
    ts : 1-d array
        Horizons after ``T``, in the time unit of ``t_x`` and ``T`` (e.g. weeks); a horizon
        ``<= 0`` gives 0.
    r, alpha, s, beta : float
        Model parameters (``alpha`` and ``beta`` in that time unit).
    x, t_x, T : 1-d arrays
        Repeat purchases, time of the last purchase and length of observation of each customer.

    Returns
    -------
    ndarray, shape (len(x), len(ts))
        Expected purchases in ``(T, T + t]``, in purchases.
    """
    x, t_x, T = (np.asarray(v, dtype=float) for v in (x, t_x, T))
    ts = np.asarray(ts, dtype=float)
    # The operations and their order are those of the one-horizon function, so that both give
    # the same floating-point numbers.
    level = (r + x) * (beta + T) / (alpha + T)
    p_alive = pareto_nbd_probability_alive(r, alpha, s, beta, x, t_x, T)
    horizons = np.maximum(ts, 0.0)
    out = np.empty((x.size, ts.size))
    # Blocks of rows small enough for the CPU cache (see _CHUNK_SIZE): ~3x faster than whole
    # rows x horizons temporaries.
    step = max(1, _CHUNK_SIZE // max(ts.size, 1))
    for start in range(0, x.size, step):
        rows = slice(start, start + step)
        u = horizons[None, :] / (beta + T[rows])[:, None]
        np.log1p(u, out=u)
        block = _lomax_mean_factor(s, u)
        block *= level[rows, None]
        block *= p_alive[rows, None]
        out[rows] = block
    out[:, ~(ts > 0)] = 0.0
    return out


def pareto_nbd_probability_of_purchases(n, t, r, alpha, s, beta) -> np.ndarray:
    """P(X(t) = n): probability that a new customer makes ``n`` repeat purchases in ``(0, t]``.

    ``NB(n; r, alpha/(alpha+t)) (beta/(beta+t))^s`` (alive throughout) plus the integral over
    the death time ``tau`` in ``(0, t]`` of ``NB(n; r, alpha/(alpha+tau))`` times the Lomax death
    density ``s beta^s (beta+tau)^-(s+1)``, computed by the same log-space quadrature as the
    likelihood.
    """
    n, t = np.broadcast_arrays(np.asarray(n, dtype=float), np.asarray(t, dtype=float))
    log_nb_coef = special.gammaln(r + n) - special.gammaln(r) - special.gammaln(n + 1)
    with np.errstate(divide="ignore"):
        alive = (
            log_nb_coef
            + r * np.log(alpha / (alpha + t))
            + special.xlogy(n, t / (alpha + t))
            - s * np.log1p(t / beta)
        )
        died = (
            np.log(s)
            + s * np.log(beta)
            + r * np.log(alpha)
            + log_nb_coef
            + _log_power_integral(0.0, t, n, r + n, s + 1.0, alpha, beta)
        )
    out = np.exp(np.logaddexp(alive, died))
    return np.where(t > 0, out, (n == 0).astype(float))


def _upper_gamma_small_z(a: float, z: np.ndarray) -> np.ndarray:
    """The upper incomplete gamma function ``Gamma(a, z)`` for ``-0.5 <= a < 1``, ``0 < z < 0.3``.

    ``Gamma(a, z) = Gamma(a) - sum_k (-1)^k z^(a+k) / (k! (a+k))``. ``Gamma(a)`` and the
    ``k = 0`` term both have a pole at ``a = 0``; together they are
    ``(Gamma(1+a) - 1)/a - (z^a - 1)/a``, each part evaluated to full relative precision
    (``ln Gamma(1+a)`` from its Taylor series ``-euler a + sum_k zeta(k) (-a)^k / k``), and
    ``-euler - ln z`` at ``a = 0``. Away from the pole (``a >= 0.5``) scipy's regularised
    function serves.
    """
    if a >= 0.5:
        return special.gammaincc(a, z) * special.gamma(a)
    log_z = np.log(z)
    if a == 0:
        head = -np.euler_gamma - log_z
    else:
        k = np.arange(2, 64)
        ln_gamma = -np.euler_gamma * a + float(np.sum(special.zeta(k) * (-a) ** k / k))
        head = np.expm1(ln_gamma) / a - np.expm1(a * log_z) / a
    power = np.exp(a * log_z)
    series = np.zeros_like(z)
    term = np.ones_like(z)
    for k in range(1, 30):
        term = term * -z / k
        series += term / (a + k)
    return head - power * series


def _tricomi_scaled(s: float, z: np.ndarray) -> np.ndarray:
    """``K(s, z) = z^s U(s, s, z)`` for z > 0, a number in (0, 1].

    ``K = E[z / (z + G)]`` with ``G ~ Gamma(s, 1)``. Evaluating ``z^s`` and ``U`` separately
    overflows and underflows (the NaN of naive code for large ``beta`` or large ``s``), so:

    * ``z >= 0.3`` or ``s >= 10``: the continued fraction of the upper incomplete gamma function
      (``K = z e^z E_s(z)``), which converges fast there;
    * otherwise: ``K(s0, z) = z^s0 e^z Gamma(1 - s0, z)`` at ``s0 = s - m`` in ``(0, 1.5]``
      (:func:`_upper_gamma_small_z`) and the recurrence ``K(s+1, z) = z (1 - K(s, z)) / s``,
      which does not amplify errors because ``z / s < 0.6``. (scipy's ``hyperu`` is no
      substitute: it fails for integer ``s >= 4`` at small ``z`` and is 19% off at
      ``s = 1 + 2e-16``.)
    """
    z = np.asarray(z, dtype=float)
    out = np.empty_like(z)
    cf = (z >= 0.3) | (s >= 10.0)
    if cf.any():
        zc = z[cf]
        # Backward evaluation of z / (z+s - 1 s/(z+s+2 - 2(s+1)/(z+s+4 - ...))).
        tail = np.zeros_like(zc)
        for k in range(400, 0, -1):
            tail = k * (s + k - 1.0) / (zc + s + 2.0 * k - tail)
        out[cf] = zc / (zc + s - tail)
    small = ~cf
    if small.any():
        zs = z[small]
        steps = max(0, int(np.ceil(s - 1.5)))
        s0 = s - steps
        k = np.exp(s0 * np.log(zs) + zs) * _upper_gamma_small_z(1.0 - s0, zs)
        for j in range(steps):
            k = zs * (1.0 - k) / (s0 + j)
        out[small] = k
    return out


def pareto_nbd_expected_discounted_residual_transactions(
    delta, r, alpha, s, beta, x, t_x, T
) -> np.ndarray:
    """DERT: discounted expected purchases after T, with continuous discount rate ``delta``.

    Fader, Hardie & Lee (2005, "RFM and CLV"):
    ``DERT = alpha^r beta^s delta^(s-1) Gamma(r+x+1) U(s, s; delta(beta+T))
    / (Gamma(r) (alpha+T)^(r+x+1) L)``, i.e.
    ``P(alive) (r+x)/(alpha+T) * K(s, delta(beta+T)) / delta`` with ``K(s, z) = z^s U(s, s, z)``,
    which is how it is evaluated (``K`` is in (0, 1], see :func:`_tricomi_scaled`).

    Parameters
    ----------
    delta : float
        Continuous discount rate per unit of the model's time (e.g. per week), > 0. An annual
        rate ``d`` compounded yearly corresponds to ``ln(1 + d) / 52.18`` per week.
    """
    x, t_x, T = (np.asarray(v, dtype=float) for v in (x, t_x, T))
    z = delta * (beta + T)
    factor = _tricomi_scaled(s, np.atleast_1d(z)).reshape(np.shape(z))
    p_alive = pareto_nbd_probability_alive(r, alpha, s, beta, x, t_x, T)
    return p_alive * (r + x) / (alpha + T) * factor / delta


# ------------------------------------------------------------------------------------------
# Estimator
# ------------------------------------------------------------------------------------------


class ParetoNBDModel(CovariatePurchaseModel):
    """Pareto/NBD: repeat purchases and dropout in continuous time (Schmittlein et al. 1987).

    Parameters
    ----------
    <<time_unit>>
    <<covariates>>
    <<on_nonconvergence>>
    <<penalizer_coef>>

    Attributes
    ----------
    params_ : Series
        ``r``, ``alpha`` (in ``time_unit_``), ``s``, ``beta`` (in ``time_unit_``).
    <<fit_attributes>>
    time_unit_ : str or None
    <<covariate_attributes>>

    Notes
    -----
    The likelihood is evaluated in log space by quadrature of the death-time integral (see the
    module docstring), so it stays finite for heavy buyers (``frequency`` in the thousands) and
    for ``alpha`` and ``beta`` many orders of magnitude apart, where the closed form with
    hypergeometric functions overflows or loses all digits. The fit sums it over customers
    grouped by frequency, with its analytic Hessian, by Newton's method.

    Examples
    --------
    >>> from clvpredict.pareto_nbd import ParetoNBDModel
    >>> from clvpredict.datasets import load_cdnow_summary
    >>> summary = load_cdnow_summary()
    >>> model = ParetoNBDModel().fit(summary)
    >>> model.params_.round(3).to_dict()
    {'r': 0.553, 'alpha': 10.578, 's': 0.606, 'beta': 11.668}
    >>> round(model.log_likelihood_, 2)      # published: -9594.98
    -9594.97
    >>> float(model.expected_purchases(39, summary).loc[1].round(3))   # next 39 weeks
    1.455
    >>> float(model.probability_alive(summary).loc[1].round(3))
    0.869
    """

    _param_names = ("r", "alpha", "s", "beta")
    _time_parameters = ("alpha", "beta")
    _columns = ("frequency", "recency", "T")
    kind = "paretonbd"
    label = "Pareto/NBD"
    citation = "Schmittlein, Morrison & Colombo 1987"

    _derivatives = staticmethod(pareto_nbd_log_likelihood_and_derivatives)
    _negll = staticmethod(pareto_nbd_negll_and_gradient)
    _conditional_expectation = staticmethod(pareto_nbd_conditional_expected_purchases)
    _alive = staticmethod(pareto_nbd_probability_alive)
    _new_customer_expectation = staticmethod(pareto_nbd_expected_purchases)
    _new_customer_pmf = staticmethod(pareto_nbd_probability_of_purchases)
    _simulator = staticmethod(simulate_pareto_nbd)
    _simulation_core = staticmethod(_pareto_core)
    _alive_at = staticmethod(pareto_nbd_probability_alive_at)

    @staticmethod
    def _alive_process(theta, x, t_x, T):
        # Alive at T, the customer is a new one with rate ~ Gamma(r + x, alpha + T) and dropout
        # rate ~ Gamma(s, beta + T) (memoryless lifetimes).
        r, alpha, s, beta = theta
        return pareto_nbd_probability_of_purchases, (r + x, alpha + T, s, beta + T)

    _analytic_hessian = True

    def _prepare_likelihood(self, columns, weights):
        return pareto_nbd_negll_grouped, [ParetoHistories(*columns, weights)]

    def _starting_values(self, columns, weights):
        x, _, big_t = columns
        total = float(weights.sum())
        rate = float(weights @ x) / max(float(weights @ big_t), 1e-12)
        mean_t = float(weights @ big_t) / total
        # r = 1 makes alpha the mean inter-purchase time; s = 1 with beta = mean T puts the
        # median lifetime near the observation length.
        alpha = 1.0 / max(rate, 1e-6)
        return [
            np.array([1.0, alpha, 1.0, max(mean_t, 1e-6)]),
            np.array([0.5, 0.5 * alpha, 0.5, 0.5 * max(mean_t, 1e-6)]),
            np.array([2.0, 2.0 * alpha, 2.0, 4.0 * max(mean_t, 1e-6)]),
            np.array([1.0, 1.0, 1.0, 1.0]),
        ]

    # ---------------------------------------------------------------- predictions
    def _cumulative_purchases(
        self, ts: Sequence[float], theta: np.ndarray, arrays: dict[str, np.ndarray]
    ) -> np.ndarray:
        """Expected purchases at every horizon in ``ts`` at once, P(alive) computed once."""
        x, t_x, big_t = arrays["frequency"], arrays["recency"], arrays["T"]
        return pareto_nbd_conditional_expected_purchases_by_horizon(ts, *theta, x, t_x, big_t)

    def _cumulative_purchases_planner(
        self, ts: Sequence[float], arrays: dict[str, np.ndarray]
    ) -> Callable[[np.ndarray], np.ndarray]:
        """``theta -> _cumulative_purchases(ts, theta, arrays)`` for many parameter draws.

        Each draw costs one P(alive) per customer (instead of one per horizon, as the generic
        planner's calls of ``expected_purchases`` do) and the time factor for all horizons in
        one vectorised step.
        """
        horizons = np.asarray(ts, dtype=float)
        x, t_x, big_t = (np.asarray(arrays[c], dtype=float) for c in self._columns)
        return lambda theta: pareto_nbd_conditional_expected_purchases_by_horizon(
            horizons, *theta, x, t_x, big_t
        )

    @in_callers_kind
    def expected_discounted_residual_transactions(
        self,
        data: pd.DataFrame | None = None,
        continuous_discount_rate: float | None = None,
        *,
        frequency: Any = None,
        recency: Any = None,
        T: Any = None,
    ) -> pd.Series:
        """DERT: present value of all purchases after ``T``, in purchases (FHL 2005, "RFM and CLV").

        Multiply by the expected margin per purchase (e.g. ``margin *
        GammaGammaModel.expected_average_value``) for the residual lifetime value.

        Parameters
        ----------
        data : DataFrame, optional
            RFM rows; or pass the arrays as keywords. As in :meth:`expected_purchases`: with
            covariates, ``data`` with the covariate columns (see
            :func:`~clvpredict.attach_covariates`).
        continuous_discount_rate : float
            Required. Continuous discount rate per unit of the model's time, > 0: a purchase at
            ``T + t`` counts ``exp(-rate * t)``. For an annual rate ``d`` and weeks use
            ``log(1 + d) / 52.18`` (365.2425 / 7 weeks a year).

        Returns
        -------
        Series
            ``dert`` (discounted number of purchases), indexed like ``data``.
        """
        delta = (
            float("nan") if continuous_discount_rate is None else float(continuous_discount_rate)
        )
        if not np.isfinite(delta) or delta <= 0:
            raise ClvDataError(
                f"continuous_discount_rate={continuous_discount_rate!r} must be a rate > 0 per "
                "time unit (without discounting the expected number of future purchases is "
                "infinite for s <= 1)."
            )
        theta, x, t_x, big_t, index = self._history(data, frequency, recency, T)
        values = pareto_nbd_expected_discounted_residual_transactions(delta, *theta, x, t_x, big_t)
        return pd.Series(values, index=index, name="dert")

    # ---------------------------------------------------------------- simulation

"""BG/NBD: the beta-geometric / negative binomial distribution model of Fader, Hardie & Lee (2005).

While alive, a customer buys as a Poisson process with rate ``lambda ~ Gamma(r, alpha)`` (shape
``r``, rate ``alpha``, so ``alpha`` is in the model's time unit); after each purchase the customer
drops out with probability ``p ~ Beta(a, b)``.

All formulas are from Fader, Hardie & Lee (2005), "Counting your customers the easy way", and its
technical notes; equation numbers refer to the paper.
"""

from __future__ import annotations

import warnings

import numpy as np
from scipy import integrate, sparse, special, stats

from .._fitting import distinct_values, group_rows, serial_blas
from ._covariate_model import CovariatePurchaseModel
from ._simulators import _bgnbd_core, simulate_bgnbd

__all__ = [
    "BetaGeoModel",
    "bgnbd_conditional_expected_purchases",
    "bgnbd_conditional_probability_of_purchases",
    "bgnbd_expected_purchases",
    "bgnbd_log_likelihood",
    "bgnbd_negll_and_gradient",
    "bgnbd_probability_alive",
    "bgnbd_probability_alive_at",
    "bgnbd_probability_of_purchases",
]

# ------------------------------------------------------------------------------------------
# Mathematics: plain vectorised functions of (parameters, data)
# ------------------------------------------------------------------------------------------


def _ll_terms(r, alpha, a, b, x, t_x, T):
    """The two summands of the individual likelihood (FHL eq. 6), in logs.

    Returns the common log-factor and the two log-terms; the second is ``-inf`` for ``x == 0``,
    where it does not exist.
    """
    common = special.gammaln(r + x) - special.gammaln(r) + r * np.log(alpha)
    ln_b = special.betaln(a, b)
    term1 = special.betaln(a, b + x) - ln_b - (r + x) * np.log(alpha + T)
    repeat = x > 0
    # b + x - 1 > 0 whenever x >= 1; substitute a harmless value where the term is absent.
    bx1 = np.where(repeat, b + x - 1, 1.0)
    term2 = np.where(
        repeat,
        special.betaln(a + 1, bx1) - ln_b - (r + x) * np.log(alpha + t_x),
        -np.inf,
    )
    return common, term1, term2


def bgnbd_log_likelihood(r, alpha, a, b, x, t_x, T) -> np.ndarray:
    """Individual BG/NBD log-likelihoods ln L(r, alpha, a, b | x, t_x, T) (FHL eq. 6).

    Parameters
    ----------
    r, alpha, a, b : float
        Model parameters (``alpha`` in the time unit of ``t_x`` and ``T``).
    x : array
        Number of repeat purchases.
    t_x, T : array
        Time of the last purchase and length of observation, both since the first purchase.

    Returns
    -------
    ndarray
        One log-likelihood per row.
    """
    common, term1, term2 = _ll_terms(r, alpha, a, b, x, t_x, T)
    return common + np.logaddexp(term1, term2)


def bgnbd_negll_and_gradient(theta, x, t_x, T, weights) -> tuple[float, np.ndarray]:
    """Weighted negative log-likelihood and its analytic gradient wrt (r, alpha, a, b)."""
    ll, derivatives = bgnbd_log_likelihood_and_derivatives(*theta, x, t_x, T)
    grad = np.array([weights @ d for d in derivatives])
    return -float(weights @ ll), -grad


def bgnbd_log_likelihood_and_derivatives(r, alpha, a, b, x, t_x, T):
    """Individual log-likelihoods and their derivatives wrt (r, alpha, a, b), per row.

    The parameters may be arrays of one value per row (customers with covariates). The
    gradient follows from differentiating eq. 6 term by term; ``w2`` is the share of the
    second (``x > 0``) summand in the likelihood, so each derivative is a mixture of the two
    summands' derivatives.

    Returns
    -------
    ll : ndarray, shape (n,)
    derivatives : tuple of 4 ndarrays of shape (n,)
    """
    common, term1, term2 = _ll_terms(r, alpha, a, b, x, t_x, T)
    total = np.logaddexp(term1, term2)
    ll = common + total
    w2 = np.exp(term2 - total)
    w1 = 1.0 - w2
    repeat = x > 0
    bx1 = np.where(repeat, b + x - 1, 1.0)
    psi_ab = special.digamma(a + b)
    psi_abx = special.digamma(a + b + x)
    d_r = (
        special.digamma(r + x)
        - special.digamma(r)
        + np.log(alpha)
        - w1 * np.log(alpha + T)
        - w2 * np.log(alpha + t_x)
    )
    d_alpha = r / alpha - (r + x) * (w1 / (alpha + T) + w2 / (alpha + t_x))
    d_a = psi_ab - psi_abx + w2 / a
    d_b = (
        psi_ab
        - psi_abx
        - special.digamma(b)
        + w1 * special.digamma(b + x)
        + w2 * np.where(repeat, special.digamma(bx1), 0.0)
    )
    return ll, (d_r, d_alpha, d_a, d_b)


class GroupedRFM:
    """RFM rows arranged once per fit so that each likelihood evaluation is cheap.

    Rows without repeat purchases contribute ``r log(alpha) - r log(alpha + T)`` only, and every
    term that depends on the frequency alone (gamma, beta and digamma functions) is computed
    once per distinct frequency, not once per row.
    """

    def __init__(self, x: np.ndarray, t_x: np.ndarray, T: np.ndarray, weights: np.ndarray):
        # Row numbers once, then take(): several times faster than a boolean mask per column.
        repeat = x > 0
        one_time, repeated = np.flatnonzero(~repeat), np.flatnonzero(repeat)
        self.n_rows = len(x)
        self.total_weight = float(weights.sum())
        self.T0, self.w0 = T.take(one_time), weights.take(one_time)
        self.x, self.t_x, self.T, self.w = (v.take(repeated) for v in (x, t_x, T, weights))
        self.frequencies, self.inverse = distinct_values(self.x)
        self.weight_per_frequency = np.bincount(
            self.inverse, weights=self.w, minlength=len(self.frequencies)
        )

    def __len__(self) -> int:
        return self.n_rows


#: Rows per block in the BG/NBD sums: the dozen temporaries of a block (2**14 doubles, 128 KiB
#: each) stay in the CPU cache, where elementwise passes run about twice as fast as over
#: arrays of a million rows.
_BLOCK = 1 << 14


def _bgnbd_repeat_sums(r, alpha, a, log_ae_x, e_x, rows, start, stop, hessian):
    """Sums over repeat buyers ``start:stop`` for :func:`bgnbd_negll_and_gradient_grouped`.

    Returns ``(values, s2_x, grad_d, outer)``: ``values`` holds, in order, the sums of ``w`` times
    ``k A``, ``softplus(d)``, ``A``, ``k u`` and, with ``hessian``, ``u``, ``k u^2``,
    ``w2 k (v^2 - u^2)``, ``w2 e^2``, ``w2 (u - v)``; ``s2_x`` the sums of ``w w2`` per distinct
    frequency; ``grad_d`` is ``sum w w2 grad d`` and ``outer`` ``sum w q grad d grad d'`` (see
    the caller's docstring for the symbols).
    """
    n_freq = len(e_x)
    values = np.zeros(9 if hessian else 4)
    s2_x = np.zeros(n_freq)
    grad_d = np.zeros(4)
    outer = np.zeros((4, 4))
    for lo in range(start, stop, _BLOCK):
        hi = min(lo + _BLOCK, stop)
        w, inv = rows.w[lo:hi], rows.inverse[lo:hi]
        k = rows.x[lo:hi] + r
        u = rows.T[lo:hi] + alpha
        log_t = np.log(u)
        np.divide(1.0, u, out=u)
        v = rows.t_x[lo:hi] + alpha
        diff = np.log(v)
        np.subtract(log_t, diff, out=diff)  # A - B >= 0
        np.divide(1.0, v, out=v)
        d = log_ae_x[inv]
        d += k * diff
        softplus, w2 = _softplus_and_sigmoid(d)
        wk = w * k
        ww2 = w * w2
        values[0] += wk @ log_t
        values[1] += w @ softplus
        values[2] += w @ log_t
        values[3] += wk @ u
        s2_x += np.bincount(inv, weights=ww2, minlength=n_freq)
        # grad d = (A - B, k (u - v), 1/a, -e) per row, as the rows of one block.
        block = np.empty((4, hi - lo))
        block[0] = diff
        np.subtract(u, v, out=block[1])
        block[2] = 1.0 / a
        np.negative(e_x[inv], out=block[3])
        if hessian:
            values[4] += w @ u
            values[8] += ww2 @ block[1]
            u2 = np.multiply(u, u, out=log_t)
            values[5] += wk @ u2
            v2 = np.multiply(v, v, out=v)
            v2 -= u2
            values[6] += (ww2 * k) @ v2
            values[7] += ww2 @ np.square(block[3])
        block[1] *= k
        grad_d += block @ ww2
        if hessian:
            q = np.subtract(1.0, w2, out=w2)
            q *= ww2
            outer += (block * q) @ block.T
    return values, s2_x, grad_d, outer


def bgnbd_negll_and_gradient_grouped(theta, rows: GroupedRFM, weights=None, *, hessian=False):
    """The same value and gradient as :func:`bgnbd_negll_and_gradient`, from :class:`GroupedRFM`;
    with ``hessian=True`` also the analytic Hessian wrt (r, alpha, a, b).

    ``weights`` is ignored (the rows carry theirs); it keeps the fitting core's signature.

    Derivation (FHL 2005 eq. 6). For a repeat buyer write ``A = ln(alpha+T)``,
    ``B = ln(alpha+t_x)``, ``k = r + x`` and ``e = 1/(b+x-1)``. Since
    ``B(a+1, b+x-1) / B(a, b+x) = a e``, eq. 6 is ``ln L = C - k A + softplus(d)`` with
    ``C = ln Gamma(r+x) - ln Gamma(r) + r ln(alpha) + ln B(a, b+x) - ln B(a, b)`` and
    ``d = ln(a e) + k (A - B)`` (the log-ratio of the second summand to the first). With
    ``w2 = sigmoid(d)``, ``q = w2 (1 - w2)``, ``u = 1/(alpha+T)``, ``v = 1/(alpha+t_x)``:

    * ``grad d = (A - B, k (u - v), 1/a, -e)`` and its non-zero second derivatives are
      ``d_r,alpha = u - v``, ``d_alpha,alpha = k (v^2 - u^2)``, ``d_a,a = -1/a^2``,
      ``d_b,b = e^2``;
    * ``Hessian[softplus(d)] = q grad d grad d' + w2 Hessian[d]``;
    * ``-k A`` adds ``-A``, ``-k u`` to the gradient and ``-u`` (r, alpha), ``k u^2``
      (alpha, alpha) to the Hessian; ``C`` adds trigamma terms per distinct frequency.

    A customer without repeat purchases has ``ln L = r ln(alpha) - r ln(alpha+T)``.
    """
    return _two_term_negll(theta, rows, 0.0, hessian)


def _softplus_and_sigmoid(d: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``softplus(d) = max(d, 0) + log1p(exp(-|d|))`` and ``sigmoid(d)``, without overflow.

    Overwrites ``d`` (the blocks of the grouped likelihoods reuse their buffers).
    """
    small = np.abs(d)
    np.negative(small, out=small)
    np.exp(small, out=small)
    w2 = small + 1.0
    np.divide(1.0, w2, out=w2)
    w2 = np.where(d > 0, w2, small * w2)
    softplus = np.log1p(small, out=small)
    softplus += np.maximum(d, 0.0, out=d)
    return softplus, w2


def _two_term_negll(theta, rows: GroupedRFM, shift: float, hessian: bool):
    """Weighted negative log-likelihood, gradient and (optionally) Hessian of ``rows`` for the
    models whose likelihood of a repeat buyer is ``ln L = C - k A + softplus(d)`` with

    ``C = ln Gamma(r+x) - ln Gamma(r) + r ln(alpha) + ln B(a, b+x+shift) - ln B(a, b)``,
    ``e = 1/(b+x+shift-1)`` and ``d = ln(a e) + k (A - B)``: the BG/NBD (``shift = 0``; see
    :func:`bgnbd_negll_and_gradient_grouped` for the symbols and the derivatives) and the
    MBG/NBD (``shift = 1``). The rows without repeat purchases (``T0``, ``w0``) contribute
    ``r ln(alpha) - r ln(alpha+T)``, all of the BG/NBD's likelihood and a part of the MBG/NBD's.
    """
    r, alpha, a, b = theta
    xs, wx, total_weight = rows.frequencies, rows.weight_per_frequency, rows.total_weight
    # (b + xs) + (shift - 1) is exactly (b + xs) - 1 for the BG/NBD: the same rounding as before.
    bxs = b + xs
    e_x = 1.0 / (bxs + (shift - 1.0))
    values, s2_x, grad_d, outer = _bgnbd_repeat_sums(
        r, alpha, a, np.log(a * e_x), e_x, rows, 0, len(rows.x), hessian
    )
    sum_klt, sum_softplus, sum_lt, sum_ku = values[:4]
    shifted_t0 = alpha + rows.T0
    sum_w0_log_t0 = float(rows.w0 @ np.log(shifted_t0))
    inv_t0 = np.divide(1.0, shifted_t0, out=shifted_t0)
    sum_w0_inv_t0 = float(rows.w0 @ inv_t0)
    log_alpha = np.log(alpha)

    ln_gamma_x = special.gammaln(r + xs) - special.gammaln(r)
    ln_beta_x = special.betaln(a, bxs + shift) - special.betaln(a, b)
    ll = (
        float(wx @ (ln_gamma_x + ln_beta_x))
        + total_weight * r * log_alpha
        - sum_klt
        + sum_softplus
        - r * sum_w0_log_t0
    )
    psi_ab = special.digamma(a + b)
    psi_abx = special.digamma(a + b + xs + shift)
    grad = grad_d + np.array(
        [
            float(wx @ (special.digamma(r + xs) - special.digamma(r)))
            + total_weight * log_alpha
            - sum_lt
            - sum_w0_log_t0,
            total_weight * r / alpha - sum_ku - r * sum_w0_inv_t0,
            float(wx @ (psi_ab - psi_abx)),
            float(wx @ (special.digamma(bxs + shift) - psi_abx - special.digamma(b) + psi_ab)),
        ]
    )
    if not hessian:
        return -ll, -grad

    sum_u, sum_ku2, sum_w2_k_v2u2, sum_w2_e2, sum_w2_delta = values[4:]
    tri_ab = special.polygamma(1, a + b)
    tri_abx = special.polygamma(1, a + b + xs + shift)
    # The block products round differently above and below the diagonal.
    h = 0.5 * (outer + outer.T)
    h[0, 0] += float(wx @ (special.polygamma(1, r + xs) - special.polygamma(1, r)))
    h_r_alpha = total_weight / alpha - sum_u + sum_w2_delta - sum_w0_inv_t0
    h[0, 1] += h_r_alpha
    h[1, 0] += h_r_alpha
    h[1, 1] += (
        -total_weight * r / alpha**2
        + sum_ku2
        + sum_w2_k_v2u2
        + r * float(rows.w0 @ (inv_t0 * inv_t0))
    )
    h_ab = float(wx @ (tri_ab - tri_abx))
    h[2, 2] += h_ab - float(s2_x.sum()) / a**2
    h[2, 3] += h_ab
    h[3, 2] += h_ab
    h[3, 3] += (
        float(wx @ (special.polygamma(1, bxs + shift) - tri_abx - special.polygamma(1, b) + tri_ab))
        + sum_w2_e2
    )
    return -ll, -grad, -h


def bgnbd_probability_alive(r, alpha, a, b, x, t_x, T) -> np.ndarray:
    """P(alive at T | x, t_x, T) (FHL eq. 11): 1 / (1 + [x>0] a/(b+x-1) ((alpha+T)/(alpha+t_x))^(r+x))."""
    x = np.asarray(x, dtype=float)
    repeat = x > 0
    bx1 = np.where(repeat, b + x - 1, 1.0)
    log_odds_dead = np.log(a) - np.log(bx1) + (r + x) * (np.log(alpha + T) - np.log(alpha + t_x))
    return np.where(repeat, special.expit(-log_odds_dead), 1.0)


def bgnbd_probability_alive_at(t, r, alpha, a, b, x, t_x, T) -> np.ndarray:
    """P(alive at T + t | x, t_x, T): alive at ``T`` and no dropout in the next ``t``.

    See :func:`_bg_survival` for the second factor.
    """
    return bgnbd_probability_alive(r, alpha, a, b, x, t_x, T) * _bg_survival(
        t, r, alpha, a, b, x, T
    )


def _bg_survival(t, r, alpha, a, b, x, T) -> np.ndarray:
    """P(no dropout in the next ``t`` | alive at ``T``) for the BG/NBD.

    Alive at ``T``, the customer drops out at rate ``lambda p`` (each purchase is followed by a
    dropout with probability ``p``), so it survives ``t`` more with probability
    ``E[exp(-lambda p t)] = E_p[(1 + p s)^-(r+x)]``, ``s = t/(alpha+T)``, under the posteriors
    ``lambda ~ Gamma(r+x, alpha+T)`` and ``p ~ Beta(a, b+x)``. That is
    ``(1-z)^(r+x) 2F1(r+x, b+x; a+b+x; z)`` with ``z = t/(alpha+T+t)``, evaluated after Euler's
    transformation as ``(1-z)^a 2F1(a+b-r, a; a+b+x; z)``, whose parameters do not grow with
    ``x``.
    """
    x, T = (np.asarray(v, dtype=float) for v in (x, T))
    t = np.maximum(np.asarray(t, dtype=float), 0.0)
    z = t / (alpha + T + t)
    with np.errstate(all="ignore"):
        survive = (1 - z) ** a * special.hyp2f1(a + b - r, a, a + b + x, z)
    # The survival lies between the no-dropout floor (1 + s)^-(r+x) and 1; out-of-range values
    # come from hyp2f1 failing and are replaced by quadrature over p.
    floor = np.exp(-(r + x) * np.log1p(t / (alpha + T)))
    bad = ~np.isfinite(survive) | (survive < floor * (1 - 1e-9)) | (survive > 1 + 1e-9)
    # Within those bounds hyp2f1 can still be wrong: in the fourth digit for z near 1 when
    # c - a - b is an integer (as in _bg_residual_mean), and by orders of magnitude at any z
    # when its parameters are large (alternating terms cancel when r exceeds a + b by
    # hundreds: 1e-38 for 2e-69 at r = 665, a = 403, z = 0.21).
    shift = x + r - a
    near_integer = np.abs(shift - np.round(shift)) < 1e-9
    large = np.maximum(np.maximum(np.abs(a + b - r), a), a + b + x) > 100
    bad = bad | ((z > 0.9) & near_integer) | large
    if np.any(bad):
        survive = np.array(survive, dtype=float, copy=True)
        t_b, x_b, T_b = np.broadcast_arrays(t, x, T)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", integrate.IntegrationWarning)
            for i in zip(*np.nonzero(np.broadcast_to(bad, survive.shape)), strict=True):
                k, s_ = r + x_b[i], t_b[i] / (alpha + T_b[i])
                survive[i] = _beta_expectation(
                    lambda p, k=k, s_=s_: np.exp(-k * np.log1p(p * s_)),
                    a,
                    b + x_b[i],
                    bend=1.0 / (k * s_) if k * s_ > 0 else None,
                )
        # Quadrature only fails at parameter sets far from any fitted model; the result is
        # then bounded to [floor, 1] below rather than left as NaN.
        survive = np.nan_to_num(survive, nan=1.0)
    return np.clip(survive, floor, 1.0)


def _bg_residual_mean_hyp2f1(t, r, alpha, a, b, x, T):
    """(a+b+x-1)/(a-1) * [1 - ((alpha+T)/(alpha+T+t))^(r+x) 2F1(r+x, b+x; a+b+x-1; z)].

    The hypergeometric part is evaluated after Euler's transformation,
    ``(1-z)^(r+x) 2F1(r+x, b+x; c; z) = (1-z)^(a-1) 2F1(a+b-1-r, a-1; c; z)`` with
    ``c = a+b+x-1`` and ``z = t/(alpha+T+t)``: its parameters no longer grow with ``x``, so heavy
    buyers neither overflow nor lose precision.
    """
    c = a + b + x - 1
    one_minus_z = (alpha + T) / (alpha + T + t)
    z = t / (alpha + T + t)
    with np.errstate(all="ignore"):
        hyp = special.hyp2f1(a + b - 1 - r, a - 1, c, z)
        return c / (a - 1) * (1.0 - one_minus_z ** (a - 1) * hyp)


def _upper_quantile(a: float, beta_x: float, tail: float = 1e-18) -> float:
    """The point of Beta(a, beta_x) above which lies ``tail`` of the mass, or 1.0 when that point
    is within rounding of 1 (a tiny ``a`` puts a thin tail all the way to 1).

    scipy's quantile gives up on such a root: before 1.11 it warns and returns 1.0, later
    releases return NaN. Both mean that the whole interval must be integrated.
    """
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        point = float(stats.beta.isf(tail, a, beta_x))
    return point if np.isfinite(point) and point < 1.0 else 1.0


def _beta_expectation(function, a: float, beta_x: float, bend: float | None = None) -> float:
    """E[function(p)] for p ~ Beta(a, beta_x), by adaptive quadrature.

    ``function`` must be smooth and bounded on [0, 1]. The Beta density's endpoint singularities
    go into quad's algebraic weight; otherwise the density is evaluated in logs on the interval
    that holds all but 1e-18 of its mass (it can be very narrow for heavy buyers). ``bend`` is
    where ``function`` turns sharply (for ``beta_x >= 1``; quad can step over a turn far
    narrower than the interval and lose the fourth digit).
    """
    log_b = special.betaln(a, beta_x)
    options = {"epsabs": 0.0, "epsrel": 1e-11, "limit": 400}
    if beta_x < 1:
        # Both ends may be singular; the whole density goes into the weight.
        weight_a = a - 1 if a < 1 else 0.0
        value = integrate.quad(
            lambda p: function(p) * (p ** (a - 1 - weight_a)),
            0.0,
            1.0,
            weight="alg",
            wvar=(weight_a, beta_x - 1),
            **options,
        )[0]
        return float(value / np.exp(log_b))
    upper = _upper_quantile(a, beta_x)
    bend = bend if bend is not None and 0 < bend < upper else None
    # Past the turn the integrand can fall as a power of p over many decades: one break per
    # decade keeps quad's subintervals on the scale of the integrand.
    decades = []
    if bend is not None:
        n_decades = int(np.floor(np.log10(upper / bend)))
        decades = [bend * 10.0**j for j in range(1, n_decades + 1) if bend * 10.0**j < upper]
    if a < 1:
        # The weight p^(a-1) belongs to the piece that starts at 0; the rest is plain.
        split = upper if bend is None else bend
        value = integrate.quad(
            lambda p: function(p) * np.exp(special.xlog1py(beta_x - 1, -p) - log_b),
            0.0,
            split,
            weight="alg",
            wvar=(a - 1, 0.0),
            **options,
        )[0]
        if split < upper:
            value += integrate.quad(
                lambda p: (
                    function(p)
                    * np.exp(special.xlogy(a - 1, p) + special.xlog1py(beta_x - 1, -p) - log_b)
                ),
                split,
                upper,
                points=decades or None,
                **options,
            )[0]
        return float(value)
    mode = (a - 1) / (a + beta_x - 2) if a + beta_x > 2 else 0.0
    spread = np.sqrt(a * beta_x / ((a + beta_x) ** 2 * (a + beta_x + 1)))
    marks = sorted(
        {
            m
            for m in (mode, mode - 3 * spread, mode + 3 * spread, bend or 0, *decades)
            if 0 < m < upper
        }
    )
    value = integrate.quad(
        lambda p: (
            function(p) * np.exp(special.xlogy(a - 1, p) + special.xlog1py(beta_x - 1, -p) - log_b)
        ),
        0.0,
        upper,
        points=marks or None,
        **options,
    )[0]
    return float(value)


def _bg_residual_mean_quadrature(t, r, alpha, a, b, x, T) -> float:
    """The residual mean as an integral over the dropout probability ``p ~ Beta(a, b+x)``.

    An alive customer with rate ``lambda`` and dropout probability ``p`` makes on average
    ``(1 - exp(-lambda p t)) / p`` purchases in the next ``t``; averaging over the posterior
    ``lambda ~ Gamma(r+x, alpha+T)`` gives ``(1 - (1 + p s)^-(r+x)) / p`` with
    ``s = t/(alpha+T)``, which is bounded by ``(r+x) s`` and smooth in ``p``.
    """
    s = t / (alpha + T)
    k = r + x

    def mean_given_p(p: float) -> float:
        return k * s if p <= 0 else -np.expm1(-k * np.log1p(p * s)) / p

    # The mean given p turns from k s to 1/p at p = 1/(k s).
    return _beta_expectation(mean_given_p, a, b + x, bend=1.0 / (k * s))


def _bg_residual_mean(t, r, alpha, a, b, x, T):
    """Expected purchases in the next ``t`` of a customer alive at ``T`` (FHL eq. 10 without
    the P(alive) factor): hypergeometric fast path, quadrature where it cannot be trusted.

    scipy's ``hyp2f1`` is unreliable for ``z`` near 1 with large parameters or when
    ``c - a - b`` is an integer (it returns NaN/inf, or a few per cent off), at the removable
    singularities ``a == 1`` and ``c == 0``, and the closed form cancels where its bracket
    ``1 - ...`` (at most ``(r+x) s |a-1| / c``) is tiny: tiny horizons, or ``c`` in the
    hundreds (9e-8 at ``b = 403``, leaving 7 digits fewer). Those elements,
    and any result outside the bounds ``0 <= R <= (r+x) s`` and ``R <= c/(a-1)`` (a > 1), are
    recomputed by quadrature, once per distinct (t, x, T).
    """
    t, r, alpha, a, b, x, T = np.broadcast_arrays(
        *(np.asarray(v, dtype=float) for v in (t, r, alpha, a, b, x, T))
    )
    result = np.asarray(_bg_residual_mean_hyp2f1(t, r, alpha, a, b, x, T), dtype=float)
    with np.errstate(all="ignore"):
        k_s = (r + x) * t / (alpha + T)
        c = a + b + x - 1
        z = t / (alpha + T + t)
        shift = x + r - a + 1
        near_integer = np.abs(shift - np.round(shift)) < 1e-9
        large = np.maximum(np.maximum(np.abs(a + b - 1 - r), np.abs(a - 1)), c) > 100
        suspect = (
            ~np.isfinite(result)
            | (result < 0)
            | (result > k_s * (1 + 1e-9))
            | ((a > 1) & (result > c / (a - 1) * (1 + 1e-9)))
            | ((z > 0.9) & (near_integer | large))
            | (np.abs(a - 1) < 1e-4)
            | (np.abs(c) < 1e-8)
            | (k_s < 1e-5)
            | (k_s * np.abs(a - 1) < 1e-5 * np.abs(c))
        ) & (t > 0)
    if suspect.any():
        rows = np.column_stack([v[suspect] for v in (t, r, alpha, a, b, x, T)])
        unique, inverse = np.unique(rows, axis=0, return_inverse=True)
        with warnings.catch_warnings():
            # Only parameter sets far outside any fitted model (e.g. a fit that ran to the edge
            # of the parameter space) make quad complain; its estimate is still bounded below.
            warnings.simplefilter("ignore", integrate.IntegrationWarning)
            values = np.array([_bg_residual_mean_quadrature(*row) for row in unique])
        bound = (unique[:, 1] + unique[:, 5]) * unique[:, 0] / (unique[:, 2] + unique[:, 6])
        values = np.clip(np.nan_to_num(values, nan=0.0), 0.0, bound)
        result = result.copy()
        result[suspect] = values[inverse.ravel()]
    return result


def bgnbd_expected_purchases(t, r, alpha, a, b) -> np.ndarray:
    """E[X(t)] for a customer just acquired (FHL eq. 9).

    ``E[X(t)] = (a+b-1)/(a-1) [1 - (alpha/(alpha+t))^r 2F1(r, b; a+b-1; t/(alpha+t))]``.
    """
    t = np.asarray(t, dtype=float)
    return np.where(t > 0, _bg_residual_mean(t, r, alpha, a, b, 0.0, 0.0), 0.0)


def bgnbd_conditional_expected_purchases(t, r, alpha, a, b, x, t_x, T) -> np.ndarray:
    """E[Y(t) | x, t_x, T]: expected purchases in (T, T + t] given the history (FHL eq. 10)."""
    x = np.asarray(x, dtype=float)
    t = np.asarray(t, dtype=float)
    alive = bgnbd_probability_alive(r, alpha, a, b, x, t_x, T)
    # A customer certainly gone expects nothing, even where the residual mean is huge.
    out = np.where(alive > 0, _bg_residual_mean(t, r, alpha, a, b, x, T) * alive, 0.0)
    return np.where(t > 0, out, 0.0)


# ------------------------------------------------------------------------------------------
# Weighted sums over horizons (CLV): interpolation with a proven error bound
# ------------------------------------------------------------------------------------------

#: Relative error that the interpolated residual sums are guaranteed to stay within (on top of
#: the rounding of the special functions at the interpolation points).
_SUMS_TOLERANCE = 1e-13
#: Width of the pieces of ``v = log(1 + t_max/(alpha + T))`` on which the sums are
#: interpolated (degrees 10 to 15 for most customers).
_PIECE_WIDTH = 0.25
#: Above this degree (heavy buyers observed far longer than the horizon) the customers of a
#: piece are evaluated one by one, as the residual mean itself.
_SUMS_MAX_DEGREE = 200
#: The imaginary half-axes of the ellipses tried when a degree is chosen: up to just below
#: pi/2, where the bound stops holding.
_ELLIPSE_HEIGHTS = np.linspace(0.005, 1.565, 313)


def _chebyshev_degrees(lo, half, k, scale, floor, tol=_SUMS_TOLERANCE):
    """For each interval ``[lo, lo + 2 half]``, the lowest degree whose interpolation error bound
    (see :func:`_bg_residual_sums`) is within ``tol`` times ``floor``, or -1 when it is above
    ``_SUMS_MAX_DEGREE``.

    ``lo`` and ``k`` hold one number per interval; ``scale`` (``k S_j``) and ``floor`` (the
    function at the right end, its least value on the interval) are intervals x columns. The
    Bernstein ellipse ``E_rho`` of an interval has half-axes ``half (rho + 1/rho) / 2`` and
    ``half (rho - 1/rho) / 2``; on it the function is bounded by ``M = k S_j L^-(k+1)`` with
    ``L = min(1, exp(leftmost Re v) cos(highest |Im v|))``, and the interpolant of degree ``n``
    in Chebyshev points is within ``4 M rho^-n / (rho - 1)`` of the function on the interval
    (Trefethen, Approximation Theory and Approximation Practice, Theorem 8.2). The ellipse is
    chosen among ``_ELLIPSE_HEIGHTS``, for each interval, to need the lowest degree.
    """
    ratio = _ELLIPSE_HEIGHTS / half
    rho = ratio + np.sqrt(ratio * ratio + 1.0)  # rho - 1/rho = 2 height / half
    leftmost = (lo + half)[:, None] - half * (rho + 1.0 / rho) / 2.0
    log_l = np.minimum(0.0, leftmost + np.log(np.cos(_ELLIPSE_HEIGHTS)))  # intervals x ellipses
    with np.errstate(divide="ignore", invalid="ignore"):
        log_bound = (
            np.log(4.0 * scale / (tol * floor))[:, None, :]
            - ((k + 1.0)[:, None] * log_l - np.log(rho - 1.0))[:, :, None]
        )
        # The worst column decides; then the best ellipse.
        degree = np.min(np.ceil(np.max(log_bound, axis=2) / np.log(rho)), axis=1)
    valid = np.all(np.isfinite(floor) & (floor > 0), axis=1) & (degree <= _SUMS_MAX_DEGREE)
    return np.where(valid, np.maximum(degree, 1), -1).astype(int)


def _clenshaw(coefficients, zeta):
    """``sum_i coefficients[i, j] T_i(zeta)`` for every ``zeta`` and column ``j``
    (Clenshaw's recurrence): columns x len(zeta), in cache-sized blocks."""
    n_cols = coefficients.shape[1]
    out = np.empty((n_cols, len(zeta)))
    for lo in range(0, len(zeta), _BLOCK):
        z = zeta[lo : lo + _BLOCK]
        twice = 2.0 * z
        b1 = np.zeros((n_cols, len(z)))
        b2 = np.zeros_like(b1)
        b0 = np.empty_like(b1)
        for c in coefficients[:0:-1, :, None]:
            np.multiply(twice, b1, out=b0)
            b0 -= b2
            b0 += c
            b0, b1, b2 = b2, b0, b1
        block = np.multiply(z, b1, out=b0)
        block -= b2
        block += coefficients[0, :, None]
        out[:, lo : lo + len(z)] = block
    return out


def _grouped_order(x, piece):
    """Row numbers ordered by frequency and then piece, and where each (frequency, piece)
    group ends in that order. ``piece`` holds whole numbers in [0, 2**16)."""
    small = None
    if x.size and x.min() >= 0 and x.max() < 2**16:
        small = x.astype(np.uint16)
        if not np.array_equal(small, x):
            small = None
    n_pieces = int(piece.max()) + 1 if piece.size else 1
    if small is None:
        order = np.lexsort((piece, x))
    elif (int(small.max()) + 1) * n_pieces <= 2**16:
        # A stable sort of 16-bit integers is a radix sort: one key for both.
        order = np.argsort(small * np.uint16(n_pieces) + piece.astype(np.uint16), kind="stable")
    else:
        # Two radix sorts, the less significant key first.
        order = np.argsort(piece.astype(np.uint16), kind="stable")
        order = order[np.argsort(small[order], kind="stable")]
    x_sorted, piece_sorted = x[order], piece[order]
    change = (x_sorted[1:] != x_sorted[:-1]) | (piece_sorted[1:] != piece_sorted[:-1])
    ends = np.append(np.flatnonzero(change) + 1, len(x))
    return order, x_sorted[ends - 1], piece_sorted[ends - 1], ends


def _bg_residual_sums(ts, weights, r, alpha, a, b, x, T):
    """``sum_m weights[m, j] R(ts[m])`` for every customer: the BG/NBD residual mean
    (:func:`_bg_residual_mean`, purchases in the next ``t`` of a customer alive at ``T``)
    combined over the horizons ``ts > 0`` with weights ``>= 0``; rows x columns of ``weights``.

    With ``t_max = max(ts)``, ``lambda_m = ts[m] / t_max``, ``s = t_max / (alpha + T)`` and
    ``v = log(1 + s)``, a customer's sums are ``s Q_j(v)`` with
    ``Q_j(v) = sum_m weights[m, j] R(lambda_m t_max) / s``, a function of ``v`` for each
    frequency. The line of ``v`` is cut into pieces of width ``_PIECE_WIDTH`` (a fixed grid, so
    that a customer's value depends on its own history only, never on the other customers
    scored with it), and on each piece that holds customers of a frequency ``Q_j`` is
    interpolated from Chebyshev points: the special functions are evaluated at those points
    only. The error is bounded, not estimated:

    * An alive customer with rate ``lambda`` and dropout probability ``p`` makes on average
      ``(1 - exp(-lambda p t)) / p`` purchases in the next ``t``; under the posteriors
      ``lambda ~ Gamma(k, alpha + T)``, ``k = r + x``, and ``p ~ Beta(a, b + x)``,
      ``R = E_p[(1 - (1 + p sigma)^-k) / p]`` with ``sigma = t / (alpha + T)``. Since
      ``(1 - (1 + y)^-k) / y = k int_0^1 (1 + tau y)^-(k+1) dtau``,
      ``Q_j(v) = k sum_m weights[m, j] lambda_m E_p int_0^1 (1 + mu (e^v - 1))^-(k+1) dtau``
      with ``mu = tau p lambda_m`` in ``[0, 1]``.
    * ``1 + mu (e^v - 1) = (1 - mu) + mu e^v`` has real part at least
      ``L = min(1, e^(Re v) cos(Im v))``, so for ``|Im v| < pi/2`` ``Q_j`` is analytic and
      ``|Q_j| <= k S_j L^-(k+1)``, ``S_j = sum_m weights[m, j] lambda_m``.
    * On the real axis ``Q_j`` is positive and decreasing, so its least value on a piece is
      at the right end, which is a Chebyshev point: the bound of :func:`_chebyshev_degrees`
      relative to it holds for every customer on the piece.

    A piece that would need a degree above ``_SUMS_MAX_DEGREE`` (heavy buyers observed for
    far longer than the horizon) is evaluated customer by customer.
    """
    ts = np.asarray(ts, dtype=float)
    weights = np.asarray(weights, dtype=float)
    t_max = float(ts.max())
    scale = weights.T @ (ts / t_max)  # S_j
    n_cols = weights.shape[1]
    if len(x) == 0:
        return np.zeros((0, n_cols))
    s_all = t_max / (alpha + T)
    v_all = np.log1p(s_all)
    order, values, pieces, ends = _grouped_order(x, np.floor(v_all / _PIECE_WIDTH))
    # Everything below runs on the customers in that order, group by group.
    s_all, v_all = s_all[order], v_all[order]
    starts = np.append(0, ends[:-1])
    half = _PIECE_WIDTH / 2.0
    lo = pieces * _PIECE_WIDTH

    def q_at(x_values, v):
        """Q_j at the points ``v`` of the frequencies ``x_values``: points x columns. At
        ``v = 0`` (``T`` infinite) its limit ``k S_j``: ``R(sigma) / sigma`` tends to ``k``."""
        inside = v > 0
        big_t = t_max / np.expm1(v[inside]) - alpha
        residual = _bg_residual_mean(
            ts[None, :], r, alpha, a, b, x_values[inside, None], big_t[:, None]
        )
        out = np.empty((len(v), n_cols))
        out[inside] = (residual @ weights) * ((alpha + big_t) / t_max)[:, None]
        out[~inside] = (r + x_values[~inside, None]) * scale
        return out

    # Every piece's right end, then its degree.
    right = q_at(values, lo + 2.0 * half)
    active = scale > 0
    degrees = np.full(len(values), -1)
    if active.any():
        k = r + values
        degrees = _chebyshev_degrees(lo, half, k, k[:, None] * scale[active], right[:, active])
    # The other Chebyshev points of every interpolated piece, in one evaluation.
    interpolated = np.flatnonzero(degrees > 0)
    points = [
        lo[g] + half * (1.0 + np.cos(np.pi * np.arange(1, degrees[g] + 1) / degrees[g]))
        for g in interpolated
    ]
    inner = q_at(
        np.repeat(values[interpolated], degrees[interpolated]), np.concatenate([[], *points])
    )
    out_sorted = np.empty((n_cols, len(x)))
    matrices: dict[int, np.ndarray] = {}
    offset = 0
    for g in interpolated:
        degree = degrees[g]
        if degree not in matrices:
            # Values at cos(pi i / n), i = 0..n, to the coefficients of the interpolant.
            u = np.pi * np.arange(degree + 1) / degree
            matrix = np.cos(np.outer(np.arange(degree + 1), u)) * (2.0 / degree)
            matrix[:, [0, -1]] *= 0.5
            matrix[[0, -1]] *= 0.5
            matrices[degree] = matrix
        f = np.vstack([right[g], inner[offset : offset + degree]])
        offset += degree
        group = slice(starts[g], ends[g])
        zeta = (v_all[group] - lo[g]) / half - 1.0
        block = _clenshaw(matrices[degree] @ f, zeta)
        block *= s_all[group]
        out_sorted[:, group] = block
    # The rest customer by customer.
    direct = np.flatnonzero(degrees <= 0)
    if len(direct):
        rows = np.concatenate([np.arange(starts[g], ends[g]) for g in direct])
        customers = order[rows]
        residual = _bg_residual_mean(
            ts[None, :], r, alpha, a, b, x[customers, None], T[customers, None]
        )
        out_sorted[:, rows] = (residual @ weights).T
    out = np.empty((n_cols, len(x)))
    out[:, order] = out_sorted
    return out.T


def bgnbd_probability_of_purchases(n, t, r, alpha, a, b) -> np.ndarray:
    """P(X(t) = n) for a customer just acquired (FHL eq. 8).

    The second summand's bracket, ``1 - sum_{j<n} NB(j)``, is the survival function of a negative
    binomial count with ``r`` and success probability ``alpha/(alpha+t)``: the regularised
    incomplete beta function ``I_z(n, r)`` at ``z = t/(alpha+t)``, computed directly so that it
    does not cancel for large ``n``. Every factor is written in ``z`` rather than ``1 - z``, so
    the limit ``t -> 0`` (1 for ``n = 0``, 0 otherwise) is reached smoothly: ``0 log 0`` is 0.
    """
    n = np.asarray(n, dtype=float)
    t = np.asarray(t, dtype=float)
    z = t / (alpha + t)
    ln_b = special.betaln(a, b)
    with np.errstate(divide="ignore"):
        log1 = (
            special.betaln(a, b + n)
            - ln_b
            + special.gammaln(r + n)
            - special.gammaln(r)
            - special.gammaln(n + 1)
            - r * np.log1p(t / alpha)
            + special.xlogy(n, z)
        )
    term1 = np.exp(log1)
    repeat = n > 0
    # nn = 1 where the term is absent, so b stands in: B(a+1, 1)/B(a, b) overflows for large
    # a and b.
    nn = np.where(repeat, n, 1.0)
    term2 = np.where(
        repeat,
        np.exp(special.betaln(a + 1, b + nn - 1) - ln_b) * special.betainc(nn, r, z),
        0.0,
    )
    return term1 + term2


def bgnbd_conditional_probability_of_purchases(n, t, r, alpha, a, b, x, t_x, T) -> np.ndarray:
    """P(Y(t) = n | x, t_x, T): purchases in the next ``t`` given the history.

    A BG/NBD customer alive at ``T`` behaves from then on like a newly acquired one whose rate and
    dropout probability follow their posteriors, ``Gamma(r + x, alpha + T)`` and
    ``Beta(a, b + x)``; a customer already gone buys nothing. Hence the mixture
    ``(1 - P(alive)) [n == 0] + P(alive) P_new(X(t) = n; r + x, alpha + T, a, b + x)`` of FHL
    eq. 8. Its mean is FHL eq. 10.
    """
    alive = bgnbd_probability_alive(r, alpha, a, b, x, t_x, T)
    x = np.asarray(x, dtype=float)
    new = bgnbd_probability_of_purchases(n, t, r + x, alpha + np.asarray(T, float), a, b + x)
    return alive * new + (1.0 - alive) * (np.asarray(n) == 0)


# ------------------------------------------------------------------------------------------
# Estimator
# ------------------------------------------------------------------------------------------


class BetaGeoModel(CovariatePurchaseModel):
    """BG/NBD model of repeat purchasing and dropout (Fader, Hardie & Lee 2005).

    Parameters
    ----------
    <<time_unit>>
    <<covariates>>
    <<on_nonconvergence>>
    <<penalizer_coef>>

    Attributes
    ----------
    params_ : Series
        ``r``, ``alpha`` (in ``time_unit_``), ``a``, ``b``.
    <<fit_attributes>>
    time_unit_ : str or None
    <<covariate_attributes>>

    Examples
    --------
    >>> from clvpredict import BetaGeoModel
    >>> from clvpredict.datasets import load_cdnow_summary
    >>> summary = load_cdnow_summary()
    >>> model = BetaGeoModel().fit(summary)
    >>> model.params_.round(4).to_dict()
    {'r': 0.2426, 'alpha': 4.4135, 'a': 0.7929, 'b': 2.4258}
    >>> float(model.expected_purchases(39, summary).loc[1].round(3))   # next 39 weeks
    1.226
    """

    _param_names = ("r", "alpha", "a", "b")
    _time_parameters = ("alpha",)
    _columns = ("frequency", "recency", "T")
    kind = "bgnbd"
    label = "BG/NBD"
    citation = "Fader, Hardie & Lee 2005"

    _derivatives = staticmethod(bgnbd_log_likelihood_and_derivatives)
    _negll = staticmethod(bgnbd_negll_and_gradient)
    _conditional_expectation = staticmethod(bgnbd_conditional_expected_purchases)
    _alive = staticmethod(bgnbd_probability_alive)
    _new_customer_expectation = staticmethod(bgnbd_expected_purchases)
    _new_customer_pmf = staticmethod(bgnbd_probability_of_purchases)
    _simulator = staticmethod(simulate_bgnbd)
    _simulation_core = staticmethod(_bgnbd_core)
    _alive_at = staticmethod(bgnbd_probability_alive_at)
    #: An alive customer's dropout probability is Beta(a, b + x + shift) (MBG/NBD: shift 1).
    _dropout_shift = 0.0

    @staticmethod
    def _alive_process(theta, x, t_x, T):
        # Alive at T, a customer is a new one with rate ~ Gamma(r + x, alpha + T) and dropout
        # probability ~ Beta(a, b + x): FHL eq. 8 at those parameters.
        r, alpha, a, b = theta
        return bgnbd_probability_of_purchases, (r + x, alpha + T, a, b + x)

    _analytic_hessian = True

    def _prepare_likelihood(self, columns, weights):
        return bgnbd_negll_and_gradient_grouped, [GroupedRFM(*columns, weights)]

    def _starting_values(self, columns, weights):
        x, _, big_t = columns
        rate = float(weights @ x) / max(float(weights @ big_t), 1e-12)
        # r = 1 makes alpha the mean inter-purchase time; the dropout starts at a Beta(1, 3).
        alpha = 1.0 / max(rate, 1e-6)
        return [
            np.array([1.0, alpha, 1.0, 3.0]),
            np.array([0.3, 0.3 * alpha, 0.5, 2.0]),
            np.array([3.0, 3.0 * alpha, 2.0, 10.0]),
            np.array([1.0, 1.0, 1.0, 1.0]),
        ]

    # ---------------------------------------------------------------- predictions
    def _cumulative_purchases_planner(self, ts, arrays, nodes: int = 20):
        """A fast evaluator of :meth:`_cumulative_purchases` for many parameter draws.

        The residual mean is smooth in ``T``: within each group of customers with the same
        frequency it is interpolated from ``nodes`` Chebyshev points in ``log(alpha_hat + T)``
        (barycentric formula). The nearest singularity of the function in that variable lies
        a distance pi off the real axis, so the interpolation error is far below 1e-10, while
        the special functions are evaluated at ``nodes`` points per frequency instead of once
        per customer. The interpolation weights depend on ``T`` only: they are built once, as
        one sparse matrix from all nodes to all customers.
        """
        x, t_x, big_t = arrays["frequency"], arrays["recency"], arrays["T"]
        horizons = np.asarray(ts, dtype=float)[None, :]
        alpha_hat = float(self.params_["alpha"])
        shift, alive_fn = self._dropout_shift, type(self)._alive
        node_x: list[np.ndarray] = []
        node_t: list[np.ndarray] = []
        rows: list[np.ndarray] = []
        cols: list[np.ndarray] = []
        vals: list[np.ndarray] = []
        offset = 0
        k = np.arange(nodes)
        weights = (-1.0) ** k
        weights[[0, -1]] *= 0.5
        for value in np.unique(x):
            members = np.flatnonzero(x == value)
            times = big_t[members]
            distinct = np.unique(times)
            if len(distinct) <= nodes:
                # Few distinct T: evaluate at them exactly, one column per value.
                points = distinct
                rows.append(members)
                cols.append(offset + np.searchsorted(distinct, times))
                vals.append(np.ones(len(members)))
            else:
                lo, hi = np.log(alpha_hat + distinct[0]), np.log(alpha_hat + distinct[-1])
                u_nodes = (lo + hi) / 2 + (hi - lo) / 2 * np.cos(np.pi * k / (nodes - 1))
                points = np.exp(u_nodes) - alpha_hat
                diff = np.log(alpha_hat + times)[:, None] - u_nodes[None, :]
                on_node = diff == 0
                with np.errstate(divide="ignore", invalid="ignore"):
                    terms = weights / diff
                    basis = terms / terms.sum(axis=1, keepdims=True)
                hit = on_node.any(axis=1)
                basis[hit] = on_node[hit].astype(float)
                rows.append(np.repeat(members, nodes))
                cols.append(offset + np.tile(k, len(members)))
                vals.append(basis.ravel())
            node_x.append(np.full(len(points), value))
            node_t.append(points)
            offset += len(points)
        interpolate = sparse.csr_matrix(
            (np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))),
            shape=(len(x), offset),
        )
        all_x = np.concatenate(node_x)[:, None]
        all_t = np.concatenate(node_t)[:, None]

        def evaluate(theta):
            r, alpha, a, b = theta
            residual = _bg_residual_mean(horizons, r, alpha, a, b + shift, all_x, all_t)
            alive = alive_fn(r, alpha, a, b, x, t_x, big_t)[:, None]
            return np.where(alive > 0, (interpolate @ residual) * alive, 0.0)

        return evaluate

    @serial_blas
    def _purchase_sums(self, ts, weights, theta, arrays, alive=None):
        """Weighted sums over the horizons ``ts`` of the expected purchases, by interpolation
        of the residual mean between Chebyshev points with a proven error bound
        (:func:`_bg_residual_sums`): the special functions are evaluated at a dozen or so
        points per frequency and piece of the range of ``T``, not for every customer and
        horizon."""
        ts = np.asarray(ts, dtype=float)
        weights = np.asarray(weights, dtype=float)
        if not (
            ts.ndim == 1
            and ts.size
            and np.all(ts > 0)
            and np.all(np.isfinite(ts))
            and np.all(weights >= 0)
            and np.all(np.isfinite(weights))
        ):
            return super()._purchase_sums(ts, weights, theta, arrays, alive)
        r, alpha, a, b = theta
        x, t_x, big_t = arrays["frequency"], arrays["recency"], arrays["T"]
        sums = _bg_residual_sums(ts, weights, r, alpha, a, b + self._dropout_shift, x, big_t)
        if alive is None:
            alive = type(self)._alive(r, alpha, a, b, x, t_x, big_t)
        alive = np.asarray(alive, dtype=float)[:, None]
        return np.where(alive > 0, sums * alive, 0.0)

    def _cumulative_purchases(self, ts, theta, arrays):
        """Expected purchases at every horizon in ``ts`` at once: the residual mean depends on
        (frequency, T) and the horizon only, so it is computed once per distinct pair."""
        r, alpha, a, b = theta
        x, t_x, big_t = arrays["frequency"], arrays["recency"], arrays["T"]
        # Grouping by hash: np.unique(axis=0) sorted the pairs and took seconds at 1M rows.
        grouped = group_rows([x, big_t])
        first, inverse = (np.arange(len(x)), None) if grouped is None else grouped
        horizons = np.asarray(ts, dtype=float)[None, :]
        residual = _bg_residual_mean(
            horizons, r, alpha, a, b + self._dropout_shift, x[first, None], big_t[first, None]
        )
        if inverse is not None:
            residual = residual[inverse]
        alive = type(self)._alive(r, alpha, a, b, x, t_x, big_t)[:, None]
        return np.where(alive > 0, residual * alive, 0.0)

    # ---------------------------------------------------------------- simulation

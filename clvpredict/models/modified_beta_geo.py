"""MBG/NBD: the modified beta-geometric / NBD model of Batislam, Denizel & Filiztekin (2007).

As in the BG/NBD, a customer buys as a Poisson process with rate ``lambda ~ Gamma(r, alpha)``
(``alpha`` in the model's time unit) and drops out with probability ``p ~ Beta(a, b)`` at a
purchase, but the coin is also tossed at the *first* purchase (time 0). So customers without
repeat purchases may already be gone, which removes the BG/NBD's ``P(alive) = 1`` for them.

All formulas are from Batislam, Denizel & Filiztekin (2007), "Empirical validation and comparison
of models for customer base analysis", or follow from the same conditioning argument as in
Fader, Hardie & Lee (2005) for the BG/NBD.
"""

from __future__ import annotations

import warnings

import numpy as np
from scipy import special

from ._simulators import _mbgnbd_core, simulate_mbgnbd
from .beta_geo import (
    _BLOCK,
    BetaGeoModel,
    GroupedRFM,
    _bg_residual_mean,
    _bg_survival,
    _softplus_and_sigmoid,
    _two_term_negll,
    bgnbd_probability_of_purchases,
)

__all__ = [
    "ModifiedBetaGeoModel",
    "mbgnbd_conditional_expected_purchases",
    "mbgnbd_expected_purchases",
    "mbgnbd_log_likelihood",
    "mbgnbd_negll_and_gradient",
    "mbgnbd_negll_and_gradient_grouped",
    "mbgnbd_probability_alive",
    "mbgnbd_probability_alive_at",
    "mbgnbd_probability_of_purchases",
]

# ------------------------------------------------------------------------------------------
# Mathematics: plain vectorised functions of (parameters, data)
# ------------------------------------------------------------------------------------------


def _ll_terms(r, alpha, a, b, x, t_x, T):
    """Common log-factor and the two log-summands of the individual likelihood.

    Given (lambda, p), the customer is alive at T after surviving x + 1 coin tosses,
    ``(1-p)^(x+1) lambda^x e^(-lambda T)``, or dropped out at the last purchase,
    ``p (1-p)^x lambda^x e^(-lambda t_x)`` (for x = 0: at the first purchase, t_x = 0).
    """
    common = special.gammaln(r + x) - special.gammaln(r) + r * np.log(alpha) - special.betaln(a, b)
    alive = special.betaln(a, b + x + 1) - (r + x) * np.log(alpha + T)
    dropped = special.betaln(a + 1, b + x) - (r + x) * np.log(alpha + t_x)
    return common, alive, dropped


def mbgnbd_log_likelihood(r, alpha, a, b, x, t_x, T) -> np.ndarray:
    """Individual MBG/NBD log-likelihoods ln L(r, alpha, a, b | x, t_x, T).

    ``L = B(a, b+x+1)/B(a, b) Gamma(r+x) alpha^r / (Gamma(r) (alpha+T)^(r+x))
    + B(a+1, b+x)/B(a, b) Gamma(r+x) alpha^r / (Gamma(r) (alpha+t_x)^(r+x))``.

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
    x, t_x, T = (np.asarray(v, dtype=float) for v in (x, t_x, T))
    common, alive, dropped = _ll_terms(r, alpha, a, b, x, t_x, T)
    return common + np.logaddexp(alive, dropped)


def mbgnbd_negll_and_gradient(theta, x, t_x, T, weights) -> tuple[float, np.ndarray]:
    """Weighted negative log-likelihood and its analytic gradient wrt (r, alpha, a, b)."""
    ll, derivatives = mbgnbd_log_likelihood_and_derivatives(*theta, x, t_x, T)
    grad = np.array([weights @ d for d in derivatives])
    return -float(weights @ ll), -grad


def mbgnbd_log_likelihood_and_derivatives(r, alpha, a, b, x, t_x, T):
    """Individual log-likelihoods and their derivatives wrt (r, alpha, a, b), per row.

    The parameters may be arrays of one value per row (customers with covariates). ``w2`` is
    the share of the 'dropped out at the last purchase' summand, so each derivative is the
    mixture of the two summands' derivatives (d ln B(u, v)/du = psi(u) - psi(u+v)).

    Returns
    -------
    ll : ndarray, shape (n,)
    derivatives : tuple of 4 ndarrays of shape (n,)
    """
    common, alive, dropped = _ll_terms(r, alpha, a, b, x, t_x, T)
    total = np.logaddexp(alive, dropped)
    ll = common + total
    w2 = np.exp(dropped - total)
    w1 = 1.0 - w2
    psi_ab = special.digamma(a + b)
    psi_abx1 = special.digamma(a + b + x + 1)
    d_r = (
        special.digamma(r + x)
        - special.digamma(r)
        + np.log(alpha)
        - w1 * np.log(alpha + T)
        - w2 * np.log(alpha + t_x)
    )
    d_alpha = r / alpha - (r + x) * (w1 / (alpha + T) + w2 / (alpha + t_x))
    d_a = (
        psi_ab
        - psi_abx1
        + w1 * special.digamma(a)
        + w2 * special.digamma(a + 1)
        - special.digamma(a)
    )
    d_b = (
        psi_ab
        - psi_abx1
        - special.digamma(b)
        + w1 * special.digamma(b + x + 1)
        + w2 * special.digamma(b + x)
    )
    return ll, (d_r, d_alpha, d_a, d_b)


class GroupedMBG(GroupedRFM):
    """The rows of an MBG/NBD fit, arranged once (see :class:`GroupedRFM`).

    The repeat buyers are arranged as for the BG/NBD. The one-time buyers, whose likelihood has
    two terms here (they may have dropped out at their first purchase), are held in ``T1`` and
    ``w1`` rather than in the BG/NBD's one-term ``T0``, ``w0`` (left empty). Their recency is 0
    (the summaries guarantee it), so each costs a function of ``T`` alone.
    """

    def __init__(self, x: np.ndarray, t_x: np.ndarray, T: np.ndarray, weights: np.ndarray):
        once = x == 0
        if np.any(t_x[once] != 0):
            raise ValueError("Customers without repeat purchases must have recency 0.")
        super().__init__(x, t_x, T, weights)
        self.T1, self.w1 = self.T0, self.w0
        self.weight_once = float(self.w1.sum())
        self.T0 = self.w0 = np.empty(0)


def _mbgnbd_one_time_terms(r, alpha, a, b, rows: GroupedMBG, hessian: bool):
    """The one-time buyers' log-likelihood, gradient and Hessian, less ``r ln(alpha)`` each.

    With ``x = t_x = 0`` the likelihood (see :func:`mbgnbd_negll_and_gradient_grouped`) is
    ``r ln(alpha) + ln(b/(a+b)) - r A + softplus(d)`` with ``A = ln(alpha+T)``,
    ``delta = A - ln(alpha)`` and ``d = ln(a/b) + r delta``. With ``u = 1/(alpha+T)``,
    ``v = 1/alpha`` and ``m = (1, delta, u - v)``: ``grad d = (delta, r (u - v), 1/a, -1/b)``
    is ``G m`` for a constant 4x3 matrix ``G``, so ``sum w q grad d grad d'`` is
    ``G (sum w q m m') G'``, and every other sum is of ``w``, ``w w2`` times ``m``, ``A``,
    ``u`` or ``u^2``: one pass over the rows in cache-sized blocks.
    """
    log_alpha, v = np.log(alpha), 1.0 / alpha
    c = np.log(a / b)
    weight = rows.weight_once
    sum_a = sum_sp = sum_u = sum_u2 = sum_w2u2 = 0.0
    mix = np.zeros(3)
    second = np.zeros((3, 3))
    for lo in range(0, len(rows.T1), _BLOCK):
        w = rows.w1[lo : lo + _BLOCK]
        m = np.empty((3, len(w)))
        m[0] = 1.0
        u = rows.T1[lo : lo + _BLOCK] + alpha
        big_a = np.log(u)
        np.divide(1.0, u, out=u)
        np.subtract(big_a, log_alpha, out=m[1])
        np.subtract(u, v, out=m[2])
        d = m[1] * r
        d += c
        softplus, w2 = _softplus_and_sigmoid(d)
        ww2 = w * w2
        sum_a += w @ big_a
        sum_sp += w @ softplus
        sum_u += w @ u
        mix += m @ ww2
        if hessian:
            u2 = np.multiply(u, u, out=big_a)
            sum_u2 += w @ u2
            sum_w2u2 += ww2 @ u2
            q = np.subtract(1.0, w2, out=w2)
            q *= ww2
            second += (m * q) @ m.T
    s_w2, s_w2_delta, s_w2_diff = mix
    ab = a + b
    ll = weight * (np.log(b) - np.log(ab)) - r * sum_a + sum_sp
    grad = np.array(
        [
            s_w2_delta - sum_a,
            r * (s_w2_diff - sum_u),
            s_w2 / a - weight / ab,
            weight * (1.0 / b - 1.0 / ab) - s_w2 / b,
        ]
    )
    if not hessian:
        return ll, grad, None
    g = np.array([[0.0, 1.0, 0.0], [0.0, 0.0, r], [1.0 / a, 0.0, 0.0], [-1.0 / b, 0.0, 0.0]])
    h = g @ (0.5 * (second + second.T)) @ g.T
    h[0, 1] += s_w2_diff - sum_u
    h[1, 1] += r * (v * v * s_w2 - sum_w2u2 + sum_u2)
    h[2, 2] += weight / ab**2 - s_w2 / a**2
    h[2, 3] += weight / ab**2
    h[3, 3] += weight * (1.0 / ab**2 - 1.0 / b**2) + s_w2 / b**2
    h[1, 0], h[3, 2] = h[0, 1], h[2, 3]
    return ll, grad, 0.5 * (h + h.T)


def mbgnbd_negll_and_gradient_grouped(theta, rows: GroupedMBG, weights=None, *, hessian=False):
    """The same value and gradient as :func:`mbgnbd_negll_and_gradient`, from :class:`GroupedMBG`;
    with ``hessian=True`` also the analytic Hessian wrt (r, alpha, a, b).

    ``weights`` is ignored (the rows carry theirs); it keeps the fitting core's signature.

    Derivation. Write ``A = ln(alpha+T)``, ``B = ln(alpha+t_x)``, ``k = r + x`` and
    ``e = 1/(b+x)``. Since ``B(a+1, b+x) / B(a, b+x+1) = a/(b+x) = a e``, the individual
    likelihood (see :func:`mbgnbd_log_likelihood`) is ``ln L = C - k A + softplus(d)`` with
    ``C = ln Gamma(r+x) - ln Gamma(r) + r ln(alpha) + ln B(a, b+x+1) - ln B(a, b)`` and
    ``d = ln(a e) + k (A - B)``, the log-ratio of the 'dropped out at the last purchase'
    summand to the 'alive' one. For repeat buyers this is the form of the BG/NBD's (FHL 2005
    eq. 6) with ``b + x`` in place of ``b + x - 1``, so their sums and derivatives are the
    BG/NBD's (see :func:`~clvpredict.models.beta_geo.bgnbd_negll_and_gradient_grouped`): with
    ``w2 = sigmoid(d)`` and ``q = w2 (1 - w2)``, ``grad d = (A - B, k (u - v), 1/a, -e)``,
    ``Hessian[softplus(d)] = q grad d grad d' + w2 Hessian[d]``, and the trigamma terms of
    ``C`` per distinct frequency at ``b + x + 1``. One-time buyers (``x = t_x = 0``) have
    ``C = r ln(alpha) + ln(b/(a+b))`` and ``d = ln(a/b) + r (A - ln alpha)``: see
    :func:`_mbgnbd_one_time_terms`.
    """
    r, alpha, a, b = theta
    out = _two_term_negll(theta, rows, 1.0, hessian)
    ll, grad, h = _mbgnbd_one_time_terms(r, alpha, a, b, rows, hessian)
    if not hessian:
        return out[0] - ll, out[1] - grad
    return out[0] - ll, out[1] - grad, out[2] - h


def mbgnbd_probability_alive(r, alpha, a, b, x, t_x, T) -> np.ndarray:
    """P(alive at T | x, t_x, T) = 1 / (1 + a/(b+x) ((alpha+T)/(alpha+t_x))^(r+x)).

    Unlike the BG/NBD there is no exception for ``x == 0``: those customers may have dropped out
    right after their first purchase.
    """
    x, t_x, T = (np.asarray(v, dtype=float) for v in (x, t_x, T))
    log_odds_dropped = (
        np.log(a) - np.log(b + x) + (r + x) * (np.log(alpha + T) - np.log(alpha + t_x))
    )
    return special.expit(-log_odds_dropped)


def _checked(values, lower, upper, what: str):
    """NaN (with a warning) where ``values`` is not finite or leaves its provable bounds.

    scipy's ``hyp2f1`` can return wrong finite numbers for extreme parameters (e.g. ``a`` or
    ``b`` in the hundreds with ``t`` far beyond ``alpha + T``); a number that is certainly wrong
    is not returned.
    """
    values = np.asarray(values, dtype=float)
    slack = 1e-7 * np.abs(upper) + 1e-300
    bad = ~np.isfinite(values) | (values < lower - slack) | (values > upper + slack)
    if np.any(bad):
        warnings.warn(
            f"MBG/NBD {what}: the hypergeometric function could not be evaluated accurately "
            f"for {int(np.sum(bad))} value(s) at these extreme parameters; they are NaN.",
            RuntimeWarning,
            stacklevel=3,
        )
        values = np.where(bad, np.nan, values)
    return values


def _residual_mean(t, r, alpha, a, b, x, T):
    """E[(1/p)(1 - e^(-lambda p t))] for p ~ Beta(a, b+x+1), lambda ~ Gamma(r+x, alpha+T).

    ``= (a+b+x)/(a-1) [1 - ((alpha+T)/(alpha+T+t))^(r+x) 2F1(r+x, b+x+1; a+b+x; z)]`` with
    ``z = t/(alpha+T+t)``: the BG/NBD residual mean with ``b`` replaced by ``b + 1`` (the MBG/NBD
    customer also tosses the dropout coin at the first purchase). It is evaluated by the BG/NBD
    routine, which falls back to quadrature where scipy's ``hyp2f1`` is unreliable and handles
    the removable singularity at ``a = 1``.
    """
    return _bg_residual_mean(t, r, alpha, a, b + 1.0, x, T)


def mbgnbd_expected_purchases(t, r, alpha, a, b) -> np.ndarray:
    """E[X(t)] for a customer just acquired (Batislam et al. 2007).

    ``E[X(t)] = b/(a-1) [1 - (alpha/(alpha+t))^r 2F1(r, b+1; a+b; t/(alpha+t))]``: the BG/NBD
    mean of a customer who survived the first toss, times the probability ``b/(a+b)`` of that.
    """
    t = np.asarray(t, dtype=float)
    tt = np.maximum(t, 0.0)
    u = tt / alpha
    mean = _checked(
        _residual_mean(tt, r, alpha, a, b, 0.0, 0.0),
        -np.expm1(-r * np.log1p(u)),
        r * u,
        "expected purchases",
    )
    return np.where(t > 0, b / (a + b) * mean, 0.0)


def mbgnbd_conditional_expected_purchases(t, r, alpha, a, b, x, t_x, T) -> np.ndarray:
    """E[Y(t) | x, t_x, T]: expected purchases in (T, T + t] given the history.

    ``(a+b+x)/(a-1) [1 - ((alpha+T)/(alpha+T+t))^(r+x) 2F1(r+x, b+x+1; a+b+x; t/(alpha+T+t))]
    * P(alive at T)``.
    """
    x, t_x, T = (np.asarray(v, dtype=float) for v in (x, t_x, T))
    t = np.asarray(t, dtype=float)
    tt = np.maximum(t, 0.0)
    # (1/p)(1 - (1+pu)^-k) falls from k u at p = 0 to 1 - (1+u)^-k at p = 1, so its mean does.
    k, u = r + x, tt / (alpha + T)
    mean = _checked(
        _residual_mean(tt, r, alpha, a, b, x, T),
        -np.expm1(-k * np.log1p(u)),
        k * u,
        "expected purchases",
    )
    out = mean * mbgnbd_probability_alive(r, alpha, a, b, x, t_x, T)
    return np.where(t > 0, out, 0.0)


def mbgnbd_probability_alive_at(t, r, alpha, a, b, x, t_x, T) -> np.ndarray:
    """P(alive at T + t | x, t_x, T).

    Given alive at T, dropouts occur at rate ``lambda p`` (a thinned Poisson process), so
    ``P(alive at T+t | alive at T) = E[e^(-lambda p t)]`` under the posterior
    ``lambda ~ Gamma(r+x, alpha+T)``, ``p ~ Beta(a, b+x+1)``:
    ``(1-z)^(r+x) 2F1(r+x, b+x+1; a+b+x+1; z)`` with ``z = t/(alpha+T+t)``.
    """
    # The BG/NBD survival with b + 1 (robust: quadrature where hyp2f1 fails).
    survive = _bg_survival(t, r, alpha, a, b + 1.0, x, T)
    return mbgnbd_probability_alive(r, alpha, a, b, x, t_x, T) * survive


def mbgnbd_probability_of_purchases(n, t, r, alpha, a, b) -> np.ndarray:
    """P(X(t) = n) for a customer just acquired.

    Given (lambda, p): dropped out at the first purchase (``n = 0``, probability ``p``); alive
    after ``n`` purchases, ``(1-p)^(n+1) Poisson(n; lambda t)``; or dropped out at the ``n``-th,
    ``p (1-p)^n P(Poisson(lambda t) >= n)``. Over lambda the Poisson terms become negative
    binomial with success probability ``alpha/(alpha+t)``; over p,
    ``E[(1-p)^(n+1)] = B(a, b+n+1)/B(a, b)`` and ``E[p (1-p)^n] = B(a+1, b+n)/B(a, b)``.
    """
    n = np.asarray(n, dtype=float)
    t = np.asarray(t, dtype=float)
    # In z = t/(alpha+t) rather than 1 - alpha/(alpha+t), which rounds to 0 for tiny t.
    z = t / (alpha + t)
    ln_b = special.betaln(a, b)
    with np.errstate(divide="ignore"):
        log_alive = (
            special.betaln(a, b + n + 1)
            - ln_b
            + special.gammaln(r + n)
            - special.gammaln(r)
            - special.gammaln(n + 1)
            - r * np.log1p(t / alpha)
            + special.xlogy(n, z)
        )
    repeat = n > 0
    nn = np.where(repeat, n, 1.0)
    # The negative binomial survival function P(N >= n) = I_z(n, r), directly: 1 - sum_{j<n}
    # NB(j) would cancel.
    dropped_later = np.where(
        repeat,
        np.exp(special.betaln(a + 1, b + nn) - ln_b) * special.betainc(nn, r, z),
        0.0,
    )
    dropped_first = np.where(n == 0, a / (a + b), 0.0)
    return dropped_first + np.exp(log_alive) + dropped_later


# ------------------------------------------------------------------------------------------
# Estimator
# ------------------------------------------------------------------------------------------


class ModifiedBetaGeoModel(BetaGeoModel):
    """MBG/NBD: a BG/NBD whose customers may also drop out at the first purchase (Batislam 2007).

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
    >>> from clvpredict.modified_beta_geo import ModifiedBetaGeoModel
    >>> from clvpredict.datasets import load_cdnow_summary
    >>> summary = load_cdnow_summary()
    >>> model = ModifiedBetaGeoModel().fit(summary)
    >>> model.params_.round(3).to_dict()
    {'r': 0.525, 'alpha': 6.183, 'a': 0.891, 'b': 1.614}
    >>> round(model.log_likelihood_, 2)
    -9582.13
    >>> float(model.probability_alive(summary).loc[3].round(3))   # no repeat purchase
    0.39
    """

    kind = "mbgnbd"
    label = "MBG/NBD"
    citation = "Batislam, Denizel & Filiztekin 2007"

    _derivatives = staticmethod(mbgnbd_log_likelihood_and_derivatives)
    _negll = staticmethod(mbgnbd_negll_and_gradient)
    _conditional_expectation = staticmethod(mbgnbd_conditional_expected_purchases)
    _alive = staticmethod(mbgnbd_probability_alive)
    _new_customer_expectation = staticmethod(mbgnbd_expected_purchases)
    _new_customer_pmf = staticmethod(mbgnbd_probability_of_purchases)
    _simulator = staticmethod(simulate_mbgnbd)
    _simulation_core = staticmethod(_mbgnbd_core)
    _alive_at = staticmethod(mbgnbd_probability_alive_at)
    # The residual mean is the BG/NBD one with b + 1, so the BG/NBD's fast evaluators for
    # monthly CLV and its parameter draws (inherited) apply unchanged; so do its starting values.
    _dropout_shift = 1.0

    @staticmethod
    def _alive_process(theta, x, t_x, T):
        # Alive at T, the first dropout toss is behind the customer: from then on it is a BG/NBD
        # new customer with rate ~ Gamma(r + x, alpha + T) and dropout ~ Beta(a, b + x + 1).
        r, alpha, a, b = theta
        return bgnbd_probability_of_purchases, (r + x, alpha + T, a, b + x + 1)

    _analytic_hessian = True

    def _prepare_likelihood(self, columns, weights):
        return mbgnbd_negll_and_gradient_grouped, [GroupedMBG(*columns, weights)]

    #: From 131,072 distinct rows on, the restarts are screened on a sample of about 32,768
    #: (3% of the work of each evaluation at a million rows): those that fall back to the first
    #: maximum there are not run on all rows.
    _screening_rows = 1 << 15

    def _restarts(self, theta):
        # The MBG/NBD likelihood can have two maxima, one with a larger b (dropout rarer) and
        # one with b below 1 and a larger r; on CDNOW-sized samples the four starts above can
        # all land on the lower one (2 of 1,000 simulated samples in benchmarks/recovery.py).
        # So the search is repeated from the same point with b a quarter and four times as large.
        r, alpha, a, b = theta
        return [np.array([r, alpha, a, b / 4.0]), np.array([r, alpha, a, 4.0 * b])]

    # ---------------------------------------------------------------- predictions
    # ---------------------------------------------------------------- simulation

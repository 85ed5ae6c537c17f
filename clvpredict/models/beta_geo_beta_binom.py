"""BG/BB: the beta-geometric / beta-Bernoulli model of Fader, Hardie & Shang (2010), discrete time.

Customers have a transaction *opportunity* in each period (an annual fund drive, a yearly event,
a weekly newsletter...). At the start of every period an alive customer drops out for good with
probability ``theta ~ Beta(gamma, delta)``; an alive customer transacts in a period with
probability ``p ~ Beta(alpha, beta)``. Period 0 is the first transaction, which is not counted.

Data, per customer (or per row with a weight):

* ``frequency`` ``x``: number of transactions in periods 1..n (repeat transactions);
* ``recency`` ``t_x``: the period of the last transaction (0 if none), so ``x <= t_x <= n``;
* ``n_periods`` ``n``: the number of opportunities observed after period 0. A column named
  ``periods`` (as in the published donations data) is accepted when ``n_periods`` is absent.

Time is counted in periods, not in a calendar unit: the model has no ``time_unit_`` (it is
``None``), every horizon is a whole number of periods, and discount rates are per period.

All formulas are from Fader, Hardie & Shang (2010), "Customer-base analysis in a discrete-time
noncontractual setting", Marketing Science 29(6); equation numbers refer to that paper.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from scipy import special

from ..data.summaries import rfm_arrays
from ..exceptions import ClvDataError
from ._base import PurchaseModel, in_callers_kind
from ._simulators import simulate_bgbb
from .beta_geo import _beta_expectation

__all__ = [
    "BetaGeoBetaBinomModel",
    "bgbb_conditional_expected_purchases",
    "bgbb_cumulative_expected_purchases",
    "bgbb_expected_discounted_residual_transactions",
    "bgbb_expected_purchases",
    "bgbb_log_likelihood",
    "bgbb_negll_and_gradient",
    "bgbb_probability_alive",
    "bgbb_probability_of_purchases",
]

#: Largest number of (row, period) cells held in memory at once by the likelihood.
_MAX_CELLS = 1_000_000

# ------------------------------------------------------------------------------------------
# Mathematics: plain vectorised functions of (parameters, data)
# ------------------------------------------------------------------------------------------


def _blocks(count: np.ndarray):
    """Row indices in blocks of similar ``count`` (= n - t_x, the number of dropout summands),
    each block padded to its own widest row and at most ``_MAX_CELLS`` cells.

    Rows are taken in order of ``count``, so little of a block is padding: with histories of
    1 to 104 weekly periods, a third of the cells that one common width would need.
    """
    order = np.argsort(count, kind="stable")
    widths = np.maximum(count[order], 1)
    start, n_rows = 0, len(order)
    while start < n_rows:
        size = max(1, _MAX_CELLS // int(widths[start]))
        # Shrink until the block's widest (last) row fits the budget; widths only grow.
        while size > 1 and size * widths[min(start + size, n_rows) - 1] > _MAX_CELLS:
            size = max(1, _MAX_CELLS // int(widths[min(start + size, n_rows) - 1]))
        yield order[start : start + size]
        start += size


def _dropout_sums(alpha, beta, gamma, delta, x, t_x, n, *, gradient=False):
    """The 'alive in period t_x + i, gone before the next' summands of eq. 5, i = 0..n-t_x-1.

    Summand ``i`` is ``D(i) = B(alpha+x, beta+t_x-x+i) B(gamma+1, delta+t_x+i)`` (over the
    common ``B(alpha, beta) B(gamma, delta)``). Consecutive summands differ by the rational
    factor ``D(i+1)/D(i) = (beta+t_x-x+i)/(alpha+beta+t_x+i) * (delta+t_x+i)/(gamma+delta+t_x+i+1)``
    (``B(a, b+1) = B(a, b) b/(a+b)``), which is below 1; so ``D(i)/D(0)`` is a running product
    that cannot overflow, and only one pair of beta functions per row is needed instead of one
    per period. Likewise the digamma terms of ``d ln D(i)`` follow from those of ``D(0)`` by
    running sums of reciprocals (``psi(z+1) = psi(z) + 1/z``).

    Returns
    -------
    log_d0 : (rows,)
        ``ln D(0)``.
    total : (rows,)
        ``S = sum_i D(i)/D(0)``; 0 for rows with ``t_x = n`` (no such summand).
    moments : (4, rows), only with ``gradient``
        ``sum_i D(i)/D(0) d ln D(i)/d theta`` for theta = alpha, beta, gamma, delta.
    """
    psi = special.digamma
    log_d0 = special.betaln(alpha + x, beta + t_x - x) + special.betaln(gamma + 1, delta + t_x)
    count = n - t_x
    width = int(np.max(count, initial=0))
    j = np.arange(max(width - 1, 0), dtype=float)[None, :]
    valid = j < (count - 1)[:, None]
    ts, xs = t_x[:, None], x[:, None]
    b, ab = beta + ts - xs + j, alpha + beta + ts + j
    d, gd = delta + ts + j, gamma + delta + ts + j + 1
    # Padding cells get ratio 0, so every later product (and its weight) is 0.
    ratio = np.where(valid, (b / ab) * (d / gd), 0.0)
    share = np.empty((len(x), width))
    if width:
        share[:, 0] = count > 0
        share[:, 1:] = np.cumprod(ratio, axis=1) * share[:, :1]
    total = share.sum(axis=1)
    if not gradient:
        return log_d0, total
    # sum_i P_i sum_{j<i} step_j = sum_j step_j sum_{i>j} P_i: one running tail sum of the
    # weights serves all four parameters (P_i = 0 beyond a row's own summands).
    tail = np.cumsum(share[:, :0:-1], axis=1)[:, ::-1]
    inv_ab, inv_gd = 1.0 / ab, 1.0 / gd
    steps = (-inv_ab, 1.0 / b - inv_ab, -inv_gd, 1.0 / d - inv_gd)
    first = (
        psi(alpha + x) - psi(alpha + beta + t_x),
        psi(beta + t_x - x) - psi(alpha + beta + t_x),
        psi(gamma + 1) - psi(gamma + delta + 1 + t_x),
        psi(delta + t_x) - psi(gamma + delta + 1 + t_x),
    )
    moments = np.empty((4, len(x)))
    for k in range(4):
        moments[k] = first[k] * total + (steps[k] * tail).sum(axis=1)
    return log_d0, total, moments


def _alive_log_term(alpha, beta, gamma, delta, x, n):
    """ln of eq. 5's 'alive in period n' summand (over the common beta functions)."""
    return special.betaln(alpha + x, beta + n - x) + special.betaln(gamma, delta + n)


def _log_dropout(log_d0, total):
    """ln of the sum of the dropout summands from :func:`_dropout_sums`; -inf where there are none."""
    with np.errstate(divide="ignore"):
        return log_d0 + np.log(total)


def _row_terms(alpha, beta, gamma, delta, x, t_x, n):
    """ln of eq. 5's 'alive in period n' summand and ln of the sum of the dropout summands, per
    row (both over the common beta functions; the second is -inf when ``t_x = n``)."""
    x, t_x, n = np.broadcast_arrays(x, t_x, n)
    alive = np.empty(len(x))
    dropped = np.empty(len(x))
    for rows in _blocks(n - t_x):
        xr, tr, nr = x[rows], t_x[rows], n[rows]
        log_d0, total = _dropout_sums(alpha, beta, gamma, delta, xr, tr, nr)
        alive[rows] = _alive_log_term(alpha, beta, gamma, delta, xr, nr)
        dropped[rows] = _log_dropout(log_d0, total)
    return alive, dropped


def _row_log_likelihood(alpha, beta, gamma, delta, x, t_x, n):
    alive, dropped = _row_terms(alpha, beta, gamma, delta, x, t_x, n)
    return (
        -special.betaln(alpha, beta) - special.betaln(gamma, delta) + np.logaddexp(alive, dropped)
    )


def bgbb_log_likelihood(alpha, beta, gamma, delta, x, t_x, n) -> np.ndarray:
    """Individual BG/BB log-likelihoods ln L(alpha, beta, gamma, delta | x, t_x, n) (eq. 5).

    ``L = B(alpha+x, beta+n-x)/B(alpha, beta) B(gamma, delta+n)/B(gamma, delta)
    + sum_{i=0}^{n-t_x-1} B(alpha+x, beta+t_x-x+i)/B(alpha, beta)
    B(gamma+1, delta+t_x+i)/B(gamma, delta)``, summed in log space.

    Parameters
    ----------
    alpha, beta, gamma, delta : float
        Model parameters.
    x, t_x, n : array
        Repeat transactions, period of the last transaction, number of periods observed.

    Returns
    -------
    ndarray
        One log-likelihood per row.
    """
    x, t_x, n = (np.atleast_1d(np.asarray(v, dtype=float)) for v in (x, t_x, n))
    return _row_log_likelihood(alpha, beta, gamma, delta, x, t_x, n)


def bgbb_negll_and_gradient(theta, x, t_x, n, weights) -> tuple[float, np.ndarray]:
    """Weighted negative log-likelihood and its analytic gradient wrt (alpha, beta, gamma, delta).

    Each summand of eq. 5 is a product of beta functions, so the derivative of ln L is the
    digamma derivative of each summand averaged with the summand's share of L (the dropout
    summands through the running sums of :func:`_dropout_sums`).
    """
    alpha, beta, gamma, delta = theta
    psi = special.digamma
    common = -special.betaln(alpha, beta) - special.betaln(gamma, delta)
    ll = np.empty(len(x))
    grad_rows = np.empty((4, len(x)))
    for rows in _blocks(n - t_x):
        xr, tr, nr = x[rows], t_x[rows], n[rows]
        alive = _alive_log_term(alpha, beta, gamma, delta, xr, nr)
        log_d0, total, moments = _dropout_sums(alpha, beta, gamma, delta, xr, tr, nr, gradient=True)
        both = np.logaddexp(alive, _log_dropout(log_d0, total))
        ll[rows] = common + both
        share_alive = np.exp(alive - both)
        scale = np.exp(log_d0 - both)
        on_alive = (
            psi(alpha + xr) - psi(alpha + beta + nr),
            psi(beta + nr - xr) - psi(alpha + beta + nr),
            psi(gamma) - psi(gamma + delta + nr),
            psi(delta + nr) - psi(gamma + delta + nr),
        )
        for k in range(4):
            grad_rows[k, rows] = share_alive * on_alive[k] + scale * moments[k]
    grad_rows[0] += psi(alpha + beta) - psi(alpha)
    grad_rows[1] += psi(alpha + beta) - psi(beta)
    grad_rows[2] += psi(gamma + delta) - psi(gamma)
    grad_rows[3] += psi(gamma + delta) - psi(delta)
    return -float(weights @ ll), -(grad_rows @ weights)


def bgbb_probability_alive(alpha, beta, gamma, delta, x, t_x, n, m=0) -> np.ndarray:
    """P(alive in period n + m | x, t_x, n) (eq. 11 for m = 1).

    ``B(alpha+x, beta+n-x)/B(alpha, beta) B(gamma, delta+n+m)/B(gamma, delta) / L``: having
    survived the first n periods, surviving m more has probability
    ``B(gamma, delta+n+m)/B(gamma, delta+n)`` under the posterior of theta. ``m = 0`` is alive
    at the end of observation.
    """
    x, t_x, n = (np.atleast_1d(np.asarray(v, dtype=float)) for v in (x, t_x, n))
    alive, dropped = _row_terms(alpha, beta, gamma, delta, x, t_x, n)
    # P(alive at n) = 1 / (1 + dropout summands / alive summand), written so that it cannot
    # exceed 1 by rounding when the beta functions are huge (parameters near 1e9).
    log_alive_at_n = -np.logaddexp(0.0, dropped - alive)
    survive_more = special.betaln(gamma, delta + n + m) - special.betaln(gamma, delta + n)
    return np.exp(log_alive_at_n + np.minimum(survive_more, 0.0))


#: Horizons up to this many periods get the log-ratio of eq. 8 as a sum of per-period terms.
_SUMMED_HORIZON = 512


def _log_survival_ratio(gamma, d, t):
    """``ln[Gamma(gamma+d) Gamma(1+d+t) / (Gamma(gamma+d+t) Gamma(1+d))]``.

    From four log-gamma values of size ``d ln d`` this loses about ``eps d ln d`` in absolute
    terms, all of the result when ``d`` is large and ``t`` small (``d = 1e5``: 1e-5 relative, enough
    to forecast more transactions than opportunities). For whole ``t`` up to
    :data:`_SUMMED_HORIZON` it is summed instead as
    ``sum_{j<t} ln(1 + (1-gamma)/(gamma+d+j))``, each term to full precision.
    """
    gamma_d, t = np.broadcast_arrays(np.asarray(gamma + d, dtype=float), np.asarray(t, dtype=float))
    d = gamma_d - gamma
    out = (
        special.gammaln(gamma_d)
        - special.gammaln(gamma_d + t)
        + special.gammaln(1 + d + t)
        - special.gammaln(1 + d)
    )
    summed = (t == np.round(t)) & (t <= _SUMMED_HORIZON)
    if summed.any():
        td, base = t[summed], gamma_d[summed]
        total = np.zeros(td.shape)
        for j in range(int(td.max(initial=0))):
            total += np.where(j < td, np.log1p((1.0 - gamma) / (base + j)), 0.0)
        out = np.array(out, dtype=float)
        out[summed] = total
    return out


def _survival_sum(gamma, d, t):
    """E[sum_{k=1..t} (1-theta)^k] for theta ~ Beta(gamma, d): expected future periods alive.

    ``d/(gamma-1) [1 - Gamma(gamma+d) Gamma(1+d+t) / (Gamma(gamma+d+t) Gamma(1+d))]``
    (eq. 8 without the purchase probability; the quotient from :func:`_log_survival_ratio`). At
    ``gamma == 1`` the quotient is 0/0; its limit is ``d (psi(1+d+t) - psi(1+d))``. The limit
    is off by about ``gamma - 1`` relative, so it is used only at ``gamma == 1`` for horizons
    whose log-ratio is summed term by term (accurate however close ``gamma`` is to 1), and
    within 1e-8 of it for the others (whose log-gamma differences cancel there).
    """
    t = np.asarray(t, dtype=float)
    g1 = gamma - 1.0
    log_ratio = _log_survival_ratio(gamma, d, t)
    with np.errstate(divide="ignore", invalid="ignore"):
        exact = -d * np.expm1(log_ratio) / g1
    limit = d * (special.digamma(1 + d + t) - special.digamma(1 + d))
    summed = (t == np.round(t)) & (t <= _SUMMED_HORIZON)
    return np.where((abs(g1) > 1e-8) | (summed & (g1 != 0)), exact, limit)


def bgbb_expected_purchases(t, alpha, beta, gamma, delta) -> np.ndarray:
    """E[X(t)]: expected transactions of a new customer in periods 1..t (eq. 8)."""
    t = np.asarray(t, dtype=float)
    return alpha / (alpha + beta) * _survival_sum(gamma, delta, np.maximum(t, 0.0))


def bgbb_conditional_expected_purchases(t, alpha, beta, gamma, delta, x, t_x, n) -> np.ndarray:
    """E[X(n, n+t) | x, t_x, n]: expected transactions in periods n+1 .. n+t (eq. 13).

    ``P(alive at n) * (alpha+x)/(alpha+beta+n) * (delta+n)/(gamma-1)
    [1 - Gamma(gamma+delta+n) Gamma(1+delta+n+t) / (Gamma(gamma+delta+n+t) Gamma(1+delta+n))]``:
    the posterior mean purchase probability times the expected number of future periods alive
    under the posterior ``theta ~ Beta(gamma, delta+n)``.
    """
    x, t_x, n = (np.atleast_1d(np.asarray(v, dtype=float)) for v in (x, t_x, n))
    t = np.maximum(np.asarray(t, dtype=float), 0.0)
    p_alive = bgbb_probability_alive(alpha, beta, gamma, delta, x, t_x, n)
    return p_alive * (alpha + x) / (alpha + beta + n) * _survival_sum(gamma, delta + n, t)


def bgbb_cumulative_expected_purchases(ts, alpha, beta, gamma, delta, x, t_x, n) -> np.ndarray:
    """Eq. 13 at several horizons at once: rows x len(ts), P(alive) computed once per row.

    ``ts`` are numbers of periods; each holds the whole periods within it (see
    :func:`whole_periods`).
    """
    x, t_x, n = (np.atleast_1d(np.asarray(v, dtype=float)) for v in (x, t_x, n))
    periods = whole_periods(np.atleast_1d(np.asarray(ts, dtype=float)))
    p_alive = bgbb_probability_alive(alpha, beta, gamma, delta, x, t_x, n)
    rate = p_alive * (alpha + x) / (alpha + beta + n)
    return rate[:, None] * _survival_sum(gamma, (delta + n)[:, None], periods[None, :])


def bgbb_expected_discounted_residual_transactions(
    d, alpha, beta, gamma, delta, x, t_x, n
) -> np.ndarray:
    """DERT: discounted expected transactions in periods n+1, n+2, ... (eq. 14).

    A transaction in period ``n + k`` counts ``(1 + d)^-k``:
    ``DERT = P(alive at n) (alpha+x)/(alpha+beta+n) (delta+n)/(gamma+delta+n) / (1+d)
    * 2F1(1, delta+n+1; gamma+delta+n+1; 1/(1+d))``.

    The discounted number of future periods alive, ``sum_k (1+d)^-k (1-theta)^k``, is
    ``(1-theta)/(d+theta)``; its mean under the posterior ``theta ~ Beta(gamma, delta+n)`` is
    that hypergeometric term, and it is computed as this mean by quadrature, once per distinct
    ``n``: scipy's ``hyp2f1`` returns NaN, negative numbers or values tens of per cent off
    when ``1/(1+d)`` is near 1 and ``gamma - 1`` is a whole number or ``delta + n`` is large.

    Parameters
    ----------
    d : float
        Discount rate per period, > 0 (e.g. 0.1 for 10% per period).
    """
    x, t_x, n = (np.atleast_1d(np.asarray(v, dtype=float)) for v in (x, t_x, n))
    p_alive = bgbb_probability_alive(alpha, beta, gamma, delta, x, t_x, n)
    distinct, inverse = np.unique(n, return_inverse=True)
    per_n = np.array(
        [_beta_expectation(lambda th: (1.0 - th) / (d + th), gamma, delta + k) for k in distinct]
    )
    periods = per_n[inverse.ravel()]
    return p_alive * (alpha + x) / (alpha + beta + n) * periods


def bgbb_probability_of_purchases(k, t, alpha, beta, gamma, delta) -> np.ndarray:
    """P(X(t) = k): probability that a new customer makes k transactions in periods 1..t (eq. 7).

    ``C(t, k) B(alpha+k, beta+t-k)/B(alpha, beta) B(gamma, delta+t)/B(gamma, delta)``
    (alive throughout) plus, for dropping out after period ``i`` (``k <= i < t``),
    ``C(i, k) B(alpha+k, beta+i-k)/B(alpha, beta) B(gamma+1, delta+i)/B(gamma, delta)``.

    ``k`` and the parameters broadcast against each other (one count for many customers'
    posterior parameters, or many counts at one parameter vector); ``t`` is one whole number.
    """
    k, alpha, beta, gamma, delta = np.broadcast_arrays(
        *(np.asarray(v, dtype=float) for v in (k, alpha, beta, gamma, delta))
    )
    t = int(t)
    base = -special.betaln(alpha, beta) - special.betaln(gamma, delta)

    def log_choose(top, bottom):
        return (
            special.gammaln(top + 1)
            - special.gammaln(bottom + 1)
            - special.gammaln(top - bottom + 1)
        )

    possible = (k >= 0) & (k <= t)
    kk = np.where(possible, k, 0.0)
    alive = (
        log_choose(t, kk)
        + special.betaln(alpha + kk, beta + t - kk)
        + special.betaln(gamma, delta + t)
    )
    i = np.arange(t, dtype=float)
    kc, ac, bc, gc, dc = (v[..., None] for v in (kk, alpha, beta, gamma, delta))
    valid = i >= kc
    ic = np.where(valid, i, kc)
    dropped = np.where(
        valid,
        log_choose(ic, kc)
        + special.betaln(ac + kc, bc + ic - kc)
        + special.betaln(gc + 1, dc + ic),
        -np.inf,
    )
    both = np.concatenate([alive[..., None], dropped], axis=-1)
    out = np.exp(base + special.logsumexp(both, axis=-1))
    return np.where(possible, out, 0.0)


def whole_periods(t: Any, name: str = "t") -> np.ndarray:
    """Number of whole periods (transaction opportunities) within a horizon of ``t`` periods.

    A period's opportunity falls at its end, so a horizon of 2.5 periods holds 2 of them; this
    is how calendar months map onto periods in :func:`~clvpredict.predictive_clv`. A tolerance
    of 1e-9 keeps 12 months in years (0.99999999...) at one period.
    """
    value = np.asarray(t, dtype=float)
    if not np.all(np.isfinite(value)) or np.any(value < 0):
        raise ClvDataError(f"{name}={t!r} must be a number of periods >= 0.")
    return np.floor(value + 1e-9)


def _bgbb_conditional(t, alpha, beta, gamma, delta, x, t_x, n):
    return bgbb_conditional_expected_purchases(
        whole_periods(t), alpha, beta, gamma, delta, x, t_x, n
    )


def _bgbb_expectation(t, alpha, beta, gamma, delta):
    return bgbb_expected_purchases(whole_periods(t), alpha, beta, gamma, delta)


def _bgbb_pmf(k, t, alpha, beta, gamma, delta):
    return bgbb_probability_of_purchases(k, whole_periods(t), alpha, beta, gamma, delta)


def _bgbb_alive_at(t, alpha, beta, gamma, delta, x, t_x, n):
    return bgbb_probability_alive(
        alpha, beta, gamma, delta, x, t_x, n, m=whole_periods(t, "t_future")
    )


def _bgbb_alive(alpha, beta, gamma, delta, x, t_x, n):
    return bgbb_probability_alive(alpha, beta, gamma, delta, x, t_x, n)


# ------------------------------------------------------------------------------------------
# Estimator
# ------------------------------------------------------------------------------------------


def _offenders(index: pd.Index, mask: np.ndarray, values: np.ndarray) -> str:
    """'label: value' of the first few rows where ``mask`` holds."""
    shown = ", ".join(
        f"{lab!r}: {val!r}"
        for lab, val in zip(index[mask][:5], values[mask][:5].tolist(), strict=False)
    )
    extra = int(mask.sum()) - min(int(mask.sum()), 5)
    return shown + (f" ... and {extra} more" if extra > 0 else "")


class BetaGeoBetaBinomModel(PurchaseModel):
    """BG/BB model of discrete-time repeat transactions and dropout (Fader, Hardie & Shang 2010).

    For settings where customers can transact only at discrete occasions, one opportunity per
    period (an annual fund drive, a yearly event, a weekly draw). ``p ~ Beta(alpha, beta)`` is
    the probability of transacting in a period while alive and ``theta ~ Beta(gamma, delta)``
    the probability of dropping out at the start of a period.

    Parameters
    ----------
    time_unit : {"D", "W", "M", "Y"}, optional
        The calendar length of **one period** (``"Y"`` for annual opportunities). It is what
        lets :func:`~clvpredict.predictive_clv`, :func:`~clvpredict.clv_table` and the tracking
        plot place the periods in calendar time. By default it is read from
        ``data.attrs["time_unit"]``, which ``rfm_summary(..., discrete=True)`` sets; without it
        (e.g. the published donations table) the model works in bare periods and the calendar
        functions say that it is missing. Periods cannot be converted: data recording another
        period length are refused, and so are data recording none given to a model that has
        one (state it with ``data.attrs["time_unit"] = ...``).
    <<on_nonconvergence>>
    <<penalizer_coef>>

    Attributes
    ----------
    params_ : Series
        ``alpha``, ``beta``, ``gamma``, ``delta`` (all dimensionless).
    <<fit_attributes>>
    time_unit_ : str or None
        Length of one period, or ``None`` when unknown.

    Notes
    -----
    **Columns.** The same as the continuous-time models, counted in periods: ``frequency``
    (periods 1..n with a transaction; period 0 holds the first one and is not counted),
    ``recency`` (period of the last transaction, 0 if none) and ``T`` (``n``, the number of
    periods observed after period 0). Columns named ``n_periods`` or ``periods`` (as in the
    published donations data) stand in for a missing ``T``. All are whole numbers with
    ``frequency <= recency <= T``. Build them from a transaction log with
    ``rfm_summary(..., time_unit="Y", discrete=True)``. Aggregated data (one row per distinct
    history) are fitted with ``weights="weights"`` or any column of customer counts.

    **Horizons and calendar time.** Every ``t`` of the prediction methods is a number of
    periods. The opportunity of a period falls at its end, so a horizon that is not a whole
    number of periods holds the whole periods within it (2.5 periods hold 2). This is how
    :func:`~clvpredict.predictive_clv` sums over calendar months: with annual periods, month 12
    receives the next period's transactions and months 1-11 none, each discounted at its own
    month's end. :meth:`expected_discounted_residual_transactions` (DERT) gives the
    infinite-horizon value with a discount rate per period.

    Examples
    --------
    >>> from clvpredict.beta_geo_beta_binom import BetaGeoBetaBinomModel
    >>> from clvpredict.datasets import load_donations
    >>> donations = load_donations()        # frequency, recency, periods, weights
    >>> donations.attrs["time_unit"] = "Y"  # one opportunity a year
    >>> model = BetaGeoBetaBinomModel().fit(donations, weights="weights")
    >>> model.params_.round(4).to_dict()
    {'alpha': 1.2035, 'beta': 0.7497, 'gamma': 0.6567, 'delta': 2.7834}
    >>> round(model.log_likelihood_, 2)
    -33225.58
    >>> model.expected_purchases_new_customer([1, 2, 3]).round(4).tolist()
    [0.4985, 0.9233, 1.2969]
    >>> float(model.expected_purchases(5, donations).iloc[-1].round(3))  # 6 of 6, next 5 years
    3.753
    """

    _param_names = ("alpha", "beta", "gamma", "delta")
    kind = "bgbb"
    label = "BG/BB"
    citation = "Fader, Hardie & Shang 2010"
    discrete_time = True

    _negll = staticmethod(bgbb_negll_and_gradient)
    _conditional_expectation = staticmethod(_bgbb_conditional)
    _alive = staticmethod(_bgbb_alive)
    _new_customer_expectation = staticmethod(_bgbb_expectation)
    _new_customer_pmf = staticmethod(_bgbb_pmf)
    _simulator = staticmethod(simulate_bgbb)
    _alive_at = staticmethod(_bgbb_alive_at)

    @staticmethod
    def _alive_process(theta, x, t_x, T):
        # Alive in period n, the customer is a new one whose p ~ Beta(alpha + x, beta + n - x)
        # and theta ~ Beta(gamma, delta + n): the posteriors after n periods survived.
        alpha, beta, gamma, delta = theta
        return _bgbb_pmf, (alpha + x, beta + T - x, gamma, delta + T)

    def _cumulative_purchases(self, ts, theta, arrays):
        columns = (arrays[c] for c in self._columns)
        return bgbb_cumulative_expected_purchases(ts, *np.asarray(theta, dtype=float), *columns)

    def _read_arrays(self, data, overrides):
        if (
            isinstance(data, pd.DataFrame)
            and data.attrs.get("discrete") is False
            and data.attrs.get("time_unit") not in (None, "D")
        ):
            raise ClvDataError(
                "These data were summarised in continuous time (time_unit="
                f"{data.attrs['time_unit']!r}, purchases counted by day), but the BG/BB counts "
                "transaction opportunities. Build them with rfm_summary(..., discrete=True) (or "
                "calibration_holdout_summary(..., discrete=True)), which counts periods."
            )
        overrides = dict(overrides)
        if overrides.get("T") is None and isinstance(data, pd.DataFrame) and "T" not in data:
            for alias in ("n_periods", "periods"):
                if alias in data.columns:
                    overrides["T"] = data[alias]
                    break
        arrays, index = rfm_arrays(data, self._columns, overrides)
        x, t_x, n = arrays["frequency"], arrays["recency"], arrays["T"]
        for name in self._columns:
            bad = arrays[name] != np.round(arrays[name])
            if bad.any():
                raise ClvDataError(
                    f"Column {name!r} must hold whole numbers of periods; offending values at "
                    f"{_offenders(index, bad, arrays[name])}. Build the summary with "
                    "rfm_summary(..., discrete=True), which counts periods."
                )
        bad = x > t_x
        if bad.any():
            raise ClvDataError(
                "Column 'frequency' exceeds 'recency' (more transactions than periods up to the "
                f"last one) at {_offenders(index, bad, x)}. recency is the period of the last "
                "transaction, not the time since it."
            )
        bad = t_x > n
        if bad.any():
            raise ClvDataError(
                "Column 'recency' exceeds 'T' (a transaction after the last period observed) at "
                f"{_offenders(index, bad, t_x)}."
            )
        return arrays, index

    def _starting_values(self, columns, weights):
        x, _, n = columns
        share = float(weights @ x) / max(float(weights @ n), 1e-12)
        share = min(max(share, 0.05), 0.95)
        # A Beta(2 share, 2 (1 - share)) purchase probability centred on the observed share;
        # dropout starts at a Beta(1, 3).
        return [
            np.array([2.0 * share, 2.0 * (1.0 - share), 1.0, 3.0]),
            np.array([1.0, 1.0, 1.0, 1.0]),
            np.array([0.5, 0.5, 0.5, 5.0]),
            np.array([5.0 * share, 5.0 * (1.0 - share), 2.0, 10.0]),
        ]

    @in_callers_kind
    def expected_discounted_residual_transactions(
        self,
        data: pd.DataFrame | None = None,
        discount_rate: float | None = None,
        *,
        frequency: Any = None,
        recency: Any = None,
        T: Any = None,
    ) -> pd.Series:
        """DERT: present value of all future transactions, in transactions (eq. 14).

        Multiply by the margin per transaction for the customer's residual lifetime value.

        Parameters
        ----------
        data : DataFrame, optional
            Rows with ``frequency``, ``recency`` and ``T`` (or ``n_periods``/``periods``).
        discount_rate : float
            Required. Discount rate per period, > 0: a transaction ``k`` periods after the last
            observed one counts ``(1 + discount_rate)^-k``.

        Returns
        -------
        Series
            ``dert`` (discounted number of transactions), indexed like ``data``.
        """
        d = float("nan") if discount_rate is None else float(discount_rate)
        if not np.isfinite(d) or d <= 0:
            raise ClvDataError(
                f"discount_rate={discount_rate!r} must be a rate > 0 per period, e.g. 0.1 for "
                "10% (without discounting the expected number of future transactions is "
                "infinite for gamma <= 1)."
            )
        x, t_x, n, index = self._rfm(data, frequency, recency, T)
        values = bgbb_expected_discounted_residual_transactions(d, *self._theta(), x, t_x, n)
        return pd.Series(values, index=index, name="dert")

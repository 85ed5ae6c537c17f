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

from ._base import BaseModel
from .data import rfm_arrays
from .exceptions import ClvDataError
from .simulation import simulate_bgbb

__all__ = [
    "BetaGeoBetaBinomModel",
    "bgbb_conditional_expected_purchases",
    "bgbb_expected_discounted_residual_transactions",
    "bgbb_expected_purchases",
    "bgbb_log_likelihood",
    "bgbb_negll_and_gradient",
    "bgbb_probability_alive",
    "bgbb_probability_of_purchases",
]

#: Largest number of (row, period) cells held in memory at once by the likelihood.
_MAX_CELLS = 2_000_000

# ------------------------------------------------------------------------------------------
# Mathematics: plain vectorised functions of (parameters, data)
# ------------------------------------------------------------------------------------------


def _chunks(n_rows: int, width: int):
    step = max(1, _MAX_CELLS // max(width, 1))
    for start in range(0, n_rows, step):
        yield slice(start, min(start + step, n_rows))


def _log_terms(alpha, beta, gamma, delta, x, t_x, n):
    """Log-summands of eq. 5 for a block of rows.

    Returns the 'alive in period n' term (rows,) and the 'alive in period t_x + i, dropped out
    before the next' terms (rows, width) for i = 0 .. n - t_x - 1, padded with -inf, and i.
    """
    width = int(np.max(n - t_x, initial=0))
    i = np.arange(width, dtype=float)[None, :]
    alive = special.betaln(alpha + x, beta + n - x) + special.betaln(gamma, delta + n)
    xs, ts = x[:, None], t_x[:, None]
    valid = i < (n - t_x)[:, None]
    ii = np.where(valid, i, 0.0)
    dropped = special.betaln(alpha + xs, beta + ts - xs + ii) + special.betaln(
        gamma + 1, delta + ts + ii
    )
    return alive, np.where(valid, dropped, -np.inf), ii, valid


def _row_log_likelihood(alpha, beta, gamma, delta, x, t_x, n):
    common = -special.betaln(alpha, beta) - special.betaln(gamma, delta)
    out = np.empty(len(x))
    width = int(np.max(n - t_x, initial=0))
    for rows in _chunks(len(x), width):
        alive, dropped, _, _ = _log_terms(alpha, beta, gamma, delta, x[rows], t_x[rows], n[rows])
        both = np.concatenate([alive[:, None], dropped], axis=1)
        out[rows] = common + special.logsumexp(both, axis=1)
    return out


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
    digamma derivative of each summand averaged with the summand's share of L.
    """
    alpha, beta, gamma, delta = theta
    psi = special.digamma
    common = -special.betaln(alpha, beta) - special.betaln(gamma, delta)
    ll = np.empty(len(x))
    grad_rows = np.empty((4, len(x)))
    width = int(np.max(n - t_x, initial=0))
    for rows in _chunks(len(x), width):
        xr, tr, nr = x[rows], t_x[rows], n[rows]
        alive, dropped, ii, valid = _log_terms(alpha, beta, gamma, delta, xr, tr, nr)
        both = np.concatenate([alive[:, None], dropped], axis=1)
        total = special.logsumexp(both, axis=1)
        ll[rows] = common + total
        share_alive = np.exp(alive - total)
        share = np.where(valid, np.exp(dropped - total[:, None]), 0.0)
        xs, ts = xr[:, None], tr[:, None]

        def mix(on_alive, on_dropped, share_alive=share_alive, share=share):
            return share_alive * on_alive + (share * on_dropped).sum(axis=1)

        ab_dropped = psi(alpha + beta + ts + ii)
        gd_dropped = psi(gamma + delta + 1 + ts + ii)
        grad_rows[0, rows] = psi(alpha + xr) - mix(psi(alpha + beta + nr), ab_dropped)
        grad_rows[1, rows] = mix(
            psi(beta + nr - xr) - psi(alpha + beta + nr), psi(beta + ts - xs + ii) - ab_dropped
        )
        grad_rows[2, rows] = mix(psi(gamma) - psi(gamma + delta + nr), psi(gamma + 1) - gd_dropped)
        grad_rows[3, rows] = mix(
            psi(delta + nr) - psi(gamma + delta + nr), psi(delta + ts + ii) - gd_dropped
        )
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
    log_alive = (
        special.betaln(alpha + x, beta + n - x)
        - special.betaln(alpha, beta)
        + special.betaln(gamma, delta + n + m)
        - special.betaln(gamma, delta)
    )
    return np.exp(log_alive - _row_log_likelihood(alpha, beta, gamma, delta, x, t_x, n))


def _survival_sum(gamma, d, t):
    """E[sum_{k=1..t} (1-theta)^k] for theta ~ Beta(gamma, d): expected future periods alive.

    ``d/(gamma-1) [1 - Gamma(gamma+d) Gamma(1+d+t) / (Gamma(gamma+d+t) Gamma(1+d))]``
    (eq. 8 without the purchase probability). At ``gamma == 1`` the quotient is 0/0; its limit
    is ``d (psi(1+d+t) - psi(1+d))``.
    """
    t = np.asarray(t, dtype=float)
    g1 = gamma - 1.0
    log_ratio = (
        special.gammaln(gamma + d)
        - special.gammaln(gamma + d + t)
        + special.gammaln(1 + d + t)
        - special.gammaln(1 + d)
    )
    with np.errstate(divide="ignore", invalid="ignore"):
        exact = -d * np.expm1(log_ratio) / g1
    limit = d * (special.digamma(1 + d + t) - special.digamma(1 + d))
    return exact if abs(g1) > 1e-8 else limit


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


def bgbb_expected_discounted_residual_transactions(
    d, alpha, beta, gamma, delta, x, t_x, n
) -> np.ndarray:
    """DERT: discounted expected transactions in periods n+1, n+2, ... (eq. 14).

    A transaction in period ``n + k`` counts ``(1 + d)^-k``:
    ``DERT = P(alive at n) (alpha+x)/(alpha+beta+n) (delta+n)/(gamma+delta+n) / (1+d)
    * 2F1(1, delta+n+1; gamma+delta+n+1; 1/(1+d))``.

    Parameters
    ----------
    d : float
        Discount rate per period, > 0 (e.g. 0.1 for 10% per period).
    """
    x, t_x, n = (np.atleast_1d(np.asarray(v, dtype=float)) for v in (x, t_x, n))
    y = 1.0 / (1.0 + d)
    p_alive = bgbb_probability_alive(alpha, beta, gamma, delta, x, t_x, n)
    periods = (
        y
        * (delta + n)
        / (gamma + delta + n)
        * special.hyp2f1(1.0, delta + n + 1, gamma + delta + n + 1, y)
    )
    return p_alive * (alpha + x) / (alpha + beta + n) * periods


def bgbb_probability_of_purchases(k, t, alpha, beta, gamma, delta) -> np.ndarray:
    """P(X(t) = k): probability that a new customer makes k transactions in periods 1..t (eq. 7).

    ``C(t, k) B(alpha+k, beta+t-k)/B(alpha, beta) B(gamma, delta+t)/B(gamma, delta)``
    (alive throughout) plus, for dropping out after period ``i`` (``k <= i < t``),
    ``C(i, k) B(alpha+k, beta+i-k)/B(alpha, beta) B(gamma+1, delta+i)/B(gamma, delta)``.
    """
    k = np.atleast_1d(np.asarray(k, dtype=float))
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
    i = np.arange(t, dtype=float)[None, :]
    kc = kk[:, None]
    valid = i >= kc
    ic = np.where(valid, i, kc)
    dropped = np.where(
        valid,
        log_choose(ic, kc)
        + special.betaln(alpha + kc, beta + ic - kc)
        + special.betaln(gamma + 1, delta + ic),
        -np.inf,
    )
    both = np.concatenate([alive[:, None], dropped], axis=1)
    out = np.exp(base + special.logsumexp(both, axis=1))
    return np.where(possible, out, 0.0)


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


def _whole_periods(value: Any, name: str) -> int:
    v = float(value)
    if not np.isfinite(v) or v < 0 or v != round(v):
        raise ClvDataError(f"{name}={value!r} must be a whole number of periods >= 0.")
    return round(v)


class BetaGeoBetaBinomModel(BaseModel):
    """BG/BB model of discrete-time repeat transactions and dropout (Fader, Hardie & Shang 2010).

    For settings where customers can transact only at discrete occasions (one opportunity per
    period). ``p ~ Beta(alpha, beta)`` is the probability of transacting in a period while alive
    and ``theta ~ Beta(gamma, delta)`` the probability of dropping out at the start of a period.

    Parameters
    ----------
    on_nonconvergence : {"warn", "raise"}
        Whether a fit that did not converge emits a :class:`~clvpredict.ConvergenceWarning` or
        raises :class:`~clvpredict.ConvergenceError`. Either way ``converged_`` is ``False``.

    Attributes
    ----------
    params_ : Series
        ``alpha``, ``beta``, ``gamma``, ``delta`` (all dimensionless).
    standard_errors_, covariance_ : Series, DataFrame
        From the inverse observed information (Hessian of the log-likelihood).
    log_likelihood_, aic_, bic_ : float
    converged_ : bool
    time_unit_ : None
        Time is counted in periods; there is no calendar unit.

    Notes
    -----
    **Columns.** ``frequency`` (transactions in periods 1..n, the first transaction in period 0
    excluded), ``recency`` (period of the last transaction, 0 if none) and ``n_periods`` (``n``,
    the number of periods observed after period 0); a ``periods`` column is used when
    ``n_periods`` is absent. All are whole numbers with ``frequency <= recency <= n_periods``.
    Aggregated data (one row per distinct history) are fitted with ``weights="weights"`` or
    any column holding the number of customers per row.

    **CLV.** :func:`~clvpredict.predictive_clv` and :func:`~clvpredict.clv_table` sum over
    calendar months and therefore need a model with a time unit; they refuse this one. The
    residual value of a customer in the BG/BB is
    ``margin * expected value per transaction * DERT(d)``, with
    :meth:`expected_discounted_residual_transactions` at the discount rate ``d`` per period
    (e.g. a :class:`~clvpredict.GammaGammaModel` for the value per transaction), and a forecast
    over a horizon is :meth:`expected_purchases` with a number of periods.

    Examples
    --------
    >>> from clvpredict.beta_geo_beta_binom import BetaGeoBetaBinomModel
    >>> from clvpredict.datasets import load_donations
    >>> donations = load_donations()        # frequency, recency, periods, weights
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
    _columns = ("frequency", "recency", "n_periods")
    _model_name = "BG/BB (Fader, Hardie & Shang 2010)"
    _uses_time = False

    _negll = staticmethod(bgbb_negll_and_gradient)

    def fit(
        self,
        data: pd.DataFrame | None = None,
        *,
        frequency: Any = None,
        recency: Any = None,
        n_periods: Any = None,
        weights: Any = None,
    ) -> BetaGeoBetaBinomModel:
        """Estimate (alpha, beta, gamma, delta) by maximum likelihood.

        Parameters
        ----------
        data : DataFrame, optional
            With columns ``frequency``, ``recency`` and ``n_periods`` (or ``periods``).
        frequency, recency, n_periods : array-like, optional
            The same as arrays; they override columns of ``data``.
        weights : array-like or str, optional
            Number of customers each row stands for, or the name of such a column (the
            published donations data: ``weights="weights"``).

        Returns
        -------
        BetaGeoBetaBinomModel
            ``self``, fitted.
        """
        overrides = {"frequency": frequency, "recency": recency, "n_periods": n_periods}
        return self._fit(data, overrides, weights)

    def _arrays(self, data, overrides):
        overrides = dict(overrides)
        if (
            overrides.get("n_periods") is None
            and isinstance(data, pd.DataFrame)
            and "n_periods" not in data.columns
            and "periods" in data.columns
        ):
            overrides["n_periods"] = data["periods"]
        arrays, index = rfm_arrays(data, self._columns, overrides)
        x, t_x, n = arrays["frequency"], arrays["recency"], arrays["n_periods"]
        for name in ("recency", "n_periods"):
            bad = arrays[name] != np.round(arrays[name])
            if bad.any():
                raise ClvDataError(
                    f"Column {name!r} must hold whole numbers of periods; offending values at "
                    f"{_offenders(index, bad, arrays[name])}."
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
                "Column 'recency' exceeds 'n_periods' (a transaction after the last period "
                f"observed) at {_offenders(index, bad, t_x)}."
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

    # ---------------------------------------------------------------- predictions
    def _history(self, data, frequency, recency, n_periods):
        arrays, index = self._arrays(
            data, {"frequency": frequency, "recency": recency, "n_periods": n_periods}
        )
        return arrays["frequency"], arrays["recency"], arrays["n_periods"], index

    def expected_purchases(
        self,
        t: int,
        data: pd.DataFrame | None = None,
        *,
        frequency: Any = None,
        recency: Any = None,
        n_periods: Any = None,
    ) -> pd.Series:
        """Expected number of transactions in the next ``t`` periods, given each history.

        Parameters
        ----------
        t : int
            Number of future periods (opportunities ``n+1 .. n+t``).
        data : DataFrame, optional
            Rows with ``frequency``, ``recency``, ``n_periods`` (or ``periods``); or pass the
            arrays as keywords.

        Returns
        -------
        Series
            ``expected_purchases``, indexed like ``data``.
        """
        horizon = _whole_periods(t, "t")
        x, t_x, n, index = self._history(data, frequency, recency, n_periods)
        values = bgbb_conditional_expected_purchases(horizon, *self._theta(), x, t_x, n)
        return pd.Series(values, index=index, name="expected_purchases")

    def probability_alive(
        self,
        data: pd.DataFrame | None = None,
        *,
        frequency: Any = None,
        recency: Any = None,
        n_periods: Any = None,
    ) -> pd.Series:
        """Probability that each customer is still alive in the last period observed, ``n``.

        Returns
        -------
        Series
            ``p_alive`` in [0, 1], indexed like ``data``. Fader, Hardie & Shang's eq. 11 (alive
            in period ``n + 1``) is ``probability_alive_at(1, data)``.
        """
        x, t_x, n, index = self._history(data, frequency, recency, n_periods)
        values = bgbb_probability_alive(*self._theta(), x, t_x, n)
        return pd.Series(values, index=index, name="p_alive")

    def probability_alive_at(
        self,
        t_future: int,
        data: pd.DataFrame | None = None,
        *,
        frequency: Any = None,
        recency: Any = None,
        n_periods: Any = None,
    ) -> pd.Series:
        """Probability that each customer is alive in period ``n + t_future``.

        Parameters
        ----------
        t_future : int
            Number of periods after the last one observed (0 gives :meth:`probability_alive`).

        Returns
        -------
        Series
            ``p_alive``, indexed like ``data``.
        """
        m = _whole_periods(t_future, "t_future")
        x, t_x, n, index = self._history(data, frequency, recency, n_periods)
        values = bgbb_probability_alive(*self._theta(), x, t_x, n, m=m)
        return pd.Series(values, index=index, name="p_alive")

    def expected_purchases_new_customer(self, t: int | np.ndarray) -> float | pd.Series:
        """E[X(t)]: expected transactions of a new customer in periods ``1..t`` (eq. 8).

        Parameters
        ----------
        t : int or array of int
            Number of periods after the first transaction.

        Returns
        -------
        float, or Series indexed by ``t`` when ``t`` is an array.
        """
        self._check_fitted()
        for v in np.ravel(t):
            _whole_periods(v, "t")
        values = bgbb_expected_purchases(t, *self._theta())
        if np.ndim(t) == 0:
            return float(values)
        return pd.Series(values, index=pd.Index(np.asarray(t), name="t"), name="expected_purchases")

    def probability_of_purchases(self, n: int | np.ndarray, t: int) -> float | pd.Series:
        """P(X(t) = n): probability that a new customer transacts ``n`` times in periods ``1..t``.

        Parameters
        ----------
        n : int or array of int
            Number of transactions.
        t : int
            Number of periods.

        Returns
        -------
        float, or Series indexed by ``n`` when ``n`` is an array.
        """
        periods = _whole_periods(t, "t")
        values = bgbb_probability_of_purchases(n, periods, *self._theta())
        if np.ndim(n) == 0:
            return float(values[0])
        return pd.Series(values, index=pd.Index(np.asarray(n), name="n"), name="probability")

    def expected_discounted_residual_transactions(
        self,
        data: pd.DataFrame | None = None,
        discount_rate: float | None = None,
        *,
        frequency: Any = None,
        recency: Any = None,
        n_periods: Any = None,
    ) -> pd.Series:
        """DERT: present value of all future transactions, in transactions (eq. 14).

        Multiply by the margin per transaction for the customer's residual lifetime value.

        Parameters
        ----------
        data : DataFrame, optional
            Rows with ``frequency``, ``recency``, ``n_periods`` (or ``periods``).
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
        x, t_x, n, index = self._history(data, frequency, recency, n_periods)
        values = bgbb_expected_discounted_residual_transactions(d, *self._theta(), x, t_x, n)
        return pd.Series(values, index=index, name="dert")

    # ---------------------------------------------------------------- simulation
    def simulate(
        self,
        n_periods: Any = None,
        *,
        n_customers: int | None = None,
        random_state: Any = None,
        latent: bool = False,
    ) -> pd.DataFrame:
        """Draw new customers from the model at its parameters (see :mod:`clvpredict.simulation`).

        Parameters
        ----------
        n_periods : int, array or Series
            Number of transaction opportunities observed after period 0, per customer (whole
            numbers). One value for all needs ``n_customers``; a Series lends its index.
        n_customers : int, optional
            Number of customers when ``n_periods`` is a single value.
        random_state : int, Generator, SeedSequence or None
            Source of randomness (an integer seed for reproducible customers).
        latent : bool
            Also return each customer's hidden state (see
            :func:`~clvpredict.simulation.simulate_bgbb`).

        Returns
        -------
        DataFrame
            ``frequency``, ``recency`` (period of the last transaction, 0 if none) and
            ``n_periods``, all int, one row per customer. Periods have no calendar unit, so no
            ``attrs["time_unit"]`` is set.

        Examples
        --------
        >>> from clvpredict import BetaGeoBetaBinomModel
        >>> truth = BetaGeoBetaBinomModel.from_params(
        ...     {"alpha": 1.2035, "beta": 0.7498, "gamma": 0.6568, "delta": 2.7839})
        >>> sim = truth.simulate(6, n_customers=100_000, random_state=3)
        >>> round(float(sim["frequency"].mean()), 1), round(truth.expected_purchases_new_customer(6), 1)
        (2.2, 2.2)
        """
        return simulate_bgbb(
            *self._theta(),
            n_periods,
            n_customers=n_customers,
            random_state=random_state,
            latent=latent,
        )

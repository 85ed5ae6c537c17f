"""Gamma-Gamma model of spend per transaction (Fader & Hardie, note 025, 2013; Colombo & Jiang 1999).

Each transaction value of a customer is ``Gamma(p, nu)``; across customers ``nu ~ Gamma(q, gamma)``.
Given ``x`` repeat transactions with mean value ``zbar``, the likelihood of ``zbar`` is closed-form
and so is the posterior mean spend ``E[M | x, zbar]``. The model assumes spend is independent of
the purchase process; fit it on repeat buyers (``x > 0``) only.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import numpy as np
import pandas as pd
from scipy import special

from .._fitting import FitResult, distinct_values
from ..data.summaries import rfm_arrays
from ..exceptions import ClvDataError
from ._base import BaseModel, in_callers_kind, lifetimes_call_hints
from ._simulators import simulate_gamma_gamma

__all__ = [
    "GammaGammaModel",
    "gamma_gamma_expected_average_value",
    "gamma_gamma_log_likelihood",
    "gamma_gamma_negll_and_gradient",
]


def gamma_gamma_log_likelihood(p, q, gamma, x, zbar) -> np.ndarray:
    """Log-density of the observed mean spend ``zbar`` of ``x`` transactions (note 025, eq. 4).

    ``f(zbar | p, q, gamma, x) = Gamma(px+q) / (Gamma(px) Gamma(q)) * gamma^q zbar^(px-1) x^(px)
    / (gamma + x zbar)^(px+q)``.
    """
    px = p * x
    return (
        special.gammaln(px + q)
        - special.gammaln(px)
        - special.gammaln(q)
        + q * np.log(gamma)
        + (px - 1) * np.log(zbar)
        + px * np.log(x)
        - (px + q) * np.log(gamma + x * zbar)
    )


def gamma_gamma_negll_and_gradient(theta, x, zbar, weights) -> tuple[float, np.ndarray]:
    """Weighted negative log-likelihood and analytic gradient wrt (p, q, gamma)."""
    p, q, gamma = theta
    px = p * x
    log_total = np.log(gamma + x * zbar)
    ll = gamma_gamma_log_likelihood(p, q, gamma, x, zbar)
    psi_pxq = special.digamma(px + q)
    d_p = x * (psi_pxq - special.digamma(px) + np.log(zbar) + np.log(x) - log_total)
    d_q = psi_pxq - special.digamma(q) + np.log(gamma) - log_total
    d_gamma = q / gamma - (px + q) / (gamma + x * zbar)
    grad = np.array([weights @ d_p, weights @ d_q, weights @ d_gamma])
    return -float(weights @ ll), -grad


class GroupedSpend:
    """Gamma-Gamma rows arranged once per fit (see :func:`gamma_gamma_negll_grouped`).

    Only ``ln(gamma + x zbar)`` must be evaluated per row at each step; the rest of the
    likelihood is linear in sums fixed by the data or depends on the frequency alone.
    """

    def __init__(self, x: np.ndarray, zbar: np.ndarray, weights: np.ndarray):
        self.n_rows = len(x)
        self.total_weight = float(weights.sum())
        self.spend = x * zbar
        self.w = weights
        self.wx = weights * x
        self.frequencies, inverse = distinct_values(x)
        self.weight_per_frequency = np.bincount(
            inverse, weights=weights, minlength=len(self.frequencies)
        )
        log_zbar = np.log(zbar)
        #: sum w x ln(zbar) + sum w x ln(x), and sum w ln(zbar).
        self.sum_wx_log_xz = float(self.wx @ log_zbar + self.wx @ np.log(x))
        self.sum_w_log_z = float(weights @ log_zbar)

    def __len__(self) -> int:
        return self.n_rows


def gamma_gamma_negll_grouped(theta, rows: GroupedSpend, weights=None, *, hessian=False):
    """Weighted negative log-likelihood, gradient and (with ``hessian``) Hessian wrt
    (p, q, gamma) from :class:`GroupedSpend`; the same values as
    :func:`gamma_gamma_negll_and_gradient`.

    Summed over customers, note 025's eq. 4 is

    ``sum_x W_x [lnG(px+q) - lnG(px)] - W lnG(q) + W q ln(gamma) + p S1 - S0
    - p sum w x L - q sum w L``

    with ``L = ln(gamma + x zbar)``, ``W_x`` the weight of frequency ``x``, ``S1 = sum w x
    ln(x zbar)`` and ``S0 = sum w ln(zbar)``. The parameters p and q enter the row sums
    linearly, so the derivatives need only ``sum w L``, ``sum w/(gamma + x zbar)`` and
    ``sum w/(gamma + x zbar)^2`` (each also weighted by ``x``).
    """
    p, q, gamma = theta
    xs, wf, total = rows.frequencies, rows.weight_per_frequency, rows.total_weight
    shifted = rows.spend + gamma
    log_shifted = np.log(shifted)
    inverse = np.divide(1.0, shifted, out=shifted)
    sum_w_l, sum_wx_l = float(rows.w @ log_shifted), float(rows.wx @ log_shifted)
    sum_w_i, sum_wx_i = float(rows.w @ inverse), float(rows.wx @ inverse)
    px = p * xs
    ll = (
        float(wf @ (special.gammaln(px + q) - special.gammaln(px)))
        - total * special.gammaln(q)
        + total * q * np.log(gamma)
        + p * rows.sum_wx_log_xz
        - rows.sum_w_log_z
        - p * sum_wx_l
        - q * sum_w_l
    )
    psi_pxq = special.digamma(px + q)
    grad = np.array(
        [
            float((wf * xs) @ (psi_pxq - special.digamma(px))) + rows.sum_wx_log_xz - sum_wx_l,
            float(wf @ psi_pxq) - total * special.digamma(q) + total * np.log(gamma) - sum_w_l,
            total * q / gamma - p * sum_wx_i - q * sum_w_i,
        ]
    )
    if not hessian:
        return -ll, -grad
    np.multiply(inverse, inverse, out=inverse)
    sum_w_i2, sum_wx_i2 = float(rows.w @ inverse), float(rows.wx @ inverse)
    tri_pxq = special.polygamma(1, px + q)
    h_pp = float((wf * xs * xs) @ (tri_pxq - special.polygamma(1, px)))
    h_pq = float((wf * xs) @ tri_pxq)
    h_qq = float(wf @ tri_pxq) - total * special.polygamma(1, q)
    h_pg = -sum_wx_i
    h_qg = total / gamma - sum_w_i
    h_gg = -total * q / gamma**2 + p * sum_wx_i2 + q * sum_w_i2
    h = np.array([[h_pp, h_pq, h_pg], [h_pq, h_qq, h_qg], [h_pg, h_qg, h_gg]])
    return -ll, -grad, -h


def gamma_gamma_expected_average_value(p, q, gamma, x, zbar) -> np.ndarray:
    """E[M | x, zbar], the posterior mean spend per transaction (note 025, eq. 5).

    A weighted average of the population mean ``p gamma / (q - 1)`` and the customer's own mean
    ``zbar``, with weight ``px / (px + q - 1)`` on the latter; customers with ``x == 0`` get the
    population mean. Finite only for ``q > 1``.
    """
    x = np.asarray(x, dtype=float)
    zbar = np.where(x > 0, np.nan_to_num(np.asarray(zbar, dtype=float)), 0.0)
    return p * (gamma + x * zbar) / (p * x + q - 1)


class GammaGammaModel(BaseModel):
    """Gamma-Gamma spend model (Fader & Hardie note 025).

    Parameters
    ----------
    <<on_nonconvergence>>
    <<penalizer_coef>>

    Attributes
    ----------
    params_ : Series
        ``p``, ``q``, ``gamma`` (``gamma`` in currency units).
    <<fit_attributes>>

    Examples
    --------
    >>> from clvpredict import GammaGammaModel
    >>> from clvpredict.datasets import load_cdnow_summary
    >>> summary = load_cdnow_summary()
    >>> spend = GammaGammaModel().fit(summary)       # uses the 946 repeat buyers
    >>> spend.params_.round(2).to_dict()
    {'p': 6.25, 'q': 3.74, 'gamma': 15.45}
    >>> float(spend.expected_average_value(summary).loc[1].round(2))
    24.66
    """

    _param_names = ("p", "q", "gamma")
    _columns = ("frequency", "monetary_value")
    kind = "gammagamma"
    label = "Gamma-Gamma spend model"
    citation = "Fader & Hardie 2013"
    _uses_time = False

    _negll = staticmethod(gamma_gamma_negll_and_gradient)
    _analytic_hessian = True

    def _prepare_likelihood(self, columns, weights):
        return gamma_gamma_negll_grouped, [GroupedSpend(*columns, weights)]

    @lifetimes_call_hints
    def fit(
        self,
        data: pd.DataFrame | None = None,
        *,
        frequency: Any = None,
        monetary_value: Any = None,
        weights: Any = None,
    ) -> GammaGammaModel:
        """Estimate (p, q, gamma) by maximum likelihood on the repeat buyers.

        Rows with ``frequency == 0`` are ignored: one-time buyers have no repeat spend to learn from
        (their ``monetary_value`` is ``NaN`` in :func:`~clvpredict.rfm_summary`).

        Parameters
        ----------
        data : DataFrame, optional
            With ``frequency`` (repeat purchases) and ``monetary_value`` (mean repeat spend,
            currency units).
        frequency, monetary_value : array-like, optional
            The same as arrays.
        weights : array-like or str, optional
            Number of customers each row stands for.

        Returns
        -------
        GammaGammaModel
            ``self``, fitted.

        Raises
        ------
        ClvDataError
            No repeat buyers, or a repeat buyer with ``monetary_value <= 0``.
        """
        return self._fit(data, {"frequency": frequency, "monetary_value": monetary_value}, weights)

    def _read_arrays(self, data, overrides):
        # NaN spend is the documented value for one-time buyers: accept it there.
        return rfm_arrays(data, self._columns, overrides, nan_where_no_repeat=("monetary_value",))

    def _select_fit_rows(self, arrays, weights, index):
        x, zbar = arrays["frequency"], arrays["monetary_value"]
        repeat = x > 0
        if not repeat.any():
            raise ClvDataError(
                "The Gamma-Gamma model cannot be fitted: no customer has a repeat purchase "
                "(all frequency == 0), so there is no repeat spend to learn from. Collect a "
                "longer history, or use a fixed average order value instead."
            )
        bad = repeat & (zbar <= 0)
        if bad.any():
            labels = ", ".join(
                f"{lab!r}: {val!r}"
                for lab, val in zip(index[bad][:5], zbar[bad][:5].tolist(), strict=False)
            )
            raise ClvDataError(
                f"Column 'monetary_value' must be > 0 for repeat buyers (the Gamma-Gamma model "
                f"describes positive spend); offending customers: {labels}. Remove returns and "
                "zero-value purchases before summarising, or drop these customers."
            )
        return {k: v[repeat] for k, v in arrays.items()}, weights[repeat]

    def _standardise(self, columns, weights):
        """Fit on spend divided by its mean, then scale ``gamma`` (a money scale) back.

        If ``zbar = c * z``, the density of ``zbar`` at ``(p, q, c * gamma)`` is that of ``z`` at
        ``(p, q, gamma)`` divided by ``c``, so the estimates are exact and the log-likelihood
        shifts by ``-n log c``. Without this, amounts in the billions (or in fractions of a
        cent) push ``gamma`` to the edge of what the optimiser can reach.
        """
        x, zbar = columns
        scale = float(weights @ zbar) / float(weights.sum())
        n = float(weights.sum())

        def undo(result: FitResult) -> FitResult:
            factor = np.array([1.0, 1.0, scale])
            return replace(
                result,
                params=result.params * factor,
                covariance=result.covariance * np.outer(factor, factor),
                log_likelihood=result.log_likelihood - n * np.log(scale),
            )

        return [x, zbar / scale], undo, np.array([1.0, 1.0, scale])

    def _starting_values(self, columns, weights):
        _, zbar = columns
        mean = float(weights @ zbar) / float(weights.sum())
        # p = 1, q = 2 puts the population mean p*gamma/(q-1) at the observed mean.
        return [
            np.array([1.0, 2.0, mean]),
            np.array([5.0, 3.0, 0.4 * mean]),
            np.array([0.5, 5.0, 8.0 * mean]),
            np.array([1.0, 1.5, 1.0]),
        ]

    @in_callers_kind
    def expected_average_value(
        self,
        data: pd.DataFrame | None = None,
        *,
        frequency: Any = None,
        monetary_value: Any = None,
        interval: float | None = None,
        n_draws: int = 200,
        random_state: Any = None,
    ) -> pd.Series | pd.DataFrame:
        """Expected spend per future transaction, E[M | x, zbar] (currency units).

        One-time buyers (``frequency == 0``) get the population mean ``p gamma / (q - 1)``.

        Parameters
        ----------
        data, frequency, monetary_value
            RFM rows, or the arrays as keywords.
        interval, n_draws, random_state
            Optional parameter-uncertainty interval (e.g. ``interval=0.9``), see
            :mod:`clvpredict.uncertainty`.

        Returns
        -------
        Series or DataFrame
            ``expected_avg_value``, indexed like ``data``; with ``interval`` also
            ``expected_avg_value_lower`` and ``expected_avg_value_upper``.

        Raises
        ------
        ClvDataError
            If ``q <= 1``: the fitted spend distribution then has no finite mean.
        """
        _, q, _ = self._theta()
        if q <= 1:
            raise ClvDataError(
                f"The fitted Gamma-Gamma model has q = {q:.4g} <= 1, so its mean spend is "
                "infinite and expected values are undefined. The spend data are too heavy-tailed "
                "for this model: cap extreme amounts or use the empirical mean."
            )
        arrays, index = self._arrays(
            data, {"frequency": frequency, "monetary_value": monetary_value}
        )
        values = self._expected_value(self._theta(), arrays)
        if interval is None:
            return pd.Series(values, index=index, name="expected_avg_value")
        return self._interval_frame(
            "expected_avg_value",
            values,
            index,
            [arrays["frequency"], arrays["monetary_value"]],
            lambda theta, x, zbar: self._expected_value(
                theta, {"frequency": x, "monetary_value": zbar}
            ),
            interval,
            n_draws,
            random_state,
        )

    @staticmethod
    def _expected_value(theta, arrays: dict[str, np.ndarray]) -> np.ndarray:
        """E[M | x, zbar] at parameters ``theta``; infinite mean (q <= 1) gives inf."""
        p, q, gamma = theta
        if q <= 1:
            return np.full(len(arrays["frequency"]), np.inf)
        return gamma_gamma_expected_average_value(
            p, q, gamma, arrays["frequency"], arrays["monetary_value"]
        )

    def population_mean(self) -> float:
        """Mean spend per transaction of a random customer, ``p gamma / (q - 1)`` (currency)."""
        p, q, gamma = self._theta()
        return float(p * gamma / (q - 1)) if q > 1 else float("inf")

    # ---------------------------------------------------------------- simulation
    def simulate(
        self,
        frequency: Any = None,
        *,
        n_customers: int | None = None,
        random_state: Any = None,
        latent: bool = False,
    ) -> pd.DataFrame:
        """Draw the mean repeat spend of new customers with given numbers of repeat purchases.

        Parameters
        ----------
        frequency : int, array or Series
            Number of repeat purchases per customer (whole numbers >= 0), e.g. the
            ``frequency`` column of a purchase model's :meth:`simulate`. One value for all needs
            ``n_customers``; a Series lends its index.
        n_customers : int, optional
            Number of customers when ``frequency`` is a single value.
        random_state : int, Generator, SeedSequence or None
            Source of randomness (an integer seed for reproducible customers).
        latent : bool
            Also return each customer's true mean spend ``mean_spend`` (currency).

        Returns
        -------
        DataFrame
            ``frequency`` and ``monetary_value`` (currency: the mean of ``frequency`` simulated
            spends, ``NaN`` without repeat purchases), one row per customer.

        Examples
        --------
        >>> from clvpredict import GammaGammaModel
        >>> truth = GammaGammaModel.from_params({"p": 6.25, "q": 3.74, "gamma": 15.44})
        >>> sim = truth.simulate(3, n_customers=5_000, random_state=4)
        >>> refit = GammaGammaModel().fit(sim)
        >>> table = refit.summary(alpha=0.01)
        >>> bool(((table["lower_99"] < truth.params_) & (truth.params_ < table["upper_99"])).all())
        True
        """
        return simulate_gamma_gamma(
            *self._theta(),
            frequency,
            n_customers=n_customers,
            random_state=random_state,
            latent=latent,
        )

"""lifetimes' ``GammaGammaFitter`` (Fader & Hardie note 025) on clvpredict's GammaGammaModel."""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np
import pandas as pd

from ...models import GammaGammaModel
from ...models.gamma_gamma import gamma_gamma_expected_average_value
from ..utils import _customer_lifetime_value
from . import BaseFitter, _column, _shaped_like, check_inputs

__all__ = ["GammaGammaFitter"]


class GammaGammaFitter(BaseFitter):
    """Gamma-Gamma spend model with lifetimes' interface.

    Fit it to *repeat* buyers only (``frequency > 0``): a one-time buyer has no repeat spend
    (lifetimes' summaries give such customers ``monetary_value`` 0, which the model cannot take).

    Parameters
    ----------
    penalizer_coef : float
        lifetimes' L2 penalty ``penalizer_coef * (p**2 + q**2 + v**2)`` added to the mean
        negative log-likelihood. ``v`` is in currency units, so the same coefficient shrinks
        differently in cents than in dollars; prefer no penalty.

    Attributes
    ----------
    params_ : Series
        ``p``, ``q`` and ``v`` (clvpredict's ``GammaGammaModel`` calls ``v`` ``gamma``).
    """

    _param_names: ClassVar[tuple[str, ...]] = ("p", "q", "v")
    _model = GammaGammaModel
    _data_columns: ClassVar[tuple[str, ...]] = ("frequency", "monetary_value")

    def fit(
        self,
        frequency: Any,
        monetary_value: Any,
        weights: Any = None,
        initial_params: Any = None,
        verbose: bool = False,
        tol: float = 1e-7,
        index: Any = None,
        q_constraint: bool = False,
        **kwargs: Any,
    ):
        """Fit the model to repeat buyers' ``frequency`` and mean spend ``monetary_value``.

        Parameters
        ----------
        frequency : array-like
            Repeat purchases (> 0).
        monetary_value : array-like
            Mean value of the repeat purchases (> 0).
        weights, initial_params, verbose, tol, index, **kwargs
            As in :meth:`BetaGeoFitter.fit <clvpredict.lifetimes.BetaGeoFitter.fit>`.
        q_constraint : bool
            Keep ``q > 1`` (so that the population mean spend ``p v / (q - 1)`` is finite and
            positive).

        Returns
        -------
        self
        """
        check_inputs(np.asarray(frequency), monetary_value=np.asarray(monetary_value))
        frequency = np.asarray(frequency, dtype=float)
        monetary_value = np.asarray(monetary_value, dtype=float)
        weights = np.ones(len(frequency), dtype=int) if weights is None else np.asarray(weights)
        self._estimate(
            [frequency, monetary_value],
            weights.astype(float),
            initial_params=initial_params,
            constraint=(lambda theta: theta[1] > 1.0) if q_constraint else None,
        )
        self.data = pd.DataFrame(
            {"monetary_value": monetary_value, "frequency": frequency, "weights": weights},
            index=index,
        )
        return self

    @staticmethod
    def _negative_log_likelihood(
        log_params: Any,
        frequency: Any,
        avg_monetary_value: Any,
        weights: Any = 1.0,
        penalizer_coef: float = 0.0,
        q_constraint: bool = False,
    ) -> float:
        """lifetimes' objective: mean negative log-likelihood plus the L2 penalty.

        With ``q_constraint`` and ``q < 1`` (``log_params[1] < 0``) it is ``inf``.
        """
        params = np.exp(np.asarray(log_params, dtype=float))
        if q_constraint and params[1] < 1:
            return np.inf
        x, m = _column(frequency), _column(avg_monetary_value)
        w = np.broadcast_to(np.asarray(weights, dtype=float), x.shape)
        value, _ = GammaGammaModel._negll(params, x, m, w)
        return float(value / w.sum() + penalizer_coef * np.sum(params**2))

    def conditional_expected_average_profit(
        self, frequency: Any = None, monetary_value: Any = None
    ) -> Any:
        """Posterior mean spend per transaction of customers with the given history.

        Customers with ``frequency == 0`` get the population mean ``p v / (q - 1)``, whatever
        their ``monetary_value``.

        Returns
        -------
        float, array or Series
            A Series on the index of a Series argument.
        """
        if monetary_value is None:
            monetary_value = self.data["monetary_value"]
        if frequency is None:
            frequency = self.data["frequency"]
        values = gamma_gamma_expected_average_value(
            *self._theta(), _column(frequency), _column(monetary_value)
        )
        return _shaped_like(values, frequency, monetary_value)

    def customer_lifetime_value(
        self,
        transaction_prediction_model: Any,
        frequency: Any,
        recency: Any,
        T: Any,
        monetary_value: Any,
        time: int = 12,
        discount_rate: float = 0.01,
        freq: str = "D",
    ) -> pd.Series:
        """Discounted value of each customer over ``time`` months (lifetimes' formula).

        See :func:`clvpredict.lifetimes.utils._customer_lifetime_value`: months are 30 days,
        ``discount_rate`` is per month and ``freq`` states the unit of ``recency`` and ``T``.
        """
        profit = self.conditional_expected_average_profit(frequency, monetary_value)
        return _customer_lifetime_value(
            transaction_prediction_model,
            frequency,
            recency,
            T,
            profit,
            time,
            discount_rate,
            freq=freq,
        )

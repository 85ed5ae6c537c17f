"""lifetimes' ``BetaGeoBetaBinomFitter`` (BG/BB, Fader, Hardie & Shang 2010) on BetaGeoBetaBinomModel."""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np
import pandas as pd

from ...models import BetaGeoBetaBinomModel
from ...models.beta_geo_beta_binom import bgbb_probability_alive
from .. import generate_data
from . import BaseFitter, _column, _shaped_like, check_inputs

__all__ = ["BetaGeoBetaBinomFitter"]


class BetaGeoBetaBinomFitter(BaseFitter):
    """BG/BB model of discrete transaction opportunities, with lifetimes' interface.

    ``frequency`` counts the opportunities with a transaction after the first, ``recency`` is
    the opportunity of the last one and ``n_periods`` the number of opportunities observed.

    Parameters
    ----------
    penalizer_coef : float
        lifetimes' L2 penalty on ``alpha``, ``beta``, ``gamma``, ``delta`` added to the mean
        negative log-likelihood.
    """

    _param_names: ClassVar[tuple[str, ...]] = ("alpha", "beta", "gamma", "delta")
    _model = BetaGeoBetaBinomModel
    _data_columns: ClassVar[tuple[str, ...]] = ("frequency", "recency", "T")

    def fit(
        self,
        frequency: Any,
        recency: Any,
        n_periods: Any,
        weights: Any = None,
        initial_params: Any = None,
        verbose: bool = False,
        tol: float = 1e-7,
        index: Any = None,
        **kwargs: Any,
    ):
        """Fit the BG/BB to ``frequency``, ``recency`` and ``n_periods`` (with ``weights``).

        Parameters are as in :meth:`BetaGeoFitter.fit <clvpredict.lifetimes.BetaGeoFitter.fit>`
        with ``n_periods`` (opportunities observed) in place of ``T``.
        """
        frequency = np.asarray(frequency).astype(int)
        recency = np.asarray(recency, dtype=float)
        n_periods = np.asarray(n_periods, dtype=float)
        check_inputs(frequency, recency, n_periods)
        weights = np.ones(len(recency), dtype=int) if weights is None else np.asarray(weights)
        self._estimate(
            [frequency.astype(float), recency, n_periods],
            weights.astype(float),
            initial_params=initial_params,
        )
        self.data = pd.DataFrame(
            {
                "frequency": frequency,
                "recency": recency,
                "n_periods": n_periods,
                "weights": weights,
            },
            index=index,
        )
        self._after_load()
        return self

    def _after_load(self) -> None:
        self.predict = self.conditional_expected_number_of_purchases_up_to_time
        if getattr(self, "data", None) is not None and "n_periods" in self.data:
            opportunities = self.data["n_periods"].to_numpy()
            self.generate_new_data = lambda size=1: generate_data.beta_geometric_beta_binom_model(
                opportunities, *self._theta(), size=size
            )

    def conditional_expected_number_of_purchases_up_to_time(
        self, m_periods_in_future: Any, frequency: Any, recency: Any, n_periods: Any
    ) -> Any:
        """Expected transactions in the next ``m_periods_in_future`` opportunities."""
        values = self._model._conditional_expectation(
            _column(m_periods_in_future),
            *self._theta(),
            _column(frequency),
            _column(recency),
            _column(n_periods),
        )
        return _shaped_like(values, m_periods_in_future, frequency, recency, n_periods)

    def conditional_probability_alive(
        self, m_periods_in_future: Any, frequency: Any, recency: Any, n_periods: Any
    ) -> Any:
        """P(alive at opportunity ``n_periods + m_periods_in_future`` | history)."""
        values = bgbb_probability_alive(
            *self._theta(),
            _column(frequency),
            _column(recency),
            _column(n_periods),
            m=_column(m_periods_in_future),
        )
        return _shaped_like(values, m_periods_in_future, frequency, recency, n_periods)

    def expected_number_of_transactions_in_first_n_periods(self, n: int) -> pd.DataFrame:
        """Expected number of fitted customers with each frequency over ``n`` opportunities.

        Returns
        -------
        DataFrame
            Column ``model``, indexed by ``frequency`` for the frequencies seen in :attr:`data`
            (as lifetimes gives it): P(X(n) = x) times the number of customers.
        """
        counts = self.data.groupby("frequency")["weights"].sum()
        x = np.asarray(counts.index, dtype=int)
        probability = self._model._new_customer_pmf(x, float(n), *self._theta())
        return pd.DataFrame(
            {"model": probability * counts.sum()},
            index=pd.Index(x, name="frequency"),
        )

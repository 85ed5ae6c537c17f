"""The part of lifetimes' BG/NBD, MBG/NBD and Pareto/NBD fitters that they share."""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np
import pandas as pd

from . import BaseFitter, _column, _shaped_like, check_inputs


class PurchaseFitter(BaseFitter):
    """Fitters of ``(frequency, recency, T)`` in continuous time (not used directly)."""

    _data_columns: ClassVar[tuple[str, ...]] = ("frequency", "recency", "T")
    #: ``(T, *params, size=...) -> DataFrame``: lifetimes.generate_data's simulator.
    _generator: ClassVar[Any] = None

    def fit(
        self,
        frequency: Any,
        recency: Any,
        T: Any,
        weights: Any = None,
        initial_params: Any = None,
        verbose: bool = False,
        tol: float = 1e-7,
        index: Any = None,
        **kwargs: Any,
    ):
        """Fit the model to customers' ``frequency``, ``recency`` and age ``T``.

        Parameters
        ----------
        frequency : array-like
            Repeat purchases of each customer (``x``).
        recency : array-like
            Time of each customer's last purchase since the first (``t_x``).
        T : array-like
            Each customer's age: time since the first purchase to the end of observation.
        weights : array-like, optional
            Number of customers each row stands for (default 1 each).
        initial_params : array-like, optional
            Starting point, as lifetimes took it: the *logarithms* of the parameters. Given,
            lifetimes' search (L-BFGS from there) replaces the model's own fit; the optimum
            does not depend on it.
        verbose, tol, **kwargs
            Accepted for lifetimes' signature (scipy options); the models' own optimiser
            decides convergence.
        index : array-like, optional
            Index of :attr:`data`.

        Returns
        -------
        self
            With ``params_``, ``data``, ``predict``, ``summary``, ``standard_errors_``,
            ``variance_matrix_``, ``confidence_intervals_`` and ``generate_new_data``.
        """
        frequency = np.asarray(frequency).astype(int)
        recency = np.asarray(recency, dtype=float)
        T = np.asarray(T, dtype=float)
        check_inputs(frequency, recency, T)
        weights = np.ones(len(recency), dtype=int) if weights is None else np.asarray(weights)
        self._scale = 1.0 / T.max()
        self._estimate(
            [frequency.astype(float), recency, T],
            weights.astype(float),
            time_scale=self._scale,
            initial_params=initial_params,
        )
        self.data = pd.DataFrame(
            {"frequency": frequency, "recency": recency, "T": T, "weights": weights},
            index=index,
        )
        self._after_load()
        return self

    #: lifetimes' BG/NBD and MBG/NBD objectives took the logarithms of the parameters, its
    #: Pareto/NBD objective the parameters themselves.
    _objective_takes_logs: ClassVar[bool] = True

    @classmethod
    def _negative_log_likelihood(
        cls, params: Any, freq: Any, rec: Any, T: Any, weights: Any, penalizer_coef: float
    ) -> float:
        """lifetimes' fitting objective at ``params``: the weighted negative log-likelihood
        divided by the sum of the weights (their mean for the Pareto/NBD), plus
        ``penalizer_coef * sum(params**2)``.

        ``params`` are ``(r, alpha, a, b)`` (``(r, alpha, s, beta)``) as lifetimes' method of
        the same name took them: their logarithms for the BG/NBD and MBG/NBD, the values
        themselves for the Pareto/NBD (``inf`` when one is not positive). The likelihood is
        the clvpredict model's. Kept for code that called this private method.
        """
        values = np.asarray(params, dtype=float)
        theta = np.exp(values) if cls._objective_takes_logs else values
        if np.any(theta <= 0):
            return np.inf
        x, t_x, age = (np.atleast_1d(np.asarray(v, dtype=float)) for v in (freq, rec, T))
        w = np.broadcast_to(np.atleast_1d(np.asarray(weights, dtype=float)), x.shape)
        value, _ = cls._model._negll(theta, x, t_x, age, np.ascontiguousarray(w))
        divisor = w.sum() if cls._objective_divisor == "sum" else w.mean()
        return value / divisor + penalizer_coef * float(np.sum(theta**2))

    def _after_load(self) -> None:
        self.predict = self.conditional_expected_number_of_purchases_up_to_time
        if getattr(self, "data", None) is not None and "T" in self.data:
            ages = self.data["T"].to_numpy()
            self.generate_new_data = lambda size=1: type(self)._generator(
                ages, *self._theta(), size=size
            )

    # ------------------------------------------------------------------ predictions
    def conditional_expected_number_of_purchases_up_to_time(
        self, t: Any, frequency: Any, recency: Any, T: Any
    ) -> Any:
        """Expected purchases in the next ``t`` of customers with the given history.

        Parameters
        ----------
        t : float or array-like
            Length of the future period, in the unit of ``recency`` and ``T``.
        frequency, recency, T : float or array-like
            The customers' histories.

        Returns
        -------
        float, array or Series
            A Series on the index of a Series argument; a float for scalars.
        """
        values = self._model._conditional_expectation(
            _column(t), *self._theta(), _column(frequency), _column(recency), _column(T)
        )
        return _shaped_like(values, t, frequency, recency, T)

    def conditional_probability_alive(self, frequency: Any, recency: Any, T: Any) -> Any:
        """Probability that customers with the given histories are alive at ``T``.

        Returns
        -------
        float, array or Series
            Shaped as :meth:`conditional_expected_number_of_purchases_up_to_time` returns.
        """
        values = self._model._alive(
            *self._theta(), _column(frequency), _column(recency), _column(T)
        )
        return _shaped_like(values, frequency, recency, T)

    def conditional_probability_alive_matrix(
        self, max_frequency: int | None = None, max_recency: int | None = None
    ) -> np.ndarray:
        """P(alive) of every history on a grid, for customers of age ``max_recency``.

        Parameters
        ----------
        max_frequency : int, optional
            Largest frequency (default: the largest fitted one).
        max_recency : int, optional
            Largest recency, also the customers' age (default: the largest fitted ``T``).

        Returns
        -------
        ndarray
            ``[recency, frequency]``: shape ``(max_recency + 1, max_frequency + 1)``.
        """
        max_frequency = max_frequency or int(self.data["frequency"].max())
        max_recency = max_recency or int(self.data["T"].max())
        recency, frequency = np.meshgrid(
            np.arange(max_recency + 1, dtype=float),
            np.arange(max_frequency + 1, dtype=float),
            indexing="ij",
        )
        values = self._model._alive(
            *self._theta(),
            frequency.ravel(),
            recency.ravel(),
            np.full(frequency.size, float(max_recency)),
        )
        return values.reshape(frequency.shape)

    def expected_number_of_purchases_up_to_time(self, t: Any) -> Any:
        """Expected purchases in ``(0, t]`` of a customer acquired at time 0."""
        values = self._model._new_customer_expectation(_column(t), *self._theta())
        return _shaped_like(values, t)

    def probability_of_n_purchases_up_to_time(self, t: float, n: int) -> Any:
        """P(X(t) = n): probability that a new customer makes ``n`` purchases in ``(0, t]``."""
        values = self._model._new_customer_pmf(_column(n, int), float(t), *self._theta())
        return _shaped_like(values, n)

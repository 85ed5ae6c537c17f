"""lifetimes' ``ParetoNBDFitter`` (Schmittlein, Morrison & Colombo 1987) on ParetoNBDModel."""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np

from ...models import ParetoNBDModel
from ...models.pareto_nbd import _log_power_integral
from .. import generate_data
from . import _column, _shaped_like
from ._purchase import PurchaseFitter

__all__ = ["ParetoNBDFitter"]


class ParetoNBDFitter(PurchaseFitter):
    """Pareto/NBD model with lifetimes' interface.

    Parameters
    ----------
    penalizer_coef : float
        lifetimes' L2 penalty on ``r``, ``alpha``, ``s``, ``beta`` (``alpha`` and ``beta`` on its
        rescaled time axis). lifetimes divided this model's summed negative log-likelihood by the
        *mean* weight rather than their sum (unlike its other fitters), so a coefficient weighs
        about ``n`` times less here than in the BG/NBD; that is kept, so that the same
        coefficient gives lifetimes' estimates.
    """

    _param_names: ClassVar[tuple[str, ...]] = ("r", "alpha", "s", "beta")
    _model = ParetoNBDModel
    _time_params: ClassVar[tuple[str, ...]] = ("alpha", "beta")
    _objective_divisor: ClassVar[str] = "mean"
    _generator = staticmethod(generate_data.pareto_nbd_model)
    _objective_takes_logs: ClassVar[bool] = False

    @staticmethod
    def _log_A_0(params: Any, freq: Any, recency: Any, age: Any) -> Any:
        """ln A_0 of the Pareto/NBD likelihood (Fader & Hardie's note on implementing it).

        ``A_0 = (r + s + x) * integral from t_x to T of (alpha + u)^-(r + x) (beta + u)^-(s + 1)
        du``, the term of the customers who dropped out between their last purchase and ``T``.
        ``params`` are ``(r, alpha, s, beta)``. lifetimes computed it from Gauss
        hypergeometric functions; here the integral is clvpredict's, finite for any number of
        purchases. Kept for code that called this private method.
        """
        r, alpha, s, beta = (float(v) for v in params)
        x = np.asarray(freq, dtype=float)
        log_integral = _log_power_integral(
            np.asarray(recency, dtype=float),
            np.asarray(age, dtype=float),
            0.0,
            r + x,
            s + 1.0,
            alpha,
            beta,
        )
        return np.log(r + s + x) + log_integral

    def conditional_probability_alive_matrix(
        self, max_frequency: int | None = None, max_recency: int | None = None
    ) -> np.ndarray:
        """P(alive) on the grid, as :meth:`PurchaseFitter.conditional_probability_alive_matrix`.

        Each cell is computed as a call of :meth:`conditional_probability_alive` for that one
        history computes it, so the two agree to the last bit (vectorised numpy functions may
        round differently for arrays of different lengths).
        """
        max_frequency = max_frequency or int(self.data["frequency"].max())
        max_recency = max_recency or int(self.data["T"].max())
        theta = self._theta()
        age = np.array([float(max_recency)])
        matrix = np.empty((max_recency + 1, max_frequency + 1))
        for recency in range(max_recency + 1):
            for frequency in range(max_frequency + 1):
                matrix[recency, frequency] = self._model._alive(
                    *theta, np.array([float(frequency)]), np.array([float(recency)]), age
                )[0]
        return matrix

    def conditional_probability_of_n_purchases_up_to_time(
        self, n: Any, t: float, frequency: Any, recency: Any, T: Any
    ) -> Any:
        """P(exactly ``n`` purchases in the next ``t`` | history).

        A customer alive at ``T`` goes on like a new customer whose rates follow their
        posteriors; one who is gone buys nothing. Unlike lifetimes, which gives 0 for ``n = 0``
        and ``t = 0`` (and so probabilities that do not sum to 1 over ``n`` for short
        horizons), this gives 1: nobody buys in no time.
        """
        theta = self._theta()
        x, t_x, age = _column(frequency), _column(recency), _column(T)
        alive = self._model._alive(*theta, x, t_x, age)
        pmf, posterior = self._model._alive_process(theta, x, t_x, age)
        counts = _column(n, int)
        values = alive * pmf(counts, float(t), *posterior) + (1.0 - alive) * (counts == 0)
        return _shaped_like(np.asarray(values), n, frequency, recency, T)

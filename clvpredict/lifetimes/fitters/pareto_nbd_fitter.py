"""lifetimes' ``ParetoNBDFitter`` (Schmittlein, Morrison & Colombo 1987) on ParetoNBDModel."""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np

from ...models import ParetoNBDModel
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

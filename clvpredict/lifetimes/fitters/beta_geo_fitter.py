"""lifetimes' ``BetaGeoFitter`` (BG/NBD, Fader, Hardie & Lee 2005) on clvpredict's BetaGeoModel."""

from __future__ import annotations

from typing import ClassVar

from ...models import BetaGeoModel
from .. import generate_data
from ._purchase import PurchaseFitter

__all__ = ["BetaGeoFitter"]


class BetaGeoFitter(PurchaseFitter):
    """BG/NBD model with lifetimes' interface.

    Parameters
    ----------
    penalizer_coef : float
        lifetimes' L2 penalty: ``penalizer_coef * sum(params**2)`` added to the mean negative
        log-likelihood, with ``alpha`` measured on lifetimes' rescaled time axis (the oldest
        customer's age is 1), so that the same coefficient gives the same estimates.

    Attributes
    ----------
    params_ : Series
        ``r``, ``alpha``, ``a``, ``b``; ``alpha`` in the unit of ``recency`` and ``T``.
    data : DataFrame
        The fitted ``frequency``, ``recency``, ``T`` and ``weights``.

    Notes
    -----
    ``probability_of_n_purchases_up_to_time`` and the conditional expectations are clvpredict's
    (the Gaussian hypergeometric function evaluated where lifetimes' series lost precision for
    long horizons); they agree with lifetimes where lifetimes is accurate.
    """

    _param_names: ClassVar[tuple[str, ...]] = ("r", "alpha", "a", "b")
    _model = BetaGeoModel
    _time_params: ClassVar[tuple[str, ...]] = ("alpha",)
    _generator = staticmethod(generate_data.beta_geometric_nbd_model)

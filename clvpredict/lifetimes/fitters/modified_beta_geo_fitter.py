"""lifetimes' ``ModifiedBetaGeoFitter`` (MBG/NBD, Batislam et al. 2007) on ModifiedBetaGeoModel."""

from __future__ import annotations

from typing import ClassVar

from ...models import ModifiedBetaGeoModel
from .. import generate_data
from ._purchase import PurchaseFitter

__all__ = ["ModifiedBetaGeoFitter"]


class ModifiedBetaGeoFitter(PurchaseFitter):
    """MBG/NBD model with lifetimes' interface.

    Parameters
    ----------
    penalizer_coef : float
        lifetimes' L2 penalty, as in :class:`~clvpredict.lifetimes.BetaGeoFitter`.

    Notes
    -----
    Unlike the BG/NBD, a customer without repeat purchases may have dropped out at the first
    purchase, so ``conditional_probability_alive(0, 0, T) < 1``.
    """

    _param_names: ClassVar[tuple[str, ...]] = ("r", "alpha", "a", "b")
    _model = ModifiedBetaGeoModel
    _time_params: ClassVar[tuple[str, ...]] = ("alpha",)
    _generator = staticmethod(generate_data.modified_beta_geometric_nbd_model)

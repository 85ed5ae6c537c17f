"""The models layer: purchase models and Gamma-Gamma, each one file, fitted by maximum likelihood.

Every class that declares a ``kind`` is entered in the registry as it is defined
(:func:`clvpredict._registry.all_models`), so adding a model is adding a file here and importing
it below. The maths of each model is in plain vectorised functions beside its class; the classes
follow scikit-learn's estimator contract (:class:`~clvpredict.models._base.BaseModel`).
"""

from __future__ import annotations

from ._base import BaseModel, PurchaseModel
from .beta_geo import BetaGeoModel
from .beta_geo_beta_binom import BetaGeoBetaBinomModel
from .gamma_gamma import GammaGammaModel
from .model_file import ModelFileError, save_model
from .modified_beta_geo import ModifiedBetaGeoModel
from .pareto_nbd import ParetoNBDModel

__all__ = [
    "BaseModel",
    "BetaGeoBetaBinomModel",
    "BetaGeoModel",
    "GammaGammaModel",
    "ModelFileError",
    "ModifiedBetaGeoModel",
    "ParetoNBDModel",
    "PurchaseModel",
    "save_model",
]

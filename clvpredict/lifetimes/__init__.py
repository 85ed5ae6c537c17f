"""A drop-in for the archived ``lifetimes`` package: ``import clvpredict.lifetimes as lifetimes``.

The fitters (:class:`BetaGeoFitter`, :class:`ParetoNBDFitter`, :class:`ModifiedBetaGeoFitter`,
:class:`BetaGeoBetaBinomFitter`, :class:`GammaGammaFitter`) and the modules ``utils``,
``datasets`` and ``generate_data`` keep lifetimes' names, signatures and return types, and run
on clvpredict's models and on today's pandas and numpy. Where lifetimes was wrong the drop-in
is right, and the docstring of the function says what differs; fitters are saved as JSON, not
as pickles (see :meth:`BaseFitter.save_model`).

Nothing in clvpredict imports this package: it is a front door for code written for lifetimes.
"""

from __future__ import annotations

from . import datasets, fitters, generate_data, utils
from .fitters import BaseFitter
from .fitters.beta_geo_beta_binom_fitter import BetaGeoBetaBinomFitter
from .fitters.beta_geo_fitter import BetaGeoFitter
from .fitters.gamma_gamma_fitter import GammaGammaFitter
from .fitters.modified_beta_geo_fitter import ModifiedBetaGeoFitter
from .fitters.pareto_nbd_fitter import ParetoNBDFitter

#: The lifetimes release whose interface this module follows.
__version__ = "0.11.3"

__all__ = [
    "BaseFitter",
    "BetaGeoBetaBinomFitter",
    "BetaGeoFitter",
    "GammaGammaFitter",
    "ModifiedBetaGeoFitter",
    "ParetoNBDFitter",
    "__version__",
    "datasets",
    "fitters",
    "generate_data",
    "utils",
]

"""clvpredict: probabilistic customer lifetime value.

Turn a transaction log into RFM summaries, fit BG/NBD and Gamma-Gamma models by maximum likelihood,
and compute predictive CLV next to the simple formula businesses use today.

Examples
--------
>>> import clvpredict as cp
>>> tx = cp.datasets.load_cdnow()
>>> rfm = cp.rfm_summary(tx, "customer_id", "date", "amount", observation_end="1997-09-30",
...                      time_unit="W", after_end="drop")
>>> bg = cp.BetaGeoModel().fit(rfm)
>>> gg = cp.GammaGammaModel().fit(rfm)
>>> table = cp.clv_table(bg, gg, rfm, lifetime_years=2.0, margin=0.3)
"""

from __future__ import annotations

from . import datasets, evaluation, plotting, simulation
from ._version import __version__
from .beta_geo import BetaGeoModel
from .beta_geo_beta_binom import BetaGeoBetaBinomModel
from .clv import clv_table, estimate_lifetime_years, predictive_clv, simple_clv
from .data import TransactionLog, calibration_holdout_summary, rfm_summary
from .evaluation import (
    HoldoutEvaluation,
    compare_models,
    evaluate_holdout,
    expected_repeat_transactions_over_time,
)
from .exceptions import (
    ClvDataError,
    ClvError,
    ConvergenceError,
    ConvergenceWarning,
    NotFittedError,
)
from .gamma_gamma import GammaGammaModel
from .modified_beta_geo import ModifiedBetaGeoModel
from .pareto_nbd import ParetoNBDModel
from .persistence import ModelBundle, ModelFileError, load_model
from .simulation import simulate_transactions

__all__ = [
    "BetaGeoBetaBinomModel",
    "BetaGeoModel",
    "ClvDataError",
    "ClvError",
    "ConvergenceError",
    "ConvergenceWarning",
    "GammaGammaModel",
    "HoldoutEvaluation",
    "ModelBundle",
    "ModelFileError",
    "ModifiedBetaGeoModel",
    "NotFittedError",
    "ParetoNBDModel",
    "TransactionLog",
    "__version__",
    "calibration_holdout_summary",
    "clv_table",
    "compare_models",
    "datasets",
    "estimate_lifetime_years",
    "evaluate_holdout",
    "evaluation",
    "expected_repeat_transactions_over_time",
    "load_model",
    "plotting",
    "predictive_clv",
    "rfm_summary",
    "simple_clv",
    "simulate_transactions",
    "simulation",
]

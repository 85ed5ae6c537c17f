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

import sys

from . import evaluation, plotting, segments, simulation
from ._version import __version__
from .clv import (
    ClvTotal,
    clv_table,
    estimate_lifetime_years,
    new_customer_clv,
    predictive_clv,
    simple_clv,
    total_clv_interval,
)
from .data import (
    CovariateDesign,
    TransactionLog,
    attach_covariates,
    calibration_holdout_summary,
    datasets,
    rfm_summary,
)
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
from .jobs import assessment, cli, persistence, pipeline, report, settings
from .jobs.persistence import ModelBundle, ModelFileError, load_model
from .models import (
    BetaGeoBetaBinomModel,
    BetaGeoModel,
    GammaGammaModel,
    ModifiedBetaGeoModel,
    ParetoNBDModel,
    _base,
    _profile,
    _simulators,
    _summary,
    beta_geo,
    beta_geo_beta_binom,
    gamma_gamma,
    model_file,
    modified_beta_geo,
    pareto_nbd,
    uncertainty,
)
from .segments import (
    at_risk_customers,
    rfm_segment_table,
    rfm_segments,
    segment_table,
    top_customers,
)
from .simulation import simulate_transactions

# Modules that lived at the top of the package before the layers got folders keep their old
# import paths (``clvpredict.beta_geo``, ``clvpredict.report``, ...): each old name is the same
# module object as the new one, so imports, pickles and monkeypatching see one module.
_MOVED = (
    datasets,
    _base,
    _profile,
    _simulators,
    _summary,
    beta_geo,
    beta_geo_beta_binom,
    gamma_gamma,
    model_file,
    modified_beta_geo,
    pareto_nbd,
    uncertainty,
    assessment,
    cli,
    persistence,
    pipeline,
    report,
    settings,
)
for _module in _MOVED:
    sys.modules.setdefault(f"{__name__}.{_module.__name__.rpartition('.')[2]}", _module)
del _module

__all__ = [
    "BetaGeoBetaBinomModel",
    "BetaGeoModel",
    "ClvDataError",
    "ClvError",
    "ClvTotal",
    "ConvergenceError",
    "ConvergenceWarning",
    "CovariateDesign",
    "GammaGammaModel",
    "HoldoutEvaluation",
    "ModelBundle",
    "ModelFileError",
    "ModifiedBetaGeoModel",
    "NotFittedError",
    "ParetoNBDModel",
    "TransactionLog",
    "__version__",
    "at_risk_customers",
    "attach_covariates",
    "calibration_holdout_summary",
    "clv_table",
    "compare_models",
    "datasets",
    "estimate_lifetime_years",
    "evaluate_holdout",
    "evaluation",
    "expected_repeat_transactions_over_time",
    "load_model",
    "new_customer_clv",
    "plotting",
    "predictive_clv",
    "rfm_segment_table",
    "rfm_segments",
    "rfm_summary",
    "segment_table",
    "segments",
    "simple_clv",
    "simulate_transactions",
    "simulation",
    "top_customers",
    "total_clv_interval",
]

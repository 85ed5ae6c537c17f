"""The public API survives the move into layers: every name and every module path of before.

The lists below are what ``clvpredict`` exported, and the modules it had, before the package got
its ``data/``, ``models/`` and ``jobs/`` folders; user code, pickles and monkeypatches that name
an old path must keep working.
"""

from __future__ import annotations

import importlib
import pickle
import subprocess
import sys

import pytest

import clvpredict as cp

EXPORTED_BEFORE = [
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

#: Module paths of before, and where each lives now.
MODULES_BEFORE = {
    "_base": "models._base",
    "_fitting": "_fitting",
    "_profile": "models._profile",
    "_registry": "_registry",
    "_simulators": "models._simulators",
    "_summary": "models._summary",
    "_units": "_units",
    "_validation": "_validation",
    "_version": "_version",
    "assessment": "jobs.assessment",
    "beta_geo": "models.beta_geo",
    "beta_geo_beta_binom": "models.beta_geo_beta_binom",
    "cli": "jobs.cli",
    "clv": "clv",
    "data": "data",
    "datasets": "data.datasets",
    "evaluation": "evaluation",
    "exceptions": "exceptions",
    "gamma_gamma": "models.gamma_gamma",
    "model_file": "models.model_file",
    "modified_beta_geo": "models.modified_beta_geo",
    "pareto_nbd": "models.pareto_nbd",
    "persistence": "jobs.persistence",
    "pipeline": "jobs.pipeline",
    "plotting": "plotting",
    "publishing": "publishing",
    "report": "jobs.report",
    "settings": "jobs.settings",
    "simulation": "simulation",
    "uncertainty": "models.uncertainty",
}


def test_every_name_exported_before_still_is():
    assert set(EXPORTED_BEFORE) <= set(cp.__all__)
    missing = [name for name in cp.__all__ if not hasattr(cp, name)]
    assert missing == []


@pytest.mark.parametrize("old", sorted(MODULES_BEFORE))
def test_old_module_paths_are_the_new_modules(old):
    module = importlib.import_module(f"clvpredict.{old}")
    assert module is importlib.import_module(f"clvpredict.{MODULES_BEFORE[old]}")
    assert getattr(cp, old) is module


def test_old_paths_work_in_a_fresh_interpreter():
    """``from clvpredict.<old> import ...`` as the first import of a process, as scripts do."""
    code = (
        "from clvpredict.beta_geo import BetaGeoModel\n"
        "from clvpredict.report import build_report, segment_table\n"
        "from clvpredict.datasets import load_cdnow_summary\n"
        "from clvpredict.data import TransactionLog, rfm_summary\n"
        "import clvpredict.cli, clvpredict.models.beta_geo as new\n"
        "assert BetaGeoModel is new.BetaGeoModel\n"
        "print(BetaGeoModel().fit(load_cdnow_summary()).params_['r'].round(4))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "0.2426"  # FHL 2005, Table 1 (shared/REFERENCE.md)


def test_a_pickle_that_names_an_old_module_loads():
    """Models pickled before the move name ``clvpredict.beta_geo``: they load as the same class."""
    model = cp.BetaGeoModel.from_params({"r": 0.2426, "alpha": 4.4137, "a": 0.793, "b": 2.4262})
    new = pickle.dumps(model, protocol=0)
    assert b"clvpredict.models.beta_geo" in new
    old = new.replace(b"clvpredict.models.beta_geo", b"clvpredict.beta_geo")
    loaded = pickle.loads(old)
    assert type(loaded) is cp.BetaGeoModel
    assert loaded.params_.equals(model.params_)

"""The jobs layer: what the command line and nightly refreshes run, on top of everything else.

Settings and their checks, the model bundle, the assessment that fits and compares once, the
fit/score/refresh runs, the HTML report (which renders and never fits) and the CLI. Nothing in the
package imports this layer except the package's front door.
"""

from __future__ import annotations

from .persistence import ModelBundle, load_model
from .pipeline import run_fit, run_refresh, run_score
from .settings import Settings, load_config

__all__ = [
    "ModelBundle",
    "Settings",
    "load_config",
    "load_model",
    "run_fit",
    "run_refresh",
    "run_score",
]

"""The data layer: a transaction log parsed and checked once, and the summaries the models read.

Nothing here knows about models. Logs and summaries may be pandas, polars (eager or lazy),
pyarrow, DuckDB or Spark frames: the checks and summaries run in the log's own engine and come
back in its kind (:mod:`clvpredict.data.engines`). :class:`TransactionLog` holds one parsed, validated log with its
policies (returns, rows after the end, duplicates, date format); :func:`rfm_summary` and
:func:`calibration_holdout_summary` turn a log into one row per customer, times in a stated unit.
Customer covariates join onto a summary with :func:`attach_covariates` and are coded for the
models by a :class:`CovariateDesign` (:mod:`clvpredict.data.covariates`).
"""

from __future__ import annotations

from . import datasets
from .covariates import CovariateColumn, CovariateDesign, CovariateMatrices, attach_covariates
from .summaries import (
    calibration_holdout_summary,
    daily_with_holdout,
    period_bounds,
    period_index,
    rfm_arrays,
    rfm_summary,
)
from .transactions import AfterEndPolicy, DuplicatesPolicy, ReturnsPolicy, TransactionLog, as_log

__all__ = [
    "AfterEndPolicy",
    "CovariateColumn",
    "CovariateDesign",
    "CovariateMatrices",
    "DuplicatesPolicy",
    "ReturnsPolicy",
    "TransactionLog",
    "as_log",
    "attach_covariates",
    "calibration_holdout_summary",
    "daily_with_holdout",
    "datasets",
    "period_bounds",
    "period_index",
    "rfm_arrays",
    "rfm_summary",
]

"""The jobs' assessment step: fit on the calibration period, compare, check on the holdout, once.

``clvpredict refresh`` needs the holdout check for its quality gate and the report shows it;
both read one :class:`Assessment`, so every model is fitted once on the calibration period,
and the report renders what it is given without fitting anything.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import pandas as pd

from ..data.engines import is_engine_frame, release
from ..data.transactions import AfterEndPolicy, TransactionLog
from ..evaluation import (
    HoldoutEvaluation,
    compare_models,
    default_purchase_models,
    evaluate_holdout,
    expected_repeat_transactions_over_time,
    model_label,
)
from ..exceptions import ClvDataError, ConvergenceError
from ..models.gamma_gamma import GammaGammaModel

__all__ = ["Assessment", "assess", "candidate_models", "fit_whole_history"]


@dataclass
class Assessment:
    """The trust part of a run: models fitted on the calibration period, checked on the holdout.

    Attributes
    ----------
    calibration : DataFrame or engine frame
        The calibration/holdout summary (``calibration_holdout_summary``) the models were
        fitted and checked on, as it was given: pandas (with its ``attrs``), or a frame of the
        engine that holds it. On Spark (``--engine spark``) it is the Spark DataFrame, cached,
        one row per customer: read it through engine queries (aggregates), never collect it;
        :meth:`release` unpersists it.
    comparison : DataFrame
        :func:`~clvpredict.compare_models` of the candidate purchase models; its
        ``attrs["models"]`` holds them, fitted.
    purchase_model, spend_model
        The purchase model used from here on and the Gamma-Gamma, both fitted on the
        calibration period.
    evaluation : HoldoutEvaluation
        Their holdout check (:func:`~clvpredict.evaluate_holdout`): small pandas tables on every
        engine; its ``predictions`` are of the summary's kind (a Spark DataFrame on Spark).
    tracking : DataFrame
        Actual and expected repeat transactions per period over calibration and holdout.
    calibration_end, observation_end : str
        The last day of the calibration period and of the holdout, ``YYYY-MM-DD`` (what a
        pandas summary records in ``attrs``; a Spark summary has no ``attrs``).
    """

    calibration: Any
    comparison: pd.DataFrame
    purchase_model: Any
    spend_model: Any
    evaluation: HoldoutEvaluation
    tracking: pd.DataFrame
    calibration_end: str | None = None
    observation_end: str | None = None

    @property
    def chosen_kind(self) -> str:
        """The registry kind of :attr:`purchase_model` (e.g. ``"bgnbd"``)."""
        return type(self.purchase_model).kind

    def release(self) -> None:
        """Unpersist the calibration summary when it is a cached Spark DataFrame (once the
        report has read it); nothing to do for other kinds."""
        release(self.calibration)


def candidate_models(
    purchase_class: type | None, covariate_options: Mapping[str, Any] | None = None
) -> list[Any]:
    """Unfitted purchase models to compare: ``purchase_class`` first, then the other
    continuous-time models; a discrete-time class alone (likelihoods of the two kinds are not
    comparable); with ``None`` (``"auto"``) every continuous-time model. With
    ``covariate_options`` (the covariate settings of the models) every candidate has them."""
    options = dict(covariate_options or {})
    if getattr(purchase_class, "discrete_time", False):
        return [purchase_class(**options)]
    candidates = [type(m)(**options) for m in default_purchase_models()]
    if purchase_class is None:
        return candidates
    return [purchase_class(**options), *(m for m in candidates if type(m) is not purchase_class)]


def assess(
    log: TransactionLog,
    calibration: Any,
    purchase_class: type | None,
    *,
    compare: bool = True,
    after_end: AfterEndPolicy = "error",
    strict: bool = False,
    calibration_end: str | None = None,
    observation_end: str | None = None,
    covariate_options: Mapping[str, Any] | None = None,
) -> Assessment:
    """Fit, compare and check the models on a calibration/holdout split, each model once.

    Parameters
    ----------
    log : TransactionLog
        The parsed log (for the tracking table).
    calibration : DataFrame or engine frame
        Its calibration/holdout summary: pandas, or held by an engine (a Spark DataFrame stays
        in Spark: the fits take its distinct histories, the holdout check its aggregates).
    purchase_class : type or None
        The purchase model to use; ``None`` picks the best holdout forecaster of the
        comparison (per-customer RMSE).
    compare : bool
        Fit and rank the other candidates too (:func:`candidate_models`); without it only
        ``purchase_class`` is fitted.
    after_end : {"error", "drop"}
        Policy for purchases after the holdout's end, as in the summary.
    strict : bool
        Raise :class:`~clvpredict.ConvergenceError` when the chosen purchase model or the
        Gamma-Gamma did not converge (the jobs' behaviour); otherwise the summaries say so.
    calibration_end, observation_end : str, optional
        The summary's last calibration and holdout days, ``YYYY-MM-DD``; read from a pandas
        summary's ``attrs`` when not given, required for a summary held by an engine.
    covariate_options : mapping, optional
        The purchase models' covariate settings (``purchase_covariates``, ...); the
        calibration summary then holds the covariate columns, with which every customer is
        predicted and tracked.
    """
    attrs = getattr(calibration, "attrs", None) if not is_engine_frame(calibration) else None
    if calibration_end is None and attrs:
        calibration_end = attrs.get("calibration_end")
    if observation_end is None and attrs:
        observation_end = attrs.get("observation_end")
    if calibration_end is None or observation_end is None:
        raise ClvDataError(
            "assess needs calibration_end= and observation_end= (the days the calibration "
            "summary was built with) for a summary that does not record them in attrs."
        )
    if purchase_class is None or compare:
        candidates = candidate_models(purchase_class, covariate_options)
    else:
        candidates = [purchase_class(**dict(covariate_options or {}))]
    comparison = compare_models(calibration, candidates)
    if purchase_class is None:
        best = comparison.index[comparison["best"]]
        if len(best) == 0:
            raise ConvergenceError("purchase_model='auto': no candidate model converged.")
        purchase = comparison.attrs["models"][best[0]]
    else:
        purchase = next(m for m in comparison.attrs["models"].values() if type(m) is purchase_class)
    spend = GammaGammaModel(on_nonconvergence="raise" if strict else "warn").fit(calibration)
    if strict and not purchase.converged_:
        raise ConvergenceError(
            f"{model_label(purchase)} fitted on the calibration period did not converge: "
            + "; ".join(purchase.fit_result_.notes)
            + ". The holdout check cannot be made with it."
        )
    evaluation = evaluate_holdout(purchase, calibration, spend_model=spend)
    # A model with covariates tracks each customer with their own: the calibration summary
    # holds them.
    with_covariates = getattr(purchase, "covariate_design_", None) is not None
    tracking = expected_repeat_transactions_over_time(
        purchase,
        log,
        calibration_end=calibration_end,
        observation_end=observation_end,
        after_end=after_end,
        covariates=calibration if with_covariates else None,
    )
    return Assessment(
        calibration,
        comparison,
        purchase,
        spend,
        evaluation,
        tracking,
        calibration_end=str(calibration_end),
        observation_end=str(observation_end),
    )


def fit_whole_history(
    rfm: pd.DataFrame,
    purchase_class: type,
    purchase_model: Any = None,
    spend_model: Any = None,
    *,
    strict: bool = False,
    covariate_options: Mapping[str, Any] | None = None,
) -> tuple[Any, Any]:
    """The purchase and spend models on the whole history: the given ones, or fitted here
    (the purchase model with ``covariate_options``, its covariate settings, if any)."""
    option = {"on_nonconvergence": "raise" if strict else "warn"}
    if purchase_model is None:
        purchase_model = purchase_class(**option, **dict(covariate_options or {})).fit(rfm)
    purchase = purchase_model
    spend = spend_model if spend_model is not None else GammaGammaModel(**option).fit(rfm)
    return purchase, spend

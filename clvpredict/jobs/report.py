"""A self-contained HTML report: model summaries, holdout checks, plots, value segments.

The report answers two questions in one file that can be mailed around or published by a nightly
job: *can the model be trusted on this data?* (a calibration/holdout split, fitted and checked)
and *what are the customers worth?* (models fitted on the whole history, CLV tiers, customers at
risk). :func:`build_report` is the job: it parses the log once, has the assessment step fit and
check the models, and hands everything to :func:`~clvpredict.jobs.render.render_report`, which
only renders.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pandas as pd

from .._registry import model_spec
from ..clv import estimate_lifetime_years
from ..data.covariates import attach_covariates
from ..data.engines import is_engine_frame, summary_unit
from ..data.summaries import calibration_holdout_summary, rfm_summary
from ..data.transactions import TransactionLog, as_log
from ..exceptions import ClvDataError
from ..segments import at_risk_customers, segment_table
from .assessment import Assessment, assess, fit_whole_history
from .render import render_report

__all__ = ["at_risk_customers", "build_report", "render_report", "segment_table"]


def _check_given_summary(name: str, summary: pd.DataFrame, **expected: Any) -> None:
    """Refuse a precomputed summary whose ``attrs`` disagree with the report's settings."""
    if not isinstance(summary, pd.DataFrame):
        raise ClvDataError(f"{name} must be a DataFrame from clvpredict's summaries.")
    wrong = {}
    for key, value in expected.items():
        if value is None:
            continue
        have = summary.attrs.get(key)
        if key.endswith("_end"):
            value = str(pd.Timestamp(value).date())
        elif key == "discrete":
            have = bool(have)
        if have != value:
            wrong[key] = (have, value)
    if wrong:
        detail = "; ".join(f"{k} is {h!r}, the report uses {v!r}" for k, (h, v) in wrong.items())
        raise ClvDataError(
            f"The given {name} summary does not match the report's settings: {detail}. Leave "
            f"{name}= out to have it computed here."
        )


#: The covariate settings of a purchase model, as ``covariate_options`` gives them.
_COVARIATE_OPTIONS = (
    "purchase_covariates",
    "dropout_covariates",
    "shared_covariates",
    "reference_levels",
    "covariate_penalty",
)


def _holdout_end(assessment: Assessment) -> str:
    """The last day of an assessment's holdout (a pandas calibration summary records it)."""
    end = getattr(assessment, "observation_end", None)
    return end or assessment.calibration.attrs["observation_end"]


def build_report(
    path: str | os.PathLike[str],
    transactions: pd.DataFrame | TransactionLog,
    customer_id_col: str | None = None,
    datetime_col: str | None = None,
    monetary_value_col: str | None = None,
    *,
    calibration_end: Any,
    observation_end: Any = None,
    time_unit: str = "W",
    horizon_months: int = 12,
    annual_discount_rate: float = 0.10,
    margin: float = 1.0,
    currency: str | None = None,
    lifetime_years: float | None = None,
    lifetime_window_months: int = 6,
    at_risk_lookback_months: float = 3.0,
    purchase_model: Any = None,
    spend_model: Any = None,
    datetime_format: str | None = None,
    returns: str = "error",
    after_end: str = "error",
    duplicates: str = "keep",
    title: str = "Customer lifetime value report",
    calibration: pd.DataFrame | None = None,
    rfm: Any = None,
    assessment: Assessment | None = None,
    table: Any = None,
    covariates: Any = None,
    covariate_table: Any = None,
    covariate_id_col: str | None = None,
    covariate_options: Mapping[str, Any] | None = None,
) -> Path:
    """Write a self-contained HTML report on the models and the customers' value.

    Part 1 (trust): the purchase model (BG/NBD, or the class of ``purchase_model``) and
    Gamma-Gamma are fitted on the calibration period (up to ``calibration_end``) and checked
    against the holdout (up to ``observation_end``): the comparison with the other purchase
    models, metrics, calibration/holdout and tracking plots, period transactions and spend.
    Part 2 (value): models fitted on the whole history up to ``observation_end`` (or the given
    ``purchase_model``/``spend_model``, which must be fitted on that history in ``time_unit``)
    give the CLV table, heatmaps, the P(alive) history of the most valuable customer, predictive
    vs simple CLV, value concentration, value tiers and at-risk high-value customers.

    Parameters
    ----------
    path : str or path
        Output HTML file (written atomically).
    transactions, customer_id_col, datetime_col, monetary_value_col
        The transaction log and its columns, as in :func:`~clvpredict.rfm_summary`; or a
        :class:`~clvpredict.data.TransactionLog` parsed already (the columns may then be left
        out). The log is parsed once for every part of the report.
    calibration_end, observation_end : date-like
        End of calibration and of the holdout (inclusive days); ``observation_end`` defaults to
        the last purchase day.
    time_unit : {"D", "W", "M", "Y"}
        Unit in which the models are fitted.
    horizon_months, annual_discount_rate, margin
        CLV settings, as in :func:`~clvpredict.predictive_clv`.
    currency : str, optional
        The amounts' currency (``"USD"``, ``"EUR"``, ``"$"``): named on every money column and
        axis of the report. It changes no number.
    lifetime_years : float, optional
        Lifetime for the simple CLV; estimated with
        :func:`~clvpredict.estimate_lifetime_years` (windows of ``lifetime_window_months``) if
        omitted.
    at_risk_lookback_months : float
        How far back P(alive) is compared for the at-risk list, in months.
    purchase_model : fitted model or {"bgnbd", "mbgnbd", "paretonbd", "bgbb", "auto"}, optional
        The purchase model for part 2 (fitted on the whole history), or which one to fit:
        ``"auto"`` takes the best holdout forecaster of the comparison in part 1 (by
        per-customer RMSE). Default BG/NBD. With the BG/BB (``"bgbb"``), the summaries count
        periods of one ``time_unit`` (``discrete=True``) and the comparison shows it alone.
    spend_model : fitted GammaGammaModel, optional
        Fitted here if omitted.
    datetime_format, returns, after_end, duplicates
        As in :func:`~clvpredict.rfm_summary`.
    title : str
        Report title.
    calibration, rfm : DataFrame, optional
        The calibration/holdout summary and the whole-history summary of ``transactions``, when
        the caller has them already (``clvpredict refresh`` does), so that they are not
        computed again; they must match ``calibration_end``, ``observation_end``, ``time_unit``
        and the purchase model's kind (``discrete``). ``rfm`` may be a summary of another
        engine (a Spark DataFrame; only its time unit can be checked): the report then reads
        it, and ``table``, through that engine.
    assessment : Assessment, optional
        The calibration/holdout check made already (:func:`clvpredict.assessment.assess`;
        ``refresh`` makes it for its quality gate), so that no model is fitted twice.
    table : DataFrame or engine frame, optional
        The :func:`~clvpredict.clv_table` of the whole-history summary with the report's models
        and settings, when the caller has scored the customers already (``refresh`` has); its
        ``horizon_months``, ``annual_discount_rate`` and ``margin`` and its customers must match.
        A frame of another engine (the predictions of a Spark refresh, read back by Spark) is
        queried where it lies, never collected (:func:`~clvpredict.jobs.values.customer_values`).
    covariates : CovariateValues, optional
        With a purchase model with covariates (fitted here with ``covariate_options``, or a
        given ``purchase_model`` fitted with them, then with a given ``rfm`` that holds the
        covariate columns): the section "Value by covariate", as the caller computed it
        (:func:`~clvpredict.jobs.values.covariate_values`); computed here if omitted.
    covariate_table : DataFrame, optional
        Each customer's covariates, one row per customer (pandas indexed by customer id or with
        an id column, polars, pyarrow), as :func:`~clvpredict.attach_covariates` takes them:
        its columns are joined onto the summaries computed here (not onto a given
        ``calibration`` or ``rfm``, which must hold them already). Every customer of the log
        must be in it.
    covariate_id_col : str, optional
        The customer id column of ``covariate_table`` when it is not named like the log's.
    covariate_options : mapping, optional
        The purchase models' covariate settings, as the models take them
        (``purchase_covariates``, ``dropout_covariates``, ``shared_covariates``,
        ``reference_levels``, ``covariate_penalty``): every purchase model fitted here, on the
        calibration period and on the whole history, is fitted with them, and the report gains
        the section "Value by covariate". ``clvpredict report`` passes the settings'
        (``--covariates FILE`` and the column flags, or a ``[covariates]`` table). Left out
        with a given ``purchase_model`` fitted with covariates: that model's settings.

    Returns
    -------
    Path
        The file written.
    """

    log = as_log(
        transactions,
        customer_id_col,
        datetime_col,
        monetary_value_col,
        datetime_format=datetime_format,
        returns=returns,
        duplicates=duplicates,
    )
    columns = {"customer_id_col": log.customer_id_col, "datetime_col": log.datetime_col}
    covariate_options = dict(covariate_options or {})

    def joined(summary: pd.DataFrame) -> pd.DataFrame:
        """A summary computed here, with the customers' covariates (if given)."""
        if covariate_table is None:
            return summary
        return attach_covariates(summary, covariate_table, id_col=covariate_id_col)

    # The purchase model: a fitted one, a name, or "auto" (chosen by the comparison).
    fitted = None if purchase_model is None or isinstance(purchase_model, str) else purchase_model
    if not covariate_options and getattr(fitted, "covariate_design_", None) is not None:
        # The holdout checks then test the calibration-period fit of the model that scores.
        covariate_options = {name: getattr(fitted, name) for name in _COVARIATE_OPTIONS}
    if covariate_table is not None and not covariate_options:
        raise ClvDataError(
            "covariate_table= is given, but covariate_options= names no covariate: say which "
            "columns enter the purchase model (purchase_covariates, dropout_covariates, "
            "shared_covariates)."
        )
    if fitted is not None:
        purchase_class = type(fitted)
    elif purchase_model == "auto":
        purchase_class = None
    else:
        purchase_class = model_spec(purchase_model or "bgnbd", "purchase", "purchase_model").cls
    # A discrete-time model (BG/BB) reads summaries counted in periods.
    discrete = bool(getattr(purchase_class, "discrete_time", False))
    end = observation_end
    if end is None and assessment is not None:
        end = _holdout_end(assessment)
    given_rfm = rfm is not None
    if not given_rfm:
        # The whole history first: every customer's covariates are looked up here, before any
        # fit (a customer missing from the table is named, as refresh names them).
        rfm = joined(
            rfm_summary(
                log,
                observation_end=end,
                time_unit=time_unit,
                discrete=discrete,
                after_end=after_end,
                output="pandas",
                **columns,
            )
        )
    if assessment is None:
        if calibration is None:
            calibration = joined(
                calibration_holdout_summary(
                    log,
                    calibration_end=calibration_end,
                    observation_end=observation_end,
                    time_unit=time_unit,
                    discrete=discrete,
                    after_end=after_end,
                    output="pandas",
                    **columns,
                )
            )
        else:
            _check_given_summary(
                "calibration",
                calibration,
                time_unit=time_unit,
                discrete=discrete,
                calibration_end=calibration_end,
                observation_end=observation_end,
            )
        assessment = assess(
            log,
            calibration,
            purchase_class,
            after_end=after_end,
            covariate_options=covariate_options,
        )
    if end is None:
        end = _holdout_end(assessment)
    if given_rfm and is_engine_frame(rfm):
        # A summary held by another engine (Spark) carries its unit in a column, no attrs.
        unit = summary_unit(rfm)
        if unit != time_unit:
            raise ClvDataError(
                f"The given rfm summary is in time unit {unit!r}, the report uses "
                f"{time_unit!r}. Leave rfm= out to have it computed here."
            )
    elif given_rfm:
        _check_given_summary(
            "rfm", rfm, time_unit=time_unit, discrete=discrete, observation_end=end
        )
    bg, gg = fit_whole_history(
        rfm,
        type(assessment.purchase_model),
        fitted,
        spend_model,
        covariate_options=covariate_options,
    )
    if lifetime_years is None:
        lifetime_years = estimate_lifetime_years(
            log, window_months=lifetime_window_months, observation_end=end, **columns
        )
    return render_report(
        path,
        assessment,
        log,
        rfm,
        bg,
        gg,
        end=end,
        time_unit=time_unit,
        horizon_months=horizon_months,
        annual_discount_rate=annual_discount_rate,
        margin=margin,
        lifetime_years=lifetime_years,
        at_risk_lookback_months=at_risk_lookback_months,
        title=title,
        table=table,
        currency=currency,
        covariates=covariates,
    )

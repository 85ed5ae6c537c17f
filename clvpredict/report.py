"""A self-contained HTML report: model summaries, holdout checks, plots, value segments.

The report answers two questions in one file that can be mailed around or published by a nightly
job: *can the model be trusted on this data?* (a calibration/holdout split, fitted and checked)
and *what are the customers worth?* (models fitted on the whole history, CLV tiers, customers at
risk). Images are embedded as PNG data URIs and there is no script or external resource, so it
opens offline.
"""

from __future__ import annotations

import base64
import html
import io
import os
from collections.abc import Sequence
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from . import plotting
from ._registry import model_spec
from ._units import UNIT_NAMES, months_to_units
from .assessment import Assessment, assess, fit_whole_history
from .clv import clv_table, estimate_lifetime_years
from .data import TransactionLog, as_log, calibration_holdout_summary, rfm_summary
from .exceptions import ClvDataError
from .persistence import write_text_atomic

__all__ = ["at_risk_customers", "build_report", "segment_table"]

#: Default value tiers: (label, share of customers), from the most valuable down.
DEFAULT_TIERS: tuple[tuple[str, float], ...] = (
    ("top 10%", 0.10),
    ("next 20%", 0.20),
    ("middle 30%", 0.30),
    ("bottom 40%", 0.40),
)


def segment_table(
    table: pd.DataFrame, tiers: Sequence[tuple[str, float]] = DEFAULT_TIERS
) -> pd.DataFrame:
    """Customers split into value tiers by predictive CLV, with totals and means per tier.

    Parameters
    ----------
    table : DataFrame
        From :func:`~clvpredict.clv_table` (``predictive_clv``, ``simple_clv``, ``p_alive``).
    tiers : sequence of (label, share)
        Tiers from the most valuable down, as shares of the customers (summing to 1). Customers
        are ranked by predictive CLV (ties broken by position) and cut at the cumulative shares.

    Returns
    -------
    DataFrame
        Indexed by tier label: ``n_customers``, ``total_predictive_clv``,
        ``mean_predictive_clv``, ``share_of_predictive_clv`` (fraction of the total),
        ``total_simple_clv``, ``mean_simple_clv`` (currency) and ``mean_p_alive``.

    Examples
    --------
    >>> import pandas as pd
    >>> t = pd.DataFrame({"predictive_clv": [50.0, 30, 10, 10], "simple_clv": [40.0, 40, 20, 0],
    ...                   "p_alive": [0.9, 0.8, 0.5, 0.1]})
    >>> segment_table(t, [("top half", 0.5), ("bottom half", 0.5)])["total_predictive_clv"].tolist()
    [80.0, 20.0]
    """
    shares = np.array([s for _, s in tiers], dtype=float)
    if np.any(shares <= 0) or not np.isclose(shares.sum(), 1.0):
        raise ClvDataError(f"Tier shares must be > 0 and sum to 1, got {list(shares)}.")
    missing = [c for c in ("predictive_clv", "simple_clv", "p_alive") if c not in table.columns]
    if missing:
        raise ClvDataError(f"segment_table needs column(s) {missing}: pass a clv_table result.")
    n = len(table)
    order = np.argsort(-table["predictive_clv"].to_numpy(), kind="stable")
    bounds = np.rint(np.concatenate([[0.0], np.cumsum(shares)]) * n).astype(int)
    total_clv = float(table["predictive_clv"].sum())
    rows = []
    for (label, _), lo, hi in zip(tiers, bounds[:-1], bounds[1:], strict=True):
        part = table.iloc[order[lo:hi]]
        rows.append(
            {
                "tier": label,
                "n_customers": len(part),
                "total_predictive_clv": float(part["predictive_clv"].sum()),
                "mean_predictive_clv": float(part["predictive_clv"].mean())
                if len(part)
                else np.nan,
                "share_of_predictive_clv": (
                    float(part["predictive_clv"].sum()) / total_clv if total_clv else np.nan
                ),
                "total_simple_clv": float(part["simple_clv"].sum()),
                "mean_simple_clv": float(part["simple_clv"].mean()) if len(part) else np.nan,
                "mean_p_alive": float(part["p_alive"].mean()) if len(part) else np.nan,
            }
        )
    return pd.DataFrame(rows).set_index("tier")


def at_risk_customers(
    purchase_model: Any,
    table: pd.DataFrame,
    *,
    lookback: float,
    top_share: float = 0.2,
    min_drop: float = 0.1,
) -> pd.DataFrame:
    """High-value customers whose P(alive) is falling: candidates for a retention action.

    A customer is listed when (1) their predictive CLV is in the top ``top_share`` of customers
    and (2) their P(alive) today is at least ``min_drop`` below what it was ``lookback`` time units
    ago. P(alive) ``lookback`` ago is computed from the same history observed up to then
    (``T - lookback``), which is possible when the last purchase is older than that; customers who
    bought since are not falling.

    Parameters
    ----------
    purchase_model : fitted purchase model
    table : DataFrame
        From :func:`~clvpredict.clv_table` (``frequency``, ``recency``, ``T``, ``p_alive``,
        ``predictive_clv``, ``simple_clv``).
    lookback : float
        How far back to compare, in the model's time unit.
    top_share : float
        Share of customers, ranked by predictive CLV, considered high-value.
    min_drop : float
        Minimal fall of P(alive) (probability points) to be listed.

    Returns
    -------
    DataFrame
        The listed customers, highest predictive CLV first, with ``predictive_clv``,
        ``simple_clv``, ``p_alive``, ``p_alive_before``, ``p_alive_change``, ``frequency``,
        ``recency``, ``T`` and ``time_since_last_purchase`` (model time unit).
    """
    if lookback <= 0:
        raise ClvDataError(f"lookback={lookback!r} must be > 0 (in the model's time unit).")
    if not 0 < top_share <= 1:
        raise ClvDataError(f"top_share={top_share!r} must be in (0, 1].")
    threshold = table["predictive_clv"].quantile(1 - top_share)
    candidates = table[
        (table["predictive_clv"] >= threshold) & (table["recency"] <= table["T"] - lookback)
    ]
    if candidates.empty:
        before = pd.Series(dtype=float)
    else:
        before = purchase_model.probability_alive(
            frequency=candidates["frequency"],
            recency=candidates["recency"],
            T=candidates["T"] - lookback,
        )
    out = candidates[["predictive_clv", "simple_clv", "p_alive"]].copy()
    out["p_alive_before"] = before.to_numpy() if len(before) else np.array([])
    out["p_alive_change"] = out["p_alive"] - out["p_alive_before"]
    out["frequency"] = candidates["frequency"]
    out["recency"] = candidates["recency"]
    out["T"] = candidates["T"]
    out["time_since_last_purchase"] = candidates["T"] - candidates["recency"]
    out = out[out["p_alive_change"] <= -min_drop]
    return out.sort_values("predictive_clv", ascending=False)


# --------------------------------------------------------------------------------------------
# HTML
# --------------------------------------------------------------------------------------------

_CSS = """
body { font-family: -apple-system, "Segoe UI", Helvetica, Arial, sans-serif; margin: 2em auto;
       max-width: 1100px; color: #222; line-height: 1.45; padding: 0 1em; }
h1 { border-bottom: 2px solid #1f4e79; padding-bottom: .3em; }
h2 { color: #1f4e79; margin-top: 2em; border-bottom: 1px solid #ccc; }
table { border-collapse: collapse; margin: .8em 0; font-size: 0.9em; }
th, td { padding: .25em .7em; border-bottom: 1px solid #e3e3e3; text-align: right; }
th { background: #f3f6f9; }
td:first-child, th:first-child { text-align: left; }
.note { color: #555; font-size: 0.92em; }
.grid { display: flex; flex-wrap: wrap; gap: 1em; }
.grid figure { margin: 0; flex: 1 1 480px; }
figure img { max-width: 100%; border: 1px solid #eee; }
figcaption { font-size: 0.85em; color: #555; }
.warn { color: #a40000; font-weight: bold; }
"""


def _figure_html(ax: Any, caption: str) -> str:
    fig = ax.figure
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=90)
    data = base64.b64encode(buffer.getvalue()).decode("ascii")
    return (
        f'<figure><img alt="{html.escape(caption)}" src="data:image/png;base64,{data}">'
        f"<figcaption>{html.escape(caption)}</figcaption></figure>"
    )


def _table_html(frame: pd.DataFrame, digits: int = 2) -> str:
    return frame.to_html(
        border=0, float_format=lambda v: f"{v:,.{digits}f}", na_rep="", escape=True
    )


def _model_block(model: Any) -> str:
    return model.overview().as_html()


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
    rfm: pd.DataFrame | None = None,
    assessment: Assessment | None = None,
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
        and the purchase model's kind (``discrete``).
    assessment : Assessment, optional
        The calibration/holdout check made already (:func:`clvpredict.assessment.assess`;
        ``refresh`` makes it for its quality gate), so that no model is fitted twice.

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
    # The purchase model: a fitted one, a name, or "auto" (chosen by the comparison).
    fitted = None if purchase_model is None or isinstance(purchase_model, str) else purchase_model
    if fitted is not None:
        purchase_class = type(fitted)
    elif purchase_model == "auto":
        purchase_class = None
    else:
        purchase_class = model_spec(purchase_model or "bgnbd", "purchase", "purchase_model").cls
    # A discrete-time model (BG/BB) reads summaries counted in periods.
    discrete = bool(getattr(purchase_class, "discrete_time", False))
    if assessment is None:
        if calibration is None:
            calibration = calibration_holdout_summary(
                log,
                calibration_end=calibration_end,
                observation_end=observation_end,
                time_unit=time_unit,
                discrete=discrete,
                after_end=after_end,
                **columns,
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
        assessment = assess(log, calibration, purchase_class, after_end=after_end)
    end = observation_end
    if end is None:
        end = assessment.calibration.attrs["observation_end"]
    if rfm is None:
        rfm = rfm_summary(
            log,
            observation_end=end,
            time_unit=time_unit,
            discrete=discrete,
            after_end=after_end,
            **columns,
        )
    else:
        _check_given_summary(
            "rfm", rfm, time_unit=time_unit, discrete=discrete, observation_end=end
        )
    bg, gg = fit_whole_history(rfm, type(assessment.purchase_model), fitted, spend_model)
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
    )


def render_report(
    path: str | os.PathLike[str],
    assessment: Assessment,
    log: TransactionLog,
    rfm: pd.DataFrame,
    purchase_model: Any,
    spend_model: Any,
    *,
    end: Any,
    time_unit: str,
    horizon_months: int,
    annual_discount_rate: float,
    margin: float,
    lifetime_years: float,
    at_risk_lookback_months: float = 3.0,
    title: str = "Customer lifetime value report",
) -> Path:
    """Write the HTML report of what was computed: an :class:`Assessment` (trust) and models
    fitted on the whole history (value). Nothing is fitted here.

    Parameters
    ----------
    path : str or path
        Output HTML file (written atomically).
    assessment : Assessment
        The calibration/holdout check (:func:`clvpredict.assessment.assess`).
    log : TransactionLog
        The parsed log (P(alive) history of the most valuable customer, counts).
    rfm : DataFrame
        The whole-history summary in ``time_unit``.
    purchase_model, spend_model
        Fitted on ``rfm``.
    end, time_unit, horizon_months, annual_discount_rate, margin, lifetime_years,
    at_risk_lookback_months, title
        As in :func:`build_report`.
    """
    cal = assessment.calibration
    bg_cal, gg_cal = assessment.purchase_model, assessment.spend_model
    comparison, evaluation, tracking = (
        assessment.comparison,
        assessment.evaluation,
        assessment.tracking,
    )
    bg, gg = purchase_model, spend_model
    discrete = bool(getattr(bg, "discrete_time", False))
    table = clv_table(
        bg,
        gg,
        rfm,
        lifetime_years=lifetime_years,
        horizon_months=horizon_months,
        annual_discount_rate=annual_discount_rate,
        margin=margin,
    )
    segments = segment_table(table)
    lookback = months_to_units(at_risk_lookback_months, time_unit)
    if discrete:
        # Histories move a whole period at a time.
        lookback = max(1.0, float(np.round(lookback)))
    at_risk = at_risk_customers(bg, table, lookback=lookback)
    best = table["predictive_clv"].idxmax()
    unit_name = UNIT_NAMES[time_unit]

    trust_figures = [
        (
            plotting.plot_calibration_vs_holdout(evaluation, by="frequency"),
            "By calibration frequency",
        ),
        (plotting.plot_calibration_vs_holdout(evaluation, by="recency"), "By calibration recency"),
        (plotting.plot_cumulative_transactions(tracking), "Cumulative repeat transactions"),
        (
            plotting.plot_incremental_transactions(tracking),
            f"Repeat transactions per {plotting.period_name(tracking.attrs['period_days'])}",
        ),
        (plotting.plot_period_transactions(bg_cal, cal), "Repeat purchases in calibration"),
        (plotting.plot_spend_distribution(gg_cal, cal), "Mean repeat spend"),
    ]
    value_figures = [
        (
            plotting.plot_expected_purchases_heatmap(
                bg, months_to_units(horizon_months, time_unit), rfm
            ),
            f"Expected purchases in the next {horizon_months} months",
        ),
        (plotting.plot_probability_alive_heatmap(bg, rfm), "P(alive)"),
        (
            plotting.plot_probability_alive_history(
                bg,
                log,
                log.customer_id_col,
                log.datetime_col,
                best,
                end=end,
            ),
            f"P(alive) history of the most valuable customer ({best})",
        ),
        (plotting.plot_clv_comparison(table), "Predictive vs simple CLV"),
        (plotting.plot_value_concentration(table), "Value concentration"),
    ]

    totals = evaluation.totals
    pct = float(totals["pct_error"].iloc[0])
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f"<title>{html.escape(title)}</title><style>{_CSS}</style></head><body>",
        f"<h1>{html.escape(title)}</h1>",
        "<p class='note'>"
        f"{log.n_rows:,} transactions of {len(rfm):,} customers up to {html.escape(str(end))}; "
        f"calibration to {html.escape(str(cal.attrs['calibration_end']))}, holdout to "
        f"{html.escape(str(cal.attrs['observation_end']))}. Time unit: {unit_name}. CLV over "
        f"{horizon_months} months, discount {annual_discount_rate:.1%} per year, margin "
        f"{margin:.0%}; simple CLV with a lifetime of {lifetime_years:.2f} years. Generated "
        f"{datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC by clvpredict.</p>",
        "<h2>1. Can the model be trusted? Calibration and holdout</h2>",
        "<p>The models below are fitted on the calibration period only, then asked to forecast "
        "the holdout period, which they have not seen. "
        + (
            f"<span class='warn'>The aggregate holdout forecast is off by {pct:+.1f}%.</span>"
            if abs(pct) > 20
            else f"The aggregate holdout forecast is off by {pct:+.1f}%."
        )
        + "</p>",
        _model_block(bg_cal),
        _model_block(gg_cal),
        "<h3>Purchase models compared on the holdout</h3>",
        "<p class='note'>Each model fitted on the calibration period; <em>best</em> has the "
        "lowest per-customer holdout RMSE. The rest of this report uses "
        f"{html.escape(type(bg_cal).__name__)}.</p>",
        _table_html(comparison, 3),
        "<h3>Holdout metrics</h3>",
        _table_html(evaluation.metrics, 3),
        _table_html(totals, 1),
        "<h3>By calibration frequency</h3>",
        _table_html(evaluation.by_frequency, 3),
        "<h3>By calibration recency</h3>",
        _table_html(evaluation.by_recency, 3),
    ]
    if evaluation.spend is not None:
        parts += ["<h3>Spend check (customers who bought in the holdout)</h3>"]
        parts += [_table_html(evaluation.spend, 2)]
    parts.append("<div class='grid'>")
    parts += [_figure_html(ax, caption) for ax, caption in trust_figures]
    parts.append("</div>")
    parts += [
        "<h2>2. What are the customers worth?</h2>",
        "<p>Models fitted on the whole history. Predictive CLV is the discounted model "
        "forecast; simple CLV is average order value x purchases per year x margin x lifetime.</p>",
        _model_block(bg),
        _model_block(gg),
        "<h3>Value tiers (by predictive CLV)</h3>",
        _table_html(segments, 2),
        f"<h3>At-risk high-value customers ({len(at_risk)})</h3>",
        "<p class='note'>Top 20% by predictive CLV whose P(alive) fell by at least 0.10 over the "
        + (
            f"last {lookback:g} period(s) of 1 {unit_name[:-1]}"
            if discrete
            else f"last {at_risk_lookback_months:g} months"
        )
        + " without a purchase.</p>",
        _table_html(at_risk.head(50), 3) if len(at_risk) else "<p>None.</p>",
        "<h3>Top 20 customers</h3>",
        _table_html(table.nlargest(20, "predictive_clv"), 2),
        "<div class='grid'>",
    ]
    parts += [_figure_html(ax, caption) for ax, caption in value_figures]
    parts += ["</div>", "</body></html>"]
    return write_text_atomic("\n".join(parts), path)

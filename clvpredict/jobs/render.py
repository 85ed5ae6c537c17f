"""The HTML of the report: renders what the jobs computed, and never fits.

One self-contained file: images are embedded as PNG data URIs and there is no script or external
resource, so it opens offline and can be mailed around.
"""

from __future__ import annotations

import base64
import html
import io
import os
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import narwhals.stable.v2 as nw
import numpy as np
import pandas as pd

from .. import plotting
from .._units import UNIT_NAMES, check_currency, duration_phrase, money_unit, months_to_units
from ..clv import clv_table
from ..data.engines import checkpoint, is_engine_frame, release, to_caller
from ..data.transactions import TransactionLog
from ..evaluation import model_label
from ..exceptions import ClvDataError
from ..segments import table_id_column
from .assessment import Assessment
from .persistence import write_text_atomic
from .values import (
    AT_RISK_ROWS,
    TOP_ROWS,
    CovariateValues,
    CustomerValues,
    covariate_values,
    customer_values,
)

__all__ = ["render_report"]


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
.grid figure { margin: 0; flex: 1 1 760px; }
.scroll { overflow-x: auto; max-width: 100%; }
figure img { max-width: 100%; border: 1px solid #eee; }
figcaption { font-size: 0.85em; color: #555; }
.warn { color: #a40000; font-weight: bold; }
table.glance { font-size: 1.05em; }
table.glance th { text-align: left; padding-right: 1.5em; white-space: nowrap; }
table.glance td { text-align: left; }
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


#: Columns of the report's tables that hold money (in the amounts' currency).
MONEY_COLUMNS = frozenset(
    {
        "monetary_value",
        "avg_order_value",
        "expected_avg_value",
        "predictive_clv",
        "simple_clv",
        "total_predictive_clv",
        "mean_predictive_clv",
        "total_simple_clv",
        "mean_simple_clv",
        "new_customer_clv",
    }
)


#: Columns of the report's tables that count customers or purchases: shown as whole numbers
#: when they hold whole numbers (a forecast count keeps its decimals).
COUNT_COLUMNS = frozenset(
    {"n_customers", "frequency", "n_params", "actual", "predicted", "difference"}
)

#: Columns of the report's tables that are shares (fractions), shown as percentages.
SHARE_COLUMNS = frozenset({"share_of_customers", "share_of_predictive_clv", "share_of_simple_clv"})


def _table_html(frame: pd.DataFrame, digits: int = 2, *, labels: dict[str, str]) -> str:
    """A table as HTML, its headers (columns and index name) in the words of ``labels``:
    shares as percentages, counts as whole numbers, booleans as yes/no and money
    (:data:`MONEY_COLUMNS`) in cents, other numbers to ``digits`` decimals. The frame itself
    is not changed."""
    frame = frame.copy()
    for column in frame.columns:
        values = frame[column]
        if column in SHARE_COLUMNS:
            frame[column] = [f"{v:.1%}" if np.isfinite(v) else "" for v in values]
        elif pd.api.types.is_bool_dtype(values):
            frame[column] = values.map({True: "yes", False: "no"})
        elif column in COUNT_COLUMNS and _whole(values):
            frame[column] = [f"{v:,.0f}" if np.isfinite(v) else "" for v in values]
        elif column in MONEY_COLUMNS:
            # Money in cents whatever the table's other digits (probabilities take three).
            frame[column] = [f"{v:,.2f}" if np.isfinite(v) else "" for v in values]
    frame = frame.rename(columns=labels)
    # The index's name in the corner cell, not on a header row of its own.
    name = frame.index.name
    frame.columns.name = labels.get(name, name) if isinstance(name, str) else None
    frame.index.name = None
    table = frame.to_html(
        border=0, float_format=lambda v: f"{v:,.{digits}f}", na_rep="", escape=True
    )
    return f"<div class='scroll'>{table}</div>"


def _whole(values: pd.Series) -> bool:
    """Whether a column holds counts: whole numbers (missing ones aside)."""
    numbers = pd.to_numeric(values, errors="coerce").to_numpy(dtype=float)
    finite = numbers[np.isfinite(numbers)]
    return bool(np.all(finite == np.round(finite)))


def _horizon_words(months: int) -> str:
    """A CLV horizon as a reader says it: ``"12 months"``, ``"24 months (2 years)"``."""
    phrase = duration_phrase(months, "M")
    if months > 12 and months % 12 == 0:
        phrase += f" ({duration_phrase(months // 12, 'Y')})"
    return phrase


def column_labels(
    currency: str | None, horizon_months: int, time_unit: str, lifetime_years: float
) -> dict[str, str]:
    """The value tables' column headers in words with their units (the tables themselves keep
    their snake_case names): money in ``currency``, durations in ``time_unit``, the horizon
    in months and years."""
    money = money_unit(currency)
    unit = UNIT_NAMES[time_unit]
    horizon = _horizon_words(horizon_months)
    return {
        "frequency": "Repeat purchases",
        "recency": f"First to last purchase ({unit})",
        "T": f"Since first purchase ({unit})",
        "time_since_last_purchase": f"Since last purchase ({unit})",
        "monetary_value": f"Mean repeat purchase ({money})",
        "avg_order_value": f"Average order value ({money})",
        "p_alive": "P(alive) (probability)",
        "p_alive_before": "P(alive) before (probability)",
        "p_alive_change": "Change in P(alive)",
        "expected_purchases": f"Expected purchases, next {horizon}",
        "expected_avg_value": f"Expected spend per purchase ({money})",
        "predictive_clv": f"Predictive CLV, next {horizon} ({money})",
        "simple_clv": f"Simple CLV, {lifetime_years:.2f}-year lifetime ({money})",
        "n_customers": "Customers",
        "share_of_customers": "Share of customers",
        "total_predictive_clv": f"Total predictive CLV ({money})",
        "mean_predictive_clv": f"Mean predictive CLV ({money})",
        "share_of_predictive_clv": "Share of predictive CLV",
        "total_simple_clv": f"Total simple CLV ({money})",
        "mean_simple_clv": f"Mean simple CLV ({money})",
        "mean_p_alive": "Mean P(alive) (probability)",
        "tier": "Tier",
        "rfm_segment": "RFM segment",
        "mean_expected_purchases": f"Mean expected purchases, next {horizon}",
        "new_customer_purchases": (
            f"Typical new customer: expected repeat purchases, first {horizon}"
        ),
        "new_customer_clv": f"Typical new customer: CLV of the first {horizon} ({money})",
        "level": "Level",
    }


def holdout_labels(
    time_unit: str, duration_holdout: float, *, spend: bool = False, currency: str | None = None
) -> dict[str, str]:
    """The holdout tables' column headers in words with their units: purchases (repeat
    purchase days) over the holdout of ``duration_holdout`` ``time_unit``, or with ``spend``
    the spend check's money per purchase in ``currency``."""
    unit = UNIT_NAMES.get(time_unit, "periods")
    per = f"money per purchase, {money_unit(currency)}" if spend else "purchases per customer"
    labels = {
        "model": "Model",
        "group": "Group",
        "n_customers": "Customers",
        "mae": f"Mean absolute error ({per})",
        "rmse": f"Root mean squared error ({per})",
        "correlation": "Correlation, actual vs forecast",
        "pct_error": "Error of the total (%)",
        "frequency_bin": "Repeat purchases in calibration",
        "recency_bin": f"Recency in calibration ({unit})",
        "log_likelihood": "Log-likelihood (calibration)",
        "n_params": "Parameters",
        "aic": "AIC",
        "bic": "BIC",
        "converged": "Converged",
        "best": "Best on the holdout",
        # A model with covariates against the same model without them (compare_models).
        "lr_statistic": "Likelihood-ratio statistic vs no covariates",
        "lr_df": "LR test degrees of freedom",
        "lr_p_value": "LR test p-value",
        "lr_note": "LR test note",
    }
    if spend:
        return labels | {
            "mean_predicted": f"Mean forecast spend per purchase ({money_unit(currency)})",
            "mean_actual": f"Mean actual spend per purchase ({money_unit(currency)})",
        }
    holdout = f"{duration_holdout:g} {unit}"
    return labels | {
        "actual": f"Actual repeat purchases in the {holdout}",
        "predicted": f"Forecast repeat purchases in the {holdout}",
        "difference": "Forecast minus actual (purchases)",
        "mean_actual": "Mean actual purchases per customer",
        "mean_predicted": "Mean forecast purchases per customer",
        "sd_actual": "Standard deviation of actual purchases per customer",
    }


def _money(value: float, currency: str | None) -> str:
    """An amount as a reader reads it: ``20,645 USD``, or ``20,645`` without a currency."""
    return f"{value:,.0f} {html.escape(currency)}" if currency else f"{value:,.0f}"


#: The holdout error (absolute, as a fraction) up to which the verdict is "close", and "usable".
CLOSE_ERROR, USABLE_ERROR = 0.10, 0.25


def _verdict(pct_error: float) -> str:
    """A plain verdict on the aggregate holdout error (percent; positive: over-forecast)."""
    size = abs(pct_error) / 100.0
    if not np.isfinite(size):
        return "cannot be judged: there were no repeat purchases in the holdout"
    side = "over" if pct_error > 0 else "under"
    if size <= CLOSE_ERROR:
        return f"close ({side}-forecast by {size:.0%}): the totals can be relied on"
    lean = "low" if side == "under" else "high"
    if size <= USABLE_ERROR:
        return (
            f"usable with care ({side}-forecast by {size:.0%}): read totals as approximate, "
            f"more likely too {lean} than too {'high' if lean == 'low' else 'low'}"
        )
    return f"poor ({side}-forecast by {size:.0%}): do not rely on the totals before finding out why"


def _glance_html(
    values: CustomerValues,
    totals: pd.DataFrame,
    comparison: pd.DataFrame,
    model: Any,
    *,
    horizon_months: int,
    annual_discount_rate: float,
    margin: float,
    lifetime_years: float,
    currency: str | None,
) -> list[str]:
    """The first screen: what the customers are worth and whether to trust it, in words."""
    total = totals.iloc[0]
    pct = float(total["pct_error"])
    months = _horizon_words(horizon_months)
    rows = [
        ("Customers", f"{values.n_customers:,}"),
        (
            f"Predictive CLV, next {months}",
            f"{_money(values.total_predictive_clv, currency)}{_interval_words(values, currency)}"
            + (
                " (margin 100%: this is discounted revenue, not profit; set the margin to "
                f"value profit; discounted at {annual_discount_rate:.0%} a year)"
                if margin == 1
                else f" (margin {margin:.0%}, discounted at {annual_discount_rate:.0%} a year)"
            ),
        ),
        (
            f"Expected revenue, next {months}",
            f"{_money(values.expected_revenue, currency)} (before margin and discounting)",
        ),
        (
            "Simple-formula CLV",
            f"{_money(values.total_simple_clv, currency)} (lifetime of {lifetime_years:.2f} "
            "years, undiscounted)",
        ),
        (
            "Holdout check",
            f"{float(total['predicted']):,.0f} repeat purchases forecast against "
            f"{float(total['actual']):,.0f} that happened: {_verdict(pct)}",
        ),
        (
            "High-value customers at risk",
            f"{values.n_at_risk:,}, holding {_money(values.at_risk_value, currency)} of "
            "predictive CLV",
        ),
    ]
    body = "".join(f"<tr><th>{html.escape(k)}</th><td>{v}</td></tr>" for k, v in rows)
    label = html.escape(model_label(model))
    best = comparison.index[comparison["best"]] if "best" in comparison else []
    chosen = f"<p class='note'>The values come from the {label} model."
    if len(best) and str(best[0]) != model_label(model):
        other = html.escape(str(best[0]))
        chosen += (
            f" On the holdout {other} forecast customers best; this report uses {label} "
            "because it is the purchase model set for this run (BG/NBD unless another is "
            'chosen; the setting purchase_model = "auto", or --purchase-model auto, uses '
            "the best on the holdout)."
        )
        rmse = comparison["rmse"] if "rmse" in comparison else None
        if rmse is not None and model_label(model) in rmse.index:
            ours, theirs = float(rmse[model_label(model)]), float(rmse[str(best[0])])
            chosen += (
                f" Their per-customer errors differ by {abs(ours / theirs - 1):.1%} (root mean "
                f"squared error {ours:.3f} against {theirs:.3f} purchases)"
                + (
                    ", too little to matter."
                    if abs(ours / theirs - 1) < 0.02
                    else "; the comparison is in the appendix."
                )
            )
    elif len(best):
        chosen += " It was also the best of the purchase models compared on the holdout."
    chosen += "</p>"
    ratio = (
        values.total_simple_clv / values.total_predictive_clv
        if values.total_predictive_clv
        else float("nan")
    )
    why = (
        "<p>The simple formula gives "
        + (f"{ratio:.1f} times " if np.isfinite(ratio) else "a different total than ")
        + "the predictive total. It multiplies each customer's average order value by their "
        f"past purchase rate and by a lifetime of {lifetime_years:.2f} years, as if every "
        "customer were still buying at that rate: it counts customers who have already left, "
        "and it neither discounts nor stops at the horizon. Predictive CLV weighs each "
        "customer's expected purchases over the next "
        f"{months} by the chance that the customer is still active, and discounts them. Use "
        "predictive CLV to budget and to rank customers for the coming period; keep the "
        "simple formula as the benchmark it has been, not as a forecast.</p>"
    )
    return [
        "<h2>At a glance</h2>",
        f"<div class='scroll'><table class='glance'>{body}</table></div>",
        _interval_note(values),
        chosen,
        why,
    ]


def _interval_words(values: CustomerValues, currency: str | None) -> str:
    """``", 90% interval 63,104 to 74,851 USD"`` after the total, or nothing without one."""
    interval = values.total_interval
    if interval is None or not (np.isfinite(interval.lower) and np.isfinite(interval.upper)):
        return ""
    return (
        f", {interval.level:.0%} interval {interval.lower:,.0f} to "
        f"{_money(interval.upper, currency)}"
    )


def _interval_note(values: CustomerValues) -> str:
    """What the total's interval covers and how it was computed, for the first screen."""
    interval = values.total_interval
    if interval is None:
        return ""
    how = (
        f"the total recomputed at each of {interval.n_draws} draws of the parameters of both "
        "models from their estimated uncertainty"
    )
    if interval.sampled:
        how += (
            f", each evaluated on a random {interval.n_evaluated:,} of the "
            f"{interval.n_customers:,} customers and scaled to the whole total (the total "
            "times the sample's ratio of its value at the draw to its value at the estimate)"
        )
    return (
        f"<p class='note'>The {interval.level:.0%} interval of the predictive total is the "
        f"uncertainty of the models' fitted parameters: {how}. It does not cover the chance "
        "in what customers will actually buy, nor a wrong model (the holdout check "
        "speaks to that).</p>"
    )


def _model_block(model: Any) -> str:
    return model.overview().as_html()


def _rfm_html(values: CustomerValues, labels: dict[str, str], model: Any) -> list[str]:
    """The customers by RFM segment, with how the segments are named."""
    if values.rfm_table is None:
        return []
    ones = values.rfm_table.get("mean_p_alive", pd.Series(dtype=float)) > 0.99
    note = []
    if model_label(model) == "BG/NBD" and ones.any():
        # Reads like a bug to a manager ("Lost" customers all alive) but is the model.
        note = [
            "<p class='note'>Segments (and tiers above) made mostly of customers who never bought "
            "again show a mean P(alive) near 1: the BG/NBD lets a customer leave only just "
            "after a purchase, so one who has made none since the first is counted as active. "
            "Their predictive CLV is low all the same, because their purchase rate is low.</p>"
        ]
    return [
        "<h3>RFM segments</h3>",
        "<p class='note'>Each customer is scored 1 to 5 on recency (time since the last "
        "purchase: shorter scores higher), frequency (repeat purchases) and monetary value "
        "(average order value), a fifth of the customers in each score (customers with equal "
        "values share the lower score), and named by the usual rules: Champions bought "
        "recently, often and much (all three scores 4-5); Can't lose them bought often and "
        "much but not lately (recency 1-2); Lost bought rarely (frequency 1-2) and long ago (recency 1).</p>",
        _table_html(values.rfm_table, 2, labels=labels),
        *note,
    ]


def _covariate_html(
    covariates: CovariateValues, labels: dict[str, str], model: Any, currency: str | None
) -> list[str]:
    """The section "Value by covariate": per covariate, the customers and their value by level
    or bin and what a new customer of it is worth; the likelihood-ratio test; the
    coefficients in plain words."""
    money = money_unit(currency)
    parts = [
        "<h3>Value by covariate</h3>",
        "<p class='note'>The purchase model gives each customer parameters of their own from "
        "their covariates. For each covariate: its customers, their mean P(alive), expected "
        "purchases and predictive CLV, and the total, by level (or by bin of a number); and "
        "what the <em>typical new customer</em> of that level is expected to buy (repeat "
        "purchases after the first) and be worth over the horizon: each customer of the "
        "level is valued as if acquired today, with all their covariates as they are, and "
        "the values are averaged. It is what the next customers of the level are worth if "
        "they resemble its customers so far, so it includes how the level's customers differ "
        "in their other covariates (a channel that brings younger customers); the "
        "coefficients below give the level's own effect, the other covariates equal. A new "
        "customer's CLV is the margin times the spend model's population mean spend per "
        f"purchase ({money}) times the expected purchases, each month discounted like the "
        "predictive CLV.</p>",
    ]
    for name, frame in covariates.tables.items():
        parts += [
            f"<h4>{html.escape(name)}</h4>",
            f"<p class='note'>{html.escape(covariates.notes[name])}.</p>",
            _table_html(frame, 3, labels=labels),
        ]
    lr = covariates.likelihood_ratio
    if lr is not None:
        parts.append(
            "<p>Likelihood-ratio test of the covariates against the same model without them: "
            f"statistic {lr['statistic']:.2f} on {lr['df']:.0f} degrees of freedom, p-value "
            f"{lr['p_value']:.3g}"
            + (
                " (the covariates improve the fit beyond chance)."
                if lr["p_value"] < 0.05
                else " (no evidence that the covariates matter)."
            )
            + "</p>"
        )
    else:
        parts.append(
            f"<p class='note'>No likelihood-ratio test: {html.escape(covariates.lr_note)}</p>"
        )
    coefficients = covariates.coefficients
    lower, upper = coefficients.attrs.get("interval_columns", ("lower_95", "upper_95"))
    level = lower.rsplit("_", 1)[-1]
    shown = coefficients[
        ["estimate", "std_error", lower, upper, "factor", "factor_lower", "factor_upper", "acts_on"]
    ]
    coefficient_labels = {
        "estimate": "Estimate",
        "std_error": "Standard error",
        lower: f"Lower {level}%",
        upper: f"Upper {level}%",
        "factor": "Multiplies by e^coef",
        "factor_lower": f"e^coef, lower {level}%",
        "factor_upper": f"e^coef, upper {level}%",
        "acts_on": "What it multiplies",
        "parameter": "Coefficient",
    }
    parts += [
        "<p class='note'>Coefficients: <em>purchase.x</em> acts on the purchase rate, "
        "<em>dropout.x</em> on the dropout, <em>shared.x</em> on both with one value; "
        "<em>x[B]</em> is level B against the reference level, a number is per unit of it. "
        f"A coefficient multiplies what it acts on by e^coef for {html.escape(model_label(model))}"
        " (e.g. a purchase coefficient of 0.2: purchase rate x 1.22).</p>",
        _table_html(shown, 3, labels=coefficient_labels),
    ]
    return parts


def _check_given_table(table: Any, rfm: pd.DataFrame, **settings: Any) -> None:
    """Refuse a CLV table that is not of ``rfm``'s customers or not made with these settings."""
    if not isinstance(table, pd.DataFrame) or "predictive_clv" not in table.columns:
        raise ClvDataError("table must be the clv_table(...) of the report's summary.")
    wrong = {k: (table.attrs.get(k), v) for k, v in settings.items() if table.attrs.get(k) != v}
    if wrong:
        detail = "; ".join(f"{k} is {h!r}, the report uses {v!r}" for k, (h, v) in wrong.items())
        raise ClvDataError(
            f"The given CLV table does not match the report's settings: {detail}. Leave "
            "table= out to have it computed here."
        )
    if not table.index.equals(rfm.index):
        raise ClvDataError(
            f"The given CLV table has {len(table):,} customers that are not the summary's "
            f"{len(rfm):,} in the same order. Leave table= out to have it computed here."
        )


def render_report(
    path: str | os.PathLike[str],
    assessment: Assessment,
    log: TransactionLog,
    rfm: Any,
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
    table: Any = None,
    currency: str | None = None,
    covariates: CovariateValues | None = None,
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
    rfm : DataFrame or engine frame
        The whole-history summary in ``time_unit``: pandas, or a frame of another engine (a
        Spark DataFrame), which is then read only by that engine.
    purchase_model, spend_model
        Fitted on ``rfm``.
    end, time_unit, horizon_months, annual_discount_rate, margin, lifetime_years,
    at_risk_lookback_months, title, currency
        As in :func:`build_report`.
    table : DataFrame or engine frame, optional
        The customers' :func:`~clvpredict.clv_table` of ``rfm`` with these models and settings,
        when the caller has scored them already (``clvpredict refresh`` has); computed here
        otherwise. pandas indexed by customer (checked against ``rfm`` and the settings), or a
        frame of another engine with the customer id in a column (a Spark DataFrame of the
        predictions, which carries no settings to check): what the report shows of it is then
        computed by that engine (:func:`~clvpredict.jobs.values.customer_values`), and only
        aggregates, the first rows by rank and a bounded sample come to this process.
    covariates : CovariateValues, optional
        The value-by-covariate tables of a purchase model with covariates
        (:func:`~clvpredict.jobs.values.covariate_values`), computed here if not given; such a
        model needs ``rfm`` with the covariate columns (pandas, or a frame of the table's
        engine, where the covariates are joined to the table).
    """
    currency = check_currency(currency)
    cal = assessment.calibration
    bg_cal, gg_cal = assessment.purchase_model, assessment.spend_model
    comparison, evaluation, tracking = (
        assessment.comparison,
        assessment.evaluation,
        assessment.tracking,
    )
    calibration_end = getattr(assessment, "calibration_end", None) or cal.attrs["calibration_end"]
    holdout_end = getattr(assessment, "observation_end", None) or cal.attrs["observation_end"]
    bg, gg = purchase_model, spend_model
    discrete = bool(getattr(bg, "discrete_time", False))
    cached = None
    if table is None:
        table = clv_table(
            bg,
            gg,
            rfm,
            lifetime_years=lifetime_years,
            horizon_months=horizon_months,
            annual_discount_rate=annual_discount_rate,
            margin=margin,
        )
        if is_engine_frame(table):
            # Scored by the engine once for the report's queries, not once per query.
            table = cached = checkpoint(nw.from_native(table)).to_native()
    elif isinstance(table, pd.DataFrame) and isinstance(rfm, pd.DataFrame):
        _check_given_table(
            table,
            rfm,
            horizon_months=horizon_months,
            annual_discount_rate=annual_discount_rate,
            margin=margin,
        )
    design = getattr(bg, "covariate_design_", None)
    scored, ident = table, None
    if design is not None:
        # The customers' own covariates travel with their rows: the at-risk list and the
        # total's interval predict with them.
        if isinstance(table, pd.DataFrame):
            scored = table.join(rfm[[c for c in design.columns if c not in table.columns]])
            scored.attrs = {**table.attrs, "time_unit": time_unit}
        else:
            # An engine's table (Spark predictions): joined there, on the id column, which the
            # covariates then make the one to name.
            ident = table_id_column(table)
            frame = nw.from_native(table)
            extra = [c for c in design.columns if c not in frame.columns]
            scored = frame.join(nw.from_native(rfm).select(ident, *extra), on=ident).to_native()
        if covariates is None:
            covariates = covariate_values(
                bg,
                gg,
                table,
                rfm,
                horizon_months=horizon_months,
                annual_discount_rate=annual_discount_rate,
                margin=margin,
            )
    lookback = months_to_units(at_risk_lookback_months, time_unit)
    if discrete:
        # Histories move a whole period at a time.
        lookback = max(1.0, float(np.round(lookback)))
    values = customer_values(
        bg,
        scored,
        customer_id_col=ident,
        lookback=lookback,
        horizon_months=horizon_months,
        lifetime_years=lifetime_years,
        spend_model=gg,
        annual_discount_rate=annual_discount_rate,
        margin=margin,
        summary=rfm,
        time_unit=time_unit,
    )
    labels = column_labels(currency, horizon_months, time_unit, lifetime_years)
    if cached is not None:  # an engine's table checkpointed above: read for the last time
        release(cached)
    best = values.best
    scatter = values.scatter.copy()
    scatter.attrs["horizon_months"] = values.horizon_months
    unit_name = UNIT_NAMES[time_unit]
    # A model with covariates: the heatmaps are those of a customer with the baseline
    # covariates (reference levels, median values); the period counts and the P(alive)
    # history read each customer's own.
    map_covariates, map_note = None, ""
    if design is not None:
        map_covariates = dict(covariates.baseline)
        map_note = (
            " For a customer with "
            + ", ".join(
                f"{c} = {v}" if isinstance(v, str) else f"{c} = {v:.4g}"
                for c, v in map_covariates.items()
            )
            + " (the model has covariates: each category at its reference level, each number "
            "at its median)."
        )

    best_covariates = None if design is None else rfm
    if design is not None and ident is not None:
        # The most valuable customer's covariates, the one row of an engine's summary.
        one = nw.from_native(rfm).filter(nw.col(ident) == best).select(ident, *design.columns)
        best_covariates = to_caller(one, "pandas").set_index(ident)
    spend_data = cal
    if design is not None and is_engine_frame(cal):
        # The spend model takes no covariates: without them an engine's summary has one column
        # besides the summary's, its customer id.
        spend_data = nw.from_native(cal).drop(*design.columns).to_native()

    # The report saves its own figures: none may go to pyplot (a notebook would show them).
    with plotting.standalone_figures():
        trust_figures = [
            (
                plotting.plot_calibration_vs_holdout(evaluation, by="frequency"),
                "By calibration frequency. The model's line should stay within the bars where "
                "the bins hold many customers.",
            ),
            (
                plotting.plot_calibration_vs_holdout(evaluation, by="recency"),
                "By calibration recency. The same check for customers grouped by when they last "
                "bought.",
            ),
            (
                plotting.plot_cumulative_transactions(tracking),
                "Cumulative repeat transactions. The model should follow the actual line in "
                "calibration and stay close after its end (the dotted line), which it never saw.",
            ),
            (
                plotting.plot_incremental_transactions(tracking),
                f"Repeat transactions per {plotting.period_name(tracking.attrs['period_days'])}. "
                "The model gives the level and trend, not the ups and downs of single periods.",
            ),
            (
                plotting.plot_period_transactions(bg_cal, cal),
                "Repeat purchases in calibration. How many customers made 0, 1, 2, ... repeat "
                "purchases, against the model's count.",
            ),
            (
                plotting.plot_spend_distribution(gg_cal, spend_data, currency=currency),
                "Mean repeat spend. The spend model's curve should follow the histogram.",
            ),
        ]
        value_figures = [
            (
                plotting.plot_clv_distribution(values.distribution, currency=currency),
                "Predictive CLV across customers, on a log scale: where the values lie, with the "
                "median and the mean marked.",
            ),
            (
                plotting.plot_expected_purchases_heatmap(
                    bg, months_to_units(horizon_months, time_unit), rfm, covariates=map_covariates
                ),
                f"Expected purchases in the next {horizon_months} months, by history: most come "
                "from customers who bought often and lately." + map_note,
            ),
            (
                plotting.plot_probability_alive_heatmap(bg, rfm, covariates=map_covariates),
                "P(alive) by history: customers who bought often but not lately are the likeliest "
                "to have left." + map_note,
            ),
            (
                plotting.plot_probability_alive_history(
                    bg,
                    log,
                    log.customer_id_col,
                    log.datetime_col,
                    best,
                    end=end,
                    covariates=best_covariates,
                ),
                f"P(alive) history of the most valuable customer ({best})",
            ),
            (
                plotting.plot_clv_comparison(
                    scatter,
                    lifetime_years=lifetime_years,
                    extent=values.scatter_extent,
                    currency=currency,
                ),
                "Predictive vs simple CLV "
                f"({plotting._sample_note(values.n_scatter, max(len(scatter), 1))}). Points "
                "below the line are customers the simple formula values above the model.",
            ),
            (
                plotting.plot_concentration_curve(
                    values.concentration,
                    values.concentration_marks,
                    n_customers=values.n_customers,
                ),
                "Value concentration: the share of the predictive total held by the most valuable "
                "customers.",
            ),
        ]

    totals = evaluation.totals
    held = holdout_labels(evaluation.time_unit, evaluation.duration_holdout)
    pct = float(totals["pct_error"].iloc[0])
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f"<title>{html.escape(title)}</title><style>{_CSS}</style></head><body>",
        f"<h1>{html.escape(title)}</h1>",
        "<p class='note'>"
        f"{log.n_rows:,} transactions of {values.n_customers:,} customers up to "
        f"{html.escape(str(end))}; calibration to {html.escape(str(calibration_end))}, holdout "
        f"to {html.escape(str(holdout_end))}. Time unit: {unit_name}. CLV over "
        f"{horizon_months} months, discount {annual_discount_rate:.1%} per year, margin "
        f"{margin:.0%}; simple CLV with a lifetime of {lifetime_years:.2f} years. "
        + (
            f"Money in {html.escape(currency)}. "
            if currency
            else "Money in the currency of the amounts (none was named). "
        )
        + "Generated "
        f"{datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC by clvpredict.</p>",
        *_glance_html(
            values,
            totals,
            comparison,
            bg_cal,
            horizon_months=horizon_months,
            annual_discount_rate=annual_discount_rate,
            margin=margin,
            lifetime_years=lifetime_years,
            currency=currency,
        ),
        "<h2>1. Can the model be trusted? Calibration and holdout</h2>",
        "<p>The models are fitted on the calibration period only, then asked to forecast "
        "the holdout period, which they have not seen. "
        + (
            f"<span class='warn'>The aggregate holdout forecast is off by {pct:+.1f}%.</span>"
            if abs(pct) > 20
            else f"The aggregate holdout forecast is off by {pct:+.1f}%."
        )
        + " Their parameters and the comparison of the purchase models are in the appendix.</p>",
        "<h3>Holdout metrics</h3>",
        _table_html(evaluation.metrics, 3, labels=held),
        _table_html(totals, 1, labels=held),
        "<h3>By calibration frequency</h3>",
        _table_html(evaluation.by_frequency, 3, labels=held),
        "<h3>By calibration recency</h3>",
        _table_html(
            evaluation.by_recency.drop(columns=["recency_low", "recency_high"], errors="ignore"),
            3,
            labels=held,
        ),
    ]
    if evaluation.spend is not None:
        parts += ["<h3>Spend check (customers who bought in the holdout)</h3>"]
        spend_labels = holdout_labels(
            evaluation.time_unit, evaluation.duration_holdout, spend=True, currency=currency
        )
        parts += [_table_html(evaluation.spend, 2, labels=spend_labels)]
    parts.append("<div class='grid'>")
    parts += [_figure_html(ax, caption) for ax, caption in trust_figures]
    parts.append("</div>")
    parts += [
        "<h2>2. What are the customers worth?</h2>",
        "<p>Models fitted on the whole history (their parameters are in the appendix). "
        "Predictive CLV is the discounted model forecast; simple CLV is average order value x "
        "purchases per year x margin x lifetime.</p>",
        "<h3>Value tiers (by predictive CLV)</h3>",
        _table_html(values.tiers, 2, labels=labels),
        *_rfm_html(values, labels, bg),
        *([] if covariates is None else _covariate_html(covariates, labels, bg, currency)),
        f"<h3>At-risk high-value customers ({values.n_at_risk})</h3>",
        "<p class='note'>Top 20% by predictive CLV whose P(alive) fell by at least 0.10 over the "
        + (
            f"last {lookback:g} period(s) of 1 {unit_name[:-1]}"
            if discrete
            else f"last {at_risk_lookback_months:g} months"
        )
        + " without a purchase: worth a retention contact before they lapse."
        + (
            f" The first {AT_RISK_ROWS} by predictive CLV are listed; "
            "clvpredict.at_risk_customers gives them all."
            if values.n_at_risk > AT_RISK_ROWS
            else ""
        )
        + "</p>",
        _table_html(values.at_risk, 3, labels=labels) if values.n_at_risk else "<p>None.</p>",
        f"<h3>Top {TOP_ROWS} customers</h3>",
        _table_html(values.top, 2, labels=labels),
        "<div class='grid'>",
    ]
    parts += [_figure_html(ax, caption) for ax, caption in value_figures]
    parts += [
        "</div>",
        "<h2>Appendix: the models</h2>",
        "<h3>Purchase models compared on the holdout</h3>",
        "<p class='note'>Each model fitted on the calibration period; <em>best</em> has the "
        "lowest per-customer holdout RMSE. This report uses "
        f"{html.escape(model_label(bg_cal))}.</p>",
        _table_html(comparison, 3, labels=held),
        "<h3>Fitted on the calibration period</h3>",
        _model_block(bg_cal),
        _model_block(gg_cal),
        "<h3>Fitted on the whole history (the values above)</h3>",
        _model_block(bg),
        _model_block(gg),
        "</body></html>",
    ]
    return write_text_atomic("\n".join(parts), path)

"""The HTML report and the tables in it."""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pytest
from clvpredict.report import at_risk_customers, build_report, segment_table

import clvpredict as cp


def test_segment_table_by_hand():
    table = pd.DataFrame(
        {
            "predictive_clv": [5.0, 100.0, 1.0, 20.0, 0.0, 50.0, 2.0, 3.0, 4.0, 10.0],
            "simple_clv": [1.0, 90.0, 1.0, 30.0, 0.0, 60.0, 1.0, 1.0, 1.0, 20.0],
            "p_alive": [0.5, 0.9, 0.1, 0.8, 0.0, 0.7, 0.2, 0.3, 0.4, 0.6],
        }
    )
    seg = segment_table(table)
    assert list(seg.index) == ["top 10%", "next 20%", "middle 30%", "bottom 40%"]
    assert seg["n_customers"].tolist() == [1, 2, 3, 4]
    # Ranked: 100 | 50, 20 | 10, 5, 4 | 3, 2, 1, 0
    assert seg["total_predictive_clv"].tolist() == [100.0, 70.0, 19.0, 6.0]
    assert seg["total_simple_clv"].tolist() == [90.0, 90.0, 22.0, 3.0]
    assert seg.loc["next 20%", "mean_p_alive"] == pytest.approx(0.75)
    assert seg["share_of_predictive_clv"].sum() == pytest.approx(1.0)
    assert seg.loc["top 10%", "share_of_predictive_clv"] == pytest.approx(100 / 195)
    with pytest.raises(cp.ClvDataError, match="sum to 1"):
        segment_table(table, [("a", 0.5), ("b", 0.2)])


def test_segment_table_skips_missing_values_by_hand():
    nan = float("nan")
    table = pd.DataFrame(
        {
            "predictive_clv": [4.0, 3.0, 2.0, 1.0],
            "simple_clv": [10.0, nan, 6.0, nan],
            "p_alive": [nan, nan, 0.5, 0.25],
        }
    )
    seg = segment_table(table, [("top half", 0.5), ("bottom half", 0.5)])
    assert seg["n_customers"].tolist() == [2, 2]
    assert seg["total_simple_clv"].tolist() == [10.0, 6.0]
    assert seg["mean_simple_clv"].tolist() == [10.0, 6.0]
    assert seg.loc["bottom half", "mean_p_alive"] == 0.375
    assert np.isnan(seg.loc["top half", "mean_p_alive"])
    assert seg["mean_predictive_clv"].tolist() == [3.5, 1.5]


def test_at_risk_by_hand():
    bg = cp.BetaGeoModel.from_params({"r": 0.25, "alpha": 4.4, "a": 0.8, "b": 2.4}, time_unit="W")
    table = pd.DataFrame(
        {
            "frequency": [10, 10, 1, 10],
            "recency": [10.0, 39.0, 5.0, 20.0],
            "T": [40.0, 40.0, 40.0, 40.0],
            "predictive_clv": [500.0, 900.0, 1.0, 400.0],
            "simple_clv": [1.0, 1.0, 1.0, 1.0],
        },
        index=["lapsing", "recent buyer", "low value", "lapsing less"],
    )
    table.attrs["time_unit"] = "W"
    table["p_alive"] = bg.probability_alive(table)
    got = at_risk_customers(bg, table, lookback=13.0, top_share=0.75, min_drop=0.1)
    # Thirteen weeks ago (T = 27) the history of the lapsing customers was the same.
    before = bg.probability_alive(frequency=[10, 10], recency=[10.0, 20.0], T=[27.0, 27.0])
    drops = table.loc[["lapsing", "lapsing less"], "p_alive"].to_numpy() - before.to_numpy()
    # "lapsing" was already nearly dead 13 weeks ago (a fall below 0.1); "lapsing less" fell
    # from about 0.52 to 0.03. "recent buyer" bought within the lookback; "low value" is not in
    # the top 75% by predictive CLV.
    assert drops[0] > -0.1 and drops[1] < -0.4
    assert list(got.index) == ["lapsing less"]
    assert got["p_alive_change"].iloc[0] == pytest.approx(drops[1])
    assert got["time_since_last_purchase"].iloc[0] == 20.0


@pytest.fixture(scope="module")
def report_html(tmp_path_factory, cdnow_tx):
    path = tmp_path_factory.mktemp("report") / "report.html"
    written = build_report(
        path,
        cdnow_tx,
        "customer_id",
        "date",
        "amount",
        calibration_end="1997-09-30",
        observation_end="1998-06-30",
        margin=0.3,
        lifetime_years=1.5,
    )
    assert written == path
    return path.read_text()


def test_report_is_self_contained(report_html):
    assert report_html.startswith("<!DOCTYPE html>")
    assert "<script" not in report_html
    # No external resource of any kind: every src is an embedded image.
    sources = re.findall(r'src="([^"]+)"', report_html)
    assert len(sources) == 12  # six trust figures, six value figures
    assert all(s.startswith("data:image/png;base64,") for s in sources)
    assert "http://" not in report_html and "https://" not in report_html


def test_report_numbers_match_the_library(report_html, cdnow_cal_holdout):
    bg_cal = cp.BetaGeoModel().fit(cdnow_cal_holdout)
    evaluation = cp.evaluate_holdout(bg_cal, cdnow_cal_holdout)
    totals = evaluation.totals.iloc[0]
    # 1,882 repeat purchase days: a count, written as one.
    assert totals["actual"] == 1882 and "<td>1,882</td>" in report_html
    assert f"{totals['predicted']:,.1f}" in report_html
    assert f"{evaluation.metrics['mae'].iloc[0]:,.3f}" in report_html
    for heading in ("Value tiers", "At-risk high-value customers", "Holdout metrics"):
        assert heading in report_html
    assert "BG/NBD" in report_html and "Gamma-Gamma" in report_html
    assert "top 10%" in report_html and "bottom 40%" in report_html


def test_report_auto_uses_the_best_holdout_model(tmp_path, cdnow_tx, cdnow_cal_holdout):
    path = build_report(
        tmp_path / "auto.html",
        cdnow_tx,
        "customer_id",
        "date",
        "amount",
        calibration_end="1997-09-30",
        observation_end="1998-06-30",
        lifetime_years=1.0,
        purchase_model="auto",
    )
    html = path.read_text()
    comparison = cp.compare_models(cdnow_cal_holdout)
    best = comparison.index[comparison["best"]][0]
    chosen_class = type(comparison.attrs["models"][best]).__name__
    # The first screen says which model gave the values, and that it is the holdout's best.
    assert f"The values come from the {best} model. It was also the best" in html
    assert f"This report uses {best}." in html  # the appendix's comparison
    assert f"<strong>{chosen_class}</strong>" in html


def test_given_summaries_are_used_and_checked(tmp_path, cdnow_tx, cdnow_cal_holdout, report_html):
    """Summaries passed in (as refresh does) give the same report; mismatched ones are refused."""
    args = (cdnow_tx, "customer_id", "date", "amount")
    settings = dict(
        calibration_end="1997-09-30", observation_end="1998-06-30", margin=0.3, lifetime_years=1.5
    )
    rfm = cp.rfm_summary(*args, observation_end="1998-06-30", time_unit="W")
    given = build_report(
        tmp_path / "given.html", *args, **settings, calibration=cdnow_cal_holdout, rfm=rfm
    ).read_text()
    # Identical but for the time of generation.
    stamp = re.compile(r"Generated [0-9-]+ [0-9:]+ UTC")
    assert stamp.sub("", given) == stamp.sub("", report_html)
    daily = cp.rfm_summary(*args, observation_end="1998-06-30", time_unit="D")
    with pytest.raises(cp.ClvDataError, match="time_unit is 'D', the report uses 'W'"):
        build_report(tmp_path / "bad.html", *args, **settings, rfm=daily)
    with pytest.raises(cp.ClvDataError, match="calibration_end is '1997-09-30'"):
        build_report(
            tmp_path / "bad.html",
            *args,
            **{**settings, "calibration_end": "1997-10-31"},
            calibration=cdnow_cal_holdout,
        )


def test_a_given_clv_table_is_used_and_checked(
    tmp_path, cdnow_tx, cdnow_cal_holdout, report_html, monkeypatch
):
    """A CLV table scored already (as refresh does) gives the same report without scoring the
    customers again; one made with other settings or of other customers is refused."""
    from clvpredict.jobs import render

    args = (cdnow_tx, "customer_id", "date", "amount")
    settings = dict(
        calibration_end="1997-09-30", observation_end="1998-06-30", margin=0.3, lifetime_years=1.5
    )
    rfm = cp.rfm_summary(*args, observation_end="1998-06-30", time_unit="W")
    bg, gg = cp.BetaGeoModel().fit(rfm), cp.GammaGammaModel().fit(rfm)
    table = cp.clv_table(bg, gg, rfm, lifetime_years=1.5, margin=0.3)

    def no_scoring(*args, **kwargs):
        raise AssertionError("the report scored the customers again")

    monkeypatch.setattr(render, "clv_table", no_scoring)
    models = dict(purchase_model=bg, spend_model=gg, calibration=cdnow_cal_holdout, rfm=rfm)
    given = build_report(tmp_path / "given.html", *args, **settings, **models, table=table)
    stamp = re.compile(r"Generated [0-9-]+ [0-9:]+ UTC")
    assert stamp.sub("", given.read_text()) == stamp.sub("", report_html)
    other_margin = cp.clv_table(bg, gg, rfm, lifetime_years=1.5, margin=0.5)
    with pytest.raises(cp.ClvDataError, match=re.escape("margin is 0.5, the report uses 0.3")):
        build_report(tmp_path / "bad.html", *args, **settings, **models, table=other_margin)
    with pytest.raises(cp.ClvDataError, match="2,356 customers that are not the summary's 2,357"):
        build_report(tmp_path / "bad.html", *args, **settings, **models, table=table.iloc[1:])


def test_report_states_the_sample_of_the_scatter_plot(tmp_path, cdnow_tx, monkeypatch):
    """Above plotting.MAX_POINTS customers the CLV scatter plot draws a sample, and says so."""
    from clvpredict import plotting
    from clvpredict.data.transactions import as_log
    from clvpredict.jobs.assessment import assess, fit_whole_history
    from clvpredict.jobs.render import render_report

    log = as_log(cdnow_tx, "customer_id", "date", "amount")
    cal = cp.calibration_holdout_summary(
        log, "customer_id", "date", "1997-09-30", "1998-06-30", time_unit="W"
    )
    assessment = assess(log, cal, cp.BetaGeoModel, compare=False)
    rfm = cp.rfm_summary(log, "customer_id", "date", observation_end="1998-06-30", time_unit="W")
    bg, gg = fit_whole_history(rfm, cp.BetaGeoModel, None, None)
    settings = dict(
        end="1998-06-30",
        time_unit="W",
        horizon_months=12,
        annual_discount_rate=0.1,
        margin=0.3,
        lifetime_years=1.5,
    )
    whole = render_report(tmp_path / "all.html", assessment, log, rfm, bg, gg, **settings)
    assert "<figcaption>Predictive vs simple CLV (all 2,357 customers). Points" in whole.read_text()
    monkeypatch.setattr(plotting, "MAX_POINTS", 1_000)
    sampled = render_report(tmp_path / "sample.html", assessment, log, rfm, bg, gg, **settings)
    caption = "<figcaption>Predictive vs simple CLV (a random 1,000 of 2,357 customers). Points"
    assert caption in sampled.read_text()


def _value_tables(report: str) -> list[str]:
    """The value part's tables (tiers, customers at risk, top customers) and their headings."""
    part = report[report.index("<h3>Value tiers") :]
    return re.findall(
        r"<h3>.*?</h3>|<table.*?</table>", part[: part.index("<div class='grid'>")], re.S
    )


def test_a_summary_of_another_engine_is_queried_where_it_lies(
    tmp_path, cdnow_tx, cdnow_cal_holdout, report_html, monkeypatch
):
    """A lazy polars summary (as a Spark one) is scored by its engine and read through it: the
    report prints the same tiers, customers at risk and top customers as from pandas."""
    import polars as pl

    from clvpredict.data import ranks

    # The rank search narrows its range over rounds before collecting it, as at scale.
    monkeypatch.setattr(ranks, "BAND_ROWS", 300)
    monkeypatch.setattr(ranks, "SAMPLE_ROWS", 1_024)
    lazy_log = pl.from_pandas(cdnow_tx[["customer_id", "date", "amount"]]).lazy()
    rfm = cp.rfm_summary(
        lazy_log, "customer_id", "date", "amount", observation_end="1998-06-30", time_unit="W"
    )
    assert isinstance(rfm, pl.LazyFrame)
    settings = dict(
        calibration_end="1997-09-30", observation_end="1998-06-30", margin=0.3, lifetime_years=1.5
    )
    args = (cdnow_tx, "customer_id", "date", "amount")
    report = build_report(
        tmp_path / "lazy.html", *args, **settings, calibration=cdnow_cal_holdout, rfm=rfm
    ).read_text()
    expected, got = _value_tables(report_html), _value_tables(report)
    # Tiers, RFM segments, customers at risk and top customers: headings and tables.
    assert len(got) == 8 and got == expected
    # The total's interval: the histories grouped by the engine, the same draws.
    interval = re.search(r"90% interval [0-9,]+ to [0-9,]+", report_html).group(0)
    assert interval in report
    # 2,357 customers: every one of them in the scatter plot, as from pandas.
    assert "<figcaption>Predictive vs simple CLV (all 2,357 customers). Points" in report
    best = re.search(r"most valuable customer \(\w+\)", report_html).group(0)
    assert best in report
    weekly = cp.rfm_summary(
        lazy_log, "customer_id", "date", "amount", observation_end="1998-06-30", time_unit="D"
    )
    with pytest.raises(cp.ClvDataError, match="in time unit 'D', the report uses 'W'"):
        build_report(tmp_path / "bad.html", *args, **settings, rfm=weekly)


def test_the_total_interval_and_rfm_segments_are_the_librarys(report_html, cdnow_tx):
    """The first screen's interval is total_clv_interval's with the report's seed (0), and the
    RFM table is rfm_segment_table's, with headers in words and units."""
    from clvpredict.jobs.render import _table_html, column_labels

    args = (cdnow_tx, "customer_id", "date", "amount")
    rfm = cp.rfm_summary(*args, observation_end="1998-06-30", time_unit="W")
    bg, gg = cp.BetaGeoModel().fit(rfm), cp.GammaGammaModel().fit(rfm)
    interval = cp.total_clv_interval(bg, gg, rfm, margin=0.3, random_state=0)
    assert not interval.sampled and interval.n_draws == 200
    assert (
        f"{interval.total:,.0f}, 90% interval {interval.lower:,.0f} to {interval.upper:,.0f}"
        in report_html
    )
    assert "draws of the parameters of both models" in report_html
    table = cp.clv_table(bg, gg, rfm, lifetime_years=1.5, margin=0.3)
    by_segment = cp.rfm_segment_table(table, cp.rfm_segments(rfm))
    assert by_segment["n_customers"].sum() == 2357
    labels = column_labels(None, 12, "W", 1.5)
    assert _table_html(by_segment, 2, labels=labels) in report_html
    # Segments of one-time buyers all "alive" under the BG/NBD: said to be the model, not a bug.
    assert (by_segment["mean_p_alive"] > 0.99).any()
    assert "the BG/NBD lets a customer leave only just after a purchase" in report_html
    for header in (
        "Predictive CLV, next 12 months (currency units)",
        "Expected purchases, next 12 months",
        "Since last purchase (weeks)",
        "P(alive) (probability)",
        "Share of customers",
    ):
        assert f"<th>{header}</th>" in report_html, header
    assert "<th>predictive_clv</th>" not in report_html

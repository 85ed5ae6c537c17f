"""The currency of the amounts: named on money columns and axes, in Python, the CLI and config.

A currency is a label: it changes no number. These tests check where it is shown and that a
value that cannot be a currency label is refused with the setting named.
"""

from __future__ import annotations

import json
import re

import numpy as np
import pytest
from clvpredict.cli import main
from clvpredict.report import build_report

import clvpredict as cp
from clvpredict import ClvDataError


@pytest.fixture(scope="module")
def weekly():
    return cp.rfm_summary(cp.datasets.load_cdnow(), "customer_id", "date", "amount", time_unit="W")


@pytest.fixture(scope="module")
def models(weekly):
    return cp.BetaGeoModel().fit(weekly), cp.GammaGammaModel().fit(weekly)


def test_clv_table_records_the_currency_and_changes_no_number(models, weekly):
    bg, gg = models
    plain = cp.clv_table(bg, gg, weekly, lifetime_years=1.5)
    labelled = cp.clv_table(bg, gg, weekly, lifetime_years=1.5, currency=" EUR ")
    assert labelled.attrs["currency"] == "EUR" and plain.attrs["currency"] is None
    np.testing.assert_array_equal(labelled.to_numpy(), plain.to_numpy())
    for bad in (3, "", "   ", "a very long currency name", "US\nD"):
        with pytest.raises(ClvDataError, match=r"currency=.*short label"):
            cp.clv_table(bg, gg, weekly, lifetime_years=1.5, currency=bad)


def test_money_axes_name_the_currency(models, weekly):
    bg, gg = models
    table = cp.clv_table(bg, gg, weekly, lifetime_years=1.5, currency="USD")
    with cp.plotting.standalone_figures():
        ax = cp.plotting.plot_clv_comparison(table)
        assert "(USD;" in ax.get_xlabel() and "(USD;" in ax.get_ylabel()
        spend = cp.plotting.plot_spend_distribution(gg, weekly, currency="$")
        assert "($;" in spend.get_xlabel() and "per $" in spend.get_ylabel()
        unnamed = cp.plotting.plot_clv_comparison(table.assign(), currency=None)
        # attrs travel with assign: still USD; a table without one says "currency units".
        assert "USD" in unnamed.get_xlabel()
        table.attrs["currency"] = None
        assert "currency units" in cp.plotting.plot_clv_comparison(table).get_xlabel()


def test_the_report_names_the_currency_on_every_money_column(tmp_path):
    path = build_report(
        tmp_path / "report.html",
        cp.datasets.load_cdnow(),
        "customer_id",
        "date",
        "amount",
        calibration_end="1997-09-30",
        observation_end="1998-06-30",
        margin=0.3,
        lifetime_years=1.5,
        currency="EUR",
    )
    html = path.read_text()
    assert "Money in EUR." in html
    headers = re.findall(r"<th>([^<]*)</th>", html)
    # The value tables' headers in words, each with the currency.
    for column, words in (
        ("total_predictive_clv", "Total predictive CLV (EUR)"),
        ("mean_simple_clv", "Mean simple CLV (EUR)"),
        ("predictive_clv", "Predictive CLV, next 12 months (EUR)"),
        ("simple_clv", "Simple CLV, 1.50-year lifetime (EUR)"),
        ("expected_avg_value", "Expected spend per purchase (EUR)"),
        ("monetary_value", "Mean repeat purchase (EUR)"),
    ):
        assert words in headers, column
        assert column not in headers, column  # never without its currency
    # The spend check's money, and every holdout table's header in words (no snake_case).
    assert "Mean forecast spend per purchase (EUR)" in headers
    assert "Mean absolute error (money per purchase, EUR)" in headers
    assert "Mean absolute error (purchases per customer)" in headers
    assert "Actual repeat purchases in the 39 weeks" in headers
    assert "Recency in calibration (weeks)" in headers
    # (The customer id column keeps the log's own name.)
    snake = [h for h in headers if re.fullmatch(r"[a-z]+(_[a-z]+)+", h) and h != "customer_id"]
    assert not snake, snake


def test_the_command_line_takes_currency_from_flags_and_config(tmp_path, capsys):
    log = tmp_path / "tx.csv"
    cp.datasets.load_cdnow().to_csv(log, index=False)
    args = ["fit", "--transactions", str(log), "--lifetime-years", "1.5"]
    assert main([*args, "--currency", "GBP", "--out", str(tmp_path / "a")]) == 0
    bundle = cp.load_model(tmp_path / "a" / "model.json")
    assert bundle.settings["currency"] == "GBP"
    assert (
        bundle.score(
            cp.rfm_summary(cp.datasets.load_cdnow(), "customer_id", "date", "amount", time_unit="W")
        ).attrs["currency"]
        == "GBP"
    )
    config = tmp_path / "c.toml"
    config.write_text("currency = 978\n")
    assert main([*args, "--config", str(config), "--out", str(tmp_path / "b")]) == 2
    err = capsys.readouterr().err
    assert "currency" in err and "978" in err and '"USD"' in err
    document = json.loads((tmp_path / "a" / "model.json").read_text())
    assert document["settings"]["currency"] == "GBP"


def test_the_demo_report_is_in_us_dollars(tmp_path, capsys):
    assert main(["demo", "--out", str(tmp_path)]) == 0
    html = (tmp_path / "report.html").read_text()
    assert "Money in USD." in html and "Predictive CLV, next 12 months (USD)" in html

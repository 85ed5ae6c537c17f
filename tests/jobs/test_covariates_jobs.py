"""Customer covariates in the jobs: `fit`, `refresh`, `score` and `report` with --covariates.

The shipped simulated data set with covariates (5,000 customers, 78 weeks) is written as CSV
files, as a nightly job finds them. A refresh with covariates must publish the model that the
Python API fits on the same data, `score` must reproduce the refresh's predictions, the report
must show the value by covariate as computed here independently, the `report` command must show
what the refresh's report shows, and every bad covariate input must stop the job with exit code
2 and a message naming the offending value.
"""

from __future__ import annotations

import json
import logging
import re
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pandas as pd
import polars as pl
import pytest

import clvpredict as cp
from clvpredict.data import datasets
from clvpredict.jobs.cli import main
from clvpredict.jobs.report import build_report
from clvpredict.jobs.values import COVARIATE_BINS, _quantile_bins, covariate_values

BAD_INPUT = 2
GATE_FAILED = 4
HORIZON_MONTHS, DISCOUNT, MARGIN = 12, 0.10, 0.3
SETTINGS = [
    "--time-unit",
    "W",
    "--lifetime-years",
    "2",
    "--margin",
    str(MARGIN),
    "--currency",
    "USD",
]
#: channel in both processes (a coefficient each), loyalty in the purchase process only.
COVARIATES = [
    "--covariate-cols",
    "channel",
    "--purchase-covariates",
    "loyalty",
    "--reference-level",
    "channel=store",
]


@pytest.fixture(scope="module")
def files(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("covariate-data")
    tx = datasets.load_covariates_transactions()
    tx.assign(date=tx["date"].dt.strftime("%Y-%m-%d")).to_csv(root / "tx.csv", index=False)
    customers = datasets.load_covariates_customers().reset_index()
    customers.to_csv(root / "customers.csv", index=False)
    return {"root": root, "tx": root / "tx.csv", "customers": root / "customers.csv"}


def run(*args: object) -> int:
    return main([str(a) for a in args])


@pytest.fixture(scope="module")
def refreshed(files, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("refresh")
    code = run(
        "refresh",
        "--transactions",
        files["tx"],
        "--covariates",
        files["customers"],
        *COVARIATES,
        *SETTINGS,
        "--out",
        out,
    )
    assert code == 0
    return out


@pytest.fixture(scope="module")
def direct() -> dict:
    """The same fit in Python on the shipped data, without the command line."""
    tx = datasets.load_covariates_transactions()
    # The file the jobs read holds the channel as text, whose levels come in text order; the
    # data set's category declares another order (store, web, partner).
    customers = datasets.load_covariates_customers().astype({"channel": str})
    summary = cp.rfm_summary(tx, "customer_id", "date", "amount", time_unit="W")
    summary = cp.attach_covariates(summary, customers)
    model = cp.BetaGeoModel(
        purchase_covariates=["channel", "loyalty"],
        dropout_covariates=["channel"],
        reference_levels={"channel": "store"},
    ).fit(summary)
    spend = cp.GammaGammaModel().fit(summary)
    table = cp.clv_table(
        model,
        spend,
        summary,
        lifetime_years=2,
        horizon_months=HORIZON_MONTHS,
        annual_discount_rate=DISCOUNT,
        margin=MARGIN,
    )
    return {
        "model": model,
        "spend": spend,
        "summary": summary,
        "customers": customers,
        "table": table,
    }


def predictions(path: Path) -> pd.DataFrame:
    return pd.read_csv(path, dtype={"customer_id": str}).set_index("customer_id")


def test_refresh_publishes_the_python_fit(refreshed, direct):
    bundle = cp.load_model(refreshed / "model.json")
    got, expected = bundle.purchase_model.params_, direct["model"].params_
    assert list(got.index) == list(expected.index)
    assert "dropout.channel[web]" in got.index and "dropout.loyalty" not in got.index
    np.testing.assert_allclose(got.to_numpy(), expected.to_numpy(), rtol=1e-10, atol=0)
    np.testing.assert_allclose(
        bundle.spend_model.params_.to_numpy(), direct["spend"].params_.to_numpy(), rtol=1e-10
    )
    design = bundle.purchase_model.covariate_design_
    assert design.column("channel").reference == "store"
    assert bundle.settings["covariate_columns"] == ["channel", "loyalty"]
    metrics = json.loads((refreshed / "metrics.json").read_text())
    assert metrics["models"]["purchase"]["params"]["purchase.loyalty"] == pytest.approx(
        expected["purchase.loyalty"], rel=1e-10
    )


def test_refresh_predictions_are_the_python_clv_table(refreshed, direct):
    table = direct["table"]
    got = predictions(refreshed / "predictions.csv").loc[table.index]
    for column in ("p_alive", "expected_purchases", "predictive_clv"):
        np.testing.assert_allclose(got[column], table[column], rtol=1e-9)


def test_score_with_covariates_reproduces_the_refresh(refreshed, files, tmp_path):
    code = run(
        "score",
        "--model",
        refreshed / "model.json",
        "--transactions",
        files["tx"],
        "--covariates",
        files["customers"],
        "--out",
        tmp_path,
    )
    assert code == 0
    scored = predictions(tmp_path / "predictions.csv")
    published = predictions(refreshed / "predictions.csv")
    pd.testing.assert_frame_equal(scored, published, rtol=1e-12)


# --------------------------------------------------------------------------------------------
# The report's value by covariate
# --------------------------------------------------------------------------------------------


class _Tables(HTMLParser):
    """The text of the report: headings, and the tables' rows as lists of cell texts."""

    def __init__(self) -> None:
        super().__init__()
        self.items: list[tuple[str, object]] = []
        self._cell: list[str] | None = None
        self._row: list[str] | None = None
        self._rows: list[list[str]] | None = None
        self._heading: str | None = None

    def handle_starttag(self, tag, attrs):
        if tag == "table":
            self._rows = []
        elif tag == "tr" and self._rows is not None:
            self._row = []
        elif tag in ("td", "th") and self._row is not None:
            self._cell = []
        elif tag in ("h2", "h3", "h4"):
            self._heading = ""

    def handle_endtag(self, tag):
        if tag in ("td", "th") and self._cell is not None:
            self._row.append("".join(self._cell).strip())
            self._cell = None
        elif tag == "tr" and self._row is not None:
            self._rows.append(self._row)
            self._row = None
        elif tag == "table" and self._rows is not None:
            self.items.append(("table", self._rows))
            self._rows = None
        elif tag in ("h2", "h3", "h4") and self._heading is not None:
            self.items.append(("heading", self._heading.strip()))
            self._heading = None

    def handle_data(self, data):
        if self._cell is not None:
            self._cell.append(data)
        elif self._heading is not None:
            self._heading += data


def covariate_table(report: str, column: str) -> dict[str, dict[str, str]]:
    """The value-by-covariate table of ``column``: {level: {header: cell}}."""
    parser = _Tables()
    parser.feed(report)
    items = parser.items
    start = items.index(("heading", "Value by covariate"))
    at = items.index(("heading", column), start)
    _, rows = next(item for item in items[at + 1 :] if item[0] == "table")
    header = rows[0]
    return {row[0]: dict(zip(header[1:], row[1:], strict=True)) for row in rows[1:]}


def money(value: float) -> str:
    return f"{value:,.2f}"


def new_customer_clv(model, spend, profile: dict) -> tuple[float, float]:
    """Repeat purchases and CLV of a new customer over the horizon, discounted month by month
    at the months' ends (written here from the definition, not with the package's helpers)."""
    weeks = np.arange(1, HORIZON_MONTHS + 1) * 365.2425 / 12 / 7
    cumulative = np.asarray(
        model.profile_model(profile).expected_purchases_new_customer(weeks), dtype=float
    )
    monthly = np.diff(np.concatenate([[0.0], cumulative]))
    factors = (1 + DISCOUNT) ** (-np.arange(1, HORIZON_MONTHS + 1) / 12)
    p, q, gamma = spend.params_[["p", "q", "gamma"]]
    return cumulative[-1], MARGIN * p * gamma / (q - 1) * float(factors @ monthly)


def typical_new_customer(model, spend, customers: pd.DataFrame) -> tuple[float, float]:
    """The mean, over ``customers`` (one row each, with the model's covariate columns), of the
    repeat purchases and CLV of a new customer with each one's covariates: a plain loop over
    the customers, each profile worked out once."""
    columns = list(model.covariate_design_.columns)
    seen: dict[tuple, tuple[float, float]] = {}
    values = []
    for row in customers[columns].itertuples(index=False):
        profile = dict(zip(columns, row, strict=True))
        key = tuple(str(v) for v in row)
        if key not in seen:
            seen[key] = new_customer_clv(model, spend, profile)
        values.append(seen[key])
    purchases, clv = np.mean(values, axis=0)
    return float(purchases), float(clv)


def test_report_shows_the_value_by_covariate(refreshed, direct):
    report = (refreshed / "report.html").read_text()
    table = covariate_table(report, "channel")
    assert list(table) == ["partner", "store (reference)", "web"]
    published = predictions(refreshed / "predictions.csv")
    customers = direct["customers"].assign(channel=direct["customers"]["channel"].astype(str))
    by_channel = published.join(customers["channel"]).groupby("channel")
    for level, label in (("web", "web"), ("store", "store (reference)"), ("partner", "partner")):
        row = {k.split(" (")[0]: v for k, v in table[label].items()}
        group = by_channel.get_group(level)
        assert row["Customers"] == f"{len(group):,}"
        assert row["Mean predictive CLV"] == money(group["predictive_clv"].mean())
        assert row["Total predictive CLV"] == money(group["predictive_clv"].sum())
        assert row["Mean P(alive)"] == f"{group['p_alive'].mean():.3f}"
        assert row["Mean expected purchases, next 12 months"] == (
            f"{group['expected_purchases'].mean():.3f}"
        )
        # The level's typical new customer: its customers valued as new ones, with their own
        # loyalty (not the mean loyalty of all customers, a customer who does not exist).
        purchases, clv = typical_new_customer(
            direct["model"], direct["spend"], customers[customers["channel"] == level]
        )
        assert row["Typical new customer: expected repeat purchases, first 12 months"] == (
            f"{purchases:.3f}"
        )
        assert row["Typical new customer: CLV of the first 12 months"] == money(clv)
    # loyalty is a 0/1 number: one row per value; members from every channel.
    loyalty = covariate_table(report, "loyalty")
    assert list(loyalty) == ["0", "1"]
    members = customers[customers["loyalty"] == 1]
    assert members["channel"].nunique() == 3
    _, clv = typical_new_customer(direct["model"], direct["spend"], members)
    assert {k.split(" (")[0]: v for k, v in loyalty["1"].items()}[
        "Typical new customer: CLV of the first 12 months"
    ] == money(clv)
    text = re.sub(r"\s+", " ", report)
    assert "its mean" not in text
    assert "each customer of the level is valued as if acquired today" in text
    # The heatmaps' one customer: the reference channel and the median loyalty, 0.
    assert "For a customer with channel = store, loyalty = 0 (the model has covariates" in text

    test = direct["model"].likelihood_ratio_test()
    assert (
        f"statistic {test['statistic']:.2f} on {test['df']:.0f} degrees of freedom, p-value "
        f"{test['p_value']:.3g}"
    ) in text
    assert "purchase rate x 1.22" in text  # the coefficients' plain-words note
    coefficients = direct["model"].summary()
    factor = np.exp(coefficients.loc["purchase.channel[web]", "estimate"])
    assert re.search(r"purchase\.channel\[web\]</th>\s*<td>[-0-9.]+</td>", report)
    assert f"<td>{factor:.3f}</td>" in report
    # The first screen is the one of a model without covariates.
    assert report.index("At a glance") < report.index("Value by covariate")


@pytest.fixture(scope="module")
def with_age(direct) -> dict:
    """A BG/NBD with a continuous covariate (age, binned in the tables) on the first 300
    customers, and its CLV table."""
    summary = direct["summary"].iloc[:300]
    model = cp.BetaGeoModel(purchase_covariates=["channel", "age_decades"]).fit(summary)
    table = cp.clv_table(
        model,
        direct["spend"],
        summary,
        lifetime_years=2,
        horizon_months=HORIZON_MONTHS,
        annual_discount_rate=DISCOUNT,
        margin=MARGIN,
    )
    return {"model": model, "summary": summary, "table": table}


def values_of(case: dict, spend) -> object:
    return covariate_values(
        case["model"],
        spend,
        case["table"],
        case["summary"],
        horizon_months=HORIZON_MONTHS,
        annual_discount_rate=DISCOUNT,
        margin=MARGIN,
    )


def test_a_bins_typical_new_customer_has_its_customers_ages(with_age, direct):
    """Each quintile of age: the mean over its customers of a new customer with their own age
    and channel; the heatmaps' customer has the median age, an age some customer has."""
    got = values_of(with_age, direct["spend"])
    summary = with_age["summary"]
    bins = pd.qcut(summary["age_decades"], 5)
    assert list(got.tables["age_decades"].index) == [
        f"Q{k + 1}: {b.left:.4g} to {b.right:.4g}" for k, b in enumerate(bins.cat.categories)
    ]
    for k, (_, members) in enumerate(summary.groupby(bins, observed=True)):
        purchases, clv = typical_new_customer(with_age["model"], direct["spend"], members)
        row = got.tables["age_decades"].iloc[k]
        assert row["n_customers"] == len(members)
        assert row["new_customer_purchases"] == pytest.approx(purchases, rel=1e-9)
        assert row["new_customer_clv"] == pytest.approx(clv, rel=1e-9)
    assert got.baseline["age_decades"] in set(summary["age_decades"])
    assert got.baseline["age_decades"] == sorted(summary["age_decades"])[149]
    assert "sample" not in got.notes["channel"]


def test_many_profiles_value_an_evenly_spread_sample(with_age, direct, monkeypatch):
    """Beyond NEW_CUSTOMER_PROFILES distinct profiles, a row's typical new customer averages
    NEW_CUSTOMER_SAMPLE of its customers at evenly spaced positions, and the note says so."""
    from clvpredict.jobs import values

    monkeypatch.setattr(values, "NEW_CUSTOMER_PROFILES", 20)
    monkeypatch.setattr(values, "NEW_CUSTOMER_SAMPLE", 7)
    got = values_of(with_age, direct["spend"])
    summary = with_age["summary"]
    distinct = len(summary[["channel", "age_decades"]].drop_duplicates())
    assert distinct > 20
    assert f"{distinct:,} distinct covariate profiles" in got.notes["channel"]
    channel = summary["channel"].astype(str)
    for level in ("partner", "store", "web"):
        members = summary[channel == level]
        picked = members.iloc[np.round(np.linspace(0, len(members) - 1, 7)).astype(int)]
        purchases, clv = typical_new_customer(with_age["model"], direct["spend"], picked)
        label = level + (" (reference)" if level == "store" else "")
        row = got.tables["channel"].loc[label]
        assert row["n_customers"] == len(members) > 7
        assert row["new_customer_purchases"] == pytest.approx(purchases, rel=1e-9)
        assert row["new_customer_clv"] == pytest.approx(clv, rel=1e-9)


# --------------------------------------------------------------------------------------------
# The report command with covariates
# --------------------------------------------------------------------------------------------


def value_by_covariate(report: str) -> str:
    """The section "Value by covariate" of a report (up to the at-risk list that follows it),
    its white space made single."""
    start = report.index("<h3>Value by covariate</h3>")
    return re.sub(r"\s+", " ", report[start : report.index("<h3>At-risk", start)])


@pytest.fixture(scope="module")
def reported(files, refreshed, tmp_path_factory) -> dict:
    """`clvpredict report` with the refresh's covariate settings (the file and `channel` from a
    config file's [covariates] table, the rest as flags) and its calibration end: the report,
    and the value-by-covariate numbers it rendered, recorded on their way to the page."""
    from clvpredict.jobs import render

    published = (refreshed / "report.html").read_text()
    calibration_end = re.search(r"calibration to (\d{4}-\d\d-\d\d)", published).group(1)
    out = tmp_path_factory.mktemp("report")
    config = out / "report.toml"
    config.write_text(
        f'[covariates]\nfile = "{files["customers"].as_posix()}"\ncolumns = ["channel"]\n',
        encoding="utf-8",
    )
    computed = []

    def recorded(*args, **kwargs):
        computed.append(covariate_values(*args, **kwargs))
        return computed[-1]

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(render, "covariate_values", recorded)
        code = run(
            "report",
            "--config",
            config,
            "--transactions",
            files["tx"],
            *COVARIATES[2:],  # --purchase-covariates loyalty --reference-level channel=store
            *SETTINGS,
            "--calibration-end",
            calibration_end,
            "--out",
            out,
        )
    assert code == 0 and len(computed) == 1
    return {"report": (out / "report.html").read_text(), "values": computed[0]}


def test_the_report_command_shows_the_refreshs_value_by_covariate(reported, refreshed):
    section = value_by_covariate(reported["report"])
    assert section == value_by_covariate((refreshed / "report.html").read_text())
    assert "statistic " in section and "<th>purchase.loyalty</th>" in section


def test_the_report_commands_value_by_covariate_is_the_python_fits(reported, direct):
    """The numbers the report command rendered are covariate_values of the model fitted in
    Python on the same data: the two fits' estimates agree to about 1e-13 and the tables to
    4e-15; the standard errors, from a finite-difference Hessian, to 4e-10."""
    table = direct["table"]
    expected = covariate_values(
        direct["model"],
        direct["spend"],
        table,
        direct["summary"],
        horizon_months=HORIZON_MONTHS,
        annual_discount_rate=DISCOUNT,
        margin=MARGIN,
    )
    got = reported["values"]
    assert list(got.tables) == ["channel", "loyalty"]
    for name, frame in expected.tables.items():
        pd.testing.assert_frame_equal(got.tables[name], frame, rtol=1e-12, atol=0)
    assert got.baseline == expected.baseline == {"channel": "store", "loyalty": 0.0}
    # Two maximisations (the CSV read by polars, the data set in pandas) reach log-likelihoods
    # of -25,000 equal to a few units of their last place (1.5e-11 apart with the lowest declared
    # numpy and scipy); the statistic, their difference, is exact to that absolute error, and
    # the p-value to about half of it relative (d log p / d statistic is near -1/2 here).
    lr, want = got.likelihood_ratio, expected.likelihood_ratio
    assert lr["df"] == want["df"] == 5.0
    for key in ("statistic", "log_likelihood", "null_log_likelihood"):
        assert lr[key] == pytest.approx(want[key], rel=0, abs=1e-10)
    assert lr["p_value"] == pytest.approx(want["p_value"], rel=1e-10)
    pd.testing.assert_frame_equal(got.coefficients, expected.coefficients, rtol=1e-8, atol=0)

    # The coefficient table of the page shows those values, row by row.
    parser = _Tables()
    parser.feed(reported["report"])
    rows = next(
        rows
        for kind, rows in parser.items
        if kind == "table" and rows[0][:2] == ["Coefficient", "Estimate"]
    )
    shown = {row[0]: dict(zip(rows[0][1:], row[1:], strict=True)) for row in rows[1:]}
    coefficients = direct["model"].summary()
    names = [n for n in direct["model"].params_.index if "." in n]
    assert list(shown) == names
    for name in names:
        estimate = coefficients.loc[name, "estimate"]
        assert shown[name]["Estimate"] == f"{estimate:.3f}"
        assert shown[name]["Standard error"] == f"{coefficients.loc[name, 'std_error']:.3f}"
        assert shown[name]["Multiplies by e^coef"] == f"{np.exp(estimate):.3f}"


def test_build_report_with_a_fitted_covariate_model_checks_it_with_its_covariates(
    reported, direct, tmp_path
):
    """Given the Python fit (and no covariate options), the report's holdout checks fit the
    calibration period with that model's covariates: the page is the report command's, whose
    options say the same, but for the time it was generated."""
    published = reported["report"]
    calibration_end = re.search(r"calibration to (\d{4}-\d\d-\d\d)", published).group(1)
    path = build_report(
        tmp_path / "report.html",
        datasets.load_covariates_transactions(),
        "customer_id",
        "date",
        "amount",
        calibration_end=calibration_end,
        time_unit="W",
        lifetime_years=2.0,
        margin=MARGIN,
        currency="USD",
        purchase_model=direct["model"],
        covariate_table=direct["customers"],
    )

    def timeless(page: str) -> str:
        # Also without the spend fit's count of distinct rows: the command line summarises the
        # CSV with polars, whose sums of spend can differ from pandas' in the last bit, so two
        # customers with equal average spend may count as one row or two (1,196 or 1,197).
        page = re.sub(r"Generated [^<]*", "", page)
        return re.sub(r"\([\d,]+ distinct", "", page)

    assert timeless(path.read_text()) == timeless(published)


def test_the_report_command_refuses_missing_customers_as_refresh_does(files, tmp_path, capsys):
    """A customer missing from the covariates file stops `report` before any fit, with the
    message of `refresh`, which names every missing customer: here one who bought in the
    calibration period and one whose first purchase is in the holdout."""
    tx = pd.read_csv(files["tx"], dtype={"customer_id": str})
    first = tx.groupby("customer_id")["date"].min()
    calibration_end = "2024-12-28"
    missing = [first[first <= calibration_end].index[0], first[first > calibration_end].index[0]]
    customers = pd.read_csv(files["customers"], dtype={"customer_id": str})
    short = tmp_path / "customers.csv"
    customers[~customers["customer_id"].isin(missing)].to_csv(short, index=False)
    common = ["--transactions", files["tx"], "--covariates", short, *COVARIATES, *SETTINGS]
    messages = {}
    for command in (["refresh"], ["report", "--calibration-end", calibration_end]):
        err = refused(capsys, *command, *common, "--out", tmp_path / command[0])
        messages[command[0]] = err.split("bad input: ", 1)[1]
        assert not (tmp_path / command[0] / "report.html").exists()
    assert messages["report"] == messages["refresh"]
    assert "2 customer(s) of the summary are not in the covariates table" in messages["report"]
    assert all(customer in messages["report"] for customer in missing)


@pytest.fixture(scope="module")
def three_kinds(with_age, direct) -> dict:
    """A BG/NBD whose covariates are of the three kinds the value tables treat apart: a
    category (channel), a number of few values (loyalty, 0/1) and one of many (age), on the
    first 300 customers."""
    summary = with_age["summary"]
    model = cp.BetaGeoModel(purchase_covariates=["channel", "loyalty", "age_decades"])
    model.fit(summary)
    table = cp.clv_table(model, direct["spend"], summary, lifetime_years=2)
    return {"model": model, "summary": summary, "table": table}


@pytest.mark.parametrize("sampled", [False, True], ids=["every profile", "sampled"])
def test_value_by_covariate_of_an_engine_table_is_the_pandas_one(
    three_kinds, direct, sampled, monkeypatch
):
    """The value tables of a CLV table and summary held by an engine (lazy polars here; Spark
    in tests/jobs/test_cli_spark_covariates.py) are computed by the engine: the same rows,
    bins (from exact rank queries), counts, baseline and typical new customers as from pandas,
    means and sums to rounding; with the new customers sampled, the same customers (by their
    position in id order, the summary's order)."""
    from clvpredict.jobs import values

    if sampled:
        monkeypatch.setattr(values, "NEW_CUSTOMER_PROFILES", 20)
        monkeypatch.setattr(values, "NEW_CUSTOMER_SAMPLE", 7)
    case = three_kinds
    assert case["summary"].index.is_monotonic_increasing
    expected = values_of(case, direct["spend"])
    got = covariate_values(
        case["model"],
        direct["spend"],
        pl.from_pandas(case["table"].reset_index()).lazy(),
        pl.from_pandas(case["summary"].reset_index()).lazy(),
        customer_id_col="customer_id",
        horizon_months=HORIZON_MONTHS,
        annual_discount_rate=DISCOUNT,
        margin=MARGIN,
    )
    assert list(got.tables) == ["channel", "loyalty", "age_decades"]
    assert got.notes == expected.notes and got.baseline == expected.baseline
    assert "5 quantile bins" in got.notes["age_decades"]
    assert ("distinct covariate profiles" in got.notes["channel"]) == sampled
    for name, want in expected.tables.items():
        have = got.tables[name]
        assert have.index.tolist() == want.index.tolist(), name
        assert have["n_customers"].tolist() == want["n_customers"].tolist(), name
        assert have["n_customers"].sum() == len(case["summary"])
        pd.testing.assert_frame_equal(have, want, check_exact=False, rtol=1e-12, atol=0)


def test_the_bins_are_numpys_quantiles_and_pandas_qcut_ones():
    """The edges of a numeric covariate's bins, from the order statistics alone, are
    numpy's linear quantiles of the values at qcut's levels, and (pandas 3) pd.qcut's edges,
    for values with and without ties."""
    rng = np.random.default_rng(5)
    levels = np.linspace(0.0, 1.0, COVARIATE_BINS + 1)
    rounded_up = COVARIATE_BINS * levels != np.arange(COVARIATE_BINS + 1)
    levels[rounded_up] = np.nextafter(levels[rounded_up], 1.0)
    for n, values in [
        (7, np.arange(7.0) ** 2),
        (1001, rng.normal(size=1001)),
        (998, np.round(rng.normal(size=998), 1)),
        (60, rng.integers(0, 9, 60).astype(float)),
    ]:
        ordered = np.sort(values)
        bins = _quantile_bins(n, lambda positions, ordered=ordered: ordered[positions])
        np.testing.assert_array_equal(bins, np.unique(np.quantile(values, levels)))
        if int(pd.__version__.split(".")[0]) >= 3:
            # pandas 2 hands numpy q x 100 and does not round the levels up: its edges may
            # differ in the last bit.
            np.testing.assert_array_equal(
                bins, pd.qcut(values, COVARIATE_BINS, retbins=True, duplicates="drop")[1]
            )


# --------------------------------------------------------------------------------------------
# Refusals: exit code 2, one line naming the offending value
# --------------------------------------------------------------------------------------------


def refused(capsys, *args: object) -> str:
    assert run(*args) == BAD_INPUT
    err = capsys.readouterr().err
    assert "bad input" in err
    return err


def test_a_column_not_in_the_file_is_named(files, tmp_path, capsys):
    err = refused(
        capsys,
        "fit",
        "--transactions",
        files["tx"],
        "--covariates",
        files["customers"],
        "--covariate-cols",
        "chanel",
        "--out",
        tmp_path,
    )
    assert "'chanel'" in err and "covariate_cols" in err and "'channel'" in err
    assert not (tmp_path / "model.json").exists()


def test_a_file_without_the_id_column_is_refused(files, tmp_path, capsys):
    customers = pd.read_csv(files["customers"], dtype={"customer_id": str})
    renamed = tmp_path / "customers.csv"
    customers.rename(columns={"customer_id": "client"}).to_csv(renamed, index=False)
    common = ["--transactions", files["tx"], "--covariate-cols", "channel", "--out", tmp_path]
    err = refused(capsys, "fit", "--covariates", renamed, *common)
    assert "no customer id column 'customer_id'" in err and "--covariate-id-col" in err
    err = refused(
        capsys, "fit", "--covariates", files["customers"], "--covariate-id-col", "cid", *common
    )
    assert "'cid'" in err


def test_customers_missing_from_the_file_are_named(files, tmp_path, capsys):
    customers = pd.read_csv(files["customers"], dtype={"customer_id": str})
    short = tmp_path / "customers.csv"
    customers[customers["customer_id"] != "C00007"].to_csv(short, index=False)
    err = refused(
        capsys,
        "fit",
        "--transactions",
        files["tx"],
        "--covariates",
        short,
        "--covariate-cols",
        "channel",
        "--out",
        tmp_path,
    )
    assert "C00007" in err and "not in the covariates table" in err


def test_covariates_with_the_bgbb_are_refused(files, tmp_path, capsys):
    err = refused(
        capsys,
        "fit",
        "--transactions",
        files["tx"],
        "--purchase-model",
        "bgbb",
        "--time-unit",
        "M",
        "--covariates",
        files["customers"],
        "--covariate-cols",
        "channel",
        "--out",
        tmp_path,
    )
    assert "bgbb" in err and "BG/BB" in err and "takes no covariates" in err


def test_column_settings_need_the_file_and_the_file_needs_columns(files, tmp_path, capsys):
    err = refused(
        capsys,
        "fit",
        "--transactions",
        files["tx"],
        "--covariate-cols",
        "channel",
        "--out",
        tmp_path,
    )
    assert "--covariate-cols channel" in err and "no covariates file" in err
    err = refused(
        capsys,
        "fit",
        "--transactions",
        files["tx"],
        "--covariates",
        files["customers"],
        "--out",
        tmp_path,
    )
    assert "no covariate column is named" in err


def test_a_bad_reference_level_is_named(files, tmp_path, capsys):
    common = ["--transactions", files["tx"], "--covariates", files["customers"], "--out", tmp_path]
    err = refused(
        capsys, "fit", *common, "--covariate-cols", "channel", "--reference-level", "channel=shop"
    )
    assert "'shop'" in err and "'store'" in err
    err = refused(
        capsys, "fit", *common, "--covariate-cols", "channel", "--reference-level", "store"
    )
    assert "--reference-level" in err and "COLUMN=LEVEL" in err
    err = refused(
        capsys, "fit", *common, "--covariate-cols", "channel", "--reference-level", "region=north"
    )
    assert "['region']" in err


def test_score_of_a_covariate_model_needs_the_covariates(refreshed, files, tmp_path, capsys):
    common = ["score", "--model", refreshed / "model.json", "--transactions", files["tx"]]
    err = refused(capsys, *common, "--out", tmp_path)
    assert "--covariates" in err and "['channel', 'loyalty']" in err
    customers = pd.read_csv(files["customers"], dtype={"customer_id": str})
    without = tmp_path / "customers.csv"
    customers.drop(columns=["loyalty"]).to_csv(without, index=False)
    err = refused(capsys, *common, "--covariates", without, "--out", tmp_path)
    assert "['loyalty']" in err
    # A level the model has not seen.
    other = tmp_path / "other.csv"
    customers.assign(channel=customers["channel"].replace({"web": "app"})).to_csv(
        other, index=False
    )
    err = refused(capsys, *common, "--covariates", other, "--out", tmp_path)
    assert "'app'" in err
    assert not (tmp_path / "predictions.csv").exists()


def test_ids_keep_their_leading_zeros(files, tmp_path):
    """Ids such as "00017" are text in both files: read as numbers they would not match."""
    tx = pd.read_csv(files["tx"], dtype={"customer_id": str})
    customers = pd.read_csv(files["customers"], dtype={"customer_id": str})
    tx["customer_id"] = tx["customer_id"].str.replace("C", "0")
    customers["customer_id"] = customers["customer_id"].str.replace("C", "0")
    tx.to_csv(tmp_path / "tx.csv", index=False)
    customers.to_csv(tmp_path / "customers.csv", index=False)
    args = ["--transactions", tmp_path / "tx.csv", "--covariates", tmp_path / "customers.csv"]
    assert run("fit", *args, "--covariate-cols", "channel", "--out", tmp_path / "m") == 0
    assert run("score", *args, "--model", tmp_path / "m" / "model.json", "--out", tmp_path) == 0
    scored = predictions(tmp_path / "predictions.csv")
    assert scored.index[0] == "000001" and len(scored) == 5000


def test_a_covariates_table_in_the_config_file(files, tmp_path, direct):
    config = tmp_path / "nightly.toml"
    config.write_text(
        'time_unit = "W"\n'
        "[covariates]\n"
        f'file = "{files["customers"].as_posix()}"\n'
        'columns = ["channel"]\n'
        'purchase = ["loyalty"]\n'
        'reference_levels = {channel = "store"}\n',
        encoding="utf-8",
    )
    out = tmp_path / "out"
    assert run("fit", "--config", config, "--transactions", files["tx"], "--out", out) == 0
    model = cp.load_model(out / "model.json").purchase_model
    np.testing.assert_allclose(
        model.params_.to_numpy(), direct["model"].params_.to_numpy(), rtol=1e-10
    )


def test_a_column_both_in_columns_and_in_one_process_is_refused(files, tmp_path, capsys):
    """`columns` of the [covariates] table (--covariate-cols) means both processes: naming a
    column there and in purchase (or dropout) would add the other process's coefficient
    without a word, so it is refused before any work, naming the column and both settings."""
    config = tmp_path / "nightly.toml"
    config.write_text(
        "[covariates]\n"
        f'file = "{files["customers"].as_posix()}"\n'
        'columns = ["channel", "loyalty"]\n'
        'purchase = ["channel", "loyalty"]\n'
        'dropout = ["loyalty"]\n',
        encoding="utf-8",
    )
    out = tmp_path / "out"
    err = refused(capsys, "fit", "--config", config, "--transactions", files["tx"], "--out", out)
    assert '[covariates] columns = ["channel", "loyalty"]' in err
    assert '[covariates] purchase = ["channel", "loyalty"]' in err
    assert "both name ['channel', 'loyalty']" in err
    assert "both the purchase rate and the dropout, one coefficient in each" in err
    assert "would get a dropout coefficient too" in err
    assert not out.exists()
    # The same on the command line, with the dropout process.
    err = refused(
        capsys,
        "fit",
        "--transactions",
        files["tx"],
        "--covariates",
        files["customers"],
        "--covariate-cols",
        "channel",
        "--dropout-covariates",
        "loyalty,channel",
        "--out",
        out,
    )
    assert "--covariate-cols channel (setting covariate_cols)" in err
    assert "--dropout-covariates loyalty,channel (setting dropout_covariates)" in err
    assert "both name ['channel']" in err and "would get a purchase coefficient too" in err


def test_metrics_record_the_covariates(refreshed, direct):
    metrics = json.loads((refreshed / "metrics.json").read_text())
    test = direct["model"].likelihood_ratio_test()
    assert metrics["covariates"]["columns"] == ["channel", "loyalty"]
    recorded = metrics["covariates"]["likelihood_ratio_test"]
    assert recorded["df"] == 5.0
    assert recorded["statistic"] == pytest.approx(test["statistic"], rel=1e-8)


def test_drift_of_a_coefficient_is_the_change_of_its_factor(refreshed, direct, tmp_path):
    """A coefficient takes any sign and may be near 0: its drift is |e^(new - old) - 1|, not
    the relative change of the coefficient. Parameters only one night has cannot be compared:
    they are named and the gate fails, as it does for another purchase model."""
    from clvpredict.jobs.pipeline import Settings, _drift_gate

    settings = Settings(max_param_drift=0.5)
    tonight = cp.load_model(refreshed / "model.json")
    tonight.purchase_model.params_ = tonight.purchase_model.params_.copy()
    tonight.purchase_model.params_["purchase.channel[web]"] += 0.1
    gate = _drift_gate(settings, tonight, refreshed / "model.json")
    assert gate.value == pytest.approx(np.expm1(0.1), rel=1e-12)
    assert "purchase_model.purchase.channel[web]" in gate.detail and gate.passed

    plain = cp.ModelBundle(
        cp.BetaGeoModel().fit(direct["summary"]), direct["spend"], dict(tonight.settings)
    )
    plain.save(tmp_path / "model.json")
    gate = _drift_gate(settings, tonight, tmp_path / "model.json")
    assert "added ['purchase.channel[partner]', 'purchase.channel[web]'" in gate.detail
    assert "not comparable" in gate.detail and "--accept-model-change" in gate.detail
    assert gate.passed is False and gate.value is None
    # A deliberate change (covariates added to the settings) is let through for one run.
    accepted = _drift_gate(Settings(accept_model_change=True), tonight, tmp_path / "model.json")
    assert accepted.passed is None and "accepted" in accepted.detail
    assert "added ['purchase.channel[partner]'" in accepted.detail
    # Comparable models: accepting changes nothing, the limit applies.
    strict = Settings(max_param_drift=0.05, accept_model_change=True)
    assert _drift_gate(strict, tonight, refreshed / "model.json").passed is False

    # Another purchase model: the BG/NBD's a and b are not the MBG/NBD's, whatever the names.
    summary = direct["summary"].iloc[:300]
    other = cp.ModelBundle(
        cp.ModifiedBetaGeoModel(purchase_covariates=["channel", "loyalty"]).fit(summary),
        direct["spend"],
        dict(tonight.settings),
    )
    other.save(tmp_path / "model.json")
    gate = _drift_gate(settings, tonight, tmp_path / "model.json")
    assert gate.passed is False and gate.value is None
    assert "purchase model changed from MBG/NBD" in gate.detail and "BG/NBD" in gate.detail


# --------------------------------------------------------------------------------------------
# A refresh keeps the previous model's reference levels
# --------------------------------------------------------------------------------------------

#: Two nights' customers of the shipped data, by channel: the store is the largest channel on
#: the first night; on the second, new web customers make the web the largest.
FIRST_NIGHT = {"store": 150, "web": 100, "partner": 50}
SECOND_NIGHT_NEW_WEB = 120
NIGHT = [
    "--purchase-covariates",
    "channel",
    "--time-unit",
    "W",
    "--no-report",
    "--holdout-months",  # longer than half the 78 weeks: no holdout check, no calibration fit
    "12",
]


@pytest.fixture(scope="module")
def two_nights(tmp_path_factory) -> dict:
    """Two refreshes into one folder, the second on more customers, most of them from the web
    (no reference level in the settings); each night's files and published model."""
    root = tmp_path_factory.mktemp("two-nights")
    tx = datasets.load_covariates_transactions()
    customers = datasets.load_covariates_customers()
    channel = customers["channel"].astype(str)
    first = [customers.index[channel == c][:n] for c, n in FIRST_NIGHT.items()]
    later = customers.index[channel == "web"][FIRST_NIGHT["web"] :][:SECOND_NIGHT_NEW_WEB]
    nights = {"first": np.concatenate(first), "second": np.concatenate([*first, later])}
    out, result = root / "out", {"out": root / "out"}
    logged, pipeline_log = _Records(), logging.getLogger("clvpredict.pipeline")
    pipeline_log.addHandler(logged)
    try:
        for night, ids in nights.items():
            files = {"tx": root / f"{night}-tx.csv", "customers": root / f"{night}-customers.csv"}
            chosen = tx[tx["customer_id"].isin(ids)]
            dates = chosen["date"].dt.strftime("%Y-%m-%d")
            chosen.assign(date=dates).to_csv(files["tx"], index=False)
            customers.loc[ids].reset_index().to_csv(files["customers"], index=False)
            args = ["--transactions", files["tx"], "--covariates", files["customers"], *NIGHT]
            logged.messages.clear()
            assert run("refresh", *args, "--verbose", "--out", out) == 0
            result[night] = {
                **files,
                "log": list(logged.messages),
                "model": cp.load_model(out / "model.json"),
                "metrics": json.loads((out / "metrics.json").read_text()),
            }
    finally:
        pipeline_log.removeHandler(logged)
    return result


class _Records(logging.Handler):
    """The messages of the log records it is given."""

    def __init__(self) -> None:
        super().__init__()
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())


def test_a_refresh_keeps_the_previous_reference_level(two_nights):
    """The web outnumbers the store on the second night, whose default reference level would
    be the web: the refresh keeps the store, so the coefficients keep their names, the fit is
    the Python fit with the store as reference, and the drift gate compares every parameter."""
    first, second = two_nights["first"], two_nights["second"]
    counts = pd.read_csv(second["customers"])["channel"].value_counts()
    assert counts["web"] > counts["store"] > counts["partner"]
    names = ["r", "alpha", "a", "b", "purchase.channel[partner]", "purchase.channel[web]"]
    assert list(first["model"].purchase_model.params_.index) == names
    assert list(second["model"].purchase_model.params_.index) == names
    assert second["model"].purchase_model.covariate_design_.column("channel").reference == "store"
    covariates = second["metrics"]["covariates"]
    assert covariates["reference_levels"] == {"channel": "store"}
    assert covariates["reference_levels_kept_from_previous_model"] == {"channel": "store"}
    assert first["metrics"]["covariates"]["reference_levels_kept_from_previous_model"] == {}
    kept = "keeping the previous model's reference level(s) channel=store"
    assert any(kept in m for m in second["log"]) and not any(kept in m for m in first["log"])

    tx = pd.read_csv(second["tx"], dtype={"customer_id": str}, parse_dates=["date"])
    summary = cp.rfm_summary(tx, "customer_id", "date", "amount", time_unit="W")
    table = pd.read_csv(second["customers"], dtype={"customer_id": str})
    table = table.set_index("customer_id")
    # Without the kept level the same data would have renamed the coefficients.
    default = cp.BetaGeoModel(purchase_covariates=["channel"]).fit(summary, covariates=table)
    assert "purchase.channel[store]" in default.params_.index
    expected = cp.BetaGeoModel(
        purchase_covariates=["channel"], reference_levels={"channel": "store"}
    ).fit(summary, covariates=table)
    np.testing.assert_allclose(
        second["model"].purchase_model.params_.to_numpy(),
        expected.params_.to_numpy(),
        rtol=1e-9,
    )

    (drift,) = [g for g in second["metrics"]["gates"] if g["name"] == "parameter_drift"]
    old, new = first["model"].purchase_model.params_, second["model"].purchase_model.params_
    coefficient = np.array(["." in n for n in names])
    ratio = np.where(coefficient, np.exp(new - old), new / old)
    spend_old = first["model"].spend_model.params_
    spend_new = second["model"].spend_model.params_
    worst = max(np.abs(ratio - 1).max(), (spend_new / spend_old - 1).abs().max())
    assert drift["passed"] is True and "not comparable" not in drift["detail"]
    assert drift["value"] == pytest.approx(worst, rel=1e-12)


def test_a_kept_reference_level_that_is_gone_is_named(two_nights, tmp_path, capsys):
    """With no store customer left, the previous model's reference level cannot be kept: the
    refresh stops (exit 2) naming the level, the column and the setting that chooses another."""
    second = two_nights["second"]
    customers = pd.read_csv(second["customers"], dtype={"customer_id": str})
    no_store = tmp_path / "customers.csv"
    customers.assign(channel=customers["channel"].replace({"store": "web"})).to_csv(
        no_store, index=False
    )
    before = (two_nights["out"] / "model.json").read_bytes()
    args = ["--transactions", second["tx"], "--covariates", no_store, *NIGHT]
    err = refused(capsys, "refresh", *args, "--out", two_nights["out"])
    assert "'store'" in err and "['channel']" in err and "previous model" in err
    assert "--reference-level" in err
    assert (two_nights["out"] / "model.json").read_bytes() == before


def test_a_parquet_covariates_file_and_the_penalty(files, tmp_path):
    customers = pd.read_csv(files["customers"], dtype={"customer_id": str})
    customers.to_parquet(tmp_path / "customers.parquet", index=False)
    out = tmp_path / "out"
    code = run(
        "fit",
        "--transactions",
        files["tx"],
        "--covariates",
        tmp_path / "customers.parquet",
        "--shared-covariates",
        "channel",
        "--covariate-penalty",
        "0.5",
        "--out",
        out,
    )
    assert code == 0
    model = cp.load_model(out / "model.json").purchase_model
    tx = datasets.load_covariates_transactions()
    summary = cp.rfm_summary(tx, "customer_id", "date", "amount", time_unit="W")
    expected = cp.BetaGeoModel(shared_covariates=["channel"], covariate_penalty=0.5).fit(
        summary, covariates=datasets.load_covariates_customers().astype({"channel": str})
    )
    assert list(model.params_.index) == list(expected.params_.index)
    np.testing.assert_allclose(model.params_.to_numpy(), expected.params_.to_numpy(), rtol=1e-10)
    assert model.covariate_penalty == 0.5


@pytest.fixture(scope="module")
def region_files(tmp_path_factory) -> dict[str, Path]:
    """The first 600 customers, their channel written as a region code (store 1, web 2,
    partner 10): a CSV column of numbers."""
    root = tmp_path_factory.mktemp("region-data")
    customers = datasets.load_covariates_customers().iloc[:600]
    tx = datasets.load_covariates_transactions()
    tx = tx[tx["customer_id"].isin(customers.index)]
    tx.assign(date=tx["date"].dt.strftime("%Y-%m-%d")).to_csv(root / "tx.csv", index=False)
    region = customers["channel"].astype(str).map({"store": 1, "web": 2, "partner": 10})
    table = customers.assign(region=region.astype("int64"))[["region", "loyalty"]]
    table.reset_index().to_csv(root / "customers.csv", index=False)
    summary = cp.rfm_summary(tx, "customer_id", "date", "amount", time_unit="W")
    return {"tx": root / "tx.csv", "customers": root / "customers.csv", "summary": summary}


def test_numbers_named_categorical_on_the_command_line_and_in_the_config(region_files, tmp_path):
    args = ["--transactions", region_files["tx"], "--covariates", region_files["customers"]]
    flags = [
        "--purchase-covariates",
        "region,loyalty",
        "--categorical-covariates",
        "region",
        "--reference-level",
        "region=2",
    ]
    assert run("fit", *args, *flags, "--time-unit", "W", "--out", tmp_path / "flags") == 0
    model = cp.load_model(tmp_path / "flags" / "model.json").purchase_model
    assert model.covariate_design_.purchase_names == ("region[1]", "region[10]", "loyalty")
    table = pd.read_csv(region_files["customers"], dtype={"customer_id": str})
    expected = cp.BetaGeoModel(
        purchase_covariates=["region", "loyalty"],
        categorical_covariates=["region"],
        reference_levels={"region": 2},
    ).fit(region_files["summary"], covariates=table.set_index("customer_id"))
    assert list(model.params_.index) == list(expected.params_.index)
    np.testing.assert_allclose(model.params_, expected.params_, rtol=1e-10, atol=0)
    assert model.categorical_covariates == ["region"]
    # The same in a config file's [covariates] table; a TOML number is a level too.
    config = tmp_path / "nightly.toml"
    config.write_text(
        'time_unit = "W"\n'
        "[covariates]\n"
        f'file = "{region_files["customers"].as_posix()}"\n'
        'purchase = ["region", "loyalty"]\n'
        'categorical = ["region"]\n'
        "reference_levels = {region = 2}\n",
        encoding="utf-8",
    )
    out = tmp_path / "config"
    assert run("fit", "--config", config, "--transactions", region_files["tx"], "--out", out) == 0
    from_config = cp.load_model(out / "model.json").purchase_model
    np.testing.assert_allclose(from_config.params_, expected.params_, rtol=1e-10, atol=0)
    # Scoring with the saved model reads the codes as numbers again.
    scores = tmp_path / "scores"
    assert run("score", *args, "--model", tmp_path / "flags" / "model.json", "--out", scores) == 0
    scored = predictions(scores / "predictions.csv")
    summary = cp.attach_covariates(region_files["summary"], table.set_index("customer_id"))
    np.testing.assert_allclose(
        scored.loc[summary.index, "p_alive"], expected.probability_alive(summary), rtol=1e-9
    )


def test_a_categorical_column_that_is_not_a_covariate_is_refused(region_files, tmp_path, capsys):
    args = ["--transactions", region_files["tx"], "--covariates", region_files["customers"]]
    err = refused(
        capsys,
        "fit",
        *args,
        "--purchase-covariates",
        "loyalty",
        "--categorical-covariates",
        "region",
        "--out",
        tmp_path,
    )
    assert "--categorical-covariates region" in err and "['region']" in err
    # Without it, a reference level for a number says how to make it a category.
    err = refused(
        capsys,
        "fit",
        *args,
        "--purchase-covariates",
        "region",
        "--reference-level",
        "region=2",
        "--out",
        tmp_path,
    )
    assert "categorical=" in err and "categorical_covariates" in err


def test_a_deliberate_model_change_is_published_once_accepted(two_nights, tmp_path):
    """Adding a covariate to the nightly settings changes the parameters: the drift gate stops
    the refresh (exit 4, nothing published) until one run says --accept-model-change; the
    night after, without it, compares like with like again."""
    out = tmp_path / "out"
    second = two_nights["second"]
    plain = ["--transactions", second["tx"], *NIGHT[2:], "--out", out]
    assert run("refresh", *plain) == 0
    before = (out / "model.json").read_text()
    with_loyalty = [*plain, "--covariates", second["customers"], *NIGHT[:2]]
    with_loyalty += ["--dropout-covariates", "loyalty", "--reference-level", "channel=store"]
    assert run("refresh", *with_loyalty) == GATE_FAILED
    assert (out / "model.json").read_text() == before
    rejected = json.loads((out / "last-rejected-metrics.json").read_text())
    (drift,) = [g for g in rejected["gates"] if g["name"] == "parameter_drift"]
    assert drift["passed"] is False and "--accept-model-change" in drift["detail"]
    assert (
        "added ['purchase.channel[partner]', 'purchase.channel[web]', 'dropout.loyalty']"
        in (drift["detail"])
    )

    assert run("refresh", *with_loyalty, "--accept-model-change") == 0
    published = cp.load_model(out / "model.json").purchase_model
    assert "dropout.loyalty" in published.params_.index
    (drift,) = [
        g
        for g in json.loads((out / "metrics.json").read_text())["gates"]
        if g["name"] == "parameter_drift"
    ]
    assert drift["passed"] is None and "accepted" in drift["detail"]

    assert run("refresh", *with_loyalty) == 0
    (drift,) = [
        g
        for g in json.loads((out / "metrics.json").read_text())["gates"]
        if g["name"] == "parameter_drift"
    ]
    # The same data again: every parameter is compared and none moved.
    assert drift["passed"] is True and drift["value"] == pytest.approx(0.0, abs=1e-6)

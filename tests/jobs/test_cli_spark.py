"""``--engine spark``: the command line's fit, score and refresh in a Spark session give the
numbers of the embedded engine (polars), refuse bad logs with its messages, and publish the
predictions as a Parquet folder written by the executors.

Tolerances are the engine matrix's: counts and ids exact, times and money to 1e-12, parameters
to the optimiser's tolerance (both engines fit the same distinct histories, whose money and times
differ in the last bits only). The jobs run in the test session's local Spark session (the
``spark`` fixture), which the command line finds active and uses.
"""

from __future__ import annotations

import importlib.util
import json
import re
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from engine_frames import count_collections

import clvpredict as cp
from clvpredict.jobs.cli import main
from clvpredict.jobs.render import column_labels

COLUMNS = ["--customer-col", "customer_id", "--date-col", "date", "--amount-col", "amount"]
#: Spark reads no Parquet timestamps in nanoseconds, which pandas 2 writes by default.
MICROSECONDS = {"coerce_timestamps": "us"}
PREDICTION_COLUMNS = [
    "frequency",
    "recency",
    "T",
    "monetary_value",
    "p_alive",
    "expected_purchases",
    "expected_avg_value",
    "predictive_clv",
    "simple_clv",
]


def synthetic_log(seed: int = 11) -> pd.DataFrame:
    """500 simulated BG/NBD customers (CDNOW-like parameters, weeks) with text ids that keep
    leading zeros, plus same-day purchases, exactly repeated rows and a zero amount."""
    days = pd.Timestamp("2022-01-01") + pd.to_timedelta(
        np.random.default_rng(seed).integers(0, 120, size=500), unit="D"
    )
    acquired = pd.Series(days, index=[f"{k:05d}" for k in range(500)])
    tx = cp.simulate_transactions(
        "bgnbd",
        {"r": 0.5, "alpha": 5.0, "a": 0.8, "b": 2.5},
        acquired,
        "2023-06-30",
        time_unit="W",
        spend_params={"p": 6.0, "q": 4.0, "gamma": 15.0},
        random_state=seed,
    ).transactions[["customer_id", "date", "amount"]]
    same_day = tx.iloc[::9].assign(amount=lambda t: (t["amount"] / 3).round(2))
    repeated = tx.iloc[5:60:11]
    tx = pd.concat([tx, same_day, repeated], ignore_index=True)
    tx.loc[3, "amount"] = 0.0
    return tx.sort_values(["date", "customer_id"], kind="stable").reset_index(drop=True)


@pytest.fixture(scope="module")
def logs(tmp_path_factory) -> dict[str, str]:
    """CDNOW as Parquet, the synthetic log as CSV (text dates with times)."""
    root = tmp_path_factory.mktemp("spark-logs")
    cdnow = cp.datasets.load_cdnow()[["customer_id", "date", "amount"]]
    cdnow.to_parquet(root / "cdnow.parquet", index=False, **MICROSECONDS)
    synthetic = synthetic_log()
    synthetic.assign(date=synthetic["date"].dt.strftime("%Y-%m-%d %H:%M:%S")).to_csv(
        root / "synthetic.csv", index=False
    )
    return {"cdnow": str(root / "cdnow.parquet"), "synthetic": str(root / "synthetic.csv")}


def params(out: Path) -> dict[str, float]:
    model = json.loads((out / "model.json").read_text())
    return {
        f"{role}.{name}": value
        for role in ("purchase_model", "spend_model")
        for name, value in model[role]["params"].items()
    }


def assert_same_params(expected: dict[str, float], got: dict[str, float]) -> None:
    assert got.keys() == expected.keys()
    for name, value in expected.items():
        # The optimiser stops within 1e-10 of the optimum; the two engines' data agree to 1e-15.
        assert got[name] == pytest.approx(value, rel=1e-9), name


def read_predictions(path: Path) -> pd.DataFrame:
    """Predictions written by either engine, indexed by customer id in order."""
    table = pd.read_parquet(path)
    if "customer_id" in table.columns:  # Spark's part files carry the id as a column
        table = table.set_index("customer_id")
    return table.sort_index()


def assert_same_predictions(expected: pd.DataFrame, got: pd.DataFrame) -> None:
    assert list(got.columns) == PREDICTION_COLUMNS == list(expected.columns)
    assert got.index.tolist() == expected.index.tolist()
    assert got.index.dtype == expected.index.dtype
    np.testing.assert_array_equal(got["frequency"], expected["frequency"])
    assert got["frequency"].dtype == np.int64
    for column in PREDICTION_COLUMNS[1:]:
        np.testing.assert_allclose(got[column], expected[column], rtol=1e-12, err_msg=column)


def run(*args: str) -> None:
    assert main([*args]) == 0


def cached_tables(spark) -> int:
    """How many tables the Spark session holds in its cache (materialised ones)."""
    return spark.sparkContext._jsc.getPersistentRDDs().size()


def run_releasing(spark, leaks: list, *args: str) -> None:
    """``run``, noting in ``leaks`` the command if it left more tables cached than it found."""
    before = cached_tables(spark)
    run(*args)
    if cached_tables(spark) != before:
        leaks.append((args[0], before, cached_tables(spark)))


@pytest.fixture(scope="module")
def synthetic_runs(spark, logs, tmp_path_factory) -> dict[str, Path]:
    """fit then score of the synthetic CSV log with each engine (and the Spark commands that
    left tables cached in ``leaks``)."""
    outs: dict[str, Any] = {"leaks": []}
    for engine in ("polars", "spark"):
        out = tmp_path_factory.mktemp(f"synthetic-{engine}")
        common = ["--transactions", logs["synthetic"], *COLUMNS, "--engine", engine]
        run_releasing(spark, outs["leaks"], "fit", *common, "--time-unit", "D", "--out", str(out))
        model = str(out / "model.json")
        run_releasing(
            spark,
            outs["leaks"],
            *("score", *common, "--model", model, "--format", "parquet", "--out", str(out)),
        )
        outs[engine] = out
    return outs


def test_the_commands_leave_nothing_cached_in_the_spark_session(synthetic_runs, cdnow_refreshes):
    """fit, score and refresh cache Spark summaries that they read several times, and release
    them when done: a driver that runs them again and again (a notebook, a scheduler's long
    session) does not fill its executors' memory."""
    assert synthetic_runs["leaks"] == []
    assert cdnow_refreshes["leaks"] == []


def test_fit_and_score_of_a_csv_log_give_the_embedded_engines_numbers(synthetic_runs):
    polars, spark = synthetic_runs["polars"], synthetic_runs["spark"]
    assert_same_params(params(polars), params(spark))
    expected = json.loads((polars / "model.json").read_text())["settings"]
    got = json.loads((spark / "model.json").read_text())["settings"]
    assert got == expected  # counts, the end of observation and the estimated lifetime
    assert got["n_customers"] == 500 and got["n_transactions"] == len(synthetic_log())
    # The ids stay text with their leading zeros.
    table = read_predictions(spark / "predictions.parquet")
    assert table.index[:2].tolist() == ["00000", "00001"]
    assert_same_predictions(read_predictions(polars / "predictions.parquet"), table)
    # Spark's folder of part files, renamed into place whole.
    assert (spark / "predictions.parquet" / "_SUCCESS").is_file()
    assert sorted(p.name for p in spark.iterdir()) == ["model.json", "predictions.parquet"]


#: Most rows the Spark refresh's report may bring to the driver in one collect, here: the rank
#: search's band and sample, the scatter plot's sample and the concentration curve's buckets are
#: set below CDNOW's 2,357 customers.
REPORT_ROWS = 500


@pytest.fixture(scope="module")
def cdnow_refreshes(spark, logs, tmp_path_factory) -> dict[str, Any]:
    """One nightly refresh of CDNOW with each engine (holdout gate and report included). The
    Spark one records the rows of every collect to the driver made while the report is built."""
    outs: dict[str, Any] = {"collected": [], "leaks": []}
    for engine in ("polars", "spark"):
        out = tmp_path_factory.mktemp(f"refresh-{engine}") / "clv"
        args = ["refresh", "--transactions", logs["cdnow"], *COLUMNS, "--engine", engine]
        args += ["--time-unit", "W", "--format", "parquet", "--out", str(out)]
        with pytest.MonkeyPatch.context() as patch:
            if engine == "spark":
                _watch_the_report(patch, type(spark.range(1)), outs["collected"])
            run_releasing(spark, outs["leaks"], *args)
        outs[engine] = out
    return outs


def _watch_the_report(patch: pytest.MonkeyPatch, frame_class: type, collected: list) -> None:
    """Limits of the report's collects set below CDNOW's size, and every collect made while the
    refresh builds its report recorded in ``collected`` as (method, rows)."""
    from clvpredict import clv, plotting
    from clvpredict.data import ranks
    from clvpredict.jobs import pipeline

    patch.setattr(ranks, "BAND_ROWS", REPORT_ROWS)
    patch.setattr(ranks, "SAMPLE_ROWS", REPORT_ROWS)
    patch.setattr(plotting, "MAX_POINTS", REPORT_ROWS)
    patch.setattr(plotting, "CURVE_BUCKETS", REPORT_ROWS // 2)
    patch.setattr(clv, "TOTAL_INTERVAL_CUSTOMERS", REPORT_ROWS)
    build_report = pipeline.build_report

    def counted(method):
        def collect(frame, *args, **kwargs):
            result = method(frame, *args, **kwargs)
            collected.append((method.__name__, len(result)))
            return result

        return collect

    def watched_report(*args, **kwargs):
        with pytest.MonkeyPatch.context() as inner:
            # toArrow is pyspark 4's; narwhals collects with _collect_as_arrow on 3.5.
            for name in ("toArrow", "_collect_as_arrow", "toPandas", "collect", "take", "tail"):
                if hasattr(frame_class, name):
                    inner.setattr(frame_class, name, counted(getattr(frame_class, name)))
            return build_report(*args, **kwargs)

    patch.setattr(pipeline, "build_report", watched_report)


def test_refresh_on_cdnow_publishes_the_embedded_engines_numbers(cdnow_refreshes):
    polars, spark = cdnow_refreshes["polars"], cdnow_refreshes["spark"]
    assert_same_params(params(polars), params(spark))
    assert_same_predictions(
        read_predictions(polars / "predictions.parquet"),
        read_predictions(spark / "predictions.parquet"),
    )
    expected = json.loads((polars / "metrics.json").read_text())
    got = json.loads((spark / "metrics.json").read_text())
    for key in ("observation_end", "n_transactions", "n_customers"):
        assert got[key] == expected[key], key
    assert got["n_customers"] == 2357 and got["n_transactions"] == 6919
    # The totals are Spark's sums of the written predictions.
    for key in ("predictive_clv", "simple_clv"):
        assert got["totals"][key] == pytest.approx(expected["totals"][key], rel=1e-12)
    for key, value in expected["holdout"].items():
        if isinstance(value, float):
            assert got["holdout"][key] == pytest.approx(value, rel=1e-9), key
        else:
            assert got["holdout"][key] == value, key
    assert [g["passed"] for g in got["gates"]] == [g["passed"] for g in expected["gates"]]
    assert got["settings"]["engine"] == "spark"


def test_refresh_publishes_the_folder_in_the_release(cdnow_refreshes):
    out = cdnow_refreshes["spark"]
    release = Path(out / "current").resolve()
    assert (out / "predictions.parquet").readlink() == Path("current/predictions.parquet")
    assert (release / "predictions.parquet" / "_SUCCESS").is_file()
    # Nothing of the scratch folder the executors wrote into is left.
    assert [p.name for p in (out / "releases").iterdir()] == [release.name]
    report = (out / "report.html").read_text()
    assert "2,357 customers" in report and "6,919 transactions" in report


def test_auto_refresh_checks_the_holdout_in_spark_without_collecting_customers(
    spark, logs, tmp_path, monkeypatch
):
    """purchase_model auto compares every candidate on the calibration/holdout split: on Spark
    the split stays a Spark DataFrame, the fits receive distinct histories and the holdout
    checks aggregates, with the metrics of the embedded engine. (No report here: what the
    report collects is its own matter.)"""
    common = [*COLUMNS, "--time-unit", "W", "--format", "parquet", "--no-report"]
    common += ["--purchase-model", "auto", "--transactions", logs["cdnow"]]
    run("refresh", *common, "--engine", "polars", "--out", str(tmp_path / "polars"))
    collected = count_collections(spark, monkeypatch)
    run("refresh", *common, "--engine", "spark", "--out", str(tmp_path / "spark"))
    monkeypatch.undo()

    expected = json.loads((tmp_path / "polars" / "metrics.json").read_text())["holdout"]
    got = json.loads((tmp_path / "spark" / "metrics.json").read_text())["holdout"]
    assert got.keys() == expected.keys()
    assert [row["model"] for row in got["comparison"]] == ["BG/NBD", "MBG/NBD", "Pareto/NBD"]
    assert len(got["comparison"]) == len(expected["comparison"])
    for want, have in zip(expected["comparison"], got["comparison"], strict=True):
        for key, value in want.items():
            if isinstance(value, float):
                # The engines' fits agree to the optimiser's tolerance.
                assert have[key] == pytest.approx(value, rel=1e-9), (want["model"], key)
            else:
                assert have[key] == value, (want["model"], key)
    for key, value in expected.items():
        if isinstance(value, float):
            assert got[key] == pytest.approx(value, rel=1e-9), key
        elif key != "comparison":
            assert got[key] == value, key

    # What the driver received. The independent count: distinct histories of the summaries.
    tx = pd.read_parquet(logs["cdnow"])
    options = dict(time_unit="W", after_end="drop")
    cal = cp.calibration_holdout_summary(
        tx,
        "customer_id",
        "date",
        got["calibration_end"],
        got["observation_end"],
        "amount",
        **options,
    )
    whole = cp.rfm_summary(tx, "customer_id", "date", "amount", **options)
    distinct = max(
        len(summary[columns].drop_duplicates())
        for summary in (cal, whole)
        for columns in (["frequency", "recency", "T"], ["frequency", "monetary_value"])
    )
    days = (tx["date"].max() - tx["date"].min()).days + 1
    assert distinct < len(cal) == 2357 and days < len(cal)
    for columns, rows in collected.frames:
        if "customer_id" in columns:
            assert rows <= 5, columns  # one customer's row for types; examples in warnings
        elif "weight" in columns:
            assert rows <= distinct, columns  # distinct histories for a fit
        else:
            assert rows <= days, columns  # aggregates: per bin, per day or one row
    # The fits: three candidates and the Gamma-Gamma on calibration, two on the whole history.
    assert len(collected.rows_with("weight")) == 3 + 1 + 2


def _value_tables(report: str) -> list[str]:
    """The value part's tables (tiers, customers at risk, top customers) with their headings."""
    part = report[report.index("<h3>Value tiers") :]
    return re.findall(
        r"<h3>.*?</h3>|<table.*?</table>", part[: part.index("<div class='grid'>")], re.S
    )


def test_the_spark_report_prints_the_embedded_engines_numbers(cdnow_refreshes):
    reports = {e: (cdnow_refreshes[e] / "report.html").read_text() for e in ("polars", "spark")}
    expected, got = (_value_tables(reports[e]) for e in ("polars", "spark"))
    # Tiers, RFM segments, the count of customers at risk and their list, the top 20: the same
    # customers and numbers as printed (ties broken by id on both engines).
    assert [t for t in got if "<h3>" in t] == [t for t in expected if "<h3>" in t]
    assert len(got) == len(expected) == 8
    assert got[1] == expected[1] and got[3] == expected[3]  # tiers; RFM segments
    assert got[5] == expected[5]  # customers at risk
    assert "At-risk high-value customers (1" in got[4]
    # Top 20: the Spark predictions file has the prediction columns only; their values agree.
    bundle = json.loads((cdnow_refreshes["spark"] / "model.json").read_text())
    labels = column_labels(None, 12, "W", bundle["settings"]["lifetime_years"])
    for column in PREDICTION_COLUMNS:
        assert f"<th>{labels[column]}</th>" in got[7]
    clv_header = labels["predictive_clv"]
    assert _column_cells(got[7], clv_header) == _column_cells(expected[7], clv_header)
    assert _row_ids(got[7]) == _row_ids(expected[7])
    # The total's interval: from a hashed sample of 500 customers on Spark, stated as such.
    assert "each evaluated on a random 500 of the 2,357 customers" in reports["spark"]
    # The figures' captions: the most valuable customer and the scatter plot's sample.
    best = re.search(r"most valuable customer \((\w+)\)", reports["polars"]).group(1)
    assert f"most valuable customer ({best})" in reports["spark"]
    assert "Predictive vs simple CLV (a random 500 of 2,357 customers)" in reports["spark"]


def _row_ids(table: str) -> list[str]:
    return re.findall(r"<tr>\s*<th>([^<]*)</th>", table.split("</thead>")[1])


def _column_cells(table: str, column: str) -> list[str]:
    header = re.findall(r"<th>([^<]*)</th>", table.split("</thead>")[0])
    position = header.index(column) - 1  # the first header cell names the index
    rows = re.findall(r"<tr>(.*?)</tr>", table.split("</thead>")[1], re.S)
    return [re.findall(r"<td>([^<]*)</td>", row)[position] for row in rows]


def test_the_spark_report_brings_only_bounded_rows_to_the_driver(cdnow_refreshes):
    rows = [n for _, n in cdnow_refreshes["collected"]]
    # Aggregates (one row), the rank search's samples and bands, the first rows by rank, the
    # scatter sample, the concentration curve's buckets, the P(alive) history's customer: each
    # within the limits set, none of every customer. Their number depends on the rounds of the
    # rank search, not on the number of customers.
    assert len(rows) > 10 and rows.count(1) > 5
    assert max(rows) <= REPORT_ROWS < 2_357, rows


BAD_LOGS = {
    "missing id": lambda tx: tx.assign(
        customer_id=tx["customer_id"].astype("string").mask(tx.index == 4)
    ),
    "negative amount": lambda tx: tx.assign(amount=tx["amount"].mask(tx.index == 9, -5.0)),
    "future date": lambda tx: tx.assign(
        date=tx["date"].mask(tx.index == 2, pd.Timestamp("2099-01-01"))
    ),
}


def _message(stderr: str) -> str:
    """The refusal logged by the command line, without its time stamp."""
    found = re.findall(r"ERROR clvpredict: (.*)", stderr)
    assert len(found) == 1, stderr
    return found[0]


@pytest.mark.parametrize("case", list(BAD_LOGS))
def test_a_bad_log_is_refused_with_the_embedded_engines_message(case, spark, tmp_path, capsys):
    tx = BAD_LOGS[case](cp.datasets.load_cdnow()[["customer_id", "date", "amount"]].head(40))
    path = tmp_path / "bad.parquet"
    tx.to_parquet(path, index=False, **MICROSECONDS)
    messages = {}
    for engine in ("polars", "spark"):
        args = ["fit", "--transactions", str(path), *COLUMNS, "--engine", engine]
        assert main([*args, "--out", str(tmp_path / engine)]) == 2
        messages[engine] = _message(capsys.readouterr().err)
    assert messages["spark"] == messages["polars"]
    assert not (tmp_path / "spark").exists()


def test_without_pyspark_the_engine_is_refused_naming_the_extra(monkeypatch, tmp_path, capsys):
    real = importlib.util.find_spec

    def find_spec(name, *args, **kwargs):
        return None if name == "pyspark" else real(name, *args, **kwargs)

    monkeypatch.setattr(importlib.util, "find_spec", find_spec)
    args = ["fit", "--transactions", "tx.parquet", "--engine", "spark", "--out", str(tmp_path)]
    assert main(args) == 2
    err = capsys.readouterr().err
    assert "--engine spark (setting engine): needs pyspark, which is not installed" in err
    assert 'pip install "clvpredict[spark]"' in err


def test_csv_predictions_and_another_master_are_refused(spark, logs, tmp_path, capsys):
    common = ["fit", "--transactions", logs["cdnow"], "--engine", "spark", "--out", str(tmp_path)]
    assert main([*common, "--format", "csv"]) == 2
    assert "writes predictions as Parquet only" in capsys.readouterr().err
    # The test session runs local[2]; a process has one Spark context.
    assert main([*common, "--spark-master", "local[3]"]) == 2
    assert "already runs a Spark session on 'local[2]'" in capsys.readouterr().err
    assert not any(tmp_path.iterdir())


def test_timestamps_in_nanoseconds_are_refused_with_the_way_out(spark, tmp_path, capsys):
    tx = cp.datasets.load_cdnow()[["customer_id", "date", "amount"]].head(20)
    tx = tx.assign(date=tx["date"].astype("datetime64[ns]"))
    tx.to_parquet(tmp_path / "ns.parquet", index=False)
    args = ["fit", "--transactions", str(tmp_path / "ns.parquet"), "--engine", "spark"]
    assert main([*args, "--out", str(tmp_path / "out")]) == 2
    assert "coerce_timestamps='us'" in _message(capsys.readouterr().err)

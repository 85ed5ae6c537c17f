"""fit / score / refresh run as the nightly scripts run them: subprocesses, exit codes, files."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import clvpredict as cp

EXIT = {"ok": 0, "unexpected": 1, "bad_input": 2, "not_converged": 3, "gate": 4}


def run_cli(*args: str, env_extra: dict[str, str] | None = None, cwd: Path | None = None):
    env = {**os.environ, **(env_extra or {})}
    return subprocess.run(
        [sys.executable, "-m", "clvpredict", *args],
        capture_output=True,
        text=True,
        env=env,
        cwd=cwd,
        timeout=600,
    )


def snapshot(folder: Path) -> dict[str, bytes]:
    """Every file under ``folder`` with its bytes (hidden temporary files included)."""
    return {
        str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()
    }


@pytest.fixture(scope="module")
def tx_files(tmp_path_factory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("tx")
    tx = cp.datasets.load_cdnow("sample").rename(
        columns={"customer_id": "client", "date": "ordered_on", "amount": "revenue"}
    )
    tx.to_csv(folder / "tx.csv", index=False)
    # The same ids as the CSV's, which are read as text.
    tx.astype({"client": str}).to_parquet(folder / "tx.parquet")
    return {"csv": folder / "tx.csv", "parquet": folder / "tx.parquet"}


COLUMNS = ("--customer-col", "client", "--date-col", "ordered_on", "--amount-col", "revenue")


@pytest.fixture(scope="module")
def published(tmp_path_factory, tx_files) -> Path:
    """A first good night."""
    out = tmp_path_factory.mktemp("nightly") / "clv"
    result = run_cli("refresh", "--transactions", str(tx_files["csv"]), *COLUMNS, "--out", str(out))
    assert result.returncode == EXIT["ok"], result.stderr
    return out


def test_good_night_publishes_everything(published, tx_files):
    names = {p.name for p in published.iterdir()}
    outputs = {"model.json", "predictions.csv", "metrics.json", "report.html"}
    assert names == {*outputs, "current", "releases", ".lock"}
    (release,) = (published / "releases").iterdir()
    assert os.readlink(published / "current") == f"releases/{release.name}"
    for name in outputs:
        assert os.readlink(published / name) == f"current/{name}"
    assert {p.name for p in release.iterdir()} == {*outputs, ".published"}
    metrics = json.loads((published / "metrics.json").read_text())
    gates = {g["name"]: g["passed"] for g in metrics["gates"]}
    assert gates == {"convergence": True, "holdout_error": True, "parameter_drift": None}
    assert metrics["n_customers"] == 2357 and metrics["n_transactions"] == 6919
    # The published predictions are what the published bundle says for this history.
    bundle = cp.load_model(published / "model.json")
    assert isinstance(bundle, cp.ModelBundle)
    tx = pd.read_csv(tx_files["csv"])
    rfm = cp.rfm_summary(tx, "client", "ordered_on", "revenue", time_unit="W")
    predictions = pd.read_csv(
        published / "predictions.csv", index_col="client", float_precision="round_trip"
    )
    np.testing.assert_allclose(
        predictions["predictive_clv"],
        bundle.score(rfm)["predictive_clv"].loc[predictions.index],
        rtol=1e-12,
    )
    assert (published / "model.json").stat().st_mode & 0o044, "published files must be readable"


def test_second_night_checks_drift_and_keeps_history(published, tx_files):
    out = published
    result = run_cli(
        "refresh",
        "--transactions",
        str(tx_files["parquet"]),
        *COLUMNS,
        "--out",
        str(out),
        "--no-report",
        "--keep",
        "1",
    )
    assert result.returncode == EXIT["ok"], result.stderr
    metrics = json.loads((out / "metrics.json").read_text())
    drift = next(g for g in metrics["gates"] if g["name"] == "parameter_drift")
    assert drift["passed"] is True and drift["value"] == pytest.approx(0.0, abs=1e-9)
    # --keep 1: only tonight's release is left, and it has no report (--no-report).
    (release,) = (out / "releases").iterdir()
    assert os.readlink(out / "current") == f"releases/{release.name}"
    assert not (out / "report.html").exists() and not (out / "report.html").is_symlink()
    assert "Published release" in result.stdout and release.name in result.stdout


def test_failing_gate_publishes_nothing(published, tx_files):
    before = snapshot(published)
    result = run_cli(
        "refresh",
        "--transactions",
        str(tx_files["csv"]),
        *COLUMNS,
        "--out",
        str(published),
        "--max-holdout-error",
        "0.0001",
    )
    assert result.returncode == EXIT["gate"], result.stderr
    assert "quality gate" in result.stderr and "holdout error" in result.stderr
    after = snapshot(published)
    rejected = json.loads(after.pop("last-rejected-metrics.json"))
    before.pop("last-rejected-metrics.json", None)
    assert after == before
    assert any(g["passed"] is False for g in rejected["gates"])


def test_bad_input_exit_2_names_the_column(published, tx_files):
    before = snapshot(published)
    result = run_cli(
        "refresh", "--transactions", str(tx_files["csv"]), "--out", str(published)
    )  # default column names do not exist in this file
    assert result.returncode == EXIT["bad_input"]
    assert "customer_id" in result.stderr and "available columns" in result.stderr
    assert snapshot(published) == before
    missing = run_cli("score", "--model", str(published / "nope.json"), "--out", str(published))
    assert missing.returncode == EXIT["bad_input"] and "does not exist" in missing.stderr


def test_not_converged_exit_3(tmp_path):
    # Everybody bought exactly once: the dropout parameters are not identified.
    tx = pd.DataFrame(
        {
            "customer_id": range(50),
            "date": pd.date_range("2024-01-01", periods=50, freq="D"),
            "amount": 10.0,
        }
    )
    tx.to_csv(tmp_path / "once.csv", index=False)
    result = run_cli(
        "refresh",
        "--transactions",
        str(tmp_path / "once.csv"),
        "--out",
        str(tmp_path / "out"),
        "--lifetime-years",
        "1",
    )
    assert result.returncode == EXIT["not_converged"], result.stderr
    assert "did not converge" in result.stderr
    assert not (tmp_path / "out" / "model.json").exists()


@pytest.mark.parametrize("fmt", ["csv", "parquet"])
def test_score_twice_gives_identical_files(published, tx_files, tmp_path, fmt):
    outputs = []
    for attempt in ("a", "b"):
        out = tmp_path / attempt
        result = run_cli(
            "score",
            "--model",
            str(published / "model.json"),
            "--transactions",
            str(tx_files["csv"]),
            *COLUMNS,
            "--out",
            str(out),
            "--format",
            fmt,
        )
        assert result.returncode == EXIT["ok"], result.stderr
        outputs.append((out / f"predictions.{fmt}").read_bytes())
    assert outputs[0] == outputs[1]
    table = (
        pd.read_parquet(tmp_path / "a" / "predictions.parquet")
        if fmt == "parquet"
        else pd.read_csv(
            tmp_path / "a" / "predictions.csv", index_col=0, float_precision="round_trip"
        )
    )
    assert list(table.columns) == [
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
    assert len(table) == 2357


def test_score_from_an_rfm_file_and_observation_end(published, tx_files, tmp_path):
    tx = pd.read_csv(tx_files["csv"])
    rfm = cp.rfm_summary(
        tx,
        "client",
        "ordered_on",
        "revenue",
        observation_end="1998-03-31",
        time_unit="W",
        after_end="drop",
    )
    rfm.reset_index().to_csv(tmp_path / "rfm.csv", index=False)
    via_rfm = run_cli(
        "score",
        "--model",
        str(published / "model.json"),
        "--rfm",
        str(tmp_path / "rfm.csv"),
        "--rfm-time-unit",
        "W",
        "--customer-col",
        "client",
        "--out",
        str(tmp_path / "r"),
    )
    assert via_rfm.returncode == EXIT["ok"], via_rfm.stderr
    bundle = cp.load_model(published / "model.json")
    got = pd.read_csv(
        tmp_path / "r" / "predictions.csv", index_col="client", float_precision="round_trip"
    )
    np.testing.assert_allclose(got["p_alive"], bundle.score(rfm)["p_alive"], rtol=1e-12)


def test_config_file_and_flags_win(tx_files, tmp_path):
    config = tmp_path / "nightly.toml"
    config.write_text(
        'customer_col = "client"\ndate_col = "ordered_on"\namount_col = "revenue"\n'
        "margin = 0.5\nlifetime_years = 2.0\n"
    )
    result = run_cli(
        "fit",
        "--config",
        str(config),
        "--transactions",
        str(tx_files["csv"]),
        "--margin",
        "0.25",
        "--out",
        str(tmp_path / "m"),
    )
    assert result.returncode == EXIT["ok"], result.stderr
    settings = cp.load_model(tmp_path / "m" / "model.json").settings
    assert settings["margin"] == 0.25 and settings["lifetime_years"] == 2.0
    config.write_text("marjin = 0.5\n")
    bad = run_cli("fit", "--config", str(config), "--transactions", str(tx_files["csv"]))
    assert bad.returncode == EXIT["bad_input"] and "Unknown setting 'marjin'" in bad.stderr


@pytest.mark.parametrize("command", ["demo", "fit", "score", "refresh", "report"])
def test_every_command_help_has_an_example(command):
    result = run_cli(command, "--help")
    assert result.returncode == 0
    assert "example:" in result.stdout and f"clvpredict {command}" in result.stdout


def test_auto_purchase_model_is_chosen_on_the_holdout(tx_files, tmp_path):
    out = tmp_path / "auto"
    result = run_cli(
        "refresh",
        "--transactions",
        str(tx_files["parquet"]),
        *COLUMNS,
        "--out",
        str(out),
        "--purchase-model",
        "auto",
        "--no-report",
    )
    assert result.returncode == EXIT["ok"], result.stderr
    metrics = json.loads((out / "metrics.json").read_text())
    comparison = pd.DataFrame(metrics["holdout"]["comparison"]).set_index("model")
    assert set(comparison.index) == {"BG/NBD", "MBG/NBD", "Pareto/NBD"}
    best = comparison["rmse"].idxmin()
    bundle = cp.load_model(out / "model.json")
    names = {"BG/NBD": "bgnbd", "MBG/NBD": "mbgnbd", "Pareto/NBD": "paretonbd"}
    assert bundle.settings["purchase_model"] == names[best]
    assert metrics["holdout"]["purchase_model"] == names[best]
    assert bundle.purchase_model._model_name.startswith(best)


def test_one_refresh_parses_the_log_once_and_fits_each_model_once_per_period(
    tx_files, tmp_path, monkeypatch, capsys
):
    """Every step of a refresh (summary, calibration split, lifetime, tracking, P(alive)
    history, the report) reads the one parsed log: one parse, one warning of each kind. The
    holdout gate and the report share one assessment: each model is fitted once on the
    calibration period and once on the whole history."""
    from collections import Counter

    from clvpredict.cli import main

    from clvpredict.data import transactions as data
    from clvpredict.models import _base

    parses = []
    real_parse = data._parse_log

    def counted_parse(*args, **kwargs):
        parses.append(args[1:3])
        return real_parse(*args, **kwargs)

    fits = Counter()
    real_fit = _base.BaseModel._fit

    def counted_fit(self, data, *args, **kwargs):
        period = "calibration" if "calibration_end" in data.attrs else "whole history"
        fits[type(self).__name__, period] += 1
        return real_fit(self, data, *args, **kwargs)

    monkeypatch.setattr(data, "_parse_log", counted_parse)
    monkeypatch.setattr(_base.BaseModel, "_fit", counted_fit)
    out = tmp_path / "clv"
    code = main(["refresh", "--transactions", str(tx_files["csv"]), *COLUMNS, "--out", str(out)])
    assert code == EXIT["ok"]
    assert (out / "report.html").is_file()
    assert parses == [("client", "ordered_on")]
    # CDNOW's sample has 21 repeated rows: said once, not once per reader of the log.
    assert capsys.readouterr().err.count("repeat an earlier row") == 1
    # The report compares the three calendar-time purchase models on the holdout.
    assert fits == {
        ("BetaGeoModel", "calibration"): 1,
        ("ModifiedBetaGeoModel", "calibration"): 1,
        ("ParetoNBDModel", "calibration"): 1,
        ("GammaGammaModel", "calibration"): 1,
        ("BetaGeoModel", "whole history"): 1,
        ("GammaGammaModel", "whole history"): 1,
    }


def test_report_follows_the_same_parse_policies_as_the_other_jobs(tx_files, tmp_path):
    """The report command parses the log with the job's settings, duplicates included: the
    CDNOW sample's 21 repeated rows are refused under --duplicates error, as by fit."""
    common = ("--transactions", str(tx_files["csv"]), *COLUMNS, "--time-unit", "W")
    for command in (("fit",), ("report", "--calibration-end", "1997-09-30")):
        out = tmp_path / command[0]
        result = run_cli(*command, *common, "--duplicates", "error", "--out", str(out))
        assert result.returncode == EXIT["bad_input"], (command, result.stderr)
        assert "21 rows repeat an earlier row" in result.stderr
        assert not out.exists()


# The steps of a refresh of the CDNOW sample, in order, as its log announces them.
REFRESH_STEPS = [
    "tidy the output folder",
    "read transactions",
    "validate and summarise",
    "calibration/holdout split",
    "assess the models on the holdout",
    "fit BG/NBD and Gamma-Gamma",
    "expected lifetime for the simple CLV",
    "holdout evaluation",
    "parameter drift against the previous model",
    "score customers",
    "write predictions.csv",
    "HTML report",
    "publish",
]
LOG_LINE = re.compile(
    r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} (INFO|WARNING|ERROR) clvpredict[.\w]*: [^\r\x1b]*"
)
STEP_LINE = re.compile(r"INFO clvpredict\.progress: step (\d+) of (\d+): (.*)")


def refresh_log(tx_files, folder: Path, *flags: str) -> str:
    """A refresh run as a nightly job runs it, its stderr appended to a log file; the file."""
    log = folder / "refresh.log"
    with open(log, "a") as stderr:
        command = ["refresh", "--transactions", str(tx_files["parquet"]), *COLUMNS]
        result = subprocess.run(
            [sys.executable, "-m", "clvpredict", *command, "--out", str(folder / "clv"), *flags],
            stdout=subprocess.DEVNULL,
            stderr=stderr,
            timeout=600,
        )
    text = log.read_text()
    assert result.returncode == EXIT["ok"], text
    return text


def announced(log: str) -> list[tuple[int, int, str]]:
    return [(int(n), int(total), name) for n, total, name in STEP_LINE.findall(log)]


def test_refresh_log_says_which_step_of_how_many(tx_files, tmp_path):
    log = refresh_log(tx_files, tmp_path)
    # Plain lines of the log's format only: no progress bar, no escape codes.
    assert all(LOG_LINE.fullmatch(line) for line in log.splitlines()), log
    total = len(REFRESH_STEPS)
    assert announced(log) == [(n, total, name) for n, name in enumerate(REFRESH_STEPS, start=1)]
    # Without --verbose the steps' timings are not logged, only their positions.
    assert "clvpredict.pipeline" not in log


def test_refresh_log_counts_a_skipped_step_and_quiet_hides_the_steps(tx_files, tmp_path):
    # The CDNOW sample spans 18 months: no room for two 12-month windows, hence no holdout
    # and no report, which the log says at the report's place.
    log = refresh_log(tx_files, tmp_path, "--holdout-months", "12")
    steps = announced(log)
    assert [n for n, _, _ in steps] == list(range(1, 14)) and {t for _, t, _ in steps} == {13}
    assert steps[11] == (
        12,
        13,
        "HTML report skipped: the history is shorter than two holdout windows of 12 months",
    )
    assert [name for _, _, name in steps[:11]] == REFRESH_STEPS[:11]
    # --no-report plans one step fewer; --quiet logs no step (the log only grows by errors).
    before = len(log)
    log = refresh_log(tx_files, tmp_path, "--no-report", "--quiet")
    assert log[before:] == ""
    log = refresh_log(tx_files, tmp_path, "--no-report")
    assert announced(log[before:]) == [
        (n, 12, name) for n, name in enumerate([*REFRESH_STEPS[:11], "publish"], start=1)
    ]

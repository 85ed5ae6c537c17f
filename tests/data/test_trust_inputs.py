"""Inputs that used to give wrong numbers with exit code 0: customer ids read as numbers,
purchases dated in the future, settings of the wrong type or range, and RFM files in another
time unit. Each must now be a correct answer or a ClvDataError (exit 2) naming the fix."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from clvpredict.cli import main

import clvpredict as cp

BAD_INPUT = 2


def cli(*args: str) -> int:
    """Run the command line in this process; its exit code."""
    return main([str(a) for a in args])


# --------------------------------------------------------------------------------------------
# 1. Customer ids are labels
# --------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def padded(tmp_path_factory) -> dict:
    """CDNOW's sample with string ids, three of them numbers only when zeros are dropped:
    "007" next to "7", "0042", and the most valuable customer renamed "000" + its id so that it
    shows in the report's top tables."""
    folder = tmp_path_factory.mktemp("ids")
    tx = cp.datasets.load_cdnow("sample")
    rfm = cp.rfm_summary(tx, "customer_id", "date", "amount", time_unit="W")
    bg, gg = cp.BetaGeoModel().fit(rfm), cp.GammaGammaModel().fit(rfm)
    top = int(cp.predictive_clv(bg, gg, rfm).idxmax())
    assert top not in (7, 8, 42)
    ids = tx["customer_id"].astype(str)
    renamed = {8: "007", 42: "0042", top: f"000{top}"}
    for number, label in renamed.items():
        ids = ids.mask(tx["customer_id"] == number, label)
    tx = tx.assign(customer_id=ids)
    path = folder / "tx.csv"
    tx.to_csv(path, index=False)
    return {"path": path, "tx": tx, "labels": ["7", "007", "0042", f"000{top}"]}


def _first_fields(path: Path) -> list[str]:
    """The first field of every data line of a CSV file, as written."""
    lines = path.read_text(encoding="utf-8").splitlines()
    return [line.split(",", 1)[0] for line in lines[1:]]


def test_zero_padded_ids_stay_separate_customers_through_fit_score_refresh(padded, tmp_path):
    tx = padded["tx"]
    assert cli("fit", "--transactions", padded["path"], "--out", tmp_path / "m") == 0
    bundle = cp.load_model(tmp_path / "m" / "model.json")
    assert bundle.settings["n_customers"] == 2357
    assert (
        cli(
            "score",
            "--model",
            tmp_path / "m" / "model.json",
            "--transactions",
            padded["path"],
            "--out",
            tmp_path / "s",
        )
        == 0
    )
    assert cli("refresh", "--transactions", padded["path"], "--out", tmp_path / "r") == 0
    expected = bundle.score(cp.rfm_summary(tx, "customer_id", "date", "amount", time_unit="W"))
    for folder in ("s", "r"):
        path = tmp_path / folder / "predictions.csv"
        written = _first_fields(path)
        # Byte for byte the ids of the log, each once: "7" and "007" are two customers.
        assert sorted(written) == sorted(tx["customer_id"].unique())
        assert len(written) == 2357
        for label in padded["labels"]:
            assert written.count(label) == 1
        table = pd.read_csv(
            path, dtype={"customer_id": str}, float_precision="round_trip"
        ).set_index("customer_id")
        np.testing.assert_allclose(
            table["predictive_clv"], expected.loc[table.index, "predictive_clv"], rtol=1e-12
        )
    # The two customers that the old reading merged have their own histories.
    own = expected.loc[["7", "007"], "frequency"].tolist()
    assert own == [
        tx.loc[tx["customer_id"] == label, "date"].nunique() - 1 for label in ("7", "007")
    ]
    report = (tmp_path / "r" / "report.html").read_text(encoding="utf-8")
    assert f">{padded['labels'][3]}<" in report
    args = ["report", "--transactions", padded["path"], "--calibration-end", "1997-09-30"]
    assert cli(*args, "--out", tmp_path / "h") == 0
    report = (tmp_path / "h" / "report.html").read_text(encoding="utf-8")
    assert f">{padded['labels'][3]}<" in report


def test_rfm_file_ids_are_read_as_written(padded, tmp_path):
    tx = padded["tx"]
    assert cli("fit", "--transactions", padded["path"], "--out", tmp_path / "m") == 0
    rfm = cp.rfm_summary(tx, "customer_id", "date", "amount", time_unit="W")
    rfm.reset_index().to_csv(tmp_path / "rfm.csv", index=False)
    args = ["score", "--model", tmp_path / "m" / "model.json", "--rfm", tmp_path / "rfm.csv"]
    assert cli(*args, "--rfm-time-unit", "W", "--out", tmp_path / "s") == 0
    written = _first_fields(tmp_path / "s" / "predictions.csv")
    assert written == _first_fields(tmp_path / "rfm.csv")
    for label in padded["labels"]:
        assert written.count(label) == 1


def test_read_table_keeps_parquet_dtypes_and_reads_csv_ids_as_text(tmp_path):
    from clvpredict.pipeline import read_table

    frame = pd.DataFrame({"client": [7, 7, 42], "date": ["2024-01-01"] * 3, "amount": 1.5})
    frame.to_parquet(tmp_path / "tx.parquet")
    frame.to_csv(tmp_path / "tx.csv", index=False)
    assert read_table(tmp_path / "tx.parquet", customer_col="client")["client"].tolist() == [
        7,
        7,
        42,
    ]
    from_csv = read_table(tmp_path / "tx.csv", customer_col="client")
    assert from_csv["client"].tolist() == ["7", "7", "42"]
    # Only the id column is text: amounts are still numbers.
    assert from_csv["amount"].tolist() == [1.5, 1.5, 1.5]


def test_ids_that_differ_only_by_surrounding_spaces_are_refused(tmp_path):
    # Read as text, " 7" and "7" would be two customers; as numbers they were one. Neither
    # reading can be known to be right, so the user must say.
    tx = pd.DataFrame(
        {"client": ["7", " 7", "8"], "date": ["2024-01-01", "2024-02-01", "2024-01-05"]}
    )
    with pytest.raises(cp.ClvDataError, match=r"\('7', ' 7'\).*str\.strip"):
        cp.rfm_summary(tx, "client", "date")
    tx.to_csv(tmp_path / "tx.csv", index=False)
    args = ["fit", "--transactions", tmp_path / "tx.csv", "--customer-col", "client"]
    assert cli(*args, "--out", tmp_path / "m") == BAD_INPUT
    assert not (tmp_path / "m").exists()


def test_parquet_int_ids_stay_int_in_the_predictions(padded, tmp_path):
    tx = cp.datasets.load_cdnow("sample")
    tx.to_parquet(tmp_path / "tx.parquet")
    assert cli("fit", "--transactions", tmp_path / "tx.parquet", "--out", tmp_path / "m") == 0
    args = ["score", "--model", tmp_path / "m" / "model.json"]
    args += ["--transactions", tmp_path / "tx.parquet", "--format", "parquet"]
    assert cli(*args, "--out", tmp_path / "s") == 0
    table = pd.read_parquet(tmp_path / "s" / "predictions.parquet")
    assert pd.api.types.is_integer_dtype(table.index.dtype)
    assert sorted(table.index) == sorted(tx["customer_id"].unique())
    # The Python API keeps int ids too.
    rfm = cp.rfm_summary(tx, "customer_id", "date", "amount", time_unit="W")
    assert pd.api.types.is_integer_dtype(rfm.index.dtype)


# --------------------------------------------------------------------------------------------
# 2. Purchases dated in the future
# --------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def future_log(tmp_path_factory) -> dict:
    """The issue's case: CDNOW's sample (6,919 rows) plus 14 rows dated 2099-12-31."""
    clean = cp.datasets.load_cdnow("sample")
    rng = np.random.default_rng(9)
    late = clean.sample(14, random_state=rng).assign(date=pd.Timestamp("2099-12-31"))
    tx = pd.concat([clean, late], ignore_index=True)
    folder = tmp_path_factory.mktemp("future")
    tx.to_csv(folder / "tx.csv", index=False)
    clean.to_csv(folder / "clean.csv", index=False)
    return {"tx": tx, "clean": clean, "late": late, "path": folder / "tx.csv"}


SUMMARY = {"customer_id_col": "customer_id", "datetime_col": "date", "time_unit": "W"}


def test_future_rows_are_refused_by_every_log_reader(future_log):
    from clvpredict.evaluation import (
        expected_repeat_transactions_over_time,
        probability_alive_history,
    )

    tx, late = future_log["tx"], future_log["late"]
    first = str(late["customer_id"].iloc[0])
    pattern = rf"14 rows are dated after today.*\(customer {first}\): 2099-12-31.*after_end='drop'"
    with pytest.raises(cp.ClvDataError, match=pattern) as refused:
        cp.rfm_summary(tx, monetary_value_col="amount", **SUMMARY)
    assert "--after-end drop" in str(refused.value)
    assert "--observation-end" in str(refused.value)
    with pytest.raises(cp.ClvDataError, match=pattern):
        cp.calibration_holdout_summary(tx, calibration_end="1997-09-30", **SUMMARY)
    with pytest.raises(cp.ClvDataError, match="14 rows are dated after today"):
        cp.estimate_lifetime_years(tx, "customer_id", "date")
    model = cp.BetaGeoModel().fit(cp.datasets.load_cdnow_summary())
    with pytest.raises(cp.ClvDataError, match="14 rows are dated after today"):
        expected_repeat_transactions_over_time(model, tx, "customer_id", "date", "1997-09-30")
    with pytest.raises(cp.ClvDataError, match="14 rows are dated after today"):
        probability_alive_history(model, tx, "customer_id", "date", late["customer_id"].iloc[0])


def test_dropping_future_rows_gives_the_clean_log_answer(future_log):
    tx, clean = future_log["tx"], future_log["clean"]
    kwargs = {"monetary_value_col": "amount", **SUMMARY}
    dropped = cp.rfm_summary(tx, after_end="drop", **kwargs)
    expected = cp.rfm_summary(clean, **kwargs)
    pd.testing.assert_frame_equal(dropped, expected)
    assert dropped.attrs["observation_end"] == "1998-06-30"
    # The figure: r = 0.254 on the clean log (it was 0.093 with the end moved to 2099).
    assert cp.BetaGeoModel().fit(dropped).params_["r"] == pytest.approx(0.254, abs=5e-4)
    cal = cp.calibration_holdout_summary(
        tx, calibration_end="1997-09-30", after_end="drop", **kwargs
    )
    pd.testing.assert_frame_equal(
        cal, cp.calibration_holdout_summary(clean, calibration_end="1997-09-30", **kwargs)
    )
    # An explicit end in the past already sends later rows to after_end.
    with pytest.raises(cp.ClvDataError, match="after observation_end=1998-06-30"):
        cp.rfm_summary(tx, observation_end="1998-06-30", **kwargs)


def test_an_observation_end_in_the_future_is_refused(future_log):
    clean = future_log["clean"]
    with pytest.raises(cp.ClvDataError, match=r"observation_end=2099-12-31 is after today"):
        cp.rfm_summary(clean, observation_end="2099-12-31", **SUMMARY)
    with pytest.raises(cp.ClvDataError, match=r"observation_end=2099-12-31 is after today"):
        cp.calibration_holdout_summary(
            clean, calibration_end="1997-09-30", observation_end="2099-12-31", **SUMMARY
        )
    with pytest.raises(cp.ClvDataError, match=r"observation_end=2099-12-31 is after today"):
        cp.estimate_lifetime_years(clean, "customer_id", "date", observation_end="2099-12-31")


def test_today_is_the_latest_calendar_day_anywhere(monkeypatch):
    from datetime import date, datetime, timedelta, timezone

    from clvpredict.data import transactions as data

    utc_today = datetime.now(timezone.utc).date()
    assert data._today() in (utc_today, utc_today + timedelta(days=1))
    # A log kept in local time east of UTC is dated up to a day ahead of UTC: on the last
    # day anywhere it is accepted, the day after refused.
    monkeypatch.setattr(data, "_today", lambda: date(2024, 3, 10))
    tx = pd.DataFrame({"c": ["a", "a", "b"], "d": ["2024-01-05", "2024-03-10", "2024-02-01"]})
    assert cp.rfm_summary(tx, "c", "d").attrs["observation_end"] == "2024-03-10"
    assert cp.rfm_summary(tx, "c", "d", observation_end="2024-03-10")["T"].tolist() == [65, 38]
    late = tx.assign(d=["2024-01-05", "2024-03-11", "2024-02-01"])
    with pytest.raises(cp.ClvDataError, match=r"1 row is dated after today \(2024-03-10"):
        cp.rfm_summary(late, "c", "d")
    with pytest.raises(cp.ClvDataError, match="observation_end=2024-03-11 is after today"):
        cp.rfm_summary(tx, "c", "d", observation_end="2024-03-11")


def test_cli_refuses_future_rows_with_exit_2_and_drops_them_when_asked(
    future_log, tmp_path, capsys
):
    path = future_log["path"]
    assert cli("fit", "--transactions", path, "--out", tmp_path / "m") == BAD_INPUT
    assert not (tmp_path / "m").exists()
    err = capsys.readouterr().err
    assert "14 rows are dated after today" in err and "--after-end drop" in err
    args = ("--transactions", path, "--observation-end", "2099-12-31", "--after-end", "drop")
    assert cli("fit", *args, "--out", tmp_path / "m") == BAD_INPUT
    assert not (tmp_path / "m").exists()
    assert cli("refresh", "--transactions", path, "--out", tmp_path / "r") == BAD_INPUT
    # refresh takes its lock on OUT before reading; the lock file is all there is, and empty.
    assert [p.name for p in (tmp_path / "r").iterdir()] == [".lock"]
    assert (tmp_path / "r" / ".lock").read_bytes() == b""
    # Dropped on request: the model of the clean log, and refresh publishes.
    assert cli("fit", "--transactions", path, "--after-end", "drop", "--out", tmp_path / "m") == 0
    bundle = cp.load_model(tmp_path / "m" / "model.json")
    assert bundle.settings["observation_end"] == "1998-06-30"
    clean = cp.rfm_summary(future_log["clean"], monetary_value_col="amount", **SUMMARY)
    expected = cp.BetaGeoModel().fit(clean).params_
    np.testing.assert_allclose(bundle.purchase_model.params_, expected, rtol=1e-12)
    model = tmp_path / "m" / "model.json"
    assert cli("score", "--model", model, "--transactions", path, "--out", tmp_path / "s") == (
        BAD_INPUT
    )
    assert not (tmp_path / "s").exists()
    args = ("--transactions", path, "--after-end", "drop")
    assert cli("score", "--model", model, *args, "--out", tmp_path / "s") == 0
    scored = pd.read_csv(
        tmp_path / "s" / "predictions.csv", index_col="customer_id", float_precision="round_trip"
    )
    np.testing.assert_allclose(
        scored["predictive_clv"], bundle.score(clean).loc[scored.index, "predictive_clv"]
    )
    assert cli("refresh", *args, "--out", tmp_path / "r") == 0
    assert (tmp_path / "r" / "report.html").is_file()


# --------------------------------------------------------------------------------------------
# 3. Every setting is checked, with its type and range, before any work starts
# --------------------------------------------------------------------------------------------

# (TOML line, setting named, words the message must hold). One bad value of each wrong type
# and each range edge, for every field of Settings.
BAD_CONFIG = [
    ("transactions = 5", "transactions", "must be a file path"),
    ('transactions = ""', "transactions", "must not be empty"),
    ("rfm = true", "rfm", "must be a file path"),
    ("model = 1.5", "model", "must be a file path"),
    ("out = 3", "out", "must be a file path"),
    ('out = ""', "out", "must not be empty"),
    ("customer_col = 7", "customer_col", 'write customer_col = "7"'),
    ('customer_col = ""', "customer_col", "must not be empty"),
    ("date_col = false", "date_col", "must be a column name"),
    ('amount_col = ["a"]', "amount_col", "must be a column name"),
    ('date_format = "YYYY-MM-DD"', "date_format", "e.g. '%Y-%m-%d'"),
    ("date_format = 1", "date_format", "must be a strftime format"),
    ('returns = "ignore"', "returns", "'error', 'drop', 'net'"),
    ("returns = 1", "returns", "'error', 'drop', 'net'"),
    ('duplicates = "dedupe"', "duplicates", "'keep', 'drop', 'error'"),
    ('after_end = "keep"', "after_end", "'error', 'drop'"),
    ('observation_end = "2024-13-45"', "observation_end", "is not a date"),
    ("observation_end = 20240630", "observation_end", "is not a date"),
    ("observation_end = 2099-12-31", "observation_end", "is after today"),
    ('time_unit = "weeks"', "time_unit", "'D', 'W', 'M', 'Y'"),
    ("time_unit = 7", "time_unit", "'D', 'W', 'M', 'Y'"),
    ("horizon_months = 0", "horizon_months", "whole number >= 1"),
    ("horizon_months = 12.5", "horizon_months", "whole number >= 1"),
    ('horizon_months = "12"', "horizon_months", "write horizon_months = 12 without quotes"),
    ("horizon_months = true", "horizon_months", "true/false is not a number"),
    ("annual_discount_rate = 10", "annual_discount_rate", "looks like a percentage: use 0.10"),
    ("annual_discount_rate = 1", "annual_discount_rate", ">= 0 and < 1"),
    ("annual_discount_rate = -0.01", "annual_discount_rate", ">= 0 and < 1"),
    ('annual_discount_rate = "0.1"', "annual_discount_rate", "= 0.1 without quotes"),
    ("annual_discount_rate = nan", "annual_discount_rate", "must be a finite number"),
    ("annual_discount_rate = true", "annual_discount_rate", "true/false is not a number"),
    ("margin = 30", "margin", "looks like a percentage: use 0.30"),
    ("margin = 1.01", "margin", ">= 0 and <= 1"),
    ("margin = -0.1", "margin", ">= 0 and <= 1"),
    ('margin = "0.3"', "margin", "write margin = 0.3 without quotes"),
    ("margin = false", "margin", "true/false is not a number"),
    ("currency = 978", "currency", "short label of the amounts' currency"),
    ('currency = ""', "currency", 'currency = "USD"'),
    ('currency = "United States dollars"', "currency", "at most 12 characters"),
    ("lifetime_years = 0", "lifetime_years", "> 0"),
    ("lifetime_years = -1", "lifetime_years", "> 0"),
    ("lifetime_years = inf", "lifetime_years", "must be a finite number"),
    ('lifetime_years = "2"', "lifetime_years", "without quotes"),
    ("lifetime_window_months = 0", "lifetime_window_months", "whole number >= 1"),
    ("lifetime_window_months = 6.0", "lifetime_window_months", "whole number >= 1"),
    ('purchase_model = "bgnbdx"', "purchase_model", "'bgnbd', 'mbgnbd', 'paretonbd'"),
    ("purchase_model = 1", "purchase_model", "'bgnbd', 'mbgnbd', 'paretonbd'"),
    ("holdout_months = 0", "holdout_months", "whole number >= 1"),
    ("holdout_months = -6", "holdout_months", "whole number >= 1"),
    ("max_holdout_error = 20", "max_holdout_error", "looks like a percentage: use 0.20"),
    ("max_holdout_error = 1.5", "max_holdout_error", ">= 0 and <= 1"),
    ("max_holdout_error = -0.1", "max_holdout_error", ">= 0 and <= 1"),
    ('max_holdout_error = "0.2"', "max_holdout_error", "without quotes"),
    ("max_param_drift = 50", "max_param_drift", "looks like a percentage: use 0.50"),
    ("max_param_drift = 1.01", "max_param_drift", ">= 0 and <= 1"),
    ("max_param_drift = -1", "max_param_drift", ">= 0 and <= 1"),
    ("keep = 0", "keep", "whole number >= 1"),
    ("keep = 2.5", "keep", "whole number >= 1"),
    ('output_format = "xlsx"', "output_format", "'csv', 'parquet'"),
    ('engine = "spark-ish"', "engine", "'polars', 'pandas', 'spark'"),
    ('spark_master = "localhost:7077"', "spark_master", "is not a Spark master URL"),
    ("spark_master = 2", "spark_master", "must be a Spark master URL (text)"),
    ('engine = "spark"\noutput_format = "csv"', "output_format", "as Parquet only"),
    ('report = "false"', "report", "write report = false without quotes"),
    ("report = 1", "report", "must be true or false"),
    ('allow_unconverged = "yes"', "allow_unconverged", "must be true or false"),
    ("accept_model_change = 1", "accept_model_change", "must be true or false"),
    ('rfm_time_unit = "days"', "rfm_time_unit", "'D', 'W', 'M', 'Y'"),
    ("rfm_time_unit = 1", "rfm_time_unit", "'D', 'W', 'M', 'Y'"),
    ("covariates = 5", "covariates", "must be a file path"),
    ("covariate_id_col = 7", "covariate_id_col", 'write covariate_id_col = "7"'),
    ("covariate_cols = 3", "covariate_cols", "must be a list of column names"),
    ('covariate_cols = ["channel"]', "covariate_cols", "no covariates file is given"),
    ("purchase_covariates = [1]", "purchase_covariates", "must name columns as text"),
    ('dropout_covariates = ["a", "a"]', "dropout_covariates", "names ['a'] more than once"),
    ('shared_covariates = ["a", ""]', "shared_covariates", "has an empty column name"),
    ("categorical_covariates = 2", "categorical_covariates", "must be a list of column names"),
    ('categorical_covariates = ["region"]', "categorical_covariates", "which no covariate"),
    ('reference_levels = "channel"', "reference_levels", "must be COLUMN=LEVEL"),
    ("covariate_penalty = -1", "covariate_penalty", "must be a number >= 0"),
    ('covariate_penalty = "0.1"', "covariate_penalty", "without quotes"),
]


def test_every_setting_has_bad_values_in_the_table():
    from dataclasses import fields

    from clvpredict.pipeline import Settings

    covered = {name for _, name, _ in BAD_CONFIG}
    assert covered >= {f.name for f in fields(Settings)}


@pytest.fixture
def no_work(monkeypatch) -> list:
    """Replace every job and file read the CLI could start; what was started is recorded."""
    import clvpredict.cli as cli_module
    import clvpredict.pipeline as pipeline

    started: list[str] = []

    def record(name):
        def job(*args, **kwargs):
            started.append(name)
            raise AssertionError(f"{name} started")

        return job

    for name in ("run_fit", "run_score", "run_refresh", "read_table"):
        monkeypatch.setattr(cli_module, name, record(name))
    monkeypatch.setattr(pipeline, "read_table", record("read_table"))
    return started


@pytest.mark.parametrize(("line", "name", "words"), BAD_CONFIG, ids=[b[0] for b in BAD_CONFIG])
def test_a_bad_setting_in_the_config_file_stops_before_any_work(
    line, name, words, tmp_path, capsys, no_work
):
    config = tmp_path / "nightly.toml"
    config.write_text(line + "\n", encoding="utf-8")
    out = tmp_path / "out"
    for command in ("fit", "score", "refresh"):
        assert cli(command, "--config", config, "--out", out) == BAD_INPUT
        err = capsys.readouterr().err
        assert f"{name} = " in err and "nightly.toml" in err and words in err
    assert no_work == [] and not out.exists()
    with pytest.raises(cp.ClvDataError, match=name):
        from clvpredict.pipeline import Settings, load_config

        Settings.from_sources(load_config(config))


def test_the_harness_sees_work_start_when_the_settings_are_good(tmp_path, no_work):
    config = tmp_path / "nightly.toml"
    config.write_text("margin = 0.3\n", encoding="utf-8")
    assert cli("fit", "--config", config, "--out", tmp_path / "out") == 1
    assert no_work == ["run_fit"]


@pytest.mark.parametrize(
    ("flags", "name", "words"),
    [
        (["--margin", "30"], "--margin 30", "looks like a percentage: use 0.30"),
        (["--discount-rate", "10"], "--discount-rate 10", "looks like a percentage: use 0.10"),
        (["--discount-rate", "1"], "--discount-rate 1", ">= 0 and < 1"),
        (["--horizon-months", "0"], "--horizon-months 0", "whole number >= 1"),
        (["--lifetime-years", "0"], "--lifetime-years 0", "> 0"),
        (["--lifetime-years", "nan"], "--lifetime-years nan", "finite"),
        (["--holdout-months", "0"], "--holdout-months 0", "whole number >= 1"),
        (["--observation-end", "yesterday"], "--observation-end yesterday", "is not a date"),
        (["--observation-end", "2099-12-31"], "--observation-end 2099-12-31", "after today"),
        (["--date-format", "%"], "--date-format %", "strftime"),
        (["--max-holdout-error", "20"], "--max-holdout-error 20", "use 0.20"),
        (["--max-param-drift", "50"], "--max-param-drift 50", "use 0.50"),
        (["--keep", "0"], "--keep 0", "whole number >= 1"),
        (["--calibration-end", "1997-13-01"], "--calibration-end 1997-13-01", "is not a date"),
    ],
)
def test_a_bad_flag_stops_before_any_work(flags, name, words, tmp_path, capsys, no_work):
    out = tmp_path / "out"
    command = (
        "refresh" if flags[0] in ("--max-holdout-error", "--max-param-drift", "--keep") else "fit"
    )
    command = "report" if flags[0] == "--calibration-end" else command
    assert cli(command, *flags, "--transactions", tmp_path / "tx.csv", "--out", out) == BAD_INPUT
    err = capsys.readouterr().err
    assert name in err and words in err
    assert no_work == [] and not out.exists()


def test_score_with_both_inputs_is_refused_before_any_work(tmp_path, capsys, no_work):
    out = tmp_path / "out"
    args = ["--model", tmp_path / "model.json", "--out", out, "--rfm-time-unit", "W"]
    both = ["--transactions", tmp_path / "new.csv", "--rfm", tmp_path / "old.csv"]
    assert cli("score", *args, *both) == BAD_INPUT
    err = capsys.readouterr().err
    assert (
        f"--transactions {tmp_path / 'new.csv'}" in err and f"--rfm {tmp_path / 'old.csv'}" in err
    )
    assert "one input" in err and no_work == [] and not out.exists()


def test_a_flag_input_replaces_the_config_input_and_says_so(tmp_path, caplog):
    from clvpredict.pipeline import Settings

    caplog.set_level("INFO", logger="clvpredict.settings")
    config = {"transactions": "nightly.parquet"}
    settings = Settings.from_sources(config, {"rfm": "rfm.csv"}, config_name="nightly.toml")
    assert settings.rfm == "rfm.csv" and settings.transactions is None
    assert 'transactions = "nightly.parquet" in the config file nightly.toml is not read' in (
        caplog.text
    )
    # Both in one source is ambiguous: refused, in Python too.
    with pytest.raises(cp.ClvDataError, match=r"transactions = .*rfm = .*one input"):
        Settings.from_sources({"transactions": "a.csv", "rfm": "b.csv"})
    with pytest.raises(cp.ClvDataError, match=re.escape("transactions='a.csv' and rfm='b.csv'")):
        Settings(transactions="a.csv", rfm="b.csv").validate()


@pytest.mark.parametrize(
    ("flags", "words"),
    [
        (["--discount-rate", "10"], "--discount-rate 10 (setting annual_discount_rate)"),
        (["--margin", "30"], "use 0.30"),
        (["--horizon-months", "0"], "whole number >= 1"),
    ],
)
def test_the_demo_checks_its_flags_too(flags, words, tmp_path, capsys):
    out = tmp_path / "demo"
    assert cli("demo", *flags, "--out", out) == BAD_INPUT
    assert words in capsys.readouterr().err and not out.exists()


def test_good_edges_are_accepted_and_units_normalised():
    from datetime import date

    from clvpredict.pipeline import Settings

    edges = {
        "margin": 0,
        "annual_discount_rate": 0.99,
        "max_holdout_error": 1,
        "max_param_drift": 0,
        "horizon_months": 1,
        "lifetime_years": 0.5,
        "time_unit": "w",
        "observation_end": date(1998, 6, 30),
        "date_format": "%Y%m%d",
        "report": False,
    }
    settings = Settings.from_sources(edges)
    assert settings.time_unit == "W" and settings.observation_end == "1998-06-30"
    assert settings.margin == 0 and settings.max_holdout_error == 1
    assert Settings.from_sources({"margin": 1, "annual_discount_rate": 0}).margin == 1
    assert Settings.from_sources(flags={"time_unit": "m"}).time_unit == "M"


def test_time_unit_in_lower_case_works_from_the_flag_and_the_file(padded, tmp_path):
    config = tmp_path / "c.toml"
    config.write_text('time_unit = "w"\nlifetime_years = 2.0\n', encoding="utf-8")
    assert (
        cli("fit", "--config", config, "--transactions", padded["path"], "--out", tmp_path / "a")
        == 0
    )
    args = ["--transactions", padded["path"], "--lifetime-years", "2", "--time-unit", "w"]
    assert cli("fit", *args, "--out", tmp_path / "b") == 0
    for folder in ("a", "b"):
        bundle = cp.load_model(tmp_path / folder / "model.json")
        assert bundle.settings["time_unit"] == "W" and bundle.purchase_model.time_unit_ == "W"


@pytest.mark.parametrize(
    ("key", "value", "words"),
    [
        ("margin", "0.3", 'margin = "0.3"'),
        ("annual_discount_rate", 10, "looks like a percentage"),
        ("horizon_months", 0, "whole number >= 1"),
        ("lifetime_years", -2.0, "> 0"),
        ("time_unit", "weeks", "'D', 'W', 'M', 'Y'"),
    ],
)
def test_a_bundle_with_a_bad_setting_is_refused_on_load(
    key, value, words, padded, tmp_path, capsys
):
    assert cli("fit", "--transactions", padded["path"], "--out", tmp_path / "m") == 0
    good = cp.load_model(tmp_path / "m" / "model.json")
    # As an older version could write it: a valid checksum over a bad setting.
    bad = cp.ModelBundle(good.purchase_model, good.spend_model, {**good.settings, key: value})
    path = bad.save(tmp_path / "old" / "model.json")
    with pytest.raises(cp.ModelFileError, match=key) as refused:
        cp.load_model(path)
    assert words in str(refused.value) and "Re-fit" in str(refused.value)
    out = tmp_path / "s"
    args = ["score", "--model", path, "--transactions", padded["path"], "--out", out]
    assert cli(*args) == BAD_INPUT
    assert key in capsys.readouterr().err and not out.exists()


def test_refresh_replaces_a_previous_bundle_with_a_bad_setting(padded, tmp_path):
    # Guards the check on load: the nightly job that re-fits must not be stuck behind the old
    # file it is about to replace. The drift gate still compares the parameters.
    out = tmp_path / "clv"
    assert cli("fit", "--transactions", padded["path"], "--out", out) == 0
    good = cp.load_model(out / "model.json")
    cp.ModelBundle(good.purchase_model, good.spend_model, {**good.settings, "margin": "0.3"}).save(
        out / "model.json"
    )
    args = ["--transactions", padded["path"], "--margin", "0.3", "--no-report"]
    assert cli("refresh", *args, "--out", out) == 0
    import json

    gates = json.loads((out / "metrics.json").read_text())["gates"]
    drift = next(g for g in gates if g["name"] == "parameter_drift")
    # Same data, same model: the parameters did not move.
    assert drift["passed"] is True and drift["value"] == pytest.approx(0.0, abs=1e-9)
    assert cp.load_model(out / "model.json").settings["margin"] == 0.3


# --------------------------------------------------------------------------------------------
# 4. An RFM file states its time unit
# --------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def week_model(tmp_path_factory) -> dict:
    """A BG/NBD + Gamma-Gamma bundle in weeks, and CDNOW's sample summarised in three units."""
    folder = tmp_path_factory.mktemp("rfm_units")
    tx = cp.datasets.load_cdnow("sample")
    tx.to_csv(folder / "tx.csv", index=False)
    assert cli("fit", "--transactions", folder / "tx.csv", "--out", folder / "m") == 0
    files = {}
    for unit in ("D", "W", "M"):
        rfm = cp.rfm_summary(tx, "customer_id", "date", "amount", time_unit=unit)
        files[unit] = folder / f"rfm_{unit}.csv"
        rfm.reset_index().to_csv(files[unit], index=False)
    return {"model": folder / "m" / "model.json", "rfm": files, "tx": tx}


def _score_rfm(model: Path, rfm: Path, out: Path, *extra: str) -> int:
    return cli("score", "--model", model, "--rfm", rfm, "--out", out, *extra)


def test_an_rfm_file_in_days_scores_like_the_same_file_in_weeks(week_model, tmp_path):
    model, files = week_model["model"], week_model["rfm"]
    assert _score_rfm(model, files["W"], tmp_path / "w", "--rfm-time-unit", "W") == 0
    assert _score_rfm(model, files["D"], tmp_path / "d", "--rfm-time-unit", "d") == 0
    assert _score_rfm(model, files["M"], tmp_path / "m", "--rfm-time-unit", "M") == 0
    weeks = pd.read_csv(
        tmp_path / "w" / "predictions.csv", index_col="customer_id", float_precision="round_trip"
    )
    # The library's own answer for the week summary, then the same from days and months.
    bundle = cp.load_model(model)
    expected = bundle.score(
        cp.rfm_summary(week_model["tx"], "customer_id", "date", "amount", time_unit="W")
    )
    columns = ["p_alive", "expected_purchases", "predictive_clv", "simple_clv"]
    np.testing.assert_allclose(weeks[columns], expected[columns], rtol=1e-12)
    for unit in ("d", "m"):
        got = pd.read_csv(
            tmp_path / unit / "predictions.csv",
            index_col="customer_id",
            float_precision="round_trip",
        )
        np.testing.assert_allclose(got[[*columns, "T"]], weeks[[*columns, "T"]], rtol=1e-9)


def test_an_rfm_file_without_its_unit_is_refused(week_model, tmp_path, capsys):
    out = tmp_path / "s"
    assert _score_rfm(week_model["model"], week_model["rfm"]["D"], out) == BAD_INPUT
    err = capsys.readouterr().err
    assert "--rfm-time-unit" in err and "'W'" in err
    assert not out.exists()
    from clvpredict.pipeline import Settings, run_score

    settings = Settings(model=str(week_model["model"]), rfm=str(week_model["rfm"]["D"]))
    with pytest.raises(cp.ClvDataError, match="rfm_time_unit"):
        run_score(settings)


def test_a_bgbb_refuses_an_rfm_file_in_another_unit(week_model, tmp_path, capsys):
    tx = week_model["tx"]
    months = cp.rfm_summary(tx, "customer_id", "date", "amount", time_unit="M", discrete=True)
    bundle = cp.ModelBundle(
        cp.BetaGeoBetaBinomModel().fit(months),
        cp.GammaGammaModel().fit(months),
        {"lifetime_years": 2.0, "horizon_months": 12, "annual_discount_rate": 0.1, "margin": 1.0},
    )
    path = bundle.save(tmp_path / "bgbb.json")
    out = tmp_path / "s"
    assert _score_rfm(path, week_model["rfm"]["W"], out, "--rfm-time-unit", "W") == BAD_INPUT
    assert "BG/BB" in capsys.readouterr().err and not out.exists()
    months.reset_index().to_csv(tmp_path / "months.csv", index=False)
    assert _score_rfm(path, tmp_path / "months.csv", out, "--rfm-time-unit", "M") == 0
    got = pd.read_csv(
        out / "predictions.csv", index_col="customer_id", float_precision="round_trip"
    )
    np.testing.assert_allclose(got["p_alive"], bundle.score(months)["p_alive"], rtol=1e-12)

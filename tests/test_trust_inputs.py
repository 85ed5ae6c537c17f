"""Inputs that used to give wrong numbers with exit code 0: customer ids read as numbers,
purchases dated in the future, settings of the wrong type or range, and RFM files in another
time unit. Each must now be a correct answer or a ClvDataError (exit 2) naming the fix."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import clvpredict as cp
from clvpredict.cli import main

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
        table = pd.read_csv(path, dtype={"customer_id": str}).set_index("customer_id")
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
    assert cli(*args, "--out", tmp_path / "s") == 0
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

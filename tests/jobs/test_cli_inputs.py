"""The command line reads what people store, in its embedded engine or in pandas.

CDNOW written as one CSV, a gzipped CSV, one Parquet file, a directory of Parquet parts and a
glob of them must give the same fitted models and the same scores; polars (the default, which
streams the file) and pandas must agree; and a polars run repeated gives the same bytes.
"""

from __future__ import annotations

import io
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import clvpredict as cp
from clvpredict.jobs.cli import main

COLUMNS = ["--customer-col", "customer_id", "--date-col", "date", "--amount-col", "amount"]
#: FHL 2005's calibration period: 39 weeks to 1997-09-30.
CALIBRATION = [
    "--observation-end",
    "1997-09-30",
    "--after-end",
    "drop",
    "--time-unit",
    "W",
    "--lifetime-years",
    "2",
]


@pytest.fixture(scope="module")
def stored(tmp_path_factory) -> dict[str, str]:
    """CDNOW in every stored form the command line reads."""
    root = tmp_path_factory.mktemp("lake")
    tx = cp.datasets.load_cdnow()[["customer_id", "date", "amount"]]
    tx = tx.assign(date=tx["date"].dt.strftime("%Y-%m-%d"))
    tx.to_csv(root / "tx.csv", index=False)
    tx.to_csv(root / "tx.csv.gz", index=False)
    parquet = tx.assign(date=pd.to_datetime(tx["date"]))
    parquet.to_parquet(root / "tx.parquet", index=False)
    parts = root / "parts"
    parts.mkdir()
    for k, rows in enumerate(np.array_split(np.arange(len(parquet)), 3)):
        parquet.iloc[rows].to_parquet(parts / f"part-{k}.parquet", index=False)
    return {
        "csv": str(root / "tx.csv"),
        "csv.gz": str(root / "tx.csv.gz"),
        "parquet": str(root / "tx.parquet"),
        "directory": str(parts),
        "glob": str(parts / "part-*.parquet"),
    }


def fit(path: str, out: Path, *extra: str) -> dict:
    code = main(["fit", "--transactions", path, *COLUMNS, *CALIBRATION, "--out", str(out), *extra])
    assert code == 0
    return json.loads((out / "model.json").read_text())


def params(model: dict) -> dict[str, float]:
    return {
        f"{role}.{name}": value
        for role in ("purchase_model", "spend_model")
        for name, value in model[role]["params"].items()
    }


@pytest.fixture(scope="module")
def reference(stored, tmp_path_factory) -> dict:
    return fit(stored["csv"], tmp_path_factory.mktemp("ref"), "--engine", "pandas")


@pytest.mark.parametrize("form", ["csv", "csv.gz", "parquet", "directory", "glob"])
def test_every_stored_form_gives_the_pandas_fit(form, stored, reference, tmp_path):
    model = fit(stored[form], tmp_path)
    expected, got = params(reference), params(model)
    assert got.keys() == expected.keys()
    for name, value in expected.items():
        # Both engines reach the optimum of the same likelihood; their data differ only in how
        # the sums of money were rounded (exact micro-units against pandas' float sums).
        assert got[name] == pytest.approx(value, rel=1e-6), name
    assert model["settings"]["n_transactions"] == 6919  # rows read, before the end is applied
    assert model["settings"]["n_customers"] == 2357
    # FHL 2005's BG/NBD estimates for CDNOW in weeks (shared/REFERENCE.md), to their digits.
    assert got["purchase_model.r"] == pytest.approx(0.243, abs=5e-4)


def test_a_polars_run_repeated_writes_the_same_bytes(stored, tmp_path):
    outputs = []
    for attempt in ("a", "b"):
        out = tmp_path / attempt
        code = main(["fit", "--transactions", stored["directory"], *COLUMNS, "--out", str(out)])
        assert code == 0
        code = main(
            [
                "score",
                "--model",
                str(out / "model.json"),
                "--transactions",
                stored["glob"],
                *COLUMNS,
                "--out",
                str(out),
            ]
        )
        assert code == 0
        outputs.append((out / "predictions.csv").read_bytes())
    assert outputs[0] == outputs[1]


def test_a_folder_without_parquet_and_a_glob_matching_nothing_are_refused(tmp_path, capsys):
    empty = tmp_path / "empty"
    empty.mkdir()
    assert main(["fit", "--transactions", str(empty), *COLUMNS, "--out", str(tmp_path)]) == 2
    assert "holds no .parquet files" in capsys.readouterr().err
    pattern = str(tmp_path / "nothing-*.parquet")
    assert main(["fit", "--transactions", pattern, *COLUMNS, "--out", str(tmp_path)]) == 2
    assert "No file matches" in capsys.readouterr().err


def test_written_predictions_read_back_exactly():
    """The CSV writer (Arrow's, for speed) loses no digit and no leading zero, and quotes ids
    only when one of them needs it."""
    from clvpredict.jobs.pipeline import table_bytes

    values = [9.092584598956495e-06, 1e16, 0.1, 123456789.0, 5e-324, np.nan, 1 / 3]
    table = pd.DataFrame(
        {"frequency": np.arange(7), "p_alive": values, "predictive_clv": np.array(values) * 7},
        index=pd.Index(["007", "7", "a,b", 'q"x', "0042", " 1", "x"], name="customer_id"),
    )
    written = table_bytes(table, "csv")
    assert written.splitlines()[0] == b"customer_id,frequency,p_alive,predictive_clv"
    assert written.splitlines()[1].startswith(b'"007",0,')
    plain = table_bytes(table.iloc[[0, 1, 4]], "csv").splitlines()
    assert [line.split(b",")[0] for line in plain] == [b"customer_id", b"007", b"7", b"0042"]
    back = pd.read_csv(
        io.BytesIO(written),
        dtype={"customer_id": str},
        index_col="customer_id",
        float_precision="round_trip",
    )
    assert list(back.index) == list(table.index)
    for column in table.columns:
        np.testing.assert_array_equal(back[column].to_numpy(), table[column].to_numpy())
    assert table_bytes(table, "csv") == written

"""Bundled data sets: contents, and that they load from a plain (non-editable) wheel install."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

import pandas as pd
import pytest

import clvpredict as cp

REPO = Path(__file__).resolve().parents[2]


def test_cdnow_sample_is_tidy():
    tx = cp.datasets.load_cdnow("sample")
    assert list(tx.columns) == ["customer_id", "date", "quantity", "amount"]
    assert tx.shape == (6919, 4)
    assert tx["customer_id"].nunique() == 2357
    assert pd.api.types.is_datetime64_any_dtype(tx["date"])
    assert tx["date"].min() == pd.Timestamp("1997-01-01")
    assert tx["date"].max() <= pd.Timestamp("1998-06-30")
    # First rows of the published file: sample id 1 bought 2 CDs for $29.33 on 1997-01-01.
    assert tx.iloc[0].to_dict() == {
        "customer_id": 1,
        "date": pd.Timestamp("1997-01-01"),
        "quantity": 2,
        "amount": 29.33,
    }


def test_cdnow_master_is_tidy():
    tx = cp.datasets.load_cdnow("master")
    assert tx.shape == (69659, 4)
    assert tx["customer_id"].nunique() == 23570


def test_summary_and_donations():
    summary = cp.datasets.load_cdnow_summary()
    assert summary.shape == (2357, 4) and summary.attrs["time_unit"] == "W"
    assert summary["frequency"].sum() == 2457
    donations = cp.datasets.load_donations()
    assert list(donations.columns) == ["frequency", "recency", "periods", "weights"]
    assert donations["weights"].sum() == 11104


def test_unknown_kind():
    with pytest.raises(cp.ClvDataError, match="'sample', 'master'"):
        cp.datasets.load_cdnow("everything")


def test_wheel_ships_the_data_and_loads_from_elsewhere(tmp_path):
    """Build the wheel, unpack it, and load every data set from an unrelated folder."""
    wheel_dir = tmp_path / "wheel"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "--no-build-isolation",
            "-q",
            "-w",
            str(wheel_dir),
            str(REPO),
        ],
        check=True,
    )
    (wheel,) = wheel_dir.glob("clvpredict-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    for data_file in (
        "CDNOW_sample.txt",
        "CDNOW_master.txt",
        "donations.csv",
        "covariates_customers.csv",
        "covariates_summary.csv",
        "covariates_transactions.csv",
        "covariates_truth.json",
    ):
        assert f"clvpredict/_data/{data_file}" in names
    site = tmp_path / "site"
    zipfile.ZipFile(wheel).extractall(site)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    script = (
        "import clvpredict, clvpredict.datasets as d; "
        "assert 'site' in clvpredict.__file__, clvpredict.__file__; "
        "print(d.load_cdnow().shape, d.load_cdnow('master').shape, "
        "d.load_cdnow_summary().shape, d.load_donations().shape, "
        "d.load_covariates_customers().shape, d.load_covariates_summary().shape, "
        "d.load_covariates_transactions().shape, d.load_covariates_truth()['n_customers'])"
    )
    # The unpacked wheel comes first on sys.path, ahead of any editable install.
    out = subprocess.run(
        [sys.executable, "-c", f"import sys; sys.path.insert(0, {str(site)!r}); {script}"],
        cwd=elsewhere,
        capture_output=True,
        text=True,
        check=True,
    )
    assert out.stdout.strip() == (
        "(6919, 4) (69659, 4) (2357, 4) (22, 4) (5000, 3) (5000, 4) (12789, 3) 5000"
    )

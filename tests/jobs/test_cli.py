"""The command line, run in a subprocess as users and scripts run it."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pandas as pd

import clvpredict as cp


def _run(*args, cwd=None):
    return subprocess.run(
        [sys.executable, "-m", "clvpredict", *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        timeout=300,
    )


def test_demo_prints_summaries_and_writes_the_table(tmp_path):
    out = tmp_path / "demo"
    result = _run("demo", "--out", str(out), "--margin", "0.3")
    assert result.returncode == 0, result.stderr
    assert "BG/NBD" in result.stdout and "Gamma-Gamma" in result.stdout
    assert "predictive_clv" in result.stdout and "simple_clv" in result.stdout
    table = pd.read_csv(out / "clv_table.csv", index_col="customer_id")
    assert len(table) == 2357
    # The written table is the library's, computed independently here.
    tx = cp.datasets.load_cdnow()
    rfm = cp.rfm_summary(
        tx, "customer_id", "date", "amount", observation_end="1998-06-30", time_unit="W"
    )
    bg, gg = cp.BetaGeoModel().fit(rfm), cp.GammaGammaModel().fit(rfm)
    expected = cp.predictive_clv(bg, gg, rfm, margin=0.3)
    np.testing.assert_allclose(table["predictive_clv"], expected.loc[table.index], rtol=1e-9)
    # The top 10 printed are the 10 largest predictive CLVs.
    top_ids = expected.nlargest(10).index
    printed = result.stdout.split("simple_clv", 1)[1]
    for customer in top_ids:
        assert f"\n{customer} " in printed
    assert not list(out.glob(".*.tmp")), "temporary files left behind"


def test_help_shows_an_example():
    result = _run("demo", "--help")
    assert result.returncode == 0 and "example:" in result.stdout


def test_no_command_is_a_usage_error():
    assert _run().returncode == 2

"""Progress bars: long work says what it is doing and how far it is; short work prints nothing.

A bar shows after ``_progress.DELAY_SECONDS``; these tests set the delay to zero (so that no
test depends on how fast the machine is) or leave the default of seconds (which CDNOW's small
computations never reach), and read what the bar wrote to stderr. The place a bar goes (a
kernel, a terminal, a log file) is decided by ``_progress`` and checked here too.
"""

from __future__ import annotations

import functools
import io
import re
import time

import numpy as np
import pytest
from tqdm.std import tqdm

import clvpredict as cp
from clvpredict import _progress
from clvpredict.jobs.pipeline import Settings, refresh_step_count, run_refresh


@pytest.fixture(scope="module")
def model():
    return cp.BetaGeoModel().fit(cp.datasets.load_cdnow_summary())


@pytest.fixture
def shown(monkeypatch):
    """Bars shown at once, as text, wherever stderr goes (as in a Jupyter kernel without
    ipywidgets)."""
    monkeypatch.setattr(_progress, "DELAY_SECONDS", 0.0)
    monkeypatch.setattr(_progress, "_in_kernel", lambda: True)
    # Every step drawn (tqdm otherwise redraws at most every 0.1 s).
    every_step = functools.partial(tqdm, mininterval=0.0, miniters=1)
    monkeypatch.setattr(_progress, "_bar_class", lambda: every_step)


def _last_count(stderr: str) -> tuple[int, int]:
    """The last ``done/total`` a text bar printed."""
    counts = re.findall(r"(\d+)/(\d+) \[", stderr)
    assert counts, stderr
    done, total = counts[-1]
    return int(done), int(total)


def test_interval_draws_show_their_progress_and_finish(model, shown, capsys):
    summary = cp.datasets.load_cdnow_summary()
    with_bar = model.probability_alive(summary, interval=0.9, n_draws=50, random_state=1)
    stderr = capsys.readouterr().err
    assert "intervals: 50 parameter draws x " in stderr
    # One step per draw and block of rows; the bar reached its end.
    done, total = _last_count(stderr)
    assert done == total == 50
    # The bar changes nothing in the result.
    _progress_off = model.probability_alive(summary, interval=0.9, n_draws=50, random_state=1)
    np.testing.assert_array_equal(with_bar.to_numpy(), _progress_off.to_numpy())


def test_profile_intervals_show_each_bound(model, shown, capsys):
    model.summary(method="profile")
    stderr = capsys.readouterr().err
    assert "profile intervals of 4 parameters" in stderr
    assert _last_count(stderr) == (8, 8)  # a lower and an upper bound for r, alpha, a, b


def test_short_work_prints_nothing(model, monkeypatch, capsys):
    # In a kernel (where bars are wanted) but with the default delay of seconds: CDNOW's
    # profile intervals take a fraction of that.
    monkeypatch.setattr(_progress, "_in_kernel", lambda: True)
    monkeypatch.setattr(_progress, "_bar_class", lambda: tqdm)
    assert _progress.DELAY_SECONDS >= 1.0
    model.summary(method="profile")
    assert capsys.readouterr().err == ""


def test_no_bar_in_a_log_file_or_when_switched_off(monkeypatch):
    monkeypatch.setattr(_progress, "DELAY_SECONDS", 0.0)
    log = io.StringIO()  # not a terminal: what a nightly job's log is
    monkeypatch.setattr("sys.stderr", log)
    assert list(_progress.progress(range(3), desc="work")) == [0, 1, 2]
    assert log.getvalue() == ""
    monkeypatch.setattr(_progress, "_in_kernel", lambda: True)
    monkeypatch.setattr(_progress, "_bar_class", lambda: tqdm)
    monkeypatch.setenv("CLVPREDICT_PROGRESS", "0")
    assert list(_progress.progress(range(3), desc="work")) == [0, 1, 2]
    assert log.getvalue() == ""
    monkeypatch.delenv("CLVPREDICT_PROGRESS")
    list(_progress.progress(range(3), desc="work"))
    assert "work" in log.getvalue()


def test_a_model_comparison_shows_each_model(shown, capsys):
    calibration = cp.calibration_holdout_summary(
        cp.datasets.load_cdnow(), "customer_id", "date", "1997-09-30", "1998-06-30", time_unit="W"
    )
    capsys.readouterr()
    cp.compare_models(calibration)
    stderr = capsys.readouterr().err
    assert "comparing purchase models" in stderr
    assert _last_count(stderr) == (3, 3)  # BG/NBD, MBG/NBD and Pareto/NBD


# ------------------------------------------------------------------------------------------
# The steps of the nightly refresh, run from Python
# ------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def cdnow_csv(tmp_path_factory):
    path = tmp_path_factory.mktemp("log") / "tx.csv"
    cp.datasets.load_cdnow("sample").to_csv(path, index=False)
    return path


def _quick_refresh(cdnow_csv, out):
    """A refresh of the CDNOW sample without the report (its slowest step): 12 steps."""
    settings = Settings(transactions=str(cdnow_csv), out=str(out), report=False)
    assert refresh_step_count(settings) == 12
    return run_refresh(settings)


def _step_counts(stderr: str) -> list[tuple[int, int]]:
    return [(int(n), int(t)) for n, t in re.findall(r"(\d+)/(\d+) steps \[", stderr)]


def test_a_refresh_shows_a_bar_over_its_steps(cdnow_csv, tmp_path, shown, capsys):
    _quick_refresh(cdnow_csv, tmp_path / "clv")
    stderr = capsys.readouterr().err
    counts = _step_counts(stderr)
    # Drawn as each step ends (and by the bar's own thread in between), up to the last.
    assert counts[-1] == (12, 12) and {t for _, t in counts} == {12}
    assert set(range(1, 13)) <= {n for n, _ in counts}
    assert "clvpredict refresh:" in stderr
    for name in ("validate and summarise", "fit BG/NBD and Gamma-Gamma", "publish"):
        assert name in stderr


def test_no_step_bar_in_a_log_file_and_none_for_short_work(cdnow_csv, tmp_path, monkeypatch):
    monkeypatch.setattr(_progress, "DELAY_SECONDS", 0.0)
    with open(tmp_path / "job.log", "w") as log:  # a real file, as a nightly job's stderr
        monkeypatch.setattr("sys.stderr", log)
        _quick_refresh(cdnow_csv, tmp_path / "clv")
    text = (tmp_path / "job.log").read_text()
    assert "steps [" not in text and "\r" not in text and "\x1b" not in text
    # In a kernel, where bars are wanted, a refresh that ends before the delay prints nothing.
    monkeypatch.setattr(_progress, "DELAY_SECONDS", 600.0)
    monkeypatch.setattr(_progress, "_in_kernel", lambda: True)
    monkeypatch.setattr(_progress, "_bar_class", lambda: tqdm)
    shown_on = io.StringIO()
    monkeypatch.setattr("sys.stderr", shown_on)
    _quick_refresh(cdnow_csv, tmp_path / "clv")
    assert "steps [" not in shown_on.getvalue()


def test_the_step_bar_appears_during_a_long_step(monkeypatch, capsys):
    """A job whose first step outlasts the delay shows its bar then, not when the step ends."""
    monkeypatch.setattr(_progress, "DELAY_SECONDS", 0.2)
    monkeypatch.setattr(_progress, "REDRAW_SECONDS", 0.1)
    monkeypatch.setattr(_progress, "_in_kernel", lambda: True)
    monkeypatch.setattr(_progress, "_bar_class", lambda: tqdm)
    bar = _progress.StepBar(3, desc="job")
    bar.start("a long first step")
    shown_so_far = ""
    deadline = time.monotonic() + 30  # the bar's thread may wait for the cores a while
    while "0/3 steps" not in shown_so_far and time.monotonic() < deadline:
        time.sleep(0.05)
        shown_so_far += capsys.readouterr().err
    bar.advance()
    bar.close()
    assert "job:   0%|" in shown_so_far and "0/3 steps [" in shown_so_far
    assert "a long first step" in shown_so_far

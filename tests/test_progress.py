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

import numpy as np
import pytest
from tqdm.std import tqdm

import clvpredict as cp
from clvpredict import _progress


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

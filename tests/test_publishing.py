"""Crash-atomic publishing of the nightly refresh: kill -9 or a failing disk at every file
operation, migration from the file-by-file layout, the lock, leftovers, and single-file writes.

A night is identified by its four reader paths (``OUT/model.json``, predictions, metrics,
report), compared with the outputs of an uninterrupted run of the same night. Only the fields
that record when a file was written or what it cost (``created_at`` and the checksums over it,
``run_at``, ``timings_seconds``, ``peak_memory_bytes``, the report's "Generated ..." line) are
blanked before comparing.
"""

from __future__ import annotations

import fcntl
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import clvpredict as cp
from clvpredict import cli, publishing
from clvpredict.publishing import OUTPUT_NAMES

FAULT = publishing._Faults.variable


# --------------------------------------------------------------------------------------------
# Helpers
# --------------------------------------------------------------------------------------------


def _blank_times(document: dict) -> dict:
    document = {k: v for k, v in document.items() if k not in ("created_at", "checksum")}
    for role in ("purchase_model", "spend_model"):
        if role in document:
            document[role] = _blank_times(document[role])
    return document


def normalised(name: str, content: bytes) -> bytes:
    """The file with the fields that only say when it was written blanked."""
    if name == "model.json":
        return json.dumps(_blank_times(json.loads(content)), sort_keys=True).encode()
    if name == "metrics.json":
        metrics = json.loads(content)
        metrics.pop("run_at")
        metrics.pop("timings_seconds")
        metrics.pop("peak_memory_bytes")
        return json.dumps(metrics, sort_keys=True).encode()
    if name == "report.html":
        return re.sub(rb"Generated \d{4}-\d\d-\d\d \d\d:\d\d UTC", b"Generated", content)
    return content


def night(out: Path) -> dict[str, bytes | None]:
    """What a reader finds at the reader paths (None: no such file)."""
    return {
        name: normalised(name, (out / name).read_bytes()) if (out / name).exists() else None
        for name in OUTPUT_NAMES
    }


def which_night(state: dict, nights: dict[str, dict]) -> str:
    for label, reference in nights.items():
        if state == reference:
            return label
    mixed = {
        name: [label for label, ref in nights.items() if ref[name] == value]
        for name, value in state.items()
    }
    raise AssertionError(f"the reader paths mix nights or hold something else: {mixed}")


def restore(saved: Path, out: Path) -> None:
    shutil.rmtree(out, ignore_errors=True)
    shutil.copytree(saved, out, symlinks=True)


def run_in_child(args: list[str], fault: str | None, timeout: float = 120.0) -> tuple[str, int]:
    """``clvpredict ARGS`` in a forked child, with ``CLVPREDICT_TEST_FAULT=fault``.

    Returns ``("killed", -1)`` if the child died of SIGKILL, else ``("exit", code)`` after
    checking that it ran to the end; the child's count of file operations is in ``ops[0]``.
    """
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - child
        code = 99
        try:
            os.close(read_end)
            if fault:
                os.environ[FAULT] = fault
            publishing._faults.count = 0
            code = cli.main([*args, "-q"])
            os.write(write_end, str(publishing._faults.count).encode())
        finally:
            os._exit(code)
    os.close(write_end)
    deadline = time.monotonic() + timeout
    while True:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            break
        if time.monotonic() > deadline:
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
            raise AssertionError(f"child {args} with {fault} hung")
        time.sleep(0.01)
    with os.fdopen(read_end, "rb") as pipe:
        counted = pipe.read()
    if os.WIFSIGNALED(status):
        assert os.WTERMSIG(status) == signal.SIGKILL
        return "killed", -1
    ops[0] = int(counted) if counted else -1
    return "exit", os.WEXITSTATUS(status)


ops = [0]


def listing(out: Path) -> set[str]:
    """Every entry under ``out``, links shown as ``name -> target`` and not followed."""
    found = set()
    for root, dirs, files in os.walk(out):
        for name in dirs + files:
            path = Path(root) / name
            rel = str(path.relative_to(out))
            found.add(f"{rel} -> {os.readlink(path)}" if path.is_symlink() else rel)
    return found


def release_dirs(out: Path) -> list[str]:
    """Release folders (staging and trash folders, hidden, left out)."""
    return sorted(p.name for p in (out / "releases").iterdir() if not p.name.startswith("."))


def scored_matches_published(out: Path, tx: Path, scratch: Path) -> None:
    """``clvpredict score --model OUT/model.json`` works, and the bundle read through the reader
    path predicts the CLV that the predictions read through the reader paths hold: model and
    predictions are from the same night."""
    shutil.rmtree(scratch, ignore_errors=True)
    code = cli.main(["score", "--model", str(out / "model.json"), "--transactions", str(tx),
                     "--out", str(scratch), "-q"])  # fmt: skip
    assert code == 0
    scored = pd.read_csv(scratch / "predictions.csv", index_col=0, float_precision="round_trip")
    if (out / "predictions.csv").exists():
        published = pd.read_csv(out / "predictions.csv", index_col=0, float_precision="round_trip")
    else:
        published = pd.read_parquet(out / "predictions.parquet")
    assert len(scored) == len(published) == 2357
    np.testing.assert_allclose(
        scored["predictive_clv"].to_numpy(), published["predictive_clv"].to_numpy(), rtol=1e-12
    )


# --------------------------------------------------------------------------------------------
# Two nights on the CDNOW sample
# --------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def memoised_fits():
    """A night's fit and HTML report are computed for real once, then reused for the same
    inputs: the kill tests publish the same nights hundreds of times, and fits are
    deterministic. Everything else (gates, scoring, serialising, publishing) runs each time."""
    from dataclasses import asdict

    from clvpredict import pipeline, report

    real_fit = pipeline.run_fit
    fits: dict[str, tuple] = {}

    def run_fit(settings, record=None, **kwargs):
        key = repr((sorted(asdict(settings).items()), sorted(kwargs.items())))
        if key not in fits:
            fits[key] = real_fit(settings, record, **kwargs)
        return fits[key]

    real = report.build_report
    cache: dict[str, bytes] = {}

    def build_report(path, transactions, *args, **kwargs):
        rows = getattr(transactions, "n_rows", None) or len(transactions)
        key = repr((rows, args, sorted((k, repr(v)) for k, v in kwargs.items()
                    if isinstance(v, str | int | float | type(None)))))  # fmt: skip
        if key not in cache:
            cache[key] = Path(real(path, transactions, *args, **kwargs)).read_bytes()
        Path(path).write_bytes(cache[key])
        return Path(path)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(pipeline, "run_fit", run_fit)
        # The job calls the name it imported; the module's own is patched for other callers.
        patch.setattr(pipeline, "build_report", build_report)
        patch.setattr(report, "build_report", build_report)
        yield


@pytest.fixture(scope="module")
def world(tmp_path_factory, memoised_fits):
    """Night A (csv, report, margin 1), then night B (parquet, report, margin 0.5), published to
    the same OUT; the state after A is saved for the kill tests to start from."""
    root = tmp_path_factory.mktemp("publishing")
    tx = root / "tx.csv"
    cp.datasets.load_cdnow("sample").to_csv(tx, index=False)
    out = root / "out"
    args_a = ["refresh", "--transactions", str(tx), "--out", str(out)]
    args_b = [*args_a, "--format", "parquet", "--margin", "0.5"]
    assert cli.main([*args_a, "-q"]) == 0
    saved_a = root / "saved-a"
    shutil.copytree(out, saved_a, symlinks=True)
    night_a = night(out)
    assert cli.main([*args_b, "-q"]) == 0
    night_b = night(out)
    # Every file tells the two nights apart, so a mix cannot go unnoticed.
    assert night_a["predictions.parquet"] is None and night_b["predictions.csv"] is None
    for name in ("model.json", "metrics.json", "report.html"):
        assert night_a[name] is not None and night_b[name] is not None
        assert night_a[name] != night_b[name], name
    return {
        "root": root,
        "tx": tx,
        "out": out,
        "saved_a": saved_a,
        "args_a": args_a,
        "args_b": args_b,
        "nights": {"A": night_a, "B": night_b},
    }


def test_layout_after_two_nights(world):
    out = world["out"]
    restore(world["saved_a"], out)
    assert cli.main([*world["args_b"], "-q"]) == 0
    first, second = release_dirs(out)
    assert listing(out) == {
        ".lock",
        f"current -> releases/{second}",
        "model.json -> current/model.json",
        "predictions.parquet -> current/predictions.parquet",
        "metrics.json -> current/metrics.json",
        "report.html -> current/report.html",
        "releases",
        f"releases/{first}",
        f"releases/{second}",
        *(f"releases/{first}/{name}" for name in
          (".published", "model.json", "predictions.csv", "metrics.json", "report.html")),
        *(f"releases/{second}/{name}" for name in
          (".published", "model.json", "predictions.parquet", "metrics.json", "report.html")),
    }  # fmt: skip
    assert first < second
    # The previous night stays whole in its release folder.
    assert night(out / "releases" / first) == world["nights"]["A"]
    assert night(out) == night(out / "current") == world["nights"]["B"]
    assert (out / "releases" / second / "model.json").stat().st_mode & 0o044
    assert (out / ".lock").read_bytes() == b""


def test_kill_at_every_file_operation_leaves_one_whole_night(world, capsys):
    """SIGKILL before file operation k = 0, 1, 2, ... of night B's refresh, until a run gets to
    the end: after each kill, the reader paths give all of night A or all of night B, the model
    scores, and the next refresh removes the leftovers and publishes B."""
    out, nights, tx = world["out"], world["nights"], world["tx"]
    seen = []
    for k in range(200):
        restore(world["saved_a"], out)
        outcome, code = run_in_child(world["args_b"], f"kill:{k}")
        if outcome == "exit":
            assert code == 0 and ops[0] == k, (code, ops[0], k)
            assert night(out) == nights["B"]
            break
        seen.append(which_night(night(out), nights))
        killed_release = set(release_dirs(out)) - set(release_dirs(world["saved_a"]))
        staging = [p.name for p in (out / "releases").glob(".staging-*")]
        scored_matches_published(out, tx, world["root"] / "score")
        capsys.readouterr()
        # The lock died with the process: the next refresh runs, tidies and publishes.
        assert cli.main(world["args_b"]) == 0
        log = capsys.readouterr().err
        assert night(out) == nights["B"]
        releases = release_dirs(out)
        kept = set(releases) - set(release_dirs(world["saved_a"]))
        # A release killed before its pointer swap is removed (and says so); one made current
        # is kept.
        unpublished = "a refresh was killed before publishing it"
        if seen[-1] == "B":
            assert len(killed_release) == 1 and killed_release < kept and len(kept) == 2
            assert unpublished not in log
        else:
            assert len(kept) == 1
            for name in killed_release:
                assert f"removed releases/{name}: {unpublished}" in log, log
            for name in staging:
                assert f"releases/{name}, left by an interrupted refresh" in log, log
        assert listing(out) == {
            ".lock",
            f"current -> releases/{releases[-1]}",
            "model.json -> current/model.json",
            "predictions.parquet -> current/predictions.parquet",
            "metrics.json -> current/metrics.json",
            "report.html -> current/report.html",
            "releases",
            *(f"releases/{r}" for r in releases),
            *(f"releases/{r}/{f}" for r in releases for f in os.listdir(out / "releases" / r)),
        }
        for r in releases:
            assert (out / "releases" / r / ".published").exists()
    else:
        raise AssertionError("the refresh never finished")
    # One operation commits: A before it, B from it on.
    commit = seen.index("B") if "B" in seen else len(seen)
    assert seen == ["A"] * commit + ["B"] * (len(seen) - commit)
    assert 5 <= commit < len(seen), seen


def test_failing_disk_at_every_file_operation(world, capsys):
    """OSError(ENOSPC) at file operation k: before the commit the run exits 1 and readers keep
    night A; after it, the night is published (exit 0) and the tidying is left to the next run."""
    out, nights = world["out"], world["nights"]
    outcomes = []
    for k in range(200):
        restore(world["saved_a"], out)
        publishing._faults.count = 0
        os.environ[FAULT] = f"oserror:{k}"
        try:
            code = cli.main(world["args_b"])
        finally:
            del os.environ[FAULT]
        err = capsys.readouterr().err
        label = which_night(night(out), nights)
        outcomes.append((code, label))
        if publishing._faults.count <= k:  # the fault was never reached
            assert (code, label) == (0, "B") and "injected" not in err
            break
        if code == 1:
            assert label == "A" and "[Errno 28] injected fault" in err, err
            # The machine's fault in one line, not a traceback that reads like a bug.
            assert "Nothing was half-published" in err and "Traceback" not in err, err
        else:
            assert (code, label) == (0, "B") and "next refresh finishes it" in err, err
        assert cli.main([*world["args_b"], "-q"]) == 0
        assert night(out) == nights["B"]
        assert not [e for e in listing(out) if "/." in e and not e.endswith("/.published")]
        assert not [e for e in listing(out) if e.startswith(".") and e != ".lock"]
    else:
        raise AssertionError("the refresh never finished")
    failed = [code for code, _ in outcomes[:-1]]
    first_ok = failed.index(0) if 0 in failed else len(failed)
    assert failed == [1] * first_ok + [0] * (len(failed) - first_ok)
    assert 5 <= first_ok < len(failed)


def test_command_line_killed_just_before_and_after_the_pointer_swap(world):
    """The real command in its own process, killed with SIGKILL around the commit."""
    out, nights = world["out"], world["nights"]
    args = [*world["args_b"], "--no-report"]
    restore(world["saved_a"], out)
    trace: list[str] = []
    real_before = publishing._faults.before

    def record(what, path):
        trace.append(f"{what} {path}")
        real_before(what, path)

    publishing._faults.count = 0
    publishing._faults.before = record
    try:
        assert cli.main([*args, "-q"]) == 0
    finally:
        del publishing._faults.before
    night_b_without_report = night(out)
    assert night_b_without_report["report.html"] is None
    swap = next(i for i, op in enumerate(trace) if op.startswith("replace") and
                op.endswith(f"{out}/current"))  # fmt: skip
    nights = {"A": nights["A"], "B": night_b_without_report}
    for k, expected in ((swap, "A"), (swap + 1, "B")):
        restore(world["saved_a"], out)
        result = subprocess.run(
            [sys.executable, "-m", "clvpredict", *args],
            capture_output=True,
            text=True,
            env={**os.environ, FAULT: f"kill:{k}"},
            timeout=600,
        )
        assert result.returncode == -signal.SIGKILL, result.stderr
        # After the swap, report.html reads as missing (this night has none), not as A's.
        assert which_night(night(out), nights) == expected
        assert cli.main([*args, "-q"]) == 0
        assert night(out) == nights["B"]
        assert not (out / "report.html").is_symlink()


# --------------------------------------------------------------------------------------------
# Migration from the file-by-file layout
# --------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def legacy(world):
    """Night A as the file-by-file scheme left it: regular files, dated models, and the
    temporary and backup files of a killed run."""
    root = world["root"]
    saved = root / "saved-legacy"
    saved.mkdir()
    release = world["saved_a"] / "current"
    for name in ("model.json", "predictions.csv", "metrics.json", "report.html"):
        shutil.copy2(release / name, saved / name)
    (saved / "models").mkdir()
    shutil.copy2(release / "model.json", saved / "models" / "model-19980701T020000Z.json")
    (saved / ".model.json.k2j4h5g6.tmp").write_bytes(b'{"half": ')
    (saved / ".predictions.csv.previous").write_bytes(b"customer_id,")
    (saved / "models" / ".model-19980702T020000Z.json.x7y8z9w0.tmp").write_bytes(b"{")
    args = [*world["args_a"], "--margin", "0.5", "--no-report"]
    out = world["out"]
    restore(saved, out)
    assert night(out) == world["nights"]["A"]
    assert cli.main([*args, "-q"]) == 0
    return {"saved": saved, "args": args, "nights": {"A": world["nights"]["A"], "C": night(out)}}


def test_first_run_converts_the_old_layout(world, legacy):
    out = world["out"]
    restore(legacy["saved"], out)
    assert cli.main([*legacy["args"], "-q"]) == 0
    old, new = release_dirs(out)
    assert listing(out) == {
        ".lock",
        f"current -> releases/{new}",
        "model.json -> current/model.json",
        "predictions.csv -> current/predictions.csv",
        "metrics.json -> current/metrics.json",
        "releases",
        "models",
        "models/model-19980701T020000Z.json",
        f"releases/{old}",
        f"releases/{new}",
        *(f"releases/{old}/{f}" for f in
          (".published", "model.json", "predictions.csv", "metrics.json", "report.html")),
        *(f"releases/{new}/{f}" for f in (".published", "model.json", "predictions.csv",
                                           "metrics.json")),
    }  # fmt: skip
    assert night(out / "releases" / old) == legacy["nights"]["A"]
    assert night(out) == legacy["nights"]["C"]


def test_kill_at_every_operation_of_the_first_run_on_the_old_layout(world, legacy):
    out, nights = world["out"], legacy["nights"]
    seen = []
    for k in range(200):
        restore(legacy["saved"], out)
        outcome, code = run_in_child(legacy["args"], f"kill:{k}")
        if outcome == "exit":
            assert code == 0 and ops[0] == k
            assert night(out) == nights["C"]
            break
        seen.append(which_night(night(out), nights))
        scored_matches_published(out, world["tx"], world["root"] / "score")
        assert cli.main([*legacy["args"], "-q"]) == 0
        assert night(out) == nights["C"]
        entries = listing(out)
        assert not [e for e in entries if e.startswith(".") and e != ".lock"], entries
        assert not [e for e in entries if "/." in e and not e.endswith("/.published")], entries
        assert not (out / "report.html").is_symlink()
        assert all(not (out / n).exists() or (out / n).is_symlink() for n in OUTPUT_NAMES)
    else:
        raise AssertionError("the refresh never finished")
    commit = seen.index("C")
    assert seen == ["A"] * commit + ["C"] * (len(seen) - commit)
    # The conversion (leftovers, adoption, links) runs before the night's own publishing.
    assert commit > 15, seen


# --------------------------------------------------------------------------------------------
# Lock, pruning, foreign files
# --------------------------------------------------------------------------------------------


def test_second_refresh_exits_5_and_changes_nothing(world):
    out = world["out"]
    restore(world["saved_a"], out)
    before = listing(out)
    with publishing.refresh_lock(out):
        holder = json.loads((out / ".lock").read_text())
        assert holder["pid"] == os.getpid()
        result = subprocess.run(
            [sys.executable, "-m", "clvpredict", *world["args_b"], "--no-report"],
            capture_output=True,
            text=True,
            timeout=600,
        )
        assert result.returncode == cli.EXIT_LOCKED == 5, result.stderr
        assert "another refresh is running on" in result.stderr
        assert f"pid {os.getpid()}" in result.stderr and holder["started"] in result.stderr
        assert "Published" not in result.stdout
        assert night(out) == world["nights"]["A"]
    assert listing(out) == before
    assert cli.main([*world["args_b"], "-q"]) == 0
    assert night(out) == world["nights"]["B"]


def test_keep_counts_releases_and_spares_the_current_one(world):
    out = world["out"]
    restore(world["saved_a"], out)
    (a,) = release_dirs(out)
    names = []
    for margin in ("0.5", "0.6", "0.7"):
        assert cli.main([*world["args_a"], "--no-report", "--margin", margin, "--keep", "2"]) == 0
        names.append(os.readlink(out / "current").removeprefix("releases/"))
    # Same second: the names count up, and "-10" would still sort after "-9".
    assert release_dirs(out) == names[1:]
    assert cp.load_model(out / "model.json").settings["margin"] == 0.7
    assert cli.main([*world["args_a"], "--no-report", "--keep", "1", "-q"]) == 0
    assert len(release_dirs(out)) == 1 and (out / "current").resolve().parent.name == "releases"
    assert a not in release_dirs(out)


def test_release_names_sort_by_time_then_number(tmp_path):
    from datetime import datetime, timezone

    releases = tmp_path / "releases"
    releases.mkdir()
    when = datetime(2024, 5, 1, 2, 0, 0, tzinfo=timezone.utc)
    made = []
    for _ in range(11):
        name = publishing._new_release_name(releases, when)
        (releases / name).mkdir()
        made.append(name)
    assert made[:3] == ["20240501T020000Z", "20240501T020000Z-2", "20240501T020000Z-3"]
    assert sorted(made, key=publishing._release_key) == made
    # The same second's first releases were pruned (keep): the next one still sorts last,
    # instead of taking the freed name and being mistaken for the oldest night.
    for name in made[:-1]:
        (releases / name).rmdir()
    assert publishing._new_release_name(releases, when) == "20240501T020000Z-12"
    # A half-made release counts too, and a clock that went back does not sort before it.
    (releases / ".staging-20240501T020000Z-12").mkdir()
    earlier = datetime(2024, 5, 1, 1, 0, 0, tzinfo=timezone.utc)
    assert publishing._new_release_name(releases, earlier) == "20240501T020000Z-13"
    later = datetime(2024, 5, 1, 2, 0, 1, tzinfo=timezone.utc)
    assert publishing._new_release_name(releases, later) == "20240501T020001Z"


def test_a_foreign_file_on_a_reader_path_stops_the_refresh(world):
    out = world["out"]
    restore(world["saved_a"], out)
    # Another job writes OUT/model.json itself: refused, with the fix, before replacing anything.
    fit = cli.main(["fit", "--transactions", str(world["tx"]), "--out", str(out), "-q"])
    assert fit == cli.EXIT_BAD_INPUT
    assert night(out) == world["nights"]["A"]
    (out / "model.json").unlink()
    shutil.copy2(out / "metrics.json", out / "model.json")
    code = cli.main([*world["args_b"], "-q"])
    assert code == cli.EXIT_BAD_INPUT
    assert (out / "model.json").read_bytes() == (out / "current" / "metrics.json").read_bytes()
    assert os.readlink(out / "current") == os.readlink(world["saved_a"] / "current")


# --------------------------------------------------------------------------------------------
# Single files
# --------------------------------------------------------------------------------------------


def test_single_file_write_killed_before_rename_is_cleaned_by_the_next_write(tmp_path):
    target = tmp_path / "m.json"
    publishing.write_bytes_atomic(b"old", target)
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - child
        try:
            os.environ[FAULT] = "kill:1"  # 0: write the temporary file, 1: rename it
            publishing._faults.count = 0
            publishing.write_bytes_atomic(b"new", target)
        finally:
            os._exit(3)
    os.close(write_end)
    os.close(read_end)
    _, status = os.waitpid(pid, 0)
    assert os.WIFSIGNALED(status) and os.WTERMSIG(status) == signal.SIGKILL
    assert target.read_bytes() == b"old"
    (left,) = tmp_path.glob(".m.json.*.tmp")
    assert left.read_bytes() == b"new"
    # A temporary file that a live writer holds is not touched.
    live = tmp_path / ".m.json.0a1b2c3d.tmp"
    live.write_bytes(b"live")
    with open(live, "rb") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        publishing.write_bytes_atomic(b"newer", target)
    assert sorted(p.name for p in tmp_path.iterdir()) == [live.name, "m.json"]
    assert target.read_bytes() == b"newer"
    publishing.write_bytes_atomic(b"newest", target)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.json"]


def test_single_file_write_fails_cleanly(tmp_path, monkeypatch):
    target = tmp_path / "m.json"
    publishing.write_bytes_atomic(b"old", target)
    for k in range(3):
        publishing._faults.count = 0
        monkeypatch.setenv(FAULT, f"oserror:{k}")
        with pytest.raises(OSError, match="injected fault"):
            publishing.write_bytes_atomic(b"new", target)
        if k < 2:
            assert target.read_bytes() == b"old"
        assert sorted(p.name for p in tmp_path.iterdir()) == ["m.json"]


def test_without_posix_locks_refresh_stops_with_a_clear_error(tmp_path, monkeypatch):
    monkeypatch.setattr(publishing, "fcntl", None)
    with pytest.raises(RuntimeError, match="needs POSIX file locks"):
        with publishing.refresh_lock(tmp_path / "out"):
            raise AssertionError("must not get here")
    assert not (tmp_path / "out").exists()


# --------------------------------------------------------------------------------------------
# Folders written by another program (Spark's executors)
# --------------------------------------------------------------------------------------------


def _parts(content: str):
    """A writer that makes a folder of two part files, as Spark does."""

    def write(folder: Path) -> None:
        folder.mkdir()
        (folder / "part-0.parquet").write_text(content + "0")
        (folder / "part-1.parquet").write_text(content + "1")
        (folder / "_SUCCESS").write_text("")

    return write


def _read_parts(folder: Path) -> list[str]:
    return [(folder / f"part-{k}.parquet").read_text() for k in range(2)]


def test_a_folder_replaces_a_folder_or_a_file_whole(tmp_path):
    target = tmp_path / "predictions.parquet"
    target.write_bytes(b"one file written by the polars engine")
    assert publishing.write_folder_atomic(target, _parts("a")) == target
    assert _read_parts(target) == ["a0", "a1"]
    publishing.write_folder_atomic(target, _parts("b"))
    assert _read_parts(target) == ["b0", "b1"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["predictions.parquet"]


def test_a_folder_write_that_fails_at_any_operation_keeps_the_previous_folder(
    tmp_path, monkeypatch
):
    target = tmp_path / "predictions.parquet"
    publishing.write_folder_atomic(target, _parts("old"))
    for k in range(8):
        publishing._faults.count = 0
        monkeypatch.setenv(FAULT, f"oserror:{k}")
        try:
            publishing.write_folder_atomic(target, _parts("new"))
        except OSError as exc:
            # Before the rename the previous folder, after it the new one: whole either way.
            assert "injected fault" in str(exc)
            assert _read_parts(target) in (["old0", "old1"], ["new0", "new1"])
            publishing.write_folder_atomic(target, _parts("old"))
        else:
            assert _read_parts(target) == ["new0", "new1"]
            break
        finally:
            monkeypatch.delenv(FAULT)
        assert sorted(p.name for p in tmp_path.iterdir()) == ["predictions.parquet"]
    else:
        raise AssertionError("the write never got past the injected faults")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["predictions.parquet"]


def test_a_failing_writer_leaves_nothing(tmp_path):
    def half(folder: Path) -> None:
        folder.mkdir()
        (folder / "part-0.parquet").write_text("half")
        raise RuntimeError("executor lost")

    with pytest.raises(RuntimeError, match="executor lost"):
        publishing.write_folder_atomic(tmp_path / "predictions.parquet", half)
    assert list(tmp_path.iterdir()) == []


def test_a_release_takes_a_folder_from_its_scratch_folder(tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    with publishing.refresh_lock(out):
        publishing.tidy_output_folder(out)
        with publishing.release_scratch(out) as scratch:
            _parts("night1")(scratch / "predictions.parquet")
            name = publishing.publish_release(
                out,
                {"model.json": b"{}"},
                keep=2,
                folders={"predictions.parquet": scratch / "predictions.parquet"},
            )
    assert _read_parts(out / "predictions.parquet") == ["night10", "night11"]
    assert os.readlink(out / "predictions.parquet") == "current/predictions.parquet"
    assert (out / "releases" / name / "predictions.parquet" / "_SUCCESS").is_file()
    assert sorted(p.name for p in (out / "releases").iterdir()) == [name]  # no scratch left

    # A killed run's scratch folder is a leftover, and a night without the folder drops its link.
    with publishing.refresh_lock(out):
        (out / "releases" / ".staging-scratch-dead").mkdir()
        publishing.tidy_output_folder(out)
        assert not (out / "releases" / ".staging-scratch-dead").exists()
        publishing.publish_release(out, {"model.json": b"{}", "predictions.csv": b"id\n"}, keep=2)
    assert not (out / "predictions.parquet").is_symlink()
    assert (out / "predictions.csv").read_bytes() == b"id\n"

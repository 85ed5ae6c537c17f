"""Runs lifetimes' own test suite (stored unmodified beside this file) against clvpredict.lifetimes.

The stored files (see README.md for where they come from) import the package under the name
``lifetimes_custom``, the name of the fork they were taken from, and read two data files by the
relative path ``lifetimes/datasets/...``. While a module of this folder is imported (collection)
and while one of its tests runs:

- ``lifetimes_custom`` and ``lifetimes`` (and their submodules) resolve to ``clvpredict.lifetimes``
  (with ``CLVPREDICT_LIFETIMES_TARGET=lifetimes``: ``lifetimes_custom`` resolves to the real
  lifetimes package);
- ``pandas.util.testing``, which pandas 2 removed, resolves to ``pandas.testing``, where the one
  function the files take from it (``assert_frame_equal``) lives now;
- the working directory is a temporary folder whose ``lifetimes/datasets`` holds the target's
  data files, so that the relative paths resolve and files the tests write land there.

Outside those moments ``sys.modules`` and the working directory are what they were before, so the
rest of the suite, which uses the real lifetimes package as a test oracle, is not affected.

Environment
-----------
CLVPREDICT_LIFETIMES_TARGET
    ``clvpredict`` (default): the alias above, with :data:`EXPECTED_FAILURES` marked as strict
    expected failures. ``lifetimes``: the real lifetimes package, no alias and no expected
    failures, to measure how the archived package itself fares on today's pandas and numpy.

The suite is collected only on pandas >= 3 and numpy >= 2, the versions the drop-in promises to
match lifetimes on; on older versions (e.g. the lowest-versions CI job) the folder is skipped
with a note in the summary rather than failing on differences that belong to old pandas.
"""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.util
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from types import ModuleType

import numpy as np
import pandas as pd
import pytest

HERE = Path(__file__).resolve().parent
TARGET = os.environ.get("CLVPREDICT_LIFETIMES_TARGET", "clvpredict")
if TARGET not in ("clvpredict", "lifetimes"):
    raise pytest.UsageError(
        f"CLVPREDICT_LIFETIMES_TARGET={TARGET!r} is not one of 'clvpredict', 'lifetimes'."
    )

#: The upstream tests that fail against the drop-in on purpose, by node id below this folder,
#: each with its reason. The only such list: keep every entry to one of the three kinds (a
#: lifetimes bug that clvpredict fixes, a pickle format it refuses, an image baseline), or to
#: a test whose own code no longer runs on today's numpy / pandas (said so in its reason). Marked
#: ``xfail(strict=True)``: a listed test that starts passing fails the run, so the list cannot
#: go stale.
EXPECTED_FAILURES: dict[str, str] = {
    # Not one of the three kinds: the test's own code uses what today's numpy / pandas removed,
    # and fails the same way against lifetimes itself. Only editing the test would fix it.
    "test_estimation.py::TestBetaGeoBetaBinomFitter::test_prob_alive_is_close_to_Hardie_paper_table_6": (
        "the test assigns a one-row Series to one element of a numpy array, which numpy 2 "
        "refuses (ValueError); lifetimes 0.11.3 fails it the same way"
    ),
    "test_estimation.py::TestBetaGeoBetaBinomFitter::test_fit_with_and_without_weights": (
        "the test calls DataFrame.append, which pandas 2 removed; lifetimes 0.11.3 fails it the "
        "same way"
    ),
}


def _version_tuple(version: str) -> tuple[int, ...]:
    return tuple(int(part) for part in version.split(".")[:2] if part.isdigit())


#: Why the folder is not collected here, or None.
SKIP_REASON: str | None = None
if _version_tuple(pd.__version__) < (3,) or _version_tuple(np.__version__) < (2,):
    SKIP_REASON = (
        f"lifetimes' suite runs on pandas >= 3 and numpy >= 2 only (here pandas "
        f"{pd.__version__}, numpy {np.__version__})"
    )


def pytest_ignore_collect(collection_path: Path, config: pytest.Config) -> bool | None:
    """Skip the folder's test files on old pandas or numpy (see :data:`SKIP_REASON`)."""
    if SKIP_REASON is None or collection_path.name == "conftest.py":
        return None
    if collection_path.suffix == ".py" and HERE in collection_path.resolve().parents:
        config.stash.setdefault(_SKIPPED, []).append(collection_path.name)
        return True
    return None


_SKIPPED = pytest.StashKey[list]()


def pytest_terminal_summary(terminalreporter, exitstatus: int, config: pytest.Config) -> None:
    skipped = config.stash.get(_SKIPPED, [])
    if skipped:
        terminalreporter.write_line(
            f"lifetimes' suite not collected ({len(skipped)} files): {SKIP_REASON}."
        )


#: Module names the stored files import -> the modules they get, per target. A name covers its
#: submodules too (``lifetimes_custom.utils`` -> ``clvpredict.lifetimes.utils``).
ALIASES: dict[str, str] = {
    "lifetimes_custom": "clvpredict.lifetimes" if TARGET == "clvpredict" else "lifetimes",
    "pandas.util.testing": "pandas.testing",
}
if TARGET == "clvpredict":
    ALIASES["lifetimes"] = "clvpredict.lifetimes"


def _alias_of(fullname: str) -> str | None:
    for name, real in ALIASES.items():
        if fullname == name or fullname.startswith(name + "."):
            return real + fullname[len(name) :]
    return None


class _AliasLoader(importlib.abc.Loader):
    """Hands out an already importable module under the name the upstream files use."""

    def __init__(self, real_name: str) -> None:
        self.real_name = real_name

    def create_module(self, spec) -> ModuleType:
        module = importlib.import_module(self.real_name)
        self.real_spec = module.__spec__
        return module

    def exec_module(self, module: ModuleType) -> None:
        """Nothing to run (the module ran when it was imported under its own name); the import
        system has just replaced the module's ``__spec__`` with the alias's: put its own back."""
        module.__spec__ = self.real_spec


class _AliasFinder(importlib.abc.MetaPathFinder):
    """Resolves the names of :data:`ALIASES` to their targets."""

    def find_spec(self, fullname: str, path=None, target=None):
        real_name = _alias_of(fullname)
        if real_name is None or importlib.util.find_spec(real_name) is None:
            return None
        return importlib.util.spec_from_loader(fullname, _AliasLoader(real_name))


def _aliased_entries() -> dict[str, ModuleType]:
    return {name: module for name, module in sys.modules.items() if _alias_of(name) is not None}


@contextmanager
def _aliased() -> Iterator[None]:
    """Within the block, the names of :data:`ALIASES` resolve to their targets."""
    saved = _aliased_entries()
    for name in saved:
        del sys.modules[name]
    # Importing ``a.b`` sets attribute ``b`` on module ``a``: note which parents lack it now.
    parents = {}
    for name in ALIASES:
        parent, _, child = name.rpartition(".")
        if parent and parent in sys.modules and not hasattr(sys.modules[parent], child):
            parents[parent] = child
    finder = _AliasFinder()
    sys.meta_path.insert(0, finder)
    try:
        yield
    finally:
        sys.meta_path.remove(finder)
        for name in _aliased_entries():
            del sys.modules[name]
        sys.modules.update(saved)
        for parent, child in parents.items():
            if hasattr(sys.modules[parent], child):
                delattr(sys.modules[parent], child)


def _inside(path: Path | None) -> bool:
    return path is not None and HERE in Path(path).resolve().parents


@pytest.hookimpl(wrapper=True)
def pytest_make_collect_report(collector: pytest.Collector):
    """Import the folder's modules with the aliases in place."""
    if not _inside(getattr(collector, "path", None)):
        return (yield)
    with _aliased():
        return (yield)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_protocol(item: pytest.Item, nextitem: pytest.Item | None):
    """Run the folder's tests (setup, call, teardown) with the aliases in place."""
    if not _inside(item.path):
        return (yield)
    with _aliased():
        return (yield)


def _target_datasets() -> Path:
    """The folder of the target's bundled data files (CDNOW_sample.txt, example_transactions.csv)."""
    if TARGET == "clvpredict":
        from clvpredict.data.datasets import data_path

        return Path(data_path("CDNOW_sample.txt")).parent
    spec = importlib.util.find_spec("lifetimes")
    return Path(spec.origin).parent / "datasets"


@pytest.fixture(scope="session")
def _upstream_workdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A working directory in which ``lifetimes/datasets/<file>`` names the target's data."""
    workdir = tmp_path_factory.mktemp("lifetimes_upstream")
    (workdir / "lifetimes").mkdir()
    (workdir / "lifetimes" / "datasets").symlink_to(_target_datasets(), target_is_directory=True)
    return workdir


@pytest.fixture(autouse=True)
def _in_upstream_workdir(_upstream_workdir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The upstream tests read ``lifetimes/datasets/...`` and write model files in the cwd."""
    monkeypatch.chdir(_upstream_workdir)


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "plottest: lifetimes' plotting tests (upstream marker)")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Mark :data:`EXPECTED_FAILURES` (drop-in runs only) and report entries that match nothing.

    The folder's docstrings are not doctests (one shows a Python 2 session): under the suite's
    ``--doctest-modules`` their doctest items are deselected.
    """
    doctests = [
        item for item in items if _inside(item.path) and type(item).__name__ == "DoctestItem"
    ]
    if doctests:
        config.hook.pytest_deselected(items=doctests)
        items[:] = [item for item in items if item not in doctests]
    if TARGET != "clvpredict":
        return
    seen = set()
    for item in items:
        if not _inside(item.path):
            continue
        local_id = item.nodeid.split("lifetimes_upstream/", 1)[-1]
        reason = EXPECTED_FAILURES.get(local_id)
        if reason is not None:
            seen.add(local_id)
            item.add_marker(pytest.mark.xfail(reason=reason, strict=True))
    # An entry of a file that was collected but that matched no test is stale (a renamed or
    # removed test); files not collected in this run (a subset was asked for) are not judged.
    files = {item.nodeid.split("lifetimes_upstream/", 1)[-1].split("::")[0] for item in items}
    stale = sorted(name for name in set(EXPECTED_FAILURES) - seen if name.split("::")[0] in files)
    if stale and not config.option.keyword:
        raise pytest.UsageError(
            "EXPECTED_FAILURES in tests/lifetimes_upstream/conftest.py names tests that were not "
            f"collected: {stale}"
        )

"""Runs lifetimes' own test suite (stored unmodified beside this file) against clvpredict.lifetimes.

The upstream files say ``import lifetimes`` and ``from lifetimes... import ...``. While a module
of this folder is imported (collection) and while one of its tests runs, the name ``lifetimes``
and every ``lifetimes.*`` name resolve to ``clvpredict.lifetimes`` and its submodules; outside
those moments ``sys.modules`` holds whatever it held before, so the rest of the suite, which
uses the real lifetimes package as a test oracle, is not affected.

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
#: lifetimes bug that clvpredict fixes, a pickle format it refuses, an image baseline). Marked
#: ``xfail(strict=True)``: a listed test that starts passing fails the run, so the list cannot
#: go stale.
EXPECTED_FAILURES: dict[str, str] = {}


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


class _AliasLoader(importlib.abc.Loader):
    """Hands out an already imported clvpredict module under the lifetimes name."""

    def __init__(self, real_name: str) -> None:
        self.real_name = real_name

    def create_module(self, spec) -> ModuleType:
        return importlib.import_module(self.real_name)

    def exec_module(self, module: ModuleType) -> None:
        """Nothing to run: the module was executed when clvpredict imported it."""


class _AliasFinder(importlib.abc.MetaPathFinder):
    """``lifetimes`` -> ``clvpredict.lifetimes``, ``lifetimes.x`` -> ``clvpredict.lifetimes.x``."""

    def find_spec(self, fullname: str, path=None, target=None):
        if fullname != "lifetimes" and not fullname.startswith("lifetimes."):
            return None
        real_name = f"clvpredict.{fullname}"
        if importlib.util.find_spec(real_name) is None:
            return None
        return importlib.util.spec_from_loader(fullname, _AliasLoader(real_name))


def _lifetimes_entries() -> dict[str, ModuleType]:
    return {
        name: module
        for name, module in sys.modules.items()
        if name == "lifetimes" or name.startswith("lifetimes.")
    }


@contextmanager
def _aliased() -> Iterator[None]:
    """Within the block, ``lifetimes`` imports resolve to clvpredict.lifetimes."""
    saved = _lifetimes_entries()
    for name in saved:
        del sys.modules[name]
    finder = _AliasFinder()
    sys.meta_path.insert(0, finder)
    try:
        yield
    finally:
        sys.meta_path.remove(finder)
        for name in _lifetimes_entries():
            del sys.modules[name]
        sys.modules.update(saved)


def _inside(path: Path | None) -> bool:
    return path is not None and HERE in Path(path).resolve().parents


@pytest.hookimpl(wrapper=True)
def pytest_make_collect_report(collector: pytest.Collector):
    """Import the folder's modules with the alias in place."""
    if TARGET != "clvpredict" or not _inside(getattr(collector, "path", None)):
        return (yield)
    with _aliased():
        return (yield)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_protocol(item: pytest.Item, nextitem: pytest.Item | None):
    """Run the folder's tests (setup, call, teardown) with the alias in place."""
    if TARGET != "clvpredict" or not _inside(item.path):
        return (yield)
    with _aliased():
        return (yield)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Mark :data:`EXPECTED_FAILURES` (drop-in runs only) and report entries that match nothing."""
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

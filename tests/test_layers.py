"""The package's layers import only downward, with no circles and no imports hidden in functions.

``data`` <- ``models`` <- {``clv``, ``evaluation``, ``plotting``, ``simulation``} <- ``jobs``, on a
base of argument checks, units, the registry, the optimiser and atomic file writes. Every module
of the package must be placed in :data:`LAYERS`, so a new module is a decision about where it
belongs. The imports are read from the source (``ast``), not executed.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "clvpredict"

#: From the bottom up. A module may import its own layer and the layers below it. The three
#: folders are layers whole; the modules at the top of the package are placed by name.
LAYERS: dict[str, set[str]] = {
    "base": {
        "_version",
        "exceptions",
        "_units",
        "_validation",
        "_registry",
        "_fitting",
        "_progress",
        "publishing",
        "_lifetimes_habits",
    },
    "data": {"data"},
    "models": {"models"},
    "analysis": {"clv", "evaluation", "plotting", "segments", "simulation", "spark"},
    "jobs": {"jobs"},
    # The lifetimes drop-in: a front door for code written for lifetimes; it may use anything
    # below, and nothing in the package imports it.
    "dropin": {"lifetimes"},
}
#: The package's front door may import anything: it is what users import.
FACADE = {"__init__", "__main__"}
#: Imports of other packages that may wait until a function needs them, and why.
LAZY_ALLOWED = {
    "matplotlib": "import cost: jobs that never plot do not pay for it",
    "ipywidgets": "optional: progress bars are notebook widgets only where the user has it",
    "tqdm": "tqdm.notebook loads IPython's display machinery: only inside a Jupyter kernel",
    "threadpoolctl": "inspecting the loaded BLAS libraries costs milliseconds: on first fit",
    "fcntl": "POSIX only: publishing explains its absence",
    "tomllib": "standard library from Python 3.11",
    "tomli": "the same parser before Python 3.11",
    "duckdb": "the caller's own engine, imported only to hand a DuckDB caller its result",
    "pyspark": "the [spark] extra: imported only when the spark engine runs a job",
    "py4j": "pyspark's bridge to Java, installed with it",
}

RANK = {member: rank for rank, members in enumerate(LAYERS.values()) for member in members}


def _module_name(path: Path) -> str:
    """Dotted name inside the package: ``models.beta_geo``; a folder's ``__init__`` is the folder."""
    parts = list(path.relative_to(PACKAGE).with_suffix("").parts)
    if parts[-1] == "__init__" and len(parts) > 1:
        parts.pop()
    return ".".join(parts)


def _modules() -> dict[str, ast.Module]:
    return {
        _module_name(path): ast.parse(path.read_text()) for path in sorted(PACKAGE.rglob("*.py"))
    }


MODULES = _modules()
PACKAGES = {_module_name(path.parent / "__init__.py") for path in PACKAGE.glob("*/__init__.py")}


def _resolve(module: str, level: int, target: str | None, name: str) -> str:
    """The package module that ``from <dots><target> import <name>`` in ``module`` loads."""
    package = module.split(".") if module in PACKAGES else module.split(".")[:-1]
    base = package[: len(package) - (level - 1)]
    dotted = ".".join([*base, *(target.split(".") if target else [])])
    submodule = f"{dotted}.{name}" if dotted else name
    return submodule if submodule in MODULES else dotted


def _imports(module: str, tree: ast.Module) -> list[tuple[ast.stmt, str, bool]]:
    """(statement, imported name, inside a function) for every import in a module.

    Package-internal imports are named ``.models.beta_geo`` (resolved, with a leading dot);
    other packages by their own names.
    """
    in_function = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            in_function.update(
                id(sub) for sub in ast.walk(node) if isinstance(sub, ast.Import | ast.ImportFrom)
            )
    found = []
    for node in ast.walk(tree):
        inside = id(node) in in_function
        if isinstance(node, ast.ImportFrom) and node.level > 0:
            targets = {_resolve(module, node.level, node.module, a.name) for a in node.names}
            found += [(node, "." + t, inside) for t in sorted(targets)]
        elif isinstance(node, ast.ImportFrom) and node.module:
            found.append((node, node.module, inside))
        elif isinstance(node, ast.Import):
            found += [(node, a.name, inside) for a in node.names]
    return found


def _layer_rank(module: str) -> int:
    return RANK.get(module.split(".")[0], -1)


def _layer(module: str) -> str:
    rank = _layer_rank(module)
    return list(LAYERS)[rank] if rank >= 0 else "?"


def _internal_graph() -> dict[str, set[str]]:
    """Who loads whom. Importing ``a.b`` runs the package ``a`` first, so that edge is there too."""
    graph = {}
    for name, tree in MODULES.items():
        edges = set()
        for _, target, _ in _imports(name, tree):
            if target.startswith("."):
                parts = target[1:].split(".")
                edges.update(".".join(parts[:k]) for k in range(1, len(parts) + 1))
        edges &= set(MODULES)
        edges.discard(name)
        # A package's own modules do not load their package again: it is already loading.
        graph[name] = {e for e in edges if not name.startswith(e + ".")}
    return graph


def test_every_module_has_a_layer():
    unplaced = {m for m in MODULES if m not in FACADE and _layer_rank(m) < 0}
    assert unplaced == set(), "place the new module in LAYERS"
    tops = {m.split(".")[0] for m in MODULES}
    assert set(RANK) - tops == set(), "LAYERS names a module that no longer exists"


@pytest.mark.parametrize("name", sorted(set(MODULES) - FACADE))
def test_imports_only_downward(name):
    upward = [
        f"line {node.lineno}: {name} ({_layer(name)}) imports {target[1:]} ({_layer(target[1:])})"
        for node, target, _ in _imports(name, MODULES[name])
        if target.startswith(".") and _layer_rank(target[1:]) > _layer_rank(name)
    ]
    assert upward == []


@pytest.mark.parametrize("name", sorted(MODULES))
def test_no_import_hides_in_a_function(name):
    hidden = [
        f"line {node.lineno}: {target}"
        for node, target, inside in _imports(name, MODULES[name])
        if inside and target.split(".")[0] not in LAZY_ALLOWED
    ]
    assert hidden == []


def test_no_import_circle():
    graph = _internal_graph()
    state: dict[str, int] = {}
    circles: list[list[str]] = []

    def visit(module: str, path: list[str]) -> None:
        state[module] = 1
        for nxt in sorted(graph.get(module, ())):
            if state.get(nxt) == 1:
                circles.append([*path[path.index(nxt) :], nxt])
            elif nxt not in state:
                visit(nxt, [*path, nxt])
        state[module] = 2

    for module in sorted(graph):
        if module not in state:
            visit(module, [module])
    assert circles == []


def test_the_rule_catches_what_it_is_for():
    """The reader resolves relative imports from a folder and sees an upward and a hidden one."""
    tree = ast.parse(
        "from ..jobs.pipeline import run_fit\n"
        "from .. import plotting\n"
        "from ._base import PurchaseModel\n"
        "def f():\n    from ..jobs import report\n    import numpy\n"
    )
    found = {(target, inside) for _, target, inside in _imports("models.beta_geo", tree)}
    assert found == {
        (".jobs.pipeline", False),
        (".plotting", False),
        (".models._base", False),
        (".jobs.report", True),
        ("numpy", True),
    }
    ranks = [_layer_rank(m) for m in ("jobs.pipeline", "clv", "models.beta_geo", "data", "_units")]
    assert ranks == sorted(ranks, reverse=True) and len(set(ranks)) == 5
    assert _internal_graph()["jobs.report"] >= {"jobs.assessment", "data", "data.transactions"}


def test_the_report_renders_and_never_fits():
    """Fitting happens in the assessment step of the jobs; the renderer only renders: it neither
    calls a fit nor imports anything that fits."""
    tree = MODULES["jobs.render"]
    calls = {
        node.func.attr
        for node in ast.walk(tree)
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
    }
    assert not calls & {"fit", "_fit", "compare_models", "evaluate_holdout"}
    imported = {
        alias.name
        for node in ast.walk(tree)
        if isinstance(node, ast.ImportFrom)
        for alias in node.names
    }
    assert not imported & {
        "assess",
        "fit_whole_history",
        "compare_models",
        "evaluate_holdout",
        "maximise_likelihood",
        "build_report",
    }
    # The job that builds the report goes through the assessment step for every fit.
    report_calls = {
        node.func.id
        for node in ast.walk(MODULES["jobs.report"])
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name)
    }
    assert {"assess", "fit_whole_history", "render_report"} <= report_calls

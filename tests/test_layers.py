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

#: From the bottom up. A module may import its own layer and the layers below it.
LAYERS: dict[str, set[str]] = {
    "base": {
        "_version",
        "exceptions",
        "_units",
        "_validation",
        "_registry",
        "_fitting",
        "publishing",
    },
    "data": {"data", "datasets"},
    "models": {
        "_base",
        "_profile",
        "_simulators",
        "_summary",
        "model_file",
        "uncertainty",
        "beta_geo",
        "modified_beta_geo",
        "pareto_nbd",
        "beta_geo_beta_binom",
        "gamma_gamma",
    },
    "analysis": {"clv", "evaluation", "plotting", "simulation"},
    "jobs": {"settings", "persistence", "assessment", "pipeline", "report", "cli", "__main__"},
}
#: The package's front door may import anything: it is what users import.
FACADE = "__init__"
#: Imports of other packages that may wait until a function needs them, and why.
LAZY_ALLOWED = {
    "matplotlib": "import cost: jobs that never plot do not pay for it",
    "threadpoolctl": "inspecting the loaded BLAS libraries costs milliseconds: on first fit",
    "fcntl": "POSIX only: publishing explains its absence",
    "tomllib": "standard library from Python 3.11",
    "tomli": "the same parser before Python 3.11",
}

LEVEL = {module: rank for rank, layer in enumerate(LAYERS.values()) for module in layer}


def _modules() -> dict[str, ast.Module]:
    return {path.stem: ast.parse(path.read_text()) for path in sorted(PACKAGE.glob("*.py"))}


def _imports(tree: ast.Module) -> list[tuple[ast.stmt, str, bool]]:
    """(statement, imported name, inside a function) for every import in a module."""
    in_function = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            in_function.update(
                id(sub) for sub in ast.walk(node) if isinstance(sub, ast.Import | ast.ImportFrom)
            )
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            if node.level == 1:
                names = [node.module] if node.module else [a.name for a in node.names]
                found += [(node, "." + n.split(".")[0], id(node) in in_function) for n in names]
            elif node.level == 0 and node.module:
                found.append((node, node.module, id(node) in in_function))
        elif isinstance(node, ast.Import):
            found += [(node, a.name, id(node) in in_function) for a in node.names]
    return found


MODULES = _modules()


def _internal_graph() -> dict[str, set[str]]:
    return {
        name: {n[1:] for _, n, _ in _imports(tree) if n.startswith(".")}
        for name, tree in MODULES.items()
    }


def test_every_module_has_a_layer():
    placed = set(LEVEL) | {FACADE}
    assert set(MODULES) - placed == set(), "place the new module in LAYERS"
    assert placed - set(MODULES) == set(), "LAYERS names a module that no longer exists"


@pytest.mark.parametrize("name", sorted(set(MODULES) - {FACADE}))
def test_imports_only_downward(name):
    upward = [
        f"line {node.lineno}: {name} ({_layer(name)}) imports {target[1:]} ({_layer(target[1:])})"
        for node, target, _ in _imports(MODULES[name])
        if target.startswith(".") and LEVEL.get(target[1:], -1) > LEVEL[name]
    ]
    assert upward == []


@pytest.mark.parametrize("name", sorted(MODULES))
def test_no_import_hides_in_a_function(name):
    hidden = [
        f"line {node.lineno}: {target}"
        for node, target, inside in _imports(MODULES[name])
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
    """The reader sees an upward, a hidden and a circular import in made-up source."""
    tree = ast.parse(
        "from .pipeline import run_fit\n"
        "def f():\n    from .report import build_report\n    import numpy\n"
    )
    found = {(target, inside) for _, target, inside in _imports(tree)}
    assert found == {(".pipeline", False), (".report", True), ("numpy", True)}
    assert LEVEL["pipeline"] > LEVEL["beta_geo"] > LEVEL["data"] > LEVEL["_units"]


def _layer(module: str) -> str:
    return next((layer for layer, members in LAYERS.items() if module in members), "?")


def test_the_report_renders_and_never_fits():
    """Fitting happens in the assessment step of the jobs; report.py only renders."""
    calls = {
        node.func.attr
        for node in ast.walk(MODULES["report"])
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
    }
    assert not calls & {"fit", "_fit", "compare_models"}
    names = {
        node.func.id
        for node in ast.walk(MODULES["report"])
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name)
    }
    assert not names & {"compare_models", "evaluate_holdout", "maximise_likelihood"}

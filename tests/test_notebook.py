"""The quickstart notebook runs top to bottom, is committed without outputs, and prints real numbers.

The notebook is executed once per module with nbclient in a kernel started from *this* test's
interpreter (a kernel spec written into a temporary directory, so that no user-level or
system-wide ``python3`` kernel can take its place), with a temporary working directory so that
nothing is written into the repository. The file on disk is only read, never rewritten.
"""

from __future__ import annotations

import ast
import json
import sys
from pathlib import Path

import nbformat
import pytest
from ipykernel.kernelspec import write_kernel_spec
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError

import clvpredict

NOTEBOOK = Path(__file__).resolve().parents[1] / "notebooks" / "quickstart.ipynb"
KERNEL = "python3"
CELL_TIMEOUT = 300  # seconds per cell; the whole notebook takes a few seconds

# Fader, Hardie & Lee (2005), CDNOW sample, 39-week calibration ending 1997-09-30, in weeks.
PUBLISHED_BGNBD = {"r": 0.2426, "alpha": 4.4137, "a": 0.7930, "b": 2.4262}

# Appended to the in-memory copy only: which interpreter and which clvpredict the kernel used.
PROBE = (
    "import json as _json, sys as _sys\n"
    "import clvpredict as _cp\n"
    "print(_json.dumps({'executable': _sys.executable, 'clvpredict': _cp.__file__}))"
)


def _read() -> nbformat.NotebookNode:
    return nbformat.read(NOTEBOOK, as_version=nbformat.NO_CONVERT)


def _execute(nb: nbformat.NotebookNode, root: Path, backend: str | None) -> Path:
    """Run ``nb`` in a kernel of this interpreter (a kernel spec under ``root``), in an empty
    working directory under ``root`` (returned), with matplotlib's ``backend`` (``None``:
    Jupyter's own inline display); raises CellExecutionError when a cell fails."""
    workdir = root / "work"
    workdir.mkdir()
    # JUPYTER_PATH is searched before the user's and the environment's kernel directories.
    write_kernel_spec(root / "jupyter" / "kernels" / KERNEL)
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("JUPYTER_PATH", str(root / "jupyter"))
        mp.setenv("IPYTHONDIR", str(root / "ipython"))  # no user profile or startup files
        if backend is None:
            mp.delenv("MPLBACKEND", raising=False)
        else:
            mp.setenv("MPLBACKEND", backend)
        mp.setenv("PYTHONDONTWRITEBYTECODE", "1")
        client = NotebookClient(
            nb,
            kernel_name=KERNEL,
            timeout=CELL_TIMEOUT,
            resources={"metadata": {"path": str(workdir)}},
        )
        client.execute()
    return workdir


@pytest.fixture(scope="module")
def executed(tmp_path_factory) -> nbformat.NotebookNode:
    """The notebook executed top to bottom; fails the test if any cell raises."""
    nb = _read()
    nb.cells.append(nbformat.v4.new_code_cell(PROBE))
    try:
        workdir = _execute(nb, tmp_path_factory.mktemp("notebook"), "Agg")
    except CellExecutionError as exc:
        pytest.fail(f"notebooks/quickstart.ipynb failed:\n{exc}", pytrace=False)
    assert not any(workdir.iterdir()), "the notebook wrote files into its working directory"
    return nb


def _tagged(nb: nbformat.NotebookNode, tag: str) -> nbformat.NotebookNode:
    cells = [c for c in nb.cells if tag in c.get("metadata", {}).get("tags", [])]
    assert len(cells) == 1, f"expected exactly one cell tagged {tag!r}, found {len(cells)}"
    return cells[0]


def _result_value(cell: nbformat.NotebookNode):
    """The Python literal shown as the cell's final expression (its execute_result)."""
    results = [o for o in cell.outputs if o.output_type == "execute_result"]
    assert len(results) == 1, f"cell {cell.get('id')!r} should end with one expression"
    return ast.literal_eval(results[0].data["text/plain"])


def _stdout(cell: nbformat.NotebookNode) -> str:
    return "".join(o.text for o in cell.outputs if o.output_type == "stream" and o.name == "stdout")


# ------------------------------------------------------------------------------------------
# The committed file
# ------------------------------------------------------------------------------------------


def test_committed_without_outputs():
    nb = _read()
    nbformat.validate(nb)
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert code, "the notebook has no code cells"
    dirty = [
        c.get("id", i) for i, c in enumerate(code) if c.outputs or c.execution_count is not None
    ]
    assert not dirty, f"cells saved with outputs or execution counts: {dirty}"
    assert nb.metadata["kernelspec"]["name"] == KERNEL
    assert nb.metadata["kernelspec"]["language"] == "python"


def test_alternates_explanations_and_code():
    nb = _read()
    assert nb.cells[0].cell_type == "markdown"
    assert nb.cells[-1].cell_type == "markdown"
    assert sum(c.cell_type == "markdown" for c in nb.cells) >= 10


# ------------------------------------------------------------------------------------------
# The executed notebook
# ------------------------------------------------------------------------------------------


def test_kernel_is_this_interpreter(executed):
    probe = json.loads(_stdout(executed.cells[-1]).strip().splitlines()[-1])
    assert probe["executable"] == sys.executable
    assert Path(probe["clvpredict"]).resolve() == Path(clvpredict.__file__).resolve()


def test_every_code_cell_ran(executed):
    code = [c for c in executed.cells if c.cell_type == "code"]
    assert [c.execution_count for c in code] == list(range(1, len(code) + 1))
    errors = [o for c in code for o in c.outputs if o.output_type == "error"]
    assert not errors


def test_plots_are_shown(executed):
    images = sum(
        "image/png" in o.get("data", {})
        for c in executed.cells
        if c.cell_type == "code"
        for o in c.outputs
    )
    assert images >= 6


def test_bgnbd_estimates_match_the_published_ones(executed):
    params = _result_value(_tagged(executed, "bgnbd-params"))
    assert set(params) == set(PUBLISHED_BGNBD)
    for name, published in PUBLISHED_BGNBD.items():
        # Three significant digits, as in the paper's rounding.
        assert f"{params[name]:.3g}" == f"{published:.3g}", (name, params[name], published)
        assert params[name] == pytest.approx(published, rel=1e-3), name


def test_holdout_totals(executed):
    totals = _result_value(_tagged(executed, "holdout-totals"))
    # 2,357 customers in the CDNOW sample; 1,882 repeat purchase days in the holdout, counted by
    # hand from the raw transactions in tests/test_evaluation.py.
    assert totals["customers"] == 2357
    assert totals["actual_holdout_transactions"] == 1882
    assert 0 < totals["predicted_holdout_transactions"] < 2 * 1882


# ------------------------------------------------------------------------------------------
# Plots in a notebook with Jupyter's own inline display
# ------------------------------------------------------------------------------------------

INLINE_CELLS = [
    # 0: data and a model
    "import clvpredict as cp\n"
    "summary = cp.rfm_summary(cp.datasets.load_cdnow(), 'customer_id', 'date', 'amount',\n"
    "                         observation_end='1997-09-30', time_unit='W', after_end='drop')\n"
    "bg = cp.BetaGeoModel().fit(summary)",
    # 1: a plot call alone, as a cell's last line
    "cp.plotting.plot_period_transactions(bg, summary)",
    # 2: kept in a name and silenced with a semicolon
    "ax = cp.plotting.plot_probability_alive_heatmap(bg, summary);",
    # 3: two plots on the caller's own axes: one figure
    "import matplotlib.pyplot as plt\n"
    "fig, axes = plt.subplots(1, 2, figsize=(10, 4))\n"
    "cp.plotting.plot_period_transactions(bg, summary, ax=axes[0])\n"
    "cp.plotting.plot_probability_alive_heatmap(bg, summary, ax=axes[1])",
]


@pytest.fixture(scope="module")
def inline_executed(tmp_path_factory) -> nbformat.NotebookNode:
    """A small notebook run with Jupyter's default inline backend (no MPLBACKEND)."""
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(source) for source in INLINE_CELLS]
    nb.metadata["kernelspec"] = {"name": KERNEL, "language": "python", "display_name": "Python 3"}
    _execute(nb, tmp_path_factory.mktemp("inline"), backend=None)
    return nb


def _images(cell: nbformat.NotebookNode) -> int:
    return sum("image/png" in o.get("data", {}) for o in cell.outputs)


def test_a_plot_call_alone_shows_its_figure(inline_executed):
    cells = inline_executed.cells
    assert [_images(c) for c in cells] == [0, 1, 1, 1]

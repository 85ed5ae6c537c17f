"""Run the quickstart notebook top to bottom and save it with its outputs, so it reads on GitHub.

    python notebooks/regenerate.py

Run it from the repository's root after any change that alters what the notebook prints or
draws, and commit the rewritten ``notebooks/quickstart.ipynb``. tests/test_notebook.py executes
a copy with :func:`execute` and fails when the committed outputs are stale.

The kernel runs this interpreter with the clvpredict of this repository, in an empty temporary
folder, with a fixed environment: Jupyter's inline backend for the figures (the PNGs a reader
sees), progress bars off, a fixed hash seed and no user profile or startup files. Random draws
in the notebook are seeded in its cells.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import nbformat
from ipykernel.kernelspec import write_kernel_spec
from nbclient import NotebookClient

NOTEBOOK = Path(__file__).resolve().with_name("quickstart.ipynb")
ROOT = NOTEBOOK.parents[1]
KERNEL = "python3"
CELL_TIMEOUT = 300  # seconds per cell; the whole notebook takes well under a minute

#: The kernel's environment, besides the temporary folders set in :func:`execute`.
ENVIRONMENT = {
    "MPLBACKEND": "module://matplotlib_inline.backend_inline",
    "CLVPREDICT_PROGRESS": "0",
    "PYTHONHASHSEED": "0",
    "PYTHONDONTWRITEBYTECODE": "1",
}


@contextmanager
def _environment(changes: dict[str, str | None]) -> Iterator[None]:
    """``os.environ`` with ``changes`` (``None``: unset) for the duration of the block; a
    kernel started in it inherits it."""
    saved = {name: os.environ.get(name) for name in changes}
    for name, value in changes.items():
        if value is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = value
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def execute(
    nb: nbformat.NotebookNode, root: Path, environment: dict[str, str | None] | None = None
) -> Path:
    """Run ``nb`` in place in a kernel of this interpreter, in an empty working directory under
    ``root`` (returned).

    The kernel spec is written under ``root`` and found first, so that no user-level or
    system-wide ``python3`` kernel can take its place; the kernel imports the clvpredict this
    process imports. ``environment`` overrides :data:`ENVIRONMENT` (``None``: unset). Raises
    ``nbclient.exceptions.CellExecutionError`` when a cell fails.
    """
    import clvpredict

    workdir = root / "work"
    workdir.mkdir()
    write_kernel_spec(root / "jupyter" / "kernels" / KERNEL)
    package_root = str(Path(clvpredict.__file__).resolve().parents[1])
    search_path = os.pathsep.join(filter(None, [package_root, os.environ.get("PYTHONPATH")]))
    changes = {
        **ENVIRONMENT,
        **(environment or {}),
        # JUPYTER_PATH is searched before the user's and the environment's kernel directories.
        "JUPYTER_PATH": str(root / "jupyter"),
        "IPYTHONDIR": str(root / "ipython"),
        "PYTHONPATH": search_path,
    }
    with _environment(changes):
        client = NotebookClient(
            nb,
            kernel_name=KERNEL,
            timeout=CELL_TIMEOUT,
            record_timing=False,
            # A cell's prints arrive in one or several messages, as the kernel flushes them.
            coalesce_streams=True,
            resources={"metadata": {"path": str(workdir)}},
        )
        client.execute()
    return workdir


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "notebook", nargs="?", type=Path, default=NOTEBOOK, help="default: %(default)s"
    )
    args = parser.parse_args(argv)
    # The kernel is given this repository's clvpredict, whatever else is installed.
    sys.path.insert(0, str(ROOT))
    nb = nbformat.read(args.notebook, as_version=nbformat.NO_CONVERT)
    for cell in nb.cells:
        if cell.cell_type == "code":
            cell.outputs = []
            cell.execution_count = None
    with tempfile.TemporaryDirectory() as root:
        execute(nb, Path(root))
    nbformat.validate(nb)
    nbformat.write(nb, args.notebook)
    size = args.notebook.stat().st_size
    print(f"wrote {args.notebook} with its outputs ({size / 1e6:.2f} MB)")
    return 0


if __name__ == "__main__":
    sys.exit(main())

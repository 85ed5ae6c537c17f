"""Progress bars for work that can take a while: in Jupyter, in a terminal, never in a log file.

One function, :func:`progress`, wraps the loops whose length grows with the data or with the
user's settings (interval draws, profile intervals, model comparisons). A bar appears only
after :data:`DELAY_SECONDS`, so work that ends sooner prints nothing.

Where it appears:

* in a Jupyter kernel, as a notebook widget when ipywidgets is installed, else as text on
  the cell's stderr (a kernel's stderr is not a terminal, which tqdm would otherwise take as a
  log file);
* in a terminal, as text on stderr;
* nowhere when stderr is a file or a pipe (a nightly job's log), or when
  ``CLVPREDICT_PROGRESS=0`` is set.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterable, Iterator
from typing import Any, TypeVar

from tqdm.std import tqdm as text_bar

__all__ = ["DELAY_SECONDS", "progress"]

#: Seconds of work before a bar is shown.
DELAY_SECONDS = 2.0

T = TypeVar("T")


def _in_kernel() -> bool:
    """Whether this process is an IPython kernel (Jupyter, VS Code), not a terminal IPython."""
    shell = sys.modules.get("IPython")
    get_ipython = getattr(shell, "get_ipython", None)
    kernel = get_ipython() if get_ipython is not None else None
    return kernel is not None and "IPKernelApp" in getattr(kernel, "config", {})


def _bar_class() -> Any:
    if _in_kernel():
        try:
            import ipywidgets  # noqa: F401
        except ImportError:
            pass
        else:
            from tqdm.notebook import tqdm

            return tqdm
    return text_bar


def progress(
    iterable: Iterable[T], *, total: int | None = None, desc: str, unit: str = "it"
) -> Iterator[T]:
    """``iterable``, with a progress bar described by ``desc`` once it has run for
    :data:`DELAY_SECONDS` (see the module's docstring for where it shows)."""
    if os.environ.get("CLVPREDICT_PROGRESS", "1") == "0":
        return iter(iterable)
    # None lets tqdm decide from the stream: shown on a terminal, not in a file. A kernel's
    # stream is never a terminal, and there a bar is wanted.
    disable = False if _in_kernel() else None
    bar = _bar_class()
    return iter(
        bar(
            iterable,
            total=total,
            desc=desc,
            unit=unit,
            delay=DELAY_SECONDS,
            leave=False,
            disable=disable,
        )
    )

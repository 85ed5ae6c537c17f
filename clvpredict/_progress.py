"""Progress bars for work that can take a while: in Jupyter, in a terminal, never in a log file.

:func:`progress` wraps the loops whose length grows with the data or with the user's settings
(interval draws, profile intervals, model comparisons); :class:`StepBar` follows the named steps
of a job (the nightly refresh). A bar appears only after :data:`DELAY_SECONDS`, so work that ends
sooner prints nothing.

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
import threading
from collections.abc import Iterable, Iterator
from typing import Any, TypeVar

from tqdm.std import tqdm as text_bar

__all__ = ["DELAY_SECONDS", "StepBar", "progress"]

#: Seconds of work before a bar is shown.
DELAY_SECONDS = 2.0

#: A :class:`StepBar`: "clvpredict refresh:  85%|████▊ | 11/13 steps [00:03, HTML report]".
STEP_FORMAT = "{desc}: {percentage:3.0f}%|{bar}| {n_fmt}/{total_fmt} steps [{elapsed}{postfix}]"

#: Seconds between redraws of a :class:`StepBar` during a step, so that its clock runs.
REDRAW_SECONDS = 1.0

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


def _new_bar(**options: Any) -> Any:
    """A bar for where this process shows it (see the module's docstring), or None when bars
    are switched off. tqdm itself disables it when stderr is not a terminal."""
    if os.environ.get("CLVPREDICT_PROGRESS", "1") == "0":
        return None
    # None lets tqdm decide from the stream: shown on a terminal, not in a file. A kernel's
    # stream is never a terminal, and there a bar is wanted.
    disable = False if _in_kernel() else None
    return _bar_class()(delay=DELAY_SECONDS, leave=False, disable=disable, **options)


def progress(
    iterable: Iterable[T], *, total: int | None = None, desc: str, unit: str = "it"
) -> Iterator[T]:
    """``iterable``, with a progress bar described by ``desc`` once it has run for
    :data:`DELAY_SECONDS` (see the module's docstring for where it shows)."""
    bar = _new_bar(iterable=iterable, total=total, desc=desc, unit=unit)
    return iter(iterable if bar is None else bar)


class StepBar:
    """A bar over the ``total`` named steps of a job, described by ``desc``, showing the step
    under way.

    It shows where :func:`progress`'s bars do, once the job has run :data:`DELAY_SECONDS`, and is
    redrawn every :data:`REDRAW_SECONDS` by a thread of its own: a job's steps can each take
    minutes, and the bar must appear, and its clock run, in the middle of one. :meth:`close`
    removes it.
    """

    def __init__(self, total: int, *, desc: str) -> None:
        # miniters=0: every call to update() may redraw (tqdm would otherwise learn to skip).
        # No rate or time left: steps take from milliseconds to minutes.
        self._bar = _new_bar(total=total, desc=desc, miniters=0, bar_format=STEP_FORMAT)
        self._lock = threading.Lock()  # the redraws and the steps' updates, one at a time
        self._stop = threading.Event()
        self._thread = None
        if self._bar is not None and not self._bar.disable:
            self._thread = threading.Thread(target=self._redraw, name="clvpredict-steps")
            self._thread.daemon = True
            self._thread.start()

    def _redraw(self) -> None:
        if self._stop.wait(DELAY_SECONDS):
            return
        while True:
            with self._lock:
                if self._stop.is_set():
                    return
                # Draws once the bar's delay has passed (tqdm keeps to it), with the time now.
                self._bar.update(0)
            if self._stop.wait(REDRAW_SECONDS):
                return

    def start(self, name: str) -> None:
        """The step ``name`` begins."""
        if self._bar is None:
            return
        with self._lock:
            self._bar.set_postfix_str(name, refresh=False)
            self._bar.update(0)

    def advance(self) -> None:
        """The step under way is done."""
        if self._bar is None:
            return
        with self._lock:
            self._bar.update(1)

    def close(self) -> None:
        """Stop redrawing and remove the bar (also when the job failed)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        if self._bar is not None:
            with self._lock:
                self._bar.close()

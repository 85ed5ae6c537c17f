"""Crash-atomic publishing: one night's outputs appear all at once or not at all.

Guarantees of ``clvpredict refresh`` (:func:`publish_release`), for any interruption, including
``kill -9`` between any two file operations and a failing disk:

* The night's files are written into a new folder ``OUT/releases/<UTC time>[-n]/`` (staged as
  ``OUT/releases/.staging-<name>`` and renamed when complete); every file and folder is fsynced
  before anything a reader sees changes, and the swap below is fsynced after it, so a power cut
  cannot expose a half-written file on file systems that honour fsync.
* One pointer, the symbolic link ``OUT/current -> releases/<name>``, is then replaced by a
  single ``rename``. That rename is the commit: before it every reader path gives the previous
  night, after it the new night.
* The reader paths ``OUT/model.json``, ``OUT/predictions.csv`` (or ``.parquet``: a folder of
  part files when Spark's executors wrote it, moved into the release whole),
  ``OUT/metrics.json`` and ``OUT/report.html`` are relative links ``-> current/<name>``, so all
  of them switch at the one rename. A file the new night does not have (``predictions.csv`` after
  a switch to parquet, ``report.html`` after ``--no-report``) then reads as missing, and its link
  is removed with a warning.
* A reader that opens several files and needs them from the same night resolves ``OUT/current``
  once (``os.path.realpath``) and reads from that folder; a release folder never changes.
* One refresh at a time: ``OUT/.lock`` is held with ``flock`` for the whole job (the kernel
  releases it when the holder dies, even by ``kill -9``), and a second refresh stops at once
  with :class:`RefreshLocked`. While it runs the lock file names the holder's pid and start time.
* Under the lock, a refresh first removes what a killed run left behind (staging folders,
  releases that never became current, temporary links, the temporary and backup files of the
  earlier file-by-file scheme) and converts an output folder of that scheme into this layout,
  each step keeping the reader paths on one consistent night.
* After the commit the ``keep`` newest releases are kept (never removing the current one).
  Failures of this tidying only log a warning: the night is published, and the next run
  finishes the job.

A single file (:func:`write_bytes_atomic`: model files, ``score``'s predictions, the report) is
written to a temporary file beside its target, fsynced, and renamed over it: readers see the old
or the new file. A temporary file left by a killed writer is removed by the next write of the
same target. A folder (:func:`write_folder_atomic`: ``score``'s predictions written by Spark) is
made beside its target and renamed to it.

Needs POSIX file locks and symbolic links (Linux, macOS); on other platforms ``refresh`` stops
with a clear error.
"""

from __future__ import annotations

import errno
import json
import logging
import os
import re
import secrets
import shutil
import signal
import socket
from collections.abc import Callable, Collection, Iterator, Mapping
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path

from .exceptions import ClvDataError, ClvError

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None  # type: ignore[assignment]

logger = logging.getLogger("clvpredict.publishing")

__all__ = [
    "RefreshLocked",
    "current_release",
    "publish_release",
    "refresh_lock",
    "release_scratch",
    "tidy_output_folder",
    "write_bytes_atomic",
    "write_folder_atomic",
]

#: Reader paths in OUT that refresh publishes (and that the file-by-file scheme wrote directly).
OUTPUT_NAMES = (
    "model.json",
    "predictions.csv",
    "predictions.parquet",
    "metrics.json",
    "report.html",
)
RELEASES = "releases"
CURRENT = "current"
LOCK_FILE = ".lock"
#: Written into a release folder once it has been current: releases without it were never
#: published (a run was killed between finishing the folder and the pointer swap).
PUBLISHED_MARK = ".published"
_RELEASE_NAME = re.compile(r"^(\d{8}T\d{6}Z)(?:-(\d+))?$")
_STAMP = "%Y%m%dT%H%M%SZ"


class RefreshLocked(ClvError):
    """Another refresh holds the lock on the output folder; this one changed nothing."""


# --------------------------------------------------------------------------------------------
# Every file-system change goes through these functions, in order, so that a test can stop the
# process before any one of them (see _Faults).
# --------------------------------------------------------------------------------------------


class _Faults:
    """Fault injection for tests, driven by the environment variable ``CLVPREDICT_TEST_FAULT``.

    ``"kill:K"`` sends SIGKILL to this process just before its file operation number ``K``
    (counted from 0 by every function below), so no ``finally`` block or handler runs, as with
    ``kill -9``; ``"oserror:K"`` raises ``OSError(ENOSPC)`` there instead. Unset: no effect.
    """

    variable = "CLVPREDICT_TEST_FAULT"

    def __init__(self) -> None:
        self.count = 0

    def before(self, what: str, path: os.PathLike[str] | str) -> None:
        number = self.count
        self.count += 1
        logger.debug("file operation %d: %s %s", number, what, path)
        spec = os.environ.get(self.variable)
        if not spec:
            return
        kind, _, at = spec.partition(":")
        if int(at) != number:
            return
        if kind == "kill":
            os.kill(os.getpid(), signal.SIGKILL)
        raise OSError(
            errno.ENOSPC, f"injected fault before file operation {number} ({what})", str(path)
        )


_faults = _Faults()


def _mkdir(path: Path) -> None:
    _faults.before("mkdir", path)
    path.mkdir()


def _write(path: Path, content: bytes) -> None:
    """Create ``path`` (it must not exist) with ``content``, fsynced, mode as for ``open``."""
    _faults.before("write", path)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
    try:
        _write_all(fd, content)
    finally:
        os.close(fd)


def _write_all(fd: int, content: bytes) -> None:
    view = memoryview(content)
    while view:
        view = view[os.write(fd, view) :]
    os.fsync(fd)


def _rename(source: Path, target: Path) -> None:
    """Rename, refusing to overwrite (used where the target must be new)."""
    _faults.before("rename", f"{source} -> {target}")
    if target.exists() or target.is_symlink():
        raise FileExistsError(errno.EEXIST, "exists", str(target))
    os.rename(source, target)


def _replace(source: Path, target: Path) -> None:
    _faults.before("replace", f"{source} -> {target}")
    os.replace(source, target)


def _symlink(points_to: str, path: Path) -> None:
    _faults.before("symlink", f"{path} -> {points_to}")
    os.symlink(points_to, path)


def _link_or_copy(source: Path, target: Path) -> None:
    _faults.before("link", f"{source} -> {target}")
    try:
        os.link(source, target)
    except OSError:
        # No hard links on this file system: a copy holds the same bytes.
        shutil.copy2(source, target)
        fd = os.open(target, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def _unlink(path: Path) -> None:
    _faults.before("unlink", path)
    path.unlink(missing_ok=True)


def _rmtree(path: Path) -> None:
    _faults.before("rmtree", path)
    shutil.rmtree(path, ignore_errors=False)


def _fsync_dir(path: Path) -> None:
    """Make a folder's entries (new names, renames) durable."""
    _faults.before("fsync", path)
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    except OSError as exc:
        # Some network file systems cannot fsync a folder; their renames are synchronous.
        if exc.errno not in (errno.EINVAL, errno.ENOTSUP, errno.EBADF):
            raise
    finally:
        os.close(fd)


# --------------------------------------------------------------------------------------------
# Single files
# --------------------------------------------------------------------------------------------


def _release_link_target(path: Path) -> str | None:
    """``current/<name>`` if ``path`` is one of refresh's reader links, else None."""
    if path.is_symlink() and os.readlink(path) == f"{CURRENT}/{path.name}":
        return os.readlink(path)
    return None


def write_bytes_atomic(content: bytes, path: str | os.PathLike[str]) -> Path:
    """Write ``content`` to ``path`` via a temporary file in the same folder and a rename.

    Readers see either the old file or the complete new one. The temporary file is fsynced
    before the rename and the folder after it. Returns the path.

    Raises
    ------
    ClvDataError
        ``path`` is a reader link of a folder published by ``clvpredict refresh``: writing
        there would replace one file of a published night.
    """
    path = Path(path)
    _refuse_reader_link(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    _remove_stale_temporaries(path)
    fd, tmp = _locked_temporary(path)
    try:
        _faults.before("write", tmp)
        _write_all(fd, content)
        _replace(tmp, path)
        _fsync_dir(path.parent)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    finally:
        os.close(fd)
    return path


def _refuse_reader_link(path: Path) -> None:
    if _release_link_target(path) is not None:
        raise ClvDataError(
            f"{str(path)!r} is published by clvpredict refresh (a link into "
            f"{str(path.parent / CURRENT)!r}); writing it would mix one file into a published "
            "night. Write to another folder (--out)."
        )


def _fsync_tree(folder: Path) -> None:
    """Make a folder written by another program (Spark's executors) durable: every file, then
    every folder, deepest first."""
    for root, _dirs, names in os.walk(folder, topdown=False):
        for name in names:
            fd = os.open(os.path.join(root, name), os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
        _fsync_dir(Path(root))


def _remove(path: Path) -> None:
    """Remove a file, link or folder."""
    if path.is_dir() and not path.is_symlink():
        _rmtree(path)
    else:
        _unlink(path)


def write_folder_atomic(path: str | os.PathLike[str], write: Callable[[Path], None]) -> Path:
    """Have ``write`` make a folder (e.g. Parquet part files written by Spark) and put it at
    ``path`` by a rename.

    ``write`` receives a path beside ``path`` that does not exist yet, and must create it. The
    folder is fsynced, then renamed to ``path``: readers never see a folder half-written. A
    previous output at ``path`` (a folder or a file) is first renamed aside and removed after,
    so between those two renames ``path`` is briefly missing (no rename swaps two folders).
    If ``write`` fails, what it left is removed; a previous output that could not be removed
    is removed by the next write. Returns the path.

    Raises
    ------
    ClvDataError
        ``path`` is a reader link of a folder published by ``clvpredict refresh``.
    """
    path = Path(path)
    _refuse_reader_link(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    for leftover in path.parent.glob(f".{glob_escape(path.name)}.*.old"):
        # A replaced output that a failing disk kept from being removed.
        logger.warning("removed %s, left by an interrupted write of %s", leftover, path.name)
        _remove(leftover)
    token = secrets.token_hex(4)
    tmp = path.with_name(f".{path.name}.{token}.tmp")
    old = path.with_name(f".{path.name}.{token}.old")
    try:
        write(tmp)
        _fsync_tree(tmp)
        if path.exists() or path.is_symlink():
            _rename(path, old)
        _rename(tmp, path)
        _fsync_dir(path.parent)
    except BaseException:
        if tmp.exists() or tmp.is_symlink():
            _remove(tmp)
        if old.exists() or old.is_symlink():
            if path.exists() or path.is_symlink():
                _remove(old)  # the new folder is in place: only the tidying failed
            else:
                _rename(old, path)  # the previous output back where it was
        raise
    if old.exists() or old.is_symlink():
        _remove(old)
    return path


def _temporary_names(path: Path) -> Iterator[Path]:
    """Temporary files of ``path``'s writers (this module's and the earlier scheme's)."""
    prefix = f".{path.name}."
    for entry in path.parent.glob(f".{glob_escape(path.name)}.*.tmp"):
        if entry.name.startswith(prefix) and not entry.is_symlink() and entry.is_file():
            yield entry


def glob_escape(name: str) -> str:
    """``name`` with glob wildcards made literal."""
    return re.sub(r"([*?[])", r"[\1]", name)


def _locked_temporary(path: Path) -> tuple[int, Path]:
    """A new temporary file beside ``path``, open and flock-ed by this process.

    The lock tells other writers of the same target that the file is live; the kernel drops it
    when this process dies, after which the file is a leftover they may remove.
    """
    while True:
        tmp = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")
        fd = os.open(tmp, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o666)
        if fcntl is None:  # pragma: no cover - Windows: no clean-up of leftovers
            return fd, tmp
        fcntl.flock(fd, fcntl.LOCK_EX)
        try:
            if os.stat(tmp).st_ino == os.fstat(fd).st_ino:
                return fd, tmp
        except FileNotFoundError:
            pass
        # Another writer removed it between its creation and our lock: take a new name.
        os.close(fd)


def _remove_stale_temporaries(path: Path) -> None:
    if fcntl is None:  # pragma: no cover - without locks a live file cannot be told apart
        return
    for tmp in _temporary_names(path):
        try:
            fd = os.open(tmp, os.O_RDONLY)
        except FileNotFoundError:
            continue
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                continue  # a live writer
            logger.warning("removed %s, left by an interrupted write of %s", tmp, path.name)
            _unlink(tmp)
        finally:
            os.close(fd)


# --------------------------------------------------------------------------------------------
# The lock
# --------------------------------------------------------------------------------------------


@contextmanager
def refresh_lock(out: Path) -> Iterator[None]:
    """Hold ``OUT/.lock`` exclusively for the block; fail at once if another process holds it.

    Raises
    ------
    RefreshLocked
        Another refresh holds the lock. The message names its pid, host and start time.
    RuntimeError
        The platform has no POSIX file locks.
    """
    if fcntl is None:
        raise RuntimeError(
            "clvpredict refresh needs POSIX file locks (fcntl) and symbolic links to publish "
            "atomically; run it on Linux or macOS."
        )
    out.mkdir(parents=True, exist_ok=True)
    fd = os.open(out / LOCK_FILE, os.O_RDWR | os.O_CREAT, 0o666)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise RefreshLocked(
                f"another refresh is running on {str(out)!r} ({_holder(fd)}); this run changed "
                "nothing. Wait for it to finish; the lock is released when that process ends, "
                "even if it is killed."
            ) from None
        holder = {
            "pid": os.getpid(),
            "host": socket.gethostname(),
            "started": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        }
        os.ftruncate(fd, 0)
        os.pwrite(fd, (json.dumps(holder) + "\n").encode(), 0)
        try:
            yield
        finally:
            # Emptied on release, so a non-empty lock file always describes a live holder.
            os.ftruncate(fd, 0)
    finally:
        os.close(fd)


def _holder(fd: int) -> str:
    try:
        info = json.loads(os.pread(fd, 4096, 0).decode())
        return f"pid {info['pid']} on {info['host']}, started {info['started']}"
    except (ValueError, KeyError, TypeError, UnicodeDecodeError):
        return "holder unknown"


# --------------------------------------------------------------------------------------------
# Releases
# --------------------------------------------------------------------------------------------


def _release_key(name: str) -> tuple[str, int] | None:
    match = _RELEASE_NAME.match(name)
    if match is None:
        return None
    return match.group(1), int(match.group(2) or 1)


def _new_release_name(releases: Path, when: datetime) -> str:
    """A name that sorts after every release there is or was being made, so that pruning by
    name order never removes a newer night: after the same second's earlier releases even when
    those were pruned meanwhile, and after all of them if the clock went back."""
    stamp = when.astimezone(timezone.utc).strftime(_STAMP)
    taken = []
    if releases.is_dir():
        for entry in releases.iterdir():
            key = _release_key(entry.name.removeprefix(".staging-").removeprefix(".trash-"))
            if key is not None:
                taken.append(key)
    latest = max(taken, default=None)
    if latest is None or latest < (stamp, 1):
        return stamp
    base = max(stamp, latest[0])
    n = 1 + max(k for s, k in taken if s == base) if base == latest[0] else 1
    return base if n == 1 else f"{base}-{n}"


def current_release(out: str | os.PathLike[str]) -> Path | None:
    """The folder ``OUT/current`` points to (one night's complete outputs), or None if nothing
    has been published in the release layout.

    Raises
    ------
    ClvDataError
        ``OUT/current`` exists but is not a link to a folder in ``OUT/releases``.
    """
    out = Path(out)
    pointer = out / CURRENT
    if not pointer.is_symlink():
        if pointer.exists():
            raise ClvDataError(
                f"{str(pointer)!r} is not a link made by clvpredict refresh; move it out of "
                f"{str(out)!r}."
            )
        return None
    target = os.readlink(pointer)
    parts = Path(target).parts
    if len(parts) != 2 or parts[0] != RELEASES or not (out / target).is_dir():
        raise ClvDataError(
            f"{str(pointer)!r} points to {target!r}, not to a folder in {RELEASES}/; point it at "
            f"a release folder (ln -sfn {RELEASES}/NAME {CURRENT}) or remove it."
        )
    return out / target


def _is_reader_link(out: Path, name: str) -> bool:
    return _release_link_target(out / name) is not None


def tidy_output_folder(out: Path) -> None:
    """Under the lock, before a refresh: remove a killed run's leftovers and bring an output
    folder of the file-by-file scheme into the release layout.

    Every step leaves each reader path on the night that was current before.

    Raises
    ------
    ClvDataError
        A reader path holds a file that is not part of the published night (another program
        wrote it), or ``OUT/current`` is not refresh's link.
    """
    current = current_release(out)
    if current is not None and not (current / PUBLISHED_MARK).exists():
        _write(current / PUBLISHED_MARK, b"")
    _remove_leftovers(out, current)
    legacy = [
        name for name in OUTPUT_NAMES if (out / name).is_file() and not (out / name).is_symlink()
    ]
    if current is None and legacy:
        current = _adopt_legacy_outputs(out, legacy)
    if current is None:
        for name in OUTPUT_NAMES:
            if _is_reader_link(out, name):
                # Made by a first run killed before its pointer swap: points at nothing.
                logger.warning("removed %s, left by an interrupted refresh", out / name)
                _unlink(out / name)
        return
    for name in OUTPUT_NAMES:
        path = out / name
        if _is_reader_link(out, name):
            if not (current / name).exists():
                # The night has no such file: the link is a leftover of a killed run.
                logger.warning("removed %s: the current release has no %s", path, name)
                _unlink(path)
            continue
        if not (path.exists() or path.is_symlink()):
            continue
        if path.is_file() and not path.is_symlink() and _same_file(path, current / name):
            # An interrupted conversion from the file-by-file scheme: same bytes, now a link.
            _swap_in_reader_link(out, name)
            continue
        raise ClvDataError(
            f"{str(path)!r} is not part of the published night (OUT/current -> "
            f"{current.relative_to(out)}): another program wrote it. Move it out of {str(out)!r}; "
            f"refresh publishes {name} as a link into {CURRENT}/."
        )


def _same_file(path: Path, other: Path) -> bool:
    if not other.is_file():
        return False
    if os.path.samefile(path, other):
        return True
    return path.stat().st_size == other.stat().st_size and path.read_bytes() == other.read_bytes()


def _swap_in_reader_link(out: Path, name: str) -> None:
    """Replace whatever is at ``OUT/name`` with the link ``-> current/name``, atomically."""
    tmp = out / f".{name}.link.tmp"
    if tmp.is_symlink() or tmp.exists():
        _unlink(tmp)
    _symlink(f"{CURRENT}/{name}", tmp)
    _replace(tmp, out / name)


def _remove_leftovers(out: Path, current: Path | None) -> None:
    releases = out / RELEASES
    if releases.is_dir():
        for entry in sorted(releases.iterdir()):
            if entry.name.startswith((".staging-", ".trash-")) and entry.is_dir():
                logger.warning("removed %s, left by an interrupted refresh", entry)
                _rmtree(entry)
            elif (
                _release_key(entry.name) is not None
                and entry.is_dir()
                and not entry.is_symlink()
                and entry != current
                and not (entry / PUBLISHED_MARK).exists()
            ):
                logger.warning(
                    "removed %s: a refresh was killed before publishing it", entry.relative_to(out)
                )
                _rmtree(entry)
    stray = [out / f".{CURRENT}.tmp", *(out / f".{name}.link.tmp" for name in OUTPUT_NAMES)]
    # The file-by-file scheme's temporary and backup files, in OUT and OUT/models.
    for name in (*OUTPUT_NAMES, "last-rejected-metrics.json"):
        stray += out.glob(f".{glob_escape(name)}.*.tmp")
        stray.append(out / f".{name}.previous")
    if (out / "models").is_dir():
        stray += (out / "models").glob(".model-*.json.*.tmp")
        stray += (out / "models").glob(".model-*.json.previous")
    for path in stray:
        if path.is_symlink() or path.is_file():
            logger.warning("removed %s, left by an interrupted refresh", path)
            _unlink(path)


def _adopt_legacy_outputs(out: Path, names: list[str]) -> Path:
    """Move the file-by-file scheme's outputs into a release folder, make it current, and turn
    the reader paths into links, each step keeping readers on the same night."""
    releases = out / RELEASES
    if not releases.is_dir():
        _mkdir(releases)
    newest = max((out / name).stat().st_mtime for name in names)
    name = _new_release_name(releases, datetime.fromtimestamp(newest, timezone.utc))
    staging = releases / f".staging-{name}"
    _mkdir(staging)
    for file_name in names:
        _link_or_copy(out / file_name, staging / file_name)
    _fsync_dir(staging)
    _rename(staging, releases / name)
    _fsync_dir(releases)
    _point_current_at(out, name)
    _fsync_dir(out)
    _write(releases / name / PUBLISHED_MARK, b"")
    for file_name in names:
        _swap_in_reader_link(out, file_name)
    _fsync_dir(out)
    logger.warning(
        "converted %s to the release layout: the outputs found there are now %s/%s, and the "
        "reader paths are links into %s/.%s",
        out,
        RELEASES,
        name,
        CURRENT,
        " The dated models in models/ are no longer written (each release keeps its "
        "model.json); remove models/ when it is no longer needed."
        if (out / "models").is_dir()
        else "",
    )
    return releases / name


def _point_current_at(out: Path, name: str) -> None:
    """The commit: swap ``OUT/current`` to ``releases/name`` with one rename (the caller
    fsyncs OUT)."""
    tmp = out / f".{CURRENT}.tmp"
    if tmp.is_symlink() or tmp.exists():
        _unlink(tmp)
    _symlink(f"{RELEASES}/{name}", tmp)
    _replace(tmp, out / CURRENT)


@contextmanager
def release_scratch(out: Path) -> Iterator[Path]:
    """A new, empty folder in ``OUT/releases`` for outputs that another program writes (Spark's
    executors write the predictions there) before :func:`publish_release` moves them into the
    release; removed with whatever is left in it when the block ends. Call it holding
    :func:`refresh_lock`. A killed run's scratch folder is removed by the next
    :func:`tidy_output_folder`, as a staging folder."""
    releases = out / RELEASES
    if not releases.is_dir():
        _mkdir(releases)
    scratch = releases / f".staging-scratch-{secrets.token_hex(4)}"
    _mkdir(scratch)
    try:
        yield scratch
    finally:
        if scratch.is_dir():
            _rmtree(scratch)


def publish_release(
    out: Path,
    files: Mapping[str, bytes],
    keep: int,
    *,
    when: datetime | None = None,
    folders: Mapping[str, Path] | None = None,
) -> str:
    """Publish one night's files as a new release and make it current (see the module notes).

    Call it holding :func:`refresh_lock`, after :func:`tidy_output_folder`.

    Parameters
    ----------
    out : Path
        Output folder.
    files : mapping of file name to content
        The night's files, by plain name (no folders), e.g. ``"model.json"``.
    keep : int
        Releases kept after publishing, the new one included (at least 1).
    when : datetime, optional
        Time that names the release (default now, UTC).
    folders : mapping of output name to folder, optional
        Outputs that are folders written already (``predictions.parquet`` written by Spark),
        in a :func:`release_scratch` folder of ``out``: each is fsynced and moved into the
        release by a rename, like a file.

    Returns
    -------
    str
        The release's name (its folder in ``OUT/releases``).
    """
    folders = dict(folders or {})
    names = [*files, *folders]
    for file_name in names:
        if file_name not in OUTPUT_NAMES:
            raise ValueError(f"{file_name!r} is not one of the published outputs {OUTPUT_NAMES}")
    if len(set(names)) != len(names):
        raise ValueError(f"an output is given both as a file and as a folder: {sorted(names)}")
    releases = out / RELEASES
    if not releases.is_dir():
        _mkdir(releases)
    name = _new_release_name(releases, when or datetime.now(timezone.utc))
    staging = releases / f".staging-{name}"
    new_links: list[Path] = []
    committed = False
    try:
        _mkdir(staging)
        for file_name, content in files.items():
            _write(staging / file_name, content)
        for folder_name, source in folders.items():
            _fsync_tree(source)
            _rename(source, staging / folder_name)
        _fsync_dir(staging)
        _rename(staging, releases / name)
        _fsync_dir(releases)
        # Links for names the current night lacks dangle until the swap, like a missing file.
        for file_name in names:
            if not (out / file_name).is_symlink():
                _symlink(f"{CURRENT}/{file_name}", out / file_name)
                new_links.append(out / file_name)
        if new_links:
            _fsync_dir(out)
        _point_current_at(out, name)
        committed = True
    except BaseException:
        if not committed:
            _undo(out, releases, name, staging, new_links)
        raise
    _after_commit(out, name, names, keep)
    return name


def _undo(out: Path, releases: Path, name: str, staging: Path, new_links: list[Path]) -> None:
    """Best effort after a failure before the commit; the next run removes what remains."""
    try:
        for link in new_links:
            _unlink(link)
        for folder in (staging, releases / name):
            if folder.is_dir() and folder != current_release(out):
                _rmtree(folder)
        tmp = out / f".{CURRENT}.tmp"
        if tmp.is_symlink():
            _unlink(tmp)
    except Exception as exc:
        logger.warning("could not remove the unpublished release %s: %s", name, exc)


def _after_commit(out: Path, name: str, files: Collection[str], keep: int) -> None:
    """Mark the release, drop links to files the night lacks, prune old releases. The night is
    published whatever happens here, so a failure is a warning and the next run finishes it."""
    releases = out / RELEASES
    try:
        _fsync_dir(out)
        _write(releases / name / PUBLISHED_MARK, b"")
        for file_name in OUTPUT_NAMES:
            if file_name not in files and _is_reader_link(out, file_name):
                logger.warning(
                    "removed %s: tonight's release has no %s (e.g. another output format or "
                    "--no-report)",
                    out / file_name,
                    file_name,
                )
                _unlink(out / file_name)
        published = sorted(
            (
                entry
                for entry in releases.iterdir()
                if _release_key(entry.name) is not None
                and entry.is_dir()
                and not entry.is_symlink()
                and (entry / PUBLISHED_MARK).exists()
            ),
            key=lambda entry: _release_key(entry.name),
        )
        for old in published[: max(len(published) - keep, 0)]:
            if old.name == name:
                continue
            trash = releases / f".trash-{old.name}"
            # Renamed first, so that a kill half-way through the removal cannot leave a
            # release folder with some of its files missing.
            _rename(old, trash)
            _rmtree(trash)
            logger.info("removed old release %s", old.name)
        _fsync_dir(releases)
        _fsync_dir(out)
    except Exception as exc:
        logger.warning(
            "release %s is published, but tidying up after it failed (the next refresh "
            "finishes it): %s",
            name,
            exc,
        )

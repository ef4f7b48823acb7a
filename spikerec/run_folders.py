"""Run folders and atomic writes: a run never overwrites an earlier run's results.

- :func:`new_run_dir` makes a new folder per run; :func:`discard_on_failure` removes
  it again when the run fails before it holds anything worth keeping.
- :func:`atomic_write` (and :func:`atomic_write_text`, :func:`atomic_write_json`)
  write through a hidden temporary file renamed into place; the file then gets the
  permissions the umask gives any new file (``0o666 & ~umask``), so colleagues can
  read a shared run. :func:`remove_stale_temp_files` removes the temporary files a
  killed process left behind.
- :func:`strict_json` writes JSON that strict parsers accept: NaN and infinities
  become ``null``.
- :func:`run_lock` keeps two processes from working in one run folder at once.
"""

from __future__ import annotations

import errno
import json
import math
import os
import re
import shlex
import shutil
import tempfile
from collections.abc import Callable, Collection, Iterator
from contextlib import contextmanager, suppress
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from spikerec.errors import DiskFullError, ParameterError, RunError

try:
    import fcntl
except ImportError:  # not POSIX: run_lock does nothing
    fcntl = None  # type: ignore[assignment]

#: Name pattern of the temporary files of :func:`atomic_write`: ``.<target>.<8 chars>.tmp``
#: (``tempfile.mkstemp``'s random part).
TEMP_FILE_PATTERN = re.compile(r"^\..+\.[a-z0-9_]{8}\.tmp$")
#: Files a run writes before it has done any work; a failed run holding only these
#: (and temporary files) is removed by :func:`discard_on_failure`.
SETUP_FILES: frozenset[str] = frozenset(
    {"config.json", "compare_config.json", "data_fingerprint.json"}
)
#: The lock file of :func:`run_lock`.
LOCK_FILE = ".spikerec.lock"
# errno values that mean the disk (or the user's quota) is full.
_DISK_FULL = {errno.ENOSPC, getattr(errno, "EDQUOT", errno.ENOSPC)}


def new_run_dir(root: str | os.PathLike[str], prefix: str) -> Path:
    """Create and return a new, empty folder ``root/<prefix>-<UTC time>[-k]``.

    The folder is created with ``mkdir(exist_ok=False)``, so two runs started in
    the same second get different folders and an existing folder is never reused.
    Folders get the permissions the umask allows (``0o777 & ~umask``).

    Raises
    ------
    RunError
        If ``root`` is empty (``--out ''`` would write into the current folder).
    ValueError
        If ``root`` exists and is not a folder.
    PermissionError
        If ``root`` cannot be written.

    Examples
    --------
    >>> import tempfile
    >>> root = tempfile.mkdtemp()
    >>> new_run_dir(root, "train").name.startswith("train-")
    True
    >>> new_run_dir("", "train")
    Traceback (most recent call last):
    ...
    spikerec.errors.RunError: the output folder is empty (''); give a folder, e.g. --out runs
    """
    if not str(os.fspath(root)).strip():
        raise RunError(
            f"the output folder is empty ({os.fspath(root)!r}); give a folder, e.g. --out runs"
        )
    root_path = Path(root)
    if root_path.exists() and not root_path.is_dir():
        raise ParameterError(f"output folder {str(root_path)!r} exists and is not a folder")
    root_path.mkdir(parents=True, exist_ok=True)
    if not os.access(root_path, os.W_OK):
        raise PermissionError(f"output folder {str(root_path)!r} is not writable")
    stamp = datetime.now(timezone.utc).strftime("%Y%m%d-%H%M%S")
    for k in range(1000):
        candidate = root_path / (f"{prefix}-{stamp}" if k == 0 else f"{prefix}-{stamp}-{k}")
        try:
            candidate.mkdir()
        except FileExistsError:
            continue
        return candidate
    raise RunError(f"could not create a new run folder under {str(root_path)!r}")


def current_umask() -> int:
    """The process's umask, read without changing it where the system allows.

    Linux shows it in ``/proc/self/status``; elsewhere it is read by setting and
    restoring it (not thread-safe, but only for that instant).
    """
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def _disk_full(error: BaseException) -> bool:
    if isinstance(error, OSError):
        return error.errno in _DISK_FULL
    # torch.save reports a failed write as RuntimeError from its zip writer
    text = str(error)
    return isinstance(error, RuntimeError) and (
        "file write failed" in text or "No space left on device" in text
    )


def atomic_write(path: str | os.PathLike[str], write: Callable[[Path], None]) -> Path:
    """Write a file through ``write(temporary_path)`` then rename it into place.

    A crash leaves either no file or the previous complete one, never half a file;
    a SIGKILL may leave the hidden temporary file, which
    :func:`remove_stale_temp_files` removes. The file gets the permissions the umask
    gives new files (``0o666 & ~umask``), not the ``0o600`` of a temporary file.

    Raises
    ------
    DiskFullError
        If the disk (or quota) is full (an ``OSError``); the message names the file.
        The previous file, if any, is left as it was.

    Examples
    --------
    >>> import tempfile
    >>> from pathlib import Path
    >>> target = Path(tempfile.mkdtemp()) / "notes.txt"
    >>> atomic_write(target, lambda tmp: tmp.write_text("done")).read_text()
    'done'
    """
    target = Path(path)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        write(tmp)
        with open(tmp, "rb+") as handle:
            os.fsync(handle.fileno())
        os.chmod(tmp, 0o666 & ~current_umask())
        os.replace(tmp, target)
    except BaseException as error:
        tmp.unlink(missing_ok=True)
        if isinstance(error, Exception) and _disk_full(error):
            raise DiskFullError(
                f"cannot write {target}: no space left on the device (or the disk quota is "
                "used up); free some space and run again"
            ) from None
        raise
    return target


def atomic_write_text(path: str | os.PathLike[str], text: str) -> Path:
    """Atomically write ``text`` (UTF-8) to ``path``."""

    def write(tmp: Path) -> None:
        tmp.write_text(text, encoding="utf-8")

    return atomic_write(path, write)


def strict_json_value(value: Any) -> Any:
    """``value`` with every NaN or infinite float replaced by ``None``, recursively.

    Dicts, lists and tuples are walked; NumPy scalars and arrays and torch tensors
    become Python numbers and lists first.

    Examples
    --------
    >>> strict_json_value({"ci": [float("nan"), 0.5], "p": float("inf")})
    {'ci': [None, 0.5], 'p': None}
    """
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {key: strict_json_value(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [strict_json_value(item) for item in value]
    if isinstance(value, (str, int, bool)) or value is None:
        return value
    tolist = getattr(value, "tolist", None)  # NumPy scalars and arrays, torch tensors
    if callable(tolist):
        return strict_json_value(tolist())
    return value


def strict_json(value: Any, *, default: Callable[[Any], Any] | None = None, **kwargs: Any) -> str:
    """JSON text that strict parsers accept: NaN and infinities written as ``null``.

    ``kwargs`` go to :func:`json.dumps` (``indent``, ``sort_keys``); ``default``
    converts other objects (its result is made strict too).

    Examples
    --------
    >>> strict_json({"accuracy": 0.5, "ci95_low": float("nan")})
    '{"accuracy": 0.5, "ci95_low": null}'
    """

    def strict_default(item: Any) -> Any:
        converted = strict_json_value(item)
        if converted is item:
            if default is None:
                raise TypeError(f"cannot write {type(item).__name__} as JSON")
            converted = strict_json_value(default(item))
        return converted

    return json.dumps(strict_json_value(value), allow_nan=False, default=strict_default, **kwargs)


def atomic_write_json(
    path: str | os.PathLike[str],
    content: Any,
    *,
    indent: int | None = 2,
    default: Callable[[Any], Any] | None = None,
) -> Path:
    """Atomically write ``content`` as strict JSON (see :func:`strict_json`), ending in a
    newline."""
    return atomic_write_text(path, strict_json(content, default=default, indent=indent) + "\n")


def stale_temp_files(run_dir: str | os.PathLike[str]) -> list[Path]:
    """The temporary files of :func:`atomic_write` in ``run_dir`` and its sub-folders."""
    folder = Path(run_dir)
    if not folder.is_dir():
        return []
    return sorted(
        path
        for path in folder.rglob(".*.tmp")
        if path.is_file() and TEMP_FILE_PATTERN.match(path.name)
    )


def remove_stale_temp_files(run_dir: str | os.PathLike[str]) -> list[Path]:
    """Remove the temporary files a killed write left in ``run_dir``; return them.

    Call it when a run folder is resumed, after :func:`run_lock` has shown that no
    other process works in it (an atomic write in progress has a temporary file too).

    Examples
    --------
    >>> import tempfile
    >>> from pathlib import Path
    >>> run = Path(tempfile.mkdtemp())
    >>> _ = (run / ".checkpoint.pt.ab12cd34.tmp").write_bytes(b"half a checkpoint")
    >>> [p.name for p in remove_stale_temp_files(run)], list(run.iterdir())
    (['.checkpoint.pt.ab12cd34.tmp'], [])
    """
    removed = []
    for path in stale_temp_files(run_dir):
        try:
            path.unlink()
        except FileNotFoundError:
            continue
        removed.append(path)
    return removed


def holds_results(
    run_dir: str | os.PathLike[str], setup_files: Collection[str] = SETUP_FILES
) -> bool:
    """Whether ``run_dir`` holds anything besides its setup files, temporary files, the
    lock file and empty folders: work worth keeping (a checkpoint, finished entries).
    """
    folder = Path(run_dir)
    if not folder.is_dir():
        return False
    for path in folder.rglob("*"):
        if path.is_dir():
            continue
        name = path.name
        if path.parent == folder and (name in setup_files or name == LOCK_FILE):
            continue
        if TEMP_FILE_PATTERN.match(name):
            continue
        return True
    return False


def resume_command(run_dir: str | os.PathLike[str]) -> str | None:
    """The command that resumes the run in ``run_dir``, or ``None`` when there is nothing
    to resume (no such folder, a training run without a checkpoint, a finished
    comparison).

    Examples
    --------
    >>> import tempfile
    >>> run = new_run_dir(tempfile.mkdtemp(), "train")
    >>> resume_command(run) is None
    True
    >>> _ = (run / "checkpoint.pt").write_bytes(b"...")
    >>> resume_command(run).startswith("spikerec train --resume ")
    True
    """
    folder = Path(run_dir)
    quoted = shlex.quote(str(folder))
    if (folder / "checkpoint.pt").is_file():
        return f"spikerec train --resume {quoted}"
    if (folder / "compare_config.json").is_file() and not (
        folder / "finished" / "complete"
    ).is_file():
        return f"spikerec compare --resume {quoted}"
    return None


@contextmanager
def discard_on_failure(
    run_dir: str | os.PathLike[str],
    *,
    keep: Callable[[Path], bool] = holds_results,
    keep_on: tuple[type[BaseException], ...] = (),
) -> Iterator[Path]:
    """Remove the run folder just made by this process if the block fails before the
    folder holds work worth keeping.

    On any exception (``KeyboardInterrupt`` included) the folder is removed unless
    ``keep(run_dir)`` is true, and the exception propagates. The default keeps a
    folder holding anything besides ``config.json`` / ``compare_config.json``;
    ``keep=lambda d: False`` removes a half-written ``evaluate`` or ``trace`` folder.
    An exception of a type in ``keep_on`` keeps the folder whatever it holds (e.g.
    ``TrainingDiverged``, whose message points at the folder). Use it only for a
    folder this process created (never for a resumed one).

    Examples
    --------
    >>> import tempfile
    >>> run = new_run_dir(tempfile.mkdtemp(), "train")
    >>> try:
    ...     with discard_on_failure(run):
    ...         _ = atomic_write_text(run / "config.json", "{}")
    ...         raise ValueError("images must be at least 4 x 4 pixels")
    ... except ValueError:
    ...     pass
    >>> run.exists()
    False
    """
    folder = Path(run_dir)
    try:
        yield folder
    except BaseException as error:
        if not isinstance(error, keep_on) and not keep(folder):
            shutil.rmtree(folder, ignore_errors=True)
        raise


@contextmanager
def run_lock(run_dir: str | os.PathLike[str]) -> Iterator[Path]:
    """Hold an exclusive lock on ``run_dir`` for the block: a second process that asks
    for it fails at once instead of writing into the same folder.

    The lock is an ``flock`` on ``run_dir/.spikerec.lock``; the kernel releases it
    when the holder exits, SIGKILL included, so a killed run never leaves a stale
    lock (the file stays, empty of meaning, and is reused). A holder that leaves the
    block normally or by an exception removes the file, so a finished run folder
    holds only its results. Without ``fcntl.flock`` (not POSIX) the block runs
    unlocked.

    Raises
    ------
    RunError
        If another process holds the lock.

    Examples
    --------
    >>> import tempfile
    >>> run = new_run_dir(tempfile.mkdtemp(), "train")
    >>> with run_lock(run):
    ...     with run_lock(run):
    ...         pass
    Traceback (most recent call last):
    ...
    spikerec.errors.RunError: run folder ... is in use by another spikerec process ...
    """
    folder = Path(run_dir)
    if fcntl is None:
        yield folder
        return
    handle = open(folder / LOCK_FILE, "a+")  # held for the block
    try:
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            holder = handle.read().strip() or "unknown"
            raise RunError(
                f"run folder {str(folder)!r} is in use by another spikerec process (pid "
                f"{holder}); wait for it to finish or stop it first"
            ) from None
        except OSError:  # a file system without locks: go on unlocked
            pass
        handle.seek(0)
        handle.truncate()
        handle.write(f"{os.getpid()}\n")
        handle.flush()
        try:
            yield folder
        finally:
            # Removed while still locked: a process that opens the name afterwards
            # makes a new file, and this run is over.
            with suppress(OSError):
                (folder / LOCK_FILE).unlink()
    finally:
        handle.close()

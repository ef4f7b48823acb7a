"""Run folders and atomic writes: a run never overwrites an earlier run's results."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path

from spikerec.errors import ParameterError


def new_run_dir(root: str | os.PathLike[str], prefix: str) -> Path:
    """Create and return a new, empty folder ``root/<prefix>-<UTC time>[-k]``.

    The folder is created with ``mkdir(exist_ok=False)``, so two runs started in
    the same second get different folders and an existing folder is never reused.

    Raises
    ------
    ValueError
        If ``root`` exists and is not a folder.
    PermissionError
        If ``root`` cannot be written.
    """
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
    raise RuntimeError(f"could not create a new run folder under {str(root_path)!r}")


def atomic_write(path: str | os.PathLike[str], write: Callable[[Path], None]) -> Path:
    """Write a file through ``write(temporary_path)`` then rename it into place.

    A crash leaves either no file or the previous complete one, never half a file.
    """
    target = Path(path)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        write(tmp)
        with open(tmp, "rb+") as handle:
            os.fsync(handle.fileno())
        os.replace(tmp, target)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return target


def atomic_write_text(path: str | os.PathLike[str], text: str) -> Path:
    """Atomically write ``text`` (UTF-8) to ``path``."""

    def write(tmp: Path) -> None:
        tmp.write_text(text, encoding="utf-8")

    return atomic_write(path, write)

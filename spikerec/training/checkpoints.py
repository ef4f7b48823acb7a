"""Checkpoints: written atomically, loaded without ever executing code from the file."""

from __future__ import annotations

import os
import pickle
import zipfile
from pathlib import Path
from typing import Any

import torch

from spikerec.errors import CheckpointError
from spikerec.run_folders import atomic_write

CHECKPOINT_FORMAT = "spikerec-checkpoint"
CHECKPOINT_VERSION = 1


def save_checkpoint(path: str | os.PathLike[str], payload: dict[str, Any]) -> Path:
    """Atomically write ``payload`` (tensors, numbers, strings, lists, dicts) to ``path``.

    The file gets the format marker and version that :func:`load_checkpoint` checks.
    """
    content = {"format": CHECKPOINT_FORMAT, "version": CHECKPOINT_VERSION, **payload}
    return atomic_write(path, lambda tmp: torch.save(content, tmp))


def _check_zip_integrity(file: Path) -> None:
    """Refuse a torch (zip) file whose members fail their CRC-32 check.

    torch.load does not verify the checksums it stores, so damaged bytes inside a
    tensor would load silently as wrong weights.
    """
    try:
        if not zipfile.is_zipfile(file):
            return  # not a zip: torch.load says what it is
        with zipfile.ZipFile(file) as archive:
            bad = archive.testzip()
    except (zipfile.BadZipFile, OSError, EOFError, ValueError, RuntimeError):
        return  # unreadable as a zip: torch.load reports it
    if bad is not None:
        raise CheckpointError(
            f"checkpoint {str(file)!r} is corrupt: {bad.split('/', 1)[-1]!r} fails its CRC-32 check"
        )


def load_checkpoint(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Read a checkpoint with ``torch.load(weights_only=True)``.

    Raises
    ------
    CheckpointError
        One line naming the file and the problem: missing, empty, truncated or
        corrupt (damaged bytes that fail the archive's CRC-32 checks included),
        holding objects other than plain data (refused, never run), or not
        written by spikerec.
    """
    file = Path(path)
    if file.is_dir():
        file = file / "checkpoint.pt"
    if not file.is_file():
        raise CheckpointError(f"checkpoint {str(file)!r} does not exist")
    if file.stat().st_size == 0:
        raise CheckpointError(f"checkpoint {str(file)!r} is empty")
    _check_zip_integrity(file)
    try:
        content = torch.load(file, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as error:
        text = str(error)
        if "Unsupported global" in text or "GLOBAL" in text:
            raise CheckpointError(
                f"checkpoint {str(file)!r} holds objects other than plain data (code could run "
                "on loading) and was refused without running it"
            ) from None
        raise CheckpointError(
            f"checkpoint {str(file)!r} is not a torch file or is corrupt"
        ) from None
    except (
        RuntimeError,
        EOFError,
        zipfile.BadZipFile,
        ValueError,
        OSError,
        KeyError,
        IndexError,
        TypeError,
        AttributeError,
    ) as error:
        # torch's weights-only unpickler raises a variety of errors on foreign bytes.
        first = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        first = first.split(". This is an internal miniz error")[0]
        raise CheckpointError(
            f"checkpoint {str(file)!r} is truncated or corrupt, or not a torch file ({first[:120]})"
        ) from None
    if not isinstance(content, dict) or content.get("format") != CHECKPOINT_FORMAT:
        raise CheckpointError(f"{str(file)!r} is not a spikerec checkpoint")
    if content.get("version") != CHECKPOINT_VERSION:
        raise CheckpointError(
            f"checkpoint {str(file)!r} has version {content.get('version')!r}; "
            f"this spikerec reads version {CHECKPOINT_VERSION}"
        )
    return content

"""What a comparison run keeps on disk as it goes, so ``spikerec compare --resume`` can
skip the work already done.

Layout inside the run folder::

    compare_config.json              the CompareConfig (written before any work)
    data_fingerprint.json            the first seed's data: shapes, classes, sizes, SHA-256
    finished/<augment>-seed<k>-<entry>.json   one EntryResult, per-image correctness included
    finished/<augment>-seed<k>.json           the AugmentRecord of that seed and augmentation
    finished/<augment>-seed<k>-samples.npy    its GAN samples, if any
    finished/complete                         written after every output file

Every file is written atomically (:func:`spikerec.run_folders.atomic_write`): a run killed
at any moment leaves complete files or none, and a resumed run trusts what it finds.
The JSON is strict (:func:`spikerec.run_folders.strict_json`): a NaN (the accuracy of a
class absent from the test split) is written as ``null`` and read back as NaN.
"""

from __future__ import annotations

import io
import json
import math
from dataclasses import asdict, fields
from pathlib import Path
from typing import Any

import numpy as np
import torch

from spikerec.compare.baselines.augment import AugmentRecord
from spikerec.compare.baselines.fit import FitConfig
from spikerec.compare.baselines.gan import GANConfig
from spikerec.compare.config import CompareConfig
from spikerec.compare.entries import EntryResult
from spikerec.data.fingerprint import check_resume_data, data_fingerprint
from spikerec.data.loading import DatasetSplits
from spikerec.errors import CheckpointError, ParameterError, ParameterTypeError
from spikerec.run_folders import atomic_write, atomic_write_text, strict_json
from spikerec.training.config import TrainConfig

CONFIG_FILE = "compare_config.json"
DATA_FILE = "data_fingerprint.json"
FINISHED_DIR = "finished"
# Written last, after results, report and figures.
COMPLETE_FILE = "complete"


def config_to_dict(config: CompareConfig) -> dict[str, Any]:
    """JSON-ready form of a :class:`CompareConfig` (nested configs as dicts)."""
    return asdict(config)


def config_from_dict(values: dict[str, Any]) -> CompareConfig:
    """Inverse of :func:`config_to_dict`; unknown or malformed fields raise ``ValueError``."""
    if not isinstance(values, dict):
        raise ParameterError(f"{CONFIG_FILE} must hold an object, got {type(values).__name__}")
    known = {f.name for f in fields(CompareConfig)}
    unknown = sorted(set(values) - known)
    if unknown:
        raise ParameterError(f"{CONFIG_FILE}: unknown field(s) {', '.join(unknown)}")
    nested = {"train": TrainConfig, "sequence": FitConfig, "gan": GANConfig}
    try:
        kwargs: dict[str, Any] = {
            name: _nested(nested[name], value) if name in nested else value
            for name, value in values.items()
        }
        for name in ("entries", "seeds", "augment"):
            if name in kwargs:
                kwargs[name] = tuple(kwargs[name])
        return CompareConfig(**kwargs)
    except TypeError as error:
        raise ParameterError(f"{CONFIG_FILE}: {error}") from None


def _nested(kind: type, value: object) -> object:
    if not isinstance(value, dict):
        raise ParameterTypeError(f"{kind.__name__} must be an object, got {type(value).__name__}")
    return kind.from_dict(value) if hasattr(kind, "from_dict") else kind(**value)


def _json_default(value: object) -> object:
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, torch.Tensor):
        return value.tolist()
    raise ParameterTypeError(f"cannot store {type(value).__name__} in a comparison result")


def _nan_for_null(value: Any) -> Any:
    """Inverse of the strict JSON writing: ``null`` back to NaN, recursively (no field of
    an entry or an augmentation record holds ``None`` itself)."""
    if value is None:
        return math.nan
    if isinstance(value, dict):
        return {key: _nan_for_null(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_nan_for_null(item) for item in value]
    return value


class CompareStore:
    """The finished work of one comparison run folder.

    Parameters
    ----------
    run_dir : Path
        The run folder (it must exist).
    """

    def __init__(self, run_dir: str | Path) -> None:
        self.run_dir = Path(run_dir)
        self.finished_dir = self.run_dir / FINISHED_DIR

    # ----------------------------------------------------------------- config
    def write_config(self, config: CompareConfig) -> None:
        """Record the run's configuration (before any work starts)."""
        text = strict_json(config_to_dict(config), indent=2, default=_json_default)
        atomic_write_text(self.run_dir / CONFIG_FILE, text + "\n")

    def read_config(self) -> CompareConfig:
        """The configuration of the run being resumed.

        Raises
        ------
        ValueError
            If the folder holds no (valid) ``compare_config.json``.
        """
        path = self.run_dir / CONFIG_FILE
        if not path.is_file():
            raise ParameterError(
                f"{str(self.run_dir)!r} is not a comparison run folder (no {CONFIG_FILE})"
            )
        try:
            values = json.loads(path.read_text(encoding="utf-8"))
        except (json.JSONDecodeError, UnicodeDecodeError) as error:
            raise ParameterError(f"{path} is not valid JSON ({error})") from None
        return config_from_dict(values)

    # ------------------------------------------------------------------- data
    def write_data_fingerprint(self, dataset: DatasetSplits) -> None:
        """Record what the run's data are (the first seed's splits), for ``--resume``."""
        text = strict_json(data_fingerprint(dataset), indent=2)
        atomic_write_text(self.run_dir / DATA_FILE, text + "\n")

    def check_data(self, dataset: DatasetSplits) -> str | None:
        """Refuse data that differ from those the run started on.

        Returns
        -------
        str or None
            A one-line warning for a run folder written before fingerprints were
            recorded (the data cannot be checked), else ``None``.

        Raises
        ------
        DatasetError
            Naming the first difference (:func:`spikerec.data.fingerprint.check_resume_data`).
        CheckpointError
            If the recorded fingerprint is unreadable or malformed.
        """
        path = self.run_dir / DATA_FILE
        if not path.is_file():
            return (
                f"{str(self.run_dir)!r} was written before spikerec recorded the data of a "
                "comparison; resuming without checking that the data are the ones it started on"
            )
        try:
            stored = json.loads(path.read_text(encoding="utf-8"))
        except (json.JSONDecodeError, UnicodeDecodeError) as error:
            raise CheckpointError(f"{path} is not valid JSON ({error})") from None
        return check_resume_data(stored, dataset, checkpoint=str(path))

    # ------------------------------------------------------------- completion
    def mark_complete(self) -> None:
        """Record that every output of the run has been written (nothing to resume)."""
        self.finished_dir.mkdir(exist_ok=True)
        atomic_write_text(self.finished_dir / COMPLETE_FILE, "complete\n")

    def is_complete(self) -> bool:
        """Whether :meth:`mark_complete` was reached."""
        return (self.finished_dir / COMPLETE_FILE).is_file()

    # --------------------------------------------------------------- results
    @staticmethod
    def _entry_name(augment: str, seed: int, entry: str) -> str:
        return f"{augment}-seed{seed}-{entry}.json"

    def save_entry(self, result: EntryResult) -> None:
        """Keep one finished entry (with its per-image correctness)."""
        self.finished_dir.mkdir(exist_ok=True)
        content = {**result.summary(), "correct": np.asarray(result.correct, dtype=bool)}
        text = strict_json(content, default=_json_default)
        atomic_write_text(
            self.finished_dir / self._entry_name(result.augment, result.seed, result.entry), text
        )

    def save_augmentation(self, record: AugmentRecord) -> None:
        """Keep what one seed's augmentation did (GAN samples included)."""
        self.finished_dir.mkdir(exist_ok=True)
        stem = f"{record.method}-seed{record.seed}"
        if record.samples is not None:
            samples = record.samples.detach().cpu().numpy()

            def write(tmp: Path) -> None:
                buffer = io.BytesIO()
                np.save(buffer, samples, allow_pickle=False)
                tmp.write_bytes(buffer.getvalue())

            atomic_write(self.finished_dir / f"{stem}-samples.npy", write)
        text = strict_json(record.summary(), default=_json_default)
        atomic_write_text(self.finished_dir / f"{stem}.json", text)

    def load_entries(self) -> dict[tuple[str, int, str], EntryResult]:
        """Finished entries keyed by ``(augment, seed, entry)``."""
        found: dict[tuple[str, int, str], EntryResult] = {}
        if not self.finished_dir.is_dir():
            return found
        names = {f.name for f in fields(EntryResult)}
        for path in sorted(self.finished_dir.glob("*-seed*-*.json")):
            values = _nan_for_null(self._read_json(path))
            if set(values) != names:
                raise ParameterError(f"{path} is not a finished comparison entry")
            values["correct"] = np.asarray(values["correct"], dtype=bool)
            result = EntryResult(**values)
            found[(result.augment, result.seed, result.entry)] = result
        return found

    def load_augmentations(self) -> dict[tuple[str, int], AugmentRecord]:
        """Finished augmentation records keyed by ``(augment, seed)``."""
        found: dict[tuple[str, int], AugmentRecord] = {}
        if not self.finished_dir.is_dir():
            return found
        for path in sorted(self.finished_dir.glob("*-seed*.json")):
            if path.stem.count("-") != 1:  # an entry file, not a record
                continue
            values = _nan_for_null(self._read_json(path))
            samples_path = path.with_name(f"{path.stem}-samples.npy")
            samples = (
                torch.from_numpy(np.load(samples_path, allow_pickle=False))
                if samples_path.is_file()
                else None
            )
            try:
                record = AugmentRecord(**values, samples=samples)
            except TypeError as error:
                raise ParameterError(f"{path} is not a finished augmentation ({error})") from None
            found[(record.method, record.seed)] = record
        return found

    @staticmethod
    def _read_json(path: Path) -> dict[str, Any]:
        try:
            values = json.loads(path.read_text(encoding="utf-8"))
        except (json.JSONDecodeError, UnicodeDecodeError) as error:
            raise ParameterError(f"{path} is not valid JSON ({error})") from None
        if not isinstance(values, dict):
            raise ParameterError(f"{path} must hold an object")
        return values

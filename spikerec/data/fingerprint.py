"""The identity of a dataset, so a run can tell whether it is given the data it started on.

:func:`data_fingerprint` records what a model depends on: image shape, classes, split
sizes, the normalisation and a SHA-256 of every split's images and labels. A
training checkpoint stores it (key ``"data_fingerprint"``); :func:`check_resume_data`
compares it with the data of a resumed run (everything must match) and
:func:`check_model_data` with the data a model is scored on (image shape and
channels must match, the labels must fit the model's outputs).
:func:`with_normalisation` re-normalises other data the way the model was trained.

Examples
--------
>>> from spikerec.data.loading import load_dataset
>>> ds = load_dataset("synthetic", seed=0)
>>> fp = data_fingerprint(ds)
>>> fp["image_shape"], fp["n_classes"], fp["sizes"]
([1, 12, 12], 10, {'train': 420, 'val': 60, 'test': 120})
>>> check_resume_data(fp, load_dataset("synthetic", seed=0), checkpoint="run/checkpoint.pt")
>>> check_resume_data(fp, load_dataset("synthetic", seed=1), checkpoint="run/checkpoint.pt")
Traceback (most recent call last):
...
spikerec.errors.DatasetError: the data differ from the data run/checkpoint.pt was trained \
on: the normalisation mean is [0.49...], the run started with [0.49...]
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Iterator
from dataclasses import replace
from typing import Any

import numpy as np
import torch

from spikerec.data.loading import DatasetSplits, Split
from spikerec.errors import CheckpointError, DatasetError

#: Version of the fingerprint's layout.
FINGERPRINT_VERSION = 1
#: The splits a fingerprint covers, in order.
SPLITS: tuple[str, ...] = ("train", "val", "test")
#: Keys of a fingerprint.
FINGERPRINT_KEYS: frozenset[str] = frozenset(
    {
        "version",
        "name",
        "image_shape",
        "n_classes",
        "class_names",
        "sizes",
        "mean",
        "std",
        "sha256",
    }
)


def _array_digest(digest: Any, tensor: torch.Tensor) -> None:
    array = np.ascontiguousarray(tensor.detach().cpu().numpy())
    digest.update(f"{array.dtype.str}{array.shape}".encode())
    digest.update(memoryview(array).cast("B"))  # type: ignore[arg-type]  # no copy


def split_digest(split: Split) -> str:
    """SHA-256 (hex) of a split's images and labels: dtype, shape and bytes of each.

    Examples
    --------
    >>> s = Split(torch.zeros(2, 1, 4, 4), torch.tensor([0, 1]))
    >>> len(split_digest(s)), split_digest(s) == split_digest(Split(s.images.clone(), s.labels))
    (64, True)
    """
    digest = hashlib.sha256()
    _array_digest(digest, split.images)
    _array_digest(digest, split.labels)
    return digest.hexdigest()


def data_fingerprint(dataset: DatasetSplits) -> dict[str, Any]:
    """What identifies ``dataset`` for a model trained on it (JSON-ready, plain data).

    Returns
    -------
    dict
        ``version``, ``name``, ``image_shape`` ``[C, H, W]``, ``n_classes``,
        ``class_names``, ``sizes`` (images per split), ``mean`` and ``std`` (the
        per-channel normalisation), ``sha256`` (per split, of the normalised images
        and the labels: :func:`split_digest`).

    Examples
    --------
    See the module's.
    """
    return {
        "version": FINGERPRINT_VERSION,
        "name": str(dataset.name),
        "image_shape": [int(v) for v in dataset.image_shape],
        "n_classes": int(dataset.n_classes),
        "class_names": [str(c) for c in dataset.class_names],
        "sizes": {split: len(getattr(dataset, split)) for split in SPLITS},
        "mean": [float(m) for m in dataset.mean],
        "std": [float(s) for s in dataset.std],
        "sha256": {split: split_digest(getattr(dataset, split)) for split in SPLITS},
    }


def _shape_text(shape: Any) -> str:
    c, h, w = (int(v) for v in shape)
    return f"{h}x{w} ({c} channel{'s' if c != 1 else ''})"


def check_fingerprint(stored: object, *, checkpoint: str) -> dict[str, Any]:
    """``stored`` if it is a well-formed fingerprint, else a one-line :class:`CheckpointError`.

    Examples
    --------
    >>> check_fingerprint({"version": 1}, checkpoint="c.pt")
    Traceback (most recent call last):
    ...
    spikerec.errors.CheckpointError: checkpoint 'c.pt' has a malformed data_fingerprint ...
    """

    def bad(why: str) -> CheckpointError:
        return CheckpointError(
            f"checkpoint {checkpoint!r} has a malformed data_fingerprint ({why})"
        )

    if not isinstance(stored, dict):
        raise bad(f"a {type(stored).__name__}, not a dict")
    missing = sorted(FINGERPRINT_KEYS - set(stored))
    if missing:
        raise bad(f"missing {', '.join(missing)}")
    shape = stored["image_shape"]
    if not (
        isinstance(shape, (list, tuple))
        and len(shape) == 3
        and all(isinstance(v, int) and not isinstance(v, bool) and v > 0 for v in shape)
    ):
        raise bad(f"image_shape {shape!r}")
    n_classes = stored["n_classes"]
    if isinstance(n_classes, bool) or not isinstance(n_classes, int) or n_classes < 1:
        raise bad(f"n_classes {n_classes!r}")
    for key in ("sizes", "sha256"):
        value = stored[key]
        if not isinstance(value, dict) or set(value) != set(SPLITS):
            raise bad(f"{key} must name the splits {', '.join(SPLITS)}")
    for key in ("mean", "std"):
        value = stored[key]
        if not (
            isinstance(value, (list, tuple))
            and len(value) == shape[0]
            and all(isinstance(v, (int, float)) and math.isfinite(v) for v in value)
        ):
            raise bad(f"{key} {value!r}")
    return stored


def check_resume_data(
    stored: object | None, dataset: DatasetSplits, *, checkpoint: str
) -> str | None:
    """Refuse data that differ in any way from the data a run started on.

    Parameters
    ----------
    stored : dict or None
        The checkpoint's ``"data_fingerprint"`` (``None``: a checkpoint written before
        fingerprints existed).
    dataset : DatasetSplits
        The data the resumed run would continue on.
    checkpoint : str
        The checkpoint's path, for the messages.

    Returns
    -------
    str or None
        ``None`` when the data match; a one-line warning for a checkpoint without a
        fingerprint (the data cannot be checked; the caller prints it and resumes).

    Raises
    ------
    DatasetError
        One line naming the first difference: image shape (``28x28 (1 channel)``
        vs ``32x32 ...``), classes, split sizes, normalisation, or content.
    CheckpointError
        If the stored fingerprint is malformed.

    Examples
    --------
    See the module's.
    """
    if stored is None:
        return (
            f"checkpoint {checkpoint!r} was written before spikerec recorded the data of a "
            "run; resuming without checking that the data are the ones it started on"
        )
    fp = check_fingerprint(stored, checkpoint=checkpoint)
    first = next(_differences(fp, data_fingerprint(dataset)), None)
    if first is not None:
        raise DatasetError(f"the data differ from the data {checkpoint} was trained on: {first}")
    return None


def _differences(fp: dict[str, Any], now: dict[str, Any]) -> Iterator[str]:
    """What differs between a stored fingerprint and the data now, most telling first:
    image shape, classes, split sizes, normalisation, content."""
    if list(fp["image_shape"]) != now["image_shape"]:
        yield (
            f"images are {_shape_text(now['image_shape'])}, the run started on "
            f"{_shape_text(fp['image_shape'])}"
        )
    if fp["n_classes"] != now["n_classes"]:
        yield f"{now['n_classes']} classes, the run started with {fp['n_classes']}"
    if list(fp["class_names"]) != now["class_names"]:
        yield (f"class names {now['class_names']}, the run started with {list(fp['class_names'])}")
    for split in SPLITS:
        if fp["sizes"][split] != now["sizes"][split]:
            yield (
                f"the {split} split holds {now['sizes'][split]} images, the run started "
                f"with {fp['sizes'][split]}"
            )
    for key in ("mean", "std"):
        if [float(v) for v in fp[key]] != now[key]:
            yield f"the normalisation {key} is {now[key]}, the run started with {list(fp[key])}"
    for split in SPLITS:
        if fp["sha256"][split] != now["sha256"][split]:
            yield (
                f"the {split} split holds other images or labels (same shape and sizes, "
                "different SHA-256); resume with the files the run started on"
            )


def check_model_data(meta: object, dataset: DatasetSplits, *, checkpoint: str) -> None:
    """Refuse data a model cannot be scored on.

    Parameters
    ----------
    meta : dict
        The checkpoint's ``"data_fingerprint"`` or its ``"dataset"`` description;
        both hold ``image_shape`` and ``n_classes``.
    dataset : DatasetSplits
        The data to score on.
    checkpoint : str
        The checkpoint's path, for the messages.

    Raises
    ------
    DatasetError
        If the images have another shape or channel count, or the data hold more
        classes than the model has outputs.
    CheckpointError
        If ``meta`` lacks ``image_shape`` or ``n_classes``.

    Examples
    --------
    >>> from spikerec.data.loading import load_dataset
    >>> digits = load_dataset("digits", seed=0)
    >>> check_model_data({"image_shape": [1, 12, 12], "n_classes": 10}, digits,
    ...                  checkpoint="c.pt")
    Traceback (most recent call last):
    ...
    spikerec.errors.DatasetError: dataset 'digits' has images of 8x8 (1 channel) but the model \
in c.pt was trained on 12x12 (1 channel)
    """
    if not isinstance(meta, dict):
        raise CheckpointError(f"checkpoint {checkpoint!r} holds no description of its data")
    try:
        trained = [int(v) for v in meta["image_shape"]]
        n_outputs = int(meta["n_classes"])
    except (KeyError, TypeError, ValueError) as error:
        raise CheckpointError(
            f"checkpoint {checkpoint!r} has a malformed description of its data ({error})"
        ) from None
    if len(trained) != 3:
        raise CheckpointError(
            f"checkpoint {checkpoint!r} records image_shape {trained}, not [C, H, W]"
        )
    if [int(v) for v in dataset.image_shape] != trained:
        raise DatasetError(
            f"dataset {dataset.name!r} has images of {_shape_text(dataset.image_shape)} but "
            f"the model in {checkpoint} was trained on {_shape_text(trained)}"
        )
    if dataset.n_classes > n_outputs:
        raise DatasetError(
            f"dataset {dataset.name!r} has {dataset.n_classes} classes but the model in "
            f"{checkpoint} has {n_outputs} outputs"
        )


def with_normalisation(
    dataset: DatasetSplits, mean: Any, std: Any, *, tolerance: float = 0.0
) -> DatasetSplits:
    """``dataset`` normalised with another ``mean`` / ``std`` (a model's training
    normalisation) instead of its own training split's.

    Every split holds ``(x - own_mean) / own_std``; the result holds
    ``(x - mean) / std`` for the same pixels ``x`` in [0, 1]. Data whose statistics
    already agree within ``tolerance`` come back unchanged (the same object).

    Examples
    --------
    >>> from spikerec.data.loading import load_dataset
    >>> ds = load_dataset("digits", seed=0)
    >>> other = with_normalisation(ds, [0.5], [0.25])
    >>> pixels = ds.train.images * ds.std[0] + ds.mean[0]
    >>> bool(torch.allclose(other.train.images, (pixels - 0.5) / 0.25, atol=1e-5))
    True
    >>> with_normalisation(ds, ds.mean, ds.std) is ds
    True
    """
    target_mean = [float(m) for m in mean]
    target_std = [float(s) for s in std]
    channels = dataset.image_shape[0]
    if len(target_mean) != channels or len(target_std) != channels:
        raise DatasetError(
            f"the normalisation has {len(target_mean)} mean and {len(target_std)} std values "
            f"for images of {channels} channel(s)"
        )
    if not all(math.isfinite(m) for m in target_mean) or not all(
        math.isfinite(s) and s > 0 for s in target_std
    ):
        raise DatasetError(f"normalisation mean={target_mean}, std={target_std} is not usable")
    if all(abs(a - b) <= tolerance for a, b in zip(dataset.mean, target_mean, strict=True)) and all(
        abs(a - b) <= tolerance for a, b in zip(dataset.std, target_std, strict=True)
    ):
        return dataset
    own_mean = torch.tensor(dataset.mean, dtype=torch.float64)
    own_std = torch.tensor(dataset.std, dtype=torch.float64)
    new_mean = torch.tensor(target_mean, dtype=torch.float64)
    new_std = torch.tensor(target_std, dtype=torch.float64)
    scale = (own_std / new_std).to(torch.float32).view(1, -1, 1, 1)
    shift = ((own_mean - new_mean) / new_std).to(torch.float32).view(1, -1, 1, 1)

    def renormalised(split: Split) -> Split:
        return Split(split.images * scale + shift, split.labels)

    return replace(
        dataset,
        train=renormalised(dataset.train),
        val=renormalised(dataset.val),
        test=renormalised(dataset.test),
        mean=tuple(target_mean),
        std=tuple(target_std),
    )

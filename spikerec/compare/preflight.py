"""Checks of a comparison against its data and the machine, made before its run folder
exists, so that a comparison that cannot run leaves nothing behind (and no advice to
``--resume`` a run that would fail the same way).

:func:`check_seed_count` runs on the raw ``--seeds`` number (a billion seeds would
exhaust memory while the config is built); :func:`check_compare_run` on the config and
the first seed's splits: image size, the training images each class keeps after
``--train-fraction`` (the SVMs' 3-fold cross-validation needs 3 per class), and the
memory of the training split grown by ``--augment-ratio`` plus the largest training
run, in each of ``--jobs`` processes.

Examples
--------
>>> check_seed_count(1_000_000_000)
Traceback (most recent call last):
...
spikerec.errors.ParameterError: --seeds=1000000000 is too many: at most 10000 (each seed is \
a full run of every entry)
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import numpy as np

from spikerec.compare.config import NEURAL_ENTRIES, SVM_ENTRIES, CompareConfig
from spikerec.compare.harness import stratified_fraction
from spikerec.errors import DatasetError, ParameterError
from spikerec.resources import check_memory, format_bytes
from spikerec.training.preflight import check_image_size, training_bytes

#: Most seeds a comparison may ask for.
MAX_SEEDS = 10_000
#: Folds of the SVMs' cross-validated search (``StratifiedKFold(n_splits=3)``).
SVM_FOLDS = 3
#: Entries that run images through the CNN front end (at least 4 x 4 pixels).
FRONT_END_ENTRIES: tuple[str, ...] = (*NEURAL_ENTRIES, "svm-v4")
#: float32 copies of the added images that augmentation holds at once (pixels, moved
#: pixels, normalised, and the concatenated training split).
AUGMENT_COPIES = 4
_FLOAT32 = 4


def check_seed_count(seeds: object, *, flag: str = "--seeds") -> int:
    """``seeds`` if it is an int in ``[1, MAX_SEEDS]``.

    Raises
    ------
    ParameterError
        Fewer than 1, more than :data:`MAX_SEEDS`, or not an integer.
    """
    if isinstance(seeds, bool) or not isinstance(seeds, int):
        raise ParameterError(f"{flag}={seeds!r} must be an integer")
    if seeds < 1:
        raise ParameterError(f"{flag}={seeds} must be >= 1")
    if seeds > MAX_SEEDS:
        raise ParameterError(
            f"{flag}={seeds} is too many: at most {MAX_SEEDS} (each seed is a full run of "
            "every entry)"
        )
    return seeds


def _class_counts_after_fraction(labels: np.ndarray, fraction: float) -> np.ndarray:
    """Training images per class after ``train_fraction`` (the same for every seed)."""
    if fraction >= 1.0:
        return np.bincount(labels)
    kept = labels[stratified_fraction(labels, fraction, seed=0)]
    return np.bincount(kept, minlength=int(labels.max()) + 1)


def _svm_counts(counts: np.ndarray, limit: int) -> np.ndarray:
    """Per-class counts after the SVMs' stratified cap of ``svm_max_train`` images."""
    total = int(counts.sum())
    if limit == 0 or total <= limit:
        return counts
    return np.minimum(counts, np.maximum(1, np.round(limit * counts / total))).astype(int)


def compare_bytes(config: CompareConfig, dataset: Any) -> float:
    """Estimated peak bytes of one process of the comparison beyond the loaded splits:
    the added images of the largest augmentation and the largest neural training run.
    """
    c, h, w = (int(v) for v in dataset.image_shape)
    n_train = len(dataset.train)
    if config.train_fraction < 1.0:
        n_train = int(round(config.train_fraction * n_train))
    augmenting = any(a != "none" for a in config.augment)
    added = config.augment_ratio * n_train if augmenting else 0.0
    augment = AUGMENT_COPIES * added * c * h * w * _FLOAT32
    heads = {"softmax" if e == "svm-v4" else e for e in config.entries if e in FRONT_END_ENTRIES}
    train = max(
        (  # each entry trains with the recipe of the compared data
            training_bytes(replace(config.train, head=h, data=dataset.name), dataset.image_shape)
            for h in heads
        ),
        default=0.0,
    )
    return augment + train


def dataset_bytes(dataset: Any) -> float:
    """Bytes of the loaded splits (each worker process loads its own)."""
    return float(
        sum(
            getattr(dataset, s).images.numel() * 4 + getattr(dataset, s).labels.numel() * 8
            for s in ("train", "val", "test")
        )
    )


def check_compare_run(
    config: CompareConfig, dataset: Any, *, jobs: int = 1, available: int | None = None
) -> None:
    """Everything about a comparison that can fail for its data or size, checked up front.

    Call it after loading the first seed's splits and before creating the run folder.

    Parameters
    ----------
    config : CompareConfig
    dataset : DatasetSplits
        The first seed's splits.
    jobs : int
        Processes that run at once (each holds its own splits).
    available : int, optional
        Bytes of memory available (default: read from the system).

    Raises
    ------
    DatasetError
        Images under 4 x 4 pixels for an entry with the CNN front end; a class left
        with fewer than 3 training images for an SVM (after ``train_fraction`` and
        ``svm_max_train``), naming the class and the flag to raise.
    ResourceError
        The comparison would need more memory than available, naming
        ``--augment-ratio``, ``--n-steps``, ``--batch-size`` and ``--jobs``.

    Examples
    --------
    >>> from spikerec.data.loading import load_dataset
    >>> from spikerec.training.loop import TrainConfig
    >>> ds = load_dataset("synthetic", seed=0)
    >>> config = CompareConfig(data="synthetic", entries=("svm-linear",), train_fraction=0.01,
    ...                        train=TrainConfig(epochs=1))
    >>> check_compare_run(config, ds)
    Traceback (most recent call last):
    ...
    spikerec.errors.DatasetError: --train-fraction 0.01 leaves class 'pattern 0' with 1 training \
image(s); the SVMs' 3-fold cross-validation needs at least 3 per class: raise --train-fraction
    """
    if any(e in FRONT_END_ENTRIES for e in config.entries):
        check_image_size(dataset.image_shape, data=dataset.name)
    if any(e in SVM_ENTRIES for e in config.entries):
        labels = dataset.train.labels.numpy()
        counts = _svm_counts(
            _class_counts_after_fraction(labels, config.train_fraction), config.svm_max_train
        )
        present = np.flatnonzero(counts > 0)
        short = [c for c in present if counts[c] < SVM_FOLDS]
        if short:
            c = int(short[0])
            name = dataset.class_names[c] if c < len(dataset.class_names) else str(c)
            raise DatasetError(
                f"--train-fraction {config.train_fraction:g} leaves class {name!r} with "
                f"{int(counts[c])} training image(s); the SVMs' {SVM_FOLDS}-fold "
                f"cross-validation needs at least {SVM_FOLDS} per class: raise --train-fraction"
            )
    per_process = dataset_bytes(dataset) + compare_bytes(config, dataset)
    processes = max(1, jobs) + (1 if jobs > 1 else 0)  # the parent keeps its splits too
    check_memory(
        processes * per_process - dataset_bytes(dataset),  # this process has them loaded
        what=(
            f"the comparison ({processes} process(es) of about {format_bytes(per_process)}: "
            f"augment ratio {config.augment_ratio:g}, {config.train.n_steps} steps x batch "
            f"{config.train.batch_size})"
        ),
        lower="--augment-ratio, --n-steps, --batch-size or --jobs",
        available=available,
    )

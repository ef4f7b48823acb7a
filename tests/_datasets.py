"""Small datasets shared by several test modules, made without downloads."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np

from spikerec.data.idx import write_idx
from spikerec.data.loading import MNIST_FILES, DatasetSplits, Split, load_dataset


def idx_folder(
    folder: Path,
    *,
    side: int = 12,
    n: int = 60,
    classes: int = 3,
    seed: int = 0,
    n_test: int | None = None,
) -> str:
    """An MNIST-format folder of random images: ``n`` training and ``n_test`` (default
    ``n // 4``) test images, labels cycling through ``classes``. Returns its
    ``idx:FOLDER`` data spec."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    n_test = n // 4 if n_test is None else n_test
    images, labels, test_images, test_labels = MNIST_FILES
    write_idx(folder / images, rng.integers(0, 256, (n, side, side), dtype=np.uint8))
    write_idx(folder / labels, (np.arange(n) % classes).astype(np.uint8))
    write_idx(folder / test_images, rng.integers(0, 256, (n_test, side, side), dtype=np.uint8))
    write_idx(folder / test_labels, (np.arange(n_test) % classes).astype(np.uint8))
    return f"idx:{folder}"


def synthetic_subset(seed: int, *, train: int = 64, val: int = 20, test: int = 20) -> DatasetSplits:
    """The embedded ``synthetic`` set (``seed``) cut to its first ``train`` / ``val`` /
    ``test`` images, for a real training run kept short. The name stays "synthetic"."""
    full = load_dataset("synthetic", seed=seed)

    def head(split: Split, n: int) -> Split:
        return Split(split.images[:n].clone(), split.labels[:n].clone())

    return replace(
        full, train=head(full.train, train), val=head(full.val, val), test=head(full.test, test)
    )

"""Shared fixtures of the recognition-pipeline tests: small datasets made without downloads."""

from __future__ import annotations

import pytest

from spikerec.data.loading import DatasetSplits, Split, load_dataset


@pytest.fixture
def synthetic() -> DatasetSplits:
    """The embedded ``synthetic`` set (10 classes, 12x12; 420 / 60 / 120 images), seed 0.

    Function-scoped: loading takes a few ms once scipy and sklearn are imported, and
    every test gets its own tensors.
    """
    return load_dataset("synthetic", seed=0)


def _head(split: Split, n: int) -> Split:
    return Split(split.images[:n].clone(), split.labels[:n].clone())


@pytest.fixture
def tiny(synthetic) -> DatasetSplits:
    """The first 120 / 40 / 40 images of ``synthetic``: for tests that only need a
    training run to happen, not to learn much."""
    return DatasetSplits(
        name="synthetic-tiny",
        train=_head(synthetic.train, 120),
        val=_head(synthetic.val, 40),
        test=_head(synthetic.test, 40),
        n_classes=synthetic.n_classes,
        image_shape=synthetic.image_shape,
        mean=synthetic.mean,
        std=synthetic.std,
        class_names=synthetic.class_names,
    )

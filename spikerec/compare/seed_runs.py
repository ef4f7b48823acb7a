"""One seed's splits of a comparison, and one entry run on them.

Shared by the harness (:mod:`spikerec.compare.harness`, everything in this process)
and the parallel tasks (:mod:`spikerec.compare.jobs`), so neither imports the other.
"""

from __future__ import annotations

from dataclasses import replace

import torch

from spikerec.compare.config import CompareConfig
from spikerec.compare.entries import ENTRIES, EntryResult, RunInputs, Trained
from spikerec.data.loading import DatasetSplits, Split
from spikerec.data.splits import stratified_fraction

__all__ = ["run_entry", "seed_splits"]


def run_entry(
    entry: str,
    dataset: DatasetSplits,
    config: CompareConfig,
    seed: int,
    *,
    trained: Trained,
    progress: bool = False,
) -> EntryResult:
    """One entry on one seed's (augmented) splits: ``ENTRIES.get(entry).run(RunInputs(...))``.

    ``trained`` collects the recognisers trained so far on these splits, so that an
    entry that reuses another's model (``svm-v4`` the ``softmax`` CNN) finds it
    instead of training its own.
    """
    return ENTRIES.get(entry).run(RunInputs(dataset, config, seed, trained, progress))


def seed_splits(
    config: CompareConfig, seed: int, dataset: DatasetSplits | None = None
) -> DatasetSplits:
    """The splits of one seed, the training split cut to ``config.train_fraction``.

    The cut is a stratified random subsample (:func:`stratified_fraction`, seeded by
    ``seed``) of the training split alone; validation and test splits and the
    normalisation stay as loaded.
    """
    data = dataset if dataset is not None else config.load_splits(seed)
    if config.train_fraction >= 1.0:
        return data
    keep = torch.as_tensor(
        stratified_fraction(data.train.labels.numpy(), config.train_fraction, seed)
    )
    return replace(data, train=Split(data.train.images[keep], data.train.labels[keep]))

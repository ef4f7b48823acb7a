"""Augmentation of a training split: ``none``, ``classic`` (shifts, rotations) or ``gan``.

Only the training split changes; validation and test splits are returned as they
are. ``ratio`` sets how many images are added: ``round(ratio · N_train)`` for
``classic`` (transformed copies of training images) and ``round(ratio · N_c)`` per
class c for ``gan`` (images a conditional DCGAN generates for class c, trained on
the training split only). The added images are appended to the real ones.

Every random draw comes from a ``torch.Generator`` seeded by ``(seed, method)``,
so a seed reproduces the augmented split.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import torch

from spikerec.compare.baselines.gan import GANConfig, gan_quality, sample_images, train_gan
from spikerec.data.loading import DatasetSplits, Split
from spikerec.data.transforms import affine as affine  # noqa: F401  (re-exported)
from spikerec.data.transforms import from_pixels, random_affine, to_pixels
from spikerec.validation import check_finite, parse_name_list

AUGMENTATIONS: tuple[str, ...] = ("none", "classic", "gan")
_STREAM_TAGS = {"classic": 1, "gan": 2}
GRID_PER_CLASS = 8


def parse_augmentations(names: str | list[str] | tuple[str, ...]) -> tuple[str, ...]:
    """Augmentation names from ``"none,gan"`` or a sequence, validated, in given order.

    Raises
    ------
    ValueError
        For an unknown, repeated or missing name (the message lists the valid names).
    """
    return parse_name_list(names, AUGMENTATIONS, noun="augmentation", plural="augmentations")


def augment_stream(seed: int, method: str) -> torch.Generator:
    """The generator of one seed's ``method`` augmentation (independent of training's)."""
    state = np.random.SeedSequence([seed, _STREAM_TAGS[method]]).generate_state(1)[0]
    return torch.Generator().manual_seed(int(state))


@dataclass
class AugmentRecord:
    """What one seed's augmentation did.

    Attributes
    ----------
    seed : int
    method : {"none", "classic", "gan"}
    n_real, n_added : int
        Real training images and images added to them.
    time_s : float
        Seconds spent making the added images (GAN training and the judge included).
    quality : dict
        For ``gan``: see :func:`spikerec.compare.baselines.gan.gan_quality`; empty otherwise.
    history : list of dict
        For ``gan``: the losses every 100 steps.
    samples : Tensor [K, M, C, H, W] or None
        For ``gan``: ``M`` = 8 generated images per class, pixels in [0, 1], for the
        sample grid.
    """

    seed: int
    method: str
    n_real: int
    n_added: int
    time_s: float = 0.0
    quality: dict[str, float] = field(default_factory=dict)
    history: list[dict[str, float]] = field(default_factory=list)
    samples: torch.Tensor | None = None

    def summary(self) -> dict[str, Any]:
        """JSON-ready fields (without the sample images)."""
        return {
            "seed": self.seed,
            "method": self.method,
            "n_real": self.n_real,
            "n_added": self.n_added,
            "time_s": self.time_s,
            "quality": dict(self.quality),
            "history": list(self.history),
        }


def _gan_images(
    dataset: DatasetSplits, *, seed: int, ratio: float, config: GANConfig
) -> tuple[Split, AugmentRecord]:
    started = time.perf_counter()
    train, stream = dataset.train, augment_stream(seed, "gan")
    result = train_gan(
        to_pixels(train.images, dataset.mean, dataset.std),
        train.labels,
        dataset.n_classes,
        config,
        generator=stream,
    )
    counts = torch.bincount(train.labels, minlength=dataset.n_classes)
    per_class = torch.round(counts.double() * ratio).long()
    labels = torch.repeat_interleave(torch.arange(dataset.n_classes), per_class)
    images = from_pixels(
        sample_images(result.generator, labels, generator=stream), dataset.mean, dataset.std
    )
    added = Split(images, labels)
    grid_labels = torch.arange(dataset.n_classes).repeat_interleave(GRID_PER_CLASS)
    grid = sample_images(result.generator, grid_labels, generator=stream)
    quality = gan_quality(
        added,
        train,
        dataset.val,
        n_classes=dataset.n_classes,
        seed=seed,
        judge_epochs=config.judge_epochs,
    )
    record = AugmentRecord(
        seed=seed,
        method="gan",
        n_real=len(train),
        n_added=len(added),
        time_s=time.perf_counter() - started,
        quality=quality,
        history=result.history,
        samples=grid.view(dataset.n_classes, GRID_PER_CLASS, *grid.shape[1:]),
    )
    return added, record


def augment_training(
    dataset: DatasetSplits,
    method: str,
    *,
    seed: int,
    ratio: float = 1.0,
    gan: GANConfig | None = None,
) -> tuple[DatasetSplits, AugmentRecord]:
    """``dataset`` with ``method``'s images added to its training split.

    Parameters
    ----------
    dataset : DatasetSplits
        Normalised splits; ``val`` and ``test`` are passed through untouched.
    method : {"none", "classic", "gan"}
    seed : int
        Seeds the augmentation's own random stream (:func:`augment_stream`).
    ratio : float
        Added images per real training image (> 0); ignored for ``none``.
    gan : GANConfig, optional
        Settings of the GAN (default ``GANConfig()``).

    Returns
    -------
    (DatasetSplits, AugmentRecord)
        The augmented splits (same normalisation, mean and std) and what was done.

    Examples
    --------
    >>> from spikerec.data.loading import load_dataset
    >>> ds = load_dataset("synthetic", seed=0)
    >>> more, record = augment_training(ds, "classic", seed=0)
    >>> len(more.train), record.n_added, len(more.test) == len(ds.test)
    (840, 420, True)
    """
    method = parse_augmentations([method])[0]
    check_finite("augment ratio", ratio)
    train = dataset.train
    if method == "none":
        return dataset, AugmentRecord(seed=seed, method="none", n_real=len(train), n_added=0)
    if method == "classic":
        n_add = int(round(ratio * len(train)))
        source = torch.arange(n_add) % len(train)
        pixels = to_pixels(train.images[source], dataset.mean, dataset.std)
        moved = random_affine(pixels, generator=augment_stream(seed, "classic"))
        added = Split(from_pixels(moved, dataset.mean, dataset.std), train.labels[source].clone())
        record = AugmentRecord(seed=seed, method="classic", n_real=len(train), n_added=n_add)
    else:
        added, record = _gan_images(dataset, seed=seed, ratio=ratio, config=gan or GANConfig())
    merged = Split(torch.cat([train.images, added.images]), torch.cat([train.labels, added.labels]))
    return replace(dataset, train=merged), record

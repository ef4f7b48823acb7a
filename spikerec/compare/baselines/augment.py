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

import math
import time
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import torch
from torch.nn import functional as F

from spikerec.compare.baselines.gan import GANConfig, gan_quality, sample_images, train_gan
from spikerec.data.loading import DatasetSplits, Split
from spikerec.errors import ParameterError
from spikerec.validation import parse_name_list

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


def to_pixels(
    images: torch.Tensor, mean: tuple[float, ...], std: tuple[float, ...]
) -> torch.Tensor:
    """Normalised images ``[N, C, H, W]`` back to pixels in [0, 1] (clamped)."""
    m = torch.tensor(mean, dtype=images.dtype).view(1, -1, 1, 1)
    s = torch.tensor(std, dtype=images.dtype).view(1, -1, 1, 1)
    return (images * s + m).clamp(0.0, 1.0)


def from_pixels(
    pixels: torch.Tensor, mean: tuple[float, ...], std: tuple[float, ...]
) -> torch.Tensor:
    """Pixels in [0, 1] ``[N, C, H, W]`` normalised as ``(x − mean) / std`` per channel."""
    m = torch.tensor(mean, dtype=torch.float32).view(1, -1, 1, 1)
    s = torch.tensor(std, dtype=torch.float32).view(1, -1, 1, 1)
    return ((pixels.to(torch.float32) - m) / s).contiguous()


def affine(pixels: torch.Tensor, angle_rad: torch.Tensor, shift: torch.Tensor) -> torch.Tensor:
    """Rotate and shift every image by its own amount (bilinear, zero fill).

    Parameters
    ----------
    pixels : Tensor [N, C, H, W]
        Square images with pixels in [0, 1]; 0 is the background.
    angle_rad : Tensor [N]
        Rotation about the image centre, in radians.
    shift : Tensor [N, 2]
        ``(x, y)`` translation as a fraction of the image side; the content moves by
        ``−shift · side`` pixels (``shift = 1 / W`` moves it one pixel to the left).

    Returns
    -------
    Tensor [N, C, H, W]
        Pixels in [0, 1].

    Notes
    -----
    Output pixel p (in the [-1, 1] coordinates of ``affine_grid``, corners not
    aligned) takes the input at ``R(θ)·p + 2·shift``, sampled bilinearly; all
    images in one ``grid_sample`` call.
    """
    if pixels.shape[0] == 0:
        return pixels.clone()
    cos, sin = torch.cos(angle_rad), torch.sin(angle_rad)
    tx, ty = 2 * shift[:, 0], 2 * shift[:, 1]
    theta = torch.stack(
        [torch.stack([cos, -sin, tx], dim=1), torch.stack([sin, cos, ty], dim=1)], dim=1
    ).to(pixels.dtype)  # [N, 2, 3]
    grid = F.affine_grid(theta, list(pixels.shape), align_corners=False)
    out = F.grid_sample(pixels, grid, mode="bilinear", padding_mode="zeros", align_corners=False)
    return out.clamp_(0.0, 1.0)


def random_affine(
    pixels: torch.Tensor,
    *,
    generator: torch.Generator,
    max_shift: float = 0.1,
    max_rotation_deg: float = 10.0,
) -> torch.Tensor:
    """Every image shifted and rotated by its own random amount (see :func:`affine`).

    Parameters
    ----------
    pixels : Tensor [N, C, H, W]
        Square images with pixels in [0, 1].
    generator : torch.Generator
        Source of the per-image angles and shifts.
    max_shift : float
        Shifts uniform in ``±max_shift`` of the image side, in x and y independently
        (0.1: up to ±2.8 pixels on 28 × 28, ±0.8 on 8 × 8).
    max_rotation_deg : float
        Rotations uniform in ``±max_rotation_deg`` degrees about the centre.

    Returns
    -------
    Tensor [N, C, H, W]
        Pixels in [0, 1]; the content moves, the class stays.
    """
    n = pixels.shape[0]
    angle = (torch.rand(n, generator=generator) * 2 - 1) * math.radians(max_rotation_deg)
    shift = (torch.rand(n, 2, generator=generator) * 2 - 1) * max_shift
    return affine(pixels, angle, shift)


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
    if not (isinstance(ratio, (int, float)) and math.isfinite(ratio) and ratio > 0):
        raise ParameterError(f"augment ratio={ratio!r} must be a finite number > 0")
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

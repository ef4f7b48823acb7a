"""Image transforms: pixels <-> normalised images, and random shifts and rotations.

:func:`random_affine` is the ``classic`` augmentation of the comparison
(:mod:`spikerec.compare.baselines.augment`, copies appended to the training split
once) and, through :func:`augment_normalized`, the ``online_augment="affine"`` of
training (every mini-batch moved afresh, :mod:`spikerec.training.loop`).
"""

from __future__ import annotations

import math

import torch
from torch.nn import functional as F


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


def augment_normalized(
    images: torch.Tensor,
    mean: tuple[float, ...],
    std: tuple[float, ...],
    *,
    generator: torch.Generator,
    max_shift: float = 0.1,
    max_rotation_deg: float = 10.0,
) -> torch.Tensor:
    """:func:`random_affine` on normalised images ``[N, C, H, W]``: back to pixels, moved,
    normalised again (the background stays the normalised 0 pixel).

    Examples
    --------
    >>> g = torch.Generator().manual_seed(0)
    >>> images = torch.randn(4, 1, 8, 8)
    >>> moved = augment_normalized(images, (0.5,), (0.25,), generator=g)
    >>> moved.shape, bool((moved != images).any())
    (torch.Size([4, 1, 8, 8]), True)
    """
    pixels = to_pixels(images, mean, std)
    moved = random_affine(
        pixels, generator=generator, max_shift=max_shift, max_rotation_deg=max_rotation_deg
    )
    return from_pixels(moved, mean, std).to(images.dtype)

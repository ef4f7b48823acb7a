"""Image transforms: pixels <-> normalised images, random shifts, rotations and distortions.

:func:`random_affine` is the ``classic`` augmentation of the comparison
(:mod:`spikerec.compare.baselines.augment`, copies appended to the training split
once) and, through :func:`augment_normalized`, the ``online_augment="affine"`` of
training (every mini-batch moved afresh, :mod:`spikerec.training.loop`).
:func:`random_distortion` adds scaling and a smooth elastic warp (Simard et al.
2003) for ``online_augment="distort"`` (:func:`distort_normalized`).
"""

from __future__ import annotations

import math
from collections.abc import Callable

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
    theta = _sampling_matrices(torch.cos(angle_rad), torch.sin(angle_rad), shift)
    return _resample(pixels, theta.to(pixels.dtype))


def _sampling_matrices(cos: torch.Tensor, sin: torch.Tensor, shift: torch.Tensor) -> torch.Tensor:
    """``affine_grid``'s ``[N, 2, 3]`` matrices ``[[cos, -sin, 2 sx], [sin, cos, 2 sy]]``
    (a shift is a fraction of the side; [-1, 1] spans it, hence the 2)."""
    tx, ty = 2 * shift[:, 0], 2 * shift[:, 1]
    return torch.stack(
        [torch.stack([cos, -sin, tx], dim=1), torch.stack([sin, cos, ty], dim=1)], dim=1
    )


def _resample(
    pixels: torch.Tensor, theta: torch.Tensor, displacement: torch.Tensor | None = None
) -> torch.Tensor:
    """Sample ``pixels`` at ``theta · p`` (+ ``displacement`` ``[N, H, W, 2]``), in
    ``affine_grid``'s [-1, 1] coordinates; bilinear, zero fill, clamped to [0, 1]."""
    grid = F.affine_grid(theta, list(pixels.shape), align_corners=False)
    if displacement is not None:
        grid = grid + displacement
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


def random_distortion(
    pixels: torch.Tensor,
    *,
    generator: torch.Generator,
    max_shift: float = 0.12,
    max_rotation_deg: float = 15.0,
    max_scale: float = 0.15,
    max_elastic: float = 0.07,
    elastic_grid: int = 4,
) -> torch.Tensor:
    """Every image shifted, rotated, scaled and elastically warped by its own amount.

    Parameters
    ----------
    pixels : Tensor [N, C, H, W]
        Square images with pixels in [0, 1]; 0 is the background.
    generator : torch.Generator
        Source of every random draw.
    max_shift : float
        Shifts uniform in ``±max_shift`` of the image side, in x and y independently.
    max_rotation_deg : float
        Rotations uniform in ``±max_rotation_deg`` degrees about the centre.
    max_scale : float
        Zoom factors uniform in ``1 ± max_scale``.
    max_elastic : float
        Largest displacement of the elastic warp, as a fraction of the image side
        (0.07: 2 pixels on 28 × 28). The warp is a smooth field: uniform draws on an
        ``elastic_grid × elastic_grid`` lattice, upsampled bicubically.
    elastic_grid : int
        Lattice side of the warp, >= 2 (4: a few gentle bends per stroke).

    Returns
    -------
    Tensor [N, C, H, W]
        Pixels in [0, 1]; the strokes move and bend, the class stays.

    Notes
    -----
    Sizes are fractions of the side, so the same settings distort 8 × 8 and 28 × 28
    images alike in proportion, though a 2-pixel bend of a 28 × 28 digit is far
    gentler on the strokes than the same fraction of an 8 × 8 one.

    Examples
    --------
    >>> g = torch.Generator().manual_seed(0)
    >>> pixels = torch.zeros(3, 1, 28, 28)
    >>> pixels[:, :, 8:20, 12:16] = 1.0
    >>> out = random_distortion(pixels, generator=g)
    >>> out.shape, bool(out.min() >= 0), bool(out.max() <= 1), bool((out != pixels).any())
    (torch.Size([3, 1, 28, 28]), True, True, True)
    """
    if elastic_grid < 2:
        raise ValueError(f"elastic_grid={elastic_grid!r} must be >= 2")
    n, _, height, width = pixels.shape
    if n == 0:
        return pixels.clone()

    def uniform(*shape: int) -> torch.Tensor:
        return torch.rand(*shape, generator=generator) * 2 - 1

    angle = uniform(n) * math.radians(max_rotation_deg)
    shift = uniform(n, 2) * max_shift
    zoom = 1 + uniform(n) * max_scale
    # Sampling a zoom-times smaller area enlarges the content zoom times.
    theta = _sampling_matrices(torch.cos(angle) / zoom, torch.sin(angle) / zoom, shift)
    lattice = uniform(n, 2, elastic_grid, elastic_grid)
    field = F.interpolate(lattice, size=(height, width), mode="bicubic", align_corners=True)
    # [-1, 1] spans the side, so a fraction f of it is 2f in grid units.
    displacement = (field.permute(0, 2, 3, 1) * (2 * max_elastic)).to(pixels.dtype)
    return _resample(pixels, theta.to(pixels.dtype), displacement)


def _in_pixel_space(
    move: Callable[..., torch.Tensor],
    images: torch.Tensor,
    mean: tuple[float, ...],
    std: tuple[float, ...],
    generator: torch.Generator,
    **options: float,
) -> torch.Tensor:
    pixels = to_pixels(images, mean, std)
    return from_pixels(move(pixels, generator=generator, **options), mean, std).to(images.dtype)


def distort_normalized(
    images: torch.Tensor,
    mean: tuple[float, ...],
    std: tuple[float, ...],
    *,
    generator: torch.Generator,
) -> torch.Tensor:
    """:func:`random_distortion` (its default sizes) on normalised images ``[N, C, H, W]``.

    Examples
    --------
    >>> g = torch.Generator().manual_seed(0)
    >>> images = torch.randn(4, 1, 28, 28)
    >>> distort_normalized(images, (0.5,), (0.25,), generator=g).shape
    torch.Size([4, 1, 28, 28])
    """
    return _in_pixel_space(random_distortion, images, mean, std, generator)


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
    return _in_pixel_space(
        random_affine,
        images,
        mean,
        std,
        generator,
        max_shift=max_shift,
        max_rotation_deg=max_rotation_deg,
    )

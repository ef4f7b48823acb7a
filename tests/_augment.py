"""A check shared by the tests of the online augmentations on normalised images."""

from __future__ import annotations

from collections.abc import Callable

import torch

from spikerec.data.transforms import from_pixels, to_pixels


def same_draws_in_pixel_space(
    normalized: Callable[..., torch.Tensor],
    in_pixels: Callable[..., torch.Tensor],
    pixels: torch.Tensor,
    mean: tuple[float, ...],
    std: tuple[float, ...],
) -> tuple[torch.Tensor, torch.Tensor]:
    """Assert that ``normalized`` on the normalised ``pixels`` is ``in_pixels`` on the
    pixels with the same draws, normalised, and that the corners stay background.

    Returns the moved normalised images and their pixels.
    """
    images = from_pixels(pixels, mean, std)
    moved = normalized(images, mean, std, generator=torch.Generator().manual_seed(0))
    expected = from_pixels(in_pixels(pixels, generator=torch.Generator().manual_seed(0)), mean, std)
    torch.testing.assert_close(moved, expected)
    back = to_pixels(moved, mean, std)
    assert float(back[:, :, 0, 0].abs().max()) < 1e-6  # the corners stay background
    return moved, back

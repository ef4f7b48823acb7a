"""CNN front end: an image becomes V4-like feature maps of 64 x 7 x 7 = 3136 units."""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn
from torch.nn import functional as F

from spikerec.errors import ParameterError, ParameterTypeError
from spikerec.registry import Registry
from spikerec.validation import check_like_parameters, check_tensor

V4_CHANNELS = 64
V4_SIDE = 7
V4_UNITS = V4_CHANNELS * V4_SIDE * V4_SIDE  # 3136
#: Normalisation in each convolution block by name: ``channels -> layers`` inserted
#: after the convolution (``none``: nothing; ``batch``: ``BatchNorm2d``).
FRONTEND_NORMS: Registry[Callable[[int], list[nn.Module]]] = Registry(
    "frontend_norm",
    [("none", lambda channels: []), ("batch", lambda channels: [nn.BatchNorm2d(channels)])],
)
#: Initial weight (gamma) of the last ``BatchNorm2d`` of a ``norm="batch"`` front end.
#: With gamma = 1 the V4 features start on a unit scale, where the LIF encoder
#: (which fires for features above 0.25) saturates a fifth of the V4 units and
#: silences others far below threshold: the surrogate gradient through both is
#: nearly 0 and the LIF head trained to 64-87 % on ``mnist5k`` where the same run
#: without normalisation reaches 97-98 % (docs/accuracy.md). 0.2 starts the
#: features at the scale of the front end without normalisation.
BATCH_NORM_FEATURE_GAIN = 0.2
#: Convolutions per block the front end can have (``V4FrontEnd(depth=...)``).
FRONTEND_DEPTHS = (1, 2)


class V4FrontEnd(nn.Module):
    """Two convolution blocks and adaptive pooling to ``[B, 3136]`` V4 features.

    ``Conv(C->32, 3, pad 1)-[BN]-ReLU-MaxPool2 -> Conv(32->64, 3, pad 1)-[BN]-ReLU-MaxPool2``,
    then adaptive average pooling to 7 x 7, which leaves 28 x 28 input untouched
    and maps any larger image onto the same 3136 units. Images smaller than
    28 x 28 (the 8 x 8 digits) are first upsampled bilinearly to 28 x 28. With
    ``depth=2`` each block has a second ``Conv(n->n, 3, pad 1)-[BN]-ReLU`` before
    its pooling (VGG style), with the same 64 x 7 x 7 output.

    Parameters
    ----------
    in_channels : int
        1 (grey) or 3 (colour).
    hidden_channels : int
        Channels of the first convolution.
    norm : {"none", "batch"}
        ``"batch"`` puts a ``BatchNorm2d`` after each convolution, before its ReLU
        (running statistics in ``eval()`` mode); the last one starts with weight
        :data:`BATCH_NORM_FEATURE_GAIN`, so the V4 features start in the spike
        encoders' working range. ``"none"`` is the original front end,
        whose parameter names old checkpoints use.
    depth : int
        Convolutions per block, 1 (default, the original layout and parameter
        names) or 2: 18.3 M multiply-adds per 28 x 28 image against 3.8 M, for
        more accuracy where the data has the detail (docs/accuracy.md).

    Notes
    -----
    Features are ReLU outputs, >= 0, read downstream as input strengths of the V4
    units. The front end runs once per image; only the spiking part is stepped.

    Examples
    --------
    >>> V4FrontEnd(1)(torch.zeros(2, 1, 28, 28)).shape
    torch.Size([2, 3136])
    >>> V4FrontEnd(3)(torch.zeros(2, 3, 32, 32)).shape
    torch.Size([2, 3136])
    >>> V4FrontEnd(1, norm="batch").eval()(torch.zeros(2, 1, 28, 28)).shape
    torch.Size([2, 3136])
    >>> V4FrontEnd(1, norm="batch", depth=2).eval()(torch.zeros(2, 1, 28, 28)).shape
    torch.Size([2, 3136])
    """

    def __init__(
        self, in_channels: int = 1, hidden_channels: int = 32, norm: str = "none", depth: int = 1
    ) -> None:
        super().__init__()
        if in_channels not in (1, 3):
            raise ParameterError(f"in_channels={in_channels!r} must be 1 or 3")
        if depth not in FRONTEND_DEPTHS or isinstance(depth, bool):
            raise ParameterError(
                f"depth={depth!r} must be one of {', '.join(map(str, FRONTEND_DEPTHS))}"
            )
        norm_layers = FRONTEND_NORMS.get(norm)
        self.in_channels = in_channels
        self.norm = norm
        self.depth = depth

        def conv(n_in: int, n_out: int) -> list[nn.Module]:
            return [nn.Conv2d(n_in, n_out, 3, padding=1), *norm_layers(n_out), nn.ReLU()]

        def block(n_in: int, n_out: int) -> list[nn.Module]:
            extra = [layer for _ in range(depth - 1) for layer in conv(n_out, n_out)]
            return [*conv(n_in, n_out), *extra, nn.MaxPool2d(2)]

        self.features = nn.Sequential(
            *block(in_channels, hidden_channels),
            *block(hidden_channels, V4_CHANNELS),
            nn.AdaptiveAvgPool2d((V4_SIDE, V4_SIDE)),
        )
        batch_norms = [m for m in self.features if isinstance(m, nn.BatchNorm2d)]
        if batch_norms:
            nn.init.constant_(batch_norms[-1].weight, BATCH_NORM_FEATURE_GAIN)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        """Map images ``[B, C, H, W]`` (H, W >= 4) to V4 features ``[B, 3136]``.

        Raises
        ------
        TypeError, ValueError
            One line naming the problem: not a floating-point tensor, another shape or
            channel count, images under 4 x 4 pixels, an empty batch, NaN or infinite
            pixels, a ``meta`` tensor, or another device or dtype than the front end's
            parameters.
        """
        shape = f"[B, {self.in_channels}, H, W]"
        if not isinstance(images, torch.Tensor):
            raise ParameterTypeError(
                f"images must be a torch.Tensor {shape}, got {type(images).__name__}"
            )
        if images.dim() != 4 or images.shape[1] != self.in_channels:
            raise ParameterError(
                f"images must have shape [B, {self.in_channels}, H, W], got {tuple(images.shape)}"
            )
        if images.shape[-1] < 4 or images.shape[-2] < 4:
            raise ParameterError(
                f"images must be at least 4 x 4 pixels, got {tuple(images.shape[-2:])}"
            )
        check_tensor("images", images, shape, ndim=4)
        check_like_parameters("images", images, self, "the front end")
        if images.shape[-1] < 28 or images.shape[-2] < 28:
            # Two 2x poolings would leave a small image (8 x 8 digits) with 2 x 2 maps;
            # upsampling first keeps its spatial layout across the 7 x 7 V4 grid.
            images = F.interpolate(images, size=(28, 28), mode="bilinear", align_corners=False)
        maps = self.features[:-1](images)
        if maps.shape[-2:] != (V4_SIDE, V4_SIDE):  # the adaptive pool is the identity on 7 x 7
            maps = self.features[-1](maps)
        return maps.flatten(1)

"""BatchNorm statistics recomputed for the weights as they are, before a validation.

A ``BatchNorm2d`` keeps running statistics as an exponential average (momentum 0.1)
of its training batches, starting from mean 0 and variance 1. A short run (the 20
batches of an epoch on ``digits``, 6 on ``synthetic``) leaves them far from the
features' statistics, and weights that move fast leave them behind the weights. In
``eval()`` mode a network then sees features on another scale than it trained on;
the LIF encoder, which turns features into spikes through a threshold, turns that
into a silent V4 layer (on ``synthetic`` after one epoch: 0.2 % of V4 units firing
in eval mode against 24 % without normalisation). Recomputing the statistics with
the current weights on a fixed set of training images before every validation
("precise BatchNorm", Wu and Johnson, 2021) makes validation, the choice of the best
epoch and the checkpoint score the network that was trained.
"""

from __future__ import annotations

import torch
from torch import nn

#: Training images the statistics are recomputed on: enough for per-channel means
#: and variances over at least 512 x 49 positions, cheap next to an epoch.
CALIBRATION_IMAGES = 512
_CHUNK = 256


def batch_norms(module: nn.Module) -> list[nn.modules.batchnorm._BatchNorm]:
    """The BatchNorm layers of ``module`` (any dimension), in order."""
    return [m for m in module.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]


@torch.no_grad()
def recalibrate_batch_norm(
    module: nn.Module, images: torch.Tensor, *, max_images: int = CALIBRATION_IMAGES
) -> bool:
    """Recompute the running mean and variance of every BatchNorm in ``module``.

    The statistics become the average, over chunks of ``images[:max_images]``, of each
    chunk's batch statistics with the current weights; nothing else changes (the
    weights, the module's train or eval mode, each layer's momentum).

    Parameters
    ----------
    module : nn.Module
        A network taking ``images``, such as the front end
        :class:`spikerec.recognition.frontend.V4FrontEnd`.
    images : Tensor [N, C, H, W]
        Normalised training images, on the module's device.
    max_images : int
        At most this many images, the first ones, are used.

    Returns
    -------
    bool
        Whether ``module`` has a BatchNorm layer (``False``: nothing was done).

    Examples
    --------
    >>> from spikerec.recognition.frontend import V4FrontEnd
    >>> frontend = V4FrontEnd(1, norm="batch")
    >>> images = torch.randn(64, 1, 28, 28) * 3 + 1
    >>> recalibrate_batch_norm(frontend, images)
    True
    >>> first = batch_norms(frontend)[0]
    >>> expected = frontend.features[0](images).mean(dim=(0, 2, 3))
    >>> torch.allclose(first.running_mean, expected, atol=1e-5), frontend.training
    (True, True)
    >>> recalibrate_batch_norm(V4FrontEnd(1), images)
    False
    """
    layers = batch_norms(module)
    if not layers:
        return False
    was_training = module.training
    momenta = [layer.momentum for layer in layers]
    try:
        for layer in layers:
            layer.reset_running_stats()
            layer.momentum = None  # a cumulative average over the chunks
        module.train()
        for chunk in images[:max_images].split(_CHUNK):
            module(chunk)
    finally:
        for layer, momentum in zip(layers, momenta, strict=True):
            layer.momentum = momentum
        module.train(was_training)
    return True

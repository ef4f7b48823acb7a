"""An exponential moving average (EMA) of the weights, validated and kept in their place.

Late in a run the weights still wander from batch to batch around the minimum the
schedule is settling into; on ``mnist5k`` the test accuracy of consecutive epochs
moved by 0.3-0.5 points in the last ten epochs. An average of the recent weights
(Polyak and Juditsky, 1992; as in ``torch.optim.swa_utils``) sits nearer the middle
of that wander. With ``weight_average="ema"`` the training loop updates an averaged
copy after every optimizer step; validation, the choice of the best epoch and the
checkpoint's ``best_model`` use the copy (its BatchNorm statistics recomputed for its
own weights, :mod:`spikerec.training.batch_norm`), while the optimizer keeps stepping
the live weights.

The decay is set per step from a half-life in epochs (:data:`EMA_HALF_LIFE_EPOCHS`),
so that the average spans the same share of training on a small dataset (20 steps an
epoch on ``digits``) as on a larger one (55 on ``mnist5k``).
"""

from __future__ import annotations

import math
from collections.abc import Callable

from torch import nn
from torch.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn

from spikerec.registry import Registry

#: Epochs after which an update's weight in the average has halved.
EMA_HALF_LIFE_EPOCHS = 1.0


def ema_decay(steps_per_epoch: int, half_life_epochs: float = EMA_HALF_LIFE_EPOCHS) -> float:
    """Per-step decay ``d`` with ``d ** (half_life_epochs * steps_per_epoch) == 0.5``.

    Examples
    --------
    >>> round(ema_decay(55), 4), round(ema_decay(20), 4)
    (0.9875, 0.9659)
    """
    if steps_per_epoch < 1 or not half_life_epochs > 0:
        raise ValueError(
            f"steps_per_epoch={steps_per_epoch!r} must be >= 1 and "
            f"half_life_epochs={half_life_epochs!r} > 0"
        )
    return 0.5 ** (1.0 / (half_life_epochs * steps_per_epoch))


def ema_copy(model: nn.Module, steps_per_epoch: int) -> AveragedModel:
    """An averaged copy of ``model`` (its ``.module``) whose ``update_parameters(model)``
    folds the current weights in with :func:`ema_decay`; the first update copies them.

    Buffers (BatchNorm statistics) are not averaged: they are recomputed for the
    averaged weights before they are scored.

    Examples
    --------
    >>> import torch
    >>> net = nn.Linear(2, 1)
    >>> average = ema_copy(net, steps_per_epoch=1)   # decay 0.5 per step
    >>> _ = nn.init.constant_(net.weight, 1.0)
    >>> average.update_parameters(net)               # first update: a copy
    >>> _ = nn.init.constant_(net.weight, 3.0)
    >>> average.update_parameters(net)
    >>> average.module.weight.detach()
    tensor([[2., 2.]])
    """
    decay = ema_decay(steps_per_epoch)
    return AveragedModel(model, multi_avg_fn=get_ema_multi_avg_fn(decay), use_buffers=False)


#: Weight averages by name: ``(model, steps_per_epoch) -> AveragedModel``; ``none``
#: (``None``) validates and keeps the live weights.
WEIGHT_AVERAGES: Registry[Callable[[nn.Module, int], AveragedModel] | None] = Registry(
    "weight_average", [("none", None), ("ema", ema_copy)]
)


def steps_per_epoch(n_train: int, batch_size: int) -> int:
    """Optimizer steps in one epoch of ``n_train`` images (the last batch may be short)."""
    return max(1, math.ceil(n_train / batch_size))

"""Surrogate-gradient training of recognisers: configuration, the loop, evaluation, checkpoints.

- :mod:`~spikerec.training.loop`: :class:`TrainConfig`, :func:`train` (the one
  training loop), :func:`evaluate`;
- :mod:`~spikerec.training.checkpoints`: atomic, code-free checkpoints;
- :mod:`~spikerec.training.distributed`: data-parallel training under ``torchrun``.
"""

from spikerec.training.loop import (
    EvalResult,
    TrainConfig,
    TrainResult,
    build_model,
    evaluate,
    train,
)

__all__ = ["EvalResult", "TrainConfig", "TrainResult", "build_model", "evaluate", "train"]

"""Surrogate-gradient training of recognisers: configuration, the loop, evaluation, checkpoints.

- :mod:`~spikerec.training.config`: :class:`TrainConfig`, the named losses,
  optimizers and schedules, :func:`build_model`, :func:`load_splits`;
- :mod:`~spikerec.training.recipes`: the per-dataset defaults a config's unset
  fields take (epochs, patience, front-end depth, augmentation);
- :mod:`~spikerec.training.epochs`: the one epoch driver and early-stopping rule,
  shared with the comparison baselines;
- :mod:`~spikerec.training.evaluation`: :class:`EvalResult`, :func:`confusion_matrix`,
  :func:`evaluate`;
- :mod:`~spikerec.training.loop`: :func:`train`, the one training loop of recognisers;
- :mod:`~spikerec.training.weight_average`: the moving average of the weights a run
  can validate and keep (``weight_average="ema"``);
- :mod:`~spikerec.training.checkpoints`: atomic, code-free checkpoints;
- :mod:`~spikerec.training.distributed`: data-parallel training under ``torchrun``.
"""

from spikerec.training.config import TrainConfig, build_model, load_splits
from spikerec.training.evaluation import EvalResult, confusion_matrix, evaluate
from spikerec.training.loop import TrainResult, train

__all__ = [
    "EvalResult",
    "TrainConfig",
    "TrainResult",
    "build_model",
    "confusion_matrix",
    "evaluate",
    "load_splits",
    "train",
]

# Names of the flat module ``spikerec.training`` of spikerec 0.1 that now live in the
# modules of this package, looked up on first use (PEP 562).
_OLD_NAMES = {
    "LOSSES": "spikerec.training.config",
    "OPTIMIZERS": "spikerec.training.config",
    "SCHEDULES": "spikerec.training.config",
    "TrainState": "spikerec.training.epochs",
    "dataset_meta": "spikerec.training.loop",
    "eval_generator": "spikerec.training.evaluation",
    "loss_of": "spikerec.training.loop",
    "predict": "spikerec.training.evaluation",
}


def __getattr__(name: str) -> object:
    import importlib

    home = _OLD_NAMES.get(name)
    if home is None:
        raise AttributeError(f"module 'spikerec.training' has no attribute {name!r}")
    return getattr(importlib.import_module(home), name)

"""A small trainer for classifiers that map images to logits: Adam, early stopping.

:func:`spikerec.training.loop.train` builds its own recogniser from a ``TrainConfig``; the
baselines (row RNN, CNN-RNN, the GAN's judge) are other modules, trained here on the
same epoch driver (:mod:`spikerec.training.epochs`): mini-batch Adam with a cosine
learning-rate schedule, early stopping on the validation accuracy with the same
meaning of ``patience``, and the weights of the best validation epoch kept. Every
random draw (initialisation, shuffling) comes from one explicit ``torch.Generator``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import torch
from torch import nn
from torch.nn import functional as F

from spikerec.data.loading import Split
from spikerec.errors import TrainingDiverged
from spikerec.recognition.recognizer import init_parameters
from spikerec.training.epochs import BatchTotals, TrainState, check_patience, run_epochs, snapshot
from spikerec.training.evaluation import EvalResult
from spikerec.validation import check_finite, check_integer


@dataclass(frozen=True)
class FitConfig:
    """Settings of :func:`fit_classifier`.

    Attributes
    ----------
    epochs : int
        At most this many passes over the training split.
    patience : int
        Stop after this many epochs in a row without a better validation accuracy;
        0 never stops early (the rule of :mod:`spikerec.training.epochs`, as for
        ``TrainConfig.patience``).
    batch_size : int
    lr : float
        Adam's initial learning rate, annealed to 0 over ``epochs`` (cosine).
    weight_decay : float
    max_grad_norm : float
        Gradients are clipped to this L2 norm (recurrent nets need it); 0 disables.
    seed : int
        Seeds initialisation and shuffling.
    """

    epochs: int = 8
    patience: int = 3
    batch_size: int = 64
    lr: float = 2e-3
    weight_decay: float = 0.0
    max_grad_norm: float = 5.0
    seed: int = 0

    def __post_init__(self) -> None:
        for name in ("epochs", "batch_size"):
            check_integer(name, getattr(self, name))
        check_patience(self.patience)
        check_integer("seed", self.seed, minimum=0)
        check_finite("lr", self.lr)
        for name in ("weight_decay", "max_grad_norm"):
            check_finite(name, getattr(self, name), allow_zero=True)


@dataclass
class FitResult:
    """Outcome of :func:`fit_classifier`.

    Attributes
    ----------
    model : nn.Module
        The classifier with the weights of its best validation epoch, in eval mode.
    epochs_run, best_epoch : int
    best_val_accuracy : float
    train_time_s : float
        Wall time of the training epochs (validation included), in seconds.
    history : list of dict
        Per epoch: ``epoch``, ``train_loss``, ``train_accuracy``, ``val_accuracy``,
        ``val_silent_fraction`` (0), ``lr``, ``time_s`` (as for ``train``).
    """

    model: nn.Module
    epochs_run: int
    best_epoch: int
    best_val_accuracy: float
    train_time_s: float
    history: list[dict[str, float]] = field(default_factory=list)


@torch.no_grad()
def init_weights(model: nn.Module, generator: torch.Generator) -> None:
    """Re-draw every weight of ``model`` from ``generator`` (PyTorch's default distributions).

    Convolutions and linear layers as :func:`spikerec.recognition.recognizer.init_parameters`;
    GRU and LSTM weights and biases uniform in ``±1/sqrt(hidden_size)``; embeddings
    standard normal. Normalisation layers keep their deterministic defaults.
    """
    init_parameters(model, generator)
    for module in model.modules():
        if isinstance(module, (nn.GRU, nn.LSTM, nn.RNN)):
            bound = 1.0 / math.sqrt(module.hidden_size)
            for parameter in module.parameters():
                nn.init.uniform_(parameter, -bound, bound, generator=generator)
        elif isinstance(module, nn.Embedding):
            nn.init.normal_(module.weight, generator=generator)
        elif isinstance(module, nn.ConvTranspose2d):
            nn.init.kaiming_uniform_(module.weight, a=math.sqrt(5), generator=generator)
            if module.bias is not None:
                bound = 1.0 / math.sqrt(module.weight[0].numel())
                nn.init.uniform_(module.bias, -bound, bound, generator=generator)


@torch.no_grad()
def predict_logits(model: nn.Module, images: torch.Tensor, batch_size: int = 256) -> torch.Tensor:
    """Logits ``[N, K]`` of ``model`` on images ``[N, C, H, W]``, in eval mode, batched."""
    was_training = model.training
    model.eval()
    logits = torch.cat(
        [model(images[i : i + batch_size]) for i in range(0, images.shape[0], batch_size)]
    )
    model.train(was_training)
    return logits


def evaluate_classifier(
    model: nn.Module, images: torch.Tensor, labels: torch.Tensor, *, n_classes: int
) -> EvalResult:
    """Accuracy and confusion matrix (rows: true class) of a logit classifier.

    Parameters
    ----------
    model : nn.Module
        Maps images ``[B, C, H, W]`` to logits ``[B, n_classes]``.
    images : Tensor [N, C, H, W]
    labels : Tensor [N] of int64
    n_classes : int

    Returns
    -------
    EvalResult
        As for the recognisers; ``silent_fraction`` is 0 (an analog classifier
        always answers).
    """
    prediction = predict_logits(model, images).argmax(dim=1)
    return EvalResult.from_predictions(prediction, labels, n_classes=n_classes)


def fit_classifier(
    model: nn.Module,
    train: Split,
    val: Split,
    config: FitConfig,
    *,
    n_classes: int,
) -> FitResult:
    """Train ``model`` on ``train`` with cross-entropy and Adam; keep the best validation epoch.

    Parameters
    ----------
    model : nn.Module
        Maps images ``[B, C, H, W]`` to logits ``[B, n_classes]``; its weights are
        re-drawn from ``config.seed`` first (:func:`init_weights`).
    train, val : Split
        Normalised images ``[N, C, H, W]`` with labels ``[N]``.
    config : FitConfig
    n_classes : int

    Returns
    -------
    FitResult
        The model holds the weights of the epoch with the best validation accuracy.

    Examples
    --------
    >>> from spikerec.data.loading import load_dataset
    >>> from spikerec.compare.baselines.rnn import RowRNN
    >>> ds = load_dataset("synthetic", seed=0)
    >>> fit = fit_classifier(RowRNN((1, 12, 12), 10), ds.train, ds.val,
    ...                      FitConfig(epochs=1), n_classes=10)
    >>> fit.epochs_run
    1
    """
    generator = torch.Generator().manual_seed(config.seed)
    init_weights(model, generator)
    optimizer = torch.optim.Adam(model.parameters(), lr=config.lr, weight_decay=config.weight_decay)
    schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=config.epochs)
    state = TrainState()
    best = snapshot(model)

    def train_batch(index: torch.Tensor, epoch: int, step: int) -> BatchTotals:
        images, labels = train.images[index], train.labels[index]
        logits = model(images)
        loss = F.cross_entropy(logits, labels)
        if not bool(torch.isfinite(loss)):
            raise TrainingDiverged(
                f"training diverged at epoch {epoch}, step {step}: "
                f"the loss is {float(loss.detach())} (try a lower learning rate)"
            )
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        if config.max_grad_norm > 0:
            nn.utils.clip_grad_norm_(model.parameters(), config.max_grad_norm)
        optimizer.step()
        return BatchTotals(
            float(loss.detach()) * labels.shape[0],
            int((logits.detach().argmax(dim=1) == labels).sum()),
            labels.shape[0],
        )

    run_epochs(
        model,
        state,
        best,
        epochs=config.epochs,
        patience=config.patience,
        batch_size=config.batch_size,
        n_train=len(train),
        generator=generator,
        scheduler=schedule,
        train_batch=train_batch,
        validate=lambda: evaluate_classifier(model, val.images, val.labels, n_classes=n_classes),
    )
    model.load_state_dict(best)
    model.eval()
    return FitResult(
        model=model,
        epochs_run=state.epoch,
        best_epoch=state.best_epoch,
        best_val_accuracy=state.best_val_accuracy,
        train_time_s=state.train_time_s,
        history=state.history,
    )

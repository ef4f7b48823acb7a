"""The one epoch driver: shuffled mini-batches, validation, the best epoch, early stopping.

Both trainers of spikerec run on it: :func:`spikerec.training.loop.train` (the
recognisers) and :func:`spikerec.compare.baselines.fit.fit_classifier` (the RNN,
CNN-RNN and the GAN's judge). The caller says what one mini-batch does
(forward, loss, backward, optimizer step) and how to validate; the driver owns the
order of everything else, so the two share one meaning of every setting:

- every epoch draws its order of the training images from the run's
  ``torch.Generator`` (``torch.randperm``), then steps the learning-rate schedule
  and scores the validation split;
- the weights of the epoch with the best validation accuracy are kept (the
  earliest of equals);
- ``patience = N >= 1`` stops after N epochs in a row without a better validation
  accuracy; ``patience = 0`` disables early stopping (:func:`stops_early`).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, NamedTuple, Protocol

import torch
from torch import nn
from tqdm.auto import tqdm

from spikerec.errors import ParameterError


def check_patience(value: object) -> int:
    """Return ``value`` if it is a valid patience (an integer >= 0), else raise.

    Raises
    ------
    ValueError
        Naming the field, the value and the rule.

    Examples
    --------
    >>> check_patience(3)
    3
    >>> check_patience(-1)
    Traceback (most recent call last):
    ...
    spikerec.errors.ParameterError: patience=-1 must be an integer >= 0 (0: no early stopping)
    """
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ParameterError(f"patience={value!r} must be an integer >= 0 (0: no early stopping)")
    return value


@dataclass
class TrainState:
    """Mutable progress of a run; what a checkpoint stores besides the weights.

    Attributes
    ----------
    epoch : int
        Epochs finished.
    history : list of dict
        One dict per epoch: ``epoch``, ``train_loss``, ``train_accuracy``,
        ``val_accuracy``, ``val_silent_fraction``, ``lr``, ``time_s`` (training time
        so far, in s).
    best_val_accuracy : float
        -1 before the first epoch.
    best_epoch, epochs_without_improvement : int
    train_time_s : float
        Wall time of the epochs so far (validation included), in s.
    finished : bool
        No epoch is left to run (all run, or stopped early).
    """

    epoch: int = 0
    history: list[dict[str, float]] = field(default_factory=list)
    best_val_accuracy: float = -1.0
    best_epoch: int = 0
    epochs_without_improvement: int = 0
    train_time_s: float = 0.0
    finished: bool = False


def stops_early(state: TrainState, patience: int) -> bool:
    """Whether the run stops now: ``patience >= 1`` epochs in a row without improvement.

    ``patience == 0`` never stops early.

    Examples
    --------
    >>> state = TrainState(epoch=4, best_epoch=2, epochs_without_improvement=2)
    >>> stops_early(state, 2), stops_early(state, 3), stops_early(state, 0)
    (True, False, False)
    """
    return patience > 0 and state.epochs_without_improvement >= patience


class BatchTotals(NamedTuple):
    """What one mini-batch adds to an epoch's score.

    Attributes
    ----------
    loss_sum : float
        The batch's mean loss times its number of images.
    correct, seen : int
        Correctly classified and seen training images.
    """

    loss_sum: float
    correct: int
    seen: int


class Validated(Protocol):
    """What the validation of an epoch returns (an ``EvalResult`` does)."""

    @property
    def accuracy(self) -> float: ...

    @property
    def silent_fraction(self) -> float: ...


def snapshot(model: nn.Module) -> dict[str, torch.Tensor]:
    """A detached copy of ``model``'s state dict (tensors cloned)."""
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


def run_epochs(
    model: nn.Module,
    state: TrainState,
    best_weights: dict[str, torch.Tensor],
    *,
    epochs: int,
    patience: int,
    batch_size: int,
    n_train: int,
    generator: torch.Generator,
    scheduler: Any,
    train_batch: Callable[[torch.Tensor, int, int], BatchTotals | None],
    validate: Callable[[], Validated],
    reduce: Callable[[BatchTotals], BatchTotals] | None = None,
    on_epoch_end: Callable[[], None] | None = None,
    progress: bool = False,
    kept: nn.Module | None = None,
) -> None:
    """Run epochs ``state.epoch + 1 .. epochs`` until done or stopped early.

    Parameters
    ----------
    model : nn.Module
        Put in training mode at the start of every epoch.
    state : TrainState
        Updated in place after every epoch (a resumed run passes its saved state).
    best_weights : dict
        The weights of the best epoch so far; replaced in place (its items) when an
        epoch improves the validation accuracy.
    epochs, patience, batch_size : int
        At most ``epochs`` epochs in all; early stopping as in :func:`stops_early`.
    n_train : int
        Training images; batch ``k`` of an epoch holds the images
        ``order[k * batch_size : (k + 1) * batch_size]`` of its shuffled order.
    generator : torch.Generator
        Draws every epoch's order.
    scheduler
        A learning-rate scheduler, stepped once per epoch after the batches.
    train_batch : callable
        ``train_batch(index [b], epoch, step) -> BatchTotals`` does one optimizer
        step on the training images ``index`` (``epoch`` and ``step`` count from 1,
        for messages); ``None`` skips the batch.
    validate : callable
        Scores the validation split (``accuracy``, ``silent_fraction``).
    reduce : callable, optional
        Combines an epoch's totals across processes (data-parallel training).
    on_epoch_end : callable, optional
        Called after every epoch, once ``state`` and ``best_weights`` are updated
        (to write a checkpoint).
    progress : bool
        Show tqdm bars with the running loss and accuracy.
    kept : nn.Module, optional
        The module whose weights ``validate`` scores and ``best_weights`` copies
        (default ``model``; an averaged copy of it, :mod:`spikerec.training.weight_average`).

    Examples
    --------
    A linear classifier on two separable blobs, 3 epochs:

    >>> from torch.nn import functional as F
    >>> gen = torch.Generator().manual_seed(0)
    >>> x = torch.cat([torch.randn(20, 2, generator=gen) + 3, torch.randn(20, 2, generator=gen)])
    >>> y = torch.cat([torch.zeros(20, dtype=torch.long), torch.ones(20, dtype=torch.long)])
    >>> model = nn.Linear(2, 2)
    >>> _ = nn.init.zeros_(model.weight), nn.init.zeros_(model.bias)
    >>> optimizer = torch.optim.SGD(model.parameters(), lr=0.5)
    >>> scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda epoch: 1.0)
    >>> def step(index, epoch, step):
    ...     loss = F.cross_entropy(model(x[index]), y[index])
    ...     optimizer.zero_grad(); loss.backward(); optimizer.step()
    ...     return BatchTotals(float(loss.detach()) * len(index), 0, len(index))
    >>> class Scores:
    ...     silent_fraction = 0.0
    ...     def __init__(self):
    ...         with torch.no_grad():
    ...             self.accuracy = float((model(x).argmax(1) == y).float().mean())
    >>> state, best = TrainState(), snapshot(model)
    >>> run_epochs(model, state, best, epochs=3, patience=0, batch_size=8, n_train=40,
    ...            generator=gen, scheduler=scheduler, train_batch=step, validate=Scores)
    >>> state.epoch, state.finished, state.best_val_accuracy > 0.9
    (3, True, True)
    """
    bar = tqdm(
        range(state.epoch, epochs),
        desc="epochs",
        disable=not progress,
        initial=state.epoch,
        total=epochs,
        leave=False,
    )
    for epoch in bar:
        if state.finished:
            break
        started = time.perf_counter()
        model.train()
        order = torch.randperm(n_train, generator=generator)
        total_loss, correct, seen = 0.0, 0, 0
        batches = tqdm(
            range(0, n_train, batch_size),
            desc=f"epoch {epoch + 1}",
            disable=not progress,
            leave=False,
        )
        for step, start in enumerate(batches, start=1):
            totals = train_batch(order[start : start + batch_size], epoch + 1, step)
            if totals is None:
                continue
            total_loss += totals.loss_sum
            correct += totals.correct
            seen += totals.seen
            batches.set_postfix(loss=f"{total_loss / seen:.3f}", acc=f"{correct / seen:.3f}")
        if reduce is not None:
            total_loss, correct, seen = reduce(BatchTotals(total_loss, correct, seen))
        scheduler.step()
        val = validate()
        state.train_time_s += time.perf_counter() - started
        state.epoch = epoch + 1
        state.history.append(
            {
                "epoch": epoch + 1,
                "train_loss": total_loss / seen,
                "train_accuracy": correct / seen,
                "val_accuracy": val.accuracy,
                "val_silent_fraction": val.silent_fraction,
                "lr": scheduler.optimizer.param_groups[0]["lr"],
                "time_s": state.train_time_s,
            }
        )
        if val.accuracy > state.best_val_accuracy:
            state.best_val_accuracy, state.best_epoch = val.accuracy, epoch + 1
            state.epochs_without_improvement = 0
            best_weights.clear()
            best_weights.update(snapshot(model if kept is None else kept))
        else:
            state.epochs_without_improvement += 1
        state.finished = stops_early(state, patience) or state.epoch >= epochs
        bar.set_postfix(loss=f"{total_loss / seen:.3f}", val=f"{val.accuracy:.3f}")
        if on_epoch_end is not None:
            on_epoch_end()
    state.finished = True

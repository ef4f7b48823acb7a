"""Scores of a classifier on one split: the one confusion matrix and the one result type.

:func:`confusion_matrix` and :class:`EvalResult` serve every model spikerec scores:
the recognisers (:func:`evaluate`), the sequence baselines
(:func:`spikerec.compare.baselines.fit.evaluate_classifier`) and the SVMs of the
comparison harness.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from spikerec.errors import ParameterError
from spikerec.recognition.decoders import decode
from spikerec.recognition.recognizer import Recognizer, RecognizerOutput

if TYPE_CHECKING:
    from spikerec.data.loading import Split
    from spikerec.training.config import TrainConfig


def _as_labels(name: str, values: Any) -> torch.Tensor:
    tensor = torch.as_tensor(np.asarray(values) if not isinstance(values, torch.Tensor) else values)
    if tensor.ndim != 1 or tensor.is_floating_point() or tensor.is_complex():
        raise ParameterError(
            f"{name} must be integer class indices [N], got {tensor.dtype} {list(tensor.shape)}"
        )
    return tensor.to(device="cpu", dtype=torch.int64)


def confusion_matrix(labels: Any, predictions: Any, n_classes: int) -> torch.Tensor:
    """Counts ``[C, C]`` of (true class, predicted class) pairs; rows are the true class.

    Parameters
    ----------
    labels, predictions : Tensor or ndarray [N] of int
        True and predicted class of every sample, each in ``[0, n_classes)``.
    n_classes : int
        Number of classes C.

    Returns
    -------
    Tensor [C, C] of int64
        ``confusion[i, j]``: samples of class i predicted as j; the rows sum to the
        class sizes, the diagonal holds the correct predictions.

    Raises
    ------
    ValueError
        For shapes that differ, non-integer values or a class outside ``[0, n_classes)``.

    Examples
    --------
    >>> confusion_matrix(torch.tensor([0, 0, 1, 2]), torch.tensor([0, 1, 1, 1]), 3)
    tensor([[1, 1, 0],
            [0, 1, 0],
            [0, 1, 0]])
    """
    if isinstance(n_classes, bool) or not isinstance(n_classes, int) or n_classes < 1:
        raise ParameterError(f"n_classes={n_classes!r} must be a positive integer")
    truth = _as_labels("labels", labels)
    guess = _as_labels("predictions", predictions)
    if truth.shape != guess.shape:
        raise ParameterError(
            f"labels and predictions must have the same shape [N], got {list(truth.shape)} "
            f"and {list(guess.shape)}"
        )
    for name, values in (("labels", truth), ("predictions", guess)):
        if values.numel() and (int(values.min()) < 0 or int(values.max()) >= n_classes):
            raise ParameterError(
                f"{name} must be in [0, {n_classes}), got [{int(values.min())}, "
                f"{int(values.max())}]"
            )
    confusion = torch.zeros(n_classes, n_classes, dtype=torch.int64)
    confusion.index_put_((truth, guess), torch.ones_like(truth), accumulate=True)
    return confusion


@dataclass(frozen=True)
class EvalResult:
    """Scores of a model on one split.

    Attributes
    ----------
    accuracy : float
        Fraction of correct predictions; a silent output layer is never class 0.
    silent_fraction : float
        Fraction of images on which no output neuron spiked (LIF head; 0 for a model
        that always answers).
    predictions, labels : Tensor [N]
    confusion : Tensor [C, C]
        Row = true class, column = predicted class (:func:`confusion_matrix`).

    Examples
    --------
    >>> import torch
    >>> confusion = torch.tensor([[3, 1], [0, 4]])
    >>> labels = torch.tensor([0, 0, 0, 0, 1, 1, 1, 1])
    >>> predictions = torch.tensor([0, 0, 0, 1, 1, 1, 1, 1])
    >>> result = EvalResult(0.875, 0.0, predictions, labels, confusion)
    >>> result.per_class_accuracy()
    [0.75, 1.0]
    >>> EvalResult.from_predictions(predictions, labels, n_classes=2).confusion.tolist()
    [[3, 1], [0, 4]]
    """

    accuracy: float
    silent_fraction: float
    predictions: torch.Tensor
    labels: torch.Tensor
    confusion: torch.Tensor

    @classmethod
    def from_predictions(
        cls,
        predictions: Any,
        labels: Any,
        *,
        n_classes: int,
        silent: Any = None,
    ) -> EvalResult:
        """Scores of ``predictions [N]`` against ``labels [N]`` (tensors or arrays).

        ``silent`` (bool ``[N]``, optional) flags the samples on which a spiking
        output layer stayed silent.
        """
        guess = _as_labels("predictions", predictions)
        truth = _as_labels("labels", labels).clone()
        confusion = confusion_matrix(truth, guess, n_classes)
        silent_fraction = 0.0 if silent is None else float(torch.as_tensor(silent).float().mean())
        return cls(
            accuracy=float((guess == truth).float().mean()),
            silent_fraction=silent_fraction,
            predictions=guess,
            labels=truth,
            confusion=confusion,
        )

    def correct(self) -> np.ndarray:
        """Per-sample correctness ``[N]`` (bool), for paired tests."""
        return (self.predictions == self.labels).numpy()

    def per_class_accuracy(self) -> list[float]:
        """Recall of each class (NaN for a class absent from the split)."""
        totals = self.confusion.sum(dim=1)
        return [
            float(self.confusion[c, c] / totals[c]) if totals[c] > 0 else math.nan
            for c in range(self.confusion.shape[0])
        ]


def predict(output: RecognizerOutput, decoder: str) -> tuple[torch.Tensor, torch.Tensor]:
    """Predicted classes ``[B]`` and silent flags ``[B]`` of one forward pass."""
    head = output.head
    if head.spikes is None or head.membrane is None:
        prediction = head.logits.argmax(dim=1)
        return prediction, torch.zeros_like(prediction, dtype=torch.bool)
    decoded = decode(head.spikes, head.membrane, decoder)
    return decoded.prediction, decoded.silent


def eval_generator(config: TrainConfig) -> torch.Generator:
    """Fixed generator for evaluation, seeded by ``config.seed``, so stochastic encoders
    score reproducibly."""
    return torch.Generator().manual_seed(config.seed + 7919)


def score_split(model: Recognizer, split: Split, config: TrainConfig, n_classes: int) -> EvalResult:
    """:func:`evaluate` on ``split`` as a run of ``config`` scores: its decoder and its
    fixed evaluation generator (:func:`eval_generator`), so every score of a model
    (training's validation and test, ``spikerec evaluate``, compare's entries) agrees."""
    return evaluate(
        model,
        split.images,
        split.labels,
        n_classes=n_classes,
        decoder=config.decoder,
        generator=eval_generator(config),
    )


@torch.no_grad()
def evaluate(
    model: Recognizer,
    images: torch.Tensor,
    labels: torch.Tensor,
    *,
    n_classes: int,
    decoder: str = "count",
    batch_size: int = 256,
    generator: torch.Generator | None = None,
) -> EvalResult:
    """Accuracy, silent fraction and confusion matrix of ``model`` on ``images [N, C, H, W]``.

    Parameters
    ----------
    model : Recognizer
    images : Tensor [N, C, H, W]
        Normalised images (as in :class:`spikerec.data.loading.Split`).
    labels : Tensor [N]
        Class indices, int64.
    n_classes : int
        Number of classes C (size of the confusion matrix).
    decoder : {"count", "max-membrane", "first-spike"}
        How the LIF head's output becomes a class (ignored by the softmax heads).
    batch_size : int
        Images per forward pass.
    generator : torch.Generator, optional
        Drives stochastic encoders, for reproducible scores.

    Returns
    -------
    EvalResult

    Examples
    --------
    >>> from spikerec import build_recognizer, load_dataset
    >>> ds = load_dataset("synthetic", seed=0)
    >>> model = build_recognizer("lif", in_channels=1, n_classes=ds.n_classes, n_steps=5)
    >>> result = evaluate(model, ds.test.images, ds.test.labels, n_classes=ds.n_classes)
    >>> result.confusion.shape, 0.0 <= result.accuracy <= 1.0
    (torch.Size([10, 10]), True)
    """
    was_training = model.training
    model.eval()
    device = next(model.parameters()).device
    predictions, silents = [], []
    for start in range(0, images.shape[0], batch_size):
        output = model(images[start : start + batch_size].to(device), generator)
        prediction, silent = predict(output, decoder)
        predictions.append(prediction.cpu())
        silents.append(silent.cpu())
    model.train(was_training)
    return EvalResult.from_predictions(
        torch.cat(predictions), labels, n_classes=n_classes, silent=torch.cat(silents)
    )

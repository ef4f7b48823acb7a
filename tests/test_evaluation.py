"""One confusion matrix and one evaluation result for every classifier spikerec scores."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from sklearn.metrics import confusion_matrix as sklearn_confusion_matrix

from spikerec.compare.baselines.fit import evaluate_classifier
from spikerec.training.evaluation import EvalResult, confusion_matrix


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_confusion_matrix_matches_scikit_learn(seed):
    rng = np.random.default_rng(seed)
    n_classes = 7
    labels = rng.integers(0, n_classes, size=300)
    # mostly right, some wrong, one class never predicted
    predictions = np.where(rng.random(300) < 0.7, labels, rng.integers(0, n_classes - 1, 300))
    ours = confusion_matrix(torch.as_tensor(labels), torch.as_tensor(predictions), n_classes)
    reference = sklearn_confusion_matrix(labels, predictions, labels=list(range(n_classes)))
    assert ours.dtype == torch.int64
    assert np.array_equal(ours.numpy(), reference)
    # the same from NumPy arrays
    assert torch.equal(confusion_matrix(labels, predictions, n_classes), ours)
    assert ours.sum(dim=1).tolist() == np.bincount(labels, minlength=n_classes).tolist()
    assert int(ours.trace()) == int((labels == predictions).sum())


def test_confusion_matrix_refuses_what_it_cannot_count():
    labels = torch.tensor([0, 1, 2])
    with pytest.raises(ValueError, match=r"labels must be in \[0, 2\)"):
        confusion_matrix(labels, torch.tensor([0, 1, 1]), 2)
    with pytest.raises(ValueError, match="same shape"):
        confusion_matrix(labels, torch.tensor([0, 1]), 3)
    with pytest.raises(ValueError, match="integer class indices"):
        confusion_matrix(labels, torch.tensor([0.0, 1.0, 2.0]), 3)
    with pytest.raises(ValueError, match="n_classes"):
        confusion_matrix(labels, labels, 0)


def test_eval_result_from_predictions_is_consistent():
    labels = torch.tensor([0, 0, 1, 1, 1, 2])
    predictions = torch.tensor([0, 1, 1, 1, 0, 2])
    silent = torch.tensor([False, True, False, False, False, False])
    result = EvalResult.from_predictions(predictions, labels, n_classes=4, silent=silent)
    assert result.accuracy == pytest.approx(4 / 6)
    assert result.accuracy == pytest.approx(float(result.confusion.trace()) / len(labels))
    assert result.silent_fraction == pytest.approx(1 / 6)
    assert result.correct().tolist() == [True, False, True, True, False, True]
    recall = result.per_class_accuracy()
    assert recall[:3] == pytest.approx([0.5, 2 / 3, 1.0]) and np.isnan(recall[3])
    labels[0] = 2  # the result keeps its own copy of the labels
    assert int(result.labels[0]) == 0


def test_classifier_and_recognizer_scores_share_the_confusion_matrix():
    gen = torch.Generator().manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(16, 3))
    images = torch.randn(40, 1, 4, 4, generator=gen)
    labels = torch.randint(0, 3, (40,), generator=gen)
    result = evaluate_classifier(model, images, labels, n_classes=3)
    with torch.no_grad():
        predictions = model(images).argmax(dim=1)
    assert torch.equal(result.predictions, predictions)
    assert torch.equal(result.confusion, confusion_matrix(labels, predictions, 3))
    assert result.silent_fraction == 0.0

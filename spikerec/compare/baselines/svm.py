"""Support vector machines with the literature's recipe for pixel inputs.

The SVM entries of the comparison (``svm-rbf``, ``svm-linear`` on pixels, ``svm-v4``
on the V4 features of the trained CNN) follow the recipe that gives an RBF SVM its
well-known MNIST accuracy:

- inputs on a fixed scale, without per-feature standardisation: pixels in [0, 1]
  (:func:`unit_pixels` undoes the dataset's per-channel normalisation), V4 features
  divided by their maximum on the training split (:func:`unit_features`).
  Standardising every pixel on its own would blow up the near-constant border
  pixels into noise dimensions;
- the kernel width searched around the scale of the data,
  ``gamma_0 = 1 / (n_features · mean(x²))`` (for which ``gamma_0 · ||x||²`` is 1 on
  average), over octaves ``gamma_0 · 2^k`` (:data:`GAMMA_OCTAVES`): on MNIST pixels
  ``gamma_0 ≈ 0.011`` and the known good values 0.02-0.05 are 1 to 2 octaves
  above it;
- C searched over decades (:data:`RBF_C`, :data:`LINEAR_C`);
- every choice by stratified k-fold cross-validation on the training split only,
  scored by accuracy; ties go to the first grid point (smaller gamma, then
  smaller C).

The RBF kernel is computed once per gamma from one matrix of squared distances and
handed to scikit-learn's ``SVC(kernel="precomputed")`` for every fold and C, which
fits the same machine as ``SVC(kernel="rbf", gamma=...)`` several times faster.
"""

from __future__ import annotations

import time
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from sklearn.exceptions import ConvergenceWarning
from sklearn.metrics.pairwise import euclidean_distances
from sklearn.model_selection import StratifiedKFold
from sklearn.svm import SVC, LinearSVC

from spikerec.errors import ParameterError

#: Octaves k of the RBF grid ``gamma = gamma_0 · 2^k``.
GAMMA_OCTAVES: tuple[int, ...] = (-2, -1, 0, 1, 2, 3)
#: C of the RBF SVMs.
RBF_C: tuple[float, ...] = (0.1, 1.0, 10.0, 100.0)
#: C of the linear SVM (squared hinge, one-vs-rest).
LINEAR_C: tuple[float, ...] = (0.001, 0.01, 0.1, 1.0)
#: Folds of the stratified cross-validation.
CV_FOLDS = 3
KERNELS: tuple[str, ...] = ("rbf", "linear")


def unit_pixels(images: torch.Tensor, mean: Sequence[float], std: Sequence[float]) -> np.ndarray:
    """Normalised images ``[N, C, H, W]`` back to pixels in [0, 1], flattened ``[N, C·H·W]``.

    Undoes ``(x - mean_c) / std_c`` of :func:`spikerec.data.loading.load_dataset`.

    Examples
    --------
    >>> x = unit_pixels(torch.tensor([[[[-1.0, 1.0]]]]), mean=[0.5], std=[0.5])
    >>> x.tolist()
    [[0.0, 1.0]]
    """
    shift = torch.as_tensor(mean, dtype=torch.float64).view(1, -1, 1, 1)
    scale = torch.as_tensor(std, dtype=torch.float64).view(1, -1, 1, 1)
    pixels = images.to(torch.float64) * scale + shift
    return pixels.reshape(pixels.shape[0], -1).numpy()


def unit_features(train: np.ndarray, *others: np.ndarray) -> list[np.ndarray]:
    """Non-negative features divided by their largest value on ``train`` (one global scale).

    One factor for all features keeps the relative sizes the CNN learnt (what its
    softmax head reads) and puts the training features in [0, 1].

    Examples
    --------
    >>> [a.tolist() for a in unit_features(np.array([[0.0, 4.0]]), np.array([[2.0, 8.0]]))]
    [[[0.0, 1.0]], [[0.5, 2.0]]]
    """
    peak = float(np.max(train)) if train.size else 0.0
    scale = 1.0 / peak if peak > 0 else 1.0
    return [np.asarray(a, dtype=np.float64) * scale for a in (train, *others)]


def reference_gamma(x: np.ndarray) -> float:
    """``1 / (n_features · mean(x²))``: the RBF width on the scale of the data ``[N, D]``.

    Examples
    --------
    >>> reference_gamma(np.full((4, 2), 0.5))
    2.0
    """
    power = float(np.mean(np.square(x)))
    if not power > 0:
        raise ParameterError("the SVM's training inputs are all zero; cannot scale gamma")
    return 1.0 / (x.shape[1] * power)


@dataclass
class FittedSVM:
    """An SVM chosen by cross-validation and refitted on the whole training set.

    Attributes
    ----------
    kernel : {"rbf", "linear"}
    params : dict
        The chosen ``C`` (and ``gamma``).
    details : dict
        JSON-ready record of the search: ``kernel``, ``cv_folds``, ``n_train``,
        ``grid`` (the values searched), ``gamma_reference`` (RBF), ``cv_accuracy``
        (mean over folds, one per grid point, in grid order), ``best_params``,
        ``best_cv_accuracy``, ``fits_not_converged``.
    train_time_s : float
        Search and refit, in seconds.
    ops_per_image : float
        Multiply-accumulates of one prediction: support vectors x features (RBF),
        classes x features (linear).
    """

    kernel: str
    params: dict[str, float]
    details: dict[str, Any]
    train_time_s: float
    ops_per_image: float
    _model: Any = field(repr=False)
    _train_x: np.ndarray = field(repr=False)

    def predict(self, x: np.ndarray) -> np.ndarray:
        """Predicted classes ``[M]`` of inputs ``[M, D]`` (scaled like the training inputs)."""
        if self.kernel == "linear":
            return self._model.predict(x)
        gram = np.exp(-self.params["gamma"] * euclidean_distances(x, self._train_x, squared=True))
        return self._model.predict(gram)


def _rbf_search(
    x: np.ndarray, y: np.ndarray, folds: list[tuple[np.ndarray, np.ndarray]]
) -> tuple[list[dict[str, float]], list[float], SVC, float]:
    """Mean CV accuracy of every (gamma, C); the best refitted on all of ``x``."""
    distances = euclidean_distances(x, squared=True)
    gamma_0 = reference_gamma(x)
    grid, scores = [], []
    best: tuple[float, dict[str, float]] = (-1.0, {})
    for k in GAMMA_OCTAVES:
        gamma = gamma_0 * 2.0**k
        kernel = np.exp(-gamma * distances)
        # The fold's blocks of this kernel, cut once for every C.
        blocks = [
            (kernel[np.ix_(fit_rows, fit_rows)], kernel[np.ix_(held_rows, fit_rows)])
            for fit_rows, held_rows in folds
        ]
        for c in RBF_C:
            accuracy = []
            for (fit_rows, held_rows), (fit_block, held_block) in zip(folds, blocks, strict=True):
                model = SVC(C=c, kernel="precomputed").fit(fit_block, y[fit_rows])
                accuracy.append(float(np.mean(model.predict(held_block) == y[held_rows])))
            point = {"C": c, "gamma": gamma}
            grid.append(point)
            scores.append(float(np.mean(accuracy)))
            if scores[-1] > best[0]:
                best = (scores[-1], point)
    params = best[1]
    model = SVC(C=params["C"], kernel="precomputed")
    model.fit(np.exp(-params["gamma"] * distances), y)
    return grid, scores, model, gamma_0


def _linear_search(
    x: np.ndarray, y: np.ndarray, folds: list[tuple[np.ndarray, np.ndarray]], seed: int
) -> tuple[list[dict[str, float]], list[float], LinearSVC]:
    def machine(c: float) -> LinearSVC:
        # The dual solver: sklearn's "auto" picks the primal one when samples outnumber
        # features, which took 14-97 s per fit on mnist5k against 3-6 s for the dual.
        return LinearSVC(C=c, dual=True, max_iter=2000, random_state=seed)

    grid, scores = [], []
    for c in LINEAR_C:
        accuracy = []
        for fit_rows, held_rows in folds:
            model = machine(c).fit(x[fit_rows], y[fit_rows])
            accuracy.append(float(np.mean(model.predict(x[held_rows]) == y[held_rows])))
        grid.append({"C": c})
        scores.append(float(np.mean(accuracy)))
    params = grid[int(np.argmax(scores))]
    return grid, scores, machine(params["C"]).fit(x, y)


def fit_svm(x: np.ndarray, y: np.ndarray, *, kernel: str, seed: int) -> FittedSVM:
    """Choose an SVM's C (and gamma) by stratified k-fold CV on ``x``, then refit on all of it.

    Parameters
    ----------
    x : ndarray [N, D]
        Training inputs on a fixed scale (:func:`unit_pixels`, :func:`unit_features`).
    y : ndarray [N] of int
        Classes.
    kernel : {"rbf", "linear"}
        RBF: ``SVC`` (one-vs-one) over ``gamma_0 · 2^k`` (:data:`GAMMA_OCTAVES`) x
        :data:`RBF_C`; linear: ``LinearSVC`` (one-vs-rest) over :data:`LINEAR_C`.
    seed : int
        Seeds the folds (:data:`CV_FOLDS`, stratified, shuffled) and liblinear.

    Returns
    -------
    FittedSVM

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> x = np.concatenate([rng.normal(0.2, 0.05, (30, 4)), rng.normal(0.8, 0.05, (30, 4))])
    >>> y = np.repeat([0, 1], 30)
    >>> svm = fit_svm(x, y, kernel="rbf", seed=0)
    >>> float(np.mean(svm.predict(x) == y)), sorted(svm.details["best_params"])
    (1.0, ['C', 'gamma'])
    >>> len(svm.details["cv_accuracy"]) == len(GAMMA_OCTAVES) * len(RBF_C)
    True
    """
    if kernel not in KERNELS:
        raise ParameterError(f"unknown kernel {kernel!r}; valid: {', '.join(KERNELS)}")
    y = np.asarray(y)
    splitter = StratifiedKFold(n_splits=CV_FOLDS, shuffle=True, random_state=seed)
    folds = list(splitter.split(x, y))
    started = time.perf_counter()
    gamma_0 = None
    with warnings.catch_warnings(record=True) as caught:
        # liblinear's iteration cap is part of the protocol; record it, don't print it.
        warnings.simplefilter("always", ConvergenceWarning)
        if kernel == "rbf":
            grid, scores, model, gamma_0 = _rbf_search(x, y, folds)
        else:
            grid, scores, model = _linear_search(x, y, folds, seed)
    train_time = time.perf_counter() - started
    for w in caught:  # pass on everything else
        if not issubclass(w.category, ConvergenceWarning):
            warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
    best = int(np.argmax(scores))
    params = {k: float(v) for k, v in grid[best].items()}
    details: dict[str, Any] = {
        "kernel": kernel,
        "cv_folds": CV_FOLDS,
        "n_train": int(len(y)),
        "grid": {k: sorted({float(p[k]) for p in grid}) for k in grid[0]},
        "cv_accuracy": scores,
        "best_params": params,
        "best_cv_accuracy": scores[best],
        "fits_not_converged": sum(issubclass(w.category, ConvergenceWarning) for w in caught),
    }
    if gamma_0 is not None:
        details["gamma_reference"] = gamma_0
        details["gamma_octaves"] = list(GAMMA_OCTAVES)
    if kernel == "rbf":
        ops = float(model.support_.size * x.shape[1])
    else:
        ops = float(model.coef_.size)
    return FittedSVM(kernel, params, details, train_time, ops, model, x)

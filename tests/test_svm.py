"""The SVM baselines: pixels in [0, 1], gamma and C searched by cross-validation, the
stratified subsample they train on, and the entry objects that run them."""

from __future__ import annotations

import json
import warnings

import numpy as np
import pytest
from sklearn.datasets import load_digits
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import GridSearchCV, StratifiedKFold
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.svm import SVC

from spikerec.compare.baselines.svm import (
    CV_FOLDS,
    GAMMA_OCTAVES,
    LINEAR_C,
    RBF_C,
    fit_svm,
    reference_gamma,
    unit_features,
    unit_pixels,
)
from spikerec.compare.config import (
    NEURAL_ENTRIES,
    REUSES_MODEL_OF,
    SEQUENCE_ENTRIES,
    SVM_ENTRIES,
)
from spikerec.compare.entries import ENTRIES
from spikerec.compare.jobs import run_order
from spikerec.data.loading import load_dataset
from spikerec.data.splits import stratified_fraction, stratified_subsample


def test_unit_pixels_undo_the_dataset_normalisation():
    ds = load_dataset("digits", seed=0)
    pixels = unit_pixels(ds.train.images, ds.mean, ds.std)
    assert pixels.shape == (len(ds.train), 64)
    # digits are integers 0..16 scaled by 1/16: the round trip gives them back
    raw = pixels * 16.0
    assert np.abs(raw - np.rint(raw)).max() < 1e-4
    assert np.rint(raw).min() == 0 and np.rint(raw).max() == 16
    # ... as the same multiset of values as scikit-learn's own images
    reference = np.sort(load_digits().images.reshape(-1))
    assert set(np.unique(np.rint(raw))) <= set(np.unique(reference))


def test_unit_features_share_one_scale():
    train = np.array([[0.0, 2.0], [1.0, 4.0]])
    test = np.array([[8.0, 0.0]])
    scaled_train, scaled_test = unit_features(train, test)
    assert scaled_train.max() == 1.0
    assert np.allclose(scaled_train, train / 4.0) and np.allclose(scaled_test, test / 4.0)
    assert reference_gamma(scaled_train) == pytest.approx(4.0 * 4.0 * reference_gamma(train))


@pytest.fixture
def digits_pixels():
    ds = load_dataset("digits", seed=0)
    return (
        unit_pixels(ds.train.images, ds.mean, ds.std),
        ds.train.labels.numpy(),
        unit_pixels(ds.test.images, ds.mean, ds.std),
        ds.test.labels.numpy(),
    )


def test_rbf_search_records_its_grid_and_beats_standardised_pixels(digits_pixels):
    train_x, train_y, test_x, test_y = digits_pixels
    svm = fit_svm(train_x, train_y, kernel="rbf", seed=0)
    details = svm.details
    json.dumps(details)  # reaches results.json as it is
    gamma_0 = reference_gamma(train_x)
    assert details["gamma_reference"] == pytest.approx(gamma_0)
    assert details["grid"]["gamma"] == pytest.approx([gamma_0 * 2.0**k for k in GAMMA_OCTAVES])
    assert details["grid"]["C"] == list(RBF_C)
    assert len(details["cv_accuracy"]) == len(GAMMA_OCTAVES) * len(RBF_C)
    assert details["cv_folds"] == CV_FOLDS and details["n_train"] == len(train_y)
    best = details["best_params"]
    assert best == svm.params
    assert details["best_cv_accuracy"] == max(details["cv_accuracy"])
    # the known good region: within the searched octaves, not at their edge
    assert gamma_0 * 2.0 ** GAMMA_OCTAVES[0] < best["gamma"] < gamma_0 * 2.0 ** GAMMA_OCTAVES[-1]
    assert svm.ops_per_image == svm._model.support_.size * 64
    accuracy = float(np.mean(svm.predict(test_x) == test_y))
    # The recipe the harness used before: every pixel standardised on its own and a
    # narrow grid around 1/n_features, on the same split, the same folds.
    folds = StratifiedKFold(n_splits=3, shuffle=True, random_state=0)
    scale = 1.0 / train_x.shape[1]
    standardised = GridSearchCV(
        make_pipeline(StandardScaler(), SVC()),
        {"svc__C": [1.0, 10.0], "svc__gamma": [0.5 * scale, scale, 2.0 * scale]},
        cv=folds,
    ).fit(train_x, train_y)
    assert accuracy >= float(np.mean(standardised.predict(test_x) == test_y))
    # The same machine as scikit-learn's RBF SVC with the chosen values.
    direct = SVC(C=best["C"], gamma=best["gamma"]).fit(train_x, train_y)
    assert np.mean(direct.predict(test_x) == svm.predict(test_x)) > 0.995


def test_linear_search_records_its_grid(digits_pixels):
    train_x, train_y, test_x, test_y = digits_pixels
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)  # recorded, not raised
        svm = fit_svm(train_x[:400], train_y[:400], kernel="linear", seed=1)
    assert svm.details["grid"] == {"C": list(LINEAR_C)}
    assert svm.details["best_params"]["C"] in LINEAR_C
    assert "gamma_reference" not in svm.details
    assert svm.ops_per_image == 10 * 64
    assert np.mean(svm.predict(test_x) == test_y) > 0.8  # chance is 0.1


def test_fit_svm_refuses_an_unknown_kernel():
    with pytest.raises(ValueError, match="unknown kernel 'poly'; valid: rbf, linear"):
        fit_svm(np.ones((6, 2)), np.array([0, 1] * 3), kernel="poly", seed=0)


@pytest.mark.parametrize("limit", [7, 50, 99])
def test_stratified_subsample_takes_exactly_the_limit_by_class(limit):
    labels = np.repeat(np.arange(4), [10, 20, 30, 40])
    keep = stratified_subsample(labels, limit, seed=3)
    assert len(keep) == limit and len(set(keep)) == limit
    share = np.bincount(labels[keep], minlength=4) / limit
    assert np.abs(share - np.array([0.1, 0.2, 0.3, 0.4])).max() <= 1.0 / limit + 1e-12
    assert np.array_equal(keep, stratified_fraction(labels, limit / 100, seed=3))
    assert np.array_equal(stratified_subsample(labels, limit, seed=3), keep)  # seeded
    assert len(stratified_subsample(labels, 0, seed=3)) == 100  # 0: all
    assert len(stratified_subsample(labels, 100, seed=3)) == 100


def test_entries_are_objects_that_say_how_they_run():
    assert list(ENTRIES) == [*NEURAL_ENTRIES, *SEQUENCE_ENTRIES, *SVM_ENTRIES]
    assert NEURAL_ENTRIES == ("lif", "rate-softmax", "softmax")
    assert SEQUENCE_ENTRIES == ("rnn", "cnn-rnn")
    assert SVM_ENTRIES == ("svm-rbf", "svm-linear", "svm-v4")
    assert REUSES_MODEL_OF == {"svm-v4": "softmax"}
    assert {n: e.ops_kind for n, e in ENTRIES.items()} == {
        "lif": "SOP",
        "rate-softmax": "SOP",
        "softmax": "MAC",
        "rnn": "MAC",
        "cnn-rnn": "MAC",
        "svm-rbf": "MAC",
        "svm-linear": "MAC",
        "svm-v4": "MAC",
    }
    for entry in ENTRIES.values():
        if entry.reuses is not None:
            assert entry.reuses in ENTRIES
    assert run_order(["svm-v4", "svm-rbf", "softmax", "lif"]) == [
        "svm-rbf",
        "softmax",
        "lif",
        "svm-v4",
    ]

"""The comparison harness: every entry trained and scored on the same splits and seeds.

Entries (``ENTRIES``):

- ``lif``: the LIF output layer on V4 spikes;
- ``rate-softmax``: linear + softmax on the V4 firing rates;
- ``softmax``: the classic CNN, linear + softmax on the analog V4 features;
- ``svm-rbf``, ``svm-linear``: scikit-learn SVMs on raw pixels, scaled, with C (and
  gamma) chosen by cross-validation on the training split only;
- ``svm-v4``: an RBF SVM on the frozen V4 features of the trained ``softmax`` CNN.

For every seed the dataset is split with that seed, every entry is trained on the
training split (neural entries stop early on the validation split) and scored on the
same test images, so entries can be compared pairwise (McNemar) as well as by their
mean accuracy over seeds (Student-t confidence interval).
"""

from __future__ import annotations

import time
import warnings
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import torch
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import GridSearchCV, StratifiedKFold
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.svm import SVC, LinearSVC
from tqdm.auto import tqdm

from spikerec.data import DatasetSplits, load_dataset
from spikerec.heads import decode
from spikerec.recognizer import Recognizer
from spikerec.stats import decision_latency, mcnemar_test, mean_confidence_interval
from spikerec.training import TrainConfig, eval_generator, evaluate, train

NEURAL_ENTRIES: tuple[str, ...] = ("lif", "rate-softmax", "softmax")
SVM_ENTRIES: tuple[str, ...] = ("svm-rbf", "svm-linear", "svm-v4")
ENTRIES: tuple[str, ...] = NEURAL_ENTRIES + SVM_ENTRIES
REFERENCE_ENTRY = "lif"


def parse_entries(names: str | Sequence[str]) -> tuple[str, ...]:
    """Entry names from a comma-separated string or a sequence, validated, in given order.

    Raises
    ------
    ValueError
        For an unknown or repeated name; the message lists the valid names.
    """
    items = [n.strip() for n in names.split(",")] if isinstance(names, str) else list(names)
    items = [n for n in items if n]
    if not items:
        raise ValueError(f"no entries given; valid: {', '.join(ENTRIES)}")
    for name in items:
        if name not in ENTRIES:
            raise ValueError(f"unknown entry {name!r}; valid: {', '.join(ENTRIES)}")
    if len(set(items)) != len(items):
        raise ValueError(f"entries repeat: {', '.join(items)}")
    return tuple(items)


@dataclass(frozen=True)
class CompareConfig:
    """Settings of a comparison run.

    Attributes
    ----------
    data : str
        Dataset name or ``idx:PATH``.
    entries : tuple of str
        Entries to run (see :data:`ENTRIES`).
    seeds : tuple of int
        One complete run of every entry per seed.
    train : TrainConfig
        Training settings shared by the neural entries (``head``, ``data`` and
        ``seed`` are set per entry and seed).
    svm_max_train : int
        At most this many training images (stratified subsample) for the SVMs, whose
        cost grows quadratically; 0 means all.
    data_root : str or None
        Folder of downloaded datasets.
    """

    data: str = "digits"
    entries: tuple[str, ...] = ENTRIES
    seeds: tuple[int, ...] = (0, 1, 2)
    train: TrainConfig = field(default_factory=lambda: TrainConfig(epochs=8, patience=3))
    svm_max_train: int = 5000
    data_root: str | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "entries", parse_entries(self.entries))
        if not self.seeds or len(set(self.seeds)) != len(self.seeds):
            raise ValueError(f"seeds={self.seeds!r} must be distinct and not empty")
        for seed in self.seeds:
            if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
                raise ValueError(f"seed {seed!r} must be an integer >= 0")
        if self.svm_max_train < 0:
            raise ValueError(f"svm_max_train={self.svm_max_train!r} must be >= 0")


@dataclass
class EntryResult:
    """One entry on one seed.

    ``correct`` is the per-test-image correctness (for paired tests); timing in
    seconds; ``ops_per_image`` counts synaptic events (spiking heads, from actual
    spikes) or multiply-accumulates (analog heads, SVMs) of the classifier on top
    of the features.
    """

    entry: str
    seed: int
    accuracy: float
    correct: np.ndarray
    per_class_accuracy: list[float]
    confusion: list[list[int]]
    train_time_s: float
    inference_time_per_image_s: float
    ops_per_image: float
    ops_kind: str
    silent_fraction: float = 0.0
    details: dict[str, Any] = field(default_factory=dict)

    def summary(self) -> dict[str, Any]:
        """JSON-ready fields (without the per-image vector)."""
        out = asdict(self)
        out.pop("correct")
        return out


def _stratified_subsample(labels: np.ndarray, limit: int, seed: int) -> np.ndarray:
    """Indices of at most ``limit`` samples with the class proportions of ``labels``."""
    if limit == 0 or labels.size <= limit:
        return np.arange(labels.size)
    rng = np.random.default_rng(seed)
    picked = []
    for c in np.unique(labels):
        members = np.flatnonzero(labels == c)
        take = max(1, int(round(limit * members.size / labels.size)))
        picked.append(rng.choice(members, size=min(take, members.size), replace=False))
    return np.sort(np.concatenate(picked))


def _svm_search(kernel: str, n_features: int, seed: int, *, wide: bool = True) -> GridSearchCV:
    """Scaling + SVM with C (and gamma) chosen by 3-fold CV on the training data.

    ``wide=False`` searches C only, with sklearn's ``gamma="scale"`` (for the
    3136-dimensional V4 features, where every fit is expensive).
    """
    folds = StratifiedKFold(n_splits=3, shuffle=True, random_state=seed)
    if kernel == "linear":
        # The dual solver: sklearn's "auto" picks the primal one when samples outnumber
        # features, which took 14-97 s per fit on mnist5k against 3-6 s for the dual.
        model = make_pipeline(
            StandardScaler(), LinearSVC(dual=True, max_iter=2000, random_state=seed)
        )
        grid: dict[str, list[float]] = {"linearsvc__C": [0.01, 0.1, 1.0]}
    else:
        model = make_pipeline(StandardScaler(), SVC(kernel="rbf"))
        scale = 1.0 / n_features  # sklearn's gamma="scale" for standardised features
        gammas = [0.5 * scale, scale, 2.0 * scale] if wide else [scale]
        grid = {"svc__C": [1.0, 10.0], "svc__gamma": gammas}
    return GridSearchCV(model, grid, cv=folds, n_jobs=1)


def _score_svm(
    entry: str,
    search: GridSearchCV,
    train_x: np.ndarray,
    train_y: np.ndarray,
    test_x: np.ndarray,
    test_y: np.ndarray,
    seed: int,
    n_classes: int,
) -> EntryResult:
    started = time.perf_counter()
    with warnings.catch_warnings(record=True) as caught:
        # liblinear's iteration cap is part of the protocol; record it, don't print it.
        warnings.simplefilter("always", ConvergenceWarning)
        search.fit(train_x, train_y)
    train_time = time.perf_counter() - started
    for w in caught:  # pass on everything else
        if not issubclass(w.category, ConvergenceWarning):
            warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
    started = time.perf_counter()
    prediction = search.predict(test_x)
    infer = (time.perf_counter() - started) / max(1, test_y.size)
    correct = prediction == test_y
    confusion = np.zeros((n_classes, n_classes), dtype=np.int64)
    np.add.at(confusion, (test_y, prediction), 1)
    estimator = search.best_estimator_[-1]
    if hasattr(estimator, "support_vectors_"):
        ops = float(estimator.support_vectors_.shape[0] * test_x.shape[1])
    else:
        ops = float(estimator.coef_.size)
    totals = confusion.sum(axis=1)
    return EntryResult(
        entry=entry,
        seed=seed,
        accuracy=float(correct.mean()),
        correct=correct,
        per_class_accuracy=[
            float(confusion[c, c] / totals[c]) if totals[c] else float("nan")
            for c in range(n_classes)
        ],
        confusion=confusion.tolist(),
        train_time_s=train_time,
        inference_time_per_image_s=infer,
        ops_per_image=ops,
        ops_kind="MAC",
        details={
            "best_params": {k: float(v) for k, v in search.best_params_.items()},
            "fits_not_converged": sum(issubclass(w.category, ConvergenceWarning) for w in caught),
        },
    )


@torch.no_grad()
def _features(model: Recognizer, images: torch.Tensor, batch_size: int = 256) -> np.ndarray:
    model.eval()
    return torch.cat(
        [model.frontend(images[i : i + batch_size]) for i in range(0, images.shape[0], batch_size)]
    ).numpy()


@torch.no_grad()
def lif_time_course(
    model: Recognizer,
    images: torch.Tensor,
    labels: torch.Tensor,
    *,
    decoder: str,
    generator: torch.Generator,
    batch_size: int = 256,
) -> dict[str, Any]:
    """Accuracy against the number of time steps used, and decision latency.

    Decoding the first t steps of the output is what a run of t steps would give,
    since the network is causal. The decision latency of an image is the first step
    from which its decoded class no longer changes.
    """
    model.eval()
    n_steps = None
    correct_by_t, latencies = [], []
    for start in range(0, images.shape[0], batch_size):
        out = model(images[start : start + batch_size], generator).head
        n_steps = out.spikes.shape[0]
        predictions = torch.stack(
            [
                decode(out.spikes[: t + 1], out.membrane[: t + 1], decoder).prediction
                for t in range(n_steps)
            ]
        )  # [T, B]
        correct_by_t.append((predictions == labels[start : start + batch_size]).float())
        latencies.append(decision_latency(predictions.numpy()))
    correct = torch.cat(correct_by_t, dim=1)
    latency = np.concatenate(latencies)
    return {
        "accuracy_by_steps": correct.mean(dim=1).tolist(),
        "decision_latency_steps_mean": float(latency.mean()),
        "decision_latency_steps_median": float(np.median(latency)),
        "n_steps": n_steps,
    }


@torch.no_grad()
def _spike_ops(
    model: Recognizer,
    images: torch.Tensor,
    generator: torch.Generator,
    n_classes: int,
    batch_size: int = 256,
) -> float:
    """Synaptic events per image in the head: every V4 spike reaches ``n_classes`` synapses."""
    model.eval()
    total = 0.0
    for start in range(0, images.shape[0], batch_size):
        out = model(images[start : start + batch_size], generator)
        total += float(out.v4_spikes.sum()) * n_classes
    return total / images.shape[0]


def _neural_entry(
    entry: str, dataset: DatasetSplits, config: CompareConfig, seed: int, progress: bool
) -> tuple[EntryResult, Recognizer]:
    train_config = TrainConfig.from_dict(
        {**asdict(config.train), "head": entry, "data": dataset.name, "seed": seed}
    )
    result = train(train_config, dataset, progress=progress)
    model, test = result.model, dataset.test
    generator = eval_generator(train_config)
    started = time.perf_counter()
    scores = evaluate(
        model,
        test.images,
        test.labels,
        n_classes=dataset.n_classes,
        decoder=train_config.decoder,
        generator=generator,
    )
    infer = (time.perf_counter() - started) / len(test.labels)
    details: dict[str, Any] = {
        "epochs_run": result.state.epoch,
        "best_epoch": result.state.best_epoch,
    }
    if entry == "softmax":
        ops, kind = float(model.head.linear.weight.numel()), "MAC"
    else:
        ops, kind = (
            _spike_ops(model, test.images, eval_generator(train_config), dataset.n_classes),
            "SOP",
        )
    if entry == "lif":
        details.update(
            lif_time_course(
                model,
                test.images,
                test.labels,
                decoder=train_config.decoder,
                generator=eval_generator(train_config),
            )
        )
    correct = (scores.predictions == scores.labels).numpy()
    return EntryResult(
        entry=entry,
        seed=seed,
        accuracy=scores.accuracy,
        correct=correct,
        per_class_accuracy=scores.per_class_accuracy(),
        confusion=scores.confusion.tolist(),
        train_time_s=result.state.train_time_s,
        inference_time_per_image_s=infer,
        ops_per_image=ops,
        ops_kind=kind,
        silent_fraction=scores.silent_fraction,
        details=details,
    ), model


def _flat(images: torch.Tensor) -> np.ndarray:
    return images.reshape(images.shape[0], -1).numpy()


def run_seed(
    config: CompareConfig,
    seed: int,
    *,
    progress: bool = False,
    on_entry: Callable[[EntryResult], None] | None = None,
    dataset: DatasetSplits | None = None,
) -> list[EntryResult]:
    """Every entry of ``config`` on the splits of one seed."""
    data = (
        dataset
        if dataset is not None
        else load_dataset(
            config.data,
            seed=seed,
            data_root=config.data_root,
            val_fraction=config.train.val_fraction,
            test_fraction=config.train.test_fraction,
        )
    )
    results: list[EntryResult] = []
    trained: dict[str, Recognizer] = {}

    def done(result: EntryResult) -> None:
        results.append(result)
        if on_entry is not None:
            on_entry(result)

    for entry in config.entries:
        if entry in NEURAL_ENTRIES:
            result, trained[entry] = _neural_entry(entry, data, config, seed, progress)
            done(result)
    keep = _stratified_subsample(data.train.labels.numpy(), config.svm_max_train, seed)
    train_y, test_y = data.train.labels.numpy()[keep], data.test.labels.numpy()
    for entry in config.entries:
        if entry in ("svm-rbf", "svm-linear"):
            train_x, test_x = _flat(data.train.images)[keep], _flat(data.test.images)
            kernel = "rbf" if entry == "svm-rbf" else "linear"
        elif entry == "svm-v4":
            cnn = trained.get("softmax")
            if cnn is None:  # svm-v4 needs a trained CNN; train the classic one for it
                _, cnn = _neural_entry("softmax", data, config, seed, progress)
            train_x = _features(cnn, data.train.images[torch.as_tensor(keep)])
            test_x = _features(cnn, data.test.images)
            kernel = "rbf"
        else:
            continue
        search = _svm_search(kernel, train_x.shape[1], seed, wide=entry != "svm-v4")
        done(_score_svm(entry, search, train_x, train_y, test_x, test_y, seed, data.n_classes))
    order = {name: i for i, name in enumerate(config.entries)}
    results.sort(key=lambda r: order[r.entry])
    return results


def summarize(results: Sequence[EntryResult], entries: Sequence[str]) -> list[dict[str, Any]]:
    """One row per entry: mean accuracy with 95 % CI, McNemar against ``lif``, costs."""
    rows = []
    by_entry = {
        e: sorted((r for r in results if r.entry == e), key=lambda r: r.seed) for e in entries
    }
    reference = by_entry.get(REFERENCE_ENTRY, [])
    for entry in entries:
        runs = by_entry[entry]
        if not runs:
            continue
        ci = mean_confidence_interval([r.accuracy for r in runs])
        row: dict[str, Any] = {
            "entry": entry,
            "n_seeds": len(runs),
            "accuracy_mean": ci.mean,
            # An accuracy cannot leave [0, 1]: the t interval is clipped to it.
            "ci95_low": max(0.0, ci.low),
            "ci95_high": min(1.0, ci.high),
            "train_time_s": float(np.mean([r.train_time_s for r in runs])),
            "inference_ms_per_image": 1000
            * float(np.mean([r.inference_time_per_image_s for r in runs])),
            "ops_per_image": float(np.mean([r.ops_per_image for r in runs])),
            "ops_kind": runs[0].ops_kind,
            "silent_fraction": float(np.mean([r.silent_fraction for r in runs])),
        }
        if entry != REFERENCE_ENTRY and reference:
            pairs = {r.seed: r for r in reference}
            shared = [(pairs[r.seed], r) for r in runs if r.seed in pairs]
            if shared:
                pooled = mcnemar_test(
                    np.concatenate([a.correct for a, _ in shared]),
                    np.concatenate([b.correct for _, b in shared]),
                )
                row.update(
                    {
                        "mcnemar_p_vs_lif": pooled.p_value,
                        "only_lif_correct": pooled.only_a,
                        "only_entry_correct": pooled.only_b,
                        "mcnemar_p_vs_lif_per_seed": [
                            mcnemar_test(a.correct, b.correct).p_value for a, b in shared
                        ],
                    }
                )
        if entry == "lif":
            curves = [
                r.details["accuracy_by_steps"] for r in runs if "accuracy_by_steps" in r.details
            ]
            if curves:
                row["accuracy_by_steps"] = np.mean(curves, axis=0).tolist()
                row["decision_latency_steps_mean"] = float(
                    np.mean([r.details["decision_latency_steps_mean"] for r in runs])
                )
        rows.append(row)
    return rows


def run_compare(
    config: CompareConfig,
    *,
    progress: bool = True,
    on_entry: Callable[[EntryResult], None] | None = None,
    first_dataset: DatasetSplits | None = None,
) -> tuple[list[EntryResult], list[dict[str, Any]]]:
    """Run the whole matrix of entries x seeds; return per-run results and the summary.

    ``first_dataset``: the splits of ``config.seeds[0]`` when the caller has already
    loaded them (to check the dataset before creating a run folder).
    """
    bar = tqdm(total=len(config.entries) * len(config.seeds), desc="compare", disable=not progress)
    results: list[EntryResult] = []

    def record(result: EntryResult) -> None:
        results.append(result)
        bar.set_postfix(entry=result.entry, seed=result.seed, acc=f"{result.accuracy:.3f}")
        bar.update(1)
        if on_entry is not None:
            on_entry(result)

    for seed in config.seeds:
        preloaded = first_dataset if seed == config.seeds[0] else None
        run_seed(config, seed, on_entry=record, dataset=preloaded)
    bar.close()
    return results, summarize(results, config.entries)

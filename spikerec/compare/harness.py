"""The comparison harness: every entry trained and scored on the same splits and seeds.

Entries (``ENTRIES``):

- ``lif``: the LIF output layer on V4 spikes;
- ``rate-softmax``: linear + softmax on the V4 firing rates;
- ``softmax``: the classic CNN, linear + softmax on the analog V4 features;
- ``svm-rbf``, ``svm-linear``: scikit-learn SVMs on raw pixels, scaled, with C (and
  gamma) chosen by cross-validation on the training split only;
- ``svm-v4``: an RBF SVM on the frozen V4 features of the trained ``softmax`` CNN;
- ``rnn``: a GRU (or LSTM) reading the image row by row (:mod:`spikerec.compare.baselines.rnn`);
- ``cnn-rnn``: the V4 front end's feature map read column by column by a GRU.

For every seed the dataset is split with that seed, every entry is trained on the
training split (neural entries stop early on the validation split) and scored on the
same test images, so entries can be compared pairwise (McNemar) as well as by their
mean accuracy over seeds (Student-t confidence interval).

The training split can be cut to a stratified ``train_fraction`` and then augmented
(``none``, ``classic`` shifts and rotations, or ``gan`` images of a class-conditional
DCGAN; :mod:`spikerec.compare.baselines.augment`), per seed, before any entry sees it;
validation and test splits stay as they are. With several augmentations in one run
every entry runs under each, and :func:`augmentation_effects` gives the paired
accuracy change against ``none`` and ``classic``.
"""

from __future__ import annotations

import time
import warnings
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field, replace
from typing import TYPE_CHECKING, Any, NamedTuple

import numpy as np
import torch
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import GridSearchCV, StratifiedKFold
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.svm import SVC, LinearSVC
from tqdm.auto import tqdm

from spikerec.compare.baselines.augment import AUGMENTATIONS, AugmentRecord
from spikerec.compare.baselines.fit import evaluate_classifier, fit_classifier
from spikerec.compare.baselines.rnn import build_sequence_model
from spikerec.compare.config import (
    AUGMENT_BASELINES,
    ENTRIES,
    NEURAL_ENTRIES,
    REFERENCE_ENTRY,
    REUSES_MODEL_OF,
    SEQUENCE_ENTRIES,
    SVM_ENTRIES,
    CompareConfig,
)
from spikerec.compare.stats import decision_latency, mcnemar_test, mean_confidence_interval
from spikerec.data.loading import DatasetSplits, Split, load_dataset
from spikerec.errors import ParameterError
from spikerec.recognition.decoders import decode
from spikerec.recognition.recognizer import Recognizer
from spikerec.training.loop import TrainConfig, eval_generator, evaluate, train

if TYPE_CHECKING:
    from spikerec.compare.store import CompareStore


@dataclass
class EntryResult:
    """One entry on one seed.

    ``correct`` is the per-test-image correctness (for paired tests); timing in
    seconds; ``ops_per_image`` counts synaptic events (spiking heads, from actual
    spikes) or multiply-accumulates (analog heads, SVMs, recurrent layers) of the
    classifier on top of the features; ``augment`` names the augmentation of the
    training split the entry was trained on.
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
    augment: str = "none"

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


def stratified_fraction(labels: np.ndarray, fraction: float, seed: int) -> np.ndarray:
    """Sorted indices of ``round(fraction · N)`` samples with the class proportions of ``labels``.

    Class c gets ``fraction · N_c`` samples rounded by largest remainder, so the total
    is ``round(fraction · N)``, except that every class keeps at least one sample,
    which can add a few when the fraction leaves a class none. The samples of each
    class are drawn without replacement with ``np.random.default_rng(seed)``.

    Examples
    --------
    >>> labels = np.repeat(np.arange(10), 42)
    >>> np.bincount(labels[stratified_fraction(labels, 0.1, seed=0)]).tolist()
    [5, 5, 4, 4, 4, 4, 4, 4, 4, 4]
    """
    classes, counts = np.unique(labels, return_counts=True)
    quota = fraction * counts
    take = np.floor(quota).astype(np.int64)
    left = int(round(fraction * labels.size)) - int(take.sum())
    if left > 0:  # largest remainders first; ties to the lower class index
        take[np.argsort(-(quota - take), kind="stable")[:left]] += 1
    take = np.clip(take, 1, counts)
    rng = np.random.default_rng(seed)
    picked = [
        rng.choice(np.flatnonzero(labels == c), size=int(k), replace=False)
        for c, k in zip(classes, take, strict=True)
    ]
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
        ops, kind = float(model.head.get_parameter("linear.weight").numel()), "MAC"
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


def _sequence_entry(
    entry: str, dataset: DatasetSplits, config: CompareConfig, seed: int
) -> EntryResult:
    """``rnn`` or ``cnn-rnn``: trained with :func:`fit_classifier`, scored on the test split."""
    model = build_sequence_model(
        entry,
        dataset.image_shape,
        dataset.n_classes,
        hidden_size=config.rnn_hidden,
        cell=config.rnn_cell,
    )
    fit = fit_classifier(
        model,
        dataset.train,
        dataset.val,
        replace(config.sequence, seed=seed),
        n_classes=dataset.n_classes,
    )
    test = dataset.test
    started = time.perf_counter()
    scores = evaluate_classifier(fit.model, test.images, test.labels, n_classes=dataset.n_classes)
    infer = (time.perf_counter() - started) / len(test.labels)
    return EntryResult(
        entry=entry,
        seed=seed,
        accuracy=scores.accuracy,
        correct=(scores.predictions == scores.labels).numpy(),
        per_class_accuracy=scores.per_class_accuracy(),
        confusion=scores.confusion.tolist(),
        train_time_s=fit.train_time_s,
        inference_time_per_image_s=infer,
        ops_per_image=model.macs_per_image(),
        ops_kind="MAC",
        details={
            "epochs_run": fit.epochs_run,
            "best_epoch": fit.best_epoch,
            "cell": config.rnn_cell,
            "hidden_size": config.rnn_hidden,
        },
    )


def _flat(images: torch.Tensor) -> np.ndarray:
    return images.reshape(images.shape[0], -1).numpy()


def _svm_entry(
    entry: str,
    dataset: DatasetSplits,
    config: CompareConfig,
    seed: int,
    trained: dict[str, Recognizer],
    progress: bool,
) -> EntryResult:
    """An SVM entry; ``svm-v4`` uses ``trained["softmax"]`` or trains that CNN itself."""
    keep = _stratified_subsample(dataset.train.labels.numpy(), config.svm_max_train, seed)
    train_y, test_y = dataset.train.labels.numpy()[keep], dataset.test.labels.numpy()
    if entry == "svm-v4":
        cnn = trained.get(REUSES_MODEL_OF[entry])
        if cnn is None:  # svm-v4 needs a trained CNN; train the classic one for it
            _, cnn = _neural_entry("softmax", dataset, config, seed, progress)
            trained["softmax"] = cnn
        train_x = _features(cnn, dataset.train.images[torch.as_tensor(keep)])
        test_x = _features(cnn, dataset.test.images)
        kernel = "rbf"
    else:
        train_x, test_x = _flat(dataset.train.images)[keep], _flat(dataset.test.images)
        kernel = "rbf" if entry == "svm-rbf" else "linear"
    search = _svm_search(kernel, train_x.shape[1], seed, wide=entry != "svm-v4")
    return _score_svm(entry, search, train_x, train_y, test_x, test_y, seed, dataset.n_classes)


def run_entry(
    entry: str,
    dataset: DatasetSplits,
    config: CompareConfig,
    seed: int,
    *,
    trained: dict[str, Recognizer],
    progress: bool = False,
) -> EntryResult:
    """One entry on one seed's (augmented) splits.

    ``trained`` collects the recognisers trained so far on these splits, so that
    ``svm-v4`` can reuse the ``softmax`` CNN instead of training its own.
    """
    if entry in NEURAL_ENTRIES:
        result, trained[entry] = _neural_entry(entry, dataset, config, seed, progress)
        return result
    if entry in SEQUENCE_ENTRIES:
        return _sequence_entry(entry, dataset, config, seed)
    if entry in SVM_ENTRIES:
        return _svm_entry(entry, dataset, config, seed, trained, progress)
    raise ParameterError(f"unknown entry {entry!r}; valid: {', '.join(ENTRIES)}")


def seed_splits(
    config: CompareConfig, seed: int, dataset: DatasetSplits | None = None
) -> DatasetSplits:
    """The splits of one seed, the training split cut to ``config.train_fraction``.

    The cut is a stratified random subsample (:func:`stratified_fraction`, seeded by
    ``seed``) of the training split alone; validation and test splits and the
    normalisation stay as loaded.
    """
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
    if config.train_fraction >= 1.0:
        return data
    keep = torch.as_tensor(
        stratified_fraction(data.train.labels.numpy(), config.train_fraction, seed)
    )
    return replace(data, train=Split(data.train.images[keep], data.train.labels[keep]))


def _keys(augments: Sequence[str], entries: Sequence[str]) -> list[tuple[str, str]]:
    return [(a, e) for a in augments for e in entries]


def row_label(entry: str, augment: str, augments: Sequence[str]) -> str:
    """The name of a summary row: the entry, with ``[augment]`` when a run has several."""
    return entry if len(augments) == 1 else f"{entry} [{augment}]"


def summarize(
    results: Sequence[EntryResult],
    entries: Sequence[str],
    augments: Sequence[str] | None = None,
) -> list[dict[str, Any]]:
    """One row per entry and augmentation: mean accuracy with 95 % CI, McNemar, costs.

    McNemar pairs every entry with ``lif`` trained under the same augmentation.
    ``augments`` defaults to those present in ``results`` (in order of appearance).
    """
    if augments is None:
        augments = list(dict.fromkeys(r.augment for r in results)) or ["none"]
    rows = []
    grouped = {
        key: sorted((r for r in results if (r.augment, r.entry) == key), key=lambda r: r.seed)
        for key in _keys(augments, entries)
    }
    for augment, entry in _keys(augments, entries):
        runs = grouped[(augment, entry)]
        if not runs:
            continue
        reference = grouped.get((augment, REFERENCE_ENTRY), [])
        ci = mean_confidence_interval([r.accuracy for r in runs])
        row: dict[str, Any] = {
            "entry": entry,
            "augment": augment,
            "label": row_label(entry, augment, augments),
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


def augmentation_effects(
    results: Sequence[EntryResult], entries: Sequence[str], augments: Sequence[str]
) -> list[dict[str, Any]]:
    """Accuracy change of each augmentation against ``none`` and ``classic``, per entry.

    For every entry and every pair (``augment``, ``versus``) of the run's
    augmentations with ``versus`` in :data:`AUGMENT_BASELINES` and weaker than
    ``augment`` (``none`` < ``classic`` < ``gan``), whatever their order in
    ``augments``: the per-seed differences ``accuracy(augment) − accuracy(versus)``
    (same seed, so the same test images), their mean with a 95 % Student-t interval
    over seeds (not clipped; it can be negative), and the exact McNemar test over
    the test images of all seeds pooled.

    Returns
    -------
    list of dict
        ``entry``, ``augment``, ``versus``, ``n_seeds``, ``delta_mean``,
        ``ci95_low``, ``ci95_high``, ``delta_per_seed``, ``mcnemar_p``,
        ``only_augment_correct``, ``only_versus_correct``.
    """
    rows = []
    by_key = {(r.augment, r.entry, r.seed): r for r in results}
    # Each augmentation against each weaker baseline (none < classic < gan), in
    # whatever order the run listed them.
    strength = {name: i for i, name in enumerate(AUGMENTATIONS)}
    for entry in entries:
        for augment in augments:
            for versus in sorted(augments, key=strength.__getitem__):
                if versus not in AUGMENT_BASELINES or strength[versus] >= strength[augment]:
                    continue
                pairs = [
                    (by_key[(versus, entry, s)], by_key[(augment, entry, s)])
                    for (a, e, s) in sorted(by_key)
                    if a == augment and e == entry and (versus, entry, s) in by_key
                ]
                if not pairs:
                    continue
                deltas = [b.accuracy - a.accuracy for a, b in pairs]
                ci = mean_confidence_interval(deltas)
                test = mcnemar_test(
                    np.concatenate([b.correct for _, b in pairs]),
                    np.concatenate([a.correct for a, _ in pairs]),
                )
                rows.append(
                    {
                        "entry": entry,
                        "augment": augment,
                        "versus": versus,
                        "n_seeds": len(pairs),
                        "delta_mean": ci.mean,
                        "ci95_low": ci.low,
                        "ci95_high": ci.high,
                        "delta_per_seed": deltas,
                        "mcnemar_p": test.p_value,
                        "only_augment_correct": test.only_a,
                        "only_versus_correct": test.only_b,
                    }
                )
    return rows


class CompareOutcome(NamedTuple):
    """Everything :func:`run_compare` produces.

    Attributes
    ----------
    results : list of EntryResult
        One per entry, augmentation and seed.
    rows : list of dict
        :func:`summarize`: one per entry and augmentation.
    augmentations : list of AugmentRecord
        One per seed and augmentation (GAN quality and sample grid included).
    effects : list of dict
        :func:`augmentation_effects` (empty with a single augmentation).
    """

    results: list[EntryResult]
    rows: list[dict[str, Any]]
    augmentations: list[AugmentRecord]
    effects: list[dict[str, Any]]


def run_compare(
    config: CompareConfig,
    *,
    progress: bool = True,
    on_entry: Callable[[EntryResult], None] | None = None,
    first_dataset: DatasetSplits | None = None,
    jobs: int = 1,
    threads_per_job: int = 1,
    store: CompareStore | None = None,
) -> CompareOutcome:
    """Run the whole matrix of entries x augmentations x seeds; return results and summaries.

    Parameters
    ----------
    config : CompareConfig
    progress : bool
        Show a tqdm progress bar.
    on_entry : callable, optional
        Called with each :class:`EntryResult` as soon as it is scored.
    first_dataset : DatasetSplits, optional
        The splits of ``config.seeds[0]`` when the caller has already loaded them
        (to check the dataset before creating a run folder).
    jobs : int
        Processes running tasks at once (:mod:`spikerec.compare.jobs`); 1 runs
        everything in this process.
    threads_per_job : int
        Torch threads of each worker process when ``jobs > 1``.
    store : CompareStore, optional
        Where finished work is kept as it completes (:mod:`spikerec.compare.store`);
        work already there is not run again, so a killed run resumes.

    Returns
    -------
    CompareOutcome
        ``results`` (one per entry, augmentation and seed), ``rows`` (one per entry and
        augmentation: mean accuracy, 95 % confidence interval, McNemar p against
        ``lif``, training time in s, operations per image, ...), ``augmentations`` and
        ``effects``.

    Examples
    --------
    A linear SVM on 200 images of the embedded ``synthetic`` set, one seed:

    >>> config = CompareConfig(data="synthetic", entries=("svm-linear",), seeds=(0,),
    ...                        svm_max_train=200)
    >>> outcome = run_compare(config, progress=False)
    >>> [(row["entry"], row["n_seeds"]) for row in outcome.rows]
    [('svm-linear', 1)]
    >>> 0.0 <= outcome.rows[0]["accuracy_mean"] <= 1.0
    True
    """
    from spikerec.compare.jobs import Task, execute, plan_tasks

    done_entries = store.load_entries() if store is not None else {}
    done_records = store.load_augmentations() if store is not None else {}
    results: list[EntryResult] = []
    records: dict[tuple[str, int], AugmentRecord] = {}
    tasks = []
    for task in plan_tasks(config, jobs=jobs):
        missing = tuple(e for e in task.entries if (task.augment, task.seed, e) not in done_entries)
        results.extend(
            done_entries[(task.augment, task.seed, e)] for e in task.entries if e not in missing
        )
        record = done_records.get((task.augment, task.seed))
        if record is not None:
            records[(task.augment, task.seed)] = record
        if missing or record is None:
            tasks.append(Task(task.seed, task.augment, missing))

    total = len(config.entries) * len(config.augment) * len(config.seeds)
    bar = tqdm(total=total, initial=len(results), desc="compare", disable=not progress)

    def finished(result: EntryResult, record: AugmentRecord) -> None:
        key = (record.method, record.seed)
        if store is not None:  # the record first: a finished entry implies its record
            if key not in records:
                store.save_augmentation(record)
            store.save_entry(result)
        records.setdefault(key, record)
        results.append(result)
        bar.set_postfix(
            entry=result.entry, aug=result.augment, seed=result.seed, acc=f"{result.accuracy:.3f}"
        )
        bar.update(1)
        if on_entry is not None:
            on_entry(result)

    try:
        execute(
            config,
            tasks,
            jobs=jobs,
            threads_per_job=threads_per_job,
            first_dataset=first_dataset,
            on_result=finished,
        )
    finally:
        bar.close()
    order = {(a, e): i for i, (a, e) in enumerate(_keys(config.augment, config.entries))}
    results.sort(key=lambda r: (order[(r.augment, r.entry)], r.seed))
    augment_order = {a: i for i, a in enumerate(config.augment)}
    return CompareOutcome(
        results=results,
        rows=summarize(results, config.entries, config.augment),
        augmentations=[
            records[key] for key in sorted(records, key=lambda k: (k[1], augment_order[k[0]]))
        ],
        effects=augmentation_effects(results, config.entries, config.augment),
    )

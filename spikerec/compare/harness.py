"""The comparison harness: every entry trained and scored on the same splits and seeds.

The entries (``ENTRIES``; :mod:`spikerec.compare.entries`) are objects that say
how they run: the LIF head, the rate-coded and the classic CNN softmax heads, a row
RNN and a CNN-RNN, and SVMs on pixels and on V4 features.

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

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, NamedTuple

import numpy as np
from tqdm.auto import tqdm

from spikerec.compare.baselines.augment import AUGMENTATIONS, AugmentRecord
from spikerec.compare.config import (
    AUGMENT_BASELINES,
    REFERENCE_ENTRY,
    CompareConfig,
)
from spikerec.compare.entries import EntryResult, lif_time_course
from spikerec.compare.seed_runs import run_entry, seed_splits
from spikerec.compare.stats import mcnemar_test, mean_confidence_interval
from spikerec.data.loading import DatasetSplits
from spikerec.data.splits import stratified_fraction
from spikerec.recognition.early_exit import mean_early_exit

if TYPE_CHECKING:
    from spikerec.compare.store import CompareStore

__all__ = [
    "CompareOutcome",
    "EntryResult",
    "augmentation_effects",
    "lif_time_course",
    "row_label",
    "run_compare",
    "run_entry",
    "seed_splits",
    "stratified_fraction",
    "summarize",
]


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
        # Entries with a time course (the LIF head) give accuracy against time steps.
        curves = [r.details["accuracy_by_steps"] for r in runs if "accuracy_by_steps" in r.details]
        if curves:
            row["accuracy_by_steps"] = np.mean(curves, axis=0).tolist()
            row["decision_latency_steps_mean"] = float(
                np.mean([r.details["decision_latency_steps_mean"] for r in runs])
            )
        exits = [r.details["early_exit"] for r in runs if "early_exit" in r.details]
        if exits:
            row["early_exit"] = mean_early_exit(exits)
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

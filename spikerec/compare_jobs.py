"""The comparison matrix as independent tasks, run in this process or in a pool.

A task is one seed under one augmentation with a group of entries that must share
a process: ``svm-v4`` goes with ``softmax`` (it scores the features of that
trained CNN), and under ``gan`` augmentation all entries of a seed share one task
(the GAN is trained once per seed). Every other entry is a task of its own, so
``spikerec compare --jobs N`` keeps N processes busy.

Tasks are independent: each loads its seed's splits and makes its augmentation
itself (both deterministic in the seed), and every entry seeds its own training.
A task's results are therefore the same whichever process runs it and in
whichever order (bit-identical on CPU with the same number of threads per
process).
"""

from __future__ import annotations

import multiprocessing
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from typing import NamedTuple

from spikerec.baselines.augment import AugmentRecord, augment_training
from spikerec.compare import (
    SVM_ENTRIES,
    CompareConfig,
    EntryResult,
    run_entry,
    seed_splits,
)
from spikerec.data import DatasetSplits
from spikerec.recognizer import Recognizer


class Task(NamedTuple):
    """One seed, one augmentation and the entries run together on them."""

    seed: int
    augment: str
    entries: tuple[str, ...]


class TaskResult(NamedTuple):
    task: Task
    results: list[EntryResult]
    augmentation: AugmentRecord


def plan_tasks(config: CompareConfig, *, jobs: int = 1) -> list[Task]:
    """Every task of ``config``, seed by seed, augmentation by augmentation.

    With ``jobs == 1`` a task holds all entries of its seed and augmentation (the
    splits and the augmentation are made once); with more, entries are split into
    the smallest groups that must share a process.
    """
    tasks = []
    for seed in config.seeds:
        for augment in config.augment:
            if augment == "gan" or jobs == 1:
                groups = [config.entries]
            else:
                groups = [(e,) for e in config.entries if e not in ("softmax", "svm-v4")] + (
                    [tuple(e for e in config.entries if e in ("softmax", "svm-v4"))]
                )
                groups = [g for g in groups if g]
            tasks.extend(Task(seed, augment, tuple(group)) for group in groups)
    return tasks


def run_task(
    config: CompareConfig,
    task: Task,
    *,
    dataset: DatasetSplits | None = None,
    progress: bool = False,
) -> TaskResult:
    """Run one task; ``dataset``: the seed's splits if already loaded."""
    base = seed_splits(config, task.seed, dataset)
    data, record = augment_training(
        base, task.augment, seed=task.seed, ratio=config.augment_ratio, gan=config.gan
    )
    trained: dict[str, Recognizer] = {}
    results = []
    # SVMs last: svm-v4 reuses the softmax CNN trained on the same splits.
    for entry in sorted(task.entries, key=lambda e: e in SVM_ENTRIES):
        result = run_entry(entry, data, config, task.seed, trained=trained, progress=progress)
        result.augment = task.augment
        results.append(result)
    return TaskResult(task, results, record)


def _init_worker(threads: int) -> None:
    import torch

    torch.set_num_threads(threads)


def _run_in_worker(config: CompareConfig, task: Task) -> TaskResult:
    return run_task(config, task)


def execute(
    config: CompareConfig,
    tasks: Sequence[Task],
    *,
    jobs: int = 1,
    threads_per_job: int = 1,
    first_dataset: DatasetSplits | None = None,
    on_done: Callable[[TaskResult], None] | None = None,
) -> Iterator[TaskResult]:
    """Run ``tasks`` and yield each result as it finishes.

    ``jobs == 1`` runs them here, in order (``first_dataset``: the splits of
    ``config.seeds[0]``, reused). Otherwise a pool of ``jobs`` fresh processes
    (``spawn``: no state inherited from this one) with ``threads_per_job`` torch
    threads each runs them. ``on_done`` is called for each result before it is
    yielded, so a caller can store it even if a later task fails.
    """
    if jobs < 1:
        raise ValueError(f"jobs={jobs!r} must be >= 1")
    if jobs == 1:
        for task in tasks:
            preloaded = first_dataset if task.seed == config.seeds[0] else None
            done = run_task(config, task, dataset=preloaded)
            if on_done is not None:
                on_done(done)
            yield done
        return
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(
        max_workers=jobs,
        mp_context=context,
        initializer=_init_worker,
        initargs=(threads_per_job,),
    ) as pool:
        pending: set[Future[TaskResult]] = {
            pool.submit(_run_in_worker, config, task) for task in tasks
        }
        try:
            while pending:
                finished, pending = wait(pending, return_when=FIRST_COMPLETED)
                for future in finished:
                    done = future.result()
                    if on_done is not None:
                        on_done(done)
                    yield done
        except BaseException:
            for future in pending:
                future.cancel()
            raise

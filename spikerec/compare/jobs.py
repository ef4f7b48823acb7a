"""The comparison matrix as independent tasks, run in this process or in a pool.

A task is one seed under one augmentation with a group of entries that must share
a process: an entry that reuses another's trained model goes with it (``svm-v4``
with ``softmax``: it scores the features of that trained CNN; see
:attr:`spikerec.compare.entries.Entry.reuses`), and under ``gan`` augmentation all
entries of a seed share one task (the GAN is trained once per seed). Every other
entry is a task of its own, so ``spikerec compare --jobs N`` keeps N processes busy.

Tasks are independent: each loads its seed's splits and makes its augmentation
itself (both deterministic in the seed), and every entry seeds its own training.
A task's results are therefore the same whichever process runs it and in
whichever order (bit-identical on CPU with the same number of threads per
process).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import NamedTuple

from spikerec.compare.baselines.augment import AugmentRecord, augment_training
from spikerec.compare.config import CompareConfig
from spikerec.compare.entries import ENTRIES, EntryResult, Trained
from spikerec.compare.seed_runs import run_entry, seed_splits
from spikerec.data.loading import DatasetSplits
from spikerec.errors import ParameterError
from spikerec.workers import run_pool


class Task(NamedTuple):
    """One seed, one augmentation and the entries run together on them."""

    seed: int
    augment: str
    entries: tuple[str, ...]


class TaskResult(NamedTuple):
    task: Task
    results: list[EntryResult]
    augmentation: AugmentRecord


ResultCallback = Callable[[EntryResult, AugmentRecord], None]


def plan_tasks(config: CompareConfig, *, jobs: int = 1) -> list[Task]:
    """Every task of ``config``, seed by seed, augmentation by augmentation.

    With ``jobs == 1`` a task holds all entries of its seed and augmentation (the
    splits and the augmentation are made once); with more, entries are split into
    the smallest groups that must share a process.
    """
    tasks: list[Task] = []
    for seed in config.seeds:
        for augment in config.augment:
            if augment == "gan" or jobs == 1:
                groups = [config.entries]
            else:
                groups = _share_groups(config.entries)
            tasks.extend(Task(seed, augment, tuple(group)) for group in groups)
    return tasks


def _share_groups(entries: Sequence[str]) -> list[tuple[str, ...]]:
    """Entries one by one, except that an entry reusing another's model joins it."""
    partner = {e: ENTRIES.get(e).reuses or e for e in entries}
    partner = {e: p if p in entries else e for e, p in partner.items()}
    groups: dict[str, list[str]] = {}
    for entry in entries:
        groups.setdefault(partner[entry], []).append(entry)
    return [tuple(group) for group in groups.values()]


def run_order(entries: Sequence[str]) -> list[str]:
    """``entries`` in the order a task runs them: an entry that reuses another's model
    after the others (so after the one it reuses), otherwise as given.

    Examples
    --------
    >>> run_order(["svm-v4", "lif", "softmax"])
    ['lif', 'softmax', 'svm-v4']
    """
    return sorted(entries, key=lambda e: ENTRIES.get(e).reuses is not None)


def run_task(
    config: CompareConfig,
    task: Task,
    *,
    dataset: DatasetSplits | None = None,
    on_result: ResultCallback | None = None,
) -> TaskResult:
    """Run one task; ``dataset``: the seed's splits if already loaded.

    ``on_result(result, record)`` is called as soon as each entry is scored, with
    the augmentation record of the task (so a caller can keep finished work even
    if a later entry of the task fails).
    """
    base = seed_splits(config, task.seed, dataset)
    data, record = augment_training(
        base, task.augment, seed=task.seed, ratio=config.augment_ratio, gan=config.gan
    )
    trained: Trained = {}
    results = []
    for entry in run_order(task.entries):
        result = run_entry(entry, data, config, task.seed, trained=trained)
        result.augment = task.augment
        results.append(result)
        if on_result is not None:
            on_result(result, record)
    return TaskResult(task, results, record)


def _run_in_worker(config: CompareConfig, task: Task) -> TaskResult:
    return run_task(config, task)


def execute(
    config: CompareConfig,
    tasks: Sequence[Task],
    *,
    jobs: int = 1,
    threads_per_job: int = 1,
    first_dataset: DatasetSplits | None = None,
    on_result: ResultCallback | None = None,
) -> None:
    """Run ``tasks``, reporting every entry through ``on_result``.

    ``jobs == 1`` runs them here, in order (``first_dataset``: the splits of
    ``config.seeds[0]``, reused), and ``on_result`` sees each entry as soon as it
    is scored. Otherwise a pool of ``jobs`` fresh processes (``spawn``: no state
    inherited from this one) with ``threads_per_job`` torch threads each runs
    them, and ``on_result`` sees a task's entries when the task returns. If a task
    fails (or the run is interrupted), the results of every task that finished are
    reported first, the other workers are stopped, and the task's own error is
    raised. Workers end with this process, however it ends
    (see :func:`spikerec.workers.run_pool`).
    """
    if jobs < 1:
        raise ParameterError(f"jobs={jobs!r} must be >= 1")
    if jobs == 1:
        for task in tasks:
            preloaded = first_dataset if task.seed == config.seeds[0] else None
            run_task(config, task, dataset=preloaded, on_result=on_result)
        return

    def report(result: TaskResult) -> None:
        if on_result is not None:
            for entry_result in result.results:
                on_result(entry_result, result.augmentation)

    run_pool(
        _run_in_worker,
        [(config, task) for task in tasks],
        jobs=jobs,
        threads_per_job=threads_per_job,
        on_done=report,
    )

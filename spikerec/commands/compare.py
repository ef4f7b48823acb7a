"""``spikerec compare``: every entry on the same splits and seeds, into a new run folder.

The orchestration around :func:`spikerec.compare.harness.run_compare`: load the first
seed's splits before the run folder exists (a bad dataset leaves nothing behind),
keep finished work in the run folder as it completes (:mod:`spikerec.compare.store`),
resume an interrupted run, set the torch threads of this process or of each job,
write the results, report and figures, and mark the run complete last.
"""

from __future__ import annotations

import os
import time
import warnings
from concurrent.futures.process import BrokenProcessPool
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path

from spikerec.commands._common import apply_threads, check_threads
from spikerec.compare.config import CompareConfig
from spikerec.compare.harness import CompareOutcome, run_compare
from spikerec.compare.preflight import check_compare_run
from spikerec.compare.report import write_compare_outputs
from spikerec.compare.store import CompareStore
from spikerec.data.loading import DatasetSplits
from spikerec.errors import ParameterError, RunError, SpikerecError, SpikerecWarning
from spikerec.run_folders import (
    discard_on_failure,
    holds_results,
    new_run_dir,
    remove_stale_temp_files,
    resume_command,
    run_lock,
)


@dataclass(frozen=True)
class CompareOptions:
    """What ``spikerec compare`` is asked to do.

    Attributes
    ----------
    config : CompareConfig
        The comparison; ignored when resuming (the stored one is used).
    resume : path, optional
        The run folder of an interrupted comparison: finish it.
    out : path
        Parent folder of the new run folder.
    jobs : int
        Processes running entries and seeds at once (1: all in this process).
    threads : int
        Torch CPU threads of this process, or with ``jobs > 1`` of each job
        (0: torch's choice in one process, cores / jobs per job).
    progress : bool
        Show a progress bar.
    """

    config: CompareConfig = field(default_factory=CompareConfig)
    resume: str | Path | None = None
    out: str | Path = "runs"
    jobs: int = 1
    threads: int = 0
    progress: bool = True

    def __post_init__(self) -> None:
        if isinstance(self.jobs, bool) or not isinstance(self.jobs, int) or self.jobs < 1:
            raise ParameterError(f"--jobs={self.jobs!r} must be an integer >= 1")
        check_threads(self.threads)

    @property
    def threads_per_job(self) -> int:
        """Torch threads of each worker process when ``jobs > 1``."""
        return self.threads or max(1, (os.cpu_count() or 1) // self.jobs)


@dataclass(frozen=True)
class CompareRun:
    """What ``spikerec compare`` did.

    Attributes
    ----------
    run_dir : Path
        The run folder (new, or the resumed one).
    config : CompareConfig
        The comparison that ran (the stored one when resuming).
    outcome : CompareOutcome
        Per-run results, the summary rows, augmentation records and effects.
    class_names : list of str
        Of the dataset.
    wall_time_s : float
        Time of this invocation in s (a resumed run counts only what it ran).
    """

    run_dir: Path
    config: CompareConfig
    outcome: CompareOutcome
    class_names: list[str]
    wall_time_s: float


def run(options: CompareOptions) -> CompareRun:
    """Run (or resume) a comparison and write its outputs.

    Raises
    ------
    SpikerecError
        Bad settings or data (before a run folder exists), or a failure during the
        run; once the run folder exists the message ends with the resume command.
    KeyboardInterrupt
        On Ctrl-C; its message names the resume command.

    Examples
    --------
    >>> import tempfile
    >>> config = CompareConfig(data="synthetic", entries=("svm-linear",), seeds=(0,),
    ...                        svm_max_train=200)
    >>> done = run(CompareOptions(config, out=tempfile.mkdtemp(), progress=False))
    >>> [row["entry"] for row in done.outcome.rows]
    ['svm-linear']
    >>> (done.run_dir / "report.md").is_file()
    True
    """
    with ExitStack() as stack:
        if options.resume is not None:
            config, dataset, store = _resumed(options.resume)
            stack.enter_context(run_lock(store.run_dir))  # one process per run folder
            remove_stale_temp_files(store.run_dir)  # left by a write that was killed
            note = store.check_data(dataset)  # the data the run started on, or refused
            if note is not None:
                warnings.warn(note, SpikerecWarning, stacklevel=2)
            check_compare_run(config, dataset, jobs=options.jobs)
        else:
            config = options.config
            # Data, split sizes and memory: a bad comparison fails before its folder exists.
            dataset = _first_splits(config)
            check_compare_run(config, dataset, jobs=options.jobs)
            store = CompareStore(new_run_dir(options.out, "compare"))
            # Until an entry finishes the folder holds nothing to resume: a failure removes it.
            stack.enter_context(discard_on_failure(store.run_dir))
            stack.enter_context(run_lock(store.run_dir))
            store.write_config(config)
            store.write_data_fingerprint(dataset)
        return _run_in(store, config, dataset, options)


def _run_in(
    store: CompareStore, config: CompareConfig, dataset: DatasetSplits, options: CompareOptions
) -> CompareRun:
    """Run the comparison into ``store``; a failure's message says what is kept and how
    to resume."""
    run_dir = store.run_dir
    if options.jobs == 1:
        apply_threads(options.threads)  # else each worker sets its own
    started = time.perf_counter()
    try:
        outcome = run_compare(
            config,
            progress=options.progress,
            first_dataset=dataset,
            jobs=options.jobs,
            threads_per_job=options.threads_per_job,
            store=store,
        )
        wall = time.perf_counter() - started
        class_names = list(dataset.class_names)
        write_compare_outputs(run_dir, config, outcome, class_names=class_names, wall_time_s=wall)
        store.mark_complete()  # after every output file: only now is there nothing to resume
    except KeyboardInterrupt as interrupt:
        # Same type (Ctrl-C or SIGTERM), so the exit status stays right.
        raise type(interrupt)(_kept(run_dir, options)) from None
    except SpikerecError as error:
        raise type(error)(f"{error} ({_kept(run_dir, options)})") from error
    except BrokenProcessPool as error:  # a worker was killed (out of memory, a signal)
        raise RunError(f"a worker process died ({error}); {_kept(run_dir, options)}") from error
    except OSError as error:  # disk full, permissions
        raise RunError(f"{error} ({_kept(run_dir, options)})") from error
    return CompareRun(run_dir, config, outcome, class_names, wall)


def _kept(run_dir: Path, options: CompareOptions) -> str:
    """What a failed run leaves: the resume command when an entry finished (or the run
    was resumed), else that no folder is kept (``discard_on_failure`` removes it)."""
    command = resume_command(run_dir)
    if command is not None and (options.resume is not None or holds_results(run_dir)):
        return f"the entries finished so far are kept: {command}"
    return "no entry finished, so no run folder is kept"


def _first_splits(config: CompareConfig) -> DatasetSplits:
    return config.load_splits(config.seeds[0])


def _resumed(run_folder: str | Path) -> tuple[CompareConfig, DatasetSplits, CompareStore]:
    """Config, first splits and store of the comparison run in ``run_folder``."""
    run_dir = Path(run_folder)
    if not run_dir.is_dir():
        raise RunError(f"--resume {str(run_folder)!r} is not a folder")
    store = CompareStore(run_dir)
    if store.is_complete():
        raise RunError(f"the comparison in {str(run_folder)!r} has finished; nothing to resume")
    config = store.read_config()
    return config, _first_splits(config), store

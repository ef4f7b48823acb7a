"""``spikerec train``: train a recogniser into a new run folder, or resume one.

The run folder holds ``config.json``, ``checkpoint.pt`` (rewritten atomically after
every epoch), and at the end ``metrics.json`` and ``training_curve.png``.
"""

from __future__ import annotations

from contextlib import ExitStack
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from spikerec.commands._common import (
    apply_threads,
    check_threads,
    eval_summary,
    save_figure,
    write_json,
)
from spikerec.data.loading import DatasetSplits
from spikerec.errors import ParameterError, TrainingDiverged
from spikerec.run_folders import (
    discard_on_failure,
    new_run_dir,
    remove_stale_temp_files,
    resume_command,
    run_lock,
)
from spikerec.training.checkpoints import save_checkpoint
from spikerec.training.config import TrainConfig, load_splits
from spikerec.training.distributed import (
    Placement,
    all_ranks_ok,
    current_placement,
    init_from_environment,
    leave_process_group,
)
from spikerec.training.loop import TrainResult, train
from spikerec.training.preflight import check_training_run
from spikerec.training.resume import load_for_resume


@dataclass(frozen=True)
class TrainOptions:
    """What ``spikerec train`` is asked to do.

    Attributes
    ----------
    config : TrainConfig
        The run's settings; ignored when resuming (the stored ones are used).
    resume : path, optional
        A run folder or its ``checkpoint.pt``: continue that run in its folder.
    out : path
        Parent folder of the new run folder.
    threads : int
        Torch CPU threads (0: torch's choice).
    progress : bool
        Show progress bars (only rank 0 does under ``torchrun``).
    """

    config: TrainConfig = field(default_factory=TrainConfig)
    resume: str | Path | None = None
    out: str | Path = "runs"
    threads: int = 0
    progress: bool = True

    def __post_init__(self) -> None:
        check_threads(self.threads)


@dataclass(frozen=True)
class TrainRun:
    """What ``spikerec train`` did.

    Attributes
    ----------
    run_dir : Path or None
        The run folder; ``None`` on the ranks other than 0 under ``torchrun``,
        which write and print nothing.
    result : TrainResult
        The best model, its validation and test scores, the training state.
    """

    run_dir: Path | None
    result: TrainResult


def run(options: TrainOptions) -> TrainRun:
    """Train (or resume) as ``options`` say; under ``torchrun`` join its process group.

    Examples
    --------
    >>> import tempfile
    >>> config = TrainConfig(data="synthetic", epochs=1, n_steps=2)
    >>> done = run(TrainOptions(config, out=tempfile.mkdtemp(), progress=False))
    >>> sorted(p.name for p in done.run_dir.iterdir())
    ['checkpoint.pt', 'config.json', 'metrics.json', 'training_curve.png']
    >>> done.result.state.epoch
    1
    """
    apply_threads(options.threads)
    placement = init_from_environment()  # joins torchrun's process group, if any
    try:
        run_dir, result = run_training(
            options.config,
            out_root=options.out,
            resume=options.resume,
            progress=options.progress and placement.is_main,
        )
    finally:
        leave_process_group()
    return TrainRun(run_dir, result)


def run_training(
    config: TrainConfig,
    *,
    out_root: str | Path = "runs",
    resume: str | Path | None = None,
    progress: bool = True,
    dataset: DatasetSplits | None = None,
) -> tuple[Path | None, TrainResult]:
    """Train and write ``config.json``, ``checkpoint.pt``, ``metrics.json`` and
    ``training_curve.png`` into a new run folder (or the folder being resumed).

    Under ``torchrun`` every rank trains and only rank 0 writes; the other ranks
    get ``None`` for the run folder.

    Parameters
    ----------
    resume : path, optional
        A run folder or its ``checkpoint.pt``; training continues from it with the
        configuration stored there (``config`` is then ignored).
    dataset : DatasetSplits, optional
        Already loaded data (else loaded from ``config``).

    Raises
    ------
    TrainingDiverged
        On a NaN or infinite loss or weight; the message says which checkpoint is kept.
    KeyboardInterrupt
        On Ctrl-C; its message says what is kept and how to resume.
    """
    payload, resume_from = None, None
    if resume is not None:
        # Key, config, train_state, dataset description, fingerprint and weights are
        # checked before anything is written (a folder without a checkpoint: the
        # message says how to start the run again).
        resumed = load_for_resume(resume)
        payload, config, run_dir = resumed.payload, resumed.config, resumed.run_dir
        resume_from = resumed.checkpoint
    config = config.resolved()  # config.json records what runs, the recipe's values too
    data = dataset if dataset is not None else load_splits(config)
    # Sizes against memory, images too small for the front end: refused before a
    # folder exists (and before a resumed run loads its weights).
    check_training_run(config, data)
    place = current_placement()
    if not place.is_main:  # under torchrun only rank 0 writes
        if not all_ranks_ok(True, place):
            raise ParameterError("rank 0 could not create the run folder (its error says why)")
        return None, train(
            config, data, resume=payload, progress=False, placement=place, resume_from=resume_from
        )
    with ExitStack() as stack:
        setup_error: Exception | None = None
        try:
            if resume is None:
                run_dir = new_run_dir(out_root, "train")
                # Anything that fails before the first checkpoint takes the folder with it.
                stack.enter_context(discard_on_failure(run_dir))
                write_json(run_dir / "config.json", asdict(config))
            else:
                stack.enter_context(run_lock(run_dir))  # one process per run folder
                remove_stale_temp_files(run_dir)  # left by a write that was killed
        except (OSError, ValueError) as error:
            setup_error = error
        if not all_ranks_ok(setup_error is None, place):
            if setup_error is not None:
                raise setup_error
            raise ParameterError("rank 0 could not create the run folder (its error says why)")
        if resume is None:
            stack.enter_context(run_lock(run_dir))
        result = _train_into(run_dir, config, data, payload, progress, place)
        metrics = {
            "dataset": data.name,
            "epochs_run": result.state.epoch,
            "best_epoch": result.state.best_epoch,
            "evaluated_checkpoint": result.evaluated_checkpoint,
            "best_val_accuracy": result.state.best_val_accuracy,
            "train_time_s": result.state.train_time_s,
            "n_parameters": sum(p.numel() for p in result.model.parameters()),
            "world_size": place.world_size,
            "val": eval_summary(result.val, data.class_names),
            "test": eval_summary(result.test, data.class_names),
            "history": result.state.history,
        }
        write_json(run_dir / "metrics.json", metrics)
        _save_training_curve(run_dir, config, data, result)
    return run_dir, result


def _train_into(
    run_dir: Path,
    config: TrainConfig,
    data: DatasetSplits,
    payload: dict[str, Any] | None,
    progress: bool,
    place: Placement,
) -> TrainResult:
    """Train on rank 0, writing ``checkpoint.pt`` after every epoch; the messages of a
    divergence or an interrupt say what is kept and how to resume."""
    checkpoint_path = run_dir / "checkpoint.pt"
    saved_epochs: list[int] = []
    if payload is not None:
        saved_epochs.append(int(payload["train_state"]["epoch"]))

    def save(content: dict[str, Any]) -> None:
        save_checkpoint(checkpoint_path, content)
        saved_epochs.append(int(content["train_state"]["epoch"]))

    def kept() -> str:
        if saved_epochs:
            return f"the checkpoint of epoch {saved_epochs[-1]} is kept in {checkpoint_path}"
        return "no epoch finished, so no run folder is kept"

    try:
        return train(
            config,
            data,
            checkpoint=save,
            resume=payload,
            progress=progress,
            placement=place,
            resume_from=None if payload is None else checkpoint_path,
        )
    except TrainingDiverged as error:
        raise TrainingDiverged(f"{error}; {kept()}") from None
    except KeyboardInterrupt as interrupt:
        command = resume_command(run_dir) if saved_epochs else None
        resume_hint = f"; continue with: {command}" if command else ""
        # Same type (Ctrl-C or SIGTERM), so the exit status stays right.
        raise type(interrupt)(f"{kept()}{resume_hint}") from None


def _save_training_curve(
    run_dir: Path, config: TrainConfig, data: DatasetSplits, result: TrainResult
) -> None:
    from spikerec.plotting import new_figure, plot_training_curve

    fig, (ax,) = new_figure(figsize=(7.0, 4.0))
    plot_training_curve(result.state.history, ax=ax)
    ax.set_title(
        f"{config.head} head on {data.name}: test accuracy {result.test.accuracy:.4f}",
        fontsize="medium",
    )
    save_figure(fig, run_dir / "training_curve.png")

"""Checks of a checkpoint before a run uses it: every field a resumed run or an evaluation
reads, so a damaged or edited checkpoint fails in one line before anything is written.

:func:`load_for_resume` finds and loads the checkpoint of a run folder and runs
:func:`check_training_payload`; :func:`check_model_payload` is the smaller check for
``evaluate`` and ``trace``. Both refuse NaN or infinite weights naming the file and the
tensor, a ``train_state`` whose counters contradict each other or the config, a
history that is not a list of per-epoch records of numbers, and a config that does not
parse.

Examples
--------
>>> check_train_state({"epoch": -5}, epochs=20, checkpoint="c.pt")
Traceback (most recent call last):
...
spikerec.errors.CheckpointError: checkpoint 'c.pt' has an invalid train_state: missing ...
"""

from __future__ import annotations

import json
import math
import os
import shlex
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any, cast

import torch

from spikerec.data.fingerprint import check_fingerprint
from spikerec.errors import CheckpointError, ParameterError, SpikerecError
from spikerec.recognition.recognizer import Recognizer
from spikerec.training.checkpoints import load_checkpoint
from spikerec.training.config import TrainConfig, build_model
from spikerec.training.epochs import TrainState

#: Keys a training checkpoint holds (``data_fingerprint`` is optional: older ones lack it).
TRAINING_KEYS: tuple[str, ...] = (
    "config",
    "dataset",
    "model",
    "optimizer",
    "scheduler",
    "generator",
    "best_model",
    "train_state",
)
CHECKPOINT_NAME = "checkpoint.pt"


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: object) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def check_finite_tensors(content: object, *, where: str, checkpoint: str) -> None:
    """Refuse NaN or infinite values in any floating-point tensor of ``content``
    (dicts and lists walked), naming the tensor as ``where['key']...``.

    Examples
    --------
    >>> weights = {"head.synapses.weight": torch.tensor([1.0, float("nan")])}
    >>> check_finite_tensors(weights, where="best_model", checkpoint="run/checkpoint.pt")
    Traceback (most recent call last):
    ...
    spikerec.errors.CheckpointError: checkpoint 'run/checkpoint.pt': tensor \
best_model['head.synapses.weight'] holds NaN or infinite values (the run that wrote it \
diverged, or the file was edited)
    """
    if isinstance(content, torch.Tensor):
        if content.is_floating_point() or content.is_complex():
            if content.device.type == "meta" or not bool(torch.isfinite(content).all()):
                raise CheckpointError(
                    f"checkpoint {checkpoint!r}: tensor {where} holds NaN or infinite values "
                    "(the run that wrote it diverged, or the file was edited)"
                )
        return
    if isinstance(content, dict):
        for key, value in content.items():
            check_finite_tensors(value, where=f"{where}[{key!r}]", checkpoint=checkpoint)
    elif isinstance(content, (list, tuple)):
        for i, value in enumerate(content):
            check_finite_tensors(value, where=f"{where}[{i}]", checkpoint=checkpoint)
    elif isinstance(content, float) and not math.isfinite(content):
        raise CheckpointError(f"checkpoint {checkpoint!r}: {where} is {content}")


def check_config(values: object, *, checkpoint: str) -> TrainConfig:
    """The checkpoint's config as a :class:`TrainConfig` (resolved: no field left at
    ``None``), or a one-line CheckpointError."""
    if not isinstance(values, dict):
        raise CheckpointError(
            f"checkpoint {checkpoint!r} has an invalid config (a {type(values).__name__}, "
            "not a dict)"
        )
    try:
        return TrainConfig.from_dict(values).resolved()
    except (TypeError, ValueError) as error:
        text = " ".join(str(error).split())
        raise CheckpointError(f"checkpoint {checkpoint!r} has an invalid config ({text})") from None


def check_train_state(state: object, *, epochs: int, checkpoint: str) -> TrainState:
    """A checkpoint's ``train_state`` as a :class:`TrainState`, if every field is valid
    and consistent.

    Rules: ``0 <= epoch <= epochs``; ``history`` holds one dict of finite numbers per
    finished epoch (``history[i]["epoch"] == i + 1`` where given); ``best_epoch`` is 0
    before the first epoch, else in ``[1, epoch]`` with ``best_val_accuracy`` in
    [0, 1] and equal to that epoch's ``val_accuracy`` where recorded;
    ``0 <= epochs_without_improvement <= epoch - best_epoch``; ``train_time_s`` is a
    finite number >= 0; ``finished`` is a bool.

    Raises
    ------
    CheckpointError
        One line naming the first field that breaks a rule.
    """

    def bad(why: str) -> CheckpointError:
        return CheckpointError(f"checkpoint {checkpoint!r} has an invalid train_state: {why}")

    if not isinstance(state, dict):
        raise bad(f"a {type(state).__name__}, not a dict")
    names = [f.name for f in fields(TrainState)]
    missing = [n for n in names if n not in state]
    unknown = sorted(str(k) for k in state if k not in names)
    if missing:
        raise bad(f"missing {', '.join(missing)}")
    if unknown:
        raise bad(f"unknown field(s) {', '.join(unknown)}")
    epoch = state["epoch"]
    if not _is_int(epoch) or not 0 <= epoch <= epochs:
        raise bad(f"epoch={epoch!r} must be an integer in [0, {epochs}] (the config's epochs)")
    history = state["history"]
    if not isinstance(history, list):
        raise bad(f"history must be a list of per-epoch records, got {type(history).__name__}")
    if len(history) != epoch:
        raise bad(f"history holds {len(history)} records for {epoch} finished epochs")
    for i, row in enumerate(history):
        if not isinstance(row, dict) or not all(isinstance(k, str) for k in row):
            raise bad(f"history[{i}] must be a dict of named numbers, got {type(row).__name__}")
        for key, value in row.items():
            if not _is_number(value) or not math.isfinite(value):
                raise bad(f"history[{i}][{key!r}]={value!r} must be a finite number")
        if "epoch" in row and row["epoch"] != i + 1:
            raise bad(f"history[{i}] is labelled epoch {row['epoch']!r}, expected {i + 1}")
    best_epoch, best = state["best_epoch"], state["best_val_accuracy"]
    if not _is_int(best_epoch) or not _is_number(best) or not math.isfinite(best):
        raise bad(f"best_epoch={best_epoch!r} / best_val_accuracy={best!r} must be numbers")
    if epoch == 0:
        if best_epoch != 0:
            raise bad(f"best_epoch={best_epoch} before any epoch finished")
    else:
        if not 1 <= best_epoch <= epoch:
            raise bad(f"best_epoch={best_epoch} must be in [1, epoch={epoch}]")
        if not 0.0 <= best <= 1.0:
            raise bad(f"best_val_accuracy={best!r} must be in [0, 1]")
        recorded = history[best_epoch - 1].get("val_accuracy")
        if recorded is not None and recorded != best:
            raise bad(
                f"best_val_accuracy={best!r} differs from the val_accuracy {recorded!r} "
                f"recorded for best_epoch {best_epoch}"
            )
    waited = state["epochs_without_improvement"]
    if not _is_int(waited) or not 0 <= waited <= epoch - best_epoch:
        raise bad(
            f"epochs_without_improvement={waited!r} must be an integer in "
            f"[0, epoch - best_epoch = {epoch - best_epoch}]"
        )
    time_s = state["train_time_s"]
    if not _is_number(time_s) or not math.isfinite(time_s) or time_s < 0:
        raise bad(f"train_time_s={time_s!r} must be a finite number >= 0")
    if not isinstance(state["finished"], bool):
        raise bad(f"finished={state['finished']!r} must be true or false")
    return TrainState(**{**state, "history": [dict(row) for row in history]})


def check_dataset_meta(meta: object, *, checkpoint: str) -> dict[str, Any]:
    """A checkpoint's ``dataset`` description, if it names the data and its sizes."""

    def bad(why: str) -> CheckpointError:
        return CheckpointError(
            f"checkpoint {checkpoint!r} has an invalid dataset description: {why}"
        )

    if not isinstance(meta, dict):
        raise bad(f"a {type(meta).__name__}, not a dict")
    for key in ("name", "image_shape", "n_classes"):
        if key not in meta:
            raise bad(f"it lacks {key!r}")
    if not isinstance(meta["name"], str) or not meta["name"]:
        raise bad(f"name={meta['name']!r} must be a dataset name")
    shape = meta["image_shape"]
    if not (
        isinstance(shape, (list, tuple))
        and len(shape) == 3
        and all(_is_int(v) and v > 0 for v in shape)
    ):
        raise bad(f"image_shape={shape!r} must be [C, H, W] of positive integers")
    if not _is_int(meta["n_classes"]) or meta["n_classes"] < 1:
        raise bad(f"n_classes={meta['n_classes']!r} must be a positive integer")
    return meta


def _check_weights(
    config: TrainConfig, meta: dict[str, Any], payload: dict[str, Any], keys: tuple[str, ...],
    checkpoint: str,
) -> Recognizer:  # fmt: skip
    """Each state dict in ``keys`` fits the model the config and data describe, and is
    finite; return that model, holding the weights of the last key."""
    try:
        model = build_model(
            config, in_channels=int(meta["image_shape"][0]), n_classes=int(meta["n_classes"])
        )
    except SpikerecError as error:
        raise CheckpointError(
            f"checkpoint {checkpoint!r} describes no usable model ({error})"
        ) from None
    for key in keys:
        weights = payload[key]
        if not isinstance(weights, dict):
            raise CheckpointError(
                f"checkpoint {checkpoint!r}: {key} is a {type(weights).__name__}, not weights"
            )
        check_finite_tensors(weights, where=key, checkpoint=checkpoint)
        try:
            model.load_state_dict(weights)
        except (RuntimeError, TypeError, ValueError, KeyError) as error:
            first = str(error).strip().splitlines()[0] if str(error).strip() else ""
            raise CheckpointError(
                f"checkpoint {checkpoint!r}: {key} does not fit the model its config "
                f"describes ({first[:160]})"
            ) from None
    return model


def check_training_payload(payload: object, *, checkpoint: str) -> TrainConfig:
    """Check everything :func:`spikerec.training.loop.train` reads from a resumed payload.

    Returns
    -------
    TrainConfig
        The run's config.

    Raises
    ------
    CheckpointError
        One line naming the file and the first problem: a missing key, a config that
        does not parse, an invalid ``train_state`` (:func:`check_train_state`), a
        malformed dataset description or fingerprint, weights that do not fit the
        model or hold NaN or infinite values (named), a malformed optimizer state or
        generator state.
    """
    if not isinstance(payload, dict):
        raise CheckpointError(f"checkpoint {checkpoint!r} is not a training checkpoint")
    for key in TRAINING_KEYS:
        if key not in payload:
            raise CheckpointError(
                f"checkpoint {checkpoint!r} lacks the key {key!r} of a training run"
            )
    config = check_config(payload["config"], checkpoint=checkpoint)
    meta = check_dataset_meta(payload["dataset"], checkpoint=checkpoint)
    check_train_state(
        payload["train_state"], epochs=cast(int, config.epochs), checkpoint=checkpoint
    )
    if payload.get("data_fingerprint") is not None:
        check_fingerprint(payload["data_fingerprint"], checkpoint=checkpoint)
    _check_weights(config, meta, payload, ("model", "best_model"), checkpoint)
    optimizer = payload["optimizer"]
    if not (
        isinstance(optimizer, dict)
        and isinstance(optimizer.get("state"), dict)
        and isinstance(optimizer.get("param_groups"), list)
    ):
        raise CheckpointError(f"checkpoint {checkpoint!r} has a malformed optimizer state")
    check_finite_tensors(optimizer, where="optimizer", checkpoint=checkpoint)
    if not isinstance(payload["scheduler"], dict):
        raise CheckpointError(f"checkpoint {checkpoint!r} has a malformed scheduler state")
    generator = payload["generator"]
    if not (
        isinstance(generator, torch.Tensor) and generator.dtype == torch.uint8
        and generator.dim() == 1
    ):  # fmt: skip
        raise CheckpointError(f"checkpoint {checkpoint!r} has a malformed random generator state")
    return config


def check_model_payload(payload: object, *, checkpoint: str) -> tuple[TrainConfig, dict[str, Any]]:
    """Check what ``evaluate`` and ``trace`` read: config, dataset description, best weights.

    Returns
    -------
    (TrainConfig, dict)
        The config and the dataset description (``name``, ``image_shape``,
        ``n_classes``, ...).

    Raises
    ------
    CheckpointError
        As :func:`check_training_payload`, for those keys.
    """
    _, config, meta = checked_model(payload, checkpoint=checkpoint)
    return config, meta


def checked_model(
    payload: object, *, checkpoint: str
) -> tuple[Recognizer, TrainConfig, dict[str, Any]]:
    """:func:`check_model_payload`, and the model it built to check the weights, holding
    ``best_model`` (:func:`spikerec.training.trained_model.load_model` uses it, so the
    checked model is the one returned, built once)."""
    if not isinstance(payload, dict):
        raise CheckpointError(f"checkpoint {checkpoint!r} is not a spikerec model")
    for key in ("config", "dataset", "best_model"):
        if key not in payload:
            raise CheckpointError(
                f"checkpoint {checkpoint!r} is not a usable spikerec model: missing key {key!r}"
            )
    config = check_config(payload["config"], checkpoint=checkpoint)
    meta = check_dataset_meta(payload["dataset"], checkpoint=checkpoint)
    if payload.get("data_fingerprint") is not None:
        check_fingerprint(payload["data_fingerprint"], checkpoint=checkpoint)
    model = _check_weights(config, meta, payload, ("best_model",), checkpoint)
    return model, config, meta


def start_again_command(config: TrainConfig, out_root: str | os.PathLike[str]) -> str:
    """The ``spikerec train`` command line that starts ``config`` anew under ``out_root``:
    the flags that differ from the defaults.

    Examples
    --------
    >>> start_again_command(TrainConfig(data="digits", n_steps=10, epochs=3), "runs")
    'spikerec train --n-steps 10 --epochs 3 --out runs'
    """
    # The recipe's values of the config's own data are defaults too (no flag needed).
    defaults = {**asdict(TrainConfig(data=config.data).resolved()), "data": TrainConfig().data}
    flags = []
    for name, value in asdict(config).items():
        if value != defaults[name] and value is not None:
            flags.append(f"--{name.replace('_', '-')} {shlex.quote(str(value))}")
    return " ".join(["spikerec train", *flags, "--out", shlex.quote(str(out_root))])


@dataclass(frozen=True)
class ResumeRun:
    """A checked checkpoint of a run to resume, and where it lives.

    Attributes
    ----------
    run_dir : Path
        The run folder (the run goes on writing there).
    checkpoint : Path
        ``run_dir / "checkpoint.pt"``.
    payload : dict
        What :func:`spikerec.training.loop.train` takes as ``resume``.
    config : TrainConfig
        The run's config.
    """

    run_dir: Path
    checkpoint: Path
    payload: dict[str, Any]
    config: TrainConfig


def load_for_resume(resume: str | os.PathLike[str]) -> ResumeRun:
    """Find, load and check the checkpoint of the run ``resume`` names.

    Parameters
    ----------
    resume : path
        A run folder or its ``checkpoint.pt``.

    Raises
    ------
    CheckpointError
        The folder has no checkpoint (the message says whether the run stopped before
        its first epoch finished, and then how to start it again), or the checkpoint
        fails :func:`spikerec.training.checkpoints.load_checkpoint` or
        :func:`check_training_payload`.
    ParameterError
        ``resume`` is a file other than ``checkpoint.pt``: the run would go on
        writing a different file.

    Examples
    --------
    >>> import tempfile, json
    >>> from pathlib import Path
    >>> run = Path(tempfile.mkdtemp()) / "train-20250101-000000"
    >>> run.mkdir()
    >>> _ = (run / "config.json").write_text(json.dumps(asdict(TrainConfig(epochs=3))))
    >>> load_for_resume(run)
    Traceback (most recent call last):
    ...
    spikerec.errors.CheckpointError: run folder ... holds no checkpoint.pt: the run stopped \
before its first epoch finished, so there is nothing to resume; start it again: spikerec \
train --epochs 3 --out ...
    """
    path = Path(resume)
    if path.is_dir():
        run_dir, checkpoint = path, path / CHECKPOINT_NAME
    else:
        run_dir, checkpoint = path.parent, path
    if not checkpoint.is_file() and (run_dir / "config.json").is_file():
        restart = ""
        try:
            values = json.loads((run_dir / "config.json").read_text(encoding="utf-8"))
            restart = f": {start_again_command(TrainConfig.from_dict(values), run_dir.parent)}"
        except (OSError, ValueError, TypeError):
            restart = f" with the settings in {run_dir / 'config.json'}"
        raise CheckpointError(
            f"run folder {str(run_dir)!r} holds no {CHECKPOINT_NAME}: the run stopped before "
            f"its first epoch finished, so there is nothing to resume; start it again{restart}"
        )
    payload = load_checkpoint(checkpoint)
    config = check_training_payload(payload, checkpoint=str(checkpoint))
    # After the content checks: a damaged file is reported as such, whatever its name.
    if checkpoint.name != CHECKPOINT_NAME:
        raise ParameterError(
            f"--resume takes a run folder or its checkpoint.pt, not {str(path)!r}: "
            f"the run would go on writing {run_dir / CHECKPOINT_NAME}, another file"
        )
    return ResumeRun(run_dir=run_dir, checkpoint=checkpoint, payload=payload, config=config)

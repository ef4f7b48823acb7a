"""Surrogate-gradient training: back-propagation through time, early stopping, checkpoints.

One driver, :func:`train`, trains a recogniser on the epoch loop of
:mod:`spikerec.training.epochs`; the membrane math stays in :mod:`spikerec.lif.step`.
Every random draw (initialisation, shuffling, stochastic encoders) comes from one
``torch.Generator`` seeded by the config, and its state is checkpointed, so a seed
reproduces a run and a resumed run continues exactly where it stopped.

The configuration lives in :mod:`spikerec.training.config` and the scores in
:mod:`spikerec.training.evaluation`; their names are importable from here too.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any, cast

import torch
from torch import nn
from torch.nn import functional as F

from spikerec.data.fingerprint import check_resume_data, data_fingerprint
from spikerec.errors import ParameterError, SpikerecWarning, TrainingDiverged
from spikerec.recognition.recognizer import Recognizer, RecognizerOutput, init_parameters
from spikerec.training.batch_norm import CALIBRATION_IMAGES, recalibrate_batch_norm
from spikerec.training.checkpoints import CheckpointError
from spikerec.training.config import (
    LEGACY_DEFAULTS,
    LOSSES,
    ONLINE_AUGMENTS,
    OPTIMIZERS,
    SCHEDULES,
    TrainConfig,
    build_model,
    load_splits,
)
from spikerec.training.distributed import (
    Placement,
    current_placement,
    loss_scale,
    shard,
    sum_over_ranks,
)
from spikerec.training.divergence import diverged_if_nonfinite
from spikerec.training.epochs import BatchTotals, TrainState, run_epochs, snapshot
from spikerec.training.evaluation import (
    EvalResult,
    confusion_matrix,
    eval_generator,
    evaluate,
    predict,
    score_split,
)
from spikerec.training.output_init import OUTPUT_INITS
from spikerec.training.resume import check_train_state
from spikerec.training.weight_average import WEIGHT_AVERAGES, steps_per_epoch

__all__ = [
    "LEGACY_DEFAULTS",
    "LOSSES",
    "OPTIMIZERS",
    "SCHEDULES",
    "EvalResult",
    "TrainConfig",
    "TrainResult",
    "TrainState",
    "build_model",
    "confusion_matrix",
    "dataset_meta",
    "eval_generator",
    "evaluate",
    "load_splits",
    "loss_of",
    "predict",
    "train",
]


def loss_of(output: RecognizerOutput, labels: torch.Tensor, config: TrainConfig) -> torch.Tensor:
    """Training loss of one batch: cross-entropy (label smoothing ``config.label_smoothing``)
    of the class scores ``config.loss`` names, plus firing-rate regularisation."""
    head = output.head
    smoothing = config.label_smoothing
    if head.spikes is None:
        return F.cross_entropy(head.logits, labels, label_smoothing=smoothing)
    loss = F.cross_entropy(LOSSES.get(config.loss)(head), labels, label_smoothing=smoothing)
    if config.rate_reg > 0:
        loss = loss + config.rate_reg * (head.spikes.mean() - config.rate_target) ** 2
    return loss


def _check_finite_weights(model: nn.Module, epoch: int, step: int) -> None:
    parameters = list(model.named_parameters())
    # One reduction (one device sync) for the common case, names only on a fault.
    if bool(torch.stack([torch.isfinite(p).all() for _, p in parameters]).all()):
        return
    for name, parameter in parameters:
        if not bool(torch.isfinite(parameter).all()):
            raise TrainingDiverged(
                f"training diverged at epoch {epoch}, step {step}: weight {name!r} became "
                "NaN or infinite (try a lower --lr)"
            )


def _optimizer(model: nn.Module, config: TrainConfig) -> torch.optim.Optimizer:
    return OPTIMIZERS.get(config.optimizer)(model.parameters(), config)


def _scheduler(optimizer: torch.optim.Optimizer, config: TrainConfig):
    return SCHEDULES.get(config.schedule)(optimizer, config)


@dataclass(frozen=True)
class TrainResult:
    """Outcome of :func:`train`: the best model (by validation accuracy) and its scores.

    Attributes
    ----------
    model : Recognizer
        Weights of the epoch with the best validation accuracy, in ``eval()`` mode
        (BatchNorm uses the statistics stored with them), as
        :func:`spikerec.training.trained_model.load_model` returns it.
    config : TrainConfig
    state : TrainState
        Epochs run, ``history`` (one dict per epoch: losses, accuracies, time in s),
        best epoch, training time in s.
    test, val : EvalResult
        Scores of ``model`` on the test and validation splits.

    Examples
    --------
    See :func:`train`.
    """

    model: Recognizer
    config: TrainConfig
    state: TrainState
    test: EvalResult
    val: EvalResult

    @property
    def evaluated_checkpoint(self) -> str:
        """Which weights ``model``, ``test`` and ``val`` are: ``"best validation epoch N"``."""
        return f"best validation epoch {self.state.best_epoch}"


def train(
    config: TrainConfig,
    dataset: Any,
    *,
    checkpoint: Callable[[dict[str, Any]], None] | None = None,
    resume: dict[str, Any] | None = None,
    progress: bool = True,
    placement: Placement | None = None,
    resume_from: str | os.PathLike[str] | None = None,
) -> TrainResult:
    """Train a recogniser with back-propagation through time and early stopping.

    Parameters
    ----------
    config : TrainConfig
    dataset : spikerec.data.loading.DatasetSplits
        Normalised train / val / test splits.
    checkpoint : callable, optional
        Called with the checkpoint payload after every epoch (and at the end),
        for example ``lambda p: save_checkpoint(run_dir / "checkpoint.pt", p)``.
    resume : dict, optional
        A payload previously handed to ``checkpoint``: training continues from it.
    resume_from : path, optional
        The file ``resume`` was read from, named in the messages about it.
    progress : bool
        Show tqdm progress bars with loss and accuracy.
    placement : Placement, optional
        Rank, world size and device (default: from the initialised process group,
        else one CPU process; see :mod:`spikerec.training.distributed`). With several ranks
        the model is wrapped in ``DistributedDataParallel`` and every global batch
        of ``config.batch_size`` images is split among the ranks; a last batch with
        fewer images than ranks is skipped.

    Returns
    -------
    TrainResult
        With the model of the best validation epoch and its test scores.

    Raises
    ------
    TrainingDiverged
        When the loss or a weight becomes NaN or infinite; the message names the
        epoch and step. The checkpoint of the last finished epoch is untouched.

    Examples
    --------
    One epoch of a LIF head with T = 5 steps on the embedded ``synthetic`` set:

    >>> from spikerec import load_dataset
    >>> ds = load_dataset("synthetic", seed=0)
    >>> config = TrainConfig(data="synthetic", head="lif", n_steps=5, epochs=1)
    >>> result = train(config, ds, progress=False)
    >>> result.state.epoch, sorted(result.state.history[0])[:3]
    (1, ['epoch', 'lr', 'time_s'])
    >>> 0.0 <= result.test.accuracy <= 1.0
    True
    """
    config = config.resolved()  # the dataset's recipe for fields left at None
    epochs, patience = cast(int, config.epochs), cast(int, config.patience)
    place = current_placement() if placement is None else placement
    if place.distributed and config.encoder == "rate":
        # Its draws would differ by rank and, through the one generator of the run,
        # pull the ranks' shuffles apart.
        raise ParameterError(
            "the 'rate' encoder draws random spikes from the run's generator and is not "
            "supported under torchrun; use the 'lif' or 'latency' encoder"
        )
    in_channels, n_classes = dataset.image_shape[0], dataset.n_classes
    model = build_model(config, in_channels=in_channels, n_classes=n_classes)
    generator = torch.Generator().manual_seed(config.seed)
    init_parameters(model, generator)
    model.to(place.device)
    if place.distributed and place.device.type == "cuda":
        # Each rank holds a share of the batch: BatchNorm normalises by the whole
        # batch's statistics, as one process would (same parameters and buffers).
        # torch's SyncBatchNorm runs on GPUs only; CPU ranks normalise their own share.
        nn.SyncBatchNorm.convert_sync_batchnorm(model)
    output_init = OUTPUT_INITS.get(config.output_init)
    if output_init is not None and config.head == "lif" and resume is None:
        # Deterministic (the first training images; its own generator for a stochastic
        # encoder), so the run's generator stream is untouched and every rank agrees.
        output_init(
            model,
            dataset.train.images[: config.batch_size].to(place.device),
            generator=torch.Generator(device=place.device).manual_seed(config.seed + 104729),
        )
    averaging = WEIGHT_AVERAGES.get(config.weight_average)
    averaged = None
    if averaging is not None:
        n_train = dataset.train.images.shape[0]
        averaged = averaging(model, steps_per_epoch(n_train, config.batch_size))
    # Validation, the best epoch and the checkpoint's best_model score these weights.
    scored = model if averaged is None else cast(Recognizer, averaged.module)
    optimizer = _optimizer(model, config)
    scheduler = _scheduler(optimizer, config)
    state = TrainState()
    best_weights = snapshot(model)

    fingerprint = data_fingerprint(dataset)
    resumed_name = "the resumed run" if resume_from is None else str(resume_from)
    if resume is not None:
        # Refuses data that differ from the run's (a checkpoint without a fingerprint
        # predates them: the command warns about it).
        if isinstance(resume, dict):
            note = check_resume_data(
                resume.get("data_fingerprint"), dataset, checkpoint=resumed_name
            )
            if note is not None:
                warnings.warn(note, SpikerecWarning, stacklevel=2)
        try:
            model.load_state_dict(resume["model"])
            model.to(place.device)
            optimizer.load_state_dict(resume["optimizer"])
            scheduler.load_state_dict(resume["scheduler"])
            generator.set_state(resume["generator"])
            if averaged is not None:
                averaged.load_state_dict(resume["averaged_model"])
            best_weights = dict(resume["best_model"])
            state = TrainState(**resume["train_state"])
        except (KeyError, RuntimeError, ValueError, TypeError) as error:
            first = str(error).strip().splitlines()[0] if str(error).strip() else ""
            raise CheckpointError(
                f"checkpoint does not match this model and data ({first[:160]})"
            ) from None
        # A tampered train_state (epoch -5, a history that is a string) is refused now,
        # not after an epoch has run.
        check_train_state(asdict(state), epochs=epochs, checkpoint=resumed_name)

    def payload() -> dict[str, Any]:
        return {
            "config": asdict(config),
            "dataset": dataset_meta(dataset),
            "model": model.state_dict(),
            "optimizer": optimizer.state_dict(),
            "scheduler": scheduler.state_dict(),
            "generator": generator.get_state(),
            "best_model": dict(best_weights),
            **({} if averaged is None else {"averaged_model": averaged.state_dict()}),
            "train_state": asdict(state),
            "data_fingerprint": fingerprint,
        }

    train_x, train_y = dataset.train.images, dataset.train.labels
    augment = ONLINE_AUGMENTS.get(config.online_augment)
    stepper: nn.Module = model
    if place.distributed:
        stepper = nn.parallel.DistributedDataParallel(
            model, device_ids=[place.device.index] if place.device.type == "cuda" else None
        )

    def train_batch(index: torch.Tensor, epoch: int, step: int) -> BatchTotals | None:
        if index.numel() < place.world_size:
            return None  # every rank needs an image; only a last, tiny batch is short
        local = shard(index, place)
        if augment is not None:
            # The whole global batch is moved on every rank (same draws, so the
            # ranks' generators stay in step); each rank keeps its share.
            moved = augment(train_x[index], dataset.mean, dataset.std, generator=generator)
            images = shard(moved, place).to(place.device)
        else:
            images = train_x[local].to(place.device)
        labels = train_y[local].to(place.device)
        with diverged_if_nonfinite(epoch, step):  # weights too large for the data
            output = stepper(images, generator)
        loss = loss_of(output, labels, config)
        # Single process: stop before a NaN reaches the weights. With several
        # ranks a rank's loss is its own; the all-reduced weights (checked
        # below) show a fault on every rank at once.
        if not place.distributed and not bool(torch.isfinite(loss)):
            raise TrainingDiverged(
                f"training diverged at epoch {epoch}, step {step}: the loss is "
                f"{float(loss.detach())} (try a lower --lr)"
            )
        scale = loss_scale(labels.shape[0], index.numel(), place)
        optimizer.zero_grad(set_to_none=True)
        (loss * scale if scale != 1.0 else loss).backward()
        optimizer.step()
        _check_finite_weights(model, epoch, step)
        if averaged is not None:
            averaged.update_parameters(model)
        prediction, _ = predict(output, config.decoder)
        return BatchTotals(
            float(loss.detach()) * labels.shape[0],
            int((prediction == labels).sum()),
            labels.shape[0],
        )

    def validate(net: Recognizer) -> EvalResult:
        with diverged_if_nonfinite(state.epoch + 1):
            return score_split(net, dataset.val, config, n_classes)

    calibration_images = train_x[:CALIBRATION_IMAGES].to(place.device)  # moved once

    def validate_epoch() -> EvalResult:
        # BatchNorm statistics for the weights the epoch ended with (a no-op without
        # BatchNorm): validation, the best epoch and the checkpoint all score them.
        recalibrate_batch_norm(scored.frontend, calibration_images)
        return validate(scored)

    run_epochs(
        model,
        state,
        best_weights,
        epochs=epochs,
        patience=patience,
        batch_size=config.batch_size,
        n_train=train_x.shape[0],
        generator=generator,
        scheduler=scheduler,
        train_batch=train_batch,
        validate=validate_epoch,
        reduce=lambda totals: BatchTotals(*sum_over_ranks([float(v) for v in totals], place)),  # type: ignore[arg-type]
        on_epoch_end=None if checkpoint is None else lambda: checkpoint(payload()),
        progress=progress,
        kept=scored,
    )

    model.load_state_dict(best_weights)
    # Ready for inference: in train mode the front end's BatchNorm would normalise
    # each call's images by their own statistics.
    model.eval()
    val = validate(model)
    test = score_split(model, dataset.test, config, n_classes)
    if checkpoint is not None:
        checkpoint(payload())
    return TrainResult(model=model, config=config, state=state, test=test, val=val)


def dataset_meta(dataset: Any) -> dict[str, Any]:
    """What a checkpoint records of its dataset: enough to check a new dataset fits."""
    return {
        "name": dataset.name,
        "image_shape": list(dataset.image_shape),
        "n_classes": dataset.n_classes,
        "mean": list(dataset.mean),
        "std": list(dataset.std),
        "class_names": list(dataset.class_names),
    }

"""Surrogate-gradient training: back-propagation through time, early stopping, checkpoints.

One driver, :func:`train`, loops over epochs and mini-batches; the membrane math
stays in :mod:`spikerec.lif.step`. Every random draw (initialisation, shuffling,
stochastic encoders) comes from one ``torch.Generator`` seeded by the config, and
its state is checkpointed, so a seed reproduces a run and a resumed run continues
exactly where it stopped.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, fields
from typing import Any

import torch
from torch import nn
from torch.nn import functional as F
from tqdm.auto import tqdm

from spikerec.data.fingerprint import check_resume_data, data_fingerprint
from spikerec.errors import ParameterError, TrainingDiverged
from spikerec.lif.integrators import INTEGRATORS, get_integrator
from spikerec.lif.params import RESET_MODES, LIFParams
from spikerec.lif.surrogates import SURROGATES
from spikerec.recognition.decoders import DECODERS, decode
from spikerec.recognition.encoders import ENCODERS
from spikerec.recognition.recognizer import (
    HEADS,
    Recognizer,
    RecognizerOutput,
    build_recognizer,
    init_parameters,
)
from spikerec.training.checkpoints import CheckpointError
from spikerec.training.distributed import (
    Placement,
    current_placement,
    loss_scale,
    shard,
    sum_over_ranks,
)
from spikerec.training.divergence import diverged_if_nonfinite
from spikerec.validation import fits_float32

LOSSES: tuple[str, ...] = ("count", "membrane")
OPTIMIZERS: tuple[str, ...] = ("adam", "sgd")
SCHEDULES: tuple[str, ...] = ("cosine", "step", "none")
_FLOAT32_FIELDS = (
    "tau_mem_ms",
    "v_th",
    "lr",
    "momentum",
    "weight_decay",
    "rate_reg",
    "rate_target",
)


def _choice(name: str, value: object, valid: tuple[str, ...] | list[str]) -> None:
    if value not in valid:
        raise ParameterError(f"unknown {name} {value!r}; valid: {', '.join(valid)}")


@dataclass(frozen=True)
class TrainConfig:
    """Everything that defines a training run (JSON-serialisable).

    Attributes
    ----------
    data : str
        Dataset name (see :func:`spikerec.data.loading.load_dataset`).
    head : {"lif", "rate-softmax", "softmax"}
    encoder : {"rate", "latency", "lif"}
        V4 spike encoder (spiking heads only).
    n_steps : int
        Time steps T of the spiking part.
    integrator, surrogate : str
        Of the LIF output neurons.
    tau_mem_ms, v_th, reset
        Output-neuron parameters; ``dt_ms`` is 1 ms and ``r_m`` is 1, so a synaptic
        weight w makes the membrane jump by ``w / tau_mem_ms``.
    loss : {"count", "membrane"}
        Cross-entropy on output spike counts, or on the peak output membrane
        potentials, through a softmax (LIF head).
    decoder : {"count", "max-membrane", "first-spike"}
        How the LIF head's output becomes a class for accuracy.
    rate_reg, rate_target : float
        Weight of ``(mean output spikes per step - rate_target)^2`` in the loss.
    optimizer : {"adam", "sgd"}
        SGD uses ``momentum``.
    lr, momentum, weight_decay : float
    schedule : {"cosine", "step", "none"}
        Learning-rate schedule over ``epochs``.
    batch_size, epochs : int
    patience : int
        Early stopping: epochs without a better validation accuracy before stopping.
    seed : int
        Seeds the splits, the initialisation, shuffling and stochastic encoders.
    val_fraction, test_fraction : float
        Split sizes for datasets without an official test split.
    data_root : str or None
        Folder of downloaded datasets.

    Examples
    --------
    >>> config = TrainConfig(data="synthetic", head="lif", n_steps=5, epochs=1)
    >>> config.head_params()
    LIFParams(tau_mem_ms=10.0, dt_ms=1.0, ...)
    >>> TrainConfig(head="svm")
    Traceback (most recent call last):
    ...
    spikerec.errors.ParameterError: unknown head 'svm'; valid: lif, rate-softmax, softmax
    """

    data: str = "digits"
    head: str = "lif"
    encoder: str = "lif"
    n_steps: int = 25
    integrator: str = "exact"
    surrogate: str = "fast_sigmoid"
    tau_mem_ms: float = 10.0
    v_th: float = 1.0
    reset: str = "subtract"
    loss: str = "count"
    decoder: str = "count"
    rate_reg: float = 0.0
    rate_target: float = 0.2
    optimizer: str = "adam"
    lr: float = 2e-3
    momentum: float = 0.9
    weight_decay: float = 0.0
    schedule: str = "cosine"
    batch_size: int = 64
    epochs: int = 20
    patience: int = 5
    seed: int = 0
    val_fraction: float = 0.1
    test_fraction: float = 0.2
    data_root: str | None = None

    def __post_init__(self) -> None:
        _choice("head", self.head, HEADS)
        _choice("encoder", self.encoder, list(ENCODERS))
        _choice("integrator", self.integrator, list(INTEGRATORS))
        _choice("surrogate", self.surrogate, list(SURROGATES))
        _choice("reset", self.reset, RESET_MODES)
        _choice("loss", self.loss, LOSSES)
        _choice("decoder", self.decoder, DECODERS)
        _choice("optimizer", self.optimizer, OPTIMIZERS)
        _choice("schedule", self.schedule, SCHEDULES)
        for name in ("n_steps", "batch_size", "epochs"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ParameterError(f"{name}={value!r} must be a positive integer")
        for name in ("patience", "seed"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise ParameterError(f"{name}={value!r} must be an integer >= 0")
        for name in ("lr", "tau_mem_ms"):
            value = getattr(self, name)
            if not (isinstance(value, (int, float)) and math.isfinite(value) and value > 0):
                raise ParameterError(f"{name}={value!r} must be a finite number > 0")
        for name in ("momentum", "weight_decay", "rate_reg", "rate_target"):
            value = getattr(self, name)
            if not (isinstance(value, (int, float)) and math.isfinite(value) and value >= 0):
                raise ParameterError(f"{name}={value!r} must be a finite number >= 0")
        # Validates tau_mem_ms, v_th and reset together, and the integrator against them.
        get_integrator(self.integrator).validate(self.head_params())
        for name in _FLOAT32_FIELDS:  # run in float32: refuse what overflows there
            fits_float32(name, getattr(self, name), reciprocal=name == "tau_mem_ms")

    def head_params(self) -> LIFParams:
        """Parameters of the output LIF neurons."""
        return LIFParams(
            tau_mem_ms=self.tau_mem_ms,
            dt_ms=1.0,
            r_m=1.0,
            v_th=self.v_th,
            reset=self.reset,
        )  # type: ignore[arg-type]

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> TrainConfig:
        """Config from a dict such as ``asdict(config)``; unknown keys are an error."""
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise ParameterError(f"unknown config field(s): {', '.join(unknown)}")
        return cls(**values)


@dataclass(frozen=True)
class EvalResult:
    """Scores of a model on one split.

    Attributes
    ----------
    accuracy : float
        Fraction of correct predictions; a silent output layer is never class 0.
    silent_fraction : float
        Fraction of images on which no output neuron spiked (LIF head).
    predictions, labels : Tensor [N]
    confusion : Tensor [C, C]
        Row = true class, column = predicted class.

    Examples
    --------
    >>> import torch
    >>> confusion = torch.tensor([[3, 1], [0, 4]])
    >>> labels = torch.tensor([0, 0, 0, 0, 1, 1, 1, 1])
    >>> predictions = torch.tensor([0, 0, 0, 1, 1, 1, 1, 1])
    >>> result = EvalResult(0.875, 0.0, predictions, labels, confusion)
    >>> result.per_class_accuracy()
    [0.75, 1.0]
    """

    accuracy: float
    silent_fraction: float
    predictions: torch.Tensor
    labels: torch.Tensor
    confusion: torch.Tensor

    def per_class_accuracy(self) -> list[float]:
        """Recall of each class (NaN for a class absent from the split)."""
        totals = self.confusion.sum(dim=1)
        return [
            float(self.confusion[c, c] / totals[c]) if totals[c] > 0 else math.nan
            for c in range(self.confusion.shape[0])
        ]


def build_model(config: TrainConfig, *, in_channels: int, n_classes: int) -> Recognizer:
    """The recogniser a config describes (parameters not yet initialised from the seed)."""
    return build_recognizer(
        config.head,
        in_channels=in_channels,
        n_classes=n_classes,
        encoder=config.encoder,
        n_steps=config.n_steps,
        integrator=config.integrator,
        surrogate=config.surrogate,
        head_params=config.head_params(),
    )


def loss_of(output: RecognizerOutput, labels: torch.Tensor, config: TrainConfig) -> torch.Tensor:
    """Training loss of one batch: cross-entropy (+ firing-rate regularisation)."""
    head = output.head
    if head.spikes is None:
        return F.cross_entropy(head.logits, labels)
    scores = head.logits if config.loss == "count" else head.membrane.amax(dim=0)
    loss = F.cross_entropy(scores, labels)
    if config.rate_reg > 0:
        loss = loss + config.rate_reg * (head.spikes.mean() - config.rate_target) ** 2
    return loss


def predict(output: RecognizerOutput, decoder: str) -> tuple[torch.Tensor, torch.Tensor]:
    """Predicted classes ``[B]`` and silent flags ``[B]`` of one forward pass."""
    head = output.head
    if head.spikes is None:
        prediction = head.logits.argmax(dim=1)
        return prediction, torch.zeros_like(prediction, dtype=torch.bool)
    decoded = decode(head.spikes, head.membrane, decoder)
    return decoded.prediction, decoded.silent


@torch.no_grad()
def evaluate(
    model: Recognizer,
    images: torch.Tensor,
    labels: torch.Tensor,
    *,
    n_classes: int,
    decoder: str = "count",
    batch_size: int = 256,
    generator: torch.Generator | None = None,
) -> EvalResult:
    """Accuracy, silent fraction and confusion matrix of ``model`` on ``images [N, C, H, W]``.

    Parameters
    ----------
    model : Recognizer
    images : Tensor [N, C, H, W]
        Normalised images (as in :class:`spikerec.data.loading.Split`).
    labels : Tensor [N]
        Class indices, int64.
    n_classes : int
        Number of classes C (size of the confusion matrix).
    decoder : {"count", "max-membrane", "first-spike"}
        How the LIF head's output becomes a class (ignored by the softmax heads).
    batch_size : int
        Images per forward pass.
    generator : torch.Generator, optional
        Drives stochastic encoders, for reproducible scores.

    Returns
    -------
    EvalResult

    Examples
    --------
    >>> from spikerec import build_recognizer, load_dataset
    >>> ds = load_dataset("synthetic", seed=0)
    >>> model = build_recognizer("lif", in_channels=1, n_classes=ds.n_classes, n_steps=5)
    >>> result = evaluate(model, ds.test.images, ds.test.labels, n_classes=ds.n_classes)
    >>> result.confusion.shape, 0.0 <= result.accuracy <= 1.0
    (torch.Size([10, 10]), True)
    """
    was_training = model.training
    model.eval()
    device = next(model.parameters()).device
    predictions, silents = [], []
    for start in range(0, images.shape[0], batch_size):
        output = model(images[start : start + batch_size].to(device), generator)
        prediction, silent = predict(output, decoder)
        predictions.append(prediction.cpu())
        silents.append(silent.cpu())
    model.train(was_training)
    prediction = torch.cat(predictions)
    silent = torch.cat(silents)
    confusion = torch.zeros(n_classes, n_classes, dtype=torch.int64)
    confusion.index_put_((labels, prediction), torch.ones_like(labels), accumulate=True)
    return EvalResult(
        accuracy=float((prediction == labels).float().mean()),
        silent_fraction=float(silent.float().mean()),
        predictions=prediction,
        labels=labels.clone(),
        confusion=confusion,
    )


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
    if config.optimizer == "adam":
        return torch.optim.Adam(model.parameters(), lr=config.lr, weight_decay=config.weight_decay)
    return torch.optim.SGD(
        model.parameters(), lr=config.lr, momentum=config.momentum, weight_decay=config.weight_decay
    )


def _scheduler(optimizer: torch.optim.Optimizer, config: TrainConfig):
    if config.schedule == "cosine":
        return torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=config.epochs)
    if config.schedule == "step":
        return torch.optim.lr_scheduler.StepLR(
            optimizer, step_size=max(1, config.epochs // 3), gamma=0.3
        )
    return torch.optim.lr_scheduler.LambdaLR(optimizer, lambda epoch: 1.0)


@dataclass
class TrainState:
    """Mutable progress of a run; what a checkpoint stores besides the weights."""

    epoch: int = 0
    history: list[dict[str, float]] = field(default_factory=list)
    best_val_accuracy: float = -1.0
    best_epoch: int = 0
    epochs_without_improvement: int = 0
    train_time_s: float = 0.0
    finished: bool = False


@dataclass(frozen=True)
class TrainResult:
    """Outcome of :func:`train`: the best model (by validation accuracy) and its scores.

    Attributes
    ----------
    model : Recognizer
        Weights of the epoch with the best validation accuracy.
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


def eval_generator(config: TrainConfig) -> torch.Generator:
    """Fixed generator for evaluation, so stochastic encoders score reproducibly."""
    return torch.Generator().manual_seed(config.seed + 7919)


def train(
    config: TrainConfig,
    dataset: Any,
    *,
    checkpoint: Callable[[dict[str, Any]], None] | None = None,
    resume: dict[str, Any] | None = None,
    progress: bool = True,
    placement: Placement | None = None,
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
    optimizer = _optimizer(model, config)
    scheduler = _scheduler(optimizer, config)
    state = TrainState()
    best_weights = {k: v.clone() for k, v in model.state_dict().items()}

    fingerprint = data_fingerprint(dataset)
    if resume is not None:
        # Refuses data that differ from the run's (a checkpoint without a fingerprint
        # predates them: the command warns about it).
        if isinstance(resume, dict):
            check_resume_data(resume.get("data_fingerprint"), dataset, checkpoint="the resumed run")
        try:
            model.load_state_dict(resume["model"])
            model.to(place.device)
            optimizer.load_state_dict(resume["optimizer"])
            scheduler.load_state_dict(resume["scheduler"])
            generator.set_state(resume["generator"])
            best_weights = resume["best_model"]
            state = TrainState(**resume["train_state"])
        except (KeyError, RuntimeError, ValueError, TypeError) as error:
            first = str(error).strip().splitlines()[0] if str(error).strip() else ""
            raise CheckpointError(
                f"checkpoint does not match this model and data ({first[:160]})"
            ) from None
        # A tampered train_state (epoch -5, a history that is a string) is refused now,
        # not after an epoch has run. (Imported here: that module imports this one.)
        from spikerec.training.resume import check_train_state

        check_train_state(asdict(state), epochs=config.epochs, checkpoint="the resumed run")

    def payload() -> dict[str, Any]:
        return {
            "config": asdict(config),
            "dataset": dataset_meta(dataset),
            "model": model.state_dict(),
            "optimizer": optimizer.state_dict(),
            "scheduler": scheduler.state_dict(),
            "generator": generator.get_state(),
            "best_model": best_weights,
            "train_state": asdict(state),
            "data_fingerprint": fingerprint,
        }

    train_x, train_y = dataset.train.images, dataset.train.labels
    n_train = train_x.shape[0]
    epochs = tqdm(
        range(state.epoch, config.epochs),
        desc="epochs",
        disable=not progress,
        initial=state.epoch,
        total=config.epochs,
        leave=False,
    )
    stepper: nn.Module = model
    if place.distributed:
        stepper = nn.parallel.DistributedDataParallel(
            model, device_ids=[place.device.index] if place.device.type == "cuda" else None
        )
    for epoch in epochs:
        if state.finished:
            break
        started = time.perf_counter()
        model.train()
        order = torch.randperm(n_train, generator=generator)
        total_loss, correct, seen = 0.0, 0, 0
        batches = tqdm(
            range(0, n_train, config.batch_size),
            desc=f"epoch {epoch + 1}",
            disable=not progress,
            leave=False,
        )
        for step, start in enumerate(batches, start=1):
            index = order[start : start + config.batch_size]
            if index.numel() < place.world_size:
                continue  # every rank needs an image; only a last, tiny batch is short
            local = shard(index, place)
            images = train_x[local].to(place.device)
            labels = train_y[local].to(place.device)
            with diverged_if_nonfinite(epoch + 1, step):  # weights too large for the data
                output = stepper(images, generator)
            loss = loss_of(output, labels, config)
            # Single process: stop before a NaN reaches the weights. With several
            # ranks a rank's loss is its own; the all-reduced weights (checked
            # below) show a fault on every rank at once.
            if not place.distributed and not bool(torch.isfinite(loss)):
                raise TrainingDiverged(
                    f"training diverged at epoch {epoch + 1}, step {step}: the loss is "
                    f"{float(loss.detach())} (try a lower --lr)"
                )
            scale = loss_scale(labels.shape[0], index.numel(), place)
            optimizer.zero_grad(set_to_none=True)
            (loss * scale if scale != 1.0 else loss).backward()
            optimizer.step()
            _check_finite_weights(model, epoch + 1, step)
            prediction, _ = predict(output, config.decoder)
            total_loss += float(loss.detach()) * labels.shape[0]
            correct += int((prediction == labels).sum())
            seen += labels.shape[0]
            batches.set_postfix(loss=f"{total_loss / seen:.3f}", acc=f"{correct / seen:.3f}")
        total_loss, correct, seen = sum_over_ranks([total_loss, correct, seen], place)
        scheduler.step()
        with diverged_if_nonfinite(epoch + 1):
            val = evaluate(
                model,
                dataset.val.images,
                dataset.val.labels,
                n_classes=n_classes,
                decoder=config.decoder,
                generator=eval_generator(config),
            )
        state.train_time_s += time.perf_counter() - started
        state.epoch = epoch + 1
        state.history.append(
            {
                "epoch": epoch + 1,
                "train_loss": total_loss / seen,
                "train_accuracy": correct / seen,
                "val_accuracy": val.accuracy,
                "val_silent_fraction": val.silent_fraction,
                "lr": optimizer.param_groups[0]["lr"],
                "time_s": state.train_time_s,
            }
        )
        if val.accuracy > state.best_val_accuracy:
            state.best_val_accuracy, state.best_epoch = val.accuracy, epoch + 1
            state.epochs_without_improvement = 0
            best_weights = {k: v.detach().clone() for k, v in model.state_dict().items()}
        else:
            state.epochs_without_improvement += 1
        # Stop after `patience` epochs in a row without a better validation accuracy.
        stalled = state.epochs_without_improvement > 0 and (
            state.epochs_without_improvement >= config.patience
        )
        state.finished = stalled or state.epoch >= config.epochs
        epochs.set_postfix(loss=f"{total_loss / seen:.3f}", val=f"{val.accuracy:.3f}")
        if checkpoint is not None:
            checkpoint(payload())
    state.finished = True

    model.load_state_dict(best_weights)
    eval_kwargs = dict(n_classes=n_classes, decoder=config.decoder)
    val = evaluate(
        model,
        dataset.val.images,
        dataset.val.labels,
        generator=eval_generator(config),
        **eval_kwargs,
    )
    test = evaluate(
        model,
        dataset.test.images,
        dataset.test.labels,
        generator=eval_generator(config),
        **eval_kwargs,
    )
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

"""What the ``train``, ``evaluate`` and ``trace`` commands do and write, as functions.

Each run writes into a new folder (see :func:`spikerec.run_folders.new_run_dir`); a
resumed training run continues in its own folder. Every file is written atomically.
"""

from __future__ import annotations

import csv
import io
import json
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np
import torch

from spikerec.data.loading import DatasetError, DatasetSplits, load_dataset
from spikerec.errors import ParameterError, TrainingDiverged
from spikerec.recognition.recognizer import Recognizer
from spikerec.run_folders import atomic_write, atomic_write_text, new_run_dir
from spikerec.training.checkpoints import CheckpointError, load_checkpoint, save_checkpoint
from spikerec.training.distributed import all_ranks_ok, current_placement
from spikerec.training.loop import (
    EvalResult,
    TrainConfig,
    TrainResult,
    build_model,
    eval_generator,
    evaluate,
    predict,
    train,
)

SPLITS: tuple[str, ...] = ("test", "val", "train")


def _write_json(path: Path, content: Any) -> Path:
    return atomic_write_text(path, json.dumps(content, indent=2, default=float) + "\n")


def _save_figure(fig: Any, path: Path) -> Path:
    return atomic_write(path, lambda tmp: fig.savefig(tmp, format="png", dpi=120))


def eval_summary(result: EvalResult, class_names: list[str] | tuple[str, ...]) -> dict[str, Any]:
    """JSON-ready scores: accuracy, silent fraction, per-class accuracy, confusion matrix."""
    return {
        "accuracy": result.accuracy,
        "silent_fraction": result.silent_fraction,
        "n_images": int(result.labels.numel()),
        "per_class_accuracy": dict(zip(class_names, result.per_class_accuracy(), strict=True)),
        "confusion": result.confusion.tolist(),
    }


def run_training(
    config: TrainConfig | None,
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
        configuration stored there (``config`` is then ignored and may be None).
    dataset : DatasetSplits, optional
        Already loaded data (else loaded from ``config``).
    """
    payload = None
    if resume is not None:
        payload = load_checkpoint(resume)
        try:
            config = TrainConfig.from_dict(payload["config"])
        except KeyError as error:
            raise CheckpointError(
                f"checkpoint {str(resume)!r} lacks the key {error} of a training run"
            ) from None
        except (TypeError, ValueError) as error:
            raise CheckpointError(
                f"checkpoint {str(resume)!r} has an invalid config ({error})"
            ) from None
        run_dir = Path(resume) if Path(resume).is_dir() else Path(resume).parent
        if Path(resume).is_file() and Path(resume).name != "checkpoint.pt":
            raise ParameterError(
                f"--resume takes a run folder or its checkpoint.pt, not {str(resume)!r}: "
                f"the run would go on writing {run_dir / 'checkpoint.pt'}, another file"
            )
    if config is None:
        raise ParameterError("run_training needs a TrainConfig, or resume=RUN_FOLDER")
    data = (
        dataset
        if dataset is not None
        else load_dataset(
            config.data,
            seed=config.seed,
            data_root=config.data_root,
            val_fraction=config.val_fraction,
            test_fraction=config.test_fraction,
        )
    )
    place = current_placement()
    setup_error: Exception | None = None
    if place.is_main and resume is None:  # under torchrun only rank 0 writes
        try:
            run_dir = new_run_dir(out_root, "train")
            _write_json(run_dir / "config.json", asdict(config))
        except (OSError, ValueError) as error:
            setup_error = error
    if not all_ranks_ok(setup_error is None, place):
        if setup_error is not None:
            raise setup_error
        raise ParameterError("rank 0 could not create the run folder (its error says why)")
    if not place.is_main:
        result = train(config, data, resume=payload, progress=False, placement=place)
        return None, result
    checkpoint_path = run_dir / "checkpoint.pt"
    saved_epochs: list[int] = []

    def save(content: dict[str, Any]) -> None:
        save_checkpoint(checkpoint_path, content)
        saved_epochs.append(int(content["train_state"]["epoch"]))

    try:
        result = train(
            config, data, checkpoint=save, resume=payload, progress=progress, placement=place
        )
    except TrainingDiverged as error:
        if not saved_epochs and payload is not None:
            saved_epochs.append(int(payload["train_state"]["epoch"]))
        kept = (
            f"the checkpoint of epoch {saved_epochs[-1]} is kept in {checkpoint_path}"
            if saved_epochs
            else f"no epoch finished; {run_dir} holds the config only"
        )
        raise TrainingDiverged(f"{error}; {kept}") from None

    from spikerec.plotting import new_figure, plot_training_curve

    metrics = {
        "dataset": data.name,
        "epochs_run": result.state.epoch,
        "best_epoch": result.state.best_epoch,
        "train_time_s": result.state.train_time_s,
        "n_parameters": sum(p.numel() for p in result.model.parameters()),
        "world_size": place.world_size,
        "val": eval_summary(result.val, data.class_names),
        "test": eval_summary(result.test, data.class_names),
        "history": result.state.history,
    }
    _write_json(run_dir / "metrics.json", metrics)
    fig, (ax,) = new_figure(figsize=(7.0, 4.0))
    plot_training_curve(result.state.history, ax=ax)
    ax.set_title(
        f"{config.head} head on {data.name}: test accuracy {result.test.accuracy:.4f}",
        fontsize="medium",
    )
    _save_figure(fig, run_dir / "training_curve.png")
    return run_dir, result


def load_model(checkpoint: str | Path) -> tuple[Recognizer, TrainConfig, dict[str, Any]]:
    """The best model of a checkpoint, its config and its dataset description."""
    payload = load_checkpoint(checkpoint)
    try:
        config = TrainConfig.from_dict(payload["config"])
        meta = payload["dataset"]
        model = build_model(
            config, in_channels=int(meta["image_shape"][0]), n_classes=int(meta["n_classes"])
        )
        model.load_state_dict(payload["best_model"])
    except KeyError as error:
        raise CheckpointError(
            f"checkpoint {str(checkpoint)!r} is not a usable spikerec model: missing key {error}"
        ) from None
    except (TypeError, ValueError, RuntimeError) as error:
        first = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise CheckpointError(
            f"checkpoint {str(checkpoint)!r} is not a usable spikerec model ({first[:160]})"
        ) from None
    model.eval()
    return model, config, meta


def _matching_data(
    meta: dict[str, Any], config: TrainConfig, data: str | None, data_root: str | None
) -> DatasetSplits:
    """The dataset to score on, checked against what the model was trained on."""
    name = data if data is not None else meta["name"]
    dataset = load_dataset(
        name,
        seed=config.seed,
        data_root=data_root if data_root is not None else config.data_root,
        val_fraction=config.val_fraction,
        test_fraction=config.test_fraction,
    )
    trained = tuple(int(v) for v in meta["image_shape"])
    if tuple(dataset.image_shape) != trained:
        raise DatasetError(
            f"dataset {name!r} has images of shape {tuple(dataset.image_shape)} (C, H, W) but "
            f"the model was trained on {trained}"
        )
    if dataset.n_classes > int(meta["n_classes"]):
        raise DatasetError(
            f"dataset {name!r} has {dataset.n_classes} classes but the model has "
            f"{int(meta['n_classes'])} outputs"
        )
    return dataset


def _split(dataset: DatasetSplits, split: str):
    if split not in SPLITS:
        raise ParameterError(f"unknown split {split!r}; valid: {', '.join(SPLITS)}")
    return getattr(dataset, split)


def run_evaluation(
    checkpoint: str | Path,
    *,
    data: str | None = None,
    split: str = "test",
    out_root: str | Path = "runs",
    data_root: str | None = None,
) -> tuple[Path, EvalResult, dict[str, Any]]:
    """Score a checkpoint; write ``metrics.json``, ``per_class_accuracy.csv`` and
    ``confusion_matrix.png`` into a new run folder."""
    model, config, meta = load_model(checkpoint)
    dataset = _matching_data(meta, config, data, data_root)
    part = _split(dataset, split)
    n_classes = int(meta["n_classes"])
    result = evaluate(
        model,
        part.images,
        part.labels,
        n_classes=n_classes,
        decoder=config.decoder,
        generator=eval_generator(config),
    )
    names = [str(c) for c in range(n_classes)]
    summary = {
        "checkpoint": str(checkpoint),
        "dataset": dataset.name,
        "split": split,
        **eval_summary(result, names),
    }
    run_dir = new_run_dir(out_root, "evaluate")
    _write_json(run_dir / "metrics.json", summary)
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(["class", "accuracy", "n_images"])
    for c, (acc, total) in enumerate(
        zip(result.per_class_accuracy(), result.confusion.sum(dim=1).tolist(), strict=True)
    ):
        writer.writerow([c, f"{acc:.6f}", total])
    atomic_write_text(run_dir / "per_class_accuracy.csv", buffer.getvalue())

    from spikerec.plotting import new_figure, plot_confusion_matrix

    fig, (ax,) = new_figure(figsize=(6.0, 5.5))
    plot_confusion_matrix(result.confusion.numpy(), class_names=names, ax=ax)
    ax.set_title(f"{dataset.name} {split}: accuracy {result.accuracy:.4f}", fontsize="medium")
    _save_figure(fig, run_dir / "confusion_matrix.png")
    return run_dir, result, summary


def run_trace(
    checkpoint: str | Path,
    *,
    index: int,
    data: str | None = None,
    split: str = "test",
    out_root: str | Path = "runs",
    data_root: str | None = None,
) -> tuple[Path, dict[str, Any]]:
    """Plot the output layer's membranes, spikes and V4 input raster for one image.

    Writes ``trace.png`` and ``trace.csv`` (membrane and spikes of every output
    neuron per step) into a new run folder.
    """
    model, config, meta = load_model(checkpoint)
    if config.head != "lif":
        raise ParameterError(
            f"trace needs a checkpoint with a 'lif' head, this one has {config.head!r}"
        )
    dataset = _matching_data(meta, config, data, data_root)
    part = _split(dataset, split)
    if isinstance(index, bool) or not isinstance(index, int) or not 0 <= index < len(part.labels):
        raise ParameterError(
            f"index={index!r} must be in [0, {len(part.labels)}) for the {split} split"
        )
    with torch.no_grad():
        output = model(part.images[index : index + 1], eval_generator(config))
    membrane = output.head.membrane[:, 0].numpy()
    spikes = output.head.spikes[:, 0].numpy()
    v4 = output.v4_spikes[:, 0].numpy()
    label = int(part.labels[index])
    counts = spikes.sum(axis=0)
    prediction = int(predict(output, config.decoder)[0][0])

    run_dir = new_run_dir(out_root, "trace")
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    n_out = membrane.shape[1]
    writer.writerow(
        ["t_ms", *[f"v_{c}" for c in range(n_out)], *[f"spike_{c}" for c in range(n_out)]]
    )
    params = config.head_params()
    for t in range(membrane.shape[0]):
        writer.writerow(
            [
                f"{(t + 1) * params.dt_ms:g}",
                *[f"{v:.8g}" for v in membrane[t]],
                *[int(s) for s in spikes[t]],
            ]
        )
    atomic_write_text(run_dir / "trace.csv", buffer.getvalue())

    from spikerec.plotting import new_figure, plot_output_membranes, plot_raster

    fig, axes = new_figure(2, height_ratios=[2, 1], figsize=(9.0, 6.5))
    plot_output_membranes(
        membrane, spikes, v_th=params.v_th, dt_ms=params.dt_ms, label=label, ax=axes[0]
    )
    axes[0].set_title(
        f"{dataset.name} {split} image {index}: true class {label}, predicted "
        f"{prediction}; output spike counts {counts.astype(int).tolist()}",
        fontsize="small",
    )
    steps, units = np.nonzero(v4)
    plot_raster(units, (steps + 1) * params.dt_ms, ax=axes[1])
    axes[1].set_ylabel("V4 unit")
    axes[1].set_title(
        f"V4 input raster ({int(v4.sum())} spikes from {v4.shape[1]} units)", fontsize="small"
    )
    _save_figure(fig, run_dir / "trace.png")
    summary = {"label": label, "prediction": prediction, "spike_counts": counts.tolist()}
    _write_json(run_dir / "trace.json", summary)
    return run_dir, summary

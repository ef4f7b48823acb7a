"""``spikerec trace``: the output layer of a trained LIF head on one image, as a figure.

The run folder holds ``trace.png`` (output membranes with the threshold and their
spikes; the V4 input raster), ``trace.csv`` (pre-reset membrane and spike of every
output neuron per step) and ``trace.json`` (label, prediction, spike counts).
Not to be confused with ``spikerec simulate``'s membrane trace of a single neuron
(:mod:`spikerec.commands.simulate`).
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from spikerec.commands._common import save_figure, write_json
from spikerec.data.loading import DatasetSplits
from spikerec.errors import ParameterError
from spikerec.run_folders import atomic_write_text, discard_on_failure, new_run_dir
from spikerec.training.config import TrainConfig
from spikerec.training.evaluation import eval_generator, predict
from spikerec.training.trained_model import check_split, load_model, split_to_score


@dataclass(frozen=True)
class OutputTraceOptions:
    """What ``spikerec trace`` is asked to do.

    Attributes
    ----------
    checkpoint : path
        A ``checkpoint.pt`` of a ``lif`` head, or the run folder holding it.
    index : int
        The image's index within the split.
    data : str, optional
        Dataset name or ``idx:PATH``; default: the training dataset.
    split : {"test", "val", "train"}
    data_root : str, optional
        Folder of downloaded datasets; default: the training run's.
    out : path
        Parent folder of the new run folder.
    """

    checkpoint: str | Path
    index: int = 0
    data: str | None = None
    split: str = "test"
    data_root: str | None = None
    out: str | Path = "runs"

    def __post_init__(self) -> None:
        check_split(self.split)
        if isinstance(self.index, bool) or not isinstance(self.index, int) or self.index < 0:
            raise ParameterError(f"index={self.index!r} must be in [0, number of images)")


@dataclass(frozen=True)
class OutputTraceRun:
    """What ``spikerec trace`` did.

    Attributes
    ----------
    run_dir : Path
        The new run folder.
    label, prediction : int
        True and predicted class of the image.
    spike_counts : list of float
        Output spikes per class over the ``T`` steps.
    """

    run_dir: Path
    label: int
    prediction: int
    spike_counts: list[float]


def run(options: OutputTraceOptions) -> OutputTraceRun:
    """Trace image ``options.index`` of ``options.split`` through a trained LIF head.

    Examples
    --------
    >>> import tempfile
    >>> from spikerec.commands import train
    >>> from spikerec.training.config import TrainConfig
    >>> config = TrainConfig(data="synthetic", epochs=1, n_steps=3)
    >>> trained = train.run(train.TrainOptions(config, out=tempfile.mkdtemp(), progress=False))
    >>> done = run(OutputTraceOptions(trained.run_dir, index=5, out=tempfile.mkdtemp()))
    >>> len(done.spike_counts), (done.run_dir / "trace.png").is_file()
    (10, True)
    """
    run_dir, summary = run_trace(
        options.checkpoint,
        index=options.index,
        data=options.data,
        split=options.split,
        out_root=options.out,
        data_root=options.data_root,
    )
    return OutputTraceRun(run_dir, summary["label"], summary["prediction"], summary["spike_counts"])


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

    Writes ``trace.png``, ``trace.csv`` (membrane and spikes of every output neuron
    per step) and ``trace.json`` into a new run folder.

    Returns
    -------
    run_dir : Path
    summary : dict
        ``label``, ``prediction`` and ``spike_counts``, as in ``trace.json``.
    """
    trained = load_model(checkpoint)
    model, config, _ = trained
    if config.head != "lif":
        raise ParameterError(
            f"trace needs a checkpoint with a 'lif' head, this one has {config.head!r}"
        )
    dataset, part = split_to_score(
        trained, split, data=data, data_root=data_root, checkpoint=str(checkpoint)
    )
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

    summary = {"label": label, "prediction": prediction, "spike_counts": counts.tolist()}
    run_dir = new_run_dir(out_root, "trace")
    # A folder with only some of its files is worse than none (Ctrl-C, a full disk).
    with discard_on_failure(run_dir, keep=lambda folder: False):
        _write_trace(
            run_dir, config, dataset, membrane, spikes, v4, summary, f"{split} image {index}"
        )
    return run_dir, summary


def _write_trace(
    run_dir: Path,
    config: TrainConfig,
    dataset: DatasetSplits,
    membrane: np.ndarray,
    spikes: np.ndarray,
    v4: np.ndarray,
    summary: dict[str, Any],
    which: str,
) -> None:
    """``trace.csv``, ``trace.png`` and ``trace.json`` of one image's run."""
    label, prediction = summary["label"], summary["prediction"]
    counts = spikes.sum(axis=0)
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
        membrane,
        spikes,
        v_th=params.v_th,
        dt_ms=params.dt_ms,
        label=label,
        v_reset=params.v_reset,
        class_names=[str(name) for name in dataset.class_names],
        ax=axes[0],
    )
    axes[0].set_title(
        f"{dataset.name} {which}: true class {label}, predicted "
        f"{prediction}; output spike counts {counts.astype(int).tolist()}",
        fontsize="small",
    )
    steps, units = np.nonzero(v4)
    plot_raster(units, (steps + 1) * params.dt_ms, n_neurons=v4.shape[1], ax=axes[1])
    axes[1].set_ylabel("V4 unit")
    axes[1].set_title(
        f"V4 input raster ({int(v4.sum())} spikes from {v4.shape[1]} units)", fontsize="small"
    )
    save_figure(fig, run_dir / "trace.png")
    write_json(run_dir / "trace.json", summary)

"""``spikerec evaluate``: score a trained model on a dataset into a new run folder.

The run folder holds ``metrics.json`` (accuracy, silent fraction, per-class accuracy,
confusion matrix), ``per_class_accuracy.csv`` and ``confusion_matrix.png``.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from spikerec.commands._common import eval_summary, save_figure, write_json
from spikerec.run_folders import atomic_write_text, discard_on_failure, new_run_dir
from spikerec.training.evaluation import EvalResult, score_split
from spikerec.training.trained_model import check_split, load_model, split_to_score


@dataclass(frozen=True)
class EvaluateOptions:
    """What ``spikerec evaluate`` is asked to do.

    Attributes
    ----------
    checkpoint : path
        A ``checkpoint.pt`` or the run folder holding it.
    data : str, optional
        Dataset name or ``idx:PATH``; default: the training dataset.
    split : {"test", "val", "train"}
    data_root : str, optional
        Folder of downloaded datasets; default: the training run's.
    out : path
        Parent folder of the new run folder.
    """

    checkpoint: str | Path
    data: str | None = None
    split: str = "test"
    data_root: str | None = None
    out: str | Path = "runs"

    def __post_init__(self) -> None:
        check_split(self.split)


@dataclass(frozen=True)
class EvaluateRun:
    """What ``spikerec evaluate`` did.

    Attributes
    ----------
    run_dir : Path
        The new run folder.
    result : EvalResult
        Scores on the split.
    summary : dict
        The content of ``metrics.json``: ``checkpoint``, ``dataset``, ``split``,
        ``accuracy``, ``silent_fraction``, ``n_images``, ``per_class_accuracy``,
        ``confusion``.
    """

    run_dir: Path
    result: EvalResult
    summary: dict[str, Any]


def run(options: EvaluateOptions) -> EvaluateRun:
    """Score ``options.checkpoint`` on ``options.split`` of ``options.data``.

    Examples
    --------
    >>> import tempfile
    >>> from spikerec.commands import train
    >>> from spikerec.training.config import TrainConfig
    >>> config = TrainConfig(data="synthetic", epochs=1, n_steps=2)
    >>> trained = train.run(train.TrainOptions(config, out=tempfile.mkdtemp(), progress=False))
    >>> done = run(EvaluateOptions(trained.run_dir, split="val", out=tempfile.mkdtemp()))
    >>> done.summary["n_images"], done.result.accuracy == trained.result.val.accuracy
    (60, True)
    """
    run_dir, result, summary = run_evaluation(
        options.checkpoint,
        data=options.data,
        split=options.split,
        out_root=options.out,
        data_root=options.data_root,
    )
    return EvaluateRun(run_dir, result, summary)


def run_evaluation(
    checkpoint: str | Path,
    *,
    data: str | None = None,
    split: str = "test",
    out_root: str | Path = "runs",
    data_root: str | None = None,
) -> tuple[Path, EvalResult, dict[str, Any]]:
    """Score a checkpoint; write ``metrics.json``, ``per_class_accuracy.csv`` and
    ``confusion_matrix.png`` into a new run folder.

    Returns
    -------
    run_dir, result, summary
        As the fields of :class:`EvaluateRun`.
    """
    trained = load_model(checkpoint)
    model, config, meta = trained
    dataset, part = split_to_score(
        trained, split, data=data, data_root=data_root, checkpoint=str(checkpoint)
    )
    n_classes = int(meta["n_classes"])
    result = score_split(model, part, config, n_classes)
    names = [str(c) for c in range(n_classes)]
    summary = {
        "checkpoint": str(checkpoint),
        "dataset": dataset.name,
        "split": split,
        **eval_summary(result, names),
    }
    run_dir = new_run_dir(out_root, "evaluate")
    # A folder with only some of its files is worse than none (Ctrl-C, a full disk).
    with discard_on_failure(run_dir, keep=lambda folder: False):
        _write_results(run_dir, result, summary, names, f"{dataset.name} {split}")
    return run_dir, result, summary


def _write_results(
    run_dir: Path, result: EvalResult, summary: dict[str, Any], names: list[str], title: str
) -> None:
    write_json(run_dir / "metrics.json", summary)
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
    ax.set_title(f"{title}: accuracy {result.accuracy:.4f}", fontsize="medium")
    save_figure(fig, run_dir / "confusion_matrix.png")

"""What several commands share: the thread setting and the files of a run folder."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from spikerec.resources import check_threads
from spikerec.run_folders import atomic_write_json
from spikerec.training.evaluation import EvalResult

__all__ = ["apply_threads", "check_threads", "eval_summary", "save_figure", "write_json"]


def apply_threads(threads: int) -> None:
    """Set torch's CPU threads of this process (0 keeps torch's choice)."""
    check_threads(threads)
    if threads:
        import torch

        torch.set_num_threads(threads)


def write_json(path: Path, content: Any) -> Path:
    """Atomically write ``content`` as indented, strict JSON (NaN and infinities as null)."""
    return atomic_write_json(path, content, default=float)


def save_figure(fig: Any, path: Path) -> Path:
    """Atomically write a matplotlib figure in the format of its extension
    (:func:`spikerec.plotting.save_figure`; imported here so that the commands that
    draw nothing never load matplotlib)."""
    from spikerec.plotting import save_figure as save

    return save(fig, path)


def eval_summary(result: EvalResult, class_names: list[str] | tuple[str, ...]) -> dict[str, Any]:
    """JSON-ready scores: accuracy, silent fraction, per-class accuracy, confusion matrix."""
    return {
        "accuracy": result.accuracy,
        "silent_fraction": result.silent_fraction,
        "n_images": int(result.labels.numel()),
        "per_class_accuracy": dict(zip(class_names, result.per_class_accuracy(), strict=True)),
        "confusion": result.confusion.tolist(),
    }

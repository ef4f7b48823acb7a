"""What several commands share: the thread setting and the files of a run folder."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from spikerec.errors import ParameterError
from spikerec.run_folders import atomic_write, atomic_write_text
from spikerec.training.evaluation import EvalResult


def check_threads(threads: int) -> None:
    """Refuse a negative thread count (0 keeps torch's choice)."""
    if isinstance(threads, bool) or not isinstance(threads, int) or threads < 0:
        raise ParameterError(f"--threads={threads!r} must be an integer >= 0 (0: torch's default)")


def apply_threads(threads: int) -> None:
    """Set torch's CPU threads of this process (0 keeps torch's choice)."""
    check_threads(threads)
    if threads:
        import torch

        torch.set_num_threads(threads)


def write_json(path: Path, content: Any) -> Path:
    """Atomically write ``content`` as indented JSON (numpy and torch scalars as floats)."""
    return atomic_write_text(path, json.dumps(content, indent=2, default=float) + "\n")


def save_figure(fig: Any, path: Path) -> Path:
    """Atomically write a matplotlib figure as a 120 dpi PNG."""
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

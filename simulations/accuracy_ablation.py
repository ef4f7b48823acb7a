"""Accuracy ablation: the LIF and softmax heads on one front end, setting by setting.

    python simulations/accuracy_ablation.py --data mnist5k --seeds 0,1,2 \
        --setting baseline= --setting wd=weight_decay:5e-4 --threads 1 \
        --results ablation.jsonl
    python simulations/accuracy_ablation.py --results ablation.jsonl --table-only

A setting is ``name=field:value,field:value``: fields of
:class:`spikerec.training.loop.TrainConfig` (``epochs``, ``weight_decay``,
``label_smoothing``, ...), plus ``augment:R``, which appends ``R`` classic
(shift + rotation) copies per training image to the training split of every seed
(:func:`spikerec.compare.baselines.augment.augment_training`). Every setting trains
each head on each seed with :func:`spikerec.training.loop.train` and scores the best
validation epoch on the test split. One JSON line per run is appended to
``--results`` as soon as it finishes (runs already there are skipped, so a stopped
study resumes), and the table (mean test accuracy with a 95 % Student-t interval
over seeds, per head, and the LIF - softmax difference) is printed in Markdown.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any

import torch

from spikerec.compare.baselines.augment import augment_training
from spikerec.compare.stats import mean_confidence_interval
from spikerec.data.loading import load_dataset
from spikerec.recognition.early_exit import evaluate_early_exit
from spikerec.training.loop import TrainConfig, eval_generator, train


def parse_value(text: str) -> Any:
    """``"3"`` -> 3, ``"1e-3"`` -> 0.001, ``"true"`` -> True, anything else a string."""
    lowered = text.lower()
    if lowered in ("true", "false"):
        return lowered == "true"
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    return text


def parse_setting(text: str) -> tuple[str, dict[str, Any]]:
    """``"wd=weight_decay:5e-4,lr:1e-3"`` -> ``("wd", {"weight_decay": 5e-4, "lr": 1e-3})``."""
    name, _, body = text.partition("=")
    if not name:
        raise SystemExit(f"--setting {text!r}: expected name=field:value,...")
    overrides: dict[str, Any] = {}
    for item in filter(None, body.split(",")):
        key, sep, value = item.partition(":")
        if not sep:
            raise SystemExit(f"--setting {text!r}: {item!r} is not field:value")
        overrides[key.strip().replace("-", "_")] = parse_value(value.strip())
    return name, overrides


def _done(path: Path) -> list[dict[str, Any]]:
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def run_one(
    data: str, head: str, seed: int, overrides: dict[str, Any], progress: bool
) -> dict[str, Any]:
    """Train one head on one seed under one setting; the record of the run."""
    overrides = dict(overrides)
    ratio = float(overrides.pop("augment", 0.0))
    config = TrainConfig.from_dict(
        {**asdict(TrainConfig()), **overrides, "data": data, "head": head, "seed": seed}
    )
    dataset = load_dataset(
        data, seed=seed, val_fraction=config.val_fraction, test_fraction=config.test_fraction
    )
    if ratio > 0:
        dataset, _ = augment_training(dataset, "classic", seed=seed, ratio=ratio)
    started = time.perf_counter()
    result = train(config, dataset, progress=progress)
    record_early_exit = {}
    if head == "lif":  # the default early-exit rule against the full-T run, on the test split
        early = evaluate_early_exit(
            result.model,
            dataset.test.images,
            dataset.test.labels,
            decoder=config.decoder,
            generator=eval_generator(config),
            sweep=(),
        )
        record_early_exit = {"early_exit": {k: v for k, v in early.items() if k != "curve"}}
    return {
        "head": head,
        "seed": seed,
        "test_accuracy": result.test.accuracy,
        "val_accuracy": result.val.accuracy,
        "test_silent_fraction": result.test.silent_fraction,
        "best_epoch": result.state.best_epoch,
        "epochs_run": result.state.epoch,
        "val_by_epoch": [h["val_accuracy"] for h in result.state.history],
        "train_time_s": result.state.train_time_s,
        "wall_s": time.perf_counter() - started,
        **record_early_exit,
    }


def table(records: list[dict[str, Any]], heads: Sequence[str]) -> str:
    """Markdown table: per setting, mean test accuracy ± 95 % CI half-width per head."""
    settings = list(dict.fromkeys(r["setting"] for r in records))
    columns = [f"{h} (%)" for h in heads]
    if {"lif", "softmax"} <= set(heads):
        columns.append("lif - softmax (points)")
    lines = [
        "| setting | "
        + " | ".join(columns)
        + " | seeds | s per run | best epochs (lif) | lif early exit: % / steps / SynOps |",
        "|" + "---|" * (len(columns) + 5),
    ]
    for setting in settings:
        rows = [r for r in records if r["setting"] == setting]
        cells = []
        by_head: dict[str, dict[int, float]] = {}
        for head in heads:
            runs = [r for r in rows if r["head"] == head]
            by_head[head] = {r["seed"]: r["test_accuracy"] for r in runs}
            if runs:
                ci = mean_confidence_interval([100 * r["test_accuracy"] for r in runs])
                cells.append(f"{ci.mean:.2f} ± {ci.half_width:.2f}")
            else:
                cells.append("-")
        if {"lif", "softmax"} <= set(heads):
            shared = sorted(set(by_head["lif"]) & set(by_head["softmax"]))
            if shared:
                diff = mean_confidence_interval(
                    [100 * (by_head["lif"][s] - by_head["softmax"][s]) for s in shared]
                )
                cells.append(f"{diff.mean:+.2f} ± {diff.half_width:.2f}")
            else:
                cells.append("-")
        seeds = sorted({r["seed"] for r in rows})
        seconds = sum(r["train_time_s"] for r in rows) / len(rows)
        best = [r["best_epoch"] for r in rows if r["head"] == "lif"]
        exits = [r["early_exit"] for r in rows if r["head"] == "lif" and "early_exit" in r]
        early = "-"
        if exits:
            mean = {
                k: sum(e[k] for e in exits) / len(exits)
                for k in ("accuracy", "mean_steps", "synops_per_image", "full_synops_per_image")
            }
            early = (
                f"{100 * mean['accuracy']:.2f} / {mean['mean_steps']:.1f} of "
                f"{exits[0]['n_steps']} / "
                f"{100 * mean['synops_per_image'] / mean['full_synops_per_image']:.0f} %"
            )
        lines.append(
            f"| {setting} | "
            + " | ".join(cells)
            + f" | {','.join(map(str, seeds))} | {seconds:.0f} | {best} | {early} |"
        )
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default="mnist5k")
    parser.add_argument("--seeds", default="0,1,2", help="comma-separated seeds")
    parser.add_argument("--heads", default="lif,softmax", help="comma-separated heads")
    parser.add_argument(
        "--setting",
        action="append",
        default=[],
        help="name=field:value,... (repeatable; 'baseline=' is the defaults)",
    )
    parser.add_argument("--results", default="ablation.jsonl", help="JSON lines, appended")
    parser.add_argument("--threads", type=int, default=1, help="torch threads")
    parser.add_argument("--table-only", action="store_true", help="print the table, train nothing")
    parser.add_argument("--progress", action="store_true", help="show tqdm bars")
    args = parser.parse_args(argv)

    torch.set_num_threads(args.threads)
    heads = [h for h in args.heads.split(",") if h]
    seeds = [int(s) for s in args.seeds.split(",") if s]
    path = Path(args.results)
    records = _done(path)
    if not args.table_only:
        for name, overrides in (parse_setting(s) for s in args.setting):
            for seed in seeds:
                for head in heads:
                    if any(
                        (r["setting"], r["data"], r["head"], r["seed"])
                        == (name, args.data, head, seed)
                        for r in records
                    ):
                        continue
                    record = {
                        "setting": name,
                        "data": args.data,
                        "overrides": overrides,
                        **run_one(args.data, head, seed, overrides, args.progress),
                    }
                    records.append(record)
                    with path.open("a") as stream:
                        stream.write(json.dumps(record) + "\n")
                    print(
                        f"{name} {head} seed {seed}: test {record['test_accuracy']:.4f} "
                        f"(best epoch {record['best_epoch']}/{record['epochs_run']}, "
                        f"{record['train_time_s']:.0f} s)",
                        flush=True,
                    )
    print(table([r for r in records if r["data"] == args.data], heads))
    return 0


if __name__ == "__main__":
    sys.exit(main())

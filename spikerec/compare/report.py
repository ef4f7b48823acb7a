"""Files of a comparison run: results.json, results.csv, report.md and figures."""

from __future__ import annotations

import csv
import io
import math
import platform
from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any

import torch

from spikerec.compare.baselines.augment import AugmentRecord
from spikerec.compare.harness import CompareConfig, CompareOutcome
from spikerec.run_folders import atomic_write_json, atomic_write_text


def _fmt_p(p: float | None) -> str:
    if p is None:
        return "—"
    return f"{p:.2g}" if p >= 1e-4 else "<1e-4"


def _table_head(columns: str) -> list[str]:
    """The first two lines of a Markdown table: ``columns`` (joined by ``" | "``), the rule."""
    rule = " | ".join("---" for _ in columns.split(" | "))
    return [f"| {columns} |", f"| {rule} |"]


def table_lines(rows: list[dict[str, Any]]) -> list[str]:
    """The results table in Markdown, one row per entry."""
    lines = _table_head(
        "entry | accuracy (mean) | 95 % CI | McNemar p vs lif | only lif / only entry correct "
        "| train s | inference ms/img | ops/img | silent"
    )
    for r in rows:
        p = r.get("mcnemar_p_vs_lif")
        label = r.get("label", r["entry"])
        pairs = (
            f"{r['only_lif_correct']} / {r['only_entry_correct']}"
            if "only_lif_correct" in r
            else "—"
        )
        lines.append(
            f"| {label} | {100 * r['accuracy_mean']:.2f} % "
            f"| [{100 * r['ci95_low']:.2f}, {100 * r['ci95_high']:.2f}] | {_fmt_p(p)} | {pairs} "
            f"| {r['train_time_s']:.1f} | {r['inference_ms_per_image']:.3f} "
            f"| {r['ops_per_image']:.3g} {r['ops_kind']} | {100 * r['silent_fraction']:.1f} % |"
        )
    return lines


def terminal_table(rows: list[dict[str, Any]]) -> str:
    """A plain-text table for the terminal."""
    width = max([14] + [len(r.get("label", r["entry"])) + 2 for r in rows])
    header = f"{'entry':<{width}}{'accuracy':>10}{'95% CI':>20}{'p vs lif':>10}{'train s':>9}"
    lines = [header, "-" * len(header)]
    for r in rows:
        ci = f"[{100 * r['ci95_low']:.2f}, {100 * r['ci95_high']:.2f}]"
        lines.append(
            f"{r.get('label', r['entry']):<{width}}{100 * r['accuracy_mean']:>9.2f}%{ci:>20}"
            f"{_fmt_p(r.get('mcnemar_p_vs_lif')):>10}{r['train_time_s']:>9.1f}"
        )
    return "\n".join(lines)


def effects_lines(effects: Sequence[dict[str, Any]]) -> list[str]:
    """The accuracy change of each augmentation against ``none`` / ``classic``, in Markdown."""
    lines = _table_head(
        "entry | augmentation | vs | Δ accuracy (mean) | 95 % CI | per seed | McNemar p "
        "| only aug / only vs correct"
    )
    for e in effects:
        per_seed = ", ".join(f"{100 * d:+.1f}" for d in e["delta_per_seed"])
        lines.append(
            f"| {e['entry']} | {e['augment']} | {e['versus']} | {100 * e['delta_mean']:+.2f} pp "
            f"| [{100 * e['ci95_low']:+.2f}, {100 * e['ci95_high']:+.2f}] | {per_seed} "
            f"| {_fmt_p(e['mcnemar_p'])} | {e['only_augment_correct']} / "
            f"{e['only_versus_correct']} |"
        )
    return lines


def augmentation_lines(config: CompareConfig, records: Sequence[AugmentRecord]) -> list[str]:
    """What the training split was: fraction, augmentation, images, GAN quality per seed."""
    fraction = (
        "the whole loaded training split"
        if config.train_fraction >= 1.0
        else f"a stratified fraction {config.train_fraction:g} of the loaded training split "
        "(per seed)"
    )
    if config.augment == ("none",):
        augment = "no augmentation"
    else:
        augment = (
            f"augmentation {', '.join(config.augment)} (each a full run of every entry; "
            f"{config.augment_ratio:g} added image(s) per real one)"
        )
    lines = [
        f"Training split: {fraction}; {augment}; validation and test splits untouched.",
    ]
    if records and (config.train_fraction < 1.0 or config.augment != ("none",)):
        lines += ["", *_table_head("seed | augmentation | real images | added images | time s")]
        lines += [
            f"| {r.seed} | {r.method} | {r.n_real} | {r.n_added} | {r.time_s:.1f} |"
            for r in records
        ]
    gan = [r for r in records if r.method == "gan"]
    if gan:
        g = config.gan
        lines += [
            "",
            f"GAN (conditional DCGAN, {g.steps} steps, batch {g.batch_size}, width {g.width}, "
            f"latent {g.latent_dim}) quality: a CNN judge trained on the real training split "
            "labels the generated images (chance = 1 / classes); diversity = per-class "
            "pixel spread of generated over real images (0 = collapse).",
            "",
            *_table_head("seed | judge on generated | judge on real val | diversity"),
        ]
        for r in gan:
            q = r.quality
            lines.append(
                f"| {r.seed} | {100 * q['judge_accuracy_generated']:.1f} % "
                f"| {100 * q['judge_accuracy_real_val']:.1f} % | {q['diversity_ratio']:.2f} |"
            )
    return lines


def early_exit_line(row: dict[str, Any]) -> str:
    """One sentence on a ``lif`` row's early exit against its full-T run (mean over seeds)."""
    ee = row["early_exit"]
    rule = ee["rule"]
    text = rule.get("text", f"margin {rule['margin']} spikes for {rule['patience_steps']} steps")
    saved = (
        1.0 - ee["synops_per_image"] / ee["full_synops_per_image"]
        if ee["full_synops_per_image"]
        else 0.0
    )
    return (
        f"Early exit ({row.get('label', row['entry'])}; {text}): "
        f"{100 * ee['accuracy']:.2f} % in {ee['mean_steps']:.1f} of {ee['n_steps']:.0f} steps "
        f"on average, {ee['synops_per_image']:.3g} SOP per image, against "
        f"{100 * ee['full_accuracy']:.2f} % and {ee['full_synops_per_image']:.3g} SOP for all "
        f"steps ({100 * saved:.0f} % fewer SynOps; curve of other rules in "
        "early_exit_tradeoff.png). The exit step is found from one full run, which a run "
        "stopped there reproduces because the network is causal; SynOps count the V4 spikes "
        "up to each image's exit step."
    )


def write_compare_outputs(
    run_dir: Path,
    config: CompareConfig,
    outcome: CompareOutcome,
    *,
    class_names: list[str],
    wall_time_s: float,
) -> list[Path]:
    """Write every output file of a comparison into ``run_dir``; return their paths.

    ``outcome`` is what :func:`spikerec.compare.harness.run_compare` returned; a GAN
    augmentation adds one sample grid ``gan_samples_seed<k>.png`` per seed.
    """
    results, rows = outcome.results, outcome.rows
    augmentations, effects = outcome.augmentations, outcome.effects
    from spikerec.plotting import (
        new_figure,
        plot_accuracy_bars,
        plot_accuracy_by_steps,
        plot_confusion_matrix,
        plot_early_exit_tradeoff,
        plot_sample_grid,
        save_figure,
    )

    machine = {
        "platform": platform.platform(),
        "processor": platform.processor(),
        "torch": torch.__version__,
        "threads": torch.get_num_threads(),
    }
    content = {
        "config": {
            **asdict(config),
            "entries": list(config.entries),
            "seeds": list(config.seeds),
            "augment": list(config.augment),
        },
        "summary": rows,
        "augmentation_effects": list(effects),
        "augmentation": [r.summary() for r in augmentations],
        "runs": [r.summary() for r in results],
        "wall_time_s": wall_time_s,
        "machine": machine,
    }
    # Strict JSON: NaN (a confidence interval over one seed, the accuracy of an absent
    # class) is written as null.
    paths = [atomic_write_json(run_dir / "results.json", content, default=float)]

    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(
        [
            "entry",
            "augment",
            "seed",
            "accuracy",
            "train_time_s",
            "inference_s_per_image",
            "ops_per_image",
            "ops_kind",
            "silent_fraction",
        ]
    )
    for r in results:
        writer.writerow(
            [
                r.entry,
                r.augment,
                r.seed,
                f"{r.accuracy:.6f}",
                f"{r.train_time_s:.3f}",
                f"{r.inference_time_per_image_s:.6g}",
                f"{r.ops_per_image:.6g}",
                r.ops_kind,
                f"{r.silent_fraction:.6f}",
            ]
        )
    paths.append(atomic_write_text(run_dir / "results.csv", buffer.getvalue()))

    def save(fig: Any, name: str) -> None:
        paths.append(save_figure(fig, run_dir / name))

    n_seeds = len(config.seeds)
    seeds_text = "1 seed" if n_seeds == 1 else f"{n_seeds} seeds"
    fig, (ax,) = new_figure(figsize=(max(8.0, 1.1 * len(rows) + 3.5), 4.5))
    plot_accuracy_bars(rows, ax=ax)
    ax.set_title(f"{config.data}: test accuracy over {seeds_text}", fontsize="medium")
    save(fig, "accuracy_bars.png")

    lif_rows = [r for r in rows if r["entry"] == "lif" and "accuracy_by_steps" in r]
    lif_row = lif_rows[0] if lif_rows else None
    if lif_rows:
        fig, axes = new_figure(len(lif_rows), figsize=(8.0, 4.0 * len(lif_rows)))
        references = {
            r.get("label", "softmax") + " CNN": r["accuracy_mean"]
            for r in rows
            if r["entry"] == "softmax"
        }
        for ax, lif in zip(axes, lif_rows, strict=True):
            curves = [  # every seed's curve, not only their mean
                r.details["accuracy_by_steps"]
                for r in results
                if r.entry == "lif"
                and r.augment == lif.get("augment", r.augment)
                and "accuracy_by_steps" in r.details
            ]
            plot_accuracy_by_steps(
                curves or [lif["accuracy_by_steps"]],
                ax=ax,
                label=lif.get("label", "lif"),
                references=references,
            )
            ax.set_title(
                f"{lif.get('label', 'LIF head')} on {config.data}: accuracy vs time steps",
                fontsize="medium",
            )
        save(fig, "accuracy_vs_steps.png")

    exit_rows = [r for r in rows if r["entry"] == "lif" and "early_exit" in r]
    if exit_rows:
        fig, (ax,) = new_figure(figsize=(6.0, 4.0))
        for lif in exit_rows:
            ee = lif["early_exit"]
            plot_early_exit_tradeoff(
                ee["curve"],
                full_accuracy=ee["full_accuracy"],
                full_synops_per_image=ee["full_synops_per_image"],
                chosen=ee,
                ax=ax,
                label=lif.get("label", "lif") if len(exit_rows) > 1 else None,
            )
        ax.legend(fontsize="small")
        ax.set_title(
            f"LIF head on {config.data}: early exit, accuracy vs SynOps", fontsize="medium"
        )
        save(fig, "early_exit_tradeoff.png")

    first_seed = config.seeds[0]
    shown = [r for r in results if r.seed == first_seed]
    if shown:
        cols = min(3, len(shown))
        n_rows = math.ceil(len(shown) / cols)
        fig, _ = new_figure(figsize=(4.2 * cols, 4.0 * n_rows))
        fig.clear()
        grid_axes = fig.subplots(n_rows, cols, squeeze=False).ravel()
        for ax, r in zip(grid_axes, shown, strict=False):
            plot_confusion_matrix(torch.tensor(r.confusion).numpy(), class_names=class_names, ax=ax)
            name = r.entry if len(config.augment) == 1 else f"{r.entry} [{r.augment}]"
            ax.set_title(f"{name} (seed {first_seed}): {100 * r.accuracy:.1f} %", fontsize="small")
        for ax in grid_axes[len(shown) :]:
            ax.set_visible(False)
        save(fig, "confusion_matrices.png")

    for record in augmentations:
        if record.samples is None:
            continue
        k, m = record.samples.shape[:2]
        fig, (ax,) = new_figure(figsize=(0.6 * m + 1.2, 0.6 * k + 0.6))
        plot_sample_grid(record.samples.numpy(), class_names=class_names, ax=ax)
        ax.set_title(f"GAN samples, seed {record.seed}", fontsize="small")
        save(fig, f"gan_samples_seed{record.seed}.png")

    lines = [
        f"# Comparison on `{config.data}`",
        "",
        f"Seeds {', '.join(map(str, config.seeds))}; the same train / validation / test split "
        "per seed for every entry; accuracy on the test split. Confidence intervals: "
        "Student t over seeds. McNemar: exact two-sided test on the test images of all seeds "
        "pooled, each entry paired with `lif` (trained under the same augmentation) on "
        "the same images.",
        "",
        *augmentation_lines(config, augmentations),
        "",
        *table_lines(rows),
        "",
        "ops/img: synaptic events of the head counted from actual V4 spikes (SOP) for "
        "spiking heads, multiply-accumulates (MAC) for analog heads, SVMs (support "
        "vectors × features) and recurrent layers (gates and readout); the front end is "
        "the same CNN (two convolutions) for every neural entry and for cnn-rnn, "
        "which has it without BatchNorm; rnn has none.",
    ]
    if effects:
        lines += [
            "",
            "## Accuracy change by augmentation",
            "",
            "Per seed: accuracy with the augmentation minus accuracy with the baseline, same "
            "splits and test images; mean with a 95 % Student-t interval over seeds; McNemar "
            "on the test images of all seeds pooled.",
            "",
            *effects_lines(effects),
        ]
    if lif_row is not None:
        lines += [
            "",
            f"LIF decision latency: {lif_row['decision_latency_steps_mean']:.2f} steps "
            f"on average (first step from which the decoded class no longer changes).",
        ]
    for lif in (r for r in rows if r["entry"] == "lif" and "early_exit" in r):
        lines += ["", early_exit_line(lif)]
    lines += [
        "",
        f"Wall time {wall_time_s:.1f} s on {machine['platform']}, "
        f"torch {machine['torch']}, {machine['threads']} threads.",
        "",
    ]
    paths.append(atomic_write_text(run_dir / "report.md", "\n".join(lines)))
    return paths

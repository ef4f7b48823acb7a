"""The comparison on digits, two seeds: the LIF head against softmax heads and SVMs."""

import sys
from dataclasses import replace

import spikerec
from spikerec.plotting import (
    new_figure,
    plot_accuracy_bars,
    plot_accuracy_by_steps,
    plot_confusion_matrix,
    save_figure,
)

out_dir = sys.argv[1] if len(sys.argv) > 1 else "."
config = spikerec.CompareConfig(
    data="digits", entries=("lif", "rate-softmax", "softmax", "svm-rbf", "svm-v4"), seeds=(0, 1)
)
config = replace(config, train=replace(config.train, epochs=4, patience=2))  # a quick run
outcome = spikerec.run_compare(config, progress=False)

fig, (ax,) = new_figure(figsize=(9.0, 4.5))
plot_accuracy_bars(outcome.rows, ax=ax)  # mean and 95 % interval over the seeds
ax.set_title("digits: test accuracy over 2 seeds (4 epochs each)")
save_figure(fig, f"{out_dir}/accuracy_bars.png")

curves = [r.details["accuracy_by_steps"] for r in outcome.results if r.entry == "lif"]
softmax = next(row for row in outcome.rows if row["entry"] == "softmax")
fig, (ax,) = new_figure(figsize=(8.0, 4.0))
plot_accuracy_by_steps(curves, references={"softmax CNN": softmax["accuracy_mean"]}, ax=ax)
ax.set_title("LIF head on digits: accuracy when only the first t steps are decoded")
save_figure(fig, f"{out_dir}/accuracy_vs_steps.png")

shown = [r for r in outcome.results if r.seed == 0]
fig, axes = new_figure(1, figsize=(4.0 * len(shown), 4.0))
fig.clear()
for ax, r in zip(fig.subplots(1, len(shown)), shown, strict=True):
    plot_confusion_matrix(r.confusion, ax=ax)
    ax.set_title(f"{r.entry} (seed 0): {r.accuracy:.1%}", fontsize="small")
save_figure(fig, f"{out_dir}/confusion_matrices.png")

"""Train the LIF head on scikit-learn's digits with the defaults of ``spikerec train``, then
draw its training curve, its output membranes for one test image and its confusion matrix."""

import sys

import numpy as np
import torch

import spikerec
from spikerec.plotting import (
    new_figure,
    plot_confusion_matrix,
    plot_output_membranes,
    plot_raster,
    plot_training_curve,
    save_figure,
)
from spikerec.training.loop import eval_generator

out_dir = sys.argv[1] if len(sys.argv) > 1 else "."
config = spikerec.TrainConfig(data="digits", head="lif", seed=0)  # 20 epochs, early stopping
data = spikerec.load_dataset("digits", seed=config.seed)
result = spikerec.train(config, data, progress=False)

fig, (ax,) = new_figure(figsize=(7.0, 4.0))
plot_training_curve(result.state.history, ax=ax)
save_figure(fig, f"{out_dir}/training_curve.png")

index = 3  # one test image through the trained model
with torch.no_grad():
    output = result.model(data.test.images[index : index + 1], eval_generator(config))
membrane, spikes = output.head.membrane[:, 0], output.head.spikes[:, 0]  # [T, 10] tensors
params = config.head_params()
fig, (ax, ax_in) = new_figure(2, height_ratios=[2, 1], figsize=(9.0, 6.5))
plot_output_membranes(
    membrane,
    spikes,
    v_th=params.v_th,
    v_reset=params.v_reset,
    dt_ms=params.dt_ms,
    label=int(data.test.labels[index]),
    ax=ax,
)
ax.set_title(f"digits test image {index}: output neurons of the trained LIF head")
steps, units = np.nonzero(output.v4_spikes[:, 0].numpy())
plot_raster(units, (steps + 1) * params.dt_ms, n_neurons=output.v4_spikes.shape[2], ax=ax_in)
ax_in.set_ylabel("V4 unit")
ax_in.set_title(f"V4 spikes driving them ({len(units)} spikes from 3136 units)", fontsize="small")
save_figure(fig, f"{out_dir}/output_trace.png")

fig, (ax,) = new_figure(figsize=(6.0, 5.5))
plot_confusion_matrix(result.test.confusion, class_names=data.class_names, ax=ax)
ax.set_title(f"LIF head on the digits test split: {result.test.accuracy:.1%}")
save_figure(fig, f"{out_dir}/confusion_matrix.png")

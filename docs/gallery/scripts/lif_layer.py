"""A spikerec.LIF layer's output straight into plot_lif: tensors that require grad are fine."""

import sys

import torch

import spikerec
from spikerec.plotting import new_figure, plot_lif, save_figure

layer = spikerec.LIF(spikerec.LIFParams(tau_mem_ms=10.0, dt_ms=0.5, reset="zero"))
generator = torch.Generator().manual_seed(0)
rate = torch.tensor([0.15, 0.3, 0.45])  # three neurons: input spike probability per step
x = (torch.rand(120, 1, 3, generator=generator) < rate).float() * 3.0  # [T, B, N]
out = layer(x.requires_grad_())  # LIFOutput(spikes, membrane, state), [T, B, N]

fig, axes = new_figure(3, figsize=(8.0, 6.5))
for neuron, ax in enumerate(axes):
    plot_lif(out, neuron=neuron, params=layer.params, ax=ax)
    ax.set_title(f"input spike probability {rate[neuron]:.2f} per step", fontsize="small")
save_figure(fig, f"{sys.argv[1] if len(sys.argv) > 1 else '.'}/lif_layer.png")

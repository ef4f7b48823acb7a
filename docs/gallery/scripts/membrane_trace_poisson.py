"""One LIF neuron driven by 3136 Poisson V4 inputs at 10 Hz through delta synapses."""

import sys

import numpy as np

import spikerec
from spikerec.plotting import new_figure, plot_membrane_trace, plot_raster, save_figure

params = spikerec.LIFParams(tau_mem_ms=10.0, dt_ms=1.0)  # subtract reset, v_th = 1
n_inputs, rate_hz, duration_ms = 3136, 10.0, 200.0
rng = np.random.default_rng(0)
weights = rng.normal(0.032, 0.05, size=n_inputs)  # current unit x ms per spike
neuron, times_ms = spikerec.poisson_spike_times(n_inputs, rate_hz, duration_ms, rng)
raster = spikerec.spike_raster(neuron, times_ms, n_inputs, params.dt_ms, 200)  # [T, N]
grid = spikerec.simulate(params, input_spikes=raster, weights=weights, integrator="exact")

fig, (ax, ax_in) = new_figure(2, height_ratios=[2, 1], figsize=(9.0, 6.0))
plot_membrane_trace(
    grid.t_ms,
    grid.v[:, 0],  # pre-reset membrane: crossings stay visible
    v_th=params.v_th,
    v_reset=params.v_reset,
    spike_times_ms=grid.spike_times_ms(),
    ax=ax,
)
ax.set_title("LIF neuron (tau = 10 ms, dt = 1 ms, exact) driven by 3136 Poisson inputs at 10 Hz")
plot_raster(neuron, times_ms, max_neurons=200, ax=ax_in)
ax_in.set_title("input spikes of the first 200 inputs", fontsize="small")
save_figure(fig, f"{sys.argv[1] if len(sys.argv) > 1 else '.'}/membrane_trace_poisson.png")

"""One LIF neuron under a current step of 1.5 from 20 to 160 ms, 2 ms refractory period."""

import sys

import numpy as np

import spikerec
from spikerec.plotting import new_figure, plot_input_current, plot_membrane_trace, save_figure

params = spikerec.LIFParams(tau_mem_ms=10.0, dt_ms=1.0, t_ref_ms=2.0)
t_start_ms = np.arange(200) * params.dt_ms
current = np.where((t_start_ms >= 20.0) & (t_start_ms < 160.0), 1.5, 0.0)  # held per step
grid = spikerec.simulate(params, current=current, integrator="exact")

fig, (ax, ax_in) = new_figure(2, height_ratios=[2, 1], figsize=(9.0, 5.5))
plot_membrane_trace(
    grid.t_ms,
    grid.v[:, 0],
    v_th=params.v_th,
    v_reset=params.v_reset,
    spike_times_ms=grid.spike_times_ms(),
    ax=ax,
)
ax.set_title("LIF neuron under a current step: r_m I = 1.5 > v_th, so it fires regularly")
plot_input_current(t_start_ms, current, ax=ax_in)
save_figure(fig, f"{sys.argv[1] if len(sys.argv) > 1 else '.'}/membrane_trace_step.png")

"""Plots of membrane traces, spike rasters and integrator convergence.

The only module that imports matplotlib. Every function takes ``ax=None`` (then
draws on the current axes), returns the axes and never calls ``plt.show()``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure


def new_figure(
    n_rows: int = 1,
    *,
    height_ratios: Sequence[float] | None = None,
    figsize: tuple[float, float] = (8.0, 5.0),
) -> tuple[Figure, list[Axes]]:
    """A figure outside pyplot's global state (safe in scripts and threads) and its axes."""
    fig = Figure(figsize=figsize, layout="constrained")
    axes = fig.subplots(
        n_rows,
        1,
        sharex=True,
        squeeze=False,
        gridspec_kw=None if height_ratios is None else {"height_ratios": list(height_ratios)},
    )
    return fig, list(axes[:, 0])


def plot_membrane_trace(
    t_ms: np.ndarray,
    v: np.ndarray,
    *,
    v_th: float,
    spike_times_ms: np.ndarray | None = None,
    ax: Axes | None = None,
    label: str | None = None,
) -> Axes:
    """Membrane potential over time with the threshold line and spikes marked.

    Parameters
    ----------
    t_ms : array [T]
        Sample times in ms.
    v : array [T]
        Membrane potential (pre-reset at spike times, so crossings are visible).
    v_th : float
        Threshold, drawn as a dashed line.
    spike_times_ms : array [S], optional
        Output spike times, marked above the trace.
    """
    ax = plt.gca() if ax is None else ax
    (line,) = ax.plot(t_ms, v, lw=1.0, label=label or "V(t)")
    ax.axhline(v_th, color="tab:red", ls="--", lw=1.0, label="threshold")
    if spike_times_ms is not None and len(spike_times_ms):
        top = max(float(np.max(v)), v_th)
        ax.plot(
            spike_times_ms,
            np.full(len(spike_times_ms), top * 1.08 if top > 0 else v_th),
            "v",
            color=line.get_color(),
            ms=6,
            label="spikes",
        )
    ax.set_xlabel("time (ms)")
    ax.set_ylabel("membrane potential")
    ax.legend(loc="lower right", fontsize="small")
    return ax


def plot_raster(
    neuron: np.ndarray,
    times_ms: np.ndarray,
    *,
    ax: Axes | None = None,
    max_neurons: int | None = None,
) -> Axes:
    """Spike raster: one dot per spike at (time, neuron index).

    Parameters
    ----------
    neuron : array [E] of int
        Neuron index of each spike.
    times_ms : array [E]
        Spike times in ms.
    max_neurons : int, optional
        Show only neurons ``0 .. max_neurons-1`` (a readable subset of 3136).
    """
    ax = plt.gca() if ax is None else ax
    neuron = np.asarray(neuron)
    times_ms = np.asarray(times_ms)
    if max_neurons is not None:
        keep = neuron < max_neurons
        neuron, times_ms = neuron[keep], times_ms[keep]
    ax.scatter(times_ms, neuron, s=1.5, c="k", marker="|", linewidths=0.6)
    ax.set_xlabel("time (ms)")
    ax.set_ylabel("input neuron")
    return ax


def plot_convergence(
    dt_ms: np.ndarray, errors: Mapping[str, np.ndarray], *, ax: Axes | None = None
) -> Axes:
    """Error against step size on log-log axes, one line per integrator.

    Parameters
    ----------
    dt_ms : array [K]
        Step sizes in ms.
    errors : mapping name -> array [K]
        Maximum absolute membrane error for each step size.
    """
    ax = plt.gca() if ax is None else ax
    for name, err in errors.items():
        ax.loglog(dt_ms, np.maximum(np.asarray(err), 1e-17), "o-", label=name)
    ax.set_xlabel("dt (ms)")
    ax.set_ylabel("max |V - V_exact|")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize="small")
    return ax

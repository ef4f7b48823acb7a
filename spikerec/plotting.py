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

from spikerec.errors import ParameterError


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


def plot_training_curve(history: Sequence[Mapping[str, float]], *, ax: Axes | None = None) -> Axes:
    """Training loss and train/validation accuracy per epoch.

    Parameters
    ----------
    history : sequence of dicts
        One dict per epoch with ``epoch``, ``train_loss``, ``train_accuracy`` and
        ``val_accuracy`` (as recorded by :func:`spikerec.training.loop.train`).
    """
    ax = plt.gca() if ax is None else ax
    epochs = [h["epoch"] for h in history]
    ax.plot(epochs, [h["train_accuracy"] for h in history], "o-", label="train accuracy")
    ax.plot(epochs, [h["val_accuracy"] for h in history], "s-", label="validation accuracy")
    ax.set_xlabel("epoch")
    ax.set_ylabel("accuracy")
    ax.set_ylim(0.0, 1.02)
    loss_ax = ax.twinx()
    loss_ax.plot(
        epochs, [h["train_loss"] for h in history], "--", color="tab:gray", label="train loss"
    )
    loss_ax.set_ylabel("loss")
    lines = ax.get_legend_handles_labels()
    more = loss_ax.get_legend_handles_labels()
    ax.legend(lines[0] + more[0], lines[1] + more[1], loc="center right", fontsize="small")
    return ax


def plot_confusion_matrix(
    confusion: np.ndarray, *, class_names: Sequence[str] | None = None, ax: Axes | None = None
) -> Axes:
    """Confusion matrix ``[C, C]`` (rows: true class, columns: predicted), with counts."""
    ax = plt.gca() if ax is None else ax
    confusion = np.asarray(confusion)
    n = confusion.shape[0]
    names = list(class_names) if class_names is not None else [str(c) for c in range(n)]
    ax.imshow(confusion, cmap="Blues")
    threshold = confusion.max() / 2.0 if confusion.size else 0.0
    for i in range(n):
        for j in range(n):
            if confusion[i, j]:
                ax.text(
                    j,
                    i,
                    str(int(confusion[i, j])),
                    ha="center",
                    va="center",
                    fontsize="x-small",
                    color="white" if confusion[i, j] > threshold else "black",
                )
    ax.set_xticks(range(n), names, rotation=45 if n > 10 else 0, fontsize="small")
    ax.set_yticks(range(n), names, fontsize="small")
    ax.set_xlabel("predicted class")
    ax.set_ylabel("true class")
    return ax


def plot_output_membranes(
    membrane: np.ndarray,
    spikes: np.ndarray,
    *,
    v_th: float,
    dt_ms: float = 1.0,
    label: int | None = None,
    ax: Axes | None = None,
) -> Axes:
    """Membrane potential of every output neuron over time, with threshold and spikes.

    Parameters
    ----------
    membrane, spikes : array [T, C]
        Pre-reset membranes and spikes of the C output neurons for one image.
    label : int, optional
        True class, drawn with a thicker line.
    """
    ax = plt.gca() if ax is None else ax
    membrane, spikes = np.asarray(membrane), np.asarray(spikes)
    t_ms = (np.arange(membrane.shape[0]) + 1) * dt_ms
    colors = plt.get_cmap("tab10")
    for c in range(membrane.shape[1]):
        wide = label is not None and c == label
        ax.plot(
            t_ms,
            membrane[:, c],
            color=colors(c % 10),
            lw=2.2 if wide else 0.9,
            label=f"class {c}" + (" (true)" if wide else ""),
        )
        fired = spikes[:, c] > 0
        ax.plot(t_ms[fired], membrane[fired, c], "v", color=colors(c % 10), ms=5)
    ax.axhline(v_th, color="tab:red", ls="--", lw=1.0, label="threshold")
    ax.set_xlabel("time (ms)")
    ax.set_ylabel("membrane potential")
    ax.legend(loc="upper left", fontsize="x-small", ncol=2)
    return ax


def plot_accuracy_bars(rows: Sequence[Mapping[str, float]], *, ax: Axes | None = None) -> Axes:
    """Mean test accuracy per entry with its 95 % confidence interval (the paper's Figure 2).

    Parameters
    ----------
    rows : sequence of dicts
        With ``entry``, ``accuracy_mean``, ``ci95_low``, ``ci95_high`` and ``n_seeds``;
        an optional ``label`` names the bar (default: the entry).
    """
    ax = plt.gca() if ax is None else ax
    names = [str(r.get("label", r["entry"])) for r in rows]
    entries = [str(r["entry"]) for r in rows]
    means = np.array([r["accuracy_mean"] for r in rows])
    low = means - np.array([r["ci95_low"] for r in rows])
    high = np.array([r["ci95_high"] for r in rows]) - means
    colors = [
        "tab:red" if n == "lif" else "tab:blue" if "svm" not in n else "tab:gray" for n in entries
    ]
    ax.bar(names, means, yerr=[low, high], capsize=4, color=colors, alpha=0.85)
    bottom = max(0.0, float(np.min(means - low)) - 0.05)
    ax.set_ylim(bottom, min(1.0, float(np.max(means + high))) + 0.01)
    for i, m in enumerate(means):  # inside the bar's foot, clear of the error bars
        ax.text(
            i,
            bottom + 0.01 * (1.0 - bottom),
            f"{100 * m:.1f} %",
            ha="center",
            va="bottom",
            fontsize="small",
            color="white",
            fontweight="bold",
        )
    ax.set_ylabel("test accuracy (mean, 95 % CI over seeds)")
    ax.tick_params(axis="x", labelrotation=20)
    return ax


def plot_accuracy_by_steps(
    accuracy: Sequence[float],
    *,
    dt_ms: float = 1.0,
    ax: Axes | None = None,
    label: str | None = None,
) -> Axes:
    """Test accuracy of the LIF head when only the first t time steps are decoded."""
    ax = plt.gca() if ax is None else ax
    t_ms = (np.arange(len(accuracy)) + 1) * dt_ms
    ax.plot(t_ms, accuracy, "o-", ms=3, label=label)
    ax.set_xlabel("time steps used (ms)")
    ax.set_ylabel("test accuracy")
    ax.set_ylim(0.0, 1.02)
    ax.grid(True, alpha=0.3)
    return ax


def plot_sample_grid(
    samples: np.ndarray,
    *,
    class_names: Sequence[str] | None = None,
    ax: Axes | None = None,
) -> Axes:
    """Images in a grid: one row per class, one column per sample.

    Parameters
    ----------
    samples : array [K, M, C, H, W]
        M images of each of K classes, pixels in [0, 1]; C is 1 (grey) or 3 (RGB).
    class_names : sequence of str, optional
        Row labels (default: the class indices).

    Examples
    --------
    >>> fig, (ax,) = new_figure()
    >>> plot_sample_grid(np.zeros((10, 8, 1, 8, 8)), ax=ax).get_ylabel()
    'class'
    """
    ax = plt.gca() if ax is None else ax
    samples = np.asarray(samples, dtype=np.float64)
    if samples.ndim != 5 or samples.shape[2] not in (1, 3):
        raise ParameterError(
            f"samples must have shape [K, M, C (1 or 3), H, W], got {samples.shape}"
        )
    k, m, c, h, w = samples.shape
    pad = 1
    mosaic = np.ones(((h + pad) * k - pad, (w + pad) * m - pad, c))
    for i in range(k):
        for j in range(m):
            top, left = i * (h + pad), j * (w + pad)
            mosaic[top : top + h, left : left + w] = samples[i, j].transpose(1, 2, 0)
    mosaic = np.clip(mosaic, 0.0, 1.0)
    if c == 1:
        ax.imshow(mosaic[:, :, 0], cmap="gray", vmin=0.0, vmax=1.0, interpolation="nearest")
    else:
        ax.imshow(mosaic, interpolation="nearest")
    names = list(class_names) if class_names is not None else [str(i) for i in range(k)]
    ax.set_yticks([i * (h + pad) + (h - 1) / 2 for i in range(k)], names, fontsize="small")
    ax.set_xticks([])
    ax.set_ylabel("class")
    return ax

"""Figures of membrane traces, spike rasters, accuracies and integrator convergence.

The only module that imports matplotlib (``import spikerec`` does not load it). Every
plot function

- takes torch tensors (any device, with or without ``requires_grad``) or NumPy arrays;
- draws on ``ax`` (default: pyplot's current axes) and returns it, never calling
  ``plt.show()``;
- labels every axis with its unit: times in ms, membrane potentials in spikerec's
  voltage unit ("a.u.", in which ``v_th = 1`` by default), accuracies in %;
- puts its legend outside the data area (right of the axes).

:func:`new_figure` makes a figure outside pyplot's global state and
:func:`save_figure` writes it atomically as PNG, SVG or PDF by the file's extension.

Examples
--------
>>> import torch
>>> from spikerec import LIF, LIFParams
>>> out = LIF(LIFParams(tau_mem_ms=10.0))(torch.full((30, 1, 2), 2.0, requires_grad=True))
>>> fig, (ax,) = new_figure()
>>> ax = plot_lif(out, neuron=1, ax=ax)
>>> ax.get_ylabel()
'membrane potential (a.u.)'
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, cast

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.ticker import PercentFormatter

from spikerec.errors import ParameterError
from spikerec.run_folders import atomic_write

TIME_LABEL = "time (ms)"
VOLTAGE_LABEL = "membrane potential (a.u.)"
"""Axis label of membrane potentials: spikerec's one voltage unit (default ``v_th = 1``)."""

FIGURE_FORMATS: dict[str, str] = {".png": "png", ".svg": "svg", ".pdf": "pdf"}
"""File extension -> matplotlib format written by :func:`save_figure`."""

DENSE_RASTER_ROWS = 400
"""Above this many neuron rows, :func:`plot_raster` draws a density image."""

_MARKERS = ("o", "s", "^", "D", "v", "P", "X", "*", "h", "<", ">", "p")
_SPIKE_COLOR = "black"
_REFERENCE_COLORS = ("tab:gray", "tab:blue", "tab:green", "tab:purple", "tab:brown", "tab:olive")
_THRESHOLD_COLOR = "tab:red"
_RESET_COLOR = "tab:gray"


def to_numpy(values: Any, name: str = "values") -> np.ndarray:
    """A tensor (any device, with grad) or array-like as a NumPy array.

    Parameters
    ----------
    values : torch.Tensor, numpy.ndarray, sequence or number
        Detached and moved to the CPU when a tensor; half-precision tensors become
        float32.
    name : str
        Named in the error for values that are not numeric.

    Returns
    -------
    numpy.ndarray

    Examples
    --------
    >>> import torch
    >>> to_numpy(torch.ones(2, requires_grad=True)).tolist()
    [1.0, 1.0]
    """
    if hasattr(values, "detach") and hasattr(values, "cpu"):  # a torch tensor, duck-typed
        tensor = values.detach().cpu()
        if tensor.dtype.is_floating_point and tensor.element_size() < 4:
            tensor = tensor.float()  # bfloat16 / float16 have no NumPy twin
        return tensor.numpy()
    try:
        array = np.asarray(values)
    except (TypeError, ValueError) as error:
        raise ParameterError(f"{name} is not array-like ({error})") from None
    if array.dtype == object:
        raise ParameterError(f"{name} is not numeric: got {type(values).__name__}")
    return array


def new_figure(
    n_rows: int = 1,
    *,
    height_ratios: Sequence[float] | None = None,
    figsize: tuple[float, float] = (8.0, 5.0),
    sharex: bool = True,
) -> tuple[Figure, list[Axes]]:
    """A figure outside pyplot's global state (safe in scripts and threads) and its axes.

    Parameters
    ----------
    n_rows : int
        Axes stacked vertically.
    height_ratios : sequence of float, optional
        Relative heights of the rows.
    figsize : (float, float)
        Width and height in inches.
    sharex : bool
        Whether the rows share the x axis (time).

    Returns
    -------
    (Figure, list of Axes)
        Constrained layout, so legends outside the axes get room.

    Examples
    --------
    >>> fig, axes = new_figure(2, height_ratios=[2, 1])
    >>> len(axes)
    2
    """
    fig = Figure(figsize=figsize, layout="constrained")
    axes = fig.subplots(
        n_rows,
        1,
        sharex=sharex,
        squeeze=False,
        gridspec_kw=None if height_ratios is None else {"height_ratios": list(height_ratios)},
    )
    return fig, list(axes[:, 0])


def save_figure(fig: Figure, path: str | os.PathLike[str], *, dpi: int = 120) -> Path:
    """Write ``fig`` atomically in the format its file extension names.

    Parameters
    ----------
    fig : matplotlib.figure.Figure
    path : str or PathLike
        Ending in ``.png``, ``.svg`` or ``.pdf`` (any case). A crash leaves no half
        file; an existing file is replaced.
    dpi : int
        Resolution of PNG files (and of raster parts of SVG and PDF).

    Returns
    -------
    pathlib.Path
        The file written.

    Raises
    ------
    ValueError
        One line, for any other extension.

    Notes
    -----
    SVG and PDF files get no creation date in their metadata.

    Examples
    --------
    >>> fig, (ax,) = new_figure()
    >>> save_figure(fig, tmp_path / "trace.svg").read_bytes()[:5]  # doctest: +SKIP
    b'<?xml'
    >>> save_figure(fig, "trace.jpg")
    Traceback (most recent call last):
    ...
    spikerec.errors.ParameterError: cannot save a figure as 'trace.jpg': the extension must ...
    """
    target = Path(path)
    suffix = target.suffix.lower()
    if suffix not in FIGURE_FORMATS:
        raise ParameterError(
            f"cannot save a figure as {str(target)!r}: the extension must be one of "
            f"{', '.join(FIGURE_FORMATS)}"
        )
    fmt = FIGURE_FORMATS[suffix]
    metadata = {"svg": {"Date": None}, "pdf": {"CreationDate": None}}.get(fmt)
    return atomic_write(
        target, lambda tmp: fig.savefig(tmp, format=fmt, dpi=dpi, metadata=metadata)
    )


def _axes(ax: Axes | None) -> Axes:
    return plt.gca() if ax is None else ax


def _xlabel(ax: Axes, text: str) -> None:
    """Label the x axis, unless a subplot below shares it (then that one carries it)."""
    spec = ax.get_subplotspec()
    shared = len(ax.get_shared_x_axes().get_siblings(ax)) > 1
    ax.set_xlabel("" if shared and spec is not None and not spec.is_last_row() else text)


def legend_outside(ax: Axes, handles: Sequence[Any] | None = None, **kwargs: Any) -> Any:
    """A legend right of the axes, outside the data area (constrained layout makes room).

    Examples
    --------
    >>> fig, (ax,) = new_figure()
    >>> _ = ax.plot([0, 1], [0, 1], label="line")
    >>> legend_outside(ax).get_texts()[0].get_text()
    'line'
    """
    options = {
        "loc": "upper left",
        "bbox_to_anchor": (1.02, 1.0),
        "borderaxespad": 0.0,
        "fontsize": "small",
        "frameon": False,
        **kwargs,
    }
    if handles is not None:
        return ax.legend(handles=list(handles), **options)
    return ax.legend(**options)


def _spike_word(n: int) -> str:
    return f"{n} spike" if n == 1 else f"{n} spikes"


def plot_membrane_trace(
    t_ms: Any,
    v: Any,
    *,
    v_th: float,
    spike_times_ms: Any | None = None,
    v_reset: float | None = None,
    ax: Axes | None = None,
    label: str | None = None,
) -> Axes:
    """Membrane potential over time with the threshold, the reset level and spikes marked.

    Parameters
    ----------
    t_ms : array or Tensor [T]
        Sample times in ms.
    v : array or Tensor [T]
        Membrane potential (pre-reset at spike times, so crossings are visible).
    v_th : float
        Threshold, drawn as a dashed red line.
    spike_times_ms : array or Tensor [S], optional
        Output spike times in ms, marked by black ticks above the trace.
    v_reset : float, optional
        Reset level, drawn as a dotted grey line.
    ax : Axes, optional
    label : str, optional
        Legend entry of the trace (default ``"V(t)"``).

    Returns
    -------
    Axes

    Examples
    --------
    >>> import torch
    >>> fig, (ax,) = new_figure()
    >>> v = torch.linspace(0, 1.2, 10, requires_grad=True)
    >>> ax = plot_membrane_trace(torch.arange(10.0), v, v_th=1.0, spike_times_ms=[9.0], ax=ax)
    >>> [t.get_text() for t in ax.get_legend().get_texts()]
    ['V(t)', 'threshold V_th = 1', '1 spike']
    """
    ax = _axes(ax)
    t_ms, v = to_numpy(t_ms, "t_ms").ravel(), to_numpy(v, "v").ravel()
    if t_ms.shape != v.shape:
        raise ParameterError(f"t_ms has {t_ms.size} samples and v {v.size}; they must match")
    ax.plot(t_ms, v, lw=1.0, label=label or "V(t)")
    ax.axhline(v_th, color=_THRESHOLD_COLOR, ls="--", lw=1.0, label=f"threshold V_th = {v_th:g}")
    if v_reset is not None:
        ax.axhline(
            v_reset, color=_RESET_COLOR, ls=":", lw=1.0, label=f"reset V_reset = {v_reset:g}"
        )
    times = None if spike_times_ms is None else to_numpy(spike_times_ms, "spike_times_ms").ravel()
    if times is not None and times.size:
        low = min(float(np.min(v)), v_th if v_reset is None else min(v_th, v_reset))
        top = max(float(np.max(v)), v_th)
        y = top + 0.08 * max(top - low, 1e-12)
        ax.plot(
            times,
            np.full(times.size, y),
            ls="none",
            marker="|",
            ms=9,
            mew=1.5,
            color=_SPIKE_COLOR,
            label=_spike_word(int(times.size)),
        )
    _xlabel(ax, TIME_LABEL)
    ax.set_ylabel(VOLTAGE_LABEL)
    legend_outside(ax)
    return ax


def plot_input_current(
    t_ms: Any, current: Any, *, ax: Axes | None = None, label: str = "I(t)"
) -> Axes:
    """Input current over time as a step plot (the value held over each step).

    Parameters
    ----------
    t_ms : array or Tensor [T]
        Step start times in ms.
    current : array or Tensor [T]
        Current of each step, in spikerec's current unit (``r_m * I`` is a voltage).
    ax : Axes, optional
    label : str
        Legend entry.

    Returns
    -------
    Axes

    Examples
    --------
    >>> fig, (ax,) = new_figure()
    >>> plot_input_current([0.0, 1.0, 2.0], [0.0, 1.5, 0.0], ax=ax).get_ylabel()
    'input current (a.u.)'
    """
    ax = _axes(ax)
    t_ms, current = to_numpy(t_ms, "t_ms").ravel(), to_numpy(current, "current").ravel()
    ax.step(t_ms, current, where="post", color="tab:green", lw=1.2, label=label)
    _xlabel(ax, TIME_LABEL)
    ax.set_ylabel("input current (a.u.)")
    legend_outside(ax)
    return ax


def _index_neuron(values: np.ndarray, batch: int, neuron: int | Sequence[int]) -> np.ndarray:
    """``values [T, B, *shape]`` at one batch element and one neuron -> ``[T]``."""
    if values.ndim < 3:
        raise ParameterError(
            f"expected spikes and membrane of shape [T, B, ...], got {list(values.shape)}"
        )
    if not -values.shape[1] <= batch < values.shape[1]:
        raise ParameterError(f"batch={batch} is out of range for batch size {values.shape[1]}")
    shape = list(values.shape[2:])
    if isinstance(neuron, (int, np.integer)):
        flat = values[:, batch].reshape(values.shape[0], -1)
        if not -flat.shape[1] <= neuron < flat.shape[1]:
            raise ParameterError(f"neuron={neuron} is out of range for {flat.shape[1]} neurons")
        return flat[:, neuron]
    index = tuple(int(i) for i in neuron)
    if len(index) != len(shape) or not all(-n <= i < n for i, n in zip(index, shape, strict=True)):
        raise ParameterError(f"neuron={index} is not an index into neurons of shape {shape}")
    key: tuple[Any, ...] = (slice(None), batch, *index)
    return values[key]


def plot_lif(
    out: Any,
    neuron: int | Sequence[int] = 0,
    batch: int = 0,
    *,
    ax: Axes | None = None,
    dt_ms: float | None = None,
    v_th: float | None = None,
    v_reset: float | None = None,
    params: Any | None = None,
    label: str | None = None,
) -> Axes:
    """Membrane trace of one neuron of a layer's output, with threshold, reset and spikes.

    Parameters
    ----------
    out : LIFOutput or HeadOutput
        Anything with ``spikes`` and ``membrane`` of shape ``[T, B, *shape]``
        (tensors or arrays; pre-reset membranes, as :class:`~spikerec.LIF` returns).
    neuron : int or sequence of int
        Flat index into ``*shape``, or one index per dimension (e.g. ``(c, y, x)``).
    batch : int
        Batch element.
    ax : Axes, optional
    dt_ms : float, optional
        Step in ms: sample n is drawn at ``(n + 1) dt_ms``, the end of its step.
        Default: ``params.dt_ms``, else 1.
    v_th, v_reset : float, optional
        Threshold and reset level drawn. Default: from ``params``, else 1 and 0.
    params : LIFParams, optional
        The layer's parameters (``layer.params``), for the defaults above.
    label : str, optional
        Legend entry of the trace (default ``"neuron <index>"``).

    Returns
    -------
    Axes

    Examples
    --------
    >>> import torch
    >>> from spikerec import LIF, LIFParams
    >>> layer = LIF(LIFParams(tau_mem_ms=10.0, dt_ms=0.5))
    >>> out = layer(torch.full((40, 2, 3), 3.0))
    >>> fig, (ax,) = new_figure()
    >>> ax = plot_lif(out, neuron=2, batch=1, params=layer.params, ax=ax)
    >>> ax.get_xlabel(), ax.get_legend().get_texts()[-1].get_text()
    ('time (ms)', '11 spikes')
    """
    if not (hasattr(out, "spikes") and hasattr(out, "membrane")):
        raise ParameterError(
            f"plot_lif takes a layer output with .spikes and .membrane, got {type(out).__name__}"
        )
    spikes, membrane = to_numpy(out.spikes, "spikes"), to_numpy(out.membrane, "membrane")
    if spikes.shape != membrane.shape:
        raise ParameterError(
            f"spikes {list(spikes.shape)} and membrane {list(membrane.shape)} differ in shape"
        )

    def default(value: float | None, field: str, fallback: float) -> float:
        if value is not None:
            return float(value)
        return float(getattr(params, field)) if params is not None else fallback

    dt_ms, v_th = default(dt_ms, "dt_ms", 1.0), default(v_th, "v_th", 1.0)
    v_reset = default(v_reset, "v_reset", 0.0)
    v = _index_neuron(membrane, batch, neuron)
    fired = _index_neuron(spikes, batch, neuron) > 0
    t_ms = (np.arange(v.shape[0]) + 1) * dt_ms
    name = neuron if isinstance(neuron, int) else tuple(neuron)
    return plot_membrane_trace(
        t_ms,
        v,
        v_th=v_th,
        v_reset=v_reset,
        spike_times_ms=t_ms[fired],
        ax=ax,
        label=label or f"neuron {name}",
    )


def plot_raster(
    neuron: Any,
    times_ms: Any,
    *,
    ax: Axes | None = None,
    max_neurons: int | None = None,
    n_neurons: int | None = None,
    dt_ms: float | None = None,
    style: str = "auto",
) -> Axes:
    """Spike raster: one tick per spike at (time, neuron), or a density image for many rows.

    Parameters
    ----------
    neuron : array or Tensor [E] of int
        Neuron index of each spike.
    times_ms : array or Tensor [E]
        Spike times in ms.
    ax : Axes, optional
    max_neurons : int, optional
        Show only neurons ``0 .. max_neurons-1``.
    n_neurons : int, optional
        Rows to show (default: the largest index + 1, or ``max_neurons``).
    dt_ms : float, optional
        Time bin of the density image (default: the smallest gap between spike times,
        the step of grid data).
    style : {"auto", "ticks", "density"}
        ``"ticks"``: thin ticks sized to the row height; ``"density"``: spikes per
        bin of time and of neighbouring neurons, in grey levels with a colour bar;
        ``"auto"``: ticks up to 400 rows, density above (ticks of 3136 rows overlap
        into solid bars).

    Returns
    -------
    Axes

    Examples
    --------
    >>> fig, (ax,) = new_figure()
    >>> ax = plot_raster([0, 5, 3000], [1.0, 2.0, 2.0], n_neurons=3136, ax=ax)
    >>> ax.images[0].get_array().shape  # (neuron groups, time bins)
    (196, 2)
    """
    ax = _axes(ax)
    neuron = to_numpy(neuron, "neuron").ravel().astype(np.int64)
    times_ms = to_numpy(times_ms, "times_ms").ravel().astype(np.float64)
    if neuron.shape != times_ms.shape:
        raise ParameterError(f"neuron has {neuron.size} entries and times_ms {times_ms.size}")
    if style not in ("auto", "ticks", "density"):
        raise ParameterError(f"style={style!r} is not one of auto, ticks, density")
    if max_neurons is not None:
        keep = neuron < max_neurons
        neuron, times_ms = neuron[keep], times_ms[keep]
    rows = n_neurons or max_neurons or (int(neuron.max()) + 1 if neuron.size else 1)
    dense = style == "density" or (style == "auto" and rows > DENSE_RASTER_ROWS)
    if dense and neuron.size:
        _density_raster(ax, neuron, times_ms, rows, dt_ms)
    else:
        # tick height in points: the axes' height shared by the rows, at most 6 pt
        height_pt = ax.get_position().height * cast(Figure, ax.figure).get_figheight() * 72.0
        size = float(np.clip(0.8 * height_pt / max(rows, 1), 0.5, 6.0))
        ax.plot(times_ms, neuron, ls="none", marker="|", ms=size, mew=0.6, color=_SPIKE_COLOR)
        ax.set_ylim(-0.5, rows - 0.5)
    _xlabel(ax, TIME_LABEL)
    ax.set_ylabel("input neuron")
    return ax


def _density_raster(
    ax: Axes, neuron: np.ndarray, times_ms: np.ndarray, rows: int, dt_ms: float | None
) -> None:
    if dt_ms is None:
        gaps = np.diff(np.unique(times_ms))
        dt_ms = float(gaps.min()) if gaps.size else 1.0
    group = max(1, math.ceil(rows / 200))
    t0 = float(times_ms.min()) - dt_ms / 2
    n_bins = int(round((float(times_ms.max()) + dt_ms / 2 - t0) / dt_ms)) or 1
    counts = np.zeros((math.ceil(rows / group), n_bins))
    col = np.clip(np.floor((times_ms - t0) / dt_ms).astype(np.int64), 0, n_bins - 1)
    np.add.at(counts, (neuron // group, col), 1.0)
    image = ax.imshow(
        counts,
        origin="lower",
        aspect="auto",
        interpolation="nearest",
        cmap="Greys",
        extent=(t0, t0 + n_bins * dt_ms, -0.5, counts.shape[0] * group - 0.5),
    )
    unit = f"{dt_ms:g} ms"
    label = f"spikes per {unit}" if group == 1 else f"spikes per {unit} and {group} neurons"
    ax.figure.colorbar(image, ax=ax, label=label, pad=0.01)


def plot_convergence(
    dt_ms: Any,
    errors: Mapping[str, Any],
    *,
    ax: Axes | None = None,
    reference_orders: Sequence[float] = (1, 4),
    floor: float = 1e-12,
) -> Axes:
    """Error against step size on log-log axes, with fitted orders and reference slopes.

    Parameters
    ----------
    dt_ms : array or Tensor [K]
        Step sizes in ms.
    errors : mapping name -> array [K]
        Maximum absolute membrane error for each step size.
    ax : Axes, optional
    reference_orders : sequence of float
        Slopes drawn as grey dashed lines ``error ∝ dt^p``.
    floor : float
        Errors below it are round-off: left out of the fit. A method whose errors
        all lie below it is labelled with its largest error instead of an order.

    Returns
    -------
    Axes
        The legend gives each method's fitted order (slope of ``log error`` on
        ``log dt`` by least squares).

    Examples
    --------
    >>> fig, (ax,) = new_figure()
    >>> dt = np.array([0.25, 0.5, 1.0])
    >>> ax = plot_convergence(dt, {"euler": 0.1 * dt, "exact": np.full(3, 1e-16)}, ax=ax)
    >>> [t.get_text() for t in ax.get_legend().get_texts()]
    ['euler: fitted order 1.00', 'exact: round-off (max 1e-16)', 'slope 1', 'slope 4']
    """
    ax = _axes(ax)
    dt = to_numpy(dt_ms, "dt_ms").astype(np.float64).ravel()
    fits: list[tuple[float, float, float]] = []  # (order, dt, error) at the largest dt
    for name, values in errors.items():
        err = np.abs(to_numpy(values, name).astype(np.float64).ravel())
        fit = err > floor
        if fit.sum() >= 2:
            order = float(np.polyfit(np.log(dt[fit]), np.log(err[fit]), 1)[0])
            text = f"{name}: fitted order {order:.2f}"
            last = int(np.argmax(np.where(fit, dt, -np.inf)))
            fits.append((order, float(dt[last]), float(err[last])))
        else:
            text = f"{name}: round-off (max {err.max():.0e})"
        ax.loglog(dt, np.maximum(err, 1e-17), "o-", ms=4, label=text)
    span = np.array([dt.min(), dt.max()])
    for k, p in enumerate(reference_orders if fits else ()):
        # through a point 3x below the method whose fitted order is nearest to p
        _, at_dt, at_err = min(fits, key=lambda fit: abs(fit[0] - p))
        ax.loglog(
            span,
            at_err / 3.0 * (span / at_dt) ** p,
            ls=(0, (4, 2 + 2 * k)),
            color="0.45",
            lw=1.0,
            label=f"slope {p:g}",
        )
    ax.set_xlabel("step size dt (ms)")
    ax.set_ylabel("max |V − V_reference| (a.u.)")
    ax.grid(True, which="both", alpha=0.3)
    legend_outside(ax)
    return ax


def plot_training_curve(history: Sequence[Mapping[str, float]], *, ax: Axes | None = None) -> Axes:
    """Training loss and train/validation accuracy per epoch.

    Parameters
    ----------
    history : sequence of dicts
        One dict per epoch with ``epoch``, ``train_loss``, ``train_accuracy`` and
        ``val_accuracy`` (as recorded by :func:`spikerec.training.loop.train`).
    ax : Axes, optional

    Returns
    -------
    Axes
        The accuracy axes; the loss is on a twin axis at the right.

    Examples
    --------
    >>> fig, (ax,) = new_figure()
    >>> history = [{"epoch": 1, "train_loss": 1.0, "train_accuracy": 0.8, "val_accuracy": 0.7}]
    >>> plot_training_curve(history, ax=ax).get_ylabel()
    'accuracy (%)'
    """
    ax = _axes(ax)
    epochs = [h["epoch"] for h in history]
    ax.plot(epochs, [h["train_accuracy"] for h in history], "o-", label="train accuracy")
    ax.plot(epochs, [h["val_accuracy"] for h in history], "s-", label="validation accuracy")
    ax.set_xlabel("epoch")
    ax.set_ylabel("accuracy (%)")
    ax.yaxis.set_major_formatter(PercentFormatter(1.0))
    loss_ax = ax.twinx()
    loss_ax.plot(
        epochs, [h["train_loss"] for h in history], "--", color="tab:gray", label="train loss"
    )
    loss_ax.set_ylabel("training loss (cross-entropy)")
    lines, labels = ax.get_legend_handles_labels()
    more, more_labels = loss_ax.get_legend_handles_labels()
    ax.legend(
        lines + more,
        labels + more_labels,
        loc="lower center",
        bbox_to_anchor=(0.5, 1.01),
        ncol=3,
        fontsize="small",
        frameon=False,
    )
    return ax


def plot_confusion_matrix(
    confusion: Any, *, class_names: Sequence[str] | None = None, ax: Axes | None = None
) -> Axes:
    """Confusion matrix ``[C, C]`` (rows: true class, columns: predicted), with counts.

    Examples
    --------
    >>> fig, (ax,) = new_figure()
    >>> plot_confusion_matrix(np.eye(3, dtype=int) * 5, ax=ax).get_xlabel()
    'predicted class'
    """
    ax = _axes(ax)
    confusion = to_numpy(confusion, "confusion")
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
    membrane: Any,
    spikes: Any,
    *,
    v_th: float,
    dt_ms: float = 1.0,
    label: int | None = None,
    ax: Axes | None = None,
    v_reset: float = 0.0,
    v_floor: float | None = None,
    class_names: Sequence[str] | None = None,
) -> Axes:
    """Membrane of every output neuron over time, each class with its colour and marker.

    Parameters
    ----------
    membrane, spikes : array or Tensor [T, C]
        Pre-reset membranes and spikes of the C output neurons for one image.
    v_th : float
        Threshold (dashed red line).
    dt_ms : float
        Step in ms; sample n is drawn at ``(n + 1) dt_ms``.
    label : int, optional
        True class, drawn with a thicker line.
    ax : Axes, optional
    v_reset : float
        Reset level (dotted grey line).
    v_floor : float, optional
        Lower edge of the y axis. Default: the lowest membrane, but not below
        ``v_th - 2.5 (v_th - v_reset)``; traces that go lower are clipped, and a
        note in the axes names them and their minimum.
    class_names : sequence of str, optional
        Legend names (default: the class indices).

    Returns
    -------
    Axes
        Each class's spikes are markers of its own shape, in its colour with a black
        edge, on its trace at the spike's (pre-reset) membrane; the legend, outside
        the axes, pairs line and marker and gives each class's spike count.

    Examples
    --------
    >>> import torch
    >>> membrane = torch.tensor([[0.5, -7.0], [1.2, -6.5]], requires_grad=True)
    >>> spikes = torch.tensor([[0.0, 0.0], [1.0, 0.0]])
    >>> fig, (ax,) = new_figure()
    >>> ax = plot_output_membranes(membrane, spikes, v_th=1.0, label=0, ax=ax)
    >>> float(ax.get_ylim()[0]), ax.texts[0].get_text()
    (-1.5, 'below -1.5 not shown: class 1 (min -7)')
    """
    ax = _axes(ax)
    membrane, spikes = to_numpy(membrane, "membrane"), to_numpy(spikes, "spikes")
    if membrane.ndim != 2 or membrane.shape != spikes.shape:
        raise ParameterError(
            f"membrane {list(membrane.shape)} and spikes {list(spikes.shape)} must both be [T, C]"
        )
    n_steps, n_classes = membrane.shape
    names = list(class_names) if class_names is not None else [str(c) for c in range(n_classes)]
    t_ms = (np.arange(n_steps) + 1) * dt_ms
    colors = plt.get_cmap("tab10" if n_classes <= 10 else "tab20")
    handles = []
    for c in range(n_classes):
        true = label is not None and c == label
        color, marker = colors(c % colors.N), _MARKERS[c % len(_MARKERS)]
        ax.plot(t_ms, membrane[:, c], color=color, lw=2.4 if true else 1.0, zorder=3 if true else 2)
        fired = spikes[:, c] > 0
        ax.plot(
            t_ms[fired],
            membrane[fired, c],
            ls="none",
            marker=marker,
            ms=6,
            mfc=color,
            mec="black",
            mew=0.7,
            zorder=4,
        )
        count = int(fired.sum())
        handles.append(
            Line2D(
                [],
                [],
                color=color,
                lw=2.4 if true else 1.0,
                marker=marker,
                mfc=color,
                mec="black",
                mew=0.7,
                label=f"class {names[c]}{' (true)' if true else ''}: {_spike_word(count)}",
            )
        )
    ax.axhline(v_th, color=_THRESHOLD_COLOR, ls="--", lw=1.0)
    ax.axhline(v_reset, color=_RESET_COLOR, ls=":", lw=1.0)
    handles.append(Line2D([], [], color=_THRESHOLD_COLOR, ls="--", label=f"threshold {v_th:g}"))
    handles.append(Line2D([], [], color=_RESET_COLOR, ls=":", label=f"reset level {v_reset:g}"))

    top, data_low = max(float(np.max(membrane)), v_th), float(np.min(membrane))
    auto_floor = v_th - 2.5 * (v_th - v_reset)
    if v_floor is not None:
        low = v_floor
    elif data_low < auto_floor:
        low = auto_floor
    else:
        low = min(data_low, v_reset) - 0.05 * (top - min(data_low, v_reset))
    ax.set_ylim(low, top + 0.05 * (top - low))
    clipped = [c for c in range(n_classes) if membrane[:, c].min() < ax.get_ylim()[0]]
    if clipped:
        detail = ", ".join(f"class {names[c]} (min {membrane[:, c].min():.3g})" for c in clipped)
        ax.text(
            0.01,
            0.02,
            f"below {ax.get_ylim()[0]:.3g} not shown: {detail}",
            transform=ax.transAxes,
            fontsize="x-small",
            color="0.3",
            va="bottom",
        )
    _xlabel(ax, TIME_LABEL)
    ax.set_ylabel(VOLTAGE_LABEL)
    legend_outside(ax, handles, fontsize="x-small")
    return ax


_ENTRY_KINDS = (
    ("spiking LIF head", "tab:red", "o"),
    ("softmax / CNN / RNN heads", "tab:blue", "s"),
    ("SVM baselines", "tab:gray", "D"),
)


def _entry_kind(entry: str) -> int:
    if entry == "lif" or entry.startswith("lif"):
        return 0
    return 2 if "svm" in entry else 1


def plot_accuracy_bars(rows: Sequence[Mapping[str, Any]], *, ax: Axes | None = None) -> Axes:
    """Mean test accuracy per entry with its 95 % confidence interval (the paper's Figure 2).

    Drawn as dots with whiskers, not bars: the y axis is zoomed on the results, and a
    bar cut off at a non-zero floor would exaggerate the differences.

    Parameters
    ----------
    rows : sequence of dicts
        With ``entry``, ``accuracy_mean``, ``ci95_low``, ``ci95_high`` and ``n_seeds``;
        an optional ``label`` names the entry (default: the entry).
    ax : Axes, optional

    Returns
    -------
    Axes
        The legend (outside the axes) explains the colours, says how many seeds the
        intervals are over, and which intervals were clipped at 100 % (the
        harness clips the Student-t interval to [0, 1]; clipped ends are drawn as
        open triangles).

    Examples
    --------
    >>> fig, (ax,) = new_figure()
    >>> rows = [
    ...     {"entry": "lif", "accuracy_mean": 0.96, "ci95_low": 0.95, "ci95_high": 0.97,
    ...      "n_seeds": 3},
    ...     {"entry": "svm-v4", "accuracy_mean": 0.99, "ci95_low": 0.975, "ci95_high": 1.0,
    ...      "n_seeds": 3},
    ... ]
    >>> ax = plot_accuracy_bars(rows, ax=ax)
    >>> [t.get_text() for t in ax.get_legend().get_texts()][-2:]
    ['mean, 95 % CI over 3 seeds', 'CI clipped at 100 %']
    """
    ax = _axes(ax)
    names = [str(r.get("label", r["entry"])) for r in rows]
    kinds = [_entry_kind(str(r["entry"])) for r in rows]
    means = np.array([float(r["accuracy_mean"]) for r in rows])
    lows = np.array([float(r["ci95_low"]) for r in rows])
    highs = np.array([float(r["ci95_high"]) for r in rows])
    seeds = sorted({int(r.get("n_seeds", 1)) for r in rows})
    clipped_high = (highs >= 1.0) & (means < 1.0)
    clipped_low = (lows <= 0.0) & (means > 0.0)
    x = np.arange(len(rows))
    for i in x:
        _, color, marker = _ENTRY_KINDS[kinds[i]]
        ax.errorbar(
            i,
            means[i],
            yerr=[[means[i] - lows[i]], [highs[i] - means[i]]],
            fmt=marker,
            color=color,
            ms=7,
            capsize=5,
            lw=1.5,
        )
        ax.annotate(
            f"{100 * means[i]:.1f} %",
            (i, means[i]),
            xytext=(9, 0),
            textcoords="offset points",
            va="center",
            fontsize="small",
        )
    for mask, y, shape in ((clipped_high, 1.0, "^"), (clipped_low, 0.0, "v")):
        if mask.any():
            ax.plot(
                x[mask],
                np.full(mask.sum(), y),
                ls="none",
                marker=shape,
                mfc="white",
                mec="black",
                ms=7,
            )
    span = max(float(highs.max() - lows.min()), 0.01)
    ax.set_ylim(
        max(0.0, float(lows.min()) - 0.15 * span), min(1.0, float(highs.max())) + 0.15 * span
    )
    ax.set_xlim(-0.6, len(rows) - 0.2)
    ax.set_xticks(x, names, rotation=20, ha="right")
    ax.yaxis.set_major_formatter(PercentFormatter(1.0))
    ax.set_ylabel("test accuracy (%)")
    ax.grid(True, axis="y", alpha=0.3)
    handles = [
        Line2D([], [], ls="none", marker=m, color=c, label=text)
        for k, (text, c, m) in enumerate(_ENTRY_KINDS)
        if k in kinds
    ]
    seed_text = " or ".join(str(s) for s in seeds)
    if seeds == [1]:
        interval = "one seed: no confidence interval"
    else:
        interval = f"mean, 95 % CI over {seed_text} seeds"
    handles.append(Line2D([], [], color="black", marker="|", ms=10, lw=1.5, label=interval))
    if clipped_high.any() or clipped_low.any():
        handles.append(
            Line2D(
                [], [], ls="none", marker="^", mfc="white", mec="black", label="CI clipped at 100 %"
            )
        )
    legend_outside(ax, handles)
    return ax


def plot_accuracy_by_steps(
    accuracy: Any,
    *,
    dt_ms: float = 1.0,
    ax: Axes | None = None,
    label: str | None = None,
    references: Mapping[str, float] | None = None,
    zoom: bool = True,
) -> Axes:
    """Test accuracy of the LIF head when only its first t time steps are decoded.

    Parameters
    ----------
    accuracy : array or Tensor [T] or [S, T]
        Accuracy after 1..T steps, one row per seed.
    dt_ms : float
        Step in ms, for the time axis on top.
    ax : Axes, optional
    label : str, optional
        Legend name of the curve (default ``"LIF head"``).
    references : mapping name -> float, optional
        Accuracies of other entries, drawn as horizontal dashed lines.
    zoom : bool
        Add an inset over the last 60 % of the steps with its y axis zoomed on the
        curve and the references, where the differences are a few tenths of a percent.

    Returns
    -------
    Axes
        x in time steps (bottom) and ms (top); with several seeds the mean, a band
        from the lowest to the highest seed and each seed as a thin line.

    Examples
    --------
    >>> fig, (ax,) = new_figure()
    >>> curves = [[0.5, 0.9, 0.95, 0.96], [0.4, 0.85, 0.96, 0.97]]
    >>> ax = plot_accuracy_by_steps(curves, references={"softmax CNN": 0.98}, ax=ax)
    >>> ax.get_xlabel(), [t.get_text() for t in ax.get_legend().get_texts()][:2]
    ('time steps decoded', ['LIF head, mean of 2 seeds', 'range over 2 seeds'])
    """
    ax = _axes(ax)
    curves = np.atleast_2d(to_numpy(accuracy, "accuracy").astype(np.float64))
    n_seeds, n_steps = curves.shape
    steps = np.arange(1, n_steps + 1)
    mean = curves.mean(axis=0)
    name = label or "LIF head"
    refs = dict(references or {})

    def draw(target: Axes) -> None:
        if n_seeds > 1:
            target.fill_between(steps, curves.min(0), curves.max(0), color="tab:red", alpha=0.2)
            for curve in curves:
                target.plot(steps, curve, color="tab:red", lw=0.5, alpha=0.6)
        target.plot(steps, mean, "o-", ms=3, color="tab:red")
        for k, value in enumerate(refs.values()):
            target.axhline(value, color=_REFERENCE_COLORS[k % len(_REFERENCE_COLORS)], ls="--")

    draw(ax)
    ax.set_xlabel("time steps decoded")
    ax.set_ylabel("test accuracy (%)")
    ax.yaxis.set_major_formatter(PercentFormatter(1.0))
    ax.grid(True, alpha=0.3)
    top = ax.secondary_xaxis(
        "top", functions=(lambda s: np.asarray(s) * dt_ms, lambda t: np.asarray(t) / dt_ms)
    )
    top.set_xlabel(f"time (ms), dt = {dt_ms:g} ms")
    handles = [
        Line2D(
            [],
            [],
            color="tab:red",
            marker="o",
            ms=3,
            label=f"{name}, mean of {n_seeds} seeds" if n_seeds > 1 else f"{name}, 1 seed",
        )
    ]
    if n_seeds > 1:
        handles.append(
            Line2D([], [], color="tab:red", alpha=0.3, lw=6, label=f"range over {n_seeds} seeds")
        )
    for k, ref in enumerate(refs):
        handles.append(
            Line2D([], [], color=_REFERENCE_COLORS[k % len(_REFERENCE_COLORS)], ls="--", label=ref)
        )
    legend_outside(ax, handles)
    if zoom and n_steps >= 4:
        first = int(np.floor(0.4 * n_steps))
        window = np.concatenate([curves[:, first:].ravel(), list(refs.values())])
        low, high = float(window.min()), float(window.max())
        pad = max(0.1 * (high - low), 0.002)
        inset = ax.inset_axes((0.42, 0.08, 0.55, 0.5))
        draw(inset)
        inset.set_xlim(first + 0.5, n_steps + 0.5)
        inset.set_ylim(low - pad, min(1.0, high + pad) if high < 1.0 else 1.0 + pad / 4)
        inset.yaxis.set_major_formatter(PercentFormatter(1.0, decimals=1))
        inset.tick_params(labelsize="x-small")
        inset.grid(True, alpha=0.3)
        inset.set_title("zoom", fontsize="x-small", pad=2)
        ax.indicate_inset_zoom(inset, edgecolor="0.4")
    return ax


def plot_sample_grid(
    samples: Any,
    *,
    class_names: Sequence[str] | None = None,
    ax: Axes | None = None,
) -> Axes:
    """Images in a grid: one row per class, one column per sample.

    Parameters
    ----------
    samples : array or Tensor [K, M, C, H, W]
        M images of each of K classes, pixels in [0, 1]; C is 1 (grey) or 3 (RGB).
    class_names : sequence of str, optional
        Row labels (default: the class indices).
    ax : Axes, optional

    Returns
    -------
    Axes

    Examples
    --------
    >>> fig, (ax,) = new_figure()
    >>> plot_sample_grid(np.zeros((10, 8, 1, 8, 8)), ax=ax).get_ylabel()
    'class'
    """
    ax = _axes(ax)
    samples = to_numpy(samples, "samples").astype(np.float64)
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


def plot_early_exit_tradeoff(
    curve: Sequence[Mapping[str, float]],
    *,
    full_accuracy: float,
    full_synops_per_image: float,
    chosen: Mapping[str, float] | None = None,
    ax: Axes | None = None,
    label: str | None = None,
) -> Axes:
    """Accuracy against synaptic operations per image of early-exit rules, full-T run marked.

    Parameters
    ----------
    curve : sequence of mapping
        One point per rule with ``accuracy`` and ``synops_per_image`` (as from
        :func:`spikerec.recognition.early_exit.early_exit_curve`); the points that no
        other point beats on both axes are joined by a line.
    full_accuracy, full_synops_per_image : float
        The run of all T steps, drawn as a star.
    chosen : mapping, optional
        The rule reported (``accuracy``, ``synops_per_image``), drawn as a ring.

    Examples
    --------
    >>> fig, (ax,) = new_figure()
    >>> curve = [{"accuracy": 0.9, "synops_per_image": 1e4},
    ...          {"accuracy": 0.95, "synops_per_image": 3e4}]
    >>> plot_early_exit_tradeoff(curve, full_accuracy=0.96, full_synops_per_image=1e5,
    ...                          ax=ax).get_xlabel()
    'synaptic operations per image (SOP)'
    """
    ax = plt.gca() if ax is None else ax
    ops = np.array([p["synops_per_image"] for p in curve], dtype=np.float64)
    acc = np.array([p["accuracy"] for p in curve], dtype=np.float64)
    (dots,) = ax.plot(ops, acc, "o", ms=4, alpha=0.6, label=label)
    order = np.argsort(ops, kind="stable")
    front = [i for k, i in enumerate(order) if acc[i] > acc[order[:k]].max(initial=-np.inf)]
    ax.plot(ops[front], acc[front], "-", color=dots.get_color(), alpha=0.8)
    ax.plot(
        [full_synops_per_image],
        [full_accuracy],
        "*",
        ms=12,
        color=dots.get_color(),
        markeredgecolor="black",
        label="all T steps" if label is None else f"{label}: all T steps",
    )
    if chosen is not None:
        ax.plot(
            [chosen["synops_per_image"]],
            [chosen["accuracy"]],
            "o",
            ms=10,
            mfc="none",
            color="black",
            label="reported rule",
        )
    ax.set_xlabel("synaptic operations per image (SOP)")
    ax.set_ylabel("test accuracy")
    ax.grid(True, alpha=0.3)
    return ax


__all__ = [
    "DENSE_RASTER_ROWS",
    "FIGURE_FORMATS",
    "TIME_LABEL",
    "VOLTAGE_LABEL",
    "legend_outside",
    "new_figure",
    "plot_accuracy_bars",
    "plot_accuracy_by_steps",
    "plot_confusion_matrix",
    "plot_convergence",
    "plot_early_exit_tradeoff",
    "plot_input_current",
    "plot_lif",
    "plot_membrane_trace",
    "plot_output_membranes",
    "plot_raster",
    "plot_sample_grid",
    "plot_training_curve",
    "save_figure",
    "to_numpy",
]

"""Figures: tensors in, units on every axis, legends outside the data, files by extension.

Each plot function is drawn on a figure outside pyplot and then inspected through
matplotlib's own objects (lines, images, legend, window extents after a layout pass).
"""

from __future__ import annotations

import math
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from matplotlib.collections import PolyCollection
from matplotlib.patches import Rectangle

from spikerec import LIF, LIFParams
from spikerec.plotting import (
    DENSE_RASTER_ROWS,
    new_figure,
    plot_accuracy_bars,
    plot_accuracy_by_steps,
    plot_confusion_matrix,
    plot_convergence,
    plot_input_current,
    plot_lif,
    plot_membrane_trace,
    plot_output_membranes,
    plot_raster,
    plot_sample_grid,
    plot_training_curve,
    save_figure,
    to_numpy,
)

MAGIC = {".png": b"\x89PNG\r\n\x1a\n", ".pdf": b"%PDF-", ".svg": b"<?xml"}


@pytest.fixture
def gen() -> torch.Generator:
    return torch.Generator().manual_seed(0)


@pytest.fixture
def layer_output(gen):
    """A LIF layer's output on input that requires grad: [T=60, B=2, N=3]."""
    params = LIFParams(tau_mem_ms=10.0, dt_ms=0.5, v_reset=-0.2, reset="zero")
    x = (torch.rand(60, 2, 3, generator=gen) * 4.0).requires_grad_()
    return LIF(params)(x), params


def legend_outside_data(ax) -> bool:
    """After a layout pass: the legend's box does not overlap the axes' box."""
    ax.figure.draw_without_rendering()
    legend = ax.get_legend()
    assert legend is not None
    return not legend.get_window_extent().overlaps(ax.get_window_extent())


def data_lines(ax):
    return [line for line in ax.get_lines() if len(line.get_xdata()) > 2]


# --------------------------------------------------------------------------- tensors


def test_to_numpy_takes_tensors_with_grad_and_half_precision():
    x = torch.linspace(0, 1, 5, requires_grad=True)
    np.testing.assert_array_equal(to_numpy(x), x.detach().numpy())
    half = to_numpy(x.detach().to(torch.bfloat16))
    assert half.dtype == np.float32
    with pytest.raises(ValueError, match="not numeric"):
        to_numpy({"a": 1}, "membrane")


def test_every_plot_accepts_tensors_that_require_grad(layer_output):
    """The issue's failure: plot_membrane_trace(t, out.membrane[:, 0, 0]) raised
    "Can't call numpy() on Tensor that requires grad"."""
    out, params = layer_output
    assert out.membrane.requires_grad
    t = torch.arange(1, 61) * params.dt_ms
    grad = {"requires_grad": True}
    calls = [
        lambda ax: plot_membrane_trace(t, out.membrane[:, 0, 0], v_th=1.0, ax=ax),
        lambda ax: plot_lif(out, neuron=2, params=params, ax=ax),
        lambda ax: plot_output_membranes(out.membrane[:, 0], out.spikes[:, 0], v_th=1.0, ax=ax),
        lambda ax: plot_raster(torch.tensor([0, 1, 2]), torch.tensor([1.0, 2.0, 3.0]), ax=ax),
        lambda ax: plot_input_current(t, torch.ones(60, **grad), ax=ax),
        lambda ax: plot_convergence(
            torch.tensor([0.5, 1.0]), {"euler": torch.tensor([0.1, 0.2], **grad)}, ax=ax
        ),
        lambda ax: plot_accuracy_by_steps(torch.rand(3, 10, **grad), ax=ax),
        lambda ax: plot_confusion_matrix(torch.eye(3), ax=ax),
        lambda ax: plot_sample_grid(torch.rand(2, 3, 1, 4, 4, **grad), ax=ax),
    ]
    for call in calls:
        fig, (ax,) = new_figure()
        assert call(ax) is ax
        assert ax.has_data()


# --------------------------------------------------------------------------- plot_lif


def test_plot_lif_marks_the_layers_spikes_threshold_and_reset(layer_output):
    out, params = layer_output
    fig, (ax,) = new_figure()
    plot_lif(out, neuron=1, batch=1, params=params, ax=ax)
    trace = data_lines(ax)[0]
    t_ms = (np.arange(60) + 1) * params.dt_ms
    np.testing.assert_array_equal(trace.get_xdata(), t_ms)
    np.testing.assert_array_equal(trace.get_ydata(), out.membrane[:, 1, 1].detach().numpy())
    fired = out.spikes[:, 1, 1].detach().numpy() > 0
    assert fired.sum() >= 3
    ticks = [line for line in ax.get_lines() if line.get_marker() == "|"]
    assert len(ticks) == 1
    np.testing.assert_array_equal(ticks[0].get_xdata(), t_ms[fired])
    assert min(ticks[0].get_ydata()) > trace.get_ydata().max()  # above the trace
    levels = {line.get_label(): line.get_ydata()[0] for line in ax.get_lines()}
    assert levels[f"threshold V_th = {params.v_th:g}"] == params.v_th
    assert levels[f"reset V_reset = {params.v_reset:g}"] == params.v_reset
    labels = [text.get_text() for text in ax.get_legend().get_texts()]
    assert f"{int(fired.sum())} spikes" in labels
    assert legend_outside_data(ax)


def test_plot_lif_indexes_conv_maps_and_refuses_bad_indices(gen):
    flat = LIF(LIFParams())(torch.rand(10, 2, 36, generator=gen) * 5)
    out = SimpleNamespace(  # a conv layer's output [T, B, C, H, W]
        spikes=flat.spikes.reshape(10, 2, 4, 3, 3), membrane=flat.membrane.reshape(10, 2, 4, 3, 3)
    )
    fig, (ax,) = new_figure()
    plot_lif(out, neuron=(3, 1, 2), batch=1, ax=ax)
    np.testing.assert_array_equal(data_lines(ax)[0].get_ydata(), out.membrane[:, 1, 3, 1, 2])
    plot_lif(out, neuron=3 * 9 + 1 * 3 + 2, batch=1, ax=ax)  # the same neuron, flat index
    np.testing.assert_array_equal(data_lines(ax)[1].get_ydata(), out.membrane[:, 1, 3, 1, 2])
    for kwargs, text in [
        ({"neuron": 36}, "out of range for 36 neurons"),
        ({"neuron": (4, 0, 0)}, "not an index into neurons of shape"),
        ({"batch": 2}, "batch=2 is out of range"),
    ]:
        with pytest.raises(ValueError, match=text) as error:
            plot_lif(out, ax=ax, **kwargs)
        assert "\n" not in str(error.value)
    with pytest.raises(ValueError, match="with .spikes and .membrane"):
        plot_lif(out.membrane, ax=ax)


# --------------------------------------------------------------------------- units, legends


def test_every_axis_carries_its_unit(layer_output):
    out, params = layer_output
    history = [
        {"epoch": e, "train_loss": 1 / e, "train_accuracy": 0.5, "val_accuracy": 0.6}
        for e in (1, 2)
    ]
    rows = [{"entry": "lif", "accuracy_mean": 0.9, "ci95_low": 0.88, "ci95_high": 0.92}]
    cases = [
        (lambda ax: plot_lif(out, ax=ax), "(ms)", "(a.u.)"),
        (lambda ax: plot_membrane_trace([0, 1], [0, 1], v_th=1.0, ax=ax), "(ms)", "(a.u.)"),
        (lambda ax: plot_input_current([0, 1], [0, 1], ax=ax), "(ms)", "(a.u.)"),
        (
            lambda ax: plot_output_membranes(out.membrane[:, 0], out.spikes[:, 0], v_th=1.0, ax=ax),
            "(ms)",
            "(a.u.)",
        ),
        (lambda ax: plot_raster([0, 1], [1.0, 2.0], ax=ax), "(ms)", "neuron"),
        (lambda ax: plot_convergence([0.5, 1.0], {"e": [0.1, 0.2]}, ax=ax), "(ms)", "(a.u.)"),
        (lambda ax: plot_training_curve(history, ax=ax), "epoch", "(%)"),
        (lambda ax: plot_accuracy_bars(rows, ax=ax), "", "(%)"),
        (lambda ax: plot_accuracy_by_steps([0.5, 0.9], dt_ms=2.0, ax=ax), "steps", "(%)"),
    ]
    for call, x_unit, y_unit in cases:
        fig, (ax,) = new_figure()
        call(ax)
        assert x_unit in ax.get_xlabel(), ax.get_xlabel()
        assert y_unit in ax.get_ylabel(), ax.get_ylabel()


def test_legends_sit_outside_the_data_area(layer_output):
    out, _ = layer_output
    history = [
        {"epoch": e, "train_loss": 1 / e, "train_accuracy": 0.5, "val_accuracy": 0.6}
        for e in (1, 2, 3)
    ]
    rows = [
        {"entry": "lif", "accuracy_mean": 0.9, "ci95_low": 0.88, "ci95_high": 0.92, "n_seeds": 3},
        {"entry": "svm-v4", "accuracy_mean": 0.95, "ci95_low": 0.9, "ci95_high": 1.0},
    ]
    calls = [
        lambda ax: plot_membrane_trace(
            np.arange(60), out.membrane[:, 0, 0], v_th=1.0, spike_times_ms=[3.0], ax=ax
        ),
        lambda ax: plot_output_membranes(out.membrane[:, 0], out.spikes[:, 0], v_th=1.0, ax=ax),
        lambda ax: plot_convergence([0.5, 1.0, 2.0], {"euler": [0.1, 0.2, 0.4]}, ax=ax),
        lambda ax: plot_training_curve(history, ax=ax),
        lambda ax: plot_accuracy_bars(rows, ax=ax),
        lambda ax: plot_accuracy_by_steps([[0.5, 0.8, 0.9, 0.95]] * 2, ax=ax),
    ]
    for call in calls:
        fig, (ax,) = new_figure()
        call(ax)
        assert legend_outside_data(ax)


# --------------------------------------------------------------------------- saving


@pytest.mark.parametrize("suffix", [".png", ".svg", ".pdf", ".PDF"])
def test_save_figure_chooses_the_format_by_extension(tmp_path, suffix):
    fig, (ax,) = new_figure()
    plot_membrane_trace([0.0, 1.0, 2.0], [0.0, 1.2, 0.3], v_th=1.0, ax=ax)
    path = save_figure(fig, tmp_path / f"trace{suffix}")
    data = path.read_bytes()
    assert data.startswith(MAGIC[suffix.lower()])
    if suffix == ".svg":
        assert b"<svg" in data[:500]
    assert [p.name for p in tmp_path.iterdir()] == [path.name]  # no temporary file left


def test_save_figure_refuses_other_extensions_in_one_line(tmp_path):
    fig, _ = new_figure()
    for name in ("trace.jpg", "trace"):
        with pytest.raises(ValueError, match="must be one of .png, .svg, .pdf") as error:
            save_figure(fig, tmp_path / name)
        assert "\n" not in str(error.value)
    assert not list(tmp_path.iterdir())


# --------------------------------------------------------------------------- output membranes


def test_output_membranes_clip_an_outlier_and_say_so(gen):
    t, c = 25, 10
    membrane = torch.rand(t, c, generator=gen) * 1.5
    membrane[:, 4] = -7.0 + torch.rand(t, generator=gen)  # one neuron far below
    spikes = (membrane >= 1.0).float()
    fig, (ax,) = new_figure()
    plot_output_membranes(membrane, spikes, v_th=1.0, v_reset=0.0, label=3, ax=ax)
    low, high = ax.get_ylim()
    assert low == pytest.approx(1.0 - 2.5 * 1.0)  # v_th - 2.5 (v_th - v_reset)
    assert high > membrane.max()
    (note,) = ax.texts
    assert "class 4" in note.get_text() and f"{membrane[:, 4].min():.3g}" in note.get_text()
    # without an outlier the axis covers all data and no note is written
    fig, (ax,) = new_figure()
    plot_output_membranes(membrane[:, :4], spikes[:, :4], v_th=1.0, ax=ax)
    assert ax.get_ylim()[0] < membrane[:, :4].min() and not ax.texts


def test_output_membranes_give_each_class_its_own_spike_marker(gen):
    t, c = 30, 10
    membrane = torch.rand(t, c, generator=gen) * 2.0
    spikes = (membrane >= 1.0).float()
    fig, (ax,) = new_figure()
    plot_output_membranes(membrane, spikes, v_th=1.0, label=0, ax=ax)
    markers = [line for line in ax.get_lines() if line.get_linestyle() == "None"]
    assert len(markers) == c
    assert len({line.get_marker() for line in markers}) == c  # one shape per class
    for k, line in enumerate(markers):
        fired = spikes[:, k].numpy() > 0
        np.testing.assert_array_equal(line.get_xdata(), (np.arange(t) + 1)[fired])
        np.testing.assert_array_equal(line.get_ydata(), membrane[fired, k].numpy())
        assert line.get_markeredgecolor() == "black"  # set off from the traces
    legend = [text.get_text() for text in ax.get_legend().get_texts()]
    assert legend[0] == f"class 0 (true): {int(spikes[:, 0].sum())} spikes"
    assert "threshold 1" in legend


# --------------------------------------------------------------------------- raster


def test_raster_of_thousands_of_neurons_is_a_density_image(gen):
    n, t = 3136, 25
    grid = torch.rand(t, n, generator=gen) < 0.03
    steps, units = np.nonzero(grid.numpy())
    fig, (ax,) = new_figure()
    plot_raster(units, steps + 1.0, n_neurons=n, ax=ax)
    (image,) = ax.images
    counts = image.get_array()
    assert counts.sum() == len(units)  # every spike counted once
    assert counts.shape == (math.ceil(n / math.ceil(n / 200)), t)
    # the same spikes as ticks would overlap: rows thinner than a point
    fig, (ax,) = new_figure()
    plot_raster(units, steps + 1.0, n_neurons=n, style="ticks", ax=ax)
    assert not ax.images


def test_raster_of_few_neurons_draws_ticks_no_taller_than_a_row():
    fig, (ax,) = new_figure(figsize=(6.0, 3.0))
    plot_raster([0, 1, 199], [1.0, 2.0, 3.0], n_neurons=200, ax=ax)
    (ticks,) = ax.get_lines()
    row_height_pt = ax.get_position().height * 3.0 * 72 / 200
    assert ticks.get_markersize() <= max(row_height_pt, 0.5)
    assert ax.get_ylim() == (-0.5, 199.5)
    assert 200 < DENSE_RASTER_ROWS


# --------------------------------------------------------------------------- accuracies


def test_accuracy_dots_explain_colours_seeds_and_clipping():
    rows = [
        {"entry": "lif", "accuracy_mean": 0.962, "ci95_low": 0.95, "ci95_high": 0.975},
        {"entry": "softmax", "accuracy_mean": 0.975, "ci95_low": 0.96, "ci95_high": 0.99},
        {"entry": "svm-v4", "accuracy_mean": 0.985, "ci95_low": 0.97, "ci95_high": 1.0},
    ]
    for r in rows:
        r["n_seeds"] = 3
    fig, (ax,) = new_figure()
    plot_accuracy_bars(rows, ax=ax)
    assert not [p for p in ax.patches if isinstance(p, Rectangle) and p.get_height() > 0.5]
    legend = [text.get_text() for text in ax.get_legend().get_texts()]
    assert legend == [
        "spiking LIF head",
        "softmax / CNN / RNN heads",
        "SVM baselines",
        "mean, 95 % CI over 3 seeds",
        "CI clipped at 100 %",
    ]
    low, high = ax.get_ylim()
    assert 0.9 < low < 0.95 and high > 1.0  # zoomed on the data, clipped end visible

    one_seed = [
        dict(r, n_seeds=1, ci95_low=r["accuracy_mean"], ci95_high=r["accuracy_mean"]) for r in rows
    ]
    fig, (ax,) = new_figure()
    plot_accuracy_bars(one_seed, ax=ax)
    legend = [text.get_text() for text in ax.get_legend().get_texts()]
    assert "one seed: no confidence interval" in legend and "CI clipped at 100 %" not in legend


def test_accuracy_by_steps_shows_every_seed_and_zooms_on_the_plateau():
    steps = np.arange(1, 26)
    curves = np.array([0.97 - 0.9 * np.exp(-steps / s) for s in (2.0, 2.5, 3.0)])
    fig, (ax,) = new_figure()
    plot_accuracy_by_steps(curves, dt_ms=0.5, references={"softmax CNN": 0.975}, ax=ax)
    (band,) = [c for c in ax.collections if isinstance(c, PolyCollection)]
    thin = [line for line in ax.get_lines() if line.get_linewidth() == 0.5]
    assert len(thin) == 3  # one line per seed
    mean = [line for line in ax.get_lines() if line.get_marker() == "o"][0]
    np.testing.assert_allclose(mean.get_ydata(), curves.mean(0))
    (top,) = [child for child in ax.child_axes if child.get_xlabel()]
    assert top.get_xlabel() == "time (ms), dt = 0.5 ms"
    (inset,) = [child for child in ax.child_axes if not child.get_xlabel()]
    inset_low, inset_high = inset.get_ylim()
    assert inset_low > curves[:, 10:].min() - 0.01 and inset_high < 1.0
    assert inset_high - inset_low < 0.1 * (ax.get_ylim()[1] - ax.get_ylim()[0])
    assert band.get_paths()


# --------------------------------------------------------------------------- convergence


def test_convergence_legend_gives_fitted_orders_and_reference_slopes():
    dt = np.array([0.125, 0.25, 0.5, 1.0, 2.0])
    errors = {"second": 3e-3 * dt**2, "fourth": 2e-5 * dt**4, "exact": np.full(5, 2e-15)}
    fig, (ax,) = new_figure()
    plot_convergence(dt, errors, reference_orders=(2, 4), ax=ax)
    legend = [text.get_text() for text in ax.get_legend().get_texts()]
    assert legend[:3] == [
        "second: fitted order 2.00",
        "fourth: fitted order 4.00",
        "exact: round-off (max 2e-15)",
    ]
    for p in (2, 4):
        (line,) = [line for line in ax.get_lines() if line.get_label() == f"slope {p}"]
        x, y = np.log(line.get_xdata()), np.log(line.get_ydata())
        assert (y[1] - y[0]) / (x[1] - x[0]) == pytest.approx(p)
    assert legend_outside_data(ax)

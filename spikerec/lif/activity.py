"""Start a network of Linear/Conv -> LIF layers in its firing regime, and measure its activity.

A network whose spiking layers never fire learns nothing: no spike, no surrogate
gradient worth the name, and the loss sits at ``ln(n_classes)``. That is where a
``Linear -> LIF -> Linear -> LIF`` stack starts with PyTorch's default weights and
spikerec's default neuron (one unit of delta input moves ``V`` by
``r_m / tau_mem_ms = 0.1``; a layer's summed input per step is a few tenths).

- :func:`measure_activity` runs a network on a batch and reports, for every
  :class:`spikerec.LIF` and :class:`spikerec.LIFCell` in it, the firing rate and
  the fraction of neurons that never fired; it warns (:class:`SilentLayerWarning`)
  about a layer that is (almost) silent.
- :func:`init_firing_` rescales, in place, the Linear or Conv layer that feeds each
  spiking layer, in the order the network calls them, so that every spiking layer
  fires at a target rate on a batch: fan-in aware without assuming anything about
  the input, because it measures what arrives.

Both take the network and the arguments of its ``forward`` and keep no state.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from spikerec.errors import ParameterError
from spikerec.lif.cell import LIFCell, _LIFNeurons

#: Weight layers whose output units :func:`init_firing_` standardises.
WEIGHT_LAYERS: tuple[type[nn.Module], ...] = (nn.Linear, nn.Conv1d, nn.Conv2d, nn.Conv3d)


class SilentLayerWarning(UserWarning):
    """A spiking layer in which (almost) no neuron fired on the batch.

    Issued by :func:`measure_activity` and :func:`init_firing_`; silence it like any
    warning, or turn it into an error in tests.

    Examples
    --------
    >>> import warnings
    >>> from spikerec import LIF
    >>> with warnings.catch_warnings():
    ...     warnings.simplefilter("error", SilentLayerWarning)
    ...     measure_activity(LIF(), torch.zeros(5, 2, 3))
    Traceback (most recent call last):
    ...
    spikerec.lif.activity.SilentLayerWarning: spiking layer 'LIF' is silent: 100% of its 3 \
neurons never fired on this batch (rate 0.0000); ...
    """


@dataclass(frozen=True)
class LayerActivity:
    """Activity of one spiking layer on one batch.

    Attributes
    ----------
    name : str
        The layer's name in the network (``model.named_modules()``).
    neuron_shape : tuple of int
        Shape of the layer's neurons (one step of input is ``[B, *neuron_shape]``).
    n_steps : int
        Time steps the layer ran (summed over calls).
    rate : float
        Spikes per neuron per step, averaged over batch, steps and neurons (0 to 1).
    silent_fraction : float
        Fraction of the neurons that fired in no step for no example of the batch.

    Examples
    --------
    >>> from spikerec import LIF, LIFParams
    >>> x = torch.zeros(4, 2, 3)
    >>> x[:, :, 0] = 1.0                      # neuron 0 gets one unit per step
    >>> (layer,) = measure_activity(LIF(LIFParams.unit_jump()), x).layers
    >>> layer.rate, layer.silent_fraction    # 8 spikes in 4 x 2 x 3 neuron-steps
    (0.3333333333333333, 0.6666666666666667)
    """

    name: str
    neuron_shape: tuple[int, ...]
    n_steps: int
    rate: float
    silent_fraction: float


@dataclass(frozen=True)
class ActivityReport:
    """Per-layer activity of a network on one batch, in the order the layers ran.

    Attributes
    ----------
    layers : tuple of LayerActivity

    Examples
    --------
    >>> from spikerec import LIF, LIFParams
    >>> net = nn.Sequential(nn.Linear(4, 3), LIF(LIFParams.unit_jump()))
    >>> report = measure_activity(net, torch.ones(10, 2, 4), warn_silent_fraction=None)
    >>> [layer.name for layer in report.layers]
    ['1']
    """

    layers: tuple[LayerActivity, ...]

    def silent_layers(self, silent_fraction: float = 0.9) -> list[str]:
        """Names of the layers in which at least ``silent_fraction`` of the neurons never fired."""
        return [a.name for a in self.layers if a.silent_fraction >= silent_fraction]

    def rates(self) -> dict[str, float]:
        """Firing rate (spikes per neuron per step) by layer name."""
        return {a.name: a.rate for a in self.layers}

    def __str__(self) -> str:
        rows = [
            f"{a.name:<20} {str(a.neuron_shape):<16} {a.n_steps:>7} {a.rate:>8.4f} "
            f"{a.silent_fraction:>8.1%}"
            for a in self.layers
        ]
        head = f"{'layer':<20} {'neurons':<16} {'steps':>7} {'rate':>8} {'silent':>8}"
        return "\n".join([head, *rows])


class _Stop(Exception):
    """Raised in a hook to end a forward pass once the layer of interest has run."""


class _Recorder:
    """Spike counts per spiking layer, accumulated over the calls of one forward pass."""

    def __init__(self, layers: dict[str, _LIFNeurons]) -> None:
        self.layers = layers
        self.fired: dict[str, torch.Tensor] = {}  # per neuron: fired at least once
        self.spikes: dict[str, float] = {}
        self.elements: dict[str, int] = {}
        self.steps: dict[str, int] = {}
        self.order: list[str] = []
        self.stop_after: str | None = None

    def hook(self, name: str, sequence: bool) -> Callable[..., None]:
        def record(module: nn.Module, args: Any, output: Any) -> None:
            spikes = output.spikes.detach()
            if not sequence:
                spikes = spikes.unsqueeze(0)  # a cell's step: T = 1
            fired = (spikes > 0).flatten(0, 1).any(0)
            if name not in self.fired:
                self.order.append(name)
                self.fired[name], self.spikes[name] = fired, 0.0
                self.elements[name], self.steps[name] = 0, 0
            elif self.fired[name].shape == fired.shape:
                self.fired[name] = self.fired[name] | fired
            self.spikes[name] += float(spikes.sum())
            self.elements[name] += spikes.numel()
            self.steps[name] += spikes.shape[0]
            if name == self.stop_after and sequence:
                raise _Stop

        return record

    def report(self) -> ActivityReport:
        return ActivityReport(
            tuple(
                LayerActivity(
                    name=name,
                    neuron_shape=tuple(self.fired[name].shape),
                    n_steps=self.steps[name],
                    rate=self.spikes[name] / max(self.elements[name], 1),
                    silent_fraction=1.0 - float(self.fired[name].double().mean()),
                )
                for name in self.order
            )
        )


def _spiking_layers(model: nn.Module) -> dict[str, _LIFNeurons]:
    if not isinstance(model, nn.Module):
        raise ParameterError(f"model must be a torch.nn.Module, got {type(model).__name__}")
    layers = {
        (name or type(module).__name__): module
        for name, module in model.named_modules()
        if isinstance(module, _LIFNeurons)
    }
    if not layers:
        raise ParameterError(
            f"{type(model).__name__} holds no spikerec LIF or LIFCell layer to measure"
        )
    return layers


def _run(
    model: nn.Module,
    recorder: _Recorder,
    inputs: tuple[Any, ...],
    kwargs: dict[str, Any],
    extra_hooks: dict[nn.Module, Callable[..., None]] | None = None,
) -> None:
    """One forward pass without gradients, hooks attached, ended early by :class:`_Stop`."""
    handles = [
        module.register_forward_hook(recorder.hook(name, not _is_cell(module)))
        for name, module in recorder.layers.items()
    ]
    handles += [m.register_forward_hook(h) for m, h in (extra_hooks or {}).items()]
    try:
        with torch.no_grad():
            model(*inputs, **kwargs)
    except _Stop:
        pass
    finally:
        for handle in handles:
            handle.remove()


@contextmanager
def _buffers_kept(model: nn.Module) -> Iterator[None]:
    """Restore every buffer (BatchNorm statistics) of ``model`` on leaving."""
    buffers = {name: b.detach().clone() for name, b in model.named_buffers()}
    try:
        yield
    finally:
        with torch.no_grad():
            for name, b in model.named_buffers():
                if name in buffers:
                    b.copy_(buffers[name])


def _is_cell(module: nn.Module) -> bool:
    return isinstance(module, LIFCell)


def _warn_silent(report: ActivityReport, silent_fraction: float) -> None:
    for a in report.layers:
        if a.silent_fraction >= silent_fraction:
            warnings.warn(
                f"spiking layer {a.name!r} is silent: {a.silent_fraction:.0%} of its "
                f"{math.prod(a.neuron_shape)} neurons never fired on this batch (rate "
                f"{a.rate:.4f}); it passes almost no gradient. Scale up its input "
                "(spikerec.init_firing_, or LIFParams.unit_jump)",
                SilentLayerWarning,
                stacklevel=3,
            )


def measure_activity(
    model: nn.Module,
    *inputs: Any,
    warn_silent_fraction: float | None = 0.9,
    **kwargs: Any,
) -> ActivityReport:
    """Firing rate and silent fraction of every LIF / LIFCell layer of ``model`` on a batch.

    Runs ``model(*inputs, **kwargs)`` once without gradients, as it is (train or
    eval mode; buffers such as BatchNorm statistics are restored), recording the
    spikes of every :class:`spikerec.LIF` and :class:`spikerec.LIFCell` in it; a
    layer called several times (a cell in a time loop) is summed over its calls.

    Parameters
    ----------
    model : nn.Module
        A network holding spikerec LIF or LIFCell layers (or one itself).
    *inputs, **kwargs
        Arguments of ``model.forward``: a batch, e.g. ``x [T, B, *shape]``.
    warn_silent_fraction : float or None
        Warn (:class:`SilentLayerWarning`) about each layer in which at least this
        fraction of the neurons never fired; None: never warn.

    Returns
    -------
    ActivityReport
        One :class:`LayerActivity` per spiking layer, in the order they ran.

    Raises
    ------
    ParameterError
        If ``model`` is not a module or holds no spiking layer.

    Examples
    --------
    A default LIF layer behind a default Linear is silent on uniform input:

    >>> import warnings
    >>> from spikerec import LIF
    >>> g = torch.Generator().manual_seed(0)
    >>> net = nn.Sequential(nn.Linear(20, 8), LIF())
    >>> x = torch.rand(30, 16, 20, generator=g)           # [T, B, 20]
    >>> with warnings.catch_warnings(record=True) as caught:
    ...     warnings.simplefilter("always")
    ...     report = measure_activity(net, x)
    >>> report.layers[0].rate, report.silent_layers()
    (0.0, ['1'])
    >>> caught[0].category.__name__
    'SilentLayerWarning'
    """
    recorder = _Recorder(_spiking_layers(model))
    with _buffers_kept(model):
        _run(model, recorder, inputs, kwargs)
    report = recorder.report()
    if warn_silent_fraction is not None:
        _warn_silent(report, warn_silent_fraction)
    return report


def _unit_dim(layer: nn.Module, output: torch.Tensor) -> int:
    """Dimension of ``output`` that indexes the layer's output units (features, channels)."""
    if isinstance(layer, nn.Linear):
        return output.dim() - 1
    return output.dim() - len(layer.kernel_size) - 1  # type: ignore[arg-type]


def _unit_moments(
    layer: nn.Module, outputs: list[torch.Tensor]
) -> tuple[torch.Tensor, torch.Tensor]:
    """Mean and standard deviation of each output unit over every other dimension."""
    flat = [o.movedim(_unit_dim(layer, o), 0).reshape(o.shape[_unit_dim(layer, o)], -1)
            for o in outputs]  # fmt: skip
    values = torch.cat(flat, dim=1).double()
    return values.mean(1), values.std(1, correction=0)


def init_firing_(
    model: nn.Module,
    *inputs: Any,
    target_rate: float | Mapping[str, float] = 0.02,
    rtol: float = 0.2,
    max_iterations: int = 40,
    **kwargs: Any,
) -> ActivityReport:
    """Rescale the layers feeding every LIF / LIFCell so that each fires at ``target_rate``.

    For each spiking layer, in the order ``model`` calls them, the Linear or Conv
    layer called last before it (its synapses) is changed in place on the batch
    ``inputs``:

    1. each output unit (a Linear's feature, a Conv's output channel) is standardised:
       its weights and bias are divided by the unit's standard deviation on the
       batch and the mean removed, so every neuron sees the same statistics
       whatever the fan-in and the scale of the input;
    2. weights and biases are multiplied by one factor ``k`` and the bias raised by
       ``k`` (mean drive = its spread), ``k`` found by bisection so that the spiking
       layer's mean rate is ``target_rate`` within ``rtol`` (relative).

    Layers later in the network are tuned on the spikes of the tuned earlier ones.
    Deterministic: no random draw. Buffers (BatchNorm statistics) are restored.

    Parameters
    ----------
    model : nn.Module
        The network, e.g. ``Linear -> LIF -> Linear -> LIF`` or
        ``Conv2d -> LIF -> pool -> ... -> Linear -> LIF``, with its weights already
        initialised (PyTorch's defaults are fine).
    *inputs, **kwargs
        Arguments of ``model.forward``: a representative batch.
    target_rate : float or mapping of str to float
        Spikes per neuron per step to aim for, in (0, 1); or such rates by layer
        name (``{"lif1": 0.05, "lif2": 0.02}``), layers not named left as they are.
        The default, 0.02, every neuron firing now and then but none often, let the
        example networks learn fastest: with cross-entropy on spike counts, output
        layers that start busy give random, confident logits, and the first steps
        of training push them back towards silence.
    rtol : float
        Accepted relative deviation from ``target_rate``.
    max_iterations : int
        Bisection steps per layer (each is one forward pass up to that layer).

    Returns
    -------
    ActivityReport
        The activity after initialisation (:func:`measure_activity`); it warns about
        a layer that stayed silent.

    Raises
    ------
    ParameterError
        For a ``model`` without spiking layers or values out of range.

    Notes
    -----
    A spiking layer without a Linear or Conv before it (or whose synapses feed an
    earlier spiking layer too) is left as it is. Layers that renormalise what they
    get (BatchNorm between the synapses and the neurons) defeat the scaling; the
    report shows the rates reached.

    Examples
    --------
    A user's ``Linear -> LIF -> Linear -> LIF`` network with default layers is silent;
    after ``init_firing_`` both spiking layers fire at about the target rate:

    >>> from spikerec import LIF
    >>> class Net(nn.Module):
    ...     def __init__(self):
    ...         super().__init__()
    ...         self.fc1, self.lif1 = nn.Linear(20, 32), LIF()
    ...         self.fc2, self.lif2 = nn.Linear(32, 4), LIF()
    ...     def forward(self, x):                              # x [T, B, 20]
    ...         return self.lif2(self.fc2(self.lif1(self.fc1(x)).spikes))
    >>> net = Net()
    >>> x = torch.rand(30, 16, 20, generator=torch.Generator().manual_seed(0))
    >>> report = init_firing_(net, x, target_rate=0.05)
    >>> print(report)                                          # doctest: +SKIP
    layer                neurons            steps     rate   silent
    lif1                 (32,)                 30   0.0511     0.0%
    lif2                 (4,)                  30   0.0542     0.0%
    >>> all(abs(rate - 0.05) <= 0.01 for rate in report.rates().values())
    True
    """
    targets = _targets(target_rate)
    if not (isinstance(rtol, (int, float)) and 0.0 < rtol < 1.0):
        raise ParameterError(f"rtol={rtol!r} must be in (0, 1)")
    if (
        isinstance(max_iterations, bool)
        or not isinstance(max_iterations, int)
        or max_iterations < 1
    ):
        raise ParameterError(f"max_iterations={max_iterations!r} must be a positive integer")
    layers = _spiking_layers(model)
    with _buffers_kept(model):
        for weight_layer, name in _synapses(model, layers, inputs, kwargs):
            rate = targets.get(name) if isinstance(targets, dict) else targets
            if rate is not None:
                _tune(model, layers, name, weight_layer, inputs, kwargs, rate, rtol,
                      max_iterations)  # fmt: skip
    return measure_activity(model, *inputs, **kwargs)


def _targets(target_rate: float | Mapping[str, float]) -> float | dict[str, float]:
    """``target_rate`` checked: one rate in (0, 1), or such rates by layer name."""
    if isinstance(target_rate, Mapping):
        return {
            str(name): _rate(f"target_rate[{name!r}]", rate) for name, rate in target_rate.items()
        }
    return _rate("target_rate", target_rate)


def _rate(name: str, rate: object) -> float:
    if isinstance(rate, bool) or not isinstance(rate, (int, float)) or not 0.0 < rate < 1.0:
        raise ParameterError(f"{name}={rate!r} must be in (0, 1)")
    return float(rate)


def _synapses(
    model: nn.Module, layers: dict[str, _LIFNeurons], inputs: tuple[Any, ...], kwargs: dict
) -> list[tuple[nn.Module, str]]:
    """``(weight layer, spiking layer name)`` pairs: the weight layer called last before
    each spiking layer's first call, in call order."""
    calls: list[tuple[str, nn.Module | str]] = []
    seen: set[int] = set()

    def note(entry: nn.Module | str) -> Callable[..., None]:
        def hook(module: nn.Module, args: Any, output: Any) -> None:
            if id(module) not in seen:
                seen.add(id(module))
                calls.append(("spiking" if isinstance(entry, str) else "weights", entry))

        return hook

    hooks: dict[nn.Module, Callable[..., None]] = {
        m: note(m) for m in model.modules() if isinstance(m, WEIGHT_LAYERS)
    }
    hooks.update({m: note(name) for name, m in layers.items()})
    _run(model, _Recorder({}), inputs, kwargs, hooks)
    pairs, last, used = [], None, set()
    for kind, entry in calls:
        if kind == "weights":
            last = entry
        elif last is not None and id(last) not in used:
            used.add(id(last))
            pairs.append((last, entry))
    return pairs  # type: ignore[return-value]


def _tune(
    model: nn.Module,
    layers: dict[str, _LIFNeurons],
    name: str,
    synapses: nn.Module,
    inputs: tuple[Any, ...],
    kwargs: dict[str, Any],
    target_rate: float,
    rtol: float,
    max_iterations: int,
) -> None:
    """Standardise ``synapses`` and bisect its scale until layer ``name`` fires at the target."""
    recorder = _Recorder({name: layers[name]})
    recorder.stop_after = name
    outputs: list[torch.Tensor] = []

    def keep(module: nn.Module, args: Any, output: torch.Tensor) -> None:
        outputs.append(output.detach())

    _run(model, recorder, inputs, kwargs, {synapses: keep})
    mean, std = _unit_moments(synapses, outputs)
    if float(std.max()) <= 0.0:
        warnings.warn(
            f"the input of spiking layer {name!r} does not vary on this batch (is the layer "
            "before it silent?); left as it is",
            SilentLayerWarning,
            stacklevel=3,
        )
        return
    std = std.clamp(min=1e-6 * float(std.max()))
    weight: torch.Tensor = synapses.weight  # type: ignore[assignment]
    bias: torch.Tensor | None = synapses.bias  # type: ignore[assignment]
    shape = (-1,) + (1,) * (weight.dim() - 1)
    with torch.no_grad():
        base_weight = weight / std.to(weight.dtype).reshape(shape)
        base_bias = None if bias is None else (bias - mean.to(bias.dtype)) / std.to(bias.dtype)

    def rate_at(log_k: float) -> float:
        k = math.exp(log_k)
        with torch.no_grad():
            weight.copy_(base_weight * k)
            if bias is not None and base_bias is not None:
                bias.copy_((base_bias + 1.0) * k)
        probe = _Recorder({name: layers[name]})
        probe.stop_after = name
        _run(model, probe, inputs, kwargs)
        return probe.spikes[name] / max(probe.elements[name], 1)

    lo, hi = math.log(1e-4), math.log(1e4)
    best = (math.inf, 0.0)
    for _ in range(max_iterations):
        mid = 0.5 * (lo + hi)
        rate = rate_at(mid)
        best = min(best, (abs(rate - target_rate), mid))
        if abs(rate - target_rate) <= rtol * target_rate:
            return
        if rate < target_rate:
            lo = mid
        else:
            hi = mid
    rate_at(best[1])


__all__ = [
    "WEIGHT_LAYERS",
    "ActivityReport",
    "LayerActivity",
    "SilentLayerWarning",
    "init_firing_",
    "measure_activity",
]

"""Output heads on the V4 layer, and decoders that turn output spikes into a class.

- :class:`LIFHead`: synapses ``Linear(3136 -> C)`` feeding C LIF neurons (delta
  synapses), the project's subject;
- :class:`RateSoftmaxHead`: a linear layer + softmax on the V4 firing rates;
- :class:`AnalogSoftmaxHead`: a linear layer + softmax on the V4 features
  themselves, the classic CNN's ``Z = g(sum_i a_i w_i + b)``.

Every head returns :class:`HeadOutput`, the same structure for every head.
"""

from __future__ import annotations

from typing import NamedTuple

import torch
from torch import nn

from spikerec.frontend import V4_UNITS
from spikerec.integrators import Integrator
from spikerec.neurons import LIF
from spikerec.params import LIFParams
from spikerec.surrogate import FastSigmoid, Surrogate
from spikerec.validation import check_like_parameters, check_tensor

DEFAULT_HEAD_PARAMS = LIFParams(tau_mem_ms=10.0, dt_ms=1.0, r_m=1.0)
"""Output-layer neurons: a synaptic weight w makes V jump by ``w / 10``.

A larger ``r_m`` makes the 3136-input layer so sensitive that Adam's first steps
drive every output neuron to saturation or silence under dense rate-coded input.
"""


def _check_size(name: str, value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{name}={value!r} must be a positive integer")
    return value


def _check_head_input(
    name: str, x: torch.Tensor, shape: str, ndim: int, head: nn.Module, n_inputs: int
) -> None:
    """Refuse input that the head's synapses cannot take, with one line naming why."""
    check_tensor(name, x, shape, ndim=ndim)
    if x.shape[-1] != n_inputs:
        raise ValueError(
            f"{name} has {x.shape[-1]} units in its last dimension, the head takes {n_inputs}"
        )
    check_like_parameters(name, x, head, "the head")


class HeadOutput(NamedTuple):
    """What every head returns.

    Attributes
    ----------
    logits : Tensor [B, C]
        Class scores: spike counts for the LIF head, linear outputs otherwise.
    spikes : Tensor [T, B, C] or None
        Output spikes (LIF head only).
    membrane : Tensor [T, B, C] or None
        Pre-reset output membrane potentials (LIF head only).
    """

    logits: torch.Tensor
    spikes: torch.Tensor | None
    membrane: torch.Tensor | None


class LIFHead(nn.Module):
    """Synapses ``Linear(n_inputs -> n_classes)`` feeding a layer of LIF neurons.

    Parameters
    ----------
    n_classes : int
        Output neurons, one per class.
    n_inputs : int
        Presynaptic V4 neurons (3136).
    params : LIFParams
        Output-neuron parameters (default :data:`DEFAULT_HEAD_PARAMS`).
    integrator, surrogate, learn_tau, learn_threshold
        As in :class:`spikerec.LIF`.

    Notes
    -----
    With V4 spikes ``s_i[n]`` the synaptic input of step n is
    ``x[n] = W s[n] + b``; delta synapses make every output membrane jump by
    ``r_m x / tau_mem_ms`` (see :func:`spikerec.functional.lif_step`).
    The logits are the spike counts over the T steps (the ``count`` decoder);
    :func:`decode` offers the others.

    Examples
    --------
    >>> head = LIFHead(n_classes=10)                 # 3136 V4 inputs
    >>> out = head(torch.zeros(25, 2, 3136))        # V4 spikes [T, B, 3136]
    >>> out.logits.shape, out.spikes.shape, out.membrane.shape
    (torch.Size([2, 10]), torch.Size([25, 2, 10]), torch.Size([25, 2, 10]))
    """

    spiking_input = True

    def __init__(
        self,
        n_classes: int,
        n_inputs: int = V4_UNITS,
        params: LIFParams = DEFAULT_HEAD_PARAMS,
        *,
        integrator: str | Integrator = "exact",
        surrogate: str | Surrogate = FastSigmoid(),
        learn_tau: bool = False,
        learn_threshold: bool = False,
    ) -> None:
        super().__init__()
        self.n_inputs = _check_size("n_inputs", n_inputs)
        _check_size("n_classes", n_classes)
        self.synapses = nn.Linear(n_inputs, n_classes)
        self.lif = LIF(
            params,
            integrator=integrator,
            synapse="delta",
            surrogate=surrogate,
            learn_tau=learn_tau,
            learn_threshold=learn_threshold,
            n_neurons=n_classes if (learn_tau or learn_threshold) else None,
        )

    def forward(self, v4_spikes: torch.Tensor) -> HeadOutput:
        """Output spikes and membranes ``[T, B, C]`` from V4 spikes ``[T, B, n_inputs]``."""
        _check_head_input("v4_spikes", v4_spikes, "[T, B, n_inputs]", 3, self, self.n_inputs)
        out = self.lif(self.synapses(v4_spikes))
        return HeadOutput(logits=out.spikes.sum(0), spikes=out.spikes, membrane=out.membrane)


class RateSoftmaxHead(nn.Module):
    """Linear layer on the V4 firing rates (spikes per step averaged over T).

    Parameters
    ----------
    n_classes : int
        Number of classes C.
    n_inputs : int
        Presynaptic V4 neurons (3136).

    Examples
    --------
    >>> out = RateSoftmaxHead(n_classes=10)(torch.zeros(25, 2, 3136))  # [T, B, 3136]
    >>> out.logits.shape, out.spikes is None
    (torch.Size([2, 10]), True)
    """

    spiking_input = True

    def __init__(self, n_classes: int, n_inputs: int = V4_UNITS) -> None:
        super().__init__()
        self.n_inputs = _check_size("n_inputs", n_inputs)
        _check_size("n_classes", n_classes)
        self.linear = nn.Linear(n_inputs, n_classes)

    def forward(self, v4_spikes: torch.Tensor) -> HeadOutput:
        """Logits ``[B, C]`` from V4 spikes ``[T, B, n_inputs]``."""
        _check_head_input("v4_spikes", v4_spikes, "[T, B, n_inputs]", 3, self, self.n_inputs)
        return HeadOutput(logits=self.linear(v4_spikes.mean(0)), spikes=None, membrane=None)


class AnalogSoftmaxHead(nn.Module):
    """Linear layer on the analog V4 features: the classic CNN softmax head.

    Parameters
    ----------
    n_classes : int
        Number of classes C.
    n_inputs : int
        V4 feature units (3136).

    Examples
    --------
    >>> out = AnalogSoftmaxHead(n_classes=10)(torch.zeros(2, 3136))  # features [B, 3136]
    >>> out.logits.shape
    torch.Size([2, 10])
    """

    spiking_input = False

    def __init__(self, n_classes: int, n_inputs: int = V4_UNITS) -> None:
        super().__init__()
        self.n_inputs = _check_size("n_inputs", n_inputs)
        _check_size("n_classes", n_classes)
        self.linear = nn.Linear(n_inputs, n_classes)

    def forward(self, features: torch.Tensor) -> HeadOutput:
        """Logits ``[B, C]`` from V4 features ``[B, n_inputs]``."""
        _check_head_input("features", features, "[B, n_inputs]", 2, self, self.n_inputs)
        return HeadOutput(logits=self.linear(features), spikes=None, membrane=None)


class Decoded(NamedTuple):
    """A decoder's verdict.

    Attributes
    ----------
    prediction : Tensor [B] of int64
        Predicted class.
    silent : Tensor [B] of bool
        True where no output neuron spiked; the prediction then comes from the
        membrane potentials, never from a default class.
    """

    prediction: torch.Tensor
    silent: torch.Tensor


DECODERS: tuple[str, ...] = ("count", "max-membrane", "first-spike")


def _argmax_among(candidates: torch.Tensor, score: torch.Tensor) -> torch.Tensor:
    """Index of the highest ``score`` among the ``candidates`` (bool ``[B, C]``)."""
    return torch.where(candidates, score, torch.full_like(score, -torch.inf)).argmax(dim=1)


def decode(spikes: torch.Tensor, membrane: torch.Tensor, method: str = "count") -> Decoded:
    """Turn output spikes and membranes ``[T, B, C]`` into classes.

    Parameters
    ----------
    method : {"count", "max-membrane", "first-spike"}
        ``count``: most spikes, ties broken by the highest membrane potential
        reached. ``max-membrane``: highest membrane potential reached.
        ``first-spike``: earliest first spike, ties broken by membrane potential.
        When no neuron spiked, ``count`` and ``first-spike`` fall back on the
        membrane potential (and report the sample as silent).

    Examples
    --------
    >>> spk = torch.zeros(3, 1, 2); mem = torch.zeros(3, 1, 2); mem[1, 0, 1] = 0.5
    >>> decode(spk, mem)  # silent: class 1 from its membrane, not class 0
    Decoded(prediction=tensor([1]), silent=tensor([True]))
    """
    check_tensor("spikes", spikes, "[T, B, C]", ndim=3)
    check_tensor("membrane", membrane, "[T, B, C]", ndim=3)
    if spikes.shape != membrane.shape:
        raise ValueError(
            f"spikes and membrane must both be [T, B, C], got {tuple(spikes.shape)} "
            f"and {tuple(membrane.shape)}"
        )
    if spikes.device != membrane.device:
        raise ValueError(
            f"spikes are on {spikes.device} but membrane on {membrane.device}; "
            "move both to one device"
        )
    peak = membrane.amax(dim=0)
    counts = spikes.sum(dim=0)
    silent = counts.sum(dim=1) == 0
    if method == "count":
        prediction = _argmax_among(counts == counts.amax(dim=1, keepdim=True), peak)
    elif method == "max-membrane":
        prediction = peak.argmax(dim=1)
    elif method == "first-spike":
        n_steps = spikes.shape[0]
        steps = torch.arange(n_steps, device=spikes.device).view(-1, 1, 1).expand_as(spikes)
        first = torch.where(spikes > 0, steps, torch.full_like(steps, n_steps)).amin(dim=0)
        prediction = _argmax_among(first == first.amin(dim=1, keepdim=True), peak)
    else:
        raise ValueError(f"unknown decoder {method!r}; valid: {', '.join(DECODERS)}")
    return Decoded(prediction=prediction, silent=silent)

"""Output heads on the V4 layer.

- :class:`LIFHead`: synapses ``Linear(3136 -> C)`` feeding C LIF neurons (delta
  synapses), the project's subject;
- :class:`RateSoftmaxHead`: a linear layer + softmax on the V4 firing rates;
- :class:`AnalogSoftmaxHead`: a linear layer + softmax on the V4 features
  themselves, the classic CNN's ``Z = g(sum_i a_i w_i + b)``.

Every head returns :class:`HeadOutput`, the same structure for every head.
:data:`HEADS` builds them by name; a new head is one class plus one line there.
"""

from __future__ import annotations

from typing import NamedTuple, Protocol

import torch
from torch import nn

from spikerec.errors import ParameterError
from spikerec.lif.integrators import Integrator
from spikerec.lif.modules import LIF
from spikerec.lif.params import LIFParams
from spikerec.lif.surrogates import FastSigmoid, Surrogate
from spikerec.recognition.frontend import V4_UNITS
from spikerec.registry import Registry
from spikerec.validation import check_like_parameters, check_tensor

DEFAULT_HEAD_PARAMS = LIFParams(tau_mem_ms=10.0, dt_ms=1.0, r_m=1.0)
"""Output-layer neurons: a synaptic weight w makes V jump by ``w / 10``.

A larger ``r_m`` makes the 3136-input layer so sensitive that Adam's first steps
drive every output neuron to saturation or silence under dense rate-coded input.
"""


def _check_size(name: str, value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ParameterError(f"{name}={value!r} must be a positive integer")
    return value


def _check_head_input(
    name: str, x: torch.Tensor, shape: str, ndim: int, head: nn.Module, n_inputs: int
) -> None:
    """Refuse input that the head's synapses cannot take, with one line naming why."""
    check_tensor(name, x, shape, ndim=ndim)
    if x.shape[-1] != n_inputs:
        raise ParameterError(
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
    ``r_m x / tau_mem_ms`` (see :func:`spikerec.lif.step.lif_step`).
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


class HeadBuilder(Protocol):
    """Builds one head for ``n_classes`` classes on the 3136 V4 units.

    ``params``, ``integrator``, ``surrogate``, ``learn_tau`` and ``learn_threshold``
    configure LIF output neurons; a head without them ignores them.
    """

    def __call__(
        self,
        n_classes: int,
        *,
        params: LIFParams | None = None,
        integrator: str = "exact",
        surrogate: str = "fast_sigmoid",
        learn_tau: bool = False,
        learn_threshold: bool = False,
    ) -> nn.Module: ...


def _lif_head(
    n_classes: int,
    *,
    params: LIFParams | None = None,
    integrator: str = "exact",
    surrogate: str = "fast_sigmoid",
    learn_tau: bool = False,
    learn_threshold: bool = False,
) -> nn.Module:
    params = DEFAULT_HEAD_PARAMS if params is None else params
    return LIFHead(
        n_classes,
        params=params,
        integrator=integrator,
        surrogate=surrogate,
        learn_tau=learn_tau,
        learn_threshold=learn_threshold,
    )


def _rate_softmax_head(n_classes: int, **_: object) -> nn.Module:
    return RateSoftmaxHead(n_classes)


def _softmax_head(n_classes: int, **_: object) -> nn.Module:
    return AnalogSoftmaxHead(n_classes)


#: The heads by name, each a :class:`HeadBuilder`. Examples: ``list(HEADS)`` is
#: ``["lif", "rate-softmax", "softmax"]``; ``HEADS.get("softmax")(10)`` is an
#: :class:`AnalogSoftmaxHead` for 10 classes.
HEADS: Registry[HeadBuilder] = Registry(
    "head",
    [("lif", _lif_head), ("rate-softmax", _rate_softmax_head), ("softmax", _softmax_head)],
)

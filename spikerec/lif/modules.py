"""``torch.nn`` modules around the pure LIF step; they hold parameters, never state.

:class:`LIF` runs a layer of neurons of any shape over a time-major sequence
``[T, B, *shape]``; :class:`spikerec.lif.cell.LIFCell` advances the same neurons by
one step. Both call the rules of :mod:`spikerec.lif.rules` through
:func:`spikerec.lif.step.lif_step` (or the fused sequence, which gives the same
spikes), so they agree bit for bit.
"""

from __future__ import annotations

from typing import NamedTuple

import torch

from spikerec.errors import ParameterError
from spikerec.lif.cell import _LIFNeurons
from spikerec.lif.fused import fused_supported, lif_sequence_fused
from spikerec.lif.integrators import Integrator
from spikerec.lif.params import LIFParams
from spikerec.lif.step import LIFState, Synapse, _lif_sequence
from spikerec.lif.step import check_state as _check_state
from spikerec.lif.surrogates import FastSigmoid, Surrogate
from spikerec.validation import check_like_parameters, check_tensor


class LIFOutput(NamedTuple):
    """What :class:`LIF` returns, always the same structure.

    Attributes
    ----------
    spikes : Tensor [T, B, *shape]
        1.0 where a neuron spiked in a step.
    membrane : Tensor [T, B, *shape]
        Membrane potential at the end of each step, before the reset (voltage unit).
    state : LIFState
        State ``[B, *shape]`` after the last step; pass it back in to continue the
        sequence.

    Examples
    --------
    >>> out = LIF(LIFParams(tau_mem_ms=10.0))(torch.full((4, 1, 1), 6.0))
    >>> out.spikes.flatten().tolist()
    [0.0, 1.0, 0.0, 1.0]
    >>> out.membrane.flatten()  # pre-reset: the crossings above v_th = 1 stay visible
    tensor([0.6000, 1.1429, 0.7293, 1.2599])
    >>> out.state.v
    tensor([[0.2599]])
    """

    spikes: torch.Tensor
    membrane: torch.Tensor
    state: LIFState


def check_sequence(x: torch.Tensor, name: str = "x") -> None:
    """Refuse anything but a finite floating tensor ``[T, B, *shape]`` (at least one
    neuron dimension, every dimension >= 1) holding real data (not a ``meta`` tensor)."""
    check_tensor(name, x, "[T, B, *shape]")
    if x.dim() < 3:
        raise ParameterError(
            f"{name} must have shape [T, B, *shape] (time, batch, then at least one neuron "
            f"dimension), got {tuple(x.shape)}; a single step [B, *shape] goes to LIFCell"
        )


def check_state(state: LIFState, x: torch.Tensor) -> None:
    """Refuse a state that does not fit the sequence ``x [T, B, *shape]``."""
    _check_state(state, x.shape[1:], x.dtype, x.device)


class LIF(_LIFNeurons):
    """A layer of leaky integrate-and-fire neurons of any shape run over a time-major sequence.

    Parameters
    ----------
    params : LIFParams, optional
        Neuron parameters (default ``LIFParams()``). ``LIFParams.unit_jump(...)``
        makes one unit of delta input raise ``V`` by 1, as in ``snntorch.Leaky``.
    integrator : str or Integrator
        ``"exact"`` (default), ``"euler"`` or ``"rk4"``.
    synapse : {"delta", "current"}
        Input convention, see :func:`spikerec.lif.step.lif_step`.
    surrogate : str or Surrogate
        Threshold derivative for training (default ``FastSigmoid(slope=25)``).
    learn_tau : bool
        Learn the membrane time constant (kept positive through its logarithm).
    learn_threshold : bool
        Learn the threshold ``v_th``.
    shape : int or tuple of int, optional
        With a learnable value: its shape, broadcast against the neuron shape of
        ``x [T, B, *shape]``: ``(N,)`` one value per neuron of ``[T, B, N]``,
        ``(C, 1, 1)`` one per channel of conv maps ``[T, B, C, H, W]``,
        ``(C, H, W)`` one per neuron of them. One shared value when omitted.
    n_neurons : int, optional
        Same as ``shape=(n_neurons,)``.
    detach_reset : bool
        Stop gradients through the reset.
    fused : bool
        Use the whole-sequence path with a hand-written backward pass
        (:mod:`spikerec.lif.fused`) where it applies: fixed tau and threshold, no
        refractory period. Same spikes as the step-by-step reference, less time
        and memory. :class:`spikerec.LIFCell` is the same neuron one step at a time.

    Notes
    -----
    Tensors are time-major, ``[T, B, *shape]``: any neuron shape, conv maps
    ``[T, B, C, H, W]`` included. Batch-major data ``[B, T, *shape]`` goes in as
    ``x.transpose(0, 1)`` (a view, no copy) and comes out the same way,
    ``out.spikes.transpose(0, 1)``.

    One unit of input moves ``V`` by :attr:`input_gain` in a step from rest:
    ``r_m / tau_mem_ms`` for delta synapses (0.1 with the defaults).

    Examples
    --------
    >>> lif = LIF(LIFParams(tau_mem_ms=5.0, dt_ms=1.0))
    >>> out = lif(torch.rand(100, 2, 10) * 3)
    >>> out.spikes.shape, out.membrane.shape, out.state.v.shape
    (torch.Size([100, 2, 10]), torch.Size([100, 2, 10]), torch.Size([2, 10]))

    Conv maps ``[T, B, C, H, W]`` with a learnable threshold per channel:

    >>> conv_lif = LIF(LIFParams.unit_jump(), learn_threshold=True, shape=(8, 1, 1))
    >>> conv_lif(torch.rand(25, 2, 8, 6, 6)).spikes.shape
    torch.Size([25, 2, 8, 6, 6])
    """

    def __init__(
        self,
        params: LIFParams | None = None,
        *,
        integrator: str | Integrator = "exact",
        synapse: Synapse = "delta",
        surrogate: str | Surrogate = FastSigmoid(),
        learn_tau: bool = False,
        learn_threshold: bool = False,
        shape: int | tuple[int, ...] | None = None,
        n_neurons: int | None = None,
        detach_reset: bool = False,
        fused: bool = True,
    ) -> None:
        super().__init__(
            params,
            integrator=integrator,
            synapse=synapse,
            surrogate=surrogate,
            learn_tau=learn_tau,
            learn_threshold=learn_threshold,
            shape=shape,
            n_neurons=n_neurons,
            detach_reset=detach_reset,
        )
        self.fused = fused

    def forward(self, x: torch.Tensor, state: LIFState | None = None) -> LIFOutput:
        """Run the layer over a sequence.

        Parameters
        ----------
        x : Tensor [T, B, *shape]
            Input per step: summed synaptic weights of arriving spikes (delta,
            current unit x ms) or held current (current unit), see
            :func:`spikerec.lif.step.lif_step`.
        state : LIFState, optional
            Initial state ``[B, *shape]``; neurons start at rest when omitted.

        Returns
        -------
        LIFOutput
            ``spikes`` and pre-reset ``membrane``, both ``[T, B, *shape]``, and the
            final state ``[B, *shape]``.
        """
        check_sequence(x)
        check_like_parameters("x", x, self, "the layer", dtype=False)
        self._check_neurons(x.shape[2:])
        if state is None:
            state = self.init_state(*x.shape[1:], dtype=x.dtype, device=x.device)
        else:
            check_state(state, x)
        tau, v_th = self._neuron_values(x.dtype)
        if self.fused and isinstance(tau, float) and v_th is None and fused_supported(self.params):
            spikes, membrane, final = lif_sequence_fused(
                x,
                state,
                self.params,
                method=self.integrator,
                synapse=self.synapse,
                surrogate=self.surrogate,
                detach_reset=self.detach_reset,
            )
            return LIFOutput(spikes=spikes, membrane=membrane, state=final)
        threshold = self.params.v_th if v_th is None else v_th
        spikes, membrane, final = _lif_sequence(
            x, state, self.params, (self.integrator, self.surrogate, tau, threshold),
            self.synapse, self.detach_reset,
        )  # fmt: skip
        return LIFOutput(spikes=spikes, membrane=membrane, state=final)

"""``torch.nn`` modules around the pure LIF step; they hold parameters, never state."""

from __future__ import annotations

import math
from typing import NamedTuple

import torch
from torch import nn

from spikerec.errors import ParameterError
from spikerec.lif.fused import fused_supported, lif_sequence_fused
from spikerec.lif.integrators import Integrator, get_integrator
from spikerec.lif.params import LIFParams
from spikerec.lif.step import (
    LIFState,
    Synapse,
    _lif_sequence,
    check_params,
    check_synapse,
    init_lif_state,
)
from spikerec.lif.step import check_state as _check_state
from spikerec.lif.surrogates import FastSigmoid, Surrogate, get_surrogate
from spikerec.validation import check_like_parameters, check_tensor


class LIFOutput(NamedTuple):
    """What :class:`LIF` returns, always the same structure.

    Attributes
    ----------
    spikes : Tensor [T, B, N]
        1.0 where a neuron spiked in a step.
    membrane : Tensor [T, B, N]
        Membrane potential at the end of each step, before the reset.
    state : LIFState
        State after the last step; pass it back in to continue the sequence.

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
    """Refuse anything but a finite floating tensor ``[T, B, N]`` with T, B, N >= 1
    holding real data (not a ``meta`` tensor)."""
    check_tensor(name, x, "[T, B, N]", ndim=3)


def check_state(state: LIFState, x: torch.Tensor) -> None:
    """Refuse a state that does not fit the sequence ``x [T, B, N]``."""
    _check_state(state, x.shape[1:], x.dtype, x.device)


class LIF(nn.Module):
    """A layer of leaky integrate-and-fire neurons run over a time-major sequence.

    Parameters
    ----------
    params : LIFParams, optional
        Neuron parameters (default ``LIFParams()``).
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
    n_neurons : int, optional
        With a learnable parameter: one value per neuron instead of one shared.
    detach_reset : bool
        Stop gradients through the reset.
    fused : bool
        Use the whole-sequence path with a hand-written backward pass
        (:mod:`spikerec.lif.fused`) where it applies: fixed tau and threshold, no
        refractory period. Same spikes as the step-by-step reference, less time
        and memory.

    Examples
    --------
    >>> lif = LIF(LIFParams(tau_mem_ms=5.0, dt_ms=1.0))
    >>> out = lif(torch.rand(100, 2, 10) * 3)
    >>> out.spikes.shape, out.membrane.shape, out.state.v.shape
    (torch.Size([100, 2, 10]), torch.Size([100, 2, 10]), torch.Size([2, 10]))
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
        n_neurons: int | None = None,
        detach_reset: bool = False,
        fused: bool = True,
    ) -> None:
        super().__init__()
        self.params = LIFParams() if params is None else params
        check_params(self.params)
        self.integrator = get_integrator(integrator)
        self.integrator.validate(self.params)
        check_synapse(synapse)
        self.synapse = synapse
        self.surrogate = get_surrogate(surrogate)
        self.detach_reset = detach_reset
        self.fused = fused
        if n_neurons is not None and (
            isinstance(n_neurons, bool) or not isinstance(n_neurons, int) or n_neurons < 1
        ):
            raise ParameterError(f"n_neurons={n_neurons!r} must be a positive integer")
        self.n_neurons = n_neurons
        shape = () if n_neurons is None else (n_neurons,)
        self.log_tau_mem_ms = (
            nn.Parameter(torch.full(shape, math.log(self.params.tau_mem_ms))) if learn_tau else None
        )
        self.v_th = nn.Parameter(torch.full(shape, self.params.v_th)) if learn_threshold else None

    @property
    def tau_mem_ms(self) -> torch.Tensor | float:
        """Membrane time constant in ms (a tensor when learnable)."""
        if self.log_tau_mem_ms is None:
            return self.params.tau_mem_ms
        return self.log_tau_mem_ms.exp()

    def init_state(
        self,
        batch_size: int,
        n_neurons: int,
        *,
        dtype: torch.dtype = torch.float32,
        device: torch.device | str | None = None,
    ) -> LIFState:
        """Resting state for ``[batch_size, n_neurons]`` neurons."""
        return init_lif_state((batch_size, n_neurons), self.params, dtype=dtype, device=device)

    def forward(self, x: torch.Tensor, state: LIFState | None = None) -> LIFOutput:
        """Run the layer over a sequence.

        Parameters
        ----------
        x : Tensor [T, B, N]
            Input per step: summed synaptic weights of arriving spikes (delta) or
            held current, see :func:`spikerec.lif.step.lif_step`.
        state : LIFState, optional
            Initial state ``[B, N]``; neurons start at rest when omitted.

        Returns
        -------
        LIFOutput
            ``spikes`` and pre-reset ``membrane``, both ``[T, B, N]``, and the final state.
        """
        check_sequence(x)
        check_like_parameters("x", x, self, "the layer", dtype=False)
        if self.n_neurons is not None and x.shape[-1] != self.n_neurons:
            raise ParameterError(
                f"x has {x.shape[-1]} neurons in its last dimension, the layer {self.n_neurons}"
            )
        if state is None:
            state = self.init_state(x.shape[1], x.shape[2], dtype=x.dtype, device=x.device)
        else:
            check_state(state, x)
        tau = self.tau_mem_ms
        if isinstance(tau, torch.Tensor):
            tau = tau.to(x.dtype)
            limit = self.integrator.stability_limit
            if math.isfinite(limit) and bool((tau * limit <= self.params.dt_ms).any()):
                raise ParameterError(
                    f"learned tau_mem_ms={float(tau.detach().min()):.4g} makes the "
                    f"'{self.integrator.name}' integrator unstable: it must stay > dt_ms / "
                    f"{limit:.5g} = {self.params.dt_ms / limit:.6g}"
                )
        v_th = None if self.v_th is None else self.v_th.to(x.dtype)
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
        spikes, membrane, final = _lif_sequence(
            x,
            state,
            self.params,
            integrator=self.integrator,
            synapse=self.synapse,
            surrogate=self.surrogate,
            tau_mem_ms=None if isinstance(tau, float) else tau,
            v_th=v_th,
            detach_reset=self.detach_reset,
        )
        return LIFOutput(spikes=spikes, membrane=membrane, state=final)

    def extra_repr(self) -> str:
        return (
            f"{self.params}, integrator={self.integrator.name!r}, synapse={self.synapse!r}, "
            f"surrogate={self.surrogate}"
        )

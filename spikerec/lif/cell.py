"""One step of a layer of LIF neurons as a module: ``cell(x_t, state) -> (spikes, v, state)``.

:class:`LIFCell` advances neurons of any shape ``[B, *shape]`` by one step of
``params.dt_ms`` with explicit state, for code that steps time itself: closed-loop
and online simulations, recurrent networks (whose input at ``t`` depends on the
output at ``t - 1``), and ``torch.jit.trace`` / ``torch.compile``, which cannot see
through the whole-sequence fused path of :class:`spikerec.LIF`. It calls the same
step as :func:`spikerec.lif_step` and :class:`spikerec.LIF`, so a loop of cells
gives bit-for-bit the spikes and membranes of the layer over the sequence.

:class:`_LIFNeurons` holds what the cell and :class:`spikerec.LIF` share: the
parameters, the integrator, the surrogate and the learnable per-neuron values.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import torch
from torch import nn

import spikerec.lif.rules as rules
from spikerec.errors import ParameterError
from spikerec.lif.integrators import Integrator, get_integrator
from spikerec.lif.params import LIFParams
from spikerec.lif.step import (
    LIFState,
    Synapse,
    _lif_step,
    check_params,
    check_synapse,
    held_affine_step,
    init_lif_state,
)
from spikerec.lif.step import check_state as _check_state
from spikerec.lif.surrogates import FastSigmoid, Surrogate, get_surrogate
from spikerec.validation import check_like_parameters, check_tensor


def _neuron_shape(shape: object, n_neurons: object) -> tuple[int, ...] | None:
    """The shape of learnable per-neuron values from ``shape=`` or ``n_neurons=`` (or None)."""
    if n_neurons is not None:
        if shape is not None:
            raise ParameterError(
                f"give shape={shape!r} or n_neurons={n_neurons!r}, not both "
                "(n_neurons=N is shape=(N,))"
            )
        if isinstance(n_neurons, bool) or not isinstance(n_neurons, int) or n_neurons < 1:
            raise ParameterError(f"n_neurons={n_neurons!r} must be a positive integer")
        return (n_neurons,)
    if shape is None:
        return None
    dims = (shape,) if isinstance(shape, int) and not isinstance(shape, bool) else shape
    if not isinstance(dims, (tuple, list, torch.Size)) or not all(
        isinstance(d, int) and not isinstance(d, bool) and d >= 1 for d in dims
    ):
        raise ParameterError(
            f"shape={shape!r} must be a positive integer or a tuple of them, "
            "e.g. (C, 1, 1) for one value per channel of [T, B, C, H, W] maps"
        )
    return tuple(dims)


class _LIFNeurons(nn.Module):
    """Parameters, integrator, surrogate and learnable values of a layer of LIF neurons.

    The base of :class:`LIFCell` (one step) and :class:`spikerec.LIF` (a sequence);
    it keeps no state between calls.
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
    ) -> None:
        super().__init__()
        self.params = LIFParams() if params is None else params
        check_params(self.params)
        self.integrator = get_integrator(integrator)
        self.integrator.validate(self.params)
        check_synapse(synapse)
        self.synapse: Synapse = synapse
        self.surrogate = get_surrogate(surrogate)
        self.detach_reset = detach_reset
        self.neuron_shape = _neuron_shape(shape, n_neurons)
        one_dim = self.neuron_shape is not None and len(self.neuron_shape) == 1
        #: Neurons of a one-dimensional layer with per-neuron values (else None).
        self.n_neurons = self.neuron_shape[0] if one_dim and self.neuron_shape else None
        values = () if self.neuron_shape is None else self.neuron_shape
        self.log_tau_mem_ms = (
            nn.Parameter(torch.full(values, math.log(self.params.tau_mem_ms)))
            if learn_tau
            else None
        )
        self.v_th = nn.Parameter(torch.full(values, self.params.v_th)) if learn_threshold else None

    @property
    def tau_mem_ms(self) -> torch.Tensor | float:
        """Membrane time constant in ms (a tensor of :attr:`neuron_shape` when learnable)."""
        if self.log_tau_mem_ms is None:
            return self.params.tau_mem_ms
        return self.log_tau_mem_ms.exp()

    @property
    def input_gain(self) -> torch.Tensor | float:
        """What one unit of input does to ``V`` in one step from rest (voltage unit).

        Delta synapses: the jump ``r_m / tau_mem_ms`` per unit of summed weight.
        Current synapses: ``r_m`` times the integrator's share of a step of held
        current, ``r_m (1 - exp(-dt_ms / tau_mem_ms))`` for ``"exact"``. A tensor
        when ``tau_mem_ms`` is learnable. See ``docs/neuron-model.md`` for the same
        figure in snntorch, norse and brian2.
        """
        tau = self.tau_mem_ms
        if isinstance(tau, torch.Tensor):
            tau = tau.detach()
            if self.synapse == "delta":
                return rules.jump_gain(self.params, tau)
            one_step = self.integrator.advance(
                torch.zeros_like(tau), 1.0, dt_ms=self.params.dt_ms, tau_mem_ms=tau, v_rest=0.0
            )
            return self.params.r_m * one_step
        return held_affine_step(self.params, self.integrator, self.synapse, tau)[1]

    def init_state(
        self,
        batch_size: int,
        *shape: int,
        dtype: torch.dtype = torch.float32,
        device: torch.device | str | None = None,
    ) -> LIFState:
        """Resting state ``[batch_size, *shape]`` (``V = v_rest``, not refractory).

        Examples
        --------
        >>> LIFCell().init_state(2, 3, 4, 4).v.shape   # B = 2, conv maps 3 x 4 x 4
        torch.Size([2, 3, 4, 4])
        """
        return init_lif_state((batch_size, *shape), self.params, dtype=dtype, device=device)

    def _check_neurons(self, neurons: torch.Size | tuple[int, ...]) -> None:
        """Refuse an input whose neuron shape the learnable values do not broadcast to."""
        if self.neuron_shape is None:
            return
        if self.n_neurons is not None and len(neurons) == 1 and neurons[0] != self.n_neurons:
            raise ParameterError(
                f"x has {neurons[0]} neurons in its last dimension, the layer {self.n_neurons}"
            )
        try:
            fits = torch.broadcast_shapes(self.neuron_shape, tuple(neurons)) == tuple(neurons)
        except RuntimeError:
            fits = False
        if not fits:
            raise ParameterError(
                f"the layer's per-neuron values have shape {self.neuron_shape}, which does not "
                f"broadcast to the neuron shape {tuple(neurons)} of x (x is [T, B, *shape] "
                "for LIF, [B, *shape] for LIFCell)"
            )

    def _neuron_values(
        self, dtype: torch.dtype
    ) -> tuple[float | torch.Tensor, torch.Tensor | None]:
        """``(tau_mem_ms, v_th)`` for inputs of ``dtype``: floats, or learnable tensors.

        Raises
        ------
        ParameterError
            If a learned ``tau_mem_ms`` makes the integrator unstable.
        """
        tau = self.tau_mem_ms
        if isinstance(tau, torch.Tensor):
            tau = tau.to(dtype)
            limit = self.integrator.stability_limit
            if (
                math.isfinite(limit)
                and not _tracing()
                and bool((tau * limit <= self.params.dt_ms).any())
            ):
                raise ParameterError(
                    f"learned tau_mem_ms={float(tau.detach().min()):.4g} makes the "
                    f"'{self.integrator.name}' integrator unstable: it must stay > dt_ms / "
                    f"{limit:.5g} = {self.params.dt_ms / limit:.6g}"
                )
        v_th = None if self.v_th is None else self.v_th.to(dtype)
        return tau, v_th

    def extra_repr(self) -> str:
        shape = "" if self.neuron_shape is None else f", shape={self.neuron_shape}"
        return (
            f"{self.params}, integrator={self.integrator.name!r}, synapse={self.synapse!r}, "
            f"surrogate={self.surrogate}{shape}"
        )


def _tracing() -> bool:
    """Whether torch.jit.trace or torch.compile is recording: skip data-dependent checks."""
    return bool(torch.jit.is_tracing() or torch.compiler.is_compiling())


class LIFStepOutput(NamedTuple):
    """What :class:`LIFCell` returns, always the same structure.

    Attributes
    ----------
    spikes : Tensor [B, *shape]
        1.0 where a neuron spiked in this step.
    membrane : Tensor [B, *shape]
        Membrane potential at the end of the step, before the reset (voltage unit).
    state : LIFState
        State after the step; pass it to the next call.

    Examples
    --------
    >>> spikes, membrane, state = LIFCell()(torch.full((1, 2), 12.0))   # from rest
    >>> spikes.tolist(), membrane.tolist(), state.v.tolist()
    ([[1.0, 1.0]], [[1.2, 1.2]], [[0.2..., 0.2...]])
    """

    spikes: torch.Tensor
    membrane: torch.Tensor
    state: LIFState


class LIFCell(_LIFNeurons):
    """One step of a layer of leaky integrate-and-fire neurons of any shape.

    ``cell(x_t, state)`` advances neurons ``[B, *shape]`` by one step of
    ``params.dt_ms`` and returns ``(spikes, membrane, new_state)``; ``state=None``
    starts them at rest. The cell keeps no state: the caller carries it, so one
    cell serves any number of independent sequences, a recurrent loop, or an
    online simulation fed one step at a time.

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
    learn_tau, learn_threshold : bool
        Learn the membrane time constant (through its logarithm) or the threshold.
    shape : int or tuple of int, optional
        With a learnable value: its shape, broadcast against the neuron shape of
        ``x`` (``(N,)`` one per neuron of ``[B, N]``; ``(C, 1, 1)`` one per channel
        of ``[B, C, H, W]``); one value shared by all neurons when omitted.
    n_neurons : int, optional
        Same as ``shape=(n_neurons,)``.
    detach_reset : bool
        Stop gradients through the reset.

    Notes
    -----
    The step is :func:`spikerec.lif_step` (rules in :mod:`spikerec.lif.rules`):
    ``V' = v_rest + (V - v_rest) exp(-dt/tau) + r_m x / tau`` for delta synapses,
    spike where ``V' >= v_th``, then reset. Stepping a cell over ``x [T, B, *shape]``
    gives exactly the spikes, membranes and final state of :class:`spikerec.LIF`
    with the same arguments (the parameters' names are the same, so
    ``cell.load_state_dict(layer.state_dict())`` copies learned values).

    Under ``torch.compile`` the data-dependent checks (NaN in ``x`` or the state, an
    unstable learned ``tau_mem_ms``) are skipped, shapes, dtypes and devices still
    checked; ``torch.jit.trace`` records one checked call and checks nothing after.

    Examples
    --------
    A Python loop over time with explicit state:

    >>> cell = LIFCell(LIFParams.unit_jump(tau_mem_ms=10.0))   # one unit of x: V += 1
    >>> x = torch.tensor([[[0.6]], [[0.6]], [[0.0]]])          # [T=3, B=1, N=1]
    >>> state, spikes = None, []
    >>> for x_t in x:
    ...     s, v, state = cell(x_t, state)
    ...     spikes.append(s.item())
    >>> spikes
    [0.0, 1.0, 0.0]

    Conv maps work the same way, ``[B, C, H, W]`` per step:

    >>> cell(torch.zeros(2, 3, 4, 4)).spikes.shape
    torch.Size([2, 3, 4, 4])
    """

    def forward(self, x: torch.Tensor, state: LIFState | None = None) -> LIFStepOutput:
        """Advance the neurons by one step.

        Parameters
        ----------
        x : Tensor [B, *shape]
            Input of this step: summed synaptic weights of the spikes arriving in
            it (delta, current unit x ms) or the current held over it (current unit).
        state : LIFState, optional
            State ``[B, *shape]`` at the start of the step; at rest when None.

        Returns
        -------
        LIFStepOutput
            ``spikes`` and pre-reset ``membrane``, both ``[B, *shape]``, and the new state.
        """
        if torch.jit.is_tracing():
            # torch.jit.trace records one call with the example's shapes (checked when
            # the example ran untraced) and hands named tuples in as plain tuples.
            if state is None:
                state = init_lif_state(x.shape, self.params, dtype=x.dtype, device=x.device)
            else:
                state = LIFState(*state)
        else:
            check_step_input(x)
            check_like_parameters("x", x, self, "the cell", dtype=False)
            self._check_neurons(x.shape[1:])
            if state is None:
                state = init_lif_state(x.shape, self.params, dtype=x.dtype, device=x.device)
            else:
                _check_state(state, x.shape, x.dtype, x.device, finite=not _tracing())
        tau, v_th = self._neuron_values(x.dtype)
        threshold = self.params.v_th if v_th is None else v_th
        spikes, membrane, new_state = _lif_step(
            x, state, self.params, self.integrator, self.surrogate, tau, threshold,
            self.synapse, self.detach_reset,
        )  # fmt: skip
        return LIFStepOutput(spikes=spikes, membrane=membrane, state=new_state)


def check_step_input(x: torch.Tensor, name: str = "x") -> None:
    """Refuse anything but a floating tensor ``[B, *shape]`` (at least 2 dimensions) of
    real data; finite values are checked except under tracing or compilation."""
    if not isinstance(x, torch.Tensor) or x.dim() < 2:
        check_tensor(name, x, "[B, *shape]")  # the type error, if it is one
        raise ParameterError(
            f"{name} must have shape [B, *shape] (batch, then at least one neuron dimension), "
            f"got {tuple(x.shape)}"
        )
    if torch.compiler.is_compiling():  # no data-dependent check inside a compiled graph
        if not x.is_floating_point():
            check_tensor(name, x, "[B, *shape]")
        return
    check_tensor(name, x, "[B, *shape]")


__all__ = ["LIFCell", "LIFStepOutput", "check_step_input"]

"""A whole-sequence LIF layer with a hand-written backward pass.

The reference path (:func:`spikerec.functional.lif_sequence`) lets autograd record
every elementwise operation of every step. Here the forward loop runs without a
graph, calling the same update functions (so spikes are bit-identical), and
stores only the pre-reset membrane ``[T, B, N]``. The backward pass is
back-propagation through time written out by hand, using that every grid
integrator maps the membrane affinely over a step of held input,

    v_pre[t] = a * v[t-1] + b * x[t] + c,

with constants ``a = d v_pre / d v`` and ``b = d v_pre / d x``.

Used for fixed (not learnable) ``tau_mem_ms`` and ``v_th`` without a refractory
period; :class:`spikerec.LIF` falls back on the reference path otherwise.
"""

from __future__ import annotations

import torch

from spikerec.functional import LIFState, held_affine_step, input_term, reset_membrane
from spikerec.integrators import Integrator
from spikerec.params import LIFParams
from spikerec.surrogate import Surrogate


def fused_supported(params: LIFParams) -> bool:
    """Whether :func:`lif_sequence_fused` can run these parameters (no refractory period)."""
    return params.refractory_steps == 0


class _FusedLIF(torch.autograd.Function):
    @staticmethod
    def forward(  # type: ignore[override]
        ctx,
        x: torch.Tensor,
        v0: torch.Tensor,
        n_steps: int,
        params: LIFParams,
        method: Integrator,
        synapse: str,
        surrogate: Surrogate,
        detach_reset: bool,
    ):
        held = x.dim() == v0.dim()
        ctx.set_materialize_grads(False)  # unused outputs get None, not zero tensors
        a, b, c = held_affine_step(params, method, synapse, params.tau_mem_ms)
        # The same tensor operations as lif_step, in the same order: identical spikes.
        term = input_term(x, b, c)
        membrane = v0.new_empty((n_steps, *v0.shape))
        spikes = v0.new_empty((n_steps, *v0.shape))
        v = v0
        for t in range(n_steps):
            v_pre = torch.add(term if held else term[t], v, alpha=a, out=membrane[t])
            s = torch.ge(v_pre, params.v_th, out=spikes[t])
            v = reset_membrane(v_pre, s, params, params.v_th)
        ctx.save_for_backward(membrane, spikes)
        ctx.params, ctx.coefficients, ctx.surrogate = params, (a, b), surrogate
        ctx.detach_reset, ctx.held = detach_reset, held
        return spikes, membrane, v

    @staticmethod
    def backward(ctx, grad_spikes, grad_membrane, grad_v_final):  # type: ignore[override]
        membrane, spikes = ctx.saved_tensors
        params: LIFParams = ctx.params
        a, b = ctx.coefficients
        theta = params.v_th - params.v_reset
        # One step at a time, backwards: every temporary is [B, N] and stays in
        # cache, instead of a handful of passes over [T, B, N] tensors in memory.
        grad_pre = None if ctx.held else torch.empty_like(membrane)
        grad_held = None
        g = None  # d loss / d v_pre[t]
        for t in range(membrane.shape[0] - 1, -1, -1):
            slope = ctx.surrogate.derivative(membrane[t] - params.v_th)  # d spike / d v_pre
            # From the future: d loss / d v_post[t] (the state carried into step t + 1).
            if t == membrane.shape[0] - 1:
                upstream = grad_v_final
            else:
                upstream = g * a
            # This step's own outputs; slope is not needed afterwards unless the
            # reset passes gradient through the spike.
            local = grad_membrane[t] if grad_membrane is not None else None
            if grad_spikes is not None:
                contribution = slope * grad_spikes[t]
                local = contribution if local is None else contribution.add_(local)
            if upstream is not None:
                through = _through_reset(
                    params, ctx.detach_reset, slope, membrane[t], spikes[t], theta
                )
                if through is not None:
                    upstream = upstream * through
                local = upstream if local is None else local.add_(upstream)
            g = local if local is not None else torch.zeros_like(membrane[t])
            if grad_pre is not None:
                grad_pre[t] = g
            elif ctx.needs_input_grad[0]:
                grad_held = g.clone() if grad_held is None else grad_held.add_(g)
        grad_x = None
        if ctx.needs_input_grad[0]:
            grad_x = b * (grad_held if ctx.held else grad_pre)
        grad_v0 = a * g if ctx.needs_input_grad[1] else None
        return grad_x, grad_v0, None, None, None, None, None, None


def _through_reset(
    params: LIFParams,
    detach_reset: bool,
    slope: torch.Tensor,
    v_pre: torch.Tensor,
    spikes: torch.Tensor,
    theta: float,
) -> torch.Tensor | None:
    """``d v_post / d v_pre`` of one step [B, N], or None where it is exactly 1."""
    if params.reset == "none" or (detach_reset and params.reset == "subtract"):
        return None
    if detach_reset:
        return 1.0 - spikes
    if params.reset == "subtract":
        return slope * -theta + 1.0
    return (params.v_reset - v_pre) * slope + (1.0 - spikes)


def lif_sequence_fused(
    x: torch.Tensor,
    state: LIFState,
    params: LIFParams,
    *,
    method: Integrator,
    synapse: str,
    surrogate: Surrogate,
    detach_reset: bool = False,
    n_steps: int | None = None,
) -> tuple[torch.Tensor, torch.Tensor, LIFState]:
    """Run a LIF layer over a sequence with the hand-written backward pass.

    Parameters
    ----------
    x : Tensor [T, ..., N] or [..., N]
        Input per step as in :func:`spikerec.functional.lif_step`; with the shape of
        the state it is held over all ``n_steps`` steps (a V4 population driven by
        constant features), and its gradient is summed over time once.
    state : LIFState
        Initial state (not refractory).
    params : LIFParams
        Fixed parameters without a refractory period.
    n_steps : int, optional
        Number of steps for held input (default ``x.shape[0]``).

    Returns
    -------
    spikes, v_pre_reset : Tensor [T, ..., N]
    final_state : LIFState

    Notes
    -----
    Spikes and membranes are bit-identical to :func:`spikerec.functional.lif_sequence`
    with the same arguments; gradients agree to floating-point tolerance.
    """
    if not fused_supported(params):
        raise ValueError("the fused LIF path has no refractory period; use lif_sequence")
    held = x.dim() == state.v.dim()
    steps = (n_steps if n_steps is not None else 0) if held else x.shape[0]
    if held and (n_steps is None or n_steps < 1):
        raise ValueError("held input needs n_steps >= 1")
    spikes, membrane, v = _FusedLIF.apply(
        x, state.v, steps, params, method, synapse, surrogate, detach_reset
    )
    return spikes, membrane, LIFState(v=v, refractory_steps_left=state.refractory_steps_left)

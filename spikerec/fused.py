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
        slope = ctx.surrogate.derivative(membrane - params.v_th)  # d spike / d v_pre
        # d v_post / d v_pre: the reset's share of the gradient (None: exactly 1).
        # Built in place, as each is [T, B, N].
        theta = params.v_th - params.v_reset
        if params.reset == "none" or (ctx.detach_reset and params.reset == "subtract"):
            through_reset = None
        elif ctx.detach_reset:
            through_reset = 1.0 - spikes
        elif params.reset == "subtract":
            through_reset = (slope * -theta).add_(1.0)
        else:
            through_reset = (params.v_reset - membrane).mul_(slope).add_(1.0 - spikes)
        last_reset = None if through_reset is None else through_reset[-1].clone()
        carry = None if through_reset is None else through_reset.mul_(a)  # d v_pre[t+1]/d v_pre[t]

        # Gradient reaching v_pre[t] from this step's own outputs.
        if grad_spikes is None:
            local = torch.zeros_like(membrane)
        else:
            local = slope.mul_(grad_spikes)  # slope is not needed any more
        if grad_membrane is not None:
            local = local.add_(grad_membrane)
        grad_pre = torch.empty_like(membrane)
        n_steps = membrane.shape[0]
        g = local[-1]
        if grad_v_final is not None:
            g = g + (grad_v_final if last_reset is None else grad_v_final * last_reset)
        grad_pre[-1] = g
        for t in range(n_steps - 2, -1, -1):
            if carry is None:
                g = torch.add(local[t], g, alpha=a, out=grad_pre[t])
            else:
                g = torch.addcmul(local[t], g, carry[t], out=grad_pre[t])
        grad_x = None
        if ctx.needs_input_grad[0]:
            grad_x = b * (grad_pre.sum(0) if ctx.held else grad_pre)
        grad_v0 = a * g if ctx.needs_input_grad[1] else None
        return grad_x, grad_v0, None, None, None, None, None, None


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

"""A whole-sequence LIF layer with a hand-written backward pass.

The reference path (:func:`spikerec.lif.step.lif_sequence`) lets autograd record
every elementwise operation of every step. Here the forward loop runs without a
graph, calling the same update functions (so spikes are bit-identical), and
stores only the pre-reset membrane ``[T, B, *shape]`` (any neuron shape: the
update and its backward pass are elementwise). The backward pass is
back-propagation through time written out by hand, using that every grid
integrator maps the membrane affinely over a step of held input,

    v_pre[t] = a * v[t-1] + b * x[t] + c,

with constants ``a = d v_pre / d v`` and ``b = d v_pre / d x``.

Used for fixed (not learnable) ``tau_mem_ms`` and ``v_th`` without a refractory
period; :class:`spikerec.LIF` falls back on the reference path otherwise.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import torch

import spikerec.lif.rules as rules
from spikerec.errors import ParameterError
from spikerec.lif.integrators import Integrator
from spikerec.lif.params import LIFParams
from spikerec.lif.step import LIFState, held_affine_step, input_term
from spikerec.lif.surrogates import Surrogate


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
        # Views of every step made once (unbind), not indexed in the loop: for a
        # small layer the per-step Python overhead is what the loop costs.
        terms = [term] * n_steps if held else term.unbind(0)
        reset, v_th, v_reset = rules.reset_rule(params), params.v_th, params.v_reset
        for x_t, v_pre_t, s_t in zip(terms, membrane.unbind(0), spikes.unbind(0), strict=True):
            v_pre = torch.add(x_t, v, alpha=a, out=v_pre_t)
            s = rules.fires(v_pre, v_th, out=s_t)
            v = reset.after(v_pre, s, v_th, v_reset)
        ctx.save_for_backward(membrane, spikes)
        ctx.params, ctx.coefficients, ctx.surrogate = params, (a, b), surrogate
        ctx.detach_reset, ctx.held = detach_reset, held
        return spikes, membrane, v

    @staticmethod
    def backward(ctx, grad_spikes, grad_membrane, grad_v_final):  # type: ignore[override]
        membrane, spikes = ctx.saved_tensors
        grads = _OutputGrads(grad_spikes, grad_membrane, grad_v_final)
        if membrane[0].numel() >= STEPWISE_MIN_ELEMENTS:
            grad_pre_or_held, g = _backward_stepwise(ctx, membrane, spikes, grads)
        else:
            grad_pre_or_held, g = _backward_whole(ctx, membrane, spikes, grads)
        a, b = ctx.coefficients
        grad_x = b * grad_pre_or_held if ctx.needs_input_grad[0] else None
        grad_v0 = a * g if ctx.needs_input_grad[1] else None
        return grad_x, grad_v0, None, None, None, None, None, None


# Layers with at least this many neurons per step ([B, *shape] elements) run the backward
# pass one step at a time, so that its temporaries stay in cache (the V4 population:
# 128 x 3136); smaller ones (an output layer of 10 neurons) in a few passes over
# [T, B, *shape], with fewer, larger tensor operations.
STEPWISE_MIN_ELEMENTS = 1 << 15


class _OutputGrads(NamedTuple):
    """What backward receives for the forward's outputs (``None``: that output is unused)."""

    spikes: torch.Tensor | None  # [T, B, *shape]
    membrane: torch.Tensor | None  # [T, B, *shape], pre-reset
    v_final: torch.Tensor | None  # [B, *shape]


def _backward_whole(
    ctx: Any,
    membrane: torch.Tensor,
    spikes: torch.Tensor,
    grads: _OutputGrads,
) -> tuple[torch.Tensor, torch.Tensor]:
    """BPTT with the per-step factors computed over all of [T, B, *shape] at once.

    Returns ``(d loss / d v_pre [T, B, *shape], or its sum over T for held input;
    d loss / d v_pre[0])``.
    """
    grad_spikes, grad_membrane, grad_v_final = grads
    params: LIFParams = ctx.params
    a, _ = ctx.coefficients
    slope = ctx.surrogate.derivative(membrane - params.v_th)  # d spike / d v_pre
    # d v_post / d v_pre: the reset's share of the gradient (None: exactly 1).
    through_reset = _through_reset(
        params, ctx.detach_reset, slope, membrane, spikes, params.v_th - params.v_reset
    )
    last_reset = None if through_reset is None else through_reset[-1].clone()
    carry = None if through_reset is None else through_reset.mul_(a)  # d v_pre[t+1]/d v_pre[t]

    # Gradient reaching v_pre[t] from this step's own outputs.
    local = torch.zeros_like(membrane) if grad_spikes is None else slope.mul_(grad_spikes)
    if grad_membrane is not None:
        local = local.add_(grad_membrane)
    grad_pre = torch.empty_like(membrane)
    g = local[-1]
    if grad_v_final is not None:
        g = g + (grad_v_final if last_reset is None else grad_v_final * last_reset)
    grad_pre[-1] = g
    local_steps, out_steps = local.unbind(0), grad_pre.unbind(0)
    carry_steps = None if carry is None else carry.unbind(0)
    for t in range(membrane.shape[0] - 2, -1, -1):
        if carry_steps is None:
            g = torch.add(local_steps[t], g, alpha=a, out=out_steps[t])
        else:
            g = torch.addcmul(local_steps[t], g, carry_steps[t], out=out_steps[t])
    return (grad_pre.sum(0) if ctx.held else grad_pre), g


def _backward_stepwise(
    ctx: Any,
    membrane: torch.Tensor,
    spikes: torch.Tensor,
    grads: _OutputGrads,
) -> tuple[torch.Tensor | None, torch.Tensor | None]:
    """BPTT one step at a time over [B, *shape] slices, same returns as :func:`_backward_whole`.

    For the subtract reset the step's gradient is written
    ``g = u + slope * (grad_spike - theta * u)`` with ``u`` the gradient arriving
    from the next step: three tensor operations besides the surrogate slope.
    """
    grad_spikes, grad_membrane, grad_v_final = grads
    params: LIFParams = ctx.params
    a, _ = ctx.coefficients
    theta = params.v_th - params.v_reset
    reset = rules.reset_rule(params)
    # d v_post / d v_pre = c0 + c1 * slope where the reset allows it (subtract, none):
    # then a step is three tensor operations besides the surrogate slope.
    affine = reset.affine_derivative(theta, ctx.detach_reset)
    n_steps = membrane.shape[0]
    grad_pre = None if ctx.held else torch.empty_like(membrane)
    grad_held = None
    g: torch.Tensor | None = None  # d loss / d v_pre[t + 1]
    for t in range(n_steps - 1, -1, -1):
        slope = ctx.surrogate.derivative(membrane[t] - params.v_th)  # d spike / d v_pre
        spike_grad = None if grad_spikes is None else grad_spikes[t]
        # d loss / d v_post[t] is scale * upstream (None: zero)
        upstream, scale = (grad_v_final, 1.0) if t == n_steps - 1 else (g, a)
        if upstream is None:
            g = torch.zeros_like(slope) if spike_grad is None else slope.mul_(spike_grad)
        elif affine is not None and affine[1] == 0.0:  # d v_post / d v_pre = c0
            c0 = affine[0] * scale
            g = (
                upstream * c0
                if spike_grad is None
                else slope.mul_(spike_grad).add_(upstream, alpha=c0)
            )
        elif affine is not None:  # g = c0 u + slope (grad_spike + c1 u), u scaled upstream
            c0, c1 = affine[0] * scale, affine[1] * scale
            g = (
                torch.mul(upstream, c1)
                if spike_grad is None
                else torch.add(spike_grad, upstream, alpha=c1)
            )
            g = g.mul_(slope).add_(upstream, alpha=c0)
        else:
            through = reset.derivative(
                slope, membrane[t], spikes[t], theta, params.v_reset, ctx.detach_reset
            )
            g = torch.mul(upstream, scale)
            if through is not None:  # None: exactly 1
                g = g.mul_(through)
            if spike_grad is not None:
                g = g.addcmul_(slope, spike_grad)
        if grad_membrane is not None:
            g = g.add_(grad_membrane[t])
        if grad_pre is not None:
            grad_pre[t] = g
        elif ctx.needs_input_grad[0]:
            grad_held = g.clone() if grad_held is None else grad_held.add_(g)
    return (grad_held if ctx.held else grad_pre), g


def _through_reset(
    params: LIFParams,
    detach_reset: bool,
    slope: torch.Tensor,
    v_pre: torch.Tensor,
    spikes: torch.Tensor,
    theta: float,
) -> torch.Tensor | None:
    """``d v_post / d v_pre`` (same shape as ``v_pre``), or None where it is exactly 1."""
    return rules.reset_rule(params).derivative(
        slope, v_pre, spikes, theta, params.v_reset, detach_reset
    )


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
    x : Tensor [T, B, *shape] or [B, *shape]
        Input per step as in :func:`spikerec.lif.step.lif_step`; with the shape of
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
    spikes, v_pre_reset : Tensor [T, B, *shape]
    final_state : LIFState

    Notes
    -----
    Spikes and membranes are bit-identical to :func:`spikerec.lif.step.lif_sequence`
    with the same arguments; gradients agree to floating-point tolerance.
    """
    if not fused_supported(params):
        raise ParameterError("the fused LIF path has no refractory period; use lif_sequence")
    held = x.dim() == state.v.dim()
    steps = (n_steps if n_steps is not None else 0) if held else x.shape[0]
    if held and (n_steps is None or n_steps < 1):
        raise ParameterError("held input needs n_steps >= 1")
    spikes, membrane, v = _FusedLIF.apply(
        x, state.v, steps, params, method, synapse, surrogate, detach_reset
    )
    return spikes, membrane, LIFState(v=v, refractory_steps_left=state.refractory_steps_left)

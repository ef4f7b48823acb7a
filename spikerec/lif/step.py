"""Pure torch step functions of the LIF neuron: the rules of :mod:`spikerec.lif.rules` in order.

One step of length ``dt_ms`` does, in the order of :data:`spikerec.lif.rules.STEP_ORDER`,
for every integrator:

1. integrate the membrane equation over the step (the integrator's job), then add
   the jumps of delta-synapse spikes arriving in the step;
2. hold the membrane of refractory neurons at its post-reset value;
3. spike where ``V >= v_th``; this pre-reset ``V`` is what traces record;
4. reset in the same step (subtract ``v_th - v_reset``, set to ``v_reset``, or
   nothing) and start a refractory period of ``t_ref_ms``.

Tensors are time-major ``[T, B, *shape]`` (any neuron shape: ``N`` neurons, or conv
maps ``C x H x W``); a single step works on ``[B, *shape]``, the state has the
shape of one step.
"""

from __future__ import annotations

from typing import Any, Literal, NamedTuple

import torch

import spikerec.lif.rules as rules
from spikerec.errors import ParameterError, ParameterTypeError
from spikerec.lif.checks import check_step_options
from spikerec.lif.integrators import Integrator, get_integrator
from spikerec.lif.params import LIFParams
from spikerec.lif.surrogates import FastSigmoid, Surrogate, get_surrogate
from spikerec.validation import check_tensor

Synapse = Literal["delta", "current"]
SYNAPSES: tuple[str, ...] = ("delta", "current")
_DEFAULT_SURROGATE = FastSigmoid()


class LIFState(NamedTuple):
    """State of a layer of LIF neurons between steps.

    Attributes
    ----------
    v : Tensor [B, *shape]
        Membrane potential after any reset (voltage unit).
    refractory_steps_left : Tensor [B, *shape]
        Steps for which each neuron stays refractory (0 when free), same dtype as ``v``.

    Examples
    --------
    >>> state = init_lif_state((2, 3), LIFParams())   # B = 2, N = 3, at rest
    >>> state.v.shape, state.refractory_steps_left.sum().item()
    (torch.Size([2, 3]), 0.0)
    """

    v: torch.Tensor
    refractory_steps_left: torch.Tensor


def init_lif_state(
    shape: tuple[int, ...] | torch.Size,
    params: LIFParams,
    *,
    dtype: torch.dtype = torch.float32,
    device: torch.device | str | None = None,
) -> LIFState:
    """State of neurons at rest (``V = v_rest``, not refractory).

    Parameters
    ----------
    shape : tuple of int
        Shape of one step of input, ``[B, *shape]``.
    params : LIFParams
        Neuron parameters (``v_rest``).
    dtype, device
        Of the state's tensors; they must match the input's.

    Returns
    -------
    LIFState
        ``v`` full of ``v_rest``, ``refractory_steps_left`` zeros, both ``shape``.

    Examples
    --------
    >>> init_lif_state((2, 3), LIFParams(v_rest=-0.5)).v[0].tolist()
    [-0.5, -0.5, -0.5]
    """
    v = torch.full(tuple(shape), params.v_rest, dtype=dtype, device=device)
    return LIFState(v=v, refractory_steps_left=torch.zeros_like(v))


def check_state(
    state: object,
    shape: tuple[int, ...] | torch.Size,
    dtype: torch.dtype,
    device: torch.device,
    *,
    finite: bool = True,
) -> None:
    """Refuse a state that is not a :class:`LIFState` of tensors ``shape`` (dtype, device).

    Raises
    ------
    TypeError
        If ``state`` is not a LIFState.
    ValueError
        If a field has another shape, dtype or device, or (with ``finite``) the
        membrane holds NaN or infinite values.
    """
    if not isinstance(state, LIFState):
        raise ParameterTypeError(
            "state must be a LIFState (as returned in LIFOutput.state or by init_lif_state), "
            f"got {type(state).__name__}"
        )
    for name, tensor in zip(LIFState._fields, state, strict=True):
        if (
            not isinstance(tensor, torch.Tensor)
            or tensor.shape != tuple(shape)
            or tensor.dtype != dtype
            or tensor.device != device
        ):
            got = (
                f"{tuple(tensor.shape)}, {tensor.dtype} on {tensor.device}"
                if isinstance(tensor, torch.Tensor)
                else type(tensor).__name__
            )
            raise ParameterError(
                f"state.{name} is {got}; x needs {tuple(shape)}, {dtype} on {device}"
            )
    if finite and not bool(torch.isfinite(state.v).all()):
        raise ParameterError("state.v contains NaN or infinite values")


def check_params(params: object) -> None:
    """Raise ``TypeError`` unless ``params`` is a :class:`LIFParams`."""
    if not isinstance(params, LIFParams):
        raise ParameterTypeError(f"params must be LIFParams, got {type(params).__name__}")


def check_synapse(synapse: str) -> None:
    """Raise ``ValueError`` listing the valid input conventions if ``synapse`` is unknown."""
    if synapse not in SYNAPSES:
        raise ParameterError(f"unknown synapse {synapse!r}; valid: {', '.join(SYNAPSES)}")


def lif_step(
    x: torch.Tensor,
    state: LIFState,
    params: LIFParams,
    *,
    integrator: str | Integrator = "exact",
    synapse: Synapse = "delta",
    surrogate: str | Surrogate = _DEFAULT_SURROGATE,
    tau_mem_ms: torch.Tensor | None = None,
    v_th: torch.Tensor | None = None,
    detach_reset: bool = False,
    x_mid: torch.Tensor | None = None,
    x_end: torch.Tensor | None = None,
) -> tuple[torch.Tensor, torch.Tensor, LIFState]:
    """Advance a layer of LIF neurons by one step of ``params.dt_ms``.

    Parameters
    ----------
    x : Tensor [B, *shape]
        Input of this step (any shape; the state has the same). With
        ``synapse="delta"``: the summed weights of the presynaptic spikes arriving in
        the step, ``sum_i w_i s_i`` (current unit x ms); each makes ``V`` jump by
        ``r_m * w_i / tau_mem_ms`` at the end of the step. With ``synapse="current"``:
        the current held over the step (current unit).
    state : LIFState
        State at the start of the step.
    params : LIFParams
        Neuron parameters.
    integrator : str or Integrator
        ``"exact"``, ``"euler"`` or ``"rk4"``.
    surrogate : str or Surrogate
        Derivative used for the threshold in the backward pass.
    tau_mem_ms, v_th : Tensor, optional
        Learnable replacements of ``params.tau_mem_ms`` and ``params.v_th``,
        broadcastable to ``x`` (ms, voltage unit).
    detach_reset : bool
        Stop gradients through the reset (the spike still resets the membrane).
    x_mid, x_end : Tensor, optional
        Current half-way through and at the end of the step, for current input
        varying within a step (``"euler"`` and ``"rk4"`` only).

    Returns
    -------
    spikes : Tensor [B, *shape]
        1.0 where the neuron spiked in this step, else 0.0.
    v_pre_reset : Tensor [B, *shape]
        Membrane at the end of the step before the reset (plots show crossings).
    new_state : LIFState

    Notes
    -----
    Delta synapses, exact integrator, subtract reset:
    ``V' = v_rest + (V - v_rest) exp(-dt/tau) + r_m x / tau`` then
    ``V <- V' - (v_th - v_reset) * [V' >= v_th]``.

    Examples
    --------
    >>> p = LIFParams(tau_mem_ms=10.0)
    >>> s0 = init_lif_state((1, 1), p)
    >>> spk, v, s1 = lif_step(torch.tensor([[12.0]]), s0, p)
    >>> spk.item(), v.item(), s1.v.item()
    (1.0, 1.2, 0.2...)

    Bad input raises one line naming the argument: a ``x`` that is not a finite,
    non-empty floating-point tensor of real data, a state of another shape, dtype or
    device than ``x``, parameters that are not :class:`LIFParams`, unknown names, a
    step the integrator cannot take stably, and ``tau_mem_ms`` / ``v_th`` overrides
    that are NaN, infinite, out of range or unstable
    (:func:`spikerec.lif.checks.check_step_options`).
    """
    check_params(params)
    check_tensor("x", x, "[B, *shape]")
    check_state(state, x.shape, x.dtype, x.device)
    check_step_options(params, integrator, x, tau_mem_ms=tau_mem_ms, v_th=v_th)
    for name, extra in (("x_mid", x_mid), ("x_end", x_end)):
        if extra is not None:
            check_tensor(name, extra, "[B, *shape]")
            if extra.shape != x.shape or extra.dtype != x.dtype or extra.device != x.device:
                raise ParameterError(
                    f"{name} is {tuple(extra.shape)}, {extra.dtype} on {extra.device}; "
                    f"x is {tuple(x.shape)}, {x.dtype} on {x.device}"
                )
    return _lif_step(
        x, state, params, *_resolved(params, integrator, surrogate, tau_mem_ms, v_th),
        synapse, detach_reset, x_mid, x_end,
    )  # fmt: skip


def _resolved(
    params: LIFParams,
    integrator: str | Integrator,
    surrogate: str | Surrogate,
    tau_mem_ms: torch.Tensor | None,
    v_th: torch.Tensor | None,
) -> tuple[Integrator, Surrogate, float | torch.Tensor, float | torch.Tensor]:
    """The step's integrator and surrogate objects, and its ``tau`` and threshold
    (the overrides, else ``params``'): looked up once per call or per sequence."""
    tau = params.tau_mem_ms if tau_mem_ms is None else tau_mem_ms
    threshold = params.v_th if v_th is None else v_th
    return get_integrator(integrator), get_surrogate(surrogate), tau, threshold


def _lif_step(
    x: torch.Tensor,
    state: LIFState,
    params: LIFParams,
    method: Integrator,
    spike_fn: Surrogate,
    tau: float | torch.Tensor,
    threshold: float | torch.Tensor,
    synapse: str = "delta",
    detach_reset: bool = False,
    x_mid: torch.Tensor | None = None,
    x_end: torch.Tensor | None = None,
) -> tuple[torch.Tensor, torch.Tensor, LIFState]:
    """:func:`lif_step` without the input checks (callers have checked), with the
    integrator, surrogate, ``tau`` and threshold already resolved (:func:`_resolved`)."""

    v_pre = subthreshold_update(state.v, x, params, method, synapse, tau, x_mid, x_end)
    n_refractory = params.refractory_steps
    if n_refractory:
        free = state.refractory_steps_left <= 0
        v_pre = rules.hold_refractory(v_pre, state.v, free)

    spikes = spike_fn(v_pre - threshold)  # rules.fires forward, surrogate backward
    if n_refractory:
        spikes = spikes * free
    v_post = reset_membrane(v_pre, spikes.detach() if detach_reset else spikes, params, threshold)

    if n_refractory:
        left = rules.next_refractory_left(
            state.refractory_steps_left, spikes.detach(), n_refractory
        )
    else:
        left = state.refractory_steps_left
    return spikes, v_pre, LIFState(v=v_post, refractory_steps_left=left)


def held_affine_step(
    params: LIFParams, method: Integrator, synapse: str, tau_mem_ms: float
) -> tuple[float, float, float]:
    """``(a, b, c)`` with ``v_pre = a v + (b x + c)`` over a step of held input ``x``.

    ``a`` is the integrator's decay over the step, ``b`` turns the input into
    voltage (``r_m / tau_mem_ms`` for a delta-synapse jump, ``r_m`` times the
    integrator's input gain for a held current), ``c = (1 - a) v_rest``.
    """
    a, gain = method.held_coefficients(params.dt_ms, tau_mem_ms)
    b = rules.jump_gain(params, tau_mem_ms) if synapse == "delta" else params.r_m * gain
    return a, b, (1.0 - a) * params.v_rest


def input_term(x: torch.Tensor, b: float, c: float) -> torch.Tensor:
    """``b x + c``: the input's share of the held-input update (``c`` skipped when 0)."""
    term = x * b
    return term + c if c != 0.0 else term


def subthreshold_update(
    v: torch.Tensor,
    x: torch.Tensor,
    params: LIFParams,
    method: Integrator,
    synapse: str,
    tau: float | torch.Tensor,
    x_mid: torch.Tensor | None = None,
    x_end: torch.Tensor | None = None,
) -> torch.Tensor:
    """Membrane at the end of a step before threshold and reset (step 1 of the order above).

    Held input with a fixed ``tau`` takes the affine form ``a v + (b x + c)`` of
    :func:`held_affine_step`, two tensor operations; a learnable (tensor) ``tau`` or
    input varying within the step goes through :meth:`Integrator.advance`.
    """
    check_synapse(synapse)
    if isinstance(tau, float) and x_mid is None and x_end is None:
        a, b, c = held_affine_step(params, method, synapse, tau)
        return torch.add(input_term(x, b, c), v, alpha=a)
    if synapse == "delta":
        return (
            method.advance(v, 0.0, dt_ms=params.dt_ms, tau_mem_ms=tau, v_rest=params.v_rest)
            + rules.jump_gain(params, tau) * x
        )
    return method.advance(
        v,
        params.r_m * x,
        dt_ms=params.dt_ms,
        tau_mem_ms=tau,
        v_rest=params.v_rest,
        drive_mid=None if x_mid is None else params.r_m * x_mid,
        drive_end=None if x_end is None else params.r_m * x_end,
    )


def reset_membrane(
    v_pre: torch.Tensor,
    spikes: torch.Tensor,
    params: LIFParams,
    threshold: float | torch.Tensor,
) -> torch.Tensor:
    """Membrane after the reset of the neurons that spiked (``spikes`` is 0.0 or 1.0):
    :func:`spikerec.lif.rules.after_reset` with the step's ``threshold``."""
    return rules.after_reset(params, v_pre, spikes, threshold)


def lif_sequence(
    x: torch.Tensor,
    state: LIFState,
    params: LIFParams,
    **step_options: object,
) -> tuple[torch.Tensor, torch.Tensor, LIFState]:
    """Run :func:`lif_step` over the leading (time) axis of ``x``.

    Parameters
    ----------
    x : Tensor [T, B, *shape]
        Input per step (see :func:`lif_step` for units).
    state : LIFState
        Initial state, shape ``x.shape[1:]``.
    **step_options
        ``integrator``, ``synapse``, ``surrogate``, ``tau_mem_ms``, ``v_th`` and
        ``detach_reset``, as for :func:`lif_step` (resolved once for the sequence);
        any other name is refused in one line.

    Returns
    -------
    spikes : Tensor [T, B, *shape]
    v_pre_reset : Tensor [T, B, *shape]
    final_state : LIFState

    Raises
    ------
    TypeError, ValueError
        As :func:`lif_step`, checked once for the whole sequence; ``x`` needs a time
        axis with ``T >= 1`` steps.

    Examples
    --------
    Delta synapses (the default): an input of 12 (current x ms) makes V jump by
    ``r_m * 12 / tau_mem_ms = 1.2`` and crosses ``v_th = 1``:

    >>> p = LIFParams(tau_mem_ms=10.0)
    >>> x = torch.tensor([[[0.5, 12.0]], [[6.0, 0.0]]])   # [T=2, B=1, N=2]
    >>> spikes, v_pre, final = lif_sequence(x, init_lif_state((1, 2), p), p)
    >>> spikes.tolist()
    [[[0.0, 1.0]], [[0.0, 0.0]]]
    >>> v_pre
    tensor([[[0.0500, 1.2000]],
            [[0.6452, 0.1810]]])
    """
    check_params(params)
    check_tensor("x", x, "[T, B, *shape]")
    if x.dim() < 2:
        raise ParameterError(f"x must have shape [T, B, *shape], got {tuple(x.shape)}")
    check_state(state, x.shape[1:], x.dtype, x.device)
    check_step_options(
        params,
        step_options.get("integrator", "exact"),  # type: ignore[arg-type]
        x[0],
        tau_mem_ms=step_options.get("tau_mem_ms"),
        v_th=step_options.get("v_th"),
    )
    options: dict[str, Any] = dict(step_options)
    resolved = _resolved(
        params,
        options.pop("integrator", "exact"),
        options.pop("surrogate", _DEFAULT_SURROGATE),
        options.pop("tau_mem_ms", None),
        options.pop("v_th", None),
    )
    synapse, detach = options.pop("synapse", "delta"), options.pop("detach_reset", False)
    if options:
        raise ParameterTypeError(
            f"lif_sequence got unknown option(s) {', '.join(sorted(options))}; valid: "
            "integrator, synapse, surrogate, tau_mem_ms, v_th, detach_reset"
        )
    check_synapse(synapse)
    return _lif_sequence(x, state, params, resolved, synapse, bool(detach))


def _lif_sequence(
    x: torch.Tensor,
    state: LIFState,
    params: LIFParams,
    rules_of_step: tuple[Integrator, Surrogate, float | torch.Tensor, float | torch.Tensor],
    synapse: str = "delta",
    detach_reset: bool = False,
) -> tuple[torch.Tensor, torch.Tensor, LIFState]:
    """:func:`lif_sequence` without the input checks (callers have checked); the step's
    integrator, surrogate, tau and threshold resolved once (:func:`_resolved`)."""
    spikes, membrane = [], []
    for x_t in x:
        spk, v_pre, state = _lif_step(x_t, state, params, *rules_of_step, synapse, detach_reset)
        spikes.append(spk)
        membrane.append(v_pre)
    return torch.stack(spikes), torch.stack(membrane), state

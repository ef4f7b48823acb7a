"""The rules of the LIF neuron, each written once, for floats, NumPy arrays and torch tensors.

Every engine — the torch step (:func:`spikerec.lif_step`), the fused sequence with
its hand-written backward pass, the float64 grid scan, the event-driven simulator
and the SciPy reference — calls these functions instead of writing the rules
again, so a new reset mode or a changed refractory rule is one edit here.

One step of length ``dt_ms`` does, in this order (:data:`STEP_ORDER`):

1. integrate the sub-threshold membrane equation over the step (the integrator),
   then add the jumps of delta-synapse input arriving at the step's end,
   ``r_m * w / tau_mem_ms`` each (:func:`jump_gain`);
2. hold refractory neurons at their post-reset value, input ignored
   (:func:`hold_refractory`);
3. spike where ``V >= v_th`` (:func:`fires`); this pre-reset ``V`` (``v_pre``) is
   what traces record;
4. reset in the same step (:data:`RESETS`: subtract ``v_th - v_reset``, set to
   ``v_reset``, or nothing) and start a refractory period of ``t_ref_ms``
   (:func:`next_refractory_left`).

Continuous time follows the same rules: a spike at the crossing instant, the reset
there, then the membrane held and input ignored up to and including
``t_spike + t_ref_ms`` (:func:`ignores_input_at`). Two instants closer than
:data:`TIME_RTOL` (relative) are the same instant, in every engine: ``63 * 0.1``
and ``6.3`` ms are one time, however the caller computed them.

Examples
--------
>>> from spikerec.lif.params import LIFParams
>>> p = LIFParams(tau_mem_ms=10.0, reset="subtract", t_ref_ms=2.0, dt_ms=0.1)
>>> jump_gain(p), fires(1.2, p.v_th), RESETS["subtract"].after(1.2, 1.0, p.v_th, p.v_reset)
(0.1, True, 0.19999999999999996)
>>> ignores_input_at(63 * 0.1, refractory_end_ms(4.3, p.t_ref_ms))   # 6.300000000000001
True
"""

from __future__ import annotations

import math
from typing import Any, ClassVar

import numpy as np
import torch

from spikerec.errors import ParameterError
from spikerec.lif.params import RESET_MODES, LIFParams

#: What a step does, in order; every engine follows it (see the module docstring).
STEP_ORDER: tuple[str, ...] = ("integrate", "jump", "hold-refractory", "threshold", "reset")

#: Two times (or step counts) closer than this, relative to the larger magnitude (at
#: least 1), are one instant: the rounding of ``n * dt_ms`` never decides a spike.
TIME_RTOL = 1e-9

Value = Any  # float, numpy.ndarray or torch.Tensor: the arithmetic below serves all three


def time_tolerance(t: float) -> float:
    """Absolute tolerance of :data:`TIME_RTOL` at time (or step count) ``t``."""
    return TIME_RTOL * max(1.0, abs(t))


# --------------------------------------------------------------------------- input


def jump_gain(params: LIFParams, tau_mem_ms: Value | None = None) -> Value:
    """Jump of ``V`` per unit of delta-synapse input: ``r_m / tau_mem_ms`` (voltage per
    current unit x ms).

    ``tau_mem_ms`` replaces ``params.tau_mem_ms`` (a learnable tensor, for example).
    A presynaptic spike of weight ``w`` arriving at ``t`` makes ``V`` jump by
    ``jump_gain * w`` at ``t``: the integral of ``r_m * w * delta(t) / tau_mem_ms``.
    """
    return params.r_m / (params.tau_mem_ms if tau_mem_ms is None else tau_mem_ms)


def arrival_step(times_ms: np.ndarray, dt_ms: float) -> np.ndarray:
    """Grid step whose end an input at ``times_ms`` arrives at: ``t in (n dt, (n+1) dt]``
    counts in step ``n``, within :data:`TIME_RTOL`.

    Parameters
    ----------
    times_ms : ndarray [S]
        Arrival times in ms, > 0.
    dt_ms : float
        Grid step in ms.

    Returns
    -------
    ndarray [S] of int64

    Raises
    ------
    ParameterError
        For an input at t = 0 (within tolerance): the grid applies input at the ends of
        steps, and the first step ends at ``dt_ms``; the continuous simulators apply it
        at 0. Rather than shift it by a step, the grid refuses it.
    """
    steps_exact = np.asarray(times_ms, dtype=np.float64) / dt_ms
    at_zero = steps_exact <= TIME_RTOL
    if np.any(at_zero):
        raise ParameterError(
            "an input spike at t = 0 ms precedes the end of the grid's first step "
            f"(dt_ms={dt_ms!r}), where grid input arrives; add its jump to v0, or simulate "
            "it in continuous time (simulate_event_driven, solve_ivp_lif)"
        )
    slack = TIME_RTOL * np.maximum(1.0, steps_exact)
    return np.ceil(steps_exact - slack).astype(np.int64) - 1


def same_instant_groups(sorted_times_ms: np.ndarray) -> np.ndarray:
    """Start index of each group of ascending times that are one instant (:data:`TIME_RTOL`).

    Input arriving at one instant acts as one jump, as it does in one grid step.
    """
    times = np.asarray(sorted_times_ms, dtype=np.float64)
    if times.size == 0:
        return np.zeros(0, dtype=np.int64)
    gaps = np.diff(times) > TIME_RTOL * np.maximum(1.0, np.abs(times[1:]))
    return np.concatenate(([0], np.flatnonzero(gaps) + 1))


# --------------------------------------------------------------------------- threshold


def fires(v_pre: Value, v_th: Value, *, out: torch.Tensor | None = None) -> Value:
    """Whether a neuron spikes: ``v_pre >= v_th`` (bool, bool array or bool tensor).

    With ``out`` (tensors only) the result is written into ``out`` in its dtype, as
    0.0 or 1.0. The surrogates' forward pass is this same step
    (:class:`spikerec.lif.surrogates.Surrogate`).
    """
    if out is not None:
        return torch.ge(v_pre, v_th, out=out)
    return v_pre >= v_th


# --------------------------------------------------------------------------- reset


class Reset:
    """What a spike does to the membrane, and its derivative for training.

    One instance per reset mode in :data:`RESETS`. ``spiked`` is 0.0 or 1.0 (a float,
    array or tensor, so that gradients flow through it in training); ``theta`` is
    ``v_th - v_reset``.

    Attributes
    ----------
    name : str
        The mode's name in :class:`LIFParams` (``reset=``).
    moves_membrane : bool
        Whether a spike changes ``V``. Without that (``"none"``) the membrane follows
        its free trajectory and stays above threshold for a while: on the grid it
        spikes in every step with ``V >= v_th``, a rule that has no continuous-time
        counterpart, so the continuous simulators refuse such a neuron.
    """

    name: ClassVar[str]
    moves_membrane: ClassVar[bool] = True

    def after(self, v_pre: Value, spiked: Value, v_th: Value, v_reset: float) -> Value:
        """Membrane after the reset of the neurons that spiked."""
        raise NotImplementedError

    def derivative(
        self, slope: Value, v_pre: Value, spiked: Value, theta: Value, v_reset: float, detach: bool
    ) -> Value | None:
        """``d v_post / d v_pre`` given the surrogate ``slope = d spike / d v_pre``
        (None: exactly 1). With ``detach`` the spike is a constant in the reset."""
        coefficients = self.affine_derivative(theta, detach)
        if coefficients is None:
            raise NotImplementedError
        c0, c1 = coefficients
        if c1 == 0.0:
            return None if c0 == 1.0 else c0 + 0.0 * slope
        return slope * c1 + c0

    def affine_derivative(self, theta: Value, detach: bool) -> tuple[float, Value] | None:
        """``(c0, c1)`` with ``d v_post / d v_pre = c0 + c1 * slope`` when the derivative
        depends on nothing else (the fused backward's fast path), else None."""
        return None

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"


class SubtractReset(Reset):
    """``V <- V - s (v_th - v_reset)``: a spike removes the threshold's height above
    ``v_reset``, keeping the overshoot (snntorch's ``"subtract"``)."""

    name = "subtract"

    def after(self, v_pre: Value, spiked: Value, v_th: Value, v_reset: float) -> Value:
        if isinstance(v_pre, torch.Tensor) and isinstance(v_th, float):
            return torch.sub(v_pre, spiked, alpha=v_th - v_reset)  # one fused operation
        return v_pre - spiked * (v_th - v_reset)

    def affine_derivative(self, theta: Value, detach: bool) -> tuple[float, Value] | None:
        return (1.0, 0.0) if detach else (1.0, -theta)


class ZeroReset(Reset):
    """``V <- v_reset`` where a neuron spiked, written ``V (1 - s) + s v_reset`` so that
    it lands on ``v_reset`` exactly and still passes gradients through ``s``."""

    name = "zero"

    def after(self, v_pre: Value, spiked: Value, v_th: Value, v_reset: float) -> Value:
        return v_pre * (1.0 - spiked) + spiked * v_reset

    def derivative(
        self, slope: Value, v_pre: Value, spiked: Value, theta: Value, v_reset: float, detach: bool
    ) -> Value | None:
        if detach:
            return 1.0 - spiked
        return (v_reset - v_pre) * slope + (1.0 - spiked)


class NoReset(Reset):
    """A spike leaves ``V`` as it is (snntorch's ``"none"``)."""

    name = "none"
    moves_membrane = False

    def after(self, v_pre: Value, spiked: Value, v_th: Value, v_reset: float) -> Value:
        return v_pre

    def affine_derivative(self, theta: Value, detach: bool) -> tuple[float, Value] | None:
        return (1.0, 0.0)


#: The reset modes by name, in the order of :data:`spikerec.lif.params.RESET_MODES`.
RESETS: dict[str, Reset] = {rule.name: rule for rule in (SubtractReset(), ZeroReset(), NoReset())}
assert tuple(RESETS) == RESET_MODES, "each reset mode of LIFParams needs its rule here"


def reset_rule(params: LIFParams) -> Reset:
    """The :class:`Reset` of ``params.reset``."""
    return RESETS[params.reset]


def after_reset(params: LIFParams, v_pre: Value, spiked: Value = 1.0, v_th: Value = None) -> Value:
    """Membrane after a spike (``spiked = 1``) or not (``0``) at ``v_pre``, by ``params.reset``.

    ``v_th`` replaces ``params.v_th`` (a learnable threshold).
    """
    threshold = params.v_th if v_th is None else v_th
    return RESETS[params.reset].after(v_pre, spiked, threshold, params.v_reset)


def require_continuous_time(params: LIFParams, engine: str) -> None:
    """Refuse, in one line, a neuron whose rules need a time grid.

    Raises
    ------
    ParameterError
        For a reset that leaves the membrane where it is (``"none"``): on the grid it
        spikes in every step with ``V >= v_th``; in continuous time that would be a
        spike at every instant.
    """
    if not RESETS[params.reset].moves_membrane:
        raise ParameterError(
            f"{engine} cannot simulate reset={params.reset!r}: such a neuron spikes in every "
            "grid step with V >= v_th, which has no continuous-time counterpart; simulate "
            "it on a grid (spikerec.simulate) or choose reset='subtract' or 'zero'"
        )


# --------------------------------------------------------------------------- refractoriness


def refractory_steps(params: LIFParams, where: str = "a grid") -> int:
    """Whole grid steps a spike holds the neuron for: ``t_ref_ms / dt_ms``.

    ``where`` completes the error message ("... on a grid").

    Raises
    ------
    ParameterError
        If ``t_ref_ms`` is not a whole number of steps of ``dt_ms`` (within
        :data:`TIME_RTOL`); a grid would have to round it.
    """
    steps = params.t_ref_ms / params.dt_ms
    if abs(steps - round(steps)) > time_tolerance(steps):
        raise ParameterError(
            f"t_ref_ms={params.t_ref_ms!r} must be a whole number of steps of "
            f"dt_ms={params.dt_ms!r} on {where}"
        )
    return int(round(steps))


def refractory_end_ms(t_spike_ms: float, t_ref_ms: float) -> float:
    """Last instant of the refractory period of a spike at ``t_spike_ms``: ``t_spike + t_ref``.

    Input arriving up to and including it is ignored (:func:`ignores_input_at`); on
    the grid that is input in the ``t_ref_ms / dt_ms`` steps after the spike's step.
    """
    return t_spike_ms + t_ref_ms if t_ref_ms > 0 else -math.inf


def input_ignored_until(end_ms: float) -> float:
    """The latest arrival time ignored by a refractory period ending at ``end_ms``
    (:func:`refractory_end_ms`): the end itself, within :data:`TIME_RTOL`; ``-inf``
    when there is no refractory period. Input at ``t_ms`` is ignored iff
    ``t_ms <= input_ignored_until(end_ms)`` (:func:`ignores_input_at`); an event loop
    computes this once per spike and compares floats per event."""
    return end_ms + time_tolerance(end_ms) if end_ms != -math.inf else -math.inf


def ignores_input_at(t_ms: float, end_ms: float) -> bool:
    """Whether input arriving at ``t_ms`` falls in a refractory period ending at ``end_ms``
    (:func:`refractory_end_ms`), the end included, within :data:`TIME_RTOL`."""
    return t_ms <= input_ignored_until(end_ms)


def hold_refractory(v_pre: Value, v_held: Value, free: Value) -> Value:
    """Step 2 of the order on the grid: ``v_pre`` where ``free``, else the held ``v_held``."""
    if isinstance(v_pre, torch.Tensor):
        return torch.where(free, v_pre, v_held)
    return np.where(free, v_pre, v_held)


def next_refractory_left(left: Value, spiked: Value, steps: int) -> Value:
    """Refractory steps left after a grid step: ``steps`` where a neuron spiked, else one
    fewer (never below 0)."""
    if isinstance(left, torch.Tensor):
        return torch.where(spiked > 0, torch.full_like(left, float(steps)), (left - 1).clamp(min=0))
    return np.where(np.asarray(spiked) > 0, float(steps), np.maximum(np.asarray(left) - 1, 0))


__all__ = [
    "RESETS",
    "input_ignored_until",
    "STEP_ORDER",
    "TIME_RTOL",
    "NoReset",
    "Reset",
    "SubtractReset",
    "ZeroReset",
    "after_reset",
    "arrival_step",
    "fires",
    "hold_refractory",
    "ignores_input_at",
    "jump_gain",
    "next_refractory_left",
    "refractory_end_ms",
    "refractory_steps",
    "require_continuous_time",
    "reset_rule",
    "same_instant_groups",
    "time_tolerance",
]

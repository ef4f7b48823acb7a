"""Whole-trace grid simulation of LIF neurons on held input, in NumPy float64.

For input held over each step (a current, or delta-synapse jumps) every integrator
advances the membrane affinely, ``v_pre[n] = a v[n-1] + d[n]`` with
``d[n] = b x[n] + c`` (:func:`spikerec.lif.step.held_affine_step`). Between two
spikes this is a first-order linear recurrence, which
:func:`scipy.signal.lfilter` runs in compiled code; only the spikes, resets and
refractory periods are handled in Python. The result is what
:func:`spikerec.lif.step.lif_step` computes step by step (same spikes, membranes
equal to rounding; tested), at a cost that grows with the number of output spikes
rather than with the number of steps.
"""

from __future__ import annotations

import numpy as np
from scipy.signal import lfilter

import spikerec.lif.rules as rules
from spikerec.lif.params import LIFParams

# Steps scanned at once after a spike; doubled while no spike is found, so a quiet
# neuron costs a few lfilter calls and a busy one little wasted work per spike.
_FIRST_WINDOW_STEPS = 128


def scan_held(
    decay: float,
    step_input_v: np.ndarray,
    params: LIFParams,
    v0: np.ndarray,
    refractory_steps_left: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Step LIF neurons through ``T`` steps of held input, threshold and reset included.

    Parameters
    ----------
    decay : float
        ``a``, the membrane's factor over one step.
    step_input_v : ndarray [T, N]
        ``d[n] = b x[n] + c``: the input's share of each step (voltage unit).
    params : LIFParams
        Threshold, reset and refractory period (``params.refractory_steps``).
    v0 : ndarray [N]
        Membrane at the start (after any reset).
    refractory_steps_left : ndarray [N], optional
        Refractory steps still to serve at the start (default none).

    Returns
    -------
    v_pre : ndarray [T, N]
        Membrane at the end of each step before any reset (held while refractory).
    spikes : ndarray [T, N]
        1.0 in the steps where a neuron spiked.
    v_final, refractory_left_final : ndarray [N]
        State after the last step.
    """
    n_steps, n_neurons = step_input_v.shape
    v_pre = np.empty_like(step_input_v)
    spikes = np.zeros_like(step_input_v)
    v_final = np.array(v0, dtype=np.float64)
    left = (
        np.zeros(n_neurons)
        if refractory_steps_left is None
        else np.array(refractory_steps_left, dtype=np.float64)
    )
    for neuron in range(n_neurons):
        v_final[neuron], left[neuron] = _scan_one(
            decay,
            step_input_v[:, neuron],
            params,
            float(v_final[neuron]),
            int(left[neuron]),
            v_pre[:, neuron],
            spikes[:, neuron],
        )
    return v_pre, spikes, v_final, left


def _scan_one(
    decay: float,
    step_input_v: np.ndarray,
    params: LIFParams,
    v: float,
    left: int,
    v_pre: np.ndarray,
    spikes: np.ndarray,
) -> tuple[float, int]:
    """One neuron: fill ``v_pre`` and ``spikes`` [T] in place; return ``(v, left)``."""
    n_steps = step_input_v.shape[0]
    feedback = np.array([1.0, -decay])
    v_th, refractory_steps = params.v_th, rules.refractory_steps(params)
    resets = rules.reset_rule(params).moves_membrane
    n, window = 0, _FIRST_WINDOW_STEPS
    while n < n_steps:
        if left > 0:  # held at the post-reset value, input ignored, no spike
            stop = min(n_steps, n + left)
            v_pre[n:stop] = v
            left -= stop - n
            n = stop
            continue
        stop = min(n_steps, n + window)
        trace, _ = lfilter([1.0], feedback, step_input_v[n:stop], zi=[decay * v])
        above = rules.fires(trace, v_th)
        if not resets:
            # No reset: the trajectory ignores spikes; only refractoriness breaks it.
            spikes[n:stop] = above
            first = int(np.argmax(above)) if refractory_steps and above.any() else None
        else:
            first = int(np.argmax(above)) if above.any() else None
        if first is None:
            v_pre[n:stop] = trace
            v = float(trace[-1])
            n, window = stop, 2 * window
            continue
        v_pre[n : n + first + 1] = trace[: first + 1]
        spikes[n + first] = 1.0
        spikes[n + first + 1 : stop] = 0.0
        v = rules.after_reset(params, float(trace[first]))
        left = refractory_steps
        n, window = n + first + 1, _FIRST_WINDOW_STEPS
    return v, left

"""Shared pieces of the continuous-time reference simulators: input events and results."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np

from spikerec.errors import ParameterError
from spikerec.lif import rules
from spikerec.lif.params import LIFParams


@dataclass(frozen=True)
class ContinuousResult:
    """Outcome of a continuous-time simulation of one LIF neuron.

    Attributes
    ----------
    spike_times_ms : ndarray [S]
        Output spike times in ms, exact up to the simulator's tolerance.
    sample_times_ms : ndarray [K]
        Times at which the membrane was sampled, in ms.
    v_samples : ndarray [K]
        Membrane potential at ``sample_times_ms``, including input jumps arriving
        at that instant and before a reset at that instant (the pre-reset value,
        as the grid simulators record it).

    Examples
    --------
    A constant current ``r_m * I = 1.5`` from rest reaches ``v_th = 1`` after
    ``tau * ln(3) = 10.99 ms``:

    >>> from spikerec import LIFParams, solve_ivp_lif
    >>> result = solve_ivp_lif(LIFParams(tau_mem_ms=10.0), t_end_ms=25.0, current=1.5)
    >>> result.spike_times_ms
    array([10.98612..., 21.97224...])
    """

    spike_times_ms: np.ndarray
    sample_times_ms: np.ndarray
    v_samples: np.ndarray


def group_jumps(
    params: LIFParams, spike_times_ms: np.ndarray | None, weights: np.ndarray | None
) -> tuple[np.ndarray, np.ndarray]:
    """Merge delta-synapse input events into membrane jumps.

    Parameters
    ----------
    spike_times_ms : array [E] or None
        Arrival time of each presynaptic spike in ms (any order).
    weights : array [E] or None
        Synaptic weight of each event (current unit x ms).

    Returns
    -------
    times_ms : ndarray [J]
        Distinct arrival times, ascending.
    jumps : ndarray [J]
        Summed jump ``r_m * sum(w) / tau_mem_ms`` at each time (voltage unit).
        Spikes arriving at the same instant (within :data:`spikerec.lif.rules.TIME_RTOL`)
        act together, as in one grid step.
    """
    if spike_times_ms is None and weights is None:
        return np.zeros(0), np.zeros(0)
    if spike_times_ms is None or weights is None:
        raise ParameterError("input_spike_times_ms and input_weights must be given together")
    times = np.asarray(spike_times_ms, dtype=np.float64).reshape(-1)
    w = np.asarray(weights, dtype=np.float64).reshape(-1)
    if times.shape != w.shape:
        raise ParameterError(
            f"input_spike_times_ms has {times.size} events but input_weights has {w.size}"
        )
    if not (np.isfinite(times).all() and np.isfinite(w).all()):
        raise ParameterError("input_spike_times_ms and input_weights must be finite")
    if times.size and times.min() < 0:
        raise ParameterError(f"input_spike_times_ms must be >= 0, got {times.min()!r}")
    order = np.argsort(times, kind="stable")
    times, w = times[order], w[order]
    starts = rules.same_instant_groups(times)
    summed = np.add.reduceat(w, starts) if times.size else np.zeros(0)
    return times[starts], rules.jump_gain(params) * summed


def check_sample_times(sample_times_ms: np.ndarray | None, t_end_ms: float) -> np.ndarray:
    """Validate sample times: ascending, within ``[0, t_end_ms]``."""
    if not np.isfinite(t_end_ms) or t_end_ms <= 0:
        raise ParameterError(f"t_end_ms={t_end_ms!r} must be finite and > 0")
    if sample_times_ms is None:
        return np.zeros(0)
    samples = np.asarray(sample_times_ms, dtype=np.float64).reshape(-1)
    if samples.size and (
        not np.isfinite(samples).all()
        or samples.min() < 0
        or samples.max() > t_end_ms
        or np.any(np.diff(samples) < 0)
    ):
        raise ParameterError("sample_times_ms must be ascending and within [0, t_end_ms]")
    return samples


class SampleRecorder:
    """Fills membrane samples in time order as a continuous simulator advances."""

    def __init__(self, sample_times_ms: np.ndarray) -> None:
        self.times_ms = sample_times_ms
        self.values = np.full(sample_times_ms.shape, np.nan)
        self._next = 0

    def fill_until(self, bound_ms: float, membrane_at, *, inclusive: bool) -> None:
        """Record ``membrane_at(times)`` for the unfilled samples before ``bound_ms``.

        ``membrane_at`` maps an array of times in ms to membrane values; samples at
        exactly ``bound_ms`` are included only when ``inclusive``.
        """
        side: Literal["left", "right"] = "right" if inclusive else "left"
        end = int(np.searchsorted(self.times_ms, bound_ms, side=side))
        if end > self._next:
            self.values[self._next : end] = membrane_at(self.times_ms[self._next : end])
            self._next = end


def apply_jump(
    params: LIFParams, v: float, jump: float, t_ms: float, spikes: list[float]
) -> tuple[float, float, bool]:
    """Add a delta-synapse jump at ``t_ms``; spike and reset if it reaches threshold.

    Returns
    -------
    v_pre_reset, v_after, spiked
        The membrane with the jump, the membrane after any reset, and whether the
        neuron spiked (which starts a refractory period).
    """
    peak = v + jump
    if rules.fires(peak, params.v_th):
        spikes.append(t_ms)
        return peak, rules.after_reset(params, peak), True
    return peak, peak, False

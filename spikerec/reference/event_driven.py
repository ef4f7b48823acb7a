"""Event-driven exact simulation of one LIF neuron with delta synapses (NumPy, float64)."""

from __future__ import annotations

import math

import numpy as np

import spikerec.lif.rules as rules
from spikerec.errors import ParameterError
from spikerec.lif.params import LIFParams
from spikerec.reference.events import ContinuousResult, check_sample_times, group_jumps


def simulate_event_driven(
    params: LIFParams,
    input_spike_times_ms: np.ndarray | None = None,
    input_weights: np.ndarray | None = None,
    *,
    t_end_ms: float,
    i_bias: float = 0.0,
    v0: float | None = None,
    sample_times_ms: np.ndarray | None = None,
) -> ContinuousResult:
    """Simulate one LIF neuron exactly, from event to event, in continuous time.

    Parameters
    ----------
    params : LIFParams
        Neuron parameters; ``dt_ms`` is not used.
    input_spike_times_ms : array [E], optional
        Arrival times of presynaptic spikes in ms, any order, not rounded to a grid.
    input_weights : array [E], optional
        Weight of each event (current unit x ms): it makes V jump by
        ``r_m * w / tau_mem_ms``. For N presynaptic neurons with weights ``w`` and
        spikes ``(neuron, time)``, pass ``w[neuron]``.
    t_end_ms : float
        Simulated duration in ms.
    i_bias : float
        Constant input current (current unit), so that ``V`` relaxes towards
        ``v_rest + r_m * i_bias`` between events.
    v0 : float, optional
        Initial membrane potential (default ``v_rest``).
    sample_times_ms : array [K], optional
        Ascending times at which to report the membrane potential.

    Returns
    -------
    ContinuousResult
        Output spike times (exact: closed-form threshold crossings and jump
        instants) and membrane samples.

    Notes
    -----
    Between events the membrane follows the closed form
    ``V(t) = V_inf + (V(t0) - V_inf) exp(-(t - t0)/tau)``; with a bias current
    above threshold the crossing time is
    ``t0 + tau * ln((V(t0) - V_inf) / (v_th - V_inf))``. After a spike the membrane
    is held at its post-reset value for ``t_ref_ms``, ignoring input arriving up to
    and including ``t_spike + t_ref_ms``, as on the grid (the rules of
    :mod:`spikerec.lif.rules`, times compared within its ``TIME_RTOL``). A neuron
    whose free membrane is at or above ``v_th`` (``v0`` above threshold, or a
    subtract reset that leaves it there) spikes again at once. ``reset="none"`` is
    refused: it is a grid rule (a spike in every step above threshold).

    Examples
    --------
    >>> p = LIFParams(tau_mem_ms=10.0, r_m=1.0)
    >>> res = simulate_event_driven(p, [1.0, 2.0], [6.0, 6.0], t_end_ms=5.0)
    >>> res.spike_times_ms.tolist()
    [2.0]
    """
    rules.require_continuous_time(params, "simulate_event_driven")
    jump_times, jumps = group_jumps(params, input_spike_times_ms, input_weights)
    in_window = jump_times <= t_end_ms
    jump_times, jumps = jump_times[in_window], jumps[in_window]
    sample_times = check_sample_times(sample_times_ms, t_end_ms)
    if not math.isfinite(i_bias):
        raise ParameterError(f"i_bias={i_bias!r} must be finite")

    tau, v_th, t_ref = params.tau_mem_ms, params.v_th, params.t_ref_ms
    v_inf = params.v_rest + params.r_m * i_bias
    # A bias above threshold makes the membrane cross v_th between events; only then
    # does the slow path (closed-form crossing times) run between events.
    bias_crosses = v_inf > v_th
    t = 0.0
    v = params.v_rest if v0 is None else float(v0)
    refractory_until = ignored_until = -math.inf
    spikes: list[float] = []
    knots = _Knots(v)
    # The rules of lif/rules.py bound once: the loop below runs once per input event,
    # where a Python call costs as much as the arithmetic. ``v >= v_th`` is
    # rules.fires for floats, written inline in that loop (tests/test_rules_cross_engine.py
    # holds every engine to the same spikes).
    reset_after, v_reset = rules.RESETS[params.reset].after, params.v_reset

    def fire(t_now: float, v_now: float) -> None:
        """Spike at ``t_now`` from ``v_now >= v_th``: record, reset, start refractoriness."""
        nonlocal v, refractory_until, ignored_until
        spikes.append(t_now)
        v = reset_after(v_now, 1.0, v_th, v_reset)
        refractory_until = rules.refractory_end_ms(t_now, t_ref)
        ignored_until = rules.input_ignored_until(refractory_until)
        knots.add(t_now, v_now, v, held=t_ref > 0)

    def relax_to(t_stop: float) -> None:
        """Advance (t, v) to ``t_stop``: holds, refractory ends, immediate and bias spikes."""
        nonlocal t, v
        while t < t_stop:
            if t < refractory_until:
                t = min(refractory_until, t_stop)
                if t == refractory_until:
                    knots.add(t, v, v, held=False)
                continue
            if v >= v_th:  # rules.fires
                fire(t, v)
                continue
            t_cross = math.inf
            if bias_crosses and v < v_th:
                t_cross = t + tau * math.log((v - v_inf) / (v_th - v_inf))
            if t_cross <= t_stop:
                t = t_cross
                fire(t_cross, v_th)
            else:
                t, v = t_stop, v_inf + (v - v_inf) * math.exp(-(t_stop - t) / tau)

    # Decay from each event's predecessor (or from 0): the common step, vectorised.
    # Every pass of the loop leaves t at its event's time, so decay_k applies.
    decay = np.exp(-np.diff(jump_times, prepend=0.0) / tau).tolist()
    for t_jump, jump, decay_k in zip(jump_times.tolist(), jumps.tolist(), decay, strict=True):
        if t >= refractory_until and not bias_crosses and v < v_th:
            t, v = t_jump, v_inf + (v - v_inf) * decay_k  # fast path: free decay
        else:
            relax_to(t_jump)
        if t_jump > ignored_until:  # rules.ignores_input_at, precomputed per spike
            peak = v + jump
            if peak >= v_th:  # rules.fires
                fire(t_jump, peak)
            else:
                v = peak
                knots.add(t_jump, peak, peak, held=False)
    relax_to(t_end_ms)
    return ContinuousResult(
        spike_times_ms=np.asarray(spikes, dtype=np.float64),
        sample_times_ms=sample_times,
        v_samples=knots.sample(sample_times, v_inf=v_inf, tau_ms=tau),
    )


class _Knots:
    """Instants where the membrane trajectory changes course, in time order.

    Between a knot and the next the membrane relaxes freely from the knot's
    ``after`` value towards ``v_inf`` (or is held there while refractory); a
    sample at exactly a knot's time reads the first such knot's ``peak`` (with
    the jump, before any reset), as the grid simulators record it.
    """

    def __init__(self, v_start: float) -> None:
        self.t_ms, self.peak, self.after, self.held = [0.0], [v_start], [v_start], [False]

    def add(self, t_ms: float, peak: float, after: float, *, held: bool) -> None:
        if len(self.t_ms) == 1 and t_ms == self.t_ms[0]:
            # An event at t = 0 replaces the starting point: a sample at 0 reads it.
            self.t_ms, self.peak, self.after, self.held = [t_ms], [peak], [after], [held]
            return
        self.t_ms.append(t_ms)
        self.peak.append(peak)
        self.after.append(after)
        self.held.append(held)

    def sample(self, times_ms: np.ndarray, *, v_inf: float, tau_ms: float) -> np.ndarray:
        """Membrane potential at ascending ``times_ms`` [K] (voltage unit)."""
        knot_t = np.asarray(self.t_ms)
        after = np.asarray(self.after)
        last = np.searchsorted(knot_t, times_ms, side="right") - 1
        since = times_ms - knot_t[last]
        values = np.where(
            np.asarray(self.held)[last],
            after[last],
            v_inf + (after[last] - v_inf) * np.exp(-since / tau_ms),
        )
        first = np.searchsorted(knot_t, times_ms, side="left")
        at_knot = first < knot_t.size
        at_knot[at_knot] = knot_t[first[at_knot]] == times_ms[at_knot]
        values[at_knot] = np.asarray(self.peak)[first[at_knot]]
        return values

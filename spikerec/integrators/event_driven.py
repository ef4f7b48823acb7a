"""Event-driven exact simulation of one LIF neuron with delta synapses (NumPy, float64)."""

from __future__ import annotations

import math

import numpy as np

from spikerec.integrators.events import (
    ContinuousResult,
    SampleRecorder,
    after_reset,
    apply_jump,
    check_sample_times,
    group_jumps,
)
from spikerec.params import LIFParams


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
    and including ``t_spike + t_ref_ms``, as on the grid. A resetting neuron whose
    free membrane is at or above ``v_th`` (``v0`` above threshold, or a subtract
    reset that leaves it there) spikes again at once.

    Examples
    --------
    >>> p = LIFParams(tau_mem_ms=10.0, r_m=1.0)
    >>> res = simulate_event_driven(p, [1.0, 2.0], [6.0, 6.0], t_end_ms=5.0)
    >>> res.spike_times_ms.tolist()
    [2.0]
    """
    jump_times, jumps = group_jumps(params, input_spike_times_ms, input_weights)
    in_window = jump_times <= t_end_ms
    jump_times, jumps = jump_times[in_window], jumps[in_window]
    recorder = SampleRecorder(check_sample_times(sample_times_ms, t_end_ms))
    if not math.isfinite(i_bias):
        raise ValueError(f"i_bias={i_bias!r} must be finite")

    tau = params.tau_mem_ms
    v_inf = params.v_rest + params.r_m * i_bias
    t = 0.0
    v = params.v_rest if v0 is None else float(v0)
    refractory_until = -math.inf
    spikes: list[float] = []

    def fire(t_now: float, v_now: float) -> tuple[float, float, float]:
        """Spike at ``t_now`` from ``v_now >= v_th``: record, reset, start refractoriness."""
        recorder.fill_until(t_now, lambda s: np.full(s.shape, v_now), inclusive=True)
        spikes.append(t_now)
        return t_now, after_reset(params, v_now), t_now + params.t_ref_ms

    def relax_to(t_stop: float) -> None:
        """Advance (t, v) freely to ``t_stop``, spiking at bias-driven crossings."""
        nonlocal t, v, refractory_until
        while t < t_stop:
            if t < refractory_until:
                hold_end = min(refractory_until, t_stop)
                held = v
                recorder.fill_until(
                    hold_end, lambda s, h=held: np.full(s.shape, h), inclusive=False
                )
                t = hold_end
                continue
            if v >= params.v_th and params.reset != "none":
                t, v, refractory_until = fire(t, v)
                continue
            t0, v0_ = t, v
            t_cross = math.inf
            if v_inf > params.v_th and v < params.v_th:
                t_cross = t0 + tau * math.log((v0_ - v_inf) / (params.v_th - v_inf))
            segment_end = min(t_cross, t_stop)
            recorder.fill_until(
                segment_end,
                lambda s, a=t0, b=v0_: v_inf + (b - v_inf) * np.exp(-(s - a) / tau),
                inclusive=False,
            )
            if t_cross <= t_stop:
                recorder.fill_until(
                    t_cross, lambda s: np.full(s.shape, params.v_th), inclusive=True
                )
                spikes.append(t_cross)
                t, v = t_cross, after_reset(params, params.v_th)
                refractory_until = t + params.t_ref_ms
            else:
                t, v = t_stop, v_inf + (v0_ - v_inf) * math.exp(-(t_stop - t0) / tau)

    for t_jump, jump in zip(jump_times.tolist(), jumps.tolist(), strict=True):
        relax_to(t_jump)
        if t_jump > refractory_until:
            peak, v, spiked = apply_jump(params, v, jump, t_jump, spikes)
            recorder.fill_until(t_jump, lambda s, p=peak: np.full(s.shape, p), inclusive=True)
            if spiked:
                refractory_until = t_jump + params.t_ref_ms
    relax_to(t_end_ms)
    final = v
    recorder.fill_until(t_end_ms, lambda s: np.full(s.shape, final), inclusive=True)
    return ContinuousResult(
        spike_times_ms=np.asarray(spikes, dtype=np.float64),
        sample_times_ms=recorder.times_ms,
        v_samples=recorder.values,
    )

"""Reference simulation of one LIF neuron with :func:`scipy.integrate.solve_ivp` (float64)."""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
from scipy.integrate import solve_ivp

from spikerec.errors import ParameterError
from spikerec.lif import rules
from spikerec.lif.params import LIFParams
from spikerec.reference.events import (
    ContinuousResult,
    SampleRecorder,
    apply_jump,
    check_sample_times,
    group_jumps,
)

CurrentInput = float | Callable[[float], float] | np.ndarray | None


def _current_on_segment(
    current: CurrentInput, params: LIFParams, t_start: float, t_stop: float
) -> Callable[[float], float]:
    """Input current as a function of time (ms) on one segment without breakpoints."""
    if current is None:
        return lambda t: 0.0
    if callable(current):
        return current
    if isinstance(current, np.ndarray):
        # Held samples: the segment lies inside one step, found from its midpoint.
        step = min(int(0.5 * (t_start + t_stop) / params.dt_ms), current.size - 1)
        held = float(current[step])
        return lambda t: held
    held = float(current)
    return lambda t: held


def solve_ivp_lif(
    params: LIFParams,
    *,
    t_end_ms: float,
    current: CurrentInput = None,
    input_spike_times_ms: np.ndarray | None = None,
    input_weights: np.ndarray | None = None,
    v0: float | None = None,
    sample_times_ms: np.ndarray | None = None,
    rtol: float = 1e-12,
    atol: float = 1e-12,
) -> ContinuousResult:
    """Integrate the membrane equation with SciPy's DOP853 and threshold events.

    Parameters
    ----------
    params : LIFParams
        Neuron parameters. ``dt_ms`` only matters for held-sample current input.
    t_end_ms : float
        Simulated duration in ms.
    current : float, callable, ndarray [T] or None
        Input current (current unit): a constant, a function of time in ms, or
        samples held over consecutive steps of ``dt_ms`` (the grid convention).
    input_spike_times_ms, input_weights : array [E], optional
        Delta-synapse events: each makes V jump by ``r_m * w / tau_mem_ms``.
    v0 : float, optional
        Initial membrane potential (default ``v_rest``).
    sample_times_ms : array [K], optional
        Ascending times at which to report the membrane (pre-reset at a spike).
    rtol, atol : float
        Tolerances handed to ``solve_ivp``.

    Returns
    -------
    ContinuousResult
        Spike times located by root finding on ``V - v_th`` and membrane samples.

    Notes
    -----
    Integration restarts at every breakpoint (input jump, step boundary of held
    input, spike), so the right-hand side is smooth on every call. The reset and
    refractory conventions are those of :func:`simulate_event_driven`.

    Examples
    --------
    >>> p = LIFParams(tau_mem_ms=10.0, r_m=1.0)
    >>> res = solve_ivp_lif(p, t_end_ms=30.0, current=2.0)
    >>> round(float(res.spike_times_ms[0]), 6)  # 10 ms * ln 2
    6.931472
    """
    rules.require_continuous_time(params, "solve_ivp_lif")
    recorder = SampleRecorder(check_sample_times(sample_times_ms, t_end_ms))
    jump_times, jumps = group_jumps(params, input_spike_times_ms, input_weights)
    in_window = jump_times <= t_end_ms
    jump_at = dict(zip(jump_times[in_window].tolist(), jumps[in_window].tolist(), strict=True))

    if v0 is not None and not math.isfinite(v0):
        raise ParameterError(f"v0={v0!r} must be finite")
    if current is not None and not callable(current) and not isinstance(current, np.ndarray):
        if (
            isinstance(current, bool)
            or not isinstance(current, (int, float))
            or (not math.isfinite(current))
        ):
            raise ParameterError(
                f"current={current!r} must be a finite number, a function of time or an array"
            )

    breakpoints = set(jump_at) | {t_end_ms}
    if isinstance(current, np.ndarray):
        current = np.asarray(current, dtype=np.float64).reshape(-1)
        if current.size == 0 or not np.isfinite(current).all():
            raise ParameterError("current samples must be a non-empty finite array")
        n_steps = min(current.size, math.ceil(t_end_ms / params.dt_ms - 1e-9))
        breakpoints |= {k * params.dt_ms for k in range(1, n_steps)}
    times = sorted(b for b in breakpoints if 0.0 < b <= t_end_ms)

    tau, v_rest, r_m, v_th = params.tau_mem_ms, params.v_rest, params.r_m, params.v_th

    def threshold(t: float, y: np.ndarray) -> float:
        return y[0] - v_th

    threshold.terminal = True  # type: ignore[attr-defined]
    threshold.direction = 1.0  # type: ignore[attr-defined]

    t = 0.0
    v = v_rest if v0 is None else float(v0)
    refractory_until = -math.inf
    spikes: list[float] = []
    if 0.0 in jump_at:  # input at t = 0 acts before any integration
        peak, v, spiked = apply_jump(params, v, jump_at[0.0], 0.0, spikes)
        recorder.fill_until(0.0, lambda s, p=peak: np.full(s.shape, p), inclusive=True)
        if spiked:
            refractory_until = rules.refractory_end_ms(0.0, params.t_ref_ms)

    for t_stop in times:
        while t < t_stop:
            if t < refractory_until:
                hold_end, held = min(refractory_until, t_stop), v
                recorder.fill_until(
                    hold_end, lambda s, h=held: np.full(s.shape, h), inclusive=False
                )
                t = hold_end
                continue
            if rules.fires(v, v_th):
                # Already at threshold when free: spike now (a root finder sees no crossing).
                recorder.fill_until(t, lambda s, h=v: np.full(s.shape, h), inclusive=True)
                spikes.append(t)
                v = rules.after_reset(params, v)
                refractory_until = rules.refractory_end_ms(t, params.t_ref_ms)
                continue
            current_at = _current_on_segment(current, params, t, t_stop)

            def rhs(time: float, y: np.ndarray, i_of_t=current_at) -> np.ndarray:
                return (r_m * i_of_t(time) - (y - v_rest)) / tau

            sol = solve_ivp(
                rhs,
                (t, t_stop),
                [v],
                method="DOP853",
                events=threshold,
                dense_output=True,
                rtol=rtol,
                atol=atol,
            )
            crossings = sol.t_events[0]
            if crossings.size:
                t_spike = float(crossings[0])
                recorder.fill_until(t_spike, lambda s, f=sol.sol: f(s)[0], inclusive=False)
                recorder.fill_until(t_spike, lambda s: np.full(s.shape, v_th), inclusive=True)
                spikes.append(t_spike)
                t, v = t_spike, rules.after_reset(params, v_th)
                refractory_until = rules.refractory_end_ms(t, params.t_ref_ms)
                continue
            recorder.fill_until(t_stop, lambda s, f=sol.sol: f(s)[0], inclusive=False)
            t, v = t_stop, float(sol.y[0, -1])
        if t_stop in jump_at and not rules.ignores_input_at(t_stop, refractory_until):
            peak, v, spiked = apply_jump(params, v, jump_at[t_stop], t_stop, spikes)
            recorder.fill_until(t_stop, lambda s, p=peak: np.full(s.shape, p), inclusive=True)
            if spiked:
                refractory_until = rules.refractory_end_ms(t_stop, params.t_ref_ms)
    final = v
    recorder.fill_until(t_end_ms, lambda s: np.full(s.shape, final), inclusive=True)
    return ContinuousResult(
        spike_times_ms=np.asarray(spikes, dtype=np.float64),
        sample_times_ms=recorder.times_ms,
        v_samples=recorder.values,
    )

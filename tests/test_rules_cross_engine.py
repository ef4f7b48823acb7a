"""The neuron's rules are written once (spikerec.lif.rules) and every engine follows them.

Engines: the torch step (lif_sequence), the LIF module (fused and step-by-step
paths), the float64 grid scan (simulate), the event-driven simulator and SciPy's
solve_ivp. With delta-synapse input on the grid and the exact integrator they must
give the same spikes at the same times and the same membrane at the grid points,
for every reset mode each can simulate, with refractory periods, on non-dyadic
steps (0.1, 0.05 ms) and for input at t = 0.
"""

from __future__ import annotations

import ast
import math
from pathlib import Path

import numpy as np
import pytest
import torch

from spikerec import (
    LIF,
    LIFParams,
    init_lif_state,
    lif_sequence,
    simulate,
    simulate_event_driven,
    solve_ivp_lif,
    spike_raster,
)
from spikerec.errors import ParameterError
from spikerec.lif import rules
from spikerec.lif.surrogates import FastSigmoid

ROOT = Path(__file__).resolve().parents[1]
CONTINUOUS = {"event-driven": simulate_event_driven, "solve_ivp": solve_ivp_lif}


def grid_engines(params: LIFParams, raster: np.ndarray, weights: np.ndarray) -> dict:
    """Spikes [T] and pre-reset membranes [T] of one neuron from every grid engine."""
    drive = torch.from_numpy(raster @ weights)[:, None, None]  # [T, B=1, N=1], float64
    out = {}
    grid = simulate(params, input_spikes=raster, weights=weights)
    out["grid scan"] = (grid.spikes[:, 0], grid.v[:, 0])
    state = init_lif_state((1, 1), params, dtype=torch.float64)
    spikes, v_pre, _ = lif_sequence(drive, state, params)
    out["lif_sequence"] = (spikes[:, 0, 0].numpy(), v_pre[:, 0, 0].numpy())
    for fused in (True, False):
        layer = LIF(params, fused=fused)
        result = layer(drive)
        out[f"LIF(fused={fused})"] = (
            result.spikes[:, 0, 0].numpy(),
            result.membrane[:, 0, 0].numpy(),
        )
    return out


def continuous_engines(params: LIFParams, times_ms, weights_of_events, t_end_ms: float, samples):
    out = {}
    for name, engine in CONTINUOUS.items():
        out[name] = engine(
            params,
            input_spike_times_ms=np.asarray(times_ms, dtype=np.float64),
            input_weights=np.asarray(weights_of_events, dtype=np.float64),
            t_end_ms=t_end_ms,
            sample_times_ms=samples,
        )
    return out


# ----------------------------------------------------------------------- 1. refractory


@pytest.mark.parametrize("as_products", [True, False])
def test_refractory_boundary_on_a_non_dyadic_grid_is_one_instant(as_products):
    # 63 * 0.1 = 6.300000000000001 > 4.3 + 2.0 in floats: the second spike arrives at
    # the last instant of the refractory period however the caller wrote its time.
    params = LIFParams(tau_mem_ms=10.0, dt_ms=0.1, reset="zero", t_ref_ms=2.0)
    times = [43 * 0.1, 63 * 0.1] if as_products else [4.3, 6.3]
    n_steps = 80
    raster = spike_raster(np.array([0, 0]), np.array(times), 1, params.dt_ms, n_steps)
    weights = np.array([15.0])
    for name, (spikes, _) in grid_engines(params, raster, weights).items():
        assert spikes.sum() == 1, name
        assert np.flatnonzero(spikes).tolist() == [42], name
    samples = (np.arange(n_steps) + 1) * params.dt_ms
    for name, result in continuous_engines(
        params, times, [15.0, 15.0], n_steps * params.dt_ms, samples
    ).items():
        np.testing.assert_allclose(result.spike_times_ms, [4.3], rtol=0, atol=1e-12, err_msg=name)


# ----------------------------------------------------------------------- 2. Poisson input


def poisson_on_grid(rng, n_inputs, rate_hz, n_steps, dt_ms):
    """Input whose spikes arrive at step ends, at most one per step, with times written
    as k * dt_ms (products like 63 * 0.1, never rounded by hand)."""
    p_step = min(1.0, n_inputs * rate_hz * dt_ms / 1000.0)
    step = np.flatnonzero(rng.random(n_steps) < p_step)
    neuron = rng.integers(0, n_inputs, size=step.size)
    return neuron, (step + 1) * dt_ms


@pytest.mark.parametrize("dt_ms", [0.1, 0.05])
@pytest.mark.parametrize("reset", ["subtract", "zero"])
@pytest.mark.parametrize("t_ref_ms", [0.0, 2.0])
def test_every_engine_agrees_on_poisson_input(dt_ms, reset, t_ref_ms):
    rng = np.random.default_rng(7)
    params = LIFParams(tau_mem_ms=10.0, dt_ms=dt_ms, reset=reset, t_ref_ms=t_ref_ms)
    n_steps, n_inputs = int(round(60.0 / dt_ms)), 50
    neuron, times = poisson_on_grid(rng, n_inputs, 60.0, n_steps, dt_ms)
    # One jump per step, below v_th - v_reset: a subtract reset never leaves V at or
    # above threshold (test_a_reset_left_above_threshold_... pins what happens then).
    weights = rng.uniform(0.5, 9.0, size=n_inputs)
    raster = spike_raster(neuron, times, n_inputs, dt_ms, n_steps)
    grid = grid_engines(params, raster, weights)
    reference_spikes, reference_v = grid["grid scan"]
    assert reference_spikes.sum() >= 5  # the case exercises spikes and resets
    for name, (spikes, v_pre) in grid.items():
        np.testing.assert_array_equal(spikes, reference_spikes, err_msg=name)
        np.testing.assert_allclose(v_pre, reference_v, rtol=0, atol=1e-11, err_msg=name)
    grid_times = (np.flatnonzero(reference_spikes) + 1) * dt_ms
    samples = (np.arange(n_steps) + 1) * dt_ms
    for name, result in continuous_engines(
        params, times, weights[neuron], n_steps * dt_ms, samples
    ).items():
        np.testing.assert_allclose(
            result.spike_times_ms, grid_times, rtol=0, atol=1e-9, err_msg=name
        )
        np.testing.assert_allclose(result.v_samples, reference_v, rtol=0, atol=1e-9, err_msg=name)


def test_a_reset_left_above_threshold_fires_again_at_once_or_at_the_next_step():
    # A jump to 2.5 v_th with a subtract reset leaves V = 1.5 v_th: continuous time
    # spikes again at the same instant; the grid, one spike per step, at the next step.
    params = LIFParams(tau_mem_ms=10.0, dt_ms=0.1, reset="subtract")
    raster = np.zeros((5, 1))
    raster[2, 0] = 1.0
    grid = simulate(params, input_spikes=raster, weights=np.array([25.0]))
    np.testing.assert_allclose(grid.spike_times_ms(), [0.3, 0.4], rtol=0, atol=1e-12)
    for name, result in continuous_engines(params, [0.3], [25.0], 0.5, None).items():
        np.testing.assert_allclose(
            result.spike_times_ms, [0.3, 0.3], rtol=0, atol=1e-12, err_msg=name
        )


# ----------------------------------------------------------------------- 3. reset "none"


def test_reset_none_is_a_grid_rule_that_continuous_engines_refuse():
    params = LIFParams(tau_mem_ms=10.0, dt_ms=1.0, reset="none")
    raster = np.zeros((40, 1))
    raster[0, 0] = 1.0
    for name, (spikes, v_pre) in grid_engines(params, raster, np.array([12.0])).items():
        # one jump to 1.2 v_th: a spike in every step while V >= v_th, as snntorch does
        above = v_pre >= params.v_th
        assert above.sum() > 1, name
        np.testing.assert_array_equal(spikes, above.astype(float), err_msg=name)
    for name, engine in CONTINUOUS.items():
        with pytest.raises(ParameterError, match="reset='none'") as info:
            engine(params, input_spike_times_ms=[1.0], input_weights=[12.0], t_end_ms=40.0)
        assert "\n" not in str(info.value), name


# ----------------------------------------------------------------------- 4. input at t = 0


@pytest.mark.parametrize("reset", ["subtract", "zero"])
def test_input_at_zero_acts_at_zero_in_continuous_time_and_is_refused_by_the_raster(reset):
    params = LIFParams(tau_mem_ms=10.0, dt_ms=0.1, reset=reset)
    with pytest.raises(ParameterError, match="t = 0") as info:
        spike_raster(np.array([0]), np.array([0.0]), 1, 0.1, 10)
    assert "\n" not in str(info.value)
    # The grid's way: the jump at 0 is part of the initial membrane; one raster column
    # per later event, so each keeps its own weight.
    times, w = [0.0, 0.5, 0.5 + 3 * 0.1], [5.0, 4.0, 6.0]
    n_steps = 20
    raster = np.stack(
        [spike_raster(np.array([0]), np.array([t]), 1, 0.1, n_steps)[:, 0] for t in times[1:]], 1
    )
    jump_at_zero = rules.jump_gain(params) * w[0]
    grid = simulate(params, input_spikes=raster, weights=np.array(w[1:]), v0=jump_at_zero)
    grid_times = (np.flatnonzero(grid.spikes[:, 0]) + 1) * 0.1
    assert grid_times.size >= 1
    samples = np.concatenate(([0.0], (np.arange(n_steps) + 1) * 0.1))
    for name, result in continuous_engines(params, times, w, n_steps * 0.1, samples).items():
        assert result.v_samples[0] == pytest.approx(jump_at_zero, abs=1e-12), name
        np.testing.assert_allclose(result.v_samples[1:], grid.v[:, 0], rtol=0, atol=1e-10)
        np.testing.assert_allclose(result.spike_times_ms, grid_times, rtol=0, atol=1e-9)


# ----------------------------------------------------------------------- the rules themselves


@pytest.mark.parametrize("mode", list(rules.RESETS))
@pytest.mark.parametrize("detach", [False, True])
def test_each_reset_derivative_is_the_derivative_of_its_reset(mode, detach):
    rule = rules.RESETS[mode]
    surrogate = FastSigmoid(slope=5.0)
    v_th, v_reset = 1.0, -0.25
    v_pre = torch.linspace(-0.5, 2.5, 41, dtype=torch.float64, requires_grad=True)
    spiked = surrogate(v_pre - v_th)
    after = rule.after(v_pre, spiked.detach() if detach else spiked, v_th, v_reset)
    (autograd,) = torch.autograd.grad(after.sum(), v_pre)
    slope = surrogate.derivative(v_pre.detach() - v_th)
    written = rule.derivative(
        slope, v_pre.detach(), spiked.detach(), v_th - v_reset, v_reset, detach
    )
    expected = torch.ones_like(autograd) if written is None else written
    torch.testing.assert_close(autograd, expected, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("mode", list(rules.RESETS))
def test_a_reset_rule_gives_the_same_value_for_floats_arrays_and_tensors(mode):
    rule = rules.RESETS[mode]
    v = np.array([0.3, 1.0, 1.7])
    s = (v >= 1.0).astype(float)
    as_array = rule.after(v, s, 1.0, -0.5)
    as_floats = [rule.after(float(a), float(b), 1.0, -0.5) for a, b in zip(v, s, strict=True)]
    as_tensor = rule.after(torch.from_numpy(v), torch.from_numpy(s), 1.0, -0.5).numpy()
    np.testing.assert_allclose(as_array, as_floats, rtol=0, atol=1e-15)
    np.testing.assert_allclose(as_tensor, as_floats, rtol=0, atol=1e-15)


def test_arrival_step_treats_rounded_products_as_step_ends():
    dt = 0.1
    k = np.arange(1, 2000)
    np.testing.assert_array_equal(rules.arrival_step(k * dt, dt), k - 1)
    np.testing.assert_array_equal(rules.arrival_step(k * dt + 0.5 * dt, dt), k)


def test_events_at_one_instant_act_as_one_jump():
    times = np.array([4.3, 43 * 0.1, 5.0])
    assert rules.same_instant_groups(times).tolist() == [0, 2]


def test_the_reset_mode_is_branched_on_only_in_the_rules_module():
    # Engines ask the rule (RESETS[...]) instead of comparing the mode's name.
    offenders = []
    for folder in ("lif", "reference"):
        for path in (ROOT / "spikerec" / folder).rglob("*.py"):
            if path.name == "rules.py":
                continue
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
                if (
                    isinstance(node, ast.Compare)
                    and any(isinstance(op, (ast.Eq, ast.NotEq)) for op in node.ops)
                    and any(
                        isinstance(side, ast.Attribute) and side.attr == "reset"
                        for side in (node.left, *node.comparators)
                    )
                ):
                    offenders.append(f"{path.relative_to(ROOT)}:{node.lineno}")
    assert not offenders, offenders


def test_time_tolerance_is_relative_and_stated():
    assert rules.TIME_RTOL == pytest.approx(1e-9)
    assert rules.time_tolerance(1e4) == pytest.approx(1e-5)
    assert not rules.ignores_input_at(6.3 + 1e-6, rules.refractory_end_ms(4.3, 2.0))
    assert rules.ignores_input_at(6.3, rules.refractory_end_ms(4.3, 2.0))
    assert not rules.ignores_input_at(5.0, rules.refractory_end_ms(4.3, 0.0))
    assert math.isinf(rules.refractory_end_ms(1.0, 0.0))

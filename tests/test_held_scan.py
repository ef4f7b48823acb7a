"""The whole-trace NumPy scan computes what lif_step computes step by step."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from spikerec import LIFParams, simulate, spike_raster
from spikerec.lif.integrators import get_integrator
from spikerec.lif.step import held_affine_step, init_lif_state, lif_step
from spikerec.reference.held_scan import scan_held


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(7)


def _stepped(params, x, synapse, integrator, v0):
    """Reference: lif_step in a loop, float64."""
    state = init_lif_state((x.shape[1],), params, dtype=torch.float64)
    state = state._replace(v=torch.as_tensor(v0, dtype=torch.float64).clone())
    vs, spikes = [], []
    with torch.no_grad():
        for row in torch.from_numpy(x):
            spk, v_pre, state = lif_step(row, state, params, integrator=integrator, synapse=synapse)
            vs.append(v_pre)
            spikes.append(spk)
    return torch.stack(vs).numpy(), torch.stack(spikes).numpy(), state


@pytest.mark.parametrize("integrator", ["exact", "euler", "rk4"])
@pytest.mark.parametrize("reset", ["subtract", "zero", "none"])
@pytest.mark.parametrize("t_ref_ms", [0.0, 3.0])
@pytest.mark.parametrize("synapse", ["delta", "current"])
def test_scan_matches_lif_step(integrator, reset, t_ref_ms, synapse, rng):
    params = LIFParams(
        tau_mem_ms=8.0, dt_ms=1.0, r_m=2.0, v_rest=0.1, v_reset=-0.2, reset=reset,
        t_ref_ms=t_ref_ms,
    )  # fmt: skip
    n_steps, n_neurons = 450, 5
    # strong enough to fire often, with quiet stretches longer than the first window
    x = rng.uniform(-0.5, 1.6, size=(n_steps, n_neurons))
    x[100:400, :2] = -0.3
    if synapse == "delta":
        x *= 3.0
    v0 = np.array([0.0, 1.5, -0.4, 0.99, 0.3])  # one neuron starts above threshold
    want_v, want_s, want_state = _stepped(params, x, synapse, integrator, v0)
    a, b, c = held_affine_step(params, get_integrator(integrator), synapse, params.tau_mem_ms)
    v_pre, spikes, v_final, left = scan_held(a, x * b + c, params, v0)
    assert want_s.sum() > 50  # not vacuous
    np.testing.assert_array_equal(spikes, want_s)
    np.testing.assert_allclose(v_pre, want_v, rtol=0, atol=1e-12)
    np.testing.assert_allclose(v_final, want_state.v.numpy(), rtol=0, atol=1e-12)
    np.testing.assert_array_equal(left, want_state.refractory_steps_left.numpy())


def test_scan_resumes_a_refractory_state():
    params = LIFParams(tau_mem_ms=10.0, dt_ms=1.0, t_ref_ms=4.0, reset="zero")
    drive = np.full((10, 1), 0.5)
    v_pre, spikes, _, left = scan_held(0.9, drive, params, np.array([0.25]), np.array([2.0]))
    # held for the two steps left, then free: 0.9 * 0.25 + 0.5 = 0.725
    np.testing.assert_allclose(v_pre[:3, 0], [0.25, 0.25, 0.725])
    assert spikes[:3].sum() == 0 and left[0] >= 0


def test_simulate_uses_the_scan_and_agrees_with_event_driven_grid_semantics(rng):
    """simulate() on spike input equals lif_step's loop on the summed weights."""
    params = LIFParams(tau_mem_ms=10.0, dt_ms=0.1, r_m=10.0, t_ref_ms=1.0)
    raster = (rng.random((3000, 50)) < 0.02).astype(float)
    weights = rng.normal(0.05, 0.1, size=50)
    res = simulate(params, input_spikes=raster, weights=weights)
    want_v, want_s, _ = _stepped(params, (raster @ weights)[:, None], "delta", "exact", [0.0])
    assert want_s.sum() >= 3
    np.testing.assert_array_equal(res.spikes, want_s)
    np.testing.assert_allclose(res.v, want_v, rtol=0, atol=1e-12)


def test_sparse_raster_gives_the_dense_result(rng):
    params = LIFParams(tau_mem_ms=10.0, dt_ms=0.5, r_m=10.0)
    neuron = rng.integers(0, 40, size=400)
    times = np.sort(rng.uniform(0.0, 100.0, size=400))
    times[:5] = 0.5  # the end of step 0: counts in step 0
    neuron[:5] = 3  # the same input several times in one step
    dense = spike_raster(neuron, times, 40, 0.5, 200)
    sparse = spike_raster(neuron, times, 40, 0.5, 200, sparse=True)
    np.testing.assert_array_equal(sparse.toarray(), dense)
    assert dense[0, 3] == 5
    weights = rng.normal(0.1, 0.2, size=40)
    a = simulate(params, input_spikes=dense, weights=weights)
    b = simulate(params, input_spikes=sparse, weights=weights)
    assert a.spikes.sum() > 0
    np.testing.assert_array_equal(a.spikes, b.spikes)
    np.testing.assert_allclose(a.v, b.v, rtol=0, atol=1e-13)


def test_sparse_raster_with_nan_is_refused():
    from scipy.sparse import csr_array

    bad = csr_array(np.array([[0.0, np.nan], [1.0, 0.0]]))
    with pytest.raises(ValueError, match="input_spikes must hold finite"):
        simulate(LIFParams(), input_spikes=bad, weights=np.ones(2))

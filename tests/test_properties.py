"""Property-based tests of the LIF step (hypothesis, derandomised so CI is deterministic).

For any parameters the library accepts (``LIFParams`` plus the integrator's own
``validate``) and bounded input:

- the membrane stays finite;
- a neuron at rest with no input never spikes and stays at rest;
- the torch step (``lif_sequence`` and the ``LIF`` module, float64) agrees with a
  plain NumPy float64 loop written here from the documented update
  (docs/neuron-model.md): integrate over the step, add delta-synapse jumps, hold
  refractory neurons, spike where ``V >= v_th``, reset in the same step.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from _lif_reference import reset_membrane
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from spikerec import LIF, LIFParams, get_integrator, init_lif_state, lif_sequence
from spikerec.lif.params import RESET_MODES

SETTINGS = settings(
    max_examples=50,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.filter_too_much, HealthCheck.too_slow],
)
INTEGRATORS = ("euler", "exact", "rk4")
NEAR_LIMITS = (1.9, 1.999, 2.0, 2.5, 2.78, 2.7853, 2.79, 3.0, 3.5)
SYNAPSES = ("delta", "current")


def _real(lo: float, hi: float) -> st.SearchStrategy[float]:
    return st.floats(lo, hi, allow_nan=False, allow_infinity=False)


@st.composite
def accepted_params(draw, *, refractory: bool = True) -> tuple[LIFParams, str]:
    """Parameters that LIFParams and the drawn integrator both accept.

    ``dt_ms / tau_mem_ms`` is drawn up to 3.5, beyond the stability limits of Euler (2)
    and RK4 (2.785): whatever an integrator accepts there must stay finite.
    """
    integrator = draw(st.sampled_from(INTEGRATORS))
    tau = draw(_real(0.2, 50.0))
    # Steps up to 3.5 tau, with extra weight right around the stability limits.
    dt = tau * draw(st.one_of(_real(0.001, 3.5), st.sampled_from(NEAR_LIMITS)))
    v_reset = draw(_real(-3.0, 3.0))
    v_th = v_reset + draw(_real(0.01, 4.0))
    steps = draw(st.integers(0, 3)) if refractory else 0
    params = LIFParams(
        tau_mem_ms=tau,
        dt_ms=dt,
        v_rest=draw(_real(-3.0, 3.0)),
        v_reset=v_reset,
        v_th=v_th,
        r_m=draw(_real(0.05, 5.0)),
        t_ref_ms=steps * dt,
        reset=draw(st.sampled_from(RESET_MODES)),
    )
    try:
        get_integrator(integrator).validate(params)
    except ValueError:
        assume(False)
    return params, integrator


def inputs(max_steps: int = 30) -> st.SearchStrategy[np.ndarray]:
    """Input ``[T, N]``: summed synaptic weights (delta) or held current, bounded."""
    shape = st.tuples(st.integers(1, max_steps), st.integers(1, 3))
    return shape.flatmap(lambda s: arrays(np.float64, s, elements=_real(-5.0, 5.0)))


# --------------------------------------------------------------------- reference


def advance(v: np.ndarray, u: np.ndarray, p: LIFParams, integrator: str) -> np.ndarray:
    """One step of ``tau dV/dt = -(V - v_rest) + u`` with ``u`` held (docs' table)."""
    tau, dt = p.tau_mem_ms, p.dt_ms
    if integrator == "euler":
        return v + dt / tau * (u - (v - p.v_rest))
    if integrator == "exact":
        v_inf = p.v_rest + u
        return v_inf + (v - v_inf) * math.exp(-dt / tau)

    def f(w: np.ndarray) -> np.ndarray:
        return (u - (w - p.v_rest)) / tau

    k1 = f(v)
    k2 = f(v + dt / 2 * k1)
    k3 = f(v + dt / 2 * k2)
    k4 = f(v + dt * k3)
    return v + dt / 6 * (k1 + 2 * k2 + 2 * k3 + k4)


def reference(
    x: np.ndarray, p: LIFParams, integrator: str, synapse: str
) -> tuple[np.ndarray, np.ndarray]:
    """Spikes and pre-reset membrane ``[T, N]`` of neurons starting at rest."""
    n_steps, n = x.shape
    v = np.full(n, p.v_rest)
    left = np.zeros(n, dtype=int)
    spikes = np.zeros((n_steps, n))
    membrane = np.zeros((n_steps, n))
    hold = round(p.t_ref_ms / p.dt_ms)
    for t in range(n_steps):
        if synapse == "current":
            v_new = advance(v, p.r_m * x[t], p, integrator)
        else:  # jumps r_m w / tau at the end of the step, after the decay
            v_new = advance(v, np.zeros(n), p, integrator) + p.r_m * x[t] / p.tau_mem_ms
        free = left == 0
        v_new = np.where(free, v_new, v)  # refractory: held at the post-reset value
        fired = free & (v_new >= p.v_th)
        membrane[t], spikes[t] = v_new, fired
        v = reset_membrane(v_new, fired, p)
        left = np.where(fired, hold, np.maximum(left - 1, 0))
    return spikes, membrane


def torch_run(x: np.ndarray, p: LIFParams, integrator: str, synapse: str, *, module: bool):
    xt = torch.from_numpy(x).unsqueeze(1)  # [T, 1, N]
    if module:
        out = LIF(p, integrator=integrator, synapse=synapse)(xt)
        spikes, membrane = out.spikes, out.membrane
    else:
        state = init_lif_state(xt.shape[1:], p, dtype=torch.float64)
        spikes, membrane, _ = lif_sequence(xt, state, p, integrator=integrator, synapse=synapse)
    assert spikes.dtype == membrane.dtype == torch.float64
    return spikes[:, 0].numpy(), membrane[:, 0].numpy()


# --------------------------------------------------------------------- properties


@SETTINGS
@given(case=accepted_params(), x=inputs(), synapse=st.sampled_from(SYNAPSES))
def test_membrane_stays_finite(case, x, synapse):
    params, integrator = case
    x = np.tile(x, (4, 1))  # longer runs: an unstable step would blow up here
    spikes, membrane = torch_run(x, params, integrator, synapse, module=False)
    assert np.isfinite(membrane).all()
    assert set(np.unique(spikes)) <= {0.0, 1.0}
    # A stable step keeps the membrane within reach of its drive: rest, the held
    # drive, the sum of all jumps, and the reset level bound it generously.
    drive = params.r_m * np.abs(x).sum(0) * max(1.0, 1.0 / params.tau_mem_ms)
    bound = abs(params.v_rest) + abs(params.v_reset) + params.v_th + drive.max() * 4 + 1.0
    assert np.abs(membrane).max() <= bound


@SETTINGS
@given(
    case=accepted_params(),
    n_steps=st.integers(1, 60),
    margin=_real(1e-6, 5.0),
    synapse=st.sampled_from(SYNAPSES),
)
def test_zero_input_from_rest_never_spikes(case, n_steps, margin, synapse):
    params, integrator = case
    params = params.replace(v_rest=params.v_th - margin)  # rest below threshold
    zeros = np.zeros((n_steps, 2))
    for module in (False, True):
        spikes, membrane = torch_run(zeros, params, integrator, synapse, module=module)
        assert spikes.sum() == 0
        np.testing.assert_allclose(membrane, params.v_rest, rtol=0, atol=1e-12 * (1 + margin))


def _comparable_steps(membrane: np.ndarray, v_th: float) -> int:
    """Steps before the first pre-reset membrane within rounding of the threshold, where
    two correct float64 implementations may legitimately disagree about a spike."""
    tol = 1e-9 * max(1.0, abs(v_th), float(np.abs(membrane).max()))
    close = np.flatnonzero((np.abs(membrane - v_th) <= tol).any(axis=1))
    return int(close[0]) if close.size else len(membrane)


@SETTINGS
@given(case=accepted_params(), x=inputs(), synapse=st.sampled_from(SYNAPSES))
def test_torch_step_matches_numpy_reference(case, x, synapse):
    params, integrator = case
    ref_spikes, ref_membrane = reference(x, params, integrator, synapse)
    n = _comparable_steps(ref_membrane, params.v_th)
    scale = 1.0 + float(np.abs(ref_membrane[:n]).max(initial=0.0))
    for module in (False, True):  # lif_sequence, and the LIF module (fused where it can)
        spikes, membrane = torch_run(x, params, integrator, synapse, module=module)
        np.testing.assert_array_equal(spikes[:n], ref_spikes[:n])
        np.testing.assert_allclose(membrane[:n], ref_membrane[:n], rtol=1e-9, atol=1e-10 * scale)


@pytest.mark.parametrize("integrator", INTEGRATORS)
def test_every_accepted_step_is_stable(integrator):
    """Whatever step an integrator accepts, its one-step decay factor ``a`` (with
    ``v_pre = a v + b x + c``) has ``|a| < 1``: the membrane cannot grow without bound.
    A deterministic sweep of ``dt / tau`` from 1e-3 to 1e3, boundaries included."""
    method = get_integrator(integrator)
    ratios = np.concatenate([np.geomspace(1e-3, 1e3, 601), NEAR_LIMITS, [2.785293563405289]])
    accepted = 0
    for ratio in ratios:
        params = LIFParams(tau_mem_ms=2.0, dt_ms=2.0 * float(ratio))
        try:
            method.validate(params)
        except ValueError as error:
            assert "unstable" in str(error)
            continue
        accepted += 1
        a, _ = method.held_coefficients(params.dt_ms, params.tau_mem_ms)
        assert abs(a) < 1.0, (integrator, ratio, a)
    assert accepted >= 300  # the sweep is not vacuous


def test_reference_is_not_trivial():
    """The reference spikes, resets, holds and decays: a hand-checked case."""
    p = LIFParams(tau_mem_ms=10.0, dt_ms=1.0, t_ref_ms=1.0, reset="zero")
    x = np.array([[12.0], [12.0], [0.0]])  # delta: jump 1.2 each step
    spikes, membrane = reference(x, p, "exact", "delta")
    assert spikes[:, 0].tolist() == [1.0, 0.0, 0.0]  # second step refractory
    assert membrane[:, 0].tolist() == pytest.approx([1.2, 0.0, 0.0])
    spikes, membrane = reference(np.array([[0.0], [0.0]]), p.replace(v_rest=0.5), "euler", "delta")
    assert membrane[:, 0].tolist() == [0.5, 0.5]

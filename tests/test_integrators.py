"""Grid integrators against closed forms; convergence orders measured by regression.

The membrane equation is ``tau dV/dt = -(V - v_rest) + r_m I(t)``. With no spike
(``v_th`` huge) every grid integrator must reproduce its closed-form solution:

- constant current: ``V(t) = V_inf + (V0 - V_inf) exp(-t/tau)``, ``V_inf = v_rest + r_m I``;
- piecewise-constant (held) current: the convolution of the held steps with the
  exponential kernel;
- smooth current ``I(t) = I0 + A sin(omega t)``: particular plus homogeneous solution
  (see :func:`_sine_solution`).

The exact integrator must be exact (to rounding) for held input at every ``dt``;
Euler and RK4 must converge with slopes 1 and 4 in ``log(error)`` vs ``log(dt)``.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

import spikerec
from spikerec import (
    EulerIntegrator,
    ExactIntegrator,
    LIFParams,
    RK4Integrator,
    get_integrator,
    simulate,
)

NO_SPIKE = 1e9  # a threshold the membrane never reaches


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(20240611)


@pytest.fixture
def torch_gen() -> torch.Generator:
    return torch.Generator().manual_seed(1234)


# ---------------------------------------------------------------------------
# Closed forms
# ---------------------------------------------------------------------------


def _constant_solution(t, v0, v_inf, tau):
    return v_inf + (v0 - v_inf) * np.exp(-t / tau)


def _held_solution(u: np.ndarray, dt: float, tau: float, v_rest: float, v0: float) -> np.ndarray:
    """Exact V at ``(n + 1) dt`` for drive ``u[k] = r_m I_k`` held on ``(k dt, (k+1) dt]``.

    ``V(t_n) = v_rest + (v0 - v_rest) e^{-t_n/tau}
    + sum_{k<n} u_k (e^{-(t_n - t_{k+1})/tau} - e^{-(t_n - t_k)/tau})``, evaluated as a
    dense lower-triangular matrix product (independent of the step-by-step recursion).
    """
    n = u.size
    t_end = (np.arange(n) + 1) * dt  # t_{n}: end of step n
    t_k = np.arange(n) * dt  # start of step k
    lag_start = t_end[:, None] - t_k[None, :]  # t_n - t_k
    lag_end = lag_start - dt  # t_n - t_{k+1}
    causal = lag_end >= -1e-9 * dt  # step k has ended by t_n
    lag_start, lag_end = np.maximum(lag_start, 0.0), np.maximum(lag_end, 0.0)
    kernel = np.where(causal, np.exp(-lag_end / tau) - np.exp(-lag_start / tau), 0.0)
    return v_rest + (v0 - v_rest) * np.exp(-t_end / tau) + kernel @ u


def _sine_solution(t, *, tau, r_m, v_rest, v0, i0, amp, omega):
    """Solution of ``tau V' = -(V - v_rest) + r_m (i0 + amp sin(omega t))``, ``V(0) = v0``.

    Particular solution ``v_rest + r_m i0 + r_m amp (sin wt - w tau cos wt) / (1 + (w tau)^2)``
    plus the homogeneous term ``C exp(-t/tau)`` with ``C`` fixed by ``V(0) = v0``.
    """
    wt = omega * tau
    gain = r_m * amp / (1.0 + wt**2)
    c = v0 - v_rest - r_m * i0 + gain * wt
    return (
        v_rest
        + r_m * i0
        + gain * (np.sin(omega * t) - wt * np.cos(omega * t))
        + c * np.exp(-t / tau)
    )


def test_sine_solution_satisfies_the_ode():
    """The closed form used below solves the ODE (central differences) and V(0) = v0."""
    kw = dict(tau=7.0, r_m=1.3, v_rest=-0.4, v0=0.9, i0=0.5, amp=0.8, omega=0.37)
    t = np.linspace(0.0, 40.0, 401)
    h = 1e-4
    v = _sine_solution(t, **kw)
    dv = (_sine_solution(t + h, **kw) - _sine_solution(t - h, **kw)) / (2 * h)
    rhs = -(v - kw["v_rest"]) + kw["r_m"] * (kw["i0"] + kw["amp"] * np.sin(kw["omega"] * t))
    np.testing.assert_allclose(kw["tau"] * dv, rhs, atol=1e-8)
    assert _sine_solution(np.array(0.0), **kw) == pytest.approx(kw["v0"], abs=1e-15)


# ---------------------------------------------------------------------------
# Exact integrator vs the constant-current closed form
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("dt_ms", [0.01, 0.1, 1.0, 7.5, 40.0])
def test_exact_matches_constant_current_closed_form(dt_ms):
    tau, r_m, v_rest, current, v0 = 10.0, 2.5, -0.3, 0.6, 0.8
    params = LIFParams(
        tau_mem_ms=tau, dt_ms=dt_ms, r_m=r_m, v_rest=v_rest, v_th=NO_SPIKE, v_reset=v_rest
    )
    n_steps = 2000
    res = simulate(params, current=np.full(n_steps, current), v0=v0)
    expected = _constant_solution(res.t_ms, v0, v_rest + r_m * current, tau)
    err = np.abs(res.v[:, 0] - expected).max()
    assert err <= 1e-12, err
    assert res.spikes.sum() == 0
    np.testing.assert_allclose(res.t_ms, (np.arange(n_steps) + 1) * dt_ms, rtol=1e-15)


def test_exact_advance_direct_torch_and_numpy(rng):
    """ExactIntegrator.advance on arrays of start values and drives, iterated many steps."""
    tau, v_rest, dt = 12.0, 0.25, 0.37
    v0 = rng.uniform(-2.0, 2.0, size=64)
    drive = rng.uniform(-1.0, 3.0, size=64)
    method = ExactIntegrator()
    v_np = v0.copy()
    v_t = torch.from_numpy(v0.copy())
    drive_t = torch.from_numpy(drive)
    worst = 0.0
    for n in range(1, 1001):
        v_np = method.advance(v_np, drive, dt_ms=dt, tau_mem_ms=tau, v_rest=v_rest)
        v_t = method.advance(v_t, drive_t, dt_ms=dt, tau_mem_ms=tau, v_rest=v_rest)
        expected = _constant_solution(n * dt, v0, v_rest + drive, tau)
        worst = max(worst, np.abs(v_np - expected).max(), np.abs(v_t.numpy() - expected).max())
    assert isinstance(v_np, np.ndarray) and v_np.dtype == np.float64
    assert isinstance(v_t, torch.Tensor) and v_t.dtype == torch.float64
    assert worst <= 1e-12, worst


# ---------------------------------------------------------------------------
# Convergence orders on smooth input
# ---------------------------------------------------------------------------

SINE = dict(tau=10.0, r_m=1.5, v_rest=-0.2, v0=0.3, i0=0.8, amp=0.6, omega=2 * math.pi / 15.0)
T_END_MS = 60.0


def _smooth_errors(name: str, dts: list[float]) -> np.ndarray:
    errors = []
    for dt in dts:
        params = LIFParams(
            tau_mem_ms=SINE["tau"],
            dt_ms=dt,
            r_m=SINE["r_m"],
            v_rest=SINE["v_rest"],
            v_reset=SINE["v_rest"],
            v_th=NO_SPIKE,
        )
        n_steps = round(T_END_MS / dt)
        assert abs(n_steps * dt - T_END_MS) < 1e-9

        def current(t: float) -> float:
            return SINE["i0"] + SINE["amp"] * math.sin(SINE["omega"] * t)

        res = simulate(params, current=current, n_steps=n_steps, integrator=name, v0=SINE["v0"])
        exact = _sine_solution(res.t_ms, **SINE)
        errors.append(np.abs(res.v[:, 0] - exact).max())
    return np.asarray(errors)


@pytest.mark.parametrize(
    ("name", "dts", "expected_order"),
    [
        ("euler", [0.05, 0.1, 0.2, 0.3, 0.4, 0.6], 1.0),
        ("rk4", [0.1, 0.2, 0.3, 0.4, 0.6, 1.0, 1.5], 4.0),
    ],
)
def test_measured_convergence_order(name, dts, expected_order):
    errors = _smooth_errors(name, dts)
    slope, _ = np.polyfit(np.log(dts), np.log(errors), 1)
    print(f"\n{name}: dt={dts} max|error|={errors.tolist()} measured order={slope:.4f}")
    assert abs(slope - expected_order) <= 0.3, slope
    assert abs(slope - get_integrator(name).order) <= 0.3
    assert np.all(np.diff(errors) > 0), "error must shrink with dt"
    assert errors.min() > 1e-11, "stay well above rounding so the slope measures truncation"


def test_declared_orders():
    assert EulerIntegrator.order == 1
    assert RK4Integrator.order == 4
    assert ExactIntegrator.order == math.inf
    assert get_integrator("euler").order == 1.0
    assert get_integrator("rk4").order == 4.0
    assert math.isinf(get_integrator("exact").order)


# ---------------------------------------------------------------------------
# Exact integrator: machine precision for held input, refuses smooth input
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("dt_ms", [0.01, 0.05, 0.2, 1.0, 4.0, 25.0])
def test_exact_is_exact_for_held_input_at_every_dt(dt_ms, rng):
    tau, r_m, v_rest, v0 = 8.0, 1.7, 0.1, -0.5
    n_steps = 600
    current = rng.uniform(-1.0, 2.0, size=n_steps)
    params = LIFParams(
        tau_mem_ms=tau, dt_ms=dt_ms, r_m=r_m, v_rest=v_rest, v_reset=-1.0, v_th=NO_SPIKE
    )
    expected = _held_solution(r_m * current, dt_ms, tau, v_rest, v0)
    res = simulate(params, current=current, v0=v0)
    err_exact = np.abs(res.v[:, 0] - expected).max()
    print(f"\nexact, held input, dt={dt_ms}: max|error|={err_exact:.3e}")
    assert err_exact <= 1e-12, err_exact
    # the reference discriminates: RK4 (order 4) is measurably off at the same dt,
    # and refuses a dt beyond its stability limit (2.785 tau) instead of blowing up
    if dt_ms >= 2.785 * tau:
        with pytest.raises(ValueError, match="unstable for the 'rk4'"):
            simulate(params, current=current, v0=v0, integrator="rk4")
    elif dt_ms >= 0.2:
        res_rk4 = simulate(params, current=current, v0=v0, integrator="rk4")
        assert np.abs(res_rk4.v[:, 0] - expected).max() > 1e3 * max(err_exact, 1e-16)


def test_exact_refuses_smooth_input():
    params = LIFParams(dt_ms=0.1, v_th=NO_SPIKE)
    with pytest.raises(ValueError, match="exact"):
        simulate(params, current=lambda t: 1.0 + math.sin(t), n_steps=10, integrator="exact")
    with pytest.raises(ValueError, match="exact"):
        ExactIntegrator().advance(
            np.zeros(3),
            np.ones(3),
            dt_ms=0.1,
            tau_mem_ms=10.0,
            v_rest=0.0,
            drive_mid=np.ones(3),
            drive_end=np.ones(3),
        )
    # the approximate methods accept the same input
    for name in ("euler", "rk4"):
        res = simulate(params, current=lambda t: 1.0 + math.sin(t), n_steps=10, integrator=name)
        assert np.isfinite(res.v).all()


@pytest.mark.parametrize("h", [0.01, 0.3, 1.0, 2.5])
def test_held_input_one_step_polynomials(h, rng):
    """For held drive, Euler and RK4 apply the degree-1 and degree-4 Taylor polynomials
    of exp(-h) to the distance from equilibrium; exact applies exp(-h) itself."""
    tau, v_rest = 4.0, -0.1
    dt = h * tau
    v = rng.normal(size=20)
    drive = rng.normal(size=20)
    v_inf = v_rest + drive
    factors = {
        "euler": 1 - h,
        "rk4": 1 - h + h**2 / 2 - h**3 / 6 + h**4 / 24,
        "exact": math.exp(-h),
    }
    for name, factor in factors.items():
        got = get_integrator(name).advance(v, drive, dt_ms=dt, tau_mem_ms=tau, v_rest=v_rest)
        np.testing.assert_allclose(got, v_inf + (v - v_inf) * factor, rtol=1e-13, atol=1e-14)


# ---------------------------------------------------------------------------
# NumPy arrays, torch tensors and tensor time constants
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["euler", "exact", "rk4"])
def test_numpy_and_torch_give_same_results(name, rng):
    method = get_integrator(name)
    v = rng.normal(size=(3, 40))
    drive = rng.normal(size=(3, 40))
    smooth = {}
    if name != "exact":
        smooth = {"drive_mid": rng.normal(size=(3, 40)), "drive_end": rng.normal(size=(3, 40))}
    kw = dict(dt_ms=0.7, tau_mem_ms=9.0, v_rest=0.2)
    out_np = method.advance(v, drive, **smooth, **kw)
    out_t = method.advance(
        torch.from_numpy(v),
        torch.from_numpy(drive),
        **{k: torch.from_numpy(a) for k, a in smooth.items()},
        **kw,
    )
    assert isinstance(out_np, np.ndarray) and isinstance(out_t, torch.Tensor)
    assert out_t.dtype == torch.float64 and out_t.shape == (3, 40)
    np.testing.assert_allclose(out_t.numpy(), out_np, rtol=1e-14, atol=1e-15)
    # float32 tensors stay float32 and agree to single precision
    out_32 = method.advance(
        torch.from_numpy(v).float(),
        torch.from_numpy(drive).float(),
        **{k: torch.from_numpy(a).float() for k, a in smooth.items()},
        **kw,
    )
    assert out_32.dtype == torch.float32
    np.testing.assert_allclose(out_32.double().numpy(), out_np, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("name", ["euler", "exact", "rk4"])
def test_tensor_tau_matches_per_neuron_float_tau(name, torch_gen):
    method = get_integrator(name)
    n = 32
    v = torch.randn(n, dtype=torch.float64, generator=torch_gen)
    drive = torch.randn(n, dtype=torch.float64, generator=torch_gen)
    tau = 2.0 + 18.0 * torch.rand(n, dtype=torch.float64, generator=torch_gen)
    kw = dict(dt_ms=0.5, v_rest=-0.1)
    batched = method.advance(v, drive, tau_mem_ms=tau, **kw)
    for i in range(n):
        single = method.advance(v[i : i + 1], drive[i : i + 1], tau_mem_ms=float(tau[i]), **kw)
        assert float(batched[i]) == pytest.approx(float(single[0]), rel=1e-14, abs=1e-15)
    # NumPy array time constants with NumPy arrays give the same result
    as_np = method.advance(v.numpy(), drive.numpy(), tau_mem_ms=tau.numpy(), **kw)
    np.testing.assert_allclose(as_np, batched.numpy(), rtol=1e-14, atol=1e-15)


def test_tensor_tau_gradient_matches_closed_form(torch_gen):
    """d/d tau of the exact step: (V - V_inf) * exp(-dt/tau) * dt / tau^2."""
    n, dt, v_rest = 16, 0.8, 0.0
    v = torch.randn(n, dtype=torch.float64, generator=torch_gen)
    drive = torch.rand(n, dtype=torch.float64, generator=torch_gen)
    tau = (3.0 + 10.0 * torch.rand(n, dtype=torch.float64, generator=torch_gen)).requires_grad_()
    out = ExactIntegrator().advance(v, drive, dt_ms=dt, tau_mem_ms=tau, v_rest=v_rest)
    out.sum().backward()
    t = tau.detach()
    expected = (v - (v_rest + drive)) * torch.exp(-dt / t) * dt / t**2
    torch.testing.assert_close(tau.grad, expected, rtol=1e-12, atol=1e-14)


def test_grid_simulation_with_tensor_tau_module_matches_float(torch_gen):
    """The LIF module with a learnable (tensor) tau equals the fixed-tau module."""
    params = LIFParams(tau_mem_ms=7.0, dt_ms=0.5, t_ref_ms=1.0)
    x = torch.rand(50, 2, 6, dtype=torch.float64, generator=torch_gen) * 3.0
    fixed = spikerec.LIF(params)(x)
    learn = spikerec.LIF(params, learn_tau=True, n_neurons=6).double()
    with torch.no_grad():  # the parameter is created in float32; restore log(7) in float64
        learn.log_tau_mem_ms.fill_(math.log(params.tau_mem_ms))
    assert isinstance(learn.tau_mem_ms, torch.Tensor)
    assert learn.tau_mem_ms.shape == (6,)
    out = learn(x)
    assert fixed.spikes.sum() > 0
    torch.testing.assert_close(out.spikes, fixed.spikes)
    torch.testing.assert_close(out.membrane.detach(), fixed.membrane, rtol=1e-12, atol=1e-12)


def test_simulate_with_v0_passes_only_writable_arrays_to_torch(monkeypatch):
    """Regression: simulate(v0=...) handed a read-only np.broadcast_to view to torch, which
    warns about non-writable arrays. torch warns only once per process, so the warning
    cannot be observed reliably in-process; watch what simulate hands to torch instead."""
    read_only: list[tuple[int, ...]] = []
    as_tensor, from_numpy = torch.as_tensor, torch.from_numpy

    def check(array):
        if isinstance(array, np.ndarray) and not array.flags.writeable:
            read_only.append(array.shape)

    def spy_as_tensor(data, *args, **kwargs):
        check(data)
        return as_tensor(data, *args, **kwargs)

    def spy_from_numpy(array):
        check(array)
        return from_numpy(array)

    monkeypatch.setattr(torch, "as_tensor", spy_as_tensor)
    monkeypatch.setattr(torch, "from_numpy", spy_from_numpy)
    params = LIFParams(v_th=NO_SPIKE)
    res = simulate(params, current=np.ones((4, 3)), v0=0.5)
    assert res.v.shape == (4, 3)
    assert read_only == []
    # v0 is really the start value: first recorded V = 1 + (0.5 - 1) * beta
    np.testing.assert_allclose(res.v[0], 1.0 - 0.5 * params.beta, rtol=1e-15)
    res = simulate(params, current=np.ones((4, 3)), v0=np.array([0.1, 0.2, 0.3]))
    np.testing.assert_allclose(res.v[0], 1.0 + (np.array([0.1, 0.2, 0.3]) - 1.0) * params.beta)
    assert read_only == []

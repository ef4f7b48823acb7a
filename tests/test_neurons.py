"""The LIF module and the functional step: structure, statelessness, integrators,
learnable parameters, refractoriness, reset modes, input validation, training."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from spikerec import (
    INTEGRATORS,
    LIF,
    SURROGATES,
    FastSigmoid,
    LIFOutput,
    LIFParams,
    LIFState,
    init_lif_state,
    lif_step,
)
from spikerec.lif.step import SYNAPSES

T, B, N = 60, 4, 6


@pytest.fixture
def gen() -> torch.Generator:
    return torch.Generator().manual_seed(1234)


@pytest.fixture
def x(gen) -> torch.Tensor:
    """Delta input [T, B, N] (float64): jumps r_m*x/tau in [-0.1, 0.5) for the default
    params (tau = 10 ms, r_m = 1), so neurons spike every few steps."""
    return torch.empty(T, B, N, dtype=torch.float64).uniform_(-1.0, 5.0, generator=gen)


def params(**changes) -> LIFParams:
    return LIFParams(tau_mem_ms=10.0, dt_ms=1.0).replace(**changes)


# --------------------------------------------------------------------------- structure


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("synapse", SYNAPSES)
def test_output_structure_shapes_and_dtype(dtype, synapse, x):
    out = LIF(params(), synapse=synapse)(x.to(dtype))
    assert type(out) is LIFOutput
    assert out._fields == ("spikes", "membrane", "state")
    assert type(out.state) is LIFState
    assert out.spikes.shape == (T, B, N)
    assert out.membrane.shape == (T, B, N)
    assert out.state.v.shape == (B, N)
    assert out.state.refractory_steps_left.shape == (B, N)
    for tensor in (out.spikes, out.membrane, out.state.v, out.state.refractory_steps_left):
        assert tensor.dtype == dtype
    assert set(out.spikes.unique().tolist()) <= {0.0, 1.0}
    assert out.spikes.sum() > 0


def test_output_structure_same_with_every_option(x):
    """The return structure never changes with flags (unlike snntorch)."""
    variants = [
        LIF(params(reset="none")),
        LIF(params(t_ref_ms=2.0), integrator="rk4", synapse="current"),
        LIF(params(), learn_tau=True, learn_threshold=True, n_neurons=N),
        LIF(params(), detach_reset=True, surrogate="atan"),
    ]
    for lif in variants:
        out = lif(x)
        assert type(out) is LIFOutput and type(out.state) is LIFState
        assert out.spikes.shape == out.membrane.shape == (T, B, N)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_cuda_matches_cpu(x):
    lif = LIF(params(t_ref_ms=2.0), learn_threshold=True, n_neurons=N)
    cpu = lif(x)
    lif_cuda = LIF(params(t_ref_ms=2.0), learn_threshold=True, n_neurons=N).cuda()
    gpu = lif_cuda(x.cuda())
    assert gpu.spikes.device.type == "cuda" and gpu.state.v.device.type == "cuda"
    assert torch.equal(gpu.spikes.cpu(), cpu.spikes)
    torch.testing.assert_close(gpu.membrane.cpu(), cpu.membrane, rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(gpu.state.v.cpu(), cpu.state.v, rtol=1e-12, atol=1e-12)


# --------------------------------------------------------------------------- no hidden state


def test_module_holds_no_state(x):
    lif = LIF(params(t_ref_ms=2.0))
    assert list(lif.buffers()) == []
    assert lif.state_dict() == {}
    first = lif(x)
    second = lif(x)
    for a, b in zip(first.spikes, second.spikes, strict=True):
        assert torch.equal(a, b)
    assert torch.equal(first.membrane, second.membrane)
    assert torch.equal(first.state.v, second.state.v)
    assert list(lif.buffers()) == []


@pytest.mark.parametrize("integrator", sorted(INTEGRATORS))
@pytest.mark.parametrize("reset", ["subtract", "zero", "none"])
def test_state_continues_a_sequence(integrator, reset, x):
    # t_ref = 3 steps so that refractory counters cross the split point
    lif = LIF(params(reset=reset, t_ref_ms=3.0), integrator=integrator)
    whole = lif(x)
    split = 23
    first = lif(x[:split])
    second = lif(x[split:], first.state)
    assert torch.equal(torch.cat([first.spikes, second.spikes]), whole.spikes)
    assert torch.equal(torch.cat([first.membrane, second.membrane]), whole.membrane)
    assert torch.equal(second.state.v, whole.state.v)
    assert torch.equal(second.state.refractory_steps_left, whole.state.refractory_steps_left)
    # the split hits neurons that are refractory, or the test would prove less
    if reset != "none":
        assert (first.state.refractory_steps_left > 0).any()


def test_explicit_resting_state_equals_default(x):
    p = params(v_rest=-0.3, v_reset=-0.5)
    lif = LIF(p)
    state = lif.init_state(B, N, dtype=torch.float64)
    assert torch.equal(state.v, torch.full((B, N), -0.3, dtype=torch.float64))
    assert torch.equal(lif(x, state).membrane, lif(x).membrane)


# --------------------------------------------------------------------------- integrators


@pytest.mark.parametrize(
    ("integrator", "decay"),
    [
        ("exact", lambda h: math.exp(-h)),
        ("euler", lambda h: 1.0 - h),
        ("rk4", lambda h: 1.0 - h + h**2 / 2 - h**3 / 6 + h**4 / 24),
    ],
)
def test_each_integrator_decays_an_impulse_by_its_own_factor(integrator, decay):
    """One delta input of weight w: V jumps by r_m*w/tau, then decays by the method's
    one-step factor, g^k."""
    p = params(tau_mem_ms=8.0, dt_ms=0.5, r_m=1.5, v_th=100.0, v_reset=0.0)
    xs = torch.zeros(12, 1, 1, dtype=torch.float64)
    xs[0] = 4.0
    out = LIF(p, integrator=integrator)(xs)
    g = decay(0.5 / 8.0)
    expected = 1.5 * 4.0 / 8.0 * g ** torch.arange(12, dtype=torch.float64)
    torch.testing.assert_close(out.membrane.flatten(), expected, rtol=1e-13, atol=0)


def test_integrators_agree_closely_for_small_steps(gen):
    current = torch.empty(400, 2, 5, dtype=torch.float64).uniform_(0.0, 1.5, generator=gen)
    p = params(tau_mem_ms=20.0, dt_ms=0.05, v_th=10.0)  # subthreshold: compare smooth traces
    exact = LIF(p, integrator="exact", synapse="current")(current).membrane
    rk4 = LIF(p, integrator="rk4", synapse="current")(current).membrane
    euler = LIF(p, integrator="euler", synapse="current")(current).membrane
    assert (rk4 - exact).abs().max() < 1e-10
    err_euler = (euler - exact).abs().max()
    assert 1e-6 < err_euler < 1e-2


@pytest.mark.parametrize(
    ("kwargs", "valid"),
    [
        ({"integrator": "midpoint"}, INTEGRATORS),
        ({"integrator": "Exact"}, INTEGRATORS),
        ({"synapse": "conductance"}, SYNAPSES),
        ({"surrogate": "heaviside"}, SURROGATES),
    ],
)
def test_unknown_name_lists_valid_names(kwargs, valid):
    with pytest.raises(ValueError, match="unknown") as info:
        LIF(params(), **kwargs)
    for name in valid:
        assert repr(name) in str(info.value) or name in str(info.value)


def test_euler_refuses_unstable_step():
    with pytest.raises(ValueError, match="dt_ms"):
        LIF(params(tau_mem_ms=1.0, dt_ms=2.0), integrator="euler")
    LIF(params(tau_mem_ms=1.0, dt_ms=2.0), integrator="exact")  # exact is fine


def test_refractory_not_a_whole_number_of_steps_is_refused():
    with pytest.raises(ValueError, match="t_ref_ms"):
        LIF(params(t_ref_ms=2.5, dt_ms=1.0))


# --------------------------------------------------------------------------- learnable


def _spike_count_loss(lif: LIF, xs: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
    weights = torch.randn(xs.shape[1:], generator=gen, dtype=xs.dtype)
    return (lif(xs).spikes.sum(0) * weights).sum()


@pytest.mark.parametrize("n_neurons", [None, N])
def test_learnable_tau_and_threshold(n_neurons, x, gen):
    lif = LIF(params(), learn_tau=True, learn_threshold=True, n_neurons=n_neurons)
    named = dict(lif.named_parameters())
    assert set(named) == {"log_tau_mem_ms", "v_th"}
    assert any(p is lif.log_tau_mem_ms for p in lif.parameters())
    assert any(p is lif.v_th for p in lif.parameters())
    shape = () if n_neurons is None else (N,)
    assert lif.log_tau_mem_ms.shape == shape and lif.v_th.shape == shape
    torch.testing.assert_close(lif.tau_mem_ms, torch.full(shape, 10.0))
    torch.testing.assert_close(lif.v_th.detach(), torch.full(shape, 1.0))

    _spike_count_loss(lif, x, gen).backward()
    for p in (lif.log_tau_mem_ms, lif.v_th):
        assert p.grad is not None and p.grad.shape == shape
        assert torch.isfinite(p.grad).all()
        assert (p.grad != 0).all()


def test_learnable_module_matches_fixed_module_at_init(x):
    fixed = LIF(params())(x)
    learn = LIF(params(), learn_tau=True, learn_threshold=True, n_neurons=N)(x)
    assert torch.equal(fixed.spikes, learn.spikes)
    torch.testing.assert_close(fixed.membrane, learn.membrane, rtol=1e-6, atol=1e-6)


def test_non_learnable_module_has_no_parameters():
    assert list(LIF(params()).parameters()) == []


def test_tau_stays_positive_after_a_large_gradient_step(x, gen):
    lif = LIF(params(), learn_tau=True, n_neurons=N)
    _spike_count_loss(lif, x, gen).backward()
    grad = lif.log_tau_mem_ms.grad
    assert torch.isfinite(grad).all() and (grad != 0).all()
    assert (grad > 0).any()  # some neurons are pushed towards smaller tau
    # Adam's first step moves every log-tau by lr = 20 against its gradient; a tau
    # parameterised directly and moved as far (10 ms -> 10 - 20 ms) would be negative
    torch.optim.Adam(lif.parameters(), lr=20.0).step()
    tau = lif.tau_mem_ms.detach()
    assert (tau > 0).all() and torch.isfinite(tau).all()
    assert (tau[grad > 0] < 10.0 * math.exp(-19.0)).all()
    assert (tau[grad < 0] > 10.0 * math.exp(19.0)).all()
    out = lif(x)
    assert torch.isfinite(out.membrane).all()


def test_learned_tau_cannot_make_euler_silently_unstable():
    lif = LIF(params(), integrator="euler", learn_tau=True)
    with torch.no_grad():
        lif.log_tau_mem_ms.fill_(math.log(0.25))  # dt/tau = 4: factor 1 - 4 = -3 per step
    xs = torch.zeros(20, 1, 1)
    xs[0] = -0.25  # one jump to V = -1, below threshold; no input afterwards
    try:
        out = lif(xs)
    except ValueError as err:  # refusing is fine
        assert "tau" in str(err) or "dt_ms" in str(err)
        return
    # otherwise the membrane must relax towards rest, never exceed its first excursion
    assert out.membrane.abs().max() <= 1.0 + 1e-6, out.membrane.flatten().tolist()[:6]


def test_n_neurons_mismatch_and_bad_values(x):
    with pytest.raises(ValueError, match="neurons"):
        LIF(params(), learn_threshold=True, n_neurons=N + 1)(x)
    for bad in (0, -2, 2.0, True):
        with pytest.raises(ValueError, match="n_neurons"):
            LIF(params(), n_neurons=bad)


# --------------------------------------------------------------------------- refractoriness


@pytest.mark.parametrize("integrator", sorted(INTEGRATORS))
@pytest.mark.parametrize("reset", ["subtract", "zero"])
def test_refractory_period_spacing_and_hold(integrator, reset):
    dt = 0.5
    p = params(dt_ms=dt, t_ref_ms=3 * dt, reset=reset, v_reset=-0.2)
    xs = torch.full((40, 2, 3), 15.0, dtype=torch.float64)  # jump 1.5 per step >= v_th
    out = LIF(p, integrator=integrator)(xs)
    spike_steps = out.spikes[:, 0, 0].nonzero().flatten()
    assert spike_steps.tolist() == list(range(0, 40, 4))
    assert torch.equal(out.spikes, out.spikes[:, :1, :1].expand_as(out.spikes))
    for t in spike_steps.tolist()[:-1]:
        post = (
            out.membrane[t] - (p.v_th - p.v_reset)
            if reset == "subtract"
            else (torch.full_like(out.membrane[t], p.v_reset))
        )
        torch.testing.assert_close(out.membrane[t + 1], post, rtol=0, atol=1e-15)
        for held in (t + 2, t + 3):  # held bit for bit
            assert torch.equal(out.membrane[held], out.membrane[t + 1])
        assert (out.spikes[t + 1 : t + 4] == 0).all()
        assert not torch.equal(out.membrane[t + 4], out.membrane[t + 3])  # free again


def test_refractory_neuron_ignores_input():
    p = params(t_ref_ms=2.0)
    xs = torch.zeros(5, 1, 1, dtype=torch.float64)
    xs[0] = 12.0  # spike at step 0, post-reset 0.2
    xs[1] = 50.0  # arrives during the refractory period: ignored
    out = LIF(p)(xs)
    assert out.spikes.flatten().tolist() == [1.0, 0.0, 0.0, 0.0, 0.0]
    torch.testing.assert_close(
        out.membrane[1:3].flatten(), torch.tensor([0.2, 0.2], dtype=torch.float64)
    )


# --------------------------------------------------------------------------- reset modes


@pytest.mark.parametrize("reset", ["subtract", "zero", "none"])
@pytest.mark.parametrize("integrator", sorted(INTEGRATORS))
def test_reset_modes_step_by_step(reset, integrator, x):
    p = params(v_rest=0.1, v_reset=-0.3, v_th=1.2, reset=reset)
    state = init_lif_state((B, N), p, dtype=torch.float64)
    n_spikes = 0
    for x_t in x:
        spikes, v_pre, new = lif_step(x_t, state, p, integrator=integrator)
        assert torch.equal(spikes, (v_pre >= p.v_th).to(spikes.dtype))
        fired = spikes > 0
        n_spikes += int(fired.sum())
        if reset == "subtract":
            expected = torch.where(fired, v_pre - (p.v_th - p.v_reset), v_pre)
            torch.testing.assert_close(new.v, expected, rtol=0, atol=1e-14)
        elif reset == "zero":
            assert torch.equal(new.v[fired], torch.full_like(new.v[fired], p.v_reset))
            assert torch.equal(new.v[~fired], v_pre[~fired])
        else:
            assert torch.equal(new.v, v_pre)
        state = new
    assert n_spikes > 10


def test_zero_reset_sets_v_reset_exactly(x):
    p = params(v_reset=-0.3, reset="zero")
    out = LIF(p)(x[:1] * 10.0)  # every neuron with a positive input spikes in step 0
    fired = out.spikes[0] > 0
    assert fired.sum() > 10
    assert torch.equal(out.state.v[fired], torch.full_like(out.state.v[fired], -0.3))


@pytest.mark.parametrize("reset", ["subtract", "zero", "none"])
def test_recorded_membrane_is_pre_reset(reset, x):
    out = LIF(params(reset=reset, v_th=0.8, v_reset=-0.1))(x)
    fired = out.spikes > 0
    assert fired.any()
    assert (out.membrane[fired] >= 0.8).all()
    assert (out.membrane[~fired] < 0.8).all()


def test_lif_step_docstring_example():
    p = LIFParams(tau_mem_ms=10.0)
    spk, v, s1 = lif_step(torch.tensor([[12.0]]), init_lif_state((1, 1), p), p)
    assert spk.item() == 1.0
    assert v.item() == pytest.approx(1.2)
    assert s1.v.item() == pytest.approx(0.2, abs=1e-6)


def test_detach_reset_keeps_forward_changes_backward(x, gen):
    weights = torch.rand(T, B, N, generator=gen, dtype=torch.float64)
    outs, grads = [], []
    for detach in (False, True):
        xi = x.clone().requires_grad_(True)
        out = LIF(params(), detach_reset=detach)(xi)
        (out.spikes * weights).sum().backward()
        outs.append(out)
        grads.append(xi.grad)
    assert torch.equal(outs[0].spikes, outs[1].spikes)
    assert torch.equal(outs[0].membrane, outs[1].membrane)
    assert not torch.allclose(grads[0], grads[1])


# --------------------------------------------------------------------------- bad input


@pytest.mark.parametrize(
    ("bad", "error", "match"),
    [
        (torch.zeros(4, 3), ValueError, r"\[T, B, \*shape\]"),
        (torch.zeros(4), ValueError, r"\[T, B, \*shape\]"),
        (torch.zeros(4, 2, 3, dtype=torch.int64), TypeError, "floating"),
        (torch.zeros(4, 2, 3, dtype=torch.bool), TypeError, "floating"),
        (torch.zeros(0, 2, 3), ValueError, "empty"),
        (torch.zeros(4, 0, 3), ValueError, "empty"),
        (torch.zeros(4, 2, 0), ValueError, "empty"),
        (torch.tensor([[[0.0, math.nan]]]), ValueError, "NaN"),
        (torch.tensor([[[0.0, math.inf]]]), ValueError, "infinite"),
        (torch.tensor([[[-math.inf]]]), ValueError, "infinite"),
        ([[[0.0]]], TypeError, "torch.Tensor"),
    ],
)
def test_bad_input_is_refused_with_a_message(bad, error, match):
    with pytest.raises(error, match=match):
        LIF(params())(bad)


@pytest.mark.parametrize(
    "state",
    [
        LIFState(torch.zeros(B + 1, N, dtype=torch.float64), torch.zeros(B + 1, N)),
        LIFState(torch.zeros(B, N - 1, dtype=torch.float64), torch.zeros(B, N - 1)),
        LIFState(torch.zeros(N, dtype=torch.float64), torch.zeros(N)),
        LIFState(torch.zeros(B, N, dtype=torch.float32), torch.zeros(B, N)),
    ],
    ids=["batch", "neurons", "ndim", "dtype"],
)
def test_state_of_wrong_shape_or_dtype_is_refused(state, x):
    with pytest.raises(ValueError, match="state"):
        LIF(params())(x, state)


@pytest.mark.parametrize("t_ref_ms", [0.0, 2.0])
def test_state_with_wrong_refractory_shape_is_refused(t_ref_ms, x):
    state = LIFState(
        torch.zeros(B, N, dtype=torch.float64), torch.zeros(B + 1, N, dtype=torch.float64)
    )
    try:
        LIF(params(t_ref_ms=t_ref_ms))(x, state)
    except ValueError as err:
        assert "state" in str(err) or "refractory" in str(err)
    except Exception as err:  # any other error is the bug
        raise AssertionError(f"unclear error {type(err).__name__}: {err}") from err
    else:
        raise AssertionError("wrong-shaped refractory_steps_left was accepted")


def test_tensor_as_state_is_refused_with_a_message(x):
    try:
        LIF(params())(x, torch.zeros(B, N, dtype=torch.float64))
    except (TypeError, ValueError) as err:
        assert "state" in str(err) and "LIFState" in str(err)
    except Exception as err:  # any other error is the bug
        raise AssertionError(f"unclear error {type(err).__name__}: {err}") from err
    else:
        raise AssertionError("a bare tensor was accepted as state")


def test_params_of_wrong_type_is_refused():
    with pytest.raises(TypeError, match="LIFParams"):
        LIF({"tau_mem_ms": 10.0})  # type: ignore[arg-type]


# --------------------------------------------------------------------------- training


def test_linear_lif_layer_learns_to_prefer_neuron_zero(gen):
    t_steps, batch, n_in = 30, 16, 20
    spikes_in = (torch.rand(t_steps, batch, n_in, generator=gen) < 0.2).float()
    linear = torch.nn.utils.skip_init(nn.Linear, n_in, 2)  # no draw from the global RNG
    with torch.no_grad():
        linear.weight.copy_(torch.empty(2, n_in).uniform_(0.0, 4.0, generator=gen))
        linear.bias.zero_()
    lif = LIF(LIFParams(tau_mem_ms=10.0, dt_ms=1.0), surrogate=FastSigmoid(10.0))
    optimiser = torch.optim.Adam(linear.parameters(), lr=0.05)

    def counts() -> torch.Tensor:
        out = lif(linear(spikes_in))
        return out.spikes.sum(0)  # [batch, 2]

    def loss_fn(c: torch.Tensor) -> torch.Tensor:
        target = torch.tensor([0.5 * t_steps, 0.0])
        return ((c - target) ** 2).mean()

    with torch.no_grad():
        c0 = counts()
    initial_loss = loss_fn(c0).item()
    for _ in range(30):
        optimiser.zero_grad()
        loss = loss_fn(counts())
        loss.backward()
        optimiser.step()
    with torch.no_grad():
        c1 = counts()
    assert loss_fn(c1).item() < 0.5 * initial_loss
    assert (c1[:, 0] > c1[:, 1]).float().mean() > 0.9
    assert c1[:, 0].mean() > c0[:, 0].mean() or c1[:, 1].mean() < c0[:, 1].mean()


def test_lif_sequence_refuses_an_unknown_option_in_one_line():
    from spikerec import lif_sequence

    p = LIFParams(tau_mem_ms=10.0)
    x = torch.zeros(3, 1, 2)
    with pytest.raises(TypeError, match=r"unknown option\(s\) x_mid; valid: integrator"):
        lif_sequence(x, init_lif_state((1, 2), p), p, x_mid=x[0])
    with pytest.raises(ValueError, match="unknown synapse"):
        lif_sequence(x, init_lif_state((1, 2), p), p, synapse="alpha")
    spikes, _, _ = lif_sequence(x + 12.0, init_lif_state((1, 2), p), p, integrator="rk4")
    assert spikes[0].tolist() == [[1.0, 1.0]]

"""spikerec.LIF <-> snntorch.Leaky conversion: identical spikes both ways, or a refusal.

Everything runs in float64 on random input sequences; spikes must be equal and
membranes agree to round-off. The input regime of each test is stated where it matters
(snntorch 1.0's non-delayed subtract reset is exact only while a reset brings the
membrane below threshold).
"""

from __future__ import annotations

import math

import pytest
import snntorch as snn
import torch
from _snntorch_run import run_snntorch
from snntorch import surrogate as snn_surrogate

from spikerec import LIF, ATan, FastSigmoid, LIFParams, Triangle
from spikerec.interop import from_snntorch, snntorch_input_gain, to_snntorch

F64 = torch.float64
T, B, N = 200, 4, 8
TAU_MS, DT_MS, V_TH, R_M = 10.0, 1.0, 1.0, 2.0


@pytest.fixture
def gen() -> torch.Generator:
    return torch.Generator().manual_seed(11)


@pytest.fixture
def jumps(gen) -> torch.Tensor:
    """Per-step voltage jumps [T, B, N] in [-0.3, 0.6): a reset always ends below v_th."""
    return torch.empty(T, B, N, dtype=F64).uniform_(-0.3, 0.6, generator=gen)


@pytest.fixture
def big_jumps(gen) -> torch.Tensor:
    """Jumps [T, B, N] in [-0.5, 2.5): single steps of more than twice the threshold."""
    return torch.empty(T, B, N, dtype=F64).uniform_(-0.5, 2.5, generator=gen)


def run_leaky(leaky: snn.Leaky, inputs: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Step a Leaky with explicit state from 0; spikes (float64) and mem, both [T, B, N]."""
    spikes, mems = run_snntorch(leaky, inputs)
    return spikes.to(F64), mems


def post_reset(out, params: LIFParams, v_th: float | torch.Tensor = V_TH) -> torch.Tensor:
    """spikerec's post-reset membrane [T, B, N] from its pre-reset trace."""
    if params.reset == "subtract":
        return out.membrane - (v_th - params.v_reset) * out.spikes
    if params.reset == "zero":
        return torch.where(
            out.spikes > 0, torch.full_like(out.membrane, params.v_reset), out.membrane
        )
    return out.membrane


def assert_spiking(spikes: torch.Tensor) -> None:
    assert 0.05 * spikes.numel() < spikes.sum() < 0.95 * spikes.numel()


def assert_one_line(error: pytest.ExceptionInfo) -> None:
    assert str(error.value) and "\n" not in str(error.value)


# --------------------------------------------------------------------------- spikerec -> snntorch


@pytest.mark.parametrize("integrator", ["exact", "euler", "rk4"])
@pytest.mark.parametrize("reset", ["subtract", "zero", "none"])
def test_to_snntorch_same_spikes(integrator, reset, jumps):
    params = LIFParams(tau_mem_ms=TAU_MS, dt_ms=DT_MS, v_th=V_TH, r_m=R_M, reset=reset)
    lif = LIF(params, integrator=integrator)
    x = jumps * TAU_MS / R_M  # summed weights whose jumps are `jumps`
    out = lif(x)
    leaky = to_snntorch(lif)
    gain = snntorch_input_gain(lif)
    assert gain == pytest.approx(R_M / TAU_MS, rel=1e-15)
    assert leaky.reset_delay is False
    spk, mem = run_leaky(leaky, gain * x)

    assert_spiking(out.spikes)
    assert torch.equal(out.spikes, spk)
    torch.testing.assert_close(mem, post_reset(out, params), rtol=0, atol=1e-12)


def test_to_snntorch_beta_is_the_integrators_decay():
    params = LIFParams(tau_mem_ms=TAU_MS, dt_ms=DT_MS)
    assert float(to_snntorch(LIF(params)).beta) == pytest.approx(math.exp(-0.1), rel=1e-15)
    assert float(to_snntorch(LIF(params, integrator="euler")).beta) == pytest.approx(0.9, rel=1e-15)


def test_to_snntorch_shifted_reset_uses_the_delayed_reset(big_jumps):
    """Subtract with v_reset = v_th - v_th/beta is snntorch's default reset_delay=True,
    exact for any input size; its mem is spikerec's pre-reset membrane."""
    beta = math.exp(-DT_MS / TAU_MS)
    params = LIFParams(tau_mem_ms=TAU_MS, dt_ms=DT_MS, r_m=R_M, v_reset=V_TH - V_TH / beta)
    lif = LIF(params)
    x = big_jumps * TAU_MS / R_M
    out = lif(x)
    leaky = to_snntorch(lif)
    assert leaky.reset_delay is True
    spk, mem = run_leaky(leaky, snntorch_input_gain(lif) * x)
    assert_spiking(out.spikes)
    assert torch.equal(out.spikes, spk)
    torch.testing.assert_close(mem, out.membrane, rtol=0, atol=1e-12)


def test_to_snntorch_current_synapse(gen):
    params = LIFParams(tau_mem_ms=TAU_MS, dt_ms=DT_MS, r_m=R_M, reset="zero")
    lif = LIF(params, synapse="current")
    current = torch.empty(T, B, N, dtype=F64).uniform_(-0.5, 2.0, generator=gen)
    out = lif(current)
    gain = snntorch_input_gain(lif)
    assert gain == pytest.approx(R_M * (1 - math.exp(-0.1)), rel=1e-14)
    spk, mem = run_leaky(to_snntorch(lif), gain * current)
    assert_spiking(out.spikes)
    assert torch.equal(out.spikes, spk)
    torch.testing.assert_close(mem, post_reset(out, params), rtol=0, atol=1e-12)


def test_to_snntorch_per_neuron_tau_and_threshold(jumps):
    # zero reset: per-neuron jumps may exceed twice the threshold (the subtract quirk)
    params = LIFParams(tau_mem_ms=TAU_MS, dt_ms=DT_MS, r_m=R_M, reset="zero")
    lif = LIF(params, learn_tau=True, learn_threshold=True, n_neurons=N).to(F64)
    with torch.no_grad():
        lif.log_tau_mem_ms.copy_(torch.linspace(math.log(3.0), math.log(30.0), N, dtype=F64))
        lif.v_th.copy_(torch.linspace(0.6, 1.4, N, dtype=F64))
    x = jumps * 3.0
    out = lif(x)
    leaky = to_snntorch(lif)
    gain = snntorch_input_gain(lif)
    assert gain.shape == (N,) and leaky.beta.shape == (N,)
    assert isinstance(leaky.threshold, torch.nn.Parameter)  # learnable threshold stays so
    spk, mem = run_leaky(leaky, gain * x)
    assert_spiking(out.spikes)
    assert torch.equal(out.spikes, spk)
    torch.testing.assert_close(mem, post_reset(out, params, lif.v_th.detach()), rtol=0, atol=1e-12)


@pytest.mark.parametrize(
    ("surrogate", "expected"),
    [(FastSigmoid(slope=10.0), snn_surrogate.fast_sigmoid(slope=10.0)), (ATan(3.0), None)],
)
def test_to_snntorch_surrogate_gives_the_same_gradient(surrogate, expected, jumps, gen):
    lif = LIF(LIFParams(tau_mem_ms=TAU_MS, dt_ms=DT_MS, r_m=R_M), surrogate=surrogate)
    weights = torch.rand(T, B, N, generator=gen, dtype=F64)
    x_ours = (jumps * TAU_MS / R_M).requires_grad_(True)
    (lif(x_ours).spikes * weights).sum().backward()
    x_theirs = (jumps * TAU_MS / R_M).requires_grad_(True)
    spk, _ = run_leaky(to_snntorch(lif), snntorch_input_gain(lif) * x_theirs)
    (spk * weights).sum().backward()
    assert x_ours.grad.abs().max() > 1e-3
    # snntorch's surrogate backward runs in float32 (its spikes are float32)
    torch.testing.assert_close(x_ours.grad, x_theirs.grad, rtol=1e-5, atol=1e-7)


def test_threshold_ties_differ_as_documented():
    """spikerec fires on V >= v_th, snntorch on mem > threshold: a jump landing exactly
    on the threshold is a spike in one and not the other."""
    lif = LIF(LIFParams(tau_mem_ms=TAU_MS, dt_ms=DT_MS, r_m=R_M, reset="zero"))
    x = torch.tensor([1.0, 0.0], dtype=F64).reshape(2, 1, 1) * TAU_MS / R_M  # jump of 1.0
    assert lif(x).spikes.flatten().tolist() == [1.0, 0.0]
    spk, _ = run_leaky(to_snntorch(lif), snntorch_input_gain(lif) * x)
    assert spk.flatten().tolist() == [0.0, 0.0]


def test_non_delayed_subtract_quirk_beyond_twice_threshold():
    """The documented limit of the reset_delay=False mapping: after a reset that leaves
    mem >= threshold, snntorch 1.0 holds the neuron above threshold without firing."""
    lif = LIF(LIFParams(tau_mem_ms=TAU_MS, dt_ms=DT_MS, r_m=R_M))
    x = torch.tensor([2.5, 0.0, 0.0], dtype=F64).reshape(3, 1, 1) * TAU_MS / R_M
    ours = lif(x).spikes.flatten().tolist()
    spk, _ = run_leaky(to_snntorch(lif), snntorch_input_gain(lif) * x)
    assert ours == [1.0, 1.0, 0.0]
    if spk.flatten().tolist() != ours:  # a later snntorch may have fixed it
        assert spk.flatten().tolist() == [1.0, 0.0, 0.0]


def test_to_snntorch_refusals_are_one_line():
    base = LIFParams(tau_mem_ms=TAU_MS, dt_ms=DT_MS)
    cases = [
        (LIF(base.replace(v_rest=0.1)), "v_rest"),
        (LIF(base.replace(t_ref_ms=2.0)), "refractory"),
        (LIF(base.replace(reset="zero", v_reset=-0.5)), "zero reset"),
        (LIF(base.replace(v_reset=-0.3)), "v_reset=-0.3"),
        (LIF(LIFParams(tau_mem_ms=1.0, dt_ms=1.5), integrator="euler"), "decay per step"),
        (LIF(base, surrogate=Triangle()), "no snntorch equivalent"),
        (
            LIF(base.replace(v_reset=V_TH - V_TH / math.exp(-0.1)), learn_threshold=True),
            "learnable",
        ),
    ]
    for lif, text in cases:
        with pytest.raises(ValueError, match=text) as error:
            to_snntorch(lif)
        assert_one_line(error)
    with pytest.raises(TypeError, match="spikerec.LIF"):
        to_snntorch(snn.Leaky(beta=0.9))
    # an explicit spike_grad lifts the surrogate refusal
    assert isinstance(
        to_snntorch(LIF(base, surrogate=Triangle()), spike_grad=snn_surrogate.atan()), snn.Leaky
    )


# --------------------------------------------------------------------------- snntorch -> spikerec


def f64(value) -> torch.Tensor:
    return torch.as_tensor(value, dtype=F64)


@pytest.mark.parametrize(
    ("reset", "delay", "big"),
    [
        ("subtract", False, False),
        ("zero", False, True),
        ("none", False, False),
        ("subtract", True, True),
        ("zero", True, True),
        ("none", True, False),
    ],
)
def test_from_snntorch_same_spikes(reset, delay, big, jumps, big_jumps):
    leaky = snn.Leaky(beta=f64(0.85), threshold=f64(1.25), reset_mechanism=reset, reset_delay=delay)
    x = big_jumps if big else jumps
    lif = from_snntorch(leaky, dt_ms=0.5)
    assert lif.params.tau_mem_ms == pytest.approx(-0.5 / math.log(0.85), rel=1e-14)
    assert lif.params.r_m == lif.params.tau_mem_ms  # unit input gain
    out = lif(x)
    spk, mem = run_leaky(leaky, x)
    assert_spiking(out.spikes)
    assert torch.equal(out.spikes, spk)
    expected = out.membrane if delay else post_reset(out, lif.params, 1.25)
    torch.testing.assert_close(mem, expected, rtol=0, atol=1e-12)


@pytest.mark.parametrize("learnable", [False, True])
def test_from_snntorch_per_neuron_threshold(learnable, jumps):
    threshold = torch.linspace(0.7, 1.5, N, dtype=F64)  # jumps < 0.6: no subtract quirk
    leaky = snn.Leaky(
        beta=f64(0.9), threshold=threshold, learn_threshold=learnable, reset_delay=False
    )
    lif = from_snntorch(leaky)
    assert lif.v_th is not None and lif.v_th.requires_grad is learnable
    out = lif(jumps)
    spk, mem = run_leaky(leaky, jumps)
    assert_spiking(out.spikes)
    assert torch.equal(out.spikes, spk)
    torch.testing.assert_close(mem, post_reset(out, lif.params, threshold), rtol=0, atol=1e-12)


def test_round_trips(jumps):
    lif = LIF(LIFParams(tau_mem_ms=TAU_MS, dt_ms=DT_MS, r_m=R_M))
    again = from_snntorch(to_snntorch(lif), dt_ms=DT_MS)
    assert again.params.tau_mem_ms == pytest.approx(TAU_MS, rel=1e-14)
    x = jumps * TAU_MS / R_M
    # same spikes when fed the gain-scaled input the Leaky takes
    assert torch.equal(lif(x).spikes, again(snntorch_input_gain(lif) * x).spikes)

    leaky = snn.Leaky(beta=f64(0.8), threshold=f64(0.7), reset_mechanism="zero")
    back = to_snntorch(from_snntorch(leaky))
    assert float(back.beta) == pytest.approx(0.8, rel=1e-15)
    assert float(back.threshold) == 0.7 and back.reset_mechanism == "zero"
    assert back.reset_delay is False  # zero reset: both delays are the same neuron


def test_from_snntorch_refusals_are_one_line():
    cases = [
        (snn.Leaky(beta=0.9, learn_beta=True), "learn_beta"),
        (snn.Leaky(beta=torch.tensor([0.8, 0.9])), "per-neuron beta"),
        (snn.Leaky(beta=1.0), "must be in \\(0, 1\\)"),
        (snn.Leaky(beta=0.0), "must be in \\(0, 1\\)"),
        (snn.Leaky(beta=0.9, graded_spikes_factor=2.0), "graded_spikes_factor"),
        (snn.Leaky(beta=0.9, threshold=torch.tensor([1.0, 2.0])), "per-neuron or learnable"),
        (snn.Leaky(beta=0.9, threshold=-1.0, reset_delay=False), "must be >"),
    ]
    with pytest.warns(UserWarning, match="Inhibition"):
        cases.append((snn.Leaky(beta=0.9, inhibition=True), "inhibition"))
    for leaky, text in cases:
        with pytest.raises(ValueError, match=text) as error:
            from_snntorch(leaky)
        assert_one_line(error)
    with pytest.raises(TypeError, match="snntorch.Leaky"):
        from_snntorch(snn.Synaptic(alpha=0.9, beta=0.8))
    with pytest.raises(TypeError, match="snntorch.Leaky"):
        from_snntorch(LIF())


def test_float64_subtract_reset_is_exact_through_to_snntorch(jumps):
    """A threshold that is no float32 number (1.2): a plain float64 Leaky subtracts
    float32(1.2) at each reset (its spikes are float32); to_snntorch's Leaky does not."""
    params = LIFParams(tau_mem_ms=TAU_MS, dt_ms=DT_MS, r_m=R_M, v_th=1.2)
    lif = LIF(params)
    x = jumps * TAU_MS / R_M
    out = lif(x)
    gain = snntorch_input_gain(lif)
    spk, mem = run_leaky(to_snntorch(lif), gain * x)
    assert_spiking(out.spikes)
    assert torch.equal(out.spikes, spk)
    torch.testing.assert_close(mem, post_reset(out, params, 1.2), rtol=0, atol=1e-12)

    plain = snn.Leaky(beta=f64(math.exp(-0.1)), threshold=f64(1.2), reset_delay=False)
    _, plain_mem = run_leaky(plain, gain * x)
    error = (plain_mem - post_reset(out, params, 1.2)).abs().max()
    assert 1e-8 < error < 1e-5  # float32 rounding of 1.2 is 4.8e-8 per reset

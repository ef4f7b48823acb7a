"""Output heads and decoders: hand-built spike patterns for every decoding rule, the
silent-layer fallback, the heads' output structure, and the fused LIF path against
the step-by-step reference on a LIF head driven by V4 spikes."""

from __future__ import annotations

import pytest
import torch
from torch import nn

import spikerec.lif.fused
from spikerec import INTEGRATORS, LIF
from spikerec.lif.fused import lif_sequence_fused
from spikerec.lif.integrators import get_integrator
from spikerec.lif.params import RESET_MODES, LIFParams
from spikerec.lif.step import init_lif_state, lif_sequence
from spikerec.lif.surrogates import FastSigmoid
from spikerec.recognition.decoders import DECODERS, Decoded, decode
from spikerec.recognition.frontend import V4_UNITS
from spikerec.recognition.heads import (
    DEFAULT_HEAD_PARAMS,
    AnalogSoftmaxHead,
    HeadOutput,
    LIFHead,
    RateSoftmaxHead,
)

T, C = 6, 5


def blank(batch: int = 1) -> tuple[torch.Tensor, torch.Tensor]:
    return torch.zeros(T, batch, C), torch.zeros(T, batch, C)


# ------------------------------------------------------------------------- decoders


def test_decoder_names():
    assert DECODERS == ("count", "max-membrane", "first-spike")


def test_count_most_spikes_wins():
    spikes, membrane = blank()
    spikes[[0, 2, 4], 0, 3] = 1  # class 3: 3 spikes
    spikes[[1, 3], 0, 1] = 1  # class 1: 2 spikes
    membrane[:, 0, 1] = 5.0  # class 1 has by far the highest membrane: must not matter
    out = decode(spikes, membrane, "count")
    assert isinstance(out, Decoded)
    assert out.prediction.tolist() == [3]
    assert out.prediction.dtype == torch.int64
    assert out.silent.tolist() == [False]


def test_count_tie_broken_by_peak_membrane():
    spikes, membrane = blank(2)
    # Sample 0: classes 1 and 4 both spike twice; class 4 reached the higher peak.
    spikes[[0, 3], 0, 1] = 1
    spikes[[1, 5], 0, 4] = 1
    membrane[:, 0, 1] = torch.tensor([1.2, 0.3, 0.1, 1.1, 0.2, 0.0])
    membrane[:, 0, 4] = torch.tensor([0.5, 1.3, 0.2, 0.1, 0.4, 1.05])
    # A class with fewer spikes but the highest peak of all must not win the tie.
    spikes[2, 0, 0] = 1
    membrane[2, 0, 0] = 9.0
    # Sample 1: the same tie with the peaks the other way round.
    spikes[:, 1] = spikes[:, 0]
    membrane[:, 1] = membrane[:, 0]
    membrane[4, 1, 1] = 2.0
    out = decode(spikes, membrane, "count")
    assert out.prediction.tolist() == [4, 1]
    assert out.silent.tolist() == [False, False]


def test_max_membrane_ignores_spikes():
    spikes, membrane = blank()
    spikes[:, 0, 0] = 1  # class 0 spikes every step
    membrane[:, 0, 0] = 1.0
    membrane[3, 0, 2] = 1.7  # class 2 peaks higher (a hand-made record: no spike needed)
    out = decode(spikes, membrane, "max-membrane")
    assert out.prediction.tolist() == [2]
    assert out.silent.tolist() == [False]


def test_first_spike_earliest_wins_ties_by_membrane():
    spikes, membrane = blank(2)
    # Sample 0: class 2 spikes first (step 1) although class 0 spikes more often later.
    spikes[1, 0, 2] = 1
    spikes[[2, 3, 4, 5], 0, 0] = 1
    membrane[:, 0, 0] = 3.0
    membrane[1, 0, 2] = 1.0
    # Sample 1: classes 1 and 3 both first spike at step 2; class 3's membrane peaks higher.
    spikes[2, 1, 1] = 1
    spikes[2, 1, 3] = 1
    membrane[2, 1, 1] = 1.1
    membrane[2, 1, 3] = 1.4
    membrane[5, 1, 4] = 5.0  # silent class with a high membrane: not among the earliest
    out = decode(spikes, membrane, "first-spike")
    assert out.prediction.tolist() == [2, 3]
    assert out.silent.tolist() == [False, False]


@pytest.mark.parametrize("method", DECODERS)
def test_silent_layer_is_never_scored_as_class_0(method):
    spikes, membrane = blank()
    membrane[:, 0, :] = torch.linspace(-0.5, 0.2, T).unsqueeze(1)  # all equal, low...
    membrane[4, 0, 3] = 0.9  # ...except class 3, which comes closest to threshold
    out = decode(spikes, membrane, method)
    assert out.prediction.tolist() == [3]
    assert out.silent.tolist() == [True]


def test_silent_flag_per_sample():
    spikes, membrane = blank(3)
    spikes[0, 1, 2] = 1
    membrane[1, 0, 4] = 0.5
    membrane[1, 2, 1] = 0.5
    out = decode(spikes, membrane)
    assert out.silent.tolist() == [True, False, True]
    assert out.prediction.tolist() == [4, 2, 1]


def test_unknown_decoder_lists_valid_names():
    spikes, membrane = blank()
    with pytest.raises(ValueError, match="nope") as info:
        decode(spikes, membrane, "nope")
    for name in DECODERS:
        assert name in str(info.value)


@pytest.mark.parametrize(
    "spike_shape, membrane_shape",
    [((T, 2, C), (T, 2, C + 1)), ((T, 2, C), (T + 1, 2, C)), ((2, C), (2, C)), ((T, 2, C), (2, C))],
)
def test_shape_mismatch_refused(spike_shape, membrane_shape):
    with pytest.raises(ValueError, match=r"\[T, B, C\]"):
        decode(torch.zeros(spike_shape), torch.zeros(membrane_shape))


# ------------------------------------------------------------------------------ heads


@pytest.fixture
def gen() -> torch.Generator:
    return torch.Generator().manual_seed(77)


def v4_spikes(gen, t=20, batch=16, n=V4_UNITS, rate=0.2, dtype=torch.float32) -> torch.Tensor:
    return (torch.rand(t, batch, n, generator=gen, dtype=dtype) < rate).to(dtype)


def test_lif_head_outputs_and_logits_are_spike_counts(gen):
    torch.manual_seed(0)
    head = LIFHead(10)
    with torch.no_grad():
        head.synapses.weight.mul_(40.0)  # make the output neurons fire sometimes
    out = head(v4_spikes(gen))
    assert isinstance(out, HeadOutput)
    assert out.logits.shape == (16, 10)
    assert out.spikes.shape == out.membrane.shape == (20, 16, 10)
    assert torch.equal(out.logits, out.spikes.sum(0))
    assert ((out.spikes == 0) | (out.spikes == 1)).all()
    assert 0 < out.spikes.sum() < out.spikes.numel()
    # Pre-reset membrane: every spike is a threshold crossing, every crossing a spike.
    assert torch.equal(out.spikes.bool(), out.membrane >= DEFAULT_HEAD_PARAMS.v_th)
    assert head.lif.fused and head.lif.synapse == "delta"


def test_lif_head_refuses_wrong_input_width(gen):
    head = LIFHead(10, n_inputs=3136)
    with pytest.raises(ValueError, match="100 units.*takes 3136"):
        head(v4_spikes(gen, n=100))


@pytest.mark.parametrize("head_cls", [RateSoftmaxHead, AnalogSoftmaxHead])
def test_softmax_heads_shapes(head_cls, gen):
    head = head_cls(7)
    if head_cls.spiking_input:
        x = v4_spikes(gen, t=8, batch=3)
        expected = head.linear(x.mean(0))
    else:
        x = torch.rand(3, V4_UNITS, generator=gen)
        expected = head.linear(x)
    out = head(x)
    assert isinstance(out, HeadOutput)
    assert out.logits.shape == (3, 7)
    assert out.spikes is None and out.membrane is None
    torch.testing.assert_close(out.logits, expected, rtol=0, atol=0)


def test_spiking_input_flags():
    assert LIFHead.spiking_input and RateSoftmaxHead.spiking_input
    assert not AnalogSoftmaxHead.spiking_input


def _head_pair(params, integrator, detach_reset, dtype, gen):
    synapses = nn.Linear(V4_UNITS, 10, dtype=dtype)
    with torch.no_grad():
        synapses.weight.copy_(torch.randn(10, V4_UNITS, generator=gen, dtype=dtype) * 0.4)
        synapses.bias.copy_(torch.randn(10, generator=gen, dtype=dtype) * 0.5)
    layers = [
        LIF(params, integrator=integrator, synapse="delta", detach_reset=detach_reset, fused=f)
        for f in (True, False)
    ]
    return synapses, layers


@pytest.mark.parametrize("integrator", list(INTEGRATORS))
@pytest.mark.parametrize("reset", RESET_MODES)
def test_fused_lif_forward_equals_reference_exactly(reset, integrator, gen):
    params = DEFAULT_HEAD_PARAMS.replace(reset=reset)
    synapses, (fused, reference) = _head_pair(params, integrator, False, torch.float32, gen)
    x = synapses(v4_spikes(gen))
    a, b = fused(x), reference(x)
    assert torch.equal(a.spikes, b.spikes)
    assert torch.equal(a.membrane, b.membrane)
    assert torch.equal(a.state.v, b.state.v)
    assert 0.02 < a.spikes.mean() < 0.98  # a meaningful mix of spiking and silence


GRADIENT_CASES = [(reset, "exact", detach) for reset in RESET_MODES for detach in (False, True)] + [
    ("subtract", name, False) for name in INTEGRATORS if name != "exact"
]


@pytest.fixture(params=["whole", "stepwise"])
def backward_path(request, monkeypatch):
    """Run the fused backward pass over all of [T, B, N] at once, or step by step."""
    threshold = 10**12 if request.param == "whole" else 0
    monkeypatch.setattr(spikerec.lif.fused, "STEPWISE_MIN_ELEMENTS", threshold)
    return request.param


@pytest.mark.parametrize("reset, integrator, detach_reset", GRADIENT_CASES)
def test_fused_lif_gradients_equal_reference(reset, integrator, detach_reset, gen, backward_path):
    dtype = torch.float64
    params = DEFAULT_HEAD_PARAMS.replace(reset=reset)
    synapses, (fused, reference) = _head_pair(params, integrator, detach_reset, dtype, gen)
    spikes_in = v4_spikes(gen, dtype=dtype)
    w_spk = torch.randn(20, 16, 10, generator=gen, dtype=dtype)
    w_mem = torch.randn(20, 16, 10, generator=gen, dtype=dtype)
    grads, outs = [], []
    for layer in (fused, reference):
        synapses.zero_grad(set_to_none=True)
        x_in = spikes_in.clone().requires_grad_()
        out = layer(synapses(x_in))
        loss = (out.spikes * w_spk).sum() + (out.membrane * w_mem).sum() + out.state.v.sum()
        loss.backward()
        outs.append(out)
        grads.append((synapses.weight.grad.clone(), synapses.bias.grad.clone(), x_in.grad))
    assert torch.equal(outs[0].spikes, outs[1].spikes)
    assert torch.equal(outs[0].membrane, outs[1].membrane)
    assert 0.02 < outs[0].spikes.mean() < 0.98
    for g_fused, g_ref in zip(grads[0], grads[1], strict=True):
        assert torch.isfinite(g_fused).all()
        assert g_ref.abs().max() > 0
        torch.testing.assert_close(g_fused, g_ref, rtol=1e-9, atol=1e-11)


def test_lif_head_fused_default_equals_reference_head(gen):
    torch.manual_seed(0)
    head = LIFHead(10).double()
    with torch.no_grad():
        head.synapses.weight.mul_(40.0)
    ref = LIFHead(10).double()
    ref.load_state_dict(head.state_dict())
    ref.lif.fused = False
    spikes_in = v4_spikes(gen, dtype=torch.float64)
    a, b = head(spikes_in), ref(spikes_in)
    assert torch.equal(a.logits, b.logits) and torch.equal(a.membrane, b.membrane)
    labels = torch.arange(16) % 10
    for out in (a, b):
        nn.functional.cross_entropy(out.logits, labels).backward()
    torch.testing.assert_close(
        head.synapses.weight.grad, ref.synapses.weight.grad, rtol=1e-9, atol=1e-12
    )
    assert head.synapses.weight.grad.abs().max() > 0


@pytest.mark.parametrize("reset, integrator, detach_reset", GRADIENT_CASES)
def test_fused_held_input_gradients_equal_reference(
    reset, integrator, detach_reset, gen, backward_path
):
    """Held input (a V4 population on constant features): spikes, membrane and final
    state all carry gradient, summed over time into the features."""
    dtype, n_steps = torch.float64, 15
    params = LIFParams(tau_mem_ms=5.0, dt_ms=1.0, r_m=4.0, reset=reset)
    method = get_integrator(integrator)
    features = torch.empty(8, 50, dtype=dtype).uniform_(0.0, 1.0, generator=gen)
    weights = [torch.randn(n_steps, 8, 50, generator=gen, dtype=dtype) for _ in range(2)]
    grads, outputs = [], []
    for fused in (True, False):
        x = features.clone().requires_grad_()
        state = init_lif_state(x.shape, params, dtype=dtype)
        if fused:
            spikes, membrane, final = lif_sequence_fused(
                x, state, params, method=method, synapse="current", surrogate=FastSigmoid(),
                detach_reset=detach_reset, n_steps=n_steps,
            )  # fmt: skip
        else:
            spikes, membrane, final = lif_sequence(
                x.unsqueeze(0).expand(n_steps, *x.shape), state, params, integrator=method,
                synapse="current", detach_reset=detach_reset,
            )  # fmt: skip
        loss = (spikes * weights[0]).sum() + (membrane * weights[1]).sum() + final.v.sum()
        loss.backward()
        grads.append(x.grad)
        outputs.append(spikes)
    assert torch.equal(outputs[0], outputs[1])
    assert 0.05 < outputs[0].mean() < 0.95
    torch.testing.assert_close(grads[0], grads[1], rtol=1e-9, atol=1e-11)

"""V4 spike encoders and the CNN front end: shapes, exact 0/1 spikes, gradient paths,
explicit randomness, the rate statistics, the latency code, the LIF population's
threshold and its fused path against the step-by-step reference."""

from __future__ import annotations

import math

import pytest
import torch

from spikerec import LIFParams, init_lif_state, lif_sequence
from spikerec.recognition.encoders import (
    ENCODERS,
    LatencyEncoder,
    LIFPopulationEncoder,
    RateEncoder,
    make_encoder,
    spike_probability,
)
from spikerec.recognition.frontend import V4_UNITS, V4FrontEnd

B, N = 4, 50


@pytest.fixture
def gen() -> torch.Generator:
    return torch.Generator().manual_seed(2024)


def features(gen, dtype=torch.float64, shape=(B, N), low=0.05, high=3.0) -> torch.Tensor:
    """Non-negative features [B, N], like the front end's ReLU outputs."""
    return torch.empty(shape, dtype=dtype).uniform_(low, high, generator=gen)


# ------------------------------------------------------------------ all encoders


def test_registry_names():
    assert set(ENCODERS) == {"rate", "latency", "lif"}
    for name, cls in ENCODERS.items():
        assert cls.name == name
        assert isinstance(make_encoder(name, n_steps=3), cls)
        assert make_encoder(name, n_steps=3).n_steps == 3


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("name", list(ENCODERS))
def test_shape_binary_values_and_dtype(name, dtype, gen):
    f = features(gen, dtype)
    spikes = make_encoder(name, n_steps=8)(f, torch.Generator().manual_seed(1))
    assert spikes.shape == (8, B, N)
    assert spikes.dtype == dtype
    # Exactly 0.0 or 1.0: the straight-through terms add an exact zero in the forward pass.
    assert ((spikes == 0) | (spikes == 1)).all()
    assert 0 < spikes.sum() < spikes.numel()  # some spikes, not all: the check is not vacuous


@pytest.mark.parametrize("name", list(ENCODERS))
def test_gradients_reach_the_features(name, gen):
    f = features(gen).requires_grad_()
    spikes = make_encoder(name, n_steps=8)(f, torch.Generator().manual_seed(1))
    # A weighting that varies over time: the latency code's Gaussian bump has a zero
    # derivative at its centre, so summing spikes alone could cancel by symmetry.
    weights = torch.randn(spikes.shape, generator=gen, dtype=spikes.dtype)
    (spikes * weights).sum().backward()
    assert f.grad is not None
    assert f.grad.shape == f.shape
    assert torch.isfinite(f.grad).all()
    # All features are active (p = 1 - exp(-f) >= 1 - exp(-0.05) > latency threshold).
    assert (f.grad != 0).all()


@pytest.mark.parametrize("name", list(ENCODERS))
@pytest.mark.parametrize(
    "bad, error, match",
    [
        (torch.rand(5), ValueError, r"\[B, N\].*\(5,\)"),
        (torch.rand(2, 3, 4), ValueError, r"\[B, N\].*\(2, 3, 4\)"),
        (torch.ones(2, 3, dtype=torch.int64), TypeError, "floating point.*int64"),
        ([[0.5, 1.0]], ValueError, r"\[B, N\]"),
    ],
)
def test_bad_features_are_refused(name, bad, error, match):
    with pytest.raises(error, match=match):
        make_encoder(name, n_steps=4)(bad)


@pytest.mark.parametrize("value", [math.nan, math.inf])
@pytest.mark.parametrize("name", list(ENCODERS))
def test_non_finite_features_are_refused(name, value):
    f = torch.tensor([[value, 1.0]])
    with pytest.raises(ValueError, match="NaN|inf|finite"):
        make_encoder(name, n_steps=4)(f)


def test_unknown_encoder_lists_valid_names():
    with pytest.raises(ValueError, match="nope") as info:
        make_encoder("nope")
    for name in ENCODERS:
        assert name in str(info.value)


@pytest.mark.parametrize("n_steps", [0, -3, 2.5, True])
@pytest.mark.parametrize("name", list(ENCODERS))
def test_bad_n_steps(name, n_steps):
    with pytest.raises(ValueError, match="n_steps"):
        make_encoder(name, n_steps=n_steps)


# --------------------------------------------------------------------------- rate


def test_rate_same_generator_seed_same_spikes_other_seed_differs(gen):
    f = features(gen)
    enc = RateEncoder(n_steps=20)
    a = enc(f, torch.Generator().manual_seed(7))
    b = enc(f, torch.Generator().manual_seed(7))
    c = enc(f, torch.Generator().manual_seed(8))
    assert torch.equal(a, b)
    assert not torch.equal(a, c)


def test_rate_uses_no_global_rng(gen):
    f = features(gen)
    enc = RateEncoder(n_steps=20)
    torch.manual_seed(0)
    before = torch.get_rng_state()
    a = enc(f, torch.Generator().manual_seed(7))
    assert torch.equal(torch.get_rng_state(), before)  # global generator not advanced
    torch.manual_seed(12345)
    b = enc(f, torch.Generator().manual_seed(7))
    assert torch.equal(a, b)


def test_rate_generator_state_advances(gen):
    f = features(gen)
    enc = RateEncoder(n_steps=20)
    g = torch.Generator().manual_seed(7)
    assert not torch.equal(enc(f, g), enc(f, g))


def test_rate_mean_firing_probability_matches_1_minus_exp():
    values = torch.tensor([0.05, 0.3, 1.0, 2.0, 5.0], dtype=torch.float64)
    n_steps, batch = 5000, 4
    f = values.repeat(batch, 1)
    spikes = RateEncoder(n_steps=n_steps)(f, torch.Generator().manual_seed(3))
    rate = spikes.mean(dim=(0, 1))
    p = 1.0 - torch.exp(-values)
    n = n_steps * batch
    sigma = torch.sqrt(p * (1 - p) / n)
    assert torch.all((rate - p).abs() < 5 * sigma), (rate, p, sigma)
    assert torch.allclose(spike_probability(values), p, rtol=1e-15, atol=0)


def test_rate_silent_for_zero_and_negative_features():
    f = torch.tensor([[0.0, -1.0, -100.0]])
    spikes = RateEncoder(n_steps=500)(f, torch.Generator().manual_seed(0))
    assert spikes.sum() == 0


def test_rate_straight_through_gradient_is_one_for_positive_features():
    f = torch.tensor([[0.5, 3.0, 0.0, -1.0]], requires_grad=True)
    spikes = RateEncoder(n_steps=6)(f, torch.Generator().manual_seed(0))
    spikes.sum().backward()
    # d spikes[t] / d f = 1 for f > 0 at every step, 0 where the feature is clamped.
    assert f.grad.tolist() == [[6.0, 6.0, 0.0, 0.0]]


# ------------------------------------------------------------------------ latency


def test_latency_one_spike_iff_probability_reaches_threshold(gen):
    enc = LatencyEncoder(n_steps=10, threshold=0.1)
    f_cut = -math.log(1 - 0.1)  # p(f_cut) = threshold
    f = torch.cat(
        [
            torch.tensor(
                [[0.0, 0.5 * f_cut, 0.99 * f_cut, 1.01 * f_cut, 30.0]], dtype=torch.float64
            ),
            features(gen, shape=(1, 5), low=0.0, high=4.0),
        ],
        dim=1,
    )
    spikes = enc(f)
    p = spike_probability(f)
    counts = spikes.sum(0)
    assert torch.equal(counts, (p >= 0.1).to(counts.dtype))
    assert counts[0, :5].tolist() == [0.0, 0.0, 0.0, 1.0, 1.0]


def test_latency_spike_step_is_linear_code_and_stronger_spikes_no_later(gen):
    n_steps = 12
    enc = LatencyEncoder(n_steps=n_steps)
    f = features(gen, shape=(3, 40), low=0.02, high=6.0)
    spikes = enc(f)
    assert (spikes.sum(0) == 1).all()
    step = spikes.argmax(0)  # the one spike of each unit
    expected = torch.round((n_steps - 1) * torch.exp(-f)).long()  # (T - 1) * (1 - p)
    assert torch.equal(step, expected)
    stronger = f.unsqueeze(2) > f.unsqueeze(1)  # [B, i, j]: f_i > f_j
    no_later = step.unsqueeze(2) <= step.unsqueeze(1)
    assert (no_later | ~stronger).all()
    assert step.min() == 0 or step.max() > step.min()  # spread over the window


def test_latency_is_deterministic(gen):
    f = features(gen)
    enc = LatencyEncoder(n_steps=8)
    assert torch.equal(enc(f, torch.Generator().manual_seed(1)), enc(f, None))


@pytest.mark.parametrize(
    "kwargs", [{"threshold": 0.0}, {"threshold": 1.0}, {"sigma_steps": 0.0}, {"sigma_steps": -1}]
)
def test_latency_bad_settings(kwargs):
    with pytest.raises(ValueError, match=next(iter(kwargs))):
        LatencyEncoder(n_steps=5, **kwargs)


# ---------------------------------------------------------------------- lif population


def test_lif_population_default_params():
    enc = LIFPopulationEncoder(n_steps=5)
    assert enc.params.r_m == 4.0 and enc.params.v_rest == 0.0 and enc.params.v_th == 1.0
    assert enc.params.tau_mem_ms == 5.0 and enc.params.dt_ms == 1.0


def test_lif_population_fires_iff_feature_exceeds_threshold_and_more_for_more():
    # With r_m = 1, v_rest = 0 the membrane relaxes towards f (V_n = f (1 - exp(-n/5))),
    # so a unit with f > v_th = 1 fires once n is long enough; one with f <= 1 never does.
    # 1.01 needs n >= 5 ln(101) ~ 23 steps; 100 steps leave a wide margin.
    values = [0.0, 0.5, 0.9, 0.99, 1.0, 1.01, 1.05, 1.5, 3.0, 10.0]
    f = torch.tensor([values], dtype=torch.float64)
    unit_gain = LIFParams(tau_mem_ms=5.0, dt_ms=1.0, r_m=1.0)
    counts = LIFPopulationEncoder(n_steps=100, params=unit_gain)(f).sum(0)[0]
    fires = counts > 0
    assert fires.tolist() == [v > 1.0 for v in values]
    active = counts[torch.tensor(values) > 1.0]
    assert (active[1:] > active[:-1]).all(), active  # strictly more spikes for more drive


def test_lif_population_default_gain_fires_above_a_quarter():
    # r_m = 4: the membrane relaxes towards 4 f, so f > 0.25 fires and f <= 0.25 never does.
    values = [0.0, 0.2, 0.25, 0.26, 0.5, 2.0]
    counts = LIFPopulationEncoder(n_steps=200)(torch.tensor([values], dtype=torch.float64))
    assert (counts.sum(0)[0] > 0).tolist() == [v > 0.25 for v in values]


def test_lif_population_first_spike_time_matches_closed_form():
    # Constant current: V(t) = f (1 - exp(-t / tau)), first crossing at t* = tau ln(f / (f - 1)).
    values = torch.tensor([1.2, 1.5, 2.0, 4.0], dtype=torch.float64)
    unit_gain = LIFParams(tau_mem_ms=5.0, dt_ms=1.0, r_m=1.0)
    spikes = LIFPopulationEncoder(n_steps=40, params=unit_gain)(values.unsqueeze(0))[:, 0]
    first_step = spikes.argmax(0) + 1  # steps are 1 ms; step n ends at t = n ms
    t_star = 5.0 * torch.log(values / (values - 1.0))
    assert torch.equal(first_step, torch.ceil(t_star).long())


def test_lif_population_is_deterministic_and_ignores_generator(gen):
    f = features(gen)
    enc = LIFPopulationEncoder(n_steps=12)
    assert torch.equal(enc(f), enc(f, torch.Generator().manual_seed(99)))


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_lif_population_fused_path_equals_reference(dtype, gen):
    n_steps = 30
    enc = LIFPopulationEncoder(n_steps=n_steps)
    f = features(gen, dtype=dtype, low=0.0, high=4.0).requires_grad_()
    spikes = enc(f)
    f_ref = f.detach().clone().requires_grad_()
    state = init_lif_state(f_ref.shape, enc.params, dtype=dtype)
    drive = f_ref.unsqueeze(0).expand(n_steps, *f_ref.shape)
    spikes_ref, _, _ = lif_sequence(
        drive, state, enc.params, synapse="current", surrogate=enc.surrogate
    )
    assert torch.equal(spikes, spikes_ref)
    assert 0 < spikes.sum() < spikes.numel()
    weights = torch.randn(spikes.shape, generator=gen, dtype=dtype)
    (spikes * weights).sum().backward()
    (spikes_ref * weights).sum().backward()
    tol = {"rtol": 1e-10, "atol": 1e-12} if dtype == torch.float64 else {"rtol": 1e-4, "atol": 1e-5}
    torch.testing.assert_close(f.grad, f_ref.grad, **tol)


def test_lif_population_with_refractory_period_uses_reference_path():
    # A refractory period is not fused; the encoder must still honour it:
    # with t_ref = 2 ms a unit spikes at most every 3 steps.
    params = LIFParams(tau_mem_ms=5.0, dt_ms=1.0, t_ref_ms=2.0)
    f = torch.tensor([[50.0, 0.5]], requires_grad=True)
    spikes = LIFPopulationEncoder(n_steps=30, params=params)(f)
    assert spikes[:, 0, 0].sum() == 10  # steps 1, 4, 7, ..., 28
    assert spikes[:, 0, 1].sum() == 0
    spikes.sum().backward()
    assert torch.isfinite(f.grad).all()


# ------------------------------------------------------------------------ front end


@pytest.mark.parametrize("in_channels, size", [(1, 28), (1, 8), (1, 12), (3, 32), (1, 40), (3, 28)])
def test_frontend_maps_images_to_3136_v4_units(in_channels, size, gen):
    torch.manual_seed(0)  # the module's default initialisation; the output shape is the point
    frontend = V4FrontEnd(in_channels)
    images = torch.rand(2, in_channels, size, size, generator=gen)
    v4 = frontend(images)
    assert V4_UNITS == 3136
    assert v4.shape == (2, 3136)
    assert (v4 >= 0).all()  # ReLU outputs, read as input strengths


def test_frontend_features_trainable_end_to_end(gen):
    frontend = V4FrontEnd(1)
    images = torch.rand(2, 1, 12, 12, generator=gen)
    spikes = make_encoder("rate", n_steps=4)(frontend(images), torch.Generator().manual_seed(0))
    spikes.sum().backward()
    grads = [p.grad for p in frontend.parameters()]
    assert all(g is not None and torch.isfinite(g).all() for g in grads)
    assert any(g.abs().sum() > 0 for g in grads)


@pytest.mark.parametrize(
    "in_channels, shape",
    [(1, (2, 3, 28, 28)), (3, (2, 1, 32, 32)), (1, (1, 28, 28)), (1, (2, 1, 3, 28))],
)
def test_frontend_refuses_wrong_images(in_channels, shape):
    with pytest.raises(ValueError, match="must"):
        V4FrontEnd(in_channels)(torch.zeros(shape))


@pytest.mark.parametrize("in_channels", [0, 2, 4])
def test_frontend_refuses_channel_counts(in_channels):
    with pytest.raises(ValueError, match="1 or 3"):
        V4FrontEnd(in_channels)


@pytest.mark.parametrize("side", [8, 28, 32, 45])
def test_front_end_skips_only_an_identity_pool(side):
    """On 28 x 28 input the maps are already 7 x 7 and the adaptive pool is skipped;
    the features are those of the whole layer stack at every size."""
    torch.manual_seed(0)
    front = V4FrontEnd(1).double()
    images = torch.rand(3, 1, side, side, dtype=torch.float64)
    resized = (
        torch.nn.functional.interpolate(images, size=(28, 28), mode="bilinear")
        if side < 28
        else images
    )
    torch.testing.assert_close(front(images), front.features(resized).flatten(1), rtol=0, atol=0)

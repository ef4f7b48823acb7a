"""Surrogate derivatives: true derivatives of their primitives, Heaviside forward,
parity with snntorch where the formulas coincide, and validated parameters."""

from __future__ import annotations

import dataclasses
import math

import pytest
import torch
from snntorch import surrogate as snn_surrogate

from spikerec import ATan, FastSigmoid, Sigmoid, SuperSpike, Surrogate, Triangle
from spikerec.lif.surrogates import SURROGATES, get_surrogate

# (class, its one parameter, a non-default value of it)
PARAMETER = {
    FastSigmoid: ("slope", 7.5),
    ATan: ("alpha", 0.7),
    Sigmoid: ("slope", 3.0),
    Triangle: ("width", 0.3),
    SuperSpike: ("slope", 40.0),
}

SURROGATE_CASES = [
    pytest.param(cls(), id=f"{name}-default") for name, cls in SURROGATES.items()
] + [
    pytest.param(cls(**{PARAMETER[cls][0]: PARAMETER[cls][1]}), id=f"{name}-custom")
    for name, cls in SURROGATES.items()
]


def _kinks(surrogate: Surrogate) -> list[float]:
    """Points where the surrogate derivative is not differentiable (or the primitive clamps)."""
    if isinstance(surrogate, Triangle):
        return [0.0, -surrogate.width, surrogate.width]
    return [0.0]


@pytest.fixture
def gen() -> torch.Generator:
    return torch.Generator().manual_seed(20240611)


def _points(gen: torch.Generator, surrogate: Surrogate, n: int = 64) -> torch.Tensor:
    """Random float64 points over several scales (1e-3 .. 3), both signs, away from kinks."""
    magnitude = 10.0 ** torch.empty(n, dtype=torch.float64).uniform_(-3.0, 0.5, generator=gen)
    sign = torch.where(torch.rand(n, generator=gen, dtype=torch.float64) < 0.5, -1.0, 1.0)
    x = sign * magnitude
    for kink in _kinks(surrogate):
        x = x[(x - kink).abs() > 1e-3]
    assert x.numel() > n // 2
    return x


# --------------------------------------------------------------------------- derivative


def test_registry_holds_the_five_surrogates():
    assert set(SURROGATES) == {"fast_sigmoid", "atan", "sigmoid", "triangle", "superspike"}
    for name, cls in SURROGATES.items():
        assert cls.name == name
        assert isinstance(cls(), Surrogate)


@pytest.mark.parametrize("surrogate", SURROGATE_CASES)
def test_derivative_is_the_true_derivative_of_primitive(surrogate, gen):
    x = _points(gen, surrogate).requires_grad_(True)
    assert torch.autograd.gradcheck(surrogate.smooth, (x,), eps=1e-6, atol=1e-7, rtol=1e-5)


@pytest.mark.parametrize("surrogate", SURROGATE_CASES)
def test_derivative_integrates_to_the_primitive_difference(surrogate):
    # independent of autograd: trapezoid of derivative over [-a, b] == primitive(b) - primitive(-a)
    x = torch.linspace(-2.0, 1.5, 400_001, dtype=torch.float64)
    area = torch.trapezoid(surrogate.derivative(x), x)
    expected = surrogate.primitive(x[-1:]) - surrogate.primitive(x[:1])
    torch.testing.assert_close(area, expected.squeeze(), rtol=1e-6, atol=1e-9)


# --------------------------------------------------------------------------- spike function


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("surrogate", SURROGATE_CASES)
def test_call_is_heaviside_forward_and_derivative_backward(surrogate, dtype, gen):
    x = torch.randn(200, generator=gen, dtype=torch.float64).to(dtype)
    x[:4] = torch.tensor([0.0, -0.0, 1e-30, -1e-30], dtype=dtype)
    x.requires_grad_(True)
    upstream = torch.rand(x.shape, generator=gen, dtype=torch.float64).to(dtype)

    spikes = surrogate(x)
    assert spikes.dtype == dtype
    assert torch.equal(spikes, (x.detach() >= 0).to(dtype))
    assert spikes[:4].tolist() == [1.0, 1.0, 1.0, 0.0]  # x == 0 (either sign) spikes

    spikes.backward(upstream)
    assert torch.equal(x.grad, upstream * surrogate.derivative(x.detach()))


def test_surrogates_are_frozen_hashable_values():
    s = FastSigmoid(slope=10.0)
    with pytest.raises(dataclasses.FrozenInstanceError):
        s.slope = 3.0  # type: ignore[misc]
    assert s == FastSigmoid(slope=10.0)
    assert hash(s) == hash(FastSigmoid(slope=10.0))
    assert s != FastSigmoid(slope=11.0)


# --------------------------------------------------------------------------- snntorch parity


def _grad(fn, x: torch.Tensor) -> torch.Tensor:
    x = x.clone().requires_grad_(True)
    fn(x).sum().backward()
    return x.grad


@pytest.mark.parametrize(
    ("ours", "theirs"),
    [
        pytest.param(FastSigmoid(), snn_surrogate.fast_sigmoid(), id="fast_sigmoid-25"),
        pytest.param(
            FastSigmoid(slope=5.0), snn_surrogate.fast_sigmoid(slope=5.0), id="fast_sigmoid-5"
        ),
        pytest.param(ATan(), snn_surrogate.atan(), id="atan-2"),
        pytest.param(ATan(alpha=0.5), snn_surrogate.atan(alpha=0.5), id="atan-0.5"),
        pytest.param(Sigmoid(), snn_surrogate.sigmoid(), id="sigmoid-25"),
        pytest.param(Sigmoid(slope=4.0), snn_surrogate.sigmoid(slope=4.0), id="sigmoid-4"),
    ],
)
def test_same_gradient_as_snntorch(ours, theirs, gen):
    x = torch.empty(500, dtype=torch.float64).uniform_(-2.0, 2.0, generator=gen)
    g_ours = _grad(ours, x)
    g_theirs = _grad(theirs, x)
    assert g_ours.abs().max() > 0.1  # the points hit the interesting region
    torch.testing.assert_close(g_ours, g_theirs.to(torch.float64), rtol=1e-9, atol=1e-12)
    # forward: same spikes except at the tie x == 0 (snntorch: x > 0, spikerec: x >= 0)
    assert torch.equal(ours(x), theirs(x).to(torch.float64))


def test_sigmoid_stays_finite_where_snntorch_overflows():
    x = torch.tensor([-1e4, 1e4], dtype=torch.float64)
    ours = _grad(Sigmoid(), x)
    assert torch.isfinite(ours).all()
    assert ours.tolist() == [0.0, 0.0]
    assert torch.isfinite(Sigmoid().derivative(x)).all()
    theirs = _grad(snn_surrogate.sigmoid(), x)
    if torch.isfinite(theirs).all():  # a future snntorch may have fixed it
        return
    assert not torch.isfinite(theirs[0])  # exp(+2.5e5) overflows: inf / inf = nan


# --------------------------------------------------------------------------- shapes


def test_superspike_is_fast_sigmoid_with_slope_100(gen):
    s = SuperSpike()
    assert s.slope == 100.0
    assert isinstance(s, FastSigmoid)
    x = torch.randn(100, generator=gen, dtype=torch.float64)
    assert torch.equal(s.derivative(x), FastSigmoid(slope=100.0).derivative(x))
    assert torch.equal(s.derivative(x), 1.0 / (1.0 + 100.0 * x.abs()) ** 2)
    assert get_surrogate("superspike") == SuperSpike()


@pytest.mark.parametrize("width", [1.0, 0.3, 2.5])
def test_triangle_has_unit_area_and_support_of_its_width(width):
    tri = Triangle(width=width)
    x = torch.linspace(-3 * width, 3 * width, 600_001, dtype=torch.float64)
    d = tri.derivative(x)
    assert torch.trapezoid(d, x).item() == pytest.approx(1.0, abs=1e-8)
    assert d.max().item() == pytest.approx(1.0 / width)
    outside = x.abs() >= width
    assert torch.equal(d[outside], torch.zeros_like(d[outside]))
    assert (d[~outside] > 0).all()


def test_fast_sigmoid_docstring_value():
    assert FastSigmoid().derivative(torch.tensor([0.0])).item() == 1.0


# --------------------------------------------------------------------------- look-up and validation


@pytest.mark.parametrize("name", sorted(SURROGATES))
def test_get_surrogate_by_name_and_passthrough(name):
    s = get_surrogate(name)
    assert type(s) is SURROGATES[name]
    assert s == SURROGATES[name]()
    custom = SURROGATES[name](**{PARAMETER[SURROGATES[name]][0]: 0.5})
    assert get_surrogate(custom) is custom


@pytest.mark.parametrize("bad", ["fast-sigmoid", "ATAN", "", None, 3])
def test_get_surrogate_unknown_name_lists_valid_names(bad):
    with pytest.raises(ValueError, match="unknown surrogate") as info:
        get_surrogate(bad)
    for name in SURROGATES:
        assert name in str(info.value)


@pytest.mark.parametrize("cls", list(SURROGATES.values()), ids=list(SURROGATES))
@pytest.mark.parametrize("bad", [0, 0.0, -1, -1.0, math.nan, math.inf, True, "2"])
def test_invalid_parameter_names_the_field(cls, bad):
    field = PARAMETER[cls][0]
    with pytest.raises(ValueError, match=rf"^{field}=.*must be a finite number > 0"):
        cls(**{field: bad})


@pytest.mark.parametrize("cls", list(SURROGATES.values()), ids=list(SURROGATES))
def test_integer_parameter_is_accepted(cls, gen):
    field = PARAMETER[cls][0]
    x = torch.randn(50, generator=gen, dtype=torch.float64)
    torch.testing.assert_close(
        cls(**{field: 2}).derivative(x), cls(**{field: 2.0}).derivative(x), rtol=0, atol=0
    )

"""Neurons of any shape and the one-step cell.

- ``LIF`` over ``[T, B, *shape]``: conv maps give exactly what the same neurons give
  flattened to ``[T, B, N]``, on the fused path and the reference path, forward and
  backward; learnable values of any broadcastable shape; batch-major data through a
  transposed view.
- ``LIFCell`` stepped in a Python loop gives bit for bit the spikes, membranes, final
  state and (off the fused path) gradients of ``LIF`` over the sequence, under
  ``torch.compile`` and ``torch.jit.trace`` too.
- Bad input (shape, state, dtype, device) gets one line naming it.
"""

from __future__ import annotations

import warnings

import pytest
import torch
from torch import nn

from spikerec import INTEGRATORS, LIF, LIFCell, LIFParams, LIFState, LIFStepOutput
from spikerec.errors import ParameterError, ParameterTypeError

T, B, C, H, W = 30, 3, 4, 5, 5


@pytest.fixture
def gen() -> torch.Generator:
    return torch.Generator().manual_seed(7)


@pytest.fixture
def maps(gen) -> torch.Tensor:
    """Delta input on conv maps [T, B, C, H, W], float64: unit jumps in [-0.3, 0.9)
    with ``LIFParams.unit_jump``, so neurons spike every few steps."""
    return torch.empty(T, B, C, H, W, dtype=torch.float64).uniform_(-0.3, 0.9, generator=gen)


def unit(**changes) -> LIFParams:
    return LIFParams.unit_jump(tau_mem_ms=10.0, dt_ms=1.0, **changes)


def run_cell(cell: LIFCell, x: torch.Tensor, state: LIFState | None = None):
    """Step ``cell`` over the leading axis of ``x``; stacked spikes, membranes, final state."""
    spikes, membrane = [], []
    for x_t in x:
        s, v, state = cell(x_t, state)
        spikes.append(s)
        membrane.append(v)
    return torch.stack(spikes), torch.stack(membrane), state


def assert_same_run(a, b) -> None:
    """Two runs ``(spikes, membrane, state)`` agree bit for bit."""
    assert torch.equal(a[0], b[0])
    assert torch.equal(a[1], b[1])
    assert torch.equal(a[2].v, b[2].v)
    assert torch.equal(a[2].refractory_steps_left, b[2].refractory_steps_left)


# --------------------------------------------------------------------------- any shape


@pytest.mark.parametrize("fused", [True, False])
@pytest.mark.parametrize("synapse", ["delta", "current"])
@pytest.mark.parametrize("reset", ["subtract", "zero"])
def test_conv_maps_equal_the_same_neurons_flattened(fused, synapse, reset, maps):
    lif = LIF(unit(reset=reset), synapse=synapse, fused=fused)
    x = maps.clone().requires_grad_(True)
    out = lif(x)
    flat_x = maps.reshape(T, B, -1).clone().requires_grad_(True)
    flat = lif(flat_x)
    assert out.spikes.shape == out.membrane.shape == (T, B, C, H, W)
    assert out.state.v.shape == (B, C, H, W)
    assert 0.05 < out.spikes.mean().item() < 0.6  # not vacuous
    assert torch.equal(out.spikes.reshape(T, B, -1), flat.spikes)
    assert torch.equal(out.membrane.reshape(T, B, -1), flat.membrane)
    assert torch.equal(out.state.v.reshape(B, -1), flat.state.v)
    # the same loss on both: gradients agree too
    weights = torch.linspace(-1.0, 1.0, C * H * W, dtype=torch.float64)
    (out.spikes.reshape(T, B, -1) * weights).sum().add(out.membrane.sum()).backward()
    (flat.spikes * weights).sum().add(flat.membrane.sum()).backward()
    torch.testing.assert_close(x.grad.reshape(T, B, -1), flat_x.grad, rtol=0, atol=0)


def test_fused_and_reference_paths_agree_on_conv_maps(maps):
    x1 = maps.clone().requires_grad_(True)
    x2 = maps.clone().requires_grad_(True)
    fused = LIF(unit())(x1)
    ref = LIF(unit(), fused=False)(x2)
    assert_same_run(fused, ref)
    fused.spikes.sum().backward()
    ref.spikes.sum().backward()
    torch.testing.assert_close(x1.grad, x2.grad, rtol=1e-10, atol=1e-12)


def test_state_carries_over_between_calls_on_conv_maps(maps):
    lif = LIF(unit())
    whole = lif(maps)
    first = lif(maps[:10])
    rest = lif(maps[10:], first.state)
    assert torch.equal(torch.cat([first.spikes, rest.spikes]), whole.spikes)
    assert torch.equal(rest.state.v, whole.state.v)


@pytest.mark.parametrize("shape", [(C, 1, 1), (C, H, W), (1, H, 1), (W,)])
def test_learnable_values_of_any_broadcastable_shape(shape, maps, gen):
    lif = LIF(unit(), learn_tau=True, learn_threshold=True, shape=shape).double()
    with torch.no_grad():
        lif.v_th.uniform_(0.6, 1.4, generator=gen)
        lif.log_tau_mem_ms.add_(torch.empty(shape, dtype=torch.float64).uniform_(-0.5, 0.5))
    out = lif(maps)
    # the same neurons with every value written out per neuron, [C, H, W]
    full = LIF(unit(), learn_tau=True, learn_threshold=True, shape=(C, H, W)).double()
    with torch.no_grad():
        full.v_th.copy_(lif.v_th.expand(C, H, W))
        full.log_tau_mem_ms.copy_(lif.log_tau_mem_ms.expand(C, H, W))
    assert_same_run(out, full(maps))
    out.spikes.sum().add(out.membrane.sum()).backward()
    assert lif.v_th.grad.shape == lif.log_tau_mem_ms.grad.shape == shape
    assert lif.v_th.grad.abs().sum() > 0
    assert lif.input_gain.shape == shape


def test_n_neurons_is_shape_of_one_dimension(gen):
    x = torch.rand(T, B, 6, generator=gen, dtype=torch.float64)
    a = LIF(unit(), learn_threshold=True, n_neurons=6).double()
    b = LIF(unit(), learn_threshold=True, shape=(6,)).double()
    assert a.n_neurons == b.n_neurons == 6 and a.neuron_shape == b.neuron_shape == (6,)
    assert_same_run(a(x), b(x))


def test_batch_major_data_goes_through_a_transposed_view(gen):
    batch_major = torch.rand(B, T, C, H, W, generator=gen)  # [B, T, *shape]
    lif = LIF(unit())
    view = lif(batch_major.transpose(0, 1))  # not contiguous
    copy = lif(batch_major.transpose(0, 1).contiguous())
    assert not batch_major.transpose(0, 1).is_contiguous()
    assert_same_run(view, copy)
    assert view.spikes.transpose(0, 1).shape == (B, T, C, H, W)


@pytest.mark.parametrize(
    ("make", "match"),
    [
        (lambda: LIF(unit(), learn_threshold=True, shape=(C + 1, 1, 1))(torch.zeros(T, B, C, H, W)),
         r"shape \(5, 1, 1\).*neuron shape \(4, 5, 5\)"),
        (lambda: LIF(unit(), learn_threshold=True, shape=(2, C, H, W))(torch.zeros(T, B, C, H, W)),
         "does not broadcast"),
        (lambda: LIF(unit(), shape=(3,), n_neurons=3), "not both"),
        (lambda: LIF(unit(), learn_tau=True, shape=(3, 0)), "shape=.*positive integer"),
        (lambda: LIF(unit(), learn_tau=True, shape="3"), "shape=.*positive integer"),
        (lambda: LIF(unit())(torch.zeros(T, B)), r"\[T, B, \*shape\]"),
        (lambda: LIF(unit())(torch.zeros(T, B, C, H, W),
                             LIFState(torch.zeros(B, C, H), torch.zeros(B, C, H))),
         r"state.v is \(3, 4, 5\).*needs \(3, 4, 5, 5\)"),
        (lambda: LIFCell(unit())(torch.zeros(B, C, H, W),
                                 LIFState(torch.zeros(B, C, H, W), torch.zeros(B, C, H, 1))),
         "state.refractory_steps_left"),
        (lambda: LIFCell(unit())(torch.zeros(B, C, dtype=torch.float64),
                                 LIFState(torch.zeros(B, C), torch.zeros(B, C))),
         "float32"),
        (lambda: LIFCell(unit())(torch.zeros(B, C),
                                 LIFState(torch.zeros(B, C, device="meta"),
                                          torch.zeros(B, C, device="meta"))),
         "meta"),
        (lambda: LIFCell(unit())(torch.zeros(C)), r"\[B, \*shape\]"),
        (lambda: LIFCell(unit())(torch.tensor([[float("nan")]])), "NaN"),
        (lambda: LIFCell(unit(), learn_tau=True).to("meta")(torch.zeros(B, C)),
         "parameters are on meta"),
    ],
    ids=["param-shape", "param-extra-dim", "both", "zero-dim", "str-shape", "2d-x",
         "state-shape", "refractory-shape", "state-dtype", "state-device", "cell-1d-x",
         "cell-nan", "device"],
)  # fmt: skip
def test_bad_shapes_states_dtypes_devices_get_one_line(make, match):
    with pytest.raises((ParameterError, ParameterTypeError), match=match) as info:
        make()
    assert "\n" not in str(info.value)


@pytest.mark.parametrize(
    ("make", "error"),
    [
        (lambda: LIFCell(unit())(torch.zeros(B, C, dtype=torch.int64)), ParameterTypeError),
        (lambda: LIFCell(unit())([[0.0]]), ParameterTypeError),
        (lambda: LIFCell(unit())(torch.zeros(B, C), torch.zeros(B, C)), ParameterTypeError),
    ],
    ids=["int", "list", "tensor-as-state"],
)
def test_wrong_types_are_refused_by_the_cell(make, error):
    with pytest.raises(error):
        make()


# --------------------------------------------------------------------------- the cell


CELL_CASES = {
    "fused-delta": ({}, {}),
    "fused-current": ({}, {"synapse": "current"}),
    "zero-reset": ({"reset": "zero"}, {}),
    "refractory": ({"t_ref_ms": 2.0}, {}),
    "learnable": ({}, {"learn_tau": True, "learn_threshold": True, "shape": (C, 1, 1)}),
    "detach-reset": ({}, {"detach_reset": True}),
    **{f"integrator-{name}": ({}, {"integrator": name}) for name in sorted(INTEGRATORS)},
}


@pytest.mark.parametrize("case", sorted(CELL_CASES))
def test_cell_in_a_loop_equals_the_layer_bit_for_bit(case, maps):
    changes, options = CELL_CASES[case]
    lif = LIF(unit(**changes), **options).double()
    cell = LIFCell(unit(**changes), **options).double()
    cell.load_state_dict(lif.state_dict())  # same names: learned values carry over
    x_layer = maps.clone().requires_grad_(True)
    x_cell = maps.clone().requires_grad_(True)
    layer_run = lif(x_layer)
    cell_run = run_cell(cell, x_cell)
    assert_same_run(layer_run, cell_run)
    assert 0.02 < cell_run[0].mean().item() < 0.6  # not vacuous
    layer_run.spikes.sum().add(layer_run.membrane.sum()).backward()
    cell_run[0].sum().add(cell_run[1].sum()).backward()
    fused = lif.log_tau_mem_ms is None and lif.v_th is None and lif.params.t_ref_ms == 0
    if fused:  # the fused path's hand-written backward sums in another order
        torch.testing.assert_close(x_cell.grad, x_layer.grad, rtol=1e-10, atol=1e-12)
    else:
        assert torch.equal(x_cell.grad, x_layer.grad)


def test_cell_starts_at_rest_and_continues_from_a_state(maps):
    cell = LIFCell(unit(v_rest=-0.2, v_reset=-0.2))
    x = maps.float()
    first = cell(x[0])
    at_rest = cell(x[0], cell.init_state(B, C, H, W))
    assert isinstance(first, LIFStepOutput)
    assert torch.equal(first.membrane, at_rest.membrane)
    split = run_cell(cell, x[10:], run_cell(cell, x[:10])[2])
    assert_same_run(split, (LIF(cell.params)(x[10:], LIF(cell.params)(x[:10]).state)))


def test_cell_in_a_recurrent_network_trains(gen):
    """Input at t depends on the output at t - 1: a loop only a cell can run."""

    class Recurrent(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.inp = nn.Linear(3, 8)
            self.rec = nn.Linear(8, 8, bias=False)
            self.cell = LIFCell(unit())
            self.out = nn.Linear(8, 2)

        def forward(self, x: torch.Tensor) -> torch.Tensor:  # [T, B, 3]
            state, spikes, counts = None, torch.zeros(x.shape[1], 8), 0.0
            for x_t in x:
                spikes, _, state = self.cell(self.inp(x_t) + self.rec(spikes), state)
                counts = counts + spikes
            return self.out(counts)

    torch.manual_seed(0)
    net = Recurrent()
    with torch.no_grad():
        net.inp.bias.fill_(0.5)
    x = torch.rand(20, 16, 3, generator=gen)
    labels = (x.mean((0, 2)) > 0.5).long()
    loss = nn.functional.cross_entropy(net(x), labels)
    loss.backward()
    assert net.rec.weight.grad is not None and net.rec.weight.grad.abs().sum() > 0


def _double_cell(**options) -> LIFCell:
    return LIFCell(unit(), **options).double()


def test_cell_under_torch_compile_equals_eager(maps):
    """fullgraph=True: the step compiles without a graph break (aot_eager: no C compiler)."""
    cell = _double_cell(learn_threshold=True, shape=(C, 1, 1))
    compiled = torch.compile(cell, fullgraph=True, backend="aot_eager")
    x_eager = maps[:8].clone().requires_grad_(True)
    x_comp = maps[:8].clone().requires_grad_(True)
    eager = run_cell(cell, x_eager)
    comp = run_cell(compiled, x_comp)
    assert_same_run(eager, comp)
    eager[1].sum().backward()
    comp[1].sum().backward()
    assert torch.equal(x_eager.grad, x_comp.grad)


@pytest.mark.slow
def test_cell_under_torch_compile_inductor(maps):
    """The default backend generates C++ kernels: same spikes, membranes to round-off."""
    cell = _double_cell()
    eager = run_cell(cell, maps)
    comp = run_cell(torch.compile(cell, fullgraph=True), maps)
    assert torch.equal(eager[0], comp[0])
    torch.testing.assert_close(eager[1], comp[1], rtol=1e-12, atol=1e-12)


def test_cell_under_torch_jit_trace_equals_eager(maps):
    cell = _double_cell()
    example = (maps[0], cell.init_state(B, C, H, W, dtype=torch.float64))
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no TracerWarning: nothing data-dependent is traced
        warnings.filterwarnings("ignore", "`torch.jit.trace.* is deprecated", FutureWarning)
        traced = torch.jit.trace(cell, example)
    state_eager = state_traced = example[1]
    for x_t in maps:
        s_e, v_e, state_eager = cell(x_t, state_eager)
        s_t, v_t, state_traced = traced(x_t, state_traced)
        assert torch.equal(s_e, s_t) and torch.equal(v_e, v_t)
    assert torch.equal(state_eager.v, state_traced[0])

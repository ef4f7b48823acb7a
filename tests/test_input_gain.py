"""Input gain users can reason about: what one unit of input does to V.

``LIF.input_gain`` is measured against a step of the layer itself, and the table of
docs/guide/custom-network.md ("what one unit of input does to V") against the other
tools themselves: snntorch.Leaky and norse's LIFBoxCell and LIFCell are run here on
one unit of input; brian2 is not installed, its row is its documented ``v += w``.
"""

from __future__ import annotations

import math
import re
from pathlib import Path

import pytest
import torch

from spikerec import INTEGRATORS, LIF, LIFParams

ROOT = Path(__file__).resolve().parents[1]
TABLE_PAGE = ROOT / "docs" / "guide" / "custom-network.md"


def one_step_from_rest(lif: LIF) -> torch.Tensor:
    """V after one step of one unit of input from rest, minus v_rest."""
    x = torch.ones(1, 1, 3, dtype=torch.float64)
    return lif.double()(x).membrane[0, 0] - lif.params.v_rest


PARAMS = {
    "default": LIFParams(),
    "unit-jump": LIFParams.unit_jump(tau_mem_ms=10.0),
    "other": LIFParams(tau_mem_ms=5.0, dt_ms=0.5, r_m=3.0, v_rest=-0.5, v_reset=-0.5),
}


@pytest.mark.parametrize("integrator", sorted(INTEGRATORS))
@pytest.mark.parametrize("synapse", ["delta", "current"])
@pytest.mark.parametrize("which", sorted(PARAMS))
def test_input_gain_is_the_first_step_of_unit_input(which, synapse, integrator):
    lif = LIF(PARAMS[which], synapse=synapse, integrator=integrator)
    measured = one_step_from_rest(lif)
    assert isinstance(lif.input_gain, float)
    torch.testing.assert_close(measured, torch.full_like(measured, lif.input_gain))


def test_input_gain_with_a_learnable_tau_is_per_neuron():
    for synapse in ("delta", "current"):
        lif = LIF(LIFParams(), synapse=synapse, learn_tau=True, n_neurons=3)
        with torch.no_grad():
            lif.log_tau_mem_ms.copy_(torch.log(torch.tensor([5.0, 10.0, 20.0])))
        measured = one_step_from_rest(lif)
        torch.testing.assert_close(lif.input_gain.double(), measured, rtol=1e-6, atol=0)


def test_default_and_unit_jump_gains():
    assert LIF(LIFParams()).input_gain == pytest.approx(0.1)  # r_m / tau_mem_ms
    assert LIF(LIFParams.unit_jump(tau_mem_ms=7.0)).input_gain == pytest.approx(1.0)
    exact_current = LIF(LIFParams(), synapse="current").input_gain
    assert exact_current == pytest.approx(-math.expm1(-0.1))  # r_m (1 - beta)


def test_readme_tour_spikes_like_snntorch_leaky():
    """The tour's layer and snntorch.Leaky(beta) with the same input: the same spikes."""
    snn = pytest.importorskip("snntorch")
    params = LIFParams.unit_jump(tau_mem_ms=10.0, dt_ms=1.0, v_th=1.0, reset="subtract")
    x = torch.rand(100, 32, 10, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    ours = LIF(params)(x).spikes
    leaky = snn.Leaky(
        beta=torch.tensor(params.beta, dtype=torch.float64),
        threshold=torch.tensor(1.0, dtype=torch.float64),
        reset_mechanism="subtract",
        reset_delay=False,
    )
    mem, theirs = torch.zeros(32, 10, dtype=torch.float64), []
    for x_t in x:  # inputs below 2 - beta: no reset leaves V above threshold
        spk, mem = leaky(x_t, mem)
        theirs.append(spk.to(torch.float64))
    assert torch.equal(ours, torch.stack(theirs))
    assert ours.mean().item() > 0.3
    # the default neuron (r_m = 1): one unit of input moves V by 0.1, and this input
    # spikes ten times less, or not at all
    assert LIF(LIFParams())(x).spikes.mean().item() < 0.05


def _table_rows() -> dict[str, str]:
    """Rows of the gain table, by the text of their first cell."""
    text = TABLE_PAGE.read_text(encoding="utf-8")
    section = text.split("## Input gain", 1)[1].split("\n## ", 1)[0]
    rows = {}
    for line in section.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if line.startswith("|") and len(cells) >= 3 and not set(cells[0]) <= {"-", " "}:
            rows[cells[0]] = line
    return rows


def _in_row(row: str, value: float) -> bool:
    return any(abs(float(n) - value) <= 5e-4 for n in re.findall(r"\d+\.\d+|\d+", row))


def test_gain_table_matches_snntorch_and_norse():
    snn = pytest.importorskip("snntorch")
    norse = pytest.importorskip("norse.torch")
    rows = _table_rows()
    # snntorch.Leaky: mem = beta * mem + x
    leaky = snn.Leaky(beta=0.9, reset_delay=False)
    _, mem = leaky(torch.ones(1, 1), torch.zeros(1, 1))
    assert _in_row(rows["`snntorch.Leaky(beta)`"], float(mem))
    # norse, defaults (dt = 1 ms, tau_mem = 10 ms, tau_syn = 5 ms)
    v_box = [float(norse.LIFBoxCell()(torch.ones(1, 1))[1].v.detach())]
    assert _in_row(rows["norse `LIFBoxCell()`"], v_box[0])
    cell, state, trace = norse.LIFCell(), None, []
    for k in range(30):
        _, state = cell(torch.full((1, 1), 1.0 if k == 0 else 0.0), state)
        trace.append(float(state.v.detach()))
    row = rows["norse `LIFCell()`"]
    assert _in_row(row, trace[0]) and _in_row(row, max(trace))
    assert _in_row(row, float(trace.index(max(trace)) + 1))  # peak time in ms
    # spikerec's rows are what its layers do
    assert _in_row(rows["spikerec `LIFParams()`, delta"], LIF(LIFParams()).input_gain)
    assert _in_row(rows["spikerec `LIFParams.unit_jump()`, delta"], 1.0)
    exact = LIF(LIFParams(), synapse="current").input_gain
    assert _in_row(rows["spikerec `LIFParams()`, current, exact"], exact)
    euler = LIF(LIFParams(), synapse="current", integrator="euler").input_gain
    assert _in_row(rows["spikerec `LIFParams()`, current, euler"], euler)
    assert euler == pytest.approx(v_box[0])  # norse's box neuron is the Euler current neuron

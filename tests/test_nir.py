"""NIR export/import of the spiking part (synapses + LIF output layer), and snntorch's reading.

Evidence gathered here:

* round trip: export -> import gives identical output spikes and membranes (float64);
* the file's parameters are the documented mapping (tau in s, r = r_m * 1e-3, ...), and
  an independent NumPy reading of the file as a continuous-time NIR graph (Dirac spikes
  at the step ends, bias as a constant current) reproduces spikerec's spikes;
* refusals are one-line errors;
* snntorch 1.0's ``import_from_nir`` reads our file with another discretisation
  (hard-coded dt = 1e-4 s, forward-Euler beta, spikes as unit-height currents of one
  step); the tests show exactly which model it builds, and that fixing only those
  neuron parameters reproduces our spikes.
"""

from __future__ import annotations

import contextlib
import io
import math
import sys

import numpy as np
import pytest
import torch
from torch import nn

nir = pytest.importorskip("nir")

from spikerec import LIF, LIFParams  # noqa: E402
from spikerec.interop import export_nir, import_nir, to_nir_graph  # noqa: E402
from spikerec.recognition.encoders import LIFPopulationEncoder, RateEncoder  # noqa: E402
from spikerec.recognition.frontend import V4FrontEnd  # noqa: E402
from spikerec.recognition.heads import LIFHead, RateSoftmaxHead  # noqa: E402
from spikerec.recognition.recognizer import Recognizer, build_recognizer, init_parameters  # noqa: E402

F64 = torch.float64
T, B, N, C = 40, 3, 3136, 4
ZERO = LIFParams(tau_mem_ms=10.0, dt_ms=1.0, r_m=1.0, reset="zero")


@pytest.fixture
def gen() -> torch.Generator:
    return torch.Generator().manual_seed(3)


@pytest.fixture
def v4_spikes(gen) -> torch.Tensor:
    """Bernoulli V4 spike trains [T, B, N], p = 0.1 per step, float64."""
    return (torch.rand(T, B, N, generator=gen, dtype=F64) < 0.1).to(F64)


def random_head(gen: torch.Generator, params: LIFParams = ZERO, **kwargs) -> LIFHead:
    """An LIF head with random weights (float64) that spikes in a fair share of steps."""
    head = LIFHead(C, n_inputs=N, params=params, **kwargs).to(F64)
    with torch.no_grad():
        head.synapses.weight.normal_(0.02, 0.2, generator=gen)
        head.synapses.bias.uniform_(-0.5, 0.5, generator=gen)
    return head


def assert_one_line(error: pytest.ExceptionInfo) -> None:
    text = str(error.value)
    assert text and "\n" not in text


def assert_same_output(a, b, atol: float = 1e-12) -> None:
    assert torch.equal(a.spikes, b.spikes)
    torch.testing.assert_close(a.membrane, b.membrane, rtol=0, atol=atol)


# --------------------------------------------------------------------------- round trip


def test_round_trip_gives_identical_spikes_and_membranes(tmp_path, gen, v4_spikes):
    head = random_head(gen)
    path = tmp_path / "head.nir"
    export_nir(head, path)
    back = import_nir(path)

    ours, theirs = head(v4_spikes), back(v4_spikes)
    n_spikes = int(ours.spikes.sum())
    assert 0.05 * T * B * C < n_spikes < 0.6 * T * B * C  # a real spiking regime
    assert_same_output(ours, theirs, atol=1e-12)
    assert back.synapses.weight.dtype == F64
    torch.testing.assert_close(back.synapses.weight, head.synapses.weight, rtol=0, atol=0)
    torch.testing.assert_close(back.synapses.bias, head.synapses.bias, rtol=1e-14, atol=1e-16)


def test_round_trip_of_a_recognizer_trained_for_a_few_steps(tmp_path, gen):
    model = build_recognizer(
        "lif", in_channels=1, n_classes=3, encoder="rate", n_steps=12, head_params=ZERO
    )
    init_parameters(model, gen)
    images = torch.rand(6, 1, 28, 28, generator=gen)
    labels = torch.tensor([0, 1, 2, 0, 1, 2])
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
    before = model.head.synapses.weight.detach().clone()
    for _ in range(3):
        out = model(images, torch.Generator().manual_seed(0))
        loss = nn.functional.cross_entropy(out.head.logits, labels)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    assert not torch.equal(before, model.head.synapses.weight)  # it did train

    graph = export_nir(model, tmp_path / "model.nir")
    assert graph.nodes["input"].input_type["input"].tolist() == [N]
    assert "not exported" in graph.metadata["spikerec.v4_encoder"]
    back = import_nir(tmp_path / "model.nir")
    with torch.no_grad():
        v4 = model(images, torch.Generator().manual_seed(1)).v4_spikes
        ours, theirs = model.head(v4), back(v4)
    assert ours.spikes.sum() > 0
    assert_same_output(ours, theirs, atol=1e-6)


def test_per_neuron_tau_and_threshold_round_trip(tmp_path, gen, v4_spikes):
    head = random_head(gen, learn_tau=True, learn_threshold=True)
    with torch.no_grad():
        head.lif.log_tau_mem_ms.copy_(torch.log(torch.tensor([5.0, 8.0, 12.0, 20.0], dtype=F64)))
        head.lif.v_th.copy_(torch.tensor([0.8, 1.0, 1.2, 1.5], dtype=F64))
    graph = export_nir(head, tmp_path / "h.nir")
    np.testing.assert_allclose(graph.nodes["lif"].tau, [0.005, 0.008, 0.012, 0.020], rtol=1e-12)
    np.testing.assert_allclose(graph.nodes["lif"].v_threshold, [0.8, 1.0, 1.2, 1.5], rtol=0)

    back = import_nir(tmp_path / "h.nir")
    assert back.lif.log_tau_mem_ms is not None and back.lif.v_th is not None
    ours, theirs = head(v4_spikes), back(v4_spikes)
    assert ours.spikes.sum() > 0.05 * T * B * C
    assert_same_output(ours, theirs, atol=1e-12)


def test_integrator_travels_in_metadata(tmp_path, gen, v4_spikes):
    head = random_head(gen, integrator="euler")
    export_nir(head, tmp_path / "euler.nir")
    back = import_nir(tmp_path / "euler.nir")
    assert back.lif.integrator.name == "euler"
    assert_same_output(head(v4_spikes), back(v4_spikes))
    # the metadata matters: the exact integrator gives other membranes
    exact = import_nir(tmp_path / "euler.nir", integrator="exact")
    assert (exact(v4_spikes).membrane - head(v4_spikes).membrane).abs().max() > 1e-3


def test_bare_linear_lif_pair_without_bias(tmp_path, gen, v4_spikes):
    linear = nn.Linear(N, C, bias=False).to(F64)
    with torch.no_grad():
        linear.weight.normal_(0.05, 0.2, generator=gen)
    lif = LIF(ZERO)
    graph = export_nir((linear, lif), tmp_path / "pair.nir")
    assert isinstance(graph.nodes["synapses"], nir.Linear)
    back = import_nir(tmp_path / "pair.nir")
    ours = lif(linear(v4_spikes))
    assert ours.spikes.sum() > 0.05 * T * B * C
    assert_same_output(ours, back(v4_spikes))
    # either order of the pair
    assert isinstance(to_nir_graph((lif, linear)).nodes["lif"], nir.LIF)


# --------------------------------------------------------------------------- the file itself


def test_file_holds_the_documented_parameters(tmp_path, gen):
    params = LIFParams(
        tau_mem_ms=20.0, dt_ms=0.5, v_rest=-0.2, v_reset=-0.1, v_th=1.5, r_m=2.5, reset="zero"
    )
    head = random_head(gen, params)
    export_nir(head, tmp_path / "p.nir")
    graph = nir.read(tmp_path / "p.nir")
    lif, syn = graph.nodes["lif"], graph.nodes["synapses"]
    assert isinstance(lif, nir.LIF) and isinstance(syn, nir.Affine)
    np.testing.assert_array_equal(lif.tau, np.full(C, 0.020))  # seconds
    np.testing.assert_array_equal(lif.r, np.full(C, 2.5e-3))
    np.testing.assert_array_equal(lif.v_leak, np.full(C, -0.2))
    np.testing.assert_array_equal(lif.v_threshold, np.full(C, 1.5))
    np.testing.assert_array_equal(lif.v_reset, np.full(C, -0.1))
    # a spike of weight w makes v jump by r w / tau in NIR, r_m w / tau_mem_ms in spikerec
    np.testing.assert_allclose(lif.r / lif.tau, 2.5 / 20.0, rtol=1e-14)
    np.testing.assert_array_equal(syn.weight, head.synapses.weight.detach().numpy())
    b = head.synapses.bias.detach().numpy()
    one_minus_beta = 1.0 - math.exp(-0.5 / 20.0)
    np.testing.assert_allclose(syn.bias, b / (one_minus_beta * 0.020), rtol=1e-12)
    assert graph.metadata["dt"] == pytest.approx(0.5e-3, rel=1e-15)
    assert graph.metadata["spikerec.integrator"] == "exact"
    assert graph.metadata["spikerec.reset"] == "zero"
    assert sorted(graph.edges) == sorted(
        [("input", "synapses"), ("synapses", "lif"), ("lif", "output")]
    )


def nir_continuous_reference(graph, spikes: np.ndarray) -> tuple[np.ndarray, np.ndarray, int]:
    """Read a NIR graph as its continuous-time equations, independently of spikerec.

    V4 spikes of step n arrive as Dirac pulses at t = (n + 1) dt; in between, v relaxes
    exactly towards ``v_leak + r * bias_current``; NIR fires on ``v > v_threshold`` and
    resets to ``v_reset``. Returns spikes, membrane at the spike arrivals (before the
    reset), and how often v would have crossed the threshold between arrivals.
    """
    syn, lif = graph.nodes["synapses"], graph.nodes["lif"]
    dt = float(graph.metadata["dt"])
    tau, r = lif.tau, lif.r
    v_inf = lif.v_leak + r * syn.bias
    decay = np.exp(-dt / tau)
    v = np.broadcast_to(lif.v_leak, spikes.shape[1:2] + tau.shape).copy()
    out_s, out_v, crossings = [], [], 0
    for s in spikes:
        v = v_inf + (v - v_inf) * decay  # monotone between arrivals
        crossings += int((v > lif.v_threshold).sum())
        v = v + r / tau * (s @ syn.weight.T)
        fired = v > lif.v_threshold
        out_s.append(fired.astype(float))
        out_v.append(v.copy())
        v = np.where(fired, lif.v_reset, v)
    return np.stack(out_s), np.stack(out_v), crossings


def test_continuous_time_reading_of_the_file_reproduces_spikerec(tmp_path, gen, v4_spikes):
    head = random_head(gen)
    export_nir(head, tmp_path / "h.nir")
    graph = nir.read(tmp_path / "h.nir")
    spikes, membrane, crossings = nir_continuous_reference(graph, v4_spikes.numpy())
    assert crossings == 0  # bias alone never reaches threshold here: no mid-step spikes
    ours = head(v4_spikes)
    assert ours.spikes.sum() > 0.05 * T * B * C
    np.testing.assert_array_equal(spikes, ours.spikes.detach().numpy())
    np.testing.assert_allclose(membrane, ours.membrane.detach().numpy(), rtol=0, atol=1e-12)


# --------------------------------------------------------------------------- resets


def test_subtract_reset_is_refused_unless_recorded_in_metadata(tmp_path, gen, v4_spikes):
    head = random_head(gen, LIFParams(tau_mem_ms=10.0, dt_ms=1.0, reset="subtract"))
    with pytest.raises(ValueError, match="reset='subtract'") as error:
        export_nir(head, tmp_path / "s.nir")
    assert_one_line(error)
    assert not (tmp_path / "s.nir").exists()

    export_nir(head, tmp_path / "s.nir", allow_nonstandard_reset=True)
    graph = nir.read(tmp_path / "s.nir")
    assert graph.metadata["spikerec.reset"] == "subtract"
    ours = head(v4_spikes)
    assert_same_output(ours, import_nir(graph)(v4_spikes))
    # Why it is refused by default: a reader that follows NIR (reset to v_reset) and
    # ignores the metadata gets other spikes.
    del graph.metadata["spikerec.reset"]
    nir_reading = import_nir(graph)(v4_spikes)
    assert nir_reading.spikes.sum() > 0
    assert not torch.equal(nir_reading.spikes, ours.spikes)


# --------------------------------------------------------------------------- errors


def test_export_refusals_are_one_line(tmp_path, gen):
    cases = [
        (LIFHead(C, n_inputs=8, params=ZERO.replace(t_ref_ms=2.0)), ValueError, "refractory"),
        ((nn.Linear(8, C), LIF(ZERO, synapse="current")), ValueError, "synapse='current'"),
        (LIF(ZERO), TypeError, "export_nir takes"),
        ((nn.Linear(8, C), nn.Linear(8, C)), TypeError, "export_nir takes"),
    ]
    for model, kind, text in cases:
        with pytest.raises(kind, match=text) as error:
            export_nir(model, tmp_path / "x.nir")
        assert_one_line(error)
    rate_head = Recognizer(V4FrontEnd(1), RateSoftmaxHead(C), RateEncoder(5))
    with pytest.raises(ValueError, match="RateSoftmaxHead") as error:
        export_nir(rate_head, tmp_path / "x.nir")
    assert_one_line(error)
    assert not (tmp_path / "x.nir").exists()


def _graph(lif_node, *, metadata=None, extra_edges=()):
    """Input [3] -> Affine -> ``lif_node`` [2] -> Output, then ``extra_edges`` added."""
    weight = np.ones((2, 3))
    graph = nir.NIRGraph(
        nodes={
            "input": nir.Input(input_type={"input": np.array([3])}),
            "synapses": nir.Affine(weight=weight, bias=np.zeros(2)),
            "lif": lif_node,
            "output": nir.Output(output_type={"output": np.array([2])}),
        },
        edges=[("input", "synapses"), ("synapses", "lif"), ("lif", "output")],
        metadata={"dt": 1e-3} if metadata is None else metadata,
    )
    graph.edges.extend(extra_edges)  # after the constructor's type check
    return graph


def _nir_lif(**changes):
    values = {
        "tau": np.full(2, 0.01),
        "r": np.full(2, 1e-3),
        "v_leak": np.zeros(2),
        "v_threshold": np.ones(2),
        "v_reset": np.zeros(2),
    }
    values.update(changes)
    return nir.LIF(**values)


def test_import_refusals_are_one_line(tmp_path):
    import h5py

    text_file = tmp_path / "notes.nir"
    text_file.write_text("not a graph")
    h5_file = tmp_path / "other.h5"
    with h5py.File(h5_file, "w") as f:
        f.create_dataset("x", data=np.arange(3))
    cubalif = nir.CubaLIF(
        tau_syn=np.full(2, 0.005),
        tau_mem=np.full(2, 0.01),
        r=np.ones(2),
        v_leak=np.zeros(2),
        v_threshold=np.ones(2),
    )
    cases = [
        (tmp_path / "missing.nir", "does not exist"),
        (text_file, "not a NIR file"),
        (h5_file, "not a valid NIR graph"),
        (_graph(cubalif), "'lif' is a CubaLIF"),
        (_graph(_nir_lif(), metadata={}), "records no time step"),
        (_graph(_nir_lif(r=np.array([1e-3, 2e-3]))), "r differs between neurons"),
        (_graph(_nir_lif(), extra_edges=[("lif", "synapses")]), "do not form"),
        (_graph(_nir_lif(tau=np.array([0.01, -0.01]))), "tau must be > 0"),
    ]
    for source, text in cases:
        with pytest.raises(ValueError, match=text) as error:
            import_nir(source)
        assert_one_line(error)
    with pytest.raises(TypeError, match="path or a nir.NIRGraph"):
        import_nir(42)


def test_graph_without_dt_imports_with_an_explicit_step():
    head = import_nir(_graph(_nir_lif(), metadata={}), dt_ms=0.5)
    assert head.lif.params.dt_ms == 0.5
    assert head.lif.params.reset == "zero"  # NIR's reset
    assert head.lif.params.tau_mem_ms == pytest.approx(10.0, rel=1e-14)
    assert head.lif.params.r_m == pytest.approx(1.0, rel=1e-14)


def test_missing_nir_package_names_the_extra(monkeypatch, tmp_path):
    monkeypatch.setitem(sys.modules, "nir", None)  # import nir now raises ImportError
    with pytest.raises(ImportError, match=r"pip install 'spikerec\[nir\]'") as error:
        export_nir(LIFHead(C, n_inputs=8, params=ZERO), tmp_path / "x.nir")
    assert_one_line(error)


# --------------------------------------------------------------------------- V4 encoder


def test_lif_population_encoder_is_not_representable_in_nir():
    """Why the LIF encoder is not exported: under a held current spikerec fires only at
    step ends, NIR's continuous-time LIF at the exact crossing time; the counts differ."""
    params = LIFParams(tau_mem_ms=5.0, dt_ms=1.0, r_m=4.0, reset="zero")
    n_steps, feature = 25, 0.5
    spikes = LIFPopulationEncoder(n_steps, params)(torch.full((1, 1), feature, dtype=F64))
    grid_count = int(spikes.sum())
    # continuous time, reset to 0: period tau ln(v_inf / (v_inf - v_th)), v_inf = r_m I
    v_inf = params.r_m * feature
    period = params.tau_mem_ms * math.log(v_inf / (v_inf - params.v_th))
    continuous_count = math.floor(n_steps * params.dt_ms / period)
    assert (grid_count, continuous_count) == (6, 7)

    model = Recognizer(V4FrontEnd(1), LIFHead(C, params=ZERO), LIFPopulationEncoder(5))
    note = to_nir_graph(model).metadata["spikerec.v4_encoder"]
    assert note.startswith("lif: not exported")


# --------------------------------------------------------------------------- snntorch's reading


def _snntorch_import(graph):
    pytest.importorskip("nirtorch")
    from snntorch.import_nir import import_from_nir

    with contextlib.redirect_stdout(io.StringIO()):  # it prints warnings
        return import_from_nir(graph)


def _run_snntorch(net, spikes: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    net.lif.reset_hidden()
    spk, mem = [], []
    for s in spikes.to(torch.float32):
        out, _ = net(s)
        spk.append(out.detach())
        mem.append(net.lif.mem.detach().clone())
    return torch.stack(spk), torch.stack(mem)


def test_snntorch_import_builds_another_neuron_model(tmp_path, gen, v4_spikes):
    head = random_head(gen)
    export_nir(head, tmp_path / "h.nir")
    graph = nir.read(tmp_path / "h.nir")
    net = _snntorch_import(graph)

    # The Affine arrives unchanged (as float32) ...
    np.testing.assert_array_equal(
        net.synapses.weight.detach().numpy(), graph.nodes["synapses"].weight.astype(np.float32)
    )
    np.testing.assert_array_equal(
        net.synapses.bias.detach().numpy(), graph.nodes["synapses"].bias.astype(np.float32)
    )
    # ... the LIF does not: snntorch assumes dt = 1e-4 s whatever the graph says,
    # discretises with forward Euler, and scales the threshold by 1 / (r dt / tau).
    snn_dt, tau, r = 1e-4, 0.010, 1e-3
    leaky = net.lif
    assert leaky.beta.flatten()[0].item() == pytest.approx(1 - snn_dt / tau, rel=1e-6)  # 0.99
    assert 1 - snn_dt / tau != pytest.approx(math.exp(-1.0 / 10.0), rel=1e-3)  # ours 0.905
    assert leaky.threshold.item() == pytest.approx(1.0 / (r * snn_dt / tau), rel=1e-6)  # 1e5
    assert (leaky.reset_mechanism, leaky.reset_delay) == ("zero", False)

    ours = head(v4_spikes)
    spk, mem = _run_snntorch(net, v4_spikes)
    assert ours.spikes.sum() > 0.05 * T * B * C
    assert spk.sum() == 0  # a spike moves snntorch's v by 1e-5 w instead of 0.1 w: silent
    assert not torch.equal(spk.to(F64), ours.spikes)

    # What snntorch built is exactly this spikerec layer: beta 0.99 per 1-ms step
    # (tau 99.5 ms), unit input gain, threshold 1e5, fed the Affine output x = W s + b_nir.
    tau_snn_ms = -1.0 / math.log(1 - snn_dt / tau)
    mimic = LIF(
        LIFParams(
            tau_mem_ms=tau_snn_ms,
            dt_ms=1.0,
            r_m=tau_snn_ms,
            v_th=leaky.threshold.item(),
            reset="zero",
        )
    )
    syn = graph.nodes["synapses"]
    x = v4_spikes @ torch.from_numpy(syn.weight).T + torch.from_numpy(syn.bias)
    reference = mimic(x)
    assert torch.equal(reference.spikes, spk.to(F64))
    torch.testing.assert_close(mem.to(F64), reference.membrane, rtol=2e-5, atol=1e-4)
    assert reference.membrane.abs().max() > 1.0  # a non-trivial trace was compared


def test_snntorch_import_matches_once_the_neuron_mapping_is_fixed(tmp_path, gen, v4_spikes):
    """Only the LIF mapping differs: give snntorch's Leaky our beta and threshold and feed
    it our per-step voltage jumps (r_m/tau_mem_ms times weight and bias), and it
    reproduces our spikes exactly."""
    head = random_head(gen)
    export_nir(head, tmp_path / "h.nir")
    net = _snntorch_import(nir.read(tmp_path / "h.nir"))
    gain = head.lif.params.r_m / head.lif.params.tau_mem_ms
    with torch.no_grad():
        net.lif.beta.fill_(math.exp(-1.0 / 10.0))
        net.lif.threshold.fill_(1.0)
        net.synapses.weight.copy_(head.synapses.weight * gain)
        net.synapses.bias.copy_(head.synapses.bias * gain)
    ours = head(v4_spikes)
    spk, mem = _run_snntorch(net, v4_spikes)
    assert ours.spikes.sum() > 0.05 * T * B * C
    assert torch.equal(spk.to(F64), ours.spikes)
    post_reset = torch.where(ours.spikes > 0, torch.zeros_like(ours.membrane), ours.membrane)
    torch.testing.assert_close(mem.to(F64), post_reset, rtol=0, atol=1e-5)


@pytest.mark.filterwarnings("ignore::DeprecationWarning:nirtorch.*")
def test_snntorch_export_uses_its_own_convention():
    """snntorch's export writes a Leaky(beta) as tau = 1e-4/(1 - beta) s, r = tau/1e-4,
    v_reset = 0 whatever its reset, and no dt: a 0.1-ms Euler step with the input held
    as a current. Read as NIR (Dirac spikes), a unit input would jump by r/tau = 1e4."""
    pytest.importorskip("nirtorch")
    import snntorch as snn
    from snntorch.export_nir import export_to_nir

    beta = torch.full((3,), 0.9)  # a scalar beta fails NIR's type inference (0-d params)
    leaky = snn.Leaky(beta=beta, threshold=torch.ones(3), init_hidden=True, reset_delay=False)
    with contextlib.redirect_stdout(io.StringIO()):
        graph = export_to_nir(nn.Sequential(nn.Linear(5, 3), leaky), torch.zeros(5))
    (lif,) = [node for node in graph.nodes.values() if isinstance(node, nir.LIF)]
    np.testing.assert_allclose(lif.tau, 1e-4 / (1 - 0.9), rtol=1e-6)
    np.testing.assert_allclose(lif.r, lif.tau / 1e-4, rtol=1e-6)
    np.testing.assert_array_equal(lif.v_reset, 0.0)  # the subtract reset is lost
    assert "dt" not in (graph.metadata or {})
    head = import_nir(graph, dt_ms=0.1)
    assert head.lif.params.r_m / head.lif.params.tau_mem_ms == pytest.approx(1e4, rel=1e-5)

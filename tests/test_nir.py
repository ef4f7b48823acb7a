"""NIR export/import of the spiking part (synapses + LIF output layer), read by the other
tools themselves.

Evidence gathered here:

* the default (discrete) file is read by snntorch's ``import_from_nir`` and by norse's
  ``from_nir(graph, dt=1e-4)`` with spikerec's spikes, spike for spike, on V4 spikes of
  32 digits images; the continuous file is read right by an independent NumPy
  continuous-time reader, and wrong by both tools (which is why it is not the default);
* round trip: export -> import gives identical output spikes and membranes (float64),
  in both forms;
* what NIR cannot carry (a subtract reset, ...) is refused in one line, and the tests
  show the other tools' spikes would differ;
* graphs written by snntorch's ``export_to_nir`` and norse's ``to_nir`` import with the
  spikes those tools give, or are refused in one line.
"""

from __future__ import annotations

import contextlib
import io
import logging
import math
import sys

import numpy as np
import pytest
import torch
from torch import nn

nir = pytest.importorskip("nir")

from spikerec import LIF, LIFParams, load_dataset  # noqa: E402
from spikerec.interop import export_nir, import_nir, to_nir_graph  # noqa: E402
from spikerec.interop.nir_graph import DISCRETE_DT_S  # noqa: E402
from spikerec.recognition.encoders import LIFPopulationEncoder, RateEncoder  # noqa: E402
from spikerec.recognition.frontend import V4FrontEnd  # noqa: E402
from spikerec.recognition.heads import LIFHead, RateSoftmaxHead  # noqa: E402
from spikerec.recognition.recognizer import Recognizer, build_recognizer, init_parameters  # noqa: E402

F64 = torch.float64
T, B, N, C = 40, 3, 3136, 4
ZERO = LIFParams(tau_mem_ms=10.0, dt_ms=1.0, r_m=1.0, reset="zero")
FORMS = ("discrete", "continuous")


@pytest.fixture
def gen() -> torch.Generator:
    return torch.Generator().manual_seed(3)


@pytest.fixture
def v4_spikes(gen) -> torch.Tensor:
    """Bernoulli V4 spike trains [T, B, N], p = 0.1 per step, float64."""
    return (torch.rand(T, B, N, generator=gen, dtype=F64) < 0.1).to(F64)


@pytest.fixture
def digits_v4() -> torch.Tensor:
    """V4 spikes [25, 32, 3136] (float32) of 32 digits test images: a seeded CNN front end
    and the deterministic LIF-population encoder, as in ``spikerec train``."""
    generator = torch.Generator().manual_seed(0)
    model = build_recognizer("lif", in_channels=1, n_classes=10, n_steps=25, head_params=ZERO)
    init_parameters(model, generator)
    model.eval()
    with torch.no_grad():
        return model(load_dataset("digits", seed=0).test.images[:32], generator).v4_spikes


def random_head(gen: torch.Generator, params: LIFParams = ZERO, **kwargs) -> LIFHead:
    """An LIF head with random weights (float64) that spikes in a fair share of steps."""
    head = LIFHead(C, n_inputs=N, params=params, **kwargs).to(F64)
    with torch.no_grad():
        head.synapses.weight.normal_(0.02, 0.2, generator=gen)
        head.synapses.bias.uniform_(-0.5, 0.5, generator=gen)
    return head


def digits_head(params: LIFParams = ZERO, **kwargs) -> LIFHead:
    """A float32 head of 10 neurons with seeded random weights, for ``digits_v4``: it
    spikes in about 14 % of the neuron-steps."""
    generator = torch.Generator().manual_seed(1)
    head = LIFHead(10, params=params, **kwargs)
    with torch.no_grad():
        head.synapses.weight.normal_(0.02, 0.3, generator=generator)
        head.synapses.bias.uniform_(-0.5, 0.5, generator=generator)
    return head


def assert_one_line(error: pytest.ExceptionInfo) -> None:
    text = str(error.value)
    assert text and "\n" not in text


def assert_same_output(a, b, atol: float = 1e-12) -> None:
    assert torch.equal(a.spikes, b.spikes)
    torch.testing.assert_close(a.membrane, b.membrane, rtol=0, atol=atol)


# --------------------------------------------------------------------------- the other tools


def _snntorch_import(graph):
    pytest.importorskip("nirtorch")
    from snntorch.import_nir import import_from_nir

    with contextlib.redirect_stdout(io.StringIO()):  # it prints warnings
        return import_from_nir(graph)


def _run_snntorch(net, spikes: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Spikes and (post-reset) membranes ``[T, B, C]`` of snntorch's imported graph."""
    import snntorch as snn

    (leaky,) = [m for m in net.modules() if isinstance(m, snn.Leaky)]
    leaky.reset_hidden()
    spk, mem = [], []
    for s in spikes.to(torch.float32):
        out, _ = net(s)
        spk.append(out.detach())
        mem.append(leaky.mem.detach().clone())
    return torch.stack(spk), torch.stack(mem)


def _norse():
    pytest.importorskip("nirtorch")
    return pytest.importorskip("norse.torch")


def _run_norse(module, spikes: torch.Tensor) -> torch.Tensor:
    """Spikes ``[T, B, C]`` of a norse module run step by step with its state."""
    state, out = None, []
    for s in spikes.to(torch.float32):
        z, state = module(s, state)
        out.append(z.detach())
    return torch.stack(out)


def _norse_import(graph, **kwargs):
    logging.disable(logging.WARNING)  # norse logs a warning for r != 1
    try:
        return _norse().from_nir(graph, **kwargs)
    finally:
        logging.disable(logging.NOTSET)


pytestmark = pytest.mark.filterwarnings(
    "ignore:`torch.jit.script` is deprecated:FutureWarning",
    "ignore::DeprecationWarning:nirtorch.*",
)


def test_snntorch_and_norse_read_the_default_file_spike_for_spike(tmp_path, digits_v4):
    head = digits_head()
    ours = head(digits_v4)
    n_spikes = int(ours.spikes.sum())
    assert 0.03 * ours.spikes.numel() < n_spikes < 0.5 * ours.spikes.numel()
    export_nir(head, tmp_path / "head.nir")
    graph = nir.read(tmp_path / "head.nir")
    assert graph.metadata["dt"] == DISCRETE_DT_S

    snn_spikes, _ = _run_snntorch(_snntorch_import(graph), digits_v4)
    assert torch.equal(snn_spikes, ours.spikes)
    norse_spikes = _run_norse(_norse_import(graph, dt=graph.metadata["dt"]), digits_v4)
    assert torch.equal(norse_spikes, ours.spikes)
    # norse's default step (1e-3 s) is not the file's: other spikes
    wrong_step = _run_norse(_norse_import(graph), digits_v4)
    assert (wrong_step != ours.spikes).sum() > 0.1 * n_spikes


def test_per_neuron_thresholds_reach_norse(tmp_path, digits_v4):
    head = digits_head(learn_threshold=True)
    with torch.no_grad():
        head.lif.v_th.copy_(torch.linspace(0.6, 1.5, 10))
    ours = head(digits_v4)
    graph = export_nir(head, tmp_path / "h.nir")
    np.testing.assert_allclose(graph.nodes["lif"].v_threshold, np.linspace(0.6, 1.5, 10), 1e-6)
    assert ours.spikes.sum() > 0.03 * ours.spikes.numel()
    assert torch.equal(_run_norse(_norse_import(graph, dt=DISCRETE_DT_S), digits_v4), ours.spikes)
    # snntorch 1.0 refuses per-neuron thresholds itself, loudly
    with pytest.raises(AssertionError, match="v_thr"):
        _snntorch_import(graph)


def test_snntorch_and_norse_misread_the_continuous_file(tmp_path, digits_v4):
    """Why the continuous form is not the default: snntorch fixes dt = 1e-4 s and reads a
    spike as a unit-height current of one step (1e4 times weaker than NIR's Dirac
    pulse); norse ignores r, so the bias current comes out 1000 times too strong."""
    head = digits_head()
    ours = head(digits_v4)
    graph = export_nir(head, tmp_path / "c.nir", form="continuous")
    assert int(_run_snntorch(_snntorch_import(graph), digits_v4)[0].sum()) == 0
    norse_spikes = _run_norse(_norse_import(graph, dt=graph.metadata["dt"]), digits_v4)
    assert norse_spikes.sum() > 2 * ours.spikes.sum()
    assert_same_output(import_nir(graph)(digits_v4), ours, atol=1e-5)  # spikerec reads it right


def test_subtract_reset_is_refused_because_the_tools_reset_to_zero(tmp_path, digits_v4):
    head = digits_head(ZERO.replace(reset="subtract"))
    with pytest.raises(ValueError, match="reset='subtract' has no NIR form") as error:
        export_nir(head, tmp_path / "s.nir")
    assert_one_line(error)
    assert "--reset zero" in str(error.value)
    assert not (tmp_path / "s.nir").exists()

    export_nir(head, tmp_path / "s.nir", allow_nonstandard_reset=True)
    graph = nir.read(tmp_path / "s.nir")
    assert graph.metadata["spikerec.reset"] == "subtract"
    ours = head(digits_v4)
    assert_same_output(ours, import_nir(graph)(digits_v4), atol=1e-5)  # spikerec honours it
    # snntorch and norse reset to zero: other spikes
    for theirs in (
        _run_snntorch(_snntorch_import(graph), digits_v4)[0],
        _run_norse(_norse_import(graph, dt=DISCRETE_DT_S), digits_v4),
    ):
        assert theirs.sum() > 0
        assert (theirs != ours.spikes).sum() > 0.05 * ours.spikes.sum()


def test_snntorch_export_imports_with_snntorchs_spikes(gen):
    """snntorch's export_to_nir writes a Leaky(beta) as tau = 1e-4/(1 - beta) s,
    r = tau/1e-4, v_reset = 0 and no dt: forward-Euler steps of 0.1 ms with the input
    held. Read as that, spikerec reproduces snntorch's own reading and the Leaky."""
    pytest.importorskip("nirtorch")
    import snntorch as snn
    from snntorch.export_nir import export_to_nir

    x = (torch.rand(60, 4, 50, generator=gen) < 0.3).float()
    linear = nn.Linear(50, 3)
    with torch.no_grad():
        linear.weight.normal_(0.1, 0.3, generator=gen)
    for reset in ("zero", "subtract"):
        # scalar beta or threshold fail NIR's shape check (0-d parameters)
        beta = torch.tensor([0.8, 0.9, 0.95])
        leaky = snn.Leaky(
            beta=beta,
            threshold=torch.ones(3),
            init_hidden=True,
            reset_delay=False,
            reset_mechanism=reset,
        )
        model = nn.Sequential(linear, leaky)
        with contextlib.redirect_stdout(io.StringIO()):
            graph = export_to_nir(model, torch.zeros(50))
        (lif,) = [node for node in graph.nodes.values() if isinstance(node, nir.LIF)]
        np.testing.assert_allclose(lif.tau, 1e-4 / (1 - beta.numpy()), rtol=1e-6)
        np.testing.assert_array_equal(lif.v_reset, 0.0)  # whatever the reset mechanism
        assert "dt" not in (graph.metadata or {})

        with pytest.raises(ValueError, match="another tool") as error:
            import_nir(graph)
        assert_one_line(error)

        leaky.reset_hidden()
        with torch.no_grad():
            original = torch.stack([model(s) for s in x])
        snntorch_reading, _ = _run_snntorch(_snntorch_import(graph), x)
        head = import_nir(graph, form="discrete", dt_ms=0.1)
        ours = head(x).spikes
        assert head.lif.integrator.name == "euler" and head.lif.params.dt_ms == 0.1
        assert original.sum() > 0.05 * original.numel()
        assert torch.equal(ours, snntorch_reading)  # what snntorch itself reads back
        if reset == "zero":
            assert torch.equal(ours, original)
        else:  # snntorch's export drops the subtract reset; its own import resets to zero
            assert not torch.equal(snntorch_reading, original)


def test_norse_export_is_refused_and_read_like_norse_once_tau_is_fixed(gen):
    """norse 1.1's to_nir writes tau = dt / tau_mem_inv (dt * tau, 1e-5 s for its default
    10 ms at dt = 1e-3 s), which its own from_nir reads as a diverging Euler step. With
    tau corrected, spikerec reads the graph as norse does and as the original model."""
    norse = _norse()
    linear = nn.Linear(50, 3)
    with torch.no_grad():
        linear.weight.normal_(0.1, 0.3, generator=gen)
        linear.bias.uniform_(-0.2, 0.2, generator=gen)
    model = norse.SequentialState(linear, norse.LIFBoxCell())
    graph = norse.to_nir(model, torch.zeros(1, 50))
    (lif,) = [node for node in graph.nodes.values() if isinstance(node, nir.LIF)]
    assert float(lif.tau) == pytest.approx(1e-3 * 1e-2, rel=1e-6)  # dt * tau
    with pytest.raises(ValueError, match="norse 1.1's to_nir") as error:
        import_nir(graph, form="discrete", dt_ms=1.0)
    assert_one_line(error)

    lif.tau = torch.as_tensor(1e-2)  # what it should have written
    x = (torch.rand(60, 4, 50, generator=gen) < 0.3).float()
    original = _run_norse(model, x)
    norse_reading = _run_norse(_norse_import(graph), x)  # dt = 1e-3 s, its default
    ours = import_nir(graph, form="discrete", dt_ms=1.0)(x).spikes
    assert original.sum() > 0.05 * original.numel()
    assert torch.equal(norse_reading, original)
    assert torch.equal(ours, norse_reading)


# --------------------------------------------------------------------------- round trip


@pytest.mark.parametrize("form", FORMS)
def test_round_trip_gives_identical_spikes_and_membranes(tmp_path, gen, v4_spikes, form):
    head = random_head(gen)
    path = tmp_path / "head.nir"
    export_nir(head, path, form=form)
    back = import_nir(path)

    ours, theirs = head(v4_spikes), back(v4_spikes)
    n_spikes = int(ours.spikes.sum())
    assert 0.05 * T * B * C < n_spikes < 0.6 * T * B * C  # a real spiking regime
    assert_same_output(ours, theirs, atol=1e-12)
    assert back.lif.params == head.lif.params
    assert back.synapses.weight.dtype == F64
    # continuous: weights bit for bit; discrete: scaled and unscaled in float64
    atol = 0 if form == "continuous" else 1e-15
    torch.testing.assert_close(back.synapses.weight, head.synapses.weight, rtol=0, atol=atol)
    torch.testing.assert_close(back.synapses.bias, head.synapses.bias, rtol=1e-14, atol=1e-16)


def test_a_head_trained_with_the_default_settings_exports_and_reads_right(tmp_path):
    """``spikerec train``'s defaults give a head NIR can carry: the checkpoint's model,
    exported, runs spike for spike in spikerec, snntorch and norse."""
    from spikerec.commands.train import run_training
    from spikerec.training.config import TrainConfig
    from spikerec.training.evaluation import eval_generator
    from spikerec.training.trained_model import load_model

    config = TrainConfig(data="synthetic", epochs=1, n_steps=10)
    assert config.reset == TrainConfig().reset == "zero"
    run_dir, _ = run_training(config, out_root=tmp_path / "runs", progress=False)
    model, config, _ = load_model(run_dir)
    graph = export_nir(model, tmp_path / "head.nir")  # no allow_nonstandard_reset needed
    images = load_dataset("synthetic", seed=0).test.images[:16]
    with torch.no_grad():
        v4 = model(images, eval_generator(config)).v4_spikes
        ours = model.head(v4)
    assert ours.spikes.sum() > 0
    assert torch.equal(import_nir(tmp_path / "head.nir")(v4).spikes, ours.spikes)
    assert torch.equal(_run_snntorch(_snntorch_import(graph), v4)[0], ours.spikes)
    assert torch.equal(_run_norse(_norse_import(graph, dt=DISCRETE_DT_S), v4), ours.spikes)


@pytest.mark.parametrize("form", FORMS)
def test_round_trip_of_a_recognizer_trained_for_a_few_steps(tmp_path, gen, form):
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

    graph = export_nir(model, tmp_path / "model.nir", form=form)
    assert graph.nodes["input"].input_type["input"].tolist() == [N]
    assert "not exported" in graph.metadata["spikerec.v4_encoder"]
    back = import_nir(tmp_path / "model.nir")
    with torch.no_grad():
        v4 = model(images, torch.Generator().manual_seed(1)).v4_spikes
        ours, theirs = model.head(v4), back(v4)
    assert ours.spikes.sum() > 0
    assert_same_output(ours, theirs, atol=1e-6)
    if form == "discrete":  # and the other tools read the trained head spike for spike
        assert torch.equal(_run_snntorch(_snntorch_import(graph), v4)[0], ours.spikes)
        assert torch.equal(_run_norse(_norse_import(graph, dt=DISCRETE_DT_S), v4), ours.spikes)


def test_per_neuron_tau_and_threshold_round_trip_in_the_continuous_form(tmp_path, gen, v4_spikes):
    head = random_head(gen, learn_tau=True, learn_threshold=True)
    with torch.no_grad():
        head.lif.log_tau_mem_ms.copy_(torch.log(torch.tensor([5.0, 8.0, 12.0, 20.0], dtype=F64)))
        head.lif.v_th.copy_(torch.tensor([0.8, 1.0, 1.2, 1.5], dtype=F64))
    with pytest.raises(ValueError, match="per-neuron tau_mem_ms") as error:
        export_nir(head, tmp_path / "h.nir")
    assert_one_line(error)
    graph = export_nir(head, tmp_path / "h.nir", form="continuous")
    np.testing.assert_allclose(graph.nodes["lif"].tau, [0.005, 0.008, 0.012, 0.020], rtol=1e-12)
    np.testing.assert_allclose(graph.nodes["lif"].v_threshold, [0.8, 1.0, 1.2, 1.5], rtol=0)

    back = import_nir(tmp_path / "h.nir")
    assert back.lif.log_tau_mem_ms is not None and back.lif.v_th is not None
    ours, theirs = head(v4_spikes), back(v4_spikes)
    assert ours.spikes.sum() > 0.05 * T * B * C
    assert_same_output(ours, theirs, atol=1e-12)


def test_one_learned_tau_and_per_neuron_thresholds_round_trip_discretely(tmp_path, gen, v4_spikes):
    head = random_head(gen, learn_tau=True, learn_threshold=True)
    with torch.no_grad():
        head.lif.log_tau_mem_ms.fill_(math.log(7.5))
        head.lif.v_th.copy_(torch.tensor([0.8, 1.0, 1.2, 1.5], dtype=F64))
    export_nir(head, tmp_path / "h.nir")
    back = import_nir(tmp_path / "h.nir")
    assert back.lif.params.tau_mem_ms == pytest.approx(7.5, rel=1e-14)
    ours = head(v4_spikes)
    assert ours.spikes.sum() > 0.05 * T * B * C
    assert_same_output(ours, back(v4_spikes), atol=1e-12)


@pytest.mark.parametrize("form", FORMS)
def test_integrator_travels_in_metadata(tmp_path, gen, v4_spikes, form):
    head = random_head(gen, integrator="euler")
    export_nir(head, tmp_path / "euler.nir", form=form)
    back = import_nir(tmp_path / "euler.nir")
    assert back.lif.integrator.name == "euler"
    assert_same_output(head(v4_spikes), back(v4_spikes))


def test_the_continuous_form_takes_another_integrator(tmp_path, gen, v4_spikes):
    head = random_head(gen, integrator="euler")
    export_nir(head, tmp_path / "euler.nir", form="continuous")
    # the graph is the ODE: the exact integrator gives other membranes
    exact = import_nir(tmp_path / "euler.nir", integrator="exact")
    assert (exact(v4_spikes).membrane - head(v4_spikes).membrane).abs().max() > 1e-3
    # the discrete form is one update; it refuses another integrator
    export_nir(head, tmp_path / "d.nir")
    with pytest.raises(ValueError, match="leave dt_ms and integrator unset") as error:
        import_nir(tmp_path / "d.nir", integrator="exact")
    assert_one_line(error)


@pytest.mark.parametrize("form", FORMS)
def test_bare_linear_lif_pair_without_bias(tmp_path, gen, v4_spikes, form):
    linear = nn.Linear(N, C, bias=False).to(F64)
    with torch.no_grad():
        linear.weight.normal_(0.05, 0.2, generator=gen)
    lif = LIF(ZERO)
    graph = export_nir((linear, lif), tmp_path / "pair.nir", form=form)
    assert isinstance(graph.nodes["synapses"], nir.Linear)
    back = import_nir(tmp_path / "pair.nir")
    ours = lif(linear(v4_spikes))
    assert ours.spikes.sum() > 0.05 * T * B * C
    assert_same_output(ours, back(v4_spikes))
    # either order of the pair
    assert isinstance(to_nir_graph((lif, linear)).nodes["lif"], nir.LIF)


# --------------------------------------------------------------------------- the file itself


def test_discrete_file_holds_the_documented_parameters(tmp_path, gen):
    params = LIFParams(
        tau_mem_ms=20.0, dt_ms=0.5, v_rest=-0.2, v_reset=-0.1, v_th=1.5, r_m=2.5, reset="zero"
    )
    head = random_head(gen, params)
    export_nir(head, tmp_path / "p.nir")
    graph = nir.read(tmp_path / "p.nir")
    lif, syn = graph.nodes["lif"], graph.nodes["synapses"]
    beta = math.exp(-0.5 / 20.0)
    scale = (2.5 / 20.0) / (1 - beta)
    np.testing.assert_allclose(lif.tau, np.full(C, 1e-4 / (1 - beta)), rtol=1e-14)
    np.testing.assert_allclose(1 - 1e-4 / lif.tau, beta, rtol=1e-14)  # Euler decay = ours
    np.testing.assert_array_equal(lif.r, np.ones(C))
    np.testing.assert_allclose(lif.v_leak, np.full(C, -0.1), rtol=1e-15)  # v_rest - v_reset
    np.testing.assert_allclose(lif.v_threshold, np.full(C, 1.6), rtol=1e-15)  # v_th - v_reset
    np.testing.assert_array_equal(lif.v_reset, np.zeros(C))
    np.testing.assert_allclose(syn.weight, head.synapses.weight.detach().numpy() * scale, 1e-15)
    np.testing.assert_allclose(syn.bias, head.synapses.bias.detach().numpy() * scale, 1e-15)
    assert graph.metadata["dt"] == 1e-4
    assert graph.metadata["spikerec.form"] == "discrete"


def test_discrete_reading_of_the_file_reproduces_spikerec(tmp_path, gen, v4_spikes):
    """An independent NumPy reader of the discrete form: per step
    v <- v + (dt/tau)((v_leak - v) + r x), fire on v > v_threshold, reset to v_reset."""
    params = ZERO.replace(v_rest=0.1, v_reset=-0.3, v_th=0.9)
    head = random_head(gen, params, integrator="rk4")
    graph = to_nir_graph(head)
    syn, lif = graph.nodes["synapses"], graph.nodes["lif"]
    dt = graph.metadata["dt"]
    v = np.broadcast_to(lif.v_leak, (B, C)).astype(float)  # spikerec starts at rest
    spikes, membranes = [], []
    for s in v4_spikes.numpy():
        v = v + dt / lif.tau * ((lif.v_leak - v) + lif.r * (s @ syn.weight.T + syn.bias))
        fired = v > lif.v_threshold
        spikes.append(fired.astype(float))
        membranes.append(v.copy())
        v = np.where(fired, lif.v_reset, v)
    ours = head(v4_spikes)
    assert ours.spikes.sum() > 0.05 * T * B * C
    np.testing.assert_array_equal(np.stack(spikes), ours.spikes.detach().numpy())
    np.testing.assert_allclose(
        np.stack(membranes) + params.v_reset, ours.membrane.detach().numpy(), rtol=0, atol=1e-12
    )


def test_continuous_file_holds_the_documented_parameters(tmp_path, gen):
    params = LIFParams(
        tau_mem_ms=20.0, dt_ms=0.5, v_rest=-0.2, v_reset=-0.1, v_th=1.5, r_m=2.5, reset="zero"
    )
    head = random_head(gen, params)
    export_nir(head, tmp_path / "p.nir", form="continuous")
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
    assert graph.metadata["spikerec.surrogate"] == str(head.lif.surrogate)  # key as in 0.1
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
    export_nir(head, tmp_path / "h.nir", form="continuous")
    graph = nir.read(tmp_path / "h.nir")
    spikes, membrane, crossings = nir_continuous_reference(graph, v4_spikes.numpy())
    assert crossings == 0  # bias alone never reaches threshold here: no mid-step spikes
    ours = head(v4_spikes)
    assert ours.spikes.sum() > 0.05 * T * B * C
    np.testing.assert_array_equal(spikes, ours.spikes.detach().numpy())
    np.testing.assert_allclose(membrane, ours.membrane.detach().numpy(), rtol=0, atol=1e-12)


# --------------------------------------------------------------------------- errors


def test_export_refusals_are_one_line(tmp_path, gen):
    cases = [
        (LIFHead(C, n_inputs=8, params=ZERO.replace(t_ref_ms=2.0)), ValueError, "refractory"),
        ((nn.Linear(8, C), LIF(ZERO, synapse="current")), ValueError, "synapse='current'"),
        (LIFHead(C, n_inputs=8, params=ZERO.replace(reset="none")), ValueError, "reset='none'"),
        (
            LIFHead(C, n_inputs=8, params=ZERO.replace(dt_ms=15.0), integrator="euler"),
            ValueError,
            "decay per step is -0.5",
        ),
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
    with pytest.raises(ValueError, match="form='spiking' is not one of") as error:
        export_nir(LIFHead(C, n_inputs=8, params=ZERO), tmp_path / "x.nir", form="spiking")
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


def test_import_refusals_are_one_line(tmp_path, gen):
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
    edited = to_nir_graph(random_head(gen))
    edited.nodes["lif"].tau = edited.nodes["lif"].tau * 2
    continuous = {"form": "continuous"}
    cases = [
        (tmp_path / "missing.nir", {}, "does not exist"),
        (text_file, {}, "not a NIR file"),
        (h5_file, {}, "not a valid NIR graph"),
        (_graph(cubalif), continuous, "'lif' is a CubaLIF"),
        (_graph(_nir_lif()), {}, "comes from another tool"),
        (_graph(_nir_lif()), {"form": "analog"}, "form='analog' is not one of"),
        (_graph(_nir_lif(), metadata={}), continuous, "records no time step"),
        (_graph(_nir_lif(r=np.array([1e-3, 2e-3]))), continuous, "r differs between neurons"),
        (_graph(_nir_lif(), extra_edges=[("lif", "synapses")]), continuous, "do not form"),
        (_graph(_nir_lif(tau=np.array([0.01, -0.01]))), continuous, "tau must be > 0"),
        (_graph(_nir_lif(tau=np.full(2, 1e-3))), {"form": "discrete"}, "not longer than the step"),
        (edited, {}, "graph was edited after export"),
        (edited, {"form": "continuous"}, "written by spikerec in the discrete form"),
    ]
    for source, kwargs, text in cases:
        with pytest.raises(ValueError, match=text) as error:
            import_nir(source, **kwargs)
        assert_one_line(error)
    with pytest.raises(TypeError, match="path or a nir.NIRGraph"):
        import_nir(42)


def test_graph_without_dt_imports_with_an_explicit_step():
    head = import_nir(_graph(_nir_lif(), metadata={}), form="continuous", dt_ms=0.5)
    assert head.lif.params.dt_ms == 0.5
    assert head.lif.params.reset == "zero"  # NIR's reset
    assert head.lif.params.tau_mem_ms == pytest.approx(10.0, rel=1e-14)
    assert head.lif.params.r_m == pytest.approx(1.0, rel=1e-14)


def test_discrete_reading_of_a_foreign_graph_is_the_euler_update():
    head = import_nir(_graph(_nir_lif(r=np.full(2, 2.0))), form="discrete")  # dt from metadata
    p = head.lif.params
    assert (head.lif.integrator.name, p.dt_ms, p.reset) == ("euler", 1.0, "zero")
    assert p.tau_mem_ms == pytest.approx(10.0, rel=1e-14)
    # a held input x moves v by (dt/tau) r x = 0.2 x: spikerec's r_m / tau_mem_ms
    assert p.r_m / p.tau_mem_ms == pytest.approx(0.1 * 2.0, rel=1e-14)
    out = head(torch.full((3, 1, 3), 1.0, dtype=F64) / 6)  # x = W s + b = 0.5 per step
    v1 = 0.2 * 0.5
    torch.testing.assert_close(
        out.membrane[:2, 0, 0], torch.tensor([v1, 0.9 * v1 + v1], dtype=F64), rtol=1e-14, atol=0
    )


def test_missing_nir_package_says_how_to_install(monkeypatch, tmp_path):
    monkeypatch.setitem(sys.modules, "nir", None)  # import nir now raises ImportError
    with pytest.raises(ImportError, match=r"pip install nir") as error:
        export_nir(LIFHead(C, n_inputs=8, params=ZERO), tmp_path / "x.nir")
    assert_one_line(error)
    assert "pip install '.[nir]'" in str(error.value)


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

"""Export the spiking part of a spikerec model to NIR, and import it back.

NIR (the Neuromorphic Intermediate Representation, the ``nir`` package) describes a
network as a graph of nodes. spikerec writes the synapses ``Linear(N -> C)`` as an
``nir.Affine`` (``nir.Linear`` without bias) and the output neurons as an ``nir.LIF``::

    Input [N] --> Affine (W [C, N], b [C]) --> LIF [C] --> Output [C]

NIR's LIF is ``tau dv/dt = (v_leak - v) + r I``, fire when ``v > v_threshold``, then
``v = v_reset``. NIR fixes neither a time step nor what a spike is as an input, and
readers differ. spikerec writes one of two forms:

``form="discrete"`` (default): what snntorch's ``import_from_nir`` and norse's
``from_nir(graph, dt=1e-4)`` read. One spikerec step is one forward-Euler step of
``dt = 1e-4`` s (snntorch's fixed step, recorded as the ``"dt"`` metadata), and the
input of a step (``W s + b``, spikes ``s`` of 0 or 1) is held over that step::

    v <- v + (dt / tau) ((v_leak - v) + r (W s + b))

=============  ==================================================  ======================
NIR            value                                               why
=============  ==================================================  ======================
LIF tau        ``1e-4 / (1 - beta)`` s                             ``1 - dt/tau = beta``
LIF r          1                                                   norse ignores ``r``
LIF v_leak     ``v_rest - v_reset``                                voltages shifted so
LIF v_thresh.  ``v_th - v_reset``                                  that ``v_reset = 0``,
LIF v_reset    0                                                   which both tools use
Affine W, b    ``W g / (1 - beta)``, ``b g / (1 - beta)``          ``g = r_m/tau_mem_ms``
=============  ==================================================  ======================

with ``beta`` the integrator's decay over one step (``exp(-dt_ms/tau_mem_ms)`` for
``exact``). Then ``v = V - v_reset`` of spikerec, step for step.

``form="continuous"``: NIR's ODE in SI seconds, spikes as Dirac pulses of unit area
(a spike through ``w`` makes ``v`` jump by ``r w / tau``), for continuous-time
readers: ``tau = tau_mem_ms * 1e-3`` s, ``r = r_m * 1e-3``, ``v_leak = v_rest``,
``v_threshold = v_th``, ``v_reset = v_reset``, weights unchanged, bias written as the
constant current ``b / ((1 - exp(-dt/tau)) tau)``; ``"dt"`` metadata is the grid
step in s. snntorch and norse do not read this form right.

Both forms record spikerec's settings under ``"spikerec.*"`` metadata keys, which
:func:`import_nir` uses to rebuild the head exactly; other readers ignore them.
What neither form can carry (a subtract reset, a refractory period, held-current
synapses; in the discrete form per-neuron time constants) is refused in one line.

``nir`` is an optional dependency, imported when a function needs it
(``pip install '.[nir]'`` in a clone of spikerec).
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, cast

import numpy as np
import torch
from torch import nn

from spikerec.errors import ParameterError, ParameterTypeError
from spikerec.lif.integrators import Integrator, get_integrator
from spikerec.lif.modules import LIF
from spikerec.lif.params import RESET_MODES, LIFParams, ResetMode
from spikerec.lif.surrogates import FastSigmoid, Surrogate
from spikerec.recognition.encoders import LIFPopulationEncoder
from spikerec.recognition.heads import LIFHead
from spikerec.recognition.recognizer import Recognizer
from spikerec.run_folders import atomic_write

if TYPE_CHECKING:
    import nir

MS_PER_S = 1000.0
"""Milliseconds per second: spikerec times are in ms, NIR's in s."""

FORMAT_VERSION = 2
"""Version of the ``spikerec.*`` metadata written by :func:`export_nir` (1: the
continuous form only, before the discrete form existed)."""

DISCRETE_DT_S = 1e-4
"""Step of the discrete form in seconds: snntorch's ``import_from_nir`` assumes it
whatever the graph says; pass it to norse as ``from_nir(graph, dt=1e-4)``."""

NIRForm = Literal["discrete", "continuous"]
NIR_FORMS: tuple[str, ...] = ("discrete", "continuous")

ENCODER_NOT_EXPORTED = (
    "not exported: the LIF population encoder is driven by a current held over each "
    "step and spikes only on the step grid; NIR's continuous-time LIF would fire at the "
    "exact threshold crossing inside a step and give other spike times and counts"
)


def _require_nir() -> Any:
    """Import ``nir`` or raise a one-line ImportError saying how to install it."""
    try:
        import nir
    except ImportError:
        raise ImportError(
            "NIR export/import needs the 'nir' package: pip install nir "
            "(or pip install '.[nir]' in a clone of spikerec)"
        ) from None
    return nir


def _check_form(form: object) -> NIRForm:
    if form not in NIR_FORMS:
        raise ParameterError(f"form={form!r} is not one of {', '.join(NIR_FORMS)}")
    return cast(NIRForm, form)


# --------------------------------------------------------------------------- export


def _spiking_part(model_or_layers: object) -> tuple[nn.Linear, LIF, str | None]:
    """``(synapses, lif, v4_encoder_note)`` of whatever :func:`export_nir` was given."""
    encoder_note: str | None = None
    obj = model_or_layers
    if isinstance(obj, Recognizer):
        if obj.encoder is not None:
            name = getattr(obj.encoder, "name", type(obj.encoder).__name__)
            if isinstance(obj.encoder, LIFPopulationEncoder):
                encoder_note = f"{name}: {ENCODER_NOT_EXPORTED}"
            else:
                encoder_note = f"{name}: not exported (not a neuron model); input is V4 spikes"
        if not isinstance(obj.head, LIFHead):
            raise ParameterError(
                f"the recognizer's head is {type(obj.head).__name__}; only an LIFHead has "
                "spiking output neurons to export"
            )
        obj = obj.head
    if isinstance(obj, LIFHead):
        return obj.synapses, obj.lif, encoder_note
    if isinstance(obj, (tuple, list)) and len(obj) == 2:
        linear = [m for m in obj if isinstance(m, nn.Linear)]
        lif = [m for m in obj if isinstance(m, LIF)]
        if len(linear) == 1 and len(lif) == 1:
            return linear[0], lif[0], encoder_note
    raise ParameterTypeError(
        "export_nir takes a Recognizer with an LIF head, an LIFHead, or a pair "
        f"(torch.nn.Linear, spikerec.LIF); got {type(model_or_layers).__name__}"
    )


def _per_neuron(value: torch.Tensor | float, n: int, name: str) -> np.ndarray:
    """``value`` (scalar or ``[n]``) as a float64 array ``[n]``."""
    array = torch.as_tensor(value).detach().to("cpu", torch.float64).numpy()
    if array.ndim == 0:
        return np.full(n, float(array))
    if array.shape != (n,):
        raise ParameterError(f"{name} has shape {array.shape}; the layer has {n} neurons")
    return array.copy()


def _lif_arrays(lif: LIF, n_neurons: int) -> dict[str, np.ndarray]:
    """NIR ``LIF`` parameters ``[n_neurons]`` of a spikerec layer in the continuous form.

    Parameters
    ----------
    lif : LIF
        A delta-synapse layer (see :func:`export_nir` for what is refused).
    n_neurons : int
        Neurons in the layer (C).

    Returns
    -------
    dict of str to ndarray [C]
        ``tau`` (s), ``r``, ``v_leak``, ``v_threshold``, ``v_reset``, float64.

    Examples
    --------
    >>> arrays = _lif_arrays(LIF(LIFParams(tau_mem_ms=10.0, r_m=2.0)), 3)
    >>> arrays["tau"].tolist(), arrays["r"].tolist()
    ([0.01, 0.01, 0.01], [0.002, 0.002, 0.002])
    """
    p = lif.params
    tau_ms = _per_neuron(lif.tau_mem_ms, n_neurons, "tau_mem_ms")
    v_th = _per_neuron(p.v_th if lif.v_th is None else lif.v_th, n_neurons, "v_th")
    return {
        "tau": tau_ms / MS_PER_S,
        "r": np.full(n_neurons, p.r_m / MS_PER_S),
        "v_leak": np.full(n_neurons, p.v_rest),
        "v_threshold": v_th,
        "v_reset": np.full(n_neurons, p.v_reset),
    }


def _check_exportable(lif: LIF, allow_nonstandard_reset: bool) -> None:
    p = lif.params
    if lif.synapse != "delta":
        raise ParameterError(
            f"the LIF layer has synapse={lif.synapse!r}: a current held over each step has "
            "no NIR form behind spike input; only delta synapses are exported"
        )
    if p.t_ref_ms > 0:
        raise ParameterError(
            f"t_ref_ms={p.t_ref_ms!r}: NIR's LIF has no refractory period; export a layer "
            "with t_ref_ms=0"
        )
    if p.reset != "zero" and not allow_nonstandard_reset:
        raise ParameterError(
            f"reset={p.reset!r} has no NIR form: NIR's LIF resets to v_reset and snntorch and "
            "norse read it so; train the head with reset='zero' (spikerec train --reset zero), "
            "or pass allow_nonstandard_reset=True for a file only spikerec.import_nir reads right"
        )


def _discrete_scale(
    params: LIFParams, integrator: Integrator, tau_ms: float
) -> tuple[float, float]:
    """``(beta, scale)``: the layer's decay per step and the factor ``g / (1 - beta)``
    that turns spikerec's synaptic input into the discrete form's held input."""
    beta, _ = integrator.held_coefficients(params.dt_ms, tau_ms)
    if not 0.0 < beta < 1.0:
        raise ParameterError(
            f"the '{integrator.name}' integrator's decay per step is {beta!r}; the discrete "
            "NIR form needs it in (0, 1) (take dt_ms < tau_mem_ms, or the 'exact' integrator)"
        )
    return beta, (params.r_m / tau_ms) / (1.0 - beta)


def _discrete_nodes(
    nir: Any, linear: nn.Linear, lif: LIF, n_out: int
) -> tuple[Any, Any, dict[str, Any]]:
    """Synapse and LIF nodes of the discrete form, and the metadata that rebuilds the layer."""
    p = lif.params
    tau = _per_neuron(lif.tau_mem_ms, n_out, "tau_mem_ms")
    if not np.all(tau == tau[0]):
        raise ParameterError(
            "per-neuron tau_mem_ms: snntorch's NIR import scales every neuron's input by one "
            "factor, so the discrete form cannot carry it; export with form='continuous' "
            "(read right by spikerec.import_nir) or train with one tau"
        )
    tau_ms = float(tau[0])
    beta, scale = _discrete_scale(p, lif.integrator, tau_ms)
    v_th = _per_neuron(p.v_th if lif.v_th is None else lif.v_th, n_out, "v_th")
    weight = linear.weight.detach().cpu()
    scaled = (weight.to(torch.float64) * scale).to(weight.dtype).numpy()
    if linear.bias is None:
        synapses = nir.Linear(weight=scaled)
    else:
        synapses = nir.Affine(
            weight=scaled, bias=linear.bias.detach().cpu().to(torch.float64).numpy() * scale
        )
    node = nir.LIF(
        tau=np.full(n_out, DISCRETE_DT_S / (1.0 - beta)),
        r=np.ones(n_out),
        v_leak=np.full(n_out, p.v_rest - p.v_reset),
        v_threshold=v_th - p.v_reset,
        v_reset=np.zeros(n_out),
    )
    metadata = {
        "dt": DISCRETE_DT_S,
        "spikerec.params": json.dumps(asdict(p.replace(tau_mem_ms=tau_ms))),
        "spikerec.discrete": (
            "one spikerec step = one forward-Euler step of dt with the step's input W s + b "
            "held; weights and bias scaled by (r_m/tau_mem_ms)/(1-beta); voltages shifted "
            "by -v_reset"
        ),
    }
    return synapses, node, metadata


def _continuous_nodes(
    nir: Any, linear: nn.Linear, lif: LIF, n_out: int
) -> tuple[Any, Any, dict[str, Any]]:
    """Synapse and LIF nodes of the continuous form (SI seconds, Dirac spikes)."""
    p = lif.params
    arrays = _lif_arrays(lif, n_out)
    weight = linear.weight.detach().cpu().numpy().copy()
    if linear.bias is None:
        synapses = nir.Linear(weight=weight)
    else:
        bias = linear.bias.detach().cpu().to(torch.float64).numpy()
        tau_s = arrays["tau"]
        one_minus_beta = -np.expm1(-(p.dt_ms / MS_PER_S) / tau_s)
        current = bias / (one_minus_beta * tau_s)  # float64 whatever the weights' dtype
        synapses = nir.Affine(weight=weight, bias=current)
    metadata = {
        "dt": p.dt_ms / MS_PER_S,
        "spikerec.bias": "per-step charge b written as the current b/((1-exp(-dt/tau))*tau)",
    }
    return synapses, nir.LIF(**arrays), metadata


def to_nir_graph(
    model_or_layers: Recognizer | LIFHead | tuple[nn.Linear, LIF],
    *,
    form: NIRForm = "discrete",
    allow_nonstandard_reset: bool = False,
) -> nir.NIRGraph:
    """The NIR graph of a model's spiking part, without writing a file.

    Parameters and errors as in :func:`export_nir`.

    Examples
    --------
    >>> head = LIFHead(3, n_inputs=8, params=LIFParams(tau_mem_ms=10.0, reset="zero"))
    >>> graph = to_nir_graph(head)
    >>> graph.nodes["lif"].tau.round(7).tolist(), graph.metadata["dt"]
    ([0.0010508, 0.0010508, 0.0010508], 0.0001)
    >>> to_nir_graph(head, form="continuous").nodes["lif"].tau.tolist()
    [0.01, 0.01, 0.01]
    """
    nir = _require_nir()
    form = _check_form(form)
    linear, lif, encoder_note = _spiking_part(model_or_layers)
    _check_exportable(lif, allow_nonstandard_reset)
    n_out, n_in = linear.out_features, linear.in_features
    if lif.n_neurons is not None and lif.n_neurons != n_out:
        raise ParameterError(
            f"the Linear has {n_out} outputs, the LIF layer {lif.n_neurons} neurons"
        )
    build = _discrete_nodes if form == "discrete" else _continuous_nodes
    synapses, node, form_metadata = build(nir, linear, lif, n_out)
    from spikerec import __version__

    p = lif.params
    metadata: dict[str, Any] = {
        "time_unit": "s",
        **form_metadata,
        "spikerec.format": FORMAT_VERSION,
        "spikerec.form": form,
        "spikerec.version": __version__,
        "spikerec.integrator": lif.integrator.name,
        "spikerec.reset": p.reset,
        "spikerec.synapse": "delta",
        "spikerec.learn_tau": int(lif.log_tau_mem_ms is not None),
        "spikerec.learn_threshold": int(lif.v_th is not None),
        "spikerec.lif.surrogates": str(lif.surrogate),
    }
    if encoder_note is not None:
        metadata["spikerec.v4_encoder"] = encoder_note
    return nir.NIRGraph(
        nodes={
            "input": nir.Input(input_type={"input": np.array([n_in])}),
            "synapses": synapses,
            "lif": node,
            "output": nir.Output(output_type={"output": np.array([n_out])}),
        },
        edges=[("input", "synapses"), ("synapses", "lif"), ("lif", "output")],
        metadata=metadata,
    )


def export_nir(
    model_or_layers: Recognizer | LIFHead | tuple[nn.Linear, LIF],
    path: str | os.PathLike[str],
    *,
    form: NIRForm = "discrete",
    allow_nonstandard_reset: bool = False,
) -> nir.NIRGraph:
    """Write the spiking part of a model (synapses + LIF output layer) to a NIR file.

    Parameters
    ----------
    model_or_layers : Recognizer, LIFHead or (torch.nn.Linear, LIF)
        A recogniser with an LIF head, the head itself, or a bare pair of synapses
        ``Linear(N -> C)`` and a delta-synapse :class:`~spikerec.LIF` layer of C
        neurons (in either order). The front end and the V4 encoder are not
        exported: the graph's input is the V4 spike trains ``[T, B, N]``.
    path : str or PathLike
        File to write (HDF5, conventionally ``*.nir``); written atomically.
    form : {"discrete", "continuous"}
        ``"discrete"`` (default): the form snntorch's ``import_from_nir`` and norse's
        ``from_nir(graph, dt=1e-4)`` reproduce spike for spike (module docstring).
        ``"continuous"``: NIR's ODE in seconds with Dirac spikes, for continuous-time
        readers (snntorch and norse read it wrong).
    allow_nonstandard_reset : bool
        Write a layer with ``reset="subtract"`` or ``"none"`` anyway. NIR's LIF
        always resets *to* ``v_reset``; the true reset goes into the metadata, which
        :func:`import_nir` honours and other NIR readers
        ignore (they reset to ``v_reset`` and get other spikes).

    Returns
    -------
    nir.NIRGraph
        The graph that was written.

    Raises
    ------
    ImportError
        If ``nir`` is not installed.
    TypeError
        For anything but the accepted model types.
    ValueError
        One line for what NIR cannot carry: ``synapse="current"``, a refractory
        period, a reset other than ``"zero"`` (unless ``allow_nonstandard_reset``),
        and in the discrete form per-neuron time constants or a decay per step
        outside (0, 1).

    Notes
    -----
    Discrete form: per step ``v <- v + (dt/tau)((v_leak - v) + r x)`` with
    ``x = W' s + b'`` is, with the mapping in the module docstring,
    ``v <- beta v + (1 - beta)(v_rest - v_reset) + g (W s + b)``: spikerec's update
    for every integrator, shifted by ``-v_reset``. Readers fire on ``v > v_threshold``,
    spikerec on ``V >= v_th`` (ties only), and compute in float32.

    Continuous form: a spike of weight ``w`` makes ``v`` jump by ``r w / tau =
    r_m w / tau_mem_ms``, and the ``exact`` integrator is the exact solution at the
    step ends; a nonzero bias is a constant current, which a continuous-time reader
    may see cross the threshold inside a step, where spikerec tests only at step ends.

    Examples
    --------
    >>> head = LIFHead(3, n_inputs=8, params=LIFParams(tau_mem_ms=10.0, reset="zero"))
    >>> graph = export_nir(head, tmp_path / "head.nir")  # doctest: +SKIP
    >>> graph.metadata["dt"]  # doctest: +SKIP
    0.0001
    """
    nir = _require_nir()
    graph = to_nir_graph(
        model_or_layers, form=form, allow_nonstandard_reset=allow_nonstandard_reset
    )
    atomic_write(path, lambda tmp: nir.write(tmp, graph))
    return graph


# --------------------------------------------------------------------------- import


def _read_graph(path: str | os.PathLike[str]) -> nir.NIRGraph:
    nir = _require_nir()
    file = Path(path)
    if not file.is_file():
        raise ParameterError(f"NIR file {str(file)!r} does not exist")
    try:
        graph = nir.read(file)
    except OSError:
        raise ParameterError(f"{str(file)!r} is not a NIR file (not HDF5 or unreadable)") from None
    except Exception as error:  # nir raises KeyError, AssertionError, ValueError, ...
        text = str(error).strip().splitlines()
        detail = text[0][:120] if text else type(error).__name__
        raise ParameterError(f"{str(file)!r} is not a valid NIR graph ({detail})") from None
    if not isinstance(graph, nir.NIRGraph):
        raise ParameterError(f"{str(file)!r} holds a {type(graph).__name__}, not a NIR graph")
    return graph


def _chain(graph: nir.NIRGraph) -> tuple[Any, Any]:
    """``(synapses_node, lif_node)`` of a graph Input -> Affine|Linear -> LIF -> Output."""
    nir = _require_nir()
    supported = (nir.Input, nir.Output, nir.Affine, nir.Linear, nir.LIF)
    for name, node in graph.nodes.items():
        if not isinstance(node, supported):
            raise ParameterError(
                f"NIR node {name!r} is a {type(node).__name__}; spikerec imports only "
                "Input -> Affine|Linear -> LIF -> Output"
            )
    expected = "spikerec imports only Input -> Affine|Linear -> LIF -> Output"
    by_type = {
        kind: [n for n, v in graph.nodes.items() if isinstance(v, kind)] for kind in supported
    }
    counts = {kind.__name__: len(names) for kind, names in by_type.items()}
    if (
        len(by_type[nir.Input]) != 1
        or len(by_type[nir.Output]) != 1
        or len(by_type[nir.LIF]) != 1
        or len(by_type[nir.Affine]) + len(by_type[nir.Linear]) != 1
    ):
        found = ", ".join(f"{k} x{v}" for k, v in counts.items() if v)
        raise ParameterError(f"NIR graph has {found}; {expected}")
    inp, out, lif = by_type[nir.Input][0], by_type[nir.Output][0], by_type[nir.LIF][0]
    syn = (by_type[nir.Affine] + by_type[nir.Linear])[0]
    if sorted(map(tuple, graph.edges)) != sorted([(inp, syn), (syn, lif), (lif, out)]):
        raise ParameterError(
            f"NIR graph edges {list(map(tuple, graph.edges))} do not form {expected}"
        )
    return graph.nodes[syn], graph.nodes[lif]


def _uniform(values: np.ndarray, name: str) -> float:
    flat = np.asarray(values, dtype=np.float64).ravel()
    if flat.size == 0 or not np.all(flat == flat[0]):
        raise ParameterError(f"NIR LIF {name} differs between neurons; spikerec needs one value")
    return float(flat[0])


def _metadata_value(metadata: dict[str, Any], key: str) -> Any:
    value = metadata.get(key)
    if isinstance(value, bytes):
        return value.decode("utf8")
    if isinstance(value, np.ndarray) and value.ndim == 0:
        value = value.item()
    if isinstance(value, np.generic):
        return value.item()
    return value


def _as_numpy(value: Any) -> np.ndarray:
    """A NIR parameter (array, tensor or number; norse writes torch tensors) as float64."""
    if isinstance(value, torch.Tensor):
        value = value.detach().cpu().numpy()
    return np.asarray(value, dtype=np.float64)


def _lif_node_arrays(node: Any, n_out: int) -> dict[str, np.ndarray]:
    arrays = {}
    for name in ("tau", "r", "v_leak", "v_threshold", "v_reset"):
        value = _as_numpy(getattr(node, name)).ravel()
        if value.size == 1:
            value = np.full(n_out, value[0])
        if value.shape != (n_out,):
            raise ParameterError(
                f"NIR LIF {name} has {value.size} values; the synapses have {n_out} outputs"
            )
        if not np.all(np.isfinite(value)):
            raise ParameterError(f"NIR LIF {name} holds NaN or infinite values")
        arrays[name] = value
    if np.any(arrays["tau"] <= 0):
        raise ParameterError(f"NIR LIF tau must be > 0 s, got min {arrays['tau'].min()!r}")
    return arrays


def _weight(syn: Any) -> np.ndarray:
    weight = syn.weight.detach().cpu().numpy() if isinstance(syn.weight, torch.Tensor) else None
    weight = np.asarray(syn.weight) if weight is None else weight
    if weight.ndim != 2:
        raise ParameterError(f"NIR synapse weight must be 2-D [C, N], got shape {weight.shape}")
    return weight


def _bias(syn: Any, n_out: int) -> np.ndarray:
    """The Affine bias ``[C]`` as float64 (zeros for a ``nir.Linear``)."""
    nir = _require_nir()
    if not isinstance(syn, nir.Affine) or syn.bias is None:
        return np.zeros(n_out)
    bias = _as_numpy(syn.bias).ravel()
    if bias.shape != (n_out,):
        raise ParameterError(f"NIR Affine bias has shape {bias.shape}; expected ({n_out},)")
    return bias


def _build_head(
    params: LIFParams,
    weight: np.ndarray,
    bias: np.ndarray,
    *,
    tau_ms: np.ndarray,
    v_th: np.ndarray,
    learn_tau: bool,
    learn_threshold: bool,
    integrator: str,
    surrogate: str | Surrogate,
) -> LIFHead:
    n_out, n_in = weight.shape
    learn_tau = learn_tau or not np.all(tau_ms == tau_ms[0])
    learn_threshold = learn_threshold or not np.all(v_th == v_th[0])
    if learn_threshold and np.any(v_th <= params.v_reset):
        raise ParameterError(
            f"NIR LIF v_threshold must exceed v_reset={params.v_reset!r} in every neuron"
        )
    params = params.replace(
        tau_mem_ms=float(tau_ms[0]), v_th=float(v_th.max()) if learn_threshold else float(v_th[0])
    )
    head = LIFHead(
        n_out,
        n_inputs=n_in,
        params=params,
        integrator=integrator,
        surrogate=surrogate,
        learn_tau=learn_tau,
        learn_threshold=learn_threshold,
    )
    head = head.to(torch.float64 if weight.dtype == np.float64 else torch.float32)
    with torch.no_grad():
        head.synapses.weight.copy_(torch.from_numpy(weight.astype(np.float64)))
        head.synapses.bias.copy_(torch.from_numpy(bias))
        if head.lif.log_tau_mem_ms is not None:
            head.lif.log_tau_mem_ms.copy_(torch.from_numpy(np.log(tau_ms)))
        if head.lif.v_th is not None:
            head.lif.v_th.copy_(torch.from_numpy(v_th))
    return head


def _import_spikerec_discrete(
    syn: Any, node: Any, metadata: dict[str, Any], surrogate: str | Surrogate
) -> LIFHead:
    """Rebuild the head that :func:`export_nir` wrote in the discrete form."""
    weight = _weight(syn)
    n_out = weight.shape[0]
    arrays = _lif_node_arrays(node, n_out)
    try:
        params = LIFParams(**json.loads(_metadata_value(metadata, "spikerec.params")))
    except (TypeError, ValueError) as error:
        raise ParameterError(f"unreadable 'spikerec.params' metadata ({error})") from None
    integrator = _metadata_value(metadata, "spikerec.integrator") or "exact"
    beta, scale = _discrete_scale(params, get_integrator(integrator), params.tau_mem_ms)
    expected = {
        "tau": DISCRETE_DT_S / (1.0 - beta),
        "r": 1.0,
        "v_leak": params.v_rest - params.v_reset,
        "v_reset": 0.0,
    }
    for name, value in expected.items():
        if not np.allclose(arrays[name], value, rtol=1e-9, atol=1e-12):
            raise ParameterError(
                f"NIR LIF {name} {arrays[name][0]!r} does not match the graph's spikerec "
                f"metadata ({value!r}): the graph was edited after export; remove its "
                "'spikerec.*' metadata to read it as any NIR graph"
            )
    dtype = np.float64 if weight.dtype == np.float64 else np.float32
    return _build_head(
        params,
        (weight.astype(np.float64) / scale).astype(dtype),
        _bias(syn, n_out) / scale,
        tau_ms=np.full(n_out, params.tau_mem_ms),
        v_th=arrays["v_threshold"] + params.v_reset,
        learn_tau=bool(_metadata_value(metadata, "spikerec.learn_tau")),
        learn_threshold=bool(_metadata_value(metadata, "spikerec.learn_threshold")),
        integrator=integrator,
        surrogate=surrogate,
    )


def _import_continuous(
    syn: Any,
    node: Any,
    dt_ms: float,
    reset: str,
    integrator: str,
    metadata: dict[str, Any],
    surrogate: str | Surrogate,
) -> LIFHead:
    """NIR's ODE in seconds with Dirac spikes, solved on a grid of ``dt_ms``."""
    weight = _weight(syn)
    n_out = weight.shape[0]
    arrays = _lif_node_arrays(node, n_out)
    tau_s = arrays["tau"]
    params = LIFParams(
        tau_mem_ms=float(tau_s[0]) * MS_PER_S,
        dt_ms=dt_ms,
        v_rest=_uniform(arrays["v_leak"], "v_leak"),
        v_reset=_uniform(arrays["v_reset"], "v_reset"),
        r_m=_uniform(arrays["r"], "r") * MS_PER_S,
        reset=cast(ResetMode, reset),
    )
    charge = _bias(syn, n_out) * (-np.expm1(-(dt_ms / MS_PER_S) / tau_s)) * tau_s
    return _build_head(
        params,
        weight,
        charge,
        tau_ms=tau_s * MS_PER_S,
        v_th=arrays["v_threshold"],
        learn_tau=bool(_metadata_value(metadata, "spikerec.learn_tau")),
        learn_threshold=bool(_metadata_value(metadata, "spikerec.learn_threshold")),
        integrator=integrator,
        surrogate=surrogate,
    )


def _import_discrete(syn: Any, node: Any, dt_ms: float, surrogate: str | Surrogate) -> LIFHead:
    """Forward-Euler steps of ``dt_ms`` with the step's input held (snntorch's and
    norse's reading), as a spikerec ``euler`` layer with the same update."""
    weight = _weight(syn)
    n_out = weight.shape[0]
    arrays = _lif_node_arrays(node, n_out)
    tau_ms = arrays["tau"] * MS_PER_S
    ratio = dt_ms / float(tau_ms.min())
    if ratio >= 1.0:
        raise ParameterError(
            f"NIR LIF tau={float(tau_ms.min()) / MS_PER_S!r} s is not longer than the step "
            f"dt={dt_ms / MS_PER_S!r} s: the decay per Euler step 1 - dt/tau={1 - ratio!r} is "
            "not leaky (norse 1.1's to_nir writes dt*tau in place of tau)"
        )
    # A held input x moves v by (dt/tau) r x, spikerec's delta input by (r_m/tau) x: with
    # r differing between neurons (snntorch writes r = tau/dt), row i is scaled by r_i/r_0.
    r = arrays["r"]
    if np.any(r <= 0):
        raise ParameterError(f"NIR LIF r must be > 0, got min {float(r.min())!r}")
    row_scale = r / r[0]
    dtype = np.float64 if weight.dtype == np.float64 else np.float32
    if not np.all(row_scale == 1.0):
        weight = (weight.astype(np.float64) * row_scale[:, None]).astype(dtype)
    params = LIFParams(
        tau_mem_ms=float(tau_ms[0]),
        dt_ms=dt_ms,
        v_rest=_uniform(arrays["v_leak"], "v_leak"),
        v_reset=_uniform(arrays["v_reset"], "v_reset"),
        r_m=float(r[0]) * dt_ms,
        reset="zero",
    )
    return _build_head(
        params,
        weight,
        _bias(syn, n_out) * row_scale,
        tau_ms=tau_ms,
        v_th=arrays["v_threshold"],
        learn_tau=False,
        learn_threshold=False,
        integrator="euler",
        surrogate=surrogate,
    )


def import_nir(
    path_or_graph: str | os.PathLike[str] | nir.NIRGraph,
    *,
    form: NIRForm | None = None,
    dt_ms: float | None = None,
    integrator: str | None = None,
    surrogate: str | Surrogate = FastSigmoid(),
) -> LIFHead:
    """Build a :class:`~spikerec.recognition.heads.LIFHead` (synapses + LIF) from a NIR graph.

    Parameters
    ----------
    path_or_graph : str, PathLike or nir.NIRGraph
        A NIR file or graph of the form ``Input [N] -> Affine|Linear -> LIF [C] -> Output``.
    form : {"discrete", "continuous"}, optional
        How to read a graph that another tool wrote (NIR fixes no time step and no
        spike convention): ``"discrete"``, forward-Euler steps of ``dt_ms`` with each
        step's input held, as snntorch and norse read and write graphs; or
        ``"continuous"``, NIR's ODE in seconds with Dirac spikes. Required for such
        graphs; a graph written by :func:`export_nir`
        records its form and is rebuilt exactly.
    dt_ms : float, optional
        Step in ms. Discrete form: the step the file's ``tau`` refers to (a graph
        from snntorch's ``export_to_nir``: 0.1; from norse: its ``dt`` in ms).
        Continuous form: the grid step. Default: the graph's ``"dt"`` metadata
        (seconds); required when it records none.
    integrator : str, optional
        Continuous form only. Default: the ``"spikerec.integrator"`` metadata, else
        ``"exact"`` (the exact solution of NIR's LIF between spikes). The discrete
        form is read with ``"euler"``, which is its definition.
    surrogate : str or Surrogate
        Threshold derivative for training (NIR carries none).

    Returns
    -------
    LIFHead
        ``head(v4_spikes [T, B, N])`` gives output spikes and pre-reset membranes
        ``[T, B, C]``. Per-neuron ``tau`` or ``v_threshold`` become per-neuron
        learnable parameters; the weights keep the file's dtype.

    Raises
    ------
    ImportError
        If ``nir`` is not installed.
    ValueError
        One line naming the problem: a missing or non-NIR file, an unsupported node or
        graph shape, a graph from another tool without ``form``, parameters spikerec
        cannot hold (``v_leak`` or ``v_reset`` differing between neurons, or ``r`` in
        the continuous form; a ``tau`` not longer than the discrete step), no time step.

    Notes
    -----
    Discrete form of another tool: ``tau_mem_ms = 1e3 tau``, ``r_m = r_0 dt_ms``
    (row i of the weights and bias scaled by ``r_i / r_0`` where ``r`` differs between
    neurons), ``v_rest = v_leak``, ``v_th = v_threshold``, ``v_reset = v_reset``, zero
    reset, ``euler`` integrator: ``V <- V + (dt/tau)((v_rest - V) + r x)``.
    Continuous form: ``tau_mem_ms = 1e3 tau``, ``r_m = 1e3 r``, bias
    ``b = b_nir (1 - exp(-dt/tau)) tau``, reset ``"zero"`` unless ``"spikerec.reset"``
    metadata says otherwise. A discrete spikerec graph is rebuilt from its
    ``"spikerec.params"`` metadata, with weights and bias divided by the export's
    scale.

    Examples
    --------
    >>> head = import_nir("head.nir")  # doctest: +SKIP
    >>> head(v4_spikes).spikes.shape  # doctest: +SKIP
    torch.Size([25, 4, 10])
    >>> head = import_nir(snntorch_graph, form="discrete", dt_ms=0.1)  # doctest: +SKIP
    """
    nir = _require_nir()
    if isinstance(path_or_graph, nir.NIRGraph):
        graph = path_or_graph
    elif isinstance(path_or_graph, (str, os.PathLike)):
        graph = _read_graph(path_or_graph)
    else:
        raise ParameterTypeError(
            f"import_nir takes a path or a nir.NIRGraph, got {type(path_or_graph).__name__}"
        )
    if form is not None:
        _check_form(form)
    syn, node = _chain(graph)
    metadata = dict(graph.metadata or {})
    ours = _metadata_value(metadata, "spikerec.format") is not None
    written = (
        _check_form(_metadata_value(metadata, "spikerec.form") or "continuous") if ours else None
    )
    if written is not None and form is not None and form != written:
        raise ParameterError(
            f"the graph was written by spikerec in the {written} form; leave form unset"
        )
    if written == "discrete":
        if dt_ms is not None or integrator is not None:
            raise ParameterError(
                "a discrete spikerec graph fixes its step and integrator; leave dt_ms and "
                "integrator unset"
            )
        return _import_spikerec_discrete(syn, node, metadata, surrogate)
    form = written or form
    if form is None:
        raise ParameterError(
            "the NIR graph comes from another tool and NIR fixes no time step or spike "
            "convention: pass form='discrete' with dt_ms (snntorch's export_to_nir: 0.1; "
            "norse's to_nir: its dt in ms) or form='continuous'"
        )
    if dt_ms is None:
        dt_s = _metadata_value(metadata, "dt")
        if dt_s is None:
            raise ParameterError("the NIR graph records no time step ('dt' metadata); pass dt_ms")
        dt_ms = float(dt_s) * MS_PER_S
    if form == "discrete":
        if integrator not in (None, "euler"):
            raise ParameterError(
                f"integrator={integrator!r}: the discrete form is read with forward Euler, "
                "its definition; leave integrator unset"
            )
        return _import_discrete(syn, node, dt_ms, surrogate)
    if integrator is None:
        integrator = _metadata_value(metadata, "spikerec.integrator") or "exact"
    reset = _metadata_value(metadata, "spikerec.reset") or "zero"
    if reset not in RESET_MODES:
        raise ParameterError(f"'spikerec.reset' metadata {reset!r} is not one of {RESET_MODES}")
    return _import_continuous(syn, node, dt_ms, reset, integrator, metadata, surrogate)


__all__ = [
    "DISCRETE_DT_S",
    "ENCODER_NOT_EXPORTED",
    "MS_PER_S",
    "NIR_FORMS",
    "export_nir",
    "import_nir",
    "to_nir_graph",
]

"""Export the spiking part of a spikerec model to NIR, and import it back.

NIR (the Neuromorphic Intermediate Representation, the ``nir`` package) describes a
network as a graph of continuous-time nodes. spikerec writes the synapses
``Linear(N -> C)`` as an ``nir.Affine`` (``nir.Linear`` without bias) and the output
neurons as an ``nir.LIF``::

    Input [N] --> Affine (W [C, N], b [C]) --> LIF [C] --> Output [C]

The parameter mapping (NIR is in seconds, spikerec in milliseconds; NIR spikes are
Dirac pulses of unit area) is, per output neuron:

=============  ==========================================  =========================
NIR LIF        value                                       why
=============  ==========================================  =========================
tau            ``tau_mem_ms * 1e-3`` (s)                   SI seconds
r              ``r_m * 1e-3``                              jump ``r * w / tau`` =
                                                           ``r_m * w / tau_mem_ms``
v_leak         ``v_rest``                                  leak potential
v_threshold    ``v_th``                                    (NIR fires on ``>``)
v_reset        ``v_reset``                                 NIR resets *to* v_reset
Affine W       the synapse weights, unchanged              charge per spike
Affine b       ``b / ((1 - exp(-dt/tau)) * tau)``          constant current that adds
                                                           ``r_m b / tau_mem_ms`` per step
=============  ==========================================  =========================

The step ``dt`` goes into the graph metadata (``"dt"``, seconds), with the integrator
and other spikerec settings under ``"spikerec.*"`` keys; NIR readers must not rely on
metadata, and :func:`import_nir` uses it only where NIR has no field (the grid step,
the integrator, a reset other than NIR's reset-to-``v_reset``).

``nir`` is an optional dependency, imported when a function needs it
(``pip install 'spikerec[nir]'``).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

import numpy as np
import torch
from torch import nn

from spikerec.errors import ParameterError, ParameterTypeError
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

FORMAT_VERSION = 1
"""Version of the ``spikerec.*`` metadata written by :func:`export_nir`."""

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
            "NIR export/import needs the 'nir' package: pip install 'spikerec[nir]'"
        ) from None
    return nir


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
    """NIR ``LIF`` parameters ``[n_neurons]`` (SI seconds) of a spikerec layer.

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
            f"the LIF layer has reset={p.reset!r}, which NIR's LIF (reset to v_reset) cannot "
            "express; use reset='zero', or pass allow_nonstandard_reset=True to record it in "
            "metadata that only spikerec reads"
        )


def to_nir_graph(
    model_or_layers: Recognizer | LIFHead | tuple[nn.Linear, LIF],
    *,
    allow_nonstandard_reset: bool = False,
) -> nir.NIRGraph:
    """The NIR graph of a model's spiking part, without writing a file.

    Parameters and errors as in :func:`export_nir`.

    Examples
    --------
    >>> head = LIFHead(3, n_inputs=8, params=LIFParams(tau_mem_ms=10.0, reset="zero"))
    >>> graph = to_nir_graph(head)
    >>> graph.nodes["lif"].tau.tolist(), graph.metadata["dt"]
    ([0.01, 0.01, 0.01], 0.001)
    """
    nir = _require_nir()
    linear, lif, encoder_note = _spiking_part(model_or_layers)
    _check_exportable(lif, allow_nonstandard_reset)
    n_out, n_in = linear.out_features, linear.in_features
    if lif.n_neurons is not None and lif.n_neurons != n_out:
        raise ParameterError(
            f"the Linear has {n_out} outputs, the LIF layer {lif.n_neurons} neurons"
        )
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
    from spikerec import __version__

    metadata: dict[str, Any] = {
        "dt": p.dt_ms / MS_PER_S,
        "time_unit": "s",
        "spikerec.format": FORMAT_VERSION,
        "spikerec.version": __version__,
        "spikerec.integrator": lif.integrator.name,
        "spikerec.reset": p.reset,
        "spikerec.synapse": "delta",
        "spikerec.learn_tau": int(lif.log_tau_mem_ms is not None),
        "spikerec.learn_threshold": int(lif.v_th is not None),
        "spikerec.lif.surrogates": str(lif.surrogate),
        "spikerec.bias": "per-step charge b written as the current b/((1-exp(-dt/tau))*tau)",
    }
    if encoder_note is not None:
        metadata["spikerec.v4_encoder"] = encoder_note
    return nir.NIRGraph(
        nodes={
            "input": nir.Input(input_type={"input": np.array([n_in])}),
            "synapses": synapses,
            "lif": nir.LIF(**arrays),
            "output": nir.Output(output_type={"output": np.array([n_out])}),
        },
        edges=[("input", "synapses"), ("synapses", "lif"), ("lif", "output")],
        metadata=metadata,
    )


def export_nir(
    model_or_layers: Recognizer | LIFHead | tuple[nn.Linear, LIF],
    path: str | os.PathLike[str],
    *,
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
    allow_nonstandard_reset : bool
        Write a layer with ``reset="subtract"`` or ``"none"`` anyway. NIR's LIF
        always resets *to* ``v_reset``; the true reset goes into the metadata, which
        :func:`import_nir` honours and other NIR readers ignore (they will reset to
        ``v_reset``).

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
        For what NIR cannot express faithfully: ``synapse="current"``, a refractory
        period, or (without ``allow_nonstandard_reset``) a reset other than ``"zero"``.

    Notes
    -----
    NIR's LIF is ``tau dv/dt = (v_leak - v) + r I`` with ``I = sum_f w delta(t - t_f)``
    for spikes; a spike of weight ``w`` makes ``v`` jump by ``r w / tau``. With the
    mapping in the module docstring that is spikerec's ``r_m w / tau_mem_ms``, and
    spikerec's ``exact`` integrator is then the exact solution of the graph at the
    step ends for spikes arriving at ``(n + 1) dt``. Differences that remain:
    NIR fires on ``v > v_threshold``, spikerec on ``V >= v_th`` (ties only); and a
    nonzero bias is a constant current in NIR, which a continuous-time reader may
    see cross the threshold inside a step, where spikerec tests only at step ends.

    Examples
    --------
    >>> head = LIFHead(3, n_inputs=8, params=LIFParams(tau_mem_ms=10.0, reset="zero"))
    >>> graph = export_nir(head, tmp_path / "head.nir")  # doctest: +SKIP
    >>> graph.nodes["lif"].tau  # doctest: +SKIP
    array([0.01, 0.01, 0.01])
    """
    nir = _require_nir()
    graph = to_nir_graph(model_or_layers, allow_nonstandard_reset=allow_nonstandard_reset)
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
    if isinstance(value, np.generic):
        return value.item()
    return value


def import_nir(
    path_or_graph: str | os.PathLike[str] | nir.NIRGraph,
    *,
    dt_ms: float | None = None,
    integrator: str | None = None,
    surrogate: str | Surrogate = FastSigmoid(),
) -> LIFHead:
    """Build a :class:`~spikerec.recognition.heads.LIFHead` (synapses + LIF) from a NIR graph.

    Parameters
    ----------
    path_or_graph : str, PathLike or nir.NIRGraph
        A NIR file or graph of the form ``Input [N] -> Affine|Linear -> LIF [C] -> Output``.
    dt_ms : float, optional
        Grid step in ms; default: the graph's ``"dt"`` metadata (seconds). Required
        when the graph records none.
    integrator : str, optional
        Default: the ``"spikerec.integrator"`` metadata, else ``"exact"`` (the exact
        solution of NIR's LIF between spikes).
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
        graph shape, parameters spikerec cannot hold (``r``, ``v_leak`` or ``v_reset``
        differing between neurons), no time step.

    Notes
    -----
    The inverse of the mapping in :func:`export_nir`: ``tau_mem_ms = 1e3 tau``,
    ``r_m = 1e3 r``, ``v_rest = v_leak``, ``v_th = v_threshold``, ``v_reset =
    v_reset``, reset ``"zero"`` (NIR's reset) unless ``"spikerec.reset"`` metadata
    says otherwise, bias ``b = b_nir (1 - exp(-dt/tau)) tau``.

    Examples
    --------
    >>> head = import_nir("head.nir")  # doctest: +SKIP
    >>> head(v4_spikes).spikes.shape  # doctest: +SKIP
    torch.Size([25, 4, 10])
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
    syn, node = _chain(graph)
    metadata = dict(graph.metadata or {})

    if dt_ms is None:
        dt_s = _metadata_value(metadata, "dt")
        if dt_s is None:
            raise ParameterError("the NIR graph records no time step ('dt' metadata); pass dt_ms")
        dt_ms = float(dt_s) * MS_PER_S
    if integrator is None:
        integrator = _metadata_value(metadata, "spikerec.integrator") or "exact"
    reset = _metadata_value(metadata, "spikerec.reset") or "zero"
    if reset not in RESET_MODES:
        raise ParameterError(f"'spikerec.reset' metadata {reset!r} is not one of {RESET_MODES}")

    weight = np.asarray(syn.weight)
    if weight.ndim != 2:
        raise ParameterError(f"NIR synapse weight must be 2-D [C, N], got shape {weight.shape}")
    n_out, n_in = weight.shape
    arrays = {}
    for name in ("tau", "r", "v_leak", "v_threshold", "v_reset"):
        value = np.asarray(getattr(node, name), dtype=np.float64).ravel()
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

    tau_ms = arrays["tau"] * MS_PER_S
    v_th = arrays["v_threshold"]
    learn_tau = bool(_metadata_value(metadata, "spikerec.learn_tau")) or not np.all(
        tau_ms == tau_ms[0]
    )
    learn_threshold = bool(_metadata_value(metadata, "spikerec.learn_threshold")) or not np.all(
        v_th == v_th[0]
    )
    v_reset = _uniform(arrays["v_reset"], "v_reset")
    if learn_threshold and np.any(v_th <= v_reset):
        raise ParameterError(f"NIR LIF v_threshold must exceed v_reset={v_reset!r} in every neuron")
    params = LIFParams(
        tau_mem_ms=float(tau_ms[0]),
        dt_ms=dt_ms,
        v_rest=_uniform(arrays["v_leak"], "v_leak"),
        v_reset=v_reset,
        v_th=float(v_th[0]) if not learn_threshold else float(v_th.max()),
        r_m=_uniform(arrays["r"], "r") * MS_PER_S,
        reset=cast(ResetMode, reset),
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
    dtype = torch.float64 if weight.dtype == np.float64 else torch.float32
    head = head.to(dtype)
    with torch.no_grad():
        head.synapses.weight.copy_(torch.from_numpy(weight.astype(np.float64)))
        if isinstance(syn, nir.Affine):
            current = np.asarray(syn.bias, dtype=np.float64).ravel()
            if current.shape != (n_out,):
                raise ParameterError(
                    f"NIR Affine bias has shape {current.shape}; expected ({n_out},)"
                )
            tau_s = arrays["tau"]
            charge = current * (-np.expm1(-(dt_ms / MS_PER_S) / tau_s)) * tau_s
            head.synapses.bias.copy_(torch.from_numpy(charge))
        else:
            head.synapses.bias.zero_()
        if head.lif.log_tau_mem_ms is not None:
            head.lif.log_tau_mem_ms.copy_(torch.from_numpy(np.log(tau_ms)))
        if head.lif.v_th is not None:
            head.lif.v_th.copy_(torch.from_numpy(v_th))
    return head


__all__ = [
    "ENCODER_NOT_EXPORTED",
    "MS_PER_S",
    "export_nir",
    "import_nir",
    "to_nir_graph",
]

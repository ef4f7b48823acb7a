"""spikerec: a spiking-neural-network simulator for LIF output layers in image recognition.

The membrane of every LIF neuron obeys
``tau_mem_ms * dV/dt = -(V - v_rest) + r_m * I(t)``; see :mod:`spikerec.lif`.

The recognition pipeline (dataset -> CNN front end -> 3136 V4 units -> encoder ->
LIF output layer -> decoder) is exported too. ``CompareConfig`` and ``run_compare``
load scikit-learn, so they are imported on first use, keeping ``import spikerec`` cheap.

Examples
--------
>>> import torch
>>> import spikerec
>>> layer = spikerec.LIF(spikerec.LIFParams(tau_mem_ms=10.0, dt_ms=1.0))
>>> out = layer(torch.full((20, 2, 3), 4.0))   # [T, B, N]
>>> out.spikes.shape
torch.Size([20, 2, 3])
"""

from __future__ import annotations

import importlib
from importlib.metadata import PackageNotFoundError, version
from typing import TYPE_CHECKING, Any

from spikerec import _compat
from spikerec.data.loading import DatasetSplits, load_dataset
from spikerec.lif.activity import (
    ActivityReport,
    LayerActivity,
    SilentLayerWarning,
    init_firing_,
    measure_activity,
)
from spikerec.lif.cell import LIFCell, LIFStepOutput
from spikerec.lif.integrators import (
    INTEGRATORS,
    EulerIntegrator,
    ExactIntegrator,
    Integrator,
    RK4Integrator,
    get_integrator,
)
from spikerec.lif.modules import LIF, LIFOutput
from spikerec.lif.params import LIFParams
from spikerec.lif.step import LIFState, init_lif_state, lif_sequence, lif_step
from spikerec.lif.surrogates import (
    SURROGATES,
    ATan,
    FastSigmoid,
    Sigmoid,
    SuperSpike,
    Surrogate,
    Triangle,
    get_surrogate,
)
from spikerec.recognition.decoders import decode
from spikerec.recognition.encoders import (
    LatencyEncoder,
    LIFPopulationEncoder,
    RateEncoder,
    make_encoder,
)
from spikerec.recognition.frontend import V4FrontEnd
from spikerec.recognition.heads import AnalogSoftmaxHead, LIFHead, RateSoftmaxHead
from spikerec.recognition.recognizer import Recognizer, build_recognizer
from spikerec.reference.event_driven import simulate_event_driven
from spikerec.reference.events import ContinuousResult
from spikerec.reference.grid import GridResult, simulate
from spikerec.reference.inputs import poisson_spike_times, spike_raster
from spikerec.reference.scipy_ivp import solve_ivp_lif
from spikerec.training.config import TrainConfig
from spikerec.training.evaluation import EvalResult, evaluate
from spikerec.training.loop import TrainResult, train
from spikerec.training.trained_model import TrainedModel, load_model

_compat.install()

if TYPE_CHECKING:
    from spikerec.compare.config import CompareConfig
    from spikerec.compare.harness import run_compare

# Names imported on first access (PEP 562): spikerec.compare imports scikit-learn.
_LAZY = {"CompareConfig": "spikerec.compare.config", "run_compare": "spikerec.compare.harness"}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'spikerec' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))


try:
    __version__ = version("spikerec")
except PackageNotFoundError:  # running from a source tree that was never installed
    __version__ = "0+unknown"

__all__ = [
    "INTEGRATORS",
    "LIF",
    "SURROGATES",
    "ATan",
    "ActivityReport",
    "AnalogSoftmaxHead",
    "CompareConfig",
    "ContinuousResult",
    "DatasetSplits",
    "EulerIntegrator",
    "EvalResult",
    "ExactIntegrator",
    "FastSigmoid",
    "GridResult",
    "Integrator",
    "LIFCell",
    "LIFHead",
    "LIFOutput",
    "LIFParams",
    "LIFPopulationEncoder",
    "LIFState",
    "LIFStepOutput",
    "LatencyEncoder",
    "LayerActivity",
    "RK4Integrator",
    "RateEncoder",
    "RateSoftmaxHead",
    "Recognizer",
    "Sigmoid",
    "SilentLayerWarning",
    "SuperSpike",
    "Surrogate",
    "TrainConfig",
    "TrainResult",
    "TrainedModel",
    "Triangle",
    "V4FrontEnd",
    "__version__",
    "build_recognizer",
    "decode",
    "evaluate",
    "get_integrator",
    "get_surrogate",
    "init_firing_",
    "init_lif_state",
    "lif_sequence",
    "lif_step",
    "load_dataset",
    "load_model",
    "make_encoder",
    "measure_activity",
    "poisson_spike_times",
    "run_compare",
    "simulate",
    "simulate_event_driven",
    "solve_ivp_lif",
    "spike_raster",
    "train",
]

"""spikerec: a spiking-neural-network simulator for LIF output layers in image recognition.

The membrane of every LIF neuron obeys
``tau_mem_ms * dV/dt = -(V - v_rest) + r_m * I(t)``; see :mod:`spikerec.functional`.
"""

from importlib.metadata import PackageNotFoundError, version

from spikerec.functional import LIFState, init_lif_state, lif_sequence, lif_step
from spikerec.inputs import poisson_spike_times, spike_raster
from spikerec.integrators import (
    INTEGRATORS,
    ContinuousResult,
    EulerIntegrator,
    ExactIntegrator,
    Integrator,
    RK4Integrator,
    get_integrator,
    simulate_event_driven,
    solve_ivp_lif,
)
from spikerec.neurons import LIF, LIFOutput
from spikerec.params import LIFParams
from spikerec.simulate import GridResult, simulate
from spikerec.surrogate import (
    SURROGATES,
    ATan,
    FastSigmoid,
    Sigmoid,
    SuperSpike,
    Surrogate,
    Triangle,
    get_surrogate,
)

try:
    __version__ = version("spikerec")
except PackageNotFoundError:  # running from a source tree that was never installed
    __version__ = "0+unknown"

__all__ = [
    "INTEGRATORS",
    "LIF",
    "SURROGATES",
    "ATan",
    "ContinuousResult",
    "EulerIntegrator",
    "ExactIntegrator",
    "FastSigmoid",
    "GridResult",
    "Integrator",
    "LIFOutput",
    "LIFParams",
    "LIFState",
    "RK4Integrator",
    "Sigmoid",
    "SuperSpike",
    "Surrogate",
    "Triangle",
    "__version__",
    "get_integrator",
    "get_surrogate",
    "init_lif_state",
    "lif_sequence",
    "lif_step",
    "poisson_spike_times",
    "simulate",
    "simulate_event_driven",
    "solve_ivp_lif",
    "spike_raster",
]

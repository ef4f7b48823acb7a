"""The LIF neuron: parameters, the rules of a step, the step itself, and modules around it.

Everything here is about one layer of leaky integrate-and-fire neurons,

    tau_mem_ms * dV/dt = -(V - v_rest) + r_m * I(t),

and nothing else: no datasets, no training loop, no files.

- :mod:`~spikerec.lif.params`: :class:`LIFParams`, the validated parameters;
- :mod:`~spikerec.lif.rules`: threshold, reset, refractory window, jump gain and the
  order of a step, written once for floats, arrays and tensors;
- :mod:`~spikerec.lif.integrators`: grid integrators by name (euler, exact, rk4);
- :mod:`~spikerec.lif.step`: :func:`lif_step` and :func:`lif_sequence`;
- :mod:`~spikerec.lif.fused`: the whole sequence with a hand-written backward pass;
- :mod:`~spikerec.lif.surrogates`: threshold derivatives for training;
- :mod:`~spikerec.lif.cell`: :class:`LIFCell`, one step as an ``nn.Module``;
- :mod:`~spikerec.lif.modules`: :class:`LIF`, the ``nn.Module`` over a sequence;
- :mod:`~spikerec.lif.activity`: :func:`init_firing_` and :func:`measure_activity`,
  a network of Linear/Conv -> LIF layers started firing and checked for silence.
"""

from spikerec.lif.activity import ActivityReport, init_firing_, measure_activity
from spikerec.lif.cell import LIFCell, LIFStepOutput
from spikerec.lif.integrators import INTEGRATORS, Integrator, get_integrator
from spikerec.lif.modules import LIF, LIFOutput
from spikerec.lif.params import RESET_MODES, LIFParams
from spikerec.lif.step import SYNAPSES, LIFState, init_lif_state, lif_sequence, lif_step
from spikerec.lif.surrogates import SURROGATES, Surrogate, get_surrogate

__all__ = [
    "INTEGRATORS",
    "LIF",
    "RESET_MODES",
    "SURROGATES",
    "SYNAPSES",
    "ActivityReport",
    "Integrator",
    "LIFCell",
    "LIFOutput",
    "LIFParams",
    "LIFState",
    "LIFStepOutput",
    "Surrogate",
    "get_integrator",
    "get_surrogate",
    "init_firing_",
    "init_lif_state",
    "lif_sequence",
    "lif_step",
    "measure_activity",
]

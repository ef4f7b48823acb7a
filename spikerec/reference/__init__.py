"""Float64 reference simulators of LIF neurons, built on the rules of :mod:`spikerec.lif.rules`.

- :func:`simulate` (:mod:`~spikerec.reference.grid`): the grid driver, the same steps
  as :func:`spikerec.lif_step` without gradients; held input runs as ``lfilter`` scans
  between spikes (:mod:`~spikerec.reference.held_scan`);
- :func:`simulate_event_driven` (:mod:`~spikerec.reference.event_driven`): exact
  spike times for delta synapses, event to event;
- :func:`solve_ivp_lif` (:mod:`~spikerec.reference.scipy_ivp`): SciPy's ``solve_ivp``
  with threshold events;
- :mod:`~spikerec.reference.inputs`: Poisson spike trains and their raster on a grid.
"""

from spikerec.reference.event_driven import simulate_event_driven
from spikerec.reference.events import ContinuousResult
from spikerec.reference.grid import GridResult, simulate
from spikerec.reference.inputs import poisson_spike_times, spike_raster
from spikerec.reference.scipy_ivp import solve_ivp_lif

__all__ = [
    "ContinuousResult",
    "GridResult",
    "poisson_spike_times",
    "simulate",
    "simulate_event_driven",
    "solve_ivp_lif",
    "spike_raster",
]

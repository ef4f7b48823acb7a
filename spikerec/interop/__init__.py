"""Interoperability: NIR graphs and snntorch neurons.

- :func:`export_nir` / :func:`import_nir`: the spiking part of a model (synapses
  ``Linear(N -> C)`` + LIF output layer) to and from a NIR file (needs the optional
  ``nir`` package: ``pip install 'spikerec[nir]'``).
- :func:`to_snntorch` / :func:`from_snntorch`: a :class:`spikerec.LIF` layer to and
  from an ``snntorch.Leaky`` with identical spikes, or a one-line refusal.

See ``docs/interop.md``.
"""

from spikerec.interop.nir_graph import export_nir, import_nir, to_nir_graph
from spikerec.interop.snntorch_convert import from_snntorch, snntorch_input_gain, to_snntorch

__all__ = [
    "export_nir",
    "from_snntorch",
    "import_nir",
    "snntorch_input_gain",
    "to_nir_graph",
    "to_snntorch",
]

"""Membrane-equation integrators, chosen by name.

Grid integrators (one class per method, one interface, a declared order):
``euler`` (order 1), ``exact`` (exact for input held over a step), ``rk4`` (order 4).
The continuous-time reference simulators live in :mod:`spikerec.reference`.
"""

from __future__ import annotations

from spikerec.lif.integrators.base import Integrator, decay_factor, membrane_derivative
from spikerec.lif.integrators.euler import EulerIntegrator
from spikerec.lif.integrators.exact import ExactIntegrator
from spikerec.lif.integrators.rk4 import RK4Integrator
from spikerec.registry import Registry

#: The grid integrator classes by name. A new method is one module with a subclass of
#: :class:`Integrator` plus one line here.
INTEGRATORS: Registry[type[Integrator]] = Registry(
    "integrator", [(cls.name, cls) for cls in (EulerIntegrator, ExactIntegrator, RK4Integrator)]
)


def get_integrator(integrator: str | Integrator) -> Integrator:
    """The grid integrator named ``integrator`` (an instance passes through), or a
    one-line error listing the valid names (:meth:`spikerec.registry.Registry.build`).

    Examples
    --------
    >>> get_integrator("rk4").order
    4.0
    """
    return INTEGRATORS.build(integrator, Integrator)


__all__ = [
    "INTEGRATORS",
    "EulerIntegrator",
    "ExactIntegrator",
    "Integrator",
    "RK4Integrator",
    "decay_factor",
    "get_integrator",
    "membrane_derivative",
]

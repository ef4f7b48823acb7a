"""Membrane-equation integrators, chosen by name.

Grid integrators (one class per method, one interface, a declared order):
``euler`` (order 1), ``exact`` (exact for input held over a step), ``rk4`` (order 4).
Continuous-time reference simulators: :func:`solve_ivp_lif` (SciPy, float64) and
:func:`simulate_event_driven` (NumPy, float64, exact spike times for delta synapses).
"""

from __future__ import annotations

from spikerec.integrators.base import Integrator, decay_factor, membrane_derivative
from spikerec.integrators.euler import EulerIntegrator
from spikerec.integrators.event_driven import simulate_event_driven
from spikerec.integrators.events import ContinuousResult
from spikerec.integrators.exact import ExactIntegrator
from spikerec.integrators.rk4 import RK4Integrator
from spikerec.integrators.scipy_reference import solve_ivp_lif

INTEGRATORS: dict[str, type[Integrator]] = {
    cls.name: cls for cls in (EulerIntegrator, ExactIntegrator, RK4Integrator)
}


def get_integrator(integrator: str | Integrator) -> Integrator:
    """Return the grid integrator named ``integrator`` (an instance passes through).

    Raises
    ------
    ValueError
        If the name is unknown; the message lists the valid names.

    Examples
    --------
    >>> get_integrator("rk4").order
    4.0
    """
    if isinstance(integrator, Integrator):
        return integrator
    try:
        return INTEGRATORS[integrator]()
    except (KeyError, TypeError):
        raise ValueError(
            f"unknown integrator {integrator!r}; valid: {', '.join(INTEGRATORS)}"
        ) from None


__all__ = [
    "INTEGRATORS",
    "ContinuousResult",
    "EulerIntegrator",
    "ExactIntegrator",
    "Integrator",
    "RK4Integrator",
    "decay_factor",
    "get_integrator",
    "membrane_derivative",
    "simulate_event_driven",
    "solve_ivp_lif",
]

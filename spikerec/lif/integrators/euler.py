"""Forward Euler: first order, unstable for ``dt_ms >= 2 * tau_mem_ms``."""

from __future__ import annotations

from spikerec.lif.integrators.base import Integrator, membrane_derivative


class EulerIntegrator(Integrator):
    """Forward Euler, ``V += dt * f(V, u(t_n))``.

    Notes
    -----
    The update multiplies the distance from equilibrium by ``1 - dt/tau`` each
    step; for ``dt_ms >= 2 * tau_mem_ms`` that factor is <= -1 and the membrane
    oscillates with growing amplitude, so :meth:`validate` refuses such steps.

    Examples
    --------
    One step of 1 ms from rest under held drive ``u = 1`` with tau = 10 ms; the exact
    value is ``1 - exp(-0.1) = 0.09516``:

    >>> EulerIntegrator().advance(0.0, 1.0, dt_ms=1.0, tau_mem_ms=10.0, v_rest=0.0)
    0.1
    """

    name = "euler"
    order = 1.0
    stability_limit = 2.0

    def advance(self, v, drive, *, dt_ms, tau_mem_ms, v_rest, drive_mid=None, drive_end=None):
        return v + dt_ms * membrane_derivative(v, drive, tau_mem_ms, v_rest)


__all__ = ["EulerIntegrator"]

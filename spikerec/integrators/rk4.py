"""Classical fourth-order Runge-Kutta."""

from __future__ import annotations

from spikerec.integrators.base import Integrator, membrane_derivative


class RK4Integrator(Integrator):
    """Classical RK4 with the drive sampled at the start, middle and end of a step.

    Notes
    -----
    For input held over the step the update equals the fourth-order Taylor
    polynomial of ``exp(-dt/tau)``; for smooth input the global error is
    O(dt^4). The step is stable for ``dt_ms < 2.785 * tau_mem_ms``.
    """

    name = "rk4"
    order = 4.0

    def advance(self, v, drive, *, dt_ms, tau_mem_ms, v_rest, drive_mid=None, drive_end=None):
        u_mid = drive if drive_mid is None else drive_mid
        u_end = drive if drive_end is None else drive_end
        half = 0.5 * dt_ms
        k1 = membrane_derivative(v, drive, tau_mem_ms, v_rest)
        k2 = membrane_derivative(v + half * k1, u_mid, tau_mem_ms, v_rest)
        k3 = membrane_derivative(v + half * k2, u_mid, tau_mem_ms, v_rest)
        k4 = membrane_derivative(v + dt_ms * k3, u_end, tau_mem_ms, v_rest)
        return v + (dt_ms / 6.0) * (k1 + 2.0 * k2 + 2.0 * k3 + k4)

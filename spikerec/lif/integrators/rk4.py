"""Classical fourth-order Runge-Kutta."""

from __future__ import annotations

from spikerec.lif.integrators.base import Integrator, membrane_derivative

#: Largest stable ``dt_ms / tau_mem_ms`` of RK4 on the membrane equation: the real root
#: of ``h^3 - 4 h^2 + 12 h - 24``, where the one-step factor
#: ``1 - h + h^2/2 - h^3/6 + h^4/24`` reaches 1.
RK4_STABILITY_LIMIT = 2.785293563405289


class RK4Integrator(Integrator):
    """Classical RK4 with the drive sampled at the start, middle and end of a step.

    Notes
    -----
    For input held over the step the update equals the fourth-order Taylor
    polynomial of ``exp(-dt/tau)``; for smooth input the global error is
    O(dt^4). The step is stable for ``dt_ms < 2.7853 * tau_mem_ms``; beyond that the
    one-step factor exceeds 1 and the membrane grows without bound, so
    :meth:`validate` refuses such steps.

    Examples
    --------
    One step of 1 ms from rest under held drive ``u = 1`` with tau = 10 ms; the exact
    value is ``1 - exp(-0.1) = 0.0951626``:

    >>> RK4Integrator().advance(0.0, 1.0, dt_ms=1.0, tau_mem_ms=10.0, v_rest=0.0)
    0.0951625
    """

    name = "rk4"
    order = 4.0
    stability_limit = RK4_STABILITY_LIMIT

    def advance(self, v, drive, *, dt_ms, tau_mem_ms, v_rest, drive_mid=None, drive_end=None):
        u_mid = drive if drive_mid is None else drive_mid
        u_end = drive if drive_end is None else drive_end
        half = 0.5 * dt_ms
        k1 = membrane_derivative(v, drive, tau_mem_ms, v_rest)
        k2 = membrane_derivative(v + half * k1, u_mid, tau_mem_ms, v_rest)
        k3 = membrane_derivative(v + half * k2, u_mid, tau_mem_ms, v_rest)
        k4 = membrane_derivative(v + dt_ms * k3, u_end, tau_mem_ms, v_rest)
        return v + (dt_ms / 6.0) * (k1 + 2.0 * k2 + 2.0 * k3 + k4)

"""Exact exponential integration for input held constant over each step."""

from __future__ import annotations

import math

from spikerec.errors import ParameterError
from spikerec.lif.integrators.base import Integrator, decay_factor


class ExactIntegrator(Integrator):
    """Closed-form solution of the membrane equation over a step of held input.

    Notes
    -----
    With ``u`` constant on ``[t, t + dt]``,

    .. math:: V(t+dt) = V_{rest} + u + (V(t) - V_{rest} - u)\\, e^{-dt/\\tau}

    which is exact for any ``dt``. Like brian2's ``exact`` method it refuses an
    input it cannot solve exactly (``drive_mid``/``drive_end``) rather than
    silently approximating it.

    Examples
    --------
    One step of 1 ms from rest under held drive ``u = 1`` with tau = 10 ms:

    >>> ExactIntegrator().advance(0.0, 1.0, dt_ms=1.0, tau_mem_ms=10.0, v_rest=0.0)
    0.0951625819...
    >>> ExactIntegrator().held_coefficients(1.0, 10.0)  # (exp(-dt/tau), 1 - exp(-dt/tau))
    (0.904837..., 0.095162...)
    """

    name = "exact"
    order = math.inf

    def held_coefficients(self, dt_ms: float, tau_mem_ms: float) -> tuple[float, float]:
        return math.exp(-dt_ms / tau_mem_ms), -math.expm1(-dt_ms / tau_mem_ms)

    def advance(self, v, drive, *, dt_ms, tau_mem_ms, v_rest, drive_mid=None, drive_end=None):
        if drive_mid is not None or drive_end is not None:
            raise ParameterError(
                "the 'exact' integrator is exact only for input held constant over a step; "
                "give held input or choose 'euler' or 'rk4' for input varying within a step"
            )
        beta = decay_factor(dt_ms, tau_mem_ms)
        v_inf = v_rest + drive
        return v_inf + (v - v_inf) * beta

"""Exact exponential integration for input held constant over each step."""

from __future__ import annotations

import math

from spikerec.integrators.base import Integrator, decay_factor


class ExactIntegrator(Integrator):
    """Closed-form solution of the membrane equation over a step of held input.

    Notes
    -----
    With ``u`` constant on ``[t, t + dt]``,

    .. math:: V(t+dt) = V_{rest} + u + (V(t) - V_{rest} - u)\\, e^{-dt/\\tau}

    which is exact for any ``dt``. Like brian2's ``exact`` method it refuses an
    input it cannot solve exactly (``drive_mid``/``drive_end``) rather than
    silently approximating it.
    """

    name = "exact"
    order = math.inf

    def held_coefficients(self, dt_ms: float, tau_mem_ms: float) -> tuple[float, float]:
        return math.exp(-dt_ms / tau_mem_ms), -math.expm1(-dt_ms / tau_mem_ms)

    def advance(self, v, drive, *, dt_ms, tau_mem_ms, v_rest, drive_mid=None, drive_end=None):
        if drive_mid is not None or drive_end is not None:
            raise ValueError(
                "the 'exact' integrator is exact only for input held constant over a step; "
                "give held input or choose 'euler' or 'rk4' for input varying within a step"
            )
        beta = decay_factor(dt_ms, tau_mem_ms)
        v_inf = v_rest + drive
        return v_inf + (v - v_inf) * beta

"""The interface every grid integrator of the membrane equation implements.

An integrator advances the sub-threshold membrane equation

    tau_mem_ms * dV/dt = -(V - v_rest) + u(t),    u(t) = r_m * I(t)

over one step of ``dt_ms``. Threshold, reset, refractoriness and delta-synapse
jumps are not its business: :mod:`spikerec.lif.step` applies them the same way
for every integrator.

Arrays may be torch tensors or NumPy arrays; ``tau_mem_ms`` may be a float or a
tensor (a learnable time constant), broadcastable against ``v``.
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from typing import Any, ClassVar

import numpy as np
import torch

from spikerec.errors import ParameterError
from spikerec.lif.params import LIFParams
from spikerec.lif.rules import refractory_steps

Array = Any  # torch.Tensor or numpy.ndarray; both support the arithmetic used here


def decay_factor(dt_ms: float, tau_mem_ms: float | torch.Tensor) -> float | torch.Tensor:
    """Membrane decay over ``dt_ms``: ``exp(-dt_ms / tau_mem_ms)`` (dimensionless)."""
    if isinstance(tau_mem_ms, torch.Tensor):
        return torch.exp(-dt_ms / tau_mem_ms)
    if isinstance(tau_mem_ms, np.ndarray):
        return np.exp(-dt_ms / tau_mem_ms)
    return math.exp(-dt_ms / tau_mem_ms)


def membrane_derivative(
    v: Array, drive: Array, tau_mem_ms: float | torch.Tensor, v_rest: float
) -> Array:
    """Right-hand side ``dV/dt`` in voltage per ms for drive ``u = r_m * I``."""
    return (drive - (v - v_rest)) / tau_mem_ms


class Integrator(ABC):
    """One method of advancing the membrane equation over a step.

    Attributes
    ----------
    name : str
        Registry name (``get_integrator(name)``).
    order : float
        Global order of accuracy for smooth input; ``math.inf`` for a method that
        is exact for the input it accepts.
    stability_limit : float
        Largest stable ``dt_ms / tau_mem_ms`` (``math.inf``: stable for every step);
        :meth:`validate` refuses steps at or beyond it.

    Examples
    --------
    Look an integrator up by name and advance ``V`` by one step of 1 ms from rest
    under a held drive ``u = r_m * I = 1`` (voltage unit), tau = 10 ms:

    >>> from spikerec import get_integrator
    >>> method = get_integrator("exact")
    >>> method.order
    inf
    >>> method.advance(0.0, 1.0, dt_ms=1.0, tau_mem_ms=10.0, v_rest=0.0)  # 1 - exp(-0.1)
    0.0951625819...
    """

    name: ClassVar[str]
    order: ClassVar[float]
    stability_limit: ClassVar[float] = math.inf

    def validate(self, params: LIFParams) -> None:
        """Refuse parameters this method cannot integrate on a grid.

        Raises
        ------
        ValueError
            If ``t_ref_ms`` is not a whole number of steps of ``dt_ms``, or the step
            is at or beyond :attr:`stability_limit` ``* tau_mem_ms`` (the membrane
            would grow without bound; the exact integrator has no limit).
        """
        refractory_steps(params, where=f"the '{self.name}' grid integrator")
        limit = self.stability_limit
        if params.dt_ms >= limit * params.tau_mem_ms:
            raise ParameterError(
                f"dt_ms={params.dt_ms!r} is unstable for the {self.name!r} integrator: it must "
                f"be < {limit:.5g} * tau_mem_ms = {limit * params.tau_mem_ms:.6g} (use "
                "'exact' for large steps)"
            )

    def held_coefficients(self, dt_ms: float, tau_mem_ms: float) -> tuple[float, float]:
        """``(a, b)`` with ``advance(v, u) = v_rest + a (v - v_rest) + b u`` for held ``u``.

        Every grid method maps held input affinely; the default reads the two
        coefficients off :meth:`advance`.
        """
        kwargs = {"dt_ms": dt_ms, "tau_mem_ms": tau_mem_ms, "v_rest": 0.0}
        return float(self.advance(1.0, 0.0, **kwargs)), float(self.advance(0.0, 1.0, **kwargs))

    @abstractmethod
    def advance(
        self,
        v: Array,
        drive: Array,
        *,
        dt_ms: float,
        tau_mem_ms: float | torch.Tensor,
        v_rest: float,
        drive_mid: Array | None = None,
        drive_end: Array | None = None,
    ) -> Array:
        """Membrane potential one step later, before any threshold or jump.

        Parameters
        ----------
        v : array [..., N]
            Membrane potential at the start of the step (voltage unit).
        drive : array broadcastable to ``v``
            ``u = r_m * I`` at the start of the step (voltage unit). With
            ``drive_mid`` and ``drive_end`` left out, ``u`` is held over the step.
        dt_ms : float
            Step length in ms.
        tau_mem_ms : float or tensor
            Membrane time constant in ms.
        v_rest : float
            Resting potential.
        drive_mid, drive_end : array, optional
            ``u`` half-way through and at the end of the step, for input that
            varies smoothly within a step.
        """

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"

"""Parameters of the leaky integrate-and-fire neuron.

Every field carries its unit in its name: times in milliseconds, voltages in one
arbitrary unit shared by ``v_rest``, ``v_reset`` and ``v_th``, the membrane
resistance ``r_m`` in voltage per current unit.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, fields
from typing import Literal

from spikerec.errors import ParameterError, ParameterTypeError
from spikerec.validation import real_number

ResetMode = Literal["subtract", "zero", "none"]
RESET_MODES: tuple[str, ...] = ("subtract", "zero", "none")


@dataclass(frozen=True)
class LIFParams:
    """Parameters of a leaky integrate-and-fire neuron.

    Parameters
    ----------
    tau_mem_ms : float
        Membrane time constant in ms; must be > 0.
    dt_ms : float
        Time step of the grid simulators in ms; must be > 0.
    v_rest : float
        Resting potential (voltage unit).
    v_reset : float
        Potential after a "zero" reset; must be < ``v_th``. A "subtract" reset
        removes ``v_th - v_reset`` from the membrane.
    v_th : float
        Firing threshold; a neuron spikes when ``V >= v_th``.
    r_m : float
        Membrane resistance (voltage per current unit); must be > 0.
    t_ref_ms : float
        Absolute refractory period in ms (>= 0): after a spike the membrane is held
        at its post-reset value and input is ignored for this long.
    reset : {"subtract", "zero", "none"}
        Reset mechanism applied in the step in which the neuron spikes.

    Notes
    -----
    ``dt_ms / tau_mem_ms``, ``r_m / tau_mem_ms`` and ``v_th - v_reset`` must be
    finite too (no overflow).

    The membrane obeys

    .. math:: \\tau_{mem} \\frac{dV}{dt} = -(V - V_{rest}) + R_m I(t).

    Examples
    --------
    >>> p = LIFParams(tau_mem_ms=20.0, dt_ms=0.5)
    >>> round(p.beta, 6)
    0.975310
    >>> LIFParams(tau_mem_ms=-5.0)
    Traceback (most recent call last):
    ...
    spikerec.errors.ParameterError: tau_mem_ms=-5.0 must be > 0
    """

    tau_mem_ms: float = 10.0
    dt_ms: float = 1.0
    v_rest: float = 0.0
    v_reset: float = 0.0
    v_th: float = 1.0
    r_m: float = 1.0
    t_ref_ms: float = 0.0
    reset: ResetMode = "subtract"

    def __post_init__(self) -> None:
        for field in fields(self):
            if field.name == "reset":
                continue
            object.__setattr__(self, field.name, real_number(field.name, getattr(self, field.name)))
        if self.tau_mem_ms <= 0:
            raise ParameterError(f"tau_mem_ms={self.tau_mem_ms!r} must be > 0")
        if self.dt_ms <= 0:
            raise ParameterError(f"dt_ms={self.dt_ms!r} must be > 0")
        if self.r_m <= 0:
            raise ParameterError(f"r_m={self.r_m!r} must be > 0")
        if self.t_ref_ms < 0:
            raise ParameterError(f"t_ref_ms={self.t_ref_ms!r} must be >= 0")
        if not self.v_reset < self.v_th:
            raise ParameterError(f"v_reset={self.v_reset!r} must be < v_th={self.v_th!r}")
        if self.reset not in RESET_MODES:
            raise ParameterError(
                f"reset={self.reset!r} is not a reset mode; valid: {', '.join(RESET_MODES)}"
            )
        # Finite fields whose ratios or differences overflow (a subnormal tau_mem_ms,
        # thresholds near the float limit) would turn the membrane into inf or NaN.
        for derived, value in (
            ("dt_ms / tau_mem_ms", self.dt_ms / self.tau_mem_ms),
            ("r_m / tau_mem_ms", self.r_m / self.tau_mem_ms),
            ("v_th - v_reset", self.v_th - self.v_reset),
        ):
            if not math.isfinite(value):
                raise ParameterError(
                    f"{derived} overflows for tau_mem_ms={self.tau_mem_ms!r}, "
                    f"dt_ms={self.dt_ms!r}, r_m={self.r_m!r}, v_th={self.v_th!r}, "
                    f"v_reset={self.v_reset!r}: it must be finite"
                )

    @property
    def beta(self) -> float:
        """Membrane decay over one step, ``exp(-dt_ms / tau_mem_ms)`` (dimensionless)."""
        return math.exp(-self.dt_ms / self.tau_mem_ms)

    @property
    def refractory_steps(self) -> int:
        """Whole grid steps in ``t_ref_ms``; the grid integrators require an exact multiple."""
        return int(round(self.t_ref_ms / self.dt_ms))

    def replace(self, **changes: object) -> LIFParams:
        """Return a copy with ``changes`` applied (validated like the constructor)."""
        values = {f.name: getattr(self, f.name) for f in fields(self)}
        unknown = sorted(set(changes) - set(values))
        if unknown:
            raise ParameterTypeError(
                f"unknown LIFParams field(s) {', '.join(unknown)}; valid: {', '.join(values)}"
            )
        values.update(changes)
        return LIFParams(**values)  # type: ignore[arg-type]

    @classmethod
    def unit_jump(cls, tau_mem_ms: float = 10.0, **fields: object) -> LIFParams:
        """Parameters whose delta-synapse jump is one voltage unit per unit of input.

        Sets ``r_m = tau_mem_ms``, so that a summed weight ``x`` arriving in a step
        raises ``V`` by ``r_m x / tau_mem_ms = x``: the gain of ``snntorch.Leaky``
        (``mem = beta * mem + x``) and of brian2's ``on_pre="v_post += w"``. The
        equation is unchanged; only ``r_m`` is chosen. With ``synapse="current"`` a
        held current ``I`` then drives ``V`` towards ``tau_mem_ms * I``.

        Parameters
        ----------
        tau_mem_ms : float
            Membrane time constant in ms (> 0); also the membrane resistance.
        **fields
            Any other field of :class:`LIFParams` except ``r_m``.

        Notes
        -----
        ``r_m`` stays what it was set to: ``params.replace(tau_mem_ms=20.0)`` halves
        the jump. A learnable ``tau_mem_ms`` (``LIF(learn_tau=True)``) changes the jump
        as it learns; call ``unit_jump`` again for new parameters.

        Examples
        --------
        >>> p = LIFParams.unit_jump(tau_mem_ms=10.0, v_th=1.0, reset="subtract")
        >>> p.r_m, p.r_m / p.tau_mem_ms
        (10.0, 1.0)
        >>> LIFParams.unit_jump(r_m=2.0)
        Traceback (most recent call last):
        ...
        spikerec.errors.ParameterTypeError: unit_jump sets r_m = tau_mem_ms; leave r_m out \
or use LIFParams(r_m=...)
        """
        if "r_m" in fields:
            raise ParameterTypeError(
                "unit_jump sets r_m = tau_mem_ms; leave r_m out or use LIFParams(r_m=...)"
            )
        tau = real_number("tau_mem_ms", tau_mem_ms)
        return cls(tau_mem_ms=tau, r_m=tau, **fields)  # type: ignore[arg-type]

"""Checks of the options of the public step functions, :func:`spikerec.lif.step.lif_step`
and :func:`spikerec.lif.step.lif_sequence`: the same rules :class:`spikerec.LIF`
enforces, so no entry point integrates what it cannot.

- The integrator's :meth:`~spikerec.lif.integrators.base.Integrator.validate`: an
  ``euler`` step of ``dt_ms >= 2 tau_mem_ms`` (or ``rk4`` beyond its limit) makes the
  membrane grow without bound.
- Per-call ``tau_mem_ms`` / ``v_th`` overrides: finite, of the input's dtype and
  device, broadcastable to it; ``tau_mem_ms > 0``, inside the integrator's stability
  limit and with ``r_m / tau_mem_ms`` finite; ``v_th > v_reset``.
"""

from __future__ import annotations

import math
from dataclasses import replace

import torch

from spikerec.errors import ParameterError, ParameterTypeError
from spikerec.lif.integrators import Integrator, get_integrator
from spikerec.lif.params import LIFParams
from spikerec.validation import check_tensor, real_number


def _check_override_tensor(name: str, value: torch.Tensor, x: torch.Tensor) -> None:
    check_tensor(name, value, "broadcastable to x")
    if value.device != x.device or value.dtype != x.dtype:
        raise ParameterError(
            f"{name} is {value.dtype} on {value.device}; x is {x.dtype} on {x.device} "
            f"(convert it with .to(x))"
        )
    try:
        shape = torch.broadcast_shapes(value.shape, x.shape)
    except RuntimeError:
        shape = None
    if shape != x.shape:
        raise ParameterError(
            f"{name} has shape {tuple(value.shape)}, which does not broadcast to x's "
            f"{tuple(x.shape)}"
        )


def check_step_options(
    params: LIFParams,
    integrator: str | Integrator,
    x: torch.Tensor,
    *,
    tau_mem_ms: object = None,
    v_th: object = None,
) -> None:
    """Refuse an integrator that cannot integrate ``params``, and invalid overrides.

    Parameters
    ----------
    params : LIFParams
    integrator : str or Integrator
    x : Tensor
        The step's input (one step ``[..., N]``, or a sequence's first step).
    tau_mem_ms, v_th : Tensor or float, optional
        The overrides of ``params.tau_mem_ms`` and ``params.v_th``.

    Raises
    ------
    ValueError
        An unknown integrator; an unstable step; an override that is NaN, infinite,
        ``tau_mem_ms <= 0``, unstable for the integrator, ``v_th <= v_reset``, or of
        another shape, dtype or device than ``x``. One line naming the value.
    TypeError
        An override that is neither a tensor nor a real number.

    Examples
    --------
    >>> x = torch.zeros(1, 1)
    >>> check_step_options(LIFParams(tau_mem_ms=10.0, dt_ms=25.0), "euler", x)
    Traceback (most recent call last):
    ...
    spikerec.errors.ParameterError: dt_ms=25.0 is unstable for the 'euler' integrator: it must \
be < 2 * tau_mem_ms = 20 (use 'exact' for large steps)
    >>> check_step_options(LIFParams(), "exact", x, tau_mem_ms=torch.tensor(-1.0))
    Traceback (most recent call last):
    ...
    spikerec.errors.ParameterError: tau_mem_ms must be > 0, got -1
    """
    method = get_integrator(integrator)
    method.validate(params)
    if tau_mem_ms is not None:
        if isinstance(tau_mem_ms, torch.Tensor):
            _check_override_tensor("tau_mem_ms", tau_mem_ms, x)
            tau = tau_mem_ms.detach()
            if not bool((tau > 0).all()):
                raise ParameterError(f"tau_mem_ms must be > 0, got {float(tau.min()):.6g}")
            limit = method.stability_limit
            if math.isfinite(limit) and bool((tau * limit <= params.dt_ms).any()):
                raise ParameterError(
                    f"tau_mem_ms={float(tau.min()):.6g} makes the '{method.name}' integrator "
                    f"unstable: it must be > dt_ms / {limit:.5g} = {params.dt_ms / limit:.6g}"
                )
            if not bool(torch.isfinite(params.r_m / tau).all()):
                raise ParameterError(
                    f"tau_mem_ms={float(tau.min()):.6g} is too small: r_m / tau_mem_ms "
                    f"overflows {x.dtype}"
                )
        elif isinstance(tau_mem_ms, (int, float)) and not isinstance(tau_mem_ms, bool):
            value = real_number("tau_mem_ms", tau_mem_ms)
            if value <= 0:
                raise ParameterError(f"tau_mem_ms must be > 0, got {value:.6g}")
            method.validate(replace(params, tau_mem_ms=value))  # LIFParams' rules, then stability
        else:
            raise ParameterTypeError(
                f"tau_mem_ms must be a tensor or a real number, got {type(tau_mem_ms).__name__}"
            )
    if v_th is not None:
        if isinstance(v_th, torch.Tensor):
            _check_override_tensor("v_th", v_th, x)
            if not bool((v_th.detach() > params.v_reset).all()):
                raise ParameterError(
                    f"v_th must be > v_reset={params.v_reset!r}, got "
                    f"{float(v_th.detach().min()):.6g}"
                )
        elif isinstance(v_th, (int, float)) and not isinstance(v_th, bool):
            replace(params, v_th=real_number("v_th", v_th))  # LIFParams' rules
        else:
            raise ParameterTypeError(
                f"v_th must be a tensor or a real number, got {type(v_th).__name__}"
            )

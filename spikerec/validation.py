"""Checks shared by every validated parameter and tensor: one-line errors naming what is wrong."""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch

from spikerec.errors import NonFiniteError, ParameterError, ParameterTypeError


def real_number(name: str, value: object) -> float:
    """Return ``value`` as a finite float, or raise naming the field, the value and the rule.

    Raises
    ------
    TypeError
        For anything that is not a real number (bool and strings included).
    ValueError
        For NaN and infinities.
    """
    # bool is an int subclass and str has no __float__; neither is a parameter value.
    if isinstance(value, (bool, str, bytes)) or not hasattr(value, "__float__"):
        raise ParameterTypeError(f"{name} must be a real number, got {value!r}")
    try:
        number = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError, RuntimeError):  # RuntimeError: a tensor without data (meta)
        raise ParameterTypeError(f"{name} must be a real number, got {value!r}") from None
    if not math.isfinite(number):
        raise ParameterError(f"{name}={value!r} must be finite")
    return number


#: Largest finite float32 magnitude: training runs in float32.
FLOAT32_MAX = float(torch.finfo(torch.float32).max)


def check_integer(name: str, value: object, *, minimum: int = 1) -> None:
    """Refuse ``value`` unless it is an int (a bool is not one) >= ``minimum``.

    The message names ``name``, the value and the rule: ``epochs=0 must be a positive
    integer`` (``minimum`` 1), ``seed=-1 must be an integer >= 0`` (``minimum`` 0).
    """
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        rule = "a positive integer" if minimum == 1 else f"an integer >= {minimum}"
        raise ParameterError(f"{name}={value!r} must be {rule}")


def check_finite(name: str, value: object, *, allow_zero: bool = False) -> None:
    """Refuse ``value`` unless it is a finite int or float > 0 (>= 0 with ``allow_zero``).

    The message names ``name``, the value and the rule: ``lr=0 must be a finite number > 0``.
    """
    if not (
        isinstance(value, (int, float))
        and math.isfinite(value)
        and (value >= 0 if allow_zero else value > 0)
    ):
        bound = ">= 0" if allow_zero else "> 0"
        raise ParameterError(f"{name}={value!r} must be a finite number {bound}")


def fits_float32(name: str, value: float, *, reciprocal: bool = False) -> None:
    """Refuse a finite number that overflows float32 (``|value|`` above 3.4e38), or with
    ``reciprocal`` whose ``1 / value`` does (a time constant that divides).

    Examples
    --------
    >>> fits_float32("v_th", 1e300)
    Traceback (most recent call last):
    ...
    spikerec.errors.ParameterError: v_th=1e+300 is too large: training computes in float32, \
whose largest value is 3.4e+38
    """
    if abs(value) > FLOAT32_MAX:
        raise ParameterError(
            f"{name}={value!r} is too large: training computes in float32, whose largest "
            f"value is {FLOAT32_MAX:.2g}"
        )
    if reciprocal and value != 0 and abs(1.0 / value) > FLOAT32_MAX:
        raise ParameterError(
            f"{name}={value!r} is too small: 1 / {name} overflows float32 (largest value "
            f"{FLOAT32_MAX:.2g})"
        )


def parse_name_list(
    names: str | Sequence[str],
    valid: Sequence[str],
    *,
    noun: str,
    plural: str,
    none_given: str | None = None,
) -> tuple[str, ...]:
    """Names from a comma-separated string or a sequence, each checked against ``valid``.

    ``noun`` / ``plural`` name one item and several in the messages (``"entry"``,
    ``"entries"``); ``none_given`` (default ``noun``) completes "no ... given".
    Order is kept; blanks are dropped.

    Raises
    ------
    ValueError
        For no name at all, an unknown name or a repeated one; the message lists the
        valid names.
    """
    items = [n.strip() for n in names.split(",")] if isinstance(names, str) else list(names)
    items = [n for n in items if n]
    if not items:
        raise ParameterError(f"no {none_given or noun} given; valid: {', '.join(valid)}")
    for name in items:
        if name not in valid:
            raise ParameterError(f"unknown {noun} {name!r}; valid: {', '.join(valid)}")
    if len(set(items)) != len(items):
        raise ParameterError(f"{plural} repeat: {', '.join(items)}")
    return tuple(items)


def check_tensor(
    name: str,
    value: object,
    shape: str,
    *,
    ndim: int | None = None,
) -> None:
    """Refuse anything but a finite, non-empty floating-point tensor holding real data.

    Parameters
    ----------
    name : str
        The argument's name, used in the message.
    value : object
        What was passed.
    shape : str
        The documented shape, e.g. ``"[T, B, N]"``, used in the messages.
    ndim : int, optional
        Required number of dimensions.

    Raises
    ------
    TypeError
        Not a tensor, or not floating point.
    ValueError
        Wrong number of dimensions, a ``meta`` tensor (a shape without data), an
        empty dimension, NaN or infinite values (one reduction over the tensor).
    """
    if not isinstance(value, torch.Tensor):
        raise ParameterTypeError(
            f"{name} must be a torch.Tensor {shape}, got {type(value).__name__}"
        )
    if ndim is not None and value.dim() != ndim:
        raise ParameterError(f"{name} must have shape {shape}, got {tuple(value.shape)}")
    if not value.is_floating_point():
        raise ParameterTypeError(f"{name} must be a floating point tensor, got dtype {value.dtype}")
    if value.device.type == "meta":
        raise ParameterError(
            f"{name} is a meta tensor (a shape without data); give a tensor on cpu or cuda"
        )
    if value.numel() == 0:
        raise ParameterError(f"{name} has an empty dimension: shape {tuple(value.shape)} ({shape})")
    # A sum is one cheap pass and finite whenever every element is; only when it is
    # not (NaN or Inf somewhere, or finite values overflowing) decide element-wise.
    if not bool(torch.isfinite(value.detach().sum())) and not bool(torch.isfinite(value).all()):
        raise NonFiniteError(f"{name} contains NaN or infinite values", tensor_name=name)


def check_like_parameters(
    name: str, value: object, module: object, owner: str, *, dtype: bool = True
) -> None:
    """Refuse a tensor whose device (or, with ``dtype``, dtype) differs from ``module``'s
    parameters.

    ``owner`` names the module in the message (e.g. ``"the head"``). A module without
    parameters accepts any device and dtype.
    """
    parameter = next(iter(module.parameters()), None)  # type: ignore[attr-defined]
    if parameter is None or not isinstance(value, torch.Tensor):
        return
    if value.device != parameter.device:
        raise ParameterError(
            f"{name} is on {value.device} but {owner}'s parameters are on {parameter.device}; "
            f"move one of them with .to(device)"
        )
    if dtype and value.dtype != parameter.dtype:
        raise ParameterTypeError(
            f"{name} has dtype {value.dtype} but {owner}'s parameters have {parameter.dtype}; "
            f"convert one of them with .to(dtype)"
        )

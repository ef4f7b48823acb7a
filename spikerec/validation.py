"""Checks shared by every validated parameter: one-line errors naming field, value and rule."""

from __future__ import annotations

import math


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
        raise TypeError(f"{name} must be a real number, got {value!r}")
    try:
        number = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise TypeError(f"{name} must be a real number, got {value!r}") from None
    if not math.isfinite(number):
        raise ValueError(f"{name}={value!r} must be finite")
    return number

"""Pieces shared by the tests' independent NumPy references of the LIF grid step."""

from __future__ import annotations

import numpy as np

from spikerec import LIFParams


def reset_membrane(v: np.ndarray, fired: np.ndarray, p: LIFParams) -> np.ndarray:
    """The membrane after the step's reset: ``v`` where a neuron did not fire; where it
    fired, lowered by ``v_th - v_reset`` (``subtract``), set to ``v_reset`` (``zero``)
    or left as it is (any other reset mode)."""
    if p.reset == "subtract":
        return np.where(fired, v - (p.v_th - p.v_reset), v)
    if p.reset == "zero":
        return np.where(fired, p.v_reset, v)
    return v

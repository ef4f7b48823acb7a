"""Input spike trains and currents for reference simulations (NumPy, explicit generators)."""

from __future__ import annotations

import math

import numpy as np
from scipy.sparse import csr_array

import spikerec.lif.rules as rules
from spikerec.errors import ParameterError


def poisson_spike_times(
    n_inputs: int, rate_hz: float, t_end_ms: float, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """Independent homogeneous Poisson spike trains in continuous time.

    Parameters
    ----------
    n_inputs : int
        Number of presynaptic neurons (3136 for the V4 layer).
    rate_hz : float
        Firing rate of each input in Hz.
    t_end_ms : float
        Duration in ms.
    rng : numpy.random.Generator
        Source of randomness; the same seed gives the same trains.

    Returns
    -------
    neuron : ndarray [E] of int
        Presynaptic neuron of each spike.
    times_ms : ndarray [E]
        Spike times in ms, ascending.

    Examples
    --------
    >>> idx, t = poisson_spike_times(3136, 10.0, 200.0, np.random.default_rng(0))
    >>> 5500 < t.size < 7000, bool(np.all(np.diff(t) >= 0))
    (True, True)
    """
    if isinstance(n_inputs, bool) or not isinstance(n_inputs, int) or n_inputs < 1:
        raise ParameterError(f"n_inputs={n_inputs!r} must be a positive integer")
    if not (math.isfinite(rate_hz) and rate_hz >= 0):
        raise ParameterError(f"rate_hz={rate_hz!r} must be finite and >= 0")
    if not (math.isfinite(t_end_ms) and t_end_ms > 0):
        raise ParameterError(f"t_end_ms={t_end_ms!r} must be finite and > 0")
    counts = rng.poisson(rate_hz * t_end_ms / 1000.0, size=n_inputs)
    neuron = np.repeat(np.arange(n_inputs), counts)
    times = rng.uniform(0.0, t_end_ms, size=neuron.size)
    order = np.argsort(times, kind="stable")
    return neuron[order], times[order]


def spike_raster(
    neuron: np.ndarray,
    times_ms: np.ndarray,
    n_inputs: int,
    dt_ms: float,
    n_steps: int,
    *,
    sparse: bool = False,
) -> np.ndarray | csr_array:
    """Bin spikes onto the grid: spikes in ``(n dt, (n+1) dt]`` count in step n.

    Parameters
    ----------
    neuron : array [S] of int
        Index of the input neuron of each spike, in ``[0, n_inputs)``.
    times_ms : array [S]
        Spike times in ms, finite and >= 0.
    n_inputs : int
        Number of input neurons (columns of the raster).
    dt_ms : float
        Grid step in ms.
    n_steps : int
        Number of steps (rows); spikes after ``n_steps * dt_ms`` are dropped.
    sparse : bool
        Return a :class:`scipy.sparse.csr_array` instead of a dense array: a
        raster of a few thousand spikes over thousands of steps and inputs is
        almost all zeros, and :func:`spikerec.simulate` accepts either.

    Returns
    -------
    ndarray or csr_array [n_steps, n_inputs]
        Spike counts per step and input. A spike at exactly ``(n + 1) * dt_ms``
        lands in step n, so grid and event-driven simulations see the same input
        when spike times lie on the grid (times within
        :data:`spikerec.lif.rules.TIME_RTOL` of a step's end count as on it).

    Raises
    ------
    ParameterError
        For bad arguments, and for a spike at exactly t = 0: grid input arrives at
        the ends of steps, the first at ``dt_ms``, so the grid cannot apply it at 0
        as the continuous simulators do (:func:`spikerec.lif.rules.arrival_step`).

    Examples
    --------
    >>> import numpy as np
    >>> spike_raster(np.array([0, 1, 1]), np.array([0.5, 1.0, 2.5]), 2, dt_ms=1.0, n_steps=3)
    array([[1., 1.],
           [0., 0.],
           [0., 1.]])
    """
    times_ms = np.asarray(times_ms, dtype=np.float64)
    neuron = np.asarray(neuron)
    if times_ms.shape != neuron.shape:
        raise ParameterError(f"neuron has {neuron.size} entries but times_ms has {times_ms.size}")
    if not np.isfinite(times_ms).all() or (times_ms.size and times_ms.min() < 0):
        raise ParameterError("times_ms must be finite and >= 0")
    if not (isinstance(dt_ms, (int, float)) and math.isfinite(dt_ms) and dt_ms > 0):
        raise ParameterError(f"dt_ms={dt_ms!r} must be a finite number > 0")
    if neuron.size and (neuron.min() < 0 or neuron.max() >= n_inputs):
        raise ParameterError(f"neuron indices must lie in [0, n_inputs={n_inputs})")
    steps = rules.arrival_step(times_ms, dt_ms)
    keep = steps < n_steps
    if sparse:  # duplicate (step, input) pairs are summed on conversion to CSR
        ones = np.ones(int(keep.sum()))
        return csr_array((ones, (steps[keep], neuron[keep])), shape=(n_steps, n_inputs))
    raster = np.zeros((n_steps, n_inputs))
    np.add.at(raster, (steps[keep], neuron[keep]), 1.0)
    return raster

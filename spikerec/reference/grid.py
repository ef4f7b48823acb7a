"""The one driver that steps LIF neurons on a time grid and records their traces.

It computes what :func:`spikerec.lif.step.lif_step` computes, in float64 without
gradients, for reference simulations, plots and the CLI: held input (samples or
delta-synapse spikes) through :func:`spikerec.reference.held_scan.scan_held`, a current
function step by step through ``lif_step``. Training uses :class:`spikerec.LIF`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from scipy.sparse import csr_array, issparse, sparray, spmatrix

from spikerec.errors import ParameterError, ParameterTypeError
from spikerec.lif.integrators import Integrator, get_integrator
from spikerec.lif.params import LIFParams
from spikerec.lif.step import LIFState, Synapse, _lif_step, held_affine_step, init_lif_state
from spikerec.lif.surrogates import FastSigmoid
from spikerec.reference.held_scan import scan_held

CurrentFunction = Callable[[float], "float | np.ndarray"]


@dataclass(frozen=True)
class GridResult:
    """Traces of a grid simulation.

    Attributes
    ----------
    t_ms : ndarray [T]
        End time of each step, ``(n + 1) * dt_ms``: when the recorded values hold.
    v : ndarray [T, N]
        Membrane potential at ``t_ms`` before any reset (voltage unit).
    spikes : ndarray [T, N]
        1.0 where a neuron spiked in the step ending at ``t_ms``.
    final_state : LIFState
        State after the last step (float64 tensors).

    Examples
    --------
    A held current ``r_m * I = 1.5`` for 25 steps of 1 ms (tau = 10 ms) crosses
    ``v_th = 1`` in the steps ending at 11 ms and 22 ms:

    >>> from spikerec import LIFParams, simulate
    >>> result = simulate(LIFParams(tau_mem_ms=10.0, dt_ms=1.0), current=np.full(25, 1.5))
    >>> result.t_ms.shape, result.v.shape, result.spikes.shape
    ((25,), (25, 1), (25, 1))
    >>> result.spike_times_ms()
    array([11., 22.])
    """

    t_ms: np.ndarray
    v: np.ndarray
    spikes: np.ndarray
    final_state: LIFState

    def spike_times_ms(self, neuron: int = 0) -> np.ndarray:
        """Spike times of one neuron in ms (ends of the steps in which it spiked)."""
        return self.t_ms[self.spikes[:, neuron] > 0]


def _real_array(name: str, values: object) -> np.ndarray:
    """``values`` as a float64 array of finite real numbers, or a one-line error."""
    if isinstance(values, torch.Tensor):
        if values.is_complex():
            raise ParameterTypeError(f"{name} must hold real numbers, got {values.dtype}")
        values = values.detach().cpu()
    try:
        array = np.asarray(values)
    except (TypeError, ValueError) as error:  # ragged lists
        raise ParameterError(f"{name} must be an array of numbers ({error})") from None
    if np.iscomplexobj(array):
        raise ParameterTypeError(
            f"{name} must hold real numbers, got {array.dtype} (the imaginary part would be lost)"
        )
    if array.dtype == bool or not np.issubdtype(array.dtype, np.number):
        raise ParameterTypeError(f"{name} must hold real numbers, got dtype {array.dtype}")
    if not np.isfinite(array).all():
        raise ParameterError(f"{name} must hold finite numbers (it holds NaN or infinities)")
    return array.astype(np.float64, copy=False)


def _as_2d(name: str, values: np.ndarray | torch.Tensor) -> np.ndarray:
    array = _real_array(name, values)
    if array.ndim == 1:
        array = array[:, None]
    if array.ndim != 2 or array.shape[0] == 0:
        raise ParameterError(f"{name} must have shape [T] or [T, N] with T >= 1, got {array.shape}")
    return array


def _sparse_2d(name: str, values: sparray | spmatrix) -> csr_array:
    """A SciPy sparse ``[T, N]`` array as float64 CSR, checked like :func:`_as_2d`."""
    if values.ndim != 2 or values.shape[0] == 0:
        raise ParameterError(f"{name} must have shape [T, N] with T >= 1, got {values.shape}")
    if np.iscomplexobj(values.data):
        raise ParameterTypeError(f"{name} must hold real numbers, got {values.dtype}")
    array = csr_array(values, dtype=np.float64)
    if not np.isfinite(array.data).all():
        raise ParameterError(f"{name} must hold finite numbers")
    return array


def simulate(
    params: LIFParams,
    *,
    current: np.ndarray | torch.Tensor | CurrentFunction | None = None,
    input_spikes: np.ndarray | torch.Tensor | None = None,
    weights: np.ndarray | torch.Tensor | None = None,
    n_steps: int | None = None,
    integrator: str | Integrator = "exact",
    v0: float | np.ndarray | None = None,
) -> GridResult:
    """Simulate LIF neurons on the grid of ``params.dt_ms`` in float64.

    Give exactly one input:

    - ``current`` as samples ``[T]`` or ``[T, N]`` held over each step, or as a
      function of time in ms (then ``n_steps`` is required and the integrator
      sees the current at the start, middle and end of every step);
    - ``input_spikes`` ``[T, N_in]`` (spike counts per step; dense, or a SciPy
      sparse array such as ``spike_raster(..., sparse=True)``) with ``weights``
      ``[N_in]`` (one neuron) or ``[N_in, N]``: delta synapses, spikes of step n
      arriving at its end, ``(n + 1) * dt_ms``.

    Parameters
    ----------
    params : LIFParams
    integrator : str or Integrator
        ``"exact"``, ``"euler"`` or ``"rk4"``.
    v0 : float or array [N], optional
        Initial membrane potential (default ``v_rest``).

    Raises
    ------
    ValueError
        One line naming the argument: not exactly one input, NaN or infinite values
        (in the input, the weights, ``v0`` or what a current function returns),
        shapes that do not fit, ``n_steps`` that is not a positive integer, or
        parameters the integrator cannot integrate.
    TypeError
        Complex, boolean or non-numeric input, weights or ``v0`` (a complex current
        would lose its imaginary part).

    Returns
    -------
    GridResult

    Examples
    --------
    >>> p = LIFParams(tau_mem_ms=10.0, dt_ms=0.1)
    >>> res = simulate(p, current=np.full(1000, 2.0))
    >>> res.spike_times_ms()[:2].round(1).tolist()  # 10 ms * ln 2 = 6.93 ms apart
    [7.0, 13.9]
    """
    method = get_integrator(integrator)
    method.validate(params)
    if (current is None) == (input_spikes is None):
        raise ParameterError("give exactly one input: current or input_spikes (with weights)")

    smooth = callable(current)
    if n_steps is not None and (
        isinstance(n_steps, bool) or not isinstance(n_steps, int) or n_steps < 1
    ):
        raise ParameterError(f"n_steps={n_steps!r} must be a positive integer")
    synapse: Synapse
    if input_spikes is not None:
        if weights is None:
            raise ParameterError("input_spikes needs weights [N_in] or [N_in, N]")
        spikes_in = (
            _sparse_2d("input_spikes", input_spikes)
            if issparse(input_spikes)
            else _as_2d("input_spikes", input_spikes)
        )
        w = _real_array("weights", weights)
        w = w[:, None] if w.ndim == 1 else w
        if w.ndim != 2 or w.shape[0] != spikes_in.shape[1]:
            raise ParameterError(
                f"weights must have shape [N_in={spikes_in.shape[1]}] or "
                f"[N_in={spikes_in.shape[1]}, N], got {np.shape(weights)}"
            )
        x = torch.from_numpy(np.asarray(spikes_in @ w, dtype=np.float64))
        synapse = "delta"
    elif callable(current):  # smooth
        if (
            n_steps is None
            or isinstance(n_steps, bool)
            or not isinstance(n_steps, int)
            or (n_steps < 1)
        ):
            raise ParameterError(
                f"n_steps={n_steps!r} must be a positive integer for a current function"
            )
        dt = params.dt_ms
        grid = np.arange(n_steps) * dt

        def sampled(times: np.ndarray) -> torch.Tensor:
            samples = [np.atleast_1d(_real_array("current(t)", current(float(t)))) for t in times]
            if any(sample.shape != samples[0].shape or sample.ndim != 1 for sample in samples):
                raise ParameterError(
                    "current(t) must return a number or an array [N] of the same length "
                    "at every time"
                )
            return torch.from_numpy(np.stack(samples))

        x, x_mid, x_end = sampled(grid), sampled(grid + dt / 2), sampled(grid + dt)
        synapse = "current"
    else:
        x = torch.from_numpy(_as_2d("current", current))  # type: ignore[arg-type]
        synapse = "current"
    if n_steps is not None and not smooth:
        x = x[:n_steps]

    n_neurons = x.shape[1]
    state = init_lif_state((n_neurons,), params, dtype=torch.float64)
    if v0 is not None:
        start = _real_array("v0", v0)
        try:
            v_start = np.array(np.broadcast_to(start, (n_neurons,)))
        except ValueError:
            raise ParameterError(
                f"v0 must be a number or an array [N={n_neurons}], got shape {start.shape}"
            ) from None
        state = state._replace(v=torch.from_numpy(v_start))

    if not smooth:
        a, b, c = held_affine_step(params, method, synapse, params.tau_mem_ms)
        step_input_v = x.numpy() * b
        if c != 0.0:
            step_input_v = step_input_v + c
        v_pre, spikes_out, v_final, left = scan_held(a, step_input_v, params, state.v.numpy())
        return GridResult(
            t_ms=(np.arange(x.shape[0]) + 1) * params.dt_ms,
            v=v_pre,
            spikes=spikes_out,
            final_state=LIFState(
                v=torch.from_numpy(v_final), refractory_steps_left=torch.from_numpy(left)
            ),
        )
    # A current function varies within each step: step by step through lif_step
    # (its unchecked form: the samples were checked above).
    v_trace = torch.empty_like(x)
    spike_trace = torch.empty_like(x)
    threshold_step = FastSigmoid()  # no gradients here: only its forward, rules.fires
    with torch.no_grad():
        for n in range(x.shape[0]):
            extra: dict[str, Any] = {"x_mid": x_mid[n], "x_end": x_end[n]} if smooth else {}
            spk, v_step, state = _lif_step(
                x[n], state, params, method, threshold_step, params.tau_mem_ms, params.v_th,
                synapse, **extra,
            )  # fmt: skip
            v_trace[n], spike_trace[n] = v_step, spk
    t_ms = (np.arange(x.shape[0]) + 1) * params.dt_ms
    return GridResult(t_ms=t_ms, v=v_trace.numpy(), spikes=spike_trace.numpy(), final_state=state)

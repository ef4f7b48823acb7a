"""``spikerec simulate``: the membrane trace of one LIF neuron driven by V4-like Poisson
inputs or a current step.

:func:`run_membrane_trace` is the experiment (float64, on the grid of
:func:`spikerec.reference.grid.simulate`), :func:`write_membrane_trace` writes its
files, and :func:`run` is the command: check, simulate, write into a new run folder.
"""

from __future__ import annotations

import csv
import json
import math
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Literal

import numpy as np

from spikerec.errors import ParameterError
from spikerec.lif.integrators import INTEGRATORS, get_integrator
from spikerec.lif.params import LIFParams
from spikerec.reference.grid import GridResult, simulate
from spikerec.reference.inputs import poisson_spike_times, spike_raster
from spikerec.run_folders import atomic_write, atomic_write_text, new_run_dir

TraceInput = Literal["poisson", "step"]
TRACE_INPUTS: tuple[str, ...] = ("poisson", "step")
#: Most values one simulation may hold in one array (steps x inputs), about 400 MB of float64.
MAX_SIMULATION_VALUES = 50_000_000


@dataclass(frozen=True)
class TraceConfig:
    """Input of the membrane-trace experiment.

    Attributes
    ----------
    input : {"poisson", "step"}
        Poisson spike trains through delta synapses, or a held current step.
    duration_ms : float
        Simulated time in ms.
    n_inputs : int
        Presynaptic V4 neurons (Poisson input).
    rate_hz : float
        Firing rate of each input in Hz.
    weight_mean, weight_std : float
        Normal distribution of synaptic weights (current unit x ms).
    current : float
        Step amplitude (current unit).
    step_on_ms, step_off_ms : float
        When the current step starts and ends.
    seed : int
        Seed of the NumPy generator for spikes and weights, >= 0.
    """

    input: TraceInput = "poisson"
    duration_ms: float = 200.0
    n_inputs: int = 3136
    rate_hz: float = 10.0
    weight_mean: float = 0.032
    weight_std: float = 0.05
    current: float = 1.5
    step_on_ms: float = 20.0
    step_off_ms: float = 160.0
    seed: int = 0

    def __post_init__(self) -> None:
        if self.input not in TRACE_INPUTS:
            raise ParameterError(f"unknown input {self.input!r}; valid: {', '.join(TRACE_INPUTS)}")
        for name in (
            "duration_ms",
            "rate_hz",
            "weight_mean",
            "weight_std",
            "current",
            "step_on_ms",
            "step_off_ms",
        ):
            value = getattr(self, name)
            if not math.isfinite(value):
                raise ParameterError(f"{name}={value!r} must be finite")
        if self.duration_ms <= 0:
            raise ParameterError(f"duration_ms={self.duration_ms!r} must be > 0")
        if self.rate_hz < 0:
            raise ParameterError(f"rate_hz={self.rate_hz!r} must be >= 0")
        if self.weight_std < 0:
            raise ParameterError(f"weight_std={self.weight_std!r} must be >= 0")
        if isinstance(self.seed, bool) or not isinstance(self.seed, int) or self.seed < 0:
            raise ParameterError(f"seed={self.seed!r} must be an integer >= 0")
        if self.n_inputs < 1:
            raise ParameterError(f"n_inputs={self.n_inputs!r} must be >= 1")
        if not self.step_on_ms < self.step_off_ms:
            raise ParameterError(
                f"step_on_ms={self.step_on_ms!r} must be < step_off_ms={self.step_off_ms!r}"
            )


@dataclass(frozen=True)
class TraceResult:
    """Outcome of :func:`run_membrane_trace`.

    Attributes
    ----------
    grid : GridResult
        Membrane trace ``[T, 1]`` and spikes of the neuron.
    x : ndarray [T]
        The input of each step, as ``x`` of :func:`spikerec.lif_step`: the held current
        (step input) or the summed weight of the spikes arriving in the step (Poisson
        input). The ``drive`` column of ``membrane_trace.csv``.
    input_neuron, input_times_ms : ndarray [E]
        Presynaptic spikes (empty for the step input).
    """

    grid: GridResult
    x: np.ndarray
    input_neuron: np.ndarray
    input_times_ms: np.ndarray

    @property
    def drive(self) -> np.ndarray:
        """The earlier name of :attr:`x` (``drive`` now means ``u = r_m * I`` only)."""
        return self.x


def run_membrane_trace(
    params: LIFParams, config: TraceConfig, *, integrator: str = "exact"
) -> TraceResult:
    """Simulate one LIF neuron for ``config.duration_ms`` on the grid of ``params.dt_ms``.

    Examples
    --------
    >>> res = run_membrane_trace(LIFParams(), TraceConfig(input="step", duration_ms=50.0))
    >>> res.grid.v.shape
    (50, 1)
    """
    n_steps = max(1, int(round(config.duration_ms / params.dt_ms)))
    rng = np.random.default_rng(config.seed)
    if config.input == "step":
        t_start = np.arange(n_steps) * params.dt_ms
        current = np.where(
            (t_start >= config.step_on_ms) & (t_start < config.step_off_ms), config.current, 0.0
        )
        grid = simulate(params, current=current, integrator=integrator)
        return TraceResult(grid, current, np.zeros(0, dtype=np.int64), np.zeros(0))
    weights = rng.normal(config.weight_mean, config.weight_std, size=config.n_inputs)
    neuron, times = poisson_spike_times(config.n_inputs, config.rate_hz, config.duration_ms, rng)
    raster = spike_raster(neuron, times, config.n_inputs, params.dt_ms, n_steps)
    grid = simulate(params, input_spikes=raster, weights=weights, integrator=integrator)
    return TraceResult(grid, raster @ weights, neuron, times)


def write_membrane_trace(
    result: TraceResult,
    params: LIFParams,
    config: TraceConfig,
    out_dir: Path,
    *,
    integrator: str = "exact",
) -> list[Path]:
    """Write ``membrane_trace.png``, ``membrane_trace.csv`` and ``config.json`` into ``out_dir``."""
    from spikerec.plotting import (
        new_figure,
        plot_input_current,
        plot_membrane_trace,
        plot_raster,
        save_figure,
    )

    grid = result.grid
    csv_path = out_dir / "membrane_trace.csv"

    def write_csv(tmp: Path) -> None:
        with open(tmp, "w", newline="", encoding="utf-8") as handle:
            writer = csv.writer(handle)
            # "drive" is the step input x; the column keeps its name (a file format)
            writer.writerow(["t_ms", "v_pre_reset", "spike", "drive"])
            for t, v, s, d in zip(
                grid.t_ms, grid.v[:, 0], grid.spikes[:, 0], result.x, strict=True
            ):
                writer.writerow([f"{t:.6g}", f"{v:.10g}", int(s), f"{d:.10g}"])

    atomic_write(csv_path, write_csv)

    raster = config.input == "poisson"
    # Two panels either way: the membrane, and what drives it (the input raster, or
    # the step current itself).
    fig, axes = new_figure(2, height_ratios=[2, 1], figsize=(9.0, 6.0), sharex=True)
    t = np.concatenate([[0.0], grid.t_ms])
    v = np.concatenate([[params.v_rest], grid.v[:, 0]])
    plot_membrane_trace(
        t,
        v,
        v_th=params.v_th,
        v_reset=params.v_reset if params.reset != "none" else None,
        spike_times_ms=grid.spike_times_ms(),
        ax=axes[0],
    )
    n_spikes = int(grid.spikes.sum())
    source = (
        f"{config.n_inputs} Poisson inputs at {config.rate_hz:g} Hz"
        if raster
        else f"current step {config.current:g} from {config.step_on_ms:g} "
        f"to {config.step_off_ms:g} ms"
    )
    axes[0].set_title(
        f"LIF neuron, tau_mem = {params.tau_mem_ms:g} ms, dt = {params.dt_ms:g} ms, "
        f"{integrator} integrator; {source}; {n_spikes} spike{'' if n_spikes == 1 else 's'}",
        fontsize="medium",
    )
    axes[0].set_xlabel("")  # shared with the panel below
    if raster:
        plot_raster(result.input_neuron, result.input_times_ms, ax=axes[1], max_neurons=200)
        axes[1].set_title("input raster (first 200 of the V4 inputs)", fontsize="small")
    else:
        t_start = grid.t_ms - params.dt_ms  # the current is held over each step
        plot_input_current(
            np.append(t_start, grid.t_ms[-1]), np.append(result.x, result.x[-1]), ax=axes[1]
        )
        axes[1].set_title("input current (held over each step)", fontsize="small")
    png_path = save_figure(fig, out_dir / "membrane_trace.png")

    cfg_path = atomic_write_text(
        out_dir / "config.json",
        json.dumps(
            {"params": asdict(params), "trace": asdict(config), "integrator": integrator}, indent=2
        ),
    )
    return [png_path, csv_path, cfg_path]


@dataclass(frozen=True)
class SimulateOptions:
    """What ``spikerec simulate`` is asked to do; checked before anything runs.

    Attributes
    ----------
    params : LIFParams
        The neuron.
    trace : TraceConfig
        The input and its duration.
    integrator : {"exact", "euler", "rk4"}
        Grid integrator; it must accept ``params`` (Euler and RK4 refuse unstable steps).
    out : path
        Parent folder of the new run folder.
    """

    params: LIFParams = field(default_factory=LIFParams)
    trace: TraceConfig = field(default_factory=TraceConfig)
    integrator: str = "exact"
    out: str | Path = "runs"

    def __post_init__(self) -> None:
        if self.integrator not in INTEGRATORS:
            raise ParameterError(
                f"unknown integrator {self.integrator!r}; valid: {', '.join(INTEGRATORS)}"
            )
        get_integrator(self.integrator).validate(self.params)
        n_steps = self.trace.duration_ms / self.params.dt_ms
        per_step = self.trace.n_inputs if self.trace.input == "poisson" else 1
        if n_steps * per_step > MAX_SIMULATION_VALUES:
            raise ParameterError(
                f"duration_ms / dt_ms = {n_steps:.4g} steps"
                + (f" x {per_step} inputs" if per_step > 1 else "")
                + f" is too large (at most {MAX_SIMULATION_VALUES:.0e} values); shorten "
                "duration_ms (--duration-ms), raise dt_ms (--dt-ms) or lower n_inputs "
                "(--n-inputs)"
            )


@dataclass(frozen=True)
class SimulateRun:
    """What ``spikerec simulate`` did.

    Attributes
    ----------
    run_dir : Path
        The new run folder.
    files : list of Path
        ``membrane_trace.png``, ``membrane_trace.csv``, ``config.json``.
    n_spikes : int
        Output spikes of the neuron.
    duration_ms : float
        Simulated time in ms.
    """

    run_dir: Path
    files: list[Path]
    n_spikes: int
    duration_ms: float

    @property
    def rate_hz(self) -> float:
        """Output firing rate in Hz."""
        return 1000.0 * self.n_spikes / self.duration_ms


def run(options: SimulateOptions) -> SimulateRun:
    """Simulate, then write the trace's files into a new run folder under ``options.out``.

    Examples
    --------
    >>> import tempfile
    >>> trace = TraceConfig(input="step", current=1.5, duration_ms=100.0)
    >>> done = run(SimulateOptions(LIFParams(tau_mem_ms=10.0), trace, out=tempfile.mkdtemp()))
    >>> done.n_spikes > 0, [p.name for p in done.files]
    (True, ['membrane_trace.png', 'membrane_trace.csv', 'config.json'])
    """
    result = run_membrane_trace(options.params, options.trace, integrator=options.integrator)
    run_dir = new_run_dir(options.out, "simulate")
    files = write_membrane_trace(
        result, options.params, options.trace, run_dir, integrator=options.integrator
    )
    return SimulateRun(run_dir, files, int(result.grid.spikes.sum()), options.trace.duration_ms)

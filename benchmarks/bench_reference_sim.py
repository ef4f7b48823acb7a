"""(d) Reference simulation: one LIF neuron, 3136 Poisson inputs, delta synapses.

3136 presynaptic neurons fire Poisson trains at 10 Hz for 200 ms
(:func:`spikerec.poisson_spike_times`, seeded). For a fair agreement check every
spike time is moved up to the next multiple of ``dt = 0.1 ms`` (a spike at t = 0
to ``dt``), so all three simulators see identical input:

- ``solve_ivp``: :func:`spikerec.solve_ivp_lif` (SciPy DOP853, restarted at every
  input jump), the reference;
- ``event_driven``: :func:`spikerec.simulate_event_driven` (closed form between events);
- ``grid``: :func:`spikerec.simulate` (exact integrator, float64) on the sparse raster
  from :func:`spikerec.spike_raster` (``sparse=True``), binning included in its time.

Agreement (before timing): max |dV| at the grid times and max |d spike time|
against ``solve_ivp``, both must be <= 1e-9, with the same number of spikes.
Speed: medians of interleaved rounds, reported as ``solve_ivp / event_driven`` and
``solve_ivp / grid``.

Run on its own: ``python benchmarks/bench_reference_sim.py [--quick]``.
"""

from __future__ import annotations

import argparse

import common
import numpy as np

import spikerec

N_IN = 3136
RATE_HZ = 10.0
DT_MS = 0.1
PARAMS = spikerec.LIFParams(tau_mem_ms=10.0, dt_ms=DT_MS, v_th=1.0, r_m=10.0, reset="subtract")
TOL = 1e-9


class Problem:
    """Input events on the grid, and one callable per simulator."""

    def __init__(self, t_end_ms: float, seed: int) -> None:
        rng = np.random.default_rng(seed)
        neuron, times = spikerec.poisson_spike_times(N_IN, RATE_HZ, t_end_ms, rng)
        # r_m = tau: a spike of input i makes V jump by weights[i]
        self.weights = rng.normal(0.004, 0.01, size=N_IN)
        steps = np.maximum(np.ceil(times / DT_MS), 1).astype(np.int64)  # move up onto the grid
        self.n_steps = int(round(t_end_ms / DT_MS))
        keep = steps <= self.n_steps
        self.neuron, self.steps = neuron[keep], steps[keep]
        self.times_ms = self.steps * DT_MS  # the same floats as the grid's t_ms
        self.t_end_ms = self.n_steps * DT_MS
        self.sample_times_ms = (np.arange(self.n_steps) + 1) * DT_MS
        self.n_events = int(self.neuron.size)

    def solve_ivp(self) -> spikerec.ContinuousResult:
        return spikerec.solve_ivp_lif(
            PARAMS,
            t_end_ms=self.t_end_ms,
            input_spike_times_ms=self.times_ms,
            input_weights=self.weights[self.neuron],
            sample_times_ms=self.sample_times_ms,
        )

    def event_driven(self) -> spikerec.ContinuousResult:
        return spikerec.simulate_event_driven(
            PARAMS,
            self.times_ms,
            self.weights[self.neuron],
            t_end_ms=self.t_end_ms,
            sample_times_ms=self.sample_times_ms,
        )

    def grid(self) -> spikerec.GridResult:
        # The raster is part of the grid simulator's work: it is timed with it.
        raster = spikerec.spike_raster(
            self.neuron, self.times_ms, N_IN, DT_MS, self.n_steps, sparse=True
        )
        return spikerec.simulate(PARAMS, input_spikes=raster, weights=self.weights)


def agreement(problem: Problem) -> list[dict[str, object]]:
    ref = problem.solve_ivp()
    event = problem.event_driven()
    grid = problem.grid()
    assert np.array_equal(grid.t_ms, problem.sample_times_ms)
    n_ref = int(ref.spike_times_ms.size)
    rows = [common.check("output spikes of solve_ivp (not vacuous)", n_ref, 1, kind=">=")]
    for name, spikes, v in (
        ("event_driven", event.spike_times_ms, event.v_samples),
        ("grid", grid.spike_times_ms(), grid.v[:, 0]),
    ):
        rows.append(common.check(f"{name}: spike-count difference", abs(spikes.size - n_ref), 0,
                                 kind="=="))  # fmt: skip
        dt_spike = (
            float(np.abs(spikes - ref.spike_times_ms).max())
            if spikes.size == n_ref and n_ref
            else (0.0 if spikes.size == n_ref else float("inf"))
        )
        rows.append(common.check(f"{name}: max |d spike time| vs solve_ivp (ms)", dt_spike, TOL))
        rows.append(common.check(f"{name}: max |dV| at {v.size} grid times vs solve_ivp",
                                 float(np.abs(v - ref.v_samples).max()), TOL))  # fmt: skip
    return rows


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    common.add_common_args(parser)
    parser.add_argument("--t-end-ms", type=float, default=None, help="duration (default 200)")
    return common.fill_defaults(
        parser.parse_args(argv), t_end_ms=(50.0, 200.0), rounds=(2, 5), warmup=(0, 1)
    )


def main(argv: list[str] | None = None) -> dict[str, object]:
    args = parse_args(argv)
    common.start(
        args.threads,
        "== (d) reference simulation: 1 LIF neuron, 3136 Poisson inputs at 10 Hz, delta synapses",
    )
    problem = Problem(args.t_end_ms, args.seed)
    print(f"{problem.t_end_ms:g} ms, {problem.n_events} input spikes moved onto the "
          f"{DT_MS} ms grid; {args.rounds} interleaved rounds after {args.warmup} warm-up "
          "call(s), medians")  # fmt: skip
    result: dict[str, object] = {"name": "reference_sim", "ratios": []}
    if not common.report_checks(result, agreement(problem)):
        print("simulators disagree; not timing them")
        return result
    fns = {"solve_ivp": problem.solve_ivp, "event_driven": problem.event_driven,
           "grid": problem.grid}  # fmt: skip
    times = common.time_interleaved(fns, rounds=args.rounds, warmup=args.warmup)
    med = {name: t["median_s"] for name, t in times.items()}
    result["times"] = med
    print(common.table([(n, 1e3 * s) for n, s in med.items()], ["simulator", "median ms"]))
    w = f"(d) {problem.t_end_ms:g} ms"
    ratios = [
        common.ratio_row(w, "time solve_ivp/event_driven", med["solve_ivp"] / med["event_driven"],
                         "event-driven speed-up over SciPy solve_ivp"),
        common.ratio_row(w, "time solve_ivp/grid", med["solve_ivp"] / med["grid"],
                         f"grid (dt {DT_MS} ms, float64) speed-up over solve_ivp"),
    ]  # fmt: skip
    common.report_ratios(result, ratios)
    return result


if __name__ == "__main__":
    common.run_script(main)

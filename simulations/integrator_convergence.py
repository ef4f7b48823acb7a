"""Error against step size for every grid integrator, with measured convergence orders.

Input: the smooth current I(t) = I0 + A sin(2 pi t / P) for Euler and RK4, whose
solution is known in closed form, and the same current held over each step for the
exact integrator, checked against SciPy's solve_ivp of the held-input equation.
No spikes: the threshold is out of reach.
Writes ``convergence.png`` and ``convergence.csv`` into a new folder under ``--out``.

    python simulations/integrator_convergence.py --out runs
"""

from __future__ import annotations

import argparse
import csv
import math
import sys
from collections.abc import Sequence

import numpy as np

from spikerec import LIFParams, simulate, solve_ivp_lif
from spikerec.plotting import new_figure, plot_convergence, save_figure
from spikerec.run_folders import new_run_dir

TAU_MS, I0, AMPLITUDE, PERIOD_MS, T_END_MS = 10.0, 0.5, 0.4, 20.0, 40.0
OMEGA = 2.0 * math.pi / PERIOD_MS


def exact_membrane(t_ms: np.ndarray) -> np.ndarray:
    """Closed-form V(t) from V(0) = 0 for the smooth current (r_m = 1, v_rest = 0)."""
    wt = OMEGA * TAU_MS
    particular = I0 + AMPLITUDE * (np.sin(OMEGA * t_ms) - wt * np.cos(OMEGA * t_ms)) / (1 + wt**2)
    start = I0 - AMPLITUDE * wt / (1 + wt**2)
    return particular - start * np.exp(-t_ms / TAU_MS)


def held_reference_membrane(params: LIFParams, held: np.ndarray) -> np.ndarray:
    """SciPy solve_ivp of the held-input equation, sampled at the step ends."""
    n_steps = held.size
    t = (np.arange(n_steps) + 1) * params.dt_ms
    return solve_ivp_lif(params, t_end_ms=float(t[-1]), current=held, sample_times_ms=t).v_samples


def current(t_ms: float) -> float:
    return I0 + AMPLITUDE * math.sin(OMEGA * t_ms)


def measure(dts_ms: np.ndarray) -> dict[str, np.ndarray]:
    """Maximum absolute membrane error on the grid for each integrator and step size."""
    errors: dict[str, list[float]] = {"euler": [], "rk4": [], "exact (held input)": []}
    for dt in dts_ms:
        params = LIFParams(tau_mem_ms=TAU_MS, dt_ms=float(dt), v_th=1e9)  # never fires
        n_steps = int(round(T_END_MS / dt))
        t = (np.arange(n_steps) + 1) * dt
        for name in ("euler", "rk4"):
            res = simulate(params, current=current, n_steps=n_steps, integrator=name)
            errors[name].append(float(np.max(np.abs(res.v[:, 0] - exact_membrane(t)))))
        held = np.array([current(n * dt) for n in range(n_steps)])
        res = simulate(params, current=held, integrator="exact")
        errors["exact (held input)"].append(
            float(np.max(np.abs(res.v[:, 0] - held_reference_membrane(params, held))))
        )
    return {k: np.asarray(v) for k, v in errors.items()}


def fitted_order(dts_ms: np.ndarray, errors: np.ndarray) -> float:
    """Slope of log(error) against log(dt)."""
    return float(np.polyfit(np.log(dts_ms), np.log(errors), 1)[0])


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--dts-ms",
        default="0.0625,0.125,0.25,0.5,1,2",
        help="comma-separated step sizes in ms, at least two (default 0.0625,...,2)",
    )
    parser.add_argument("--out", default="runs")
    args = parser.parse_args(argv)

    try:
        dts_ms = np.array(sorted(float(dt) for dt in args.dts_ms.split(",")))
    except ValueError:
        parser.error(f"--dts-ms {args.dts_ms!r} must be comma-separated numbers")
    if dts_ms.size < 2 or not (np.isfinite(dts_ms).all() and (dts_ms > 0).all()):
        parser.error(f"--dts-ms {args.dts_ms!r} needs at least two finite step sizes > 0")
    errors = measure(dts_ms)
    for name in ("euler", "rk4"):
        print(f"{name}: measured order {fitted_order(dts_ms, errors[name]):.3f}")
    print(f"exact (held input): max error {errors['exact (held input)'].max():.2e}")

    out_dir = new_run_dir(args.out, "convergence")
    with open(out_dir / "convergence.csv", "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["dt_ms", *errors])
        for k, dt in enumerate(dts_ms):
            writer.writerow([dt, *(f"{err[k]:.6e}" for err in errors.values())])
    fig, (ax,) = new_figure(figsize=(6.0, 4.5))
    plot_convergence(dts_ms, errors, ax=ax)
    ax.set_title("LIF membrane error vs step size (tau = 10 ms)", fontsize="medium")
    save_figure(fig, out_dir / "convergence.png")
    print(f"wrote {out_dir / 'convergence.png'}")
    print(f"wrote {out_dir / 'convergence.csv'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Membrane trace of one LIF neuron driven by 3136 V4-like Poisson inputs or a current step.

Writes ``membrane_trace.png`` (V(t) with threshold, spikes and input raster) and
``membrane_trace.csv`` into a new folder under ``--out``.

    python simulations/membrane_trace.py --input poisson --out runs
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from spikerec import LIFParams
from spikerec.commands.simulate import TraceConfig, run_membrane_trace, write_membrane_trace
from spikerec.run_folders import new_run_dir


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--input", choices=["poisson", "step"], default="poisson")
    parser.add_argument("--integrator", choices=["exact", "euler", "rk4"], default="exact")
    parser.add_argument("--tau-mem-ms", type=float, default=10.0)
    parser.add_argument("--dt-ms", type=float, default=0.1)
    parser.add_argument("--t-ref-ms", type=float, default=2.0)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default="runs")
    args = parser.parse_args(argv)

    params = LIFParams(tau_mem_ms=args.tau_mem_ms, dt_ms=args.dt_ms, t_ref_ms=args.t_ref_ms)
    config = TraceConfig(input=args.input, seed=args.seed)
    result = run_membrane_trace(params, config, integrator=args.integrator)
    out_dir = new_run_dir(args.out, "membrane-trace")
    for path in write_membrane_trace(result, params, config, out_dir, integrator=args.integrator):
        print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

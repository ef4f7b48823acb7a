"""Run every spikerec benchmark and print one summary table of ratios.

Workloads (see each script's docstring):

- (a) ``bench_output_layer.py``: Linear(3136 -> 10) + 10 LIF, forward + backward, T = 25, 100;
- (b) ``bench_training_step.py``: a training step of the reference network, T = 25;
- (c) ``bench_training_step.py``: peak memory of that step at T = 100 (fresh processes);
- (d) ``bench_reference_sim.py``: event-driven and grid simulators vs SciPy solve_ivp;
- (e) ``bench_csnn.py``: a training step of the example CSNN (simulations/csnn_mnist.py)
  against the same network in snntorch, T = 10.

Every workload checks that the peers agree (same spikes, gradients within
tolerance; simulator traces within 1e-9) before timing them. The exit status is 1
when any agreement check failed.

Usage: ``python benchmarks/run_all.py [--quick] [--threads N] [--only a b c d e]``.
"""

from __future__ import annotations

import argparse
import sys
import time

import bench_csnn
import bench_output_layer
import bench_reference_sim
import bench_training_step
import common


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="small sizes, few rounds (smoke)")
    parser.add_argument("--threads", type=int, default=2, help="torch threads (default 2)")
    parser.add_argument("--rounds", type=int, default=None, help="timed rounds per peer")
    parser.add_argument(
        "--only", nargs="+", choices=("a", "b", "c", "d", "e"),
        default=("a", "b", "c", "d", "e"),
        help="workloads to run (default all)",
    )  # fmt: skip
    parser.add_argument("--compile", action="store_true", help="(a): also torch.compile spikerec")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> dict[str, object]:
    args = parse_args(argv)
    start = time.perf_counter()
    setup = common.setup_process(args.threads)
    shared = ["--threads", str(args.threads)]
    if args.quick:
        shared.append("--quick")
    if args.rounds is not None:
        shared += ["--rounds", str(args.rounds)]
    results = []
    if "a" in args.only:
        extra = ["--compile"] if args.compile else []
        if args.quick:
            extra += ["--steps", "25", "100", "--batch", "8"]
        results.append(bench_output_layer.main(shared + extra))
        print()
    if "b" in args.only or "c" in args.only:
        extra = []
        if "b" not in args.only:
            extra.append("--no-time")
        if "c" not in args.only:
            extra.append("--no-memory")
        results.append(bench_training_step.main(shared + extra))
        print()
    if "d" in args.only:
        results.append(bench_reference_sim.main(shared))
        print()
    if "e" in args.only:
        results.append(bench_csnn.main(shared))
        print()

    checks = [c for r in results for c in r.get("checks", [])]
    ratios = [row for r in results for row in r.get("ratios", [])]
    failed = [c for c in checks if not c["ok"]]
    print("=" * 100)
    print("SUMMARY" + ("  (--quick: small sizes, few rounds; a smoke run, not a measurement)"
                       if args.quick else ""))  # fmt: skip
    print(common.describe_machine(common.machine_info(), setup))
    print(common.ratios_table(ratios))
    print(f"agreement checks: {len(checks) - len(failed)} of {len(checks)} passed")
    for c in failed:
        print(f"  FAILED: {c['check']}: {common.fmt_value(c['value'])} (required {c['kind']} "
              f"{common.fmt_value(c['limit'])})")  # fmt: skip
    print(f"total wall time {time.perf_counter() - start:.0f} s")
    return {"checks": checks, "ratios": ratios, "failed": len(failed)}


if __name__ == "__main__":
    sys.exit(1 if main(sys.argv[1:])["failed"] else 0)

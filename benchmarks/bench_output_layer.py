"""(a) The LIF output layer: V4 spikes -> Linear(3136 -> 10) -> 10 LIF neurons.

Input spikes ``[T, B, 3136]`` (Bernoulli, rate 0.1 per step, seeded generator),
forward + backward with cross-entropy on the output spike counts, for each T.
Peers, all on the same Linear weights, float32:

- ``spikerec``: ``spikerec.LIF`` (fused, exact integrator, delta synapses) with the
  Linear applied to all T steps at once;
- ``snntorch``: ``snntorch.Leaky(beta=0.9, threshold=1, reset_mechanism="subtract",
  reset_delay=False, spike_grad=fast_sigmoid(25))`` in a Python time loop, the
  Linear called every step (the snntorch tutorial idiom);
- ``snntorch_hoisted``: the same Leaky loop with the Linear applied to all T at
  once beforehand (shows how much of the gap is the per-step Linear);
- ``floor``: one batched Linear forward + backward of the same shapes and loss on
  the summed outputs, no neuron: what any implementation must pay.

The neuron parameters are equivalent: ``LIFParams(tau_mem_ms=tau, dt_ms=1, r_m=tau)``
with ``tau = -1/ln(0.9)`` makes spikerec's delta-synapse jump equal the input and its
decay 0.9 (docs/snntorch.md). Before timing, spikes must be identical and weight
gradients equal within tolerance.

Run on its own: ``python benchmarks/bench_output_layer.py [--quick] [--threads N]``.
"""

from __future__ import annotations

import argparse
import copy
import math
import time
from collections.abc import Callable

import common
import snntorch as snn
import torch
from snntorch import surrogate as snn_surrogate
from torch import nn
from torch.nn import functional as F

import spikerec

N_IN, N_OUT = 3136, 10
BETA = 0.9
TAU_MS = -1.0 / math.log(BETA)  # dt = 1 ms: exp(-dt/tau) = beta
PARAMS = spikerec.LIFParams(tau_mem_ms=TAU_MS, dt_ms=1.0, v_th=1.0, reset="subtract", r_m=TAU_MS)
RATE = 0.1
SLOPE = 25.0
PEERS = ("spikerec", "snntorch", "snntorch_hoisted", "floor")
GRAD_TOL = 1e-4  # float32, max|diff| / max|grad|
TITLE = "== (a) output layer: V4 spikes -> Linear(3136 -> 10) -> 10 LIF, forward + backward"


class Workload:
    """Inputs, labels and one Linear per peer (identical weights) for one T."""

    def __init__(self, n_steps: int, batch: int, seed: int) -> None:
        g = torch.Generator().manual_seed(seed)
        self.x = (torch.rand(n_steps, batch, N_IN, generator=g) < RATE).float()
        self.labels = torch.randint(0, N_OUT, (batch,), generator=g)
        linear = common.init_uniform_(nn.Linear(N_IN, N_OUT), g)
        with torch.no_grad():  # a small positive drive so the output neurons fire
            linear.weight.add_(3e-4)
        self.linear = {peer: copy.deepcopy(linear) for peer in PEERS}
        self.lif = spikerec.LIF(
            PARAMS,
            integrator="exact",
            synapse="delta",
            surrogate=spikerec.FastSigmoid(slope=SLOPE),
            fused=True,
        )
        self.leaky = snn.Leaky(
            beta=BETA,
            threshold=1.0,
            reset_mechanism="subtract",
            reset_delay=False,
            spike_grad=snn_surrogate.fast_sigmoid(slope=SLOPE),
        )

    # Each step returns the output spikes [T, B, 10] (None for the floor).

    def _finish(self, peer: str, counts: torch.Tensor) -> None:
        for p in self.linear[peer].parameters():
            p.grad = None
        F.cross_entropy(counts, self.labels).backward()

    def step_spikerec(self) -> torch.Tensor:
        out = self.lif(self.linear["spikerec"](self.x))
        self._finish("spikerec", out.spikes.sum(0))
        return out.spikes

    def _leaky_loop(self, inputs: Callable[[int], torch.Tensor]) -> torch.Tensor:
        mem = torch.zeros(self.x.shape[1], N_OUT)
        record = []
        for t in range(self.x.shape[0]):
            spk, mem = self.leaky(inputs(t), mem)
            record.append(spk)
        return torch.stack(record)

    def step_snntorch(self) -> torch.Tensor:
        linear = self.linear["snntorch"]
        spikes = self._leaky_loop(lambda t: linear(self.x[t]))
        self._finish("snntorch", spikes.sum(0))
        return spikes

    def step_snntorch_hoisted(self) -> torch.Tensor:
        current = self.linear["snntorch_hoisted"](self.x)
        spikes = self._leaky_loop(lambda t: current[t])
        self._finish("snntorch_hoisted", spikes.sum(0))
        return spikes

    def step_floor(self) -> None:
        self._finish("floor", self.linear["floor"](self.x).sum(0))

    def step(self, peer: str) -> Callable[[], object]:
        return getattr(self, f"step_{peer}")

    def grads(self, peer: str) -> list[torch.Tensor]:
        return [p.grad for p in self.linear[peer].parameters()]


def agreement(work: Workload, n_steps: int) -> list[dict[str, object]]:
    """Same spikes, same gradients: spikerec vs both snntorch loops."""
    ours = work.step_spikerec()
    rate = float(ours.detach().mean())
    rows = [common.check(f"T={n_steps}: output spike rate (not vacuous)", rate, 1e-3, kind=">=")]
    for peer in ("snntorch", "snntorch_hoisted"):
        theirs = work.step(peer)()
        mismatches = int((ours != theirs).sum())
        rows.append(
            common.check(f"T={n_steps}: spikes differing vs {peer}", mismatches, 0, kind="==")
        )
        pairs = zip(work.grads("spikerec"), work.grads(peer), strict=True)
        worst = max(common.rel_diff(a, b) for a, b in pairs)
        name = f"T={n_steps}: Linear-gradient rel. diff vs {peer}"
        rows.append(common.check(name, worst, GRAD_TOL))
    return rows


def memory_child(args: argparse.Namespace) -> dict[str, object]:
    """One forward + backward of one peer in this fresh process; print peak RSS.
    Returns an empty result (the parent reads the printed one)."""
    common.setup_process(args.threads)
    work = Workload(args.memory_child_steps, args.batch, args.seed)
    common.emit_step_memory(work.step(args.memory_child))
    return {}


MEMORY_PEERS = ("spikerec", "snntorch", "floor")


def measure_memory(n_steps: int, args: argparse.Namespace) -> dict[str, dict[str, float]]:
    """Peak RSS of one forward + backward of each peer, each in a fresh process."""
    return common.measure_memory_children(
        "bench_output_layer.py", MEMORY_PEERS, args, "--memory-child-steps", str(n_steps)
    )


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    common.add_common_args(parser)
    parser.add_argument("--steps", type=int, nargs="+", default=None, help="T values (25 100)")
    parser.add_argument("--batch", type=int, default=None, help="batch size (default 128)")
    parser.add_argument("--no-memory", action="store_true", help="skip peak-memory children")
    parser.add_argument(
        "--compile", action="store_true", help="also time torch.compile of the spikerec step"
    )
    parser.add_argument("--memory-child", choices=PEERS, help=argparse.SUPPRESS)
    parser.add_argument("--memory-child-steps", type=int, help=argparse.SUPPRESS)
    return common.fill_defaults(
        parser.parse_args(argv),
        steps=([25, 100], [25, 100]), batch=(32, 128), rounds=(3, 7), warmup=(1, 2), jobs=(3, 1),
    )  # fmt: skip


def compiled_spikerec(work: Workload) -> tuple[Callable[[], object], float]:
    """torch.compile of the spikerec forward + loss; returns the step and compile time."""
    linear, lif, x, labels = work.linear["spikerec"], work.lif, work.x, work.labels

    def loss_fn() -> torch.Tensor:
        return F.cross_entropy(lif(linear(x)).spikes.sum(0), labels)

    compiled = torch.compile(loss_fn)

    def step() -> None:
        for p in linear.parameters():
            p.grad = None
        compiled().backward()

    start = time.perf_counter()
    step()
    return step, time.perf_counter() - start


def main(argv: list[str] | None = None) -> dict[str, object]:
    args = parse_args(argv)
    if args.memory_child:
        return memory_child(args)
    common.start(args.threads, TITLE)
    print(
        f"batch {args.batch}, input rate {RATE}, T in {args.steps}; "
        f"{args.rounds} interleaved rounds after {args.warmup} warm-up call(s), medians"
    )
    result: dict[str, object] = {"name": "output_layer", "checks": [], "ratios": [], "times": {}}
    for n_steps in args.steps:
        work = Workload(n_steps, args.batch, args.seed)
        if not common.report_checks(result, agreement(work, n_steps)):
            print(f"T={n_steps}: peers disagree; not timing them")
            continue
        fns = {peer: work.step(peer) for peer in PEERS}
        compile_s = None
        if args.compile:
            try:
                fns["spikerec_compiled"], compile_s = compiled_spikerec(work)
            except Exception as exc:  # noqa: BLE001 - report and carry on without it
                print(f"torch.compile of the spikerec step failed: {type(exc).__name__}: {exc}")
        times = common.time_interleaved(fns, rounds=args.rounds, warmup=args.warmup)
        med = {peer: t["median_s"] for peer, t in times.items()}
        result["times"][f"T={n_steps}"] = med
        rows = [(peer, 1e3 * med[peer]) for peer in med]
        print(common.table(rows, [f"T={n_steps} peer", "median ms"]))
        w = f"(a) T={n_steps}"
        ratios = [
            common.ratio_row(w, "time spikerec/floor", med["spikerec"] / med["floor"],
                             "cost over one batched Linear fwd+bwd (>= 1)"),
            common.ratio_row(w, "time snntorch/spikerec", med["snntorch"] / med["spikerec"],
                             "speed-up over snntorch (Linear in the loop)"),
            common.ratio_row(w, "time snntorch_hoisted/spikerec",
                             med["snntorch_hoisted"] / med["spikerec"],
                             "speed-up over snntorch (Linear hoisted)"),
        ]  # fmt: skip
        if "spikerec_compiled" in med:
            ratios.append(common.ratio_row(
                w, "time spikerec/spikerec_compiled", med["spikerec"] / med["spikerec_compiled"],
                f"torch.compile speed-up (compile took {compile_s:.1f} s, not included)",
            ))  # fmt: skip
        if not args.no_memory:
            mem = measure_memory(n_steps, args)
            result["memory"] = {**result.get("memory", {}), f"T={n_steps}": mem}
            step_mib = common.memory_table(mem)
            ratios += [
                common.ratio_row(w, "step memory snntorch/spikerec",
                                 step_mib["snntorch"] / max(step_mib["spikerec"], 1e-3),
                                 "peak RSS growth of one fwd+bwd, fresh processes"),
                common.ratio_row(w, "step memory spikerec/floor",
                                 step_mib["spikerec"] / max(step_mib["floor"], 1e-3),
                                 "peak RSS growth over the Linear-only floor"),
                common.ratio_row(w, "peak RSS snntorch/spikerec",
                                 mem["snntorch"]["peak_mib"] / mem["spikerec"]["peak_mib"],
                                 "whole-process peak RSS incl. torch and inputs"),
            ]  # fmt: skip
        common.report_ratios(result, ratios)
    return result


if __name__ == "__main__":
    common.run_script(main)

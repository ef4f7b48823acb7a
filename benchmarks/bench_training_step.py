"""(b) Training step of the reference network, and (c) its peak memory.

Network: ``Conv(1->32, 3, pad 1)-ReLU-MaxPool2 -> Conv(32->64, 3, pad 1)-ReLU-MaxPool2``
-> 3136 V4 LIF neurons driven by the features held as a current -> ``Linear(3136 -> 10)``
-> 10 LIF output neurons; cross-entropy on output spike counts, backward, Adam step.
Batch 128 of 28 x 28 images (uniform noise from a seeded generator), T = 25.

Peers, all starting from the same weights, timed in float32 (agreement is checked
in float64):

- ``spikerec``: ``spikerec.recognition.frontend.V4FrontEnd`` once per image,
  ``spikerec.recognition.encoders.LIFPopulationEncoder`` (fused V4 population on held current)
  and ``spikerec.recognition.heads.LIFHead`` (Linear on all T at once + fused output LIF);
- ``snntorch_once``: the same convolutions once per image, then ``snntorch.Leaky``
  for V4 and output neurons in a Python time loop;
- ``snntorch_tutorial``: snntorch's CSNN-tutorial idiom, convolutions recomputed in
  every time step inside the loop;
- ``cnn``: the plain CNN trained as an ordinary network (T = 1, Linear on the 3136
  features, cross-entropy on its outputs): the ceiling.

V4 neurons: spikerec ``LIFParams(tau_mem_ms=5, dt_ms=1, r_m=6)``, exact integrator,
``synapse="current"``; snntorch ``Leaky(beta=exp(-1/5))`` fed ``(1 - beta) * r_m * I``
every step (docs/snntorch.md). Output neurons as in (a): beta 0.9, threshold 1,
subtract reset, jump = input. Surrogate fast sigmoid, slope 25, everywhere.

(c) peak memory at T = 100: each peer runs one training step in a fresh process;
peak RSS (VmHWM) and its growth over the RSS before the step are reported.

Run on its own: ``python benchmarks/bench_training_step.py [--quick] [--threads N]``.
"""

from __future__ import annotations

import argparse
import math

import common
import snntorch as snn
import torch
from snntorch import surrogate as snn_surrogate
from torch import nn
from torch.nn import functional as F

import spikerec
from spikerec.recognition.encoders import LIFPopulationEncoder
from spikerec.recognition.frontend import V4_UNITS, V4FrontEnd
from spikerec.recognition.heads import LIFHead

N_OUT = 10
SLOPE = 25.0
V4_PARAMS = spikerec.LIFParams(tau_mem_ms=5.0, dt_ms=1.0, v_th=1.0, r_m=6.0, reset="subtract")
OUT_BETA = 0.9
OUT_TAU_MS = -1.0 / math.log(OUT_BETA)
OUT_PARAMS = spikerec.LIFParams(
    tau_mem_ms=OUT_TAU_MS, dt_ms=1.0, v_th=1.0, r_m=OUT_TAU_MS, reset="subtract"
)
PEERS = ("spikerec", "snntorch_once", "snntorch_tutorial", "cnn")
LR = 1e-3
# float64 throughout, but snntorch 1.0 returns float32 spikes, so its gradients carry
# float32 rounding.
GRAD_TOL = 1e-6
TITLE = "== (b) training step: CNN front end -> 3136 V4 LIF -> Linear -> 10 LIF, + Adam"


def conv_stack() -> nn.Sequential:
    """The front end as an snntorch user writes it (same layer indices as V4FrontEnd)."""
    return nn.Sequential(
        nn.Conv2d(1, 32, 3, padding=1),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Conv2d(32, 64, 3, padding=1),
        nn.ReLU(),
        nn.MaxPool2d(2),
    )


def leaky(beta: float) -> snn.Leaky:
    return snn.Leaky(
        beta=beta,
        threshold=1.0,
        reset_mechanism="subtract",
        reset_delay=False,
        spike_grad=snn_surrogate.fast_sigmoid(slope=SLOPE),
    )


class SpikerecNet(nn.Module):
    """Front end once, fused V4 population, LIF head."""

    def __init__(self, n_steps: int) -> None:
        super().__init__()
        self.frontend = V4FrontEnd(1)
        surrogate = spikerec.FastSigmoid(slope=SLOPE)
        self.encoder = LIFPopulationEncoder(n_steps, V4_PARAMS, surrogate=surrogate)
        self.head = LIFHead(N_OUT, V4_UNITS, OUT_PARAMS, integrator="exact", surrogate=surrogate)

    def forward(self, images: torch.Tensor):
        v4 = self.encoder(self.frontend(images))
        out = self.head(v4)
        return out.logits, v4, out.spikes


class SnntorchNet(nn.Module):
    """snntorch idioms; ``recompute=True`` runs the convolutions in every step (tutorial)."""

    def __init__(self, n_steps: int, recompute: bool) -> None:
        super().__init__()
        self.n_steps, self.recompute = n_steps, recompute
        self.features = conv_stack()
        self.v4_beta = V4_PARAMS.beta
        self.v4 = leaky(self.v4_beta)
        self.fc = nn.Linear(V4_UNITS, N_OUT)
        self.out = leaky(OUT_BETA)

    def drive(self, images: torch.Tensor) -> torch.Tensor:
        """Per-step V4 input ``(1 - beta) * r_m * I`` for held current I = features."""
        return (1.0 - self.v4_beta) * V4_PARAMS.r_m * self.features(images).flatten(1)

    def forward(self, images: torch.Tensor, record_v4: bool = False):
        current = None if self.recompute else self.drive(images)
        mem1 = torch.zeros(images.shape[0], V4_UNITS, dtype=images.dtype)
        mem2 = torch.zeros(images.shape[0], N_OUT, dtype=images.dtype)
        v4_record, out_record = [], []
        for _ in range(self.n_steps):
            cur1 = self.drive(images) if self.recompute else current
            spk1, mem1 = self.v4(cur1, mem1)
            spk1 = spk1.to(cur1.dtype)  # snntorch 1.0 returns float32 spikes for float64 input
            spk2, mem2 = self.out(self.fc(spk1), mem2)
            out_record.append(spk2)
            if record_v4:
                v4_record.append(spk1)
        spikes = torch.stack(out_record)
        return spikes.sum(0), (torch.stack(v4_record) if record_v4 else None), spikes


class PlainCNN(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.features = conv_stack()
        self.fc = nn.Linear(V4_UNITS, N_OUT)

    def forward(self, images: torch.Tensor):
        return self.fc(self.features(images).flatten(1)), None, None


def build(peer: str, n_steps: int, seed: int) -> nn.Module:
    """A peer's network with the shared weights drawn from ``seed``."""
    g = torch.Generator().manual_seed(seed)
    convs = common.init_uniform_(conv_stack(), g)
    fc = common.init_uniform_(nn.Linear(V4_UNITS, N_OUT), g)
    # A small positive drive makes the output neurons fire (about 6 % of steps); no
    # step's input reaches threshold, so no reset leaves a membrane above it, where
    # snntorch's Leaky skips the second spike (docs/snntorch.md).
    with torch.no_grad():
        fc.weight.add_(5e-4)
    if peer == "spikerec":
        net = SpikerecNet(n_steps)
        net.frontend.features.load_state_dict(convs.state_dict(), strict=False)
        net.head.synapses.load_state_dict(fc.state_dict())
        return net
    net = PlainCNN() if peer == "cnn" else SnntorchNet(n_steps, peer == "snntorch_tutorial")
    net.features.load_state_dict(convs.state_dict())
    net.fc.load_state_dict(fc.state_dict())
    return net


def make_batch(batch: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    return common.make_batch(batch, seed, N_OUT)


class Trainer(common.Trainer):
    """One peer's network, optimiser and batch; ``step()`` is one training step."""

    def __init__(self, peer: str, n_steps: int, images: torch.Tensor, labels: torch.Tensor,
                 seed: int) -> None:  # fmt: skip
        super().__init__(build(peer, n_steps, seed), images, labels, lr=LR)

    def logits(self) -> torch.Tensor:
        return self.net(self.images)[0]


def grads_by_role(net: nn.Module) -> dict[str, torch.Tensor]:
    """Gradients named by role, the same names for every spiking peer."""
    if isinstance(net, SpikerecNet):
        convs, fc = net.frontend.features, net.head.synapses
    else:
        convs, fc = net.features, net.fc
    return {
        "conv1.weight": convs[0].weight.grad,
        "conv2.weight": convs[3].weight.grad,
        "fc.weight": fc.weight.grad,
        "fc.bias": fc.bias.grad,
    }


def agreement(n_steps: int, images: torch.Tensor, labels: torch.Tensor, seed: int,
              peers: tuple[str, ...]) -> list[dict[str, object]]:  # fmt: skip
    """Forward spikes (V4 and output) and gradients, spikerec vs the snntorch peers.

    Checked in float64 (weights, images and states), where the two libraries'
    different but equivalent float orderings cannot flip a spike at threshold; the
    timed steps run in float32.
    """
    previous = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    try:
        return _agreement(n_steps, images.double(), labels, seed, peers)
    finally:
        torch.set_default_dtype(previous)


def _agreement(n_steps: int, images: torch.Tensor, labels: torch.Tensor, seed: int,
               peers: tuple[str, ...]) -> list[dict[str, object]]:  # fmt: skip
    ours = build("spikerec", n_steps, seed)
    logits, v4, out = ours(images)
    F.cross_entropy(logits, labels).backward()
    ours_grads = grads_by_role(ours)
    with torch.no_grad():
        v4_drive = (1.0 - V4_PARAMS.beta) * V4_PARAMS.r_m * ours.frontend(images).max()
        out_drive = ours.head.synapses(v4).max()
    rows = [
        # Below 2 - beta per step, no subtract reset leaves a membrane at or above
        # threshold: there snntorch's Leaky defers the reset to the next step, which
        # keeps its spikes but detaches that reset from the gradient (docs/snntorch.md).
        common.check(f"T={n_steps}: largest V4 input per step (< 2 - beta)", float(v4_drive),
                     2.0 - V4_PARAMS.beta),
        common.check(f"T={n_steps}: largest output input per step (< 2 - beta)",
                     float(out_drive), 2.0 - OUT_BETA),

        common.check(f"T={n_steps}: V4 spike rate (not vacuous)", float(v4.detach().mean()), 0.01,
                     kind=">="),
        common.check(f"T={n_steps}: output spike rate (not vacuous)", float(out.detach().mean()),
                     1e-3, kind=">="),
    ]  # fmt: skip
    for peer in peers:
        net = build(peer, n_steps, seed)
        their_logits, their_v4, their_out = net(images, record_v4=True)
        F.cross_entropy(their_logits, labels).backward()
        rows += [
            common.check(f"T={n_steps}: V4 spikes differing vs {peer}",
                         int((their_v4 != v4).sum()), 0, kind="=="),
            common.check(f"T={n_steps}: output spikes differing vs {peer}",
                         int((their_out != out).sum()), 0, kind="=="),
        ]  # fmt: skip
        theirs = grads_by_role(net)
        worst = max(common.rel_diff(ours_grads[k], theirs[k]) for k in ours_grads)
        rows.append(common.check(f"T={n_steps}: gradient rel. diff vs {peer} (worst tensor)",
                                 worst, GRAD_TOL))  # fmt: skip
    return rows


def memory_child(args: argparse.Namespace) -> dict[str, object]:
    """One training step of one peer in this fresh process; print peak RSS.
    Returns an empty result (the parent reads the printed one)."""
    common.setup_process(args.threads)
    images, labels = make_batch(args.batch, args.seed)
    trainer = Trainer(args.memory_child, args.memory_steps, images, labels, args.seed)
    common.emit_step_memory(trainer.step)
    return {}


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    common.add_common_args(parser)
    parser.add_argument("--steps", type=int, default=None, help="T of the timed step (25)")
    parser.add_argument("--batch", type=int, default=None, help="batch size (default 128)")
    parser.add_argument("--memory-steps", type=int, default=100, help="T of (c) (default 100)")
    parser.add_argument("--no-memory", action="store_true", help="skip (c)")
    parser.add_argument("--no-time", action="store_true", help="skip (b)")
    parser.add_argument(
        "--memory-peers", nargs="+", choices=PEERS, default=None,
        help="peers measured in (c) (default: all; --quick: all but snntorch_tutorial)",
    )  # fmt: skip
    parser.add_argument("--memory-child", choices=PEERS, help=argparse.SUPPRESS)
    args = common.fill_defaults(
        parser.parse_args(argv),
        steps=(10, 25), batch=(8, 128), rounds=(3, 5), warmup=(1, 1), jobs=(3, 1),
    )  # fmt: skip
    if args.memory_peers is None:
        args.memory_peers = [p for p in PEERS if not (args.quick and p == "snntorch_tutorial")]
    return args


def main(argv: list[str] | None = None) -> dict[str, object]:
    args = parse_args(argv)
    if args.memory_child:
        return memory_child(args)
    common.start(args.threads, TITLE)
    result: dict[str, object] = {"name": "training_step", "checks": [], "ratios": [], "times": {}}
    images, labels = make_batch(args.batch, args.seed)
    if not args.no_time:
        print(f"batch {args.batch}, T = {args.steps}; {args.rounds} interleaved rounds after "
              f"{args.warmup} warm-up step(s), medians")  # fmt: skip
        checks = agreement(args.steps, images, labels, args.seed,
                           ("snntorch_once", "snntorch_tutorial"))  # fmt: skip
        if common.report_checks(result, checks):
            trainers = {p: Trainer(p, args.steps, images, labels, args.seed) for p in PEERS}
            result["times"], ips = common.time_trainers(
                trainers, args.batch, rounds=args.rounds, warmup=args.warmup
            )
            result["images_per_s"] = ips
            w = f"(b) T={args.steps}"
            ratios = [
                common.ratio_row(w, "images/s spikerec/snntorch_once",
                                 ips["spikerec"] / ips["snntorch_once"],
                                 "speed-up over snntorch, convolutions once"),
                common.ratio_row(w, "images/s spikerec/snntorch_tutorial",
                                 ips["spikerec"] / ips["snntorch_tutorial"],
                                 "speed-up over snntorch, convs every step (tutorial)"),
                common.ratio_row(w, "images/s spikerec/cnn", ips["spikerec"] / ips["cnn"],
                                 "fraction of the plain CNN's speed (ceiling = 1)"),
            ]  # fmt: skip
            common.report_ratios(result, ratios)
        else:
            print("peers disagree; not timing them")
    if not args.no_memory:
        t_mem = args.memory_steps
        print(f"== (c) peak memory of one training step, T = {t_mem}, batch {args.batch}, "
              "each peer in a fresh process")  # fmt: skip
        mem = common.measure_memory_children(
            "bench_training_step.py", args.memory_peers, args, "--memory-steps", str(t_mem)
        )
        result["memory"] = mem
        step_mib = common.memory_table(mem)
        w = f"(c) T={t_mem}"
        ratios = []
        if "spikerec" in mem and "snntorch_once" in mem:
            ratios += [
                common.ratio_row(w, "step memory spikerec/snntorch_once",
                                 step_mib["spikerec"] / step_mib["snntorch_once"],
                                 "peak RSS growth of one training step (< 1: spikerec smaller)"),
                common.ratio_row(w, "peak RSS spikerec/snntorch_once",
                                 mem["spikerec"]["peak_mib"] / mem["snntorch_once"]["peak_mib"],
                                 "whole-process peak RSS incl. torch and inputs"),
            ]  # fmt: skip
        if "spikerec" in mem and "snntorch_tutorial" in mem:
            ratios.append(common.ratio_row(
                w, "step memory spikerec/snntorch_tutorial",
                step_mib["spikerec"] / step_mib["snntorch_tutorial"],
                "peak RSS growth vs the tutorial idiom",
            ))  # fmt: skip
        if "spikerec" in mem and "cnn" in mem:
            ratios.append(common.ratio_row(
                w, "step memory spikerec/cnn", step_mib["spikerec"] / max(step_mib["cnn"], 1e-3),
                "peak RSS growth vs the plain CNN (T = 1)",
            ))  # fmt: skip
        common.report_ratios(result, ratios)
    return result


if __name__ == "__main__":
    common.run_script(main)

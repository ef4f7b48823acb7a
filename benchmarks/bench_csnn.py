"""(e) Training step of the convolutional SNN of ``simulations/csnn_mnist.py``, vs snntorch.

Network (the example's ``CSNN``, imported from the script): ``Conv(1->12, 5) -> LIF ->
MaxPool2 -> Conv(12->64, 5) -> LIF -> MaxPool2 -> Linear(1024 -> 10) -> LIF``, images
``[B, 1, 28, 28]`` held over T steps; cross-entropy on output spike counts, backward,
Adam step. Batch 32 (uniform noise from a seeded generator), T = 10.

Peers, from the same weights, timed in float32 (agreement checked in float64):

- ``spikerec``: ``CSNN`` as the example writes it: ``spikerec.LIF`` on conv maps
  ``[T, B, C, H, W]`` and on ``[T, B, 10]``, the first convolution once per image,
  the second and the Linear on all T steps at once (time folded into the batch);
- ``snntorch``: the same layers with ``snntorch.Leaky`` in a Python time loop (the
  snntorch idiom), the first convolution also once per image.

Neurons: ``LIFParams.unit_jump(tau_mem_ms=5, dt_ms=1)`` (delta synapses: the jump
equals the input, decay ``beta = exp(-1/5)``) against ``snntorch.Leaky(beta,
threshold=1, reset_mechanism="subtract", reset_delay=False)``; surrogate fast
sigmoid, slope 25, in both (docs/snntorch.md).

Run on its own: ``python benchmarks/bench_csnn.py [--quick] [--threads N]``.
"""

from __future__ import annotations

import argparse
import importlib.util
import math

import common
import snntorch as snn
import torch
from snntorch import surrogate as snn_surrogate
from torch import nn
from torch.nn import functional as F

import spikerec


def _load_example():
    """The ``CSNN`` class of simulations/csnn_mnist.py, the network the example trains."""
    path = common.BENCH_DIR.parent / "simulations" / "csnn_mnist.py"
    spec = importlib.util.spec_from_file_location("csnn_mnist", path)
    module = importlib.util.module_from_spec(spec)  # type: ignore[arg-type]
    spec.loader.exec_module(module)  # type: ignore[union-attr]
    return module


CSNN = _load_example().CSNN
TAU_MS = 5.0
BETA = math.exp(-1.0 / TAU_MS)
SLOPE = 25.0
PEERS = ("spikerec", "snntorch")
LR = 1e-3
# float64 throughout, but snntorch 1.0 returns float32 spikes: its gradients carry
# float32 rounding.
GRAD_TOL = 1e-6
# Weights and biases: torch's default bounds times WEIGHT_SCALE, biases shifted by
# BIAS_SHIFT, so that every layer fires (several % of steps) while no step's input
# reaches 2 - beta.
WEIGHT_SCALE = {"conv1": 1.0, "conv2": 0.6, "fc": 1.0}
BIAS_SHIFT = {"conv1": 0.12, "conv2": 0.06, "fc": 0.1}


class SnntorchCSNN(nn.Module):
    """The example's network with ``snntorch.Leaky`` stepped in a Python loop."""

    def __init__(self, n_steps: int) -> None:
        super().__init__()
        self.n_steps = n_steps
        self.conv1 = nn.Conv2d(1, 12, 5)
        self.conv2 = nn.Conv2d(12, 64, 5)
        self.fc = nn.Linear(64 * 4 * 4, 10)
        self.lif1, self.lif2, self.lif3 = (
            snn.Leaky(beta=BETA, threshold=1.0, reset_mechanism="subtract", reset_delay=False,
                      spike_grad=snn_surrogate.fast_sigmoid(slope=SLOPE))
            for _ in range(3)
        )  # fmt: skip

    def forward(self, images: torch.Tensor):
        cur1 = self.conv1(images)  # the same input every step: once
        mem1 = torch.zeros_like(cur1)
        mem2 = mem3 = None
        record: tuple[list[torch.Tensor], ...] = ([], [], [])
        for _ in range(self.n_steps):
            spk1, mem1 = self.lif1(cur1, mem1)
            spk1 = spk1.to(cur1.dtype)  # snntorch 1.0 returns float32 spikes for float64
            cur2 = self.conv2(F.max_pool2d(spk1, 2))
            mem2 = torch.zeros_like(cur2) if mem2 is None else mem2
            spk2, mem2 = self.lif2(cur2, mem2)
            spk2 = spk2.to(cur2.dtype)
            cur3 = self.fc(F.max_pool2d(spk2, 2).flatten(1))
            mem3 = torch.zeros_like(cur3) if mem3 is None else mem3
            spk3, mem3 = self.lif3(cur3, mem3)
            for store, spk in zip(record, (spk1, spk2, spk3), strict=True):
                store.append(spk.to(cur3.dtype))
        return tuple(torch.stack(r) for r in record)


def build(peer: str, n_steps: int, seed: int) -> nn.Module:
    """A peer's network with the shared weights drawn from ``seed``."""
    g = torch.Generator().manual_seed(seed)
    ours = CSNN(n_steps, spikerec.LIFParams.unit_jump(tau_mem_ms=TAU_MS, dt_ms=1.0))
    for name in ("conv1", "conv2", "fc"):
        layer = common.init_uniform_(getattr(ours, name), g)
        with torch.no_grad():
            layer.weight.mul_(WEIGHT_SCALE[name])
            layer.bias.add_(BIAS_SHIFT[name])
    for lif in (ours.lif1, ours.lif2, ours.lif3):
        lif.surrogate = spikerec.FastSigmoid(slope=SLOPE)
    if peer == "spikerec":
        return ours
    theirs = SnntorchCSNN(n_steps)
    for name in ("conv1", "conv2", "fc"):
        getattr(theirs, name).load_state_dict(getattr(ours, name).state_dict())
    return theirs


def spikes_of(net: nn.Module, images: torch.Tensor) -> tuple[torch.Tensor, ...]:
    """Spikes of the three spiking layers, ``[T, B, *shape]`` each."""
    if isinstance(net, CSNN):
        return tuple(out.spikes for out in net(images))
    return net(images)


make_batch = common.make_batch


class Trainer(common.Trainer):
    """One peer's network, optimiser and batch; ``step()`` is one training step
    (cross-entropy on the output spike counts)."""

    def __init__(self, peer: str, n_steps: int, images: torch.Tensor, labels: torch.Tensor,
                 seed: int) -> None:  # fmt: skip
        super().__init__(build(peer, n_steps, seed), images, labels, lr=LR)

    def logits(self) -> torch.Tensor:
        return spikes_of(self.net, self.images)[2].sum(0)


def agreement(n_steps: int, images: torch.Tensor, labels: torch.Tensor,
              seed: int) -> list[dict[str, object]]:  # fmt: skip
    """Spikes of every layer and gradients of every weight, spikerec vs snntorch, in float64
    (where the two libraries' equally valid float orderings cannot flip a spike)."""
    previous = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    try:
        images = images.double()
        nets = {peer: build(peer, n_steps, seed) for peer in PEERS}
        spikes, grads = {}, {}
        for peer, net in nets.items():
            spikes[peer] = spikes_of(net, images)
            F.cross_entropy(spikes[peer][2].sum(0), labels).backward()
            grads[peer] = {n: p.grad for n, p in net.named_parameters()}
        ours = nets["spikerec"]
        with torch.no_grad():  # the largest input of one step, layer by layer
            drive1 = ours.conv1(images)
            drive2 = ours.conv2(F.max_pool2d(spikes["spikerec"][0].flatten(0, 1), 2))
            drive3 = ours.fc(F.max_pool2d(spikes["spikerec"][1].flatten(0, 1), 2).flatten(1))
    finally:
        torch.set_default_dtype(previous)
    rows = []
    for k, drive in enumerate((drive1, drive2, drive3), start=1):
        # Below 2 - beta no subtract reset leaves a membrane at or above threshold,
        # where snntorch's Leaky defers the reset (docs/snntorch.md).
        rows.append(common.check(f"T={n_steps}: layer {k} largest input per step (< 2 - beta)",
                                 float(drive.max()), 2.0 - BETA))  # fmt: skip
    for k in range(3):
        rows += [
            common.check(f"T={n_steps}: layer {k + 1} spike rate (not vacuous)",
                         float(spikes["spikerec"][k].detach().mean()), 0.01, kind=">="),
            common.check(f"T={n_steps}: layer {k + 1} spikes differing vs snntorch",
                         int((spikes["spikerec"][k] != spikes["snntorch"][k]).sum()), 0, kind="=="),
        ]  # fmt: skip
    worst = max(
        common.rel_diff(grads["spikerec"][n], grads["snntorch"][n]) for n in grads["spikerec"]
    )
    rows.append(common.check(f"T={n_steps}: gradient rel. diff vs snntorch (worst tensor)",
                             worst, GRAD_TOL))  # fmt: skip
    return rows


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    common.add_common_args(parser)
    parser.add_argument("--steps", type=int, default=10, help="T (default 10)")
    parser.add_argument("--batch", type=int, default=None, help="batch size (default 32)")
    return common.fill_defaults(
        parser.parse_args(argv), batch=(8, 32), rounds=(3, 5), warmup=(1, 1)
    )


def main(argv: list[str] | None = None) -> dict[str, object]:
    args = parse_args(argv)
    common.start(args.threads, "== (e) training step of the example CSNN: conv -> LIF -> pool "
                 "-> conv -> LIF -> pool -> Linear -> LIF, + Adam")  # fmt: skip
    print(f"batch {args.batch}, T = {args.steps}; {args.rounds} interleaved rounds after "
          f"{args.warmup} warm-up step(s), medians")  # fmt: skip
    result: dict[str, object] = {"name": "csnn", "checks": [], "ratios": [], "times": {}}
    images, labels = make_batch(args.batch, args.seed)
    if not common.report_checks(result, agreement(args.steps, images, labels, args.seed)):
        print("peers disagree; not timing them")
        return result
    trainers = {p: Trainer(p, args.steps, images, labels, args.seed) for p in PEERS}
    result["times"], ips = common.time_trainers(
        trainers, args.batch, rounds=args.rounds, warmup=args.warmup
    )
    common.report_ratios(result, [
        common.ratio_row(f"(e) T={args.steps}", "images/s spikerec/snntorch",
                         ips["spikerec"] / ips["snntorch"],
                         "example CSNN training step: speed-up over snntorch's time loop"),
    ])  # fmt: skip
    return result


if __name__ == "__main__":
    common.run_script(main)

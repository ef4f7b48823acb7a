"""Use spikerec's LIF layer inside your own PyTorch network, trained with Adam.

A small convolutional front end of your own turns each 8 x 8 digit (scikit-learn's
digits, via ``spikerec.load_dataset``) into 256 features; ``nn.Linear`` maps them onto
10 ``spikerec.LIF`` output neurons, one per class, whose input current is held for
T steps of 1 ms. The class is the neuron with the most spikes; the loss is
cross-entropy on the spike counts, back-propagated through time with the LIF layer's
surrogate derivative. The loss is printed as it goes down; ``custom_network.png``
(loss per training step and the output membranes of one test image) and
``custom_network.csv`` (the loss per step) go into a new folder under ``--out``.

    python simulations/custom_network.py --out runs
    python simulations/custom_network.py --steps 200 --n-steps 30 --out runs
"""

from __future__ import annotations

import argparse
import csv
import sys
from collections.abc import Sequence

import torch
from torch import nn
from torch.nn import functional as F

import spikerec
from spikerec.plotting import new_figure, plot_output_membranes, save_figure
from spikerec.run_folders import new_run_dir


class SpikingDigitNet(nn.Module):
    """Conv front end -> Linear -> ``spikerec.LIF`` over ``n_steps`` steps.

    ``forward(images [B, 1, 8, 8])`` returns the LIF layer's ``LIFOutput``:
    spikes and pre-reset membranes ``[T, B, 10]``.
    """

    def __init__(self, n_steps: int, n_classes: int = 10) -> None:
        super().__init__()
        self.n_steps = n_steps
        self.features = nn.Sequential(
            nn.Conv2d(1, 16, 3, padding=1),
            nn.ReLU(),
            nn.MaxPool2d(2),  # 16 x 4 x 4
            nn.Flatten(),
        )
        self.synapses = nn.Linear(16 * 4 * 4, n_classes)
        # Input held over each step ("current" synapses): the membrane moves towards
        # r_m * I with tau = 10 ms and spikes at v_th = 1 (subtract reset).
        params = spikerec.LIFParams(tau_mem_ms=10.0, dt_ms=1.0, v_th=1.0, reset="subtract")
        self.lif = spikerec.LIF(params, integrator="exact", synapse="current")

    def forward(self, images: torch.Tensor) -> spikerec.LIFOutput:
        current = self.synapses(self.features(images))  # [B, 10]
        drive = current.unsqueeze(0).expand(self.n_steps, *current.shape)  # [T, B, 10]
        return self.lif(drive)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=150, help="Adam steps (default 150)")
    parser.add_argument("--n-steps", type=int, default=20, help="time steps T (default 20)")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--lr", type=float, default=5e-3)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default="runs", help="parent folder of the new run folder")
    args = parser.parse_args(argv)
    if args.steps < 1 or args.n_steps < 1 or args.batch_size < 1:
        parser.error("--steps, --n-steps and --batch-size must be >= 1")

    data = spikerec.load_dataset("digits", seed=args.seed)  # normalised [N, 1, 8, 8]
    torch.manual_seed(args.seed)  # this script's own model: seed torch's default generator
    model = SpikingDigitNet(args.n_steps, data.n_classes)
    optimizer = torch.optim.Adam(model.parameters(), lr=args.lr)
    batches = torch.Generator().manual_seed(args.seed)

    losses: list[float] = []
    every = max(1, args.steps // 10)
    for step in range(1, args.steps + 1):
        index = torch.randint(len(data.train), (args.batch_size,), generator=batches)
        out = model(data.train.images[index])
        loss = F.cross_entropy(out.spikes.sum(0), data.train.labels[index])  # spike counts
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
        if step == 1 or step % every == 0 or step == args.steps:
            print(f"step {step:4d}  loss {loss.item():.4f}")

    model.eval()
    with torch.no_grad():
        out = model(data.test.images)
    accuracy = (out.spikes.sum(0).argmax(1) == data.test.labels).float().mean().item()
    print(f"test accuracy {accuracy:.3f} on {len(data.test)} images (T = {args.n_steps})")

    run_dir = new_run_dir(args.out, "custom-network")
    with open(run_dir / "custom_network.csv", "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["step", "loss"])
        writer.writerows((k, f"{value:.6g}") for k, value in enumerate(losses, start=1))

    fig, (ax_loss, ax_v) = new_figure(2, figsize=(8.5, 6.5), sharex=False)
    ax_loss.plot(range(1, len(losses) + 1), losses)
    ax_loss.set_xlabel("Adam step")
    ax_loss.set_ylabel("cross-entropy on spike counts")
    ax_loss.set_title(f"spikerec.LIF in a custom network: test accuracy {accuracy:.1%}")
    label = int(data.test.labels[0])
    # the LIF layer's output tensors go straight in: [T, 10] of test image 0
    p = model.lif.params
    plot_output_membranes(
        out.membrane[:, 0], out.spikes[:, 0], v_th=p.v_th, v_reset=p.v_reset, label=label, ax=ax_v
    )
    ax_v.set_title(f"output neurons on test image 0 (class {label}, thick)")
    save_figure(fig, run_dir / "custom_network.png", dpi=100)
    print(f"wrote {run_dir / 'custom_network.png'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

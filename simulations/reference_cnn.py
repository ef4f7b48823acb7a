"""A textbook small CNN on the same splits: what the accuracy targets are measured against.

    python simulations/reference_cnn.py --data mnist5k --seeds 0,1,2 --epochs 20 \
        --threads 1 --results reference_cnn.jsonl
    python simulations/reference_cnn.py --data mnist5k --epochs 30 --augment distort ...

The network is the layout of Keras's ``mnist_cnn`` example, the usual "small CNN"
for MNIST: ``Conv(1->32, 3) - ReLU - Conv(32->64, 3) - ReLU - MaxPool 2 -
Dropout 0.25 - Linear(9216->128) - ReLU - Dropout 0.5 - Linear(128->10)`` (images
smaller than 28 x 28 are upsampled to it first, as spikerec's front end does).
It trains on the split spikerec's runs use for each seed (:func:`spikerec.load_dataset`),
with the same online augmentation (``--augment``: shift and rotate, the recipe of
most datasets, or ``distort``, ``mnist5k``'s recipe), Adam at lr 1e-3 with a cosine
schedule, batches of 64, and the weights of the best validation epoch scored once on
the test split. Nothing of spikerec's recogniser is used, so the figure says what
the data and the split allow a conventional network, independently of the LIF head
and of the V4 front end. One JSON line per seed is appended to ``--results`` and a
mean with its 95 % Student-t interval is printed (docs/accuracy.md).
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Sequence
from pathlib import Path

import torch
from torch import nn
from torch.nn import functional as F

from spikerec.compare.stats import mean_confidence_interval
from spikerec.data.loading import load_dataset
from spikerec.training.config import ONLINE_AUGMENTS
from spikerec.training.epochs import snapshot

SIDE = 28


def small_cnn(in_channels: int, n_classes: int) -> nn.Sequential:
    """Keras's ``mnist_cnn`` layout for ``[B, C, 28, 28]`` images."""
    return nn.Sequential(
        nn.Conv2d(in_channels, 32, 3),
        nn.ReLU(),
        nn.Conv2d(32, 64, 3),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Dropout(0.25),
        nn.Flatten(),
        nn.Linear(64 * 12 * 12, 128),
        nn.ReLU(),
        nn.Dropout(0.5),
        nn.Linear(128, n_classes),
    )


def _to_side(images: torch.Tensor) -> torch.Tensor:
    if images.shape[-2:] == (SIDE, SIDE):
        return images
    return F.interpolate(images, size=(SIDE, SIDE), mode="bilinear", align_corners=False)


@torch.no_grad()
def _accuracy(net: nn.Module, images: torch.Tensor, labels: torch.Tensor) -> float:
    net.eval()
    predictions = torch.cat([net(_to_side(b)).argmax(1) for b in images.split(512)])
    return float((predictions == labels).float().mean())


def run_seed(
    data: str,
    seed: int,
    epochs: int,
    lr: float = 1e-3,
    batch_size: int = 64,
    augment: str = "affine",
) -> dict:
    """Train the small CNN on one seed's split; its record (test accuracy of the best
    validation epoch). ``augment`` names one of spikerec's online augmentations."""
    move = ONLINE_AUGMENTS.get(augment)
    dataset = load_dataset(data, seed=seed)
    generator = torch.Generator().manual_seed(seed)
    torch.manual_seed(seed)  # initialisation and dropout
    net = small_cnn(dataset.image_shape[0], dataset.n_classes)
    optimizer = torch.optim.Adam(net.parameters(), lr=lr)
    schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=epochs)
    images, labels = dataset.train.images, dataset.train.labels
    best_val, best_epoch, best_weights = -1.0, 0, None
    started = time.perf_counter()
    for epoch in range(1, epochs + 1):
        net.train()
        order = torch.randperm(len(images), generator=generator)
        for index in order.split(batch_size):
            moved = images[index]
            if move is not None:
                moved = move(moved, dataset.mean, dataset.std, generator=generator)
            loss = F.cross_entropy(net(_to_side(moved)), labels[index])
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
        schedule.step()
        val = _accuracy(net, dataset.val.images, dataset.val.labels)
        if val > best_val:
            best_val, best_epoch = val, epoch
            best_weights = snapshot(net)
    assert best_weights is not None
    net.load_state_dict(best_weights)
    return {
        "model": "reference_cnn",
        "data": data,
        "seed": seed,
        "epochs": epochs,
        "augment": augment,
        "best_epoch": best_epoch,
        "val_accuracy": best_val,
        "test_accuracy": _accuracy(net, dataset.test.images, dataset.test.labels),
        "wall_s": time.perf_counter() - started,
    }


def main(argv: Sequence[str] | None = None) -> list[dict]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", default="mnist5k", help="dataset name (default: mnist5k)")
    parser.add_argument("--seeds", default="0,1,2", help="comma-separated seeds")
    parser.add_argument("--epochs", type=int, default=20, help="training epochs (default: 20)")
    parser.add_argument(
        "--augment",
        choices=list(ONLINE_AUGMENTS),
        default="affine",
        help="online augmentation of the training batches (default: affine)",
    )
    parser.add_argument("--threads", type=int, default=0, help="torch threads, 0: torch's choice")
    parser.add_argument("--results", type=Path, help="JSON-lines file the records are appended to")
    args = parser.parse_args(argv)
    if args.epochs < 1:
        parser.error(f"--epochs {args.epochs} must be >= 1")
    try:
        seeds = [int(s) for s in args.seeds.split(",")]
    except ValueError:
        parser.error(f"--seeds {args.seeds!r}: expected comma-separated integers")
    if args.threads:
        torch.set_num_threads(args.threads)
    records = []
    for seed in seeds:
        record = run_seed(args.data, seed, args.epochs, augment=args.augment)
        records.append(record)
        print(json.dumps(record), flush=True)
        if args.results is not None:
            with args.results.open("a") as out:
                out.write(json.dumps(record) + "\n")
    ci = mean_confidence_interval([100 * r["test_accuracy"] for r in records])
    print(f"reference CNN on {args.data}, seeds {args.seeds}: ", end="")
    print(f"{ci.mean:.2f} % +- {ci.half_width:.2f}")
    return records


if __name__ == "__main__":
    main()

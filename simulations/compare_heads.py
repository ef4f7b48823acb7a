"""Reproduce the comparison figure: LIF head vs softmax heads, RNNs and SVMs, with 95 % CIs.

    python simulations/compare_heads.py --data digits --out runs
    python simulations/compare_heads.py --data mnist5k --heads softmax,lif \
        --train-fraction 0.1 --augment none,classic,gan

Runs :func:`spikerec.compare.harness.run_compare` and writes the same files as
``spikerec compare`` (results, report.md, accuracy_bars.png, ...) into a new folder.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Sequence

from spikerec.compare import ENTRIES, CompareConfig, parse_entries, run_compare
from spikerec.compare.baselines.augment import parse_augmentations
from spikerec.compare.report import terminal_table, write_compare_outputs
from spikerec.run_folders import new_run_dir


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default="digits")
    parser.add_argument("--heads", default=",".join(ENTRIES))
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--augment", default="none", help="none, classic, gan; comma-separated")
    parser.add_argument("--train-fraction", type=float, default=1.0)
    parser.add_argument("--out", default="runs")
    args = parser.parse_args(argv)

    config = CompareConfig(
        data=args.data,
        entries=parse_entries(args.heads),
        seeds=tuple(range(args.seeds)),
        augment=parse_augmentations(args.augment),
        train_fraction=args.train_fraction,
    )
    # the splits run_compare would load for the first seed (same fractions)
    dataset = config.load_splits(config.seeds[0])
    run_dir = new_run_dir(args.out, "compare")
    started = time.perf_counter()
    outcome = run_compare(config, first_dataset=dataset)
    write_compare_outputs(
        run_dir,
        config,
        outcome,
        class_names=list(dataset.class_names),
        wall_time_s=time.perf_counter() - started,
    )
    print(terminal_table(outcome.rows))
    print(f"figure: {run_dir / 'accuracy_bars.png'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

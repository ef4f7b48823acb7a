"""Reproduce the comparison figure: LIF head vs softmax heads, RNNs and SVMs, with 95 % CIs.

    python simulations/compare_heads.py --data digits --out runs
    python simulations/compare_heads.py --data mnist5k --heads softmax,lif \
        --train-fraction 0.1 --augment none,classic,gan

Runs :func:`spikerec.commands.compare.run`, the work of ``spikerec compare``, so it
writes the same files (results, report.md, accuracy_bars.png, ...) into a new folder
and can be resumed with ``spikerec compare --resume``.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from spikerec.commands.compare import CompareOptions, run
from spikerec.compare import ENTRIES, CompareConfig
from spikerec.compare.report import terminal_table


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default="digits", help="dataset name or idx:PATH")
    parser.add_argument(
        "--heads", default=",".join(ENTRIES), help="comma-separated entries (default: all)"
    )
    parser.add_argument("--seeds", type=int, default=3, help="number of seeds (default 3)")
    parser.add_argument("--augment", default="none", help="none, classic, gan; comma-separated")
    parser.add_argument(
        "--train-fraction", type=float, default=1.0, help="fraction of the training split kept"
    )
    parser.add_argument("--out", default="runs", help="parent folder of the new run folder")
    args = parser.parse_args(argv)

    config = CompareConfig(
        data=args.data,
        entries=args.heads,
        seeds=tuple(range(args.seeds)),
        augment=args.augment,
        train_fraction=args.train_fraction,
    )
    done = run(CompareOptions(config, out=args.out))
    print(terminal_table(done.outcome.rows))
    print(f"figure: {done.run_dir / 'accuracy_bars.png'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Regenerate the PNGs of the documentation gallery (docs/gallery/*.png).

Every figure comes from the command that users run (``spikerec ...`` or a script of
``simulations/``), into a temporary folder; this script copies the PNGs here, scaled
from the 120 dpi the commands write to about 100 dpi and stored with a 256-colour
palette to keep the repository small. About 3 minutes on 2 CPU cores, most of it
``spikerec compare``.

    .venv/bin/python docs/gallery/make_gallery.py                 # every figure
    .venv/bin/python docs/gallery/make_gallery.py --only simulate,convergence
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path

from PIL import Image

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
SPIKEREC = [sys.executable, "-m", "spikerec"]
SCALE = 100 / 120  # the commands save at 120 dpi


def _run(command: list[str], out: Path) -> Path:
    """Run ``command --out OUT`` and return the one run folder it made under ``out``."""
    out.mkdir(parents=True, exist_ok=True)
    print("$", " ".join(Path(c).name if c == sys.executable else c for c in command), flush=True)
    subprocess.run([*command, "--out", str(out)], cwd=ROOT, check=True)
    (run_dir,) = [p for p in out.iterdir() if p.is_dir()]
    return run_dir


def _store(source: Path, name: str, scale: float = SCALE) -> None:
    """Copy ``source`` to ``docs/gallery/name``, scaled to ~100 dpi, 256 colours."""
    with Image.open(source) as image:
        size = (round(image.width * scale), round(image.height * scale))
        small = image.convert("RGB").resize(size, Image.Resampling.LANCZOS)
        small = small.quantize(colors=256, dither=Image.Dither.NONE)
        small.save(HERE / name, optimize=True)
    print(f"  -> docs/gallery/{name} ({(HERE / name).stat().st_size // 1024} KiB)")


def simulate(tmp: Path) -> None:
    run = _run([*SPIKEREC, "simulate", "--input", "poisson"], tmp / "poisson")
    _store(run / "membrane_trace.png", "membrane_trace_poisson.png")
    step = ["simulate", "--input", "step", "--current", "1.5", "--t-ref-ms", "2"]
    run = _run([*SPIKEREC, *step], tmp / "step")
    _store(run / "membrane_trace.png", "membrane_trace_step.png")


def convergence(tmp: Path) -> None:
    run = _run([sys.executable, "simulations/integrator_convergence.py"], tmp / "convergence")
    _store(run / "convergence.png", "convergence.png")


def train(tmp: Path) -> None:
    run = _run(
        [*SPIKEREC, "train", "--data", "digits", "--head", "lif", "--no-progress"], tmp / "t"
    )
    _store(run / "training_curve.png", "training_curve.png")
    evaluated = _run([*SPIKEREC, "evaluate", str(run)], tmp / "evaluate")
    _store(evaluated / "confusion_matrix.png", "confusion_matrix.png")
    traced = _run([*SPIKEREC, "trace", str(run), "--index", "3"], tmp / "trace")
    _store(traced / "trace.png", "output_trace.png")


def compare(tmp: Path) -> None:
    command = [*SPIKEREC, "compare", "--data", "digits", "--seeds", "1", "--no-progress"]
    run = _run(command, tmp / "compare")
    for name in ("accuracy_bars.png", "accuracy_vs_steps.png", "confusion_matrices.png"):
        _store(run / name, name)


def custom_network(tmp: Path) -> None:
    run = _run([sys.executable, "simulations/custom_network.py"], tmp / "custom")
    _store(run / "custom_network.png", "custom_network.png", scale=1.0)  # saved at 100 dpi


STEPS = {
    "simulate": simulate,
    "convergence": convergence,
    "train": train,
    "compare": compare,
    "custom_network": custom_network,
}


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--only", default=",".join(STEPS), help=f"comma-separated subset of {', '.join(STEPS)}"
    )
    args = parser.parse_args(argv)
    chosen = [name.strip() for name in args.only.split(",") if name.strip()]
    unknown = sorted(set(chosen) - set(STEPS))
    if unknown:
        parser.error(f"unknown step(s) {', '.join(unknown)}; valid: {', '.join(STEPS)}")
    with tempfile.TemporaryDirectory(prefix="spikerec-gallery-") as tmp:
        for name in chosen:
            STEPS[name](Path(tmp) / name)
    return 0


if __name__ == "__main__":
    sys.exit(main())

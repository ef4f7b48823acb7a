"""Regenerate the PNGs of the documentation gallery (docs/gallery/*.png) from their scripts.

Every figure of the gallery is drawn by a script whose source the gallery page shows
next to it: ``docs/gallery/scripts/*.py`` (each writes its PNGs into the folder given
as its argument) and two scripts of ``simulations/`` (which make a run folder under
``--out``). This script runs them into a temporary folder and copies the PNGs here,
scaled to about 100 dpi and stored with a 256-colour palette to keep the repository
small. About 4 minutes on 2 CPU cores, most of it ``trained_head`` and
``comparison``; the others take seconds.

    .venv/bin/python docs/gallery/make_gallery.py                 # every figure
    .venv/bin/python docs/gallery/make_gallery.py --only membrane_trace_step,lif_layer
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
SCRIPTS = HERE / "scripts"

# name -> (script relative to the repository root, PNGs it writes, dpi it saves at)
FIGURES: dict[str, tuple[str, tuple[str, ...], int]] = {
    "membrane_trace_poisson": (
        "docs/gallery/scripts/membrane_trace_poisson.py",
        ("membrane_trace_poisson.png",),
        120,
    ),
    "membrane_trace_step": (
        "docs/gallery/scripts/membrane_trace_step.py",
        ("membrane_trace_step.png",),
        120,
    ),
    "lif_layer": ("docs/gallery/scripts/lif_layer.py", ("lif_layer.png",), 120),
    "convergence": ("simulations/integrator_convergence.py", ("convergence.png",), 120),
    "custom_network": ("simulations/custom_network.py", ("custom_network.png",), 100),
    "trained_head": (
        "docs/gallery/scripts/trained_head.py",
        ("training_curve.png", "output_trace.png", "confusion_matrix.png"),
        120,
    ),
    "comparison": (
        "docs/gallery/scripts/comparison.py",
        ("accuracy_bars.png", "accuracy_vs_steps.png", "confusion_matrices.png"),
        120,
    ),
}


def run_script(script: str, out: Path) -> Path:
    """Run one gallery script into ``out``; return the folder holding its PNGs."""
    out.mkdir(parents=True, exist_ok=True)
    print(f"$ python {script}", flush=True)
    if script.startswith("simulations/"):  # they make a run folder under --out
        subprocess.run([sys.executable, script, "--out", str(out)], cwd=ROOT, check=True)
        (run_dir,) = [p for p in out.iterdir() if p.is_dir()]
        return run_dir
    subprocess.run([sys.executable, script, str(out)], cwd=ROOT, check=True)
    return out


def _store(source: Path, name: str, scale: float) -> None:
    """Copy ``source`` to ``docs/gallery/name``, scaled to ~100 dpi, 256 colours."""
    with Image.open(source) as image:
        size = (round(image.width * scale), round(image.height * scale))
        small = image.convert("RGB").resize(size, Image.Resampling.LANCZOS)
        # max-coverage keeps the class colours apart (median cut merged blue and cyan)
        small = small.quantize(
            colors=256, method=Image.Quantize.MAXCOVERAGE, dither=Image.Dither.NONE
        )
        small.save(HERE / name, optimize=True)
    print(f"  -> docs/gallery/{name} ({(HERE / name).stat().st_size // 1024} KiB)")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--only", default=",".join(FIGURES), help=f"comma-separated subset of {', '.join(FIGURES)}"
    )
    args = parser.parse_args(argv)
    chosen = [name.strip() for name in args.only.split(",") if name.strip()]
    unknown = sorted(set(chosen) - set(FIGURES))
    if unknown:
        parser.error(f"unknown figure(s) {', '.join(unknown)}; valid: {', '.join(FIGURES)}")
    with tempfile.TemporaryDirectory(prefix="spikerec-gallery-") as tmp:
        for name in chosen:
            script, pngs, dpi = FIGURES[name]
            folder = run_script(script, Path(tmp) / name)
            for png in pngs:
                _store(folder / png, png, scale=100 / dpi)
    return 0


if __name__ == "__main__":
    sys.exit(main())

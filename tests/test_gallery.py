"""The gallery's scripts run and write the figures the gallery shows.

The quick ones run here; the two that train networks are marked slow.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def _make_gallery():
    spec = importlib.util.spec_from_file_location(
        "make_gallery", ROOT / "docs" / "gallery" / "make_gallery.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


FIGURES = _make_gallery().FIGURES
# the simulations are run by test_examples.py too; these train networks or take long
SLOW = {"trained_head", "comparison", "custom_network", "convergence"}


def test_every_gallery_script_is_listed_and_every_listed_figure_is_on_the_page():
    scripts = {
        f"docs/gallery/scripts/{p.name}" for p in (ROOT / "docs/gallery/scripts").glob("*.py")
    }
    listed = {script for script, _, _ in FIGURES.values()}
    assert scripts <= listed
    page = (ROOT / "docs" / "gallery" / "index.md").read_text(encoding="utf-8")
    for script, pngs, _ in FIGURES.values():
        assert f'--8<-- "{script}"' in page
        for png in pngs:
            assert f"]({png})" in page
            assert (ROOT / "docs" / "gallery" / png).read_bytes()[:8] == PNG_MAGIC


@pytest.mark.parametrize(
    "name",
    [pytest.param(name, marks=pytest.mark.slow) if name in SLOW else name for name in FIGURES],
)
def test_gallery_script_writes_its_figures(name, tmp_path):
    script, pngs, _ = FIGURES[name]
    folder = _make_gallery().run_script(script, tmp_path)
    for png in pngs:
        assert (folder / png).read_bytes()[:8] == PNG_MAGIC, png

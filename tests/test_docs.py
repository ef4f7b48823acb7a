"""The documentation site builds strictly, the code is ruff clean, and the public API is
documented with runnable examples."""

from __future__ import annotations

import html
import importlib.util
import inspect
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

import spikerec

ROOT = Path(__file__).resolve().parents[1]
# Python files of docs/ by name: given a folder, ruff also formats Markdown code blocks.
LINTED = [
    "spikerec",
    "simulations",
    "tests",
    "benchmarks",
    *sorted(str(p.relative_to(ROOT)) for p in (ROOT / "docs").rglob("*.py")),
]
DOCS_PACKAGES = ("mkdocs", "material", "mkdocstrings", "mkdocstrings_handlers.python")


def _missing(modules: tuple[str, ...]) -> list[str]:
    missing = []
    for name in modules:
        try:
            found = importlib.util.find_spec(name) is not None
        except ModuleNotFoundError:
            found = False
        if not found:
            missing.append(name)
    return missing


def _run(command: list[str], timeout_s: float) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "NO_MKDOCS_2_WARNING": "1"}
    return subprocess.run(
        command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout_s
    )


ROLE_TEXT = re.compile(r":(?:func|class|mod|meth|data|attr|exc|obj):(?:`|&#96;|<code>)")
HREF = re.compile(r'(?:href|src)="([^"]+)"')


def _unopenable_links(site: Path) -> list[str]:
    """Relative links of the built site that do not name a file (``page/`` needs a server)."""
    bad = []
    for page in site.rglob("*.html"):
        if page.name == "404.html":  # shown by a web server only, with absolute links
            continue
        for target in HREF.findall(page.read_text(encoding="utf-8")):
            if re.match(r"[a-z][a-z0-9+.-]*:|#|//", target):  # external, same page
                continue
            path = target.split("#", 1)[0].split("?", 1)[0]
            if path and not (page.parent / path).is_file():
                bad.append(f"{page.relative_to(site)} -> {target}")
    return bad


def test_mkdocs_build_strict(tmp_path):
    missing = _missing(DOCS_PACKAGES)
    if missing:
        pytest.skip(
            f"documentation tools not installed ({', '.join(missing)}); "
            "install the dev extra: pip install -e '.[dev]'"
        )
    site = tmp_path / "site"
    result = _run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(site)], 600
    )
    assert result.returncode == 0, result.stdout + result.stderr
    for page in ("index.html", "getting-started.html", "api/spikerec.html"):
        assert (site / page).is_file(), page
    # The user guide shows the installed command's help, inserted by docs/hooks/cli_help.py.
    guide = (site / "guide" / "train.html").read_text(encoding="utf-8")
    assert "usage: spikerec train" in guide

    # Sphinx roles in docstrings render as links (docs/hooks/sphinx_roles.py), not text.
    pages = {p: p.read_text(encoding="utf-8") for p in site.rglob("*.html")}
    with_roles = sorted(
        str(p.relative_to(site)) for p, text in pages.items() if ROLE_TEXT.search(text)
    )
    assert not with_roles, f"Sphinx role text in {with_roles}"
    heads = pages[site / "api" / "recognition" / "heads.html"]
    # LIFHead's docstring says :func:`spikerec.lif.step.lif_step`
    assert re.search(
        r'<a class="autorefs[^"]*"[^>]*href="[^"]*#spikerec\.lif\.step\.lif_step"', heads
    )

    # Opened from disk (file://), every relative link must name a file, not a folder.
    unopenable = _unopenable_links(site)
    assert not unopenable, unopenable[:10]

    # The gallery shows each figure with the whole script that made it.
    gallery = pages[site / "gallery" / "index.html"]
    shown = html.unescape(re.sub(r"<[^>]+>", "", gallery))
    scripts = sorted((ROOT / "docs" / "gallery" / "scripts").glob("*.py"))
    scripts += [ROOT / "simulations" / "integrator_convergence.py"]
    scripts += [ROOT / "simulations" / "custom_network.py"]
    for script in scripts:
        lines = [line for line in script.read_text(encoding="utf-8").splitlines() if line.strip()]
        assert all(line in shown for line in lines), script.name
    images = re.findall(r'<img[^>]+src="([^"]+)"', gallery)
    assert len(images) >= 11
    for image in images:
        assert (site / "gallery" / image).is_file(), image


@pytest.mark.parametrize(
    "command",
    [["check"], ["format", "--check"]],
    ids=["ruff-check", "ruff-format"],
)
def test_ruff_clean(command):
    if _missing(("ruff",)):
        pytest.skip("ruff not installed; install the dev extra: pip install -e '.[dev]'")
    result = _run([sys.executable, "-m", "ruff", *command, *LINTED], 300)
    assert result.returncode == 0, result.stdout + result.stderr


def _public_callables() -> list[str]:
    return [
        name
        for name in spikerec.__all__
        if inspect.isclass(getattr(spikerec, name)) or inspect.isfunction(getattr(spikerec, name))
    ]


@pytest.mark.parametrize("name", _public_callables())
def test_public_name_has_a_docstring_with_examples(name):
    doc = inspect.cleandoc(getattr(spikerec, name).__doc__ or "")
    assert doc, f"spikerec.{name} has no docstring"
    assert re.search(r"^Examples\n-{8,}\n", doc, re.MULTILINE), (
        f"spikerec.{name}: the docstring needs an 'Examples' section (numpydoc)"
    )


def test_every_exported_name_is_in_the_api_overview():
    page = (ROOT / "docs" / "api" / "spikerec.md").read_text(encoding="utf-8")
    absent = [n for n in spikerec.__all__ if n != "__version__" and f"`{n}`" not in page]
    assert not absent, f"add to docs/api/spikerec.md: {', '.join(absent)}"


def test_every_exported_name_exists():
    for name in spikerec.__all__:
        assert getattr(spikerec, name) is not None
    assert set(spikerec.__all__) <= set(dir(spikerec))


def test_import_spikerec_stays_cheap():
    """``import spikerec`` loads neither scikit-learn nor matplotlib (the comparison
    harness and the plots load them when used)."""
    code = "import sys, spikerec; print(sorted({'sklearn', 'matplotlib'} & set(sys.modules)))"
    result = _run([sys.executable, "-c", code], 120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"

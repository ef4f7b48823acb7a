"""Every Python example of the getting-started page, the custom-network guide and the
README's tour runs, in order, as written.

A page's ```` ```python ```` blocks run one after the other in one namespace (later
blocks use what earlier ones made), in a temporary working folder. A ```` ```text ````
block right after a Python block is that block's printed output and must match it
line by line. A block after the line ``<!-- slow -->`` runs only with ``-m slow``.
"""

from __future__ import annotations

import contextlib
import io
import os
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PAGES = ["README.md", "docs/getting-started.md", "docs/guide/custom-network.md"]
FENCE = re.compile(r"^```(\w*)\n(.*?)^```\s*$", re.MULTILINE | re.DOTALL)


def blocks(page: str) -> list[tuple[str, str | None, bool]]:
    """``(code, expected output or None, slow)`` for each Python block of ``page``."""
    text = (ROOT / page).read_text(encoding="utf-8")
    found = list(FENCE.finditer(text))
    result = []
    for k, match in enumerate(found):
        if match.group(1) != "python":
            continue
        expected = None
        after = found[k + 1] if k + 1 < len(found) else None
        if after is not None and after.group(1) == "text":
            if not text[match.end() : after.start()].strip():
                expected = after.group(2)
        before = text[: match.start()].rstrip().splitlines()
        slow = bool(before) and before[-1].strip() == "<!-- slow -->"
        result.append((match.group(2), expected, slow))
    return result


def run_page(page: str, tmp_path: Path, *, include_slow: bool) -> int:
    namespace: dict[str, object] = {"__name__": f"doc_example_{Path(page).stem}"}
    ran = 0
    cwd = os.getcwd()
    os.chdir(tmp_path)
    try:
        for k, (code, expected, slow) in enumerate(blocks(page)):
            if slow and not include_slow:
                continue
            out = io.StringIO()
            with contextlib.redirect_stdout(out):
                exec(compile(code, f"{page}[python block {k + 1}]", "exec"), namespace)
            ran += 1
            if expected is not None:
                got = [line.rstrip() for line in out.getvalue().strip().splitlines()]
                want = [line.rstrip() for line in expected.strip().splitlines()]
                assert got == want, f"{page}, python block {k + 1} printed:\n{out.getvalue()}"
    finally:
        os.chdir(cwd)
    return ran


# The guide shows the warning about a silent layer on purpose.
@pytest.mark.filterwarnings("ignore::spikerec.SilentLayerWarning")
@pytest.mark.parametrize("page", PAGES)
def test_page_examples_run(page, tmp_path):
    assert blocks(page), f"{page} has no python example"
    assert run_page(page, tmp_path, include_slow=False) >= 1


@pytest.mark.slow
@pytest.mark.filterwarnings("ignore::spikerec.SilentLayerWarning")
@pytest.mark.parametrize("page", PAGES)
def test_page_examples_run_with_the_slow_ones(page, tmp_path):
    run_page(page, tmp_path, include_slow=True)

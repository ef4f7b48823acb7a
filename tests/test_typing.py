"""The package is typed for real: mypy (the version pinned in the dev extra, configured
in pyproject.toml) finds no error in spikerec/, which ships a py.typed marker."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def test_package_ships_py_typed():
    assert (ROOT / "spikerec" / "py.typed").is_file()


def test_mypy_finds_no_error_in_the_package():
    if importlib.util.find_spec("mypy") is None:
        pytest.skip("mypy not installed; install the dev extra: pip install -e '.[dev]'")
    result = subprocess.run(
        [sys.executable, "-m", "mypy", "--config-file", str(ROOT / "pyproject.toml")],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Success: no issues found" in result.stdout

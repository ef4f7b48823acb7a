"""LICENSE, CITATION.cff and CHANGELOG.md say what pyproject.toml says."""

from __future__ import annotations

import re
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    tomllib = pytest.importorskip("tomli")


def _project() -> dict:
    return tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]


def test_license_file_is_the_mit_license_pyproject_names():
    text = (ROOT / "LICENSE").read_text(encoding="utf-8")
    assert _project()["license"] == "MIT" and _project()["license-files"] == ["LICENSE"]
    assert text.startswith("MIT License")
    assert "Copyright (c) 2026 the spikerec authors" in text
    assert "WITHOUT WARRANTY OF ANY KIND" in text


def test_citation_file_is_valid_cff_1_2_0():
    yaml = pytest.importorskip("yaml")
    cff = yaml.safe_load((ROOT / "CITATION.cff").read_text(encoding="utf-8"))
    # the keys CFF 1.2.0 requires, and the types its schema gives them
    assert cff["cff-version"] == "1.2.0"
    assert isinstance(cff["message"], str) and cff["message"]
    assert isinstance(cff["title"], str) and cff["title"]
    assert cff["authors"] and all(
        isinstance(a, dict) and ("name" in a or "family-names" in a) for a in cff["authors"]
    )
    assert set(cff) <= {
        "abstract",
        "authors",
        "cff-version",
        "date-released",
        "keywords",
        "license",
        "message",
        "repository-code",
        "title",
        "type",
        "url",
        "version",
    }
    assert cff["type"] in ("software", "dataset")
    assert cff["version"] == _project()["version"]
    assert cff["license"] == "MIT"


def test_changelog_has_an_unreleased_section_first():
    text = (ROOT / "CHANGELOG.md").read_text(encoding="utf-8")
    versions = re.findall(r"^## \[([^\]]+)\]", text, re.MULTILINE)
    assert versions[0] == "Unreleased"
    assert _project()["version"] in versions

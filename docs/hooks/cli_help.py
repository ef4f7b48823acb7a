"""MkDocs hook: replace ``<!-- spikerec-help: COMMAND -->`` by ``spikerec COMMAND --help``.

The user guide shows the help text of the installed command, built from
:func:`spikerec.commands.cli.build_parser` at build time, so it cannot drift from the code.
``<!-- spikerec-help: -->`` (no command) gives the top-level help.
"""

from __future__ import annotations

import argparse
import os
import re

_MARKER = re.compile(r"<!-- spikerec-help:\s*([a-z-]*)\s*-->")
_WIDTH = "88"


def _help(command: str) -> str:
    from spikerec.commands.cli import build_parser

    parser = build_parser()
    if command:
        (subparsers,) = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
        if command not in subparsers.choices:
            valid = ", ".join(subparsers.choices)
            raise ValueError(f"unknown spikerec command {command!r} in the docs; valid: {valid}")
        parser = subparsers.choices[command]
    previous = os.environ.get("COLUMNS")
    os.environ["COLUMNS"] = _WIDTH  # argparse wraps to the terminal width
    try:
        return parser.format_help().rstrip()
    finally:
        if previous is None:
            del os.environ["COLUMNS"]
        else:
            os.environ["COLUMNS"] = previous


def on_page_markdown(markdown: str, page, config, files) -> str:
    """Insert the help texts into a page's Markdown before it is rendered."""

    def block(match: re.Match[str]) -> str:
        command = " ".join(filter(None, ["$ spikerec", match.group(1), "--help"]))
        return f"```text\n{command}\n{_help(match.group(1))}\n```"

    return _MARKER.sub(block, markdown)

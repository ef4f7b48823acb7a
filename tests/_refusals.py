"""Shared by the refusal tests (tests/test_bad_input.py, tests/test_hostile_input.py)."""

from __future__ import annotations

from collections.abc import Callable

import pytest


def raised(call: Callable[[], object], error: type[BaseException]) -> BaseException:
    """The exception of type ``error`` that ``call()`` must raise (``pytest.raises``)."""
    with pytest.raises(error) as info:
        call()
    return info.value

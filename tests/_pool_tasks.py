"""Module-level functions for the worker-pool tests: spawned workers import them by name."""

from __future__ import annotations

import os
import time
from pathlib import Path

from spikerec.errors import ParameterError


def square(x: int) -> int:
    return x * x


def fail(message: str) -> None:
    raise ParameterError(message)


def fail_after_sibling_started(folder: str, message: str) -> None:
    """Fail once the sibling has written its pid file, so that it is surely running."""
    deadline = time.monotonic() + 120
    while not list(Path(folder).glob("pid-*")) and time.monotonic() < deadline:
        time.sleep(0.05)
    raise ParameterError(message)


def sleep_long(folder: str) -> None:
    """Record this worker's pid, then sleep far longer than any test runs."""
    (Path(folder) / f"pid-{os.getpid()}").write_text(str(os.getpid()))
    time.sleep(600)


def run(name: str, *args: object) -> object:
    """Call the function of this module called ``name``: one pool, different tasks."""
    return globals()[name](*args)


_HELD = []


def hold_a_semaphore_and_sleep(folder: str) -> None:
    """As a worker that made a progress bar: tqdm creates a multiprocessing lock, a
    semaphore registered with the resource tracker."""
    import multiprocessing

    _HELD.append(multiprocessing.Lock())
    sleep_long(folder)

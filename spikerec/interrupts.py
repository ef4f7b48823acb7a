"""SIGTERM as an interrupt: a run stopped by ``kill`` or a job scheduler ends like one
stopped by Ctrl-C (finished work kept, one line, the resume command), not silently.

Use it around a command's work, and catch ``KeyboardInterrupt`` (which
:class:`Terminated` is) once::

    with sigterm_as_interrupt():
        try:
            run()
        except KeyboardInterrupt as interrupt:
            print_one_line(...)
            return exit_status(interrupt)  # 130 for Ctrl-C, 143 for SIGTERM
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager

#: Exit status of a run stopped by Ctrl-C (128 + SIGINT).
EXIT_INTERRUPTED = 128 + int(signal.SIGINT)
#: Exit status of a run stopped by SIGTERM (128 + SIGTERM).
EXIT_TERMINATED = 128 + int(signal.SIGTERM)


class Terminated(KeyboardInterrupt):
    """Raised in the main thread when the process receives SIGTERM inside
    :func:`sigterm_as_interrupt`; a ``KeyboardInterrupt``, so code that cleans up after
    Ctrl-C cleans up after it too. ``exit_status`` is 143."""

    exit_status = EXIT_TERMINATED


def exit_status(interrupt: KeyboardInterrupt) -> int:
    """143 for :class:`Terminated`, 130 for Ctrl-C.

    Examples
    --------
    >>> exit_status(KeyboardInterrupt()), exit_status(Terminated())
    (130, 143)
    """
    return getattr(interrupt, "exit_status", EXIT_INTERRUPTED)


@contextmanager
def sigterm_as_interrupt() -> Iterator[None]:
    """Within the block, SIGTERM raises :class:`Terminated` in the main thread.

    The previous handler is restored afterwards. Outside the main thread (where
    Python cannot install signal handlers) the block runs unchanged.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def raise_terminated(signum: int, frame: object) -> None:
        raise Terminated("terminated (SIGTERM)")

    previous = signal.signal(signal.SIGTERM, raise_terminated)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)

"""Worker processes that never outlive their parent and stop cleanly on any failure.

:func:`run_pool` runs calls in a pool of fresh ``spawn`` processes (used by
``spikerec compare --jobs N``). Python's ``ProcessPoolExecutor`` alone leaves
running calls going when one fails or the parent is interrupted, and its workers
(with multiprocessing's resource tracker) survive a SIGKILLed parent, re-parented to
PID 1. Here:

- a failing call's own exception is raised, after the results of the calls that
  finished are reported; the other workers are stopped (SIGTERM, then SIGKILL);
- Ctrl-C (``KeyboardInterrupt``) and any other exception in the parent stop them too;
- workers ignore SIGINT, and end when the parent dies, SIGKILL included
  (:func:`die_with_parent`: Linux's parent-death signal plus a thread watching the
  parent's pid); the resource tracker then ends too, as it lives only while a
  process holds its pipe;
- a worker ended by SIGTERM first releases the semaphores it made, so the resource
  tracker prints no "leaked semaphore" warning after the run's one-line error.
"""

from __future__ import annotations

import ctypes
import multiprocessing
import multiprocessing.process
import os
import signal
import sys
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from typing import TypeVar

R = TypeVar("R")

#: Seconds between a worker's checks that its parent is still alive.
PARENT_POLL_S = 1.0
#: Seconds a terminated worker gets to exit before it is killed.
STOP_GRACE_S = 5.0
_PR_SET_PDEATHSIG = 1  # from <linux/prctl.h>


def _set_parent_death_signal(signum: int) -> bool:
    """Ask Linux to send ``signum`` to this process when its parent dies (no-op elsewhere)."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        return libc.prctl(_PR_SET_PDEATHSIG, int(signum), 0, 0, 0) == 0
    except (OSError, AttributeError):
        return False


def _watch_parent(parent_pid: int) -> None:
    """End this process as soon as its parent is gone (it is then re-parented)."""
    while True:
        if os.getppid() != parent_pid:
            os._exit(1)
        time.sleep(PARENT_POLL_S)


def die_with_parent(parent_pid: int) -> None:
    """Make this worker process end when ``parent_pid`` (its parent) dies, SIGKILL included.

    On Linux the kernel sends SIGTERM at the parent's death (``PR_SET_PDEATHSIG``);
    everywhere a daemon thread also checks every :data:`PARENT_POLL_S` seconds
    that the parent is still the one that started it. A parent that died before
    this call ends the worker at once.
    """
    _set_parent_death_signal(signal.SIGTERM)
    if os.getppid() != parent_pid:  # died before the death signal was armed
        os._exit(1)
    threading.Thread(target=_watch_parent, args=(parent_pid,), daemon=True).start()


def _exit_on_sigterm(signum: int, frame: object) -> None:
    """End the worker at once, but first run multiprocessing's exit clean-up: it releases
    the semaphores this process created (tqdm makes one), which the resource tracker
    would otherwise report as leaked, two lines of warning after the run's error."""
    try:
        from multiprocessing import util

        # private but stable since Python 3.3: what a process runs when it exits normally
        exit_function = getattr(util, "_exit_function", None)
        if exit_function is not None:
            exit_function()
    finally:
        os._exit(128 + signum)


def _init_worker(threads: int, parent_pid: int | None = None) -> None:
    signal.signal(signal.SIGTERM, _exit_on_sigterm)
    if parent_pid is not None:
        die_with_parent(parent_pid)
    # Ctrl-C reaches every process of the terminal's foreground group: the parent
    # handles it (stops the workers, keeps finished work); a worker would only
    # print a traceback of its own.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    import torch

    torch.set_num_threads(threads)


def run_pool(
    function: Callable[..., R],
    arguments: Sequence[tuple[object, ...]],
    *,
    jobs: int,
    threads_per_job: int = 1,
    on_done: Callable[[R], None] | None = None,
) -> None:
    """Call ``function(*args)`` for every ``args`` of ``arguments`` in ``jobs`` processes.

    ``function`` must be importable by name (a module-level function): the workers
    are fresh ``spawn`` processes. Call it from a thread that outlives the pool (the
    main thread, as the commands do): Linux's parent-death signal fires when the
    thread that started a worker ends. ``on_done(result)`` is called in this process
    as each call returns.

    Lifecycle guarantees:

    - If a call raises, the results of the calls that finished are passed to
      ``on_done``, queued calls are cancelled, running ones are stopped (SIGTERM,
      then SIGKILL after :data:`STOP_GRACE_S` seconds), and the call's own
      exception is raised here. ``KeyboardInterrupt`` and any other exception in
      this process stop the workers the same way.
    - Workers ignore SIGINT (Ctrl-C is handled here) and end when this process
      dies, SIGKILL included (:func:`die_with_parent`); with them ends
      multiprocessing's resource tracker, which lives while a process holds its
      pipe.
    """
    pool = ProcessPoolExecutor(
        max_workers=jobs,
        mp_context=multiprocessing.get_context("spawn"),
        initializer=_init_worker,
        initargs=(threads_per_job, os.getpid()),
    )
    try:
        pending: set[Future[R]] = {pool.submit(function, *args) for args in arguments}
        while pending:
            done, pending = wait(pending, return_when=FIRST_COMPLETED)
            errors = _report(done, on_done)
            if errors:
                # Calls that finished meanwhile are kept too.
                _report({f for f in pending if f.done() and not f.cancelled()}, on_done)
                raise errors[0]
    except BaseException:
        _stop_workers(pool)
        raise
    pool.shutdown(wait=True)


def _report(done: set[Future[R]], on_done: Callable[[R], None] | None) -> list[BaseException]:
    """Pass the results of ``done`` to ``on_done``; return the exceptions of the others."""
    errors: list[BaseException] = []
    for future in done:
        error = future.exception()
        if error is not None:
            errors.append(error)
        elif on_done is not None:
            on_done(future.result())
    return errors


def _pool_processes(pool: ProcessPoolExecutor) -> list[multiprocessing.process.BaseProcess]:
    """The pool's worker processes (read before ``shutdown``, which drops the list)."""
    processes = getattr(pool, "_processes", None) or {}
    return list(processes.values())


def _stop_workers(pool: ProcessPoolExecutor) -> None:
    """Cancel queued calls and end running ones now, instead of waiting for them."""
    # The executor has no public way to stop a running call; its workers are plain
    # multiprocessing processes. Take the list first: shutdown() sets it to None.
    processes = _pool_processes(pool)
    pool.shutdown(wait=False, cancel_futures=True)
    for process in processes:
        if process.is_alive():
            process.terminate()
    deadline = time.monotonic() + STOP_GRACE_S
    for process in processes:
        process.join(timeout=max(0.0, deadline - time.monotonic()))
        if process.is_alive():
            process.kill()
            process.join(timeout=STOP_GRACE_S)

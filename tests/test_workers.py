"""Worker processes: a failing call raises its own error and stops its siblings, Ctrl-C and
SIGTERM stop them, and a SIGKILLed parent leaves no worker and no resource tracker.

Every test checks with the ``no_children_left`` fixture that no process it started is
still alive afterwards. The tasks live in ``tests/_pool_tasks.py`` (spawned workers
import them by name). Process start-up dominates the time: each test starts at most
one pool of two workers.
"""

from __future__ import annotations

import multiprocessing
import multiprocessing.resource_tracker
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import _pool_tasks
import numpy as np
import pytest

from spikerec.compare import CompareConfig
from spikerec.compare.jobs import execute, plan_tasks
from spikerec.data.idx import write_idx
from spikerec.data.loading import MNIST_FILES
from spikerec.errors import ParameterError
from spikerec.training.loop import TrainConfig
from spikerec.workers import run_pool

TESTS = Path(__file__).resolve().parent
ROOT = TESTS.parent
# A bound on waiting for processes to start or end; never an assertion on time.
PATIENCE_S = 180.0


def _stat(pid: int) -> list[str] | None:
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return text.rsplit(")", 1)[1].split()


def children_of(pid: int) -> set[int]:
    """Live (non-zombie) processes whose parent is ``pid``, from /proc."""
    found = set()
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            fields = _stat(int(entry))
            if fields is not None and int(fields[1]) == pid and fields[0] != "Z":
                found.add(int(entry))
    return found


def alive(pid: int) -> bool:
    fields = _stat(pid)
    return fields is not None and fields[0] != "Z"


def wait_until(condition, what: str) -> None:
    deadline = time.monotonic() + PATIENCE_S
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"gave up waiting for {what}")
        time.sleep(0.05)


def _own_tracker() -> set[int]:
    """This process's resource tracker: one per process, by design alive until it exits."""
    pid = getattr(multiprocessing.resource_tracker._resource_tracker, "_pid", None)
    return {pid} if pid else set()


pytestmark = pytest.mark.skipif(
    not Path("/proc/self/stat").exists(), reason="reads processes from /proc (Linux)"
)


@pytest.fixture
def no_children_left():
    before = children_of(os.getpid())
    yield
    # join() has reaped every worker by the time run_pool returns; allow a moment
    # for anything the kernel still tears down.
    wait_until(
        lambda: not (children_of(os.getpid()) - before - _own_tracker()),
        "the test's child processes to end",
    )
    assert multiprocessing.active_children() == []


def _pid_files(folder: Path) -> list[int]:
    return [int(p.read_text()) for p in folder.glob("pid-*") if p.read_text()]


def test_a_failing_call_raises_its_own_error_and_stops_its_sibling(tmp_path, no_children_left):
    """Python's ProcessPoolExecutor.shutdown() drops its process list, so the old stop
    crashed with AttributeError, hid the real error and left the sibling running."""
    calls = [("sleep_long", str(tmp_path)), ("fail_after_sibling_started", str(tmp_path), "boom")]
    with pytest.raises(ParameterError) as info:
        run_pool(_pool_tasks.run, calls, jobs=2)
    assert str(info.value) == "boom"  # the task's own error, one line
    (sibling,) = _pid_files(tmp_path)
    assert not alive(sibling)  # stopped, not left sleeping for 600 s


def test_the_results_that_finished_are_reported_before_the_error(tmp_path, no_children_left):
    got = []
    calls = [("square", 3), ("fail", "bad task")]
    with pytest.raises(ParameterError, match="bad task"):
        run_pool(_pool_tasks.run, calls, jobs=1 + 1, on_done=got.append)
    # The square may finish before or after the failure is seen: either way it is
    # reported if it finished, and nothing else is.
    assert got in ([], [9])


@pytest.mark.slow
def test_an_interrupt_in_the_parent_stops_the_workers(tmp_path, no_children_left):
    """KeyboardInterrupt raised while results come in (Ctrl-C) stops every worker."""

    def interrupt(result):
        raise KeyboardInterrupt

    calls = [("square", 2), ("sleep_long", str(tmp_path)), ("sleep_long", str(tmp_path))]
    with pytest.raises(KeyboardInterrupt):
        run_pool(_pool_tasks.run, calls, jobs=2, on_done=interrupt)
    assert not any(alive(pid) for pid in _pid_files(tmp_path))


def test_execute_on_3x3_images_raises_the_task_error_in_one_line(tmp_path, no_children_left):
    """The issue's repro at library level: idx folder of 3 x 3 images, lif and
    svm-linear with two jobs. The lif task fails in its worker."""
    rng = np.random.default_rng(0)
    images, labels, test_images, test_labels = MNIST_FILES
    write_idx(tmp_path / images, rng.integers(0, 256, (60, 3, 3), dtype=np.uint8))
    write_idx(tmp_path / labels, (np.arange(60) % 3).astype(np.uint8))
    write_idx(tmp_path / test_images, rng.integers(0, 256, (12, 3, 3), dtype=np.uint8))
    write_idx(tmp_path / test_labels, (np.arange(12) % 3).astype(np.uint8))
    config = CompareConfig(
        data=f"idx:{tmp_path}",
        entries=("lif", "svm-linear"),
        seeds=(0,),
        train=TrainConfig(epochs=1, n_steps=3, patience=1),
    )
    with pytest.raises(ParameterError) as info:
        execute(config, plan_tasks(config, jobs=2), jobs=2, threads_per_job=1)
    message = str(info.value)
    assert "4 x 4" in message and "\n" not in message


# ------------------------------------------------------------------ signals to the parent

PARENT = textwrap.dedent(
    """
    import sys
    import _pool_tasks
    from spikerec.workers import run_pool

    if __name__ == "__main__":
        calls = [("sleep_long", sys.argv[1]), ("sleep_long", sys.argv[1])]
        try:
            run_pool(_pool_tasks.run, calls, jobs=2)
        except KeyboardInterrupt:
            print("interrupted", file=sys.stderr)
            sys.exit(130)
    """
)


FAILING_PARENT = textwrap.dedent(
    """
    import sys
    import _pool_tasks
    from spikerec.workers import run_pool

    if __name__ == "__main__":
        calls = [("hold_a_semaphore_and_sleep", sys.argv[1]),
                 ("fail_after_sibling_started", sys.argv[1], "boom")]
        try:
            run_pool(_pool_tasks.run, calls, jobs=2)
        except ValueError as error:
            print(f"error: {error}", file=sys.stderr)
            sys.exit(2)
    """
)


def _env_for_children() -> dict[str, str]:
    return {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(ROOT), str(TESTS), os.environ.get("PYTHONPATH", "")]),
        "OMP_NUM_THREADS": "1",
    }


def test_a_stopped_worker_leaves_no_warning_after_the_error(tmp_path, no_children_left):
    """A worker stopped while it holds a semaphore (tqdm makes one) used to make the
    resource tracker print two lines of 'leaked semaphore' warning after the error."""
    script = tmp_path / "parent.py"
    script.write_text(FAILING_PARENT)
    result = subprocess.run(
        [sys.executable, str(script), str(tmp_path)],
        env=_env_for_children(), capture_output=True, text=True, timeout=PATIENCE_S,
        stdin=subprocess.DEVNULL,
    )  # fmt: skip
    assert result.returncode == 2, result.stderr
    assert result.stderr == "error: boom\n"
    (sibling,) = _pid_files(tmp_path)
    assert not alive(sibling)


def _start_parent(tmp_path: Path) -> tuple[subprocess.Popen, set[int]]:
    """A parent process running two sleeping workers; returns it and its children
    (the workers and the resource tracker) once both workers run."""
    script = tmp_path / "parent.py"
    script.write_text(PARENT)
    folder = tmp_path / "pids"
    folder.mkdir()
    proc = subprocess.Popen(
        [sys.executable, str(script), str(folder)],
        env=_env_for_children(),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        start_new_session=True,  # its own process group, as a terminal's job
    )
    try:
        wait_until(lambda: len(_pid_files(folder)) == 2 or proc.poll() is not None, "workers")
    except BaseException:
        proc.kill()
        raise
    assert proc.poll() is None, proc.stderr.read().decode() if proc.stderr else ""
    kids = children_of(proc.pid)
    assert set(_pid_files(folder)) <= kids
    return proc, kids


def _end(proc: subprocess.Popen, kids: set[int]) -> str:
    try:
        proc.wait(timeout=PATIENCE_S)
        wait_until(lambda: not any(alive(pid) for pid in kids), "the workers to end")
    finally:
        for pid in kids | {proc.pid}:  # only if a check above failed
            if alive(pid):
                os.kill(pid, signal.SIGKILL)
    return proc.stderr.read().decode() if proc.stderr else ""


def _signalled_parent_leaves_no_worker(tmp_path, sig: signal.Signals, *, tracker: bool) -> None:
    """Send ``sig`` to a parent running two workers: it dies of it and no worker is left.
    ``tracker``: first check that the parent also started multiprocessing's resource
    tracker (which must be gone too)."""
    proc, kids = _start_parent(tmp_path)
    if tracker:
        assert len(kids) == 3  # two workers and multiprocessing's resource tracker
    proc.send_signal(sig)
    _end(proc, kids)
    assert proc.returncode == -sig
    assert not any(alive(pid) for pid in kids)


def test_a_sigkilled_parent_leaves_no_worker_and_no_resource_tracker(tmp_path, no_children_left):
    _signalled_parent_leaves_no_worker(tmp_path, signal.SIGKILL, tracker=True)


@pytest.mark.slow
def test_a_sigtermed_parent_leaves_no_worker(tmp_path, no_children_left):
    _signalled_parent_leaves_no_worker(tmp_path, signal.SIGTERM, tracker=False)


@pytest.mark.slow
def test_ctrl_c_to_the_process_group_prints_no_worker_traceback(tmp_path, no_children_left):
    """A terminal sends SIGINT to every process of the job: workers ignore it, the
    parent stops them and exits 130; no worker prints a traceback."""
    proc, kids = _start_parent(tmp_path)
    os.killpg(proc.pid, signal.SIGINT)
    err = _end(proc, kids)
    assert proc.returncode == 130, err
    assert "Traceback" not in err and "interrupted" in err
    assert not any(alive(pid) for pid in kids)

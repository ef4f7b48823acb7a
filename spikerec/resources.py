"""Memory, disk and threads: check a run's needs before it starts, and turn the failures
that still happen (an allocation torch refuses, a float overflow) into one-line errors.

- :func:`available_memory_bytes` reads what the machine (or its container) can still
  give, without psutil.
- :func:`check_memory` compares an estimate with it and raises
  :class:`~spikerec.errors.ResourceError` naming the flag to lower.
- :func:`check_threads` refuses a thread count no machine should start.
- :func:`user_resources` is a context manager that turns torch's allocation failures
  (``RuntimeError: ... out of memory``, ``DefaultCPUAllocator: can't allocate
  memory``), NumPy's and Python's ``MemoryError`` and float overflows into one-line
  :class:`~spikerec.errors.ResourceError` / :class:`~spikerec.errors.ParameterError`.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from spikerec.errors import ParameterError, ResourceError, SpikerecError

#: A run may plan to use at most this share of the memory available when it starts.
MEMORY_SHARE = 0.8
#: Most torch threads per CPU core that :func:`check_threads` accepts.
THREADS_PER_CORE = 4

_ALLOCATION_FAILURES = (
    "out of memory",
    "can't allocate memory",
    "cannot allocate memory",
    "not enough memory",
    "failed to allocate",
    "unable to allocate",
)
_OVERFLOW_FAILURES = ("without overflow", "overflows")
_BYTES = re.compile(r"allocate (\d+) bytes")


def _meminfo_available() -> int | None:
    try:
        with open("/proc/meminfo", encoding="ascii") as info:
            for line in info:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        return None
    return None


def _cgroup_available() -> int | None:
    """Memory left under the container's limit (cgroup v2, then v1), if there is one."""
    for limit_file, usage_file in (
        ("/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory.current"),
        (
            "/sys/fs/cgroup/memory/memory.limit_in_bytes",
            "/sys/fs/cgroup/memory/memory.usage_in_bytes",
        ),
    ):
        try:
            limit_text = Path(limit_file).read_text().strip()
            if limit_text == "max":
                return None
            limit = int(limit_text)
            usage = int(Path(usage_file).read_text().strip())
        except (OSError, ValueError):
            continue
        if limit >= 2**60:  # v1 writes "no limit" as a huge number
            return None
        return max(0, limit - usage)
    return None


def _sysconf_available() -> int | None:
    try:
        pages = os.sysconf("SC_AVPHYS_PAGES")
        size = os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return None
    return pages * size if pages > 0 and size > 0 else None


def available_memory_bytes() -> int | None:
    """Bytes of memory this process can still allocate, or ``None`` if unknown.

    The smaller of the kernel's ``MemAvailable`` (``/proc/meminfo``; else free
    physical pages from ``os.sysconf``) and what the container's cgroup limit leaves.

    Examples
    --------
    >>> available = available_memory_bytes()
    >>> available is None or available > 0
    True
    """
    found = [
        value
        for value in (_meminfo_available() or _sysconf_available(), _cgroup_available())
        if value is not None
    ]
    return min(found) if found else None


def format_bytes(n: float) -> str:
    """``n`` bytes in the largest binary unit that keeps a number >= 1.

    Examples
    --------
    >>> format_bytes(3 * 2**30), format_bytes(512)
    ('3.0 GiB', '512 B')
    """
    for unit, size in (("PiB", 2**50), ("TiB", 2**40), ("GiB", 2**30), ("MiB", 2**20)):
        if n >= size:
            return f"{n / size:.3g} {unit}" if n / size >= 10 else f"{n / size:.1f} {unit}"
    return f"{int(n)} B"


def check_memory(
    needed_bytes: float,
    *,
    what: str,
    lower: str,
    available: int | None = None,
) -> None:
    """Refuse a run whose estimated memory exceeds :data:`MEMORY_SHARE` of what is
    available.

    Parameters
    ----------
    needed_bytes : float
        The estimate.
    what : str
        What needs it, for the message (e.g. ``"training (n_steps 25 x batch 64 x
        3136 V4 units)"``).
    lower : str
        The settings to lower, for the message (e.g. ``"--n-steps or --batch-size"``).
    available : int, optional
        Bytes available (default :func:`available_memory_bytes`; unknown: no check).

    Raises
    ------
    ResourceError
        One line: what needs how much, how much is available, what to lower.

    Examples
    --------
    >>> check_memory(2**40, what="training", lower="--n-steps", available=2**30)
    Traceback (most recent call last):
    ...
    spikerec.errors.ResourceError: training needs about 1.0 TiB of memory but about 1.0 GiB \
is available; lower --n-steps
    """
    free = available_memory_bytes() if available is None else available
    if free is None:
        return
    if needed_bytes > MEMORY_SHARE * free:
        raise ResourceError(
            f"{what} needs about {format_bytes(needed_bytes)} of memory but about "
            f"{format_bytes(free)} is available; lower {lower}"
        )


def check_threads(threads: object, *, flag: str = "--threads") -> int:
    """``threads`` if it is an int in ``[0, THREADS_PER_CORE * cores]`` (0: torch's choice).

    Starting many thousand threads exhausts the address space and fails far from
    the cause (a shared library that cannot be mapped).

    Raises
    ------
    ParameterError
        For a negative count or more than :data:`THREADS_PER_CORE` threads per core.

    Examples
    --------
    >>> check_threads(0)
    0
    >>> check_threads(100000)
    Traceback (most recent call last):
    ...
    spikerec.errors.ParameterError: --threads=100000 is too many: at most ... (4 per CPU core)
    """
    if isinstance(threads, bool) or not isinstance(threads, int):
        raise ParameterError(f"{flag}={threads!r} must be an integer")
    if threads < 0:
        raise ParameterError(f"{flag}={threads} must be >= 0 (0: torch's default)")
    cores = os.cpu_count() or 1
    limit = THREADS_PER_CORE * cores
    if threads > limit:
        raise ParameterError(
            f"{flag}={threads} is too many: at most {limit} on this machine of {cores} "
            f"cores ({THREADS_PER_CORE} per CPU core)"
        )
    return threads


def is_allocation_failure(error: BaseException) -> bool:
    """Whether ``error`` is an allocation that failed (torch reports them as RuntimeError).

    Examples
    --------
    >>> is_allocation_failure(RuntimeError("CUDA out of memory. Tried to allocate 2 GiB"))
    True
    >>> is_allocation_failure(RuntimeError("shape mismatch"))
    False
    """
    if isinstance(error, MemoryError):
        return True
    if not isinstance(error, RuntimeError):
        return False
    text = str(error).lower()
    return any(marker in text for marker in _ALLOCATION_FAILURES)


def _first_line(error: BaseException) -> str:
    text = " ".join(str(error).split())
    return text[:200] + ("..." if len(text) > 200 else "")


@contextmanager
def user_resources(
    *, lower: str = "the sizes of the run (--n-steps, --batch-size)"
) -> Iterator[None]:
    """Turn resource failures raised in the block into one-line spikerec errors.

    - an allocation torch, NumPy or Python refuses (``MemoryError``,
      ``RuntimeError`` from torch's CPU or CUDA allocator) becomes
      :class:`~spikerec.errors.ResourceError` naming the bytes asked for, if known,
      and ``lower``;
    - a float overflow (``OverflowError``, torch's ``value cannot be converted to
      type float without overflow``) becomes :class:`~spikerec.errors.ParameterError`.

    A :class:`~spikerec.errors.SpikerecError` passes unchanged; every other
    exception too (a bug keeps its traceback).

    Examples
    --------
    >>> import torch
    >>> with user_resources(lower="--n-steps"):
    ...     raise RuntimeError("DefaultCPUAllocator: can't allocate memory: you tried to "
    ...                        "allocate 80281600000000 bytes. Error code 12")
    Traceback (most recent call last):
    ...
    spikerec.errors.ResourceError: the run asked for 73 TiB of memory at once; lower --n-steps
    """
    try:
        yield
    except SpikerecError:  # already one line (TrainingDiverged is a RuntimeError too)
        raise
    except (MemoryError, RuntimeError, OverflowError) as error:
        if isinstance(error, OverflowError) or (
            isinstance(error, RuntimeError)
            and not is_allocation_failure(error)
            and any(marker in str(error) for marker in _OVERFLOW_FAILURES)
        ):
            raise ParameterError(
                f"a value is too large for the number format ({_first_line(error)}); "
                "use smaller values"
            ) from None
        if not is_allocation_failure(error):
            raise
        asked = _BYTES.search(str(error))
        if asked:
            what = f"the run asked for {format_bytes(int(asked.group(1)))} of memory at once"
        else:
            what = (
                f"an allocation failed ({_first_line(error)})"
                if _first_line(error)
                else "the run asked for more memory than this machine can give"
            )
        raise ResourceError(f"{what}; lower {lower}") from None

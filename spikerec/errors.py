"""The exceptions spikerec raises for what a user can fix, all under :class:`SpikerecError`.

Each also derives from the built-in exception that code written before this
hierarchy caught (``ValueError``, ``TypeError``, ``RuntimeError``), so ``except
ValueError`` keeps working. The ``spikerec`` command turns exactly these (and
``OSError`` from the file system) into one line on stderr with exit status 2, or 3
for :class:`TrainingDiverged`; any other exception is a bug and keeps its traceback.

Examples
--------
>>> from spikerec import LIFParams
>>> try:
...     LIFParams(tau_mem_ms=-1.0)
... except SpikerecError as error:
...     print(type(error).__name__, "-", error)
ParameterError - tau_mem_ms=-1.0 must be > 0
"""

from __future__ import annotations


class SpikerecError(Exception):
    """Base of every error that names a mistake in what spikerec was given."""


class ParameterError(SpikerecError, ValueError):
    """A parameter, argument or tensor breaks a rule; the message names it, its value and
    the rule."""


class NonFiniteError(ParameterError):
    """A tensor holds NaN or infinite values; ``tensor_name`` names the argument.

    The training loop reads one raised inside a forward pass on finite data as
    divergence (the weights overflowed the activations), not as bad input.
    """

    def __init__(self, message: str, tensor_name: str = "") -> None:
        super().__init__(message)
        self.tensor_name = tensor_name


class ParameterTypeError(SpikerecError, TypeError):
    """An argument of the wrong type (a string for a number, a list for a tensor)."""


class DatasetError(SpikerecError, ValueError):
    """A dataset name, folder or file cannot be used; the message says which and why."""


class CheckpointError(SpikerecError, ValueError):
    """A checkpoint file is missing, truncated, unsafe or not a spikerec checkpoint."""


class RunError(SpikerecError, ValueError):
    """A run folder cannot be created, resumed or finished as asked."""


class TrainingDiverged(SpikerecError, RuntimeError):
    """The loss or the weights became NaN or infinite; the message names epoch and step."""


class DiskFullError(SpikerecError, OSError):
    """A file could not be written because the disk (or the user's quota) is full; the
    message names the file. An ``OSError``, as file-system errors are; its ``errno``
    is ``ENOSPC``.
    """

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.errno = 28  # ENOSPC


class ResourceError(SpikerecError, MemoryError):
    """A run needs more memory or disk than the machine has, or more threads than it should
    start; the message says what and names the setting to lower.

    Also a ``MemoryError``, so ``except MemoryError`` keeps catching allocation failures.
    """


class SpikerecWarning(UserWarning):
    """Something a user should know that does not stop the run (e.g. a checkpoint too
    old to check the data of a resumed run); the CLI prints it as one line."""


__all__ = [
    "CheckpointError",
    "DatasetError",
    "DiskFullError",
    "NonFiniteError",
    "ParameterError",
    "ParameterTypeError",
    "ResourceError",
    "RunError",
    "SpikerecError",
    "SpikerecWarning",
    "TrainingDiverged",
]

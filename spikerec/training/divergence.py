"""Divergence that shows in the activations: a forward pass on finite data that produces
NaN or infinite values means the weights have grown until the activations overflow.

The training loop checks the loss and the weights itself; weights can stay finite
while being so large (``--lr 1e30``) that the next forward pass overflows. The
input checks inside the model then raise :class:`~spikerec.errors.NonFiniteError`
naming an intermediate tensor; :func:`diverged_if_nonfinite` turns that into
:class:`~spikerec.errors.TrainingDiverged` naming epoch and step, so the run stops
with the status of a numerical fault instead of blaming the input.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from spikerec.errors import NonFiniteError, TrainingDiverged

#: The name of the recogniser's input: NaN there is bad data, not divergence.
INPUT_NAMES: frozenset[str] = frozenset({"images"})


@contextmanager
def diverged_if_nonfinite(epoch: int, step: int | None = None) -> Iterator[None]:
    """Re-raise a :class:`NonFiniteError` about an activation as :class:`TrainingDiverged`.

    Parameters
    ----------
    epoch : int
        1-based epoch, for the message.
    step : int, optional
        1-based step within the epoch; ``None`` for the validation pass after it.

    Examples
    --------
    >>> with diverged_if_nonfinite(1, 2):
    ...     raise NonFiniteError("features contains NaN or infinite values", "features")
    Traceback (most recent call last):
    ...
    spikerec.errors.TrainingDiverged: training diverged at epoch 1, step 2: the activations \
overflowed (features contains NaN or infinite values); the weights grew too large (try a lower \
--lr)
    """
    try:
        yield
    except NonFiniteError as error:
        if error.tensor_name in INPUT_NAMES:
            raise
        where = f"epoch {epoch}, step {step}" if step is not None else f"epoch {epoch} (validation)"
        raise TrainingDiverged(
            f"training diverged at {where}: the activations overflowed ({error}); the weights "
            "grew too large (try a lower --lr)"
        ) from None

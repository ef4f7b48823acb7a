"""Decoders: output spikes and membranes ``[T, B, C]`` to a class per image.

:data:`DECODERS` maps each name to a function ``(spikes, peak, counts) -> prediction``;
:func:`decode` checks the tensors and applies one. A new decoder is one function
plus one line there.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

import torch

from spikerec.errors import ParameterError
from spikerec.registry import Registry
from spikerec.validation import check_tensor


class Decoded(NamedTuple):
    """A decoder's verdict.

    Attributes
    ----------
    prediction : Tensor [B] of int64
        Predicted class.
    silent : Tensor [B] of bool
        True where no output neuron spiked; the prediction then comes from the
        membrane potentials, never from a default class.
    """

    prediction: torch.Tensor
    silent: torch.Tensor


def _argmax_among(candidates: torch.Tensor, score: torch.Tensor) -> torch.Tensor:
    """Index of the highest ``score`` among the ``candidates`` (bool ``[B, C]``)."""
    return torch.where(candidates, score, torch.full_like(score, -torch.inf)).argmax(dim=1)


def _by_count(spikes: torch.Tensor, peak: torch.Tensor, counts: torch.Tensor) -> torch.Tensor:
    """Most spikes, ties broken by the highest membrane potential reached."""
    return _argmax_among(counts == counts.amax(dim=1, keepdim=True), peak)


def _by_max_membrane(
    spikes: torch.Tensor, peak: torch.Tensor, counts: torch.Tensor
) -> torch.Tensor:
    """Highest membrane potential reached."""
    return peak.argmax(dim=1)


def _by_first_spike(spikes: torch.Tensor, peak: torch.Tensor, counts: torch.Tensor) -> torch.Tensor:
    """Earliest first spike, ties broken by the highest membrane potential reached."""
    n_steps = spikes.shape[0]
    steps = torch.arange(n_steps, device=spikes.device).view(-1, 1, 1).expand_as(spikes)
    first = torch.where(spikes > 0, steps, torch.full_like(steps, n_steps)).amin(dim=0)
    return _argmax_among(first == first.amin(dim=1, keepdim=True), peak)


#: A decoder: ``(spikes [T, B, C], peak membrane [B, C], spike counts [B, C]) ->
#: predicted class [B]``.
DecoderFn = Callable[[torch.Tensor, torch.Tensor, torch.Tensor], torch.Tensor]

#: The decoders by name, in order: ``count``, ``max-membrane``, ``first-spike``.
DECODERS: Registry[DecoderFn] = Registry(
    "decoder",
    [("count", _by_count), ("max-membrane", _by_max_membrane), ("first-spike", _by_first_spike)],
)


def check_outputs(spikes: torch.Tensor, membrane: torch.Tensor) -> int:
    """Refuse output spikes and membranes that are not both ``[T, B, C]`` tensors of one
    shape (one line naming the argument); return ``T``."""
    check_tensor("spikes", spikes, "[T, B, C]", ndim=3)
    check_tensor("membrane", membrane, "[T, B, C]", ndim=3)
    if spikes.shape != membrane.shape:
        raise ParameterError(
            f"spikes and membrane must both be [T, B, C], got {tuple(spikes.shape)} "
            f"and {tuple(membrane.shape)}"
        )
    return spikes.shape[0]


def decode(spikes: torch.Tensor, membrane: torch.Tensor, method: str = "count") -> Decoded:
    """Turn output spikes and membranes ``[T, B, C]`` into classes.

    Parameters
    ----------
    method : {"count", "max-membrane", "first-spike"}
        ``count``: most spikes, ties broken by the highest membrane potential
        reached. ``max-membrane``: highest membrane potential reached.
        ``first-spike``: earliest first spike, ties broken by membrane potential.
        When no neuron spiked, ``count`` and ``first-spike`` fall back on the
        membrane potential (and report the sample as silent).

    Examples
    --------
    >>> spk = torch.zeros(3, 1, 2); mem = torch.zeros(3, 1, 2); mem[1, 0, 1] = 0.5
    >>> decode(spk, mem)  # silent: class 1 from its membrane, not class 0
    Decoded(prediction=tensor([1]), silent=tensor([True]))
    """
    check_outputs(spikes, membrane)
    if spikes.device != membrane.device:
        raise ParameterError(
            f"spikes are on {spikes.device} but membrane on {membrane.device}; "
            "move both to one device"
        )
    rule = DECODERS.get(method)
    peak = membrane.amax(dim=0)
    counts = spikes.sum(dim=0)
    silent = counts.sum(dim=1) == 0
    return Decoded(prediction=rule(spikes, peak, counts), silent=silent)

"""The whole recogniser: front end -> (encoder ->) head, built from a configuration."""

from __future__ import annotations

import math
from typing import NamedTuple

import torch
from torch import nn

from spikerec.encoders import SpikeEncoder, make_encoder
from spikerec.frontend import V4FrontEnd
from spikerec.heads import (
    DEFAULT_HEAD_PARAMS,
    AnalogSoftmaxHead,
    HeadOutput,
    LIFHead,
    RateSoftmaxHead,
)
from spikerec.params import LIFParams

HEADS: tuple[str, ...] = ("lif", "rate-softmax", "softmax")


class RecognizerOutput(NamedTuple):
    """Everything one forward pass produces.

    Attributes
    ----------
    features : Tensor [B, 3136]
        V4 features of the front end.
    v4_spikes : Tensor [T, B, 3136] or None
        V4 spike trains (None for the analog head).
    head : HeadOutput
        Logits ``[B, C]`` and, for the LIF head, output spikes and membranes ``[T, B, C]``.
    """

    features: torch.Tensor
    v4_spikes: torch.Tensor | None
    head: HeadOutput


class Recognizer(nn.Module):
    """Front end, optional V4 spike encoder, and head.

    Parameters
    ----------
    frontend : V4FrontEnd
    head : nn.Module
        A head of :mod:`spikerec.heads`.
    encoder : SpikeEncoder, optional
        Required when the head takes spikes.
    """

    def __init__(
        self, frontend: V4FrontEnd, head: nn.Module, encoder: SpikeEncoder | None = None
    ) -> None:
        super().__init__()
        if getattr(head, "spiking_input", False) and encoder is None:
            raise ValueError(f"head {type(head).__name__} takes spikes and needs an encoder")
        self.frontend = frontend
        self.encoder = encoder if getattr(head, "spiking_input", False) else None
        self.head = head

    def forward(
        self, images: torch.Tensor, generator: torch.Generator | None = None
    ) -> RecognizerOutput:
        """Run images ``[B, C, H, W]`` through the recogniser (the front end once).

        ``generator`` (a ``torch.Generator``) drives stochastic encoders.
        """
        if generator is not None and not isinstance(generator, torch.Generator):
            raise TypeError(f"generator must be a torch.Generator, got {type(generator).__name__}")
        features = self.frontend(images)
        if self.encoder is None:
            return RecognizerOutput(features, None, self.head(features))
        v4_spikes = self.encoder(features, generator)
        return RecognizerOutput(features, v4_spikes, self.head(v4_spikes))


def build_recognizer(
    head: str,
    *,
    in_channels: int,
    n_classes: int,
    encoder: str = "lif",
    n_steps: int = 25,
    integrator: str = "exact",
    surrogate: str = "fast_sigmoid",
    head_params: LIFParams | None = None,
) -> Recognizer:
    """Recogniser by head name.

    Raises
    ------
    ValueError
        For an unknown head, encoder, integrator or surrogate (with the valid names).
    """
    if head not in HEADS:
        raise ValueError(f"unknown head {head!r}; valid: {', '.join(HEADS)}")
    # torch's default initialisation draws from the global generator; keep the caller's
    # stream untouched (init_parameters redraws every weight from an explicit generator).
    with torch.random.fork_rng(devices=[]):
        return _build(
            head, in_channels, n_classes, encoder, n_steps, integrator, surrogate, head_params
        )


def _build(
    head: str,
    in_channels: int,
    n_classes: int,
    encoder: str,
    n_steps: int,
    integrator: str,
    surrogate: str,
    head_params: LIFParams | None,
) -> Recognizer:
    frontend = V4FrontEnd(in_channels)
    if head == "lif":
        params = DEFAULT_HEAD_PARAMS if head_params is None else head_params
        module: nn.Module = LIFHead(
            n_classes, params=params, integrator=integrator, surrogate=surrogate
        )
    elif head == "rate-softmax":
        module = RateSoftmaxHead(n_classes)
    else:
        module = AnalogSoftmaxHead(n_classes)
    spiking = getattr(module, "spiking_input", False)
    return Recognizer(frontend, module, make_encoder(encoder, n_steps) if spiking else None)


@torch.no_grad()
def init_parameters(model: nn.Module, generator: torch.Generator) -> None:
    """Re-initialise every convolution and linear layer from ``generator``.

    Same distributions as PyTorch's defaults (Kaiming-uniform weights with
    ``a = sqrt(5)``, biases uniform in ``+-1/sqrt(fan_in)``), but drawn from an
    explicit generator so that a seed reproduces a model.
    """
    for module in model.modules():
        if isinstance(module, (nn.Conv2d, nn.Linear)):
            nn.init.kaiming_uniform_(module.weight, a=math.sqrt(5), generator=generator)
            if module.bias is not None:
                fan_in = module.weight[0].numel()
                bound = 1.0 / math.sqrt(fan_in)
                nn.init.uniform_(module.bias, -bound, bound, generator=generator)

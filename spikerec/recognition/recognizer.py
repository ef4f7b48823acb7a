"""The whole recogniser: front end -> (encoder ->) head, built from a configuration."""

from __future__ import annotations

import math
from typing import NamedTuple

import torch
from torch import nn

from spikerec.errors import ParameterError, ParameterTypeError
from spikerec.lif.params import LIFParams
from spikerec.recognition.encoders import SpikeEncoder, make_encoder
from spikerec.recognition.frontend import V4FrontEnd
from spikerec.recognition.heads import HEADS, HeadOutput


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
        A head of :mod:`spikerec.recognition.heads`.
    encoder : SpikeEncoder, optional
        Required when the head takes spikes.

    Examples
    --------
    The classic CNN (analog head, no encoder) on 28 x 28 images:

    >>> from spikerec import AnalogSoftmaxHead, V4FrontEnd
    >>> model = Recognizer(V4FrontEnd(1), AnalogSoftmaxHead(10))
    >>> out = model(torch.rand(2, 1, 28, 28))
    >>> out.features.shape, out.v4_spikes, out.head.logits.shape
    (torch.Size([2, 3136]), None, torch.Size([2, 10]))
    """

    def __init__(
        self, frontend: V4FrontEnd, head: nn.Module, encoder: SpikeEncoder | None = None
    ) -> None:
        super().__init__()
        if getattr(head, "spiking_input", False) and encoder is None:
            raise ParameterError(f"head {type(head).__name__} takes spikes and needs an encoder")
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
            raise ParameterTypeError(
                f"generator must be a torch.Generator, got {type(generator).__name__}"
            )
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
    frontend_norm: str = "none",
    frontend_depth: int = 1,
    learn_tau: bool = False,
    learn_threshold: bool = False,
) -> Recognizer:
    """Recogniser by head name.

    Parameters
    ----------
    head : {"lif", "rate-softmax", "softmax"}
        The output head.
    in_channels : int
        Image channels, 1 or 3.
    n_classes : int
        Number of classes C.
    encoder : {"lif", "rate", "latency"}
        V4 spike encoder (spiking heads only).
    n_steps : int
        Time steps T of the V4 spike trains.
    integrator, surrogate : str
        Of the LIF head (see :func:`spikerec.get_integrator`, :func:`spikerec.get_surrogate`).
    head_params : LIFParams, optional
        Output-neuron parameters of the LIF head (default ``DEFAULT_HEAD_PARAMS``).
    frontend_norm : {"none", "batch"}
        Normalisation in the front end (see :class:`V4FrontEnd`).
    frontend_depth : {1, 2}
        Convolutions per block of the front end (see :class:`V4FrontEnd`).
    learn_tau, learn_threshold : bool
        Train a membrane time constant or a threshold per output neuron of the LIF
        head (see :class:`spikerec.LIF`); other heads ignore them.

    Raises
    ------
    ValueError
        For an unknown head, encoder, integrator or surrogate (with the valid names).

    Examples
    --------
    >>> model = build_recognizer("lif", in_channels=1, n_classes=10, n_steps=25)
    >>> out = model(torch.rand(2, 1, 8, 8))      # images [B, C, H, W]
    >>> out.v4_spikes.shape, out.head.spikes.shape, out.head.logits.shape
    (torch.Size([25, 2, 3136]), torch.Size([25, 2, 10]), torch.Size([2, 10]))
    """
    builder = HEADS.get(head)
    # torch's default initialisation draws from the global generator; keep the caller's
    # stream untouched (init_parameters redraws every weight from an explicit generator).
    with torch.random.fork_rng(devices=[]):
        frontend = V4FrontEnd(in_channels, norm=frontend_norm, depth=frontend_depth)
        module = builder(
            n_classes,
            params=head_params,
            integrator=integrator,
            surrogate=surrogate,
            learn_tau=learn_tau,
            learn_threshold=learn_threshold,
        )
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

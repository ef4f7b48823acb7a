"""Output-layer initialisation that makes the LIF output neurons fire from the first batch.

With PyTorch's default initialisation the synaptic weights of the 3136 -> C layer are
so small (``|w| <= 1/sqrt(3136)``) that a fresh output layer stays far below threshold
(on mnist5k: mean peak membrane 0.04 against ``v_th = 1``, every image silent). The
count loss then sees zero spike counts and reaches the weights only through the
surrogate derivative far from threshold. :func:`scale_to_fire` rescales the synapses
once, before training, so that output neurons cross threshold on a first batch.
"""

from __future__ import annotations

from collections.abc import Callable

import torch

from spikerec.errors import ParameterError
from spikerec.recognition.heads import LIFHead
from spikerec.recognition.recognizer import Recognizer
from spikerec.registry import Registry


@torch.no_grad()
def scale_to_fire(
    model: Recognizer,
    images: torch.Tensor,
    *,
    target: float = 1.0,
    generator: torch.Generator | None = None,
) -> float:
    """Scale the LIF head's synaptic weights and biases so that the mean peak membrane
    potential over ``images`` and output neurons is ``target`` times the threshold.

    Parameters
    ----------
    model : Recognizer
        With a :class:`~spikerec.recognition.heads.LIFHead`, freshly initialised.
    images : Tensor [B, C, H, W]
        A first batch of (normalised) training images.
    target : float
        Mean peak membrane over the batch, in units of ``v_th`` (> 0). At 1, about
        half of the output neurons reach threshold on a typical image.
    generator : torch.Generator, optional
        For a stochastic encoder (use one that the training run does not draw from).

    Returns
    -------
    float
        The factor applied to the weights and biases.

    Notes
    -----
    Below threshold the membrane is linear in the synaptic input ``W s[n] + b``
    (delta synapses, no reset yet), so scaling ``W`` and ``b`` by ``g`` scales the
    peak membrane of a silent layer by ``g``; the factor is
    ``g = target * v_th / mean(peak)``. Only the scale changes: the sign pattern and
    the relative sizes of the seed's weights are kept. Once neurons spike, their
    resets pull the measured peak below ``target * v_th`` (on mnist5k, 64 images:
    gain 25, mean peak 0.63, 36 % of the output neurons spike on an image, no
    image silent).

    Examples
    --------
    >>> from spikerec import build_recognizer
    >>> from spikerec.recognition.recognizer import init_parameters
    >>> model = build_recognizer("lif", in_channels=1, n_classes=10, n_steps=10)
    >>> init_parameters(model, torch.Generator().manual_seed(0))
    >>> images = torch.rand(32, 1, 28, 28)
    >>> gain = scale_to_fire(model, images)
    >>> spikes = model(images).head.spikes                 # [T, B, C]
    >>> gain > 1, bool((spikes.sum(dim=(0, 2)) > 0).all())  # every image makes spikes
    (True, True)
    """
    head = model.head
    if not isinstance(head, LIFHead):
        raise ParameterError(f"scale_to_fire needs a LIFHead, got {type(head).__name__}")
    if not (isinstance(target, (int, float)) and 0 < target < float("inf")):
        raise ParameterError(f"target={target!r} must be a finite number > 0")
    was_training = model.training
    model.eval()
    try:
        device = next(model.parameters()).device
        peak = model(images.to(device), generator).head.membrane.amax(dim=0).mean()
    finally:
        model.train(was_training)
    v_th = float(head.lif.params.v_th)
    if not bool(peak > 0):
        raise ParameterError(
            f"the output layer's mean peak membrane on the first batch is {float(peak):.3g}, "
            "not > 0; it cannot be scaled to fire"
        )
    gain = target * v_th / float(peak)
    head.synapses.weight.mul_(gain)
    if head.synapses.bias is not None:
        head.synapses.bias.mul_(gain)
    return gain


#: Initialisations of a fresh LIF head after the seed's, by name: ``default`` leaves
#: it as drawn (``None``: nothing to do), ``fire`` is :func:`scale_to_fire`.
OUTPUT_INITS: Registry[Callable[..., float] | None] = Registry(
    "output_init", [("default", None), ("fire", scale_to_fire)]
)

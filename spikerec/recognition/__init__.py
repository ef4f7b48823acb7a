"""The recogniser: CNN front end -> 3136 V4 units -> V4 spikes -> head -> decoded class.

- :mod:`~spikerec.recognition.frontend`: :class:`V4FrontEnd`, images to V4 features;
- :mod:`~spikerec.recognition.encoders`: V4 features to spike trains ``[T, B, 3136]``;
- :mod:`~spikerec.recognition.heads`: the LIF output layer and the softmax heads;
- :mod:`~spikerec.recognition.decoders`: spikes and membranes to a class;
- :mod:`~spikerec.recognition.recognizer`: :class:`Recognizer`, all of it in one module.
"""

from spikerec.recognition.decoders import DECODERS, Decoded, decode
from spikerec.recognition.encoders import (
    ENCODERS,
    LatencyEncoder,
    LIFPopulationEncoder,
    RateEncoder,
    make_encoder,
)
from spikerec.recognition.frontend import V4FrontEnd
from spikerec.recognition.heads import AnalogSoftmaxHead, LIFHead, RateSoftmaxHead
from spikerec.recognition.recognizer import HEADS, Recognizer, RecognizerOutput, build_recognizer

__all__ = [
    "DECODERS",
    "ENCODERS",
    "HEADS",
    "AnalogSoftmaxHead",
    "Decoded",
    "LIFHead",
    "LIFPopulationEncoder",
    "LatencyEncoder",
    "RateEncoder",
    "RateSoftmaxHead",
    "Recognizer",
    "RecognizerOutput",
    "V4FrontEnd",
    "build_recognizer",
    "decode",
    "make_encoder",
]

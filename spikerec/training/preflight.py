"""Checks of a training or evaluation run against its data and the machine, made before a
run folder exists: images the front end can take, memory the run will need.

The memory model counts what dominates a recogniser's step: the spiking part keeps
``[T, B, 3136]`` float32 tensors per V4 unit for back-propagation through time
(measured: 4 to 7 of them; counted as :data:`TRAIN_TENSORS_PER_STEP`), evaluation
keeps about 3 (:data:`EVAL_TENSORS_PER_STEP`) over batches of
:data:`EVAL_BATCH_SIZE` images, and the CNN front end about
:data:`FRONT_END_MAPS_PER_PIXEL` float32 maps per pixel of an image upsampled to at
least 28 x 28. It is an estimate meant to refuse runs that cannot fit (``--n-steps
100000000``, huge images), not to predict use to the byte.
"""

from __future__ import annotations

from typing import Any, cast

from spikerec.errors import DatasetError
from spikerec.recognition.frontend import V4_UNITS
from spikerec.resources import check_memory
from spikerec.training.config import TrainConfig

#: Smallest image side the CNN front end takes (:class:`spikerec.recognition.frontend.V4FrontEnd`).
MIN_IMAGE_SIDE = 4
#: float32 ``[T, B, 3136]`` tensors a training step keeps per image and time step.
TRAIN_TENSORS_PER_STEP = 8
#: float32 ``[T, B, 3136]`` tensors an evaluation batch keeps per image and time step.
EVAL_TENSORS_PER_STEP = 3
#: float32 values per (upsampled) pixel the front end keeps per image (input, 2 convolution
#: blocks, their activations and poolings), rounded up; as many again per extra
#: convolution of each block (``frontend_depth``).
FRONT_END_MAPS_PER_PIXEL = 120
#: Images per forward pass of :func:`spikerec.training.loop.evaluate` (its default).
EVAL_BATCH_SIZE = 256
_FLOAT32 = 4


def check_image_size(image_shape: Any, *, data: str) -> None:
    """Refuse images the CNN front end cannot take (under 4 x 4 pixels).

    Examples
    --------
    >>> check_image_size((1, 3, 3), data="idx:tiny")
    Traceback (most recent call last):
    ...
    spikerec.errors.DatasetError: dataset 'idx:tiny' has images of 3 x 3 pixels; the CNN front \
end needs at least 4 x 4
    """
    _, h, w = (int(v) for v in image_shape)
    if h < MIN_IMAGE_SIDE or w < MIN_IMAGE_SIDE:
        raise DatasetError(
            f"dataset {data!r} has images of {h} x {w} pixels; the CNN front end needs at "
            f"least {MIN_IMAGE_SIDE} x {MIN_IMAGE_SIDE}"
        )


def _front_end_bytes(config: TrainConfig, image_shape: Any) -> float:
    c, h, w = (int(v) for v in image_shape)
    maps = FRONT_END_MAPS_PER_PIXEL * cast(int, config.resolved().frontend_depth)
    return float(c + maps) * max(h, 28) * max(w, 28) * _FLOAT32


def spiking_step_bytes(config: TrainConfig) -> float:
    """Bytes of one ``[T, 1, 3136]`` float32 tensor of the spiking part (0 for ``softmax``)."""
    if config.head == "softmax":
        return 0.0
    return float(config.n_steps) * V4_UNITS * _FLOAT32


def training_bytes(config: TrainConfig, image_shape: Any) -> float:
    """Estimated peak bytes of a training run beyond its loaded data.

    The larger of a training step (``batch_size`` images, with gradients) and an
    evaluation batch (:data:`EVAL_BATCH_SIZE` images).

    Examples
    --------
    >>> from spikerec.resources import format_bytes
    >>> format_bytes(training_bytes(TrainConfig(n_steps=25, batch_size=64), (1, 8, 8)))
    '322 MiB'
    """
    step = spiking_step_bytes(config)
    front = _front_end_bytes(config, image_shape)
    train = config.batch_size * (TRAIN_TENSORS_PER_STEP * step + 2 * front)
    return max(train, evaluation_bytes(config, image_shape))


def evaluation_bytes(config: TrainConfig, image_shape: Any) -> float:
    """Estimated peak bytes of scoring a model in batches of :data:`EVAL_BATCH_SIZE`."""
    return EVAL_BATCH_SIZE * (
        EVAL_TENSORS_PER_STEP * spiking_step_bytes(config) + _front_end_bytes(config, image_shape)
    )


def _sizes(config: TrainConfig, image_shape: Any) -> str:
    c, h, w = (int(v) for v in image_shape)
    spiking = f"{config.n_steps} steps x " if config.head != "softmax" else ""
    return f"{spiking}batch {config.batch_size}, {c} x {h} x {w} images"


def check_training_run(config: TrainConfig, dataset: Any, *, available: int | None = None) -> None:
    """Everything about a training run that can fail for its size, checked up front.

    Call it after loading the data and before creating the run folder (and when a
    run is resumed, with the checkpoint's config).

    Parameters
    ----------
    config : TrainConfig
    dataset : DatasetSplits
        Only ``name`` and ``image_shape`` are read.
    available : int, optional
        Bytes of memory available (default: read from the system).

    Raises
    ------
    DatasetError
        Images under 4 x 4 pixels (spiking and softmax heads alike: the CNN front end).
    ResourceError
        The run would need more memory than available; the message names the flags
        to lower.

    Examples
    --------
    >>> from spikerec.data.loading import load_dataset
    >>> digits = load_dataset("digits", seed=0)
    >>> check_training_run(TrainConfig(n_steps=100_000_000), digits)
    Traceback (most recent call last):
    ...
    spikerec.errors.ResourceError: training (100000000 steps x batch 64, 1 x 8 x 8 images) \
needs about ... of memory but about ... is available; lower --n-steps or --batch-size
    """
    check_image_size(dataset.image_shape, data=dataset.name)
    lower = "--batch-size" if config.head == "softmax" else "--n-steps or --batch-size"
    check_memory(
        training_bytes(config, dataset.image_shape),
        what=f"training ({_sizes(config, dataset.image_shape)})",
        lower=lower,
        available=available,
    )


def check_evaluation_run(
    config: TrainConfig, image_shape: Any, *, data: str, available: int | None = None
) -> None:
    """The size checks of :func:`check_training_run` for scoring or tracing a checkpoint
    (its config may ask for sizes this machine cannot hold).

    Raises
    ------
    DatasetError, ResourceError
        As :func:`check_training_run`; the message of a too large model names the
        checkpoint's settings.
    """
    check_image_size(image_shape, data=data)
    check_memory(
        evaluation_bytes(config, image_shape),
        what=f"scoring this checkpoint ({config.n_steps} steps x batch {EVAL_BATCH_SIZE})",
        lower="the checkpoint's n_steps (it was trained for more steps than this machine can hold)",
        available=available,
    )

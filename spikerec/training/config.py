"""What defines a training run: :class:`TrainConfig`, the named losses, optimizers and
schedules it chooses from, the model it describes and the dataset splits it loads."""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass, fields, replace
from typing import Any, cast

import torch

from spikerec.data.loading import DatasetSplits, load_dataset
from spikerec.data.transforms import augment_normalized, distort_normalized
from spikerec.errors import ParameterError
from spikerec.lif.integrators import INTEGRATORS, get_integrator
from spikerec.lif.params import RESET_MODES, LIFParams, ResetMode
from spikerec.lif.surrogates import SURROGATES
from spikerec.recognition.decoders import DECODERS
from spikerec.recognition.encoders import ENCODERS
from spikerec.recognition.frontend import FRONTEND_DEPTHS, FRONTEND_NORMS
from spikerec.recognition.heads import HEADS, HeadOutput
from spikerec.recognition.recognizer import Recognizer, build_recognizer
from spikerec.registry import Registry
from spikerec.training.epochs import check_patience
from spikerec.training.output_init import OUTPUT_INITS
from spikerec.training.recipes import recipe_for
from spikerec.training.weight_average import WEIGHT_AVERAGES
from spikerec.validation import check_finite, check_integer, fits_float32

# Fields the run computes with in float32: refused where they overflow there.
_FLOAT32_FIELDS = (
    "tau_mem_ms",
    "v_th",
    "lr",
    "momentum",
    "weight_decay",
    "rate_reg",
    "rate_target",
)


#: Online augmentations of each training mini-batch by name: ``(normalised images,
#: mean, std, generator=) -> moved images``; ``none`` (``None``) trains on them as they are.
ONLINE_AUGMENTS: Registry[Callable[..., torch.Tensor] | None] = Registry(
    "online_augment",
    [("none", None), ("affine", augment_normalized), ("distort", distort_normalized)],
)

LEGACY_DEFAULTS: dict[str, Any] = {
    "frontend_norm": "none",
    "frontend_depth": 1,
    "online_augment": "none",
    "label_smoothing": 0.0,
    "output_init": "default",
    "reset": "subtract",
    "learn_tau": False,
    "learn_threshold": False,
    "weight_average": "none",
}
"""Values of fields added later, for configs stored before they existed: the old behaviour."""


#: Training losses by name: each maps a head's output to the class scores ``[B, C]``
#: that the cross-entropy is taken of. ``count``: the output spike counts (the
#: logits of every head); ``membrane``: the peak output membrane potentials (LIF head).
def _spiking(tensor: torch.Tensor | None, what: str) -> torch.Tensor:
    """A spiking head's ``what``; analog heads have none (the loss needs one)."""
    if tensor is None:
        raise ParameterError(f"the {what} loss needs a spiking head (lif or rate-softmax)")
    return tensor


LOSSES: Registry[Callable[[HeadOutput], torch.Tensor]] = Registry(
    "loss",
    [
        ("count", lambda head: head.logits),
        ("membrane", lambda head: _spiking(head.membrane, "membrane").amax(dim=0)),
    ],
)

#: Optimizers by name: ``OPTIMIZERS.get(name)(parameters, config)``.
OPTIMIZERS: Registry[Callable[[Iterable[torch.nn.Parameter], Any], torch.optim.Optimizer]] = (
    Registry(
        "optimizer",
        [
            (
                "adam",
                lambda params, config: torch.optim.Adam(
                    params, lr=config.lr, weight_decay=config.weight_decay
                ),
            ),
            (
                "sgd",
                lambda params, config: torch.optim.SGD(
                    params, lr=config.lr, momentum=config.momentum, weight_decay=config.weight_decay
                ),
            ),
        ],
    )
)

#: Learning-rate schedules over ``config.epochs`` by name:
#: ``SCHEDULES.get(name)(optimizer, config)``. ``cosine`` anneals to 0, ``step``
#: multiplies by 0.3 every third of the epochs, ``none`` keeps the rate.
SCHEDULES: Registry[Callable[[torch.optim.Optimizer, Any], Any]] = Registry(
    "schedule",
    [
        (
            "cosine",
            lambda optimizer, config: torch.optim.lr_scheduler.CosineAnnealingLR(
                optimizer, T_max=config.epochs
            ),
        ),
        (
            "step",
            lambda optimizer, config: torch.optim.lr_scheduler.StepLR(
                optimizer, step_size=max(1, config.epochs // 3), gamma=0.3
            ),
        ),
        ("none", lambda optimizer, config: torch.optim.lr_scheduler.LambdaLR(optimizer, _one)),
    ],
)


def _one(epoch: int) -> float:
    return 1.0


@dataclass(frozen=True)
class TrainConfig:
    """Everything that defines a training run (JSON-serialisable).

    Attributes
    ----------
    data : str
        Dataset name (see :func:`spikerec.data.loading.load_dataset`).
    head : {"lif", "rate-softmax", "softmax"}
    encoder : {"rate", "latency", "lif"}
        V4 spike encoder (spiking heads only).
    n_steps : int
        Time steps T of the spiking part.
    integrator, surrogate : str
        Of the LIF output neurons.
    tau_mem_ms, v_th, reset
        Output-neuron parameters; ``dt_ms`` is 1 ms and ``r_m`` is 1, so a synaptic
        weight w makes the membrane jump by ``w / tau_mem_ms``. ``reset="zero"``
        (default) is what NIR, snntorch's and norse's NIR readers express, so a head
        trained with the defaults exports (:func:`spikerec.interop.export_nir`);
        ``"subtract"`` scored 0.5 points more on ``mnist5k`` (docs/accuracy.md) and
        does not export.
    loss : {"count", "membrane"}
        Cross-entropy on output spike counts, or on the peak output membrane
        potentials, through a softmax (LIF head).
    decoder : {"count", "max-membrane", "first-spike"}
        How the LIF head's output becomes a class for accuracy.
    rate_reg, rate_target : float
        Weight of ``(mean output spikes per step - rate_target)^2`` in the loss.
    optimizer : {"adam", "sgd"}
        SGD uses ``momentum``.
    lr, momentum, weight_decay : float
        ``lr`` 4e-3 by default (2e-3 before the front end had BatchNorm).
    schedule : {"cosine", "step", "none"}
        Learning-rate schedule over ``epochs``.
    batch_size : int
    epochs : int or None
        At most this many epochs. ``None`` (default), as for ``patience``,
        ``frontend_depth`` and ``online_augment``: the value of the dataset's recipe
        (:mod:`spikerec.training.recipes`: 8 epochs, or 30 for ``mnist5k``), filled
        in when the run starts (:meth:`resolved`).
    patience : int or None
        Early stopping: stop after ``patience`` epochs in a row without a better
        validation accuracy; 0 never stops early (:mod:`spikerec.training.epochs`).
        ``None``: the recipe's (3, or 0 for ``mnist5k``).
    seed : int
        Seeds the splits, the initialisation, shuffling and stochastic encoders.
    val_fraction, test_fraction : float
        Split sizes for datasets without an official test split.
    data_root : str or None
        Folder of downloaded datasets.
    frontend_norm : {"none", "batch"}
        Normalisation in the CNN front end (:class:`spikerec.recognition.frontend.V4FrontEnd`).
        ``"batch"`` (default): with it and ``lr=4e-3`` the LIF head scored 97.70 %
        on ``mnist5k`` against 97.23 % before (3 seeds, docs/accuracy.md); its
        statistics are recomputed with each epoch's weights before validation
        (:mod:`spikerec.training.batch_norm`).
    frontend_depth : {1, 2} or None
        Convolutions per block of the front end (:class:`spikerec.recognition.frontend.V4FrontEnd`);
        ``None``: the recipe's (1, or 2 for ``mnist5k``).
    online_augment : {"none", "affine", "distort"} or None
        ``"affine"``: every training mini-batch is shifted and rotated afresh
        (:func:`spikerec.data.transforms.random_affine`, +-10 % of the side, +-10 deg),
        drawn from the run's generator; validation and test images are untouched.
        ``"distort"`` also scales and bends them
        (:func:`spikerec.data.transforms.random_distortion`). ``None``: the recipe's
        (``"affine"``, or ``"distort"`` for ``mnist5k``).
    label_smoothing : float
        In [0, 1): label smoothing of the cross-entropy (default 0.1).
    output_init : {"default", "fire"}
        ``"fire"``: after the seed's initialisation the LIF head's synapses are scaled
        so that its output neurons reach threshold on the first training images
        (:func:`spikerec.training.output_init.scale_to_fire`); other heads ignore it.
    learn_tau, learn_threshold : bool
        Train a membrane time constant (``tau_mem_ms`` to start) or a threshold
        (``v_th`` to start) per output neuron of the LIF head, with the weights
        (:class:`spikerec.LIF`); other heads ignore them. Default off.
    weight_average : {"none", "ema"}
        ``"ema"``: validate and keep an exponential moving average of the weights
        (half-life one epoch, :mod:`spikerec.training.weight_average`) instead of
        the live weights. Default ``"none"``.

    Its defaults are the one set of defaults of the project: ``spikerec train`` and
    the neural entries of ``spikerec compare``
    (:class:`spikerec.compare.config.CompareConfig` ``.train``) both start from
    ``TrainConfig()``, so for the same seed and data they train the same model
    (docs/accuracy.md measures them). Fields added after the first release are
    filled, when a stored config lacks them, with the value that reproduces the
    model and training of that release (:data:`LEGACY_DEFAULTS`), so old
    checkpoints and run folders still load and resume as they were.

    Examples
    --------
    >>> config = TrainConfig(data="synthetic", head="lif", n_steps=5, epochs=1)
    >>> config.resolved().patience, TrainConfig(data="mnist5k").resolved().epochs
    (3, 30)
    >>> config.head_params()
    LIFParams(tau_mem_ms=10.0, dt_ms=1.0, ...)
    >>> TrainConfig(head="svm")
    Traceback (most recent call last):
    ...
    spikerec.errors.ParameterError: unknown head 'svm'; valid: lif, rate-softmax, softmax
    """

    data: str = "digits"
    head: str = "lif"
    encoder: str = "lif"
    n_steps: int = 25
    integrator: str = "exact"
    surrogate: str = "fast_sigmoid"
    tau_mem_ms: float = 10.0
    v_th: float = 1.0
    reset: str = "zero"
    loss: str = "count"
    decoder: str = "count"
    rate_reg: float = 0.0
    rate_target: float = 0.2
    optimizer: str = "adam"
    lr: float = 4e-3
    momentum: float = 0.9
    weight_decay: float = 0.0
    schedule: str = "cosine"
    batch_size: int = 64
    epochs: int | None = None
    patience: int | None = None
    seed: int = 0
    val_fraction: float = 0.1
    test_fraction: float = 0.2
    data_root: str | None = None
    frontend_norm: str = "batch"
    frontend_depth: int | None = None
    online_augment: str | None = None
    label_smoothing: float = 0.1
    output_init: str = "default"
    learn_tau: bool = False
    learn_threshold: bool = False
    weight_average: str = "none"

    def __post_init__(self) -> None:
        HEADS.get(self.head)
        ENCODERS.get(self.encoder)
        INTEGRATORS.get(self.integrator)
        SURROGATES.get(self.surrogate)
        if self.reset not in RESET_MODES:
            raise ParameterError(f"unknown reset {self.reset!r}; valid: {', '.join(RESET_MODES)}")
        LOSSES.get(self.loss)
        DECODERS.get(self.decoder)
        OPTIMIZERS.get(self.optimizer)
        SCHEDULES.get(self.schedule)
        FRONTEND_NORMS.get(self.frontend_norm)
        if self.online_augment is not None:
            ONLINE_AUGMENTS.get(self.online_augment)
        depth = self.frontend_depth
        if depth is not None and (isinstance(depth, bool) or depth not in FRONTEND_DEPTHS):
            raise ParameterError(
                f"frontend_depth={depth!r} must be one of {', '.join(map(str, FRONTEND_DEPTHS))}"
            )
        OUTPUT_INITS.get(self.output_init)
        WEIGHT_AVERAGES.get(self.weight_average)
        smoothing = self.label_smoothing
        if (
            isinstance(smoothing, bool)
            or not isinstance(smoothing, (int, float))
            or not (math.isfinite(smoothing) and 0 <= smoothing < 1)
        ):
            raise ParameterError(f"label_smoothing={smoothing!r} must be a number in [0, 1)")
        for name in ("learn_tau", "learn_threshold"):
            if not isinstance(getattr(self, name), bool):
                raise ParameterError(f"{name}={getattr(self, name)!r} must be true or false")
        for name in ("n_steps", "batch_size"):
            check_integer(name, getattr(self, name))
        if self.epochs is not None:  # None: the recipe's
            check_integer("epochs", self.epochs)
        if self.patience is not None:
            check_patience(self.patience)
        check_integer("seed", self.seed, minimum=0)
        for name in ("lr", "tau_mem_ms"):
            check_finite(name, getattr(self, name))
        for name in ("momentum", "weight_decay", "rate_reg", "rate_target"):
            check_finite(name, getattr(self, name), allow_zero=True)
        # Validates tau_mem_ms, v_th and reset together, and the integrator against them.
        get_integrator(self.integrator).validate(self.head_params())
        for name in _FLOAT32_FIELDS:  # run in float32: refuse what overflows there
            fits_float32(name, getattr(self, name), reciprocal=name == "tau_mem_ms")

    def resolved(self) -> TrainConfig:
        """This config with every field left at ``None`` set from the dataset's recipe.

        The fields a recipe sets (:data:`spikerec.training.recipes.BASE_RECIPE`) are
        ``None`` by default so that one set of defaults fits each dataset: a run
        resolves its config once when it starts and stores the resolved one.
        """
        missing = {
            name: value
            for name, value in recipe_for(self.data).items()
            if getattr(self, name) is None
        }
        return replace(self, **missing) if missing else self

    def head_params(self) -> LIFParams:
        """Parameters of the output LIF neurons."""
        return LIFParams(
            tau_mem_ms=self.tau_mem_ms,
            dt_ms=1.0,
            r_m=1.0,
            v_th=self.v_th,
            reset=cast(ResetMode, self.reset),
        )

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> TrainConfig:
        """Config from a dict such as ``asdict(config)``; unknown keys are an error.

        A field the dict lacks takes its :data:`LEGACY_DEFAULTS` value if it has one
        (a config stored before the field existed), else the current default.
        """
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise ParameterError(f"unknown config field(s): {', '.join(unknown)}")
        legacy = {k: v for k, v in LEGACY_DEFAULTS.items() if k not in values}
        return cls(**legacy, **values)


def build_model(config: TrainConfig, *, in_channels: int, n_classes: int) -> Recognizer:
    """The recogniser a config describes (parameters not yet initialised from the seed)."""
    config = config.resolved()
    return build_recognizer(
        config.head,
        in_channels=in_channels,
        n_classes=n_classes,
        encoder=config.encoder,
        n_steps=config.n_steps,
        integrator=config.integrator,
        surrogate=config.surrogate,
        head_params=config.head_params(),
        frontend_norm=config.frontend_norm,
        frontend_depth=cast(int, config.frontend_depth),
        learn_tau=config.learn_tau,
        learn_threshold=config.learn_threshold,
    )


def load_splits(
    config: TrainConfig,
    *,
    seed: int | None = None,
    data: str | None = None,
    data_root: str | None = None,
    download: bool = True,
) -> DatasetSplits:
    """The train / val / test splits a run of ``config`` trains and scores on.

    :func:`spikerec.data.loading.load_dataset` with the config's dataset, seed,
    folder and split fractions; ``seed``, ``data`` and ``data_root`` replace the
    config's own (a comparison loads one dataset for many seeds, ``spikerec
    evaluate`` may score on another dataset).

    Examples
    --------
    >>> ds = load_splits(TrainConfig(data="synthetic", val_fraction=0.2))
    >>> len(ds.train), len(ds.val), len(ds.test)
    (360, 120, 120)
    """
    return load_dataset(
        config.data if data is None else data,
        seed=config.seed if seed is None else seed,
        data_root=config.data_root if data_root is None else data_root,
        download=download,
        val_fraction=config.val_fraction,
        test_fraction=config.test_fraction,
    )

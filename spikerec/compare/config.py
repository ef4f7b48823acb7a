"""Settings of a comparison run, and the names of its entries (:mod:`spikerec.compare.entries`)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace

from spikerec.compare.baselines.augment import parse_augmentations
from spikerec.compare.baselines.fit import FitConfig
from spikerec.compare.baselines.gan import GANConfig
from spikerec.compare.baselines.rnn import CELLS
from spikerec.compare.entries import ENTRIES
from spikerec.data.loading import DatasetSplits
from spikerec.errors import ParameterError
from spikerec.training.config import TrainConfig, load_splits
from spikerec.validation import parse_name_list, real_number

# The entry names by kind, read off the entry objects (kept for code that imported them).
NEURAL_ENTRIES: tuple[str, ...] = tuple(n for n, e in ENTRIES.items() if e.kind == "neural")
SEQUENCE_ENTRIES: tuple[str, ...] = tuple(n for n, e in ENTRIES.items() if e.kind == "sequence")
SVM_ENTRIES: tuple[str, ...] = tuple(n for n, e in ENTRIES.items() if e.kind == "svm")
REUSES_MODEL_OF: dict[str, str] = {n: e.reuses for n, e in ENTRIES.items() if e.reuses}
# The entry every other is paired with in McNemar's test.
REFERENCE_ENTRY = "lif"
# Augmentations an augmented run is compared against (paired by seed).
AUGMENT_BASELINES: tuple[str, ...] = ("none", "classic")


def parse_entries(names: str | Sequence[str]) -> tuple[str, ...]:
    """Entry names from a comma-separated string or a sequence, validated, in given order.

    Raises
    ------
    ValueError
        For an unknown or repeated name; the message lists the valid names.
    """
    return parse_name_list(
        names, tuple(ENTRIES), noun="entry", plural="entries", none_given="entries"
    )


@dataclass(frozen=True)
class CompareConfig:
    """Settings of a comparison run.

    Attributes
    ----------
    data : str
        Dataset name or ``idx:PATH``.
    entries : tuple of str
        Entries to run (see :data:`ENTRIES`).
    seeds : tuple of int
        One complete run of every entry per seed.
    train : TrainConfig
        Training settings shared by the neural entries (``head``, ``data`` and
        ``seed`` are set per entry and seed). Default ``TrainConfig()``, the defaults
        of ``spikerec train``: a ``lif`` run of compare and ``spikerec train --head lif``
        train the same model for the same seed and data. Stored resolved for
        ``data``: fields left at ``None`` hold the data's recipe
        (:mod:`spikerec.training.recipes`).
    svm_max_train : int
        At most this many training images (stratified subsample) for the SVMs, whose
        cost grows quadratically; 0 means all.
    data_root : str or None
        Folder of downloaded datasets.
    sequence : FitConfig
        Training of ``rnn`` and ``cnn-rnn`` (Adam, cosine schedule, early stopping on
        the validation split; ``seed`` is set per seed).
    rnn_cell : {"gru", "lstm"}
    rnn_hidden : int
        Hidden units of the recurrent layer of ``rnn`` and ``cnn-rnn``.
    augment : tuple of str
        Augmentations of the training split, each a full run of every entry:
        ``none``, ``classic``, ``gan``.
    augment_ratio : float
        Images added per real training image (``classic``, ``gan``).
    train_fraction : float
        In (0, 1]: the stratified fraction of the training split kept, per seed,
        before augmentation (validation and test splits untouched).
    gan : GANConfig
        The conditional DCGAN of ``gan`` augmentation.

    Examples
    --------
    >>> config = CompareConfig(data="digits", entries="lif,softmax,svm-linear", seeds=(0, 1))
    >>> config.entries
    ('lif', 'softmax', 'svm-linear')
    >>> CompareConfig(entries="lif,knn")
    Traceback (most recent call last):
    ...
    spikerec.errors.ParameterError: unknown entry 'knn'; valid: ...
    """

    data: str = "digits"
    entries: tuple[str, ...] = tuple(ENTRIES)
    seeds: tuple[int, ...] = (0, 1, 2)
    train: TrainConfig = field(default_factory=TrainConfig)
    svm_max_train: int = 5000
    data_root: str | None = None
    sequence: FitConfig = field(default_factory=lambda: FitConfig(epochs=15, patience=3, lr=5e-3))
    rnn_cell: str = "gru"
    rnn_hidden: int = 128
    augment: tuple[str, ...] = ("none",)
    augment_ratio: float = 1.0
    train_fraction: float = 1.0
    gan: GANConfig = field(default_factory=GANConfig)

    def __post_init__(self) -> None:
        object.__setattr__(self, "entries", parse_entries(self.entries))
        if not isinstance(self.train, TrainConfig):
            raise ParameterError(f"train must be a TrainConfig, got {type(self.train).__name__}")
        # The entries train on this data: its recipe fills what train leaves unset, and
        # compare_config.json records the values that run.
        object.__setattr__(self, "train", replace(self.train, data=self.data).resolved())
        object.__setattr__(self, "augment", parse_augmentations(self.augment))
        fraction = real_number("train_fraction", self.train_fraction)
        if not 0.0 < fraction <= 1.0:
            raise ParameterError(f"train_fraction={self.train_fraction!r} must be in (0, 1]")
        ratio = real_number("augment_ratio", self.augment_ratio)
        if not ratio > 0.0:
            raise ParameterError(f"augment_ratio={self.augment_ratio!r} must be > 0")
        if self.rnn_cell not in CELLS:
            raise ParameterError(f"unknown rnn_cell {self.rnn_cell!r}; valid: {', '.join(CELLS)}")
        if isinstance(self.rnn_hidden, bool) or not isinstance(self.rnn_hidden, int):
            raise ParameterError(f"rnn_hidden={self.rnn_hidden!r} must be a positive integer")
        if self.rnn_hidden < 1:
            raise ParameterError(f"rnn_hidden={self.rnn_hidden!r} must be a positive integer")
        if not self.seeds or len(set(self.seeds)) != len(self.seeds):
            raise ParameterError(f"seeds={self.seeds!r} must be distinct and not empty")
        for seed in self.seeds:
            if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
                raise ParameterError(f"seed {seed!r} must be an integer >= 0")
        if self.svm_max_train < 0:
            raise ParameterError(f"svm_max_train={self.svm_max_train!r} must be >= 0")

    def load_splits(self, seed: int) -> DatasetSplits:
        """The splits of ``seed`` as loaded (before ``train_fraction`` and augmentation).

        The dataset ``data`` from ``data_root`` with the split fractions of ``train``
        (:func:`spikerec.training.config.load_splits`).
        """
        return load_splits(self.train, seed=seed, data=self.data, data_root=self.data_root)

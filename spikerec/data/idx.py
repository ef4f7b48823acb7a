"""Reader and writer for IDX files, the binary format of the MNIST family.

An IDX file is a big-endian header followed by the raw array:

=========  ====================================================================
bytes      meaning
=========  ====================================================================
0-1        two zero bytes
2          type code: 0x08 ubyte, 0x09 sbyte, 0x0B int16, 0x0C int32,
           0x0D float32, 0x0E float64
3          number of dimensions ``ndim``
4..        ``ndim`` unsigned 32-bit dimension sizes
then       ``prod(sizes)`` values of the type, row-major, big-endian
=========  ====================================================================

MNIST images are 3-D ubyte files (magic number ``0x00000803``: ``[N, H, W]``),
labels are 1-D ubyte files (magic number ``0x00000801``: ``[N]``). Files may be
gzipped; gzip data is recognised by its own magic bytes, whatever the file name.

Everything here is plain NumPy: no pickle, no torch. Every problem with a file
raises :class:`spikerec.data.loading.DatasetError` with one line naming the file and what
is wrong.
"""

from __future__ import annotations

import gzip
import os
import zlib
from pathlib import Path

import numpy as np
import numpy.typing as npt

from spikerec.errors import DatasetError, ParameterError

__all__ = ["IDX_TYPES", "read_idx", "write_idx"]

#: IDX type code -> big-endian NumPy dtype.
IDX_TYPES: dict[int, np.dtype] = {
    0x08: np.dtype(">u1"),
    0x09: np.dtype(">i1"),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}
_TYPE_NAMES: dict[int, str] = {
    0x08: "ubyte",
    0x09: "sbyte",
    0x0B: "int16",
    0x0C: "int32",
    0x0D: "float32",
    0x0E: "float64",
}
_GZIP_MAGIC = b"\x1f\x8b"


def _type_code(dtype: npt.DTypeLike) -> int:
    """Return the IDX type code of ``dtype`` (any byte order), or raise ``ValueError``."""
    wanted = np.dtype(dtype).newbyteorder(">")
    for code, idx_dtype in IDX_TYPES.items():
        if idx_dtype == wanted:
            return code
    valid = ", ".join(str(d.newbyteorder("=")) for d in IDX_TYPES.values())
    raise ParameterError(f"dtype {np.dtype(dtype)} has no IDX type code; valid: {valid}")


def _describe(code: int, ndim: int) -> str:
    name = _TYPE_NAMES.get(code, f"unknown type 0x{code:02X}")
    return f"{ndim}-D {name}"


def read_idx(
    path: str | os.PathLike[str],
    *,
    ndim: int | None = None,
    dtype: npt.DTypeLike | None = None,
) -> np.ndarray:
    """Read an IDX file (raw or gzipped) into a NumPy array.

    Parameters
    ----------
    path : str or os.PathLike
        The file. Gzip compression is detected from the content, not the name.
    ndim : int, optional
        Required number of dimensions (3 for MNIST images, 1 for labels).
    dtype : dtype-like, optional
        Required element type (``np.uint8`` for MNIST).

    Returns
    -------
    numpy.ndarray
        The array with the shape stored in the header, e.g. ``[N, H, W]`` uint8 for
        MNIST images or ``[N]`` uint8 for labels, in native byte order, writable.

    Raises
    ------
    DatasetError
        One line naming the file and the problem: missing or empty file, corrupt
        gzip data, a magic number that is not ``00 00 TT NN``, an unknown type code,
        a truncated header, data shorter or longer than the header promises, or a
        type/number of dimensions other than the required ones.

    Examples
    --------
    >>> import tempfile, numpy as np
    >>> with tempfile.TemporaryDirectory() as tmp:
    ...     p = write_idx(f"{tmp}/labels-idx1-ubyte.gz", np.array([3, 1, 4], dtype=np.uint8))
    ...     read_idx(p, ndim=1, dtype=np.uint8)
    array([3, 1, 4], dtype=uint8)
    """
    path = Path(path)
    if not path.is_file():
        raise DatasetError(f"IDX file {path} not found")
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise DatasetError(f"IDX file {path}: cannot read: {exc}") from None
    if data[:2] == _GZIP_MAGIC:
        try:
            data = gzip.decompress(data)
        except (OSError, EOFError, zlib.error) as exc:
            raise DatasetError(f"IDX file {path}: corrupt gzip data: {exc}") from None
    if len(data) == 0:
        raise DatasetError(f"IDX file {path} is empty (expected a 4-byte magic number)")
    if len(data) < 4:
        raise DatasetError(
            f"IDX file {path}: truncated header: {len(data)} bytes, "
            "expected at least a 4-byte magic number"
        )

    magic = int.from_bytes(data[:4], "big")
    code, n_dims = data[2], data[3]
    if data[0] != 0 or data[1] != 0:
        raise DatasetError(
            f"IDX file {path}: bad magic number 0x{magic:08X}: an IDX file starts with "
            "two zero bytes, a type code and the number of dimensions (MNIST images "
            "0x00000803, labels 0x00000801)"
        )
    if code not in IDX_TYPES:
        valid = ", ".join(f"0x{c:02X} {n}" for c, n in _TYPE_NAMES.items())
        raise DatasetError(
            f"IDX file {path}: magic number 0x{magic:08X} has unknown type code "
            f"0x{code:02X}; valid: {valid}"
        )
    if n_dims == 0:
        raise DatasetError(f"IDX file {path}: magic number 0x{magic:08X} declares 0 dimensions")

    required_code = None if dtype is None else _type_code(dtype)
    if (ndim is not None and n_dims != ndim) or (
        required_code is not None and code != required_code
    ):
        want_code = code if required_code is None else required_code
        want_ndim = n_dims if ndim is None else ndim
        raise DatasetError(
            f"IDX file {path}: wrong magic number 0x{magic:08X} ({_describe(code, n_dims)}); "
            f"expected 0x{want_code << 8 | want_ndim:08X} ({_describe(want_code, want_ndim)})"
        )

    header_len = 4 + 4 * n_dims
    if len(data) < header_len:
        raise DatasetError(
            f"IDX file {path}: truncated header: {len(data)} bytes, expected {header_len} "
            f"for {n_dims} dimension sizes"
        )
    shape = tuple(int.from_bytes(data[4 + 4 * i : 8 + 4 * i], "big") for i in range(n_dims))
    item_dtype = IDX_TYPES[code]
    expected = int(np.prod(shape, dtype=np.int64)) * item_dtype.itemsize
    found = len(data) - header_len
    if found < expected:
        raise DatasetError(
            f"IDX file {path}: truncated data: shape {shape} needs {expected} bytes "
            f"after the header, found {found}"
        )
    if found > expected:
        raise DatasetError(
            f"IDX file {path}: {found - expected} unexpected bytes after the data "
            f"(shape {shape} needs {expected} bytes after the header, found {found})"
        )
    array = np.frombuffer(data, dtype=item_dtype, offset=header_len).reshape(shape)
    return array.astype(item_dtype.newbyteorder("="))  # a writable, native-order copy


def write_idx(path: str | os.PathLike[str], array: npt.ArrayLike) -> Path:
    """Write ``array`` as an IDX file, gzipped if ``path`` ends with ``.gz``.

    Parameters
    ----------
    path : str or os.PathLike
        Destination file; its folder must exist.
    array : array-like
        At least 1-D, of dtype uint8, int8, int16, int32, float32 or float64; each
        dimension below 2**32.

    Returns
    -------
    pathlib.Path
        ``path``.

    Raises
    ------
    ValueError
        If the array is 0-D, too large per dimension, or of a dtype IDX cannot store.
    """
    arr = np.asarray(array)
    if arr.ndim == 0 or arr.ndim > 255:
        raise ParameterError(f"array must have 1 to 255 dimensions, got {arr.ndim}")
    if any(size >= 2**32 for size in arr.shape):
        raise ParameterError(f"array shape {arr.shape} has a dimension of 2**32 or more")
    code = _type_code(arr.dtype)
    header = bytes([0, 0, code, arr.ndim]) + b"".join(
        int(size).to_bytes(4, "big") for size in arr.shape
    )
    payload = header + np.ascontiguousarray(arr, dtype=IDX_TYPES[code]).tobytes()
    path = Path(path)
    if path.suffix == ".gz":
        payload = gzip.compress(payload, mtime=0)
    path.write_bytes(payload)
    return path

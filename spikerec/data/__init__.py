"""Datasets by name, as seeded train/validation/test splits of ``float32 [N, C, H, W]`` images.

- :mod:`~spikerec.data.loading`: :func:`load_dataset`, the names it knows
  (:data:`DATASETS`), the embedded, torchvision and IDX sets;
- :mod:`~spikerec.data.splits`: the stratified, seeded splits and subsamples;
- :mod:`~spikerec.data.idx`: reading and writing MNIST's IDX files.
"""

from spikerec.data.idx import read_idx, write_idx
from spikerec.data.loading import (
    DATASETS,
    IDX_PREFIX,
    MNIST_FILES,
    DatasetSplits,
    Split,
    default_data_root,
    load_dataset,
)
from spikerec.errors import DatasetError

__all__ = [
    "DATASETS",
    "IDX_PREFIX",
    "MNIST_FILES",
    "DatasetError",
    "DatasetSplits",
    "Split",
    "default_data_root",
    "load_dataset",
    "read_idx",
    "write_idx",
]

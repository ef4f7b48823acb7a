"""A trained recogniser from its checkpoint, and the data it can be scored on.

:func:`load_model` is how to get a model out of a run of ``spikerec train`` (for
evaluation in your own code, plotting, or export with :mod:`spikerec.interop`);
:func:`matching_dataset` loads a dataset and checks that the model can read it.
"""

from __future__ import annotations

import os
from typing import Any, NamedTuple

from spikerec.data.fingerprint import check_model_data, with_normalisation
from spikerec.data.loading import DatasetSplits, Split
from spikerec.errors import CheckpointError, ParameterError
from spikerec.recognition.recognizer import Recognizer
from spikerec.training.checkpoints import load_checkpoint
from spikerec.training.config import load_splits
from spikerec.training.loop import TrainConfig
from spikerec.training.preflight import check_evaluation_run
from spikerec.training.resume import checked_model

#: The splits of a dataset a trained model can be scored on.
SPLITS: tuple[str, ...] = ("test", "val", "train")


class TrainedModel(NamedTuple):
    """What :func:`load_model` returns; unpacks as ``model, config, dataset``.

    Attributes
    ----------
    model : Recognizer
        The best model of the run (highest validation accuracy), in eval mode, on the CPU.
    config : TrainConfig
        The run's training configuration (head, encoder, ``n_steps``, decoder, ...).
    dataset : dict
        What the checkpoint records of the training dataset: ``name``,
        ``image_shape`` ``[C, H, W]``, ``n_classes``, per-channel ``mean`` and ``std``
        of the normalisation, ``class_names``.

    Examples
    --------
    >>> from spikerec.training.config import build_model
    >>> config = TrainConfig(data="synthetic", head="softmax")
    >>> trained = TrainedModel(build_model(config, in_channels=1, n_classes=10), config, {})
    >>> model, config, dataset = trained  # a tuple of three, with names
    >>> trained.config.head
    'softmax'
    """

    model: Recognizer
    config: TrainConfig
    dataset: dict[str, Any]


def load_model(checkpoint: str | os.PathLike[str]) -> TrainedModel:
    """The best model of a checkpoint, with its training config and dataset description.

    Parameters
    ----------
    checkpoint : path
        A ``checkpoint.pt`` written by ``spikerec train`` (or
        :func:`spikerec.training.checkpoints.save_checkpoint`), or the run folder
        holding it. Checkpoints of every spikerec version so far load.

    Returns
    -------
    TrainedModel
        ``model`` (a :class:`~spikerec.recognition.recognizer.Recognizer` in eval
        mode: call it as ``model(images [B, C, H, W], generator)``), ``config`` and
        ``dataset``.

    Raises
    ------
    CheckpointError
        One line naming the file: missing, truncated, corrupt, not spikerec's, a
        dataset description without a name or sizes, or weights that do not fit the
        configuration it records or hold NaN or infinite values (the tensor named).

    Examples
    --------
    A checkpoint as ``spikerec train`` writes it (here of an untrained model, in a
    temporary folder):

    >>> import tempfile
    >>> from pathlib import Path
    >>> from dataclasses import asdict
    >>> from spikerec.training.checkpoints import save_checkpoint
    >>> from spikerec import load_dataset
    >>> from spikerec.training.loop import dataset_meta, eval_generator
    >>> data = load_dataset("synthetic", seed=0)
    >>> from spikerec.training.config import build_model
    >>> config = TrainConfig(data="synthetic", n_steps=4)
    >>> untrained = build_model(config, in_channels=1, n_classes=10)
    >>> path = save_checkpoint(
    ...     Path(tempfile.mkdtemp()) / "checkpoint.pt",
    ...     {"config": asdict(config), "dataset": dataset_meta(data),
    ...      "best_model": untrained.state_dict()},
    ... )
    >>> model, config, dataset = load_model(path)  # or load_model("runs/train-...")
    >>> config.head, dataset["image_shape"]
    ('lif', [1, 12, 12])
    >>> output = model(data.test.images[:2], eval_generator(config))
    >>> output.head.spikes.shape  # [T, B, n_classes]
    torch.Size([4, 2, 10])
    """
    payload = load_checkpoint(checkpoint)
    # Every key, the config, the dataset description and the best weights (finite,
    # fitting the model the config describes) are checked, with the file named.
    model, config, meta = checked_model(payload, checkpoint=str(checkpoint))
    model.eval()
    return TrainedModel(model, config, meta)


def matching_dataset(
    trained: TrainedModel,
    data: str | None = None,
    data_root: str | None = None,
    *,
    checkpoint: str = "the checkpoint",
) -> DatasetSplits:
    """The dataset to score ``trained`` on, checked against what it was trained on.

    Parameters
    ----------
    trained : TrainedModel
        From :func:`load_model`.
    data : str, optional
        Dataset name or ``idx:PATH``; default: the training dataset. Any dataset with
        the same image shape and at most as many classes fits.
    data_root : str, optional
        Folder of downloaded datasets (default: the one of the training run).
    checkpoint : str
        The checkpoint's path, for the messages.

    Returns
    -------
    DatasetSplits
        Split with the training run's seed and fractions, so the training dataset's
        test split is the one the run was scored on; normalised with the training
        data's mean and std (what the model's first layer expects), not the new
        data's own.

    Raises
    ------
    DatasetError
        If the dataset cannot be loaded, or its images or classes do not fit the model.

    Examples
    --------
    >>> import torch
    >>> from spikerec.training.loop import build_model
    >>> config = TrainConfig(data="synthetic", n_steps=4)
    >>> meta = {"name": "synthetic", "image_shape": [1, 12, 12], "n_classes": 10}
    >>> trained = TrainedModel(build_model(config, in_channels=1, n_classes=10), config, meta)
    >>> len(matching_dataset(trained).test)
    120
    >>> matching_dataset(trained, "digits")
    Traceback (most recent call last):
    ...
    spikerec.errors.DatasetError: dataset 'digits' has images of 8x8 (1 channel) but the model \
in the checkpoint was trained on 12x12 (1 channel)
    """
    _, config, meta = trained
    if data is None and not meta.get("name"):
        raise CheckpointError(f"{checkpoint} does not name its dataset; pass the data to use")
    name = data if data is not None else meta["name"]
    dataset = load_splits(config, data=name, data_root=data_root)
    check_model_data(meta, dataset, checkpoint=checkpoint)
    if "mean" in meta and "std" in meta:
        dataset = with_normalisation(dataset, meta["mean"], meta["std"], tolerance=1e-6)
    return dataset


def split_to_score(
    trained: TrainedModel,
    split: str,
    *,
    data: str | None = None,
    data_root: str | None = None,
    checkpoint: str = "the checkpoint",
) -> tuple[DatasetSplits, Split]:
    """The dataset (:func:`matching_dataset`) and its split ``split`` to score ``trained``
    on, after the size checks of :func:`spikerec.training.preflight.check_evaluation_run`
    (a checkpoint may ask for more steps than this machine can hold).

    Examples
    --------
    >>> from spikerec.training.config import build_model
    >>> config = TrainConfig(data="synthetic", n_steps=4)
    >>> meta = {"name": "synthetic", "image_shape": [1, 12, 12], "n_classes": 10}
    >>> trained = TrainedModel(build_model(config, in_channels=1, n_classes=10), config, meta)
    >>> dataset, val = split_to_score(trained, "val")
    >>> dataset.name, len(val)
    ('synthetic', 60)
    """
    check_split(split)
    dataset = matching_dataset(trained, data, data_root, checkpoint=checkpoint)
    check_evaluation_run(trained.config, dataset.image_shape, data=dataset.name)
    return dataset, get_split(dataset, split)


def check_split(split: str) -> str:
    """``split`` if it names a split (:data:`SPLITS`), else a one-line ParameterError."""
    if split not in SPLITS:
        raise ParameterError(f"unknown split {split!r}; valid: {', '.join(SPLITS)}")
    return split


def get_split(dataset: DatasetSplits, split: str) -> Split:
    """``dataset.test``, ``.val`` or ``.train`` by name (one of :data:`SPLITS`).

    Examples
    --------
    >>> from spikerec import load_dataset
    >>> len(get_split(load_dataset("synthetic", seed=0), "val"))
    60
    """
    return getattr(dataset, check_split(split))


__all__ = [
    "SPLITS",
    "TrainedModel",
    "check_split",
    "get_split",
    "load_model",
    "matching_dataset",
    "split_to_score",
]

"""The entries of a comparison as objects: each says how it runs and what it reuses.

An entry (:class:`Entry`) is one classifier of the comparison. It knows its
``kind`` (``neural``, ``sequence``, ``svm``), the kind of operation its cost
counts (``ops_kind``: ``SOP`` synaptic events of a spiking head, ``MAC``
multiply-accumulates otherwise), which other entry's trained model it scores
(``reuses``: ``svm-v4`` reads the V4 features of the ``softmax`` CNN), and how to
run on one seed's splits (:meth:`Entry.run`, given them as :class:`RunInputs`).
:data:`ENTRIES` holds them by name;
a new entry is one :class:`Entry` subclass (or instance) plus one line there.

- ``lif``: the LIF output layer on V4 spikes;
- ``rate-softmax``: linear + softmax on the V4 firing rates;
- ``softmax``: the classic CNN, linear + softmax on the analog V4 features;
- ``rnn``: a GRU (or LSTM) reading the image row by row;
- ``cnn-rnn``: the V4 front end's feature map read column by column by a GRU;
- ``svm-rbf``, ``svm-linear``: scikit-learn SVMs on pixels in [0, 1], C (and
  gamma) chosen by cross-validation on the training split only
  (:mod:`spikerec.compare.baselines.svm`);
- ``svm-v4``: an RBF SVM on the V4 features of the trained ``softmax`` CNN.
"""

from __future__ import annotations

import time
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import KW_ONLY, asdict, dataclass, field, replace
from typing import Any, Protocol

import numpy as np
import torch

from spikerec.compare.baselines.fit import FitConfig, evaluate_classifier, fit_classifier
from spikerec.compare.baselines.rnn import build_sequence_model
from spikerec.compare.baselines.svm import fit_svm, unit_features, unit_pixels
from spikerec.compare.stats import decision_latency
from spikerec.data.loading import DatasetSplits
from spikerec.data.splits import stratified_subsample
from spikerec.errors import ParameterError
from spikerec.recognition.decoders import decode
from spikerec.recognition.early_exit import evaluate_early_exit
from spikerec.recognition.recognizer import Recognizer
from spikerec.registry import Registry
from spikerec.training.config import TrainConfig
from spikerec.training.evaluation import EvalResult, eval_generator, score_split
from spikerec.training.loop import train


class EntrySettings(Protocol):
    """What an entry reads of a comparison's settings.

    :class:`spikerec.compare.config.CompareConfig` is one; written as a protocol so that
    this module does not import the config module, which imports the entries' names
    from here.
    """

    @property
    def train(self) -> TrainConfig: ...  # the neural entries' training

    @property
    def sequence(self) -> FitConfig: ...  # rnn and cnn-rnn training

    @property
    def rnn_cell(self) -> str: ...

    @property
    def rnn_hidden(self) -> int: ...

    @property
    def svm_max_train(self) -> int: ...


@dataclass
class EntryResult:
    """One entry on one seed.

    ``correct`` is the per-test-image correctness (for paired tests); timing in
    seconds; ``ops_per_image`` counts synaptic events (spiking heads, from actual
    spikes) or multiply-accumulates (analog heads, SVMs, recurrent layers) of the
    classifier on top of the features; ``augment`` names the augmentation of the
    training split the entry was trained on.
    """

    entry: str
    seed: int
    accuracy: float
    correct: np.ndarray
    per_class_accuracy: list[float]
    confusion: list[list[int]]
    train_time_s: float
    inference_time_per_image_s: float
    ops_per_image: float
    ops_kind: str
    silent_fraction: float = 0.0
    details: dict[str, Any] = field(default_factory=dict)
    augment: str = "none"

    def summary(self) -> dict[str, Any]:
        """JSON-ready fields (without the per-image vector)."""
        out = asdict(self)
        out.pop("correct")
        return out


ENTRY_KINDS: tuple[str, ...] = ("neural", "sequence", "svm")
OPS_KINDS: tuple[str, ...] = ("SOP", "MAC")

#: Models trained so far on one seed's splits, by entry name (what ``reuses`` finds).
Trained = dict[str, Recognizer]


@dataclass(frozen=True)
class RunInputs:
    """What an entry runs on: one seed's (augmented) splits and the models trained on them.

    The arguments of :func:`spikerec.compare.seed_runs.run_entry` (less the entry's
    name), as :meth:`Entry.run` receives them.

    Attributes
    ----------
    dataset : DatasetSplits
        Train on ``dataset.train`` (stopping on ``dataset.val``), score on ``dataset.test``.
    config : EntrySettings
        The comparison's settings (a :class:`~spikerec.compare.config.CompareConfig`).
    seed : int
    trained : dict of str to Recognizer
        The recognisers trained so far on these splits: a neural entry adds its
        model, an entry that ``reuses`` one looks it up there.
    progress : bool
        Show the training progress bar of a neural entry.
    """

    dataset: DatasetSplits
    config: EntrySettings
    seed: int
    trained: Trained
    progress: bool = False


@dataclass(frozen=True)
class Entry(ABC):
    """One classifier of the comparison.

    Attributes
    ----------
    name : str
        Its name in :data:`ENTRIES` and in every table.
    kind : {"neural", "sequence", "svm"}
        Recogniser trained by :func:`spikerec.training.loop.train`, sequence model
        trained by :func:`spikerec.compare.baselines.fit.fit_classifier`, or SVM.
    ops_kind : {"SOP", "MAC"}
        What ``ops_per_image`` counts: synaptic events or multiply-accumulates.
    reuses : str or None
        The entry whose trained model this one scores on the same splits; a task
        runs the two in one process, that one first.
    """

    name: str
    _: KW_ONLY
    kind: str = ""
    ops_kind: str = "MAC"
    reuses: str | None = None

    def __post_init__(self) -> None:
        if self.kind not in ENTRY_KINDS:
            raise ParameterError(f"kind={self.kind!r} must be one of {', '.join(ENTRY_KINDS)}")
        if self.ops_kind not in OPS_KINDS:
            raise ParameterError(
                f"ops_kind={self.ops_kind!r} must be one of {', '.join(OPS_KINDS)}"
            )

    @abstractmethod
    def run(self, inputs: RunInputs) -> EntryResult:
        """Train on ``inputs.dataset.train`` (stopping on its ``val``), score on its ``test``.

        ``inputs.trained`` collects the recognisers trained on these splits: a
        neural entry adds its model, an entry that ``reuses`` one looks it up there.
        """

    def _scored(
        self,
        inputs: RunInputs,
        score: Callable[[], EvalResult],
        *,
        train_time_s: float,
        ops_per_image: float,
        details: dict[str, Any],
    ) -> EntryResult:
        """The result of the trained entry whose ``score()`` scores the test split.

        ``score()`` is timed: its seconds per test image are the inference time.
        """
        started = time.perf_counter()
        scores = score()
        inference_time_per_image_s = (time.perf_counter() - started) / max(
            1, len(inputs.dataset.test)
        )
        return EntryResult(
            entry=self.name,
            seed=inputs.seed,
            accuracy=scores.accuracy,
            correct=scores.correct(),
            per_class_accuracy=scores.per_class_accuracy(),
            confusion=scores.confusion.tolist(),
            train_time_s=train_time_s,
            inference_time_per_image_s=inference_time_per_image_s,
            ops_per_image=ops_per_image,
            ops_kind=self.ops_kind,
            silent_fraction=scores.silent_fraction,
            details=details,
        )


@torch.no_grad()
def lif_time_course(
    model: Recognizer,
    images: torch.Tensor,
    labels: torch.Tensor,
    *,
    decoder: str,
    generator: torch.Generator,
    batch_size: int = 256,
) -> dict[str, Any]:
    """Accuracy against the number of time steps used, and decision latency.

    Decoding the first t steps of the output is what a run of t steps would give,
    since the network is causal. The decision latency of an image is the first step
    from which its decoded class no longer changes.
    """
    model.eval()
    n_steps = None
    correct_by_t, latencies = [], []
    for start in range(0, images.shape[0], batch_size):
        out = model(images[start : start + batch_size], generator).head
        n_steps = out.spikes.shape[0]
        predictions = torch.stack(
            [
                decode(out.spikes[: t + 1], out.membrane[: t + 1], decoder).prediction
                for t in range(n_steps)
            ]
        )  # [T, B]
        correct_by_t.append((predictions == labels[start : start + batch_size]).float())
        latencies.append(decision_latency(predictions.numpy()))
    correct = torch.cat(correct_by_t, dim=1)
    latency = np.concatenate(latencies)
    return {
        "accuracy_by_steps": correct.mean(dim=1).tolist(),
        "decision_latency_steps_mean": float(latency.mean()),
        "decision_latency_steps_median": float(np.median(latency)),
        "n_steps": n_steps,
    }


@torch.no_grad()
def _spike_ops(
    model: Recognizer,
    images: torch.Tensor,
    generator: torch.Generator,
    n_classes: int,
    batch_size: int = 256,
) -> float:
    """Synaptic events per image in the head: every V4 spike reaches ``n_classes`` synapses."""
    model.eval()
    total = 0.0
    for start in range(0, images.shape[0], batch_size):
        out = model(images[start : start + batch_size], generator)
        total += float(out.v4_spikes.sum()) * n_classes
    return total / images.shape[0]


@dataclass(frozen=True, kw_only=True)
class RecognizerEntry(Entry):
    """A recogniser with the head ``name``, trained by :func:`spikerec.training.loop.train`.

    ``ops_kind`` ``MAC`` counts the head's weights (analog head); ``SOP`` counts the
    V4 spikes reaching the head's synapses. ``time_course`` adds accuracy against
    the number of time steps and decision latency (:func:`lif_time_course`).
    """

    kind: str = "neural"
    time_course: bool = False

    def run(self, inputs: RunInputs) -> EntryResult:
        dataset, config, seed = inputs.dataset, inputs.config, inputs.seed
        train_config = TrainConfig.from_dict(
            {**asdict(config.train), "head": self.name, "data": dataset.name, "seed": seed}
        )
        result = train(train_config, dataset, progress=inputs.progress)
        model, test = result.model, dataset.test
        inputs.trained[self.name] = model
        details: dict[str, Any] = {
            "epochs_run": result.state.epoch,
            "best_epoch": result.state.best_epoch,
        }
        if self.ops_kind == "MAC":
            ops = float(model.head.get_parameter("linear.weight").numel())
        else:
            ops = _spike_ops(model, test.images, eval_generator(train_config), dataset.n_classes)
        if self.time_course:
            details.update(
                lif_time_course(
                    model,
                    test.images,
                    test.labels,
                    decoder=train_config.decoder,
                    generator=eval_generator(train_config),
                )
            )
            # Early-exit inference against the full-T run, and its accuracy-SynOps curve.
            details["early_exit"] = evaluate_early_exit(
                model,
                test.images,
                test.labels,
                decoder=train_config.decoder,
                generator=eval_generator(train_config),
            )
        # Every evaluation draws from its own eval_generator: the order does not matter.
        return self._scored(
            inputs,
            lambda: score_split(model, test, train_config, dataset.n_classes),
            train_time_s=result.state.train_time_s,
            ops_per_image=ops,
            details=details,
        )


@dataclass(frozen=True, kw_only=True)
class SequenceEntry(Entry):
    """``rnn`` or ``cnn-rnn``: trained with :func:`fit_classifier`, scored on the test split."""

    kind: str = "sequence"
    ops_kind: str = "MAC"

    def run(self, inputs: RunInputs) -> EntryResult:
        dataset, config = inputs.dataset, inputs.config
        model = build_sequence_model(
            self.name,
            dataset.image_shape,
            dataset.n_classes,
            hidden_size=config.rnn_hidden,
            cell=config.rnn_cell,
        )
        fit = fit_classifier(
            model,
            dataset.train,
            dataset.val,
            replace(config.sequence, seed=inputs.seed),
            n_classes=dataset.n_classes,
        )
        test = dataset.test
        return self._scored(
            inputs,
            lambda: evaluate_classifier(
                fit.model, test.images, test.labels, n_classes=dataset.n_classes
            ),
            train_time_s=fit.train_time_s,
            ops_per_image=model.macs_per_image(),
            details={
                "epochs_run": fit.epochs_run,
                "best_epoch": fit.best_epoch,
                "cell": config.rnn_cell,
                "hidden_size": config.rnn_hidden,
            },
        )


@dataclass(frozen=True, kw_only=True)
class SVMEntry(Entry):
    """An SVM (:func:`spikerec.compare.baselines.svm.fit_svm`) on at most
    ``config.svm_max_train`` training images (a stratified subsample).

    Without ``reuses`` it reads pixels in [0, 1]; with it, the V4 features of the
    reused recogniser (trained here first if no task trained it on these splits),
    divided by their training maximum.
    """

    kind: str = "svm"
    ops_kind: str = "MAC"
    kernel: str = "rbf"

    def run(self, inputs: RunInputs) -> EntryResult:
        dataset, seed = inputs.dataset, inputs.seed
        keep = stratified_subsample(dataset.train.labels.numpy(), inputs.config.svm_max_train, seed)
        train_y, test_y = dataset.train.labels.numpy()[keep], dataset.test.labels.numpy()
        if self.reuses is None:
            train_x = unit_pixels(dataset.train.images[torch.as_tensor(keep)], *_norm(dataset))
            test_x = unit_pixels(dataset.test.images, *_norm(dataset))
            scaling = "pixels in [0, 1] (the dataset's per-channel normalisation undone)"
        else:
            model = inputs.trained.get(self.reuses)
            if model is None:  # no task trained it on these splits: train it here
                ENTRIES.get(self.reuses).run(inputs)
                model = inputs.trained[self.reuses]
            train_x, test_x = unit_features(
                _features(model, dataset.train.images[torch.as_tensor(keep)]),
                _features(model, dataset.test.images),
            )
            scaling = f"V4 features of the {self.reuses!r} model / their training maximum"
        fitted = fit_svm(train_x, train_y, kernel=self.kernel, seed=seed)
        return self._scored(
            inputs,
            lambda: EvalResult.from_predictions(
                fitted.predict(test_x), test_y, n_classes=dataset.n_classes
            ),
            train_time_s=fitted.train_time_s,
            ops_per_image=fitted.ops_per_image,
            details={"scaling": scaling, **fitted.details},
        )


def _norm(dataset: DatasetSplits) -> tuple[tuple[float, ...], tuple[float, ...]]:
    return dataset.mean, dataset.std


@torch.no_grad()
def _features(model: Recognizer, images: torch.Tensor, batch_size: int = 256) -> np.ndarray:
    model.eval()
    return torch.cat(
        [model.frontend(images[i : i + batch_size]) for i in range(0, images.shape[0], batch_size)]
    ).numpy()


#: The comparison entries by name, in the order of every table.
ENTRIES: Registry[Entry] = Registry(
    "entry",
    [
        (e.name, e)
        for e in (
            RecognizerEntry("lif", ops_kind="SOP", time_course=True),
            RecognizerEntry("rate-softmax", ops_kind="SOP"),
            RecognizerEntry("softmax", ops_kind="MAC"),
            SequenceEntry("rnn"),
            SequenceEntry("cnn-rnn"),
            SVMEntry("svm-rbf", kernel="rbf"),
            SVMEntry("svm-linear", kernel="linear"),
            SVMEntry("svm-v4", kernel="rbf", reuses="softmax"),
        )
    ],
)

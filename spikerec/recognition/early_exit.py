"""Early-exit inference for the LIF head: stop an image's simulation once its decision is settled.

The LIF head's decision is often made after a few of its T steps, yet a plain run
simulates all T and pays the synaptic operations (SynOps) of every V4 spike of
every step. :class:`EarlyExit` is a stopping rule on the output spike counts;
:func:`evaluate_early_exit` scores a recogniser under it, against the full-T run,
and :func:`early_exit_curve` sweeps the rule for the accuracy-SynOps trade-off.

How the exit is computed
------------------------
The recogniser runs the T steps once (in batches) and the exit step of every image
is found afterwards from its output spikes. This gives exactly what a run that
stops at the exit step would give, because the spiking path is causal: the V4
spikes and output spikes of step t depend on the image and on steps ``<= t`` only,
never on later steps (the front end runs once per image, before any step). So an
image's prediction at its exit step, and the V4 spikes that reached the output
layer up to that step, are those of a run stopped there. Only those V4 spikes are
counted: the SynOps of an image are ``C x (V4 spikes in steps 1..exit)``, with C
output neurons (every V4 spike reaches one synapse per output neuron), the same
count as the ``ops_per_image`` of the comparison's ``lif`` entry for a full run.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from typing import Any, NamedTuple

import numpy as np
import torch

from spikerec.errors import ParameterError
from spikerec.recognition.decoders import DECODERS, check_outputs, decode
from spikerec.recognition.recognizer import Recognizer


def _positive_int(name: str, value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ParameterError(f"{name}={value!r} must be a positive integer")
    return value


@dataclass(frozen=True)
class EarlyExit:
    """Stop an image once one output neuron leads the others by ``margin`` spikes for
    ``patience_steps`` consecutive steps.

    The rule, checked after every step t = 1, 2, ..., T on the output spikes counted
    since the start:

    - the *leader* is the class the ``count`` decoder gives for steps 1..t (most
      spikes, ties broken by the highest membrane potential reached);
    - its *lead* is its spike count minus the highest count of the other classes;
    - the image is *settled* at t when ``lead >= margin``;
    - the image stops at the first t at which it has been settled, with the same
      leader, for ``patience_steps`` consecutive steps (t included); an image that
      never gets there runs all T steps.

    The prediction is then the decoder's class for steps 1..exit (for ``count``,
    the leader). A silent output layer has no lead, so silent images run to T.

    Attributes
    ----------
    margin : int
        Spikes by which the leader must lead the runner-up, >= 1. A margin above T
        can never be met: the run is then the full-T run.
    patience_steps : int
        Consecutive settled steps required, >= 1.

    Examples
    --------
    One image, two output neurons; neuron 1 spikes every step from step 2 on:

    >>> spikes = torch.zeros(6, 1, 2); spikes[1:, 0, 1] = 1.0
    >>> membrane = spikes.clone()
    >>> EarlyExit(margin=2, patience_steps=2).exit_steps(spikes, membrane)
    tensor([4])
    >>> EarlyExit(margin=1, patience_steps=1).exit_steps(spikes, membrane)
    tensor([2])
    >>> EarlyExit(margin=7).exit_steps(spikes, membrane)     # never met: all T = 6 steps
    tensor([6])
    """

    margin: int = 2
    patience_steps: int = 1

    def __post_init__(self) -> None:
        _positive_int("margin", self.margin)
        _positive_int("patience_steps", self.patience_steps)

    def exit_steps(self, spikes: torch.Tensor, membrane: torch.Tensor) -> torch.Tensor:
        """Step (1..T) at which each image stops, from output spikes and membranes ``[T, B, C]``.

        Returns
        -------
        Tensor [B] of int64
            Number of steps each image runs.
        """
        check_outputs(spikes, membrane)
        leaders = prefix_predictions(spikes, membrane, "count")  # [T, B]
        return self._exits(spikes.cumsum(dim=0), leaders)

    def _exits(self, counts: torch.Tensor, leaders: torch.Tensor) -> torch.Tensor:
        """Exit steps from cumulative counts ``[T, B, C]`` and leaders ``[T, B]``."""
        n_steps = counts.shape[0]
        top = counts.gather(2, leaders.unsqueeze(-1)).squeeze(-1)
        others = counts.scatter(2, leaders.unsqueeze(-1), -torch.inf).amax(dim=2)
        settled = (top - others) >= self.margin  # [T, B]
        exits = torch.full(leaders.shape[1:], n_steps, dtype=torch.int64, device=counts.device)
        done = torch.zeros_like(exits, dtype=torch.bool)
        streak = torch.zeros_like(exits)
        for t in range(n_steps):
            same = leaders[t] == leaders[t - 1] if t > 0 else torch.ones_like(done)
            streak = torch.where(settled[t], torch.where(same, streak + 1, 1), 0)
            now = (streak >= self.patience_steps) & ~done
            exits = torch.where(now, t + 1, exits)
            done |= now
        return exits

    def describe(self) -> str:
        """The rule in words, for reports."""
        return (
            f"stop once the leading output neuron has led by >= {self.margin} spike(s) "
            f"for {self.patience_steps} consecutive step(s)"
        )


DEFAULT_RULE = EarlyExit(margin=2, patience_steps=1)
"""The rule the comparison reports (its ``lif`` entry's ``early_exit``): stop once one output
neuron is 2 spikes ahead. On digits (seed 0, default training) it kept the full-T accuracy
(96.94 %) with 6.8 of 25 steps and 25 % of the SynOps."""

DEFAULT_SWEEP: tuple[EarlyExit, ...] = tuple(
    EarlyExit(margin=m, patience_steps=k) for m in (1, 2, 3, 4, 6) for k in (1, 2, 3, 5)
)
"""Rules of the accuracy-SynOps curve: margins 1-6 spikes x patience 1-5 steps."""


def prefix_predictions(
    spikes: torch.Tensor, membrane: torch.Tensor, decoder: str = "count"
) -> torch.Tensor:
    """The class ``decoder`` gives from steps 1..t, for every t: ``[T, B]`` int64.

    Row t-1 is what a run of t steps would decode (the network is causal).

    Examples
    --------
    >>> spikes = torch.zeros(3, 1, 2); spikes[0, 0, 0] = 1; spikes[1:, 0, 1] = 1
    >>> prefix_predictions(spikes, spikes.clone()).flatten().tolist()
    [0, 0, 1]
    """
    check_outputs(spikes, membrane)
    return torch.stack(
        [
            decode(spikes[: t + 1], membrane[: t + 1], decoder).prediction
            for t in range(spikes.shape[0])
        ]
    )


class LIFRecording(NamedTuple):
    """Output of one full-T run of a LIF recogniser over a set of images.

    Attributes
    ----------
    spikes, membrane : Tensor [T, N, C]
        Output spikes and pre-reset membrane potentials of the N images.
    v4_spikes_per_step : Tensor [T, N]
        V4 spikes of each image in each step (summed over the 3136 units).
    labels : Tensor [N]
        True classes.
    """

    spikes: torch.Tensor
    membrane: torch.Tensor
    v4_spikes_per_step: torch.Tensor
    labels: torch.Tensor


@torch.no_grad()
def record_lif_run(
    model: Recognizer,
    images: torch.Tensor,
    labels: torch.Tensor,
    *,
    generator: torch.Generator | None = None,
    batch_size: int = 256,
) -> LIFRecording:
    """Run a LIF-head recogniser over ``images [N, C, H, W]`` for its T steps and keep what
    early exit needs.

    ``generator`` drives a stochastic encoder (use the one of the plain evaluation,
    e.g. :func:`spikerec.training.loop.eval_generator`, to score the same spikes).

    Raises
    ------
    ValueError
        When the model's head is not a spiking head with output spikes.
    """
    was_training = model.training
    model.eval()
    device = next(model.parameters()).device
    spikes, membrane, v4 = [], [], []
    try:
        for start in range(0, images.shape[0], batch_size):
            out = model(images[start : start + batch_size].to(device), generator)
            if out.head.spikes is None or out.v4_spikes is None:
                name = type(model.head).__name__
                raise ParameterError(f"early exit needs a LIF head with output spikes, got {name}")
            spikes.append(out.head.spikes.cpu())
            membrane.append(out.head.membrane.cpu())
            v4.append(out.v4_spikes.sum(dim=2).cpu())
    finally:
        model.train(was_training)
    return LIFRecording(
        spikes=torch.cat(spikes, dim=1),
        membrane=torch.cat(membrane, dim=1),
        v4_spikes_per_step=torch.cat(v4, dim=1),
        labels=labels.detach().cpu().clone(),
    )


@dataclass(frozen=True)
class EarlyExitResult:
    """Scores of one early-exit rule against the full-T run on the same images.

    Attributes
    ----------
    rule : EarlyExit
    accuracy, full_accuracy : float
        Fraction correct when stopping by the rule / after all T steps.
    mean_steps : float
        Mean number of steps simulated per image (1..T).
    n_steps : int
        T.
    synops_per_image, full_synops_per_image : float
        Synaptic operations of the output layer per image: ``C x`` V4 spikes up to the
        exit step / over all T steps.
    exit_steps, predictions : Tensor [N]
        Steps run and predicted class of every image.
    """

    rule: EarlyExit
    accuracy: float
    mean_steps: float
    synops_per_image: float
    full_accuracy: float
    full_synops_per_image: float
    n_steps: int
    exit_steps: torch.Tensor
    predictions: torch.Tensor

    def summary(self) -> dict[str, Any]:
        """JSON-ready fields, without the per-image tensors."""
        return {
            "rule": asdict(self.rule),
            "accuracy": self.accuracy,
            "mean_steps": self.mean_steps,
            "synops_per_image": self.synops_per_image,
            "full_accuracy": self.full_accuracy,
            "full_synops_per_image": self.full_synops_per_image,
            "n_steps": self.n_steps,
        }


def score_early_exit(
    recording: LIFRecording, rule: EarlyExit, *, decoder: str = "count"
) -> EarlyExitResult:
    """Apply ``rule`` to a recorded run: accuracy, mean steps and SynOps, early and full.

    Parameters
    ----------
    recording : LIFRecording
        From :func:`record_lif_run`.
    rule : EarlyExit
    decoder : {"count", "max-membrane", "first-spike"}
        How the steps run become a class (the full-T accuracy uses it too).
    """
    return _score(_Prepared.of(recording, decoder), rule)


class _Prepared(NamedTuple):
    """What every rule's score needs from one recording, computed once."""

    counts: torch.Tensor  # [T, N, C] cumulative output spikes
    leaders: torch.Tensor  # [T, N] count decoder on steps 1..t
    by_t: torch.Tensor  # [T, N] the chosen decoder on steps 1..t
    v4_cumulative: torch.Tensor  # [T, N] V4 spikes up to step t, float64
    labels: torch.Tensor

    @classmethod
    def of(cls, recording: LIFRecording, decoder: str) -> _Prepared:
        if decoder not in DECODERS:
            raise ParameterError(f"unknown decoder {decoder!r}; valid: {', '.join(DECODERS)}")
        spikes, membrane = recording.spikes, recording.membrane
        leaders = prefix_predictions(spikes, membrane, "count")
        by_t = leaders if decoder == "count" else prefix_predictions(spikes, membrane, decoder)
        return cls(
            counts=spikes.cumsum(dim=0),
            leaders=leaders,
            by_t=by_t,
            v4_cumulative=recording.v4_spikes_per_step.to(torch.float64).cumsum(dim=0),
            labels=recording.labels,
        )


def _score(prepared: _Prepared, rule: EarlyExit) -> EarlyExitResult:
    if not isinstance(rule, EarlyExit):
        raise ParameterError(f"rule must be an EarlyExit, got {type(rule).__name__}")
    n_steps, _, n_classes = prepared.counts.shape
    exits = rule._exits(prepared.counts, prepared.leaders)
    by_t, v4_cumulative, labels = prepared.by_t, prepared.v4_cumulative, prepared.labels
    predictions = by_t.gather(0, (exits - 1).unsqueeze(0)).squeeze(0)
    full = by_t[-1]
    used = v4_cumulative.gather(0, (exits - 1).unsqueeze(0)).squeeze(0)
    return EarlyExitResult(
        rule=rule,
        accuracy=float((predictions == labels).double().mean()),
        mean_steps=float(exits.double().mean()),
        synops_per_image=float(used.mean()) * n_classes,
        full_accuracy=float((full == labels).double().mean()),
        full_synops_per_image=float(v4_cumulative[-1].mean()) * n_classes,
        n_steps=n_steps,
        exit_steps=exits,
        predictions=predictions,
    )


_POINT = ("accuracy", "mean_steps", "synops_per_image")


def early_exit_curve(
    recording: LIFRecording, rules: Iterable[EarlyExit] = DEFAULT_SWEEP, *, decoder: str = "count"
) -> list[dict[str, float]]:
    """Accuracy, mean steps and SynOps per image of each rule: the trade-off curve.

    Returns
    -------
    list of dict
        One per rule, in the given order: ``margin``, ``patience_steps``,
        ``accuracy``, ``mean_steps``, ``synops_per_image``.
    """
    prepared = _Prepared.of(recording, decoder)
    return [_point(_score(prepared, rule)) for rule in rules]


def _point(result: EarlyExitResult) -> dict[str, float]:
    return {**asdict(result.rule), **{k: getattr(result, k) for k in _POINT}}


def evaluate_early_exit(
    model: Recognizer,
    images: torch.Tensor,
    labels: torch.Tensor,
    rule: EarlyExit = DEFAULT_RULE,
    *,
    decoder: str = "count",
    generator: torch.Generator | None = None,
    batch_size: int = 256,
    sweep: Sequence[EarlyExit] = DEFAULT_SWEEP,
) -> dict[str, Any]:
    """Score a LIF recogniser with early exit and against its full-T run (JSON-ready).

    Parameters
    ----------
    model : Recognizer
        With a LIF head.
    images : Tensor [N, C, H, W]
        Normalised images.
    labels : Tensor [N]
    rule : EarlyExit
        The rule reported (default :data:`DEFAULT_RULE`).
    decoder : {"count", "max-membrane", "first-spike"}
    generator : torch.Generator, optional
        Drives a stochastic encoder.
    sweep : sequence of EarlyExit
        Rules of the trade-off curve (default :data:`DEFAULT_SWEEP`; empty for none).

    Returns
    -------
    dict
        ``rule`` (``margin``, ``patience_steps``, ``text``), ``accuracy``,
        ``mean_steps``, ``synops_per_image``, ``full_accuracy``,
        ``full_synops_per_image``, ``n_steps`` and ``curve`` (see
        :func:`early_exit_curve`).

    Examples
    --------
    >>> from spikerec import build_recognizer
    >>> model = build_recognizer("lif", in_channels=1, n_classes=3, n_steps=8)
    >>> report = evaluate_early_exit(model, torch.rand(4, 1, 8, 8), torch.tensor([0, 1, 2, 0]))
    >>> report["mean_steps"] <= report["n_steps"] == 8
    True
    >>> report["synops_per_image"] <= report["full_synops_per_image"]
    True
    """
    recording = record_lif_run(model, images, labels, generator=generator, batch_size=batch_size)
    prepared = _Prepared.of(recording, decoder)
    summary = _score(prepared, rule).summary()
    summary["rule"]["text"] = rule.describe()
    summary["curve"] = [_point(_score(prepared, r)) for r in sweep]
    return summary


def mean_early_exit(reports: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """Average of :func:`evaluate_early_exit` reports over seeds (same rule and sweep).

    Numbers are averaged; the curve point by point (points are matched by rule).

    Examples
    --------
    >>> a = {"rule": {"margin": 2}, "accuracy": 0.9, "curve": [{"margin": 1, "accuracy": 0.8}]}
    >>> b = {"rule": {"margin": 2}, "accuracy": 0.7, "curve": [{"margin": 1, "accuracy": 0.6}]}
    >>> m = mean_early_exit([a, b])
    >>> round(m["accuracy"], 6), round(m["curve"][0]["accuracy"], 6), m["n_seeds"]
    (0.8, 0.7, 2)
    """
    if not reports:
        raise ParameterError("mean_early_exit needs at least one report")
    first = reports[0]
    out: dict[str, Any] = {"rule": first["rule"], "n_seeds": len(reports)}
    for key, value in first.items():
        if key not in ("rule", "curve") and isinstance(value, (int, float)):
            out[key] = float(np.mean([r[key] for r in reports]))
    curve = []
    for i, point in enumerate(first.get("curve", [])):
        rule_keys = ("margin", "patience_steps")
        same = [
            r["curve"][i]
            for r in reports
            if len(r.get("curve", [])) > i
            and all(r["curve"][i].get(k) == point.get(k) for k in rule_keys)
        ]
        curve.append(
            {
                k: (point[k] if k in rule_keys else float(np.mean([p[k] for p in same])))
                for k in point
            }
        )
    out["curve"] = curve
    return out

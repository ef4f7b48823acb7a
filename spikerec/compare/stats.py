"""Statistics of the comparison harness: confidence intervals and paired tests."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy import stats as sps

from spikerec.errors import ParameterError


@dataclass(frozen=True)
class MeanCI:
    """Mean of per-seed scores with a two-sided confidence interval.

    Attributes
    ----------
    mean : float
    low, high : float
        Interval bounds (equal to the mean for a single value).
    n : int
        Number of values.
    """

    mean: float
    low: float
    high: float
    n: int

    @property
    def half_width(self) -> float:
        """Half the width of the interval."""
        return 0.5 * (self.high - self.low)


def mean_confidence_interval(values: np.ndarray | list[float], level: float = 0.95) -> MeanCI:
    """Student-t confidence interval of the mean of independent values (e.g. seeds).

    ``mean ± t_{(1+level)/2, n-1} · s / sqrt(n)`` with the sample standard deviation
    ``s``; a single value gives a zero-width interval.

    Examples
    --------
    >>> ci = mean_confidence_interval([0.90, 0.92, 0.94])
    >>> round(ci.mean, 4), round(ci.half_width, 4)  # t(0.975, 2) = 4.3027, s = 0.02
    (0.92, 0.0497)
    """
    array = np.asarray(values, dtype=np.float64).reshape(-1)
    if array.size == 0 or not np.isfinite(array).all():
        raise ParameterError("mean_confidence_interval needs at least one finite value")
    if not 0 < level < 1:
        raise ParameterError(f"level={level!r} must be in (0, 1)")
    mean = float(array.mean())
    if array.size == 1:
        return MeanCI(mean, mean, mean, 1)
    half = float(
        sps.t.ppf(0.5 + level / 2, array.size - 1) * array.std(ddof=1) / math.sqrt(array.size)
    )
    return MeanCI(mean, mean - half, mean + half, int(array.size))


@dataclass(frozen=True)
class McNemarResult:
    """Paired comparison of two classifiers on the same test images.

    Attributes
    ----------
    only_a, only_b : int
        Images that only classifier A (resp. B) got right: the discordant pairs.
    p_value : float
        Two-sided exact McNemar p-value: binomial test of ``only_a`` among
        ``only_a + only_b`` discordant pairs with probability 1/2.
    """

    only_a: int
    only_b: int
    p_value: float


def mcnemar_test(correct_a: np.ndarray, correct_b: np.ndarray) -> McNemarResult:
    """Exact two-sided McNemar test of two classifiers' per-image correctness.

    Parameters
    ----------
    correct_a, correct_b : bool array [N]
        Whether each classifier got each test image right (same images, same order).

    Examples
    --------
    >>> a = np.array([1, 1, 1, 1, 1, 1, 0, 1], bool)
    >>> b = np.array([0, 0, 0, 0, 0, 1, 1, 1], bool)
    >>> r = mcnemar_test(a, b)
    >>> r.only_a, r.only_b, round(r.p_value, 4)  # 2 * P(X <= 1), X ~ Bin(6, 1/2) = 14/64
    (5, 1, 0.2188)
    """
    a = np.asarray(correct_a, dtype=bool).reshape(-1)
    b = np.asarray(correct_b, dtype=bool).reshape(-1)
    if a.shape != b.shape:
        raise ParameterError(f"paired results differ in length: {a.size} and {b.size}")
    only_a = int(np.sum(a & ~b))
    only_b = int(np.sum(~a & b))
    discordant = only_a + only_b
    if discordant == 0:
        return McNemarResult(0, 0, 1.0)
    p = float(sps.binomtest(min(only_a, only_b), discordant, 0.5).pvalue)
    return McNemarResult(only_a, only_b, min(1.0, p))


def decision_latency(predictions_over_time: np.ndarray) -> np.ndarray:
    """First step from which each sample's decoded class no longer changes.

    Parameters
    ----------
    predictions_over_time : int array [T, B]
        Class decoded from the output up to and including step t, for every t.

    Returns
    -------
    int array [B]
        Zero-based step index ``t*`` with ``pred[t] == pred[T-1]`` for all ``t >= t*``.

    Examples
    --------
    >>> decision_latency(np.array([[0, 2], [1, 2], [1, 2], [1, 2]]))
    array([1, 0])
    """
    preds = np.asarray(predictions_over_time)
    if preds.ndim != 2 or preds.shape[0] == 0:
        raise ParameterError(f"predictions_over_time must be [T, B] with T >= 1, got {preds.shape}")
    differs = preds != preds[-1:]
    n_steps = preds.shape[0]
    # Last step that still differs from the final decision, plus one.
    last_differ = np.where(differs.any(axis=0), n_steps - 1 - np.argmax(differs[::-1], axis=0), -1)
    return last_differ + 1

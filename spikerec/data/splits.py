"""Stratified, seeded sampling of labelled samples: every class keeps its share.

Two operations, each written once and used everywhere:

- :func:`stratified_split` partitions a set in two (the train/val/test splits of
  :func:`spikerec.data.loading.load_dataset`);
- :func:`stratified_fraction` and :func:`stratified_subsample` draw a subset of a
  given fraction or size (the ``train_fraction`` cut and the SVMs' training cap of
  :mod:`spikerec.compare`).

Every function takes integer labels ``[N]`` and returns indices into them; the
same seed gives the same indices.
"""

from __future__ import annotations

import numpy as np

from spikerec.errors import ParameterError


def stratified_split(
    labels: np.ndarray, n_take: int, seed: int, *, what: str = ""
) -> tuple[np.ndarray, np.ndarray]:
    """Split ``arange(N)`` into ``(rest, take)`` with ``n_take`` stratified, seeded picks.

    Parameters
    ----------
    labels : ndarray [N] of int
        Class of every sample.
    n_take : int
        Samples in ``take``, in ``[1, N)``.
    seed : int
        Seeds the draw (scikit-learn's ``train_test_split`` with ``stratify``).
    what : str
        Names the split in messages (``"val"``, ``"test"``).

    Returns
    -------
    rest, take : ndarray of int64
        Disjoint indices covering ``arange(N)``, each in a seeded random order.

    Raises
    ------
    ValueError
        If ``take`` or ``rest`` would be empty, or a class is too small to be split.

    Examples
    --------
    >>> labels = np.repeat(np.arange(3), 10)
    >>> rest, take = stratified_split(labels, 6, seed=0)
    >>> np.bincount(labels[take]).tolist(), len(rest)
    ([2, 2, 2], 24)
    """
    from sklearn.model_selection import train_test_split

    label = f"a {what} split" if what else "a split"
    index = np.arange(len(labels))
    if n_take < 1 or n_take >= len(labels):
        raise ParameterError(
            f"{label} of {n_take} of {len(labels)} images is empty or leaves nothing; "
            "change the fractions"
        )
    try:
        rest, take = train_test_split(
            index, test_size=n_take, stratify=labels, random_state=seed, shuffle=True
        )
    except ValueError as exc:
        stratified = f"a stratified {what} split" if what else "a stratified split"
        raise ParameterError(
            f"cannot make {stratified} of {n_take} of {len(labels)} images: "
            f"{' '.join(str(exc).split())}"
        ) from None
    return np.asarray(rest), np.asarray(take)


def stratified_fraction(labels: np.ndarray, fraction: float, seed: int) -> np.ndarray:
    """Sorted indices of ``round(fraction · N)`` samples with the class proportions of ``labels``.

    Class c gets ``fraction · N_c`` samples rounded by largest remainder, so the total
    is ``round(fraction · N)``, except that every class keeps at least one sample,
    which can add a few when the fraction leaves a class none. The samples of each
    class are drawn without replacement with ``np.random.default_rng(seed)``.

    Examples
    --------
    >>> labels = np.repeat(np.arange(10), 42)
    >>> np.bincount(labels[stratified_fraction(labels, 0.1, seed=0)]).tolist()
    [5, 5, 4, 4, 4, 4, 4, 4, 4, 4]
    """
    classes, counts = np.unique(labels, return_counts=True)
    quota = fraction * counts
    take = np.floor(quota).astype(np.int64)
    left = int(round(fraction * labels.size)) - int(take.sum())
    if left > 0:  # largest remainders first; ties to the lower class index
        take[np.argsort(-(quota - take), kind="stable")[:left]] += 1
    take = np.clip(take, 1, counts)
    rng = np.random.default_rng(seed)
    picked = [
        rng.choice(np.flatnonzero(labels == c), size=int(k), replace=False)
        for c, k in zip(classes, take, strict=True)
    ]
    return np.sort(np.concatenate(picked))


def stratified_subsample(labels: np.ndarray, limit: int, seed: int) -> np.ndarray:
    """Sorted indices of at most ``limit`` samples with the class proportions of ``labels``.

    All samples when ``limit`` is 0 or at least N; otherwise
    :func:`stratified_fraction` with the fraction ``limit / N`` (so ``limit``
    samples, every class keeping at least one).

    Examples
    --------
    >>> labels = np.repeat(np.arange(4), [10, 20, 30, 40])
    >>> np.bincount(labels[stratified_subsample(labels, 10, seed=0)]).tolist()
    [1, 2, 3, 4]
    >>> len(stratified_subsample(labels, 0, seed=0))
    100
    """
    if limit == 0 or labels.size <= limit:
        return np.arange(labels.size)
    return stratified_fraction(labels, limit / labels.size, seed)

"""The comparison harness: the LIF head against softmax heads, SVMs, RNNs, with seeds and tests.

- :mod:`~spikerec.compare.config`: :class:`CompareConfig` and the entry names;
- :mod:`~spikerec.compare.entries`: the entries as objects that say how they run;
- :mod:`~spikerec.compare.harness`: :func:`run_compare` and the summaries;
- :mod:`~spikerec.compare.jobs`: tasks in parallel processes (``--jobs``);
- :mod:`~spikerec.compare.store`: finished work on disk (``--resume``);
- :mod:`~spikerec.compare.report`: the table, ``report.md`` and figures;
- :mod:`~spikerec.compare.stats`: confidence intervals, McNemar, decision latency;
- :mod:`~spikerec.compare.baselines`: the SVM, RNN, CNN-RNN and GAN-augmentation baselines.

Importing it loads scikit-learn.
"""

from spikerec.compare.config import ENTRIES, CompareConfig, parse_entries
from spikerec.compare.harness import CompareOutcome, EntryResult, run_compare

__all__ = [
    "ENTRIES",
    "CompareConfig",
    "CompareOutcome",
    "EntryResult",
    "parse_entries",
    "run_compare",
]

# Names of the flat module ``spikerec.compare`` of spikerec 0.1 that now live in the
# modules of this package, looked up on first use (PEP 562).
_OLD_NAMES = {
    **dict.fromkeys(
        (
            "AUGMENT_BASELINES",
            "NEURAL_ENTRIES",
            "REFERENCE_ENTRY",
            "REUSES_MODEL_OF",
            "SEQUENCE_ENTRIES",
            "SVM_ENTRIES",
        ),
        "spikerec.compare.config",
    ),
    **dict.fromkeys(
        (
            "augmentation_effects",
            "lif_time_course",
            "row_label",
            "run_entry",
            "seed_splits",
            "stratified_fraction",
            "summarize",
        ),
        "spikerec.compare.harness",
    ),
}


def __getattr__(name: str) -> object:
    import importlib

    home = _OLD_NAMES.get(name)
    if home is None:
        raise AttributeError(f"module 'spikerec.compare' has no attribute {name!r}")
    return getattr(importlib.import_module(home), name)

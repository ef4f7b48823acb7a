"""Module paths of spikerec before its layered layout, kept importable.

``from spikerec.functional import lif_step`` and the other flat module paths of
spikerec 0.1 keep working: each old name is an alias of the module that now holds
its code (``sys.modules`` maps both names to one module object, so monkeypatching
either patches both). New code should import from the new paths or from
``spikerec`` itself.
"""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.machinery
import sys
import types

#: Old module path -> the module that holds its code now.
MOVED: dict[str, str] = {
    "spikerec.params": "spikerec.lif.params",
    "spikerec.functional": "spikerec.lif.step",
    "spikerec.fused": "spikerec.lif.fused",
    "spikerec.surrogate": "spikerec.lif.surrogates",
    "spikerec.neurons": "spikerec.lif.modules",
    "spikerec.integrators": "spikerec.lif.integrators",
    "spikerec.integrators.base": "spikerec.lif.integrators.base",
    "spikerec.integrators.euler": "spikerec.lif.integrators.euler",
    "spikerec.integrators.exact": "spikerec.lif.integrators.exact",
    "spikerec.integrators.rk4": "spikerec.lif.integrators.rk4",
    "spikerec.integrators.events": "spikerec.reference.events",
    "spikerec.integrators.event_driven": "spikerec.reference.event_driven",
    "spikerec.integrators.scipy_reference": "spikerec.reference.scipy_ivp",
    "spikerec.simulate": "spikerec.reference.grid",
    "spikerec.held_scan": "spikerec.reference.held_scan",
    "spikerec.inputs": "spikerec.reference.inputs",
    "spikerec.frontend": "spikerec.recognition.frontend",
    "spikerec.encoders": "spikerec.recognition.encoders",
    "spikerec.heads": "spikerec.recognition.heads",
    "spikerec.recognizer": "spikerec.recognition.recognizer",
    "spikerec.idx": "spikerec.data.idx",
    "spikerec.checkpoints": "spikerec.training.checkpoints",
    "spikerec.distributed": "spikerec.training.distributed",
    "spikerec.compare_jobs": "spikerec.compare.jobs",
    "spikerec.compare_store": "spikerec.compare.store",
    "spikerec.compare_report": "spikerec.compare.report",
    "spikerec.stats": "spikerec.compare.stats",
    "spikerec.baselines": "spikerec.compare.baselines",
    "spikerec.baselines.augment": "spikerec.compare.baselines.augment",
    "spikerec.baselines.fit": "spikerec.compare.baselines.fit",
    "spikerec.baselines.gan": "spikerec.compare.baselines.gan",
    "spikerec.baselines.rnn": "spikerec.compare.baselines.rnn",
    "spikerec.runner": "spikerec.commands.train",
    "spikerec.membrane_trace": "spikerec.commands.simulate",
    "spikerec.cli": "spikerec.commands.cli",
    "spikerec.runs": "spikerec.run_folders",
}

#: Names an old module exported that now live in a module of a lower layer.
_EXTRA_NAMES: dict[str, dict[str, str]] = {
    "spikerec.integrators.events": {"after_reset": "spikerec.lif.rules"},
    "spikerec.integrators": {
        "ContinuousResult": "spikerec.reference.events",
        "simulate_event_driven": "spikerec.reference.event_driven",
        "solve_ivp_lif": "spikerec.reference.scipy_ivp",
    },
    "spikerec.heads": {
        "DECODERS": "spikerec.recognition.decoders",
        "Decoded": "spikerec.recognition.decoders",
        "decode": "spikerec.recognition.decoders",
    },
    # runner.py held train, evaluate and trace; each command has its own module now.
    "spikerec.runner": {
        "SPLITS": "spikerec.training.trained_model",
        "load_model": "spikerec.training.trained_model",
        "eval_summary": "spikerec.commands._common",
        "run_evaluation": "spikerec.commands.evaluate",
        "run_trace": "spikerec.commands.trace",
    },
    "spikerec.cli": {"MAX_SIMULATION_VALUES": "spikerec.commands.simulate"},
}


class _AliasLoader(importlib.abc.Loader):
    def __init__(self, old: str, new: str) -> None:
        self.old, self.new = old, new

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> types.ModuleType:
        module = importlib.import_module(self.new)
        self._own_spec = module.__spec__
        for name, home in _EXTRA_NAMES.get(self.old, {}).items():
            if not hasattr(module, name):
                setattr(module, name, getattr(importlib.import_module(home), name))
        return module

    def exec_module(self, module: types.ModuleType) -> None:
        # Already executed under its new name: running it again would duplicate its
        # classes. The import system has just set the alias spec on the module; give
        # it back its own.
        module.__spec__ = self._own_spec


class _AliasFinder(importlib.abc.MetaPathFinder):
    def find_spec(
        self, fullname: str, path: object = None, target: object = None
    ) -> importlib.machinery.ModuleSpec | None:
        new = MOVED.get(fullname)
        if new is None:
            return None
        return importlib.machinery.ModuleSpec(fullname, _AliasLoader(fullname, new))


def install() -> None:
    """Make the old module paths importable (idempotent).

    An old path whose last name is also a public name of its package
    (``spikerec.simulate``, the module, beside ``spikerec.simulate``, the function)
    is registered at once: imported later, the import system would set the module
    as the package's attribute and hide the function.
    """
    for old, new in MOVED.items():
        parent, _, child = old.rpartition(".")
        owner = sys.modules.get(parent)
        if (
            old not in sys.modules
            and new in sys.modules
            and owner is not None
            and not isinstance(getattr(owner, child, None), (types.ModuleType, type(None)))
        ):
            sys.modules[old] = sys.modules[new]
    if not any(isinstance(finder, _AliasFinder) for finder in sys.meta_path):
        # First: behind the path finder, ``spikerec.integrators.exact`` would be found
        # through its aliased parent's ``__path__`` and executed a second time, as a
        # new module with its own copies of the classes.
        sys.meta_path.insert(0, _AliasFinder())

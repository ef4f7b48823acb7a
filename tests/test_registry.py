"""The one registry convention: look-ups by name, the order of registration, the errors."""

from __future__ import annotations

import argparse
import importlib

import pytest

from spikerec.errors import ParameterError
from spikerec.registry import Registry


def test_iteration_follows_registration_order_not_the_alphabet():
    registry = Registry("fruit", [("pear", 1), ("apple", 2)])
    registry.add("zucchini", 3)

    @registry.register("banana")
    def banana():
        return 4

    assert list(registry) == ["pear", "apple", "zucchini", "banana"]
    assert registry.names() == ("pear", "apple", "zucchini", "banana")
    assert list(registry.values())[:3] == [1, 2, 3]
    assert registry.get("banana") is banana  # the decorator returns the function itself
    assert len(registry) == 4


@pytest.mark.parametrize("name", ["cherry", "Pear", "", None, ["pear"], 1])
def test_unknown_name_lists_the_valid_ones_in_order(name):
    registry = Registry("fruit", [("pear", 1), ("apple", 2)])
    with pytest.raises(ParameterError) as info:
        registry.get(name)
    assert str(info.value) == f"unknown fruit {name!r}; valid: pear, apple"
    assert name not in registry
    assert registry.get(name, "fallback") == "fallback"


def test_a_name_is_registered_once_and_must_be_a_string():
    registry = Registry("fruit", [("pear", 1)])
    with pytest.raises(ValueError, match="'pear' is already registered"):
        registry.add("pear", 2)
    assert registry.get("pear") == 1
    for bad in ("", 3, None):
        with pytest.raises(ValueError, match="must be a non-empty string"):
            registry.add(bad, 0)
    with pytest.raises(ValueError, match="kind"):
        Registry("")


def test_read_only_mapping_equal_to_its_name_tuple():
    registry = Registry("fruit", [("pear", 1), ("apple", 2)])
    assert registry == ("pear", "apple") and ("pear", "apple") == registry
    assert registry != ("apple", "pear")  # order matters, as for the tuples it replaced
    assert registry == {"apple": 2, "pear": 1}  # a mapping: same items
    assert registry != {"pear": 1}
    assert dict(registry.items()) == {"pear": 1, "apple": 2}
    with pytest.raises(TypeError):
        registry["kiwi"] = 3  # type: ignore[index]
    with pytest.raises(KeyError):
        registry["kiwi"]


def test_argparse_choices_accept_a_registry():
    registry = Registry("fruit", [("pear", 1), ("apple", 2)])
    parser = argparse.ArgumentParser()
    parser.add_argument("--fruit", choices=registry)
    assert parser.parse_args(["--fruit", "apple"]).fruit == "apple"
    with pytest.raises(SystemExit):
        parser.parse_args(["--fruit", "kiwi"])


# Every public registry of spikerec: (module, name, kind, its names in order).
REGISTRIES = [
    ("spikerec.lif.integrators", "INTEGRATORS", "integrator", ("euler", "exact", "rk4")),
    (
        "spikerec.lif.surrogates",
        "SURROGATES",
        "surrogate",
        ("fast_sigmoid", "atan", "sigmoid", "triangle", "superspike"),
    ),
    ("spikerec.recognition.encoders", "ENCODERS", "encoder", ("rate", "latency", "lif")),
    ("spikerec.recognition.heads", "HEADS", "head", ("lif", "rate-softmax", "softmax")),
    ("spikerec.recognition.recognizer", "HEADS", "head", ("lif", "rate-softmax", "softmax")),
    (
        "spikerec.recognition.decoders",
        "DECODERS",
        "decoder",
        ("count", "max-membrane", "first-spike"),
    ),
    (
        "spikerec.data.loading",
        "DATASETS",
        "dataset",
        ("digits", "mnist5k", "mnist", "fashion-mnist", "kmnist", "cifar10", "synthetic"),
    ),
    ("spikerec.training.config", "LOSSES", "loss", ("count", "membrane")),
    ("spikerec.training.loop", "OPTIMIZERS", "optimizer", ("adam", "sgd")),
    ("spikerec.training.loop", "SCHEDULES", "schedule", ("cosine", "step", "none")),
    (
        "spikerec.compare.config",
        "ENTRIES",
        "entry",
        (
            "lif",
            "rate-softmax",
            "softmax",
            "rnn",
            "cnn-rnn",
            "svm-rbf",
            "svm-linear",
            "svm-v4",
        ),
    ),
]


@pytest.mark.parametrize(
    ("module", "name", "kind", "names"), REGISTRIES, ids=[f"{m}.{n}" for m, n, *_ in REGISTRIES]
)
def test_spikerec_registries_share_the_convention(module, name, kind, names):
    registry = getattr(importlib.import_module(module), name)
    assert isinstance(registry, Registry)
    assert registry.kind == kind
    assert tuple(registry) == names
    assert names[-1] in registry and "nope" not in registry
    with pytest.raises(ValueError, match=f"^unknown {kind} 'nope'; valid: {', '.join(names)}$"):
        registry.get("nope")


def test_thin_lookup_functions_use_the_registries():
    from spikerec import get_integrator, get_surrogate, make_encoder
    from spikerec.lif.integrators import INTEGRATORS
    from spikerec.lif.surrogates import SURROGATES
    from spikerec.recognition.encoders import ENCODERS

    for name, cls in INTEGRATORS.items():
        assert type(get_integrator(name)) is cls
    for name, cls in SURROGATES.items():
        assert type(get_surrogate(name)) is cls
    for name, cls in ENCODERS.items():
        assert type(make_encoder(name, n_steps=3)) is cls
    for lookup, kind in ((get_integrator, "integrator"), (get_surrogate, "surrogate")):
        with pytest.raises(ValueError, match=f"unknown {kind} 'nope'"):
            lookup("nope")
    with pytest.raises(ValueError, match="unknown encoder 'nope'; valid: rate, latency, lif"):
        make_encoder("nope")


def test_a_new_head_is_one_registry_line(monkeypatch):
    """A head registered under a new name is built by build_recognizer like the others."""
    import torch
    from torch import nn

    from spikerec import build_recognizer
    from spikerec.recognition.heads import HEADS, AnalogSoftmaxHead

    class TwiceSoftmax(AnalogSoftmaxHead):
        pass

    # Through monkeypatch, so the registry is as other tests expect it afterwards.
    monkeypatch.setitem(HEADS._items, "test-twice", lambda n_classes, **_: TwiceSoftmax(n_classes))
    assert list(HEADS)[-1] == "test-twice"
    model = build_recognizer("test-twice", in_channels=1, n_classes=4)
    assert isinstance(model.head, TwiceSoftmax) and isinstance(model.head, nn.Module)
    assert model(torch.rand(2, 1, 8, 8)).head.logits.shape == (2, 4)

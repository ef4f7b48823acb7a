"""The moving average of the weights: its decay, what training validates and keeps with
it, and resuming a run that keeps one."""

from __future__ import annotations

import copy

import pytest
import torch

from spikerec.commands.cli import build_parser
from spikerec.data.loading import load_dataset
from spikerec.errors import ParameterError
from spikerec.training.config import LEGACY_DEFAULTS, TrainConfig
from spikerec.training.loop import train
from spikerec.training.weight_average import ema_copy, ema_decay, steps_per_epoch


class _Stop(Exception):
    pass


def test_decay_halves_an_update_after_the_half_life():
    for steps in (1, 20, 55):
        assert ema_decay(steps) ** steps == pytest.approx(0.5)
        assert ema_decay(steps, half_life_epochs=2.0) ** (2 * steps) == pytest.approx(0.5)
    assert ema_decay(20) < ema_decay(55) < 1.0  # fewer steps an epoch: faster forgetting
    for bad in ((0, 1.0), (10, 0.0), (10, float("nan"))):
        with pytest.raises(ValueError):
            ema_decay(*bad)
    assert steps_per_epoch(3500, 64) == 55 and steps_per_epoch(10, 64) == 1


def test_the_copy_follows_the_exponential_average():
    net = torch.nn.Linear(3, 2)
    average = ema_copy(net, steps_per_epoch=4)
    decay = ema_decay(4)
    expected = None
    for value in (1.0, 5.0, -2.0, 0.5):
        torch.nn.init.constant_(net.weight, value)
        average.update_parameters(net)
        expected = value if expected is None else decay * expected + (1 - decay) * value
        torch.testing.assert_close(
            average.module.weight.detach(), torch.full((2, 3), float(expected))
        )


def test_config_field_flag_and_old_configs():
    assert TrainConfig().weight_average == "none"
    assert LEGACY_DEFAULTS["weight_average"] == "none"
    with pytest.raises(ParameterError, match="valid: none, ema"):
        TrainConfig(weight_average="swa")
    assert build_parser().parse_args(["train", "--weight-average", "ema"]).weight_average == "ema"


@pytest.fixture(scope="module")
def synthetic():
    return load_dataset("synthetic", seed=0)


def test_training_validates_and_keeps_the_averaged_weights(synthetic):
    config = TrainConfig(data="synthetic", n_steps=5, epochs=3, weight_average="ema")
    payloads = []  # copies: a payload's tensors are the model's own, changed in place later
    result = train(
        config, synthetic, progress=False, checkpoint=lambda p: payloads.append(copy.deepcopy(p))
    )
    last = payloads[-2]  # after epoch 3 (the final one holds the kept weights as live ones)
    averaged = {k.removeprefix("module."): v for k, v in last["averaged_model"].items()}
    best, live = last["best_model"], last["model"]
    # The best epoch here is the last one (precondition): the kept weights are the
    # average's, not the live weights the optimizer stepped.
    assert result.state.best_epoch == result.state.epoch == 3
    weight = "head.synapses.weight"
    assert torch.equal(best[weight], averaged[weight])
    assert not torch.equal(best[weight], live[weight])
    assert torch.equal(result.model.state_dict()[weight], best[weight])
    # The same run without the average validates other weights.
    plain = train(TrainConfig(data="synthetic", n_steps=5, epochs=3), synthetic, progress=False)
    vals = [h["val_accuracy"] for h in result.state.history]
    assert vals != [h["val_accuracy"] for h in plain.state.history]
    assert result.test.accuracy >= 0.5  # still learns (chance 0.1)


def test_a_resumed_run_continues_the_average_exactly(synthetic):
    config = TrainConfig(data="synthetic", n_steps=5, epochs=2, weight_average="ema")
    full = []
    train(config, synthetic, progress=False, checkpoint=full.append)

    first = []

    def stop_after_first_epoch(payload):
        first.append(payload)
        raise _Stop

    with pytest.raises(_Stop):
        train(config, synthetic, progress=False, checkpoint=stop_after_first_epoch)
    resumed = []
    train(config, synthetic, progress=False, resume=first[0], checkpoint=resumed.append)
    for key in ("averaged_model", "best_model", "model"):
        want, got = full[-1][key], resumed[-1][key]
        assert want.keys() == got.keys()
        assert all(torch.equal(want[k], got[k]) for k in want), key
    # A checkpoint that lacks the average cannot resume an averaging run.
    broken = {k: v for k, v in first[0].items() if k != "averaged_model"}
    with pytest.raises(ValueError, match="does not match"):
        train(config, synthetic, progress=False, resume=broken)

"""Early-exit inference of the LIF head: the rule, the SynOps it counts, the full-T limit."""

from __future__ import annotations

from dataclasses import replace

import pytest
import torch

from spikerec.data.loading import load_dataset
from spikerec.errors import ParameterError
from spikerec.recognition.early_exit import (
    DEFAULT_SWEEP,
    EarlyExit,
    early_exit_curve,
    evaluate_early_exit,
    mean_early_exit,
    prefix_predictions,
    record_lif_run,
    score_early_exit,
)
from spikerec.recognition.recognizer import build_recognizer, init_parameters
from spikerec.training.loop import TrainConfig, build_model, eval_generator, evaluate, train

N_STEPS = 12


@pytest.fixture(scope="module")
def trained():
    """A LIF recogniser trained for 2 epochs on the embedded synthetic set (read only)."""
    torch.manual_seed(0)
    dataset = load_dataset("synthetic", seed=0)
    config = TrainConfig(data="synthetic", head="lif", n_steps=N_STEPS, epochs=2, seed=0)
    result = train(config, dataset, progress=False)
    return result.model, dataset, config


@pytest.fixture
def recording(trained):
    model, dataset, config = trained
    return record_lif_run(
        model, dataset.test.images, dataset.test.labels, generator=eval_generator(config)
    )


def test_impossible_rule_is_the_full_run(trained, recording):
    model, dataset, config = trained
    result = score_early_exit(recording, EarlyExit(margin=N_STEPS + 1, patience_steps=1))
    assert torch.all(result.exit_steps == N_STEPS)
    assert result.mean_steps == N_STEPS
    assert result.accuracy == result.full_accuracy
    assert result.synops_per_image == result.full_synops_per_image
    # The full run is what the plain evaluation scores, and the SynOps what the
    # comparison counts: every V4 spike of the T steps times C output synapses.
    plain = evaluate(
        model,
        dataset.test.images,
        dataset.test.labels,
        n_classes=dataset.n_classes,
        generator=eval_generator(config),
    )
    assert result.full_accuracy == pytest.approx(plain.accuracy, abs=1e-6)  # float32 mean
    assert torch.equal(result.predictions, plain.predictions)
    with torch.no_grad():
        v4 = model(dataset.test.images, eval_generator(config)).v4_spikes
    expected = float(v4.sum()) * dataset.n_classes / dataset.test.images.shape[0]
    assert result.full_synops_per_image == pytest.approx(expected, rel=1e-9)


def test_synops_are_v4_spikes_up_to_the_exit_step_times_classes(trained, recording):
    model, dataset, config = trained
    rule = EarlyExit(margin=1, patience_steps=1)
    result = score_early_exit(recording, rule)
    with torch.no_grad():
        v4 = model(dataset.test.images, eval_generator(config)).v4_spikes  # [T, N, 3136]
    per_image = torch.stack(
        [v4[: int(t), i].sum() for i, t in enumerate(result.exit_steps)]
    ).double()
    assert result.synops_per_image == pytest.approx(
        float(per_image.mean()) * dataset.n_classes, rel=1e-9
    )
    assert 1 <= int(result.exit_steps.min()) and int(result.exit_steps.max()) <= N_STEPS
    assert result.mean_steps <= N_STEPS
    # Some images do stop early, so the rule saves operations.
    assert result.mean_steps < N_STEPS
    assert result.synops_per_image < result.full_synops_per_image


def test_prediction_at_exit_is_the_decision_of_a_shorter_run(trained, recording):
    """Causality: a recogniser run for t steps decodes what the first t steps of a T-step run
    decode, so the exit prediction is what a run stopped at the exit step would give."""
    model, dataset, config = trained
    images = dataset.test.images[:40]
    by_t = prefix_predictions(recording.spikes[:, :40], recording.membrane[:, :40])
    for t in (1, 3, 7):
        short = build_model(replace(config, n_steps=t), in_channels=1, n_classes=dataset.n_classes)
        short.load_state_dict(model.state_dict())
        short.eval()
        with torch.no_grad():
            out = short(images).head
        torch.testing.assert_close(out.spikes, recording.spikes[:t, :40])
        decoded = prefix_predictions(out.spikes, out.membrane)[-1]
        assert torch.equal(decoded, by_t[t - 1])


def test_looser_rules_use_fewer_synops(recording):
    strict = score_early_exit(recording, EarlyExit(margin=4, patience_steps=3))
    loose = score_early_exit(recording, EarlyExit(margin=1, patience_steps=1))
    assert torch.all(loose.exit_steps <= strict.exit_steps)
    assert loose.synops_per_image < strict.synops_per_image
    assert loose.mean_steps < strict.mean_steps
    # Along one margin, more patience never exits earlier.
    steps = [
        score_early_exit(recording, EarlyExit(margin=2, patience_steps=k)).mean_steps
        for k in (1, 2, 3, 5)
    ]
    assert steps == sorted(steps)


def test_exit_rule_on_hand_made_spikes():
    # Image 0: neuron 2 spikes every step from step 1; image 1: both neurons alternate
    # (lead never reaches 2); image 2: silent.
    spikes = torch.zeros(8, 3, 3)
    spikes[:, 0, 2] = 1.0
    spikes[0::2, 1, 0] = 1.0
    spikes[1::2, 1, 1] = 1.0
    membrane = spikes.clone()
    exits = EarlyExit(margin=2, patience_steps=3).exit_steps(spikes, membrane)
    # image 0 leads by t at step t: settled from step 2, three in a row at step 4
    assert exits.tolist() == [4, 8, 8]
    assert EarlyExit(margin=1, patience_steps=1).exit_steps(spikes, membrane).tolist() == [1, 1, 8]


def test_leader_change_restarts_the_count():
    # Neuron 0 spikes at step 1, neuron 1 at every later step: counts (1, 0), (1, 1),
    # (1, 2), ... so 0 leads at step 1, a tie at step 2, 1 leads from step 3 on.
    spikes = torch.zeros(6, 1, 2)
    spikes[0, 0, 0] = 1.0
    spikes[1:, 0, 1] = 1.0
    exits = EarlyExit(margin=1, patience_steps=2).exit_steps(spikes, spikes.clone())
    # settled at step 1 (leader 0), not at 2 (tie), then leader 1 at steps 3, 4
    assert exits.tolist() == [4]


def test_curve_and_report(trained):
    model, dataset, config = trained
    report = evaluate_early_exit(
        model,
        dataset.test.images,
        dataset.test.labels,
        generator=eval_generator(config),
    )
    assert len(report["curve"]) == len(DEFAULT_SWEEP)
    assert report["mean_steps"] <= report["n_steps"] == N_STEPS
    for point in report["curve"]:
        assert point["synops_per_image"] <= report["full_synops_per_image"] + 1e-9
        assert 0.0 <= point["accuracy"] <= 1.0
    twice = mean_early_exit([report, report])
    assert twice["accuracy"] == pytest.approx(report["accuracy"])
    assert twice["curve"][3]["synops_per_image"] == pytest.approx(
        report["curve"][3]["synops_per_image"]
    )


def test_bad_rules_and_heads_are_refused(recording):
    with pytest.raises(ParameterError, match="margin=0"):
        EarlyExit(margin=0)
    with pytest.raises(ParameterError, match="patience_steps"):
        EarlyExit(patience_steps=1.5)
    with pytest.raises(ParameterError, match="unknown decoder"):
        score_early_exit(recording, EarlyExit(), decoder="vote")
    softmax = build_recognizer("softmax", in_channels=1, n_classes=3)
    init_parameters(softmax, torch.Generator().manual_seed(0))
    with pytest.raises(ParameterError, match="LIF head"):
        record_lif_run(softmax, torch.rand(2, 1, 8, 8), torch.tensor([0, 1]))
    assert early_exit_curve(recording, []) == []

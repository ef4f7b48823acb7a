"""One set of training defaults for train and compare; the settings of the accuracy study;
old configs rebuild old models."""

from __future__ import annotations

from dataclasses import asdict, replace

import pytest
import torch
from _augment import same_draws_in_pixel_space
from torch import nn
from torch.nn import functional as F

from spikerec.commands.cli import build_parser
from spikerec.compare.config import CompareConfig
from spikerec.compare.harness import run_compare
from spikerec.data.loading import load_dataset
from spikerec.data.transforms import augment_normalized, from_pixels, random_affine
from spikerec.errors import ParameterError
from spikerec.recognition.frontend import BATCH_NORM_FEATURE_GAIN
from spikerec.recognition.heads import HeadOutput
from spikerec.recognition.recognizer import RecognizerOutput, init_parameters
from spikerec.training.loop import LEGACY_DEFAULTS, TrainConfig, build_model, loss_of, train
from spikerec.training.output_init import scale_to_fire


def initial_model(config: TrainConfig, dataset):
    model = build_model(config, in_channels=1, n_classes=dataset.n_classes)
    init_parameters(model, torch.Generator().manual_seed(config.seed))
    return model


def test_compare_trains_with_train_defaults():
    assert CompareConfig().train == TrainConfig().resolved()  # stored with digits' recipe
    args = build_parser().parse_args(["compare"])
    defaults = TrainConfig()
    compared = ("encoder", "n_steps", "epochs", "patience", "batch_size", "lr")
    for name in (*compared, "frontend_depth", "online_augment"):
        assert getattr(args, name) == getattr(defaults, name), name
    train_args = build_parser().parse_args(["train"])
    for name in ("encoder", "n_steps", "epochs", "patience", "batch_size", "lr", "loss"):
        assert getattr(train_args, name) == getattr(defaults, name), name
    # The settings of the accuracy study are flags of train, with the same defaults.
    for name in ("label_smoothing", "online_augment", "frontend_norm", "output_init"):
        assert getattr(train_args, name) == getattr(defaults, name), name
    changed = build_parser().parse_args(
        ["train", "--label-smoothing", "0", "--online-augment", "none", "--frontend-norm", "batch"]
    )
    assert (changed.label_smoothing, changed.online_augment, changed.frontend_norm) == (
        0.0,
        "none",
        "batch",
    )


def test_train_and_compare_lif_agree_for_the_same_seed():
    """The same config object trains the same model: same test predictions, image by image."""
    small = TrainConfig(data="synthetic", n_steps=6, epochs=2, seed=1)
    alone = train(small, load_dataset("synthetic", seed=1), progress=False)
    outcome = run_compare(
        CompareConfig(data="synthetic", entries=("lif",), seeds=(1,), train=small),
        progress=False,
    )
    (entry,) = outcome.results
    assert entry.accuracy == pytest.approx(alone.test.accuracy, abs=1e-6)
    assert (entry.correct == (alone.test.predictions == alone.test.labels).numpy()).all()
    assert entry.details["best_epoch"] == alone.state.best_epoch


def test_evaluated_checkpoint_names_the_best_validation_epoch():
    result = train(
        TrainConfig(data="synthetic", n_steps=5, epochs=3, patience=3),
        load_dataset("synthetic", seed=0),
        progress=False,
    )
    best = max(result.state.history, key=lambda h: h["val_accuracy"])  # first maximum
    assert result.state.best_epoch == best["epoch"]
    assert result.evaluated_checkpoint == f"best validation epoch {best['epoch']}"
    assert result.val.accuracy == pytest.approx(best["val_accuracy"], abs=1e-6)


def test_old_config_dict_rebuilds_the_old_model():
    """A config stored before the new fields existed lacks them: it gets the old behaviour."""
    old = asdict(TrainConfig(n_steps=5))
    for key in LEGACY_DEFAULTS:
        del old[key]
    config = TrainConfig.from_dict(old)
    assert config.frontend_norm == "none" and config.online_augment == "none"
    assert config.label_smoothing == 0.0
    assert not (config.learn_tau or config.learn_threshold)
    model = build_model(config, in_channels=1, n_classes=10)
    assert not any(isinstance(m, nn.BatchNorm2d) for m in model.modules())
    # The original front end's parameter names: an old state dict loads strictly.
    assert {k for k in model.state_dict() if k.startswith("frontend")} == {
        "frontend.features.0.weight",
        "frontend.features.0.bias",
        "frontend.features.3.weight",
        "frontend.features.3.bias",
    }
    # A stored new field wins over the legacy value.
    assert TrainConfig.from_dict({**old, "frontend_norm": "batch"}).frontend_norm == "batch"


def test_learnable_threshold_and_tau_train_save_and_load(tmp_path):
    from spikerec.commands.train import run_training
    from spikerec.training.trained_model import load_model

    args = build_parser().parse_args(["train", "--learn-threshold", "--learn-tau"])
    assert (args.learn_threshold, args.learn_tau) == (True, True)
    assert build_parser().parse_args(["train"]).learn_threshold is False
    config = TrainConfig(
        data="synthetic", n_steps=4, epochs=1, learn_tau=True, learn_threshold=True
    )
    run_dir, result = run_training(config, out_root=tmp_path, progress=False)
    lif = result.model.head.lif
    # One value per output neuron, moved by training away from where they started.
    assert lif.v_th.shape == (result.model.head.synapses.out_features,)
    assert not torch.allclose(lif.v_th, torch.full_like(lif.v_th, config.v_th))
    loaded = load_model(run_dir / "checkpoint.pt")
    assert loaded.config.learn_threshold and loaded.config.learn_tau
    assert torch.equal(loaded.model.head.lif.v_th, lif.v_th)
    # Other heads ignore them; a flag is a boolean.
    assert build_model(replace(config, head="softmax"), in_channels=1, n_classes=10)
    with pytest.raises(ParameterError, match="learn_threshold=1 must be true or false"):
        TrainConfig(learn_threshold=1)


def test_batch_norm_front_end():
    config = TrainConfig(n_steps=5, frontend_norm="batch")
    model = build_model(config, in_channels=1, n_classes=10)
    norms = [m for m in model.frontend.modules() if isinstance(m, nn.BatchNorm2d)]
    assert [n.num_features for n in norms] == [32, 64]
    model.train()
    features = model.frontend(torch.randn(16, 1, 28, 28))
    assert features.shape == (16, 3136) and bool((features >= 0).all())
    with pytest.raises(ParameterError, match="valid: none, batch"):
        TrainConfig(frontend_norm="layer")


def test_batch_norm_front_end_starts_in_the_lif_encoders_working_range():
    # With the last BatchNorm at weight 1 a fifth of the V4 units fired at every step
    # of a fresh model (and the LIF head trained to 64-87 % on mnist5k): its features
    # must start at the scale of the front end without normalisation.
    from spikerec.training.batch_norm import batch_norms

    images = load_dataset("digits", seed=0).train.images[:256]
    models, rates = {}, {}
    for norm in ("none", "batch"):
        models[norm] = build_model(TrainConfig(frontend_norm=norm), in_channels=1, n_classes=10)
        init_parameters(models[norm], torch.Generator().manual_seed(0))
        with torch.no_grad():
            rates[norm] = models[norm].train()(images).v4_spikes.mean(0)
    saturated = {norm: float((rate > 0.9).float().mean()) for norm, rate in rates.items()}
    assert saturated["batch"] <= max(0.02, 2 * saturated["none"])
    assert 0.5 < float(rates["batch"].mean() / rates["none"].mean()) < 2.0
    last = batch_norms(models["batch"])[-1]
    assert torch.allclose(last.weight, torch.full_like(last.weight, BATCH_NORM_FEATURE_GAIN))


def test_training_keeps_batch_norm_statistics_of_the_weights_it_scores():
    """Before every validation the statistics are recomputed with the epoch's weights,
    so the best checkpoint's statistics are those of its own weights, and a short run's
    eval-mode V4 layer is not silenced by statistics still near their start."""
    from spikerec.training.batch_norm import (
        CALIBRATION_IMAGES,
        batch_norms,
        recalibrate_batch_norm,
    )

    ds = load_dataset("synthetic", seed=0)
    config = TrainConfig(data="synthetic", epochs=2, n_steps=10, frontend_norm="batch")
    model = train(config, ds, progress=False).model
    assert not model.training  # returned ready for inference
    stored = [(n.running_mean.clone(), n.running_var.clone()) for n in batch_norms(model)]
    assert recalibrate_batch_norm(model.frontend, ds.train.images[:CALIBRATION_IMAGES])
    assert not model.training  # the mode is left as it was
    for (mean, var), layer in zip(stored, batch_norms(model), strict=True):
        assert torch.allclose(layer.running_mean, mean, atol=1e-5)
        assert torch.allclose(layer.running_var, var, rtol=1e-4, atol=1e-6)
        assert layer.momentum == 0.1
    with torch.no_grad():
        assert model(ds.test.images[:64]).head.spikes.sum() > 0


def test_recalibration_uses_at_most_max_images():
    from spikerec.recognition.frontend import V4FrontEnd
    from spikerec.training.batch_norm import recalibrate_batch_norm

    frontend = V4FrontEnd(1, norm="batch")
    images = torch.cat([torch.zeros(8, 1, 28, 28), torch.full((8, 1, 28, 28), 5.0)])
    recalibrate_batch_norm(frontend, images, max_images=8)
    first = frontend.features[1]
    expected = frontend.features[0](images[:8]).mean(dim=(0, 2, 3))
    assert torch.allclose(first.running_mean, expected, atol=1e-6)


def test_augment_normalized_moves_content_and_keeps_the_background():
    mean, std = (0.2,), (0.3,)
    pixels = torch.zeros(3, 1, 28, 28)
    pixels[:, :, 10:18, 12:16] = 1.0
    # Same draws in pixel space: the same image, normalised.
    moved, back = same_draws_in_pixel_space(augment_normalized, random_affine, pixels, mean, std)
    assert not torch.equal(moved, from_pixels(pixels, mean, std))
    # Bilinear moves keep the ink within a few percent.
    assert float(back.sum()) == pytest.approx(float(pixels.sum()), rel=0.1)


def test_online_augment_changes_training_but_not_the_data():
    dataset = load_dataset("synthetic", seed=0)
    before = dataset.train.images.clone()
    base = TrainConfig(data="synthetic", n_steps=5, epochs=2, head="softmax", online_augment="none")
    plain = train(base, dataset, progress=False)
    moved = train(replace(base, online_augment="affine"), dataset, progress=False)
    assert torch.equal(dataset.train.images, before)
    assert plain.state.history[0]["train_loss"] != moved.state.history[0]["train_loss"]
    again = train(replace(base, online_augment="affine"), dataset, progress=False)

    def untimed(history):
        return [{k: v for k, v in h.items() if k != "time_s"} for h in history]

    assert untimed(again.state.history) == untimed(moved.state.history)
    assert moved.test.accuracy >= 0.5  # still learns (chance 0.1)


def test_label_smoothing_in_the_loss():
    logits = torch.tensor([[3.0, 1.0, 0.0], [0.0, 2.0, 5.0]])
    labels = torch.tensor([0, 2])
    output = RecognizerOutput(
        features=torch.zeros(2, 4),
        v4_spikes=None,
        head=HeadOutput(logits=logits, spikes=None, membrane=None),
    )
    config = TrainConfig(head="softmax", label_smoothing=0.2)
    log_p = F.log_softmax(logits, dim=1)
    target = torch.full_like(log_p, 0.2 / 3)
    target[torch.arange(2), labels] += 0.8
    expected = -(target * log_p).sum(dim=1).mean()
    torch.testing.assert_close(loss_of(output, labels, config), expected)
    with pytest.raises(ParameterError, match="label_smoothing"):
        TrainConfig(label_smoothing=1.0)


def test_fire_init_makes_a_fresh_output_layer_spike():
    dataset = load_dataset("synthetic", seed=0)
    config = TrainConfig(data="synthetic", n_steps=8)
    images = dataset.train.images[: config.batch_size]
    model = build_model(config, in_channels=1, n_classes=dataset.n_classes)
    init_parameters(model, torch.Generator().manual_seed(0))
    before = {k: v.clone() for k, v in model.head.state_dict().items()}
    with torch.no_grad():
        silent = model(images).head.spikes.sum(dim=(0, 2)) == 0
    assert bool(silent.all())  # the default initialisation: no output spike at all
    gain = scale_to_fire(model, images)
    with torch.no_grad():
        out = model(images).head
    assert float((out.spikes.sum(dim=(0, 2)) > 0).float().mean()) >= 0.9  # from none
    # Only the scale changed, by one factor for weights and biases.
    for key, value in model.head.state_dict().items():
        torch.testing.assert_close(value, before[key] * gain)
    with pytest.raises(ParameterError, match="output_init"):
        TrainConfig(output_init="zeros")


def test_fire_init_in_training_scales_only_the_head():
    dataset = load_dataset("synthetic", seed=0)
    config = TrainConfig(data="synthetic", n_steps=5, epochs=1, output_init="fire")
    seen = []
    train(config, dataset, progress=False, checkpoint=seen.append)
    plain = initial_model(replace(config, output_init="default"), dataset)
    first = seen[0]["model"]  # after one epoch; the front end moved too, so check signs
    assert first["head.synapses.weight"].abs().mean() > 5 * plain.head.synapses.weight.abs().mean()

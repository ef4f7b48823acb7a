"""Baselines: the row RNN and CNN-RNN, their trainer, augmentation and the conditional GAN."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from torch import nn

from spikerec.compare.baselines.augment import (
    AUGMENTATIONS,
    affine,
    augment_training,
    from_pixels,
    parse_augmentations,
    random_affine,
    to_pixels,
)
from spikerec.compare.baselines.fit import (
    FitConfig,
    evaluate_classifier,
    fit_classifier,
    init_weights,
)
from spikerec.compare.baselines.gan import (
    ConditionalDiscriminator,
    ConditionalGenerator,
    GANConfig,
    diversity_ratio,
    gan_quality,
    sample_images,
    train_gan,
)
from spikerec.compare.baselines.rnn import ConvRNN, RowRNN, build_sequence_model, image_rows
from spikerec.data.loading import Split, load_dataset

# ----------------------------------------------------------------------------- sequence models


def _seeded(model: nn.Module, seed: int = 0) -> nn.Module:
    init_weights(model, torch.Generator().manual_seed(seed))
    return model.eval()


@pytest.mark.parametrize(
    ("shape", "cell"), [((1, 8, 8), "gru"), ((1, 28, 28), "lstm"), ((3, 32, 32), "gru")]
)
def test_row_rnn_shapes(shape, cell):
    model = RowRNN(shape, 10, hidden_size=16, cell=cell)
    assert model(torch.zeros(5, *shape)).shape == (5, 10)
    assert image_rows(torch.zeros(5, *shape)).shape == (shape[1], 5, shape[0] * shape[2])


@pytest.mark.parametrize("shape", [(1, 8, 8), (1, 28, 28), (3, 32, 32)])
def test_conv_rnn_shapes_and_columns(shape):
    model = _seeded(ConvRNN(shape[0], 7, hidden_size=16))
    images = torch.randn(3, *shape, generator=torch.Generator().manual_seed(1))
    assert model(images).shape == (3, 7)
    columns = model.columns(images)
    assert columns.shape == (7, 3, 64 * 7)
    maps = model.frontend(images).view(3, 64, 7, 7)
    for t in range(7):  # step t is column t of every channel, channel-major
        torch.testing.assert_close(columns[t], maps[:, :, :, t].reshape(3, -1))


def test_image_rows_is_row_major_per_step():
    images = torch.arange(2 * 2 * 3 * 4, dtype=torch.float32).reshape(2, 2, 3, 4)  # [B, C, H, W]
    rows = image_rows(images)
    assert rows.shape == (3, 2, 8)
    for t in range(3):
        for b in range(2):
            expected = torch.cat([images[b, 0, t], images[b, 1, t]])
            assert torch.equal(rows[t, b], expected)


def test_row_rnn_reads_rows_in_order_like_a_hand_unrolled_gru():
    torch.manual_seed(0)  # only for the test's own image draw
    model = _seeded(RowRNN((1, 6, 5), 4, hidden_size=8))
    images = torch.randn(3, 1, 6, 5)
    cell = nn.GRUCell(5, 8)
    cell.load_state_dict(
        {k.removesuffix("_l0"): v for k, v in model.rnn.state_dict().items()}, strict=True
    )
    h = torch.zeros(3, 8)
    with torch.no_grad():
        for t in range(6):  # row t at step t, top to bottom
            h = cell(images[:, 0, t, :], h)
        expected = model.readout(h)
        torch.testing.assert_close(model(images), expected, rtol=1e-5, atol=1e-6)
        # Reading the rows in another order gives another answer.
        flipped = model(images.flip(2))
        assert not torch.allclose(flipped, expected, atol=1e-4)
        shuffled = model(images[:, :, torch.tensor([1, 0, 2, 3, 4, 5])])
        assert not torch.allclose(shuffled, expected, atol=1e-4)


def test_macs_per_image_by_hand():
    rnn = RowRNN((1, 28, 28), 10, hidden_size=128)
    assert rnn.macs_per_image() == 28 * 3 * 128 * (28 + 128) + 128 * 10
    lstm = RowRNN((1, 8, 8), 10, hidden_size=32, cell="lstm")
    assert lstm.macs_per_image() == 8 * 4 * 32 * (8 + 32) + 32 * 10
    conv = ConvRNN(1, 10, hidden_size=64)
    assert conv.macs_per_image() == 7 * 3 * 64 * (448 + 64) + 64 * 10


def test_build_sequence_model_names_and_global_stream():
    before = torch.random.get_rng_state()
    assert isinstance(build_sequence_model("rnn", (1, 8, 8), 10), RowRNN)
    assert isinstance(build_sequence_model("cnn-rnn", (1, 8, 8), 10), ConvRNN)
    assert torch.equal(torch.random.get_rng_state(), before)
    with pytest.raises(ValueError, match="valid: rnn, cnn-rnn"):
        build_sequence_model("transformer", (1, 8, 8), 10)
    with pytest.raises(ValueError, match="valid: gru, lstm"):
        RowRNN((1, 8, 8), 10, cell="rnn")
    with pytest.raises(ValueError, match=r"\[B, 1, 8, 8\]"):
        RowRNN((1, 8, 8), 10)(torch.zeros(2, 1, 8, 9))


# ----------------------------------------------------------------------------- trainer


def test_fit_classifier_learns_reproducibly_and_keeps_the_best_epoch(synthetic):
    config = FitConfig(epochs=3, patience=0, lr=1e-2, seed=3)
    runs = [
        fit_classifier(
            RowRNN((1, 12, 12), 10, hidden_size=16),
            synthetic.train,
            synthetic.val,
            config,
            n_classes=10,
        )
        for _ in range(2)
    ]
    first, second = runs
    for a, b in zip(
        first.model.state_dict().values(), second.model.state_dict().values(), strict=True
    ):
        assert torch.equal(a, b)
    assert first.epochs_run == 3
    best = max(h["val_accuracy"] for h in first.history)
    assert first.best_val_accuracy == best
    assert first.history[first.best_epoch - 1]["val_accuracy"] == best
    # The returned weights are those of the best epoch.
    val = evaluate_classifier(first.model, synthetic.val.images, synthetic.val.labels, n_classes=10)
    assert val.accuracy == pytest.approx(best)
    assert best > 0.5  # chance is 0.1
    assert val.confusion.sum() == len(synthetic.val)


def test_fit_classifier_stops_early():
    # Labels the images carry no information about: validation accuracy stalls.
    gen = torch.Generator().manual_seed(0)
    train = Split(
        torch.randn(64, 1, 4, 4, generator=gen), torch.randint(0, 2, (64,), generator=gen)
    )
    val = Split(torch.zeros(16, 1, 4, 4), torch.zeros(16, dtype=torch.int64))
    fit = fit_classifier(
        RowRNN((1, 4, 4), 2, hidden_size=4),
        train,
        val,
        FitConfig(epochs=30, patience=2),
        n_classes=2,
    )
    assert fit.epochs_run <= fit.best_epoch + 2 < 30


@pytest.mark.parametrize(("patience", "epochs_run"), [(0, 4), (1, 2), (2, 3)])
def test_fit_classifier_patience_means_what_it_means_for_train(synthetic, patience, epochs_run):
    # lr = 1e-300 underflows to a zero update: the weights never move, the validation
    # accuracy is the same every epoch, and only epoch 1 counts as better.
    fit = fit_classifier(
        RowRNN((1, 12, 12), 10, hidden_size=4),
        synthetic.train,
        synthetic.val,
        FitConfig(epochs=4, patience=patience, lr=1e-300),
        n_classes=10,
    )
    assert len({h["val_accuracy"] for h in fit.history}) == 1  # the plateau
    assert fit.epochs_run == epochs_run == len(fit.history)
    assert fit.best_epoch == 1


@pytest.mark.parametrize(
    ("field", "value"), [("epochs", 0), ("patience", -1), ("lr", math.nan), ("max_grad_norm", -1)]
)
def test_fit_config_validation(field, value):
    with pytest.raises(ValueError, match=field):
        FitConfig(**{field: value})


# ----------------------------------------------------------------------------- augmentation


def test_affine_identity_and_exact_pixel_shift():
    gen = torch.Generator().manual_seed(0)
    pixels = torch.rand(3, 1, 8, 8, generator=gen)
    pixels[:, :, 0, :] = pixels[:, :, :, 0] = pixels[:, :, -1, :] = pixels[:, :, :, -1] = 0.0
    zero = torch.zeros(3)
    torch.testing.assert_close(affine(pixels, zero, torch.zeros(3, 2)), pixels)
    # shift x = 1/W: output pixel x takes input pixel x + 1, the content moves one pixel left.
    moved = affine(pixels, zero, torch.tensor([[1 / 8, 0.0]] * 3))
    expected = torch.zeros_like(pixels)
    expected[..., :-1] = pixels[..., 1:]
    torch.testing.assert_close(moved, expected, atol=1e-6, rtol=0)
    # A quarter turn permutes pixels exactly (square image, rotation about the centre).
    turned = affine(pixels, torch.full((3,), math.pi / 2), torch.zeros(3, 2))
    torch.testing.assert_close(turned, torch.rot90(pixels, k=1, dims=(2, 3)), atol=1e-5, rtol=0)


def test_classic_augmentation_is_seeded_and_label_preserving(synthetic):
    a, record = augment_training(synthetic, "classic", seed=4)
    b, _ = augment_training(synthetic, "classic", seed=4)
    c, _ = augment_training(synthetic, "classic", seed=5)
    n = len(synthetic.train)
    assert (record.method, record.n_real, record.n_added) == ("classic", n, n)
    assert len(a.train) == 2 * n
    assert torch.equal(a.train.images, b.train.images)  # same seed, same images
    assert not torch.equal(a.train.images[n:], c.train.images[n:])  # another seed, others
    assert torch.equal(a.train.images[:n], synthetic.train.images)  # real images first
    assert torch.equal(a.train.labels[n:], synthetic.train.labels)  # each copy keeps its label
    assert a.val is synthetic.val and a.test is synthetic.test
    assert (a.mean, a.std) == (synthetic.mean, synthetic.std)
    # Small moves: each copy stays closer to its own source than to the other classes' mean.
    real = to_pixels(synthetic.train.images, synthetic.mean, synthetic.std)
    moved = to_pixels(a.train.images[n:], a.mean, a.std)
    assert not torch.allclose(moved, real)
    own = (moved - real).abs().mean(dim=(1, 2, 3))
    other = (moved - real.roll(1, dims=0)).abs().mean(dim=(1, 2, 3))
    assert (own < other).float().mean() > 0.8
    half, rec = augment_training(synthetic, "classic", seed=4, ratio=0.5)
    assert rec.n_added == round(0.5 * n) and len(half.train) == n + rec.n_added


def test_random_affine_moves_little_and_keeps_pixel_range():
    pixels = torch.zeros(50, 1, 28, 28)
    pixels[:, :, 10:18, 12:16] = 1.0
    out = random_affine(pixels, generator=torch.Generator().manual_seed(0))
    assert out.min() >= 0.0 and out.max() <= 1.0
    mass = out.sum(dim=(1, 2, 3))
    torch.testing.assert_close(mass, torch.full_like(mass, 32.0), rtol=0.05, atol=0)
    ys, xs = torch.meshgrid(torch.arange(28.0), torch.arange(28.0), indexing="ij")
    cx = (out[:, 0] * xs).sum(dim=(1, 2)) / mass
    assert (cx - 13.5).abs().max() <= 0.1 * 28 + 1  # shifts of at most 10 % of the side
    assert (cx - 13.5).abs().max() > 0.5  # and they do happen


def test_none_augmentation_and_pixel_round_trip(synthetic):
    same, record = augment_training(synthetic, "none", seed=0)
    assert same is synthetic and record.n_added == 0
    back = from_pixels(
        to_pixels(synthetic.train.images, synthetic.mean, synthetic.std),
        synthetic.mean,
        synthetic.std,
    )
    torch.testing.assert_close(back, synthetic.train.images, atol=1e-5, rtol=0)


def test_augmentation_names():
    assert parse_augmentations("none, gan") == ("none", "gan")
    assert parse_augmentations(list(AUGMENTATIONS)) == AUGMENTATIONS
    for bad, message in (
        ("mixup", "valid: none, classic, gan"),
        ("gan,gan", "repeat"),
        (",", "no"),
    ):
        with pytest.raises(ValueError, match=message):
            parse_augmentations(bad)
    with pytest.raises(ValueError, match="ratio"):
        augment_training(load_dataset("synthetic", seed=0), "classic", seed=0, ratio=0.0)


# ----------------------------------------------------------------------------- GAN


@pytest.mark.parametrize("shape", [(1, 8, 8), (1, 12, 12), (1, 28, 28), (3, 32, 32), (1, 10, 10)])
def test_gan_networks_shapes(shape):
    g = ConditionalGenerator(shape, 10, latent_dim=16, width=8)
    d = ConditionalDiscriminator(shape, 10, width=8)
    labels = torch.arange(4)
    images = g(torch.zeros(4, 16), labels)
    assert images.shape == (4, *shape)
    assert images.abs().max() <= 1.0
    assert d(images, labels).shape == (4,)


def test_train_gan_is_seeded_and_samples_are_pixels():
    data = load_dataset("digits", seed=0).train
    pixels = (data.images[:200] * 0.3 + 0.3).clamp(0, 1)
    config = GANConfig(steps=5, batch_size=32, width=8, latent_dim=8)
    outs = []
    for _ in range(2):
        gen = torch.Generator().manual_seed(11)
        result = train_gan(pixels, data.labels[:200], 10, config, generator=gen)
        outs.append(sample_images(result.generator, torch.arange(10), generator=gen))
    assert torch.equal(outs[0], outs[1])
    assert outs[0].shape == (10, 1, 8, 8)
    assert outs[0].min() >= 0.0 and outs[0].max() <= 1.0
    assert result.history[-1]["step"] == 5
    with pytest.raises(ValueError, match="must match"):
        train_gan(pixels, data.labels[:10], 10, config, generator=torch.Generator())
    with pytest.raises(ValueError, match="steps"):
        GANConfig(steps=0)


def test_diversity_ratio_detects_collapse():
    gen = torch.Generator().manual_seed(0)
    real = torch.rand(40, 1, 6, 6, generator=gen)
    labels = torch.arange(40) % 4
    assert diversity_ratio(real, labels, real, labels) == pytest.approx(1.0)
    collapsed = real[labels.argsort()][torch.tensor([0, 10, 20, 30])].repeat_interleave(10, dim=0)
    assert diversity_ratio(collapsed, labels.sort().values, real, labels) == pytest.approx(0.0)


def test_gan_quality_separates_real_images_from_noise(synthetic):
    real = gan_quality(
        synthetic.val, synthetic.train, synthetic.val, n_classes=10, seed=0, judge_epochs=4
    )
    noise = Split(
        torch.randn(60, 1, 12, 12, generator=torch.Generator().manual_seed(0)),
        torch.arange(60) % 10,
    )
    garbage = gan_quality(
        noise, synthetic.train, synthetic.val, n_classes=10, seed=0, judge_epochs=4
    )
    assert real["judge_accuracy_generated"] > 0.8
    assert garbage["judge_accuracy_generated"] < 0.4  # chance is 0.1
    assert real["judge_accuracy_real_val"] == garbage["judge_accuracy_real_val"]


def test_gan_augmentation_end_to_end_on_digits(tmp_path):
    from spikerec.plotting import new_figure, plot_sample_grid

    digits = load_dataset("digits", seed=0)
    config = GANConfig(steps=10, width=8, latent_dim=16, judge_epochs=1)
    augmented, record = augment_training(digits, "gan", seed=0, gan=config)
    n = len(digits.train)
    counts = torch.bincount(digits.train.labels, minlength=10)
    assert record.method == "gan" and record.n_real == n and record.n_added == int(counts.sum())
    assert torch.equal(torch.bincount(augmented.train.labels[n:], minlength=10), counts)
    assert augmented.test is digits.test and augmented.val is digits.val
    assert record.samples is not None and record.samples.shape == (10, 8, 1, 8, 8)
    assert set(record.quality) == {
        "judge_accuracy_generated",
        "judge_accuracy_real_val",
        "diversity_ratio",
    }
    assert 0.0 <= record.quality["judge_accuracy_generated"] <= 1.0
    assert np.isfinite(record.quality["diversity_ratio"])
    assert "samples" not in record.summary() and record.summary()["history"]
    fig, (ax,) = new_figure(figsize=(4, 5))
    plot_sample_grid(record.samples.numpy(), class_names=list(digits.class_names), ax=ax)
    fig.savefig(tmp_path / "grid.png")
    assert (tmp_path / "grid.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_fit_classifier_stops_on_a_nan_loss_naming_epoch_and_step():
    from spikerec.errors import TrainingDiverged

    gen = torch.Generator().manual_seed(0)
    images = torch.randn(64, 1, 4, 4, generator=gen)
    images[40, 0, 0, 0] = float("nan")  # reaches the loss in whichever batch holds it
    train = Split(images, torch.randint(0, 2, (64,), generator=gen))
    val = Split(torch.zeros(16, 1, 4, 4), torch.zeros(16, dtype=torch.int64))
    with pytest.raises(TrainingDiverged, match=r"epoch 1, step \d: the loss is nan"):
        fit_classifier(
            RowRNN((1, 4, 4), 2, hidden_size=4), train, val, FitConfig(epochs=2), n_classes=2
        )

"""Per-dataset recipes (epochs, patience, front-end depth, augmentation), the deeper
front end and the distorting augmentation they choose."""

from __future__ import annotations

import json
from dataclasses import asdict, replace

import pytest
import torch
from _augment import same_draws_in_pixel_space
from torch import nn

from spikerec.commands.cli import build_parser
from spikerec.compare.config import CompareConfig
from spikerec.data.transforms import (
    affine,
    distort_normalized,
    from_pixels,
    random_affine,
    random_distortion,
)
from spikerec.errors import ParameterError
from spikerec.recognition.frontend import BATCH_NORM_FEATURE_GAIN, V4FrontEnd
from spikerec.training.config import TrainConfig, build_model
from spikerec.training.recipes import BASE_RECIPE, DATA_RECIPES, recipe_for
from spikerec.training.resume import start_again_command


def test_fields_left_unset_take_the_datasets_recipe():
    assert TrainConfig().resolved() == replace(TrainConfig(), **BASE_RECIPE)
    mnist = TrainConfig(data="mnist5k").resolved()
    assert {k: getattr(mnist, k) for k in BASE_RECIPE} == recipe_for("mnist5k")
    assert recipe_for("mnist5k") != BASE_RECIPE  # the recipe differs where measured
    # Datasets without a recipe of their own (idx folders too) get the base one.
    for data in ("digits", "synthetic", "mnist", "idx:/data/emnist"):
        assert recipe_for(data) == BASE_RECIPE, data
    # A value the user sets wins over the recipe, field by field.
    mine = TrainConfig(data="mnist5k", epochs=3, online_augment="none").resolved()
    assert (mine.epochs, mine.online_augment) == (3, "none")
    assert mine.frontend_depth == DATA_RECIPES["mnist5k"]["frontend_depth"]
    # Resolving is idempotent and leaves the original untouched.
    assert mine.resolved() is mine
    assert TrainConfig(data="mnist5k").epochs is None


def test_a_changed_dataset_resolves_to_its_own_recipe():
    """The recipe is looked up when the run starts, so replacing the data (as compare does
    for each entry) picks the new data's recipe, not the old one's."""
    base = TrainConfig()
    assert replace(base, data="mnist5k").resolved().frontend_depth == 2
    compare = CompareConfig(data="mnist5k")
    entry = TrainConfig.from_dict({**asdict(compare.train), "data": compare.data})
    assert entry.resolved().epochs == recipe_for("mnist5k")["epochs"]
    # compare_config.json records the values its entries train with, not None.
    assert compare.train == TrainConfig(data="mnist5k").resolved()
    mine = CompareConfig(data="mnist5k", train=TrainConfig(epochs=2))
    assert (mine.train.epochs, mine.train.frontend_depth) == (2, 2)
    with pytest.raises(ParameterError, match="train must be a TrainConfig"):
        CompareConfig(train={"epochs": 2})


def test_recipe_fields_are_checked_when_set():
    for bad in (0, -1, 2.5, True):
        with pytest.raises(ParameterError, match="epochs="):
            TrainConfig(epochs=bad)
    with pytest.raises(ParameterError, match="patience=-1"):
        TrainConfig(patience=-1)
    for bad in (0, 3, True, "2"):
        with pytest.raises(ParameterError, match="frontend_depth=.* must be one of 1, 2"):
            TrainConfig(frontend_depth=bad)
    with pytest.raises(ParameterError, match="valid: none, affine, distort"):
        TrainConfig(online_augment="elastic")
    # n_steps and batch_size have no recipe: None is refused.
    with pytest.raises(ParameterError, match="n_steps=None"):
        TrainConfig(n_steps=None)


def test_a_run_records_the_resolved_config(tmp_path):
    from spikerec.commands.train import run_training
    from spikerec.training.trained_model import load_model

    config = TrainConfig(data="synthetic", n_steps=4, epochs=1, head="softmax")
    run_dir, result = run_training(config, out_root=tmp_path, progress=False)
    stored = json.loads((run_dir / "config.json").read_text())
    assert stored["patience"] == BASE_RECIPE["patience"]
    assert stored["frontend_depth"] == BASE_RECIPE["frontend_depth"]
    assert all(stored[name] is not None for name in BASE_RECIPE)
    loaded = load_model(run_dir / "checkpoint.pt")
    assert loaded.config == config.resolved()
    # The command that starts the run again names only what differs from the defaults.
    assert start_again_command(loaded.config, "runs") == (
        "spikerec train --data synthetic --head softmax --n-steps 4 --epochs 1 --out runs"
    )


def test_cli_flags_default_to_the_recipe_and_override_it():
    parser = build_parser()
    args = parser.parse_args(["train"])
    assert (args.epochs, args.patience, args.frontend_depth, args.online_augment) == (None,) * 4
    set_ = parser.parse_args(["train", "--frontend-depth", "2", "--online-augment", "distort"])
    assert (set_.frontend_depth, set_.online_augment) == (2, "distort")
    assert parser.parse_args(["compare"]).epochs is None
    help_text = parser._subparsers._group_actions[0].choices["train"].format_help()
    assert "30 for mnist5k" in " ".join(help_text.split())


def test_cli_refuses_a_depth_outside_the_choices(capsys):
    with pytest.raises(SystemExit) as stop:
        build_parser().parse_args(["train", "--frontend-depth", "3"])
    assert stop.value.code == 2
    assert "--frontend-depth" in capsys.readouterr().err


def test_deeper_front_end_keeps_the_v4_shape_and_the_old_names():
    shallow = V4FrontEnd(1, norm="batch")
    deep = V4FrontEnd(1, norm="batch", depth=2)
    convs = [m for m in deep.features if isinstance(m, nn.Conv2d)]
    assert [(c.in_channels, c.out_channels) for c in convs] == [
        (1, 32),
        (32, 32),
        (32, 64),
        (64, 64),
    ]
    norms = [m for m in deep.features if isinstance(m, nn.BatchNorm2d)]
    assert norms[-1].weight.detach()[0].item() == pytest.approx(BATCH_NORM_FEATURE_GAIN)
    assert norms[0].weight.detach()[0].item() == 1.0
    for size in (8, 28, 32):
        assert deep.eval()(torch.rand(2, 1, size, size)).shape == (2, 3136)
    # depth=1 is the original layout, parameter for parameter.
    assert [k for k in V4FrontEnd(1).state_dict()] == [
        "features.0.weight",
        "features.0.bias",
        "features.3.weight",
        "features.3.bias",
    ]
    assert shallow.state_dict().keys() == V4FrontEnd(1, norm="batch", depth=1).state_dict().keys()
    n_deep = sum(p.numel() for p in deep.parameters())
    n_shallow = sum(p.numel() for p in shallow.parameters())
    assert n_deep - n_shallow == (32 * 32 * 9 + 32 + 2 * 32) + (64 * 64 * 9 + 64 + 2 * 64)
    with pytest.raises(ParameterError, match="depth=3"):
        V4FrontEnd(1, depth=3)
    model = build_model(TrainConfig(data="mnist5k", n_steps=3), in_channels=1, n_classes=10)
    assert model.frontend.depth == 2


def _stroke(n: int = 4, side: int = 28) -> torch.Tensor:
    pixels = torch.zeros(n, 1, side, side)
    pixels[:, :, side // 4 : 3 * side // 4, side // 2 - 2 : side // 2 + 2] = 1.0
    return pixels


def test_random_distortion_moves_bends_and_keeps_the_pixel_range():
    pixels = _stroke()
    out = random_distortion(pixels, generator=torch.Generator().manual_seed(0))
    assert out.shape == pixels.shape
    assert float(out.min()) >= 0.0 and float(out.max()) <= 1.0
    assert not torch.equal(out, pixels)
    # Zooms within 15 %: the ink stays within (1 +- 0.15)^2 of the stroke's, about.
    ink, moved_ink = pixels.sum((1, 2, 3)), out.sum((1, 2, 3))
    assert bool(((moved_ink / ink - 1).abs() < 0.5).all())
    # The same generator state gives the same images; another seed other images.
    again = random_distortion(pixels, generator=torch.Generator().manual_seed(0))
    assert torch.equal(out, again)
    other = random_distortion(pixels, generator=torch.Generator().manual_seed(1))
    assert not torch.equal(out, other)


def _only(pixels: torch.Tensor, seed: int = 0, **sizes: float) -> torch.Tensor:
    """random_distortion with every size 0 but those given."""
    zero = {"max_shift": 0.0, "max_rotation_deg": 0.0, "max_scale": 0.0, "max_elastic": 0.0}
    return random_distortion(
        pixels, generator=torch.Generator().manual_seed(seed), **{**zero, **sizes}
    )


def test_random_distortion_with_nothing_to_do_is_the_identity():
    pixels = torch.rand(3, 1, 28, 28)
    torch.testing.assert_close(_only(pixels), pixels, atol=1e-5, rtol=0)
    # Only the elastic warp: pixels move, yet no further than the largest displacement
    # (ink of a one-pixel-wide column spreads over its neighbours only).
    column = torch.zeros(1, 1, 28, 28)
    column[..., 14] = 1.0
    bent = _only(column, max_elastic=2 / 28)
    assert not torch.equal(bent, column)
    ink_columns = bent[0, 0].sum(0).nonzero().flatten()
    assert int(ink_columns.min()) >= 14 - 3 and int(ink_columns.max()) <= 14 + 3


def test_random_distortion_edge_cases():
    empty = torch.zeros(0, 1, 28, 28)
    assert random_distortion(empty, generator=torch.Generator()).shape == empty.shape
    with pytest.raises(ValueError, match="elastic_grid=1"):
        random_distortion(_stroke(), generator=torch.Generator(), elastic_grid=1)
    # Shift alone is affine()'s shift: the second draw of the generator, scaled.
    pixels = _stroke()
    draws = torch.Generator().manual_seed(3)
    torch.rand(4, generator=draws)  # the angles
    shift = (torch.rand(4, 2, generator=draws) * 2 - 1) * 0.12
    expected = affine(pixels, torch.zeros(4), shift)
    torch.testing.assert_close(_only(pixels, seed=3, max_shift=0.12), expected)


def test_distort_normalized_works_in_pixel_space():
    mean, std = (0.13,), (0.3,)
    pixels = _stroke()
    moved, _ = same_draws_in_pixel_space(distort_normalized, random_distortion, pixels, mean, std)
    # Stronger than the affine augmentation it extends: the images differ from its.
    shifted = from_pixels(
        random_affine(pixels, generator=torch.Generator().manual_seed(0)), mean, std
    )
    assert not torch.allclose(moved, shifted)


def test_compare_flags_set_the_recipe_fields_of_its_neural_entries():
    from spikerec.commands.cli import _compare_config

    args = build_parser().parse_args(
        ["compare", "--data", "mnist5k", "--frontend-depth", "1", "--online-augment", "affine"]
    )
    train = _compare_config(args).train
    assert (train.frontend_depth, train.online_augment) == (1, "affine")
    # Unset, they are the compared data's recipe when each entry trains.
    plain = _compare_config(build_parser().parse_args(["compare", "--data", "mnist5k"])).train
    assert plain.resolved() == TrainConfig(data="mnist5k").resolved()

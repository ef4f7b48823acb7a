"""Training: config validation, seeded reproducibility, every head learning the synthetic
set, losses / optimizers / schedules, early stopping, checkpoints (round trip, resume
equal to an uninterrupted run, refusal of missing, truncated, foreign and malicious
files) and the consistency of :func:`evaluate`'s scores."""

from __future__ import annotations

import math
import pickle
from dataclasses import asdict, replace
from pathlib import Path

import pytest
import torch
from torch.nn import functional as F

from spikerec.recognition.decoders import DECODERS
from spikerec.recognition.encoders import ENCODERS
from spikerec.recognition.heads import HeadOutput
from spikerec.recognition.recognizer import HEADS, RecognizerOutput, init_parameters
from spikerec.training.checkpoints import (
    CHECKPOINT_FORMAT,
    CHECKPOINT_VERSION,
    CheckpointError,
    load_checkpoint,
    save_checkpoint,
)
from spikerec.training.loop import (
    LOSSES,
    OPTIMIZERS,
    SCHEDULES,
    TrainConfig,
    build_model,
    eval_generator,
    evaluate,
    loss_of,
    predict,
    train,
)


def config(**changes) -> TrainConfig:
    """A small, fast run: 8 steps, batches of 32, one epoch; plain cross-entropy on the
    training images as they are (no label smoothing, no online augmentation)."""
    base = TrainConfig(
        data="synthetic",
        n_steps=8,
        batch_size=32,
        epochs=1,
        patience=5,
        label_smoothing=0.0,
        online_augment="none",
    )
    return replace(base, **changes)


def initial_model(cfg: TrainConfig, dataset):
    """The model as :func:`train` initialises it from the seed, before any update."""
    model = build_model(cfg, in_channels=dataset.image_shape[0], n_classes=dataset.n_classes)
    init_parameters(model, torch.Generator().manual_seed(cfg.seed))
    return model


def assert_same_weights(a: dict, b: dict) -> None:
    assert a.keys() == b.keys()
    for key in a:
        assert torch.equal(a[key], b[key]), key


def without_time(history: list[dict]) -> list[dict]:
    return [{k: v for k, v in h.items() if k != "time_s"} for h in history]


def capture_to_files(folder: Path):
    """A ``checkpoint`` callback that saves each payload to its own file, and the list."""
    paths: list[Path] = []

    def callback(payload):
        paths.append(save_checkpoint(folder / f"checkpoint-{len(paths)}.pt", payload))

    return callback, paths


# --------------------------------------------------------------------------- config


def test_default_config_is_valid_and_round_trips():
    cfg = TrainConfig()
    assert TrainConfig.from_dict(asdict(cfg)) == cfg
    custom = config(head="rate-softmax", encoder="latency", lr=0.01, seed=3)
    assert TrainConfig.from_dict(asdict(custom)) == custom


@pytest.mark.parametrize(
    "field, valid",
    [
        ("head", HEADS),
        ("encoder", tuple(ENCODERS)),
        ("loss", LOSSES),
        ("optimizer", OPTIMIZERS),
        ("schedule", SCHEDULES),
        ("decoder", DECODERS),
        ("integrator", ("exact", "euler", "rk4")),
        ("surrogate", ("fast_sigmoid", "atan")),
        ("reset", ("subtract", "zero", "none")),
    ],
)
def test_unknown_names_list_the_valid_ones(field, valid):
    with pytest.raises(ValueError, match=f"unknown {field} 'nope'") as info:
        TrainConfig(**{field: "nope"})
    for name in valid:
        assert name in str(info.value)


@pytest.mark.parametrize(
    "field, value",
    [
        ("epochs", 0),
        ("epochs", -1),
        ("epochs", 2.5),
        ("epochs", True),
        ("batch_size", 0),
        ("n_steps", 0),
        ("patience", -1),
        ("seed", -1),
        ("lr", 0.0),
        ("lr", -1.0),
        ("lr", math.nan),
        ("lr", math.inf),
        ("tau_mem_ms", 0.0),
        ("momentum", -0.1),
        ("weight_decay", math.nan),
        ("rate_reg", -1.0),
    ],
)
def test_bad_numbers_name_the_field(field, value):
    with pytest.raises(ValueError, match=f"{field}="):
        TrainConfig(**{field: value})


def test_threshold_not_above_reset_is_refused():
    with pytest.raises(ValueError, match="v_th"):
        TrainConfig(v_th=0.0)  # v_reset = 0


def test_from_dict_rejects_unknown_keys():
    values = asdict(config())
    values.update(epoch=3, learning_rate=0.1)
    with pytest.raises(ValueError, match="unknown config field.*epoch, learning_rate"):
        TrainConfig.from_dict(values)


# -------------------------------------------------------------------------- losses


def _fake_output(spikes, membrane):
    head = HeadOutput(logits=spikes.sum(0), spikes=spikes, membrane=membrane)
    return RecognizerOutput(features=torch.zeros(2, 4), v4_spikes=None, head=head)


def test_losses_by_hand():
    gen = torch.Generator().manual_seed(0)
    spikes = (torch.rand(5, 2, 3, generator=gen) < 0.4).float()
    membrane = torch.rand(5, 2, 3, generator=gen) * 1.5
    labels = torch.tensor([2, 0])
    out = _fake_output(spikes, membrane)
    count = F.cross_entropy(spikes.sum(0), labels)
    peak = F.cross_entropy(membrane.amax(0), labels)
    assert loss_of(out, labels, config(loss="count")) == count
    assert loss_of(out, labels, config(loss="membrane")) == peak
    reg = loss_of(out, labels, config(loss="count", rate_reg=2.0, rate_target=0.1))
    torch.testing.assert_close(reg, count + 2.0 * (spikes.mean() - 0.1) ** 2)
    analog = RecognizerOutput(torch.zeros(2, 4), None, HeadOutput(membrane[0], None, None))
    assert loss_of(analog, labels, config(loss="membrane")) == F.cross_entropy(membrane[0], labels)
    prediction, silent = predict(analog, "count")
    assert torch.equal(prediction, membrane[0].argmax(1)) and not silent.any()


# ------------------------------------------------------------------ reproducibility


def test_same_seed_same_run_other_seed_differs(tiny):
    cfg = config(encoder="rate")  # stochastic encoder: the generator matters
    torch.manual_seed(0)
    a = train(cfg, tiny, progress=False)
    torch.manual_seed(12345)  # the global generator must not matter
    b = train(cfg, tiny, progress=False)
    c = train(replace(cfg, seed=1), tiny, progress=False)
    assert_same_weights(a.model.state_dict(), b.model.state_dict())
    assert without_time(a.state.history) == without_time(b.state.history)
    assert torch.equal(a.test.predictions, b.test.predictions)
    assert a.test.accuracy == b.test.accuracy and a.val.accuracy == b.val.accuracy
    weight = "head.synapses.weight"
    assert not torch.equal(a.model.state_dict()[weight], c.model.state_dict()[weight])
    assert without_time(a.state.history) != without_time(c.state.history)


@pytest.mark.parametrize(
    "head, encoder",
    [("lif", "rate"), ("lif", "lif"), ("rate-softmax", "rate"), ("softmax", "lif")],
)
def test_every_head_learns_synthetic(head, encoder, synthetic):
    result = train(config(head=head, encoder=encoder, epochs=2), synthetic, progress=False)
    chance = 1.0 / synthetic.n_classes
    assert len(result.state.history) == 2
    assert result.test.accuracy >= 0.5 >= 5 * chance
    assert result.val.accuracy >= 0.5
    assert result.test.labels.numel() == len(synthetic.test)
    assert all(math.isfinite(h["train_loss"]) for h in result.state.history)
    if (head, encoder) == ("lif", "rate"):
        # The LIF head answers with spikes, not only through the silent-layer fallback.
        # (With the lif encoder and 8 steps the output layer typically stays silent after
        # 2 epochs and its accuracy comes from the membrane fallback alone.)
        assert result.test.silent_fraction < 0.5


@pytest.mark.parametrize(
    "loss, optimizer, schedule",
    [
        ("count", "adam", "cosine"),
        ("membrane", "sgd", "step"),
        ("membrane", "adam", "none"),
        ("count", "sgd", "none"),
    ],
)
def test_losses_optimizers_schedules_run(loss, optimizer, schedule, tiny, tmp_path):
    lr = 0.01
    # The rate encoder: with the lif encoder and 8 steps the V4 layer of a freshly
    # initialised front end is silent (features < 1 never reach threshold), so the
    # synapse weights get no gradient at all.
    cfg = config(loss=loss, optimizer=optimizer, schedule=schedule, epochs=2, lr=lr, encoder="rate")
    callback, paths = capture_to_files(tmp_path)
    result = train(cfg, tiny, checkpoint=callback, progress=False)
    history = result.state.history
    assert [h["epoch"] for h in history] == [1, 2]
    assert all(math.isfinite(h["train_loss"]) and h["train_loss"] > 0 for h in history)
    # Learning rate after each epoch's scheduler step.
    expected = {
        "cosine": [lr * (1 + math.cos(math.pi / 2)) / 2, 0.0],
        "step": [lr * 0.3, lr * 0.09],  # step_size = max(1, epochs // 3) = 1, gamma 0.3
        "none": [lr, lr],
    }[schedule]
    for h, want in zip(history, expected, strict=True):
        assert h["lr"] == pytest.approx(want, abs=1e-12)
    group = load_checkpoint(paths[-1])["optimizer"]["param_groups"][0]
    if optimizer == "sgd":
        assert group["momentum"] == cfg.momentum and "betas" not in group
    else:
        assert "betas" in group
    # Something was learned: the last epoch's weights are not the initial ones.
    last = load_checkpoint(paths[-2])["model"]
    init = initial_model(cfg, tiny).state_dict()
    assert not torch.equal(last["head.synapses.weight"], init["head.synapses.weight"])


# ------------------------------------------------------------------ early stopping


def test_early_stopping_on_a_plateau(tiny):
    # lr = 1e-300 underflows to a zero update in float32: the weights never move, so the
    # validation accuracy is the same every epoch and only epoch 1 counts as better.
    cfg = config(lr=1e-300, epochs=6, patience=2)
    result = train(cfg, tiny, progress=False)
    history = result.state.history
    assert len({h["val_accuracy"] for h in history}) == 1  # the plateau (precondition)
    assert result.state.epoch == 3 < cfg.epochs  # epoch 1 best, then 2 without improvement
    assert [h["epoch"] for h in history] == [1, 2, 3]
    assert result.state.best_epoch == 1
    assert result.state.finished
    # The parameters never moved (the BatchNorm statistics are recomputed every epoch,
    # the same each time for the same weights).
    assert_same_weights(
        dict(result.model.named_parameters()), dict(initial_model(cfg, tiny).named_parameters())
    )


@pytest.mark.parametrize(("patience", "epochs_run"), [(0, 4), (1, 2)])
def test_patience_zero_disables_early_stopping(tiny, patience, epochs_run):
    # The plateau of the test above: only epoch 1 improves on the validation accuracy.
    cfg = config(lr=1e-300, epochs=4, patience=patience)
    result = train(cfg, tiny, progress=False)
    assert len({h["val_accuracy"] for h in result.state.history}) == 1  # the plateau
    assert result.state.epoch == epochs_run
    assert result.state.best_epoch == 1
    assert result.state.epochs_without_improvement == epochs_run - 1


@pytest.mark.parametrize("patience", [-1, True, 1.5])
def test_patience_is_validated_like_the_baselines(patience):
    from spikerec.compare.baselines.fit import FitConfig

    messages = []
    for make in (lambda: config(patience=patience), lambda: FitConfig(patience=patience)):
        with pytest.raises(ValueError, match="patience") as info:
            make()
        messages.append(str(info.value))
    assert (
        messages[0]
        == messages[1]
        == (f"patience={patience!r} must be an integer >= 0 (0: no early stopping)")
    )


# --------------------------------------------------------------------- checkpoints


def test_checkpoint_round_trip(tmp_path):
    payload = {
        "weights": {"w": torch.randn(3, 4), "b": torch.arange(5)},
        "history": [{"epoch": 1, "loss": 0.5}],
        "name": "run",
        "nothing": None,
        "generator": torch.Generator().manual_seed(3).get_state(),
    }
    path = save_checkpoint(tmp_path / "c.pt", payload)
    assert path == tmp_path / "c.pt"
    loaded = load_checkpoint(path)
    assert loaded["format"] == CHECKPOINT_FORMAT and loaded["version"] == CHECKPOINT_VERSION
    assert torch.equal(loaded["weights"]["w"], payload["weights"]["w"])
    assert torch.equal(loaded["weights"]["b"], payload["weights"]["b"])
    assert torch.equal(loaded["generator"], payload["generator"])
    assert loaded["history"] == payload["history"] and loaded["nothing"] is None
    save_checkpoint(tmp_path / "c.pt", {**payload, "name": "second"})  # replaced whole
    assert load_checkpoint(tmp_path / "c.pt")["name"] == "second"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["c.pt"]  # no temp files left


def test_checkpoint_folder_form(tmp_path):
    save_checkpoint(tmp_path / "checkpoint.pt", {"x": 1})
    assert load_checkpoint(tmp_path)["x"] == 1


def test_resume_equals_uninterrupted_run(tiny, tmp_path):
    cfg = config(encoder="rate", epochs=2)  # stochastic: the generator state must resume
    callback, paths = capture_to_files(tmp_path)
    full = train(cfg, tiny, checkpoint=callback, progress=False)
    assert len(paths) == 3  # after epoch 1, after epoch 2, final
    after_first = load_checkpoint(paths[0])
    assert after_first["train_state"]["epoch"] == 1 and not after_first["train_state"]["finished"]

    resumed = train(cfg, tiny, resume=after_first, progress=False)
    assert_same_weights(full.model.state_dict(), resumed.model.state_dict())
    assert without_time(full.state.history) == without_time(resumed.state.history)
    assert (full.state.best_epoch, full.state.epoch) == (resumed.state.best_epoch, 2)
    assert torch.equal(full.test.predictions, resumed.test.predictions)
    assert full.val.accuracy == resumed.val.accuracy

    # A finished run resumed does no more epochs and scores the same.
    final = load_checkpoint(paths[-1])
    again = train(cfg, tiny, resume=final, progress=False)
    assert again.state.epoch == 2
    assert without_time(again.state.history) == without_time(full.state.history)
    assert again.test.accuracy == full.test.accuracy
    assert_same_weights(full.model.state_dict(), again.model.state_dict())


@pytest.mark.parametrize("head", ["softmax", None])
def test_resume_from_a_mismatched_payload_is_a_checkpoint_error(head, tiny):
    if head is None:
        payload: dict = {}
    else:
        other = initial_model(config(head=head), tiny)
        payload = {"model": other.state_dict()}
    with pytest.raises(CheckpointError, match="does not match") as info:
        train(config(), tiny, resume=payload, progress=False)
    assert "\n" not in str(info.value)


class _Evil:
    """Unpickling this creates ``marker``: what a malicious checkpoint could do."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (open, (str(self.marker), "w"))


def _real_checkpoint(path: Path, tiny) -> Path:
    cfg = config()
    model = initial_model(cfg, tiny)
    return save_checkpoint(path, {"config": asdict(cfg), "best_model": model.state_dict()})


def _assert_refused(path: Path, match: str) -> CheckpointError:
    with pytest.raises(CheckpointError, match=match) as info:
        load_checkpoint(path)
    message = str(info.value)
    assert "\n" not in message
    assert str(path) in message
    assert isinstance(info.value, ValueError)
    return info.value


def test_load_refuses_missing_file(tmp_path):
    _assert_refused(tmp_path / "nothing.pt", "does not exist")
    _assert_refused(tmp_path / "checkpoint.pt", "does not exist")
    with pytest.raises(CheckpointError, match="checkpoint.pt"):
        load_checkpoint(tmp_path)  # a folder without checkpoint.pt


def test_load_refuses_empty_file(tmp_path):
    path = tmp_path / "empty.pt"
    path.write_bytes(b"")
    _assert_refused(path, "empty")


def test_load_refuses_truncated_file(tmp_path, tiny):
    real = _real_checkpoint(tmp_path / "real.pt", tiny)
    assert load_checkpoint(real)["config"]["data"] == "synthetic"  # the intact file loads
    data = real.read_bytes()
    cut = tmp_path / "cut.pt"
    cut.write_bytes(data[: len(data) // 2])
    _assert_refused(cut, "truncated or corrupt")


def test_load_refuses_garbage(tmp_path):
    path = tmp_path / "garbage.pt"
    path.write_bytes(bytes(range(256)) * 10)
    _assert_refused(path, "refused|corrupt")


@pytest.mark.parametrize(
    "content", [b"hello world, this is a text file\n", b"a"], ids=["text", "one-byte"]
)
def test_load_refuses_text_file(content, tmp_path):
    path = tmp_path / "notes.pt"
    path.write_bytes(content)
    _assert_refused(path, "corrupt|refused|not a spikerec")


def test_load_refuses_foreign_torch_file(tmp_path):
    path = tmp_path / "foreign.pt"
    torch.save({"a": 1}, path)
    _assert_refused(path, "not a spikerec checkpoint")
    torch.save([1, 2], path)
    _assert_refused(path, "not a spikerec checkpoint")


def test_load_refuses_other_version(tmp_path):
    path = tmp_path / "future.pt"
    torch.save({"format": CHECKPOINT_FORMAT, "version": CHECKPOINT_VERSION + 1}, path)
    _assert_refused(path, "version")


@pytest.mark.parametrize("container", ["torch", "pickle"])
def test_load_refuses_malicious_pickle_without_running_it(container, tmp_path):
    marker = tmp_path / "pwned"
    path = tmp_path / "evil.pt"
    content = {"format": CHECKPOINT_FORMAT, "version": CHECKPOINT_VERSION, "x": _Evil(marker)}
    if container == "torch":
        torch.save(content, path)
    else:
        with open(path, "wb") as handle:
            pickle.dump(content, handle, protocol=2)
    assert not marker.exists()
    _assert_refused(path, "refused")
    assert not marker.exists()
    # Control: the file really is live; an unsafe load would have created the marker.
    if container == "torch":
        torch.load(path, weights_only=False)
    else:
        with open(path, "rb") as handle:
            pickle.load(handle)
    assert marker.exists()


# ------------------------------------------------------------------------- evaluate


def test_evaluate_scores_are_consistent(tiny):
    cfg = config()
    model = initial_model(cfg, tiny)
    images, labels = tiny.test.images, tiny.test.labels
    model.train()
    result = evaluate(model, images, labels, n_classes=10, generator=eval_generator(cfg))
    assert model.training  # mode restored
    confusion = result.confusion
    assert confusion.shape == (10, 10) and confusion.dtype == torch.int64
    assert torch.equal(confusion.sum(1), torch.bincount(labels, minlength=10))
    assert torch.equal(confusion.sum(0), torch.bincount(result.predictions, minlength=10))
    assert result.accuracy == pytest.approx(float(confusion.trace()) / len(labels), abs=1e-7)
    assert result.accuracy == pytest.approx(
        float((result.predictions == labels).float().mean()), abs=1e-7
    )
    per_class = result.per_class_accuracy()
    for c in range(10):
        assert per_class[c] == pytest.approx(float(confusion[c, c] / confusion[c].sum()))
    assert 0.0 <= result.silent_fraction <= 1.0
    assert torch.equal(result.labels, labels)
    # Same answers whatever the batching (the lif encoder is deterministic).
    small = evaluate(model, images, labels, n_classes=10, batch_size=7)
    assert torch.equal(small.predictions, result.predictions)
    assert small.silent_fraction == result.silent_fraction


def test_evaluate_absent_class_is_nan_and_silent_is_counted(tiny):
    model = initial_model(config(), tiny)
    keep = tiny.test.labels != 9
    result = evaluate(model, tiny.test.images[keep], tiny.test.labels[keep], n_classes=10)
    per_class = result.per_class_accuracy()
    assert math.isnan(per_class[9])
    assert not any(math.isnan(a) for a in per_class[:9])
    with torch.no_grad():
        out = model(tiny.test.images[keep])
    silent = out.head.spikes.sum((0, 2)) == 0
    assert result.silent_fraction == pytest.approx(float(silent.float().mean()))


def test_evaluate_with_stochastic_encoder_is_reproducible_with_eval_generator(tiny):
    cfg = config(encoder="rate")
    model = initial_model(cfg, tiny)
    images, labels = tiny.test.images, tiny.test.labels
    a = evaluate(model, images, labels, n_classes=10, generator=eval_generator(cfg))
    b = evaluate(model, images, labels, n_classes=10, generator=eval_generator(cfg))
    assert torch.equal(a.predictions, b.predictions)
    assert a.accuracy == b.accuracy

"""The comparison harness: statistics against hand-computed cases, latency, a tiny run."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch

from spikerec.commands.cli import main
from spikerec.compare.config import ENTRIES, CompareConfig, parse_entries
from spikerec.compare.harness import EntryResult, augmentation_effects, seed_splits, summarize
from spikerec.compare.stats import decision_latency, mcnemar_test, mean_confidence_interval
from spikerec.recognition.decoders import decode

# ----------------------------------------------------------------------------- intervals


def test_confidence_interval_matches_hand_computation():
    ci = mean_confidence_interval([0.90, 0.92, 0.94])
    # s = 0.02, t(0.975, 2) = 4.302652729911275, half width = t s / sqrt(3)
    half = 4.302652729911275 * 0.02 / math.sqrt(3.0)
    assert ci.mean == pytest.approx(0.92, abs=1e-15)
    assert ci.low == pytest.approx(0.92 - half, rel=1e-9)
    assert ci.high == pytest.approx(0.92 + half, rel=1e-9)
    assert ci.n == 3


def test_confidence_interval_of_five_values_at_90_percent():
    values = [1.0, 2.0, 3.0, 4.0, 5.0]  # mean 3, s = sqrt(2.5), t(0.95, 4) = 2.131846786
    ci = mean_confidence_interval(values, level=0.90)
    half = 2.131846786326649 * math.sqrt(2.5) / math.sqrt(5.0)
    assert ci.half_width == pytest.approx(half, rel=1e-12)


def test_confidence_interval_single_value_and_bad_input():
    ci = mean_confidence_interval([0.7])
    assert (ci.low, ci.mean, ci.high) == (0.7, 0.7, 0.7)
    for bad in ([], [math.nan, 1.0]):
        with pytest.raises(ValueError):
            mean_confidence_interval(bad)
    with pytest.raises(ValueError, match="level"):
        mean_confidence_interval([0.1, 0.2], level=1.5)


# ----------------------------------------------------------------------------- McNemar


@pytest.mark.parametrize(
    ("only_a", "only_b", "both", "neither", "p_value"),
    [
        (5, 1, 10, 2, 14 / 64),  # 2 * P(X <= 1), X ~ Bin(6, 1/2) = 2 * 7/64
        (10, 0, 3, 3, 2 / 1024),  # 2 * P(X = 0), X ~ Bin(10, 1/2)
        (3, 3, 5, 0, 1.0),  # balanced discordant pairs
        (0, 0, 7, 1, 1.0),  # no discordant pair at all
        (2, 7, 0, 0, 2 * (1 + 9 + 36) / 512),  # 2 * P(X <= 2), X ~ Bin(9, 1/2)
    ],
)
def test_mcnemar_exact_p_values(only_a, only_b, both, neither, p_value):
    a = np.array([1] * only_a + [0] * only_b + [1] * both + [0] * neither, bool)
    b = np.array([0] * only_a + [1] * only_b + [1] * both + [0] * neither, bool)
    result = mcnemar_test(a, b)
    assert (result.only_a, result.only_b) == (only_a, only_b)
    assert result.p_value == pytest.approx(p_value, rel=1e-12)
    # symmetric in its arguments
    assert mcnemar_test(b, a).p_value == pytest.approx(p_value, rel=1e-12)


def test_mcnemar_refuses_unpaired_input():
    with pytest.raises(ValueError, match="length"):
        mcnemar_test(np.ones(3, bool), np.ones(4, bool))


# ----------------------------------------------------------------------------- latency


def test_decision_latency_of_constructed_predictions():
    preds = np.array([[0, 2, 1], [1, 2, 1], [1, 2, 0], [1, 2, 1]])
    assert decision_latency(preds).tolist() == [1, 0, 3]


def test_decision_latency_on_a_constructed_output_spike_train():
    # One image, three classes, 7 steps: class 1 fires at step 0, class 2 at steps 2 and 4.
    n_steps = 7
    spikes = torch.zeros(n_steps, 1, 3)
    spikes[0, 0, 1] = 1.0
    spikes[2, 0, 2] = 1.0
    spikes[4, 0, 2] = 1.0
    membrane = spikes.clone()  # equal peaks: a count tie goes to the lower index
    per_step = torch.stack(
        [decode(spikes[: t + 1], membrane[: t + 1]).prediction for t in range(n_steps)]
    )
    assert per_step[:, 0].tolist() == [1, 1, 1, 1, 2, 2, 2]
    assert decision_latency(per_step.numpy()).tolist() == [4]


def test_decision_latency_refuses_empty():
    with pytest.raises(ValueError):
        decision_latency(np.zeros((0, 3), int))


# ----------------------------------------------------------------------------- entries


def test_parse_entries():
    assert parse_entries("lif, svm-rbf") == ("lif", "svm-rbf")
    assert parse_entries("cnn-rnn,rnn") == ("cnn-rnn", "rnn")
    assert parse_entries(list(ENTRIES)) == ENTRIES
    assert {"rnn", "cnn-rnn"} <= set(ENTRIES)
    with pytest.raises(ValueError, match="valid: lif"):
        parse_entries("lif,nope")
    with pytest.raises(ValueError, match="repeat"):
        parse_entries("lif,lif")
    with pytest.raises(ValueError, match="no entries"):
        parse_entries(" , ")


# ----------------------------------------------------------------------------- end to end


def _compare_run(tmp_path, args: str):
    """Run ``spikerec compare --data synthetic ARGS`` (split at white space) into
    ``tmp_path``; it must succeed. Returns its one run folder and the names of its files."""
    argv = ["compare", "--data", "synthetic", *args.split(), "--no-progress"]
    status = main([*argv, "--out", str(tmp_path)])
    assert status == 0
    (run_dir,) = list(tmp_path.iterdir())
    return run_dir, {p.name for p in run_dir.iterdir()}


def test_tiny_compare_run_writes_every_output(tmp_path, capsys):
    run_dir, names = _compare_run(tmp_path, "--seeds 2 --epochs 1 --n-steps 6 --rnn-epochs 1")
    assert {
        "results.json",
        "results.csv",
        "report.md",
        "accuracy_bars.png",
        "accuracy_vs_steps.png",
        "confusion_matrices.png",
    } <= names
    for png in ("accuracy_bars.png", "accuracy_vs_steps.png", "confusion_matrices.png"):
        assert (run_dir / png).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    results = json.loads((run_dir / "results.json").read_text())
    rows = {row["entry"]: row for row in results["summary"]}
    assert list(rows) == list(ENTRIES)
    assert len(results["runs"]) == 2 * len(ENTRIES)
    for name, row in rows.items():
        assert row["n_seeds"] == 2
        assert 0.0 <= row["ci95_low"] <= row["accuracy_mean"] <= row["ci95_high"] <= 1.0
        if name != "lif":
            assert 0.0 <= row["mcnemar_p_vs_lif"] <= 1.0
    assert len(rows["lif"]["accuracy_by_steps"]) == 6
    assert rows["softmax"]["ops_kind"] == "MAC" and rows["lif"]["ops_kind"] == "SOP"
    assert rows["rnn"]["ops_kind"] == "MAC" and rows["cnn-rnn"]["ops_kind"] == "MAC"
    # Every SVM run records its searched grid and the values cross-validation chose.
    for run in (r for r in results["runs"] if r["entry"].startswith("svm-")):
        details = run["details"]
        for name, value in details["best_params"].items():
            assert value in details["grid"][name]
        assert len(details["cv_accuracy"]) == np.prod([len(v) for v in details["grid"].values()])
        if run["entry"] != "svm-linear":
            gammas = details["grid"]["gamma"]
            assert gammas[0] < details["gamma_reference"] < gammas[-1]
    assert results["config"]["augment"] == ["none"] and results["config"]["train_fraction"] == 1.0
    csv_lines = (run_dir / "results.csv").read_text().splitlines()
    assert len(csv_lines) == 1 + 2 * len(ENTRIES)
    out = capsys.readouterr().out
    assert "svm-linear" in out and "accuracy" in out
    assert "| lif |" in (run_dir / "report.md").read_text()
    # Early exit: per seed in the lif entry's details, averaged in its row, drawn and stated.
    early = rows["lif"]["early_exit"]
    assert early["n_seeds"] == 2 and early["mean_steps"] <= early["n_steps"] == 6
    assert early["synops_per_image"] <= early["full_synops_per_image"]
    per_seed = [r["details"]["early_exit"] for r in results["runs"] if r["entry"] == "lif"]
    assert len(per_seed) == 2 and all(len(r["curve"]) == len(early["curve"]) for r in per_seed)
    assert early["full_synops_per_image"] == pytest.approx(rows["lif"]["ops_per_image"])
    assert (run_dir / "early_exit_tradeoff.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "Early exit (lif;" in (run_dir / "report.md").read_text()


def _run(entry, seed, correct, augment="none"):
    correct = np.asarray(correct, bool)
    return EntryResult(
        entry=entry,
        seed=seed,
        accuracy=float(correct.mean()),
        correct=correct,
        per_class_accuracy=[],
        confusion=[],
        train_time_s=0.0,
        inference_time_per_image_s=0.0,
        ops_per_image=0.0,
        ops_kind="MAC",
        augment=augment,
    )


def test_summary_mcnemar_pairs_the_same_images():
    run = _run
    results = [
        run("lif", 0, [1, 1, 1, 0]),
        run("lif", 1, [1, 1, 1, 1]),
        run("softmax", 0, [0, 0, 1, 0]),
        run("softmax", 1, [0, 1, 1, 1]),
    ]
    (lif, softmax) = summarize(results, ["lif", "softmax"])
    assert softmax["only_lif_correct"] == 3 and softmax["only_entry_correct"] == 0
    assert softmax["mcnemar_p_vs_lif"] == pytest.approx(0.25)  # 2 * (1/2)^3
    assert lif["accuracy_mean"] == pytest.approx(0.875)


def test_compare_unknown_head_is_a_user_error(tmp_path, capsys):
    status = main(["compare", "--heads", "lif,nope", "--out", str(tmp_path)])
    assert status == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("spikerec") and "nope" in err and "\n" not in err
    assert list(tmp_path.iterdir()) == []


# ----------------------------------------------------------------------------- augmentation


def test_summary_pairs_mcnemar_within_each_augmentation():
    results = [
        _run("lif", 0, [1, 1, 1, 1], "none"),
        _run("softmax", 0, [0, 0, 0, 0], "none"),
        _run("lif", 0, [0, 0, 0, 0], "gan"),
        _run("softmax", 0, [1, 1, 1, 1], "gan"),
    ]
    rows = summarize(results, ["lif", "softmax"], ["none", "gan"])
    assert [r["label"] for r in rows] == [
        "lif [none]",
        "softmax [none]",
        "lif [gan]",
        "softmax [gan]",
    ]
    by_label = {r["label"]: r for r in rows}
    assert by_label["softmax [none]"]["only_lif_correct"] == 4  # against lif [none]
    assert by_label["softmax [gan]"]["only_entry_correct"] == 4  # against lif [gan]
    single = summarize(results[:2], ["lif", "softmax"])
    assert [r["label"] for r in single] == ["lif", "softmax"]


def test_augmentation_effects_by_hand():
    results = [
        _run("softmax", 0, [1, 1, 0, 0], "none"),  # 0.50
        _run("softmax", 1, [1, 1, 1, 0], "none"),  # 0.75
        _run("softmax", 0, [1, 1, 1, 0], "classic"),  # 0.75: +0.25, one image gained
        _run("softmax", 1, [1, 1, 1, 1], "classic"),  # 1.00: +0.25
        _run("softmax", 0, [0, 1, 0, 0], "gan"),  # 0.25: -0.25 vs none, -0.5 vs classic
        _run("softmax", 1, [1, 1, 1, 0], "gan"),  # 0.75: +0 vs none, -0.25 vs classic
    ]
    effects = augmentation_effects(results, ["softmax"], ["none", "classic", "gan"])
    pairs = {(e["augment"], e["versus"]): e for e in effects}
    assert set(pairs) == {("classic", "none"), ("gan", "none"), ("gan", "classic")}
    classic = pairs[("classic", "none")]
    assert classic["delta_per_seed"] == pytest.approx([0.25, 0.25])
    assert classic["delta_mean"] == pytest.approx(0.25)
    assert classic["ci95_low"] == pytest.approx(0.25) == classic["ci95_high"]  # no spread
    assert (classic["only_augment_correct"], classic["only_versus_correct"]) == (2, 0)
    assert classic["mcnemar_p"] == pytest.approx(0.5)  # 2 * (1/2)^2
    gan = pairs[("gan", "classic")]
    assert gan["delta_per_seed"] == pytest.approx([-0.5, -0.25])
    # t(0.975, 1) = 12.706204736, s = 0.25 / sqrt(2), half width = t s / sqrt(2) = t * 0.125
    assert gan["ci95_low"] == pytest.approx(-0.375 - 12.706204736174698 * 0.125, rel=1e-9)
    assert gan["ci95_high"] == pytest.approx(-0.375 + 12.706204736174698 * 0.125, rel=1e-9)
    assert (gan["only_augment_correct"], gan["only_versus_correct"]) == (0, 3)
    assert augmentation_effects(results[:2], ["softmax"], ["none"]) == []
    # the run's order of augmentations does not decide which comparisons are made
    reordered = augmentation_effects(results, ["softmax"], ["gan", "classic", "none"])
    assert {(e["augment"], e["versus"]): e["delta_per_seed"] for e in reordered} == {
        key: e["delta_per_seed"] for key, e in pairs.items()
    }


def test_seed_splits_cut_the_training_split_stratified_per_seed():
    full = seed_splits(CompareConfig(data="synthetic"), 0)
    config = CompareConfig(data="synthetic", train_fraction=0.1)
    cut = seed_splits(config, 0)
    again = seed_splits(config, 0, dataset=full)
    other = seed_splits(config, 1)
    assert len(cut.train) == 42  # 0.1 of 420, stratified: 4.2 of each class's 42
    counts = torch.bincount(cut.train.labels, minlength=10)
    assert sorted(counts.tolist()) == [4] * 8 + [5] * 2
    assert torch.equal(cut.train.images, again.train.images)
    assert torch.equal(cut.val.images, full.val.images) and torch.equal(
        cut.test.labels, full.test.labels
    )
    assert cut.mean == full.mean  # normalisation of the loaded training split
    # Every kept image is one of the seed's training images.
    flat = full.train.images.flatten(1)
    for image in cut.train.images.flatten(1)[:10]:
        assert (flat == image).all(dim=1).any()
    assert not torch.equal(other.train.images, cut.train.images)
    assert seed_splits(CompareConfig(data="synthetic"), 0, dataset=full) is full


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("train_fraction", 0.0, "train_fraction"),
        ("train_fraction", 1.5, "train_fraction"),
        ("train_fraction", math.nan, "train_fraction"),
        ("augment", ("none", "mixup"), "valid: none, classic, gan"),
        ("augment_ratio", 0.0, "augment_ratio"),
        ("rnn_cell", "rnn", "valid: gru, lstm"),
        ("rnn_hidden", 0, "rnn_hidden"),
    ],
)
def test_compare_config_validation(field, value, message):
    with pytest.raises(ValueError, match=message):
        CompareConfig(**{field: value})


@pytest.mark.parametrize(
    "argv",
    [
        ["--train-fraction", "0"],
        ["--train-fraction", "1.5"],
        ["--train-fraction", "nan"],
        ["--train-fraction", "abc"],
        ["--augment", "mixup"],
        ["--augment", "gan,gan"],
        ["--augment-ratio", "-1"],
        ["--rnn-cell", "rnn"],
    ],
)
def test_compare_bad_augmentation_options_are_user_errors(tmp_path, capsys, argv):
    try:
        status = main(["compare", *argv, "--out", str(tmp_path)])
    except SystemExit as stop:  # argparse's own checks (type, choices) exit directly
        status = stop.code
    assert status == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("spikerec") and "\n" not in err
    assert argv[0].lstrip("-").split("-")[0] in err or argv[1] in err
    assert list(tmp_path.iterdir()) == []


def test_compare_with_sequence_entries_and_augmentations_writes_results(tmp_path, capsys):
    run_dir, names = _compare_run(
        tmp_path,
        "--heads rnn --seeds 2 --rnn-epochs 2 --augment none,classic,gan"
        " --gan-steps 5 --train-fraction 0.5",
    )
    assert {"gan_samples_seed0.png", "gan_samples_seed1.png", "accuracy_bars.png"} <= names
    assert (run_dir / "gan_samples_seed0.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    results = json.loads((run_dir / "results.json").read_text())
    config = results["config"]
    assert config["augment"] == ["none", "classic", "gan"] and config["train_fraction"] == 0.5
    assert config["gan"]["steps"] == 5 and config["sequence"]["epochs"] == 2
    labels = [row["label"] for row in results["summary"]]
    assert labels == [f"rnn [{a}]" for a in ("none", "classic", "gan")]
    assert len(results["runs"]) == 2 * 3
    records = results["augmentation"]
    assert [(r["seed"], r["method"]) for r in records] == [
        (s, a) for s in (0, 1) for a in ("none", "classic", "gan")
    ]
    for r in records:
        assert r["n_real"] == 210  # half of synthetic's 420 training images
        assert r["n_added"] == (0 if r["method"] == "none" else 210)
        if r["method"] == "gan":
            assert 0.0 <= r["quality"]["judge_accuracy_generated"] <= 1.0
            assert r["quality"]["judge_accuracy_real_val"] > 0.5
        else:
            assert r["quality"] == {}
    effects = results["augmentation_effects"]
    assert {(e["entry"], e["augment"], e["versus"]) for e in effects} == {
        ("rnn", a, v) for a, v in (("classic", "none"), ("gan", "none"), ("gan", "classic"))
    }
    for e in effects:
        assert e["n_seeds"] == 2 and e["ci95_low"] <= e["delta_mean"] <= e["ci95_high"]
    csv_lines = (run_dir / "results.csv").read_text().splitlines()
    assert csv_lines[0].startswith("entry,augment,seed") and len(csv_lines) == 1 + 6
    report = (run_dir / "report.md").read_text()
    assert "fraction 0.5" in report and "| rnn [gan] |" in report
    assert "Accuracy change by augmentation" in report and "judge on generated" in report
    out = capsys.readouterr().out
    assert "rnn gan vs none" in out and "GAN seed 1" in out

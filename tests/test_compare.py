"""The comparison harness: statistics against hand-computed cases, latency, a tiny run."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch

from spikerec.cli import main
from spikerec.compare import ENTRIES, parse_entries, summarize
from spikerec.heads import decode
from spikerec.stats import decision_latency, mcnemar_test, mean_confidence_interval

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
    assert parse_entries(list(ENTRIES)) == ENTRIES
    with pytest.raises(ValueError, match="valid: lif"):
        parse_entries("lif,nope")
    with pytest.raises(ValueError, match="repeat"):
        parse_entries("lif,lif")
    with pytest.raises(ValueError, match="no entries"):
        parse_entries(" , ")


# ----------------------------------------------------------------------------- end to end


def test_tiny_compare_run_writes_every_output(tmp_path, capsys):
    status = main(
        [
            "compare",
            "--data",
            "synthetic",
            "--seeds",
            "2",
            "--epochs",
            "1",
            "--n-steps",
            "6",
            "--no-progress",
            "--out",
            str(tmp_path),
        ]
    )
    assert status == 0
    (run_dir,) = list(tmp_path.iterdir())
    names = {p.name for p in run_dir.iterdir()}
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
    csv_lines = (run_dir / "results.csv").read_text().splitlines()
    assert len(csv_lines) == 1 + 2 * len(ENTRIES)
    out = capsys.readouterr().out
    assert "svm-linear" in out and "accuracy" in out
    assert "| lif |" in (run_dir / "report.md").read_text()


def test_summary_mcnemar_pairs_the_same_images():
    from spikerec.compare import EntryResult

    def run(entry, seed, correct):
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
        )

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

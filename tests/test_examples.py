"""The example scripts of simulations/ run end to end with tiny settings.

The three ways people use spikerec: run a simulation script, plot a membrane trace,
and import spikerec's LIF layer into their own PyTorch network (a convolutional one
on MNIST included).
"""

from __future__ import annotations

import csv
import importlib.util
import json
from pathlib import Path

import pytest

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
ROOT = Path(__file__).resolve().parents[1]

# script, tiny arguments, files its run folder must hold
EXAMPLES = [
    ("membrane_trace", ["--input", "poisson"], ["membrane_trace.png", "membrane_trace.csv"]),
    ("integrator_convergence", ["--dts-ms", "0.5,1,2"], ["convergence.png", "convergence.csv"]),
    (
        "custom_network",
        ["--steps", "3", "--n-steps", "4", "--batch-size", "16"],
        ["custom_network.png", "custom_network.csv"],
    ),
    (
        "csnn_mnist",
        ["--epochs", "1", "--limit", "32", "--n-steps", "3", "--batch-size", "16"],
        ["csnn_mnist.png", "csnn_mnist.csv"],
    ),
]


def _load_script(name: str):
    spec = importlib.util.spec_from_file_location(
        f"example_{name}", ROOT / "simulations" / f"{name}.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize(("name", "args", "files"), EXAMPLES, ids=[e[0] for e in EXAMPLES])
def test_example_writes_a_new_run_folder(name, args, files, tmp_path, capsys):
    script = _load_script(name)
    assert script.main([*args, "--out", str(tmp_path)]) == 0
    (run_dir,) = list(tmp_path.iterdir())
    for file in files:
        assert (run_dir / file).stat().st_size > 0, file
    png = next(f for f in files if f.endswith(".png"))
    assert (run_dir / png).read_bytes()[:8] == PNG_MAGIC
    # A second run gets its own folder.
    assert script.main([*args, "--out", str(tmp_path)]) == 0
    assert len(list(tmp_path.iterdir())) == 2
    capsys.readouterr()


def test_custom_network_prints_and_records_the_loss(tmp_path, capsys):
    script = _load_script("custom_network")
    assert script.main(["--steps", "4", "--n-steps", "3", "--out", str(tmp_path)]) == 0
    printed = [line for line in capsys.readouterr().out.splitlines() if "loss" in line]
    assert printed and printed[0].startswith("step    1")
    (run_dir,) = list(tmp_path.iterdir())
    with open(run_dir / "custom_network.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert [int(r["step"]) for r in rows] == [1, 2, 3, 4]
    assert all(float(r["loss"]) >= 0 for r in rows)


def test_reference_cnn_learns_and_appends_one_record_per_seed(tmp_path, capsys):
    script = _load_script("reference_cnn")
    results = tmp_path / "reference.jsonl"
    args = ["--data", "digits", "--seeds", "0", "--epochs", "1", "--results", str(results)]
    (record,) = script.main(args)
    assert record["best_epoch"] == 1 and record["seed"] == 0
    assert record["test_accuracy"] > 0.5  # one epoch on the 8 x 8 digits; chance is 0.1
    assert [json.loads(line)["test_accuracy"] for line in results.read_text().splitlines()] == [
        record["test_accuracy"]
    ]
    assert "reference CNN on digits" in capsys.readouterr().out
    assert record["augment"] == "affine"
    # The augmentation of a recipe by name; another draws other batches, so another model.
    (distorted,) = script.main(
        ["--data", "digits", "--seeds", "0", "--epochs", "1", "--augment", "distort"]
    )
    assert distorted["augment"] == "distort" and distorted["test_accuracy"] > 0.3
    assert (
        distorted["val_accuracy"] != record["val_accuracy"]
        or distorted["test_accuracy"] != record["test_accuracy"]
    )
    with pytest.raises(SystemExit):
        script.main(["--epochs", "0"])
    with pytest.raises(SystemExit):
        script.main(["--augment", "mixup"])

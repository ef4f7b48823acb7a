"""The robustness guarantees as the ``spikerec`` command delivers them: checks before a run
folder exists, no half-made folder, resume and evaluate checks, one line per failure with
the right exit status (docs/reliability.md, "Wired into the command line")."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from _datasets import idx_folder

from spikerec.commands.cli import main
from spikerec.training.checkpoints import load_checkpoint, save_checkpoint

FAST = ["--epochs", "1", "--n-steps", "2", "--batch-size", "32"]


def run_cli(args: list[str], capsys) -> tuple[int, str]:
    """Exit status and stderr of ``spikerec ARGS`` run in this process."""
    status = main(args)
    return status, capsys.readouterr().err


def one_error_line(err: str) -> str:
    lines = [line for line in err.splitlines() if line.startswith("spikerec: error:")]
    assert len(lines) == 1, err
    assert "Traceback" not in err, err
    return lines[0]


@pytest.fixture(scope="module")
def trained_run(tmp_path_factory) -> Path:
    """A finished ``spikerec train`` run on a small IDX folder."""
    root = tmp_path_factory.mktemp("trained")
    data = idx_folder(root / "data")
    assert main(["train", "--data", data, *FAST, "--out", str(root / "runs"), "--no-progress"]) == 0
    (run,) = (root / "runs").iterdir()
    return run


# ---------------------------------------------------------------- before the run folder


@pytest.mark.parametrize(
    "args, keyword",
    [
        (["train", "--data", "digits", "--n-steps", "100000000"], "memory"),
        (["train", "--data", "digits", "--threads", "100000"], "too many"),
        (["compare", "--data", "digits", "--seeds", "1000000000"], "too many"),
        (["compare", "--data", "digits", "--n-steps", "100000000", "--heads", "lif"], "memory"),
    ],
    ids=["train-huge-steps", "train-threads", "compare-seeds", "compare-huge-steps"],
)
def test_sizes_are_refused_before_a_run_folder_exists(args, keyword, tmp_path, capsys):
    status, err = run_cli([*args, "--out", str(tmp_path / "runs")], capsys)
    assert status == 2
    assert keyword in one_error_line(err)
    assert not (tmp_path / "runs").exists() or not any((tmp_path / "runs").iterdir())


@pytest.mark.parametrize("command", ["train", "compare"])
def test_images_too_small_for_the_front_end_leave_no_folder(command, tmp_path, capsys):
    data = idx_folder(tmp_path / "tiny", side=3)
    extra = ["--heads", "lif,svm-linear", "--seeds", "1"] if command == "compare" else []
    status, err = run_cli(
        [command, "--data", data, *FAST, *extra, "--out", str(tmp_path / "runs")], capsys
    )
    assert status == 2
    assert "4 x 4" in one_error_line(err) or "4x4" in one_error_line(err)
    assert not (tmp_path / "runs").exists() or not any((tmp_path / "runs").iterdir())


def test_a_tiny_train_fraction_is_refused_before_the_folder(tmp_path, capsys):
    status, err = run_cli(
        ["compare", "--data", "digits", "--heads", "svm-linear", "--seeds", "1",
         "--train-fraction", "0.002", "--out", str(tmp_path / "runs")],
        capsys,
    )  # fmt: skip
    assert status == 2 and "--train-fraction" in one_error_line(err)
    assert "--resume" not in err
    assert not (tmp_path / "runs").exists() or not any((tmp_path / "runs").iterdir())


# ---------------------------------------------------------------- failures in the run


def test_divergence_before_the_first_checkpoint_leaves_no_folder(tmp_path, capsys):
    status, err = run_cli(
        ["train", "--data", "synthetic", *FAST, "--lr", "1e30", "--out", str(tmp_path / "runs"),
         "--no-progress"],
        capsys,
    )  # fmt: skip
    line = one_error_line(err)
    assert status == 3 and "epoch 1" in line and "no run folder is kept" in line
    assert "--resume" not in line
    assert not any((tmp_path / "runs").iterdir())


def test_an_interrupt_before_the_first_checkpoint_leaves_no_folder(tmp_path, capsys, monkeypatch):
    import spikerec.commands.train as train_command

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(train_command, "train", interrupted)
    status, err = run_cli(
        ["train", "--data", "synthetic", *FAST, "--out", str(tmp_path / "runs")], capsys
    )
    line = one_error_line(err)
    assert status == 130 and "no run folder is kept" in line and "--resume" not in line
    assert not any((tmp_path / "runs").iterdir())


@pytest.mark.parametrize("command", ["evaluate", "trace"])
def test_an_interrupt_while_writing_leaves_no_half_folder(
    command, trained_run, tmp_path, capsys, monkeypatch
):
    import spikerec.commands.evaluate as evaluate_command
    import spikerec.commands.trace as trace_command

    module = evaluate_command if command == "evaluate" else trace_command

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(module, "save_figure", interrupted)
    extra = ["--index", "0"] if command == "trace" else []
    status, err = run_cli([command, str(trained_run), *extra, "--out", str(tmp_path)], capsys)
    assert status == 130 and one_error_line(err)
    assert list(tmp_path.iterdir()) == []


# ---------------------------------------------------------------- resume


def test_resume_on_other_data_is_refused_and_writes_nothing(tmp_path, capsys):
    data = idx_folder(tmp_path / "data")
    assert main(["train", "--data", data, *FAST, "--out", str(tmp_path / "r"),
                 "--no-progress"]) == 0  # fmt: skip
    (run,) = (tmp_path / "r").iterdir()
    payload = load_checkpoint(run / "checkpoint.pt")
    payload["train_state"]["finished"] = False  # as if killed after epoch 1 of 2
    payload["config"]["epochs"] = 2
    save_checkpoint(run / "checkpoint.pt", payload)
    idx_folder(tmp_path / "data", side=14)  # the files replaced by 14 x 14 images
    before = {p.name: p.stat().st_mtime_ns for p in run.iterdir()}
    status, err = run_cli(["train", "--resume", str(run)], capsys)
    assert status == 2
    assert "14x14" in one_error_line(err) and "12x12" in one_error_line(err)
    assert {p.name: p.stat().st_mtime_ns for p in run.iterdir()} == before


def test_resume_removes_stale_temp_files_and_finishes(trained_run, tmp_path, capsys):
    import shutil

    run = tmp_path / "copy"
    shutil.copytree(trained_run, run)
    stale = run / ".checkpoint.pt.ab12cd34.tmp"
    stale.write_bytes(b"half a checkpoint")
    payload = load_checkpoint(run / "checkpoint.pt")
    payload["train_state"]["finished"] = False
    payload["config"]["epochs"] = 2
    save_checkpoint(run / "checkpoint.pt", payload)
    status, err = run_cli(["train", "--resume", str(run), "--no-progress"], capsys)
    assert status == 0, err
    assert not stale.exists()
    assert json.loads((run / "metrics.json").read_text())["epochs_run"] == 2
    assert not (run / ".spikerec.lock").exists()


def test_resume_of_a_run_without_checkpoint_says_how_to_start_again(tmp_path, capsys):
    run = tmp_path / "train-20250101-000000"
    run.mkdir()
    (run / "config.json").write_text(json.dumps({"data": "digits", "epochs": 3}))
    status, err = run_cli(["train", "--resume", str(run)], capsys)
    line = one_error_line(err)
    assert status == 2 and "start it again" in line and "spikerec train" in line


def test_resume_of_an_old_checkpoint_warns_in_one_line(trained_run, tmp_path, capsys):
    import shutil

    run = tmp_path / "old"
    shutil.copytree(trained_run, run)
    payload = load_checkpoint(run / "checkpoint.pt")
    del payload["data_fingerprint"]
    payload["train_state"]["finished"] = False
    payload["config"]["epochs"] = 2
    save_checkpoint(run / "checkpoint.pt", payload)
    status, err = run_cli(["train", "--resume", str(run), "--no-progress"], capsys)
    assert status == 0, err
    warnings = [line for line in err.splitlines() if line.startswith("spikerec: warning:")]
    assert len(warnings) == 1 and "without checking" in warnings[0]
    assert str(run / "checkpoint.pt") in warnings[0]  # names the file it is about


# ---------------------------------------------------------------- evaluate and trace


def _damaged(trained_run: Path, tmp_path: Path, damage) -> Path:
    payload = load_checkpoint(trained_run / "checkpoint.pt")
    damage(payload)
    (tmp_path / "damaged").mkdir()
    return save_checkpoint(tmp_path / "damaged" / "checkpoint.pt", payload)


def _nan_weight(payload) -> None:
    name = next(iter(payload["best_model"]))
    payload["best_model"][name] = torch.full_like(payload["best_model"][name], float("nan"))


@pytest.mark.parametrize("command", ["evaluate", "trace"])
@pytest.mark.parametrize(
    "damage, keyword",
    [
        (lambda p: p["dataset"].pop("name"), "name"),
        (_nan_weight, "NaN"),
    ],
    ids=["dataset-without-name", "nan-weights"],
)
def test_damaged_models_get_one_line_naming_the_file(
    command, damage, keyword, trained_run, tmp_path, capsys
):
    path = _damaged(trained_run, tmp_path, damage)
    extra = ["--index", "0"] if command == "trace" else []
    status, err = run_cli([command, str(path), *extra, "--out", str(tmp_path / "out")], capsys)
    line = one_error_line(err)
    assert status == 2 and keyword in line and str(path) in line
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())


def test_evaluate_on_other_data_uses_the_model_normalisation(trained_run, tmp_path, capsys):
    """Scoring the training data as an IDX folder of its own gives the run's accuracy:
    the new folder's statistics are not what the model was trained with."""
    metrics = json.loads((trained_run / "metrics.json").read_text())
    config = json.loads((trained_run / "config.json").read_text())
    status, err = run_cli(
        ["evaluate", str(trained_run), "--data", config["data"], "--out", str(tmp_path)], capsys
    )
    assert status == 0, err
    (out,) = tmp_path.iterdir()
    scored = json.loads((out / "metrics.json").read_text())
    assert scored["accuracy"] == pytest.approx(metrics["test"]["accuracy"])


# ---------------------------------------------------------------- signals


def test_sigterm_during_training_exits_143_in_one_line(tmp_path):
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "spikerec", "train", "--data", "synthetic", "--epochs", "50",
         "--patience", "0", "--n-steps", "2", "--out", str(tmp_path / "runs"), "--no-progress"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 120
        # Wait for the first checkpoint, so there is something to resume.
        while time.monotonic() < deadline and not list((tmp_path / "runs").glob("*/checkpoint.pt")):
            assert proc.poll() is None, proc.stderr.read().decode() if proc.stderr else ""
            time.sleep(0.2)
        proc.send_signal(signal.SIGTERM)
        _, err_bytes = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    err = err_bytes.decode()
    line = one_error_line(err)
    assert proc.returncode == 143, err
    assert line.startswith("spikerec: error: terminated") and "spikerec train --resume" in line


def test_compare_resume_checks_the_data_it_started_on(tmp_path, capsys):
    data = idx_folder(tmp_path / "data", n=90)
    args = ["compare", "--data", data, "--heads", "svm-linear", "--seeds", "1", "--no-progress"]
    assert main([*args, "--out", str(tmp_path / "runs")]) == 0
    (run,) = (tmp_path / "runs").iterdir()
    assert (run / "data_fingerprint.json").is_file()
    (run / "finished" / "complete").unlink()  # resumable again, as if killed at the end
    idx_folder(tmp_path / "data", n=90, side=14)
    status, err = run_cli(["compare", "--resume", str(run), "--no-progress"], capsys)
    assert status == 2 and "14x14" in one_error_line(err)
    # A folder from before fingerprints: resumed, with one warning line.
    idx_folder(tmp_path / "data", n=90)
    (run / "data_fingerprint.json").unlink()
    status, err = run_cli(["compare", "--resume", str(run), "--no-progress"], capsys)
    assert status == 0, err
    warnings = [line for line in err.splitlines() if line.startswith("spikerec: warning:")]
    assert len(warnings) == 1 and "without checking" in warnings[0]

"""Runs survive being killed, numerical faults stop cleanly, and torchrun training
follows the single-process run.

These tests launch real processes (a SIGKILLed ``spikerec train``, two gloo ranks
under ``torch.distributed.run``) on the embedded digits data.
"""

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

import spikerec.training.loop as training
from spikerec.commands.cli import EXIT_NUMERICAL_FAULT, main
from spikerec.recognition.recognizer import init_parameters
from spikerec.run_folders import atomic_write, atomic_write_text
from spikerec.training.checkpoints import load_checkpoint

# Small but real: 3 epochs of digits, 10 time steps, one thread (bit-identical runs).
TRAIN = ["train", "--data", "digits", "--n-steps", "10", "--threads", "1", "--no-progress"]


def _env() -> dict[str, str]:
    return {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONUNBUFFERED": "1"}


def _only_run(root: Path) -> Path:
    runs = [p for p in root.iterdir() if p.is_dir()]
    assert len(runs) == 1, runs
    return runs[0]


def _metrics(run: Path) -> dict:
    return json.loads((run / "metrics.json").read_text())


def _without_times(history: list[dict]) -> list[dict]:
    return [{k: v for k, v in row.items() if k != "time_s"} for row in history]


# ------------------------------------------------------------------- kill and resume


def test_sigkill_mid_epoch_then_resume_finishes_like_an_uninterrupted_run(tmp_path):
    args = [*TRAIN, "--epochs", "3", "--patience", "3"]
    assert main([*args, "--out", str(tmp_path / "whole")]) == 0
    whole = _only_run(tmp_path / "whole")

    killed_root = tmp_path / "killed"
    proc = subprocess.Popen(
        [sys.executable, "-m", "spikerec", *args, "--out", str(killed_root)],
        env=_env(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        stdin=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 120
        checkpoint = None
        while time.monotonic() < deadline and proc.poll() is None:
            found = list(killed_root.glob("*/checkpoint.pt")) if killed_root.exists() else []
            if found:
                checkpoint = found[0]
                break
            time.sleep(0.02)
        assert checkpoint is not None, proc.stderr.read().decode() if proc.stderr else ""
        time.sleep(0.3)  # into the second epoch
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == -signal.SIGKILL
    run = checkpoint.parent
    assert not (run / "metrics.json").exists()  # killed before the end
    # Atomic writes: the checkpoint on disk is a complete one, of epoch 1.
    assert load_checkpoint(checkpoint)["train_state"]["epoch"] == 1

    assert main(["train", "--resume", str(run), "--threads", "1", "--no-progress"]) == 0
    resumed, reference = _metrics(run), _metrics(whole)
    for key in ("epochs_run", "best_epoch", "val", "test"):
        assert resumed[key] == reference[key], key
    assert _without_times(resumed["history"]) == _without_times(reference["history"])
    a = load_checkpoint(run / "checkpoint.pt")["best_model"]
    b = load_checkpoint(whole / "checkpoint.pt")["best_model"]
    assert all(torch.equal(a[k], b[k]) for k in b)  # bit-identical on CPU


# ------------------------------------------------------------------ numerical faults


def test_nan_loss_stops_naming_epoch_and_step_and_keeps_the_last_checkpoint(
    tmp_path, monkeypatch, capsys
):
    calls = {"n": 0}
    original = training.loss_of
    # digits: 1078 training images in batches of 256 -> 5 steps per epoch
    steps_per_epoch = 5

    def poisoned(output, labels, config):
        calls["n"] += 1
        loss = original(output, labels, config)
        return loss * float("nan") if calls["n"] == steps_per_epoch + 3 else loss

    monkeypatch.setattr(training, "loss_of", poisoned)
    out = tmp_path / "runs"
    status = main([*TRAIN, "--epochs", "4", "--batch-size", "256", "--out", str(out)])
    err = capsys.readouterr().err
    assert status == EXIT_NUMERICAL_FAULT
    assert err.count("\n") == 1 and "Traceback" not in err
    assert "epoch 2, step 3" in err and "loss is nan" in err
    run = _only_run(out)
    assert "checkpoint of epoch 1 is kept" in err and str(run) in err
    assert load_checkpoint(run / "checkpoint.pt")["train_state"]["epoch"] == 1
    assert not (run / "metrics.json").exists()


def test_nan_weight_stops_naming_epoch_step_and_weight(tmp_path, monkeypatch, capsys):
    original = training._optimizer

    def corrupting(model, config):
        optimizer = original(model, config)
        count = {"n": 0}

        def corrupt_second_step(optimizer, args, kwargs):
            count["n"] += 1
            if count["n"] == 2:
                with torch.no_grad():
                    model.head.synapses.bias[0] = float("inf")

        optimizer.register_step_post_hook(corrupt_second_step)
        return optimizer

    monkeypatch.setattr(training, "_optimizer", corrupting)
    out = tmp_path / "runs"
    status = main([*TRAIN, "--epochs", "2", "--batch-size", "256", "--out", str(out)])
    err = capsys.readouterr().err
    assert status == EXIT_NUMERICAL_FAULT
    assert "epoch 1, step 2" in err and "'head.synapses.bias'" in err
    assert "no epoch finished" in err
    run = _only_run(out)
    assert not (run / "checkpoint.pt").exists() and (run / "config.json").exists()


# --------------------------------------------------------------------- atomic writes


def test_atomic_write_that_fails_leaves_the_previous_file_and_no_debris(tmp_path):
    target = tmp_path / "results.json"
    atomic_write_text(target, "complete\n")

    def half_then_crash(tmp: Path) -> None:
        tmp.write_text("compl")
        raise KeyboardInterrupt  # a crash in the middle of writing

    with pytest.raises(KeyboardInterrupt):
        atomic_write(target, half_then_crash)
    assert target.read_text() == "complete\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["results.json"]


# --------------------------------------------------------------- distributed (gloo)


def test_two_gloo_processes_follow_the_single_process_run(tmp_path):
    """torchrun with 2 CPU ranks vs one process, same global batch of 256.

    Tolerance: the two runs sum gradients in a different order (float32). With SGD
    over one epoch of 5 steps the parameters agree to 1e-5 of their largest
    magnitude (measured: 9e-8). Spiking training is chaotic, though: one spike
    flipped by rounding changes every later gradient, and with Adam, whose first
    steps move every weight by about lr * sign(gradient), runs of this length
    already differed by 3e-3.
    """
    args = ["train", "--data", "digits", "--n-steps", "5", "--epochs", "1"]
    args += ["--batch-size", "256", "--threads", "1", "--no-progress"]
    # SGD moves each weight in proportion to its gradient, so summation-order
    # differences stay at rounding level; Adam's first steps move every weight by
    # about lr * sign(gradient), and a near-zero gradient's sign is rounding noise.
    args += ["--optimizer", "sgd", "--loss", "membrane", "--lr", "0.05"]
    proc = subprocess.run(
        [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node",
         "2", "-m", "spikerec", *args, "--out", str(tmp_path / "ddp")],
        env=_env(), capture_output=True, text=True, timeout=300, stdin=subprocess.DEVNULL,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stdout.count("run folder:") == 1  # only rank 0 prints
    ddp = _only_run(tmp_path / "ddp")  # only rank 0 writes
    assert _metrics(ddp)["world_size"] == 2
    assert main([*args, "--out", str(tmp_path / "single")]) == 0
    single = _only_run(tmp_path / "single")
    assert _metrics(single)["world_size"] == 1
    a = load_checkpoint(ddp / "checkpoint.pt")["model"]
    b = load_checkpoint(single / "checkpoint.pt")["model"]
    start = training.build_model(
        training.TrainConfig(data="digits", n_steps=5), in_channels=1, n_classes=10
    )
    init_parameters(start, torch.Generator().manual_seed(0))  # as train() does, seed 0
    for name, reference in b.items():
        scale = float(reference.abs().max())
        assert float((a[name] - reference).abs().max()) <= 1e-5 * scale, name
    # and training did move the weights (the comparison is not vacuous)
    moved = max(float((b[k] - v).abs().max()) for k, v in start.state_dict().items())
    assert moved > 1e-3


def test_rate_encoder_is_refused_with_several_ranks(tiny):
    """Its draws would share the shuffling generator and differ by rank."""
    from spikerec.training.distributed import Placement

    config = training.TrainConfig(data="synthetic", encoder="rate", epochs=1, n_steps=3)
    with pytest.raises(ValueError, match="'rate' encoder .* not supported under torchrun"):
        training.train(config, tiny, progress=False, placement=Placement(rank=0, world_size=2))


def test_resume_from_a_checkpoint_under_another_name_is_refused(tmp_path, capsys):
    """It would go on writing the folder's checkpoint.pt, a different file."""
    out = tmp_path / "runs"
    assert main([*TRAIN, "--epochs", "1", "--batch-size", "256", "--out", str(out)]) == 0
    run = _only_run(out)
    backup = run / "backup.pt"
    backup.write_bytes((run / "checkpoint.pt").read_bytes())
    before = (run / "checkpoint.pt").read_bytes()
    capsys.readouterr()
    assert main(["train", "--resume", str(backup), "--no-progress"]) == 2
    assert "run folder or its checkpoint.pt" in capsys.readouterr().err
    assert (run / "checkpoint.pt").read_bytes() == before


def test_bad_out_under_torchrun_stops_every_rank_at_once(tmp_path):
    """Rank 0 cannot create the run folder: all ranks exit with one line, none waits."""
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file where --out should be")
    started = time.monotonic()
    proc = subprocess.run(
        [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node",
         "2", "-m", "spikerec", "train", "--data", "digits", "--epochs", "1", "--n-steps",
         "3", "--threads", "1", "--no-progress", "--out", str(blocker)],
        env=_env(), capture_output=True, text=True, timeout=240, stdin=subprocess.DEVNULL,
    )  # fmt: skip
    assert proc.returncode != 0
    # each rank prints its one line (torchrun then reports the failed children, with
    # a traceback of its own, which names no spikerec frame)
    assert proc.stderr.count("spikerec: error:") == 2, proc.stderr[-2000:]
    assert "exists and is not a folder" in proc.stderr
    assert "spikerec/" not in proc.stderr.replace(str(tmp_path), "")
    assert time.monotonic() - started < 120  # no rank waited for a collective timeout
    assert blocker.read_text() == "a file where --out should be"

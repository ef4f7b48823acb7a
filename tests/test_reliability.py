"""Runs survive being killed, numerical faults stop cleanly, and torchrun training
follows the single-process run.

These tests launch real processes (a SIGKILLed ``spikerec train``, two gloo ranks
under ``torch.distributed.run``) on the embedded digits data.
"""

from __future__ import annotations

import errno
import json
import math
import os
import signal
import stat
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch

import spikerec.training.loop as training
from spikerec import run_folders
from spikerec.commands.cli import EXIT_NUMERICAL_FAULT, main
from spikerec.compare import CompareConfig, run_compare
from spikerec.compare.report import write_compare_outputs
from spikerec.compare.store import CompareStore
from spikerec.data.loading import Split, load_dataset
from spikerec.errors import DiskFullError, RunError
from spikerec.interrupts import Terminated, exit_status, sigterm_as_interrupt
from spikerec.recognition.recognizer import init_parameters
from spikerec.run_folders import (
    atomic_write,
    atomic_write_text,
    current_umask,
    discard_on_failure,
    new_run_dir,
    run_lock,
    strict_json,
)
from spikerec.training.checkpoints import load_checkpoint, save_checkpoint

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
    # Nothing to resume: the folder (config only) goes, and the message says so.
    assert "no epoch finished, so no run folder is kept" in err and "--resume" not in err
    assert not out.exists() or list(out.iterdir()) == []


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


#: One epoch of 3 steps on digits, one thread per rank.
SHORT_TRAIN = ("train", "--data", "digits", "--epochs", "1", "--n-steps", "3", "--threads", "1",
               "--no-progress")  # fmt: skip


def _torchrun(*spikerec_args: str) -> subprocess.CompletedProcess:
    """``spikerec`` with these arguments on two CPU ranks under ``torch.distributed.run``."""
    return subprocess.run(
        [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node",
         "2", "-m", "spikerec", *spikerec_args],
        env=_env(), capture_output=True, text=True, timeout=300, stdin=subprocess.DEVNULL,
    )  # fmt: skip


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
    # CPU ranks' BatchNorm normalises each rank's half of the batch (torch's
    # SyncBatchNorm is GPU-only), which a single process cannot follow: compare
    # the summed gradients on the front end without it.
    args += ["--frontend-norm", "none"]
    proc = _torchrun(*args, "--out", str(tmp_path / "ddp"))
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
        training.TrainConfig(data="digits", n_steps=5, frontend_norm="none"),
        in_channels=1,
        n_classes=10,
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


def test_two_gloo_processes_train_the_default_batch_norm_front_end(tmp_path):
    """With the defaults' BatchNorm each CPU rank normalises its share of a batch; the
    run trains, and its checkpoint holds the statistics recomputed for its weights."""
    from spikerec.training.batch_norm import batch_norms, recalibrate_batch_norm
    from spikerec.training.trained_model import load_model

    proc = _torchrun(*SHORT_TRAIN, "--out", str(tmp_path))
    assert proc.returncode == 0, proc.stderr[-2000:]
    model, config, _ = load_model(_only_run(tmp_path))
    assert config.frontend_norm == "batch" and not model.training
    stored = [layer.running_var.clone() for layer in batch_norms(model)]
    train_images = load_dataset("digits", seed=config.seed).train.images
    recalibrate_batch_norm(model.frontend, train_images[:512])
    for before, layer in zip(stored, batch_norms(model), strict=True):
        assert torch.allclose(layer.running_var, before, rtol=1e-4), "statistics not recomputed"


def test_bad_out_under_torchrun_stops_every_rank_at_once(tmp_path):
    """Rank 0 cannot create the run folder: all ranks exit with one line, none waits."""
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file where --out should be")
    started = time.monotonic()
    proc = _torchrun(*SHORT_TRAIN, "--out", str(blocker))
    assert proc.returncode != 0
    # each rank prints its one line (torchrun then reports the failed children, with
    # a traceback of its own, which names no spikerec frame)
    assert proc.stderr.count("spikerec: error:") == 2, proc.stderr[-2000:]
    assert "exists and is not a folder" in proc.stderr
    assert "spikerec/" not in proc.stderr.replace(str(tmp_path), "")
    assert time.monotonic() - started < 120  # no rank waited for a collective timeout
    assert blocker.read_text() == "a file where --out should be"


# ------------------------------------------------------- file permissions, temp files


@pytest.fixture
def umask():
    """Set the process umask for a test, restoring it afterwards."""
    before = os.umask(0o022)
    os.umask(before)

    def set_mask(mask: int) -> None:
        os.umask(mask)

    yield set_mask
    os.umask(before)


@pytest.mark.parametrize("mask", [0o022, 0o002, 0o077])
def test_output_files_and_folders_follow_the_umask(mask, umask, tmp_path):
    """Every file went through mkstemp and came out 0o600 whatever the umask, so
    colleagues could not read a shared run."""
    umask(mask)
    assert current_umask() == mask
    run = new_run_dir(tmp_path / "runs", "train")
    text = atomic_write_text(run / "config.json", "{}\n")
    ckpt = save_checkpoint(run / "checkpoint.pt", {"x": torch.ones(2)})
    (run / "finished").mkdir()
    for path in (text, ckpt):
        assert stat.S_IMODE(path.stat().st_mode) == 0o666 & ~mask, path
    for folder in (run, run / "finished"):
        assert stat.S_IMODE(folder.stat().st_mode) == 0o777 & ~mask, folder


SLOW_WRITER = """
import sys, time
from spikerec.run_folders import atomic_write

def write(tmp):
    tmp.write_bytes(b"half a checkpoint")
    print("writing", flush=True)
    time.sleep(600)

atomic_write(sys.argv[1], write)
"""


def test_sigkill_during_an_atomic_write_leaves_a_temp_file_that_resume_removes(tmp_path):
    run = tmp_path / "run"
    run.mkdir()
    atomic_write_text(run / "checkpoint.pt", "epoch 1\n")
    proc = subprocess.Popen(
        [sys.executable, "-c", SLOW_WRITER, str(run / "checkpoint.pt")],
        env=_env(), stdout=subprocess.PIPE, stdin=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        assert proc.stdout is not None and proc.stdout.readline() == b"writing\n"
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    (debris,) = run_folders.stale_temp_files(run)
    assert debris.name.startswith(".checkpoint.pt.") and debris.read_bytes() == b"half a checkpoint"
    (run / ".gitignore").write_text("*\n")  # other hidden files are not ours to remove
    (run / "notes.tmp").write_text("a user's file\n")
    assert run_folders.remove_stale_temp_files(run) == [debris]
    assert sorted(p.name for p in run.iterdir()) == [".gitignore", "checkpoint.pt", "notes.tmp"]
    assert (run / "checkpoint.pt").read_text() == "epoch 1\n"  # the complete one survived


@pytest.mark.parametrize(
    "failure",
    [
        OSError(errno.ENOSPC, "No space left on device"),
        RuntimeError("[enforce fail at inline_container.cc:595] . PytorchStreamWriter failed "
                     "writing file data/0: file write failed"),
    ],
    ids=["ENOSPC", "torch-save"],
)  # fmt: skip
def test_a_full_disk_is_one_line_naming_the_file_and_keeps_the_previous_file(failure, tmp_path):
    target = tmp_path / "checkpoint.pt"
    atomic_write_text(target, "epoch 1\n")

    def fill_the_disk(tmp: Path) -> None:
        tmp.write_bytes(b"epoch 2, half")
        raise failure

    with pytest.raises(DiskFullError) as info:
        atomic_write(target, fill_the_disk)
    assert isinstance(info.value, OSError)  # the command reports it as it does file errors
    message = str(info.value)
    assert "\n" not in message and "no space left" in message and str(target) in message
    assert target.read_text() == "epoch 1\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["checkpoint.pt"]


def test_other_write_errors_keep_their_type(tmp_path):
    def fail(tmp: Path) -> None:
        raise PermissionError(errno.EACCES, "Permission denied")

    with pytest.raises(PermissionError):
        atomic_write(tmp_path / "x", fail)


# -------------------------------------------------------------------- run folders


@pytest.mark.parametrize("out", ["", "   "])
def test_an_empty_out_is_refused(out, tmp_path, monkeypatch):
    """--out '' used to write into the current folder."""
    monkeypatch.chdir(tmp_path)
    with pytest.raises(RunError, match="output folder is empty"):
        new_run_dir(out, "train")
    assert list(tmp_path.iterdir()) == []


def test_runs_started_at_once_get_folders_of_their_own(tmp_path):
    with ThreadPoolExecutor(max_workers=8) as pool:
        runs = list(pool.map(lambda _: new_run_dir(tmp_path, "compare"), range(40)))
    assert len(set(runs)) == 40 and all(r.is_dir() for r in runs)


DISCARD_CASES = {
    # name: (files written before the failure, keep, error, folder kept?)
    "config-only-then-error": (["config.json"], None, ValueError, False),
    "compare-config-only-then-ctrl-c": (["compare_config.json"], None, KeyboardInterrupt, False),
    "nothing-then-memory-error": ([], None, MemoryError, False),
    "temp-file-only": ([".checkpoint.pt.abcd1234.tmp"], None, ValueError, False),
    "checkpoint-then-error": (["config.json", "checkpoint.pt"], None, ValueError, True),
    "finished-entry-then-ctrl-c": (
        ["compare_config.json", "finished/none-seed0-lif.json"],
        None,
        KeyboardInterrupt,
        True,
    ),
    "half-written-evaluate-then-ctrl-c": (
        ["metrics.json"],
        lambda folder: False,
        KeyboardInterrupt,
        False,
    ),
}


@pytest.mark.parametrize("case", list(DISCARD_CASES))
def test_a_failed_run_leaves_its_folder_only_if_it_holds_work(case, tmp_path):
    files, keep, error, kept = DISCARD_CASES[case]
    run = new_run_dir(tmp_path, "run")
    options = {} if keep is None else {"keep": keep}
    with pytest.raises(error):
        with discard_on_failure(run, **options):
            for name in files:
                (run / name).parent.mkdir(exist_ok=True)
                (run / name).write_text("{}")
            raise error("the run failed")
    assert run.exists() == kept
    assert run_folders.holds_results(run) == (kept and keep is None)
    if kept:
        assert run_folders.resume_command(run) is not None  # something to resume: say how


def test_a_failure_of_a_kept_kind_keeps_even_a_config_only_folder(tmp_path):
    """A diverged run's message points at its folder (the config shows the settings)."""
    run = new_run_dir(tmp_path, "train")
    with pytest.raises(training.TrainingDiverged):
        with discard_on_failure(run, keep_on=(training.TrainingDiverged,)):
            atomic_write_text(run / "config.json", "{}\n")
            raise training.TrainingDiverged("training diverged at epoch 1, step 2")
    assert (run / "config.json").is_file()


def test_a_run_that_succeeds_keeps_its_folder(tmp_path):
    run = new_run_dir(tmp_path, "evaluate")
    with discard_on_failure(run, keep=lambda folder: False):
        atomic_write_text(run / "metrics.json", "{}\n")
    assert (run / "metrics.json").is_file()


LOCK_HOLDER = """
import sys, time
from spikerec.run_folders import run_lock

with run_lock(sys.argv[1]):
    print("locked", flush=True)
    time.sleep(600)
"""


def test_a_run_folder_in_use_is_refused_and_freed_when_its_holder_is_killed(tmp_path):
    run = new_run_dir(tmp_path, "train")
    proc = subprocess.Popen(
        [sys.executable, "-c", LOCK_HOLDER, str(run)],
        env=_env(), stdout=subprocess.PIPE, stdin=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        assert proc.stdout is not None and proc.stdout.readline() == b"locked\n"
        with pytest.raises(RunError, match=f"in use by another spikerec process .pid {proc.pid}"):
            with run_lock(run):
                pass
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    with run_lock(run):  # the kernel released the dead holder's lock
        pass


# --------------------------------------------------------------------- strict JSON


def _strict(text: str):
    def refuse(constant: str):
        raise ValueError(f"non-standard JSON constant {constant}")

    return json.loads(text, parse_constant=refuse)


STRICT_CASES = {
    "nan": (float("nan"), None),
    "inf-in-list": ([1.0, float("inf"), -float("inf")], [1.0, None, None]),
    "nested": ({"a": {"b": (float("nan"), 2)}}, {"a": {"b": [None, 2]}}),
    "numpy": ({"x": np.array([np.nan, 1.5]), "y": np.float32("inf")},
              {"x": [None, 1.5], "y": None}),
    "tensor": (torch.tensor([float("nan"), 0.25]), [None, 0.25]),
    "bool-and-none-kept": ([True, None, 0, "NaN"], [True, None, 0, "NaN"]),
}  # fmt: skip


@pytest.mark.parametrize("case", list(STRICT_CASES))
def test_strict_json_writes_nan_and_infinities_as_null(case):
    value, expected = STRICT_CASES[case]
    assert _strict(strict_json(value)) == expected


def test_plain_json_dumps_is_not_strict():
    """Why strict_json: json.dumps writes bare NaN, which strict parsers reject."""
    with pytest.raises(ValueError, match="non-standard JSON constant NaN"):
        _strict(json.dumps({"ci95_low": float("nan")}))


def test_every_json_file_of_a_comparison_is_strict_and_nan_survives_a_resume(tmp_path):
    """One seed (confidence intervals are NaN) and a class missing from the test split
    (its accuracy is NaN): results.json, compare_config.json and the finished entries
    parse with a strict parser; a resumed run reads the NaN back."""
    data = load_dataset("synthetic", seed=0)
    keep = data.test.labels != 9
    data = replace(data, test=Split(data.test.images[keep], data.test.labels[keep]))
    config = CompareConfig(
        data="synthetic",
        entries=("svm-linear",),
        seeds=(0,),
        train=training.TrainConfig(epochs=1, n_steps=2),
        svm_max_train=100,
    )
    run = new_run_dir(tmp_path, "compare")
    store = CompareStore(run)
    store.write_config(config)
    outcome = run_compare(config, progress=False, first_dataset=data, store=store)
    write_compare_outputs(run, config, outcome, class_names=list(data.class_names),
                          wall_time_s=1.0)  # fmt: skip
    files = sorted(run.rglob("*.json"))
    assert {p.name for p in files} >= {"results.json", "compare_config.json",
                                       "none-seed0-svm-linear.json"}  # fmt: skip
    parsed = {p.name: _strict(p.read_text()) for p in files}
    (row,) = parsed["results.json"]["summary"]
    assert row["ci95_low"] is None or math.isfinite(row["ci95_low"])
    assert parsed["none-seed0-svm-linear.json"]["per_class_accuracy"][9] is None
    (entry,) = store.load_entries().values()
    assert math.isnan(entry.per_class_accuracy[9])
    assert entry.per_class_accuracy[:9] == outcome.results[0].per_class_accuracy[:9]


def test_every_json_file_of_a_training_run_is_strict(tmp_path):
    from spikerec.data.idx import write_idx
    from spikerec.data.loading import MNIST_FILES

    rng = np.random.default_rng(0)
    images, labels, test_images, test_labels = MNIST_FILES
    data = tmp_path / "data"
    data.mkdir()
    write_idx(data / images, rng.integers(0, 256, (60, 8, 8), dtype=np.uint8))
    write_idx(data / labels, (np.arange(60) % 3).astype(np.uint8))
    write_idx(data / test_images, rng.integers(0, 256, (10, 8, 8), dtype=np.uint8))
    write_idx(data / test_labels, (np.arange(10) % 2).astype(np.uint8))  # class 2 absent
    out = tmp_path / "runs"
    argv = ["train", "--data", f"idx:{data}", "--epochs", "1", "--n-steps", "2"]
    assert main([*argv, "--no-progress", "--threads", "1", "--out", str(out)]) == 0
    for path in _only_run(out).rglob("*.json"):
        _strict(path.read_text())


# ---------------------------------------------------------------------- interrupts


def test_sigterm_becomes_an_interrupt_with_exit_status_143():
    """kill / a job scheduler stops a run like Ctrl-C: finished work kept, one line."""
    before = signal.getsignal(signal.SIGTERM)
    with pytest.raises(KeyboardInterrupt) as info:
        with sigterm_as_interrupt():
            os.kill(os.getpid(), signal.SIGTERM)
            time.sleep(30)  # the handler raises at once, ending the sleep
    assert isinstance(info.value, Terminated)
    assert exit_status(info.value) == 143 and exit_status(KeyboardInterrupt()) == 130
    assert signal.getsignal(signal.SIGTERM) is before

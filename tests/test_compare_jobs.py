"""spikerec compare in parallel processes, and resumed after a crash or a SIGKILL."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch

from spikerec.commands.cli import main
from spikerec.compare import CompareConfig, run_compare
from spikerec.compare.jobs import Task, plan_tasks
from spikerec.compare.store import CompareStore, config_from_dict, config_to_dict
from spikerec.training.loop import TrainConfig

ENTRIES = ("lif", "softmax", "svm-v4", "svm-linear")
SMALL = CompareConfig(
    data="synthetic",
    entries=ENTRIES,
    seeds=(0, 1),
    train=TrainConfig(epochs=1, n_steps=5, patience=1),
    svm_max_train=200,
)


@pytest.fixture
def one_thread():
    """Bit-identical results need the same torch thread count in every process."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def _by_key(results):
    return {(r.augment, r.seed, r.entry): r for r in results}


def _assert_same_results(a, b):
    a, b = _by_key(a), _by_key(b)
    assert sorted(a) == sorted(b)
    for key in a:
        assert a[key].accuracy == b[key].accuracy, key
        np.testing.assert_array_equal(a[key].correct, b[key].correct)
        assert a[key].confusion == b[key].confusion, key


def test_plan_groups_entries_that_share_a_process():
    tasks = plan_tasks(SMALL, jobs=3)
    assert Task(0, "none", ("lif",)) in tasks
    assert Task(1, "none", ("softmax", "svm-v4")) in tasks  # svm-v4 scores softmax's CNN
    assert len(tasks) == 2 * 3
    # one process: a task per seed and augmentation (splits made once)
    assert plan_tasks(SMALL, jobs=1) == [Task(0, "none", ENTRIES), Task(1, "none", ENTRIES)]
    # the GAN is trained once per seed: all entries in one task
    gan = plan_tasks(replace(SMALL, augment=("none", "gan")), jobs=4)
    assert Task(0, "gan", ENTRIES) in gan and Task(0, "none", ("lif",)) in gan


def test_config_round_trips_through_json(tmp_path):
    config = replace(SMALL, augment=("none", "classic"), train_fraction=0.5)
    assert config_from_dict(json.loads(json.dumps(config_to_dict(config)))) == config
    with pytest.raises(ValueError, match="unknown field"):
        config_from_dict({**config_to_dict(config), "colour": "red"})
    with pytest.raises(ValueError, match="not a comparison run folder"):
        CompareStore(tmp_path).read_config()


def test_two_jobs_give_the_results_of_one_process(one_thread):
    serial = run_compare(SMALL, progress=False)
    parallel = run_compare(SMALL, progress=False, jobs=2, threads_per_job=1)
    _assert_same_results(serial.results, parallel.results)
    assert [r["accuracy_mean"] for r in serial.rows] == [r["accuracy_mean"] for r in parallel.rows]


def test_a_crashed_run_resumes_without_redoing_finished_entries(tmp_path, one_thread):
    reference = run_compare(SMALL, progress=False)
    store = CompareStore(tmp_path)
    store.write_config(SMALL)
    seen = []

    def crash_in_second_seed(result):
        seen.append(result)
        if result.seed == 1:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        run_compare(SMALL, progress=False, on_entry=crash_in_second_seed, store=store)
    # every entry is kept as soon as it is scored: all of seed 0 and the first of seed 1
    kept = store.load_entries()
    assert len(kept) == len(ENTRIES) + 1 and ("none", 1, "lif") in kept
    rerun = []
    resumed = run_compare(store.read_config(), progress=False, on_entry=rerun.append, store=store)
    assert {(r.seed, r.entry) for r in rerun} == {(1, e) for e in ENTRIES if e != "lif"}
    _assert_same_results(resumed.results, reference.results)


def test_sigkilled_compare_resumes_from_the_cli(tmp_path):
    args = ["compare", "--data", "synthetic", "--heads", "lif,softmax,svm-linear"]
    args += ["--seeds", "3", "--epochs", "1", "--n-steps", "5", "--threads", "1"]
    args += ["--no-progress"]
    root = tmp_path / "killed"
    proc = subprocess.Popen(
        [sys.executable, "-m", "spikerec", *args, "--out", str(root)],
        env={**os.environ, "OMP_NUM_THREADS": "1"},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        stdin=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 120
        finished: list[Path] = []
        while time.monotonic() < deadline and proc.poll() is None:
            finished = list(root.glob("*/finished/none-seed*-*.json")) if root.exists() else []
            if finished:
                break
            time.sleep(0.02)
        assert finished, proc.stderr.read().decode() if proc.stderr else ""
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    run = finished[0].parent.parent
    assert not (run / "results.json").exists()
    kept = {p: p.stat().st_mtime_ns for p in (run / "finished").glob("*-seed*-*.json")}
    assert 0 < len(kept) < 9

    assert main(["compare", "--resume", str(run), "--no-progress", "--threads", "1"]) == 0
    for path, mtime in kept.items():
        assert path.stat().st_mtime_ns == mtime  # finished entries were not run again
    results = json.loads((run / "results.json").read_text())
    assert len(results["runs"]) == 9
    # resuming a finished comparison is refused, and changes nothing
    assert main(["compare", "--resume", str(run)]) == 2


def test_resume_of_a_folder_that_is_not_a_comparison_is_a_user_error(tmp_path, capsys):
    assert main(["compare", "--resume", str(tmp_path)]) == 2
    assert "not a comparison run folder" in capsys.readouterr().err
    assert main(["compare", "--resume", str(tmp_path / "nowhere")]) == 2
    assert main(["compare", "--jobs", "0", "--out", str(tmp_path)]) == 2

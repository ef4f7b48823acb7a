"""The ``spikerec`` command end to end, in-process: train / evaluate / trace write what
they promise into new run folders, evaluation transfers to another dataset of the same
image shape, resuming continues a run exactly, and bad input gets exit status 2 with
one line on stderr and no run folder left behind."""

from __future__ import annotations

import csv
import io
import json
import math
import re
import shutil
from contextlib import redirect_stderr, redirect_stdout
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import pytest
import torch

from spikerec.commands.cli import main
from spikerec.data.idx import write_idx
from spikerec.data.loading import MNIST_FILES, load_dataset
from spikerec.recognition.recognizer import init_parameters
from spikerec.training.checkpoints import load_checkpoint, save_checkpoint
from spikerec.training.loop import TrainConfig, build_model, dataset_meta, train

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
TRAIN_ARGS = ["--data", "synthetic", "--epochs", "2", "--n-steps", "8", "--no-progress"]
RUN_FILES = {"config.json", "metrics.json", "checkpoint.pt", "training_curve.png"}


@dataclass(frozen=True)
class Run:
    folder: Path
    stdout: str

    @property
    def checkpoint(self) -> Path:
        return self.folder / "checkpoint.pt"

    def metrics(self) -> dict:
        return json.loads((self.folder / "metrics.json").read_text())


@pytest.fixture(scope="module")
def trained(tmp_path_factory) -> Run:
    """One CLI training run on ``synthetic`` shared by the read-only tests below (tests
    that change a run work on a copy)."""
    out = tmp_path_factory.mktemp("runs")
    stdout, stderr = io.StringIO(), io.StringIO()
    with redirect_stdout(stdout), redirect_stderr(stderr):
        status = main(["train", *TRAIN_ARGS, "--out", str(out)])
    assert status == 0, stderr.getvalue()
    (folder,) = out.iterdir()
    return Run(folder, stdout.getvalue())


def folders(root: Path) -> list[Path]:
    return sorted(p for p in root.iterdir() if p.is_dir()) if root.exists() else []


def snapshot(folder: Path) -> dict[str, tuple[bytes, int]]:
    return {p.name: (p.read_bytes(), p.stat().st_mtime_ns) for p in folder.iterdir()}


def is_png(path: Path) -> bool:
    data = path.read_bytes()
    return len(data) > 1000 and data.startswith(PNG_MAGIC)


def printed_accuracy(stdout: str, label: str) -> float:
    match = re.search(rf"{label} accuracy: ([0-9.]+)", stdout)
    assert match, stdout
    return float(match.group(1))


def assert_user_error(capsys, status: int) -> str:
    """Exit 2, one line on stderr starting with 'spikerec', no traceback; the line."""
    err = capsys.readouterr().err
    assert status == 2
    assert err.startswith("spikerec"), err
    assert err.count("\n") == 1 and err.endswith("\n"), err
    assert "Traceback" not in err
    return err


def write_synthetic_idx(folder: Path, seed: int = 0) -> dict:
    """The ``synthetic`` set's own train and test pixels as an ``idx:`` folder (uint8)."""
    data = load_dataset("synthetic", seed=seed)
    folder.mkdir(parents=True, exist_ok=True)

    def pixels(images: torch.Tensor) -> np.ndarray:
        raw = (images[:, 0].double() * data.std[0] + data.mean[0]) * 255.0
        assert (raw - raw.round()).abs().max() < 1e-3  # exact recovery of the 8-bit pixels
        return raw.round().numpy().astype(np.uint8)

    train_images, train_labels, test_images, test_labels = MNIST_FILES
    write_idx(folder / train_images, pixels(data.train.images))
    write_idx(folder / train_labels, data.train.labels.numpy().astype(np.uint8))
    write_idx(folder / test_images, pixels(data.test.images))
    write_idx(folder / test_labels, data.test.labels.numpy().astype(np.uint8))
    return {"test_labels": data.test.labels}


# -------------------------------------------------------------------------- train


def test_train_writes_a_complete_run_folder(trained):
    assert {p.name for p in trained.folder.iterdir()} == RUN_FILES
    assert trained.folder.name.startswith("train-")
    assert f"run folder: {trained.folder}" in trained.stdout
    assert is_png(trained.folder / "training_curve.png")

    config = TrainConfig.from_dict(json.loads((trained.folder / "config.json").read_text()))
    assert (config.data, config.epochs, config.n_steps) == ("synthetic", 2, 8)

    metrics = trained.metrics()
    assert metrics["dataset"] == "synthetic" and metrics["epochs_run"] == 2
    assert [h["epoch"] for h in metrics["history"]] == [1, 2]
    assert metrics["evaluated_checkpoint"] == f"best validation epoch {metrics['best_epoch']}"
    best = max(metrics["history"], key=lambda h: h["val_accuracy"])
    assert metrics["best_val_accuracy"] == best["val_accuracy"]
    assert metrics["val"]["accuracy"] == pytest.approx(best["val_accuracy"], abs=1e-6)
    test = metrics["test"]
    assert test["n_images"] == 120 == sum(map(sum, test["confusion"]))
    trace = sum(test["confusion"][c][c] for c in range(10))
    assert test["accuracy"] == pytest.approx(trace / 120, abs=1e-6)
    assert printed_accuracy(trained.stdout, "test") == pytest.approx(test["accuracy"], abs=5e-5)
    assert test["accuracy"] >= 0.5  # far above chance (0.1) after 2 epochs

    payload = load_checkpoint(trained.checkpoint)
    assert TrainConfig.from_dict(payload["config"]) == config
    assert payload["dataset"]["image_shape"] == [1, 12, 12]
    assert payload["train_state"]["finished"] and payload["train_state"]["epoch"] == 2


def test_second_run_gets_a_new_folder_and_leaves_the_first_untouched(trained, capsys):
    root = trained.folder.parent
    before = snapshot(trained.folder)
    status = main(["train", *TRAIN_ARGS, "--out", str(root)])
    assert status == 0
    runs = folders(root)
    assert trained.folder in runs and len(runs) >= 2
    second = Path(re.search(r"run folder: (.+)", capsys.readouterr().out).group(1).strip())
    assert second != trained.folder and second.parent == root
    assert {p.name for p in second.iterdir()} == RUN_FILES
    assert snapshot(trained.folder) == before  # bytes and modification times
    # Same seed, same command: the same model.
    a = load_checkpoint(trained.checkpoint)["best_model"]
    b = load_checkpoint(second / "checkpoint.pt")["best_model"]
    assert all(torch.equal(a[k], b[k]) for k in a)


# ----------------------------------------------------------------------- evaluate


def test_evaluate_prints_accuracy_and_writes_reports(trained, tmp_path, capsys):
    status = main(["evaluate", str(trained.checkpoint), "--out", str(tmp_path)])
    out = capsys.readouterr().out
    assert status == 0
    (folder,) = folders(tmp_path)
    assert folder.name.startswith("evaluate-")
    assert {p.name for p in folder.iterdir()} == {
        "metrics.json",
        "per_class_accuracy.csv",
        "confusion_matrix.png",
    }
    assert is_png(folder / "confusion_matrix.png")
    summary = json.loads((folder / "metrics.json").read_text())
    expected = trained.metrics()["test"]
    # Same model, data and evaluation generator as at the end of training.
    assert summary["accuracy"] == expected["accuracy"]
    assert summary["confusion"] == expected["confusion"]
    assert summary["n_images"] == 120 and summary["split"] == "test"
    assert printed_accuracy(out, "synthetic test") == pytest.approx(summary["accuracy"], abs=5e-5)
    assert "on 120 images" in out

    with open(folder / "per_class_accuracy.csv", newline="") as handle:
        rows = list(csv.reader(handle))
    assert rows[0] == ["class", "accuracy", "n_images"]
    assert [int(r[0]) for r in rows[1:]] == list(range(10))
    confusion = summary["confusion"]
    for c, (_, acc, n) in enumerate(rows[1:]):
        assert int(n) == sum(confusion[c])
        assert float(acc) == pytest.approx(confusion[c][c] / sum(confusion[c]), abs=1e-6)
    assert sum(int(r[2]) for r in rows[1:]) == 120


def test_evaluate_accepts_the_run_folder_and_other_splits(trained, tmp_path, capsys):
    status = main(["evaluate", str(trained.folder), "--split", "val", "--out", str(tmp_path)])
    assert status == 0
    (folder,) = folders(tmp_path)
    summary = json.loads((folder / "metrics.json").read_text())
    assert summary["split"] == "val" and summary["n_images"] == 60
    assert summary["accuracy"] == trained.metrics()["val"]["accuracy"]


def test_evaluate_on_an_idx_folder_of_the_same_shape(trained, tmp_path, capsys):
    written = write_synthetic_idx(tmp_path / "idx")
    out_root = tmp_path / "out"
    data = f"idx:{tmp_path / 'idx'}"
    status = main(["evaluate", str(trained.checkpoint), "--data", data, "--out", str(out_root)])
    out = capsys.readouterr().out
    assert status == 0
    (folder,) = folders(out_root)
    summary = json.loads((folder / "metrics.json").read_text())
    assert summary["dataset"] == data and summary["n_images"] == 120
    counts = torch.bincount(written["test_labels"], minlength=10).tolist()
    assert [sum(row) for row in summary["confusion"]] == counts
    # The same pixels, normalised with the same training-split statistics: the scores
    # match the synthetic test split (one image of slack for batch-order rounding).
    assert abs(summary["accuracy"] - trained.metrics()["test"]["accuracy"]) <= 1 / 120 + 1e-6
    assert "accuracy" in out


def test_evaluate_on_a_dataset_of_another_shape_fails(trained, tmp_path, capsys):
    out_root = tmp_path / "out"
    status = main(["evaluate", str(trained.checkpoint), "--data", "digits", "--out", str(out_root)])
    err = assert_user_error(capsys, status)
    assert "8x8 (1 channel)" in err and "12x12 (1 channel)" in err
    assert folders(out_root) == []


# -------------------------------------------------------------------------- trace


def test_trace_writes_png_and_csv(trained, tmp_path, capsys):
    status = main(["trace", str(trained.checkpoint), "--index", "3", "--out", str(tmp_path)])
    out = capsys.readouterr().out
    assert status == 0
    (folder,) = folders(tmp_path)
    assert {"trace.png", "trace.csv"} <= {p.name for p in folder.iterdir()}
    assert is_png(folder / "trace.png")
    with open(folder / "trace.csv", newline="") as handle:
        rows = list(csv.reader(handle))
    header, body = rows[0], rows[1:]
    assert header == ["t_ms", *[f"v_{c}" for c in range(10)], *[f"spike_{c}" for c in range(10)]]
    assert [float(r[0]) for r in body] == [1.0 * t for t in range(1, 9)]  # 8 steps of 1 ms
    v = np.array([[float(x) for x in r[1:11]] for r in body])
    spikes = np.array([[int(x) for x in r[11:]] for r in body])
    assert np.isfinite(v).all() and set(np.unique(spikes)) <= {0, 1}
    assert np.array_equal(spikes == 1, v >= 1.0)  # pre-reset membrane: crossings visible
    counts = re.search(r"output spike counts \[([^\]]*)\]", out).group(1)
    assert [float(c) for c in counts.split(",")] == spikes.sum(axis=0).tolist()
    summary = json.loads((folder / "trace.json").read_text())
    labels = load_dataset("synthetic", seed=0).test.labels
    assert summary["label"] == int(labels[3])
    assert f"true class {summary['label']}" in out


def test_trace_index_out_of_range(trained, tmp_path, capsys):
    status = main(["trace", str(trained.checkpoint), "--index", "120", "--out", str(tmp_path)])
    err = assert_user_error(capsys, status)
    assert "index=120" in err and "[0, 120)" in err
    assert folders(tmp_path) == []


# ------------------------------------------------------------------------- resume


def test_resume_of_a_finished_run_returns_the_same_result(trained, tmp_path, capsys):
    copy = tmp_path / "copy"
    shutil.copytree(trained.folder, copy)
    status = main(["train", "--resume", str(copy), "--no-progress"])
    out = capsys.readouterr().out
    assert status == 0
    assert f"run folder: {copy}" in out
    assert folders(tmp_path) == [copy]  # continues in its own folder, makes no other
    expected, resumed = trained.metrics(), json.loads((copy / "metrics.json").read_text())
    assert resumed["epochs_run"] == 2
    assert resumed["test"]["accuracy"] == expected["test"]["accuracy"]
    assert resumed["history"] == expected["history"]
    assert printed_accuracy(out, "test") == pytest.approx(expected["test"]["accuracy"], abs=5e-5)


class _Stop(Exception):
    pass


def test_resume_continues_a_partial_run_exactly(trained, tmp_path, capsys):
    """Checkpoint after epoch 1 of the same config, then ``train --resume``: the result is
    the uninterrupted CLI run's, weight for weight."""
    config = TrainConfig.from_dict(json.loads((trained.folder / "config.json").read_text()))
    dataset = load_dataset(
        config.data,
        seed=config.seed,
        val_fraction=config.val_fraction,
        test_fraction=config.test_fraction,
    )
    partial = tmp_path / "partial"
    partial.mkdir()

    def stop_after_first_epoch(payload):
        save_checkpoint(partial / "checkpoint.pt", payload)
        raise _Stop

    with pytest.raises(_Stop):
        train(config, dataset, checkpoint=stop_after_first_epoch, progress=False)
    assert load_checkpoint(partial)["train_state"]["epoch"] == 1

    status = main(["train", "--resume", str(partial), "--no-progress"])
    assert status == 0
    assert "epochs: 2" in capsys.readouterr().out
    resumed = load_checkpoint(partial)
    full = load_checkpoint(trained.checkpoint)
    for key in ("best_model", "model"):
        assert full[key].keys() == resumed[key].keys()
        assert all(torch.equal(full[key][k], resumed[key][k]) for k in full[key]), key
    metrics = json.loads((partial / "metrics.json").read_text())
    expected = trained.metrics()

    def without_time(history):
        return [{k: v for k, v in h.items() if k != "time_s"} for h in history]

    assert without_time(metrics["history"]) == without_time(expected["history"])
    assert metrics["test"]["accuracy"] == expected["test"]["accuracy"]
    assert is_png(partial / "training_curve.png")


# --------------------------------------------------------------------- bad input


def _corrupt_idx(folder: Path) -> str:
    rng = np.random.default_rng(0)
    folder.mkdir()
    names = MNIST_FILES
    write_idx(folder / names[0], rng.integers(0, 256, (200, 12, 12), dtype=np.uint8))
    write_idx(folder / names[1], np.arange(200, dtype=np.uint8) % 10)
    write_idx(folder / names[2], rng.integers(0, 256, (20, 12, 12), dtype=np.uint8))
    write_idx(folder / names[3], np.arange(20, dtype=np.uint8) % 10)
    assert load_dataset(f"idx:{folder}").n_classes == 10  # valid before the damage
    path = folder / names[0]
    path.write_bytes(b"\x12\x34\x08\x03" + path.read_bytes()[4:])  # wrong magic number
    return f"idx:{folder}"


def _truncated(trained: Run, folder: Path) -> str:
    data = trained.checkpoint.read_bytes()
    path = folder / "truncated.pt"
    path.write_bytes(data[: len(data) // 2])
    return str(path)


def _wrong_shapes(trained: Run, folder: Path) -> str:
    payload = torch.load(trained.checkpoint, map_location="cpu", weights_only=True)
    best = payload["best_model"]
    best["head.synapses.weight"] = best["head.synapses.weight"][:5].clone()  # 5 classes
    best["head.synapses.bias"] = best["head.synapses.bias"][:5].clone()
    path = folder / "five_classes.pt"
    torch.save(payload, path)
    return str(path)


BAD_COMMANDS = {
    "unknown dataset": (lambda t, d: ["train", "--data", "nope", "--epochs", "1"], "nope"),
    "corrupt idx file": (
        lambda t, d: ["train", "--data", _corrupt_idx(d / "idx"), "--epochs", "1"],
        "magic",
    ),
    "truncated checkpoint": (lambda t, d: ["evaluate", _truncated(t, d)], "truncated"),
    "checkpoint of another shape": (
        lambda t, d: ["evaluate", _wrong_shapes(t, d)],
        "does not fit the model its config describes",
    ),
    "missing checkpoint": (lambda t, d: ["evaluate", str(d / "none.pt")], "does not exist"),
    "missing resume folder": (
        lambda t, d: ["train", "--resume", str(d / "gone"), "--no-progress"],
        "does not exist",
    ),
    "zero epochs": (lambda t, d: ["train", "--data", "synthetic", "--epochs", "0"], "epochs=0"),
    "negative lr": (lambda t, d: ["train", "--data", "synthetic", "--lr", "-1"], "lr=-1"),
}


@pytest.mark.parametrize("case", list(BAD_COMMANDS))
def test_bad_input_exits_2_with_one_line(case, trained, tmp_path, capsys):
    make_args, match = BAD_COMMANDS[case]
    out_root = tmp_path / "out"
    args = [*make_args(trained, tmp_path), "--out", str(out_root)]
    capsys.readouterr()
    err = assert_user_error(capsys, main(args))
    assert re.search(match, err, re.IGNORECASE), err
    assert folders(out_root) == []  # no run folder left behind


@pytest.mark.parametrize(
    "args, match",
    [
        (["train", "--head", "nope"], "invalid choice: 'nope'"),
        (["train", "--epochs", "two"], "invalid int value"),
        (["evaluate"], "required: checkpoint"),
        (["nope"], "invalid choice"),
    ],
)
def test_argparse_errors_exit_2_with_one_line(args, match, tmp_path, capsys):
    with pytest.raises(SystemExit) as info:
        main([*args, "--out", str(tmp_path / "out")] if args[0] != "nope" else args)
    err = assert_user_error(capsys, info.value.code)
    assert match in err
    assert not (tmp_path / "out").exists()


EULER_TOO_COARSE = [
    "train",
    *TRAIN_ARGS,
    "--epochs",
    "1",
    "--integrator",
    "euler",
    "--tau-mem-ms",
    "0.5",  # dt_ms = 1 >= 2 tau: refused by the integrator, inside train()
]


def test_config_refused_inside_training_is_a_user_error(tmp_path, capsys):
    err = assert_user_error(capsys, main([*EULER_TOO_COARSE, "--out", str(tmp_path)]))
    assert "euler" in err and "unstable" in err


def test_config_refused_inside_training_leaves_no_run_folder(tmp_path, capsys):
    assert main([*EULER_TOO_COARSE, "--out", str(tmp_path)]) == 2
    assert folders(tmp_path) == []


def test_text_file_as_checkpoint_is_a_user_error(tmp_path, capsys):
    path = tmp_path / "notes.pt"
    path.write_text("hello world, this is a text file\n")
    status = main(["evaluate", str(path), "--out", str(tmp_path / "out")])
    err = assert_user_error(capsys, status)
    assert str(path) in err


def test_negative_threads_is_a_user_error(tmp_path, capsys):
    threads = torch.get_num_threads()
    try:
        status = main(["train", "--threads", "-1", "--out", str(tmp_path / "out")])
    finally:
        torch.set_num_threads(threads)
    err = assert_user_error(capsys, status)
    assert "threads" in err


def test_out_that_is_a_file_is_a_user_error(trained, tmp_path, capsys):
    target = tmp_path / "file"
    target.write_text("not a folder")
    status = main(["evaluate", str(trained.checkpoint), "--out", str(target)])
    err = assert_user_error(capsys, status)
    assert "not a folder" in err
    assert target.read_text() == "not a folder"


def test_metrics_are_plain_json_numbers(trained):
    metrics = trained.metrics()
    for h in metrics["history"]:
        assert all(isinstance(v, (int, float)) and math.isfinite(v) for v in h.values())


def test_softmax_head_checkpoint_evaluates_but_cannot_be_traced(tmp_path, capsys):
    """A checkpoint of an (untrained) analog softmax head, written the way training does."""
    config = TrainConfig(data="synthetic", head="softmax", n_steps=8)
    dataset = load_dataset("synthetic", seed=0)
    model = build_model(config, in_channels=1, n_classes=10)
    init_parameters(model, torch.Generator().manual_seed(0))
    checkpoint = save_checkpoint(
        tmp_path / "softmax.pt",
        {
            "config": asdict(config),
            "dataset": dataset_meta(dataset),
            "best_model": model.state_dict(),
        },
    )
    out_root = tmp_path / "out"
    assert main(["evaluate", str(checkpoint), "--out", str(out_root)]) == 0
    (folder,) = folders(out_root)
    summary = json.loads((folder / "metrics.json").read_text())
    assert summary["silent_fraction"] == 0.0  # no output spikes to be silent with
    assert sum(map(sum, summary["confusion"])) == 120
    capsys.readouterr()
    status = main(["trace", str(checkpoint), "--out", str(out_root)])
    err = assert_user_error(capsys, status)
    assert "'lif' head" in err and "'softmax'" in err
    assert folders(out_root) == [folder]  # the refused trace made no folder

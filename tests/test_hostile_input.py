"""Hostile input at library level, table-driven: each case is refused in one line naming
what is wrong, before anything runs or is written.

Tables:
- ``STEP_CASES``: the public step functions refuse what :class:`spikerec.LIF` refuses
  (unstable integrator steps, invalid ``tau_mem_ms`` / ``v_th`` overrides);
- ``SIMULATE_CASES``: the grid driver refuses NaN, complex and ill-shaped input;
- ``DATA_CASES``: a resumed run refuses data that differ from the run's (shape,
  classes, sizes, normalisation, content);
- ``PAYLOAD_CASES``: a tampered or damaged checkpoint payload is refused naming the
  field or tensor;
- ``RESOURCE_CASES`` and the checks of run sizes: runs that cannot fit are refused
  before they start; allocation failures and overflows become one line.

Every case has a positive control showing the same call with valid input works, so
a refusal is the check's doing.
"""

from __future__ import annotations

import copy
import json
import math
import os
import re
from collections.abc import Callable
from dataclasses import asdict, replace
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from _datasets import idx_folder as _idx_folder
from _datasets import synthetic_subset
from _refusals import raised

from spikerec import LIFParams, init_lif_state, lif_sequence, lif_step, simulate
from spikerec.compare import CompareConfig
from spikerec.compare.harness import run_entry, seed_splits
from spikerec.compare.preflight import check_compare_run, check_seed_count
from spikerec.data.fingerprint import (
    check_model_data,
    check_resume_data,
    data_fingerprint,
    with_normalisation,
)
from spikerec.data.loading import DatasetSplits, Split, load_dataset
from spikerec.errors import (
    CheckpointError,
    DatasetError,
    NonFiniteError,
    ParameterError,
    ResourceError,
    SpikerecError,
    TrainingDiverged,
)
from spikerec.lif.integrators import EulerIntegrator
from spikerec.lif.step import _lif_step
from spikerec.lif.surrogates import FastSigmoid
from spikerec.resources import (
    THREADS_PER_CORE,
    available_memory_bytes,
    check_memory,
    check_threads,
    user_resources,
)
from spikerec.training.checkpoints import save_checkpoint
from spikerec.training.loop import TrainConfig, train
from spikerec.training.preflight import check_evaluation_run, check_training_run
from spikerec.training.resume import (
    check_model_payload,
    check_training_payload,
    load_for_resume,
    start_again_command,
)

NAN, INF = math.nan, math.inf


def one_line(message: str) -> str:
    assert message and "\n" not in message, repr(message)
    return message


# =============================================================================
# lif_step / lif_sequence: the stability checks LIF enforces
# =============================================================================

P = LIFParams()
X = torch.zeros(2, 3)


def _state(x: torch.Tensor = X):
    return init_lif_state(tuple(x.shape), P, dtype=x.dtype)


def _step(params: LIFParams = P, integrator: str = "exact", **overrides):
    return lif_step(X, _state(), params, integrator=integrator, **overrides)


def _sequence(params: LIFParams = P, integrator: str = "exact", **overrides):
    x = torch.zeros(4, 2, 3)
    return lif_sequence(x, _state(), params, integrator=integrator, **overrides)


def full(value: float, *shape: int, dtype: torch.dtype = torch.float32) -> torch.Tensor:
    return torch.full(shape, value, dtype=dtype)


EULER_UNSTABLE = LIFParams(tau_mem_ms=10.0, dt_ms=25.0)
RK4_UNSTABLE = LIFParams(tau_mem_ms=1.0, dt_ms=3.0)

STEP_CASES = {
    "euler-dt=25-tau=10": (lambda: _step(EULER_UNSTABLE, "euler"), ValueError, "unstable"),
    "rk4-dt=3-tau=1": (lambda: _step(RK4_UNSTABLE, "rk4"), ValueError, "unstable"),
    "sequence-euler-unstable": (
        lambda: _sequence(EULER_UNSTABLE, "euler"),
        ValueError,
        "unstable",
    ),
    "fractional-refractory": (
        lambda: _step(LIFParams(dt_ms=1.0, t_ref_ms=0.5)),
        ValueError,
        "t_ref_ms",
    ),
    "tau=-1": (lambda: _step(tau_mem_ms=full(-1.0, 2, 3)), ValueError, "must be > 0"),
    "tau=0": (lambda: _step(tau_mem_ms=full(0.0, 2, 3)), ValueError, "must be > 0"),
    "tau=nan": (lambda: _step(tau_mem_ms=full(NAN, 2, 3)), ValueError, "NaN"),
    "tau=inf": (lambda: _step(tau_mem_ms=full(INF, 2, 3)), ValueError, "infinite"),
    "tau-unstable-for-euler": (
        lambda: _step(integrator="euler", tau_mem_ms=full(0.4, 3)),
        ValueError,
        "'euler' integrator unstable",
    ),
    "tau-subnormal": (
        lambda: _step(tau_mem_ms=full(1e-45, 3)),
        ValueError,
        "too small",
    ),
    "tau-float-negative": (lambda: _step(tau_mem_ms=-2.0), ValueError, "must be > 0"),
    "tau-float-unstable": (
        lambda: _step(integrator="euler", tau_mem_ms=0.3),
        ValueError,
        "unstable",
    ),
    "tau-string": (lambda: _step(tau_mem_ms="10"), TypeError, "tau_mem_ms"),
    "tau-shape": (lambda: _step(tau_mem_ms=full(5.0, 4)), ValueError, "broadcast"),
    "tau-float64": (
        lambda: _step(tau_mem_ms=full(5.0, 3, dtype=torch.float64)),
        ValueError,
        "float64",
    ),
    "tau-meta": (lambda: _step(tau_mem_ms=torch.ones(3, device="meta")), ValueError, "meta"),
    "sequence-tau=nan": (lambda: _sequence(tau_mem_ms=full(NAN, 3)), ValueError, "NaN"),
    "v_th=nan": (lambda: _step(v_th=full(NAN, 2, 3)), ValueError, "NaN"),
    "v_th=-inf": (lambda: _step(v_th=full(-INF, 3)), ValueError, "infinite"),
    "v_th<=v_reset": (lambda: _step(v_th=full(0.0, 3)), ValueError, "v_reset"),
    "v_th-float-nan": (lambda: _step(v_th=NAN), ValueError, "v_th"),
    "v_th-int-dtype": (lambda: _step(v_th=torch.ones(3, dtype=torch.int64)), TypeError, "float"),
    "sequence-v_th=nan": (lambda: _sequence(v_th=full(NAN, 3)), ValueError, "NaN"),
}


@pytest.mark.parametrize("case", list(STEP_CASES))
def test_step_functions_refuse(case):
    call, error, keyword = STEP_CASES[case]
    exc = raised(call, error)
    assert keyword in one_line(str(exc))
    assert isinstance(exc, SpikerecError)


def test_the_refused_euler_step_would_grow_without_bound():
    """Why the check: the issue's example, unchecked, grows from 0.5 to ~1e34 in 200
    steps with no input (|1 - dt/tau| = 1.5 per step)."""
    v = torch.full((1, 1), 0.5, dtype=torch.float64)
    state = init_lif_state((1, 1), EULER_UNSTABLE, dtype=torch.float64)._replace(v=v)
    params = replace(EULER_UNSTABLE, v_th=1e300)  # never fires: watch the growth
    for _ in range(200):
        _, v_pre, state = _lif_step(torch.zeros(1, 1, dtype=torch.float64), state, params,
                                    EulerIntegrator(), FastSigmoid(), params.tau_mem_ms,
                                    params.v_th)  # fmt: skip
    assert abs(float(v_pre)) == pytest.approx(0.5 * 1.5**200, rel=1e-9)
    assert abs(float(v_pre)) > 1e34


def test_valid_overrides_match_the_parameters_they_replace():
    x = torch.rand(5, 2, 3) * 3
    expected = lif_sequence(x, _state(), LIFParams(tau_mem_ms=5.0, v_th=0.8), integrator="rk4")
    got = lif_sequence(
        x, _state(), P, integrator="rk4", tau_mem_ms=full(5.0, 3), v_th=full(0.8, 2, 3)
    )
    for a, b in zip(expected[:2], got[:2], strict=True):
        torch.testing.assert_close(a, b)
    # and the stable euler step that the unstable one is refused against works
    _step(LIFParams(tau_mem_ms=10.0, dt_ms=19.0), "euler")


# =============================================================================
# simulate: NaN, complex, ill-shaped input
# =============================================================================

SP = LIFParams(tau_mem_ms=10.0, dt_ms=1.0)
CURRENT = np.full(20, 1.5)
SPIKES = np.zeros((20, 4))
W = np.full(4, 2.0)

SIMULATE_CASES = {
    "v0=nan": (lambda: simulate(SP, current=CURRENT, v0=NAN), ValueError, "v0"),
    "v0=inf-array": (lambda: simulate(SP, current=CURRENT, v0=np.array([INF])), ValueError, "v0"),
    "v0-complex": (lambda: simulate(SP, current=CURRENT, v0=0.5 + 1j), TypeError, "real"),
    "v0-wrong-length": (
        lambda: simulate(SP, current=np.ones((20, 2)), v0=np.zeros(3)),
        ValueError,
        "v0",
    ),
    "v0-string": (lambda: simulate(SP, current=CURRENT, v0="0.5"), TypeError, "v0"),
    "current-complex-numpy": (
        lambda: simulate(SP, current=CURRENT + 1j),
        TypeError,
        "imaginary part",
    ),
    "current-complex-torch": (
        lambda: simulate(SP, current=torch.ones(20, dtype=torch.complex64)),
        TypeError,
        "real",
    ),
    "current-bool": (lambda: simulate(SP, current=np.ones(20, dtype=bool)), TypeError, "bool"),
    "current-strings": (lambda: simulate(SP, current=["1.0"] * 20), TypeError, "current"),
    "current-ragged": (lambda: simulate(SP, current=[[1.0], [1.0, 2.0]]), ValueError, "current"),
    "current-nan": (lambda: simulate(SP, current=np.full(20, NAN)), ValueError, "finite"),
    "weights-nan": (
        lambda: simulate(SP, input_spikes=SPIKES, weights=np.full(4, NAN)),
        ValueError,
        "weights",
    ),
    "weights-complex": (
        lambda: simulate(SP, input_spikes=SPIKES, weights=W + 0j),
        TypeError,
        "weights",
    ),
    "spikes-complex": (
        lambda: simulate(SP, input_spikes=SPIKES + 0j, weights=W),
        TypeError,
        "input_spikes",
    ),
    "function-returns-nan": (
        lambda: simulate(SP, current=lambda t: NAN, n_steps=5),
        ValueError,
        "current(t)",
    ),
    "function-returns-complex": (
        lambda: simulate(SP, current=lambda t: 1 + 1j, n_steps=5),
        TypeError,
        "current(t)",
    ),
    "function-changes-shape": (
        lambda: simulate(SP, current=lambda t: np.ones(1 + int(t > 2)), n_steps=5),
        ValueError,
        "same length",
    ),
    "n_steps=0-with-samples": (
        lambda: simulate(SP, current=CURRENT, n_steps=0),
        ValueError,
        "n_steps",
    ),
    "n_steps=-1-with-samples": (
        lambda: simulate(SP, current=CURRENT, n_steps=-1),
        ValueError,
        "n_steps",
    ),
    "euler-unstable": (
        lambda: simulate(
            LIFParams(tau_mem_ms=10.0, dt_ms=25.0), current=CURRENT, integrator="euler"
        ),  # fmt: skip
        ValueError,
        "unstable",
    ),
}


@pytest.mark.parametrize("case", list(SIMULATE_CASES))
def test_simulate_refuses(case):
    call, error, keyword = SIMULATE_CASES[case]
    assert keyword in one_line(str(raised(call, error)))


def test_simulate_with_valid_v0_follows_the_closed_form():
    """The positive control: a finite v0 decays as v0 exp(-t / tau) with no input."""
    result = simulate(SP, current=np.zeros(30), v0=0.9)
    t = result.t_ms
    np.testing.assert_allclose(result.v[:, 0], 0.9 * np.exp(-t / SP.tau_mem_ms), rtol=1e-12)


# =============================================================================
# Run identity: data fingerprints on resume and evaluation
# =============================================================================


def _relabelled(ds: DatasetSplits) -> DatasetSplits:
    names = tuple(f"class {c}" for c in range(ds.n_classes))
    return replace(ds, class_names=names)


def _swap_two_train_labels(ds: DatasetSplits) -> DatasetSplits:
    labels = ds.train.labels.clone()
    labels[[0, 1]] = labels[[1, 0]]
    return replace(ds, train=Split(ds.train.images, labels))


def _one_pixel_changed(ds: DatasetSplits) -> DatasetSplits:
    images = ds.test.images.clone()
    images[0, 0, 0, 0] += 0.5
    return replace(ds, test=Split(images, ds.test.labels))


def _other_idx(**changes) -> Callable[[Path, DatasetSplits], DatasetSplits]:
    """Makes the other data: an IDX folder ``tmp_path / "b"`` like the original's
    (``_idx_folder`` defaults) but for ``changes``."""
    return lambda tmp, ds: load_dataset(_idx_folder(tmp / "b", **changes))


# name -> (make the other data from (tmp_path, original), keyword of the message)
DATA_CASES = {
    "28x28-replaced-by-32x32": (
        _other_idx(side=32),
        "images are 32x32 (1 channel), the run started on 12x12 (1 channel)",
    ),
    "more-classes": (_other_idx(classes=4), "4 classes, the run started with 3"),
    "class-names": (lambda tmp, ds: _relabelled(ds), "class names"),
    "more-images": (_other_idx(n=80), "the train split holds"),
    "other-pixels-same-sizes": (_other_idx(seed=1), "normalisation mean"),
    "two-labels-swapped": (lambda tmp, ds: _swap_two_train_labels(ds), "train split holds other"),
    "one-test-pixel": (lambda tmp, ds: _one_pixel_changed(ds), "test split holds other"),
}


@pytest.fixture
def idx_data(tmp_path) -> DatasetSplits:
    return load_dataset(_idx_folder(tmp_path / "a"))


@pytest.mark.parametrize("case", list(DATA_CASES))
def test_resume_refuses_other_data(case, idx_data, tmp_path):
    make, keyword = DATA_CASES[case]
    stored = data_fingerprint(idx_data)
    other = make(tmp_path, idx_data)
    with pytest.raises(DatasetError) as info:
        check_resume_data(stored, other, checkpoint="run/checkpoint.pt")
    assert keyword in one_line(str(info.value))
    # the same data, loaded again, pass
    assert check_resume_data(stored, load_dataset(idx_data.name), checkpoint="c") is None


def test_resume_of_a_checkpoint_without_fingerprint_warns_in_one_line(idx_data):
    warning = check_resume_data(None, idx_data, checkpoint="old/checkpoint.pt")
    assert "old/checkpoint.pt" in one_line(warning) and "without checking" in warning


def test_a_run_resumed_on_replaced_files_stops_before_training(tmp_path):
    """The issue's repro: a run on 12x12 IDX files, killed after epoch 1, the files
    replaced by 32x32 images, resumed. It used to finish with 'test accuracy 1.0'."""
    data_name = _idx_folder(tmp_path / "data", n=40)
    config = TrainConfig(data=data_name, epochs=3, n_steps=2, batch_size=16)
    payloads = []
    train(config, load_dataset(data_name), checkpoint=payloads.append, progress=False)
    after_first = payloads[0]
    assert after_first["train_state"]["epoch"] == 1
    _idx_folder(tmp_path / "data", n=40, side=32)  # replace the files in place
    written = []
    with pytest.raises(DatasetError, match="32x32 .* started on 12x12"):
        train(config, load_dataset(data_name), checkpoint=written.append, resume=after_first,
              progress=False)  # fmt: skip
    assert written == []  # refused before any epoch (and any checkpoint)


def test_evaluation_data_must_fit_the_model(idx_data, tmp_path):
    fp = data_fingerprint(idx_data)
    bigger = load_dataset(_idx_folder(tmp_path / "b", side=16))
    with pytest.raises(DatasetError, match="16x16 .* trained on 12x12"):
        check_model_data(fp, bigger, checkpoint="c.pt")
    with pytest.raises(DatasetError, match="4 classes but the model .* has 3 outputs"):
        check_model_data(fp, load_dataset(_idx_folder(tmp_path / "c", classes=4)),
                         checkpoint="c.pt")  # fmt: skip
    with pytest.raises(CheckpointError, match="malformed description"):
        check_model_data({"image_shape": [1, 12, 12]}, idx_data, checkpoint="c.pt")
    check_model_data(fp, load_dataset(_idx_folder(tmp_path / "d", seed=3)), checkpoint="c")


def test_other_data_can_be_normalised_as_the_model_was_trained(idx_data, tmp_path):
    """load_dataset normalises with the new data's own statistics; the model expects
    its training statistics. with_normalisation maps one onto the other exactly."""
    other = load_dataset(_idx_folder(tmp_path / "b", seed=5))
    assert other.mean != idx_data.mean
    moved = with_normalisation(other, idx_data.mean, idx_data.std)
    pixels = other.test.images * other.std[0] + other.mean[0]  # back to [0, 1]
    expected = (pixels - idx_data.mean[0]) / idx_data.std[0]
    torch.testing.assert_close(moved.test.images, expected, atol=1e-5, rtol=1e-5)
    assert moved.mean == idx_data.mean and moved.std == idx_data.std


# =============================================================================
# Checkpoint payloads: tampered train_state, history, weights, config
# =============================================================================


@pytest.fixture(scope="module")
def payload() -> dict:
    """The final payload of a real tiny run (synthetic subset, 2 epochs, 2 steps)."""
    data = synthetic_subset(0, train=64, val=20, test=20)
    payloads = []
    config = TrainConfig(data="synthetic", epochs=2, n_steps=2, batch_size=64, patience=5)
    train(config, data, checkpoint=payloads.append, progress=False)
    return payloads[-1]


def _set(path: str, value):
    """A change to a copy of the payload: ``path`` is 'key/key/...'."""

    def change(p: dict) -> None:
        *parents, last = path.split("/")
        target = p
        for key in parents:
            target = target[int(key) if isinstance(target, list) else key]
        target[int(last) if isinstance(target, list) else last] = value

    return change


def _delete(path: str):
    def change(p: dict) -> None:
        *parents, last = path.split("/")
        target = p
        for key in parents:
            target = target[key]
        del target[last]

    return change


def _poison(key: str, value: float):
    def change(p: dict) -> None:
        name = sorted(k for k, v in p[key].items() if v.is_floating_point())[-1]
        p[key][name] = p[key][name].clone()
        p[key][name].view(-1)[0] = value

    return change


def _poison_optimizer(p: dict) -> None:
    state = next(iter(p["optimizer"]["state"].values()))
    state["exp_avg"] = state["exp_avg"].clone()
    state["exp_avg"].view(-1)[0] = INF


def _wrong_shape(key: str):
    def change(p: dict) -> None:
        name = next(k for k in p[key] if k.endswith("weight"))
        p[key][name] = torch.zeros(3, 3)

    return change


# name -> (change, keyword); every case is refused with CheckpointError in one line
PAYLOAD_CASES = {
    "epoch=-5": (_set("train_state/epoch", -5), "epoch=-5"),
    "epoch>epochs": (_set("train_state/epoch", 7), "epoch=7"),
    "epoch-float": (_set("train_state/epoch", 1.5), "epoch=1.5"),
    "epoch-bool": (_set("train_state/epoch", True), "epoch=True"),
    "history-string": (_set("train_state/history", "epoch 1: fine"), "history must be a list"),
    "history-too-short": (_set("train_state/history", []), "0 records for 2"),
    "history-row-nan": (_set("train_state/history/0/train_loss", NAN), "finite number"),
    "history-row-text": (_set("train_state/history/1/lr", "0.002"), "finite number"),
    "history-row-list": (_set("train_state/history/0", [1, 2]), "dict of named numbers"),
    "history-mislabelled": (_set("train_state/history/1/epoch", 5), "labelled epoch 5"),
    "best_epoch=0": (_set("train_state/best_epoch", 0), "best_epoch=0"),
    "best_epoch>epoch": (_set("train_state/best_epoch", 3), "best_epoch=3"),
    "best_val_accuracy=2": (_set("train_state/best_val_accuracy", 2.0), "in [0, 1]"),
    "best_val_accuracy-inconsistent": (
        _set("train_state/best_val_accuracy", 0.123456),
        "differs from the val_accuracy",
    ),
    "epochs_without_improvement=-1": (
        _set("train_state/epochs_without_improvement", -1),
        "epochs_without_improvement=-1",
    ),
    "epochs_without_improvement-too-many": (
        _set("train_state/epochs_without_improvement", 9),
        "epochs_without_improvement=9",
    ),
    "train_time_s=nan": (_set("train_state/train_time_s", NAN), "train_time_s=nan"),
    "finished-text": (_set("train_state/finished", "yes"), "finished='yes'"),
    "train_state-missing-field": (_delete("train_state/history"), "missing history"),
    "train_state-unknown-field": (_set("train_state/resumed_by", "me"), "unknown field"),
    "train_state-list": (_set("train_state", [1]), "not a dict"),
    "config-n_steps=0": (_set("config/n_steps", 0), "invalid config (n_steps=0"),
    "config-unknown-key": (_set("config/lr_max", 1.0), "unknown config field"),
    "config-string": (_set("config", "lif"), "invalid config"),
    "config-v_th=1e300": (_set("config/v_th", 1e300), "float32"),
    "no-model": (_delete("model"), "lacks the key 'model'"),
    "dataset-without-name": (_delete("dataset/name"), "lacks 'name'"),
    "dataset-shape": (_set("dataset/image_shape", [1, 12]), "image_shape"),
    "nan-in-best-model": (_poison("best_model", NAN), "best_model['"),
    "inf-in-model": (_poison("model", INF), "model['"),
    "inf-in-optimizer": (_poison_optimizer, "optimizer['state']"),
    "model-shape": (_wrong_shape("model"), "model does not fit the model"),
    "best-model-shape": (_wrong_shape("best_model"), "best_model does not fit the model"),
    "generator-float": (_set("generator", torch.zeros(10)), "generator"),
    "scheduler-list": (_set("scheduler", []), "scheduler"),
    "fingerprint-malformed": (_set("data_fingerprint", {"version": 1}), "data_fingerprint"),
}


@pytest.mark.parametrize("case", list(PAYLOAD_CASES))
def test_tampered_payloads_are_refused(case, payload):
    change, keyword = PAYLOAD_CASES[case]
    content = copy.deepcopy(payload)
    change(content)
    with pytest.raises(CheckpointError) as info:
        check_training_payload(content, checkpoint="run/checkpoint.pt")
    message = one_line(str(info.value))
    assert keyword in message and "run/checkpoint.pt" in message


def test_the_untampered_payload_passes(payload):
    config = check_training_payload(copy.deepcopy(payload), checkpoint="c.pt")
    assert config.epochs == 2
    check_model_payload(copy.deepcopy(payload), checkpoint="c.pt")
    content = copy.deepcopy(payload)
    del content["data_fingerprint"]  # written before fingerprints: still valid
    check_training_payload(content, checkpoint="c.pt")


@pytest.mark.parametrize(
    "case", ["dataset-without-name", "nan-in-best-model", "config-string", "best-model-shape"]
)
def test_evaluate_checks_refuse_damaged_models(case, payload):
    """Issue item 10 (dataset entry without name: KeyError) and item 12 (NaN weights
    named by neither file nor tensor)."""
    change, keyword = PAYLOAD_CASES[case]
    content = copy.deepcopy(payload)
    change(content)
    with pytest.raises(CheckpointError) as info:
        check_model_payload(content, checkpoint="run/checkpoint.pt")
    assert keyword in one_line(str(info.value))


@pytest.mark.parametrize("case", ["epoch=-5", "history-string", "best_val_accuracy=2"])
def test_train_refuses_a_tampered_train_state_before_any_epoch(case, payload, tiny):
    """Through the API too: a history that is a string used to fail only after an epoch."""
    change, keyword = PAYLOAD_CASES[case]
    content = copy.deepcopy(payload)
    change(content)
    del content["data_fingerprint"]  # trained on other data than ``tiny``; not the point here
    config = TrainConfig.from_dict(content["config"])
    written = []
    with pytest.raises(CheckpointError, match=re.escape(keyword)):
        train(config, tiny, checkpoint=written.append, resume=content, progress=False)
    assert written == []


def test_a_checkpoint_from_before_these_checks_passes_them():
    """Old checkpoints must still load and resume: the run kept from before the layered
    layout has no data fingerprint (resuming it warns) and passes every other check."""
    old = Path(__file__).parent / "data" / "run-before-restructure"
    resumed = load_for_resume(old)
    assert "data_fingerprint" not in resumed.payload
    config, meta = check_model_payload(resumed.payload, checkpoint=str(resumed.checkpoint))
    assert config == resumed.config and meta["name"] == "synthetic"
    assert check_resume_data(None, load_dataset("synthetic"), checkpoint="old") is not None


def test_resume_checks_run_before_anything_is_written(payload, tmp_path):
    run = tmp_path / "train-1"
    run.mkdir()
    content = copy.deepcopy(payload)
    content["train_state"]["epoch"] = -5
    save_checkpoint(run / "checkpoint.pt", content)
    before = sorted((p.name, p.stat().st_mtime_ns) for p in run.iterdir())
    with pytest.raises(CheckpointError, match="epoch=-5"):
        load_for_resume(run)
    assert sorted((p.name, p.stat().st_mtime_ns) for p in run.iterdir()) == before
    save_checkpoint(run / "checkpoint.pt", copy.deepcopy(payload))
    resumed = load_for_resume(run / "checkpoint.pt")
    assert resumed.run_dir == run and resumed.config.epochs == 2


def test_a_run_killed_before_its_first_checkpoint_says_how_to_start_again(tmp_path):
    run = tmp_path / "runs" / "train-20250101-000000"
    run.mkdir(parents=True)
    config = TrainConfig(data="digits", n_steps=7, epochs=2)
    (run / "config.json").write_text(json.dumps(asdict(config)))
    with pytest.raises(CheckpointError) as info:
        load_for_resume(run)
    message = one_line(str(info.value))
    assert "nothing to resume" in message and "start it again" in message
    command = start_again_command(config, run.parent)
    assert command in message
    assert command.split()[:2] == ["spikerec", "train"] and "--n-steps 7" in command


# =============================================================================
# Resources: memory, threads, allocation failures, float overflow
# =============================================================================


def test_available_memory_is_read_and_plausible():
    available = available_memory_bytes()
    assert available is not None and available > 0
    total = int(Path("/proc/meminfo").read_text().split("MemTotal:")[1].split()[0]) * 1024
    assert available <= total


RESOURCE_CASES = {
    "torch-cpu-allocator": (
        RuntimeError(
            "[enforce fail at alloc_cpu.cpp:127] err == 0. DefaultCPUAllocator: can't allocate "
            "memory: you tried to allocate 80281600000000 bytes. Error code 12"
        ),
        ResourceError,
        "73 TiB",
    ),
    "cuda": (
        RuntimeError("CUDA out of memory. Tried to allocate 20.00 GiB (GPU 0; 79 GiB total)"),
        ResourceError,
        "CUDA out of memory",
    ),
    "numpy": (
        MemoryError("Unable to allocate 3.5 TiB for an array with shape (10, 10)"),
        ResourceError,
        "3.5 TiB",
    ),
    "bare-memory-error": (MemoryError(), ResourceError, "more memory than this machine"),
    "torch-float-overflow": (
        RuntimeError("value cannot be converted to type float without overflow"),
        ParameterError,
        "too large for the number format",
    ),
    "python-overflow": (
        OverflowError("(34, 'Numerical result out of range')"),
        ParameterError,
        "too large",
    ),  # fmt: skip
}


@pytest.mark.parametrize("case", list(RESOURCE_CASES))
def test_user_resources_turns_failures_into_one_line(case):
    raised, error, keyword = RESOURCE_CASES[case]
    with pytest.raises(error) as info:
        with user_resources(lower="--n-steps"):
            raise raised
    message = one_line(str(info.value))
    assert keyword in message
    if error is ResourceError:
        assert "--n-steps" in message and isinstance(info.value, MemoryError)


def test_user_resources_turns_a_real_torch_allocation_failure_into_one_line():
    with pytest.raises(ResourceError) as info:
        with user_resources(lower="--batch-size"):
            torch.empty(2**62, dtype=torch.uint8)  # 4 EiB: refused by the allocator
    assert "memory" in one_line(str(info.value)) and "--batch-size" in str(info.value)


@pytest.mark.parametrize(
    "raised",
    [
        RuntimeError("shape mismatch"),
        ValueError("bug"),
        KeyError("x"),
        TrainingDiverged("training diverged: the activations overflows"),
    ],
)
def test_user_resources_leaves_other_errors_alone(raised):
    with pytest.raises(type(raised)) as info:
        with user_resources():
            raise raised
    assert info.value is raised  # a bug keeps its type and traceback


THREAD_CASES = {
    "100000": (100000, ParameterError, "too many"),
    "negative": (-1, ParameterError, ">= 0"),
    "float": (2.5, ParameterError, "integer"),
    "bool": (True, ParameterError, "integer"),
}


@pytest.mark.parametrize("case", list(THREAD_CASES))
def test_check_threads_refuses(case):
    value, error, keyword = THREAD_CASES[case]
    assert keyword in one_line(str(raised(lambda: check_threads(value), error)))


def test_check_threads_accepts_up_to_four_per_core():
    limit = THREADS_PER_CORE * (os.cpu_count() or 1)
    assert check_threads(0) == 0 and check_threads(limit) == limit
    with pytest.raises(ParameterError):
        check_threads(limit + 1)


def test_check_memory_compares_with_what_is_available():
    check_memory(0.5 * 2**30, what="x", lower="--n-steps", available=2**30)
    with pytest.raises(ResourceError, match="lower --n-steps") as info:
        check_memory(0.9 * 2**30, what="training", lower="--n-steps", available=2**30)
    assert isinstance(info.value, MemoryError)


def _data(shape, name="idx:somewhere"):
    return SimpleNamespace(name=name, image_shape=shape)


SIZE_CASES = {
    "n_steps=1e8": (
        lambda: check_training_run(TrainConfig(n_steps=100_000_000), _data((1, 8, 8))),
        ResourceError,
        "--n-steps or --batch-size",
    ),
    "huge-images": (
        lambda: check_training_run(TrainConfig(head="softmax"), _data((1, 60000, 60000))),
        ResourceError,
        "--batch-size",
    ),
    "3x3-images": (
        lambda: check_training_run(TrainConfig(), _data((1, 3, 3))),
        DatasetError,
        "at least 4 x 4",
    ),
    "checkpoint-asking-for-huge-sizes": (
        lambda: check_evaluation_run(TrainConfig(n_steps=10**9), (1, 28, 28), data="mnist"),
        ResourceError,
        "n_steps",
    ),
    "v_th=1e300": (lambda: TrainConfig(v_th=1e300), ParameterError, "float32"),
    "tau=1e-40": (
        lambda: TrainConfig(tau_mem_ms=1e-40, integrator="exact"),
        ParameterError,
        "too small",
    ),  # fmt: skip
    "lr=1e39": (lambda: TrainConfig(lr=1e39), ParameterError, "float32"),
    "seeds=1e9": (lambda: check_seed_count(1_000_000_000), ParameterError, "too many"),
    "seeds=0": (lambda: check_seed_count(0), ParameterError, ">= 1"),
}


@pytest.mark.parametrize("case", list(SIZE_CASES))
def test_run_sizes_are_refused_before_the_run(case):
    call, error, keyword = SIZE_CASES[case]
    assert keyword in one_line(str(raised(call, error)))


def test_ordinary_runs_pass_the_size_checks():
    digits_like = _data((1, 8, 8), "digits")
    check_training_run(TrainConfig(), digits_like)
    check_training_run(TrainConfig(head="softmax", batch_size=256), _data((3, 32, 32)))
    check_evaluation_run(TrainConfig(), (1, 28, 28), data="mnist")
    assert check_seed_count(10) == 10


def test_compare_checks_refuse_what_fails_after_the_run_folder(synthetic, tmp_path):
    base = CompareConfig(data="synthetic", seeds=(0,), train=TrainConfig(epochs=1, n_steps=2))
    tiny = replace(base, entries=("svm-linear",), train_fraction=0.01)
    with pytest.raises(DatasetError, match="needs at least 3 per class: raise --train-fraction"):
        check_compare_run(tiny, synthetic)
    # Why: without the check the SVM's cross-validation fails inside the run.
    with pytest.raises(ValueError, match="n_splits=3"):
        run_entry("svm-linear", seed_splits(tiny, 0, synthetic), tiny, 0, trained={})
    huge = replace(base, entries=("softmax",), augment=("classic",), augment_ratio=1e6)
    with pytest.raises(ResourceError, match="--augment-ratio"):
        check_compare_run(huge, synthetic, available=2**34)
    small = load_dataset(_idx_folder(tmp_path / "3x3", side=3))
    with pytest.raises(DatasetError, match="4 x 4"):
        check_compare_run(replace(base, entries=("lif", "svm-linear")), small)
    check_compare_run(replace(base, entries=("lif", "svm-linear")), synthetic, jobs=2)
    check_compare_run(replace(base, entries=("rnn",)), small, available=2**34)  # no CNN


# =============================================================================
# Divergence in the activations: exit status 3, not 2
# =============================================================================


def test_a_huge_learning_rate_stops_as_divergence_naming_epoch_and_step(tiny):
    """--lr 1e30 keeps the weights finite but overflows the next forward pass; that is
    divergence (TrainingDiverged, exit 3), not bad input."""
    config = TrainConfig(data="synthetic", epochs=1, n_steps=3, batch_size=32, lr=1e30,
                         optimizer="sgd")  # fmt: skip
    with pytest.raises(TrainingDiverged) as info:
        train(config, tiny, progress=False)
    message = one_line(str(info.value))
    assert "epoch 1" in message and "activations overflowed" in message and "--lr" in message


def test_nan_images_stay_bad_input_not_divergence(tiny):
    images = tiny.train.images.clone()
    images[3] = NAN
    bad = replace(tiny, train=Split(images, tiny.train.labels))
    config = TrainConfig(data="synthetic", epochs=1, n_steps=2, batch_size=120)
    with pytest.raises(NonFiniteError) as info:
        train(config, bad, progress=False)
    assert info.value.tensor_name == "images" and not isinstance(info.value, TrainingDiverged)

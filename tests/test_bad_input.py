"""Bad input everywhere: one clear line naming what is wrong, never a traceback.

Table-driven over the public API (LIFParams, lif_step / lif_sequence, LIF, encoders,
heads, decoders, the recogniser, checkpoints) and the ``spikerec`` command. Each
API case asserts the exception type, a keyword of its message and that the message
is one line. Each CLI case runs ``spikerec.commands.cli.main`` in-process and asserts exit
status 2, one line on stderr starting with ``spikerec``, no traceback, a keyword,
and that the ``--out`` folder gained no run folder. Two cases run a real
interpreter to prove that no traceback reaches the terminal.
"""

from __future__ import annotations

import gzip
import math
import os
import re
import subprocess
import sys
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
import torch
from _datasets import idx_folder, synthetic_subset
from _refusals import raised

from spikerec import LIF, LIFParams, LIFState, init_lif_state, lif_sequence, lif_step
from spikerec.commands.cli import main
from spikerec.data.idx import write_idx
from spikerec.data.loading import MNIST_FILES, load_dataset
from spikerec.recognition.decoders import decode
from spikerec.recognition.encoders import ENCODERS, LIFPopulationEncoder, make_encoder
from spikerec.recognition.heads import AnalogSoftmaxHead, LIFHead, RateSoftmaxHead
from spikerec.recognition.recognizer import build_recognizer
from spikerec.training.checkpoints import CheckpointError, load_checkpoint, save_checkpoint
from spikerec.training.loop import TrainConfig, train

NAN, INF = math.nan, math.inf


def one_line(message: str) -> str:
    assert message and "\n" not in message, repr(message)
    assert "Traceback" not in message
    return message


# =============================================================================
# Parameters
# =============================================================================

# Cases beyond tests/test_params.py: overflowing ratios, tensors and arrays as values,
# v_reset == v_th away from the defaults.
PARAM_CASES = [
    pytest.param({"tau_mem_ms": -INF}, ValueError, "tau_mem_ms", id="tau--inf"),
    pytest.param({"r_m": -INF}, ValueError, "r_m", id="r_m--inf"),
    pytest.param({"t_ref_ms": NAN}, ValueError, "t_ref_ms", id="t_ref-nan"),
    pytest.param({"dt_ms": np.float32("inf")}, ValueError, "dt_ms", id="dt-float32-inf"),
    pytest.param({"v_th": torch.tensor(NAN)}, ValueError, "v_th", id="v_th-tensor-nan"),
    pytest.param({"tau_mem_ms": torch.tensor([1.0, 2.0])}, TypeError, "real number", id="tau-vec"),
    pytest.param(
        {"tau_mem_ms": torch.tensor(5.0, device="meta")}, TypeError, "real number", id="tau-meta"
    ),
    pytest.param({"r_m": np.array([])}, TypeError, "real number", id="r_m-empty-array"),
    pytest.param({"v_rest": "0"}, TypeError, "v_rest", id="v_rest-str"),
    pytest.param({"v_reset": -2.0, "v_th": -2.0}, ValueError, "v_reset", id="v_reset==v_th<0"),
    pytest.param({"v_reset": 0.5, "v_th": 0.25}, ValueError, "v_th=0.25", id="v_reset>v_th"),
    pytest.param({"tau_mem_ms": 1e-320}, ValueError, "overflows", id="tau-subnormal"),
    pytest.param({"r_m": 1e308, "tau_mem_ms": 0.5}, ValueError, "r_m / tau_mem_ms", id="r_m/tau"),
    pytest.param({"v_th": 1e308, "v_reset": -1e308}, ValueError, "v_th - v_reset", id="gap-inf"),
    pytest.param({"reset": "Subtract"}, ValueError, "subtract, zero, none", id="reset-case"),
]


@pytest.mark.parametrize(("kwargs", "error", "keyword"), PARAM_CASES)
def test_lif_params_refuse(kwargs, error, keyword):
    with pytest.raises(error) as info:
        LIFParams(**kwargs)
    assert keyword in one_line(str(info.value))


# =============================================================================
# Tensors: shape, dtype, device, NaN/Inf, empty batches, T = 0
# =============================================================================

P = LIFParams()
B, N, T = 2, 3, 4


def state(b: int = B, n: int = N, dtype: torch.dtype = torch.float32, **kw) -> LIFState:
    return init_lif_state((b, n), P, dtype=dtype, **kw)


def _nan_state() -> LIFState:
    s = state()
    return LIFState(s.v.clone().fill_(NAN), s.refractory_steps_left)


def zeros(*shape: int, **kw) -> torch.Tensor:
    return torch.zeros(*shape, **kw)


def full(value: float, *shape: int) -> torch.Tensor:
    return torch.full(shape, value)


META = {"device": "meta"}
F64 = {"dtype": torch.float64}
I64 = {"dtype": torch.int64}

STEP_CASES = {
    # lif_step: one step [B, N]
    "step-wrong-shape": (lambda: lif_step(zeros(B, N + 1), state(), P), ValueError, "state.v"),
    "step-1d-vs-2d-state": (lambda: lif_step(zeros(N), state(), P), ValueError, "x needs (3,)"),
    "step-int-dtype": (lambda: lif_step(zeros(B, N, **I64), state(), P), TypeError, "floating"),
    "step-bool-dtype": (
        lambda: lif_step(zeros(B, N, dtype=torch.bool), state(), P),
        TypeError,
        "floating",
    ),
    "step-state-dtype": (lambda: lif_step(zeros(B, N, **F64), state(), P), ValueError, "float64"),
    "step-nan": (lambda: lif_step(full(NAN, B, N), state(), P), ValueError, "NaN"),
    "step-inf": (lambda: lif_step(full(-INF, B, N), state(), P), ValueError, "infinite"),
    "step-state-nan": (lambda: lif_step(zeros(B, N), _nan_state(), P), ValueError, "state.v"),
    "step-list": (lambda: lif_step([[0.0] * N] * B, state(), P), TypeError, "torch.Tensor"),
    "step-meta": (lambda: lif_step(zeros(B, N, **META), state(), P), ValueError, "meta"),
    "step-state-meta": (
        lambda: lif_step(zeros(B, N), state(device="meta"), P),
        ValueError,
        "meta",
    ),
    "step-empty-batch": (lambda: lif_step(zeros(0, N), state(b=0), P), ValueError, "empty"),
    "step-state-tensor": (lambda: lif_step(zeros(B, N), zeros(B, N), P), TypeError, "LIFState"),
    "step-params-dict": (lambda: lif_step(zeros(B, N), state(), {}), TypeError, "LIFParams"),
    "step-x_mid-shape": (
        lambda: lif_step(zeros(B, N), state(), P, integrator="rk4", x_mid=zeros(B, 1)),
        ValueError,
        "x_mid",
    ),
    "step-x_end-nan": (
        lambda: lif_step(zeros(B, N), state(), P, integrator="rk4", x_end=full(NAN, B, N)),
        ValueError,
        "x_end",
    ),
    # lif_sequence: [T, B, N]
    "seq-T=0": (lambda: lif_sequence(zeros(0, B, N), state(), P), ValueError, "empty"),
    "seq-B=0": (lambda: lif_sequence(zeros(T, 0, N), state(b=0), P), ValueError, "empty"),
    "seq-no-time-axis": (lambda: lif_sequence(zeros(B, N), state(), P), ValueError, "state.v"),
    "seq-0d": (lambda: lif_sequence(torch.tensor(1.0), state(), P), ValueError, "[T, B, *shape]"),
    "seq-nan": (lambda: lif_sequence(full(NAN, T, B, N), state(), P), ValueError, "NaN"),
    "seq-meta": (lambda: lif_sequence(zeros(T, B, N, **META), state(), P), ValueError, "meta"),
    "seq-int": (lambda: lif_sequence(zeros(T, B, N, **I64), state(), P), TypeError, "floating"),
    "seq-state-wrong-batch": (
        lambda: lif_sequence(zeros(T, B, N), state(b=B + 1), P),
        ValueError,
        "state.v",
    ),
    # the LIF module
    "LIF-meta": (lambda: LIF(P)(zeros(T, B, N, **META)), ValueError, "meta"),
    "LIF-complex": (
        lambda: LIF(P)(zeros(T, B, N, dtype=torch.complex64)),
        TypeError,
        "floating",
    ),
    "LIF-state-meta": (
        lambda: LIF(P)(zeros(T, B, N), state(device="meta")),
        ValueError,
        "meta",
    ),
    "LIF-state-nan": (lambda: LIF(P)(zeros(T, B, N), _nan_state()), ValueError, "NaN"),
    "LIF-learned-tau-on-meta": (
        lambda: LIF(P, learn_tau=True).to("meta")(zeros(T, B, N)),
        ValueError,
        "parameters are on meta",
    ),
    "LIF-rk4-learned-tau-unstable": (
        lambda: _unstable_learned_tau("rk4"),
        ValueError,
        "'rk4' integrator unstable",
    ),
}


def _unstable_learned_tau(integrator: str):
    lif = LIF(P, integrator=integrator, learn_tau=True)
    with torch.no_grad():
        lif.log_tau_mem_ms.fill_(math.log(0.3))  # dt/tau = 3.3: beyond RK4's 2.785
    return lif(zeros(T, B, N))


def _encoder(name: str, features: torch.Tensor, generator: object = "default"):
    gen = torch.Generator().manual_seed(0) if generator == "default" else generator
    return make_encoder(name, n_steps=4)(features, gen)


ENCODER_CASES = {
    **{
        f"{name}-{case}": (lambda n=name, f=f: _encoder(n, f()), error, keyword)
        for name in ENCODERS
        for case, f, error, keyword in [
            ("meta", lambda: zeros(B, N, **META), ValueError, "meta"),
            ("B=0", lambda: zeros(0, N), ValueError, "empty"),
            ("N=0", lambda: zeros(B, 0), ValueError, "empty"),
            ("-inf", lambda: full(-INF, B, N), ValueError, "infinite"),
            ("bool", lambda: zeros(B, N, dtype=torch.bool), TypeError, "floating point"),
        ]
    },
    "rate-no-generator": (lambda: _encoder("rate", zeros(B, N), None), ValueError, "Generator"),
    "rate-seed-as-generator": (lambda: _encoder("rate", zeros(B, N), 5), TypeError, "Generator"),
    "latency-seed-as-generator": (
        lambda: _encoder("latency", zeros(B, N), 5),
        TypeError,
        "Generator",
    ),
    "lif-encoder-params-dict": (
        lambda: LIFPopulationEncoder(params={"tau_mem_ms": 5.0}),
        TypeError,
        "LIFParams",
    ),
    "lif-encoder-fractional-t_ref": (
        lambda: LIFPopulationEncoder(params=LIFParams(t_ref_ms=0.5)),
        ValueError,
        "t_ref_ms",
    ),
    "encoder-T=0": (lambda: make_encoder("rate", n_steps=0), ValueError, "n_steps=0"),
}

_HEADS: dict[str, tuple[Callable[[], torch.nn.Module], tuple[int, ...], str]] = {
    "lif": (lambda: LIFHead(3, n_inputs=5), (T, B, 5), "v4_spikes"),
    "rate": (lambda: RateSoftmaxHead(3, n_inputs=5), (T, B, 5), "v4_spikes"),
    "analog": (lambda: AnalogSoftmaxHead(3, n_inputs=5), (B, 5), "features"),
}


def _head_call(head: str, make_x: Callable[[tuple[int, ...]], torch.Tensor], on_meta=False):
    make_head, shape, _ = _HEADS[head]
    module = make_head()
    if on_meta:
        module = module.to("meta")
    return module(make_x(shape))


def _with_last(shape: tuple[int, ...], size: int) -> tuple[int, ...]:
    return (*shape[:-1], size)


def _with_first(shape: tuple[int, ...], size: int) -> tuple[int, ...]:
    return (size, *shape[1:])


HEAD_CASES = {
    **{
        f"{head}-{case}": (lambda h=head, f=f, m=m: _head_call(h, f, m), error, keyword)
        for head in _HEADS
        for case, f, m, error, keyword in [
            ("width", lambda s: zeros(*_with_last(s, 6)), False, ValueError, "6 units"),
            ("ndim", lambda s: zeros(*s, 1), False, ValueError, "must have shape"),
            ("int", lambda s: zeros(*s, **I64), False, TypeError, "floating point"),
            ("float64", lambda s: zeros(*s, **F64), False, TypeError, "dtype torch.float64"),
            ("nan", lambda s: torch.full(s, NAN), False, ValueError, "NaN"),
            ("inf", lambda s: torch.full(s, INF), False, ValueError, "infinite"),
            ("meta-input", lambda s: zeros(*s, **META), False, ValueError, "meta tensor"),
            ("meta-head", lambda s: zeros(*s), True, ValueError, "parameters are on meta"),
            ("empty-first-dim", lambda s: zeros(*_with_first(s, 0)), False, ValueError, "empty"),
            ("list", lambda s: np.zeros(s, dtype=np.float32), False, TypeError, "torch.Tensor"),
        ]
    },
    "lif-B=0": (lambda: LIFHead(3, n_inputs=5)(zeros(T, 0, 5)), ValueError, "empty"),
    "rate-B=0": (lambda: RateSoftmaxHead(3, n_inputs=5)(zeros(T, 0, 5)), ValueError, "empty"),
    "lif-n_classes=0": (lambda: LIFHead(0, n_inputs=5), ValueError, "n_classes=0"),
    "rate-n_inputs=0": (lambda: RateSoftmaxHead(3, n_inputs=0), ValueError, "n_inputs=0"),
    "analog-n_classes=-1": (lambda: AnalogSoftmaxHead(-1), ValueError, "n_classes=-1"),
    "lif-n_classes=2.0": (lambda: LIFHead(2.0, n_inputs=5), ValueError, "n_classes=2.0"),
    "lif-head-params-dict": (lambda: LIFHead(3, 5, params={}), TypeError, "LIFParams"),
    "decode-T=0": (lambda: decode(zeros(0, B, 3), zeros(0, B, 3)), ValueError, "empty"),
    "decode-B=0": (lambda: decode(zeros(T, 0, 3), zeros(T, 0, 3)), ValueError, "empty"),
    "decode-nan-membrane": (
        lambda: decode(zeros(T, B, 3), full(NAN, T, B, 3)),
        ValueError,
        "membrane contains NaN",
    ),
    "decode-meta": (
        lambda: decode(zeros(T, B, 3, **META), zeros(T, B, 3, **META)),
        ValueError,
        "meta",
    ),
    "decode-int-spikes": (
        lambda: decode(zeros(T, B, 3, **I64), zeros(T, B, 3)),
        TypeError,
        "spikes must be a floating point",
    ),
}


def _recognizer(head: str = "lif", encoder: str = "lif"):
    return build_recognizer(head, in_channels=1, n_classes=3, encoder=encoder, n_steps=2)


def _gen() -> torch.Generator:
    return torch.Generator().manual_seed(0)


RECOGNIZER_CASES = {
    "rec-channels": (lambda: _recognizer()(zeros(B, 3, 8, 8), _gen()), ValueError, "[B, 1, H, W]"),
    "rec-3d": (lambda: _recognizer()(zeros(B, 8, 8), _gen()), ValueError, "[B, 1, H, W]"),
    "rec-uint8": (
        lambda: _recognizer()(zeros(B, 1, 8, 8, dtype=torch.uint8), _gen()),
        TypeError,
        "floating point",
    ),
    "rec-float64": (
        lambda: _recognizer()(zeros(B, 1, 8, 8, **F64), _gen()),
        TypeError,
        "float64",
    ),
    "rec-nan": (lambda: _recognizer()(full(NAN, B, 1, 8, 8), _gen()), ValueError, "images"),
    "rec-inf": (lambda: _recognizer()(full(INF, B, 1, 8, 8), _gen()), ValueError, "infinite"),
    "rec-B=0": (lambda: _recognizer()(zeros(0, 1, 8, 8), _gen()), ValueError, "images has an"),
    "rec-meta": (lambda: _recognizer()(zeros(B, 1, 8, 8, **META), _gen()), ValueError, "meta"),
    "rec-list": (lambda: _recognizer()([[0.0]], _gen()), TypeError, "torch.Tensor"),
    "rec-3x3": (lambda: _recognizer()(zeros(B, 1, 3, 3), _gen()), ValueError, "4 x 4"),
    "rec-generator-int": (lambda: _recognizer()(zeros(B, 1, 8, 8), 0), TypeError, "Generator"),
    "rec-rate-no-generator": (
        lambda: _recognizer("rate-softmax", "rate")(zeros(B, 1, 8, 8)),
        ValueError,
        "Generator",
    ),
    "build-n_classes=0": (
        lambda: build_recognizer("lif", in_channels=1, n_classes=0),
        ValueError,
        "n_classes=0",
    ),
    "build-in_channels=2": (
        lambda: build_recognizer("lif", in_channels=2, n_classes=3),
        ValueError,
        "in_channels=2",
    ),
    "build-n_steps=0": (
        lambda: build_recognizer("lif", in_channels=1, n_classes=3, n_steps=0),
        ValueError,
        "n_steps=0",
    ),
}

TENSOR_CASES = {**STEP_CASES, **ENCODER_CASES, **HEAD_CASES, **RECOGNIZER_CASES}


@pytest.mark.parametrize("case", list(TENSOR_CASES))
def test_bad_tensors_are_refused(case):
    call, error, keyword = TENSOR_CASES[case]
    assert keyword in one_line(str(raised(call, error)))


# =============================================================================
# Unknown names: the message names the bad value and lists the valid ones
# =============================================================================

UNKNOWN_NAMES = {
    "integrator": (lambda: LIF(P, integrator="Euler"), ["'Euler'", "euler, exact, rk4"]),
    "surrogate": (lambda: LIF(P, surrogate="fast-sigmoid"), ["'fast-sigmoid'", "fast_sigmoid"]),
    "synapse": (lambda: LIF(P, synapse="alpha"), ["'alpha'", "delta, current"]),
    "step-synapse": (
        lambda: lif_step(zeros(B, N), state(), P, synapse="exp"),
        ["'exp'", "delta, current"],
    ),
    "encoder": (lambda: make_encoder("poisson"), ["'poisson'", "rate, latency, lif"]),
    "head": (
        lambda: build_recognizer("svm", in_channels=1, n_classes=3),
        ["'svm'", "lif, rate-softmax, softmax"],
    ),
    "recognizer-encoder": (
        lambda: build_recognizer("lif", in_channels=1, n_classes=3, encoder="ttfs"),
        ["'ttfs'", "rate, latency, lif"],
    ),
    "decoder": (
        lambda: decode(zeros(T, B, 3), zeros(T, B, 3), "argmax"),
        ["'argmax'", "count, max-membrane, first-spike"],
    ),
    "dataset": (lambda: load_dataset("emnist"), ["'emnist'", "digits", "idx:PATH"]),
    "reset": (lambda: LIFParams(reset="hard"), ["'hard'", "subtract, zero, none"]),
    "train-loss": (lambda: TrainConfig(loss="mse"), ["'mse'", "count, membrane"]),
}


@pytest.mark.parametrize("case", list(UNKNOWN_NAMES))
def test_unknown_names_list_the_valid_ones(case):
    call, fragments = UNKNOWN_NAMES[case]
    with pytest.raises(ValueError) as info:
        call()
    message = one_line(str(info.value))
    for fragment in fragments:
        assert fragment in message


# =============================================================================
# Checkpoints: a real one, truncated and damaged; foreign files
# =============================================================================


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory) -> Path:
    """A real checkpoint of a tiny run (synthetic, 1 epoch, 2 steps), written by the
    trainer the CLI uses. Read-only for the tests: each damages a copy."""
    folder = tmp_path_factory.mktemp("run")
    config = TrainConfig(data="synthetic", epochs=1, n_steps=2, batch_size=64)
    # The first 64 / 20 / 20 images: a real training run, kept short. The checkpoint
    # records the name "synthetic", so evaluate and trace load the full set again.
    data = synthetic_subset(config.seed, train=64, val=20, test=20)
    path = folder / "checkpoint.pt"
    train(config, data, checkpoint=lambda p: save_checkpoint(path, p), progress=False)
    load_checkpoint(path)  # valid before any damage
    return path


def _truncate(n_bytes: Callable[[int], int]) -> Callable[[Path, Path], Path]:
    def make(real: Path, tmp: Path) -> Path:
        data = real.read_bytes()
        path = tmp / "cut.pt"
        path.write_bytes(data[: n_bytes(len(data))])
        return path

    return make


def _damaged(real: Path, tmp: Path) -> Path:
    """16 bytes overwritten inside the largest tensor: torch.load alone would not notice."""
    data = bytearray(real.read_bytes())
    with zipfile.ZipFile(real) as archive:
        member = max(archive.infolist(), key=lambda i: i.file_size)
    offset = member.header_offset + 200 + member.file_size // 2
    data[offset : offset + 16] = b"\xa5" * 16
    path = tmp / "damaged.pt"
    path.write_bytes(bytes(data))
    return path


def _file(name: str, write: Callable[[Path], object]) -> Callable[[Path, Path], Path]:
    def make(real: Path, tmp: Path) -> Path:
        path = tmp / name
        write(path)
        return path

    return make


def _folder(path: Path) -> Path:
    path.mkdir()
    return path


def _foreign_zip(path: Path) -> None:
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("notes/readme.txt", "not a checkpoint")


def _newer_version(path: Path) -> None:
    torch.save({"format": "spikerec-checkpoint", "version": 99}, path)


# name -> (make(real checkpoint, tmp_path) -> path, regex of the expected message)
CHECKPOINTS = {
    "truncated-to-10-bytes": (_truncate(lambda n: 10), "truncated or corrupt"),
    "truncated-to-half": (_truncate(lambda n: n // 2), "truncated or corrupt"),
    "truncated-by-1-byte": (_truncate(lambda n: n - 1), "truncated or corrupt"),
    "damaged-bytes": (_damaged, "corrupt.*CRC-32"),
    "empty-file": (_file("empty.pt", lambda p: p.write_bytes(b"")), "is empty"),
    "random-bytes": (
        _file("random.pt", lambda p: p.write_bytes(np.random.default_rng(0).bytes(4096))),
        "truncated or corrupt|not a torch file",
    ),
    "text-file": (_file("notes.pt", lambda p: p.write_text("hello\n")), "not a torch file"),
    "foreign-zip": (_file("archive.pt", _foreign_zip), "truncated or corrupt"),
    "plain-dict": (_file("dict.pt", lambda p: torch.save({"a": 1}, p)), "not a spikerec"),
    "tensor": (_file("tensor.pt", lambda p: torch.save(torch.zeros(3), p)), "not a spikerec"),
    "newer-version": (_file("v99.pt", _newer_version), "version 99"),
    "missing-file": (lambda real, tmp: tmp / "none.pt", "does not exist"),
    "folder-without-checkpoint": (lambda real, tmp: _folder(tmp / "run"), "does not exist"),
}


@pytest.mark.parametrize("case", list(CHECKPOINTS))
def test_load_checkpoint_refuses(case, checkpoint, tmp_path):
    make, pattern = CHECKPOINTS[case]
    with pytest.raises(CheckpointError, match=pattern) as info:
        load_checkpoint(make(checkpoint, tmp_path))
    one_line(str(info.value))


# =============================================================================
# The command line
# =============================================================================


def run_cli(argv: list[str], capsys) -> tuple[int, str]:
    capsys.readouterr()
    try:
        status = main(argv)
    except SystemExit as exit_:  # argparse errors
        status = exit_.code
    return status, capsys.readouterr().err


def snapshot(out: Path) -> object:
    """What ``--out`` holds: a folder's entries, or a file's bytes."""
    if out.is_dir():
        return sorted(p.name for p in out.iterdir())
    return out.read_bytes() if out.exists() else None


def assert_user_error(status: int, err: str, pattern: str) -> None:
    assert status == 2, (status, err)
    assert err.startswith("spikerec"), err
    assert err.count("\n") == 1 and err.endswith("\n"), err
    assert "Traceback" not in err
    assert re.search(pattern, err, re.IGNORECASE), err


@dataclass
class Ctx:
    """What a CLI case may refer to: its tmp folder and the real checkpoint."""

    tmp: Path
    checkpoint: Path

    def damaged(self, case: str) -> str:
        return str(CHECKPOINTS[case][0](self.checkpoint, self.tmp))

    def idx(self, corrupt: Callable[[Path], object] | None = None) -> str:
        folder = self.tmp / "idx"
        write_idx_folder(folder)
        if corrupt is not None:
            corrupt(folder)
        return f"idx:{folder}"


TRAIN = ["train", "--data", "synthetic", "--epochs", "1", "--n-steps", "2", "--no-progress"]
SIMULATE = ["simulate", "--duration-ms", "20"]
COMPARE = ["compare", "--data", "synthetic", "--epochs", "1", "--n-steps", "2", "--seeds", "1"]
COMPARE += ["--heads", "softmax", "--no-progress"]

# (flags, regex): invalid flag values; anything that slipped through would start a run.
SIMULATE_FLAGS = {
    "r_m=0": (["--r-m", "0"], r"r_m=0\.0 must be > 0"),
    "r_m=nan": (["--r-m", "nan"], "r_m=nan must be finite"),
    "r_m<0": (["--r-m", "-2"], "r_m=-2.0"),
    "dt=inf": (["--dt-ms", "inf"], "dt_ms=inf"),
    "dt<0": (["--dt-ms", "-1"], "dt_ms=-1.0"),
    "tau=-inf": (["--tau-mem-ms=-inf"], "tau_mem_ms=-inf"),  # argparse reads "-inf" as a flag
    "tau=0": (["--tau-mem-ms", "0"], "tau_mem_ms=0.0"),
    "v_th<v_reset": (["--v-th", "-1"], r"v_reset=0\.0 must be < v_th=-1\.0"),
    "v_th=v_reset": (["--v-th", "0.5", "--v-reset", "0.5"], "v_reset=0.5"),
    "v_rest=nan": (["--v-rest", "nan"], "v_rest=nan"),
    "v_reset=inf": (["--v-reset", "inf"], "v_reset=inf"),
    "t_ref=inf": (["--t-ref-ms", "inf"], "t_ref_ms=inf"),
    "n_inputs=0": (["--n-inputs", "0"], "n_inputs=0"),
    "rate<0": (["--rate-hz", "-1"], "rate_hz=-1.0"),
    "rate=inf": (["--rate-hz", "inf"], "rate_hz=inf"),
    "weight_std<0": (["--weight-std", "-0.1"], "weight_std"),
    "weight_mean=nan": (["--weight-mean", "nan"], "weight_mean=nan"),
    "current=inf": (["--input", "step", "--current", "inf"], "current=inf"),
    "duration=inf": (["--duration-ms", "inf"], "duration_ms=inf"),
    "duration<0": (["--duration-ms", "-5"], "duration_ms=-5.0"),
    "too-many-steps": (["--duration-ms", "1e12"], "too large"),
    "tiny-dt": (["--dt-ms", "1e-9"], "too large"),
    "too-many-inputs": (["--n-inputs", "100000000"], "too large"),
    "step-input-too-long": (["--input", "step", "--duration-ms", "1e9"], "too large"),
    "seed<0": (["--seed", "-1"], "seed=-1 must be an integer >= 0"),
    "rk4-unstable": (["--integrator", "rk4", "--tau-mem-ms", "0.3"], "unstable.*rk4"),
    "tau-not-a-number": (["--tau-mem-ms", "ten"], "invalid float value: 'ten'"),
    "n_inputs-not-int": (["--n-inputs", "2.5"], "invalid int value: '2.5'"),
    "unknown-reset": (["--reset", "hard"], "invalid choice: 'hard'"),
    "unknown-input": (["--input", "sine"], "invalid choice: 'sine'"),
}

TRAIN_FLAGS = {
    "tau=nan": (["--tau-mem-ms", "nan"], "tau_mem_ms=nan"),
    "tau=inf": (["--tau-mem-ms", "inf"], "tau_mem_ms=inf"),
    "tau<0": (["--tau-mem-ms", "-1"], "tau_mem_ms=-1.0"),
    "tau=0": (["--tau-mem-ms", "0"], "tau_mem_ms=0.0"),
    "v_th=v_reset": (["--v-th", "0"], "v_reset=0.0 must be < v_th=0.0"),
    "v_th<v_reset": (["--v-th", "-1"], "v_th=-1.0"),
    "v_th=nan": (["--v-th", "nan"], "v_th=nan"),
    "v_th=inf": (["--v-th", "inf"], "v_th=inf"),
    "lr=nan": (["--lr", "nan"], "lr=nan"),
    "lr=inf": (["--lr", "inf"], "lr=inf"),
    "lr<0": (["--lr", "-0.1"], "lr=-0.1"),
    "batch_size=0": (["--batch-size", "0"], "batch_size=0"),
    "n_steps=0": (["--n-steps", "0"], "n_steps=0"),
    "n_steps<0": (["--n-steps", "-3"], "n_steps=-3"),
    "epochs<0": (["--epochs", "-1"], "epochs=-1"),
    "patience<0": (["--patience", "-1"], "patience=-1"),
    "seed<0": (["--seed", "-1"], "seed=-1"),
    "seed>=2**32": (["--seed", str(2**32)], r"2\*\*32"),
    "val_fraction>1": (["--val-fraction", "1.5"], "val_fraction=1.5"),
    "val_fraction=nan": (["--val-fraction", "nan"], "val_fraction=nan"),
    "test_fraction=0": (["--test-fraction", "0"], "test_fraction=0.0"),
    "test_fraction=inf": (["--test-fraction", "inf"], "test_fraction=inf"),
    "fractions-sum-1": (["--val-fraction", "0.5", "--test-fraction", "0.5"], "must be < 1"),
    "threads<0": (["--threads", "-1"], "--threads=-1"),
    "momentum<0": (["--momentum", "-1"], "momentum=-1.0"),
    "weight_decay=nan": (["--weight-decay", "nan"], "weight_decay=nan"),
    "rate_reg=inf": (["--rate-reg", "inf"], "rate_reg=inf"),
    "rate_target<0": (["--rate-target", "-0.1"], "rate_target=-0.1"),
    "euler-unstable": (["--integrator", "euler", "--tau-mem-ms", "0.4"], "unstable.*euler"),
    "rk4-unstable": (["--integrator", "rk4", "--tau-mem-ms", "0.3"], "unstable.*rk4"),
    "unknown-encoder": (["--encoder", "poisson"], "invalid choice: 'poisson'"),
    "unknown-integrator": (["--integrator", "heun"], "invalid choice: 'heun'"),
    "unknown-surrogate": (["--surrogate", "relu"], "invalid choice: 'relu'"),
    "unknown-decoder": (["--decoder", "vote"], "invalid choice: 'vote'"),
    "unknown-loss": (["--loss", "mse"], "invalid choice: 'mse'"),
    "unknown-optimizer": (["--optimizer", "lbfgs"], "invalid choice: 'lbfgs'"),
    "unknown-schedule": (["--schedule", "linear"], "invalid choice: 'linear'"),
    "batch_size-not-int": (["--batch-size", "many"], "invalid int value: 'many'"),
    "unknown-dataset": (["--data", "svhn"], "unknown dataset 'svhn'.*digits"),
    "dataset-case": (["--data", "Digits"], "unknown dataset 'Digits'"),
    "idx-without-path": (["--data", "idx:"], "idx:PATH"),
}

COMPARE_FLAGS = {
    "seeds=0": (["--seeds", "0"], "--seeds=0"),
    "seeds<0": (["--seeds", "-2"], "--seeds=-2"),
    "n_steps=0": (["--n-steps", "0"], "n_steps=0"),
    "unknown-entry": (["--heads", "cnn"], "unknown entry 'cnn'"),
    "no-entries": (["--heads", ""], "no entries"),
    "repeated-entry": (["--heads", "softmax,softmax"], "repeat"),
    "lr=nan": (["--lr", "nan"], "lr=nan"),
    "epochs=0": (["--epochs", "0"], "epochs=0"),
    "batch_size<0": (["--batch-size", "-1"], "batch_size=-1"),
    "patience<0": (["--patience", "-1"], "patience=-1"),
    "threads<0": (["--threads", "-1"], "--threads=-1"),
    "unknown-dataset": (["--data", "svhn"], "unknown dataset 'svhn'"),
    "unknown-encoder": (["--encoder", "ttfs"], "invalid choice: 'ttfs'"),
}

FLAG_CASES = [
    *(pytest.param(SIMULATE + f, p, id=f"simulate-{k}") for k, (f, p) in SIMULATE_FLAGS.items()),
    *(pytest.param(TRAIN + f, p, id=f"train-{k}") for k, (f, p) in TRAIN_FLAGS.items()),
    *(pytest.param(COMPARE + f, p, id=f"compare-{k}") for k, (f, p) in COMPARE_FLAGS.items()),
]


@pytest.mark.parametrize(("argv", "pattern"), FLAG_CASES)
def test_cli_refuses_bad_flags(argv, pattern, tmp_path, capsys):
    out = tmp_path / "out"
    out.mkdir()
    status, err = run_cli([*argv, "--out", str(out)], capsys)
    assert_user_error(status, err, pattern)
    assert snapshot(out) == []  # no run folder


# ---------------------------------------------------------------- dataset files


def write_idx_folder(folder: Path) -> None:
    """A valid MNIST-format folder: 100 training and 20 test images of 12 x 12."""
    idx_folder(folder, side=12, n=100, classes=10, n_test=20)


def test_the_idx_folder_is_valid_before_damage(tmp_path):
    write_idx_folder(tmp_path)
    data = load_dataset(f"idx:{tmp_path}")
    assert data.image_shape == (1, 12, 12) and len(data.test) == 20


IMAGES, LABELS, TEST_IMAGES, TEST_LABELS = MNIST_FILES


def _cut(name: str, n: int) -> Callable[[Path], None]:
    def damage(folder: Path) -> None:
        path = folder / name
        path.write_bytes(path.read_bytes()[:n])

    return damage


def _text_file(path: Path) -> Path:
    path.write_text("not a folder\n")
    return path


def _gz_garbage(folder: Path) -> None:
    (folder / LABELS).unlink()
    (folder / f"{LABELS}.gz").write_bytes(gzip.compress(bytes(200))[:15])


IDX_DAMAGE = {
    "missing-folder": (lambda c: f"idx:{c.tmp / 'nowhere'}", "does not exist"),
    "path-is-a-file": (lambda c: f"idx:{_text_file(c.tmp / 'file')}", "does not exist"),
    "empty-folder": (
        lambda c: f"idx:{_folder(c.tmp / 'empty')}",
        "missing train-images-idx3-ubyte",
    ),
    "missing-test-labels": (
        lambda c: c.idx(lambda f: (f / TEST_LABELS).unlink()),
        "missing t10k-labels",
    ),
    "empty-images-file": (lambda c: c.idx(_cut(IMAGES, 0)), "is empty"),
    "truncated-header": (lambda c: c.idx(_cut(IMAGES, 6)), "truncated header"),
    "truncated-data": (lambda c: c.idx(_cut(TEST_IMAGES, 200)), "truncated data"),
    "truncated-labels": (lambda c: c.idx(_cut(LABELS, 50)), "truncated data"),
    "corrupt-gzip": (lambda c: c.idx(_gz_garbage), "corrupt gzip"),
    "bad-magic": (
        lambda c: c.idx(lambda f: (f / IMAGES).write_bytes(b"\x50\x4b\x03\x04" + bytes(64))),
        "bad magic number",
    ),
    "labels-as-images": (
        lambda c: c.idx(lambda f: (f / IMAGES).write_bytes((f / LABELS).read_bytes())),
        "wrong magic number",
    ),
    "count-mismatch": (
        lambda c: c.idx(lambda f: write_idx(f / TEST_LABELS, np.zeros(7, dtype=np.uint8))),
        "label count 7 != image count 20",
    ),
}


@pytest.mark.parametrize("case", list(IDX_DAMAGE))
@pytest.mark.parametrize("command", ["train", "compare", "evaluate"])
def test_cli_refuses_bad_dataset_files(command, case, checkpoint, tmp_path, capsys):
    make, pattern = IDX_DAMAGE[case]
    data = make(Ctx(tmp_path, checkpoint))
    out = tmp_path / "out"
    out.mkdir()
    argv = {
        "train": [*TRAIN, "--data", data],
        "compare": [*COMPARE, "--data", data],
        "evaluate": ["evaluate", str(checkpoint), "--data", data],
    }[command]
    status, err = run_cli([*argv, "--out", str(out)], capsys)
    assert_user_error(status, err, pattern)
    assert snapshot(out) == []


# ---------------------------------------------------------------- checkpoints


@pytest.mark.parametrize("case", [*CHECKPOINTS, "marker-without-keys"])
@pytest.mark.parametrize("command", ["evaluate", "trace", "resume"])
def test_cli_refuses_bad_checkpoints(command, case, checkpoint, tmp_path, capsys):
    if case == "marker-without-keys":  # says it is ours, holds nothing usable
        path = tmp_path / "hollow.pt"
        save_checkpoint(path, {})
        pattern = "missing key .config.|lacks the key .config."
    else:
        make, pattern = CHECKPOINTS[case]
        path = make(checkpoint, tmp_path)
    out = tmp_path / "out"
    out.mkdir()
    before_parent = snapshot(path.parent)
    argv = {
        "evaluate": ["evaluate", str(path), "--out", str(out)],
        "trace": ["trace", str(path), "--out", str(out)],
        "resume": ["train", "--resume", str(path), "--no-progress", "--out", str(out)],
    }[command]
    status, err = run_cli(argv, capsys)
    assert_user_error(status, err, pattern)
    assert snapshot(out) == []
    assert snapshot(path.parent) == before_parent  # nothing written next to it either


@pytest.mark.parametrize(
    ("argv", "pattern"),
    [
        pytest.param(["evaluate", "{ckpt}", "--split", "dev"], "invalid choice: 'dev'", id="split"),
        pytest.param(["evaluate", "{ckpt}", "--data", "svhn"], "unknown dataset", id="dataset"),
        pytest.param(
            ["trace", "{ckpt}", "--index", "-1"], r"index=-1 must be in \[0, ", id="idx<0"
        ),
        pytest.param(["trace", "{ckpt}", "--index", "1e3"], "invalid int value", id="idx-float"),
        pytest.param(["trace", "{ckpt}", "--data", "svhn"], "unknown dataset", id="trace-data"),
    ],
)
def test_cli_refuses_bad_evaluate_and_trace_options(argv, pattern, checkpoint, tmp_path, capsys):
    out = tmp_path / "out"
    out.mkdir()
    argv = [a.replace("{ckpt}", str(checkpoint)) for a in argv]
    status, err = run_cli([*argv, "--out", str(out)], capsys)
    assert_user_error(status, err, pattern)
    assert snapshot(out) == []


# ---------------------------------------------------------------- output folders

COMMANDS = {
    "simulate": lambda c: list(SIMULATE),
    "train": lambda c: list(TRAIN),
    "evaluate": lambda c: ["evaluate", str(c.checkpoint)],
    "trace": lambda c: ["trace", str(c.checkpoint)],
    "compare": lambda c: list(COMPARE),
}


def _out_is_a_file(tmp: Path) -> tuple[Path, str]:
    path = tmp / "results"
    path.write_text("an earlier result\n")
    return path, "exists and is not a folder"


def _out_below_a_file(tmp: Path) -> tuple[Path, str]:
    (tmp / "results").write_text("an earlier result\n")
    return tmp / "results" / "runs", "not a directory"


def _out_read_only(tmp: Path) -> tuple[Path, str]:
    if os.geteuid() == 0:
        pytest.skip("root writes into read-only folders; the 'path is a file' cases cover it")
    path = tmp / "locked"
    path.mkdir()
    path.chmod(0o500)
    return path, "not writable|permission denied"


OUT_CASES = {
    "out-is-a-file": _out_is_a_file,
    "out-below-a-file": _out_below_a_file,
    "out-read-only": _out_read_only,
}


@pytest.mark.parametrize("case", list(OUT_CASES))
@pytest.mark.parametrize("command", list(COMMANDS))
def test_cli_refuses_unwritable_output(command, case, checkpoint, tmp_path, capsys):
    out, pattern = OUT_CASES[case](tmp_path)
    before = snapshot(out)
    before_tmp = snapshot(tmp_path)
    try:
        argv = [*COMMANDS[command](Ctx(tmp_path, checkpoint)), "--out", str(out)]
        status, err = run_cli(argv, capsys)
    finally:
        if out.is_dir():
            out.chmod(0o700)
    assert_user_error(status, err, pattern)
    assert snapshot(out) == before
    assert snapshot(tmp_path) == before_tmp


# ---------------------------------------------------------------- a real interpreter


def test_real_interpreter_prints_one_line_and_no_traceback(tmp_path):
    """``python -m spikerec.commands.cli`` on a random file: the error comes from deep inside
    torch.load, yet the terminal shows one line and exit status 2."""
    random_file = tmp_path / "random.pt"
    random_file.write_bytes(np.random.default_rng(1).bytes(2048))
    out = tmp_path / "out"
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "spikerec.commands.cli",
            "evaluate",
            str(random_file),
            "--out",
            str(out),
        ],
        capture_output=True,
        text=True,
        env={**os.environ, "OMP_NUM_THREADS": "1"},
        timeout=120,
    )
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    assert result.stderr.startswith("spikerec: error: checkpoint"), result.stderr
    assert result.stderr.count("\n") == 1
    assert "corrupt" in result.stderr and "random.pt" in result.stderr
    assert result.stdout == ""
    assert not out.exists()

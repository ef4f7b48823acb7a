"""Shared helpers of the benchmark scripts: process setup, timing, memory, tables.

Every benchmark runs spikerec and its peer(s) side by side in one process, checks
that they agree before timing, times interleaved rounds after a warm-up and reports
medians as ratios. Peak memory is measured in fresh child processes, one per peer,
because a process's peak resident set size only ever grows.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import resource
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path

import torch
from torch import nn

from spikerec.commands._memory import keep_freed_memory

BENCH_DIR = Path(__file__).resolve().parent
MIB = 2**20


# ---------------------------------------------------------------------------
# Process setup and machine description
# ---------------------------------------------------------------------------


def setup_process(threads: int) -> dict[str, object]:
    """Tune glibc malloc (``spikerec.commands._memory.keep_freed_memory``) and torch threads.

    Called once at the start of every benchmark process, parent or child, so both
    libraries run under the same allocator settings.
    """
    if threads < 1:
        raise ValueError(f"--threads={threads} must be >= 1")
    tuned = keep_freed_memory()
    torch.set_num_threads(threads)
    try:
        torch.set_num_interop_threads(1)
    except RuntimeError:  # already set in this process (e.g. run_all calling several mains)
        pass
    return {"threads": torch.get_num_threads(), "malloc_tuned": tuned}


def cpu_model() -> str:
    """CPU model name from /proc/cpuinfo (platform.processor() elsewhere)."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def machine_info() -> dict[str, object]:
    """What the numbers were measured on."""
    import snntorch

    import spikerec

    try:
        usable = len(os.sched_getaffinity(0))
    except AttributeError:
        usable = os.cpu_count() or 0
    try:
        load = " ".join(f"{x:.2f}" for x in os.getloadavg())
    except OSError:
        load = "n/a"
    return {
        "cpu": cpu_model(),
        "cores": os.cpu_count(),
        "usable_cores": usable,
        "load_avg": load,
        "python": platform.python_version(),
        "torch": torch.__version__,
        "snntorch": snntorch.__version__,
        "spikerec": spikerec.__version__,
        "torch_threads": torch.get_num_threads(),
    }


def describe_machine(info: dict[str, object], setup: dict[str, object] | None = None) -> str:
    lines = [
        f"CPU: {info['cpu']} ({info['cores']} cores, {info['usable_cores']} usable; "
        f"load average {info['load_avg']})",
        f"python {info['python']}, torch {info['torch']}, snntorch {info['snntorch']}, "
        f"spikerec {info['spikerec']}; torch threads: {info['torch_threads']}",
    ]
    if setup is not None:
        tuned = "applied" if setup.get("malloc_tuned") else "NOT applied (not glibc?)"
        lines.append(
            f"glibc malloc tuning (spikerec.commands._memory.keep_freed_memory) {tuned} "
            "for every benchmark process, both libraries alike"
        )
    return "\n".join(lines)


def add_common_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--threads", type=int, default=2, help="torch threads (default 2)")
    parser.add_argument("--rounds", type=int, default=None, help="timed rounds per peer")
    parser.add_argument("--warmup", type=int, default=None, help="untimed warm-up calls per peer")
    parser.add_argument("--quick", action="store_true", help="small sizes, few rounds (smoke)")
    parser.add_argument("--seed", type=int, default=0, help="seed of every generator")
    parser.add_argument(
        "--jobs", type=int, default=None,
        help="memory-measuring child processes run at once (default 1; --quick: 3)",
    )  # fmt: skip


# ---------------------------------------------------------------------------
# Timing
# ---------------------------------------------------------------------------


def time_interleaved(
    fns: dict[str, Callable[[], object]], *, rounds: int, warmup: int
) -> dict[str, dict[str, object]]:
    """Median wall time of each callable over interleaved rounds.

    Every callable is first called ``warmup`` times. Then each round calls every
    callable once, in an order rotated from round to round, so slow drifts of the
    machine (another job, thermal state) hit all peers alike.

    Returns
    -------
    dict name -> {"median_s", "min_s", "samples_s"}
    """
    names = list(fns)
    for _ in range(warmup):
        for name in names:
            fns[name]()
    samples: dict[str, list[float]] = {name: [] for name in names}
    for r in range(rounds):
        shift = r % len(names)
        for name in names[shift:] + names[:shift]:
            start = time.perf_counter()
            fns[name]()
            samples[name].append(time.perf_counter() - start)
    return {
        name: {
            "median_s": statistics.median(s),
            "min_s": min(s),
            "samples_s": s,
        }
        for name, s in samples.items()
    }


# ---------------------------------------------------------------------------
# Memory
# ---------------------------------------------------------------------------


def _status_kib(field: str) -> float | None:
    try:
        with open("/proc/self/status", encoding="utf-8") as f:
            for line in f:
                if line.startswith(field + ":"):
                    return float(line.split()[1])
    except OSError:
        pass
    return None


def rss_mib() -> float:
    """Current resident set size in MiB (peak so far where /proc is missing)."""
    kib = _status_kib("VmRSS")
    if kib is None:
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0
    return kib / 1024.0


def peak_rss_mib() -> float:
    """Peak resident set size of this process in MiB (VmHWM, else ru_maxrss)."""
    kib = _status_kib("VmHWM")
    if kib is None:
        kib = float(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)
    return kib / 1024.0


def emit_child_result(result: dict[str, object]) -> None:
    """A child's last stdout line: its result as JSON."""
    print("RESULT " + json.dumps(result), flush=True)


def run_child(script: str, args: Sequence[str], *, timeout_s: float = 1800.0) -> dict:
    """Run ``benchmarks/<script> <args>`` in a fresh interpreter; return its JSON result."""
    cmd = [sys.executable, str(BENCH_DIR / script), *args]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout_s, check=False)
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("RESULT ")]
    if proc.returncode != 0 or not lines:
        tail = (proc.stderr or proc.stdout)[-2000:]
        raise RuntimeError(f"child {' '.join(cmd)} failed (status {proc.returncode}):\n{tail}")
    return json.loads(lines[-1][len("RESULT ") :])


def run_children(jobs: Sequence[tuple[str, Sequence[str]]], *, parallel: int = 1) -> list[dict]:
    """:func:`run_child` for each ``(script, args)``, up to ``parallel`` at a time.

    Each child's peak RSS is its own, so running children side by side leaves the
    memory figures unchanged; it only shortens the wall time (``--quick``).
    """
    if parallel <= 1:
        return [run_child(script, args) for script, args in jobs]
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(max_workers=parallel) as pool:
        futures = [pool.submit(run_child, script, args) for script, args in jobs]
        return [f.result() for f in futures]


# ---------------------------------------------------------------------------
# Models and checks
# ---------------------------------------------------------------------------


@torch.no_grad()
def init_uniform_(module: nn.Module, generator: torch.Generator) -> nn.Module:
    """PyTorch's default-like init from an explicit generator.

    Every weight and bias of a Conv/Linear layer is drawn from
    ``U(-1/sqrt(fan_in), 1/sqrt(fan_in))`` (the bound of torch's default init).
    """
    for layer in module.modules():
        if isinstance(layer, (nn.Linear, nn.Conv1d, nn.Conv2d)):
            fan_in = layer.weight[0].numel()
            bound = 1.0 / math.sqrt(fan_in)
            layer.weight.uniform_(-bound, bound, generator=generator)
            if layer.bias is not None:
                layer.bias.uniform_(-bound, bound, generator=generator)
    return module


def rel_diff(a: torch.Tensor, b: torch.Tensor) -> float:
    """``max|a - b| / max|b|``: a scale-free gradient disagreement."""
    a, b = a.detach().double(), b.detach().double()
    scale = b.abs().max().item()
    return (a - b).abs().max().item() / (scale if scale > 0 else 1.0)


def check(name: str, value: float, limit: float, *, kind: str = "<=") -> dict[str, object]:
    """An agreement check as a row: ``value <= limit`` (or ``>=``, ``==``)."""
    ok = {"<=": value <= limit, ">=": value >= limit, "==": value == limit}[kind]
    return {"check": name, "value": value, "limit": limit, "kind": kind, "ok": bool(ok)}


def ratio_row(workload: str, name: str, value: float, meaning: str) -> dict[str, object]:
    return {"workload": workload, "ratio": name, "value": value, "meaning": meaning}


# ---------------------------------------------------------------------------
# Output
# ---------------------------------------------------------------------------


def fmt_value(value: object) -> str:
    if isinstance(value, float):
        if value == 0.0:
            return "0"
        if abs(value) >= 1e4 or abs(value) < 1e-2:
            return f"{value:.3g}"
        return f"{value:.3f}" if abs(value) < 10 else f"{value:.2f}"
    return str(value)


def table(rows: Iterable[Sequence[object]], headers: Sequence[str]) -> str:
    """A plain-text table with left-aligned columns."""
    body = [[fmt_value(c) for c in row] for row in rows]
    widths = [len(h) for h in headers]
    for row in body:
        widths = [max(w, len(c)) for w, c in zip(widths, row, strict=True)]
    line = "  ".join("-" * w for w in widths)
    out = ["  ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True)), line]
    out += ["  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)) for row in body]
    return "\n".join(out)


def checks_table(checks: Sequence[dict[str, object]]) -> str:
    rows = []
    for c in checks:
        verdict = "ok" if c["ok"] else "FAIL"
        rows.append((c["check"], c["value"], f"{c['kind']} {fmt_value(c['limit'])}", verdict))
    return table(rows, ["agreement check", "value", "required", ""])


def ratios_table(ratios: Sequence[dict[str, object]]) -> str:
    rows = [(r["workload"], r["ratio"], r["value"], r["meaning"]) for r in ratios]
    return table(rows, ["workload", "ratio", "value", "meaning"])


# ---------------------------------------------------------------------------
# Script scaffolding shared by the bench_*.py scripts
# ---------------------------------------------------------------------------


def fill_defaults(
    args: argparse.Namespace, **defaults: tuple[object, object]
) -> argparse.Namespace:
    """Set each option still ``None`` to its ``(quick, full)`` default; return ``args``."""
    for name, (quick, full) in defaults.items():
        if getattr(args, name) is None:
            setattr(args, name, quick if args.quick else full)
    return args


def start(threads: int, title: str) -> None:
    """Set the process up (:func:`setup_process`) and print the title and the machine."""
    setup = setup_process(threads)
    print(title)
    print(describe_machine(machine_info(), setup))


def report_checks(result: dict[str, object], checks: list[dict[str, object]]) -> bool:
    """Add ``checks`` to ``result["checks"]``, print them; True when all passed."""
    result["checks"] = [*result.get("checks", []), *checks]
    print(checks_table(checks))
    return all(c["ok"] for c in checks)


def report_ratios(result: dict[str, object], ratios: list[dict[str, object]]) -> None:
    """Add ``ratios`` to ``result["ratios"]`` and print them."""
    result["ratios"] = [*result.get("ratios", []), *ratios]
    print(ratios_table(ratios))


def time_trainers(
    trainers: dict[str, object], batch: int, *, rounds: int, warmup: int
) -> tuple[dict[str, float], dict[str, float]]:
    """Time every trainer's ``step`` (:func:`time_interleaved`), print a table.

    Returns the median seconds per step and the images per second of each peer.
    """
    times = time_interleaved({p: t.step for p, t in trainers.items()}, rounds=rounds, warmup=warmup)
    med = {p: t["median_s"] for p, t in times.items()}
    ips = {p: batch / s for p, s in med.items()}
    print(table([(p, 1e3 * med[p], ips[p]) for p in trainers],
                ["peer", "median ms/step", "images/s"]))  # fmt: skip
    return med, ips


class Trainer:
    """A network, its Adam optimiser and one batch; ``step()`` is one training step
    (cross-entropy on :meth:`logits`)."""

    def __init__(self, net: nn.Module, images: torch.Tensor, labels: torch.Tensor, *,
                 lr: float) -> None:  # fmt: skip
        self.net = net
        self.opt = torch.optim.Adam(self.net.parameters(), lr=lr)
        self.images, self.labels = images, labels

    def logits(self) -> torch.Tensor:
        raise NotImplementedError

    def step(self) -> None:
        self.opt.zero_grad(set_to_none=True)
        torch.nn.functional.cross_entropy(self.logits(), self.labels).backward()
        self.opt.step()


def make_batch(batch: int, seed: int, n_classes: int = 10) -> tuple[torch.Tensor, torch.Tensor]:
    """Uniform 28x28 images and random labels from a generator seeded ``seed + 1``."""
    g = torch.Generator().manual_seed(seed + 1)
    images = torch.rand(batch, 1, 28, 28, generator=g)
    return images, torch.randint(0, n_classes, (batch,), generator=g)


def emit_step_memory(step: Callable[[], object]) -> None:
    """In a memory child: run ``step`` once and emit the RSS before and the peak after."""
    baseline = rss_mib()
    step()
    emit_child_result({"baseline_mib": baseline, "peak_mib": peak_rss_mib()})


def measure_memory_children(
    script: str, peers: Sequence[str], args: argparse.Namespace, *extra: str
) -> dict[str, dict[str, float]]:
    """Peak RSS of each peer, each in a fresh ``script --memory-child PEER *extra`` process."""
    jobs = [
        (script, [
            "--memory-child", peer,
            *extra,
            "--batch", str(args.batch),
            "--threads", str(args.threads),
            "--seed", str(args.seed),
        ])
        for peer in peers
    ]  # fmt: skip
    return dict(zip(peers, run_children(jobs, parallel=args.jobs), strict=True))


def memory_table(mem: dict[str, dict[str, float]]) -> dict[str, float]:
    """Print each fresh process's RSS before and at peak; return each step's growth (MiB)."""
    step_mib = {p: m["peak_mib"] - m["baseline_mib"] for p, m in mem.items()}
    rows = [(p, m["baseline_mib"], m["peak_mib"], step_mib[p]) for p, m in mem.items()]
    print(table(rows, ["peer (fresh process)", "before MiB", "peak MiB", "step MiB"]))
    return step_mib


def run_script(main: Callable[[list[str]], dict[str, object]]) -> None:
    """``python benchmarks/bench_x.py``: run ``main``, exit 1 when any check failed."""
    out = main(sys.argv[1:])
    sys.exit(0 if all(c["ok"] for c in out.get("checks", [])) else 1)

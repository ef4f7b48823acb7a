"""`spikerec simulate` and the simulation scripts: outputs, and one-line errors with exit 2."""

from __future__ import annotations

import csv
import importlib.util
import re
from pathlib import Path

import pytest

from spikerec.commands.cli import main

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
ROOT = Path(__file__).resolve().parents[1]


def _only_run_dir(parent: Path) -> Path:
    (run_dir,) = list(parent.iterdir())
    return run_dir


@pytest.mark.parametrize("kind", ["poisson", "step"])
def test_simulate_writes_png_and_csv(kind, tmp_path, capsys):
    status = main(
        [
            "simulate",
            "--input",
            kind,
            "--duration-ms",
            "60",
            "--dt-ms",
            "0.5",
            "--out",
            str(tmp_path),
        ]
    )
    assert status == 0
    run_dir = _only_run_dir(tmp_path)
    assert (run_dir / "membrane_trace.png").read_bytes()[:8] == PNG_MAGIC
    with open(run_dir / "membrane_trace.csv", newline="") as handle:
        rows = list(csv.reader(handle))
    assert rows[0] == ["t_ms", "v_pre_reset", "spike", "drive"]
    assert len(rows) == 1 + 120  # 60 ms in steps of 0.5 ms
    times = [float(r[0]) for r in rows[1:]]
    assert times[0] == 0.5 and times[-1] == 60.0
    spikes = [int(r[2]) for r in rows[1:]]
    v_pre = [float(r[1]) for r in rows[1:]]
    # a spike is recorded exactly where the pre-reset membrane reached threshold
    assert spikes == [int(v >= 1.0) for v in v_pre]
    assert re.search(r"\d+ output spikes? in ", capsys.readouterr().out)


def test_simulate_never_reuses_a_run_folder(tmp_path):
    args = ["simulate", "--input", "step", "--duration-ms", "20", "--out", str(tmp_path)]
    assert main(args) == 0
    first = _only_run_dir(tmp_path)
    before = {p.name: p.read_bytes() for p in first.iterdir()}
    assert main(args) == 0
    assert len(list(tmp_path.iterdir())) == 2
    assert {p.name: p.read_bytes() for p in first.iterdir()} == before


@pytest.mark.parametrize(
    ("flags", "fragment"),
    [
        (["--tau-mem-ms", "-5"], "tau_mem_ms=-5.0 must be > 0"),
        (["--dt-ms", "0"], "dt_ms=0.0 must be > 0"),
        (["--v-reset", "2"], "v_reset=2.0 must be < v_th=1.0"),
        (["--t-ref-ms", "-1"], "t_ref_ms=-1.0 must be >= 0"),
        (["--tau-mem-ms", "nan"], "tau_mem_ms=nan must be finite"),
        (["--integrator", "euler", "--dt-ms", "25"], "unstable"),
        (["--t-ref-ms", "1.5"], "whole number of steps"),
        (["--duration-ms", "0"], "duration_ms"),
        (["--step-on-ms", "50", "--step-off-ms", "10"], "step_on_ms"),
    ],
)
def test_simulate_bad_values_give_one_line_and_exit_2(flags, fragment, tmp_path, capsys):
    status = main(["simulate", *flags, "--out", str(tmp_path / "out")])
    assert status == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("spikerec") and "\n" not in err and "Traceback" not in err
    assert fragment in err
    assert not (tmp_path / "out").exists() or list((tmp_path / "out").iterdir()) == []


def test_simulate_unknown_integrator_is_an_argparse_error(capsys):
    with pytest.raises(SystemExit) as info:
        main(["simulate", "--integrator", "heun"])
    assert info.value.code == 2
    assert "euler" in capsys.readouterr().err


def _load_script(name: str):
    spec = importlib.util.spec_from_file_location(name, ROOT / "simulations" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_membrane_trace_script(tmp_path):
    script = _load_script("membrane_trace")
    assert script.main(["--input", "step", "--dt-ms", "0.5", "--out", str(tmp_path)]) == 0
    run_dir = _only_run_dir(tmp_path)
    assert (run_dir / "membrane_trace.png").read_bytes()[:8] == PNG_MAGIC


@pytest.mark.slow
def test_integrator_convergence_script_measures_the_orders(tmp_path, capsys):
    script = _load_script("integrator_convergence")
    assert script.main(["--out", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    orders = {
        line.split(":")[0]: float(line.split()[-1])
        for line in out.splitlines()
        if "measured order" in line
    }
    assert abs(orders["euler"] - 1.0) < 0.3 and abs(orders["rk4"] - 4.0) < 0.3
    assert (_only_run_dir(tmp_path) / "convergence.png").read_bytes()[:8] == PNG_MAGIC


@pytest.mark.parametrize("kind", ["step", "poisson"])
def test_simulate_figure_draws_what_drives_the_neuron(kind, tmp_path, monkeypatch):
    """Two panels: the membrane (threshold and reset labelled), and the input raster or
    the step current itself; the title counts spikes in good English."""
    from spikerec.commands import simulate as simulate_command
    from spikerec.lif.params import LIFParams

    figures = []
    import spikerec.plotting as plotting

    real_save = plotting.save_figure

    def keep(fig, path, **kwargs):
        figures.append(fig)
        return real_save(fig, path, **kwargs)

    monkeypatch.setattr(plotting, "save_figure", keep)
    config = simulate_command.TraceConfig(
        input=kind, duration_ms=60.0, current=1.02, step_on_ms=5.0, rate_hz=5.0, n_inputs=50
    )
    params = LIFParams()
    result = simulate_command.run_membrane_trace(params, config)
    simulate_command.write_membrane_trace(result, params, config, tmp_path)
    (fig,) = figures
    membrane_ax, input_ax = fig.axes
    labels = [t.get_text() for t in membrane_ax.get_legend().get_texts()]
    assert any(text.startswith("threshold") for text in labels)
    assert any(text.startswith("reset") for text in labels)
    n_spikes = int(result.grid.spikes.sum())
    title = membrane_ax.get_title()
    assert title.endswith(f"{n_spikes} spike" + ("" if n_spikes == 1 else "s"))
    if kind == "step":
        assert input_ax.get_ylabel() == "input current (a.u.)"
        (line,) = input_ax.get_lines()
        assert max(line.get_ydata()) == pytest.approx(1.02)
    else:
        assert "raster" in input_ax.get_title()
    assert input_ax.get_xlabel() == "time (ms)"

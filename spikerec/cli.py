"""The ``spikerec`` command. The only module that parses argv."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from spikerec.params import RESET_MODES, LIFParams

EXIT_USER_ERROR = 2


class _Parser(argparse.ArgumentParser):
    """argparse with one-line errors and exit status 2."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(EXIT_USER_ERROR, f"{self.prog}: error: {message}\n")


def _add_lif_arguments(parser: argparse.ArgumentParser) -> None:
    defaults = LIFParams()
    group = parser.add_argument_group("LIF neuron")
    group.add_argument(
        "--tau-mem-ms",
        type=float,
        default=defaults.tau_mem_ms,
        help="membrane time constant in ms (default %(default)s)",
    )
    group.add_argument(
        "--dt-ms", type=float, default=defaults.dt_ms, help="time step in ms (default %(default)s)"
    )
    group.add_argument("--v-rest", type=float, default=defaults.v_rest)
    group.add_argument("--v-reset", type=float, default=defaults.v_reset)
    group.add_argument("--v-th", type=float, default=defaults.v_th)
    group.add_argument(
        "--r-m", type=float, default=defaults.r_m, help="membrane resistance (default %(default)s)"
    )
    group.add_argument(
        "--t-ref-ms",
        type=float,
        default=defaults.t_ref_ms,
        help="refractory period in ms (default %(default)s)",
    )
    group.add_argument("--reset", choices=RESET_MODES, default=defaults.reset)


def _lif_params(args: argparse.Namespace) -> LIFParams:
    return LIFParams(
        tau_mem_ms=args.tau_mem_ms,
        dt_ms=args.dt_ms,
        v_rest=args.v_rest,
        v_reset=args.v_reset,
        v_th=args.v_th,
        r_m=args.r_m,
        t_ref_ms=args.t_ref_ms,
        reset=args.reset,
    )


def _simulate(args: argparse.Namespace) -> int:
    from spikerec.integrators import get_integrator
    from spikerec.runs import new_run_dir
    from spikerec.trace import TraceConfig, run_membrane_trace, write_membrane_trace

    params = _lif_params(args)
    get_integrator(args.integrator).validate(params)
    config = TraceConfig(
        input=args.input,
        duration_ms=args.duration_ms,
        n_inputs=args.n_inputs,
        rate_hz=args.rate_hz,
        weight_mean=args.weight_mean,
        weight_std=args.weight_std,
        current=args.current,
        step_on_ms=args.step_on_ms,
        step_off_ms=args.step_off_ms,
        seed=args.seed,
    )
    result = run_membrane_trace(params, config, integrator=args.integrator)
    out_dir = new_run_dir(args.out, "simulate")
    paths = write_membrane_trace(result, params, config, out_dir, integrator=args.integrator)
    n_spikes = int(result.grid.spikes.sum())
    print(
        f"{n_spikes} output spikes in {config.duration_ms:g} ms "
        f"({1000.0 * n_spikes / config.duration_ms:.1f} Hz)"
    )
    for path in paths:
        print(f"wrote {path}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the ``spikerec`` command."""
    from spikerec import __version__
    from spikerec.integrators import INTEGRATORS
    from spikerec.trace import TRACE_INPUTS, TraceConfig

    parser = _Parser(prog="spikerec", description=__doc__)
    parser.add_argument("--version", action="version", version=f"spikerec {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    sim = commands.add_parser(
        "simulate",
        help="membrane trace of one LIF neuron (PNG + CSV)",
        description="Simulate one LIF neuron driven by Poisson spike trains from V4-like "
        "inputs (delta synapses) or by a current step; write a PNG of V(t) and a "
        "CSV of the trace into a new folder under --out.",
    )
    _add_lif_arguments(sim)
    trace_defaults = TraceConfig()
    sim.add_argument("--integrator", choices=list(INTEGRATORS), default="exact")
    sim.add_argument("--input", choices=TRACE_INPUTS, default=trace_defaults.input)
    sim.add_argument("--duration-ms", type=float, default=trace_defaults.duration_ms)
    sim.add_argument(
        "--n-inputs",
        type=int,
        default=trace_defaults.n_inputs,
        help="presynaptic V4 neurons (default %(default)s)",
    )
    sim.add_argument("--rate-hz", type=float, default=trace_defaults.rate_hz)
    sim.add_argument("--weight-mean", type=float, default=trace_defaults.weight_mean)
    sim.add_argument("--weight-std", type=float, default=trace_defaults.weight_std)
    sim.add_argument(
        "--current",
        type=float,
        default=trace_defaults.current,
        help="current-step amplitude (default %(default)s)",
    )
    sim.add_argument("--step-on-ms", type=float, default=trace_defaults.step_on_ms)
    sim.add_argument("--step-off-ms", type=float, default=trace_defaults.step_off_ms)
    sim.add_argument("--seed", type=int, default=trace_defaults.seed)
    sim.add_argument("--out", default="runs", help="parent folder of the new run folder")
    sim.set_defaults(handler=_simulate)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``spikerec`` command; return its exit status (2 for user errors)."""
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return args.handler(args)
    except (ValueError, TypeError, OSError) as error:
        print(f"spikerec: error: {error}", file=sys.stderr)
        return EXIT_USER_ERROR


if __name__ == "__main__":
    sys.exit(main())

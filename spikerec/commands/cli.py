"""The ``spikerec`` command. The only module that parses argv."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from spikerec.errors import ParameterError, TrainingDiverged
from spikerec.lif.params import RESET_MODES, LIFParams

EXIT_USER_ERROR = 2
# Training stopped on NaN or infinite loss or weights (the last good checkpoint is kept).
EXIT_NUMERICAL_FAULT = 3
#: Most values ``simulate`` may hold in one array (steps x inputs), about 400 MB of float64.
MAX_SIMULATION_VALUES = 50_000_000


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
    from spikerec.commands.simulate import TraceConfig, run_membrane_trace, write_membrane_trace
    from spikerec.lif.integrators import get_integrator
    from spikerec.run_folders import new_run_dir

    params = _lif_params(args)
    get_integrator(args.integrator).validate(params)
    if args.seed < 0:
        raise ParameterError(f"--seed={args.seed} must be >= 0")
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
    n_steps = config.duration_ms / params.dt_ms
    per_step = config.n_inputs if config.input == "poisson" else 1
    if n_steps * per_step > MAX_SIMULATION_VALUES:
        raise ParameterError(
            f"duration_ms / dt_ms = {n_steps:.4g} steps"
            + (f" x {per_step} inputs" if per_step > 1 else "")
            + f" is too large (at most {MAX_SIMULATION_VALUES:.0e} values); shorten "
            "--duration-ms, raise --dt-ms or lower --n-inputs"
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


def _config_from_args(args: argparse.Namespace):
    from spikerec.training.loop import TrainConfig

    names = [f for f in TrainConfig.__dataclass_fields__ if hasattr(args, f)]
    return TrainConfig(**{name: getattr(args, name) for name in names})


def _check_threads(threads: int) -> None:
    if threads < 0:
        raise ParameterError(f"--threads={threads} must be >= 0 (0: torch's default)")


def _set_threads(threads: int) -> None:
    """Apply ``--threads`` (0 keeps torch's choice)."""
    _check_threads(threads)
    if threads:
        import torch

        torch.set_num_threads(threads)


def _train(args: argparse.Namespace) -> int:

    from spikerec.commands.recognizer_runs import run_training
    from spikerec.training.distributed import init_from_environment, leave_process_group

    _set_threads(args.threads)
    config = None if args.resume else _config_from_args(args)
    placement = init_from_environment()  # joins torchrun's process group, if any
    try:
        run_dir, result = run_training(
            config,
            out_root=args.out,
            resume=args.resume,
            progress=not args.no_progress and placement.is_main,
        )
    finally:
        leave_process_group()
    if not placement.is_main:
        return 0
    print(f"run folder: {run_dir}")
    print(
        f"epochs: {result.state.epoch} (best {result.state.best_epoch}), "
        f"training time {result.state.train_time_s:.1f} s"
    )
    print(f"validation accuracy: {result.val.accuracy:.4f}")
    print(
        f"test accuracy: {result.test.accuracy:.4f} "
        f"(silent output layer on {100 * result.test.silent_fraction:.1f} % of images)"
    )
    return 0


def _evaluate(args: argparse.Namespace) -> int:
    from spikerec.commands.recognizer_runs import run_evaluation

    run_dir, result, summary = run_evaluation(
        args.checkpoint,
        data=args.data,
        split=args.split,
        out_root=args.out,
        data_root=args.data_root,
    )
    print(
        f"{summary['dataset']} {args.split} accuracy: {result.accuracy:.4f} on "
        f"{summary['n_images']} images (silent output layer on "
        f"{100 * result.silent_fraction:.1f} %)"
    )
    for name, acc in summary["per_class_accuracy"].items():
        print(f"  class {name}: {acc:.4f}")
    print(f"wrote {run_dir}")
    return 0


def _trace(args: argparse.Namespace) -> int:
    from spikerec.commands.recognizer_runs import run_trace

    run_dir, summary = run_trace(
        args.checkpoint,
        index=args.index,
        data=args.data,
        split=args.split,
        out_root=args.out,
        data_root=args.data_root,
    )
    print(
        f"true class {summary['label']}, predicted {summary['prediction']}, "
        f"output spike counts {summary['spike_counts']}"
    )
    print(f"wrote {run_dir / 'trace.png'}")
    return 0


def _compare(args: argparse.Namespace) -> int:
    from dataclasses import replace

    from spikerec.compare.baselines.augment import parse_augmentations
    from spikerec.compare.config import CompareConfig, parse_entries
    from spikerec.compare.store import CompareStore
    from spikerec.run_folders import new_run_dir
    from spikerec.training.loop import TrainConfig

    if args.jobs < 1:
        raise ParameterError(f"--jobs={args.jobs} must be >= 1")
    _check_threads(args.threads)  # applied in _compare_run (or per job)
    if args.resume is not None:
        return _compare_run(args, *_resumed_compare(args.resume))
    if args.seeds < 1:
        raise ParameterError(f"--seeds={args.seeds} must be >= 1")
    if not 0.0 < args.train_fraction <= 1.0:  # also refuses NaN
        raise ParameterError(f"--train-fraction={args.train_fraction} must be in (0, 1]")
    if not 0.0 < args.augment_ratio < float("inf"):
        raise ParameterError(f"--augment-ratio={args.augment_ratio} must be a finite number > 0")
    defaults = CompareConfig()
    train_config = TrainConfig(
        data=args.data,
        encoder=args.encoder,
        n_steps=args.n_steps,
        epochs=args.epochs,
        patience=args.patience,
        batch_size=args.batch_size,
        lr=args.lr,
        data_root=args.data_root,
    )
    config = CompareConfig(
        data=args.data,
        entries=parse_entries(args.heads),
        seeds=tuple(range(args.seeds)),
        train=train_config,
        data_root=args.data_root,
        sequence=replace(defaults.sequence, epochs=args.rnn_epochs, lr=args.rnn_lr),
        rnn_cell=args.rnn_cell,
        rnn_hidden=args.rnn_hidden,
        augment=parse_augmentations(args.augment),
        augment_ratio=args.augment_ratio,
        train_fraction=args.train_fraction,
        gan=replace(defaults.gan, steps=args.gan_steps),
    )
    # Fail on a bad dataset before creating the run folder.
    dataset = _first_splits(config)
    run_dir = new_run_dir(args.out, "compare")
    store = CompareStore(run_dir)
    store.write_config(config)
    return _compare_run(args, config, dataset, store)


def _first_splits(config):
    from spikerec.data.loading import load_dataset

    return load_dataset(
        config.data,
        seed=config.seeds[0],
        data_root=config.data_root,
        val_fraction=config.train.val_fraction,
        test_fraction=config.train.test_fraction,
    )


def _resumed_compare(run_folder: str):
    """Config, first splits and store of the comparison run in ``run_folder``."""
    from pathlib import Path

    from spikerec.compare.store import CompareStore

    run_dir = Path(run_folder)
    if not run_dir.is_dir():
        raise ParameterError(f"--resume {run_folder!r} is not a folder")
    store = CompareStore(run_dir)
    if store.is_complete():
        raise ParameterError(f"the comparison in {run_folder!r} has finished; nothing to resume")
    config = store.read_config()
    return config, _first_splits(config), store


def _compare_run(args: argparse.Namespace, config, dataset, store) -> int:
    """Run (or finish) a comparison into ``store.run_dir``; print and write its results."""
    import os
    import time

    from spikerec.compare.harness import run_compare
    from spikerec.compare.report import terminal_table, write_compare_outputs

    run_dir = store.run_dir
    resume_hint = f"the entries finished so far are kept: spikerec compare --resume {run_dir}"
    if args.jobs > 1:
        threads_per_job = args.threads or max(1, (os.cpu_count() or 1) // args.jobs)
    else:
        _set_threads(args.threads)
        threads_per_job = 1  # unused: one job runs in this process
    started = time.perf_counter()
    try:
        outcome = run_compare(
            config,
            progress=not args.no_progress,
            first_dataset=dataset,
            jobs=args.jobs,
            threads_per_job=threads_per_job,
            store=store,
        )
    except KeyboardInterrupt:
        _print_error(f"interrupted; {resume_hint}")
        return 130
    except TrainingDiverged as error:
        raise TrainingDiverged(f"{error} ({resume_hint})") from None
    except (ValueError, TypeError, OSError, RuntimeError) as error:
        # RuntimeError: a worker process died (BrokenProcessPool), among others
        raise ParameterError(f"{error} ({resume_hint})") from None
    wall = time.perf_counter() - started
    write_compare_outputs(
        run_dir,
        config,
        outcome,
        class_names=list(dataset.class_names),
        wall_time_s=wall,
    )
    store.mark_complete()  # after every output file: only now is there nothing to resume
    print(terminal_table(outcome.rows))
    for effect in outcome.effects:
        print(
            f"{effect['entry']} {effect['augment']} vs {effect['versus']}: "
            f"{100 * effect['delta_mean']:+.2f} pp "
            f"[{100 * effect['ci95_low']:+.2f}, {100 * effect['ci95_high']:+.2f}]"
        )
    for record in outcome.augmentations:
        if record.quality:
            q = record.quality
            print(
                f"GAN seed {record.seed}: judge labels {100 * q['judge_accuracy_generated']:.1f} % "
                f"of generated images right (real val {100 * q['judge_accuracy_real_val']:.1f} %), "
                f"diversity {q['diversity_ratio']:.2f}"
            )
    print(f"{len(outcome.results)} runs in {wall:.1f} s; results, report and figures in {run_dir}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the ``spikerec`` command."""
    from spikerec import __version__
    from spikerec.commands.simulate import TRACE_INPUTS, TraceConfig
    from spikerec.lif.integrators import INTEGRATORS

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

    from spikerec.commands.recognizer_runs import SPLITS
    from spikerec.lif.surrogates import SURROGATES
    from spikerec.recognition.decoders import DECODERS
    from spikerec.recognition.encoders import ENCODERS
    from spikerec.recognition.recognizer import HEADS
    from spikerec.training.loop import LOSSES, OPTIMIZERS, SCHEDULES, TrainConfig

    cfg = TrainConfig()
    tr = commands.add_parser(
        "train",
        help="train a recogniser; writes a new run folder",
        description="Train a recogniser (CNN front end -> V4 spikes -> head) with "
        "surrogate gradients. Writes config.json, checkpoint.pt, metrics.json and "
        "training_curve.png into a new folder under --out.",
    )
    tr.add_argument(
        "--data", default=cfg.data, help="dataset name or idx:PATH (default %(default)s)"
    )
    tr.add_argument("--data-root", default=None, help="folder of downloaded datasets")
    tr.add_argument("--head", choices=HEADS, default=cfg.head)
    tr.add_argument("--encoder", choices=list(ENCODERS), default=cfg.encoder)
    tr.add_argument("--n-steps", type=int, default=cfg.n_steps, help="time steps T")
    tr.add_argument("--integrator", choices=list(INTEGRATORS), default=cfg.integrator)
    tr.add_argument("--surrogate", choices=list(SURROGATES), default=cfg.surrogate)
    tr.add_argument("--tau-mem-ms", type=float, default=cfg.tau_mem_ms)
    tr.add_argument("--v-th", type=float, default=cfg.v_th)
    tr.add_argument("--reset", choices=RESET_MODES, default=cfg.reset)
    tr.add_argument("--loss", choices=LOSSES, default=cfg.loss)
    tr.add_argument("--decoder", choices=DECODERS, default=cfg.decoder)
    tr.add_argument("--rate-reg", type=float, default=cfg.rate_reg)
    tr.add_argument("--rate-target", type=float, default=cfg.rate_target)
    tr.add_argument("--optimizer", choices=OPTIMIZERS, default=cfg.optimizer)
    tr.add_argument("--lr", type=float, default=cfg.lr)
    tr.add_argument("--momentum", type=float, default=cfg.momentum)
    tr.add_argument("--weight-decay", type=float, default=cfg.weight_decay)
    tr.add_argument("--schedule", choices=SCHEDULES, default=cfg.schedule)
    tr.add_argument("--batch-size", type=int, default=cfg.batch_size)
    tr.add_argument("--epochs", type=int, default=cfg.epochs)
    tr.add_argument("--patience", type=int, default=cfg.patience)
    tr.add_argument("--seed", type=int, default=cfg.seed)
    tr.add_argument("--val-fraction", type=float, default=cfg.val_fraction)
    tr.add_argument("--test-fraction", type=float, default=cfg.test_fraction)
    tr.add_argument(
        "--resume",
        default=None,
        metavar="RUN",
        help="continue the run in this folder (or checkpoint) with its stored "
        "configuration; other training flags are then ignored",
    )
    tr.add_argument("--threads", type=int, default=0, help="torch threads (default: torch's)")
    tr.add_argument("--no-progress", action="store_true", help="hide the progress bars")
    tr.add_argument("--out", default="runs", help="parent folder of the new run folder")
    tr.set_defaults(handler=_train)

    ev = commands.add_parser(
        "evaluate",
        help="score a checkpoint on a dataset",
        description="Print the accuracy of a checkpoint on a dataset (the one it was trained "
        "on, or any other with the same image size and channels) and write "
        "per-class accuracy and a confusion-matrix PNG into a new folder.",
    )
    ev.add_argument("checkpoint", help="checkpoint.pt or the run folder holding it")
    ev.add_argument(
        "--data", default=None, help="dataset name or idx:PATH (default: the training dataset)"
    )
    ev.add_argument("--data-root", default=None)
    ev.add_argument("--split", choices=SPLITS, default="test")
    ev.add_argument("--out", default="runs")
    ev.set_defaults(handler=_evaluate)

    tc = commands.add_parser(
        "trace",
        help="plot the output layer's membranes for one image",
        description="Plot the output LIF neurons' membrane potentials over time with the "
        "threshold, their spikes and the V4 input raster for one image.",
    )
    tc.add_argument("checkpoint", help="checkpoint.pt or the run folder holding it")
    tc.add_argument("--data", default=None)
    tc.add_argument("--data-root", default=None)
    tc.add_argument("--split", choices=SPLITS, default="test")
    tc.add_argument("--index", type=int, default=0, help="image index within the split")
    tc.add_argument("--out", default="runs")
    tc.set_defaults(handler=_trace)

    from spikerec.compare.baselines.augment import AUGMENTATIONS
    from spikerec.compare.baselines.rnn import CELLS
    from spikerec.compare.config import ENTRIES, CompareConfig

    cmp_defaults = CompareConfig()
    cp = commands.add_parser(
        "compare",
        help="score the LIF head against softmax heads and SVMs (the main job)",
        description="Train and score every entry on the same splits for several seeds; "
        "write results.json, results.csv, report.md and figures into a new "
        "folder under --out and print the table.",
    )
    cp.add_argument("--data", default=cmp_defaults.data, help="dataset name or idx:PATH")
    cp.add_argument("--data-root", default=None)
    cp.add_argument(
        "--heads",
        default=",".join(ENTRIES),
        help=f"comma-separated entries (default: all of {', '.join(ENTRIES)})",
    )
    cp.add_argument(
        "--seeds",
        type=int,
        default=len(cmp_defaults.seeds),
        help="number of seeds (default %(default)s)",
    )
    cp.add_argument("--encoder", choices=list(ENCODERS), default=cmp_defaults.train.encoder)
    cp.add_argument("--n-steps", type=int, default=cmp_defaults.train.n_steps)
    cp.add_argument("--epochs", type=int, default=cmp_defaults.train.epochs)
    cp.add_argument("--patience", type=int, default=cmp_defaults.train.patience)
    cp.add_argument("--batch-size", type=int, default=cmp_defaults.train.batch_size)
    cp.add_argument("--lr", type=float, default=cmp_defaults.train.lr)
    rnn = cp.add_argument_group("rnn and cnn-rnn entries")
    rnn.add_argument("--rnn-cell", choices=CELLS, default=cmp_defaults.rnn_cell)
    rnn.add_argument("--rnn-hidden", type=int, default=cmp_defaults.rnn_hidden)
    rnn.add_argument(
        "--rnn-epochs",
        type=int,
        default=cmp_defaults.sequence.epochs,
        help=f"at most this many epochs (early stopping, patience "
        f"{cmp_defaults.sequence.patience}; default %(default)s)",
    )
    rnn.add_argument("--rnn-lr", type=float, default=cmp_defaults.sequence.lr)
    aug = cp.add_argument_group("training data")
    aug.add_argument(
        "--augment",
        default=",".join(cmp_defaults.augment),
        help=f"augmentation(s) of the training split, comma-separated, each a full run of "
        f"every entry: {', '.join(AUGMENTATIONS)} (default %(default)s)",
    )
    aug.add_argument(
        "--augment-ratio",
        type=float,
        default=cmp_defaults.augment_ratio,
        help="images added per real training image (default %(default)s)",
    )
    aug.add_argument(
        "--train-fraction",
        type=float,
        default=cmp_defaults.train_fraction,
        metavar="F",
        help="keep a stratified fraction F in (0, 1] of the training split, per seed, "
        "before augmentation (default %(default)s)",
    )
    aug.add_argument(
        "--gan-steps",
        type=int,
        default=cmp_defaults.gan.steps,
        help="training steps of the conditional DCGAN (default %(default)s)",
    )
    cp.add_argument(
        "--threads",
        type=int,
        default=0,
        help="torch threads (default: torch's; with --jobs N: of each job, default cores / N)",
    )
    cp.add_argument(
        "--jobs",
        type=int,
        default=1,
        help="run independent entries and seeds in N processes at once (default 1)",
    )
    cp.add_argument(
        "--resume",
        metavar="RUN_FOLDER",
        default=None,
        help="finish an interrupted comparison in its folder with its stored settings, "
        "skipping the entries already done (other settings are ignored)",
    )
    cp.add_argument("--no-progress", action="store_true")
    cp.add_argument("--out", default="runs")
    cp.set_defaults(handler=_compare)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``spikerec`` command; return its exit status (2 for user errors)."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if argv is None:  # the process is ours: tune the allocator (see spikerec.commands._memory)
        from spikerec.commands._memory import keep_freed_memory

        keep_freed_memory()
    try:
        return args.handler(args)
    except (ValueError, TypeError, OSError) as error:
        _print_error(str(error))
        return EXIT_USER_ERROR
    except TrainingDiverged as error:
        _print_error(str(error))
        return EXIT_NUMERICAL_FAULT
    except MemoryError as error:
        _print_error(f"out of memory: {error or 'the request is too large for this machine'}")
        return EXIT_USER_ERROR


def _print_error(message: str) -> None:
    """One line on stderr, whatever line breaks ``message`` holds."""
    line = " ".join(message.split()) or "unknown error"
    print(f"spikerec: error: {line}", file=sys.stderr)


if __name__ == "__main__":
    sys.exit(main())

"""The ``spikerec`` command line: argv -> options -> ``run`` -> printed lines and exit status.

The only module of spikerec that parses argv and prints. Each sub-command's work is
the ``run`` function of its own module (:mod:`~spikerec.commands.simulate`,
:mod:`~spikerec.commands.train`, :mod:`~spikerec.commands.evaluate`,
:mod:`~spikerec.commands.trace`, :mod:`~spikerec.commands.compare`); this module
turns flags into that module's options, prints what ``run`` returns, and maps
failures to exit statuses in one place, :func:`main`:

- :class:`~spikerec.errors.SpikerecError` (bad input, unusable file or folder): one
  line, status 2; :class:`~spikerec.errors.TrainingDiverged`: one line, status 3;
- ``OSError`` (disk full, permissions) and running out of memory: one line, status 2;
- Ctrl-C: one line (with the resume command when there is work to resume), status 130;
  SIGTERM the same with status 143;
- any other exception is a bug in spikerec and keeps its traceback.
"""

from __future__ import annotations

import argparse
import sys
import textwrap
import warnings
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from spikerec.errors import SpikerecError, SpikerecWarning, TrainingDiverged
from spikerec.interrupts import EXIT_TERMINATED, exit_status, sigterm_as_interrupt
from spikerec.lif.params import RESET_MODES, LIFParams
from spikerec.resources import user_resources

EXIT_USER_ERROR = 2
#: Training stopped on NaN or infinite loss or weights (the last good checkpoint is kept).
EXIT_NUMERICAL_FAULT = 3
#: Ctrl-C (128 + SIGINT, as shells report it).
EXIT_INTERRUPTED = 130

DESCRIPTION = """\
Simulate leaky integrate-and-fire (LIF) neurons and train LIF output layers for
image recognition: a CNN front end turns each image into 3136 V4 units, whose
spike trains drive one LIF neuron per class.
"""

EPILOG = """\
Every command writes into a new folder <--out>/<command>-<UTC time> and never
overwrites an earlier run. Times are in ms, rates in Hz, voltages in one unit
(V_rest = V_reset = 0, V_th = 1 by default). 'spikerec COMMAND --help' lists a
command's options.

exit status: 0 done; 2 bad input, or a file or folder that cannot be used; 3
training diverged (NaN or infinite loss or weights); 130 interrupted (Ctrl-C);
143 terminated (SIGTERM).
"""


class _HelpFormatter(argparse.HelpFormatter):
    """Paragraphs filled to the terminal width, indented lines (examples) kept as written,
    and every option's help ending with its default."""

    def __init__(self, prog: str) -> None:
        super().__init__(prog, max_help_position=30)

    def _fill_text(self, text: str, width: int, indent: str) -> str:
        paragraphs = []
        for paragraph in text.strip("\n").split("\n\n"):
            lines = paragraph.splitlines()
            if any(line.startswith("  ") for line in lines):
                paragraphs.append("\n".join(indent + line for line in lines))
            else:
                paragraphs.append(
                    textwrap.fill(
                        " ".join(paragraph.split()),
                        width,
                        initial_indent=indent,
                        subsequent_indent=indent,
                    )
                )
        return "\n\n".join(paragraphs)

    def _get_help_string(self, action: argparse.Action) -> str:
        text = action.help or ""
        if (
            not action.option_strings  # positional
            or "%(default)" in text
            or "default:" in text
            or action.default is None
            or action.default is False
            or action.default == argparse.SUPPRESS
        ):
            return text
        return f"{text} (default: %(default)s)"


class _Parser(argparse.ArgumentParser):
    """argparse with one-line errors, exit status 2 and spikerec's help layout."""

    def __init__(self, *args, **kwargs) -> None:
        kwargs.setdefault("formatter_class", _HelpFormatter)
        super().__init__(*args, **kwargs)

    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(EXIT_USER_ERROR, f"{self.prog}: error: {message}\n")


# ---------------------------------------------------------------------------- simulate


def _add_lif_arguments(parser: argparse.ArgumentParser) -> None:
    defaults = LIFParams()
    group = parser.add_argument_group(
        "LIF neuron", "tau_mem dV/dt = -(V - V_rest) + R I(t); a spike when V >= V_th"
    )
    group.add_argument(
        "--tau-mem-ms",
        type=float,
        default=defaults.tau_mem_ms,
        metavar="MS",
        help="membrane time constant tau_mem in ms",
    )
    group.add_argument(
        "--dt-ms",
        type=float,
        default=defaults.dt_ms,
        metavar="MS",
        help="time step of the simulation grid in ms",
    )
    group.add_argument(
        "--v-rest",
        type=float,
        default=defaults.v_rest,
        metavar="V",
        help="resting potential V_rest, in the voltage unit",
    )
    group.add_argument(
        "--v-reset",
        type=float,
        default=defaults.v_reset,
        metavar="V",
        help="reset potential V_reset, below V_th, in the voltage unit",
    )
    group.add_argument(
        "--v-th",
        type=float,
        default=defaults.v_th,
        metavar="V",
        help="spike threshold V_th, in the voltage unit",
    )
    group.add_argument(
        "--r-m",
        type=float,
        default=defaults.r_m,
        metavar="R",
        help="membrane resistance R, in voltage unit per current unit",
    )
    group.add_argument(
        "--t-ref-ms",
        type=float,
        default=defaults.t_ref_ms,
        metavar="MS",
        help="refractory period in ms, a whole number of steps: V is held and input "
        "ignored after a spike",
    )
    group.add_argument(
        "--reset",
        choices=RESET_MODES,
        default=defaults.reset,
        help="what a spike does to V: subtract removes V_th - V_reset, zero sets it to "
        "V_reset, none leaves it",
    )


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
    from spikerec.commands import simulate

    trace = simulate.TraceConfig(
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
    done = simulate.run(
        simulate.SimulateOptions(_lif_params(args), trace, integrator=args.integrator, out=args.out)
    )
    spikes = "1 output spike" if done.n_spikes == 1 else f"{done.n_spikes} output spikes"
    print(f"{spikes} in {done.duration_ms:g} ms ({done.rate_hz:.1f} Hz)")
    for path in done.files:
        print(f"wrote {path}")
    return 0


def _add_simulate(commands: argparse._SubParsersAction) -> None:
    from spikerec.commands.simulate import TRACE_INPUTS, TraceConfig
    from spikerec.lif.integrators import INTEGRATORS

    sim = commands.add_parser(
        "simulate",
        help="membrane trace of one LIF neuron driven by Poisson inputs or a current step",
        description="Simulate one LIF neuron driven by Poisson spike trains of V4-like "
        "inputs (delta synapses: each input spike makes V jump by R w / tau_mem) or by "
        "a current step. Writes membrane_trace.png (V(t) with threshold and spikes), "
        "membrane_trace.csv and config.json into a new run folder.",
        epilog="examples:\n"
        "  spikerec simulate --input poisson --rate-hz 20 --duration-ms 500\n"
        "  spikerec simulate --input step --current 1.5 --t-ref-ms 2 --integrator rk4",
    )
    _add_lif_arguments(sim)
    defaults = TraceConfig()
    sim.add_argument(
        "--integrator",
        choices=list(INTEGRATORS),
        default="exact",
        help="how V is advanced over a step: exact (closed form), euler or rk4",
    )
    group = sim.add_argument_group("input")
    group.add_argument(
        "--input",
        choices=TRACE_INPUTS,
        default=defaults.input,
        help="Poisson spike trains through delta synapses, or a current step",
    )
    group.add_argument(
        "--duration-ms",
        type=float,
        default=defaults.duration_ms,
        metavar="MS",
        help="simulated time in ms",
    )
    group.add_argument(
        "--n-inputs",
        type=int,
        default=defaults.n_inputs,
        metavar="N",
        help="presynaptic V4 neurons of the poisson input",
    )
    group.add_argument(
        "--rate-hz",
        type=float,
        default=defaults.rate_hz,
        metavar="HZ",
        help="firing rate of each poisson input in Hz",
    )
    group.add_argument(
        "--weight-mean",
        type=float,
        default=defaults.weight_mean,
        metavar="W",
        help="mean synaptic weight of the poisson inputs, in current unit x ms",
    )
    group.add_argument(
        "--weight-std",
        type=float,
        default=defaults.weight_std,
        metavar="W",
        help="standard deviation of the normally drawn weights, in current unit x ms",
    )
    group.add_argument(
        "--current",
        type=float,
        default=defaults.current,
        metavar="I",
        help="amplitude of the current step, in the current unit",
    )
    group.add_argument(
        "--step-on-ms",
        type=float,
        default=defaults.step_on_ms,
        metavar="MS",
        help="time in ms when the current step starts",
    )
    group.add_argument(
        "--step-off-ms",
        type=float,
        default=defaults.step_off_ms,
        metavar="MS",
        help="time in ms when the current step ends",
    )
    group.add_argument(
        "--seed",
        type=int,
        default=defaults.seed,
        help="seed of the input spikes and weights, >= 0",
    )
    _add_out(sim)
    sim.set_defaults(handler=_simulate)


# ---------------------------------------------------------------------------- train


def _train_config(args: argparse.Namespace):
    from spikerec.training.config import TrainConfig

    names = [f for f in TrainConfig.__dataclass_fields__ if hasattr(args, f)]
    return TrainConfig(**{name: getattr(args, name) for name in names})


def _train(args: argparse.Namespace) -> int:
    from spikerec.commands import train
    from spikerec.training.config import TrainConfig

    # Resuming uses the run's stored configuration; the other flags are ignored.
    config = TrainConfig() if args.resume else _train_config(args)
    done = train.run(
        train.TrainOptions(
            config,
            resume=args.resume,
            out=args.out,
            threads=args.threads,
            progress=not args.no_progress,
        )
    )
    if done.run_dir is None:  # a rank other than 0 under torchrun: rank 0 reports
        return 0
    state, result = done.result.state, done.result
    print(f"run folder: {done.run_dir}")
    print(
        f"epochs: {state.epoch} (best {state.best_epoch}), training time {state.train_time_s:.1f} s"
    )
    print(f"validation accuracy: {result.val.accuracy:.4f}")
    print(
        f"test accuracy: {result.test.accuracy:.4f} "
        f"(silent output layer on {100 * result.test.silent_fraction:.1f} % of images)"
    )
    return 0


def _data_help(default: str) -> str:
    from spikerec.data.loading import DATASETS

    return (
        f"dataset: {', '.join(DATASETS)} (digits, mnist5k and synthetic are embedded; "
        f"the others are downloaded into --data-root) or idx:PATH, a folder of "
        f"MNIST-format IDX files ({default})"
    )


_DATA_ROOT_HELP = "folder of downloaded datasets (default: $SPIKEREC_DATA, else ~/.cache/spikerec)"


def _add_train(commands: argparse._SubParsersAction) -> None:
    from spikerec.lif.integrators import INTEGRATORS
    from spikerec.lif.surrogates import SURROGATES
    from spikerec.recognition.decoders import DECODERS
    from spikerec.recognition.encoders import ENCODERS
    from spikerec.recognition.frontend import FRONTEND_DEPTHS, FRONTEND_NORMS
    from spikerec.recognition.recognizer import HEADS
    from spikerec.training.config import (
        LOSSES,
        ONLINE_AUGMENTS,
        OPTIMIZERS,
        SCHEDULES,
        TrainConfig,
    )
    from spikerec.training.output_init import OUTPUT_INITS
    from spikerec.training.recipes import recipe_help
    from spikerec.training.weight_average import WEIGHT_AVERAGES

    cfg = TrainConfig()
    tr = commands.add_parser(
        "train",
        help="train a recogniser (CNN front end, V4 spikes, output head)",
        description="Train a recogniser: CNN front end (3136 V4 units) -> V4 spike encoder -> "
        "output head, by back-propagation through time with a surrogate derivative of "
        "the threshold. Writes config.json, checkpoint.pt (after every epoch), "
        "metrics.json and training_curve.png into a new run folder; --resume continues "
        "an interrupted run.",
        epilog="examples:\n"
        "  spikerec train --data digits --head lif\n"
        "  spikerec train --data mnist5k --encoder rate --n-steps 25 --epochs 10\n"
        "  spikerec train --resume runs/train-20250101-120000",
    )
    tr.add_argument(
        "--data", default=cfg.data, metavar="NAME", help=_data_help("default: %(default)s")
    )
    tr.add_argument("--data-root", default=None, metavar="DIR", help=_DATA_ROOT_HELP)
    model = tr.add_argument_group("model")
    model.add_argument(
        "--head",
        choices=HEADS,
        default=cfg.head,
        help="lif: LIF output layer on V4 spikes; rate-softmax: softmax on V4 firing "
        "rates; softmax: the classic CNN on analog V4 features",
    )
    model.add_argument(
        "--encoder",
        choices=list(ENCODERS),
        default=cfg.encoder,
        help="how V4 features become spike trains, for the spiking heads",
    )
    model.add_argument(
        "--n-steps",
        type=int,
        default=cfg.n_steps,
        metavar="T",
        help="time steps T of the spiking part, 1 ms each",
    )
    model.add_argument(
        "--integrator",
        choices=list(INTEGRATORS),
        default=cfg.integrator,
        help="integrator of the output LIF neurons",
    )
    model.add_argument(
        "--surrogate",
        choices=list(SURROGATES),
        default=cfg.surrogate,
        help="surrogate derivative of the spike threshold used for gradients",
    )
    model.add_argument(
        "--tau-mem-ms",
        type=float,
        default=cfg.tau_mem_ms,
        metavar="MS",
        help="membrane time constant of the output neurons in ms",
    )
    model.add_argument(
        "--v-th",
        type=float,
        default=cfg.v_th,
        metavar="V",
        help="threshold of the output neurons, in the voltage unit of V_rest = V_reset = 0",
    )
    model.add_argument(
        "--reset",
        choices=RESET_MODES,
        default=cfg.reset,
        help="reset of the output neurons after a spike",
    )
    model.add_argument(
        "--decoder",
        choices=DECODERS,
        default=cfg.decoder,
        help="how the output layer's spikes and membranes become a class",
    )
    fit = tr.add_argument_group("training")
    fit.add_argument(
        "--loss",
        choices=LOSSES,
        default=cfg.loss,
        help="cross-entropy on output spike counts, or on peak output membranes",
    )
    fit.add_argument(
        "--rate-reg",
        type=float,
        default=cfg.rate_reg,
        metavar="W",
        help="weight of the firing-rate penalty (mean output spikes per step - "
        "--rate-target)^2 in the loss",
    )
    fit.add_argument(
        "--rate-target",
        type=float,
        default=cfg.rate_target,
        metavar="R",
        help="target output spikes per neuron per step of the rate penalty",
    )
    fit.add_argument("--optimizer", choices=OPTIMIZERS, default=cfg.optimizer, help="optimiser")
    fit.add_argument("--lr", type=float, default=cfg.lr, metavar="LR", help="initial learning rate")
    fit.add_argument(
        "--momentum",
        type=float,
        default=cfg.momentum,
        metavar="M",
        help="momentum of sgd",
    )
    fit.add_argument(
        "--weight-decay",
        type=float,
        default=cfg.weight_decay,
        metavar="W",
        help="L2 weight decay",
    )
    fit.add_argument(
        "--schedule",
        choices=SCHEDULES,
        default=cfg.schedule,
        help="learning-rate schedule over the epochs",
    )
    fit.add_argument(
        "--label-smoothing",
        type=float,
        default=cfg.label_smoothing,
        metavar="EPS",
        help="label smoothing of the cross-entropy, in [0, 1)",
    )
    fit.add_argument(
        "--online-augment",
        choices=ONLINE_AUGMENTS,
        default=cfg.online_augment,
        help="affine: shift and rotate every training batch afresh (validation and "
        "test images untouched); distort: also scale and bend them; none: train on the "
        f"images as they are (default: {recipe_help('online_augment')})",
    )
    fit.add_argument(
        "--frontend-norm",
        choices=FRONTEND_NORMS,
        default=cfg.frontend_norm,
        help="normalisation layers in the CNN front end",
    )
    fit.add_argument(
        "--frontend-depth",
        type=int,
        choices=FRONTEND_DEPTHS,
        default=cfg.frontend_depth,
        help="convolutions per block of the CNN front end "
        f"(default: {recipe_help('frontend_depth')})",
    )
    fit.add_argument(
        "--output-init",
        choices=OUTPUT_INITS,
        default=cfg.output_init,
        help="fire: scale a fresh LIF head so its neurons reach threshold on the first batch",
    )
    fit.add_argument(
        "--learn-tau",
        action="store_true",
        default=cfg.learn_tau,
        help="train a membrane time constant per LIF output neuron",
    )
    fit.add_argument(
        "--learn-threshold",
        action="store_true",
        default=cfg.learn_threshold,
        help="train a threshold per LIF output neuron",
    )
    fit.add_argument(
        "--weight-average",
        choices=WEIGHT_AVERAGES,
        default=cfg.weight_average,
        help="ema: validate and keep a moving average of the weights (half-life one epoch)",
    )
    fit.add_argument(
        "--batch-size", type=int, default=cfg.batch_size, metavar="N", help="images per step"
    )
    fit.add_argument(
        "--epochs",
        type=int,
        default=cfg.epochs,
        metavar="N",
        help=f"at most this many epochs (default: {recipe_help('epochs')})",
    )
    fit.add_argument(
        "--patience",
        type=int,
        default=cfg.patience,
        metavar="N",
        help="stop after N epochs without a better validation accuracy, 0: never "
        f"(default: {recipe_help('patience')})",
    )
    fit.add_argument(
        "--seed",
        type=int,
        default=cfg.seed,
        help="seed of the splits, initialisation, shuffling and stochastic encoders, in [0, 2**32)",
    )
    fit.add_argument(
        "--val-fraction",
        type=float,
        default=cfg.val_fraction,
        metavar="F",
        help="fraction of the images held out for validation and early stopping",
    )
    fit.add_argument(
        "--test-fraction",
        type=float,
        default=cfg.test_fraction,
        metavar="F",
        help="fraction held out for testing, for datasets without an official test split",
    )
    tr.add_argument(
        "--resume",
        default=None,
        metavar="RUN",
        help="continue the run in this folder (or its checkpoint.pt) with its stored "
        "settings; the other training flags are then ignored",
    )
    _add_threads(tr, "torch CPU threads; 0: torch's choice")
    _add_progress(tr)
    _add_out(tr)
    tr.set_defaults(handler=_train)


# ---------------------------------------------------------------------------- evaluate


def _evaluate(args: argparse.Namespace) -> int:
    from spikerec.commands import evaluate

    done = evaluate.run(evaluate.EvaluateOptions(**_checkpoint_options(args)))
    summary, result = done.summary, done.result
    print(
        f"{summary['dataset']} {args.split} accuracy: {result.accuracy:.4f} on "
        f"{summary['n_images']} images (silent output layer on "
        f"{100 * result.silent_fraction:.1f} %)"
    )
    for name, acc in summary["per_class_accuracy"].items():
        print(f"  class {name}: {acc:.4f}")
    print(f"wrote {done.run_dir}")
    return 0


def _checkpoint_options(args: argparse.Namespace) -> dict[str, Any]:
    """The options evaluate and trace share, from the flags of
    :func:`_add_checkpoint_arguments` and ``--out``."""
    names = ("checkpoint", "data", "split", "data_root", "out")
    return {name: getattr(args, name) for name in names}


def _add_checkpoint_arguments(parser: argparse.ArgumentParser) -> None:
    from spikerec.training.trained_model import SPLITS

    parser.add_argument("checkpoint", help="checkpoint.pt of a training run, or its run folder")
    parser.add_argument(
        "--data",
        default=None,
        metavar="NAME",
        help=_data_help(
            "default: the training dataset; any dataset with the same image size and channels fits"
        ),
    )
    parser.add_argument(
        "--data-root",
        default=None,
        metavar="DIR",
        help="folder of downloaded datasets (default: the training run's)",
    )
    parser.add_argument(
        "--split",
        choices=SPLITS,
        default="test",
        help="which split of the dataset, split with the training run's seed and fractions",
    )


def _add_evaluate(commands: argparse._SubParsersAction) -> None:
    ev = commands.add_parser(
        "evaluate",
        help="score a trained model (checkpoint) on a dataset",
        description="Print the accuracy of a trained model on a dataset: the one it was "
        "trained on, or any other with the same image size and channels. Writes "
        "metrics.json, per_class_accuracy.csv and confusion_matrix.png into a new run "
        "folder.",
        epilog="examples:\n"
        "  spikerec evaluate runs/train-20250101-120000\n"
        "  spikerec evaluate runs/train-20250101-120000/checkpoint.pt --data idx:data/emnist",
    )
    _add_checkpoint_arguments(ev)
    _add_out(ev)
    ev.set_defaults(handler=_evaluate)


# ---------------------------------------------------------------------------- trace


def _trace(args: argparse.Namespace) -> int:
    from spikerec.commands import trace

    done = trace.run(trace.OutputTraceOptions(index=args.index, **_checkpoint_options(args)))
    print(
        f"true class {done.label}, predicted {done.prediction}, "
        f"output spike counts {done.spike_counts}"
    )
    print(f"wrote {done.run_dir / 'trace.png'}")
    return 0


def _add_trace(commands: argparse._SubParsersAction) -> None:
    tc = commands.add_parser(
        "trace",
        help="plot a trained LIF head's output membranes for one image",
        description="Plot the output LIF neurons' membrane potentials over time, with the "
        "threshold and their spikes, and the V4 input raster, for one image. Writes "
        "trace.png, trace.csv and trace.json into a new run folder.",
        epilog="example:\n  spikerec trace runs/train-20250101-120000 --index 3",
    )
    _add_checkpoint_arguments(tc)
    tc.add_argument(
        "--index", type=int, default=0, metavar="I", help="index of the image within the split"
    )
    _add_out(tc)
    tc.set_defaults(handler=_trace)


# ---------------------------------------------------------------------------- compare


def _compare_config(args: argparse.Namespace):
    from dataclasses import replace

    from spikerec.compare.config import CompareConfig
    from spikerec.compare.preflight import check_seed_count
    from spikerec.training.config import TrainConfig

    check_seed_count(args.seeds)
    defaults = CompareConfig()
    return CompareConfig(
        data=args.data,
        entries=args.heads,
        seeds=tuple(range(args.seeds)),
        train=TrainConfig(
            data=args.data,
            encoder=args.encoder,
            n_steps=args.n_steps,
            epochs=args.epochs,
            patience=args.patience,
            batch_size=args.batch_size,
            lr=args.lr,
            data_root=args.data_root,
            frontend_depth=args.frontend_depth,
            online_augment=args.online_augment,
        ),
        data_root=args.data_root,
        sequence=replace(defaults.sequence, epochs=args.rnn_epochs, lr=args.rnn_lr),
        rnn_cell=args.rnn_cell,
        rnn_hidden=args.rnn_hidden,
        augment=args.augment,
        augment_ratio=args.augment_ratio,
        train_fraction=args.train_fraction,
        gan=replace(defaults.gan, steps=args.gan_steps),
    )


def _compare(args: argparse.Namespace) -> int:
    from spikerec.commands import compare
    from spikerec.compare.report import terminal_table

    settings = dict(
        resume=args.resume,
        out=args.out,
        jobs=args.jobs,
        threads=args.threads,
        progress=not args.no_progress,
    )
    if args.resume is None:
        options = compare.CompareOptions(_compare_config(args), **settings)
    else:  # the stored settings; the other flags are ignored
        options = compare.CompareOptions(**settings)
    done = compare.run(options)
    outcome = done.outcome
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
    print(
        f"{len(outcome.results)} runs in {done.wall_time_s:.1f} s; results, report and "
        f"figures in {done.run_dir}"
    )
    return 0


def _add_compare(commands: argparse._SubParsersAction) -> None:
    from spikerec.compare.baselines.augment import AUGMENTATIONS
    from spikerec.compare.baselines.rnn import CELLS
    from spikerec.compare.config import ENTRIES, CompareConfig
    from spikerec.recognition.encoders import ENCODERS
    from spikerec.recognition.frontend import FRONTEND_DEPTHS
    from spikerec.training.config import ONLINE_AUGMENTS
    from spikerec.training.recipes import recipe_help

    defaults = CompareConfig()
    cp = commands.add_parser(
        "compare",
        help="score the LIF head against softmax heads, RNNs and SVMs over seeds",
        description="Train and score every entry on the same splits for several seeds; "
        "print the table of mean accuracies with 95 % confidence intervals and McNemar "
        "tests against lif, and write results.json, results.csv, report.md and figures "
        "into a new run folder. Finished entries are kept as they complete: "
        "--resume finishes an interrupted comparison.",
        epilog="examples:\n"
        "  spikerec compare --data digits --seeds 3\n"
        "  spikerec compare --data mnist5k --heads lif,softmax,svm-rbf --jobs 4\n"
        "  spikerec compare --resume runs/compare-20250101-120000",
    )
    cp.add_argument(
        "--data", default=defaults.data, metavar="NAME", help=_data_help("default: %(default)s")
    )
    cp.add_argument("--data-root", default=None, metavar="DIR", help=_DATA_ROOT_HELP)
    cp.add_argument(
        "--heads",
        default=",".join(ENTRIES),
        metavar="ENTRIES",
        help=f"comma-separated entries, from: {', '.join(ENTRIES)} (default: all)",
    )
    cp.add_argument(
        "--seeds",
        type=int,
        default=len(defaults.seeds),
        metavar="N",
        help="number of seeds (0 .. N-1), each a complete run of every entry",
    )
    neural = cp.add_argument_group("lif, rate-softmax and softmax entries")
    neural.add_argument(
        "--encoder",
        choices=list(ENCODERS),
        default=defaults.train.encoder,
        help="how V4 features become spike trains",
    )
    neural.add_argument(
        "--n-steps",
        type=int,
        default=defaults.train.n_steps,
        metavar="T",
        help="time steps T of the spiking part, 1 ms each",
    )
    neural.add_argument(
        "--epochs",
        type=int,
        default=None,  # the data's recipe
        metavar="N",
        help=f"at most this many training epochs (default: {recipe_help('epochs')})",
    )
    neural.add_argument(
        "--patience",
        type=int,
        default=None,  # the data's recipe
        metavar="N",
        help="stop after N epochs without a better validation accuracy, 0: never "
        f"(default: {recipe_help('patience')})",
    )
    neural.add_argument(
        "--batch-size",
        type=int,
        default=defaults.train.batch_size,
        metavar="N",
        help="images per training step",
    )
    neural.add_argument(
        "--lr", type=float, default=defaults.train.lr, metavar="LR", help="Adam's learning rate"
    )
    neural.add_argument(
        "--frontend-depth",
        type=int,
        choices=FRONTEND_DEPTHS,
        default=None,  # the data's recipe
        help="convolutions per block of the CNN front end "
        f"(default: {recipe_help('frontend_depth')})",
    )
    neural.add_argument(
        "--online-augment",
        choices=ONLINE_AUGMENTS,
        default=None,  # the data's recipe
        help="augmentation of every training batch: affine (shift, rotate), distort (also "
        f"zoom, bend) or none (default: {recipe_help('online_augment')})",
    )
    rnn = cp.add_argument_group("rnn and cnn-rnn entries")
    rnn.add_argument("--rnn-cell", choices=CELLS, default=defaults.rnn_cell, help="recurrent cell")
    rnn.add_argument(
        "--rnn-hidden",
        type=int,
        default=defaults.rnn_hidden,
        metavar="N",
        help="hidden units of the recurrent layer",
    )
    rnn.add_argument(
        "--rnn-epochs",
        type=int,
        default=defaults.sequence.epochs,
        metavar="N",
        help=f"at most this many epochs; stop after {defaults.sequence.patience} without a "
        "better validation accuracy",
    )
    rnn.add_argument(
        "--rnn-lr",
        type=float,
        default=defaults.sequence.lr,
        metavar="LR",
        help="Adam's learning rate",
    )
    aug = cp.add_argument_group("training data")
    aug.add_argument(
        "--augment",
        default=",".join(defaults.augment),
        metavar="METHODS",
        help=f"augmentations of the training split, comma-separated, each a full run of "
        f"every entry, from: {', '.join(AUGMENTATIONS)}",
    )
    aug.add_argument(
        "--augment-ratio",
        type=float,
        default=defaults.augment_ratio,
        metavar="R",
        help="images added per real training image",
    )
    aug.add_argument(
        "--train-fraction",
        type=float,
        default=defaults.train_fraction,
        metavar="F",
        help="keep a stratified fraction F in (0, 1] of the training split, per seed, "
        "before augmentation",
    )
    aug.add_argument(
        "--gan-steps",
        type=int,
        default=defaults.gan.steps,
        metavar="N",
        help="training steps of the conditional DCGAN of gan augmentation",
    )
    run = cp.add_argument_group("running")
    _add_threads(
        run,
        "torch CPU threads, 0: torch's choice; with --jobs N, threads of each job, 0: cores / N",
    )
    run.add_argument(
        "--jobs",
        type=int,
        default=1,
        metavar="N",
        help="run independent entries and seeds in N processes at once",
    )
    run.add_argument(
        "--resume",
        metavar="RUN",
        default=None,
        help="finish the interrupted comparison in this run folder with its stored "
        "settings, skipping the entries already done (the other settings are ignored)",
    )
    _add_progress(run)
    _add_out(run)
    cp.set_defaults(handler=_compare)


# ---------------------------------------------------------------------------- shared


def _add_out(parser: argparse.ArgumentParser | argparse._ArgumentGroup) -> None:
    parser.add_argument(
        "--out", default="runs", metavar="DIR", help="parent folder of the new run folder"
    )


def _add_threads(parser: argparse.ArgumentParser | argparse._ArgumentGroup, text: str) -> None:
    parser.add_argument("--threads", type=int, default=0, metavar="N", help=text)


def _add_progress(parser: argparse.ArgumentParser | argparse._ArgumentGroup) -> None:
    parser.add_argument(
        "--no-progress", action="store_true", help="hide the progress bars (default: shown)"
    )


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the ``spikerec`` command."""
    from spikerec import __version__

    parser = _Parser(prog="spikerec", description=DESCRIPTION, epilog=EPILOG)
    parser.add_argument("--version", action="version", version=f"spikerec {__version__}")
    commands = parser.add_subparsers(
        title="commands", dest="command", metavar="COMMAND", required=True, parser_class=_Parser
    )
    _add_simulate(commands)
    _add_train(commands)
    _add_evaluate(commands)
    _add_trace(commands)
    _add_compare(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``spikerec`` command; return its exit status.

    0 on success; 2 for a :class:`~spikerec.errors.SpikerecError`, an ``OSError``,
    running out of memory or a float overflow; 3 when training diverged; 130 on
    Ctrl-C, 143 on SIGTERM. Each failure is one line on stderr; any other exception
    is a bug and propagates with its traceback.
    """
    try:
        args = build_parser().parse_args(argv)
        if argv is None:  # the process is ours: tune the allocator (spikerec.commands._memory)
            from spikerec.commands._memory import keep_freed_memory

            keep_freed_memory()
        with sigterm_as_interrupt(), _warnings_as_lines(), user_resources():
            return args.handler(args)
    except TrainingDiverged as error:
        _print_error(str(error))
        return EXIT_NUMERICAL_FAULT
    except SpikerecError as error:
        _print_error(str(error))
        return EXIT_USER_ERROR
    except OSError as error:  # disk full, permissions, a file that vanished
        _print_error(str(error))
        return EXIT_USER_ERROR
    except MemoryError as error:
        _print_error(f"out of memory: {error or 'the request is too large for this machine'}")
        return EXIT_USER_ERROR
    except KeyboardInterrupt as error:  # Ctrl-C, or SIGTERM (Terminated: exit 143)
        what = "terminated" if exit_status(error) == EXIT_TERMINATED else "interrupted"
        message = str(error)
        if message and message != "terminated (SIGTERM)":
            what = f"{what}; {message}"
        _print_error(what)
        return exit_status(error)
    except RuntimeError as error:
        if not _is_out_of_memory(error):
            raise
        _print_error(f"out of memory: {error}")
        return EXIT_USER_ERROR


@contextmanager
def _warnings_as_lines() -> Iterator[None]:
    """spikerec's own warnings as one line each on stderr (``spikerec: warning: ...``);
    other libraries' warnings keep Python's format."""
    previous = warnings.showwarning

    def show(message, category, filename, lineno, file=None, line=None) -> None:  # type: ignore[no-untyped-def]
        if issubclass(category, SpikerecWarning):
            print(f"spikerec: warning: {' '.join(str(message).split())}", file=sys.stderr)
        else:
            previous(message, category, filename, lineno, file, line)

    warnings.showwarning = show
    try:
        yield
    finally:
        warnings.showwarning = previous


def _is_out_of_memory(error: RuntimeError) -> bool:
    """torch's allocation failures: ``torch.OutOfMemoryError`` (GPU) and the CPU
    allocator's plain ``RuntimeError``."""
    torch = sys.modules.get("torch")
    oom = getattr(torch, "OutOfMemoryError", None) if torch is not None else None
    if oom is not None and isinstance(error, oom):
        return True
    return "DefaultCPUAllocator" in str(error) and "allocate" in str(error)


def _print_error(message: str) -> None:
    """One line on stderr, whatever line breaks ``message`` holds."""
    line = " ".join(message.split()) or "unknown error"
    print(f"spikerec: error: {line}", file=sys.stderr)


if __name__ == "__main__":
    sys.exit(main())

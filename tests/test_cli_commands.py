"""The command line as a user meets it: help that explains every option, and one error
policy for every command.

- every option of every sub-command has help text showing its default, its unit when
  it carries one, and its choices; the user guide pages insert that same help;
- a :class:`~spikerec.errors.SpikerecError`, an ``OSError`` or running out of memory is
  one line and exit status 2; Ctrl-C is one line and 130, naming the resume command
  when there is work to resume; any other exception is a bug and keeps its traceback.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

import spikerec.commands.compare as compare_command
import spikerec.commands.evaluate as evaluate_command
import spikerec.commands.simulate as simulate_command
import spikerec.commands.train as train_command
from spikerec.commands.cli import EXIT_INTERRUPTED, EXIT_USER_ERROR, build_parser, main
from spikerec.errors import DatasetError

ROOT = Path(__file__).resolve().parents[1]
OLD_RUN = Path(__file__).resolve().parent / "data" / "run-before-restructure"
SIMULATE = ["simulate", "--input", "step", "--duration-ms", "20"]
TRAIN = ["train", "--data", "synthetic", "--epochs", "2", "--n-steps", "2", "--no-progress"]


def subcommands() -> dict[str, argparse.ArgumentParser]:
    parser = build_parser()
    (action,) = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    return dict(action.choices)


def options(parser: argparse.ArgumentParser) -> list[argparse.Action]:
    return [
        a
        for a in parser._actions
        if a.option_strings and not isinstance(a, (argparse._HelpAction, argparse._VersionAction))
    ]


def help_of(parser: argparse.ArgumentParser, action: argparse.Action) -> str:
    """The rendered help of one option, without line breaks."""
    formatter = parser._get_formatter()
    return " ".join(formatter._expand_help(action).split()) if action.help else ""


def one_line_error(capsys) -> str:
    err = capsys.readouterr().err
    assert err.startswith("spikerec: error: "), err
    assert err.count("\n") == 1 and "Traceback" not in err, err
    return err


# ------------------------------------------------------------------------------- help

ALL_OPTIONS = [
    pytest.param(name, action.dest, id=f"{name}-{action.option_strings[0]}")
    for name, parser in subcommands().items()
    for action in options(parser)
]


def test_there_are_five_commands_with_options():
    assert list(subcommands()) == ["simulate", "train", "evaluate", "trace", "compare"]
    assert len(ALL_OPTIONS) > 60


@pytest.mark.parametrize(("command", "dest"), ALL_OPTIONS)
def test_every_option_explains_itself(command, dest):
    parser = subcommands()[command]
    (action,) = [a for a in options(parser) if a.dest == dest]
    text = help_of(parser, action)
    assert len(text) > 10, f"{action.option_strings[0]} has no help"
    if action.default not in (None, False):
        assert "default: " in text, text
        if "default" not in action.help:  # else its text says the default in words
            assert f"(default: {action.default})" in text, text
    elif action.default is None:
        assert "default" in text or "ignored" in text or "RUN" in str(action.metavar), text
    if dest.endswith("_ms"):
        assert " ms" in text, text
    if dest.endswith("_hz"):
        assert " Hz" in text, text
    if action.choices:
        rendered = parser.format_help()
        assert "{" + ",".join(map(str, action.choices)) + "}" in rendered


def test_top_level_help_is_a_users_reference():
    text = build_parser().format_help()
    first = text.split("\n\n")[1]
    assert first.startswith("Simulate leaky integrate-and-fire (LIF) neurons")
    assert "argv" not in text
    for command in subcommands():
        assert f"    {command} " in text
    assert "130 interrupted" in " ".join(text.split())


@pytest.mark.parametrize("command", list(subcommands()))
def test_each_guide_page_inserts_the_generated_help(command):
    """docs/hooks/cli_help.py replaces the marker with ``spikerec COMMAND --help`` at build
    time, so the page shows exactly what the parser prints."""
    page = (ROOT / "docs" / "guide" / f"{command}.md").read_text(encoding="utf-8")
    assert f"<!-- spikerec-help: {command} -->" in page
    spec = importlib.util.spec_from_file_location("cli_help", ROOT / "docs/hooks/cli_help.py")
    hook = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(hook)
    inserted = hook.on_page_markdown(f"<!-- spikerec-help: {command} -->", None, None, None)
    os.environ["COLUMNS"], previous = "88", os.environ.get("COLUMNS")
    try:
        expected = subcommands()[command].format_help().rstrip()
    finally:
        if previous is None:
            del os.environ["COLUMNS"]
        else:
            os.environ["COLUMNS"] = previous
    assert expected in inserted
    assert "(default: " in inserted


# ------------------------------------------------------------------------- bugs


@pytest.mark.parametrize("error", [TypeError, ValueError, RuntimeError, KeyError])
def test_a_bug_is_not_reported_as_a_user_error(error, tmp_path, monkeypatch, capsys):
    def bug(*args, **kwargs):
        raise error("a bug inside spikerec")

    monkeypatch.setattr(simulate_command, "run_membrane_trace", bug)
    with pytest.raises(error, match="a bug inside spikerec"):
        main([*SIMULATE, "--out", str(tmp_path)])
    assert capsys.readouterr().err == ""


def test_a_bug_shows_its_traceback_in_a_real_interpreter(tmp_path):
    code = (
        "import sys\n"
        "import spikerec.commands.simulate as simulate\n"
        "def bug(*args, **kwargs):\n"
        "    raise TypeError('a bug inside spikerec')\n"
        "simulate.run_membrane_trace = bug\n"
        "from spikerec.commands.cli import main\n"
        f"sys.exit(main({[*SIMULATE, '--out', str(tmp_path)]!r}))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 1
    assert result.returncode != EXIT_USER_ERROR
    assert "Traceback (most recent call last)" in result.stderr
    assert "TypeError: a bug inside spikerec" in result.stderr
    assert "spikerec: error" not in result.stderr


# ------------------------------------------------------------------ the environment


@pytest.mark.parametrize(
    ("failure", "expected"),
    [
        (OSError(28, "No space left on device"), "No space left on device"),
        (PermissionError(13, "Permission denied"), "Permission denied"),
        (MemoryError(), "more memory than this machine can give"),
        (
            RuntimeError(
                "[enforce fail at alloc_cpu.cpp:127] err == 0. DefaultCPUAllocator: can't "
                "allocate memory: you tried to allocate 40000000000000 bytes."
            ),
            "asked for 36.4 TiB of memory at once; lower",
        ),
        (DatasetError("dataset 'x': folder y does not exist"), "dataset 'x'"),
    ],
    ids=["disk-full", "permission", "memory", "torch-cpu-allocator", "spikerec-error"],
)
def test_environment_failures_are_one_line_and_status_2(
    failure, expected, tmp_path, monkeypatch, capsys
):
    def fail(*args, **kwargs):
        raise failure

    monkeypatch.setattr(simulate_command, "write_membrane_trace", fail)
    assert main([*SIMULATE, "--out", str(tmp_path)]) == EXIT_USER_ERROR
    assert re.search(expected, one_line_error(capsys))


# ------------------------------------------------------------------------- Ctrl-C


def test_ctrl_c_in_train_after_an_epoch_names_the_resume_command(tmp_path, monkeypatch, capsys):
    real_train = train_command.train

    def interrupted_after_first_epoch(config, data, *, checkpoint=None, **kwargs):
        def save_then_stop(payload):
            checkpoint(payload)
            raise KeyboardInterrupt

        return real_train(config, data, checkpoint=save_then_stop, **kwargs)

    monkeypatch.setattr(train_command, "train", interrupted_after_first_epoch)
    assert main([*TRAIN, "--out", str(tmp_path)]) == EXIT_INTERRUPTED
    err = one_line_error(capsys)
    (run,) = list(tmp_path.iterdir())
    assert "interrupted" in err and "checkpoint of epoch 1 is kept" in err
    assert err.rstrip().endswith(f"spikerec train --resume {run}")
    assert not (run / "metrics.json").exists()

    monkeypatch.setattr(train_command, "train", real_train)
    assert main(["train", "--resume", str(run), "--no-progress"]) == 0  # the printed command
    assert json.loads((run / "metrics.json").read_text())["epochs_run"] == 2
    capsys.readouterr()


def test_ctrl_c_in_train_before_an_epoch_has_nothing_to_resume(tmp_path, monkeypatch, capsys):
    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(train_command, "train", interrupted)
    assert main([*TRAIN, "--out", str(tmp_path)]) == EXIT_INTERRUPTED
    err = one_line_error(capsys)
    assert "no epoch finished" in err and "--resume" not in err


def test_ctrl_c_in_evaluate(tmp_path, monkeypatch, capsys):
    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(evaluate_command, "score_split", interrupted)
    assert main(["evaluate", str(OLD_RUN), "--out", str(tmp_path)]) == EXIT_INTERRUPTED
    assert one_line_error(capsys) == "spikerec: error: interrupted\n"


COMPARE = ["compare", "--data", "synthetic", "--heads", "svm-linear", "--seeds", "1"]


def test_ctrl_c_in_compare_names_the_resume_command(tmp_path, monkeypatch, capsys):
    def interrupted_after_one_entry(*args, store, **kwargs):
        (store.run_dir / "finished").mkdir(exist_ok=True)
        (store.run_dir / "finished" / "none-seed0-svm-linear.json").write_text("{}")
        raise KeyboardInterrupt

    monkeypatch.setattr(compare_command, "run_compare", interrupted_after_one_entry)
    assert main([*COMPARE, "--no-progress", "--out", str(tmp_path)]) == EXIT_INTERRUPTED
    (run,) = list(tmp_path.iterdir())
    assert one_line_error(capsys).rstrip().endswith(f"spikerec compare --resume {run}")


def test_ctrl_c_in_compare_before_any_entry_leaves_no_folder(tmp_path, monkeypatch, capsys):
    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(compare_command, "run_compare", interrupted)
    assert main([*COMPARE, "--no-progress", "--out", str(tmp_path)]) == EXIT_INTERRUPTED
    line = one_line_error(capsys)
    assert "no run folder is kept" in line and "--resume" not in line
    assert list(tmp_path.iterdir()) == []


def test_compare_failures_keep_their_kind_and_name_the_resume_command(
    tmp_path, monkeypatch, capsys
):
    def bad_data(*args, **kwargs):
        raise DatasetError("dataset 'synthetic': something is wrong")

    monkeypatch.setattr(compare_command, "run_compare", bad_data)
    assert main([*COMPARE, "--no-progress", "--out", str(tmp_path / "a")]) == EXIT_USER_ERROR
    err = one_line_error(capsys)
    assert "something is wrong" in err and "no run folder is kept" in err
    assert "--resume" not in err and list((tmp_path / "a").iterdir()) == []

    def bug(*args, **kwargs):
        raise RuntimeError("a bug inside spikerec")

    monkeypatch.setattr(compare_command, "run_compare", bug)
    with pytest.raises(RuntimeError, match="a bug inside spikerec"):
        main([*COMPARE, "--no-progress", "--out", str(tmp_path / "b")])


# ------------------------------------------------------------------ the script


def test_compare_heads_script_runs_the_compare_command(tmp_path, capsys):
    spec = importlib.util.spec_from_file_location(
        "compare_heads", ROOT / "simulations" / "compare_heads.py"
    )
    script = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(script)
    argv = ["--data", "synthetic", "--heads", "svm-linear", "--seeds", "2", "--out", str(tmp_path)]
    assert script.main(argv) == 0
    (run,) = list(tmp_path.iterdir())
    assert (run / "finished" / "complete").exists()  # marked complete: nothing to resume
    results = json.loads((run / "results.json").read_text())
    assert [(r["entry"], r["seed"]) for r in results["runs"]] == [
        ("svm-linear", 0),
        ("svm-linear", 1),
    ]
    assert "svm-linear" in capsys.readouterr().out

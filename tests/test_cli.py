"""The ``lookloss`` command line (lookloss.cli): its commands, the exit status of bad input, its options."""

from __future__ import annotations

import datetime as dt
import subprocess
import sys
from pathlib import Path

import pytest

from lookloss import cli

ROOT = Path(__file__).resolve().parents[1]
COMMANDS = {"loss-test", "scan", "export", "fasta", "scales", "publish", "grow", "reading"}


def test_every_command_is_there_and_each_runs_a_function():
    commands = next(a for a in cli.parser()._actions if a.dest == "command")
    assert set(commands.choices) == COMMANDS
    for name, sub in commands.choices.items():
        assert callable(sub.get_default("run")), name


def test_bad_input_is_one_line_on_stderr_and_exit_status_2(tmp_path, capsys):
    """A UsageError of any command: ``lookloss <command>: error: ...``, status 2, no traceback."""
    status = cli.main(["grow", "--into", str(tmp_path / "p"), "--jobs", "0"])
    err = capsys.readouterr().err
    assert status == cli.USAGE_ERROR == 2
    assert err.startswith("lookloss grow: error: --jobs must be at least 1") and len(err.splitlines()) == 1
    with pytest.raises(SystemExit) as stop:  # argparse's own refusals exit 2 as well
        cli.main(["loss-test", "--no-such-option"])
    assert stop.value.code == 2


def test_the_tracing_switch_keeps_its_old_name_hidden():
    """``--no-trace`` (the oneDNN trace of the model) also answers to its former name ``--no-fuse``,
    which the help no longer lists."""
    base = ["loss-test", "--model", "m.pt", "--motifs", "m.meme", "--pair", "A", "B", "--out", "o"]
    assert cli.parser().parse_args([*base, "--no-trace"]).no_trace is True
    assert cli.parser().parse_args([*base, "--no-fuse"]).no_trace is True
    assert cli.parser().parse_args(base).no_trace is False
    commands = next(a for a in cli.parser()._actions if a.dest == "command")
    assert "--no-fuse" not in commands.choices["loss-test"].format_help()
    assert "--no-trace" in commands.choices["scan"].format_help()


def test_until_is_the_next_such_time_of_day():
    noon = dt.datetime(2026, 12, 7, 12, 0).timestamp()
    assert dt.datetime.fromtimestamp(cli._next_time_of_day("16:45", noon)) == dt.datetime(2026, 12, 7, 16, 45)
    assert dt.datetime.fromtimestamp(cli._next_time_of_day("09:30", noon)) == dt.datetime(2026, 12, 8, 9, 30)
    for bad in ("25:00", "noon", "9"):
        with pytest.raises(cli.UsageError, match=r"--until must be a time of day HH:MM"):
            cli._next_time_of_day(bad, noon)


def test_the_help_imports_no_torch():
    """``lookloss --help`` answers without importing torch (heavy modules load when a command runs)."""
    code = "import sys; from lookloss import cli; cli.parser().format_help(); print('torch' in sys.modules)"
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "False"

"""The ``gantry`` entry point: help, version, usage errors as one line with exit 2."""

from __future__ import annotations

import subprocess
import sys

import pytest

from pipeline_lib import __version__
from pipeline_lib.cli import COMMAND_MODULES, main


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "pipeline_lib.cli", *args],
                          capture_output=True, text=True, timeout=60)


def test_help_lists_every_registered_command() -> None:
    proc = run("--help")
    assert proc.returncode == 0
    for name in ("catalog", "test", "demo"):
        assert f"    {name} " in proc.stdout
    assert len(COMMAND_MODULES) >= 3


def test_version() -> None:
    proc = run("--version")
    assert proc.returncode == 0
    assert proc.stdout.strip() == f"gantry {__version__}"


def test_unknown_subcommand_is_one_line_exit_2() -> None:
    proc = run("frobnicate")
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("gantry: ") and "frobnicate" in lines[0]
    assert "Traceback" not in proc.stderr


def test_no_subcommand_prints_help_and_exits_2() -> None:
    proc = run()
    assert proc.returncode == 2
    assert "usage: gantry" in proc.stderr


def test_bad_option_value(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        main(["demo", "--registry-port", "abc"])
    assert info.value.code == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "--registry-port" in err


@pytest.mark.parametrize(("argv", "where"), [
    (["config", "show", "--bogus"], "gantry: config show: unrecognized arguments: --bogus"),
    (["gitops", "hold", "list", "--bogus", "x"], "gantry: gitops hold list: unrecognized arguments: --bogus x"),
    (["event", "cost", "--bogus"], "gantry: event cost: unrecognized arguments: --bogus"),
    (["--bogus"], "gantry: usage: unrecognized arguments: --bogus"),
])
def test_unknown_options_name_the_subcommand(argv: list[str], where: str, capsys: pytest.CaptureFixture[str]) -> None:
    """Trial item 21: argparse reports leftovers from the root parser; the line names the subcommand."""
    with pytest.raises(SystemExit) as info:
        main(argv)
    assert info.value.code == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith(where), err
    prog = where.split(": ")[1]
    assert f"(see 'gantry{'' if prog == 'usage' else ' ' + prog} --help')" in err

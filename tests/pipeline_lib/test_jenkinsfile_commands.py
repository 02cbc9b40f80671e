"""Every ``gantry …`` command in the Jenkinsfile is one the CLI accepts (same options, same code)."""

from __future__ import annotations

import shlex

import pytest

from pipeline_lib.cli import COMMANDS, build_parser
from tests.support.jenkinsfile import expand, gantry_commands


def test_jenkinsfile_has_one_gantry_command_per_stage() -> None:
    commands = gantry_commands()
    used = {shlex.split(c)[1] for c in commands}
    assert {"test", "scan", "image", "gate", "pr-report", "gitops", "notify"} <= used


@pytest.mark.parametrize("command", gantry_commands())
def test_command_parses(command: str) -> None:
    argv = expand(command)
    assert argv[0] in COMMANDS, argv
    parser = build_parser(argv[0])
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # argparse refused the Jenkinsfile's options
        pytest.fail(f"Jenkinsfile command does not parse: {command} (exit {exc.code})")
    assert callable(args.func)

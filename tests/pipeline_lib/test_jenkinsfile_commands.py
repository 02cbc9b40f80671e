"""Every ``gantry …`` command in the Jenkinsfile is one the CLI accepts (same options, same code)."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest

from pipeline_lib.cli import COMMANDS, build_parser

JENKINSFILE = Path(__file__).resolve().parents[2] / "Jenkinsfile"


def gantry_commands() -> list[str]:
    lines = [ln for ln in JENKINSFILE.read_text().splitlines() if not ln.lstrip().startswith("//")]
    text = "\n".join(lines)
    # sh '...' / sh "..." / sh '''...''' and script: '...' bodies; line continuations joined
    text = text.replace("\\\n", " ")
    commands = []
    for match in re.finditer(r"\bgantry\s[^'\"\n|&;]*(?:\"[^\"\n]*\"[^'\"\n|&;]*)*", text):
        commands.append(match.group(0).strip())
    return commands


def test_jenkinsfile_has_one_gantry_command_per_stage() -> None:
    commands = gantry_commands()
    used = {shlex.split(c)[1] for c in commands}
    assert {"test", "scan", "image", "gate", "pr-report", "gitops", "notify"} <= used


# What Jenkins puts in the variables the Jenkinsfile uses (typed values where options check them).
VALUES = {"IMAGE_DIGEST": "sha256:" + "ab" * 32, "PR_NUMBER": "7", "GIT_SHA": "0123456789abcdef" * 2 + "01234567",
          "TARGET_ENV": "dev", "SERVICE": "storefront", "TAG": "0123456789ab", "REPO": "flashshop/storefront"}


@pytest.mark.parametrize("command", gantry_commands())
def test_command_parses(command: str) -> None:
    shell = command.replace('\\"', '"').replace("\\$", "$")   # Groovy "…" escapes, as the shell sees them
    expanded = re.sub(r"\$\{?([A-Z_]+)\}?", lambda m: VALUES.get(m.group(1), f"x-{m.group(1).lower()}"), shell)
    expanded = re.sub(r"\$\{currentBuild\.currentResult\}", "SUCCESS", expanded)
    argv = shlex.split(expanded)[1:]
    assert argv[0] in COMMANDS, argv
    parser = build_parser(argv[0])
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # argparse refused the Jenkinsfile's options
        pytest.fail(f"Jenkinsfile command does not parse: {command} (exit {exc.code})")
    assert callable(args.func)

"""Helpers for the security tests: run the real ``gantry`` entry point in-process."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from pipeline_lib.cli import main


class Run:
    def __init__(self, code: int, out: str, err: str) -> None:
        self.code, self.out, self.err = code, out, err

    def json(self):
        return json.loads(self.out)


@pytest.fixture()
def gantry(capsys):
    """Call ``gantry ARGS...`` and return exit code, stdout and stderr."""

    def run(*args: str | Path) -> Run:
        capsys.readouterr()
        code = main([str(a) for a in args])
        captured = capsys.readouterr()
        return Run(code, captured.out, captured.err)

    return run


@pytest.fixture(scope="session")
def sarif_schema(shared_fixtures: Path) -> dict:
    return json.loads((shared_fixtures / "schemas" / "sarif-schema-2.1.0.json").read_text())

"""The ``Test`` stage: run a service's tests with JUnit XML output and read the counts back.

Jenkinsfile: ``gantry test --service "$SERVICE" --src . --out "$REPORTS/test"``.
"""

from __future__ import annotations

import shlex
import sys
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path

from pipeline_lib.core.errors import GantryError, NotFound, TimeoutExceeded
from pipeline_lib.core.process import run as run_command
from pipeline_lib.core.settings import child_env
from . import FAILED, PASSED, StageResult


@dataclass(frozen=True)
class TestOptions:
    """The test stage's inputs: the source checkout, the report directory and the command."""

    __test__ = False  # not a pytest test class

    src: Path
    out: Path
    command: str = "pytest"
    timeout: float = 1800


@dataclass(frozen=True)
class JUnitCounts:
    """Totals of a JUnit XML file (``<testsuites>`` or a single ``<testsuite>``)."""

    tests: int
    failures: int
    errors: int
    skipped: int

    @property
    def passed(self) -> int:
        return self.tests - self.failures - self.errors - self.skipped


def read_junit(path: Path) -> JUnitCounts:
    """Sum the counts of every ``<testsuite>`` in ``path``; a broken file is a GantryError."""
    try:
        root = ET.parse(path).getroot()
    except FileNotFoundError:
        raise GantryError(str(path), "no JUnit XML written by the test run") from None
    except ET.ParseError as exc:
        raise GantryError(str(path), f"unreadable JUnit XML: {exc}") from None
    suites = [root] if root.tag == "testsuite" else root.findall("testsuite")
    if root.tag not in ("testsuite", "testsuites"):
        raise GantryError(str(path), f"not JUnit XML (root element <{root.tag}>)")
    totals = [0, 0, 0, 0]
    for suite in suites:
        for i, attr in enumerate(("tests", "failures", "errors", "skipped")):
            try:
                totals[i] += int(suite.get(attr, "0"))
            except ValueError:
                raise GantryError(str(path), f"testsuite attribute {attr}={suite.get(attr)!r} is not a number") from None
    return JUnitCounts(*totals)


def run_tests(src: Path, out_dir: Path, command: str = "pytest", timeout: float = 1800) -> StageResult:
    """Run ``command`` in ``src`` writing ``out_dir/test-results.xml``; fail when no test ran.

    ``pytest`` runs with the current interpreter (``python -m pytest``) so the demo needs
    nothing else; any other command gets ``--junitxml`` appended and must honour it.
    """
    if not src.is_dir():
        raise GantryError(str(src), "source directory not found")
    out_dir.mkdir(parents=True, exist_ok=True)
    junit = (out_dir / "test-results.xml").resolve()
    junit.unlink(missing_ok=True)
    argv = shlex.split(command)
    if not argv:
        raise GantryError("test_command", "empty test command")
    if argv[0] == "pytest":
        argv = [sys.executable, "-m", "pytest", *argv[1:], "-q", "-p", "no:cacheprovider"]
    argv.append(f"--junitxml={junit}")
    log = out_dir / "test-output.log"
    env = child_env(PYTHONDONTWRITEBYTECODE="1")
    log.write_bytes(b"")
    try:
        proc = run_command(argv, cwd=src, output_file=log, timeout=timeout, env=env, what="test")
    except NotFound:
        raise NotFound("test", f"command not found: {argv[0]}") from None
    except TimeoutExceeded:
        return StageResult("test", FAILED, f"timed out after {timeout:.0f}s (log: {log})")
    counts = read_junit(junit)
    detail = (f"{counts.passed} passed, {counts.failures + counts.errors} failed, "
              f"{counts.skipped} skipped; {junit.name}")
    data = {"junit": str(junit), "tests": counts.tests, "failures": counts.failures,
            "errors": counts.errors, "skipped": counts.skipped, "exit_code": proc.returncode}
    if counts.tests == 0:
        return StageResult("test", FAILED, f"no test ran (log: {log})", data=data)
    if proc.returncode != 0 or counts.failures or counts.errors:
        return StageResult("test", FAILED, f"{detail}; exit {proc.returncode} (log: {log})", data=data)
    return StageResult("test", PASSED, detail, data=data)


def run(opts: TestOptions) -> StageResult:
    """The stage entry point (the same call for ``gantry test`` and ``gantry demo``)."""
    return run_tests(opts.src, opts.out, opts.command, opts.timeout)

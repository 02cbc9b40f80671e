"""The test stage against real pytest runs: passing, failing, no tests, broken JUnit."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from pipeline_lib.cli import main
from pipeline_lib.core.errors import GantryError
from pipeline_lib.stages import FAILED, PASSED
from pipeline_lib.stages.test import read_junit, run_tests

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "storefront"


def _example_test_count() -> int:
    """The example's test functions, counted from its sources (no parametrized tests there)."""
    return sum(line.startswith("def test_") for f in (EXAMPLE / "tests").glob("test_*.py")
               for line in f.read_text().splitlines())


def test_example_service_passes(tmp_path: Path) -> None:
    result = run_tests(EXAMPLE, tmp_path)
    assert result.status == PASSED, result.detail
    junit = tmp_path / "test-results.xml"
    # count the test cases in the XML independently of read_junit
    cases = ET.parse(junit).getroot().iter("testcase")
    assert result.data["tests"] == sum(1 for _ in cases) == _example_test_count()


def write_project(root: Path, body: str) -> Path:
    (root / "tests").mkdir(parents=True)
    (root / "tests" / "test_x.py").write_text(body)
    return root


def test_failing_test_fails_the_stage(tmp_path: Path) -> None:
    src = write_project(tmp_path / "src", "def test_ok():\n    pass\n\ndef test_bad():\n    assert 1 == 2\n")
    result = run_tests(src, tmp_path / "out")
    assert result.status == FAILED
    assert result.data["failures"] == 1 and result.data["tests"] == 2


def test_no_tests_is_a_failure_not_a_pass(tmp_path: Path) -> None:
    src = tmp_path / "empty"
    src.mkdir()
    result = run_tests(src, tmp_path / "out")
    assert result.status == FAILED
    assert "no test ran" in result.detail


def test_missing_source_dir(tmp_path: Path) -> None:
    with pytest.raises(GantryError, match="source directory not found"):
        run_tests(tmp_path / "nope", tmp_path / "out")


@pytest.mark.parametrize("content, message", [
    ("<testsuite tests='3'", "unreadable JUnit XML"),
    ("<html/>", "not JUnit XML"),
    ("<testsuite tests='x'/>", "is not a number"),
])
def test_broken_junit(tmp_path: Path, content: str, message: str) -> None:
    path = tmp_path / "j.xml"
    path.write_text(content)
    with pytest.raises(GantryError, match=message):
        read_junit(path)


def test_cli_test_stage(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["test", "--catalog", str(ROOT / "jobs" / "catalog.yaml"), "--service", "storefront",
                 "--src", str(EXAMPLE), "--out", str(tmp_path)])
    assert code == 0
    assert capsys.readouterr().out.startswith(f"[test            ] passed ({_example_test_count()} passed, 0 failed, 0 skipped")
    assert main(["test", "--catalog", str(ROOT / "jobs" / "catalog.yaml"), "--service", "nope",
                 "--src", str(EXAMPLE), "--out", str(tmp_path)]) == 2
    assert "unknown service 'nope'" in capsys.readouterr().err

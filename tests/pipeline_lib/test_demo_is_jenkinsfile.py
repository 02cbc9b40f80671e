"""The demo is the Jenkinsfile: same stages, same order, same options, same verdict."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from pipeline_lib.demo import run as demo
from pipeline_lib.cli import build_parser
from pipeline_lib.commands.security import gate_options as cli_gate_options, scan_options as cli_scan_options
from pipeline_lib.stages import gate
from scanners.base import ScanOutcome
from tests.support.jenkinsfile import expand, gantry_commands
from tests.support.paths import FIXTURES, PROJECT_ROOT


def _parsed(command: str, values: dict[str, str] | None = None):
    argv = expand(command, values)
    return build_parser(argv[0]).parse_args(argv)


def _jenkins_stage_names() -> list[str]:
    names = []
    for command in gantry_commands():
        args = _parsed(command)
        stage = args.stage if args.stage != "scan" else args.tool
        names.append(stage.replace("_", "-"))
    return names


def test_every_jenkinsfile_command_runs_a_stage() -> None:
    for command in gantry_commands():
        assert getattr(_parsed(command), "stage", None), f"{command}: no pipeline stage behind this command"


def test_same_stage_sequence() -> None:
    assert _jenkins_stage_names() == list(demo.STAGES)


def _command(stage: str, tool: str | None = None) -> str:
    for command in gantry_commands():
        args = _parsed(command)
        if args.stage == stage and (tool is None or args.tool == tool):
            return command
    raise AssertionError(f"no {stage} command in the Jenkinsfile")


def test_same_gate_and_trivy_options(tmp_path: Path) -> None:
    reports = tmp_path / "reports"
    jenkins = cli_gate_options(_parsed(_command("gate"), {"REPORTS": str(reports)}))
    local = demo.gate_options("dev", reports)
    for field in ("environment", "reports", "outcomes_dir", "report_dir", "baseline", "licenses", "input_format"):
        assert getattr(jenkins, field) == getattr(local, field), field
    archive = tmp_path / "image.oci.tar"
    jenkins_trivy = cli_scan_options(_parsed(_command("scan", "trivy"), {"REPORTS": str(reports)}))
    local_trivy = demo.trivy_options(Path("."), reports, archive, db_repository="127.0.0.1:5000/trivy-db:2")
    assert jenkins_trivy.out == local_trivy.out
    assert jenkins_trivy.input.name == local_trivy.input.name == "image.oci.tar"
    assert jenkins_trivy.options["scanners"] == local_trivy.options["scanners"]


def _scans(tmp_path: Path, trivy_status: str = "ok") -> Path:
    """The issue's case: a clean Trivy report with its outcome ok, SonarQube skipped (no server)."""
    scans = tmp_path / "reports" / "scans"
    scans.mkdir(parents=True)
    clean = FIXTURES / "trivy" / "alpine-image-no-vulns.json"
    report = scans / "trivy.json"
    shutil.copyfile(clean, report)
    ScanOutcome("trivy", trivy_status, [report] if trivy_status == "ok" else [],
                "" if trivy_status == "ok" else "not configured").write(scans)
    ScanOutcome("sonarqube", "skipped", [], "SONAR_HOST_URL and SONAR_TOKEN not set").write(scans)
    return scans


def _jenkins_exit(tmp_path: Path, env: str, command: str | None = None) -> int:
    argv = expand(command or _command("gate"), {"REPORTS": str(tmp_path / "reports"), "TARGET_ENV": env})
    proc = subprocess.run([sys.executable, "-m", "pipeline_lib.cli", *argv], capture_output=True, text=True,
                          cwd=PROJECT_ROOT, timeout=120)
    assert "Traceback" not in proc.stderr
    return proc.returncode


@pytest.mark.parametrize("env,trivy,expected", [("dev", "ok", 0), ("prod", "ok", 0), ("prod", "skipped", 2)])
def test_same_verdict(tmp_path: Path, env: str, trivy: str, expected: int) -> None:
    _scans(tmp_path, trivy)
    local = gate.run(demo.gate_options(env, tmp_path / "reports")).data["exit_code"]
    assert local == expected
    assert _jenkins_exit(tmp_path, env) == expected
    assert json.loads((tmp_path / "reports" / "gate" / "verdict.json").read_text())["exit_code"] == expected


def test_report_of_a_skipped_scanner_named_explicitly_is_not_an_error(tmp_path: Path) -> None:
    """The old Jenkinsfile line named sonarqube.json although SonarQube was skipped: exit 0, not 2."""
    _scans(tmp_path)
    old = ('gantry gate "$REPORTS/scans/sonarqube.json" "$REPORTS/scans/trivy.json" --env "$TARGET_ENV" '
           '--outcomes "$REPORTS/scans"')
    assert _jenkins_exit(tmp_path, "dev", old) == 0
    # a missing report of a scanner that did NOT skip is still "cannot evaluate"
    (tmp_path / "reports" / "scans" / "trivy.json").unlink()
    assert _jenkins_exit(tmp_path, "dev", old) == 2


def test_stages_hand_each_other_files_not_stdout() -> None:
    """The digest comes from the push stage's image.json, the baseline job from gantry itself."""
    from tests.support.jenkinsfile import JENKINSFILE

    text = JENKINSFILE.read_text()
    after_prepare = text.split("stage('Test')", 1)[1]
    assert "returnStdout" not in after_prepare, "a stage reads another's stdout"
    push_args = _parsed(_command("push"), {"REPORTS": "/w/reports"})
    assert push_args.output == Path("/w/reports/image.json")
    assert "env.IMAGE_DIGEST = readJSON(file: 'reports/image.json').digest" in text
    assert _parsed(_command("gate")).baseline_from_jenkins == "auto"
    assert "env.JOB_NAME" not in after_prepare   # the baseline job is gantry's to work out

"""The shared Jenkinsfile: linted offline with npm-groovy-lint (CodeNarc) and checked for shape."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
JENKINSFILE = ROOT / "Jenkinsfile"
LINTER = ROOT / "node_modules" / ".bin" / "npm-groovy-lint"
TEXT = JENKINSFILE.read_text(encoding="utf-8")


def _linter() -> Path:
    if shutil.which("npm") is None:
        pytest.skip("npm is not installed")
    if not LINTER.exists():
        subprocess.run(["npm", "ci", "--no-audit", "--no-fund"], cwd=ROOT, check=True,
                       capture_output=True, timeout=300)
    return LINTER


def test_npm_groovy_lint_finds_no_error_and_catches_a_broken_file(tmp_path: Path) -> None:
    linter = _linter()
    shutil.copy(JENKINSFILE, tmp_path / "Jenkinsfile")
    (tmp_path / "Broken.groovy").write_text("pipeline {\n  agent any\n  stages {\n    stage('x') {\n")
    proc = subprocess.run([str(linter), "--noserver", "--output", "json", "Jenkinsfile", "Broken.groovy"],
                          cwd=tmp_path, capture_output=True, text=True, timeout=180)
    report = json.loads(proc.stdout[proc.stdout.index("{"):])
    errors = {Path(f).name: [e for e in v["errors"] if e["severity"] == "error"]
              for f, v in report["files"].items()}
    assert errors["Jenkinsfile"] == [], errors["Jenkinsfile"]
    assert any(e["rule"] == "NglParseError" for e in errors["Broken.groovy"])  # the linter really parses


def _stage_names() -> list[str]:
    return re.findall(r"^\s*stage\('([^']+)'\)", TEXT, flags=re.M)


def test_stages_in_order() -> None:
    assert _stage_names() == ["Prepare", "Test", "Analysis", "SonarQube", "Dependency-Check", "Build",
                              "Trivy", "Gate", "PR report", "Push", "Replicate", "GitOps bump", "Event deploy"]
    assert re.search(r"stage\('Analysis'\)\s*\{\s*parallel\s*\{", TEXT)


def test_every_stage_has_a_timeout() -> None:
    blocks = re.split(r"^\s*stage\('", TEXT, flags=re.M)[1:]
    for block in blocks:
        name = block.split("'", 1)[0]
        if name == "Analysis":  # its parallel branches carry their own
            continue
        assert "timeout(time:" in block.split("stage('")[0], f"stage {name} has no timeout"


def test_each_stage_command_is_gantry() -> None:
    commands = re.findall(r"""(?<=\s)sh\s*(?:\(returnStdout: true,\s*script: )?(['"]{1,3})(.+?)\1""", TEXT, flags=re.S)
    cmds = [c.strip() for _, c in commands]
    assert cmds, "no sh steps found"
    for cmd in cmds:
        assert cmd.startswith("gantry ") or cmd == "git rev-parse HEAD", cmd
    for needed in ("gantry test ", "gantry scan sonarqube", "gantry scan dependency-check", "gantry image build",
                   "gantry scan trivy", "gantry gate ", "gantry pr-report", "gantry image push",
                   "gantry image verify-replication", "gantry gitops bump", "gantry event deploy",
                   "gantry notify slack"):
        assert any(c.startswith(needed) for c in cmds), needed


def test_pr_builds_stop_after_the_gate_and_bump_is_main_only() -> None:
    def when(stage: str) -> str:
        block = TEXT.split(f"stage('{stage}')", 1)[1]
        return block.split("steps", 1)[0]
    assert "name: 'IS_PR', value: 'true'" in when("PR report")
    assert "name: 'IS_PR', value: 'false'" in when("Push")
    assert "name: 'IS_PR', value: 'false'" in when("GitOps bump")
    assert "params.BRANCH == 'main'" in when("GitOps bump")
    # the event stack (ECS Fargate) is deployed by gantry, only for TARGET_ENV=event
    assert "name: 'TARGET_ENV', value: 'event'" in when("Event deploy")
    assert "name: 'IS_PR', value: 'false'" in when("Event deploy")
    assert "gantry event deploy --service" in TEXT.split("stage('Event deploy')", 1)[1]


def test_pod_agent_without_docker_socket_and_credentials_only_through_jenkins() -> None:
    assert "kubernetes {" in TEXT
    for container in ("python", "trivy", "dependency-check", "sonar-scanner", "buildkit"):
        assert re.search(rf"- name: {container}\n", TEXT), container
    assert "docker.sock" not in TEXT and "privileged: true" not in TEXT
    assert len(re.findall(r"withCredentials\(\[", TEXT)) >= 4
    assert not re.search(r"(?i)(password|token|secret)\s*=\s*['\"][^'\"$]", TEXT)
    assert not re.search(r"AKIA[0-9A-Z]{16}", TEXT)


def test_reports_published() -> None:
    assert "junit " in TEXT
    assert "archiveArtifacts " in TEXT
    assert re.search(r"recordIssues .*sarif\(pattern: 'reports/\*\*/\*\.sarif'", TEXT, flags=re.S)

"""``gantry demo`` end to end on real parts: registry, podman, trivy, git. Run twice."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import jsonschema
import pytest

from pipeline_lib.demo.run import STAGES

ROOT = Path(__file__).resolve().parents[2]
SARIF_SCHEMA = ROOT / "tests" / "fixtures" / "schemas" / "sarif-schema-2.1.0.json"


def gantry(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "pipeline_lib.cli", *args], cwd=cwd,
                          capture_output=True, text=True, timeout=600)


def git(repo: Path, *args: str) -> str:
    return subprocess.run(["git", "--git-dir", str(repo), *args], check=True,
                          capture_output=True, text=True).stdout


@pytest.fixture(scope="module")
def demo_runs(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[subprocess.CompletedProcess[str]]]:
    work = tmp_path_factory.mktemp("demo") / "out"
    runs = [gantry("demo", "--workdir", str(work), "--registry-port", "0", cwd=ROOT) for _ in range(2)]
    return work, runs


def test_demo_exits_0_with_one_line_per_stage(demo_runs) -> None:
    work, runs = demo_runs
    for proc in runs:
        assert proc.returncode == 0, proc.stdout + proc.stderr
        stage_lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("[")]
        names = [ln[1:ln.index("]")].strip() for ln in stage_lines]
        assert names == list(STAGES) * 2          # the PR build, then main
        assert all(ln.rstrip().endswith("s") for ln in stage_lines)  # duration
        assert "demo OK: both builds behaved as expected" in proc.stdout
        assert "  PR build: BLOCKED by the gate" in proc.stdout and "  main build: PASSED the gate" in proc.stdout
        assert "[deploy          ] skipped: Argo CD syncs dev from the GitOps repo" in proc.stdout
    # SonarQube and Dependency-Check are not configured here: visibly skipped, never passed
    first = runs[0].stdout
    assert "[sonarqube       ] skipped: " in first
    assert "[dependency-check] skipped: " in first


def test_the_pr_build_is_blocked_with_the_real_advisories(demo_runs) -> None:
    """report.md (the PR comment) names every advisory of the PR's pins, computed from the
    GitHub advisory files, with installed and fixed versions; the PR build pushes nothing."""
    from tests.support.trivydb import expected_findings, pins_of

    work, _ = demo_runs
    expected = expected_findings(pins_of(work / "variants" / "pr" / "requirements.txt"))
    assert any(e.severity in ("HIGH", "CRITICAL") for e in expected)
    report = (work / "pr" / "reports" / "gate" / "report.md").read_text()
    assert "Security gate failed" in report
    rows = [ln for ln in report.splitlines() if ln.startswith("| ") and "trivy" in ln]
    for e in expected:
        assert any(e.id in r and f"| {e.severity} |" in r and f"| {e.installed} | {e.fixed} |" in r for r in rows), e
    stages = {s["name"]: s for s in json.loads((work / "pr" / "stages.json").read_text())}
    assert stages["gate"]["status"] == "failed"
    assert all(stages[n]["status"] == "skipped" for n in ("push", "replicate", "bump"))
    assert not (work / "pr" / "reports" / "image.json").exists()
    outcome = json.loads((work / "pr" / "reports" / "scans" / "trivy.outcome.json").read_text())
    assert outcome["db_updated_at"]            # the DB's age is on record for the gate


def test_demo_writes_the_security_report(demo_runs) -> None:
    work, _ = demo_runs
    gate_dir = work / "main" / "reports" / "gate"
    for name in ("report.md", "report.sarif", "junit.xml", "findings.json", "report.html", "verdict.json"):
        assert (gate_dir / name).is_file(), name
    sarif = json.loads((gate_dir / "report.sarif").read_text())
    jsonschema.validate(sarif, json.loads(SARIF_SCHEMA.read_text()))
    assert json.loads((gate_dir / "findings.json").read_text()) == []   # main's pins are fixed
    assert (work / "main" / "reports" / "scans" / "sbom.cdx.json").is_file()
    assert (work / "image.oci.tar").is_file()   # the build stage's artifact, as in Jenkins
    stages = json.loads((work / "main" / "stages.json").read_text())
    assert [s["status"] for s in stages].count("skipped") == 6  # sonarqube, dependency-check, code-scanning, pr-report, deploy, notify


def test_demo_pushes_and_bumps_by_digest(demo_runs) -> None:
    work, runs = demo_runs
    image = json.loads((work / "main" / "reports" / "image.json").read_text())
    digest = image["digest"]
    assert digest.startswith("sha256:") and len(digest) == 71
    # the tag is in the registry's storage (the registry is stopped after the demo)
    tags = work / "registry" / "data" / "docker" / "registry" / "v2" / "repositories" / "shop" / "storefront" / "_manifests" / "tags"
    assert image["tags"][0] in {p.name for p in tags.iterdir()}
    names = {p.name for p in tags.iterdir()}
    assert len({n for n in names if not n.startswith("sha256-")}) == 2  # one tag per run: the PR builds pushed nothing
    # the signed evidence: three referrers of the digest, listed by its referrers tag schema index
    assert "sha256-" + digest.split(":")[1] in names
    assert image["attestations"] == ["provenance", "sbom", "verdict"]
    for proc in runs:
        line = next(ln for ln in proc.stdout.splitlines() if ln.startswith("  main build: PASSED"))
        assert "attestations provenance, sbom, verdict verified in 127.0.0.1:" in line and " and 127.0.0.1:" in line
    bare = work / "gitops.git"
    log = git(bare, "log", "--format=%s%n%b", "main")
    assert digest in log
    overlay = git(bare, "show", "main:apps/storefront/overlays/dev/kustomization.yaml")
    assert digest in overlay
    # two runs, two bumps, and every commit is linear (no merge commits)
    assert git(bare, "rev-list", "--merges", "main").strip() == ""
    subjects = git(bare, "log", "--format=%s", "main").splitlines()
    assert sum("storefront" in s for s in subjects) >= 2


def test_demo_port_in_use_is_one_line_exit_2(tmp_path: Path) -> None:
    import socket

    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        proc = gantry("demo", "--workdir", str(tmp_path / "w"), "--registry-port", str(port), cwd=ROOT)
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines()[-1] == (
        f"gantry: registry: port {port} on 127.0.0.1 is already in use; "
        "choose another port or stop what is listening there")
    assert "Traceback" not in proc.stderr


def test_demo_unknown_service_and_bad_catalog(tmp_path: Path) -> None:
    proc = gantry("demo", "--workdir", str(tmp_path / "w"), "--service", "nope", cwd=ROOT)
    assert proc.returncode == 2
    assert proc.stderr.startswith("gantry: ") and "unknown service 'nope'" in proc.stderr
    bad = tmp_path / "catalog.yaml"
    bad.write_text("version: 1\nservices: [\n")
    proc = gantry("demo", "--workdir", str(tmp_path / "w"), "--catalog", str(bad), cwd=ROOT)
    assert proc.returncode == 2
    assert proc.stderr.strip() == f"gantry: {bad}:3: invalid YAML: expected the node content, but found '<stream end>'"
    assert "Traceback" not in proc.stderr


def test_two_demos_started_at_once_both_pass_and_json_format(tmp_path: Path) -> None:
    """Same work directory, second run started before the first ends: it waits, then passes. The
    second run asks for ``--format json``: the stage results on stdout, progress on stderr."""
    work = tmp_path / "out"
    argv = [sys.executable, "-m", "pipeline_lib.cli", "demo", "--workdir", str(work), "--registry-port", "0",
            "--single-build"]
    procs = [subprocess.Popen(argv + extra, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for extra in ([], ["--format", "json"])]
    outputs = [p.communicate(timeout=600) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], outputs
    stdout, stderr = outputs[1]
    stages = json.loads(stdout)
    assert [s["name"] for s in stages] == list(STAGES)
    assert {s["status"] for s in stages} == {"passed", "skipped"}
    assert "[push            ] passed" in stderr  # progress stays visible on stderr

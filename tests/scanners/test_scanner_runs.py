"""Running the scanners: the real trivy binary, and the skip/error paths of the others."""

from __future__ import annotations

import json
import stat
from pathlib import Path

import pytest

from scanners import dependency_check, trivy
from scanners.base import ScanOutcome
from tests.support.paths import FIXTURES

FAKE_KEY = "AKIA" + "ZQ3J7RV2LP5TXW4N"   # an AWS access key id *pattern*, not a real key


@pytest.fixture()
def project(tmp_path: Path) -> Path:
    src = tmp_path / "src"
    src.mkdir()
    (src / "Dockerfile").write_text("FROM alpine:3.19\nRUN apk add --no-cache curl\nCMD [\"sh\"]\n")
    (src / "deploy.sh").write_text(f"#!/bin/sh\nexport AWS_ACCESS_KEY_ID={FAKE_KEY}\n")
    return src


def script(path: Path, body: str) -> Path:
    path.write_text("#!/bin/sh\n" + body)
    path.chmod(path.stat().st_mode | stat.S_IXUSR)
    return path


@pytest.mark.integration
def test_real_trivy_fs_scan_and_gate(project, tmp_path, gantry):
    out = tmp_path / "scans"
    r = gantry("scan", "trivy", "--src", project, "--out", out, "--cache-dir", tmp_path / "cache")
    assert r.code == 0, r.out + r.err
    assert r.out.startswith("trivy: ok (") and " findings) in " in r.out
    outcome = ScanOutcome.read(out / "trivy.outcome.json")
    assert outcome.status == "ok" and [p.name for p in outcome.reports] == ["trivy.json", "sbom.cdx.json"]
    raw = json.loads((out / "trivy.json").read_text())
    secrets = [s for res in raw["Results"] for s in res.get("Secrets") or []]
    assert [s["RuleID"] for s in secrets] == ["aws-access-key-id"]
    assert FAKE_KEY not in (out / "trivy.json").read_text()           # trivy masks the match
    rows = gantry("findings", out / "trivy.json", "--format", "json").json()
    fails = sum(1 for res in raw["Results"] for m in res.get("Misconfigurations") or [] if m["Status"] == "FAIL")
    assert len(rows) == fails + len(secrets)
    assert any(x["kind"] == "misconfiguration" and x["target"] == "Dockerfile" for x in rows)
    assert json.loads((out / "sbom.cdx.json").read_text())["bomFormat"] == "CycloneDX"
    g = gantry("gate", "--outcomes", out, "--report-dir", tmp_path / "rep")
    assert g.code == 1 and "CRITICAL" in g.out
    assert FAKE_KEY not in (tmp_path / "rep" / "report.md").read_text()


@pytest.mark.integration
def test_trivy_vuln_without_db_fails_closed(project, tmp_path, gantry):
    out = tmp_path / "scans"
    o = trivy.run_fs(project, out, scanners=("vuln",), sbom=False, cache_dir=tmp_path / "empty-cache",
                     db_repository="127.0.0.1:1/nowhere/trivy-db:2", timeout=60)
    assert o.status == "error" and "DB" in o.reason
    o.write(out)
    assert gantry("gate", "--outcomes", out).code == 2


def test_trivy_timeout_and_crash_are_errors(project, tmp_path):
    slow = script(tmp_path / "slow-trivy", "sleep 30\n")
    o = trivy.run_fs(project, tmp_path / "a", trivy=str(slow), timeout=1, sbom=False)
    assert o.status == "error" and "timed out" in o.reason and o.duration < 10
    crash = script(tmp_path / "crash-trivy", "echo 'FATAL boom' >&2; exit 3\n")
    o = trivy.run_fs(project, tmp_path / "b", trivy=str(crash), sbom=False)
    assert o.status == "error" and "boom" in o.reason
    assert not (tmp_path / "b" / "trivy.json").exists()
    o = trivy.run_fs(project, tmp_path / "c", trivy=str(tmp_path / "missing"))
    assert o.status == "error" and "not found" in o.reason
    assert trivy.run_fs(project, tmp_path / "d", scanners=("bogus",)).status == "error"


def test_scan_cli_error_exit_code(project, tmp_path, gantry):
    crash = script(tmp_path / "crash-trivy", "exit 1\n")
    r = gantry("scan", "trivy", "--src", project, "--out", tmp_path / "o", "--trivy", crash)
    assert r.code == 2 and r.out.startswith("trivy: error: ")
    assert ScanOutcome.read(tmp_path / "o" / "trivy.outcome.json").status == "error"


def test_dependency_check_skipped_when_not_installed(project, tmp_path, monkeypatch, gantry):
    monkeypatch.delenv("DEPENDENCY_CHECK_HOME", raising=False)
    monkeypatch.setenv("PATH", str(tmp_path / "empty-bin"))
    r = gantry("scan", "dependency-check", "--src", project, "--out", tmp_path / "o")
    assert r.code == 0
    assert r.out.strip() == ("dependency-check: skipped: dependency-check CLI not found (set DEPENDENCY_CHECK_HOME "
                             "or put dependency-check.sh on PATH)")
    assert ScanOutcome.read(tmp_path / "o" / "dependency-check.outcome.json").status == "skipped"


def test_dependency_check_run_with_cli(project, tmp_path, monkeypatch):
    """A stand-in dependency-check.sh (an external program) writes a real report."""
    home = tmp_path / "dc"
    (home / "bin").mkdir(parents=True)
    fixture = FIXTURES / "dependency-check" / "with-exceptions.json"
    script(home / "bin" / "dependency-check.sh", f"""
echo "$@" > "{tmp_path}/argv"
out=""; prop=""
while [ $# -gt 0 ]; do
  case "$1" in --out) out="$2"; shift;; --propertyfile) prop="$2"; cat "$2" > "{tmp_path}/props";; esac
  shift
done
cp "{fixture}" "$out/dependency-check-report.json"
""")
    # the CLI passes $DEPENDENCY_CHECK_HOME and $NVD_API_KEY (stages.scan.settings_options)
    o = dependency_check.run(project, tmp_path / "out", home=str(home), nvd_api_key="nvd-secret-123")
    assert o.status == "ok", o.reason
    assert o.reports == [tmp_path / "out" / "dependency-check" / "dependency-check-report.json"]
    argv = (tmp_path / "argv").read_text()
    assert "nvd-secret-123" not in argv and "--format JSON" in argv and "failOnCVSS" not in argv
    assert (tmp_path / "props").read_text() == "nvd.api.key=nvd-secret-123\n"
    assert not list((tmp_path / "out" / "dependency-check").glob("*.properties"))   # removed after the run


def test_sonarqube_skipped_without_settings(project, tmp_path, monkeypatch, gantry):
    monkeypatch.delenv("SONAR_HOST_URL", raising=False)
    monkeypatch.delenv("SONAR_TOKEN", raising=False)
    r = gantry("scan", "sonarqube", "--src", project, "--out", tmp_path / "o")
    assert r.code == 0 and r.out.strip() == "sonarqube: skipped: SONAR_HOST_URL and SONAR_TOKEN not set"


def test_outcome_json_roundtrip_and_hostile(tmp_path):
    o = ScanOutcome("trivy", "ok", [tmp_path / "trivy.json"], "", 1.25)
    assert ScanOutcome.from_json(o.to_json()) == o
    from pipeline_lib.core.errors import GantryError

    for bad in ("", "[]", '{"tool": "t", "status": "maybe"}', '{"tool": 1, "status": "ok"}',
                '{"tool": "t", "status": "ok", "reports": "x"}', b"\xff\xfe"):
        with pytest.raises(GantryError):
            ScanOutcome.from_json(bad)
    with pytest.raises(ValueError):
        ScanOutcome("trivy", "passed")

"""One scan, one verdict, whatever its format (issue 12, case 4): real Trivy writes the same
scan as JSON, SARIF and CycloneDX; gantry reads the same findings from each and the gate says the
same — except that a CycloneDX BOM alone is no evidence a vulnerability scan ran (case 3)."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from scanners.base import ScanOutcome
from scanners.policy import load_policy
from scanners.registry import parse_report
from tests.support.gate import evaluate_files

FORMATS = {"json": "trivy.json", "sarif": "trivy.sarif", "cyclonedx": "trivy.cdx.json"}


@pytest.fixture(scope="module")
def one_scan(trivy_bin, trivy_cache, variants, tmp_path_factory) -> dict[str, Path]:
    out = tmp_path_factory.mktemp("formats")
    reports = {}
    for fmt, name in FORMATS.items():
        reports[fmt] = out / name
        subprocess.run([trivy_bin, "fs", "--scanners", "vuln", "--format", fmt, "--output", str(reports[fmt]),
                        "--cache-dir", str(trivy_cache), "--skip-db-update", "--skip-java-db-update",
                        "--no-progress", "--skip-version-check", "--disable-telemetry", "--exit-code", "0",
                        str(variants.pr.source)], check=True, capture_output=True, timeout=300)
    return reports


def _keys(path: Path) -> set[tuple]:
    return {(f.id, f.package, f.installed_version, f.severity) for f in parse_report(path).findings}


def test_every_format_yields_the_same_findings(one_scan) -> None:
    json_keys = _keys(one_scan["json"])
    assert json_keys, "the PR variant pins a vulnerable package"
    assert _keys(one_scan["sarif"]) == json_keys
    assert {(i, p, v) for i, p, v, _ in _keys(one_scan["cyclonedx"])} == {(i, p, v) for i, p, v, _ in json_keys}


@pytest.mark.parametrize("env", ["dev", "prod"])
def test_every_format_gets_the_same_verdict(one_scan, env) -> None:
    policy = load_policy(None)
    verdicts = {fmt: evaluate_files([p], policy=policy, environment=env) for fmt, p in one_scan.items()}
    assert verdicts["json"].exit_code == verdicts["sarif"].exit_code == 1     # a HIGH advisory blocks
    # the BOM alone: no evidence that the vulnerability scan ran …
    assert verdicts["cyclonedx"].tools["trivy"] == "sbom-only"
    # … until gantry's own outcome says the vuln scanner produced it: then the same verdict
    ran = ScanOutcome("trivy", "ok", [one_scan["cyclonedx"]], scanners=["vuln"])
    assert evaluate_files([one_scan["cyclonedx"]], policy=policy, environment=env, outcomes=[ran]).exit_code == 1

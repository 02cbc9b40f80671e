"""No pass for a scan that never ran (issue 12, cases 1-5): every report format has an evidence
rule, one scan gives one verdict whatever its format, and every severity is placed or reported."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from scanners.base import ScanOutcome, normalize_severity
from scanners.policy import load_policy
from scanners.registry import parse_report
from tests.support.gate import evaluate_files
from tests.support.paths import FIXTURES

TRIVY_SARIF = FIXTURES / "trivy" / "alpine-3.10-image.sarif"
CDX = FIXTURES / "trivy" / "fluentd-sbom.cdx.json"


def write(tmp_path: Path, name: str, doc: object) -> Path:
    path = tmp_path / name
    path.write_text(json.dumps(doc))
    return path


@pytest.mark.parametrize("env", ["dev", "prod"])
def test_sarif_with_no_run_is_no_scan(gantry, tmp_path, env):
    path = write(tmp_path, "trivy.sarif", {"version": "2.1.0", "runs": []})
    r = gantry("gate", path, "--env", env)
    assert r.code == 2
    assert "report records no run" in r.out + r.err


def test_sarif_run_without_results_did_not_complete(gantry, tmp_path):
    path = write(tmp_path, "trivy.sarif", {"version": "2.1.0", "runs": [{"tool": {"driver": {"name": "Trivy"}}}]})
    r = gantry("gate", path)
    assert r.code == 2 and "has no results array" in r.out + r.err
    ran = write(tmp_path, "ran.sarif", {"version": "2.1.0", "runs": [{"tool": {"driver": {"name": "Trivy"}},
                                                                         "results": []}]})
    assert gantry("gate", ran).code == 0   # results: [] — it ran and found nothing


def test_sbom_alone_does_not_satisfy_a_required_vulnerability_scanner(tmp_path):
    prod = load_policy(None)   # prod requires trivy
    v = evaluate_files([CDX], policy=prod, environment="prod")
    assert v.exit_code == 2 and any("only an SBOM" in e for e in v.errors)
    # …unless gantry's own outcome says the vuln scanner ran for that SBOM
    ok = ScanOutcome("trivy", "ok", [CDX], scanners=["vuln"])
    v = evaluate_files([CDX], policy=prod, environment="prod", outcomes=[ok])
    assert not any("only an SBOM" in e for e in v.errors)
    # an SBOM where trivy is not required: noted, never an error on its own
    dev = evaluate_files([CDX], policy=prod, environment="dev")
    assert dev.tools["trivy"] == "sbom-only" and not dev.errors


def test_outcome_records_scanners_round_trip(tmp_path):
    out = ScanOutcome("trivy", "ok", [tmp_path / "trivy.json"], scanners=["vuln", "secret"])
    assert ScanOutcome.from_json(out.to_json()).scanners == ["vuln", "secret"]


def _license_sarif(tmp_path: Path, tags: list[str]) -> Path:
    rule = {"id": "GPL-3.0", "shortDescription": {"text": "GPL-3.0"}, "properties": {"tags": tags}}
    res = {"ruleId": "GPL-3.0", "level": "error", "message": {"text": "Package: x\nInstalled Version: 1"},
           "locations": [{"physicalLocation": {"artifactLocation": {"uri": "app/requirements.txt"}}}]}
    return write(tmp_path, "lic.sarif", {"version": "2.1.0", "runs": [{"tool": {"driver": {"name": "Trivy", "rules": [rule]}},
                                                                      "results": [res]}]})


def test_license_results_count_only_with_licenses_in_sarif_as_in_json(tmp_path):
    path = _license_sarif(tmp_path, ["license", "HIGH"])
    assert parse_report(path).findings == []
    assert [f.kind for f in parse_report(path, licenses=True).findings] == ["license"]
    # the JSON form of Trivy's licence results behaves the same (the real fixture)
    lic = FIXTURES / "trivy" / "licenses.json"
    assert parse_report(lic).findings == [] and parse_report(lic, licenses=True).findings


def test_suppressed_sarif_results_are_not_findings(tmp_path):
    doc = json.loads(TRIVY_SARIF.read_text())
    n = len(parse_report(TRIVY_SARIF).findings)
    doc["runs"][0]["results"][0]["suppressions"] = [{"kind": "external", "status": "accepted"}]
    assert len(parse_report(write(tmp_path, "s.sarif", doc)).findings) == n - 1


@pytest.mark.parametrize("value,expected", [("9.8", "CRITICAL"), ("7.0", "HIGH"), ("6.9", "MEDIUM"),
                                            ("4.0", "MEDIUM"), ("3.9", "LOW"), ("0.1", "LOW"), ("0.0", "INFO"),
                                            (9.0, "CRITICAL"), ("high", "HIGH"), (None, "UNKNOWN")])
def test_numeric_severities_follow_the_cvss_v3_bands(value, expected):
    assert normalize_severity(value, {"high": "HIGH"}) == (expected, None)


def test_unknown_severity_string_is_reported_not_silently_low():
    assert normalize_severity("bogus", {})[1] == "unknown severity 'bogus'"
    assert normalize_severity("11", {})[1] is not None


def _dc_report(tmp_path: Path, severity: str) -> Path:
    doc = json.loads((FIXTURES / "dependency-check" / "with-exceptions.json").read_text())
    deps = [d for d in doc["dependencies"] if d.get("vulnerabilities")]
    dep = dict(deps[0], vulnerabilities=[dict(deps[0]["vulnerabilities"][0], severity=severity,
                                              cvssv2=None, cvssv3=None)])
    return write(tmp_path, "dependency-check-report.json", dict(doc, dependencies=[dep]))


def test_dependency_check_bare_score_is_a_severity(gantry, tmp_path):
    path = _dc_report(tmp_path, "9.8")
    rows = gantry("findings", path, "--format", "json").json()
    assert [r["severity"] for r in rows] == ["CRITICAL"]
    assert gantry("gate", path).code == 1   # blocks the HIGH gate instead of slipping under it


def test_dependency_check_unknown_severity_fails_closed(gantry, tmp_path):
    r = gantry("gate", _dc_report(tmp_path, "sort-of-bad"))
    assert r.code == 2 and "unknown severity 'sort-of-bad'" in r.out + r.err

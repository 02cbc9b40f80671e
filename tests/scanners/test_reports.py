"""Reports from one evaluation: SARIF (schema-valid), Markdown (≤ 65 536), JUnit, HTML, JSON."""

from __future__ import annotations

import json
import time
import xml.etree.ElementTree as ET
from pathlib import Path

import jsonschema
import pytest

from scanners.base import ScanOutcome
from scanners.formats import write_all
from scanners.formats.markdown import MARKER, MAX_CHARS
from tests.support.gate import evaluate_files as evaluate
from scanners.policy import load_policy
from tests.support.paths import FIXTURES
from tests.support.reports import findings_reports

ALL_REPORTS = findings_reports()


def big_trivy(path: Path, n: int, title: str | None = None) -> Path:
    """A Trivy report with ``n`` distinct vulnerabilities built from a real one."""
    src = json.loads((FIXTURES / "trivy" / "many-vulns-image.json").read_text())
    vulns = [v for r in src["Results"] for v in r.get("Vulnerabilities") or []]
    out = []
    for i in range(n):
        v = dict(vulns[i % len(vulns)])
        v["VulnerabilityID"] = f"CVE-2024-{i:05d}"
        if title is not None:
            v["Title"] = title
        out.append(v)
    doc = dict(src, Results=[{"Target": "app (alpine 3.19)", "Class": "os-pkgs", "Type": "alpine",
                              "Vulnerabilities": out}])
    path.write_text(json.dumps(doc))
    return path


@pytest.fixture(scope="module")
def all_fixtures_reports(tmp_path_factory):
    out = tmp_path_factory.mktemp("reports")
    v = evaluate(ALL_REPORTS, policy=load_policy(None),
                 outcomes=[ScanOutcome("sonarqube", "skipped", [], "SONAR_HOST_URL and SONAR_TOKEN not set")])
    return v, write_all(v, out)


def test_all_files_written(all_fixtures_reports):
    _, files = all_fixtures_reports
    assert set(files) == {"report.md", "report.sarif", "junit.xml", "report.html", "findings.json", "verdict.json"}


def test_sarif_valid_one_run_per_tool(all_fixtures_reports, sarif_schema):
    v, files = all_fixtures_reports
    doc = json.loads(files["report.sarif"].read_text())
    jsonschema.validate(doc, sarif_schema)
    names = [r["tool"]["driver"]["name"] for r in doc["runs"]]
    assert sorted(names) == sorted(set(names)) == ["dependency-check", "sonarqube", "trivy"]
    assert sum(len(r["results"]) for r in doc["runs"]) == len(v.findings)
    sonar = next(r for r in doc["runs"] if r["tool"]["driver"]["name"] == "sonarqube")
    assert sonar["invocations"][0]["toolExecutionNotifications"][0]["message"]["text"].startswith("skipped")


def test_markdown_verdict_first_and_counts(all_fixtures_reports):
    v, files = all_fixtures_reports
    md = files["report.md"].read_text()
    lines = md.splitlines()
    assert lines[0] == MARKER
    assert lines[1].startswith("## ❌ Security gate failed")
    assert "| trivy |" in md and "| dependency-check |" in md and "skipped" in md
    assert "Fixed in" in md and "<details>" in md


def test_junit_one_case_per_rule(all_fixtures_reports):
    v, files = all_fixtures_reports
    root = ET.parse(files["junit.xml"]).getroot()
    cases = root.findall(".//testcase")
    assert len(cases) == len(v.rules)
    assert int(root.get("failures")) == sum(r.status == "fail" for r in v.rules) > 0
    assert root.find(".//testcase/skipped") is not None


def test_html_self_contained(all_fixtures_reports):
    html = all_fixtures_reports[1]["report.html"].read_text()
    assert html.startswith("<!DOCTYPE html>")
    assert "<script" not in html and "<link" not in html and "src=" not in html


def test_findings_json_shape_is_baseline(all_fixtures_reports):
    v, files = all_fixtures_reports
    rows = json.loads(files["findings.json"].read_text())
    assert len(rows) == len(v.findings)
    assert all("fingerprint" in r and "new" in r for r in rows)


def test_10000_findings_fast_and_bounded(tmp_path, sarif_schema):
    report = big_trivy(tmp_path / "big.json", 10_000)
    v = evaluate([report], policy=load_policy(None))
    assert len(v.findings) == 10_000
    start = time.process_time()   # CPU time: the goal must not depend on other jobs on the agent
    files = write_all(v, tmp_path / "out")
    assert time.process_time() - start < 2.0
    md = files["report.md"].read_text()
    assert len(md) <= MAX_CHARS
    assert "Truncated" in md
    assert len(json.loads(files["findings.json"].read_text())) == 10_000
    assert len(ET.parse(files["junit.xml"]).getroot().findall(".//testcase")) == len(v.rules)


def test_hostile_text_is_escaped(tmp_path, sarif_schema):
    evil = "<script>alert(1)</script> | @octocat ]]> \x01\x07 [x](javascript:alert(1))"
    report = big_trivy(tmp_path / "evil.json", 3, title=evil)
    v = evaluate([report], policy=load_policy(None))
    files = write_all(v, tmp_path / "out")
    html = files["report.html"].read_text()
    assert "<script>" not in html
    md = files["report.md"].read_text()
    assert "<script>" not in md and "@octocat" not in md
    ET.parse(files["junit.xml"])      # control characters do not break the XML
    jsonschema.validate(json.loads(files["report.sarif"].read_text()), sarif_schema)


def test_markdown_never_exceeds_limit_with_long_errors(tmp_path):
    bad = []
    for i in range(300):
        p = tmp_path / (f"{i:03d}-" + "x" * 200 + ".json")
        p.write_text("{")
        bad.append(p)
    v = evaluate(bad, policy=load_policy(None))
    assert v.exit_code == 2
    md = write_all(v, tmp_path / "out")["report.md"].read_text()
    assert len(md) <= MAX_CHARS and "cannot evaluate" in md

"""Reports from one evaluation: SARIF (schema-valid), Markdown (≤ 65 536), JUnit, HTML, JSON."""

from __future__ import annotations

import json
import re
import time
import xml.etree.ElementTree as ET
from pathlib import Path

import jsonschema
import pytest

from scanners.base import ScanOutcome
from scanners.formats import write_all
from scanners.formats.markdown import MARKER, MAX_CHARS, cell
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
    assert "<link" not in html and "src=" not in html and "url(" not in html and "@import" not in html
    assert html.count("<script") == 1 and re.search(r"\son[a-z]+=", html) is None   # no inline event handlers
    assert "<svg" in html and 'id="fix-plan"' in html and 'id="findings-table"' in html


def test_verdict_json_has_whole_fix_plan(all_fixtures_reports):
    v, files = all_fixtures_reports
    doc = json.loads(files["verdict.json"].read_text())
    plan = doc["fix_plan"]
    assert plan and all(p["summary"] for p in plan)
    vulns = [e for e in v.findings if e.finding.kind == "vulnerability" and e.finding.package and e.allowed_by is None]
    assert sum(p["findings"] for p in plan) == len(vulns)
    removed = [p["blocking_fixed"] for p in plan]
    assert removed == sorted(removed, reverse=True)
    md = files["report.md"].read_text()
    top = next(p for p in plan if p["status"] == "upgrade")
    assert "### 🔧 Fix plan" in md and f"**{cell(top['package'], 60)}**" in md


def test_only_http_links_and_no_empty_links_section(all_fixtures_reports, tmp_path):
    v, _ = all_fixtures_reports
    saved = dict(v.links)
    try:
        v.links = {"evil": "javascript:alert(1)", "data": "data:text/html,x"}
        files = write_all(v, tmp_path)
        html, md = files["report.html"].read_text(), files["report.md"].read_text()
        assert "<h2>Links</h2>" not in html and "### Links" not in md
        assert "javascript:" not in html and "data:text" not in html and "javascript:" not in md
        v.links = {"Jenkins build": "https://jenkins.example.com/job/dev/job/web/7/"}
        html = write_all(v, tmp_path)["report.html"].read_text()
        assert '<h2>Links</h2><ul><li><a href="https://jenkins.example.com/job/dev/job/web/7/"' in html
    finally:
        v.links = saved


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
    assert md.index("### 🆕 Introduced by this PR (10000") < md.index("### 🔧 Fix plan") < md.index("<details>")
    assert len(json.loads(files["findings.json"].read_text())) == 10_000
    assert len(ET.parse(files["junit.xml"]).getroot().findall(".//testcase")) == len(v.rules)


def test_hostile_text_is_escaped(tmp_path, sarif_schema):
    evil = "<script>alert(1)</script> | @octocat fixes #123 ]]> \x01\x07 [x](javascript:alert(1)) `x"
    report = big_trivy(tmp_path / "evil.json", 3, title=evil)
    doc = json.loads(report.read_text())
    for vuln in doc["Results"][0]["Vulnerabilities"]:   # hostile package name and versions reach the fix plan
        vuln.update(PkgName="<img src=x>@octocat#42`", InstalledVersion="1.0", FixedVersion="2.0 @team")
    report.write_text(json.dumps(doc))
    v = evaluate([report], policy=load_policy(None))
    files = write_all(v, tmp_path / "out")
    html = files["report.html"].read_text()
    assert html.count("<script") == 1 and "&lt;script&gt;alert(1)" in html   # only our own script
    assert 'href="javascript' not in html
    md = files["report.md"].read_text()
    assert "<script>" not in md and "<img" not in md and "@octocat" not in md and "@team" not in md
    assert "#123" not in md and "#42" not in md and re.search(r"(?<!\\)\]\(javascript:", md) is None
    assert "### 🔧 Fix plan" in md and 'id="fix-plan"' in html and "&lt;img src=x&gt;" in html
    start = html.index("<svg", html.index('id="chart"'))   # the chart (the heading has a status mark)
    svg = html[start:html.index("</svg>", start) + 6]
    chart = ET.fromstring(svg)                                   # the chart is well-formed SVG …
    assert "octocat" not in svg and chart.find("{http://www.w3.org/2000/svg}title").text.startswith("Findings by severity")
    assert not re.search(r"\sstyle=", html)                     # … drawn without inline style attributes
    plan = json.loads(files["verdict.json"].read_text())["fix_plan"]
    assert plan[0]["package"] == "<img src=x>@octocat#42`"   # JSON keeps the data; the renderers escape it
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

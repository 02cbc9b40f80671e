"""SARIF of code-scanning tools: one finding per result, with its location and line (issue 20, item 2).

Real CodeQL, Semgrep and Snyk Code SARIF (DefectDojo's test files, see tests/fixtures/SOURCES.md).
Expected numbers are counted from the files themselves.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from scanners.formats import write_all
from scanners.policy import load_policy
from scanners.registry import parse_report
from tests.support.gate import evaluate_files
from tests.support.paths import FIXTURES

SARIF = FIXTURES / "sarif"
CODE_SCANNING = {"codeql": SARIF / "codeQL-output.sarif", "semgrep": SARIF / "semgrepowasp-benchmark-sample.sarif",
                 "snykcode": SARIF / "snykcode_issue_9270.json"}


def _results(path: Path) -> list[tuple[str, str, int | None]]:
    """(rule, uri, start line) of every unsuppressed result, in file order."""
    out = []
    for run in json.loads(path.read_text())["runs"]:
        for res in run["results"]:
            if res.get("suppressions"):
                continue
            phys = res["locations"][0]["physicalLocation"]
            out.append((res["ruleId"], phys["artifactLocation"]["uri"], (phys.get("region") or {}).get("startLine")))
    return out


@pytest.mark.parametrize("tool", CODE_SCANNING)
def test_one_finding_per_result_with_its_line(tool) -> None:
    path = CODE_SCANNING[tool]
    expected = _results(path)
    findings = parse_report(path).findings
    assert len(expected) > 30
    assert [(f.id, f.target, f.line) for f in findings] == expected
    assert {f.tool for f in findings} == {tool}
    assert len({f.fingerprint for f in findings}) == len(findings)
    assert len({(f.id, f.target) for f in findings}) < len(findings)   # several results per rule and file


@pytest.mark.parametrize("tool", CODE_SCANNING)
def test_max_total_counts_every_result(tool, tmp_path) -> None:
    n = len(_results(CODE_SCANNING[tool]))
    for limit, code in ((n - 1, 1), (n, 0)):
        policy = tmp_path / f"policy-{limit}.yaml"
        policy.write_text(f"version: 1\ndefaults:\n  fail_on: null\n  max: {{total: {limit}}}\n")
        verdict = evaluate_files([CODE_SCANNING[tool]], policy=load_policy(policy))
        assert verdict.exit_code == code, verdict.summary
        assert len(verdict.findings) == n


def test_every_report_names_the_line(tmp_path) -> None:
    path = CODE_SCANNING["codeql"]
    expected = _results(path)
    verdict = evaluate_files([path], policy=load_policy(None))
    files = write_all(verdict, tmp_path)
    sarif = json.loads(files["report.sarif"].read_text())
    written = [(r["ruleId"], r["locations"][0]["physicalLocation"]["artifactLocation"]["uri"],
                r["locations"][0]["physicalLocation"]["region"]["startLine"])
               for run in sarif["runs"] for r in run["results"]]
    assert sorted(written) == sorted(expected)
    rows = json.loads(files["findings.json"].read_text())
    assert sorted((r["id"], r["target"], r["line"]) for r in rows) == sorted(expected)
    html = files["report.html"].read_text()
    md = files["report.md"].read_text()
    for _rule, uri, line in expected[:10]:
        assert f"{uri}:{line}" in html
    shown = [e.finding for e in verdict.findings if e.new][:5]
    assert any(f"{f.target}:{f.line}" in md for f in shown)


def test_blocking_details_name_the_line(tmp_path) -> None:
    path = CODE_SCANNING["snykcode"]
    verdict = evaluate_files([path], policy=load_policy(None))
    details = [d for r in verdict.rules if r.name == "severity threshold" for d in r.details]
    assert details
    blocking = verdict.blocking[0].finding
    assert f"{blocking.severity} {blocking.id} {blocking.target}:{blocking.line}" in details


def test_gantry_sarif_reads_back_with_the_same_fingerprints(tmp_path) -> None:
    for tool, path in CODE_SCANNING.items():
        verdict = evaluate_files([path], policy=load_policy(None))
        written = write_all(verdict, tmp_path / tool)["report.sarif"]
        again = parse_report(written).findings
        assert sorted(f.fingerprint for f in again) == sorted(e.finding.fingerprint for e in verdict.findings)
        assert sorted((f.target, f.line) for f in again) == sorted((e.finding.target, e.finding.line)
                                                                   for e in verdict.findings)


def test_fingerprints_of_the_tool_survive_moved_lines(tmp_path) -> None:
    """CodeQL's partialFingerprints are what identify a result: moving the code keeps the finding."""
    doc = json.loads(CODE_SCANNING["codeql"].read_text())
    for res in doc["runs"][0]["results"]:
        res["locations"][0]["physicalLocation"]["region"]["startLine"] += 7
    moved = tmp_path / "moved.sarif"
    moved.write_text(json.dumps(doc))
    before = parse_report(CODE_SCANNING["codeql"]).findings
    after = parse_report(moved).findings
    assert [f.fingerprint for f in after] == [f.fingerprint for f in before]
    assert [f.line for f in after] == [f.line + 7 for f in before]


def test_dependency_check_sarif_is_one_finding_per_dependency_and_vulnerability() -> None:
    """Its partialFingerprints hash only the vulnerability name: the dependency tells results apart."""
    path = SARIF / "dependency_check.sarif"
    expected = {(rule, uri) for rule, uri, _line in _results(path)}
    findings = parse_report(path).findings
    assert len(findings) == len(expected) == 13
    assert len({f.fingerprint for f in findings}) == 13

"""`gantry gate`: 0 pass, 1 failed, 2 cannot evaluate — on real fixtures and broken copies."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest

from scanners.base import ScanOutcome
from tests.support.gate import evaluate_files as evaluate
from scanners.policy import load_policy


def policy(tmp_path: Path, text: str) -> Path:
    p = tmp_path / "policy.yaml"
    p.write_text(text)
    return p


@pytest.fixture()
def trivy_fx(shared_fixtures):
    return shared_fixtures / "trivy"


def test_pass_on_clean_report(gantry, trivy_fx):
    r = gantry("gate", trivy_fx / "cargo-lock-no-vulns.json")
    assert r.code == 0, r.out + r.err
    assert r.out.startswith("gate passed")


def test_fail_on_high_with_default_policy(gantry, trivy_fx):
    r = gantry("gate", trivy_fx / "pip-fs.json")
    assert r.code == 1
    assert "1 blocking finding(s) (1 HIGH)" in r.out


def test_threshold_per_tool_and_environment(gantry, tmp_path, trivy_fx, shared_fixtures):
    p = policy(tmp_path, """
defaults: {fail_on: CRITICAL, analysis_errors: warn}
tools: {dependency-check: {fail_on: null}}
environments:
  dev: {}
  prod: {fail_on: MEDIUM, tools: {dependency-check: {fail_on: HIGH}}}
""")
    # one HIGH; its OssIndexAnalyzer exception only warns here (this test is about thresholds)
    dc = shared_fixtures / "dependency-check" / "with-exceptions.json"
    pip = trivy_fx / "pip-fs.json"                                        # HIGH + MEDIUM
    assert gantry("gate", pip, dc, "--policy", p, "--env", "dev").code == 0
    r = gantry("gate", pip, dc, "--policy", p, "--env", "prod", "--format", "json")
    assert r.code == 1
    rules = {(x["tool"], x["name"]): x["status"] for x in r.json()["rules"]}
    assert rules[("trivy", "severity threshold")] == "fail"
    assert rules[("dependency-check", "severity threshold")] == "fail"
    with pytest.raises(SystemExit) as info:   # unknown environment: a usage error of the shared --env option
        gantry("gate", pip, "--policy", p, "--env", "staging")
    assert info.value.code == 2


def test_max_counts(gantry, tmp_path, shared_fixtures):
    path = shared_fixtures / "dependency-check" / "multi-module-maven.json"   # 14 MEDIUM, 40 total
    ok = policy(tmp_path, "defaults: {fail_on: null, max: {MEDIUM: 14, total: 40}}\n")
    assert gantry("gate", path, "--policy", ok).code == 0
    tight = policy(tmp_path, "defaults: {fail_on: null, max: {medium: 13}}\n")
    r = gantry("gate", path, "--policy", tight)
    assert r.code == 1 and "MEDIUM: 14 > 13" in r.out


def test_allowlist_and_expired_entry(gantry, tmp_path, trivy_fx):
    future = (dt.date.today() + dt.timedelta(days=30)).isoformat()
    past = (dt.date.today() - dt.timedelta(days=1)).isoformat()
    pip = trivy_fx / "pip-fs.json"   # one HIGH, one MEDIUM
    raw = json.loads(pip.read_text())
    high = next(v["VulnerabilityID"] for r in raw["Results"] for v in r.get("Vulnerabilities") or []
                if v["Severity"] == "HIGH")
    good = policy(tmp_path, f"""allowlist:
  - {{id: {high}, reason: not reachable, owner: team-a, expires: {future}}}
""")
    assert gantry("gate", pip, "--policy", good).code == 0
    expired = policy(tmp_path, f"""allowlist:
  - {{id: {high}, reason: not reachable, owner: team-a, expires: {past}}}
""")
    out = tmp_path / "rep"
    r = gantry("gate", pip, "--policy", expired, "--report-dir", out)
    assert r.code == 1
    verdict = json.loads((out / "verdict.json").read_text())
    assert verdict["expired_allowlist"][0]["id"] == high
    assert "expired" in (out / "report.md").read_text()


def test_allowlist_by_fingerprint(gantry, tmp_path, trivy_fx):
    pip = trivy_fx / "pip-fs.json"
    rows = gantry("findings", pip, "--format", "json").json()
    high = next(x for x in rows if x["severity"] == "HIGH")
    p = policy(tmp_path, f"""allowlist:
  - fingerprint: {high['fingerprint']}
    reason: accepted risk
    owner: sec
    expires: 2999-01-01
""")
    assert gantry("gate", pip, "--policy", p).code == 0


def test_only_new_against_baseline(gantry, tmp_path, trivy_fx):
    p = policy(tmp_path, "defaults: {fail_on: MEDIUM, only_new: true}\n")
    old = tmp_path / "old"
    # the previous run: the same report → its findings.json is the baseline
    assert gantry("gate", trivy_fx / "pip-fs.json", "--policy", p, "--report-dir", old).code == 1
    baseline = old / "findings.json"
    assert gantry("gate", trivy_fx / "pip-fs.json", "--policy", p, "--baseline", baseline).code == 0
    # a new vulnerability appears: only it counts
    doc = json.loads((trivy_fx / "pip-fs.json").read_text())
    extra = dict(doc["Results"][0]["Vulnerabilities"][0], VulnerabilityID="CVE-2099-0001", Severity="MEDIUM")
    doc["Results"][0]["Vulnerabilities"].append(extra)
    newer = tmp_path / "newer.json"
    newer.write_text(json.dumps(doc))
    r = gantry("gate", newer, "--policy", p, "--baseline", baseline, "--format", "json")
    assert r.code == 1
    assert r.json()["counts"]["new"] == 1
    # without only_new the existing ones count again
    p2 = policy(tmp_path, "defaults: {fail_on: MEDIUM}\n")
    assert gantry("gate", trivy_fx / "pip-fs.json", "--policy", p2, "--baseline", baseline).code == 1


def test_sonarqube_quality_gate_rule(tmp_path, gantry):
    report = tmp_path / "sonarqube.json"
    report.write_text(json.dumps({"gantryReport": "sonarqube/1", "serverUrl": "http://sq", "projectKey": "k",
                                  "qualityGate": {"status": "ERROR", "conditions": [
                                      {"status": "ERROR", "metricKey": "new_coverage", "comparator": "LT",
                                       "errorThreshold": "85", "actualValue": "82.5"}]},
                                  "issues": [], "hotspots": []}))
    r = gantry("gate", report)
    assert r.code == 1 and "quality gate" in r.out
    p = policy(tmp_path, "defaults: {quality_gate: false}\n")
    assert gantry("gate", report, "--policy", p).code == 0


BROKEN = {
    "empty": b"",
    "whitespace": b"  \n\n",
    "truncated": None,               # first half of a real report
    "garbage": bytes(range(256)) * 10,
    "not-json": b"{this is not json",
    "unknown-json": b'{"hello": "world"}',
    "wrong-types": b'{"SchemaVersion": 2, "Results": [{"Target": "x", "Vulnerabilities": "oops"}]}',
    "wrong-item": b'{"SchemaVersion": 2, "Results": [{"Target": "x", "Vulnerabilities": [42]}]}',
    "no-vuln-id": b'{"SchemaVersion": 2, "Results": [{"Target": "x", "Vulnerabilities": [{"Severity": "LOW"}]}]}',
    "schema-1": b'{"SchemaVersion": 1, "ArtifactName": "x", "Results": []}',
    "results-object": b'{"SchemaVersion": 2, "ArtifactName": "x", "Results": {"a": 1}}',
    "trailing-garbage": b'{"SchemaVersion": 2, "ArtifactName": "x", "Results": []} xx',
    "latin1": b'{"SchemaVersion": 2, "ArtifactName": "\xe9\xe9", "Results": []}',
    "deep": b'{"SchemaVersion": 2, "Results": [{"Target": "x", "Vulnerabilities": [' + b"[" * 100000 + b"]]}]}",
    "xml-truncated": b'<?xml version="1.0"?><analysis xmlns="https://jeremylong.github.io/DependencyCheck/x.xsd"><dependencies><dependency>',
    "xml-entities": b'<?xml version="1.0"?><!DOCTYPE a [<!ENTITY x "y">]><analysis xmlns="https://jeremylong.github.io/DependencyCheck/x.xsd">&x;</analysis>',
    "sarif-no-runs": b'{"version": "2.1.0", "runs": 5}',
    "dc-wrong": b'{"reportSchema": "1.1", "dependencies": [{"vulnerabilities": [{"name": 5, "severity": []}]}], "scanInfo": {}}',
    "sonar-bad": b'{"issues": [{"key": 1}], "paging": {}}',
    "sonar-report-no-gate": b'{"gantryReport": "sonarqube/1", "issues": [], "hotspots": []}',
    "sonar-report-bad-issues": b'{"gantryReport": "sonarqube/1", "issues": 5, "hotspots": [], "qualityGate": {"status": "OK"}}',
    "sarif-result-bad": b'{"version": "2.1.0", "runs": [{"tool": {"driver": {"name": "Trivy"}}, "results": [5]}]}',
    "sarif-no-rule": b'{"version": "2.1.0", "runs": [{"tool": {"driver": {"name": "Trivy"}}, "results": [{}]}]}',
    "cdx-bad": b'{"bomFormat": "CycloneDX", "specVersion": "1.5", "vulnerabilities": {"a": 1}}',
    "null": b"null",
    "bom-utf16": "\ufeff{}".encode("utf-16"),
    "trivy-misconf-bad": b'{"SchemaVersion": 2, "Results": [{"Target": "D", "Misconfigurations": [{"Status": "FAIL"}]}]}',
    "trivy-target-type": b'{"SchemaVersion": 2, "Results": [{"Target": 5, "Secrets": []}]}',
}


@pytest.mark.parametrize("name", sorted(BROKEN))
def test_broken_input_never_passes(name, tmp_path, gantry, trivy_fx):
    data = BROKEN[name]
    if data is None:
        raw = (trivy_fx / "alpine-3.9-image.json").read_bytes()
        data = raw[: len(raw) // 2]
    path = tmp_path / f"{name}.json"
    path.write_bytes(data)
    r = gantry("gate", path, "--report-dir", tmp_path / "out")
    assert r.code == 2, (name, r.out, r.err)
    assert "Traceback" not in r.err
    line = r.err.strip().splitlines()[0]
    assert line.startswith(f"gantry: {path}: "), line
    assert (tmp_path / "out" / "report.md").read_text().count("cannot evaluate") >= 1
    f = gantry("findings", path)
    assert f.code == 2 and f.err.startswith(f"gantry: {path}: ") and "Traceback" not in f.err


def test_truncated_is_named_truncated(tmp_path, gantry, trivy_fx):
    raw = (trivy_fx / "many-vulns-image.json").read_text()
    path = tmp_path / "cut.json"
    path.write_text(raw[:5000])
    r = gantry("findings", path)
    assert r.code == 2 and "truncated" in r.err


def test_huge_strings_are_clipped(tmp_path, gantry):
    doc = {"SchemaVersion": 2, "ArtifactName": "x", "Results": [{"Target": "t", "Vulnerabilities": [
        {"VulnerabilityID": "CVE-1", "PkgName": "p", "InstalledVersion": "1", "Severity": "LOW",
         "Title": "A" * 5_000_000}]}]}
    path = tmp_path / "huge.json"
    path.write_text(json.dumps(doc))
    rows = gantry("findings", path, "--format", "json").json()
    assert len(rows[0]["title"]) <= 500


def test_missing_report_and_directory(tmp_path, gantry):
    r = gantry("gate", tmp_path / "nope.json")
    assert r.code == 2 and r.err.startswith(f"gantry: {tmp_path / 'nope.json'}: no such file")
    assert gantry("gate", tmp_path).code == 2
    assert gantry("gate").code == 2


@pytest.mark.parametrize("text,needle", [
    ("defaults: {fail_on: SEVERE}\n", "fail_on"),
    ("defaults: {max: {HIGH: -1}}\n", "max"),
    ("bogus: 1\n", "unknown key"),
    ("allowlist: [{id: CVE-1, reason: r, owner: o}]\n", "expires"),
    ("allowlist: [{id: CVE-1, owner: o, expires: 2030-01-01}]\n", "reason"),
    ("allowlist: [{reason: r, owner: o, expires: 2030-01-01}]\n", "id"),
    ("allowlist: [{id: CVE-1, reason: r, owner: o, expires: soon}]\n", "date"),
    ("defaults: {fail_on: HIGH}\ndefaults: {}\n", "duplicate"),
    ("[1, 2", "invalid YAML"),
    ("version: 7\n", "version"),
])
def test_bad_policy_is_exit_2(text, needle, tmp_path, gantry, trivy_fx):
    r = gantry("gate", trivy_fx / "cargo-lock-no-vulns.json", "--policy", policy(tmp_path, text))
    assert r.code == 2 and needle in r.err and "Traceback" not in r.err


def test_outcomes_error_and_skip(tmp_path, gantry, trivy_fx):
    out = tmp_path / "scans"
    out.mkdir()
    ScanOutcome("trivy", "ok", [trivy_fx / "cargo-lock-no-vulns.json"]).write(out)
    ScanOutcome("sonarqube", "skipped", [], "SONAR_HOST_URL and SONAR_TOKEN not set").write(out)
    r = gantry("gate", "--outcomes", out, "--report-dir", tmp_path / "rep")
    assert r.code == 0, r.err
    md = (tmp_path / "rep" / "report.md").read_text()
    assert "skipped" in md and "sonarqube" in md
    junit = (tmp_path / "rep" / "junit.xml").read_text()
    assert "<skipped" in junit
    # required + skipped → cannot evaluate
    p = policy(tmp_path, "required: [sonarqube]\n")
    assert gantry("gate", "--outcomes", out, "--policy", p).code == 2
    # a crashed scanner → cannot evaluate
    ScanOutcome("dependency-check", "error", [], "dependency-check timed out after 600s").write(out)
    r = gantry("gate", "--outcomes", out)
    assert r.code == 2 and "timed out" in r.err
    (out / "bad.outcome.json").write_text("{nope")
    assert gantry("gate", "--outcomes", out).code == 2


def test_all_skipped_is_not_a_pass(tmp_path):
    v = evaluate([], policy=load_policy(None), outcomes=[ScanOutcome("sonarqube", "skipped", [], "not set")])
    assert v.exit_code == 2


def test_bad_baseline(tmp_path, gantry, trivy_fx):
    b = tmp_path / "b.json"
    for data in ("", "{", '{"a": 1}', "[1]", '[{"fingerprint": 3}]'):
        b.write_text(data)
        assert gantry("gate", trivy_fx / "pip-fs.json", "--baseline", b).code == 2, data


def test_input_format_given_and_wrong(gantry, trivy_fx):
    assert gantry("findings", trivy_fx / "pip-fs.json", "--input-format", "trivy-json").code == 0
    r = gantry("findings", trivy_fx / "pip-fs.json", "--input-format", "dependency-check-xml")
    assert r.code == 2 and r.err.startswith(f"gantry: {trivy_fx / 'pip-fs.json'}: ")
    r = gantry("gate", trivy_fx / "pip-fs.json", "--input-format", "nope")
    assert r.code == 2 and "unknown format" in r.err


def test_unwritable_report_dir(gantry, trivy_fx, tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    r = gantry("gate", trivy_fx / "pip-fs.json", "--report-dir", blocker / "sub")
    assert r.code == 2 and r.err.startswith(f"gantry: {blocker / 'sub'}") and "cannot write" in r.err
    assert r.err.count("\n") == 1
    r = gantry("scan", "trivy", "--src", tmp_path, "--out", blocker / "sub")
    assert r.code == 2 and "cannot create" in r.err
    r = gantry("scan", "trivy", "--src", tmp_path / "missing", "--out", tmp_path / "o")
    assert r.code == 2 and "not a directory" in r.err


def test_same_jar_in_two_modules_stays_two_findings(tmp_path, gantry, shared_fixtures):
    """One finding per (dependency file path, vulnerability): equal file names do not merge."""
    doc = json.loads((shared_fixtures / "dependency-check" / "with-exceptions.json").read_text())
    dep = next(d for d in doc["dependencies"] if d.get("vulnerabilities"))
    twin = json.loads(json.dumps(dep))
    twin["filePath"] = "/other/module/" + dep["fileName"]
    doc["dependencies"].append(twin)
    path = tmp_path / "twins.json"
    path.write_text(json.dumps(doc))
    rows = gantry("findings", path, "--format", "json").json()
    assert len(rows) == 2 and len({r["fingerprint"] for r in rows}) == 2
    r = gantry("gate", path, "--format", "json")
    assert r.json()["counts"]["total"] == 2


@pytest.mark.parametrize("service", ["../../evil", "Order-API", "a b", ""])
def test_service_must_be_a_catalog_service_name(gantry, trivy_fx, tmp_path, service):
    """It becomes report.sarif's automation id gantry/<service>/<env>/: no path, no spaces."""
    r = gantry("gate", trivy_fx / "cargo-lock-no-vulns.json", "--service", service, "--report-dir", tmp_path / "r")
    assert r.code == 2 and r.err == f"gantry: gate: --service: {service!r} is not a catalog service name " \
                                    "(lower-case letters, digits and '-')\n"
    assert not (tmp_path / "r").exists()

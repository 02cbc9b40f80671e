"""`gantry findings` on every real fixture: counts computed independently from the raw files."""

from __future__ import annotations

import hashlib
import json
import re
import xml.etree.ElementTree as ET
from collections import Counter
from pathlib import Path

import pytest
from tests.support.paths import FIXTURES
from tests.support.reports import api_status_files, findings_reports, scanner_files

SCANNER_FILES = scanner_files()
REPORTS = findings_reports()
API_STATUS = api_status_files()


def _trivy_json(doc: dict, licenses: bool) -> Counter:
    keys, n = set(), 0
    for r in doc.get("Results") or []:
        t = r.get("Target")
        for v in r.get("Vulnerabilities") or []:
            # one finding per package location: copies of a package at two paths are two findings
            # (Trivy's SARIF writes them apart too)
            keys.add(("v", v["VulnerabilityID"], v.get("PkgName"), v.get("InstalledVersion"), v.get("PkgPath") or t))
        n += sum(1 for m in r.get("Misconfigurations") or [] if m.get("Status", "FAIL") == "FAIL")
        n += len(r.get("Secrets") or [])
        if licenses:
            for lic in r.get("Licenses") or []:
                keys.add(("l", lic["Name"], lic.get("PkgName") or None, lic.get("FilePath") or None, t))
    return len(keys) + n


def _sarif(doc: dict) -> int:
    keys, n = set(), 0
    for run in doc["runs"]:
        if not run["tool"]["driver"]["name"].lower().startswith("trivy"):
            n += len(run["results"])     # other tools: one finding per result
            continue
        for res in run["results"]:
            text = res["message"]["text"]
            pkg = re.search(r"^Package: (.*)$", text, re.M)
            inst = re.search(r"^Installed Version: (.*)$", text, re.M)
            uri = res["locations"][0]["physicalLocation"]["artifactLocation"]["uri"]
            keys.add((res["ruleId"], pkg and pkg.group(1), inst and inst.group(1), uri))
    return len(keys) + n


def _dc_json(doc: dict) -> int:
    return len({(d.get("filePath"), v.get("name")) for d in doc["dependencies"] for v in d.get("vulnerabilities") or []})


def _dc_xml(path: Path) -> int:
    root = ET.parse(path).getroot()
    ns = {"dc": root.tag[1:].split("}")[0]}
    keys = set()
    for dep in root.findall("dc:dependencies/dc:dependency", ns):
        fp = (dep.findtext("dc:filePath", namespaces=ns) or "").strip()
        for v in dep.findall("dc:vulnerabilities/dc:vulnerability", ns):
            name = (v.findtext("dc:name", namespaces=ns) or "").strip()
            desc = (v.findtext("dc:description", namespaces=ns) or "").strip()
            keys.add((fp, name or hashlib.sha256(desc.encode()).hexdigest()))
    return len(keys)


def _dc_xml_suppressed(path: Path) -> int:
    return len([e for e in ET.parse(path).getroot().iter() if e.tag.endswith("}suppressedVulnerability")])


def _sonar(doc: dict) -> int:
    issues = {i["key"] for i in doc.get("issues", []) if i.get("type") == "VULNERABILITY" and not i.get("resolution")}
    hotspots = [h for h in doc.get("hotspots", []) if h.get("status") == "TO_REVIEW"]
    return len(issues) + len(hotspots)


def expected(path: Path, licenses: bool = False) -> int:
    if path.suffix == ".xml":
        return _dc_xml(path)
    doc = json.loads(path.read_text())
    if path.suffix == ".sarif":
        return _sarif(doc)
    if "bomFormat" in doc:
        return len(doc.get("vulnerabilities") or [])
    if "SchemaVersion" in doc:
        return _trivy_json(doc, licenses)
    if "reportSchema" in doc:
        return _dc_json(doc)
    return _sonar(doc)


def test_every_fixture_is_a_report_or_a_recognised_api_response():
    assert REPORTS and API_STATUS
    assert set(REPORTS) | set(API_STATUS) == set(SCANNER_FILES)


@pytest.mark.parametrize("path", API_STATUS, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_api_status_is_not_counted_as_a_report(gantry, path):
    r = gantry("findings", path, "--format", "json")
    assert r.code == 2
    assert r.err.strip().endswith("not a findings report") and str(path) in r.err


@pytest.mark.parametrize("path", REPORTS, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_findings_json_counts(gantry, path):
    r = gantry("findings", path, "--format", "json")
    assert r.code == 0, r.err
    rows = r.json()
    assert len(rows) == expected(path)
    for row in rows:
        assert {"tool", "id", "severity", "title", "package", "installed_version", "fixed_version", "target",
                "line", "fingerprint"} <= set(row)
        assert row["severity"] in ("CRITICAL", "HIGH", "MEDIUM", "LOW", "INFO", "UNKNOWN")
    assert len({(x["tool"], x["fingerprint"]) for x in rows}) == len(rows)


@pytest.mark.parametrize("name", ["licenses.json", "misconfig-and-secrets.json"])
def test_licenses_only_on_request(gantry, name):
    path = FIXTURES / "trivy" / name
    with_lic = gantry("findings", path, "--format", "json", "--licenses").json()
    assert len(with_lic) == expected(path, licenses=True)
    raw = json.loads(path.read_text())
    n_lic = sum(len(r.get("Licenses") or []) for r in raw["Results"])
    assert sum(1 for x in with_lic if x["kind"] == "license") == (n_lic if name == "licenses.json" else 0)


def test_exact_numbers_for_known_fixtures(gantry):
    """Spot-check absolute numbers (read by eye from the fixtures) on top of the computed ones."""
    counts = {p.name: len(gantry("findings", p, "--format", "json").json()) for p in REPORTS}
    assert counts["alpine-3.9-image.json"] == 6
    assert counts["misconfig-and-secrets.json"] == 5        # 2 vulns + 1 failed misconfig + 2 secrets
    assert counts["multi-module-maven.json"] == 40
    assert counts["api-hotspots-search.json"] == 4
    assert counts["api-issues-search.json"] == 2            # 3 VULNERABILITY issues, two share one key
    assert counts["licenses.json"] == 0


def test_trivy_severity_and_fields(gantry):
    rows = gantry("findings", FIXTURES / "trivy" / "pip-fs.json", "--format", "json").json()
    raw = json.loads((FIXTURES / "trivy" / "pip-fs.json").read_text())
    want = {(v["VulnerabilityID"], v["Severity"], v["PkgName"], v["InstalledVersion"], v.get("FixedVersion"))
            for r in raw["Results"] for v in r.get("Vulnerabilities") or []}
    got = {(x["id"], x["severity"], x["package"], x["installed_version"], x["fixed_version"]) for x in rows}
    assert got == want
    assert all(x["tool"] == "trivy" and x["target"] == "requirements.txt" and x["line"] is None for x in rows)


def test_dependency_check_suppressed_are_apart(shared_fixtures):
    from scanners.registry import parse_report

    path = shared_fixtures / "dependency-check" / "multiple-vulns.xml"
    rep = parse_report(path)
    assert len(rep.suppressed) == _dc_xml_suppressed(path) == 2
    sup_ids = {s.finding.id for s in rep.suppressed}
    assert not sup_ids & {f.id for f in rep.findings if f.id.startswith("CVE")}
    assert all(s.finding.severity in ("HIGH", "CRITICAL") for s in rep.suppressed)


def test_dependency_check_severity_mapping(gantry, shared_fixtures):
    single = gantry("findings", shared_fixtures / "dependency-check" / "single-vuln.xml", "--format", "json").json()
    assert [(x["id"], x["severity"]) for x in single] == [("CVE-0000-0001", "MEDIUM")]   # "Moderate"
    raw = json.loads((shared_fixtures / "dependency-check" / "multi-module-maven.json").read_text())
    want = Counter(v["severity"].upper() for d in raw["dependencies"] for v in d.get("vulnerabilities") or [])
    rows = gantry("findings", shared_fixtures / "dependency-check" / "multi-module-maven.json", "--format", "json").json()
    assert Counter(x["severity"] for x in rows) == want


def test_sonarqube_severity_mapping(gantry, shared_fixtures):
    rows = gantry("findings", shared_fixtures / "sonarqube" / "api-issues-search.json", "--format", "json").json()
    assert {x["severity"] for x in rows} == {"MEDIUM"}    # MAJOR → MEDIUM (first of a duplicated key wins)
    hs = gantry("findings", shared_fixtures / "sonarqube" / "api-hotspots-search.json", "--format", "json").json()
    raw = json.loads((shared_fixtures / "sonarqube" / "api-hotspots-search.json").read_text())
    assert Counter(x["severity"] for x in hs) == Counter(h["vulnerabilityProbability"] for h in raw["hotspots"])
    assert {x["line"] for x in hs} == {h["line"] for h in raw["hotspots"]}


def test_table_format_and_multiple_reports(gantry, shared_fixtures):
    paths = [shared_fixtures / "trivy" / "pip-fs.json", shared_fixtures / "dependency-check" / "with-exceptions.json"]
    r = gantry("findings", *paths)
    assert r.code == 0
    assert r.out.strip().splitlines()[-1] == "3 findings (dependency-check: 1, trivy: 2)"
    assert r.out.splitlines()[0].split()[:3] == ["SEVERITY", "TOOL", "ID"]


def test_fingerprint_stable_when_lines_move(tmp_path, shared_fixtures, gantry):
    src = shared_fixtures / "trivy" / "secrets-fs.json"
    doc = json.loads(src.read_text())
    for s in doc["Results"][0]["Secrets"]:
        s["StartLine"] += 10
        s["EndLine"] += 10
    moved = tmp_path / "moved.json"
    moved.write_text(json.dumps(doc))
    a = gantry("findings", src, "--format", "json").json()
    b = gantry("findings", moved, "--format", "json").json()
    assert [x["fingerprint"] for x in a] == [x["fingerprint"] for x in b]
    assert [x["line"] for x in a] != [x["line"] for x in b]

"""What a tool's own report says about its run (issue 20, items 3-5).

3. a SARIF run whose invocation failed, or that carries an error notification, is no pass (exit 2);
   Dependency-Check ``analysisExceptions`` are weighed by the policy's ``analysis_errors``;
4. Dependency-Check's SARIF gives the same severities as its JSON of the same run;
5. SonarQube component keys lose exactly the project key (which may contain ``:``).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from scanners import sonarqube
from scanners.registry import parse_report
from tests.support.paths import FIXTURES

TRIVY_SARIF = FIXTURES / "trivy" / "alpine-3.10-image.sarif"
DC = FIXTURES / "dependency-check"


def write(tmp_path: Path, name: str, doc: object) -> Path:
    path = tmp_path / name
    path.write_text(json.dumps(doc))
    return path


# ---------------------------------------------------------------------------------------------
# 3. a tool run that says it failed
# ---------------------------------------------------------------------------------------------

def test_sarif_run_with_failed_invocation_cannot_be_evaluated(gantry, tmp_path):
    doc = json.loads(TRIVY_SARIF.read_text())
    assert gantry("gate", write(tmp_path, "ok.sarif", doc), "--policy", _policy(tmp_path, "defaults: {fail_on: null}")).code == 0
    doc["runs"][0]["invocations"] = [{"executionSuccessful": False, "exitCode": 1,
                                      "exitCodeDescription": "fatal: DB download failed"}]
    path = write(tmp_path, "failed.sarif", doc)
    r = gantry("gate", path, "--policy", _policy(tmp_path, "defaults: {fail_on: null}"), "--format", "json")
    assert r.code == 2
    errors = r.json()["errors"]
    assert any("runs[0] (Trivy): the tool reports a failed run (invocations[0].executionSuccessful is false, "
               "exit code 1 (fatal: DB download failed))" in e for e in errors), errors
    # the findings it did write are still read and reported
    assert r.json()["counts"]["total"] == len(doc["runs"][0]["results"])


def codeql_run(notifications: list[dict], *, successful: bool = True) -> dict:
    """A CodeQL-shaped run: results written, but the invocation records what went wrong."""
    return {"tool": {"driver": {"name": "CodeQL", "semanticVersion": "2.19.3", "rules": [
        {"id": "js/sql-injection", "shortDescription": {"text": "Database query built from user-controlled sources"},
         "properties": {"tags": ["security", "external/cwe/cwe-089"], "security-severity": "8.8"}}]}},
        "invocations": [{"executionSuccessful": successful, "toolExecutionNotifications": notifications}],
        "results": [{"ruleId": "js/sql-injection", "ruleIndex": 0, "level": "error",
                     "message": {"text": "This query string depends on a user-provided value."},
                     "locations": [{"physicalLocation": {"artifactLocation": {"uri": "src/db.js"},
                                                         "region": {"startLine": 12}}}]}]}


def test_codeql_fatal_query_error_notification_cannot_be_evaluated(gantry, tmp_path):
    warning = {"level": "warning", "descriptor": {"id": "js/diagnostics/extraction-errors"},
               "message": {"text": "Extraction failed in src/legacy.js"}}
    fatal = {"level": "error", "descriptor": {"id": "cli/query-evaluation"},
             "message": {"text": "A fatal error occurred: Evaluation of js/sql-injection ran out of memory"}}
    ok = write(tmp_path, "codeql-ok.sarif", {"version": "2.1.0", "runs": [codeql_run([warning])]})
    r = gantry("gate", ok, "--format", "json")
    assert r.code == 1 and not r.json()["errors"]    # a warning is no failed run: the HIGH result blocks
    bad = write(tmp_path, "codeql.sarif", {"version": "2.1.0", "runs": [codeql_run([warning, fatal])]})
    r = gantry("gate", bad, "--format", "json")
    assert r.code == 2
    assert any("runs[0] (CodeQL): the tool reports an execution error (invocations[0].toolExecutionNotifications[1] "
               "cli/query-evaluation): A fatal error occurred: Evaluation of js/sql-injection ran out of memory" in e
               for e in r.json()["errors"])
    html = (tmp_path / "rd").joinpath("report.html")
    gantry("gate", bad, "--report-dir", tmp_path / "rd")
    assert "ran out of memory" in html.read_text()


def _policy(tmp_path: Path, text: str) -> Path:
    p = tmp_path / "policy.yaml"
    p.write_text(text + "\n")
    return p


@pytest.mark.parametrize("env, code", [("dev", 1), ("prod", 2), ("event", 2)])
def test_dependency_check_analysis_exceptions_default_policy(gantry, tmp_path, env, code):
    """with-exceptions.json (real): the OSS Index analyzer timed out; one HIGH finding."""
    path = DC / "with-exceptions.json"
    r = gantry("gate", path, "--env", env, "--format", "json", "--report-dir", tmp_path / env)
    rule = next(x for x in r.json()["rules"] if x["name"] == "analysis complete")
    named = "OssIndexAnalyzer: AnalysisException: Failed to request component-reports " \
            "(caused by SocketTimeoutException: connect timed out)"
    assert named in rule["message"]
    if env == "dev":
        assert rule["status"] == "pass" and rule["message"].startswith("warning:")
        assert "analysis errors (warn): dependency-check" in r.json()["summary"]
    else:
        assert rule["status"] == "error" and any(named in e for e in r.json()["errors"])
    assert r.code == code
    for name in ("report.md", "report.html"):
        assert "OssIndexAnalyzer" in (tmp_path / env / name).read_text(), name


def test_dependency_check_analysis_errors_policy_decides(gantry, tmp_path):
    path = DC / "with-exceptions.json"
    warn = _policy(tmp_path, "defaults: {fail_on: null}\nenvironments: {prod: {analysis_errors: warn}}")
    assert gantry("gate", path, "--env", "prod", "--policy", warn).code == 0
    fail = _policy(tmp_path, "defaults: {fail_on: null, analysis_errors: fail}")
    assert gantry("gate", path, "--env", "dev", "--policy", fail).code == 2
    per_tool = _policy(tmp_path, "defaults: {fail_on: null}\ntools: {dependency-check: {analysis_errors: warn}}")
    assert gantry("gate", path, "--env", "prod", "--policy", per_tool).code == 0
    unset = _policy(tmp_path, "defaults: {fail_on: null}")          # unset: fail outside dev
    assert gantry("gate", path, "--env", "prod", "--policy", unset).code == 2
    assert gantry("gate", path, "--env", "dev", "--policy", unset).code == 0
    bad = _policy(tmp_path, "defaults: {analysis_errors: maybe}")
    r = gantry("gate", path, "--policy", bad)
    assert r.code == 2 and "analysis_errors: must be fail or warn, not 'maybe'" in r.err


def test_dependency_check_xml_analysis_exceptions(tmp_path):
    """The XML report carries them as xmlReport.vsl writes them: message, stackTrace/trace, cause."""
    text = (DC / "single-vuln.xml").read_text()
    exc = ("<analysisExceptions><exception><message>org.owasp.dependencycheck.analyzer.exception.AnalysisException: "
           "Failed to read results from the NPM Audit API (NodeAuditAnalyzer); the analyzer will be disabled and may "
           "result in false negatives</message><stackTrace>"
           "<trace>org.owasp.dependencycheck.analyzer.NodeAuditAnalyzer.analyzePackage(NodeAuditAnalyzer.java:162)</trace>"
           "<trace>org.owasp.dependencycheck.AnalysisTask.call(AnalysisTask.java:88)</trace></stackTrace>"
           "<cause><message>java.net.UnknownHostException: registry.npmjs.org</message></cause></exception>"
           "</analysisExceptions></scanInfo>")
    assert "</scanInfo>" in text
    path = tmp_path / "dependency-check-report.xml"
    path.write_text(text.replace("</scanInfo>", exc, 1))
    assert parse_report(DC / "single-vuln.xml").analysis_errors == []
    errs = parse_report(path).analysis_errors
    assert len(errs) == 1 and errs[0].startswith("NodeAuditAnalyzer: AnalysisException: Failed to read results")
    assert errs[0].endswith("(caused by UnknownHostException: registry.npmjs.org)")


# ---------------------------------------------------------------------------------------------
# 4. Dependency-Check SARIF severity = JSON severity of the same run
# ---------------------------------------------------------------------------------------------

def test_dependency_check_sarif_severity_equals_json(gantry):
    """same-run.json / same-run.sarif: one run written both ways (see tests/fixtures/SOURCES.md):
    unscored npm advisories (high, moderate), a CVSS v2-only HIGH, a v3 CRITICAL, and a v4 CRITICAL
    whose v3 is HIGH."""
    from_json = {f.id: f.severity for f in parse_report(DC / "same-run.json").findings}
    from_sarif = {f.id: f.severity for f in parse_report(DC / "same-run.sarif").findings}
    assert parse_report(DC / "same-run.sarif").tool == "dependency-check"
    assert from_json == from_sarif
    assert from_sarif["GHSA-xvch-5gv4-984h"] == "HIGH"      # "high" from npm audit: MEDIUM before
    assert from_sarif["GHSA-vh95-rmgr-6w4m"] == "MEDIUM"    # "moderate"
    assert from_sarif["CVE-2019-17571"] == "HIGH"           # CVSS v2 7.5 only, no security-severity
    assert from_sarif["CVE-2023-26464"] == "CRITICAL"       # v4 9.2 wins over v3 HIGH, as in the JSON
    # so the two formats give the same verdict
    assert gantry("gate", DC / "same-run.json").code == gantry("gate", DC / "same-run.sarif").code == 1


def test_dependency_check_sarif_rule_without_any_rating_is_unknown_as_in_json(tmp_path):
    doc = json.loads((DC / "same-run.sarif").read_text())
    rule = doc["runs"][0]["tool"]["driver"]["rules"][0]
    rule["shortDescription"]["text"] = "Unknown severity - " + rule["id"] + " vulnerability in pkg:npm/minimist@1.2.5"
    rule["properties"] = {"source": "NPM"}
    sev = {f.id: f.severity for f in parse_report(write(tmp_path, "dc.sarif", doc)).findings}
    assert sev[rule["id"]] == "UNKNOWN"   # the JSON's "Unknown"; never the SARIF level "warning"


# ---------------------------------------------------------------------------------------------
# 5. SonarQube paths are repository paths
# ---------------------------------------------------------------------------------------------

MAVEN_KEY = "com.acme.shop:storefront"


def _maven_hotspots() -> dict:
    """The real api/hotspots/search response, its project renamed to a Maven groupId:artifactId key."""
    doc = json.loads((FIXTURES / "sonarqube" / "api-hotspots-search.json").read_text())
    old = "nana-ofewfe"
    for h in doc["hotspots"]:
        h["project"] = MAVEN_KEY
        if h["component"].startswith(old + ":"):
            h["component"] = MAVEN_KEY + h["component"][len(old):]
    for c in doc.get("components", []):
        c["key"] = c["key"].replace(old, MAVEN_KEY, 1)
    return doc


def test_hotspot_paths_strip_exactly_a_maven_project_key(tmp_path):
    doc = _maven_hotspots()
    # raw response: the hotspots' own "project" field names the key
    del doc["components"]
    targets = {f.target for f in parse_report(write(tmp_path, "hotspots.json", doc)).findings}
    assert "src/app/component.asdf" in targets and "src/path/to//1231235/ccommp.html" in targets
    assert not any(t and t.startswith(("storefront:", "com.acme")) for t in targets), targets


def test_collected_report_strips_the_scan_settings_project_key(tmp_path):
    """sonarqube.json as `collect` writes it: items without a "project" field, the key from the
    scan settings (report-task.txt's projectKey, kept as the report's projectKey)."""
    doc = _maven_hotspots()
    for h in doc["hotspots"]:
        del h["project"]
    issue = {"key": "AY1", "rule": "javasecurity:S3649", "severity": "CRITICAL", "type": "VULNERABILITY",
             "component": MAVEN_KEY + ":src/main/java/com/acme/shop/OrderRepository.java", "line": 31,
             "status": "OPEN", "message": "Change this code to not construct SQL queries from user data."}
    project_level = dict(issue, key="AY2", component=MAVEN_KEY, line=None, message="Project-level issue")
    report = {"gantryReport": sonarqube.REPORT_MARK, "serverUrl": "http://sonar.example", "projectKey": MAVEN_KEY,
              "qualityGate": {"status": "OK", "conditions": []}, "issues": [issue, project_level],
              "hotspots": doc["hotspots"]}
    findings = parse_report(write(tmp_path, sonarqube.REPORT_NAME, report)).findings
    by_key = {f.title: f.target for f in findings}
    assert by_key["Change this code to not construct SQL queries from user data."] == \
        "src/main/java/com/acme/shop/OrderRepository.java"
    assert by_key["Project-level issue"] == MAVEN_KEY       # the project itself: no file to strip to
    assert "src/app/component.asdf" in {f.target for f in findings}
    # a path that itself holds a colon keeps it: only the key is removed
    report["issues"] = [dict(issue, component=MAVEN_KEY + ":src/main/resources/a:b.properties")]
    assert parse_report(write(tmp_path, sonarqube.REPORT_NAME, report)).findings[0].target == \
        "src/main/resources/a:b.properties"


def test_issue_paths_from_response_components(tmp_path):
    """The real api/issues/search response under a Maven key, without the issues' "project"
    field: its components[].path names each file's repository path."""
    doc = json.loads((FIXTURES / "sonarqube" / "api-issues-search.json").read_text())
    old = "testapplication"
    for i in doc["issues"]:
        i.pop("project", None)
        i["type"] = "VULNERABILITY"
        i["component"] = i["component"].replace(old, MAVEN_KEY, 1)
    for c in doc["components"]:
        c["key"] = c["key"].replace(old, MAVEN_KEY, 1)
    paths = {c["path"] for c in doc["components"] if c.get("path")}
    assert len(paths) == 2
    targets = {f.target for f in parse_report(write(tmp_path, "issues.json", doc)).findings}
    assert targets == paths | {MAVEN_KEY}, targets      # file issues → paths; project-level issues keep the key


def test_sarif_upload_uri_is_the_repository_path(gantry, tmp_path):
    """The code-scanning SARIF written by the gate points at the file, not at project:path."""
    doc = _maven_hotspots()
    gantry("gate", write(tmp_path, "hotspots.json", doc), "--report-dir", tmp_path / "rd")
    sarif = json.loads((tmp_path / "rd" / "report.sarif").read_text())
    uris = {loc["physicalLocation"]["artifactLocation"]["uri"] for run in sarif["runs"]
            for res in run["results"] for loc in res.get("locations", [])}
    assert "src/app/component.asdf" in uris and not any(u.startswith("com.acme") or "storefront:" in u for u in uris)


# ---------------------------------------------------------------------------------------------
# 17 (the report names the policy relative to the repository)
# ---------------------------------------------------------------------------------------------

def test_policy_named_relative_to_the_repository(gantry, tmp_path, monkeypatch):
    from scanners.policy import load_policy, policy_label

    repo = tmp_path / "workspace" / "storefront"
    (repo / ".git").mkdir(parents=True)
    (repo / "ci").mkdir()
    policy = repo / "ci" / "security-policy.yaml"
    policy.write_text("defaults: {fail_on: CRITICAL}\n")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    assert policy_label(policy) == "ci/security-policy.yaml"            # by the git work tree holding it
    monkeypatch.chdir(repo)
    assert load_policy(policy).label == "ci/security-policy.yaml"       # by the working directory
    assert load_policy(Path("ci/security-policy.yaml")).label == "ci/security-policy.yaml"
    assert load_policy(None).label == "gantry default policy (scanners/policy.default.yaml)"
    lone = tmp_path / "lone.yaml"
    lone.write_text("{}\n")
    assert policy_label(lone) == "lone.yaml"                            # no repository: the name alone
    r = gantry("gate", DC / "same-run.json", "--policy", policy, "--format", "json", "--report-dir", repo / "out")
    assert r.json()["policy"] == "ci/security-policy.yaml"
    for name in ("report.html", "report.md", "junit.xml", "verdict.json"):
        assert str(tmp_path) not in (repo / "out" / name).read_text(), name

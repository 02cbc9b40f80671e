"""SonarQube against a local HTTP server replaying Web API responses (recorded + documented shapes)."""

from __future__ import annotations

import json
import stat
from pathlib import Path

import pytest

from pipeline_lib.core.errors import GantryError
from scanners import sonarqube
from scanners.registry import parse_report
from tests.support.paths import FIXTURES

FIXTURES = FIXTURES / "sonarqube"
TOKEN = "squ_test_token_0123456789"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


def ce_task(status: str, **extra) -> dict:
    """An ``api/ce/task`` response as the Web API documentation shows it."""
    task = {"id": "AVAn5RKqYwETbXvgas-I", "type": "REPORT", "componentId": "AVAn5RJmYwETbXvgas-H",
            "componentKey": "storefront", "componentName": "storefront", "componentQualifier": "TRK",
            "status": status, "submittedAt": "2015-10-02T11:32:15+0200", "submitterLogin": "admin",
            "logs": False, "hasScannerContext": True, "warningCount": 0, "warnings": []}
    if status in ("SUCCESS", "FAILED"):
        task.update(analysisId="AU-TpxcB-iU5OvuD2FL7", startedAt="2015-10-02T11:32:16+0200",
                    executedAt="2015-10-02T11:32:22+0200", executionTimeMs=5286)
    task.update(extra)
    return {"task": task}


def project_status(status: str) -> dict:
    """An ``api/qualitygates/project_status`` response as documented."""
    conditions = [
        {"status": "ERROR" if status == "ERROR" else "OK", "metricKey": "new_coverage", "comparator": "LT",
         "periodIndex": 1, "errorThreshold": "85", "actualValue": "82.50562381034781"},
        {"status": "OK", "metricKey": "new_blocker_violations", "comparator": "GT", "periodIndex": 1,
         "errorThreshold": "0", "actualValue": "0"}]
    return {"projectStatus": {"status": status, "ignoredConditions": False, "conditions": conditions,
                              "periods": [{"index": 1, "mode": "last_version", "date": "2000-04-27T00:45:23+0200",
                                           "parameter": "2015-12-07"}]}}


def issues_pages(page_size: int) -> list[dict]:
    doc = json.loads((FIXTURES / "api-issues-search.json").read_text())
    issues = doc["issues"]
    pages = []
    for i in range(0, len(issues), page_size):
        pages.append(dict(doc, issues=issues[i:i + page_size], p=i // page_size + 1, ps=page_size, total=len(issues),
                          paging={"pageIndex": i // page_size + 1, "pageSize": page_size, "total": len(issues)}))
    return pages


def serve_analysis(httpserver, gate: str = "ERROR", page_size: int = 2) -> None:
    for status in ("PENDING", "IN_PROGRESS"):
        httpserver.expect_oneshot_request("/api/ce/task", query_string={"id": "AVAn5RKqYwETbXvgas-I"},
                                          headers=AUTH).respond_with_json(ce_task(status))
    httpserver.expect_request("/api/ce/task", query_string={"id": "AVAn5RKqYwETbXvgas-I"},
                              headers=AUTH).respond_with_json(ce_task("SUCCESS"))
    httpserver.expect_request("/api/qualitygates/project_status", query_string={"analysisId": "AU-TpxcB-iU5OvuD2FL7"},
                              headers=AUTH).respond_with_json(project_status(gate))
    for n, page in enumerate(issues_pages(page_size), start=1):
        httpserver.expect_request("/api/issues/search", headers=AUTH, query_string={
            "components": "storefront", "types": "VULNERABILITY", "resolved": "false", "p": str(n),
            "ps": str(page_size)}).respond_with_json(page)
    hotspots = json.loads((FIXTURES / "api-hotspots-search.json").read_text())
    httpserver.expect_request("/api/hotspots/search", headers=AUTH, query_string={
        "projectKey": "storefront", "status": "TO_REVIEW", "p": "1", "ps": str(page_size)}).respond_with_json(
        dict(hotspots, paging={"pageIndex": 1, "pageSize": page_size, "total": len(hotspots["hotspots"])}))


def task_for(httpserver) -> dict[str, str]:
    return {"projectKey": "storefront", "serverUrl": httpserver.url_for("/").rstrip("/"),
            "ceTaskId": "AVAn5RKqYwETbXvgas-I", "dashboardUrl": httpserver.url_for("/dashboard?id=storefront")}


def expected_count() -> int:
    issues = json.loads((FIXTURES / "api-issues-search.json").read_text())["issues"]
    hotspots = json.loads((FIXTURES / "api-hotspots-search.json").read_text())["hotspots"]
    return len({i["key"] for i in issues if i["type"] == "VULNERABILITY"}) + \
        sum(h["status"] == "TO_REVIEW" for h in hotspots)


def test_collect_polls_pages_and_gates(httpserver, tmp_path, gantry):
    serve_analysis(httpserver, gate="ERROR", page_size=2)
    report = sonarqube.collect(task_for(httpserver), TOKEN, tmp_path, poll_interval=0.01, page_size=2)
    doc = json.loads(report.read_text())
    assert len(doc["issues"]) == 5 and doc["qualityGate"]["status"] == "ERROR"
    assert TOKEN not in report.read_text()
    parsed = parse_report(report)
    assert len(parsed.findings) == expected_count()
    assert parsed.tool_gates[0][1] is False and "new_coverage" in parsed.tool_gates[0][2]
    r = gantry("gate", report, "--format", "json")
    assert r.code == 1
    rules = {x["name"]: x for x in r.json()["rules"] if x["tool"] == "sonarqube"}
    assert rules["quality gate"]["status"] == "fail"


def test_quality_gate_ok_and_no_blocking(httpserver, tmp_path, gantry):
    serve_analysis(httpserver, gate="OK", page_size=500)
    report = sonarqube.collect(task_for(httpserver), TOKEN, tmp_path, poll_interval=0.01)
    # hotspot HIGH → blocking under the default policy; allow it to check the quality gate alone
    policy = tmp_path / "p.yaml"
    policy.write_text("tools: {sonarqube: {fail_on: CRITICAL}}\n")
    assert gantry("gate", report, "--policy", policy).code == 0


def test_failed_task_and_timeout(httpserver, tmp_path):
    httpserver.expect_request("/api/ce/task").respond_with_json(ce_task("FAILED", errorMessage="Fail to extract report"))
    with pytest.raises(GantryError, match="FAILED: Fail to extract report"):
        sonarqube.collect(task_for(httpserver), TOKEN, tmp_path, poll_interval=0.01)
    httpserver.clear()
    httpserver.expect_request("/api/ce/task").respond_with_json(ce_task("PENDING"))
    with pytest.raises(GantryError, match="timed out"):
        sonarqube.collect(task_for(httpserver), TOKEN, tmp_path, poll_timeout=0.2, poll_interval=0.05)


def test_token_rejected_and_server_errors(httpserver, tmp_path):
    httpserver.expect_request("/api/ce/task").respond_with_json({"errors": [{"msg": "Insufficient privileges"}]},
                                                                 status=403)
    with pytest.raises(GantryError, match="403") as exc:
        sonarqube.collect(task_for(httpserver), TOKEN, tmp_path, poll_interval=0.01)
    assert TOKEN not in str(exc.value)
    httpserver.clear()
    httpserver.expect_oneshot_request("/api/ce/task").respond_with_data("boom", status=502)
    httpserver.expect_request("/api/ce/task").respond_with_json({"unexpected": True})
    with pytest.raises(GantryError, match="no 'task'"):
        sonarqube.collect(task_for(httpserver), TOKEN, tmp_path, poll_interval=0.01)


def test_run_with_scanner_cli(httpserver, tmp_path, monkeypatch):
    """A stand-in sonar-scanner (external program) writes report-task.txt like the real one."""
    serve_analysis(httpserver, gate="OK", page_size=500)
    fake = tmp_path / "sonar-scanner"
    fake.write_text(f"""#!/bin/sh
echo "$@" > "{tmp_path}/argv"
[ -n "$SONAR_TOKEN" ] && echo yes > "{tmp_path}/token-in-env"
for a in "$@"; do case "$a" in -Dsonar.working.directory=*) wd="${{a#*=}}";; esac; done
mkdir -p "$wd"
cat > "$wd/report-task.txt" <<EOT
projectKey=storefront
serverUrl={httpserver.url_for("/").rstrip("/")}
serverVersion=10.6.0
dashboardUrl={httpserver.url_for("/dashboard?id=storefront")}
ceTaskId=AVAn5RKqYwETbXvgas-I
ceTaskUrl={httpserver.url_for("/api/ce/task?id=AVAn5RKqYwETbXvgas-I")}
EOT
""")
    fake.chmod(fake.stat().st_mode | stat.S_IXUSR)
    src = tmp_path / "src"
    src.mkdir()
    # the CLI passes $SONAR_HOST_URL and $SONAR_TOKEN (stages.scan.settings_options)
    o = sonarqube.run(src, tmp_path / "out", host_url=httpserver.url_for("/"), token=TOKEN, scanner=str(fake),
                      project_key="storefront", poll_interval=0.01)
    assert o.status == "ok", o.reason
    assert TOKEN not in (tmp_path / "argv").read_text()
    assert (tmp_path / "token-in-env").exists()
    assert len(parse_report(o.reports[0]).findings) == expected_count()


def test_report_task_errors(tmp_path):
    with pytest.raises(GantryError, match="no such file"):
        sonarqube.read_report_task(tmp_path / "report-task.txt")
    (tmp_path / "report-task.txt").write_text("projectKey=x\n")
    with pytest.raises(GantryError, match="ceTaskId"):
        sonarqube.read_report_task(tmp_path / "report-task.txt")

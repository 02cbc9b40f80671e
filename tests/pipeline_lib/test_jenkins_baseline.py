"""The PR gate's baseline: the last successful main build's findings.json, fetched from Jenkins.

Jenkins is a local HTTP server answering the documented remote-access API shapes
(``job/…/lastSuccessfulBuild/api/json`` with ``artifacts[relativePath]``, then
``job/…/<n>/artifact/<path>``) with basic auth. The report must lead with what the PR
introduced, then what it fixed, then what is already on main; an unreachable baseline is said
in the comment and never fails the gate by itself.
"""

from __future__ import annotations

import base64
import json
import re
import socket

import pytest
from werkzeug import Request, Response

from pipeline_lib.cli import main
from pipeline_lib.core.errors import GantryError
from pipeline_lib.jenkins.client import JenkinsSettings
from pipeline_lib.jenkins.artifacts import DEFAULT_ARTIFACT, fetch_last_successful, job_path
from scanners.formats import write_all
from tests.support.gate import evaluate_files as evaluate
from scanners.policy import load_policy
from scanners.registry import parse_report
from tests.support.paths import FIXTURES

USER, TOKEN = "ci-bot", "11aa22bb33cc44dd55ee66ff77889900aa"
MAIN = [FIXTURES / "trivy" / "many-vulns-image.json", FIXTURES / "trivy" / "pip-fs.json"]
PR = [FIXTURES / "trivy" / "many-vulns-image.json", FIXTURES / "trivy" / "alpine-3.9-image.json"]
CLEAN = FIXTURES / "trivy" / "alpine-image-no-vulns.json"


class FakeJenkins:
    def __init__(self, httpserver, findings: bytes, number: int = 41) -> None:
        self.server, self.findings, self.number = httpserver, findings, number
        self.status = 200
        self.requests: list[str] = []
        httpserver.expect_request(re.compile(r"^/job/.*")).respond_with_handler(self.handle)

    def handle(self, request: Request) -> Response:
        self.requests.append(request.full_path)
        auth = request.headers.get("Authorization", "")
        if auth != "Basic " + base64.b64encode(f"{USER}:{TOKEN}".encode()).decode():
            return Response("<html>Authentication required</html>", 401, content_type="text/html")
        if self.status != 200:
            return Response("<html>Not found</html>", self.status, content_type="text/html")
        base = "/job/dev/job/web"
        if request.path == f"{base}/lastSuccessfulBuild/api/json":
            assert request.args.get("tree") == "number,url,artifacts[relativePath]"
            return Response(json.dumps({
                "_class": "org.jenkinsci.plugins.workflow.job.WorkflowRun", "number": self.number,
                "url": f"https://jenkins.example.com{base}/{self.number}/",
                "artifacts": [{"_class": "hudson.model.Run$Artifact", "relativePath": "reports/gate/report.html"},
                              {"_class": "hudson.model.Run$Artifact", "relativePath": DEFAULT_ARTIFACT}]}),
                content_type="application/json;charset=utf-8")
        if request.path == f"{base}/{self.number}/artifact/{DEFAULT_ARTIFACT}":
            return Response(self.findings, content_type="application/json")
        return Response("<html>Not found</html>", 404, content_type="text/html")


@pytest.fixture(scope="module")
def main_findings(tmp_path_factory) -> bytes:
    out = tmp_path_factory.mktemp("main")
    return write_all(evaluate(MAIN, policy=load_policy(None)), out)["findings.json"].read_bytes()


@pytest.fixture()
def jenkins_env(httpserver, monkeypatch):
    monkeypatch.setenv("JENKINS_URL", httpserver.url_for("/"))
    monkeypatch.setenv("JENKINS_USER", USER)
    monkeypatch.setenv("JENKINS_API_TOKEN", TOKEN)


def fps(paths) -> set[str]:
    return {f.fingerprint for p in paths for f in parse_report(p).findings}


def test_pr_report_leads_with_introduced_then_fixed_then_main(httpserver, jenkins_env, main_findings, tmp_path, capsys):
    FakeJenkins(httpserver, main_findings)
    out = tmp_path / "gate"
    code = main(["gate", *map(str, PR), "--baseline-from-jenkins", "dev/web", "--report-dir", str(out)])
    assert code == 1   # the PR's findings fail the default policy; the baseline itself is no error
    assert "baseline: dev/web build #41" in capsys.readouterr().err   # progress: stderr, so --format json stays JSON
    base, now = fps(MAIN), fps(PR)
    md = (out / "report.md").read_text()
    i_new = md.index(f"### 🆕 Introduced by this PR ({len(now - base)})")
    i_fixed = md.index(f"### ✅ Fixed by this PR ({len(base - now)})")
    i_plan = md.index("### 🔧 Fix plan")
    i_main = md.index(f"### Already on main ({len(now & base)})")
    assert i_new < i_fixed < i_plan < i_main
    first_step = md[i_plan:].splitlines()[1]
    assert first_step.startswith("1. upgrade ") and first_step.endswith("introduced by this PR")
    verdict = json.loads((out / "verdict.json").read_text())
    assert verdict["counts"]["fixed"] == len(base - now) and verdict["counts"]["new"] == len(now - base)
    assert {f["fingerprint"] for f in verdict["fixed"]} == base - now
    assert verdict["baseline_note"] == "" and verdict["fix_plan"] and verdict["baseline"] == "dev/web build #41"
    assert "(baseline: dev/web build #​41)" in md   # '#41' is broken like any other #123 reference
    assert TOKEN not in md and TOKEN not in (out / "report.html").read_text()


@pytest.mark.parametrize("case,needle", [
    ("unreachable", "unreachable"), ("no-build", "no successful build yet"), ("bad-auth", "credentials"),
    ("not-archived", "did not archive"), ("not-json", "not valid JSON"),
])
def test_no_baseline_is_said_and_never_fails_the_gate(case, needle, httpserver, jenkins_env, main_findings,
                                                      tmp_path, monkeypatch, capsys):
    fake = FakeJenkins(httpserver, main_findings if case != "not-json" else b"<html>login</html>")
    if case == "unreachable":
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        monkeypatch.setenv("JENKINS_URL", f"http://127.0.0.1:{port}/")
    elif case == "no-build":
        fake.status = 404
    elif case == "bad-auth":
        monkeypatch.setenv("JENKINS_API_TOKEN", "wrong-token-value")
    elif case == "not-archived":
        fake.number = 7
    out = tmp_path / "gate"
    args = ["gate", str(CLEAN), "--baseline-from-jenkins", "dev/web", "--report-dir", str(out)]
    if case == "not-archived":
        args += ["--baseline-artifact", "reports/other/findings.json"]
    assert main(args) == 0      # a clean image passes: no baseline is not a failure
    err = capsys.readouterr().err
    assert needle in err and "wrong-token-value" not in err
    md = (out / "report.md").read_text()
    assert "No baseline from the base branch" in md and needle in md
    assert json.loads((out / "verdict.json").read_text())["baseline_note"]


def test_fetch_paths_and_size_cap(httpserver, main_findings):
    FakeJenkins(httpserver, main_findings)
    s = JenkinsSettings(httpserver.url_for("/"), USER, TOKEN, 10)
    art = fetch_last_successful(s, "dev/web")
    assert art.build == 41 and art.content == main_findings and art.build_url.endswith("/41/")
    with pytest.raises(GantryError, match="larger than 100 bytes"):
        fetch_last_successful(s, "dev/web", max_bytes=100)
    assert job_path("dev/web one") == "job/dev/job/web%20one"
    with pytest.raises(GantryError):
        job_path("../x")


def test_baseline_file_and_jenkins_are_exclusive_and_json_has_the_plan(tmp_path, capsys):
    assert main(["gate", str(PR[0]), "--baseline", str(tmp_path / "x.json"), "--baseline-from-jenkins", "dev/web"]) == 2
    assert "either --baseline FILE or --baseline-from-jenkins" in capsys.readouterr().err
    assert main(["gate", *map(str, PR), "--format", "json"]) == 1
    doc = json.loads(capsys.readouterr().out)
    assert doc["fix_plan"] and doc["fix_plan"][0]["blocking_fixed"] >= 1 and doc["fixed"] == []


@pytest.mark.parametrize("job_name,fetched,note", [
    ("dev/web-pr", True, ""),           # the PR job compares with its main-branch job dev/web
    ("dev/web", False, ""),             # a main-branch build: no baseline, none asked for
    (None, False, "JOB_NAME is not set"),   # not a Jenkins build: said, never a failed gate
])
def test_auto_baseline_job_is_the_main_job_of_a_pr_job(job_name, fetched, note, httpserver, jenkins_env,
                                                       main_findings, tmp_path, monkeypatch, capsys):
    """The Jenkinsfile passes ``--baseline-from-jenkins auto``; gantry works out the job from JOB_NAME."""
    fake = FakeJenkins(httpserver, main_findings)
    if job_name:
        monkeypatch.setenv("JOB_NAME", job_name)
    else:
        monkeypatch.delenv("JOB_NAME", raising=False)
    out = tmp_path / "gate"
    assert main(["gate", *map(str, PR), "--baseline-from-jenkins", "auto", "--report-dir", str(out)]) == 1
    verdict = json.loads((out / "verdict.json").read_text())
    assert bool(fake.requests) == fetched
    assert all(r.startswith("/job/dev/job/web/") for r in fake.requests)
    assert verdict["baseline"] == ("dev/web build #41" if fetched else None)
    assert (note in verdict["baseline_note"]) if note else verdict["baseline_note"] == ""
    if fetched:
        assert verdict["counts"]["fixed"] == len(fps(MAIN) - fps(PR))
    if note:
        assert note in capsys.readouterr().err

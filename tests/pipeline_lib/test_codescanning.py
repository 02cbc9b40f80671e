"""GitHub code scanning upload against a local server serving GitHub's documented REST shapes.

Request bodies are validated against the documented request schema of
``POST /repos/{owner}/{repo}/code-scanning/sarifs`` and answers use the documented examples
(tests/fixtures/github-api/code-scanning-*); the uploaded SARIF is decoded and schema-checked.
"""

from __future__ import annotations

import base64
import gzip
import json
import re

import jsonschema
import pytest
from werkzeug import Request, Response

from pipeline_lib.cli import main
from pipeline_lib.codescanning.upload import (MAX_GZIP_BYTES, SHOWN_RESULTS_PER_RUN, prepare, read_sarif, upload)
from pipeline_lib.core.errors import GantryError
from pipeline_lib.core.github import GitHubClient
from scanners.formats import write_all
from tests.support.gate import evaluate_files as evaluate
from scanners.policy import load_policy
from tests.scanners.test_reports import ALL_REPORTS, big_trivy
from tests.support.paths import FIXTURES

TOKEN = "ghp_codescanning0000000000000000000000"
REPO = "octocat/hello-world"
SHA = "4b6472266afd7b471e86085a6659e8c7f2b119da"
API = FIXTURES / "github-api"


def fixture(name: str) -> dict:
    return json.loads((API / name).read_text())


UPLOAD_OP = fixture("code-scanning-upload-sarif.operation.deref.json")
REQUEST_SCHEMA = UPLOAD_OP["requestBody"]["content"]["application/json"]["schema"]
STATUS_SCHEMA = fixture("code-scanning-sarifs-status.schema.json")
RECEIPT_SCHEMA = UPLOAD_OP["responses"]["202"]["content"]["application/json"]["schema"]   # dereferenced


@pytest.fixture(scope="module")
def sarif_schema() -> dict:
    return json.loads((FIXTURES / "schemas" / "sarif-schema-2.1.0.json").read_text())


class FakeCodeScanning:
    """POST …/code-scanning/sarifs and GET …/sarifs/{id}, as GitHub documents them."""

    def __init__(self, httpserver) -> None:
        self.server = httpserver
        self.uploads: list[dict] = []      # decoded request bodies (sarif as a dict)
        self.reject: Response | None = None
        self.pending_polls = 0
        self.final: dict = fixture("code-scanning-sarif-status-complete.json")
        self.polls: dict[str, int] = {}
        httpserver.expect_request(re.compile(r"^/repos/.*")).respond_with_handler(self.handle)

    def handle(self, request: Request) -> Response:
        assert request.headers.get("Authorization") == f"Bearer {TOKEN}"
        m = re.fullmatch(rf"/repos/{REPO}/code-scanning/sarifs(?:/([^/]+))?", request.path)
        if not m:
            return Response(json.dumps({"message": "Not Found"}), 404, content_type="application/json")
        if request.method == "POST" and m.group(1) is None:
            body = json.loads(request.get_data())
            jsonschema.validate(body, REQUEST_SCHEMA)
            if self.reject is not None:
                return self.reject
            raw = gzip.decompress(base64.b64decode(body["sarif"], validate=True))
            self.uploads.append(dict(body, sarif=json.loads(raw), gzip_bytes=len(base64.b64decode(body["sarif"]))))
            receipt = fixture("code-scanning-sarif-upload-202.json")
            sid = f"{receipt['id'][:-4]}{len(self.uploads):04d}"
            receipt = {"id": sid, "url": self.server.url_for(f"/repos/{REPO}/code-scanning/sarifs/{sid}")}
            jsonschema.validate(receipt, RECEIPT_SCHEMA)
            return Response(json.dumps(receipt), 202, content_type="application/json")
        if request.method == "GET" and m.group(1):
            n = self.polls[m.group(1)] = self.polls.get(m.group(1), 0) + 1
            doc = {"processing_status": "pending", "analyses_url": None} if n <= self.pending_polls else self.final
            jsonschema.validate({k: v for k, v in doc.items() if v is not None}, STATUS_SCHEMA)   # OpenAPI nullable
            return Response(json.dumps(doc), 200, content_type="application/json")
        return Response("", 405)


@pytest.fixture()
def gh(httpserver, monkeypatch):
    monkeypatch.setenv("GITHUB_TOKEN", TOKEN)
    return FakeCodeScanning(httpserver)


@pytest.fixture(scope="module")
def report_dir(tmp_path_factory):
    out = tmp_path_factory.mktemp("gate")
    write_all(evaluate(ALL_REPORTS, policy=load_policy(None)), out)
    return out


def run(httpserver, *args: str) -> int:
    return main(["code-scanning", "--repo", REPO, "--sha", SHA, "--api-url", httpserver.url_for(""), *args])


def test_one_upload_per_tool_with_its_own_category(gh, httpserver, report_dir, sarif_schema, capsys):
    gh.pending_polls = 1
    assert run(httpserver, "--pr", "42", "--sarif", str(report_dir / "report.sarif")) == 0
    doc = json.loads((report_dir / "report.sarif").read_text())
    tools = [r["tool"]["driver"]["name"] for r in doc["runs"]]
    assert [u["sarif"]["runs"][0]["tool"]["driver"]["name"] for u in gh.uploads] == tools
    cats = [u["sarif"]["runs"][0]["automationDetails"]["id"] for u in gh.uploads]
    assert len(set(cats)) == len(cats) == len(tools) and all(c.startswith("gantry/") and c.endswith("/") for c in cats)
    for u, run_ in zip(gh.uploads, doc["runs"]):
        assert u["ref"] == "refs/pull/42/head" and u["commit_sha"] == SHA
        assert len(u["sarif"]["runs"]) == 1 and u["gzip_bytes"] <= MAX_GZIP_BYTES
        jsonschema.validate(u["sarif"], sarif_schema)
        assert len(u["sarif"]["runs"][0]["results"]) == len(run_["results"])   # small: nothing cut
        assert all(r["locations"] for r in u["sarif"]["runs"][0]["results"])  # GitHub needs one per result
    assert all(n == 2 for n in gh.polls.values())   # pending, then complete
    out = capsys.readouterr().out
    assert out.count("processing complete") == len(tools)


def test_main_branch_ref(gh, httpserver, report_dir):
    assert run(httpserver, "--ref", "main", "--sarif", str(report_dir / "report.sarif")) == 0
    assert {u["ref"] for u in gh.uploads} == {"refs/heads/main"}


def test_pr_report_code_scanning_flag(gh, httpserver, report_dir, capsys):
    # the comment and status endpoints answer too: a minimal handler in front of the code-scanning one
    httpserver.clear()
    comments: list[dict] = []

    def handle(request: Request) -> Response:
        if request.path.endswith("/comments") and request.method == "GET":
            return Response(json.dumps(comments), 200, content_type="application/json")
        if request.path.endswith("/comments"):
            comments.append({"id": 1, "body": json.loads(request.get_data())["body"]})
            return Response(json.dumps({"id": 1, "html_url": "https://github.com/x"}), 201, content_type="application/json")
        if "/statuses/" in request.path:
            return Response(json.dumps({"state": "failure"}), 201, content_type="application/json")
        return gh.handle(request)

    httpserver.expect_request(re.compile(r"^/repos/.*")).respond_with_handler(handle)
    code = main(["pr-report", "--repo", REPO, "--pr", "7", "--sha", SHA, "--report-dir", str(report_dir),
                 "--api-url", httpserver.url_for(""), "--code-scanning"])
    assert code == 0 and comments and gh.uploads
    assert {u["ref"] for u in gh.uploads} == {"refs/pull/7/head"}
    assert "pr-report: code scanning" in capsys.readouterr().out


def test_rejected_upload_names_githubs_error(gh, httpserver, report_dir, capsys):
    gh.reject = Response(json.dumps({"message": "Advanced Security must be enabled for this repository to use code scanning.",
                                     "documentation_url": "https://docs.github.com/rest/code-scanning/code-scanning#upload-an-analysis-as-sarif-data",
                                     "status": "403"}), 403, content_type="application/json")
    assert run(httpserver, "--pr", "42", "--sarif", str(report_dir / "report.sarif")) == 2
    err = capsys.readouterr().err
    assert "upload rejected: HTTP 403: Advanced Security must be enabled" in err and TOKEN not in err


def test_payload_too_large(gh, httpserver, report_dir, capsys):
    gh.reject = Response("", 413)   # documented: "Payload Too Large if the sarif field is too large" (no body)
    assert run(httpserver, "--ref", "refs/heads/main", "--sarif", str(report_dir / "report.sarif")) == 2
    assert "HTTP 413: REQUEST ENTITY TOO LARGE" in capsys.readouterr().err.upper()


def test_failed_processing_exits_non_zero_with_githubs_errors(gh, httpserver, report_dir, capsys):
    gh.final = {"processing_status": "failed", "analyses_url": None,
                "errors": ["locationFromSarifResult: expected artifact location"]}
    assert run(httpserver, "--pr", "3", "--sarif", str(report_dir / "report.sarif")) == 2
    err = capsys.readouterr().err
    assert "GitHub failed to process upload" in err and "locationFromSarifResult: expected artifact location" in err


def test_pending_past_timeout(gh, httpserver, report_dir):
    gh.pending_polls = 10**6
    now = [0.0]
    client = GitHubClient(TOKEN, httpserver.url_for(""))
    prepared = prepare(read_sarif(report_dir / "report.sarif"))[:1]
    with pytest.raises(GantryError, match=r"still pending after 30s"):
        upload(client, REPO, SHA, "refs/heads/main", prepared, timeout=30, interval=5,
               sleep=lambda s: now.__setitem__(0, now[0] + s), clock=lambda: now[0])
    assert 5 <= sum(gh.polls.values()) <= 12


def test_caps_by_severity_and_says_what_was_cut(tmp_path):
    report = big_trivy(tmp_path / "big.json", SHOWN_RESULTS_PER_RUN + 700)
    v = evaluate([report], policy=load_policy(None))
    files = write_all(v, tmp_path / "out")
    [p] = prepare(read_sarif(files["report.sarif"]))
    assert p.results_total == SHOWN_RESULTS_PER_RUN + 700 and p.results_sent == SHOWN_RESULTS_PER_RUN
    assert p.cuts and p.cuts[0].startswith("700 lowest-severity result(s) not uploaded")
    sent = json.loads(gzip.decompress(base64.b64decode(p.sarif_b64)))["runs"][0]
    rank = {"CRITICAL": 5, "HIGH": 4, "MEDIUM": 3, "UNKNOWN": 3, "LOW": 2, "INFO": 1}
    kept_worst = min(rank[r["properties"]["severity"]] for r in sent["results"])
    all_sevs = sorted((rank[e.finding.severity] for e in v.findings), reverse=True)
    assert kept_worst == all_sevs[SHOWN_RESULTS_PER_RUN - 1]    # nothing worse than what was cut was dropped
    idx = {r["ruleIndex"] for r in sent["results"]}
    assert idx == set(range(len(sent["tool"]["driver"]["rules"])))   # rules pruned and re-indexed


def test_gzip_limit_halves_until_it_fits(tmp_path):
    report = big_trivy(tmp_path / "big.json", 3000)
    files = write_all(evaluate([report], policy=load_policy(None)), tmp_path / "out")
    [p] = prepare(read_sarif(files["report.sarif"]), max_gzip_bytes=60_000)
    assert p.gzip_bytes <= 60_000 and p.results_sent < 3000
    assert "MB gzip limit" in p.cuts[0]


@pytest.mark.parametrize("args,needle", [
    (["--pr", "1", "--sha", "abc1234"], "full 40"),
    (["--ref", "main branch", "--sha", SHA], "refs/heads"),
])
def test_bad_arguments(gh, httpserver, report_dir, args, needle, capsys):
    code = main(["code-scanning", "--repo", REPO, "--api-url", httpserver.url_for(""), *args,
                 "--sarif", str(report_dir / "report.sarif")])
    assert code == 2 and needle in capsys.readouterr().err and not gh.uploads


def test_dry_run_sends_nothing(gh, httpserver, report_dir, capsys):
    assert run(httpserver, "--pr", "1", "--sarif", str(report_dir / "report.sarif"), "--dry-run", "--format", "json") == 0
    out = json.loads(capsys.readouterr().out)
    assert out["ref"] == "refs/pull/1/head" and all(u["status"] == "dry-run" for u in out["uploads"])
    assert not gh.uploads

"""GitHub client and `gantry pr-report` against a local server shaped like GitHub's REST API."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from werkzeug import Request, Response

from pipeline_lib.cli import main
from pipeline_lib.core.errors import GantryError
from pipeline_lib.core.github import GitHubClient
from tests.support.paths import FIXTURES

TOKEN = "ghp_testtoken1234567890abcdefABCDEF0000"
REPO = "octokit-fixture-org/create-status"
SHA = "0000000000000000000000000000000000000001"
MARKER = "<!-- gantry:security-report -->"


def recorded(name: str) -> list[dict]:
    return json.loads((FIXTURES / "github-api" / name).read_text())


class FakeGitHub:
    """Issue comments + commit statuses, in GitHub's documented shapes, with pagination."""

    def __init__(self, httpserver, prefix: str = "", per_page: int | None = None) -> None:
        self.server = httpserver
        self.prefix = prefix
        self.per_page = per_page
        self.comments: list[dict] = []
        self.statuses: list[dict] = []
        self.requests: list[tuple[str, str]] = []
        self.auth: set[str] = set()
        self.failures: list[Response] = []      # served first, one per request
        self.next_links: list[str] = []
        self.next_id = 1_000_000
        self.status_template = recorded("create-status.json")[0]["response"]
        httpserver.expect_request(re.compile(rf"^{re.escape(prefix)}/repos/.*")).respond_with_handler(self.handle)

    def url(self, path: str) -> str:
        return self.server.url_for(self.prefix + path)

    def comment_json(self, c: dict) -> dict:
        return {"url": self.url(f"/repos/{REPO}/issues/comments/{c['id']}"),
                "html_url": f"https://github.com/{REPO}/pull/7#issuecomment-{c['id']}",
                "issue_url": self.url(f"/repos/{REPO}/issues/7"), "id": c["id"], "node_id": "MDEyOklzc3VlQ29tbWVudDE=",
                "user": {"login": c["user"], "id": 1, "type": "Bot"}, "created_at": "2011-04-14T16:00:49Z",
                "updated_at": "2011-04-14T16:00:49Z", "author_association": "NONE", "body": c["body"]}

    def handle(self, request: Request) -> Response:
        self.requests.append((request.method, request.path))
        self.auth.add(request.headers.get("Authorization", ""))
        if self.failures:
            return self.failures.pop(0)
        path = request.path[len(self.prefix):]
        m = re.fullmatch(rf"/repos/{REPO}/issues/(\d+)/comments", path)
        if m and request.method == "GET":
            per_page = self.per_page or int(request.args.get("per_page", 30))
            page = int(request.args.get("page", 1))
            items = self.comments[(page - 1) * per_page: page * per_page]
            headers = {}
            if page * per_page < len(self.comments):
                nxt = self.url(f"/repositories/1000/issues/7/comments") + f"?per_page={per_page}&page={page + 1}"
                headers["Link"] = f'<{nxt}>; rel="next", <{nxt}>; rel="last"'
                # GitHub's next links point at /repositories/<id>/...: serve those too
            return Response(json.dumps([self.comment_json(c) for c in items]), 200, headers,
                            content_type="application/json; charset=utf-8")
        if m and request.method == "POST":
            c = {"id": self.next_id, "body": request.get_json()["body"], "user": "gantry-bot"}
            self.next_id += 1
            self.comments.append(c)
            return Response(json.dumps(self.comment_json(c)), 201, content_type="application/json; charset=utf-8")
        m = re.fullmatch(rf"/repos/{REPO}/issues/comments/(\d+)", path)
        if m and request.method == "PATCH":
            c = next(c for c in self.comments if c["id"] == int(m.group(1)))
            c["body"] = request.get_json()["body"]
            return Response(json.dumps(self.comment_json(c)), 200, content_type="application/json; charset=utf-8")
        m = re.fullmatch(rf"/repos/{REPO}/statuses/([0-9a-f]+)", path)
        if m and request.method == "POST":
            body = request.get_json()
            self.statuses.append(body)
            return Response(json.dumps(dict(self.status_template, **body)), 201,
                            content_type="application/json; charset=utf-8")
        return Response(json.dumps({"message": "Not Found", "documentation_url": "https://docs.github.com/rest"}), 404,
                        content_type="application/json; charset=utf-8")


@pytest.fixture()
def github(httpserver):
    fake = FakeGitHub(httpserver)
    # the Link "next" URLs use /repositories/<id>/..., as GitHub does
    def next_page(req: Request) -> Response:
        fake.next_links.append(req.full_path)
        return fake.handle(_rewrite(req, f"/repos/{REPO}/issues/7/comments"))

    httpserver.expect_request(re.compile(r"^/repositories/1000/issues/7/comments$")).respond_with_handler(next_page)
    return fake


def _rewrite(req: Request, path: str) -> Request:
    env = dict(req.environ, PATH_INFO=path)
    return Request(env)


@pytest.fixture()
def report_dir(tmp_path) -> Path:
    d = tmp_path / "rep"
    d.mkdir()
    (d / "report.md").write_text(f"{MARKER}\n## ❌ Security gate failed\n\nbody one\n")
    (d / "verdict.json").write_text(json.dumps({"exit_code": 1, "status": "fail",
                                                "summary": "gate failed: 2 blocking finding(s) (1 CRITICAL, 1 HIGH)"}))
    return d


def pr_report(capsys, report_dir: Path, api_url: str, *extra: str) -> tuple[int, str, str]:
    capsys.readouterr()
    code = main(["pr-report", "--repo", REPO, "--pr", "7", "--sha", SHA, "--report-dir", str(report_dir),
                 "--api-url", api_url, *extra])
    out = capsys.readouterr()
    return code, out.out, out.err


def test_sticky_comment_created_then_updated(github, report_dir, capsys, monkeypatch):
    monkeypatch.setenv("GITHUB_TOKEN", TOKEN)
    monkeypatch.delenv("BUILD_URL", raising=False)
    github.comments.append({"id": 5, "body": "LGTM", "user": "alice"})
    code, out, err = pr_report(capsys, report_dir, github.url(""))
    assert code == 0, err
    assert "comment created" in out
    assert len(github.comments) == 2
    assert github.statuses[-1] == {"state": "failure", "context": "gantry/security",
                                   "description": "gate failed: 2 blocking finding(s) (1 CRITICAL, 1 HIGH)"}
    (report_dir / "report.md").write_text(f"{MARKER}\n## ✅ Security gate passed\n\nbody two\n")
    (report_dir / "verdict.json").write_text(json.dumps({"exit_code": 0, "summary": "gate passed"}))
    code, out, err = pr_report(capsys, report_dir, github.url(""), "--target-url", "https://jenkins.example/job/1/")
    assert code == 0 and "comment updated" in out
    assert len(github.comments) == 2                              # edited, never a second comment
    assert "body two" in github.comments[1]["body"] and github.comments[0]["body"] == "LGTM"
    assert ("PATCH", f"/repos/{REPO}/issues/comments/1000000") in github.requests
    assert github.statuses[-1]["state"] == "success"
    assert github.statuses[-1]["target_url"] == "https://jenkins.example/job/1/"
    assert github.auth == {f"Bearer {TOKEN}"}
    assert TOKEN not in out + err


def test_marker_found_on_a_later_page(github, report_dir, capsys, monkeypatch):
    monkeypatch.setenv("GITHUB_TOKEN", TOKEN)
    github.per_page = 2
    for i in range(5):
        github.comments.append({"id": 10 + i, "body": f"comment {i}", "user": "bob"})
    github.comments.append({"id": 99, "body": f"{MARKER}\nold report", "user": "gantry-bot"})
    code, out, err = pr_report(capsys, report_dir, github.url(""))
    assert code == 0, err
    assert "comment updated (99)" in out
    assert len(github.comments) == 6
    assert github.next_links == ["/repositories/1000/issues/7/comments?per_page=2&page=2",
                                 "/repositories/1000/issues/7/comments?per_page=2&page=3"]


def test_error_state_for_cannot_evaluate(github, report_dir, capsys, monkeypatch):
    monkeypatch.setenv("GITHUB_TOKEN", TOKEN)
    (report_dir / "verdict.json").write_text(json.dumps({"exit_code": 2, "summary": "cannot evaluate: x" * 50}))
    assert pr_report(capsys, report_dir, github.url(""))[0] == 0
    assert github.statuses[-1]["state"] == "error"
    assert len(github.statuses[-1]["description"]) <= 140


def test_github_enterprise_base_url(httpserver, report_dir, capsys, monkeypatch):
    monkeypatch.setenv("GITHUB_TOKEN", TOKEN)
    ghe = FakeGitHub(httpserver, prefix="/api/v3")
    code, out, err = pr_report(capsys, report_dir, ghe.url(""))
    assert code == 0, err
    assert all(p.startswith("/api/v3/repos/") for _, p in ghe.requests)


def test_retries_5xx_and_secondary_rate_limit(github, monkeypatch):
    waits: list[float] = []
    github.failures = [
        Response("upstream", 502),
        Response(json.dumps({"message": "You have exceeded a secondary rate limit. Please wait a few minutes before "
                                        "you try again.", "documentation_url": "https://docs.github.com/rest"}),
                 403, {"Retry-After": "7"}, content_type="application/json"),
        Response("{}", 429, {"x-ratelimit-remaining": "0", "x-ratelimit-reset": "0"}, content_type="application/json"),
    ]
    client = GitHubClient(TOKEN, github.url(""), sleep=waits.append)
    result = client.upsert_comment(REPO, 7, "hello", MARKER)
    assert result.action == "created"
    # urllib3 retries the 502 at once (its first backoff step is 0 s); then Retry-After: 7, then
    # x-ratelimit-reset (already past: 1 s)
    assert waits == [7.0, 1.0]
    assert github.comments[0]["body"] == f"{MARKER}\nhello"


def test_gives_up_after_retries_and_never_leaks_token(github, report_dir, capsys, monkeypatch):
    monkeypatch.setenv("GITHUB_TOKEN", TOKEN)
    github.failures = [Response(json.dumps({"message": f"Bad credentials {TOKEN}"}), 401,
                                content_type="application/json")]
    code, out, err = pr_report(capsys, report_dir, github.url(""))
    assert code == 2
    assert err.startswith("gantry: github GET /repos/") and "HTTP 401" in err
    assert TOKEN not in out + err
    github.failures = [Response("down", 503)] * 10
    client = GitHubClient(TOKEN, github.url(""), sleep=lambda s: None, max_retries=2)
    with pytest.raises(GantryError, match="HTTP 503"):
        client.set_status(REPO, SHA, "success", "ok")
    assert TOKEN not in repr(client)


def test_validation_error_shape(github):
    """422 in the shape of the recorded octokit fixture (message + errors list)."""
    rec = recorded("errors.json")[0]
    github.failures = [Response(json.dumps(rec["response"]), rec["status"], content_type="application/json")]
    client = GitHubClient(TOKEN, github.url(""), sleep=lambda s: None)
    with pytest.raises(GantryError) as exc:
        client.set_status(REPO, SHA, "failure", "x")
    assert "HTTP 422: Validation Failed (resource=Label, code=invalid, field=color)" in str(exc.value)


def test_recorded_status_request_shape(github):
    rec = recorded("create-status.json")[0]
    client = GitHubClient(TOKEN, github.url(""), sleep=lambda s: None)
    body = rec["body"]
    got = client.set_status(REPO, SHA, body["state"], body["description"], context=body["context"],
                            target_url=body["target_url"])
    assert github.statuses[-1] == body
    assert got["state"] == "failure" and got["context"] == "example/1"


@pytest.mark.parametrize("args,needle", [
    (["--repo", "not a repo"], "--repo"),
    (["--sha", "xyz"], "--sha"),
    (["--pr", "0"], "--pr"),
])
def test_bad_arguments(args, needle, report_dir, capsys, monkeypatch):
    monkeypatch.setenv("GITHUB_TOKEN", TOKEN)
    base = {"--repo": REPO, "--pr": "7", "--sha": SHA}
    base[args[0]] = args[1]
    argv = ["pr-report", *[x for kv in base.items() for x in kv], "--report-dir", str(report_dir),
            "--api-url", "http://127.0.0.1:1"]
    assert main(argv) == 2
    assert needle in capsys.readouterr().err


def test_missing_token_and_reports(report_dir, tmp_path, capsys, monkeypatch):
    monkeypatch.delenv("GITHUB_TOKEN", raising=False)
    code, _, err = pr_report(capsys, report_dir, "http://127.0.0.1:1")
    assert code == 2 and "GITHUB_TOKEN" in err
    monkeypatch.setenv("GITHUB_TOKEN", TOKEN)
    code, _, err = pr_report(capsys, tmp_path / "nothing", "http://127.0.0.1:1")
    assert code == 2 and "report.md" in err
    (report_dir / "verdict.json").write_text("garbage")
    code, _, err = pr_report(capsys, report_dir, "http://127.0.0.1:1")
    assert code == 2 and "not a gantry verdict" in err


def test_secondary_rate_limit_without_headers_waits_a_minute(github):
    waits: list[float] = []
    github.failures = [Response(json.dumps({"message": "You have exceeded a secondary rate limit."}), 403,
                                content_type="application/json")]
    client = GitHubClient(TOKEN, github.url(""), sleep=waits.append)
    client.set_status(REPO, SHA, "success", "ok")
    assert waits == [60.0]
    # a plain 403 (no permission) is not retried
    github.failures = [Response(json.dumps({"message": "Resource not accessible by integration"}), 403,
                                content_type="application/json")]
    with pytest.raises(GantryError, match="403: Resource not accessible"):
        client.set_status(REPO, SHA, "success", "ok")
    assert waits == [60.0]


def test_retry_after_beyond_limit_fails_fast(github):
    github.failures = [Response("{}", 429, {"Retry-After": "3600"}, content_type="application/json")]
    client = GitHubClient(TOKEN, github.url(""), sleep=lambda s: pytest.fail("must not sleep an hour"), max_wait=60)
    with pytest.raises(GantryError, match="exceeds"):
        client.set_status(REPO, SHA, "success", "ok")


def test_oversized_body_is_truncated(github):
    client = GitHubClient(TOKEN, github.url(""), sleep=lambda s: None)
    client.upsert_comment(REPO, 7, MARKER + "\n" + "x" * 100_000, MARKER)
    body = github.comments[0]["body"]
    assert len(body) <= 65_536 and body.startswith(MARKER) and "Truncated" in body

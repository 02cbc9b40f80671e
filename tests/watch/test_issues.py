"""GitHub issue sync against a server answering as GitHub's REST API documents it: listed by
label across pages (pull requests skipped), created once, edited, reopened, closed — never twice."""

from __future__ import annotations

from pipeline_lib.core.github import GitHubClient
from pipeline_lib.watch.issues import LABEL, WantedIssue, marker, sync

from .helpers import FakeGitHub

REPO = "flashshop/storefront"
TOKEN = "ghp_issuetesttoken0000000000000000000000"


def wanted(vid: str, body: str = "body") -> WantedIssue:
    return WantedIssue(REPO, "prod", "storefront", vid, f"[prod] storefront: {vid}", body)


def test_sync_creates_once_edits_reopens_and_closes_across_pages(httpserver) -> None:
    gh = FakeGitHub(httpserver, per_page=2)
    # what people and other tools left there: a pull request with the label, another env's issue,
    # an unlabelled issue quoting a marker, a closed issue of ours
    gh.issues[REPO] = [
        {"number": 1, "title": "a PR", "body": marker("prod", "storefront", "CVE-1"), "state": "open", "labels": [LABEL]},
        {"number": 2, "title": "dev", "body": marker("dev", "storefront", "CVE-1"), "state": "open", "labels": [LABEL]},
        {"number": 3, "title": "quote", "body": marker("prod", "storefront", "CVE-9"), "state": "open", "labels": []},
        {"number": 4, "title": "old", "body": marker("prod", "storefront", "CVE-2") + "\nold", "state": "closed",
         "labels": [LABEL]},
    ]
    original = gh._json

    def with_pr(repo: str, issue: dict) -> dict:
        doc = original(repo, issue)
        if issue["number"] == 1:
            doc["pull_request"] = {"url": "https://api.github.com/repos/flashshop/storefront/pulls/1"}
        return doc

    gh._json = with_pr
    client = GitHubClient(TOKEN, httpserver.url_for("/"))
    scope = {REPO: ["storefront"]}
    r = sync(client, [wanted("CVE-1"), wanted("CVE-2")], environment="prod", scope=scope, close_comment="gone")
    assert r.created == [f"{REPO}#5"] and r.reopened == [f"{REPO}#4"]
    assert gh.requests.count(("GET", f"/repos/{REPO}/issues")) == 2   # 3 labelled issues, 2 per page
    assert any(n == 4 and "again" in body for _, n, body in gh.comments)
    r = sync(client, [wanted("CVE-1"), wanted("CVE-2")], environment="prod", scope=scope, close_comment="gone")
    assert r.created == [] and sorted(r.unchanged) == [f"{REPO}#4", f"{REPO}#5"]
    r = sync(client, [wanted("CVE-1", "new body"), wanted("CVE-2")], environment="prod", scope=scope,
             close_comment="gone")
    assert r.updated == [f"{REPO}#5"]
    # CVE-2 fixed; a service whose scan failed (not in scope) keeps its issues
    r = sync(client, [wanted("CVE-1", "new body")], environment="prod", scope={REPO: []}, close_comment="gone")
    assert r.closed == []
    r = sync(client, [wanted("CVE-1", "new body")], environment="prod", scope=scope, close_comment="gone")
    assert r.closed == [f"{REPO}#4"]
    states = {i["number"]: i["state"] for _, i in gh.all_issues()}
    assert states == {1: "open", 2: "open", 3: "open", 4: "closed", 5: "open"}   # the others untouched
    assert len([i for _, i in gh.all_issues() if "CVE-1" in i["body"] and LABEL in i["labels"]]) == 3

"""Routing decisions on push payloads whose changed files are unknown, and every parameter the
receiver passes to Jenkins, checked against the payload fields GitHub documents."""

from __future__ import annotations

import json

import pytest

from pipeline_lib.webhook.routing import changed_files, route
from tests.support.paths import FIXTURES

from .conftest import REPO, SHA_A, SHA_B, commit, push

HOOKS = FIXTURES / "github-webhooks"
DOCS_ONLY = [commit(SHA_A, "docs/a.md")]


@pytest.mark.parametrize("why,payload", [
    ("no commit listed", push("refs/heads/master", SHA_A, [])),
    ("2048 commits listed: GitHub lists at most 2048", push("refs/heads/master", SHA_A,
                                                             [commit(f"{i:040x}", "docs/a.md") for i in range(2048)])),
    ("2048 listed of 2049 pushed", push("refs/heads/master", SHA_A,
                                        [commit(f"{i:040x}", "docs/a.md") for i in range(2048)], size=2049)),
    ("a large commit's file lists are empty", push("refs/heads/master", SHA_A, [commit(SHA_B, "docs/a.md"),
                                                                                commit(SHA_A)])),
    ("forced push", push("refs/heads/master", SHA_A, DOCS_ONLY, forced=True)),
    ("new branch", push("refs/heads/master", SHA_A, DOCS_ONLY, created=True, before="0" * 40)),
    ("head_commit not among the listed", dict(push("refs/heads/master", SHA_A, DOCS_ONLY),
                                              head_commit=commit(SHA_B, "docs/b.md"))),
    ("more commits than listed", push("refs/heads/master", SHA_A, DOCS_ONLY, size=3)),
])
def test_unknown_changed_files_build(why, payload, test_catalog) -> None:
    assert changed_files(payload) is None, why
    decision = route(test_catalog, "push", payload)
    assert [t.job for t in decision.triggers] == ["dev/hello-world"], why


@pytest.mark.parametrize("count", [20, 25, 2047])
def test_long_pushes_are_read_up_to_githubs_limit(count, test_catalog) -> None:
    """GitHub's push webhook lists up to 2 048 commits (the 20-commit cap is the Events API's)."""
    docs = [commit(f"{i:040x}", f"docs/{i}.md") for i in range(count)]
    payload = push("refs/heads/master", SHA_A, docs, size=count, distinct_size=count)
    assert changed_files(payload) == {f"docs/{i}.md" for i in range(count)}
    decision = route(test_catalog, "push", payload)
    assert decision.triggers == [] and "no changed file matches" in decision.ignored
    payload = push("refs/heads/master", SHA_A, [*docs[:-1], commit(SHA_A, "src/app.py")], size=count)
    assert [t.job for t in route(test_catalog, "push", payload).triggers] == ["dev/hello-world"]


def test_known_files_outside_the_paths_build_nothing(test_catalog) -> None:
    payload = push("refs/heads/master", SHA_A, DOCS_ONLY)
    assert changed_files(payload) == {"docs/a.md"}
    decision = route(test_catalog, "push", payload)
    assert decision.triggers == [] and "no changed file matches" in decision.ignored


def test_not_distinct_commits_still_count(test_catalog) -> None:
    c = dict(commit(SHA_A, "src/x.py"), distinct=False)  # already on another branch, new on this one
    assert [t.job for t in route(test_catalog, "push", push("refs/heads/master", SHA_A, [c])).triggers] == \
        ["dev/hello-world"]


def test_branch_push_parameters_follow_the_payload(test_catalog) -> None:
    payload = json.loads((HOOKS / "push-branch-commit.json").read_bytes())
    [t] = route(test_catalog, "push", payload).triggers
    assert t.params == {"COMMIT_SHA": payload["after"], "BRANCH": payload["ref"].removeprefix("refs/heads/"),
                        "GIT_REF": payload["ref"], "TARGET_ENV": "dev", "IMAGE_TAG": "", "PR_NUMBER": ""}
    assert payload["after"] == payload["head_commit"]["id"]


def test_tag_push_without_head_commit_leaves_the_commit_to_the_ref(test_catalog) -> None:
    payload = json.loads((HOOKS / "push.json").read_bytes())
    payload.update(after="7" * 40, head_commit=None)
    [t] = route(test_catalog, "push", payload).triggers
    assert t.params["COMMIT_SHA"] == "" and t.params["GIT_REF"] == payload["ref"]


def test_pull_request_parameters_follow_the_payload(test_catalog) -> None:
    payload = json.loads((HOOKS / "pull_request-opened.json").read_bytes())
    [t] = route(test_catalog, "pull_request", payload).triggers
    pr = payload["pull_request"]
    assert t.job == "dev/hello-world-pr"
    assert t.params == {"COMMIT_SHA": pr["head"]["sha"], "BRANCH": pr["head"]["ref"],
                        "GIT_REF": f"refs/pull/{payload['number']}/head", "TARGET_ENV": "dev",
                        "IMAGE_TAG": "", "PR_NUMBER": str(payload["number"])}
    assert payload["repository"]["full_name"] == REPO

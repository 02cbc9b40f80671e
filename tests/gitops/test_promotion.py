"""Promotion of a freight dev -> prod: each condition refused by name (exit 1, nothing written),
revocation, trailers, and the Argo CD answers shaped like the API's swagger."""

from __future__ import annotations


import pytest

from gitops import trailers
from gitops.freight import read, revoke
from gitops.git import checkout, git
from pipeline_lib.core.errors import CheckFailed, GantryError
from pipeline_lib.stages.promote import run

from .promotion_world import World


@pytest.fixture(scope="module")
def shared(tmp_path_factory: pytest.TempPathFactory, make_httpserver) -> World:
    """One repo, catalog, keys and Argo CD for the module: each test makes its own builds (freight)."""
    return World(tmp_path_factory.mktemp("promotion"), make_httpserver)


@pytest.fixture()
def world(shared: World, httpserver) -> World:
    shared.argocd.attach(httpserver)
    if shared.argocd.history:          # a test before may have left dev Degraded
        shared.argocd.set_health("storefront-dev", "Healthy")
    return shared


def _refused(world: World, **kw) -> list[str]:
    """Refused: exit 1, nothing written (a revocation, when the outcome says so, is the only commit)."""
    before = world.head()
    with pytest.raises(CheckFailed) as exc:
        run(world.options(**kw))
    assert exc.value.exit_code == 1
    after = world.head()
    assert after == before or ("freight revoked" in exc.value.what and world.parent(after) == before)
    return exc.value.problems


def test_soaked_freight_is_promoted_with_trailers(world: World) -> None:
    freight = world.build()
    world.advance(31)
    result = run(world.options(freight=freight.id)).value
    assert result.commit == world.head()
    assert world.prod_digest() == freight.items[0].digest
    message = git(world.bare, "log", "-1", "--format=%B", "main").stdout
    found = trailers.parse(message)
    assert (trailers.ACTION, "promote") in found and (trailers.FREIGHT, freight.id) in found
    assert (trailers.CHECKS, "not-revoked, dev-soak, evidence, tokyo") in found and (trailers.BY, "tester") in found
    assert sorted(v.split()[1] for k, v in found if k == trailers.EVIDENCE) == ["provenance", "sbom", "verdict"]
    # --service picks the newest freight holding the service: the same one, already pinned: no commit
    again = run(world.options(services=("storefront",))).value
    assert again.freight == freight.id and again.commit is None


def test_not_soaked_then_no_longer_what_dev_runs_is_refused_by_name(world: World) -> None:
    first = world.build()
    world.advance(12)
    problems = _refused(world, freight=first.id)
    assert len(problems) == 1 and "dev-soak" in problems[0] and "soak is 30m00s" in problems[0]
    assert world.prod_digest() != first.items[0].digest
    world.build()          # dev moved on to the next build: the first freight is no longer what dev runs
    world.advance(40)
    problems = _refused(world, freight=first.id)
    assert len(problems) == 1 and "dev-soak" in problems[0] and f"not at {first.commit[:12]}" in problems[0]


def test_revoked_freight_is_refused(world: World) -> None:
    freight = world.build()
    world.advance(31)
    rev = revoke(world.url, "main", freight.id, by="alice", reason="CVE-2026-0001 in the base image",
                 writers=world.writers)
    assert rev.commit == world.head()
    found = trailers.parse(git(world.bare, "log", "-1", "--format=%B", "main").stdout)
    assert [(trailers.ACTION, "revoke"), (trailers.FREIGHT, freight.id), (trailers.BY, "alice")] == found[:3]
    problems = _refused(world, freight=freight.id)
    assert problems == [f"gitops promote: not-revoked: freight {freight.id} was revoked by alice at "
                        f"{rev_at(world, freight.id)}: CVE-2026-0001 in the base image"]
    assert revoke(world.url, "main", freight.id, by="bob", reason="again", writers=world.writers).commit is None


def rev_at(world: World, fid: str) -> str:
    return read(checkout(world.url, "main", world.tmp / "look"), fid).revoked.at


def test_degraded_in_dev_is_refused_and_revokes(world: World) -> None:
    freight = world.build()
    world.advance(31)
    world.argocd.set_health("storefront-dev", "Degraded")
    problems = _refused(world, freight=freight.id)
    assert any("dev-soak" in p and "Degraded" in p for p in problems)
    wd = checkout(world.url, "main", world.tmp / "look")
    assert read(wd, freight.id).revoked is not None


def test_prod_promotes_by_pull_request_listing_freight_evidence_and_checks(world: World, httpserver) -> None:
    import json as _json

    from werkzeug import Response
    opened = []

    def pulls(request):
        opened.append(_json.loads(request.data))
        return Response(_json.dumps({"number": 9, "html_url": "https://github.com/flashshop/gitops/pull/9"}), 201,
                        content_type="application/json")
    httpserver.expect_request("/repos/flashshop/gitops/pulls", method="POST").respond_with_handler(pulls)
    freight = world.build()
    world.advance(45)
    main_before = world.head()
    result = run(world.options(freight=freight.id, mode=None, github_api=httpserver.url_for("").rstrip("/"),
                               github_repo="flashshop/gitops", github_token="t")).value
    assert result.pull_request == "https://github.com/flashshop/gitops/pull/9"
    assert world.head() == main_before                       # prod's catalog entry says deploy: pr
    (pr,) = opened
    assert pr["head"] == result.branch and pr["base"] == "main" and freight.id in pr["title"]
    assert f"Freight: {freight.id}" in pr["body"] and freight.items[0].digest in pr["body"]
    assert "Checks passed: not-revoked, dev-soak, evidence, tokyo" in pr["body"]
    assert pr["body"].count("- storefront verdict ") == 1
    assert (trailers.ACTION, "promote") in trailers.parse(git(world.bare, "log", "-1", "--format=%B",
                                                              result.branch).stdout)


def test_guards_refuse_first_dry_run_writes_nothing_break_glass_is_recorded(world: World, monkeypatch) -> None:
    """A caller's guard, the freeze window (refused, then broken with --break-glass), a hold."""
    import gitops.promotion as promotion
    from gitops import holds
    from pipeline_lib.core.freeze import parse_spec, to_json
    freight = world.build()
    world.advance(31)
    seen = []

    def custom(plan) -> list[str]:
        seen.append((plan.freight.id, plan.target, plan.now))
        return ["custom: not today"]
    before = world.head()
    assert _refused(world, freight=freight.id, guards=[custom]) == ["gitops promote: custom: not today"]
    assert seen == [(freight.id, "prod", world.now)] and world.head() == before
    monkeypatch.setattr(promotion, "GUARDS", ["gitops.no_such_module:guard"])
    with pytest.raises(GantryError, match="does not load"):
        run(world.options(freight=freight.id))
    monkeypatch.undo()
    result = run(world.options(freight=freight.id, dry_run=True)).value
    assert result.dry_run and result.commit is None and world.head() == before
    assert result.checks == ["not-revoked", "dev-soak", "evidence", "tokyo"]
    start, end = world.now.isoformat(), world.now.replace(year=world.now.year + 1).isoformat()
    windows = tuple(to_json([parse_spec({"name": "flash-sale", "start": start, "end": end})]))
    problems = _refused(world, freight=freight.id, freeze=windows)
    assert len(problems) == 1 and problems[0].startswith("gitops promote: not-frozen: ") and "flash-sale" in problems[0]
    stage = run(world.options(freight=freight.id, freeze=windows, break_glass=True, reason="payment outage"))
    assert stage.data["break_glass"] and "BREAK-GLASS" in stage.detail
    found = trailers.parse(git(world.bare, "log", "-1", "--format=%B", "main").stdout)
    assert ("Break-Glass", "true") in found and (trailers.REASON, "payment outage") in found
    # a hold on the service (gitops.promotion.GUARDS: gitops.holds:promotion_guard) refuses
    holds.set_hold(world.url, "main", holds.Hold("prod", "storefront", "bob", "incident 7", world.now.isoformat()))
    problems = _refused(world, freight=freight.id)
    assert len(problems) == 1 and "not-held" in problems[0] and "incident 7" in problems[0]
    holds.release_hold(world.url, "main", "prod", "storefront", by="bob", reason="fixed")

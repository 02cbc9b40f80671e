"""A rollback that sticks (issue 24 item 3): rollback pins the previous digest and holds the
service in one commit; bumps refuse a held service inside the write transaction (in-process
through the real write path, queued as JSON like the batch, and via the CLI) until release."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from gitops.bump import bump
from gitops.history import read_history
from gitops.holds import hold_rel
from gitops.git import checkout
from gitops.rollback import plan_rollback, rollback
from gitops.writeback import PinEdit, write_edits
from pipeline_lib.cli import main
from pipeline_lib.core.errors import CheckFailed, GantryError
from tests.conftest import git
from tests.gitops.conftest import REGISTRY, digest
from tests.support.catalogs import shipped_evidence_off


@pytest.fixture()
def gitops_repo(tmp_path: Path, catalog) -> Path:
    """A bare GitOps repo with the prod layout only (what these tests write)."""
    from gitops.layout import init_repo
    bare = tmp_path / "gitops.git"
    init_repo(bare, catalog, catalog.services_in("prod"), "prod", REGISTRY)
    return bare

IMAGE = f"{REGISTRY}/shop/storefront"


def _edit(catalog, service: str, d: str, build: int) -> PinEdit:
    env = catalog.service(service).environment("prod")
    return PinEdit(service, "prod", env.ecr_repository, env.manifest, env.manifest_format, env.values_key,
                   f"{REGISTRY}/{env.ecr_repository}", d, f"b{build}", f"https://ci/{build}")


def _prod_digest(bare: Path, service: str) -> str:
    text = git(bare, "show", f"main:apps/{service}/overlays/prod/kustomization.yaml")
    return next(line.split()[-1] for line in text.splitlines() if line.strip().startswith("digest:"))


def test_rollback_holds_and_100_bumps_never_override(gitops_repo: Path, catalog, tmp_path: Path,
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    url, work = gitops_repo.as_uri(), tmp_path / "work"
    for ch in "ab":
        bump(url, catalog=catalog, service="storefront", environment="prod", image=IMAGE, digest=digest(ch),
             tag=f"v{ch}", verb="promote", workdir=work)
    queued = _edit(catalog, "storefront", digest("9"), 999).to_json()   # a build's bump queued before the hold

    targets, results = rollback(url, catalog=catalog, services=["storefront"], environment="prod", by="alice",
                                reason="5xx after v2", workdir=work)
    (result,) = results
    assert not isinstance(result, GantryError), result
    assert targets[0].digest == digest("a") and targets[0].tag == "va" and result.commit
    changed = git(gitops_repo, "show", "--name-only", "--format=", result.commit).split()
    assert sorted(changed) == [hold_rel("prod", "storefront"), "apps/storefront/overlays/prod/kustomization.yaml"]
    assert _prod_digest(gitops_repo, "storefront") == digest("a")
    hold = json.loads(git(gitops_repo, "show", f"main:{hold_rel('prod', 'storefront')}"))
    assert (hold["by"], hold["reason"], hold["digest"]) == ("alice", "5xx after v2", digest("a"))

    # 100 bumps from builds, in batches mixed with another service's bumps, through the real write path
    landed = 0
    for batch in range(2):
        edits = [_edit(catalog, "storefront", digest("cdef"[i % 4]), batch * 50 + i) for i in range(50)]
        edits.append(_edit(catalog, "order-api", digest("0123456789"[batch]), 500 + batch))
        out = write_edits(url, "main", edits, workdir=work)
        assert all(isinstance(r, CheckFailed) and r.exit_code == 1 for r in out[:50])
        assert "held by alice" in out[0].what and "5xx after v2" in out[0].what
        landed += not isinstance(out[50], GantryError) and out[50].changed   # the held one blocks nobody
    assert landed == 2 and _prod_digest(gitops_repo, "order-api") == digest("1")
    (late,) = write_edits(url, "main", [PinEdit.from_json(queued)], workdir=work)   # checked when it writes
    assert isinstance(late, CheckFailed)
    assert _prod_digest(gitops_repo, "storefront") == digest("a")                  # 0 overrides

    cat = str(shipped_evidence_off(tmp_path / "cat"))
    cli = ["gitops", "bump", "--catalog", cat, "--repo", url, "--env", "prod", "--service", "storefront",
           "--image", IMAGE, "--mode", "commit"]
    assert main([*cli, "--digest", digest("e")]) == 1   # through the CLI: the host's batch (a JSON-carried edit)
    assert "gitops bump storefront prod: refused: held by alice" in capsys.readouterr().err
    assert main(["gitops", "hold", "list", "--catalog", cat, "--repo", url, "--format", "json"]) == 0
    listed = json.loads(capsys.readouterr().out)
    assert [(h["service"], h["environment"], h["by"]) for h in listed] == [("storefront", "prod", "alice")]

    head = git(gitops_repo, "rev-parse", "main")
    assert main(["gitops", "hold", "release", "--catalog", cat, "--repo", url, "--env", "prod",
                 "--service", "storefront", "--dry-run"]) == 0
    assert "would release" in capsys.readouterr().out and git(gitops_repo, "rev-parse", "main") == head
    assert main(["gitops", "hold", "release", "--catalog", cat, "--repo", url, "--env", "prod",
                 "--service", "storefront", "--by", "bob", "--reason", "fixed in v3"]) == 0
    assert main([*cli, "--digest", digest("3"), "--by", "ci"]) == 0                 # the next bump lands
    assert _prod_digest(gitops_repo, "storefront") == digest("3")
    capsys.readouterr()

    records = read_history(checkout(url, "main", work), environment="prod", service="storefront")
    assert [(r.action, r.by, r.reason) for r in records] == [
        ("bump", "ci", None), ("release", "bob", "fixed in v3"), ("rollback", "alice", "5xx after v2"),
        ("promote", None, None), ("promote", None, None)]
    assert (records[2].digest, records[2].old_digest) == (digest("a"), digest("b"))


def test_second_rollback_goes_further_back_to_freight_and_hold_set_blocks(gitops_repo: Path, catalog,
                                                                           tmp_path: Path) -> None:
    url, work = gitops_repo.as_uri(), tmp_path / "work"
    for ch in "567":   # three builds' bumps, one commit each
        (r,) = write_edits(url, "main", [_edit(catalog, "product-api", digest(ch), int(ch))], workdir=work)
        assert r.commit
    for reason, ch in (("r1", "6"), ("r2", "5")):
        rollback(url, catalog=catalog, services=["product-api"], environment="prod", by="a", reason=reason,
                 workdir=work)
        assert _prod_digest(gitops_repo, "product-api") == digest(ch)
    with pytest.raises(GantryError, match="no earlier digest"):   # 5 was the first: nothing before it
        plan_rollback(checkout(url, "main", work), catalog, ["product-api"], "prod")

    from gitops.git import transact

    def add(wd: Path):   # h24a's record shape: items [{service, image, tag, digest}]
        path = wd / ".gantry/freight/0123456789ab.json"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps({"id": "0123456789ab", "environment": "dev", "commit": "0" * 40,
                                    "items": [{"service": "product-api", "image": f"{REGISTRY}/shop/product-api",
                                               "tag": "f1", "digest": digest("f")}]}))
        return "freight", [".gantry/freight/0123456789ab.json"], None
    transact(url, add, workdir=work)
    targets, (result,) = rollback(url, catalog=catalog, services=["product-api"], environment="prod", by="d",
                                  reason="back to the soaked build", freight="0123456789ab", workdir=work)
    assert targets[0].source == "freight 0123456789ab" and result.commit
    assert _prod_digest(gitops_repo, "product-api") == digest("f")
    assert git(gitops_repo, "log", "-1", "--format=%(trailers:key=Rollback-From,valueonly)", "main") == \
        "freight 0123456789ab"

    cat = str(shipped_evidence_off(tmp_path / "cat"))
    assert main(["gitops", "hold", "set", "--catalog", cat, "--repo", url, "--env", "prod", "--service",
                 "order-api", "--reason", "db migration", "--by", "carol"]) == 0
    (out,) = write_edits(url, "main", [_edit(catalog, "order-api", digest("1"), 1)], workdir=work)
    assert isinstance(out, CheckFailed) and "held by carol" in out.what and "db migration" in out.what


def test_a_hold_pushed_while_a_bump_is_being_written_refuses_it_on_the_retry(gitops_repo: Path, catalog) -> None:
    """The hold guard reads the checkout of each attempt: a hold another host pushes after this
    write started wins (the push is rejected, the edit re-applied on the new tip and refused)."""
    from gitops.holds import Hold, set_hold
    from gitops.hostlock import Writers
    from gitops.writeback import GUARDS
    url = gitops_repo.as_uri()
    attempts = []

    def another_host_sets_a_hold(checkout: Path, edit: PinEdit, at) -> None:
        attempts.append(git(checkout, "rev-parse", "HEAD"))
        if len(attempts) == 1:
            set_hold(url, "main", Hold("prod", edit.service, "eve", "audit", at.isoformat()), writers=Writers(lock=False))

    (result,) = write_edits(url, "main", [_edit(catalog, "storefront", digest("a"), 1)],
                            guards=[another_host_sets_a_hold, *GUARDS])
    assert isinstance(result, CheckFailed) and "held by eve" in result.what
    assert len(attempts) == 2 and attempts[0] != attempts[1]      # refused on the fresh tip, not the first one
    assert git(gitops_repo, "log", "-1", "--format=%(trailers:key=Gantry-Action,valueonly)", "main") == "hold"

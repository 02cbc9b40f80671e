"""gitops bump on real git: round-trip edits, commit messages, no-op, kustomize render, errors."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from gitops.bump import bump
from gitops.layout import init_repo
from pipeline_lib.core.errors import GantryError
from tests.conftest import git
from tests.gitops.conftest import REGISTRY, clone, digest, gantry

IMAGE = f"{REGISTRY}/shop/storefront"


def test_init_repo_is_idempotent(tmp_path: Path, catalog) -> None:
    bare = tmp_path / "g.git"
    svc = catalog.service("storefront")
    first = init_repo(bare, catalog, [svc], "dev", REGISTRY)
    assert first.created and first.commit
    head = git(bare, "rev-parse", "main")
    again = init_repo(bare, catalog, [svc], "dev", REGISTRY)
    assert not again.created and not again.changed and again.commit is None and not again.report.kept
    assert git(bare, "rev-parse", "main") == head
    work = clone(bare, tmp_path / "w")
    for rel in ("apps/storefront/base/deployment.yaml", "apps/storefront/base/service.yaml",
                "apps/storefront/base/kustomization.yaml", "apps/storefront/overlays/dev/kustomization.yaml"):
        assert (work / rel).is_file(), rel


@pytest.mark.skipif(shutil.which("kubectl") is None, reason="kubectl not installed")
def test_bump_kustomize_round_trip_and_render(gitops_repo: Path, catalog, tmp_path: Path) -> None:
    work = clone(gitops_repo, tmp_path / "before")
    rel = "apps/storefront/overlays/dev/kustomization.yaml"
    before = (work / rel).read_text()
    result = bump(gitops_repo.as_uri(), catalog=catalog, service="storefront", environment="dev",
                  image=IMAGE, digest=digest("a"), tag="abc123", build_url="https://ci/job/1/")
    assert result.changed and result.commit and result.manifest == rel
    assert (result.old_tag, result.new_tag, result.old_digest) == (None, "abc123", None)
    after_dir = clone(gitops_repo, tmp_path / "after")
    after = (after_dir / rel).read_text()
    # only lines were added: comments, order and formatting of the rest are untouched
    assert before.splitlines() == [ln for ln in after.splitlines()
                                   if not ln.startswith(("    newTag:", "    digest:"))]
    assert "# the image name used in base/deployment.yaml" in after
    rendered = subprocess.run(["kubectl", "kustomize", str(after_dir / "apps/storefront/overlays/dev")],
                              capture_output=True, text=True, check=True).stdout
    assert f"image: {IMAGE}:abc123@{digest('a')}" in rendered
    message = git(after_dir, "log", "-1", "--format=%B")
    for part in ("storefront", "dev", "none -> abc123", f"none -> {digest('a')}", "https://ci/job/1/"):
        assert part in message
    assert git(after_dir, "rev-list", "--merges", "--count", "HEAD") == "0"

    # second bump: old -> new in the message; then an identical bump is a no-op (no commit)
    second = bump(gitops_repo.as_uri(), catalog=catalog, service="storefront", environment="dev",
                  image=IMAGE, digest=digest("b"), tag="def456")
    assert (second.old_tag, second.old_digest) == ("abc123", digest("a"))
    head = git(gitops_repo, "rev-parse", "main")
    again = bump(gitops_repo.as_uri(), catalog=catalog, service="storefront", environment="dev",
                 image=IMAGE, digest=digest("b"), tag="def456")
    assert not again.changed and again.commit is None
    assert git(gitops_repo, "rev-parse", "main") == head
    message = git(gitops_repo, "log", "-1", "--format=%B", "main")
    assert "abc123 -> def456" in message and f"{digest('a')} -> {digest('b')}" in message


def test_bump_preserves_hand_written_style(tmp_path: Path, catalog) -> None:
    """A hand-edited kustomization (other indentation, comments, quotes) keeps its style."""
    bare = tmp_path / "g.git"
    init_repo(bare, catalog, [catalog.service("order-api")], "dev", REGISTRY)
    work = clone(bare, tmp_path / "w")
    rel = "apps/order-api/overlays/dev/kustomization.yaml"
    text = ("# keep me\n"
            "apiVersion: kustomize.config.k8s.io/v1beta1\n"
            "kind: Kustomization\n"
            "namespace: 'shop-dev'   # quoted on purpose\n"
            "resources:\n"
            "- ../../base\n"
            "images:\n"
            "- name: other\n"
            "  newTag: \"1.0\"\n"
            "- name: order-api   # ours\n"
            "  newName: old.example.com/shop/order-api\n"
            "  newTag: v1\n"
            "commonLabels:\n"
            "  team: orders  # trailing\n")
    (work / rel).write_text(text)
    git(work, "commit", "-qam", "hand edit")
    git(work, "push", "-q", "origin", "main")
    bump(bare.as_uri(), catalog=catalog, service="order-api", environment="dev",
         image=f"{REGISTRY}/shop/order-api", digest=digest("c"), tag="v2")
    after = (clone(bare, tmp_path / "a") / rel).read_text()
    expected = (text.replace("old.example.com/shop/order-api", f"{REGISTRY}/shop/order-api")
                .replace("  newTag: v1\n", f"  newTag: v2\n  digest: {digest('c')}\n"))
    assert after == expected


def test_bump_helm_values(gitops_repo: Path, catalog, tmp_path: Path) -> None:
    result = bump(gitops_repo.as_uri(), catalog=catalog, service="storefront", environment="event",
                  image=f"{REGISTRY}/event/storefront", digest=digest("d"), tag="e1")
    assert result.changed and result.manifest == "event/storefront/values.yaml"
    text = (clone(gitops_repo, tmp_path / "w") / "event/storefront/values.yaml").read_text()
    import yaml
    values = yaml.safe_load(text)
    assert values["image"] == {"repository": f"{REGISTRY}/event/storefront", "tag": "e1", "digest": digest("d")}
    assert text.startswith("# storefront in event") and values["replicaCount"] == 2
    # prod's manifest (another environment) still points at shop/storefront, not event's image
    prod = (tmp_path / "w" / "apps/storefront/overlays/prod/kustomization.yaml").read_text()
    assert "event/" not in prod


@pytest.mark.parametrize("args,message", [
    (["--digest", "sha256:xyz"], "invalid digest"),
    (["--service", "nope"], "unknown service 'nope'"),
    (["--env", "qa"], "argument --env: invalid choice: 'qa'"),   # validated once, by the shared option
    (["--service", "event-api", "--env", "dev"], "not deployed to environment 'dev'"),
])
def test_bad_input_exit_2(gitops_repo: Path, args: list[str], message: str) -> None:
    base = {"--repo": gitops_repo.as_uri(), "--env": "dev", "--service": "storefront", "--digest": digest("a")}
    for flag, value in zip(args[::2], args[1::2]):
        base[flag] = value
    argv = ["gitops", "bump", "--mode", "commit"] + [x for kv in base.items() for x in kv]
    proc = gantry(*argv)
    assert proc.returncode == 2, proc.stderr
    assert message in proc.stderr and "Traceback" not in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1 and proc.stderr.startswith("gantry: ")


def test_manifest_not_found_exit_2(tmp_path: Path, catalog) -> None:
    bare = tmp_path / "g.git"
    init_repo(bare, catalog, [catalog.service("storefront")], "dev", REGISTRY)
    proc = gantry("gitops", "bump", "--repo", bare.as_uri(), "--env", "dev", "--service", "order-api",
                  "--digest", digest("a"), "--image", f"{REGISTRY}/shop/order-api")
    assert proc.returncode == 2 and "manifest not found" in proc.stderr and "Traceback" not in proc.stderr


def test_cli_bump_and_no_change(gitops_repo: Path) -> None:
    argv = ["gitops", "bump", "--repo", gitops_repo.as_uri(), "--env", "dev", "--service", "product-api",
            "--digest", digest("e"), "--tag", "t1", "--image", f"{REGISTRY}/shop/product-api",
            "--build-url", "https://ci/2"]
    first = gantry(*argv)
    assert first.returncode == 0, first.stderr
    assert "none -> t1" in first.stdout and "commit " in first.stdout
    second = gantry(*argv)
    assert second.returncode == 0 and "no commit" in second.stdout


def test_unreachable_remote_is_one_line(tmp_path: Path, catalog) -> None:
    with pytest.raises(GantryError, match="cannot clone"):
        bump((tmp_path / "missing.git").as_uri(), catalog=catalog, service="storefront", environment="dev",
             image=IMAGE, digest=digest("a"))

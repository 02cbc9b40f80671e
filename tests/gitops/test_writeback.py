"""Issue 21: one write path, batched commits, effect checks that scale (real git, real kubectl)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from gitops.batch import prune_workdirs
from gitops.kustomize import render_kustomize, render_many
from gitops.layout import init_repo
from gitops.writeback import error_from_json, error_to_json
from pipeline_lib.core.catalog import load_catalog
from pipeline_lib.core.errors import Conflict, GantryError, NotFound, TimeoutExceeded
from tests.conftest import git
from tests.gitops.conftest import PROJECT_ROOT, REGISTRY, clone, digest, synthetic_catalog

HEX = "0123456789abcdef"


def _dig(i: int) -> str:
    return digest(HEX[i % 16]) if i < 16 else "sha256:" + f"{i:064x}"


def _argv(catalog: Path, repo: Path, i: int) -> list[str]:
    return [sys.executable, "-m", "pipeline_lib.cli", "gitops", "bump", "--catalog", str(catalog),
            "--repo", repo.as_uri(), "--env", "dev", "--service", f"svc-{i:03d}", "--digest", _dig(i),
            "--tag", f"t{i}", "--image", f"{REGISTRY}/shop/svc-{i:03d}", "--build-url", f"https://ci/{i}",
            "--format", "json"]


def _run_all(catalog: Path, repo: Path, ids: list[int], env: dict[str, str]) -> dict[int, tuple[int, str, str]]:
    procs = {i: subprocess.Popen(_argv(catalog, repo, i), cwd=PROJECT_ROOT, stdout=subprocess.PIPE,
                                 stderr=subprocess.PIPE, text=True, env={**os.environ, **env}) for i in ids}
    out = {}
    for i, p in procs.items():
        stdout, stderr = p.communicate(timeout=300)
        out[i] = (p.returncode, stdout, stderr)
    return out


def _rendered(work: Path, i: int) -> str:
    docs = render_kustomize(work / f"apps/svc-{i:03d}/overlays/dev", "test")
    (deploy,) = [d for d in docs if d["kind"] == "Deployment"]
    return deploy["spec"]["template"]["spec"]["containers"][0]["image"]


def _rename_in_base(work: Path, i: int) -> None:
    """The base already renames the image: the overlay's entry then matches nothing (a refused pin)."""
    base = work / f"apps/svc-{i:03d}/base/kustomization.yaml"
    base.write_text(base.read_text() + f"images:\n  - name: svc-{i:03d}\n"
                                       f"    newName: other.example.com/shop/svc-{i:03d}\n")


@pytest.fixture()
def repo20(tmp_path: Path) -> tuple[Path, Path]:
    cat_path = synthetic_catalog(tmp_path / "catalog.yaml", 20)
    catalog = load_catalog(cat_path)
    bare = tmp_path / "gitops.git"
    init_repo(bare, catalog, list(catalog.services), "dev", REGISTRY)
    return cat_path, bare


def test_20_concurrent_bumps_one_refused(repo20, tmp_path: Path) -> None:
    """svc-007's overlay would not render its pin: that process exits 2 with the lone bump's
    one-line error; the other 19 land, group-committed, each rendered by its overlay."""
    cat_path, bare = repo20
    work = clone(bare, tmp_path / "setup")
    _rename_in_base(work, 7)
    git(work, "commit", "-qam", "svc-007: image renamed in base")
    git(work, "push", "-q", "origin", "main")
    base = git(bare, "rev-parse", "main")
    env = {"GANTRY_LOCK_DIR": str(tmp_path / "locks")}
    # the reference: svc-007 bumped alone (no spool, no batch)
    lone = _run_all(cat_path, bare, [7], {**env, "GANTRY_GITOPS_NO_BATCH": "1"})[7]
    assert lone[0] == 2 and lone[2].splitlines()[-1].startswith("gantry: apps/svc-007/overlays/dev/kustomization.yaml: no images: entry")
    assert git(bare, "rev-parse", "main") == base

    log = tmp_path / "batches.log"
    results = _run_all(cat_path, bare, list(range(20)), {**env, "GANTRY_GITOPS_LOG": str(log)})
    code, _, err = results[7]
    assert (code, err) == (2, lone[2])  # the same exit code and the same one line
    errors = [ln for ln in err.strip().splitlines() if not ln.startswith("gantry: warning:")]
    assert len(errors) == 1 and "Traceback" not in err
    for i, (code, out, err) in results.items():
        if i != 7:
            assert code == 0, f"svc-{i:03d}: {err}"
            data = json.loads(out)
            assert data["changed"] and data["commit"] and data["new_digest"] == _dig(i)
            assert set(data["timings"]) >= {"queue_wait", "render", "push", "total"}
    commits = int(git(bare, "rev-list", "--count", f"{base}..main"))
    assert 1 <= commits < 19  # batched: fewer commits than bumps
    lines = log.read_text().splitlines()  # one line per commit, with its size
    assert len(lines) == commits
    assert sum(int(line.split(": ", 1)[1].split(" edit(s)")[0]) for line in lines) == 19
    assert git(bare, "rev-list", "--merges", "--count", "main") == "0"
    after = clone(bare, tmp_path / "after")
    for i in range(20):
        if i != 7:
            assert _rendered(after, i) == f"{REGISTRY}/shop/svc-{i:03d}:t{i}@{_dig(i)}"
    assert _rendered(after, 7) == "other.example.com/shop/svc-007"
    message = git(bare, "log", "--format=%B", "-1", "main")
    sizes = {json.loads(out)["commit"]: json.loads(out)["commit_edits"]
             for i, (code, out, _) in results.items() if code == 0}
    head = git(bare, "rev-parse", "main")
    if sizes[head] > 1:  # one line per service, then each service's block
        assert message.splitlines()[0].startswith(f"deploy: {sizes[head]} services in dev")
        assert message.count("Build: https://ci/") == sizes[head] and "Digest: none -> sha256:" in message


FOREIGN_HOOK = """#!/bin/sh
# a writer on another host gets in first, once: gantry's push is rejected and must be rebased
[ -e "{marker}" ] && exit 0
touch "{marker}"
env -i PATH="$PATH" HOME="$HOME" sh -ec '
  d=$(mktemp -d)
  git clone -q "{bare}" "$d/w"
  cd "$d/w"
  printf "images:\\n  - name: svc-003\\n    newName: other.example.com/shop/svc-003\\n" >> apps/svc-003/base/kustomization.yaml
  echo "foreign change" >> README.md
  git -c user.name=other -c user.email=other@example.com commit -qam "foreign: svc-003 renamed in base"
  git push -q origin HEAD:main
  rm -rf "$d"
' >&2
exit 0
"""


def test_foreign_commit_during_a_batch_is_rebased(tmp_path: Path) -> None:
    """The remote moves while a batch pushes: the batch is re-applied on the new tip and every
    edit effect-checked again (svc-003's is now refused), nothing lost, no merge commit."""
    n = 6
    cat_path = synthetic_catalog(tmp_path / "catalog.yaml", n)
    catalog = load_catalog(cat_path)
    bare = tmp_path / "gitops.git"
    init_repo(bare, catalog, list(catalog.services), "dev", REGISTRY)
    base = git(bare, "rev-parse", "main")
    hook = bare / "hooks" / "pre-receive"
    hook.write_text(FOREIGN_HOOK.format(marker=tmp_path / "foreign-done", bare=bare))
    hook.chmod(0o755)
    env = {"GANTRY_LOCK_DIR": str(tmp_path / "locks"), "GANTRY_GITOPS_BATCH_WINDOW_MS": "1500"}
    results = _run_all(cat_path, bare, list(range(n)), env)
    assert (tmp_path / "foreign-done").exists()
    code, _, err = results[3]
    assert code == 2 and err.splitlines()[-1].startswith("gantry: apps/svc-003/overlays/dev/kustomization.yaml: no images: entry")
    landed = {i: json.loads(out) for i, (code, out, _) in results.items() if i != 3}
    assert all(results[i][0] == 0 for i in landed), {i: results[i][2] for i in landed}
    assert max(d["attempts"] for d in landed.values()) >= 2  # the rejected push was retried
    assert git(bare, "rev-list", "--merges", "--count", "main") == "0"
    subjects = git(bare, "log", "--format=%s", f"{base}..main").splitlines()
    assert "foreign: svc-003 renamed in base" in subjects  # the foreign commit is kept, below ours
    assert subjects[-1] == "foreign: svc-003 renamed in base"
    after = clone(bare, tmp_path / "after")
    assert "foreign change" in (after / "README.md").read_text()
    for i in landed:
        assert _rendered(after, i) == f"{REGISTRY}/shop/svc-{i:03d}:t{i}@{_dig(i)}"
    assert _rendered(after, 3) == "other.example.com/shop/svc-003"


def test_per_service_commits_when_the_catalog_asks(repo20, tmp_path: Path) -> None:
    cat_path, bare = repo20
    text = cat_path.read_text().replace("  gitops_repo:", "  gitops_commits: per-service\n  gitops_repo:")
    cat_path.write_text(text)
    base = git(bare, "rev-parse", "main")
    results = _run_all(cat_path, bare, list(range(5)),
                       {"GANTRY_LOCK_DIR": str(tmp_path / "locks"), "GANTRY_GITOPS_BATCH_WINDOW_MS": "1000"})
    assert all(code == 0 for code, _, _ in results.values()), results
    commits = {json.loads(out)["commit"] for _, out, _ in results.values()}
    assert len(commits) == 5 and git(bare, "rev-list", "--count", f"{base}..main") == "5"
    for i in range(5):
        (subject,) = [s for s in git(bare, "log", "--format=%s", f"{base}..main").splitlines() if f"svc-{i:03d}" in s]
        assert subject.startswith(f"deploy(svc-{i:03d}): dev none -> t{i}")


def test_render_many_matches_lone_renders_and_falls_back(repo20, tmp_path: Path) -> None:
    """One combined kubectl call gives each overlay exactly its lone render; when the combined
    render fails (an overlay that does not render) each overlay gets its own result."""
    _, bare = repo20
    work = clone(bare, tmp_path / "w")
    targets = [(work / f"apps/svc-{i:03d}/overlays/dev", f"svc-{i}") for i in range(4)]
    many = render_many(targets)
    for (target, where), docs in zip(targets, many):
        lone = render_kustomize(target, where)
        key = lambda d: (d["kind"], d["metadata"]["name"])  # noqa: E731
        assert sorted(docs, key=key) == sorted(lone, key=key)
    (work / "apps/svc-002/overlays/dev/kustomization.yaml").write_text("resources: [missing.yaml]\n")
    broken = render_many(targets)
    assert isinstance(broken[2], GantryError) and broken[2].where == "svc-2"
    with pytest.raises(GantryError) as lone_error:
        render_kustomize(*targets[2])
    assert broken[2].what == lone_error.value.what
    assert all(isinstance(r, list) and r for i, r in enumerate(broken) if i != 2)


@pytest.mark.parametrize("exc", [GantryError("a", "b"), NotFound("git", "x"), Conflict("git", "rejected"),
                                 TimeoutExceeded("kubectl", "slow", exit_code=3), GantryError("w", "c", exit_code=1)])
def test_errors_keep_their_type_between_processes(exc: GantryError) -> None:
    back = error_from_json(json.loads(json.dumps(error_to_json(exc))))
    assert type(back) is type(exc) and (back.where, back.what, back.exit_code) == (exc.where, exc.what, exc.exit_code)
    assert back.lines() == exc.lines()


def test_kept_checkouts_idle_for_long_are_pruned_unless_in_use(tmp_path: Path) -> None:
    import fcntl
    locks = tmp_path / "locks"
    idle, busy, fresh, keep = (locks / f"{name}.work" for name in ("idle", "busy", "fresh", "keep"))
    for work in (idle, busy, fresh, keep):
        (work / ".git").mkdir(parents=True)
    for work in (idle, busy, keep):
        os.utime(work, (1_000_000, 1_000_000))
    with open(busy.with_suffix(".lock"), "a") as held:  # a batch of that repository is running
        fcntl.flock(held, fcntl.LOCK_EX)
        prune_workdirs(locks, keep, idle=3600)
    assert not idle.exists() and busy.exists() and fresh.exists() and keep.exists()


def test_two_edits_of_one_overlay_in_a_batch_apply_in_order(tmp_path: Path) -> None:
    """Same service twice in one batch (two builds): the overlay's combined check fails for the
    first, so the overlay is re-done one edit at a time: both are kept, in order, the last wins."""
    from gitops.effect import Applied, Intent, apply_each
    from tests.gitops.test_effect import catalog as effect_catalog
    from tests.gitops.test_effect import overlay, rendered_images
    overlay(tmp_path, "resources: [../../base]\nimages:\n  - name: web\n    newTag: v1\n")
    web = effect_catalog().service("web")
    first, second = (f"registry.example.com/shop/web:v{n}@{digest(str(n))}" for n in (2, 3))
    out = apply_each(tmp_path, [Intent(web, web.environment("dev"), first), Intent(web, web.environment("dev"), second)])
    assert all(isinstance(a, Applied) and a.changed for a in out)
    assert out[1].running.reference == first  # the second edit saw the first one's render
    assert rendered_images(tmp_path)["Deployment//web:.spec.template.spec.containers[web]"] == second

"""Concurrent ``gantry gitops bump`` processes on one bare repo: no lost update, no merge commit."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from gitops.layout import init_repo
from pipeline_lib.core.catalog import load_catalog
from tests.conftest import git
from tests.gitops.conftest import PROJECT_ROOT, REGISTRY, clone, digest, synthetic_catalog

N = 8


def _start(catalog: Path, repo: Path, service: str, dig: str, env: dict[str, str] | None = None) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, "-m", "pipeline_lib.cli", "gitops", "bump", "--catalog", str(catalog),
                             "--repo", repo.as_uri(), "--env", "dev", "--service", service, "--digest", dig,
                             "--tag", service, "--image", f"{REGISTRY}/shop/{service}"],
                            cwd=PROJECT_ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, **(env or {})})


@pytest.fixture()
def many(tmp_path: Path) -> tuple[Path, Path]:
    cat_path = synthetic_catalog(tmp_path / "catalog.yaml", N)
    catalog = load_catalog(cat_path)
    bare = tmp_path / "gitops.git"
    init_repo(bare, catalog, list(catalog.services), "dev", REGISTRY)
    return cat_path, bare


@pytest.mark.parametrize("lock", ["1", "0"], ids=["host-lock", "retry-only"])
def test_concurrent_bumps_of_different_services(many, tmp_path: Path, lock: str) -> None:
    """With the per-host writer lock, and without it (pure fetch-rebase-retry, as across hosts)."""
    cat_path, bare = many
    base = git(bare, "rev-parse", "main")
    t0 = time.monotonic()
    env = {"GANTRY_GITOPS_NO_LOCK": "0" if lock == "1" else "1", "GANTRY_LOCK_DIR": str(tmp_path / "locks")}
    n = N if lock == "1" else 5  # without the lock every writer races every other: keep it small
    procs = [_start(cat_path, bare, f"svc-{i:03d}", digest("0123456789abcdef"[i % 16]), env) for i in range(n)]
    results = [(p, *p.communicate(timeout=120)) for p in procs]
    assert time.monotonic() - t0 < 60
    for proc, out, err in results:
        assert proc.returncode == 0, err
    commits = int(git(bare, "rev-list", "--count", f"{base}..main"))
    if lock == "1":  # group commit: bumps that arrived together share a commit
        assert 1 <= commits <= n
    else:            # every process on its own: one commit each
        assert commits == n
    messages = git(bare, "log", "--format=%B", f"{base}..main")
    for i in range(n):  # every service is named in a commit, with its build's digest
        assert f"Service: svc-{i:03d}" in messages
        assert f"-> {digest('0123456789abcdef'[i % 16])}" in messages
    assert git(bare, "rev-list", "--merges", "--count", "main") == "0"
    work = clone(bare, tmp_path / "w")
    for i in range(n):
        text = (work / f"apps/svc-{i:03d}/overlays/dev/kustomization.yaml").read_text()
        assert f"digest: {digest('0123456789abcdef'[i % 16])}" in text and f"newTag: svc-{i:03d}" in text


def test_identical_concurrent_bumps_collapse(many) -> None:
    cat_path, bare = many
    base = git(bare, "rev-parse", "main")
    procs = [_start(cat_path, bare, "svc-000", digest("f"), {"GANTRY_GITOPS_NO_LOCK": "1"}) for _ in range(4)]
    for p in procs:
        _, err = p.communicate(timeout=120)
        assert p.returncode == 0, err
    assert git(bare, "rev-list", "--count", f"{base}..main") == "1"


@pytest.mark.parametrize("reuse_checkout", [True, False], ids=["workdir", "group-commit"])
def test_killed_bump_leaves_no_partial_commit_and_rerun_converges(many, tmp_path: Path,
                                                                   reuse_checkout: bool) -> None:
    cat_path, bare = many
    base = git(bare, "rev-parse", "main")
    workdir = tmp_path / "checkout"
    argv = [sys.executable, "-m", "pipeline_lib.cli", "gitops", "bump", "--catalog", str(cat_path),
            "--repo", bare.as_uri(), "--env", "dev", "--service", "svc-001", "--digest", digest("1"),
            "--image", f"{REGISTRY}/shop/svc-001"] + (["--workdir", str(workdir)] if reuse_checkout else [])
    # a git pre-push hook in the checkout would be ours; instead kill at random points in time
    env = {**os.environ, "GANTRY_LOCK_DIR": str(tmp_path / "locks")}
    for delay in (0.05, 0.15, 0.3, 0.45):
        # its own process group, killed whole (as Jenkins aborts a step): git push and the remote's
        # receive-pack die with it, so no orphaned child is still writing while fsck reads the repo
        proc = subprocess.Popen(argv, cwd=PROJECT_ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                env=env, start_new_session=True)
        time.sleep(delay)
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
        head = git(bare, "rev-parse", "main")
        assert head == base or git(bare, "log", "-1", "--format=%s", "main").startswith("deploy(svc-001)")
        assert subprocess.run(["git", "fsck", "--no-progress"], cwd=bare, capture_output=True).returncode == 0
    # leave junk in the reused checkout: the rerun resets it and converges
    if (workdir / ".git").is_dir():
        (workdir / "junk.txt").write_text("half-done")
    done = subprocess.run(argv, cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=60, env=env)
    assert done.returncode == 0, done.stderr
    assert git(bare, "rev-list", "--count", f"{base}..main") == "1"
    assert not list((tmp_path / "locks").glob("*.spool/*.req"))  # no request left behind
    assert "junk.txt" not in git(bare, "ls-tree", "-r", "--name-only", "main")


def test_remote_rejects_push(many, tmp_path: Path) -> None:
    """A pre-receive hook that refuses: clear one-line error, remote unchanged."""
    cat_path, bare = many
    base = git(bare, "rev-parse", "main")
    hook = bare / "hooks" / "pre-receive"
    hook.write_text("#!/bin/sh\necho 'protected branch: review required' >&2\nexit 1\n")
    hook.chmod(0o755)
    proc = subprocess.run([sys.executable, "-m", "pipeline_lib.cli", "gitops", "bump", "--catalog", str(cat_path),
                           "--repo", bare.as_uri(), "--env", "dev", "--service", "svc-002", "--digest",
                           digest("2"), "--image", f"{REGISTRY}/shop/svc-002"],
                          cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=120,
                          env={**os.environ})
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr.splitlines()[-1].startswith("gantry: git:") and "Traceback" not in proc.stderr
    assert git(bare, "rev-parse", "main") == base

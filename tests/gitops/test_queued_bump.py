"""A bump that queues for a GitOps batch stays thin (issue 21): it writes its raw arguments to the
spool and waits; the batch's leader runs the lone bump's checks. Same output, same errors."""

from __future__ import annotations

import fcntl
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from gitops.hostlock import lock_path
from gitops.layout import init_repo
from pipeline_lib.core.catalog import load_catalog
from tests.gitops.conftest import PROJECT_ROOT, REGISTRY, digest, synthetic_catalog

# the machinery a waiting bump leaves to its leader (its command line is parsed there too)
LEADER_ONLY = ("argparse", "yaml", "ruamel", "requests", "urllib3", "cryptography", "tenacity", "concurrent",
               "subprocess", "pipeline_lib.commands.gitops", "pipeline_lib.core.process",
               "pipeline_lib.core.catalog", "gitops.writeback", "gitops.git", "gitops.bump", "pipeline_lib.stages")

# gantry as the console script runs it, writing sys.modules at exit
_RUN = """
import atexit, json, sys
out = sys.argv.pop(1)
atexit.register(lambda: open(out, "w").write(json.dumps(sorted(sys.modules))))
from pipeline_lib.cli import main
sys.argv[0] = "gantry"
sys.exit(main())
"""


@pytest.fixture()
def repo(tmp_path: Path) -> tuple[Path, Path]:
    cat_path = synthetic_catalog(tmp_path / "catalog.yaml", 3)
    catalog = load_catalog(cat_path)
    bare = tmp_path / "gitops.git"
    init_repo(bare, catalog, list(catalog.services), "dev", REGISTRY)
    return cat_path, bare


def _argv(cat_path: Path, bare: Path, service: str, *extra: str) -> list[str]:
    return ["gitops", "bump", "--catalog", str(cat_path), "--repo", bare.as_uri(), "--env", "dev",
            "--service", service, "--digest", digest("a"), "--image", f"{REGISTRY}/shop/{service}", *extra]


def _gantry(argv: list[str], **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "pipeline_lib.cli", *argv], cwd=PROJECT_ROOT, capture_output=True,
                          text=True, env={**os.environ, **env}, timeout=120)


@pytest.mark.parametrize("extra", [("--service", "svc-nope"), ("--tag", "not a tag!"),
                                   ("--image", "Not/A/Repo:@"), ("--catalog", "missing.yaml"), ("--env", "prod"),
                                   ("--catalog", "RELATIVE", "--service", "svc-nope")],
                         ids=["unknown-service", "bad-tag", "bad-image", "no-catalog", "env-not-in-catalog",
                              "relative-catalog"])
def test_a_queued_bump_fails_as_a_lone_bump_does(repo, extra: tuple[str, ...]) -> None:
    """Checked by the leader (another process, maybe in another directory): the same line."""
    cat_path, bare = repo
    rel = os.path.relpath(cat_path, PROJECT_ROOT)
    argv = _argv(cat_path, bare, "svc-000", "--tag", "t1", *(rel if e == "RELATIVE" else e for e in extra))
    queued, lone = _gantry(argv), _gantry(argv, GANTRY_GITOPS_NO_BATCH="1")
    assert lone.returncode == 2 and lone.stderr.startswith("gantry: ")
    assert (queued.returncode, queued.stdout, queued.stderr) == (lone.returncode, lone.stdout, lone.stderr)


def test_a_queued_bump_prints_what_a_lone_bump_prints(repo) -> None:
    cat_path, bare = repo
    queued = _gantry(_argv(cat_path, bare, "svc-001", "--tag", "t1", "--format", "json"))
    lone = _gantry(_argv(cat_path, bare, "svc-002", "--tag", "t1", "--format", "json"), GANTRY_GITOPS_NO_BATCH="1")
    assert queued.returncode == lone.returncode == 0, queued.stderr + lone.stderr
    assert queued.stderr == lone.stderr   # the evidence warning (signing warn, no key) comes back to the waiter
    q, o = json.loads(queued.stdout), json.loads(lone.stdout)
    assert list(q) == list(o) and q["changed"] and q["new_digest"] == o["new_digest"] == digest("a")
    assert set(q["timings"]) == {"render", "push", "queue_wait", "total"}


def test_a_waiting_bump_loads_no_catalog_render_or_git_machinery(repo, tmp_path: Path) -> None:
    """The test holds the writer lock and answers the request as a leader would."""
    cat_path, bare = repo
    url = bare.as_uri()
    lock = lock_path(url, str(tmp_path / "locks"))
    lock.parent.mkdir(parents=True, exist_ok=True)
    spool = lock.with_suffix(".spool")
    modules = tmp_path / "modules.json"
    with open(lock, "a") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        proc = subprocess.Popen([sys.executable, "-c", _RUN, str(modules), *_argv(cat_path, bare, "svc-000")],
                                cwd=PROJECT_ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        deadline = time.monotonic() + 30
        while not list(spool.glob("*.req")) and time.monotonic() < deadline and proc.poll() is None:
            time.sleep(0.02)
        (req,) = spool.glob("*.req")
        raw = json.loads(req.read_text())["request"]   # its command line as typed, no edit
        assert raw["argv"] == _argv(cat_path, bare, "svc-000")[2:] and raw["cwd"] == str(PROJECT_ROOT)
        result = {"changed": False, "commit": None, "old_tag": None, "new_tag": None, "old_digest": digest("a"),
                  "new_digest": digest("a"), "manifest": "apps/svc-000/overlays/dev/kustomization.yaml",
                  "attempts": 1, "branch": "main", "pull_request": None, "warnings": ["w1"], "image": "",
                  "timings": {}, "batch": 1, "commit_edits": 0, "break_glass": None, "freight": None}
        req.with_suffix(".res").write_text(json.dumps({"result": result, "notes": ["gantry: warning: n1"]}))
        fcntl.flock(fh, fcntl.LOCK_UN)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    assert err.splitlines() == ["gantry: warning: n1", "gantry: warning: w1"]
    assert out == (f"svc-000 dev: apps/svc-000/overlays/dev/kustomization.yaml already pins {digest('a')}; "
                   "no commit\n")
    loaded = json.loads(modules.read_text())
    assert "gitops.spool" in loaded and "gitops.batch" not in loaded
    assert sorted(m for m in loaded if m.startswith(LEADER_ONLY)) == []
    assert not list(spool.iterdir())   # its request and answer removed


def test_the_queued_reading_knows_every_option_of_bump() -> None:
    """bumpqueue reads `gitops bump` without argparse: its option table is the parser's."""
    from pipeline_lib.cli import build_parser
    from pipeline_lib.commands import bumpqueue

    gitops = next(a for a in build_parser("gitops")._subparsers._group_actions[0].choices["gitops"]._actions
                  if a.dest == "gitops_command")
    bump = gitops.choices["bump"]
    flags = {o for a in bump._actions if a.nargs == 0 for o in a.option_strings}
    values = {o for a in bump._actions if a.nargs != 0 for o in a.option_strings}
    known = bumpqueue.VALUE_OPTIONS | bumpqueue.FLAG_OPTIONS | bumpqueue.UNQUEUED_OPTIONS
    assert bumpqueue.VALUE_OPTIONS <= values and bumpqueue.FLAG_OPTIONS <= flags
    assert flags | values == known


@pytest.mark.parametrize("argv, expected", [
    (["--service", "a", "--repo=file:///r", "--json"], {"--service": "a", "--repo": "file:///r", "--json": True}),
    (["--tag="], {"--tag": ""}),
    (["--serv", "a"], None),                         # an abbreviation: argparse's call
    (["--service", "a", "--service", "b"], None),    # repeated
    (["--tag", "-1"], None),                         # a value like an option
    (["--service"], None), (["--workdir", "w"], None), (["--help"], None), (["--json=1"], None), (["x"], None),
])
def test_the_queued_reading_leaves_anything_unusual_to_argparse(argv: list[str], expected) -> None:
    from pipeline_lib.commands.bumpqueue import read

    assert read(argv) == expected


def test_queued_bumps_are_parsed_in_their_own_environment(repo, tmp_path: Path) -> None:
    """The leader parses each queued command line with its process's settings: two bumps queued
    while the test holds the writer lock land in one commit, each with its own $BUILD_URL (one
    through an abbreviated option, so it queues after the full CLI parsed it)."""
    cat_path, bare = repo
    locks = str(tmp_path / "locks")
    lock = lock_path(bare.as_uri(), locks)
    lock.parent.mkdir(parents=True, exist_ok=True)
    with open(lock, "a") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        procs = [subprocess.Popen([sys.executable, "-m", "pipeline_lib.cli", *_argv(cat_path, bare, svc, *extra)],
                                  cwd=PROJECT_ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                  env={**os.environ, "BUILD_URL": f"https://ci/{svc}", "GANTRY_LOCK_DIR": locks})
                 for svc, extra in (("svc-001", ("--tag", "t1")), ("svc-002", ("--ta", "t2")))]
        deadline = time.monotonic() + 60
        while len(list(lock.with_suffix(".spool").glob("*.req"))) < 2 and time.monotonic() < deadline:
            time.sleep(0.02)
        fcntl.flock(fh, fcntl.LOCK_UN)
    for p in procs:
        out, err = p.communicate(timeout=120)
        assert p.returncode == 0, err
    log = subprocess.run(["git", "log", "-1", "--format=%B", "main"], cwd=bare, capture_output=True, text=True).stdout
    assert "Build: https://ci/svc-001" in log and "Build: https://ci/svc-002" in log, log

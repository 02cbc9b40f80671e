"""The real ``git`` CLI with one-line errors, and the push transaction used by every writer.

A change is computed by a function applied to a fresh checkout of the remote branch, committed
and pushed. When the push is rejected (another writer won the race), the checkout is reset to
the new remote tip and the change is applied again (a rebase of our edit), so concurrent
writers of different files never lose an update and never create merge commits; identical
changes collapse to one commit. Git's ref update is atomic: a killed process leaves either
the old or the new commit on the remote, never a partial one.
"""

from __future__ import annotations

import os
import random
import shutil
import subprocess
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from pipeline_lib.errors import GantryError

DEFAULT_IDENTITY = {"GIT_AUTHOR_NAME": "gantry", "GIT_AUTHOR_EMAIL": "gantry@localhost",
                    "GIT_COMMITTER_NAME": "gantry", "GIT_COMMITTER_EMAIL": "gantry@localhost"}
# "another writer won the race" (retry); a hook or permission refusal is final
REJECT_MARKERS = ("non-fast-forward", "fetch first", "failed to update ref", "cannot lock ref",
                  "failed to lock", "incorrect old value", "stale info", "unable to update local ref")
FINAL_MARKERS = ("hook declined", "declined", "permission denied", "protected branch")


def _env() -> dict[str, str]:
    env = dict(os.environ)
    for key, value in DEFAULT_IDENTITY.items():
        env.setdefault(key, value)
    env["GIT_TERMINAL_PROMPT"] = "0"
    env.setdefault("GIT_CONFIG_NOSYSTEM", "1")
    return env


class GitError(GantryError):
    def __init__(self, args: Sequence[str], stderr: str) -> None:
        lines = [ln for ln in stderr.strip().splitlines() if ln.strip()]
        super().__init__("git", f"git {' '.join(args[:2])}: {lines[-1] if lines else 'failed'}")
        self.stderr = stderr


def git(cwd: Path | None, *args: str, check: bool = True, input: str | None = None) -> subprocess.CompletedProcess[str]:
    try:
        proc = subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True,
                              env=_env(), input=input)
    except FileNotFoundError:
        raise GantryError("git", "not found on PATH; install git") from None
    if check and proc.returncode != 0:
        raise GitError(args, proc.stderr or proc.stdout)
    return proc


def out(cwd: Path | None, *args: str) -> str:
    return git(cwd, *args).stdout.strip()


@dataclass
class Transaction:
    """Outcome of :func:`transact`: the pushed commit (or None when nothing changed)."""

    commit: str | None
    attempts: int
    result: object = None


def checkout(url: str, branch: str, workdir: Path) -> Path:
    """A working copy of ``url``'s ``branch`` at ``workdir`` (cloned, or fetched and reset)."""
    if (workdir / ".git").is_dir():
        git(workdir, "remote", "set-url", "origin", url)
        sync(workdir, branch)
        return workdir
    if workdir.exists() and any(workdir.iterdir()):
        raise GantryError("git", f"work dir {workdir} exists and is not a git checkout")
    proc = git(None, "clone", "-q", "--no-tags", "--single-branch", "-b", branch, url, str(workdir), check=False)
    if proc.returncode != 0:
        msg = proc.stderr.strip().splitlines()[-1] if proc.stderr.strip() else "clone failed"
        if "not found in upstream" in proc.stderr or "Remote branch" in proc.stderr:
            raise GantryError("git", f"{url}: branch {branch!r} not found")
        raise GantryError("git", f"cannot clone {url}: {msg}")
    return workdir


def sync(workdir: Path, branch: str) -> None:
    """Reset the checkout to the remote tip (discarding any half-done local change)."""
    git(workdir, "fetch", "-q", "--no-tags", "origin", f"+refs/heads/{branch}:refs/remotes/origin/{branch}")
    git(workdir, "checkout", "-q", "-B", branch, f"origin/{branch}")
    git(workdir, "reset", "-q", "--hard", f"origin/{branch}")
    git(workdir, "clean", "-q", "-fdx")


def transact(url: str, change: Callable[[Path], tuple[str, list[str], object] | None], *,
             branch: str = "main", push_branch: str | None = None, workdir: Path | None = None,
             attempts: int = 30, max_delay: float = 1.0) -> Transaction:
    """Apply ``change(checkout)`` on the remote tip, commit and push; retry on rejection.

    ``change`` returns ``None`` for "nothing to do", else ``(message, paths, result)``.
    ``push_branch`` pushes to another branch (pull-request mode); the default is ``branch``.
    """
    own = workdir is None
    wd = Path(tempfile.mkdtemp(prefix="gantry-gitops-")) / "repo" if own else Path(workdir)
    target = push_branch or branch
    try:
        checkout(url, branch, wd)
        for attempt in range(1, attempts + 1):
            if attempt > 1:
                sync(wd, branch)
            outcome = change(wd)
            if outcome is None:
                return Transaction(None, attempt)
            message, paths, result = outcome
            git(wd, "add", "--", *paths)
            if git(wd, "diff", "--cached", "--quiet", check=False).returncode == 0:
                return Transaction(None, attempt, result)
            git(wd, "commit", "-q", "--no-verify", "-F", "-", input=message)
            commit = out(wd, "rev-parse", "HEAD")
            args = ["push", "-q", "--porcelain", "origin", f"HEAD:refs/heads/{target}"]
            if push_branch:  # gantry's own review branch: its content is recomputed, overwrite it
                args.insert(1, "--force")
            proc = git(wd, *args, check=False)
            if proc.returncode == 0:
                return Transaction(commit, attempt, result)
            text = (proc.stderr + proc.stdout).lower()
            if any(m in text for m in FINAL_MARKERS) or not any(m in text for m in REJECT_MARKERS):
                lines = [ln for ln in (proc.stderr or proc.stdout).strip().splitlines() if ln.strip()]
                raise GantryError("git", f"push to {url} failed: {lines[-1] if lines else 'unknown error'}")
            time.sleep(min(max_delay, 0.02 * attempt) * (0.5 + random.random()))
        raise GantryError("git", f"push to {url} still rejected after {attempts} attempts "
                                 f"(too many concurrent writers?)")
    finally:
        if own:
            shutil.rmtree(wd.parent, ignore_errors=True)

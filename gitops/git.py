"""The real ``git`` CLI with one-line errors, and the push transaction used by every writer.

A change is computed by a function applied to a fresh checkout of the remote branch, committed
and pushed. When the push is rejected (another writer won the race), the checkout is reset to
the new remote tip and the change is applied again (a rebase of our edit), so concurrent
writers of different files never lose an update and never create merge commits; identical
changes collapse to one commit. Git's ref update is atomic: a killed process leaves either
the old or the new commit on the remote, never a partial one.
"""

from __future__ import annotations

import contextlib
import shutil
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from pipeline_lib.core.errors import Conflict, GantryError, NotFound
from pipeline_lib.core.process import Completed, run
from pipeline_lib.core.retry import retrying
from pipeline_lib.core.settings import child_env

from .hostlock import Writers, lock_path, writer_lock  # noqa: F401  (their home before gitops.hostlock)

GIT_TIMEOUT = 300.0   # seconds for one git command (a clone or push of a large GitOps repo)
DEFAULT_IDENTITY = {"GIT_AUTHOR_NAME": "gantry", "GIT_AUTHOR_EMAIL": "gantry@localhost",
                    "GIT_COMMITTER_NAME": "gantry", "GIT_COMMITTER_EMAIL": "gantry@localhost"}
# "another writer won the race" (retry); a hook or permission refusal is final
REJECT_MARKERS = ("non-fast-forward", "fetch first", "failed to update ref", "cannot lock ref",
                  "failed to lock", "incorrect old value", "stale info", "unable to update local ref")
FINAL_MARKERS = ("hook declined", "declined", "permission denied", "protected branch")


# HTTPS credentials for the GitOps remote come from the environment (Jenkins' withCredentials
# sets GIT_USER / GIT_TOKEN): git asks this helper, so the token is never in a URL, argv or log.
CREDENTIAL_HELPER = ('!f() { test "$1" = get || exit 0; echo "username=${GIT_USER:-x-access-token}"; '
                     'echo "password=${GIT_TOKEN}"; }; f')


def _env() -> dict[str, str]:
    env = child_env()   # git reads its own variables; GIT_USER/GIT_TOKEN reach the credential helper
    for key, value in DEFAULT_IDENTITY.items():
        env.setdefault(key, value)
    env["GIT_TERMINAL_PROMPT"] = "0"
    env.setdefault("GIT_CONFIG_NOSYSTEM", "1")
    if env.get("GIT_TOKEN"):
        n = int(env.get("GIT_CONFIG_COUNT", "0") or 0)
        env[f"GIT_CONFIG_KEY_{n}"] = "credential.helper"
        env[f"GIT_CONFIG_VALUE_{n}"] = CREDENTIAL_HELPER
        env["GIT_CONFIG_COUNT"] = str(n + 1)
    return env


class GitError(GantryError):
    def __init__(self, args: Sequence[str], stderr: str) -> None:
        lines = [ln for ln in stderr.strip().splitlines() if ln.strip()]
        super().__init__("git", f"git {' '.join(args[:2])}: {lines[-1] if lines else 'failed'}")
        self.stderr = stderr


def git(cwd: Path | None, *args: str, check: bool = True, input: str | None = None,
        timeout: float = GIT_TIMEOUT) -> Completed:
    """Run ``git *args`` in ``cwd`` (at most ``timeout`` s); GitError on a non-zero exit when ``check``."""
    try:
        proc = run(["git", *args], cwd=cwd, env=_env(), input=input, timeout=timeout, what="git")
    except NotFound:
        raise NotFound("git", "not found on PATH; install git") from None
    if check and proc.returncode != 0:
        raise GitError(args, proc.stderr or proc.stdout)
    return proc


def first_reason(stderr: str) -> str:
    """The line of git's ``stderr`` that says what went wrong: the first ``fatal:``/``error:`` line
    (prefix dropped; git's advice after it, e.g. "Please make sure you have the correct access
    rights and the repository exists.", is not the reason), else the last non-empty line."""
    lines = [ln.strip() for ln in stderr.splitlines() if ln.strip()]
    for line in lines:
        for prefix in ("fatal:", "error:"):
            if line.startswith(prefix) and line[len(prefix):].strip():
                return line[len(prefix):].strip()
    return lines[-1] if lines else ""


def out(cwd: Path | None, *args: str) -> str:
    return git(cwd, *args).stdout.strip()


@dataclass
class Transaction:
    """Outcome of :func:`transact`: the pushed commit (or None when nothing changed)."""

    commit: str | None
    attempts: int
    result: object = None
    push_seconds: float = 0.0   # the last (successful) push
    commits: list[str | None] = field(default_factory=list)  # per commit asked for (None: nothing to commit)


def _clear_stale_locks(gitdir: Path) -> None:
    """Remove the ``*.lock`` files a git killed mid-command leaves (a Jenkins abort): a reused
    work dir belongs to one build at a time, so no live git holds them."""
    for lock in [*gitdir.glob("*.lock"), *(gitdir / "refs").rglob("*.lock")]:
        lock.unlink(missing_ok=True)


def checkout(url: str, branch: str, workdir: Path) -> Path:
    """A working copy of ``url``'s ``branch`` at ``workdir`` (cloned, or fetched and reset)."""
    if (workdir / ".git").is_dir():
        _clear_stale_locks(workdir / ".git")
        git(workdir, "remote", "set-url", "origin", url)
        sync(workdir, branch)
        return workdir
    if workdir.exists() and any(workdir.iterdir()):
        raise GantryError("git", f"work dir {workdir} exists and is not a git checkout")
    proc = git(None, "clone", "-q", "--no-tags", "--single-branch", "-b", branch, url, str(workdir), check=False)
    if proc.returncode != 0:
        msg = first_reason(proc.stderr) or "clone failed"
        if "not found in upstream" in proc.stderr or "Remote branch" in proc.stderr:
            raise NotFound("git", f"{url}: branch {branch!r} not found")
        raise GantryError("git", f"cannot clone {url}: {msg}")
    return workdir


def _head(workdir: Path, branch: str) -> str:
    ref = workdir / ".git" / "refs" / "heads" / branch
    try:
        value = ref.read_text().strip()
        if len(value) == 40:
            return value
    except OSError:
        pass
    return out(workdir, "rev-parse", "HEAD")


def sync(workdir: Path, branch: str, *, full: bool = True) -> None:
    """Reset the checkout to the remote tip (discarding any half-done local change)."""
    git(workdir, "fetch", "-q", "--no-tags", "origin", f"+refs/heads/{branch}:refs/remotes/origin/{branch}")
    if full:
        git(workdir, "checkout", "-q", "-f", "-B", branch, f"origin/{branch}")
        git(workdir, "clean", "-q", "-fdx")
    git(workdir, "reset", "-q", "--hard", f"origin/{branch}")


class PushRejected(Conflict):
    """Another writer pushed first (non-fast-forward): fetch, re-apply and push again."""


def push(wd: Path, url: str, target: str, *, force: bool = False) -> None:
    """Push HEAD to ``target``; PushRejected when another writer won the race (retryable),
    GantryError for a final refusal (hook, permission, protected branch) or any other failure."""
    args = ["push", "-q", "--porcelain", "origin", f"HEAD:refs/heads/{target}"]
    if force:  # gantry's own review branch: its content is recomputed, overwrite it
        args.insert(1, "--force")
    proc = git(wd, *args, check=False)
    if proc.returncode == 0:
        return
    text = (proc.stderr + proc.stdout).lower()
    lines = [ln for ln in (proc.stderr or proc.stdout).strip().splitlines() if ln.strip()]
    last = lines[-1] if lines else "unknown error"
    if any(m in text for m in FINAL_MARKERS) or not any(m in text for m in REJECT_MARKERS):
        raise GantryError("git", f"push to {url} failed: {last}")
    raise PushRejected("git", f"push to {url} rejected: {last}")


@dataclass
class Change:
    """What a ``change`` function asks :func:`transact` to commit: one or more commits, each a
    message and the paths it holds, made in order on the checkout; ``result`` is handed back."""

    commits: list[tuple[str, list[str]]]
    result: object = None


def _commit(wd: Path, message: str, paths: list[str]) -> bool:
    """Commit ``paths`` with ``message``; False when they hold no change."""
    proc = git(wd, "commit", "-q", "--no-verify", "-F", "-", "--", *paths, input=message, check=False)
    if proc.returncode != 0 and "did not match any file" in proc.stderr:
        git(wd, "add", "-A", "--", *paths)  # new files (scaffolding)
        proc = git(wd, "commit", "-q", "--no-verify", "-F", "-", input=message, check=False)
    if proc.returncode != 0:
        if "nothing" in (proc.stdout + proc.stderr):
            return False
        raise GitError(["commit"], proc.stderr or proc.stdout)
    return True


def _attempts(url: str, wd: Path, change, branch: str, target: str, force: bool, give_up: float,
              deadline: float, max_delay: float, stale: bool) -> Transaction:
    attempt = 0
    fresh = stale  # we waited for another local writer: our checkout is behind, fetch first
    try:
        for trial in retrying(PushRejected, deadline=max(0.0, give_up - time.monotonic()), max_wait=max_delay):
            with trial:
                attempt += 1
                if attempt > 1 or fresh:
                    sync(wd, branch, full=False)
                    fresh = False
                outcome = change(wd)
                if outcome is None:
                    return Transaction(None, attempt)
                if not isinstance(outcome, Change):
                    message, paths, result = outcome
                    outcome = Change([(message, paths)], result)
                made = [_head(wd, branch) if _commit(wd, message, paths) else None
                        for message, paths in outcome.commits]
                if not any(made):
                    return Transaction(None, attempt, outcome.result)
                t0 = time.monotonic()
                push(wd, url, target, force=force)
                return Transaction(_head(wd, branch), attempt, outcome.result, time.monotonic() - t0, made)
    except PushRejected:
        raise GantryError("git", f"push to {url} still rejected after {attempt} attempts in "
                                 f"{deadline:.0f}s (too many concurrent writers?)") from None
    raise AssertionError("unreachable")  # pragma: no cover - retrying() re-raises or we returned


def transact(url: str, change: Callable[[Path], tuple[str, list[str], object] | Change | None], *,
             branch: str = "main", push_branch: str | None = None, workdir: Path | None = None,
             deadline: float = 300.0, max_delay: float = 2.0, lock: bool = True,
             stale: bool = False, synced: bool = False, writers: Writers | None = None) -> Transaction:
    """Apply ``change(checkout)`` on the remote tip, commit and push; retry on rejection.

    The one commit/push/rebase-retry loop of every GitOps writer (pin edits go through
    :mod:`gitops.writeback`, which calls this). ``change`` returns ``None`` for "nothing to do",
    else ``(message, paths, result)`` after writing the files, or a :class:`Change` for several
    commits. ``push_branch`` pushes to another branch (pull-request mode). A push rejected
    because another writer got there first is retried (fetch, reset, re-apply: a rebase of the
    change, never a merge) with jittered exponential backoff until ``deadline`` seconds have
    passed. ``lock=False``: the caller already holds :func:`writer_lock` (``stale``: and its
    checkout may be behind the remote). ``synced``: ``workdir`` was just checked out (a rejected
    push still fetches and re-applies).
    """
    own = workdir is None
    wd = Path(tempfile.mkdtemp(prefix="gantry-gitops-")) / "repo" if own else Path(workdir)
    target = push_branch or branch
    give_up = time.monotonic() + deadline
    try:
        if not synced:
            checkout(url, branch, wd)
        with (writer_lock(url, writers) if lock else contextlib.nullcontext(stale)) as waited:
            return _attempts(url, wd, change, branch, target, push_branch is not None, give_up, deadline,
                             max_delay, stale=waited)
    finally:
        if own:
            shutil.rmtree(wd.parent, ignore_errors=True)

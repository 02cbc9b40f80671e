"""What Argo CD says an Application runs, and whether a pin has soaked there.

``GET /api/v1/applications/{name}`` (Argo CD API, ``assets/swagger.json`` of argoproj/argo-cd:
``v1alpha1Application``), bearer token. Fields read: ``status.sync.status`` / ``.revision``,
``status.health.status`` / ``.lastTransitionTime``, ``status.operationState`` (``phase``,
``finishedAt``, ``syncResult.revision``) and ``status.history[]`` (``id``, ``revision``,
``deployedAt``). Times are RFC 3339 (``v1Time``).

:func:`soak` decides whether a pin (a commit, and the later commits that still pin the same
digests — ``accepts(revision)``) has been Synced and Healthy for ``soak_seconds``: measured from
the first deployment of the unbroken run of accepted revisions at the end of ``history`` (or
``operationState.finishedAt`` when there is no history), and from the health's last transition
when that is later (Healthy since then), to ``now`` (an injectable clock).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timezone

from pipeline_lib.core.answer import json_of, optional, require
from pipeline_lib.core.errors import BadAnswer, NotFound, Unauthorized, error_for_status


@dataclass(frozen=True)
class Deployment:
    id: int
    revision: str
    deployed_at: datetime | None


@dataclass(frozen=True)
class AppStatus:
    """One Application's state; ``history`` in ``id`` order (oldest first)."""

    name: str
    sync_status: str
    sync_revision: str
    health: str
    health_since: datetime | None = None
    operation_phase: str = ""
    operation_revision: str = ""
    operation_finished_at: datetime | None = None
    history: tuple[Deployment, ...] = field(default_factory=tuple)


def parse_time(value: str | None, where: str) -> datetime | None:
    if not value:
        return None
    try:
        at = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise BadAnswer(where, f"{value!r} is not an RFC 3339 time") from None
    return at if at.tzinfo else at.replace(tzinfo=timezone.utc)


def parse_application(doc: object, name: str, where: str) -> AppStatus:
    """The :class:`AppStatus` of a ``v1alpha1Application`` body; a new Application without a
    status yet is ``Unknown`` / ``Unknown`` (never Synced)."""
    raw_history = optional(doc, "status", "history", kind=list, default=[], where=where)
    history = []
    for n in range(len(raw_history)):
        history.append(Deployment(
            int(optional(doc, "status", "history", n, "id", kind=(int, str), default=n, where=where)),
            optional(doc, "status", "history", n, "revision", kind=str, default="", where=where),
            parse_time(optional(doc, "status", "history", n, "deployedAt", kind=str, where=where), where)))
    return AppStatus(
        name,
        optional(doc, "status", "sync", "status", kind=str, default="Unknown", where=where),
        optional(doc, "status", "sync", "revision", kind=str, default="", where=where),
        optional(doc, "status", "health", "status", kind=str, default="Unknown", where=where),
        parse_time(optional(doc, "status", "health", "lastTransitionTime", kind=str, where=where), where),
        optional(doc, "status", "operationState", "phase", kind=str, default="", where=where),
        optional(doc, "status", "operationState", "syncResult", "revision", kind=str, default="", where=where),
        parse_time(optional(doc, "status", "operationState", "finishedAt", kind=str, where=where), where),
        tuple(sorted(history, key=lambda d: d.id)))


class ArgoCD:
    """A read-only Argo CD API client (``server``: ``host[:port]`` or an http(s) URL)."""

    def __init__(self, server: str, token: str | None = None, *, verify: bool = True, timeout: float = 10.0) -> None:
        from pipeline_lib.core.http import retry_policy, session
        self.base = (server if server.startswith(("http://", "https://")) else f"https://{server}").rstrip("/")
        self.verify = verify
        self.timeout = timeout
        self.session = session(retry=retry_policy(total=2),
                               headers={"Authorization": f"Bearer {token}"} if token else None)

    def application(self, name: str) -> AppStatus:
        """NotFound (no such app), Unauthorized (token), Unavailable (server) — all exit 2."""
        import requests
        where = f"argocd GET /api/v1/applications/{name}"
        try:
            resp = self.session.get(f"{self.base}/api/v1/applications/{name}", timeout=self.timeout, verify=self.verify)
        except (requests.ConnectionError, requests.Timeout) as exc:
            raise error_for_status(503, "argocd", f"{self.base}: {type(exc).__name__}") from None
        if resp.status_code in (401, 403):
            raise Unauthorized("argocd", f"{name}: HTTP {resp.status_code}: check ARGOCD_AUTH_TOKEN")
        if resp.status_code == 404:
            raise NotFound("argocd", f"no application {name!r} on {self.base}")
        if resp.status_code != 200:
            raise error_for_status(resp.status_code, "argocd", f"{where}: HTTP {resp.status_code}")
        doc = json_of(resp, where)
        require(doc, "metadata", "name", kind=str, where=where)
        return parse_application(doc, name, where)

    def close(self) -> None:
        self.session.close()


@dataclass(frozen=True)
class SoakVerdict:
    """``ok``; ``problem``: the one line saying why not; ``failed``: the app runs the pin and it
    is not healthy (a failed verification, not merely "not yet"); ``since``: soak start."""

    ok: bool
    problem: str = ""
    failed: bool = False
    since: datetime | None = None
    soaked_seconds: float = 0.0


def _fmt(seconds: float) -> str:
    seconds = max(0, int(seconds))
    if seconds >= 3600:
        return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m"
    if seconds >= 60:
        return f"{seconds // 60}m{seconds % 60:02d}s"
    return f"{seconds}s"


def soak(status: AppStatus, pinned: str, accepts: Callable[[str], bool], soak_seconds: float,
         now: datetime) -> SoakVerdict:
    """See the module docstring. ``pinned``: the pinning commit (for messages); ``accepts(rev)``:
    the revision is the pinning commit or a later one that still pins the freight's digests."""
    app = status.name
    rev = status.sync_revision
    if not rev or not accepts(rev):
        return SoakVerdict(False, f"{app} is at revision {rev[:12] or 'none'}, not at {pinned[:12]} (the commit that "
                                  f"pinned the freight) or a later one pinning the same digests")
    if status.sync_status != "Synced":
        return SoakVerdict(False, f"{app} is {status.sync_status}, not Synced, at {rev[:12]}")
    if status.health != "Healthy":
        failed = status.health in ("Degraded", "Missing")
        return SoakVerdict(False, f"{app} is {status.health}, not Healthy, at {rev[:12]}", failed=failed)
    if status.operation_phase and status.operation_revision and accepts(status.operation_revision) \
            and status.operation_phase in ("Failed", "Error"):
        return SoakVerdict(False, f"{app}: the last sync of {status.operation_revision[:12]} ended {status.operation_phase}",
                           failed=True)
    since: datetime | None = None
    if status.history:
        if not accepts(status.history[-1].revision):
            return SoakVerdict(False, f"{app}: last deployment {status.history[-1].revision[:12]} is not the pinned "
                                      f"freight ({pinned[:12]})")
        for dep in reversed(status.history):
            if not accepts(dep.revision):
                break
            since = dep.deployed_at
    elif status.operation_finished_at and status.operation_revision and accepts(status.operation_revision):
        since = status.operation_finished_at
    if since is None:
        return SoakVerdict(False, f"{app}: no deployment time for {pinned[:12]} in status.history or operationState")
    if status.health_since and status.health_since > since:
        since = status.health_since
    elapsed = (now - since).total_seconds()
    if elapsed < soak_seconds:
        return SoakVerdict(False, f"{app}: Synced and Healthy at {pinned[:12]} for {_fmt(elapsed)}, soak is "
                                  f"{_fmt(soak_seconds)} (since {since.strftime('%Y-%m-%dT%H:%M:%SZ')})",
                           since=since, soaked_seconds=elapsed)
    return SoakVerdict(True, since=since, soaked_seconds=elapsed)

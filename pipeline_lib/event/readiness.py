"""Go/no-go for the event stack: one registry of checks, one report (Markdown, JSON, Slack).

Each check is one function registered with :func:`check` (checkov style): it gets the shared
:class:`Context` and returns a :class:`Result` — ``pass``, ``fail`` or ``error`` (could not be
evaluated) with a one-line detail. The verdict: any ``fail`` is **no-go** (exit 1), else any
``error`` is **cannot evaluate** (exit 2), else **go** (exit 0).

Checks, in order:

- ``stack-applied``: the event stack's Terraform outputs exist (``terraform output -json`` in the
  event root, or a state file's ``outputs``) with every output ``infra/envs/event/outputs.tf``
  declares;
- ``digests-pinned``: every event service's ECS task definition (cluster = the environment's
  name, as infra/envs/event names it) runs the digest the GitOps repo pins
  (:func:`gitops.pins.read_environment`), from the pinned repository;
- ``evidence-verified``: each pinned digest's signed evidence verifies for the environment
  (:func:`pipeline_lib.attest.store.verify_in_registry` with the catalog's trusted keys and
  required kinds) in the registry the stack pulls from; ``signing: off`` is a failure;
- ``tokyo-replica``: each pinned digest is complete (manifest and blobs) in every replica region's
  registry (:func:`pipeline_lib.dr.presence.check_presence`);
- ``dms-ready``: the final-sync DMS task exists and is ``ready`` or ``stopped`` after a complete
  run (DescribeReplicationTasks ``Status``, ``StopReason``, ``ReplicationTaskStats``:
  https://docs.aws.amazon.com/dms/latest/APIReference/API_ReplicationTask.html);
- ``alert-routing``: ``amtool config routes test --verify.receivers`` sends the event lifecycle
  alert's labels to the expected Slack receiver(s), against a configuration file (after
  ``amtool check-config``) or a running Alertmanager's configuration;
- ``load-gate``: ``reports/loadtest/loadtest.json`` (``gantry event loadtest``) says passed, for
  this environment, finished within the maximum age.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from pipeline_lib.core.catalog import Catalog
from pipeline_lib.core.errors import GantryError, TimeoutExceeded
from pipeline_lib.core.process import run
from pipeline_lib.core.reference import parse_repository, strip_reference
from pipeline_lib.core.settings import child_env

PASS, FAIL, ERROR = "pass", "fail", "error"
GO, NO_GO, UNKNOWN = "go", "no-go", "cannot evaluate"
# infra/envs/event/outputs.tf: what an applied stack has.
REQUIRED_OUTPUTS = ("db_instance_id", "final_sync_task_id", "cloudfront_domain_name")
# The event lifecycle's alert (a failed create/destroy pages the on-call channel).
ALERT_LABELS = ("alertname=EventLifecycleFailed", "severity=critical", "env=event", "service=event-runner")
ALERT_RECEIVERS = ("slack-oncall",)
TOOL_TIMEOUT = 60.0


@dataclass(frozen=True)
class Result:
    """One check's outcome: ``status`` pass | fail | error and a one-line ``detail``."""

    name: str
    title: str
    status: str
    detail: str

    def to_json(self) -> dict[str, str]:
        return {"name": self.name, "title": self.title, "status": self.status, "detail": self.detail}


@dataclass
class Inputs:
    """Everything the checks read. ``aws(service)`` returns a boto3 client in the environment's
    region; ``registry(host)`` a registry client (:func:`pipeline_lib.image.registry.registry_for`);
    ``host_for(region)`` the registry host of a region; ``tf_state``: a Terraform state file to
    read instead of running ``terraform output -json`` in ``event_root``."""

    catalog: Catalog
    environment: str
    aws: Callable[[str], Any]
    registry: Callable[[str], Any]
    host_for: Callable[[str], str]
    gitops_repo: str
    cluster: str
    final_sync_task_id: str = "event-final-sync"
    tf_state: Path | None = None
    event_root: Path = Path("infra/envs/event")
    terraform_cmd: tuple[str, ...] = ("terraform",)
    alertmanager_config: Path | None = None
    alertmanager_url: str | None = None
    amtool: str = "amtool"
    alert_labels: tuple[str, ...] = ALERT_LABELS
    alert_receivers: tuple[str, ...] = ALERT_RECEIVERS
    loadtest: Path = Path("reports/loadtest/loadtest.json")
    loadtest_max_age: timedelta = timedelta(hours=6)
    now: datetime = field(default_factory=lambda: datetime.now(timezone.utc))


class Context:
    """The inputs plus what several checks share (the GitOps pins, read once)."""

    def __init__(self, inputs: Inputs) -> None:
        self.inputs = inputs
        self._pins: dict[str, tuple[str, str | None]] | GantryError | None = None

    def pins(self) -> dict[str, tuple[str, str | None]]:
        """Service -> (``host/repository``, digest or None when the GitOps repo pins no valid
        digest for it) in the environment; GantryError when the repo cannot be read (every check
        using it is then an error)."""
        if self._pins is None:
            from gitops.pins import image_digests, read_environment
            i = self.inputs
            try:
                pins, _ = read_environment(i.gitops_repo, i.catalog, i.environment)
            except GantryError as exc:
                self._pins = exc
            else:
                self._pins = {}
                for name, pin in pins.items():
                    try:
                        digest: str | None = image_digests({name: pin}, i.environment)[name]
                    except GantryError:
                        digest = None
                    repo = i.catalog.service(name).environment(i.environment).ecr_repository
                    self._pins[name] = (pin.name or f"{i.catalog.registry_host}/{repo}", digest)
        if isinstance(self._pins, GantryError):
            raise self._pins
        return self._pins

    def pinned(self) -> dict[str, tuple[str, str]]:
        """The services with a pinned digest; GantryError when there is none (nothing to check:
        ``digests-pinned`` names each service without one)."""
        found = {name: (image, digest) for name, (image, digest) in self.pins().items() if digest}
        if not found:
            raise GantryError("gitops pins", f"no digest pinned for any service in {self.inputs.environment}")
        return found


CheckFn = Callable[[Context], tuple[str, str]]
CHECKS: list[tuple[str, str, CheckFn]] = []


def check(name: str, title: str) -> Callable[[CheckFn], CheckFn]:
    """Register ``fn(ctx) -> (status, detail)`` as the check ``name``."""
    def deco(fn: CheckFn) -> CheckFn:
        CHECKS.append((name, title, fn))
        return fn
    return deco


def _aws_msg(exc: Exception) -> str:
    if isinstance(exc, ClientError):
        err = exc.response.get("Error", {})
        return f"{err.get('Code', 'error')}: {err.get('Message', '')}".strip()
    return f"{type(exc).__name__}: {exc}"


def _repo_path(image: str) -> str:
    """``host/repo@digest`` -> ``repo`` (the same path in every registry)."""
    return strip_reference(image).split("/", 1)[-1]


@check("stack-applied", "Stack applied (Terraform outputs)")
def stack_applied(ctx: Context) -> tuple[str, str]:
    i = ctx.inputs
    if i.tf_state is not None:
        try:
            doc = json.loads(i.tf_state.read_text())
        except (OSError, ValueError) as exc:
            return ERROR, f"cannot read Terraform state {i.tf_state}: {exc}"
        outputs = doc.get("outputs") if isinstance(doc, dict) else None
        resources = doc.get("resources") if isinstance(doc, dict) else None
        if not resources:
            return FAIL, f"Terraform state {i.tf_state.name} has no resources: the stack is not applied"
        source = f"state {i.tf_state.name}, {len(resources)} resources"
    else:
        try:
            proc = run([*i.terraform_cmd, "output", "-json", "-no-color"], cwd=i.event_root,
                       env=child_env(TF_IN_AUTOMATION="1", TF_INPUT="0"), timeout=TOOL_TIMEOUT, what="terraform")
        except GantryError as exc:
            return ERROR, f"cannot run terraform output: {exc.what}"
        if proc.returncode != 0:
            return ERROR, f"terraform output exited {proc.returncode}: {(proc.stderr or proc.stdout).strip()[:200]}"
        try:
            outputs = json.loads(proc.stdout or "{}")
        except ValueError:
            return ERROR, "terraform output -json did not print JSON"
        source = f"terraform output in {i.event_root}"
    if not isinstance(outputs, dict):
        return ERROR, "Terraform outputs are not a JSON object"
    missing = [k for k in REQUIRED_OUTPUTS
               if not (isinstance(outputs.get(k), dict) and outputs[k].get("value") not in (None, ""))]
    if missing:
        return FAIL, f"output(s) missing: {', '.join(missing)} ({source}): the stack is not (fully) applied"
    return PASS, f"applied ({source}); CloudFront {outputs['cloudfront_domain_name']['value']}"


def _running_images(ctx: Context, services: list[str]) -> dict[str, str]:
    i = ctx.inputs
    ecs = i.aws("ecs")
    try:
        described = ecs.describe_services(cluster=i.cluster, services=services)
    except (ClientError, BotoCoreError) as exc:
        raise GantryError(f"ecs cluster {i.cluster}", _aws_msg(exc)) from None
    images: dict[str, str] = {}
    for svc in described.get("services", []):
        if svc.get("status") != "ACTIVE":
            continue
        try:
            td = ecs.describe_task_definition(taskDefinition=svc["taskDefinition"])["taskDefinition"]
        except (ClientError, BotoCoreError) as exc:
            raise GantryError(f"ecs task definition {svc.get('taskDefinition')}", _aws_msg(exc)) from None
        containers = td.get("containerDefinitions", [])
        named = [c for c in containers if c.get("name") == svc["serviceName"]] or containers[:1]
        if named:
            images[svc["serviceName"]] = str(named[0].get("image", ""))
    return images


@check("digests-pinned", "Every service runs the digest GitOps pins")
def digests_pinned(ctx: Context) -> tuple[str, str]:
    pins = ctx.pins()
    running = _running_images(ctx, sorted(pins))
    wrong = []
    for name, (image, digest) in sorted(pins.items()):
        have = running.get(name)
        if digest is None:
            wrong.append(f"{name}: no digest pinned in the GitOps repo")
        elif have is None:
            wrong.append(f"{name}: no active ECS service in cluster {ctx.inputs.cluster}")
        elif "@" not in have or have.rsplit("@", 1)[1] != digest or _repo_path(have) != _repo_path(image):
            got = have.rsplit("@", 1)[1][:19] if "@" in have else "no digest"
            wrong.append(f"{name} runs {_repo_path(have)}@{got}…, GitOps pins {_repo_path(image)}@{digest[:19]}…")
    if wrong:
        return FAIL, "; ".join(wrong)
    return PASS, f"{len(pins)} service(s) run their pinned digest: {', '.join(sorted(pins))}"


@check("evidence-verified", "Pinned digests' evidence verified")
def evidence_verified(ctx: Context) -> tuple[str, str]:
    from pipeline_lib.attest.enforce import trusted_for
    from pipeline_lib.attest.store import verify_in_registry
    i = ctx.inputs
    pins = ctx.pinned()
    policy = i.catalog.signing_for(i.environment)
    if policy.evidence == "off":
        return FAIL, f"signing: off for {i.environment}: the pinned digests' evidence is not verified"
    trusted = trusted_for(i.catalog, i.environment)
    if not trusted:
        return ERROR, f"catalog signing.{i.environment}: no trusted public key: cannot verify evidence"
    problems, kinds = [], set()
    for name, (image, digest) in sorted(pins.items()):
        ref = parse_repository(image, f"pin of {name}")
        ev = verify_in_registry(i.registry(ref.host), ref.repository, digest, trusted, policy.require, i.environment)
        problems += [f"{name}: {p}" for p in ev.problems]
        kinds |= set(ev.verified)
    if problems:
        return FAIL, f"{len(problems)} problem(s): " + "; ".join(problems[:3]) + (" …" if len(problems) > 3 else "")
    return PASS, f"{len(pins)} digest(s) verified ({', '.join(sorted(kinds))})"


@check("tokyo-replica", "Replica (Tokyo) has every pinned digest")
def tokyo_replica(ctx: Context) -> tuple[str, str]:
    from pipeline_lib.dr.presence import check_presence
    i = ctx.inputs
    pins = ctx.pinned()
    if not i.catalog.replica_regions:
        return FAIL, "the catalog has no replica region: no Tokyo copy to fall back on"
    missing, hosts = [], []
    for region in i.catalog.replica_regions:
        host = i.host_for(region)
        hosts.append(f"{region} ({host})")
        client = i.registry(host)
        for name, (image, digest) in sorted(pins.items()):
            got = check_presence(client, _repo_path(image), digest)
            if not got.ok:
                missing.append(f"{name}: {_repo_path(image)}@{digest[:19]}… incomplete in {region} "
                               f"(missing {len(got.missing)}: {got.missing[0][:30]})")
    if missing:
        return FAIL, "; ".join(missing)
    return PASS, f"{len(pins)} digest(s) complete in {', '.join(hosts)}"


_DMS_TRANSITIONAL = {"creating", "modifying", "starting", "stopping", "testing", "moving", "deleting", "running"}


@check("dms-ready", "DMS final-sync task ready (last run)")
def dms_ready(ctx: Context) -> tuple[str, str]:
    i = ctx.inputs
    try:
        tasks = i.aws("dms").describe_replication_tasks(
            Filters=[{"Name": "replication-task-id", "Values": [i.final_sync_task_id]}]).get("ReplicationTasks", [])
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") == "ResourceNotFoundFault":
            tasks = []
        else:
            return ERROR, f"DMS: {_aws_msg(exc)}"
    except BotoCoreError as exc:
        return ERROR, f"DMS: {_aws_msg(exc)}"
    if not tasks:
        return FAIL, f"DMS task {i.final_sync_task_id} not found"
    task = tasks[0]
    status = str(task.get("Status", "?"))
    stats = task.get("ReplicationTaskStats") or {}
    reason = str(task.get("StopReason") or "")
    if status == "ready":
        return PASS, f"{i.final_sync_task_id}: ready (not run yet)"
    if status == "stopped":
        bad = []
        if stats.get("TablesErrored"):
            bad.append(f"{stats['TablesErrored']} table(s) errored")
        if stats.get("FullLoadProgressPercent") != 100:
            bad.append(f"full load {stats.get('FullLoadProgressPercent', '?')}%")
        if reason and "FINISHED" not in reason and "NORMAL" not in reason:
            bad.append(f"stop reason {reason}")
        last = stats.get("StopDate") or task.get("ReplicationTaskStartDate") or "?"
        if bad:
            return FAIL, f"{i.final_sync_task_id}: last sync ({last}) did not complete: {', '.join(bad)}"
        return PASS, (f"{i.final_sync_task_id}: stopped after a complete sync ({last}: "
                      f"{stats.get('TablesLoaded', '?')} table(s) loaded, 0 errored)")
    if status == "failed":
        return FAIL, f"{i.final_sync_task_id}: failed: {task.get('LastFailureMessage') or reason or 'no message'}"
    if status in _DMS_TRANSITIONAL:
        return FAIL, f"{i.final_sync_task_id}: not ready (status {status})"
    return FAIL, f"{i.final_sync_task_id}: unexpected status {status}"


def _amtool(argv: list[str]) -> tuple[int, str]:
    proc = run(argv, timeout=TOOL_TIMEOUT, env=child_env(NO_COLOR="1"), what="amtool")
    lines = [ln for ln in (proc.stdout + proc.stderr).splitlines() if "overrides the --alertmanager.url" not in ln]
    return proc.returncode, " ".join(" ".join(lines).split())


@check("alert-routing", "Alert routing tested (amtool)")
def alert_routing(ctx: Context) -> tuple[str, str]:
    i = ctx.inputs
    want = ",".join(i.alert_receivers)
    if i.alertmanager_config is not None:
        if not i.alertmanager_config.is_file():
            return ERROR, f"Alertmanager configuration {i.alertmanager_config} not found"
        source = ["--config.file", str(i.alertmanager_config)]
        where = f"config {i.alertmanager_config.name}"
    elif i.alertmanager_url:
        source = [f"--alertmanager.url={i.alertmanager_url}"]
        where = f"Alertmanager {i.alertmanager_url}"
    else:
        return ERROR, "no Alertmanager configuration or URL given"
    try:
        if i.alertmanager_config is not None:
            rc, out = _amtool([i.amtool, "check-config", str(i.alertmanager_config)])
            if rc != 0:
                return FAIL, f"amtool check-config refused {where}: {out[-200:]}"
        rc, out = _amtool([i.amtool, "config", "routes", "test", *source, f"--verify.receivers={want}",
                           *i.alert_labels])
    except TimeoutExceeded:
        return ERROR, f"amtool timed out after {TOOL_TIMEOUT:g}s"
    except GantryError as exc:
        return ERROR, f"cannot run amtool: {exc.what} (Debian package prometheus-alertmanager)"
    labels = " ".join(i.alert_labels)
    if rc != 0:
        return FAIL, f"{labels} does not route to {want} in {where}: {out[-200:]}"
    return PASS, f"{labels} -> {out or want} ({where})"


def _iso(value: Any) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        t = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return t if t.tzinfo else t.replace(tzinfo=timezone.utc)


@check("load-gate", "Load gate passed recently")
def load_gate(ctx: Context) -> tuple[str, str]:
    i = ctx.inputs
    if not i.loadtest.is_file():
        return FAIL, f"no load test report at {i.loadtest} (run 'gantry event loadtest')"
    try:
        doc = json.loads(i.loadtest.read_text())
    except (OSError, ValueError) as exc:
        return ERROR, f"cannot read {i.loadtest}: {exc}"
    if not isinstance(doc, dict):
        return ERROR, f"{i.loadtest}: not a JSON object"
    finished = _iso(doc.get("finished_at"))
    if finished is None or not isinstance(doc.get("passed"), bool):
        return ERROR, f"{i.loadtest}: needs 'passed' (bool) and 'finished_at' (ISO UTC)"
    if doc.get("env") not in (None, i.environment):
        return FAIL, f"the last load test ran against {doc.get('env')}, not {i.environment}"
    age = i.now - finished
    hours = age.total_seconds() / 3600
    if doc["passed"] is not True:
        missed = [t.get("name", "?") for t in doc.get("thresholds") or [] if isinstance(t, dict) and not t.get("passed")]
        why = ", ".join(missed) or str(doc.get("error") or "no threshold named")
        return FAIL, f"the load test of {finished:%Y-%m-%d %H:%M}Z failed ({why})"
    if age > i.loadtest_max_age:
        return FAIL, (f"stale: passed {hours:.1f} h ago ({finished:%Y-%m-%d %H:%M}Z), more than "
                      f"{i.loadtest_max_age.total_seconds() / 3600:g} h")
    if age < timedelta(0) - timedelta(minutes=5):
        return ERROR, f"{i.loadtest}: finished_at {finished.isoformat()} is in the future"
    return PASS, (f"passed {hours:.1f} h ago against {doc.get('target', '?')} "
                  f"({doc.get('requests', '?')} requests, {doc.get('failures', '?')} failures)")


@dataclass
class Report:
    """All results and the verdict (``go`` | ``no-go`` | ``cannot evaluate``)."""

    environment: str
    generated_at: datetime
    results: list[Result]

    @property
    def verdict(self) -> str:
        statuses = {r.status for r in self.results}
        return NO_GO if FAIL in statuses else UNKNOWN if ERROR in statuses else GO

    @property
    def exit_code(self) -> int:
        return {GO: 0, NO_GO: 1, UNKNOWN: 2}[self.verdict]

    def failed(self) -> list[Result]:
        return [r for r in self.results if r.status != PASS]

    def to_json(self) -> dict[str, Any]:
        return {"environment": self.environment, "generated_at": self.generated_at.isoformat(timespec="seconds"),
                "verdict": self.verdict, "go": self.verdict == GO, "checks": [r.to_json() for r in self.results]}

    def markdown(self) -> str:
        icon = {PASS: "✅ pass", FAIL: "❌ fail", ERROR: "⚠️ error"}
        lines = [f"# Event readiness: {self.environment} — **{self.verdict.upper()}**", "",
                 f"Generated {self.generated_at.isoformat(timespec='seconds')}.", "",
                 "| Check | Result | Detail |", "|---|---|---|"]
        lines += [f"| {r.title} (`{r.name}`) | {icon[r.status]} | {r.detail.replace('|', '/')} |" for r in self.results]
        return "\n".join(lines) + "\n"

    def slack(self) -> str:
        head = {GO: ":white_check_mark: GO", NO_GO: ":x: NO-GO", UNKNOWN: ":warning: CANNOT EVALUATE"}[self.verdict]
        lines = [f"{head}: event readiness of {self.environment} ({len(self.results) - len(self.failed())}/"
                 f"{len(self.results)} checks pass)"]
        lines += [f"• {r.name} {r.status}: {r.detail}" for r in self.failed()]
        return "\n".join(lines)


def evaluate(inputs: Inputs, only: list[str] | None = None, progress: Callable[[str], None] | None = None) -> Report:
    """Run every registered check (or those named in ``only``); a check that raises
    :class:`GantryError` is an ``error`` result with its message, never a pass."""
    ctx = Context(inputs)
    results = []
    for name, title, fn in CHECKS:
        if only and name not in only:
            continue
        if progress:
            progress(f"readiness: {name} ...")
        try:
            status, detail = fn(ctx)
        except GantryError as exc:
            status, detail = ERROR, str(exc)
        except (ClientError, BotoCoreError) as exc:
            status, detail = ERROR, _aws_msg(exc)
        results.append(Result(name, title, status, " ".join(detail.split())))
    return Report(inputs.environment, inputs.now, results)

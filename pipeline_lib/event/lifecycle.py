"""The event stack's lifecycle handler, run by the event runner (CodeBuild) — no SSH, no PEM.

``create``: ``terraform apply`` of ``infra/envs/event``.
``destroy``: (1) run the DMS final-sync task and wait until it has *completed* — event orders
must reach prod; the destroy is refused while it has not; (2) take the final DB snapshot
``<db>-<event>-final``; (3) ``terraform destroy``; (4) sweep for what the destroy left behind
(:mod:`pipeline_lib.event.sweep`: tagged resources, event-only ECR images, log groups, secrets
pending deletion, ENIs, snapshots): any leftover fails the attempt, priced, so it is alerted.

With a ledger (``ledger_path``), ``create`` opens the event's entry and a clean ``destroy`` closes
it with the stack's cost (:mod:`pipeline_lib.event.ledger`).

Every step is idempotent: a final sync that completed after the event end is not rerun, an
existing snapshot is not retaken, and apply/destroy converge. A failed attempt is posted to
Slack (webhook URL from Secrets Manager, optionally also to an SNS topic) and retried until
the retry window closes; then the handler gives up with exit code 1.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import boto3
from botocore.exceptions import BotoCoreError, ClientError

from pipeline_lib.core.errors import EXIT_CHECK_FAILED, GantryError, TimeoutExceeded
from pipeline_lib.core.process import run
from pipeline_lib.core.settings import child_env

from ..infra.terraform import error_summary
from ..notify.slack import post_slack

STEPS = ("create", "destroy")
_TRANSITIONAL = {"creating", "modifying", "starting", "stopping", "testing", "moving"}
_DONE_STOP_REASONS = ("FULL_LOAD_ONLY_FINISHED",)


class StepFailed(Exception):
    """One attempt failed; retried within the window."""


@dataclass
class LifecycleConfig:
    """Where the event stack's parts are and how patient the handler is."""

    event_name: str
    event_end: datetime
    region: str = "ap-northeast-2"
    db_instance_id: str = "event"
    final_sync_task_id: str = "event-final-sync"
    slack_secret_id: str = "event/slack-webhook"
    sns_topic_arn: str | None = None
    event_root: Path = Path("infra/envs/event")
    terraform_cmd: tuple[str, ...] = ("terraform",)
    window_seconds: float = 2 * 3600      # keep retrying this long
    retry_interval: float = 60.0          # between attempts
    sync_wait_seconds: float = 1800.0     # per attempt, for the DMS final sync
    poll_seconds: float = 15.0
    terraform_timeout: float = 3 * 3600
    endpoint_url: str | None = None
    gitops_repo: str | None = None        # pin the event images from here before apply
    catalog_path: Path = Path("jobs/catalog.yaml")
    environment: str = "event"            # the stack's Environment tag (the sweep's filter)
    sweep: bool = True                    # after destroy, fail when anything tagged is left
    ledger_path: Path | None = None       # the cost ledger (None: not recorded)

    @property
    def snapshot_id(self) -> str:
        return f"{self.db_instance_id}-{self.event_name}-final"


@dataclass
class Outcome:
    step: str
    attempts: int
    actions: list[str] = field(default_factory=list)


def _utc(value: Any) -> datetime | None:
    if value is None:
        return None
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    return value if value.tzinfo else value.replace(tzinfo=timezone.utc)


def _aws_msg(exc: Exception) -> str:
    if isinstance(exc, ClientError):
        err = exc.response.get("Error", {})
        return f"{err.get('Code', 'error')}: {err.get('Message', '')}".strip()
    return f"{type(exc).__name__}: {exc}"


class Handler:
    """The handler, given AWS clients (boto3) and a config; ``run(step)`` is the entry point."""

    def __init__(self, cfg: LifecycleConfig, session: boto3.session.Session | None = None,
                 sleep: Callable[[float], None] = time.sleep, log: Callable[[str], None] | None = None) -> None:
        self.cfg = cfg
        session = session or boto3.session.Session(region_name=cfg.region)
        kw = {"region_name": cfg.region, **({"endpoint_url": cfg.endpoint_url} if cfg.endpoint_url else {})}
        self._client = lambda name: session.client(name, **kw)
        self.dms = session.client("dms", **kw)
        self.rds = session.client("rds", **kw)
        self.secrets = session.client("secretsmanager", **kw)
        self.sns = session.client("sns", **kw) if cfg.sns_topic_arn else None
        self.sleep = sleep
        self.log = log or (lambda msg: print(msg, file=sys.stderr, flush=True))
        self._webhook: str | None = None

    # --- notifications ---
    def notify(self, text: str) -> None:
        """Slack (and SNS if configured); a notification failure is logged, never fatal."""
        message = f"[gantry event {self.cfg.event_name}] {text}"
        self.log(message)
        try:
            if self._webhook is None:
                self._webhook = self.secrets.get_secret_value(SecretId=self.cfg.slack_secret_id)["SecretString"].strip()
            post_slack(self._webhook, message)
        except (ClientError, BotoCoreError, KeyError) as exc:
            self.log(f"gantry: event: slack: cannot read secret {self.cfg.slack_secret_id}: {_aws_msg(exc)}")
        except GantryError as exc:
            self.log(f"gantry: {exc}")
        if self.sns is not None:
            try:
                self.sns.publish(TopicArn=self.cfg.sns_topic_arn, Subject="gantry event lifecycle", Message=message)
            except (ClientError, BotoCoreError) as exc:
                self.log(f"gantry: event: sns: {_aws_msg(exc)}")

    # --- DMS final sync ---
    def _task(self) -> dict[str, Any] | None:
        resp = self.dms.describe_replication_tasks(
            Filters=[{"Name": "replication-task-id", "Values": [self.cfg.final_sync_task_id]}])
        tasks = resp.get("ReplicationTasks", [])
        return tasks[0] if tasks else None

    def _sync_state(self, task: dict[str, Any]) -> str:
        """``done``, ``running``, ``failed`` or ``not-started`` (for this event's end)."""
        status = task.get("Status", "")
        started = _utc(task.get("ReplicationTaskStartDate"))
        after_end = started is not None and started >= self.cfg.event_end
        if status in _TRANSITIONAL or status == "running":
            return "running"  # wait for it; a run that began before the event end is rerun after
        if not after_end:
            return "not-started"
        if status == "failed":
            return "failed"
        stats = task.get("ReplicationTaskStats") or {}
        reason = str(task.get("StopReason") or "")
        if (status == "stopped" and stats.get("FullLoadProgressPercent") == 100
                and not stats.get("TablesErrored") and not stats.get("TablesLoading")
                and not stats.get("TablesQueued")
                and (not reason or any(r in reason for r in _DONE_STOP_REASONS))):
            return "done"
        return "failed"

    def final_sync(self, actions: list[str]) -> None:
        task = self._task()
        if task is None:
            if self._snapshot() is not None:
                actions.append("final sync: task gone, final snapshot exists (stack already destroyed)")
                return
            raise StepFailed(f"DMS task {self.cfg.final_sync_task_id} not found and no final snapshot: "
                             "cannot prove event orders reached prod; refusing to destroy")
        state = self._sync_state(task)
        if state == "done":
            actions.append("final sync: already completed")
            return
        if state in ("not-started", "failed"):
            kind = "reload-target" if task.get("ReplicationTaskStartDate") else "start-replication"
            self.dms.start_replication_task(ReplicationTaskArn=task["ReplicationTaskArn"],
                                            StartReplicationTaskType=kind)
            actions.append(f"final sync: started ({kind})")
        deadline = time.monotonic() + self.cfg.sync_wait_seconds
        while True:
            task = self._task() or {}
            state = self._sync_state(task)
            if state == "done":
                actions.append("final sync: completed")
                return
            if state == "failed":
                raise StepFailed(f"final DMS sync {self.cfg.final_sync_task_id} failed "
                                 f"(status {task.get('Status')}, {task.get('StopReason') or 'no reason'}); "
                                 "refusing to destroy")
            if time.monotonic() >= deadline:
                pct = (task.get("ReplicationTaskStats") or {}).get("FullLoadProgressPercent", "?")
                raise StepFailed(f"final DMS sync {self.cfg.final_sync_task_id} has not completed "
                                 f"(status {task.get('Status')}, {pct}% loaded); refusing to destroy")
            self.sleep(min(self.cfg.poll_seconds, max(0.0, deadline - time.monotonic())))

    # --- final snapshot ---
    def _snapshot(self) -> dict[str, Any] | None:
        try:
            snaps = self.rds.describe_db_snapshots(DBSnapshotIdentifier=self.cfg.snapshot_id)["DBSnapshots"]
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") == "DBSnapshotNotFound":
                return None
            raise
        return snaps[0] if snaps else None

    def final_snapshot(self, actions: list[str]) -> None:
        snap = self._snapshot()
        if snap is None:
            self.rds.create_db_snapshot(DBSnapshotIdentifier=self.cfg.snapshot_id,
                                        DBInstanceIdentifier=self.cfg.db_instance_id,
                                        Tags=[{"Key": "gantry:event", "Value": self.cfg.event_name}])
            actions.append(f"snapshot {self.cfg.snapshot_id}: created")
        else:
            actions.append(f"snapshot {self.cfg.snapshot_id}: already exists")
        deadline = time.monotonic() + self.cfg.sync_wait_seconds
        while True:
            snap = self._snapshot() or {}
            if snap.get("Status") == "available":
                return
            if snap.get("Status") in ("failed", "incompatible-restore"):
                raise StepFailed(f"snapshot {self.cfg.snapshot_id} is {snap.get('Status')}; refusing to destroy")
            if time.monotonic() >= deadline:
                raise StepFailed(f"snapshot {self.cfg.snapshot_id} not available yet ({snap.get('Status')}); "
                                 "refusing to destroy")
            self.sleep(self.cfg.poll_seconds)

    # --- images ---
    def pin_images(self, actions: list[str]) -> None:
        """Write ``images.auto.tfvars.json`` from the digests the GitOps repo pins for ``event``."""
        if not self.cfg.gitops_repo:
            return
        from gitops.pins import active_registry, image_digests, read_environment, write_tfvars

        from pipeline_lib.core.catalog import load_catalog
        try:
            catalog = load_catalog(self.cfg.catalog_path)
            pins, state = read_environment(self.cfg.gitops_repo, catalog, "event")
            digests = image_digests(pins, "event")
        except GantryError as exc:
            raise StepFailed(str(exc)) from None
        registry = active_registry(catalog, state)
        write_tfvars(self.cfg.event_root / "images.auto.tfvars.json", digests, registry)
        actions.append(f"image digests: {len(digests)} pinned from the GitOps repo (registry {registry})")

    # --- terraform ---
    def terraform(self, action: str, actions: list[str]) -> None:
        root = self.cfg.event_root
        if not root.is_dir():
            raise GantryError("event lifecycle: --event-root", f"{root} is not a directory")
        env = child_env(TF_IN_AUTOMATION="1", TF_INPUT="0")
        for argv in ([*self.cfg.terraform_cmd, "init", "-input=false", "-no-color"],
                     [*self.cfg.terraform_cmd, action, "-auto-approve", "-input=false", "-no-color"]):
            try:
                # own process group: a timeout or interrupt kills Terraform and its provider plugins
                proc = run(argv, cwd=root, env=env, timeout=self.cfg.terraform_timeout, what="terraform")
            except TimeoutExceeded:
                raise StepFailed(f"terraform {argv[len(self.cfg.terraform_cmd)]} timed out") from None
            except GantryError as exc:
                raise StepFailed(f"cannot run terraform: {exc.what}") from None
            sys.stderr.write(proc.stdout[-4000:])
            if proc.returncode != 0:
                raise StepFailed(f"terraform {argv[len(self.cfg.terraform_cmd)]} exited {proc.returncode}: "
                                 f"{error_summary(proc.stderr or proc.stdout)}")
        actions.append(f"terraform {action}: ok")

    # --- after destroy ---
    def _catalog(self):
        from pipeline_lib.core.catalog import load_catalog
        try:
            return load_catalog(self.cfg.catalog_path)
        except GantryError as exc:
            raise StepFailed(str(exc)) from None

    def sweep(self, actions: list[str]) -> None:
        """Fail the attempt when the destroy left anything of the stack (each priced)."""
        from .sweep import Sweeper, remaining, summary
        clients: dict[str, Any] = {}

        def aws(name: str) -> Any:
            if name not in clients:
                clients[name] = self._client(name)
            return clients[name]
        try:
            found = Sweeper(aws, self._catalog(), self.cfg.environment, self.cfg.db_instance_id).find()
        except GantryError as exc:
            raise StepFailed(f"sweep: {exc}") from None
        if remaining(found):
            for item in remaining(found):
                self.log(f"event {self.cfg.event_name}: left behind: {item.kind} {item.key}: {item.detail}")
            raise StepFailed(f"after terraform destroy: {summary(found)}; list them with 'gantry event sweep "
                             f"--env {self.cfg.environment} --dry-run', delete them with 'gantry event sweep'")
        actions.append(f"sweep: nothing left behind ({len(found)} kept on purpose)")

    def _db_created(self) -> datetime | None:
        try:
            dbs = self.rds.describe_db_instances(DBInstanceIdentifier=self.cfg.db_instance_id)["DBInstances"]
        except ClientError:
            return None
        return _utc(dbs[0].get("InstanceCreateTime")) if dbs else None

    def ledger(self, step: str, actions: list[str], db_created: datetime | None = None) -> None:
        """Open (create) or close (destroy) the event's ledger entry; a ledger fault fails the attempt."""
        if self.cfg.ledger_path is None:
            return
        from .ledger import close_event, open_event
        now = datetime.now(timezone.utc)
        try:
            if step == "create":
                open_event(self.cfg.ledger_path, self.cfg.event_name, now)
                return
            entry = close_event(self.cfg.ledger_path, self.cfg.event_name, now, self._catalog(), db_created)
        except GantryError as exc:
            raise StepFailed(str(exc)) from None
        if entry is None:
            self.log(f"gantry: event {self.cfg.event_name}: ledger: no creation time known: not recorded")
        else:
            actions.append(f"ledger: {entry['hours']:g} h, {entry['event_usd']:,.2f} USD "
                           f"(saving {entry['saving'] * 100:.1f} % against always on)")

    # --- entry point ---
    def attempt(self, step: str) -> list[str]:
        actions: list[str] = []
        try:
            if step == "create":
                self.pin_images(actions)
                self.terraform("apply", actions)
                self.ledger("create", actions)
            else:
                self.final_sync(actions)
                self.final_snapshot(actions)
                db_created = self._db_created() if self.cfg.ledger_path else None
                self.terraform("destroy", actions)
                if self.cfg.sweep:
                    self.sweep(actions)
                self.ledger("destroy", actions, db_created)
        except (ClientError, BotoCoreError) as exc:
            raise StepFailed(_aws_msg(exc)) from None
        return actions

    def run(self, step: str) -> Outcome:
        if step not in STEPS:
            raise GantryError("event lifecycle: --step", f"must be one of {', '.join(STEPS)}, got {step!r}")
        start = time.monotonic()
        attempts = 0
        while True:
            attempts += 1
            try:
                actions = self.attempt(step)
            except StepFailed as exc:
                left = self.cfg.window_seconds - (time.monotonic() - start)
                if left < self.cfg.retry_interval:
                    self.notify(f":x: {step} failed (attempt {attempts}): {exc}. Retry window "
                                f"({self.cfg.window_seconds:.0f}s) is over: giving up, a human must act.")
                    raise GantryError(f"event {self.cfg.event_name}: {step}", f"{exc} (gave up after "
                                      f"{attempts} attempt(s))", exit_code=EXIT_CHECK_FAILED) from None
                self.notify(f":warning: {step} failed (attempt {attempts}): {exc}. "
                            f"Retrying in {self.cfg.retry_interval:.0f}s.")
                self.sleep(self.cfg.retry_interval)
                continue
            for a in actions:
                self.log(f"event {self.cfg.event_name}: {a}")
            return Outcome(step, attempts, actions)

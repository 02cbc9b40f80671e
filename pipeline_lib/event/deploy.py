"""Roll one ECS Fargate service of the event stack to an image digest (a fix shipped during an event).

Steps (ECS API: DescribeServices, DescribeTaskDefinition, RegisterTaskDefinition, UpdateService):

1. read the service and its current task definition; when the service's container already runs
   the digest from the same repository, stop: nothing is registered or updated (idempotent); the
   same digest from another registry (``gantry dr failover``/``failback``) is rolled out;
2. register a new revision of the task definition's family: the same definition (roles, CPU and
   memory, network mode, volumes, tags, every container) with only the container's ``image``
   replaced by ``<repository>@<digest>``;
3. ``UpdateService`` to that revision with a rolling deployment (``minimumHealthyPercent`` 100,
   ``maximumPercent`` 200) and the deployment circuit breaker with rollback on, so a revision
   whose tasks keep failing is rolled back by ECS itself;
4. optionally wait: poll DescribeServices until the deployment of the new revision reports
   ``rolloutState`` COMPLETED (success), FAILED (the circuit breaker rolled back: exit 1), or the
   timeout passes (exit 1), printing progress (running/desired/pending, rollout state).

Names follow infra/modules/ecs-fargate: the cluster is the event stack's name (``event``), the
service and its container are named after the catalog service.
"""

from __future__ import annotations

import sys
import time
from dataclasses import asdict, dataclass
from typing import Any, TextIO

from botocore.exceptions import BotoCoreError, ClientError

from pipeline_lib.core.errors import EXIT_CHECK_FAILED, GantryError
from pipeline_lib.core.reference import strip_reference

DEFAULT_CLUSTER = "event"
# RegisterTaskDefinition parameters DescribeTaskDefinition returns and a new revision must repeat.
_TASK_DEF_FIELDS = ("family", "taskRoleArn", "executionRoleArn", "networkMode", "containerDefinitions",
                    "volumes", "placementConstraints", "requiresCompatibilities", "cpu", "memory",
                    "pidMode", "ipcMode", "proxyConfiguration", "inferenceAccelerators", "ephemeralStorage",
                    "runtimePlatform")
DEPLOYMENT_CONFIGURATION = {
    "deploymentCircuitBreaker": {"enable": True, "rollback": True},
    "maximumPercent": 200,
    "minimumHealthyPercent": 100,
}


@dataclass
class DeployResult:
    """What happened. ``status``: ``unchanged`` (already at the digest), ``dry-run``,
    ``updated`` (no wait), ``completed`` (rollout finished)."""

    service: str
    cluster: str
    image: str
    digest: str
    previous_image: str
    task_definition: str
    previous_task_definition: str
    status: str
    changed: bool

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class Rollout:
    """The state of the new revision's deployment, read from DescribeServices."""

    done: bool
    failed: bool
    message: str


def image_digest(image: str) -> str | None:
    """``repo@sha256:…`` -> ``sha256:…``; None for a tag-only reference."""
    return image.rsplit("@", 1)[1] if "@" in image else None


def _aws(what: str, exc: Exception) -> GantryError:
    if isinstance(exc, ClientError):
        err = exc.response.get("Error", {})
        return GantryError(f"event deploy: {what}", f"{err.get('Code', 'error')}: {err.get('Message', exc)}")
    return GantryError(f"event deploy: {what}", str(exc))


def describe_service(ecs: Any, cluster: str, service: str) -> dict[str, Any]:
    """The service (GantryError, exit 2, when the cluster or the service does not exist)."""
    try:
        resp = ecs.describe_services(cluster=cluster, services=[service])
    except (ClientError, BotoCoreError) as exc:
        raise _aws(f"cluster {cluster}", exc) from None
    found = [s for s in resp.get("services", []) if s.get("status") != "INACTIVE"]
    if not found:
        reasons = ", ".join(f.get("reason", "?") for f in resp.get("failures", [])) or "INACTIVE"
        raise GantryError(f"event deploy: {service}", f"no ECS service {service!r} in cluster {cluster!r} "
                                                      f"({reasons}); is the event stack up?")
    return found[0]


def _container(task_def: dict[str, Any], name: str) -> dict[str, Any]:
    containers = task_def.get("containerDefinitions", [])
    for c in containers:
        if c.get("name") == name:
            return c
    if len(containers) == 1:
        return containers[0]
    names = ", ".join(c.get("name", "?") for c in containers)
    raise GantryError(f"event deploy: {task_def.get('family')}", f"no container {name!r} (has: {names})")


def new_revision(task_def: dict[str, Any], tags: list[dict[str, str]], container: str, image: str) -> dict[str, Any]:
    """RegisterTaskDefinition arguments: ``task_def`` with ``container``'s image replaced."""
    args = {k: task_def[k] for k in _TASK_DEF_FIELDS if task_def.get(k) not in (None, [], {})}
    args["containerDefinitions"] = [dict(c, image=image) if c is _container(task_def, container) else c
                                    for c in task_def["containerDefinitions"]]
    if tags:
        args["tags"] = tags
    return args


def rollout_state(service: dict[str, Any], task_definition: str) -> Rollout:
    """Evaluate DescribeServices' ``deployments`` for the deployment of ``task_definition``.

    ECS marks the deployment ``rolloutState`` IN_PROGRESS, COMPLETED or FAILED; with the circuit
    breaker's rollback a FAILED deployment is replaced by a new PRIMARY one of the previous
    revision. (https://docs.aws.amazon.com/AmazonECS/latest/APIReference/API_Deployment.html)
    """
    ours = [d for d in service.get("deployments", []) if d.get("taskDefinition") == task_definition]
    if not ours:
        current = service.get("taskDefinition", "?")
        if current != task_definition:
            return Rollout(True, True, f"the service now runs {current.rsplit('/', 1)[-1]}: "
                                       "the new revision was rolled back or replaced")
        return Rollout(False, False, "waiting for ECS to start the deployment")
    d = ours[0]
    state = d.get("rolloutState", "IN_PROGRESS")
    progress = (f"running {d.get('runningCount', 0)}/{d.get('desiredCount', 0)}, pending "
                f"{d.get('pendingCount', 0)}, failed tasks {d.get('failedTasks', 0)}, rollout {state}")
    if state == "FAILED":
        reason = d.get("rolloutStateReason") or "no reason given"
        return Rollout(True, True, f"rollout FAILED (circuit breaker rolled back): {reason}")
    if state == "COMPLETED" and d.get("status") == "PRIMARY":
        return Rollout(True, False, progress)
    return Rollout(False, False, progress)


def wait_rollout(ecs: Any, cluster: str, service: str, task_definition: str, *, timeout: float,
                 interval: float = 10.0, out: TextIO | None = None) -> Rollout:
    """Poll until the rollout of ``task_definition`` completes; GantryError (exit 1) when it
    failed or ``timeout`` seconds passed. Prints a progress line whenever the state changes."""
    out = out or sys.stderr
    deadline = time.monotonic() + timeout
    last = ""
    while True:
        state = rollout_state(describe_service(ecs, cluster, service), task_definition)
        if state.message != last:
            print(f"event deploy {service}: {state.message}", file=out, flush=True)
            last = state.message
        if state.done and state.failed:
            raise GantryError(f"event deploy: {service}", state.message, exit_code=EXIT_CHECK_FAILED)
        if state.done:
            return state
        if time.monotonic() + interval > deadline:
            raise GantryError(f"event deploy: {service}", f"rollout not complete after {timeout:.0f}s "
                              f"(last: {state.message}); ECS keeps going, the circuit breaker rolls it back "
                              "if it fails", exit_code=EXIT_CHECK_FAILED)
        time.sleep(interval)


def deploy(ecs: Any, *, service: str, repository: str, digest: str, cluster: str = DEFAULT_CLUSTER,
           container: str | None = None, dry_run: bool = False, wait: bool = True,
           timeout: float = 900.0, interval: float = 10.0, out: TextIO | None = None) -> DeployResult:
    """Roll ``service`` to ``repository@digest`` (see the module doc)."""
    container = container or service
    image = f"{repository}@{digest}"
    svc = describe_service(ecs, cluster, service)
    current_arn = svc["taskDefinition"]
    try:
        described = ecs.describe_task_definition(taskDefinition=current_arn, include=["TAGS"])
    except (ClientError, BotoCoreError) as exc:
        raise _aws(f"task definition {current_arn}", exc) from None
    task_def, tags = described["taskDefinition"], described.get("tags", [])
    current_image = _container(task_def, container).get("image", "")

    def result(status: str, arn: str, changed: bool) -> DeployResult:
        return DeployResult(service, cluster, image, digest, current_image, arn, current_arn, status, changed)

    if image_digest(current_image) == digest and strip_reference(current_image) == strip_reference(image):
        return result("unchanged", current_arn, False)  # same digest from another registry is a change
    if dry_run:
        return result("dry-run", current_arn, False)
    try:
        registered = ecs.register_task_definition(**new_revision(task_def, tags, container, image))
        new_arn = registered["taskDefinition"]["taskDefinitionArn"]
        ecs.update_service(cluster=cluster, service=service, taskDefinition=new_arn,
                           deploymentConfiguration=DEPLOYMENT_CONFIGURATION)
    except (ClientError, BotoCoreError) as exc:
        raise _aws(service, exc) from None
    if not wait:
        return result("updated", new_arn, True)
    wait_rollout(ecs, cluster, service, new_arn, timeout=timeout, interval=interval, out=out)
    return result("completed", new_arn, True)

"""Per-event EventBridge Scheduler schedules that start the event runner (CodeBuild).

``gantry event schedule --name N --start ... --end ... --tz Asia/Seoul`` keeps two one-time
schedules in the runner's schedule group: ``<N>-create`` at D-1 22:00 local time and
``<N>-destroy`` after the event. Each starts the runner project through the Scheduler's
universal target (``aws-sdk:codebuild:startBuild``) with EVENT_NAME/EVENT_STEP/EVENT_START/EVENT_END.
These schedules are gantry's event calendar: :func:`read_calendar` reads the sale windows back
from the ``-destroy`` schedules (the freeze windows of prod, ``gantry gitops freeze``).
Creating, updating and deleting are idempotent: an unchanged schedule is left alone.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from botocore.exceptions import BotoCoreError, ClientError

from pipeline_lib.core.errors import GantryError

CREATE_AT_LOCAL = time(22, 0)          # D-1 22:00 in the event's time zone
DEFAULT_DESTROY_DELAY = timedelta(hours=1)
CODEBUILD_TARGET = "arn:aws:scheduler:::aws-sdk:codebuild:startBuild"
_NAME = re.compile(r"^[a-z][a-z0-9-]{0,39}$")


@dataclass(frozen=True)
class EventWindow:
    """An event's name and local start/end, and when its stack is created and destroyed."""

    name: str
    start: datetime          # aware, in tz
    end: datetime            # aware, in tz
    tz: str
    destroy_delay: timedelta = DEFAULT_DESTROY_DELAY

    @property
    def create_at(self) -> datetime:
        day_before = (self.start - timedelta(days=1)).date()
        return datetime.combine(day_before, CREATE_AT_LOCAL, tzinfo=self.start.tzinfo)

    @property
    def destroy_at(self) -> datetime:
        return self.end + self.destroy_delay

    @property
    def lifetime_hours(self) -> float:
        return (self.destroy_at - self.create_at).total_seconds() / 3600


def parse_window(name: str, start: str, end: str, tz: str,
                 destroy_delay: timedelta = DEFAULT_DESTROY_DELAY, where: str = "event") -> EventWindow:
    """Validate user input: a schedule-safe name, ISO times (local to ``tz``), end after start.
    Raises GantryError ``<where>: --<option>`` (``where``: the command, e.g. ``event cost``)."""
    if not _NAME.match(name or ""):
        raise GantryError(f"{where}: --name", f"{name!r} must be lower-case letters, digits and '-' (max 40)")
    try:
        zone = ZoneInfo(tz)
    except (ZoneInfoNotFoundError, ValueError):
        raise GantryError(f"{where}: --tz", f"unknown time zone {tz!r} (e.g. Asia/Seoul)") from None
    times = []
    for flag, raw in (("--start", start), ("--end", end)):
        try:
            value = datetime.fromisoformat(raw)
        except (TypeError, ValueError):
            raise GantryError(f"{where}: {flag}", f"{raw!r} is not an ISO date-time (e.g. 2027-03-01T10:00)") from None
        times.append(value.astimezone(zone) if value.tzinfo else value.replace(tzinfo=zone))
    if times[1] <= times[0]:
        raise GantryError(f"{where}: --end", f"{end} is not after --start {start}")
    if times[1] - times[0] > timedelta(days=14):
        raise GantryError(f"{where}: --end", "an event lasts at most 14 days (this is not an always-on stack)")
    if destroy_delay < timedelta(0):
        raise GantryError(f"{where}: --destroy-delay", "must not be negative")
    return EventWindow(name, times[0], times[1], tz, destroy_delay)


def _at(moment: datetime) -> str:
    return f"at({moment.replace(tzinfo=None).isoformat(timespec='seconds')})"


def desired_schedules(window: EventWindow, project: str, project_arn: str,
                      role_arn: str) -> dict[str, dict[str, Any]]:
    """Schedule name -> the CreateSchedule/UpdateSchedule arguments (without Name/GroupName)."""
    out = {}
    for step, moment in (("create", window.create_at), ("destroy", window.destroy_at)):
        build = {
            "ProjectName": project,
            "EnvironmentVariablesOverride": [
                {"Name": "EVENT_NAME", "Value": window.name, "Type": "PLAINTEXT"},
                {"Name": "EVENT_STEP", "Value": step, "Type": "PLAINTEXT"},
                {"Name": "EVENT_START", "Value": window.start.isoformat(), "Type": "PLAINTEXT"},
                {"Name": "EVENT_END", "Value": window.end.isoformat(), "Type": "PLAINTEXT"},
            ],
        }
        out[f"{window.name}-{step}"] = {
            "Description": f"gantry event {window.name}: {step} the event stack ({project_arn})",
            "ScheduleExpression": _at(moment),
            "ScheduleExpressionTimezone": window.tz,
            "FlexibleTimeWindow": {"Mode": "OFF"},
            "State": "ENABLED",
            "Target": {
                "Arn": CODEBUILD_TARGET,
                "RoleArn": role_arn,
                "Input": json.dumps(build, sort_keys=True),
                "RetryPolicy": {"MaximumEventAgeInSeconds": 3600, "MaximumRetryAttempts": 5},
            },
        }
    return out


_COMPARED = ("Description", "ScheduleExpression", "ScheduleExpressionTimezone", "FlexibleTimeWindow", "State")


def _same(have: dict[str, Any], want: dict[str, Any]) -> bool:
    if any(have.get(k) != want[k] for k in _COMPARED):
        return False
    ht, wt = have.get("Target") or {}, want["Target"]
    try:
        same_input = json.loads(ht.get("Input") or "null") == json.loads(wt["Input"])
    except ValueError:
        same_input = False
    return (same_input and ht.get("Arn") == wt["Arn"] and ht.get("RoleArn") == wt["RoleArn"]
            and ht.get("RetryPolicy") == wt["RetryPolicy"])


def _aws(where: str, exc: Exception) -> GantryError:
    if isinstance(exc, ClientError):
        err = exc.response.get("Error", {})
        return GantryError(where, f"{err.get('Code', 'error')}: {err.get('Message', '')}".strip())
    return GantryError(where, str(exc))


def _runner_arn(codebuild: Any, project: str) -> str:
    try:
        found = codebuild.batch_get_projects(names=[project]).get("projects", [])
    except (ClientError, BotoCoreError) as exc:
        raise _aws("event: codebuild", exc) from None
    if not found:
        raise GantryError("event schedule: --project", f"CodeBuild project {project!r} not found (apply infra/envs/prod first)")
    return found[0]["arn"]


def ensure_schedules(scheduler: Any, codebuild: Any, window: EventWindow, group: str, project: str,
                     role_arn: str) -> list[tuple[str, str]]:
    """Create or update the event's schedules; returns ``(name, created|updated|unchanged)``."""
    project_arn = _runner_arn(codebuild, project)
    try:
        scheduler.get_schedule_group(Name=group)
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") == "ResourceNotFoundException":
            raise GantryError("event schedule: --group", f"schedule group {group!r} not found (apply infra/envs/prod first)") from None
        raise _aws("event: scheduler", exc) from None
    results = []
    for name, want in desired_schedules(window, project, project_arn, role_arn).items():
        try:
            try:
                have = scheduler.get_schedule(GroupName=group, Name=name)
            except ClientError as exc:
                if exc.response.get("Error", {}).get("Code") != "ResourceNotFoundException":
                    raise
                scheduler.create_schedule(Name=name, GroupName=group, **want)
                results.append((name, "created"))
                continue
            if _same(have, want):
                results.append((name, "unchanged"))
            else:
                scheduler.update_schedule(Name=name, GroupName=group, **want)
                results.append((name, "updated"))
        except (ClientError, BotoCoreError) as exc:
            raise _aws(f"event: schedule {name}", exc) from None
    return results


def delete_schedules(scheduler: Any, name: str, group: str) -> list[tuple[str, str]]:
    """Delete the event's schedules; missing ones are ``absent`` (idempotent)."""
    if not _NAME.match(name or ""):
        raise GantryError("event schedule: --name", f"{name!r} must be lower-case letters, digits and '-' (max 40)")
    results = []
    for step in ("create", "destroy"):
        sched = f"{name}-{step}"
        try:
            scheduler.delete_schedule(GroupName=group, Name=sched)
            results.append((sched, "deleted"))
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") != "ResourceNotFoundException":
                raise _aws(f"event: schedule {sched}", exc) from None
            results.append((sched, "absent"))
        except BotoCoreError as exc:
            raise _aws(f"event: schedule {sched}", exc) from None
    return results


def _calendar_entry(schedule: dict[str, Any], create_at: str | None = None) -> EventWindow | None:
    """The event window a ``-destroy`` schedule describes, or None when its input is not gantry's.
    A schedule written before EVENT_START was recorded starts its window at its ``-create``
    schedule's time (``create_at``, the ``at(...)`` expression; the stack's creation, D-1 22:00
    local: earlier than the sale, never later)."""
    try:
        build = json.loads((schedule.get("Target") or {}).get("Input") or "{}")
        variables = {v["Name"]: v["Value"] for v in build.get("EnvironmentVariablesOverride", [])}
        tz = str(schedule.get("ScheduleExpressionTimezone") or "UTC")
        zone = ZoneInfo(tz)
        end = datetime.fromisoformat(variables["EVENT_END"]).astimezone(zone)
        if "EVENT_START" in variables:
            start = datetime.fromisoformat(variables["EVENT_START"]).astimezone(zone)
        else:
            start = datetime.fromisoformat(str(create_at).removeprefix("at(").removesuffix(")")).replace(tzinfo=zone)
        return EventWindow(str(variables.get("EVENT_NAME") or schedule.get("Name", "event")), start, end, tz)
    except (KeyError, ValueError, TypeError, ZoneInfoNotFoundError):
        return None


def read_calendar(scheduler: Any, group: str) -> list[EventWindow]:
    """The sale windows of the events scheduled in ``group`` (their ``-destroy`` schedules), by
    start. A schedule group that does not exist or cannot be read is a :class:`GantryError`:
    an unreadable calendar is never an empty one."""
    try:
        found = {}
        for page in scheduler.get_paginator("list_schedules").paginate(GroupName=group):
            found.update({s["Name"]: s for s in page.get("Schedules", []) if s.get("Name")})
        out = []
        for name in sorted(n for n in found if n.endswith("-destroy")):
            schedule = scheduler.get_schedule(GroupName=group, Name=name)
            create_at = None
            if '"EVENT_START"' not in str((schedule.get("Target") or {}).get("Input")):
                create = name.removesuffix("-destroy") + "-create"
                if create in found:
                    create_at = scheduler.get_schedule(GroupName=group, Name=create).get("ScheduleExpression")
            window = _calendar_entry(schedule, create_at)
            if window is not None:
                out.append(window)
    except (ClientError, BotoCoreError) as exc:
        raise _aws(f"event calendar {group}", exc) from None
    return sorted(out, key=lambda w: w.start)

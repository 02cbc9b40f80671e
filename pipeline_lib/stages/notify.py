"""The ``post`` step: one Slack message per build (Jenkinsfile: ``gantry notify slack …``).

The webhook URL is a secret read from the environment (``url_env``); without it the stage is
skipped with that reason — a build is never failed for a notification.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from pipeline_lib.core.errors import GantryError
from pipeline_lib.notify.slack import post_slack

from . import PASSED, SKIPPED, StageResult

STATUS_ICONS = {"SUCCESS": ":white_check_mark:", "UNSTABLE": ":warning:", "FAILURE": ":x:",
                "ABORTED": ":no_entry_sign:", "NOT_BUILT": ":fast_forward:"}


@dataclass(frozen=True)
class NotifyOptions:
    """``required``: a missing webhook URL raises (CLI) instead of skipping the stage (demo)."""

    service: str
    environment: str
    status: str                 # Jenkins' currentBuild.currentResult: a key of STATUS_ICONS
    build_url: str = ""
    url_env: str = "SLACK_WEBHOOK_URL"
    dry_run: bool = False
    required: bool = True


def message(service: str, environment: str, status: str, build_url: str) -> str:
    """The one-line Slack message for a build result."""
    link = f" <{build_url}|build>" if build_url else ""
    return f"{STATUS_ICONS[status]} {service} ({environment}): {status}{link}"


def run(opts: NotifyOptions) -> StageResult:
    """Post the message; without a webhook URL: GantryError when ``opts.required``, else skipped."""
    text = message(opts.service, opts.environment, opts.status, opts.build_url)
    if opts.dry_run:
        return StageResult("notify", PASSED, "dry run", data={"text": text})
    url = os.environ.get(opts.url_env, "").strip()
    if not url:
        if opts.required:
            raise GantryError("notify", f"environment variable {opts.url_env} is not set (the Slack webhook URL)")
        return StageResult("notify", SKIPPED, f"{opts.url_env} not set", data={"text": text})
    post_slack(url, text)
    return StageResult("notify", PASSED, f"slack: posted ({opts.status})", data={"text": text})

"""``gantry notify slack``: the pipeline's last stage, one Slack message per build."""

from __future__ import annotations

import argparse
import os

from pipeline_lib.core.errors import GantryError
from pipeline_lib.core.settings import Settings
from ..notify import post_slack
from .options import add_dry_run, add_env

STATUS_ICONS = {"SUCCESS": ":white_check_mark:", "UNSTABLE": ":warning:", "FAILURE": ":x:",
                "ABORTED": ":no_entry_sign:", "NOT_BUILT": ":fast_forward:"}


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("notify", help="post the build result to Slack")
    nsub = p.add_subparsers(dest="notify_command", metavar="CHANNEL", required=True)
    slack = nsub.add_parser("slack", help="post to a Slack incoming webhook (URL from the environment)",
                            description="Post one message for a build. The webhook URL is a secret: it is "
                                        "read from the environment variable named by --url-env and never printed.")
    slack.add_argument("--service", required=True)
    add_env(slack, dest="environment", required=True)
    slack.add_argument("--status", required=True, type=str.upper, choices=sorted(STATUS_ICONS),
                       help="Jenkins' currentBuild.currentResult")
    slack.add_argument("--build-url", default=Settings.from_env().build_url or "")
    slack.add_argument("--url-env", default="SLACK_WEBHOOK_URL",
                       help="environment variable holding the webhook URL (default: %(default)s)")
    add_dry_run(slack, help="print the message instead of posting it")
    slack.set_defaults(func=_slack)


def message(service: str, environment: str, status: str, build_url: str) -> str:
    """The one-line Slack message for a build result."""
    link = f" <{build_url}|build>" if build_url else ""
    return f"{STATUS_ICONS[status]} {service} ({environment}): {status}{link}"


def _slack(args: argparse.Namespace) -> int:
    text = message(args.service, args.environment, args.status, args.build_url)
    if args.dry_run:
        print(text)
        return 0
    url = os.environ.get(args.url_env, "").strip()
    if not url:
        raise GantryError("notify", f"environment variable {args.url_env} is not set (the Slack webhook URL)")
    post_slack(url, text)
    print(f"notify: slack: posted ({args.status})")
    return 0

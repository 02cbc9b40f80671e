"""``gantry notify slack``: the pipeline's last stage, one Slack message per build."""

from __future__ import annotations

import argparse

from pipeline_lib.core.settings import variable
from pipeline_lib.core.settingsmodel import FromSetting

from ..stages.notify import STATUS_ICONS, NotifyOptions, run as run_notify
from .options import add_dry_run, add_env


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
    slack.add_argument("--build-url", default=FromSetting("build_url", ""), help="default: $BUILD_URL")
    slack.add_argument("--url-env", default="SLACK_WEBHOOK_URL",
                       help="environment variable holding the webhook URL (default: %(default)s)")
    add_dry_run(slack, help="print the message instead of posting it")
    slack.set_defaults(func=_slack, stage="notify")


def _slack(args: argparse.Namespace) -> int:
    url = args.settings.slack_webhook_url if args.url_env == "SLACK_WEBHOOK_URL" else variable(args.url_env)
    result = run_notify(NotifyOptions(args.service, args.environment, args.status, args.build_url,
                                      args.url_env, args.dry_run, url))
    print(result.data["text"] if args.dry_run else f"notify: {result.detail}")
    return 0

"""``gantry monitoring render|alertmanager|check|push-stage``: monitoring as code for the GitOps repository."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from pipeline_lib.core.catalog import load_catalog
from pipeline_lib.core.errors import EXIT_CHECK_FAILED, GantryError
from pipeline_lib.core.fileio import write_atomic

from .options import add_catalog, add_dry_run, add_env, add_format


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("monitoring", help="Prometheus rules, Grafana dashboards and Alertmanager config "
                                          "from the catalog, checked by promtool and amtool")
    msub = p.add_subparsers(dest="monitoring_command", metavar="ACTION", required=True)
    render = msub.add_parser("render", help="write monitoring/<env>/ (rules, promtool tests, dashboards)")
    add_catalog(render)
    add_env(render, required=True)
    render.add_argument("--output", type=Path, default=Path("."), help="GitOps repository root (default: .)")
    add_dry_run(render, help="list the files, write nothing")
    add_format(render)
    render.set_defaults(func=_render)
    am = msub.add_parser("alertmanager", help="print the Alertmanager configuration (Slack URL read from a file)")
    add_catalog(am)
    am.add_argument("--slack-api-url-file", default=None,
                    help="path of the Slack webhook URL file inside Alertmanager (default: the mounted Secret)")
    am.add_argument("--output", type=Path, default=None, help="write here instead of stdout")
    am.set_defaults(func=_alertmanager)
    check = msub.add_parser("check", help="promtool check/test rules, dashboard queries, amtool check-config; "
                                          "exit 1 listing every problem")
    check.add_argument("repo", type=Path, nargs="?", default=Path("."), help="GitOps repository (default: .)")
    add_format(check)
    check.set_defaults(func=_check)
    push = msub.add_parser("push-stage", help="push one stage's outcome to the Pushgateway at PUSHGATEWAY_URL "
                                              "(for Jenkins stages that are not run by gantry's stage runner)",
                           description="Labels: service from SERVICE, env from TARGET_ENV. Without "
                                       "PUSHGATEWAY_URL nothing is pushed (exit 0). A failed push exits 2.")
    push.add_argument("--stage", required=True, help="stage name (the alerts read 'gate' and 'replicate')")
    push.add_argument("--status", required=True, choices=("passed", "failed", "skipped"))
    push.add_argument("--duration", type=float, default=0.0, help="seconds the stage took (default 0)")
    push.set_defaults(func=_push_stage)


def _render(args: argparse.Namespace) -> int:
    from gitops.monitoring import monitoring_resources

    files = monitoring_resources(load_catalog(args.catalog), args.env)
    if not args.dry_run:
        for rel, text in files.items():
            write_atomic(args.output / rel, text)
    if args.format == "json":
        print(json.dumps({"written": not args.dry_run, "files": sorted(files)}, indent=2))
    else:
        verb = "would write" if args.dry_run else "wrote"
        for rel in sorted(files):
            print(f"{verb} {rel}")
        if not files:
            print(f"nothing to write: environment {args.env} is not deployed by Argo CD")
    return 0


def _alertmanager(args: argparse.Namespace) -> int:
    from gitops.monitoring import SLACK_URL_FILE, alertmanager_config, render_alertmanager_config

    text = render_alertmanager_config(alertmanager_config(
        load_catalog(args.catalog), slack_api_url_file=args.slack_api_url_file or SLACK_URL_FILE))
    if args.output is None:
        print(text, end="")
    else:
        write_atomic(args.output, text)
    return 0


def _check(args: argparse.Namespace) -> int:
    from gitops.monitoring import check_monitoring

    problems = check_monitoring(args.repo)
    if args.format == "json":
        print(json.dumps({"ok": not problems, "problems": problems}, indent=2))
    else:
        for line in problems:
            print(line)
        if not problems:
            print(f"{args.repo}: monitoring ok")
    return EXIT_CHECK_FAILED if problems else 0


def _push_stage(args: argparse.Namespace) -> int:
    import sys

    from ..metrics.pushgateway import URL_ENV, push_stage_run

    if args.duration < 0:
        raise GantryError("--duration", f"must be 0 or more seconds, got {args.duration:g}")
    if push_stage_run(args.stage, args.status, args.duration, args.settings):
        print(f"pushed {args.stage}: {args.status}")
    else:
        print(f"gantry: not pushed: {URL_ENV} is not set", file=sys.stderr)
    return 0

"""``gantry watch --env E``: re-scan what an environment runs; ``gantry watch ledger-import``.

Exit codes: 0 nothing new, 1 new blocking findings on a running digest, 2 cannot evaluate (a
digest without SBOM or scan, a DB too old, bad evidence, a failed notification, bad input).
Slack (``SLACK_WEBHOOK_URL``), GitHub issues (``GITHUB_TOKEN``, ``GITHUB_API_URL``) and the
Pushgateway (``PUSHGATEWAY_URL``) are used when configured; the settings are read by the CLI.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from pipeline_lib.core.errors import GantryError

from .options import add_catalog, add_dry_run, add_env, add_format


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("watch", help="re-scan the digests an environment runs with today's advisories; "
                                     "ledger, Slack, GitHub issues, metrics",
                       description="For every digest the environment's GitOps overlays pin: its SBOM "
                                   "(attested, cached or generated), a scan with today's DB, the gate policy, "
                                   "the ledger. Exit 0 nothing new, 1 new blocking findings, 2 cannot evaluate.")
    add_catalog(p)
    add_env(p, default=None, help="environment to watch (required): dev, prod, event")
    _common(p)
    p.add_argument("--branch", help="GitOps branch (default: the catalog's gitops_branch)")
    p.add_argument("--sbom-cache", type=Path, help="directory of verified SBOMs by digest "
                                                   "(default: <cache home>/gantry/sboms)")
    p.add_argument("--report-dir", type=Path, help="keep each service's scan report here")
    p.add_argument("--skip-db-update", action="store_true", help="use the vulnerability DB already in the "
                                                                "scanner's cache (its age is still checked)")
    p.add_argument("--code-scanning", action="store_true",
                   help="re-upload each digest's findings to its repository's GitHub code scanning (on the "
                        "commit its verified provenance names), so fixed alerts close; needs GITHUB_TOKEN")
    p.add_argument("--code-scanning-timeout", type=float, default=300.0, metavar="SECONDS",
                   help="how long to wait for GitHub to process each upload (default 300)")
    add_dry_run(p, help="scan and compare, but send, write and push nothing")
    add_format(p)
    p.set_defaults(func=_watch, stage="watch")
    wsub = p.add_subparsers(dest="watch_command", metavar="ACTION")
    imp = wsub.add_parser("ledger-import", help="fold a build's scan report into the ledger "
                                                "(idempotent: importing it again changes nothing)")
    imp.add_argument("report", type=Path, help="a scan report with vulnerabilities (any format gantry gate reads)")
    add_catalog(imp)
    add_env(imp, required=True)
    imp.add_argument("--service", required=True, help="the catalog service the report's image belongs to")
    _common(imp)
    add_dry_run(imp, help="print the changes, write nothing")
    add_format(imp)
    imp.set_defaults(func=_import, stage=None)


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--repo", help="GitOps repository URL (default: the catalog's gitops_repo)")
    p.add_argument("--ledger", type=_file_path, help="keep the ledger in this local file instead of "
                                               ".gantry/ledger/<env>.json in the GitOps repo")
    p.add_argument("--policy", type=Path, help="security policy (default: the packaged one)")
    p.add_argument("--feeds", type=Path, metavar="DIR",
                   help="the KEV/EPSS feed cache written by gantry feeds pull (needed when the policy has "
                        "kev/epss rules)")


def _file_path(raw: str) -> Path:
    """An argparse type: ``raw`` as a Path; an empty value (an unset variable) is refused, not ``.``."""
    if not raw.strip():
        raise argparse.ArgumentTypeError("is empty: give a file path (an unset variable?)")
    return Path(raw)


def _watch(args: argparse.Namespace) -> int:
    from gitops.hostlock import Writers

    from ..core.catalog import load_catalog
    from ..stages.watch import WatchOptions, run
    if args.env is None:
        raise GantryError("watch", "--env is required (the environment whose running digests to watch)")
    s = args.settings
    result = run(WatchOptions(
        load_catalog(args.catalog), args.env, repo=args.repo, branch=args.branch, ledger_file=args.ledger,
        policy=args.policy, sbom_cache=args.sbom_cache or s.cache_home() / "gantry" / "sboms",
        work_dir=args.report_dir, skip_db_update=args.skip_db_update,
        dry_run=args.dry_run, slack_webhook_url=s.slack_webhook_url, github_token=s.github_token,
        github_api_url=s.github_api_url, pushgateway_url=s.pushgateway_url,
        pushgateway_username=s.pushgateway_username, pushgateway_password=s.pushgateway_password,
        writers=Writers.from_settings(s), settings=s, code_scanning=args.code_scanning,
        code_scanning_timeout=args.code_scanning_timeout, feeds_dir=args.feeds))
    report = result.value
    if args.format == "json":
        print(json.dumps(report.to_json(), indent=2))
    else:
        for scan in report.scans:
            state = "ok" if scan.evaluated else "skipped: not deployed" if scan.skipped else "CANNOT EVALUATE"
            blocking = len(scan.verdict.blocking) if scan.verdict else 0
            print(f"{scan.service:<20} {scan.digest[:19] or '-':<20} sbom {scan.sbom_source or '-':<11} "
                  f"{blocking} blocking  {state}")
        for change in report.recorded.changes if report.recorded else []:
            e = change.entry
            print(f"{change.kind:<10} {e.vulnerability} {e.severity} {e.package} ({e.repository}: "
                  f"{', '.join(e.services)})")
        for entry in report.stale_exceptions:
            print(f"stale exception: {entry} matches nothing {report.environment} runs: remove it")
        for entry in report.expired_exceptions:
            print(f"expired exception: {entry} no longer suppresses what {report.environment} runs")
        for problem in report.problems:
            print(f"gantry: watch: {problem}", file=sys.stderr)
        print(f"slack: {report.slack}; issues: "
              + (", ".join(f"{k} {len(v)}" for k, v in report.issues.items()) or "not configured (GITHUB_TOKEN)")
              + f"; ledger: {report.ledger or '-'}; metrics: {report.metrics}"
              + (f"; code scanning: {', '.join(f'{k} {len(v)}' for k, v in report.code_scanning.items())}"
                 if report.code_scanning else ""))
        print(report.summary)
    return int(result.data["exit_code"])


def _import(args: argparse.Namespace) -> int:
    from gitops.hostlock import Writers

    from ..core.catalog import load_catalog
    from ..stages.watch import ledger_import

    catalog = load_catalog(args.catalog)
    recorded, where = ledger_import(catalog, args.report, environment=args.env, service=args.service,
                                    policy=args.policy, ledger_file=args.ledger, repo=args.repo,
                                    dry_run=args.dry_run, writers=Writers.from_settings(args.settings),
                                    feeds_dir=args.feeds)
    if args.format == "json":
        print(json.dumps({"ledger": where, "dry_run": args.dry_run,
                          "changes": [{"kind": c.kind, "vulnerability": c.entry.vulnerability,
                                       "package": c.entry.package, "state": c.entry.state}
                                      for c in recorded.changes]}, indent=2))
    else:
        for c in recorded.changes:
            print(f"{c.kind:<10} {c.entry.vulnerability} {c.entry.package} ({c.entry.repository})")
        print(f"{len(recorded.changes)} state change(s){' (dry run)' if args.dry_run else ''}; ledger: {where}")
    return 0

"""``gantry code-scanning``: upload report.sarif to GitHub code scanning (one analysis per tool).

Exit codes: 0 uploaded and processed; 2 rejected, failed processing, timed out or bad input.
The token comes from ``GITHUB_TOKEN`` (scope ``security_events``).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from pipeline_lib.core.errors import GantryError

from .options import add_dry_run, add_format


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("code-scanning", help="upload SARIF to GitHub code scanning and wait until it is processed")
    p.add_argument("--repo", required=True, help="owner/name")
    p.add_argument("--sha", required=True, help="the full commit SHA the analysis is for")
    ref = p.add_mutually_exclusive_group(required=True)
    ref.add_argument("--pr", type=int, help="pull request number (ref refs/pull/N/head)")
    ref.add_argument("--ref", help="git ref, e.g. refs/heads/main (or a branch name)")
    p.add_argument("--sarif", type=Path, required=True, help="report.sarif written by gantry gate --report-dir")
    add_options(p)
    add_dry_run(p, help="prepare and print what would be uploaded; no request")
    add_format(p)
    p.set_defaults(func=cmd_code_scanning, stage="code_scanning")


def add_options(p: argparse.ArgumentParser) -> None:
    """Options shared with ``gantry pr-report --code-scanning``."""
    p.add_argument("--api-url", default=None, help="API base URL (GitHub Enterprise: https://HOST/api/v3)")
    p.add_argument("--code-scanning-timeout", type=float, default=300.0, metavar="SECONDS",
                   help="how long to wait for GitHub to process each upload (default 300)")


def cmd_code_scanning(args: argparse.Namespace) -> int:
    from pipeline_lib.codescanning import branch_ref, pr_ref

    from ..stages.code_scanning import upload_sarif

    if args.pr is not None and args.pr <= 0:
        raise GantryError("--pr", "must be a positive pull request number")
    ref = pr_ref(args.pr) if args.pr is not None else branch_ref(args.ref)
    out = upload_sarif(args.repo, args.sha, ref, args.sarif, api_url=args.api_url or args.settings.github_api_url,
                       token=args.settings.github_token or "",
                       timeout=args.code_scanning_timeout, dry_run=args.dry_run, quiet=args.format == "json")
    if args.format == "json":
        print(json.dumps({"ref": ref, "uploads": out}, indent=2))
    else:
        for r in out:
            print(f"code-scanning: {r['tool']}: {r['status']} ({r['results_sent']} of {r['results_total']} results)")
    return 0

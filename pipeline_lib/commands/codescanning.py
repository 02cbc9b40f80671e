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
    from ..stages.code_scanning import CodeScanningOptions, run

    result = run(CodeScanningOptions(args.repo, args.sha, args.sarif, pr=args.pr, ref=args.ref, api_url=args.api_url,
                                     timeout=args.code_scanning_timeout, dry_run=args.dry_run,
                                     quiet=args.format == "json"))
    if args.format == "json":
        print(json.dumps(result.data, indent=2))
    else:
        for r in result.data["uploads"]:
            print(f"code-scanning: {r['tool']}: {r['status']} ({r['results_sent']} of {r['results_total']} results)")
    return 0

"""``gantry scan``, ``gantry findings``, ``gantry gate`` and ``gantry pr-report``.

Exit codes: ``scan`` 0 ok/skipped, 2 error; ``findings`` 0, 2 unreadable input;
``gate`` 0 pass, 1 failed, 2 cannot evaluate; ``pr-report`` 0 posted, 2 could not post.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
TYPE_CHECKING = False   # typing's, without importing typing (~3 ms of a `gantry scan`'s start-up)

from pipeline_lib.core.errors import GantryError
from scanners.options import IMAGE_ARCHIVE, IMAGE_REFERENCE, Option
from scanners.registry import license_tools, options as scanner_options, run_options, tools_for, tool_names

from .options import add_env, add_format

if TYPE_CHECKING:
    from ..stages.gate import GateOptions
    from ..stages.scan import ScanOptions


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("scan", help="run one security scanner and write its report and outcome")
    p.add_argument("tool", choices=tool_names())
    p.add_argument("--src", type=Path, required=True, help="source tree to scan")
    p.add_argument("--out", type=Path, required=True, help="directory for the report and <tool>.outcome.json")
    p.add_argument("--timeout", type=float, default=None, help="seconds before the scanner is killed")
    p.add_argument("--image", help=f"scan this image reference instead of --src ({_by(IMAGE_REFERENCE)})")
    p.add_argument("--input", type=Path, help="scan this image archive instead of --src: an OCI archive, "
                                              f"OCI layout directory or docker-archive ({_by(IMAGE_ARCHIVE)})")
    for tool in tool_names():
        declared = scanner_options(tool)
        if declared:
            group = p.add_argument_group(tool)
            for opt in declared:
                _add_option(group, tool, opt)
    p.set_defaults(func=cmd_scan, stage="scan")

    p = sub.add_parser("findings", help="print the normalized findings of scan reports")
    p.add_argument("reports", nargs="+", type=Path, metavar="REPORT")
    add_format(p, human="table")
    p.add_argument("--licenses", action="store_true", help=_licenses_help())
    p.add_argument("--input-format", default=None, help="report format (default: detected from content)")
    p.set_defaults(func=cmd_findings)

    p = sub.add_parser("gate", help="evaluate scan reports against the security policy (0 pass, 1 fail, 2 cannot evaluate)")
    p.add_argument("reports", nargs="*", type=Path, metavar="REPORT")
    p.add_argument("--policy", type=Path, help="policy YAML (default: the packaged policy, fails on HIGH/CRITICAL)")
    add_env(p)
    p.add_argument("--baseline", type=Path, help="findings.json of an earlier run (for only-new rules)")
    p.add_argument("--baseline-from-jenkins", metavar="JOB",
                   help="fetch the baseline from JOB's last successful build (e.g. dev/web); auto: a pull-request "
                        "job ($JOB_NAME dev/web-pr) uses its main-branch job (dev/web), a main-branch job none; "
                        "unreachable → no baseline, said in the reports, never a failed gate for that alone")
    p.add_argument("--baseline-artifact", default="reports/gate/findings.json",
                   help="archived path of findings.json in that build (default reports/gate/findings.json)")
    p.add_argument("--outcomes", type=Path, help="directory with <tool>.outcome.json files")
    p.add_argument("--report-dir", type=Path, help="write report.md, report.sarif, junit.xml, report.html, findings.json")
    add_format(p)
    p.add_argument("--licenses", action="store_true", help=_licenses_help())
    p.add_argument("--input-format", default=None, help="format of every REPORT (default: detected from content)")
    p.add_argument("--feeds", type=Path, metavar="DIR",
                   help="the KEV/EPSS feed cache written by gantry feeds pull (needed when the policy has kev/epss rules)")
    p.add_argument("--service", help="the service (catalog name): report.sarif's automation id becomes "
                                     "gantry/<service>/<env>/ (stable code-scanning alerts across tags)")
    p.set_defaults(func=cmd_gate, stage="gate")

    p = sub.add_parser("pr-report", help="post/update the security comment and commit status on a pull request")
    p.add_argument("--repo", required=True, help="owner/name")
    p.add_argument("--pr", type=int, required=True)
    p.add_argument("--sha", required=True, help="commit to set the gantry/security status on")
    p.add_argument("--report-dir", type=Path, required=True, help="directory written by gantry gate --report-dir")
    p.add_argument("--api-url", default=None, help="API base URL (GitHub Enterprise: https://HOST/api/v3)")
    p.add_argument("--target-url", default=None, help="link for the status (e.g. the Jenkins build)")
    p.add_argument("--context", default="gantry/security")
    p.add_argument("--code-scanning", action="store_true",
                   help="also upload report.sarif to GitHub code scanning (ref refs/pull/N/head) and wait for it")
    p.add_argument("--code-scanning-timeout", type=float, default=300.0, metavar="SECONDS")
    p.set_defaults(func=cmd_pr_report, stage="pr_report")


# ---------------------------------------------------------------------------------------

def _by(subject: str) -> str:
    """Which scanners scan ``subject``, for a help text."""
    return "scanners: " + (", ".join(tools_for(subject)) or "none")


def _licenses_help() -> str:
    return f"include license findings ({', '.join(license_tools()) or 'no scanner reports them'})"


def _dest(tool: str, opt: Option) -> str:
    """Where argparse keeps ``tool``'s value of ``opt`` (per tool: two scanners may use one keyword)."""
    return f"{tool}:{opt.dest}"


def _add_option(group: argparse._ArgumentGroup, tool: str, opt: Option) -> None:
    """One declared scanner option as an argparse argument of ``group``."""
    if opt.kind == "switch":
        group.add_argument(opt.flag, dest=_dest(tool, opt), action="store_true", default=opt.default, help=opt.help)
    elif opt.kind == "off":
        group.add_argument(opt.flag, dest=_dest(tool, opt), action="store_false", default=True, help=opt.help)
    else:
        def convert(text: str, opt: Option = opt):
            return opt.convert(text)

        convert.__name__ = opt.kind   # argparse's "invalid number value: 'x'"
        group.add_argument(opt.flag, dest=_dest(tool, opt), type=convert, default=opt.default,
                           choices=opt.choices or None, metavar=opt.placeholder, help=opt.help)


def scan_options(args: argparse.Namespace) -> "ScanOptions":
    """The scan stage's options from ``gantry scan`` arguments: the chosen scanner's declared
    options (its module's ``OPTIONS``, through its ``to_options``), then what it takes from the
    settings the CLI read (its ``from_settings``: an option given wins); the others' are ignored."""
    from ..stages.scan import ScanOptions, settings_options

    values = {opt.dest: getattr(args, _dest(args.tool, opt)) for opt in scanner_options(args.tool)}
    opts = run_options(args.tool, values)
    for key, value in settings_options(args.tool, args.settings).items():   # an option given wins
        if opts.get(key) is None:
            opts[key] = value
    return ScanOptions(args.tool, args.src, args.out, args.timeout, args.image, args.input, opts)


def cmd_scan(args: argparse.Namespace) -> int:
    from ..stages.scan import run

    result = run(scan_options(args))
    if result.data["outcome"] == "ok":
        print(f"{args.tool}: ok ({result.data['findings']} findings) in {result.data['seconds']:.1f}s")
        return 0
    print(f"{args.tool}: {result.data['outcome']}: {result.data['reason']}")
    return 0 if result.data["outcome"] == "skipped" else 2


def cmd_findings(args: argparse.Namespace) -> int:
    from scanners.registry import parse_report

    findings = []
    for path in args.reports:
        findings.extend(parse_report(path, licenses=args.licenses, format=args.input_format).findings)
    if args.format == "json":
        sys.stdout.write("[\n" + ",\n".join(json.dumps(f.to_json(), ensure_ascii=False) for f in findings)
                         + ("\n]\n" if findings else "]\n"))
        return 0
    rows = [("SEVERITY", "TOOL", "ID", "PACKAGE", "INSTALLED", "FIXED", "LOCATION")]
    for f in sorted(findings, key=lambda f: (-f.rank, f.tool, f.id)):
        rows.append((f.severity, f.tool, f.id, f.package or "", f.installed_version or "", f.fixed_version or "",
                     (f.target or "") + (f":{f.line}" if f.line else "")))
    widths = [min(max(len(r[i]) for r in rows), 60) for i in range(len(rows[0]))]
    out = sys.stdout
    for r in rows:
        out.write("  ".join(_printable(c)[:w].ljust(w) for c, w in zip(r, widths)).rstrip() + "\n")
    by_tool: dict[str, int] = {}
    for f in findings:
        by_tool[f.tool] = by_tool.get(f.tool, 0) + 1
    out.write(f"{len(findings)} findings" + (f" ({', '.join(f'{t}: {n}' for t, n in sorted(by_tool.items()))})"
                                             if by_tool else "") + "\n")
    return 0


def _printable(text: str) -> str:
    return "".join(ch if ch.isprintable() else "?" for ch in text)


def gate_options(args: argparse.Namespace) -> "GateOptions":
    """The gate stage's options from ``gantry gate`` arguments."""
    from ..stages.gate import GateOptions

    if args.service is not None:
        from ..core.catalog import SERVICE_NAME
        if not SERVICE_NAME.match(args.service):
            raise GantryError("gate: --service", f"{_printable(args.service)!r} is not a catalog service name "
                                                 "(lower-case letters, digits and '-')")
    if args.baseline_from_jenkins and args.baseline:
        raise GantryError("--baseline-from-jenkins", "give either --baseline FILE or --baseline-from-jenkins JOB")
    return GateOptions(environment=args.env, reports=list(args.reports), outcomes_dir=args.outcomes,
                       policy=args.policy, baseline=args.baseline, report_dir=args.report_dir,
                       licenses=args.licenses, input_format=args.input_format,
                       links={"Jenkins build": args.settings.build_url or ""},
                       baseline_from_jenkins=args.baseline_from_jenkins or None,
                       baseline_artifact=args.baseline_artifact, job_name=args.settings.job_name,
                       settings=args.settings, feeds_dir=args.feeds, service=args.service)


def cmd_gate(args: argparse.Namespace) -> int:
    from ..stages.gate import run

    verdict = run(gate_options(args)).value
    if args.format == "json":
        from scanners.formats.json import verdict_json

        print(json.dumps(verdict_json(verdict), indent=2, ensure_ascii=False))
    else:
        print(verdict.summary)
        for r in verdict.rules:
            if r.status in ("fail", "skipped"):
                print(f"  {r.status}: {r.tool} {r.name}: {r.message}")
    for warning in verdict.warnings:
        print(f"gantry: warning: {warning}", file=sys.stderr)
    for err in verdict.errors:
        print(f"gantry: {err}", file=sys.stderr)
    return verdict.exit_code


def cmd_pr_report(args: argparse.Namespace) -> int:
    from ..stages.pr_report import PrReportOptions, run

    settings = args.settings
    result = run(PrReportOptions(args.repo, args.pr, args.sha, args.report_dir, args.api_url or settings.github_api_url,
                                 settings.github_token or "", args.target_url or settings.build_url or None,
                                 args.context, code_scanning=args.code_scanning,
                                 code_scanning_timeout=args.code_scanning_timeout))
    print(f"pr-report: {result.detail}")
    for r in result.data.get("code_scanning", []):
        print(f"pr-report: code scanning {r['tool']}: {r['status']} ({r['results_sent']} of {r['results_total']} results)")
    return 0

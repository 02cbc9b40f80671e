"""``gantry scan``, ``gantry findings``, ``gantry gate`` and ``gantry pr-report``.

Exit codes: ``scan`` 0 ok/skipped, 2 error; ``findings`` 0, 2 unreadable input;
``gate`` 0 pass, 1 failed, 2 cannot evaluate; ``pr-report`` 0 posted, 2 could not post.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

from pipeline_lib.core.errors import GantryError

_TOOLS = ("trivy", "dependency-check", "sonarqube")


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("scan", help="run one security scanner and write its report and outcome")
    p.add_argument("tool", choices=_TOOLS)
    p.add_argument("--src", type=Path, required=True, help="source tree to scan")
    p.add_argument("--out", type=Path, required=True, help="directory for the report and <tool>.outcome.json")
    p.add_argument("--timeout", type=float, default=None, help="seconds before the scanner is killed")
    t = p.add_argument_group("trivy")
    t.add_argument("--scanners", default="misconfig,secret", help="trivy scanners (vuln,misconfig,secret,license)")
    t.add_argument("--image", help="scan this image (trivy image) instead of --src")
    t.add_argument("--input", type=Path, help="image tarball for trivy image --input")
    t.add_argument("--no-sbom", action="store_true", help="do not write sbom.cdx.json")
    t.add_argument("--cache-dir", type=Path)
    t.add_argument("--db-repository", help="trivy DB mirror (OCI repository)")
    t.add_argument("--java-db-repository", help="trivy Java DB mirror (OCI repository)")
    t.add_argument("--skip-db-update", action="store_true", default=None)
    t.add_argument("--trivy", help="trivy binary")
    d = p.add_argument_group("dependency-check")
    d.add_argument("--dc-cli", help="dependency-check.sh (default: $DEPENDENCY_CHECK_HOME or PATH)")
    d.add_argument("--data-dir", type=Path, help="Dependency-Check data/cache directory")
    d.add_argument("--suppression", type=Path, help="suppression file")
    d.add_argument("--no-update", action="store_true", help="do not update the NVD data")
    s = p.add_argument_group("sonarqube")
    s.add_argument("--host-url", help="SonarQube URL (default $SONAR_HOST_URL; token from $SONAR_TOKEN)")
    s.add_argument("--project-key")
    s.add_argument("--sonar-scanner", help="sonar-scanner or pysonar executable")
    p.set_defaults(func=cmd_scan)

    p = sub.add_parser("findings", help="print the normalized findings of scan reports")
    p.add_argument("reports", nargs="+", type=Path, metavar="REPORT")
    p.add_argument("--format", choices=("table", "json"), default="table")
    p.add_argument("--licenses", action="store_true", help="include Trivy license findings")
    p.add_argument("--input-format", default=None, help="report format (default: detected from content)")
    p.set_defaults(func=cmd_findings)

    p = sub.add_parser("gate", help="evaluate scan reports against the security policy (0 pass, 1 fail, 2 cannot evaluate)")
    p.add_argument("reports", nargs="*", type=Path, metavar="REPORT")
    p.add_argument("--policy", type=Path, help="policy YAML (default: the packaged policy, fails on HIGH/CRITICAL)")
    p.add_argument("--env", default="dev", help="environment (dev, prod, event)")
    p.add_argument("--baseline", type=Path, help="findings.json of an earlier run (for only-new rules)")
    p.add_argument("--outcomes", type=Path, help="directory with <tool>.outcome.json files")
    p.add_argument("--report-dir", type=Path, help="write report.md, report.sarif, junit.xml, report.html, findings.json")
    p.add_argument("--format", choices=("text", "json"), default="text")
    p.add_argument("--licenses", action="store_true", help="include Trivy license findings")
    p.add_argument("--input-format", default=None, help="format of every REPORT (default: detected from content)")
    p.set_defaults(func=cmd_gate)

    p = sub.add_parser("pr-report", help="post/update the security comment and commit status on a pull request")
    p.add_argument("--repo", required=True, help="owner/name")
    p.add_argument("--pr", type=int, required=True)
    p.add_argument("--sha", required=True, help="commit to set the gantry/security status on")
    p.add_argument("--report-dir", type=Path, required=True, help="directory written by gantry gate --report-dir")
    p.add_argument("--api-url", default=None, help="API base URL (GitHub Enterprise: https://HOST/api/v3)")
    p.add_argument("--target-url", default=None, help="link for the status (e.g. the Jenkins build)")
    p.add_argument("--context", default="gantry/security")
    p.set_defaults(func=cmd_pr_report)


# ---------------------------------------------------------------------------------------

def cmd_scan(args: argparse.Namespace) -> int:
    import importlib

    from scanners.registry import parse_report

    # only the scanner being run is imported (start-up time of the scan stage)
    module = importlib.import_module("scanners." + args.tool.replace("-", "_"))
    trivy = dependency_check = sonarqube = module

    opts: dict = {}
    if args.timeout is not None:
        if args.timeout <= 0:
            raise GantryError("--timeout", "must be positive")
        opts["timeout"] = args.timeout
    try:
        args.out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise GantryError(str(args.out), f"cannot create: {exc.strerror or exc}") from None
    if not args.src.is_dir():
        raise GantryError(str(args.src), "not a directory")
    if args.tool == "trivy":
        scanners = tuple(s.strip() for s in args.scanners.split(",") if s.strip())
        opts.update(scanners=scanners, sbom=not args.no_sbom, trivy=args.trivy, cache_dir=args.cache_dir,
                    db_repository=args.db_repository, java_db_repository=args.java_db_repository,
                    skip_db_update=args.skip_db_update)
        if args.image or args.input:
            outcome = trivy.run_image(args.image or "", args.out, input_tar=args.input, **opts)
        else:
            outcome = trivy.run_fs(args.src, args.out, **opts)
    elif args.tool == "dependency-check":
        outcome = dependency_check.run(args.src, args.out, cli=args.dc_cli, data_dir=args.data_dir,
                                       suppression=args.suppression, no_update=args.no_update, **opts)
    else:
        outcome = sonarqube.run(args.src, args.out, host_url=args.host_url, project_key=args.project_key,
                                scanner=args.sonar_scanner, **opts)
    if outcome.status == "ok":
        try:
            n = sum(len(parse_report(p).findings) for p in outcome.reports if not str(p).endswith(".cdx.json"))
        except GantryError as exc:
            from scanners.base import ScanOutcome

            outcome = ScanOutcome(outcome.tool, "error", outcome.reports, f"unreadable report: {exc}", outcome.duration)
    outcome.write(args.out)
    if outcome.status == "ok":
        print(f"{outcome.tool}: ok ({n} findings) in {outcome.duration:.1f}s")
        return 0
    print(f"{outcome.tool}: {outcome.status}: {outcome.reason}")
    return 0 if outcome.status == "skipped" else 2


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


def read_outcomes(directory: Path) -> list:
    from scanners.base import ScanOutcome

    if not directory.is_dir():
        raise GantryError(str(directory), "not a directory (expected <tool>.outcome.json files)")
    return [ScanOutcome.read(p) for p in sorted(directory.glob("*.outcome.json"))]


def cmd_gate(args: argparse.Namespace) -> int:
    from scanners.formats import write_all
    from scanners.gate import evaluate
    from scanners.policy import load_policy

    policy = load_policy(args.policy)
    outcomes = read_outcomes(args.outcomes) if args.outcomes else []
    if not args.reports and not outcomes:
        raise GantryError("gate", "no reports given (pass REPORT files or --outcomes DIR)")
    verdict = evaluate(args.reports, policy=policy, environment=args.env, baseline=args.baseline,
                       outcomes=outcomes, licenses=args.licenses, report_format=args.input_format)
    build_url = os.environ.get("BUILD_URL", "")
    if build_url.startswith(("https://", "http://")):
        verdict.links.setdefault("Jenkins build", build_url)
    if args.report_dir:
        try:
            write_all(verdict, args.report_dir)
        except OSError as exc:
            raise GantryError(str(args.report_dir), f"cannot write reports: {exc.strerror or exc}") from None
    if args.format == "json":
        print(json.dumps(verdict.to_json(), indent=2, ensure_ascii=False))
    else:
        print(verdict.summary)
        for r in verdict.rules:
            if r.status in ("fail", "skipped"):
                print(f"  {r.status}: {r.tool} {r.name}: {r.message}")
    for err in verdict.errors:
        print(f"gantry: {err}", file=sys.stderr)
    return verdict.exit_code


def cmd_pr_report(args: argparse.Namespace) -> int:
    from scanners.formats.markdown import MARKER

    from pipeline_lib.core.github import GitHubClient, api_url_from_env, check_repo, check_sha

    check_repo(args.repo)
    check_sha(args.sha)
    if args.pr <= 0:
        raise GantryError("--pr", "must be a positive pull request number")
    md_path = args.report_dir / "report.md"
    verdict_path = args.report_dir / "verdict.json"
    try:
        body = md_path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise GantryError(str(md_path), "no such file (run gantry gate --report-dir first)") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise GantryError(str(md_path), f"cannot read: {exc}") from None
    try:
        verdict = json.loads(verdict_path.read_text(encoding="utf-8"))
        code = verdict["exit_code"]
        summary = str(verdict.get("summary", ""))
        if code not in (0, 1, 2):
            raise ValueError("exit_code")
    except FileNotFoundError:
        raise GantryError(str(verdict_path), "no such file (run gantry gate --report-dir first)") from None
    except (OSError, ValueError, KeyError, TypeError, UnicodeDecodeError):
        raise GantryError(str(verdict_path), "not a gantry verdict") from None
    state = {0: "success", 1: "failure", 2: "error"}[code]
    client = GitHubClient(os.environ.get("GITHUB_TOKEN", ""), args.api_url or api_url_from_env())
    comment = client.upsert_comment(args.repo, args.pr, body, MARKER)
    target_url = args.target_url or os.environ.get("BUILD_URL") or None
    client.set_status(args.repo, args.sha, state, summary or state, context=args.context, target_url=target_url)
    print(f"pr-report: comment {comment.action} ({comment.id}); status {args.context} = {state}")
    return 0

"""checkov: run it on Terraform offline and parse its JSON report into findings.

checkov runs in its own environment (``.venv-checkov``: it ships an ``hcl2`` package that would
overwrite ``python-hcl2`` in the main venv). Its findings go through the same gate, policy,
allowlist, baseline and reports as every other scanner's.

Findings (source: checkov's ``-o json`` output, a report object per framework or a list of them,
each with ``results.{failed_checks, skipped_checks, parsing_errors}``):

- every failed check is a ``misconfiguration`` finding; offline checkov reports no severity, so
  its severity is UNKNOWN unless checkov gave one (the default policy fails checkov on any
  severity: every failed check fails);
- a skipped check without a written reason (``# checkov:skip=<ID>`` with no ``:<reason>``) is a
  finding too: the only accepted way to accept a finding is a skip that says why;
- a file checkov could not parse is no evidence of a scan: it goes to ``ParsedReport.errors``
  (the gate says "cannot evaluate").
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import time
from pathlib import Path
TYPE_CHECKING = False   # typing's, without importing typing (~3 ms of a `gantry scan`'s start-up)
if TYPE_CHECKING:
    from typing import Any

from pipeline_lib.core.errors import GantryError, TimeoutExceeded
from pipeline_lib.core.fileio import write_atomic
from pipeline_lib.core.settings import child_env
from pipeline_lib.core.settingsmodel import Settings

from .base import FindingSet, Finding, ParsedReport, ScanOutcome, clip, fingerprint
from .registry import ParseOptions, register

TOOL = "checkov"
REPORT_NAME = "checkov.json"
CHECKOV_VENV = ".venv-checkov"
NO_REASON = {"", "no comment provided"}
DEFAULT_TIMEOUT = 600.0
_SEVERITY = {"critical": "CRITICAL", "high": "HIGH", "medium": "MEDIUM", "low": "LOW", "info": "INFO"}


def find_checkov(project_dir: Path | None = None, configured: str | None = None) -> str:
    """``configured`` (the caller's ``$GANTRY_CHECKOV``), else ``<project>/.venv-checkov/bin/checkov``,
    else ``checkov`` on PATH."""
    env = configured
    if env:
        found = shutil.which(env)
        if found:
            return found
        raise GantryError("checkov", f"GANTRY_CHECKOV={env!r} is not an executable")
    candidates = []
    if project_dir is not None:
        candidates.append(Path(project_dir) / CHECKOV_VENV / "bin" / "checkov")
    candidates.append(Path(sys.prefix).parent / CHECKOV_VENV / "bin" / "checkov")
    for c in candidates:
        if c.is_file() and os.access(c, os.X_OK):
            return str(c)
    found = shutil.which("checkov")
    if found:
        return found
    raise GantryError("checkov", f"not installed (run 'make {CHECKOV_VENV}' to create {CHECKOV_VENV})")


def run_raw(infra_dir: Path, project_dir: Path | None = None, timeout: float = DEFAULT_TIMEOUT,
            checkov: str | None = None) -> list[dict[str, Any]]:
    """Run checkov (``checkov``: see :func:`find_checkov`) on ``infra_dir`` without network; its
    JSON report(s). Raises GantryError."""
    env = child_env(BC_SKIP_MAPPING="TRUE", CHECKOV_RUN_SCA_PACKAGE_SCAN_V2="false", LOG_LEVEL="ERROR")
    for key in ("BC_API_KEY", "PRISMA_API_URL"):
        env.pop(key, None)
    argv = [find_checkov(project_dir, checkov), "-d", str(infra_dir), "--framework", "terraform",
            "--skip-download", "--download-external-modules", "false", "-o", "json", "--compact"]
    from pipeline_lib.core.process import run as run_command   # subprocess: only when it runs

    try:
        proc = run_command(argv, timeout=timeout, env=env, what="checkov")
    except TimeoutExceeded:
        raise TimeoutExceeded("checkov", f"timed out after {timeout:.0f}s") from None
    try:
        data = json.loads(proc.stdout)
    except json.JSONDecodeError:
        tail = (proc.stderr or proc.stdout).strip().splitlines()[-1:] or ["no output"]
        raise GantryError("checkov", f"exit {proc.returncode}, no JSON report: {tail[0][:300]}") from None
    return data if isinstance(data, list) else [data]


def from_settings(settings: Settings) -> dict[str, Any]:
    """``run`` keywords from the settings the CLI read: ``$GANTRY_CHECKOV``."""
    return {"checkov": settings.checkov}


def run(project_dir: Path, out_dir: Path, *, timeout: float = DEFAULT_TIMEOUT, checkov: str | None = None,
        **_: Any) -> ScanOutcome:
    """Scanner protocol entry point: checkov (see :func:`find_checkov`) on the Terraform under ``project_dir``."""
    start = time.monotonic()
    try:
        data = run_raw(Path(project_dir), timeout=timeout, checkov=checkov)
    except GantryError as exc:
        return ScanOutcome(TOOL, "error", [], exc.what, time.monotonic() - start)
    report = write_atomic(Path(out_dir) / REPORT_NAME, json.dumps(data, indent=1) + "\n")
    return ScanOutcome(TOOL, "ok", [report], "", time.monotonic() - start)


def summary(reports: list[dict[str, Any]]) -> dict[str, int]:
    """passed / failed / skipped counts over every framework report."""
    total = {"passed": 0, "failed": 0, "skipped": 0}
    for report in reports:
        s = report.get("summary") if isinstance(report.get("summary"), dict) else report
        for key in total:
            value = s.get(key, 0)
            total[key] += value if isinstance(value, int) else 0
    return total


def _location(item: dict[str, Any], base: Path | None) -> tuple[str, int | None]:
    path = str(item.get("file_path") or item.get("repo_file_path") or "?").lstrip("/")
    lines = item.get("file_line_range") or []
    line = lines[0] if lines and isinstance(lines[0], int) else None
    return (str(base / path) if base is not None else path), line


def _finding(item: dict[str, Any], base: Path | None, skipped: bool) -> Finding:
    check_id = clip(item.get("check_id") or "CKV_UNKNOWN", 80)
    target, line = _location(item, base)
    resource = clip(item.get("resource") or "", 300) or None
    if skipped:
        title = (f"{check_id} skipped without a reason (write '# checkov:skip={check_id}:"
                 f"<why this is acceptable>')")
    else:
        title = (f"{check_id} failed: {clip(item.get('check_name') or '', 300)} (fix it, or add "
                 f"'# checkov:skip={check_id}:<reason>' to the block)")
    sev = _SEVERITY.get(str(item.get("severity") or "").lower(), "UNKNOWN")
    return Finding(TOOL, "misconfiguration", check_id, sev, title,
                   fingerprint(TOOL, check_id, "skip" if skipped else "fail", item.get("file_path"), resource),
                   package=resource, target=target, line=line, url=item.get("guideline") or None)


def parse_data(reports: list[dict[str, Any]], path: Path, base: Path | None = None) -> ParsedReport:
    """Findings from checkov's report object(s); ``base`` prefixes the reported file paths."""
    out = FindingSet()
    parsed = ParsedReport(Path(path), TOOL, "checkov-json")
    for report in reports:
        if not isinstance(report, dict):
            raise ValueError("a checkov report must be a JSON object")
        results = report.get("results") or {}
        if not isinstance(results, dict):
            raise ValueError("'results' must be an object")
        for item in results.get("failed_checks") or []:
            f = _finding(item, base, skipped=False)
            out.add((f.id, "fail", f.target, f.line, f.package), f)
        for item in results.get("skipped_checks") or []:
            comment = str((item.get("check_result") or {}).get("suppress_comment") or "").strip()
            if comment.lower() in NO_REASON:
                f = _finding(item, base, skipped=True)
                out.add((f.id, "skip", f.target, f.line, f.package), f)
        for bad in results.get("parsing_errors") or []:
            parsed.errors.append(f"checkov could not parse {clip(bad, 300)}")
    parsed.findings = out.findings
    return parsed


def _sniff(head: str) -> bool:
    return head.startswith(("{", "[")) and '"check_type"' in head and '"results"' in head


@register("checkov-json", TOOL, _sniff, label="Checkov JSON")
def parse_json(path: Path, options: ParseOptions = ParseOptions()) -> ParsedReport:
    """A report written by ``checkov -o json`` (one framework object or a list of them)."""
    with open(path, encoding="utf-8") as fh:
        data = json.load(fh)
    return parse_data(data if isinstance(data, list) else [data], path)


def parse(path: Path, **opts: Any) -> ParsedReport:
    return parse_json(path, ParseOptions(**opts))

"""checkov, offline, in its own environment (``.venv-checkov``: it ships an ``hcl2`` package that
would overwrite ``python-hcl2`` in the main venv).

Every failed check fails (offline checkov reports no severities), and so does a skip without a
written reason: ``# checkov:skip=<ID>:<reason>`` is the only accepted way to accept a finding.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
from pathlib import Path
from typing import Any

from pipeline_lib.core.errors import GantryError, TimeoutExceeded
from pipeline_lib.core.process import run
from .terraform import Finding

CHECKOV_VENV = ".venv-checkov"
NO_REASON = {"", "no comment provided"}
DEFAULT_TIMEOUT = 600.0


def checkov_bin(project_dir: Path | None = None) -> str:
    """``$GANTRY_CHECKOV``, else ``<project>/.venv-checkov/bin/checkov``, else ``checkov`` on PATH."""
    env = os.environ.get("GANTRY_CHECKOV")
    if env:
        found = shutil.which(env)
        if found:
            return found
        raise GantryError("checkov", f"GANTRY_CHECKOV={env!r} is not an executable")
    candidates = []
    if project_dir is not None:
        candidates.append(project_dir / CHECKOV_VENV / "bin" / "checkov")
    candidates.append(Path(sys.prefix).parent / CHECKOV_VENV / "bin" / "checkov")
    for c in candidates:
        if c.is_file() and os.access(c, os.X_OK):
            return str(c)
    found = shutil.which("checkov")
    if found:
        return found
    raise GantryError("checkov", f"not installed (run 'make {CHECKOV_VENV}' to create {CHECKOV_VENV})")


def run_checkov(infra_dir: Path, project_dir: Path | None = None,
                timeout: float = DEFAULT_TIMEOUT) -> list[dict[str, Any]]:
    """Run checkov on ``infra_dir`` without network; return its JSON report(s)."""
    env = dict(os.environ, BC_SKIP_MAPPING="TRUE", CHECKOV_RUN_SCA_PACKAGE_SCAN_V2="false",
               LOG_LEVEL="ERROR")
    for key in ("BC_API_KEY", "PRISMA_API_URL"):
        env.pop(key, None)
    argv = [checkov_bin(project_dir), "-d", str(infra_dir), "--framework", "terraform",
            "--skip-download", "--download-external-modules", "false", "-o", "json", "--compact"]
    try:
        proc = run(argv, timeout=timeout, env=env, what="checkov")
    except TimeoutExceeded:
        raise TimeoutExceeded("checkov", f"timed out after {timeout:.0f}s") from None
    try:
        data = json.loads(proc.stdout)
    except json.JSONDecodeError:
        tail = (proc.stderr or proc.stdout).strip().splitlines()[-1:] or ["no output"]
        raise GantryError("checkov", f"exit {proc.returncode}, no JSON report: {tail[0][:300]}") from None
    return data if isinstance(data, list) else [data]


def _where(item: dict[str, Any], infra_dir: Path) -> str:
    path = str(item.get("file_path", "?")).lstrip("/")
    lines = item.get("file_line_range") or []
    loc = f"{infra_dir / path}" + (f":{lines[0]}" if lines else "")
    return f"{loc} {item.get('resource', '')}".strip()


def evaluate(reports: list[dict[str, Any]], infra_dir: Path) -> list[Finding]:
    """Findings: failed checks, skips without a reason, parsing errors. De-duplicated."""
    findings: dict[tuple[str, str], Finding] = {}
    for report in reports:
        results = report.get("results") or {}
        for item in results.get("failed_checks", []):
            where = _where(item, infra_dir)
            what = f"{item.get('check_id')} failed: {item.get('check_name', '')} " \
                   f"(fix it, or add '# checkov:skip={item.get('check_id')}:<reason>' to the block)"
            findings.setdefault((where, what), Finding("checkov", where, what))
        for item in results.get("skipped_checks", []):
            comment = str((item.get("check_result") or {}).get("suppress_comment") or "").strip()
            if comment.lower() in NO_REASON:
                where = _where(item, infra_dir)
                what = f"{item.get('check_id')} skipped without a reason (write '# checkov:skip=" \
                       f"{item.get('check_id')}:<why this is acceptable>')"
                findings.setdefault((where, what), Finding("checkov", where, what))
        for path in results.get("parsing_errors", []):
            findings.setdefault((path, "parse"), Finding("checkov", str(path), "checkov could not parse the file"))
    return list(findings.values())


def summary(reports: list[dict[str, Any]]) -> dict[str, int]:
    total = {"passed": 0, "failed": 0, "skipped": 0}
    for report in reports:
        for key in total:
            total[key] += int((report.get("summary") or {}).get(key, 0))
    return total

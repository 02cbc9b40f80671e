"""The checkov step of ``gantry infra check``: checkov's findings through the security gate.

checkov itself is run and parsed by :mod:`scanners.checkov`; its findings are gated like every
other scanner's — the same policy (environment ``infra``; the default policy fails checkov on
any severity, so every failed check and every skip without a written reason fails), the same
allowlist — and each blocking finding or gate error becomes one line of the infra report.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from scanners import checkov as _checkov
from scanners.base import ScanOutcome
from scanners.gate import Verdict, evaluate as gate
from scanners.policy import Policy, load_policy

from .terraform import Finding

INFRA_ENVIRONMENT = "infra"
DEFAULT_TIMEOUT = _checkov.DEFAULT_TIMEOUT
summary = _checkov.summary


def run_checkov(infra_dir: Path, project_dir: Path | None = None,
                timeout: float = DEFAULT_TIMEOUT, checkov: str | None = None) -> list[dict[str, Any]]:
    """Run checkov (``checkov``: the caller's ``$GANTRY_CHECKOV``) on ``infra_dir`` without
    network; return its JSON report(s)."""
    return _checkov.run_raw(infra_dir, project_dir, timeout, checkov)


def verdict(reports: list[dict[str, Any]], infra_dir: Path, policy: Policy | None = None) -> Verdict:
    """The gate's verdict on checkov's ``reports`` for the ``infra`` environment."""
    parsed = _checkov.parse_data(reports, Path(infra_dir) / _checkov.REPORT_NAME, base=Path(infra_dir))
    return gate([parsed], [ScanOutcome(_checkov.TOOL, "ok", [parsed.path])], policy or load_policy(None),
                environment=INFRA_ENVIRONMENT)


def evaluate(reports: list[dict[str, Any]], infra_dir: Path, policy: Policy | None = None) -> list[Finding]:
    """One infra finding per blocking checkov finding and per gate error."""
    v = verdict(reports, infra_dir, policy)
    out = []
    for e in v.blocking:
        f = e.finding
        where = f"{f.target}" + (f":{f.line}" if f.line else "") + (f" {f.package}" if f.package else "")
        out.append(Finding("checkov", where, f.title))
    out.extend(Finding("checkov", "gate", err) for err in v.errors)
    return out

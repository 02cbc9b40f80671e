"""``findings.json`` (the baseline for the next run) and ``verdict.json`` (the gate's summary)."""

from __future__ import annotations

import json
import weakref

from ..fixplan import fix_plan

_last_plan: tuple[weakref.ref, int, list] | None = None   # one verdict's plan, shared by the writers

FILENAME = "findings.json"
VERDICT = "verdict.json"


def finding_rows(verdict) -> list[dict]:
    rows = []
    for e in verdict.findings:
        row = e.finding.to_json()
        row["new"] = e.new
        row["blocking"] = e.blocking
        row["kev"] = e.exploit.kev
        row["epss"] = e.exploit.epss
        row["allowlisted"] = None if e.allowed_by is None else {
            "reason": e.allowed_by.reason, "owner": e.allowed_by.owner, "expires": e.allowed_by.expires.isoformat()}
        rows.append(row)
    return rows


def render(verdict) -> str:
    """One JSON array, one finding per line (the C encoder; ``indent`` would be 5x slower)."""
    rows = finding_rows(verdict)
    if not rows:
        return "[]\n"
    return "[\n" + ",\n".join(json.dumps(r, ensure_ascii=False) for r in rows) + "\n]\n"


def plan_for(verdict) -> list:
    """The fix plan of a verdict: its non-allowlisted findings, blocking ones marked.

    Computed once per verdict (Markdown, HTML and verdict.json all show it).
    """
    global _last_plan
    if _last_plan is not None and _last_plan[0]() is verdict and _last_plan[1] == len(verdict.findings):
        return _last_plan[2]
    plan = fix_plan([e.finding for e in verdict.findings if e.allowed_by is None],
                    {e.finding.fingerprint for e in verdict.findings if e.blocking})
    _last_plan = (weakref.ref(verdict), len(verdict.findings), plan)
    return plan


def verdict_json(verdict) -> dict:
    """``verdict.json``: the gate's summary, the whole fix plan and the findings the PR fixed."""
    doc = verdict.to_json()
    doc["fix_plan"] = [p.to_json() for p in plan_for(verdict)]
    doc["fixed"] = [f.to_json() for f in getattr(verdict, "fixed", [])]
    return doc


def render_files(verdict) -> dict[str, str]:
    return {FILENAME: render(verdict), VERDICT: json.dumps(verdict_json(verdict), indent=2, ensure_ascii=False) + "\n"}

"""``findings.json`` (the baseline for the next run) and ``verdict.json`` (the gate's summary)."""

from __future__ import annotations

import json

FILENAME = "findings.json"
VERDICT = "verdict.json"


def finding_rows(verdict) -> list[dict]:
    rows = []
    for e in verdict.findings:
        row = e.finding.to_json()
        row["new"] = e.new
        row["blocking"] = e.blocking
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


def render_files(verdict) -> dict[str, str]:
    return {FILENAME: render(verdict), VERDICT: json.dumps(verdict.to_json(), indent=2, ensure_ascii=False) + "\n"}

"""The base branch's findings: what a pull request fixed, from a previous ``findings.json``.

``findings.json`` (written by :mod:`scanners.formats.json`) is the baseline format: a JSON array
of finding rows, each with at least ``fingerprint``; ``tool``, ``id``, ``severity``, ``title``,
``package``… are used when present. The gate reads only the fingerprints
(:func:`scanners.gate.load_baseline`); the reports also list the baseline's findings that are
gone ("fixed by this PR"), which this module computes. Pure apart from reading the file.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path

from pipeline_lib.core.errors import GantryError

from .base import SEVERITIES, Finding, clip


def _s(row: dict, key: str) -> str | None:
    v = row.get(key)
    return clip(v) if isinstance(v, str) and v else None


def read_findings(path: Path) -> list[Finding]:
    """The findings of a ``findings.json`` (array or ``{"findings": [...]}``); rows without a fingerprint are skipped.

    Raises GantryError(path, …) when the file is unreadable or not JSON.
    """
    try:
        with open(path, encoding="utf-8") as fh:
            data = json.load(fh)
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise GantryError(str(path), f"unreadable baseline ({type(exc).__name__})") from None
    rows = data.get("findings") if isinstance(data, dict) else data
    out: list[Finding] = []
    for row in rows if isinstance(rows, list) else []:
        if not isinstance(row, dict) or not isinstance(row.get("fingerprint"), str):
            continue
        sev = row.get("severity") if row.get("severity") in SEVERITIES else "UNKNOWN"
        out.append(Finding(_s(row, "tool") or "unknown", _s(row, "kind") or "vulnerability", _s(row, "id") or "?",
                           sev, _s(row, "title") or "", row["fingerprint"], _s(row, "package"),
                           _s(row, "installed_version"), _s(row, "fixed_version"), _s(row, "target"),
                           row["line"] if isinstance(row.get("line"), int) else None, _s(row, "url")))
    return out


def fixed_since(baseline: Iterable[Finding], current: Iterable[Finding]) -> list[Finding]:
    """Baseline findings whose fingerprint no longer appears in ``current`` (worst first)."""
    now = {f.fingerprint for f in current}
    gone = [f for f in baseline if f.fingerprint not in now]
    gone.sort(key=lambda f: (-f.rank, f.tool, f.id))
    return gone


def annotate(verdict, baseline: Path | None, note: str = "") -> None:
    """Set ``verdict.baseline_note`` and ``verdict.fixed`` (baseline findings gone) after the gate.

    ``note``: why there is no baseline ("" when one was used or none was asked for). An
    unreadable baseline leaves ``fixed`` empty: the gate has already reported it. Only tools that
    ran this time count: a skipped or failed scanner's findings are not "fixed", just unseen.
    """
    verdict.baseline_note = note
    verdict.fixed = []
    if baseline is not None and not verdict.errors:
        ran = {tool for tool, status in verdict.tools.items() if status in ("ok", "report")}
        try:
            gone = fixed_since(read_findings(baseline), (e.finding for e in verdict.findings))
        except GantryError:
            return
        verdict.fixed = [f for f in gone if f.tool in ran]

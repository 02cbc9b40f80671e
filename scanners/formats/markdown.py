"""``report.md``: the pull-request comment. Verdict first; never longer than 65 536 characters.

Order (the reviewer's questions): verdict → findings introduced by this PR → findings it fixed →
the fix plan's top entries → findings already on main → counts, rules, details.
Untrusted text (titles, packages, versions, URLs come from scanners and public advisories) is
escaped: no HTML, no table breaks, only http(s) links, and ``@name`` / ``#123`` are broken with
a zero-width space so GitHub neither notifies anyone nor links an issue (GitHub's mention and
issue-reference filters run on rendered text, so an HTML entity alone would not stop them).
"""

from __future__ import annotations

import re

from ..base import SEVERITIES
from ..fixplan import PARTIAL, UPGRADE
from ..gate import by_priority
from .json import plan_for

FILENAME = "report.md"
MARKER = "<!-- gantry:security-report -->"
MAX_CHARS = 65_536
TOP = 15
TOP_FIXED = 10
TOP_PLAN = 5
ZWSP = "\u200b"   # zero-width space: breaks @mention / #123 autolinks, invisible
_REF = re.compile(r"([@#])(?=[\w-])")
_ICON = {"pass": "✅", "fail": "❌", "error": "⚠️", "skipped": "⏭️"}
_HEAD = {"pass": "Security gate passed", "fail": "Security gate failed", "error": "Security gate cannot evaluate (failed)"}
_URL = re.compile(r"^https?://[^\s()<>\"'`]+$")


def cell(value: object, limit: int = 120) -> str:
    """Inline-safe text: no table breaks, no HTML, no @mentions, bounded length."""
    text = "" if value is None else " ".join(str(value).split())
    if len(text) > limit:
        text = text[: limit - 1] + "…"
    if "@" in text or "#" in text:
        text = _REF.sub(lambda m: m.group(1) + ZWSP, text)
    return (text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace("|", "\\|")
            .replace("`", "&#96;").replace("[", "\\[").replace("]", "\\]")
            .replace("*", "\\*").replace("_", "\\_"))


def strong(value: object, limit: int = 60) -> str:
    """Escaped text in bold (not a code span: a string check can then prove no raw HTML is left)."""
    text = cell(value, limit)
    return f"**{text}**" if text else "—"


def plan_line(p) -> str:
    """One fix-plan entry as a Markdown list item."""
    if p.status in (UPGRADE, PARTIAL):
        line = (f"upgrade {strong(p.package)} {cell(p.installed, 30)} → {strong(p.to_version, 30)}: fixes {p.fixes} "
                f"finding(s) ({p.severity_text()}), {p.blocking_text()}")
        if p.remaining:
            line += f"; {len(p.remaining)} have no fixed version"
        return line + (f" _({cell(p.note, 80)})_" if p.note else "")
    return cell(p.summary(), 400)


def link(text: str, url: str | None) -> str:
    return f"[{text}]({url})" if url and _URL.match(url) and len(url) < 500 else text


def exploit_text(e) -> str:
    """`` · in KEV · EPSS 0.612`` for a finding the feeds know, "" otherwise."""
    x = getattr(e, "exploit", None)
    if x is None:
        return ""
    return (" · in KEV" if x.kev else "") + (f" · EPSS {x.epss:.3f}" if x.epss is not None else "")


def _finding_row(e) -> str:
    f = e.finding
    loc = (f.target or "") + (f":{f.line}" if f.line else "")
    state = ("allowlisted" if e.allowed_by else ("new" if e.new else "existing")) + exploit_text(e)
    return (f"| {f.severity} | {cell(f.tool, 20)} | {link(cell(f.id, 60), f.url)} | {cell(f.title, 70)} | {cell(f.package, 50)} | "
            f"{cell(f.installed_version, 30)} | {cell(f.fixed_version, 40) or '—'} | {cell(loc, 60)} | {state} |")


_TABLE_HEAD = ("| Severity | Tool | ID | Title | Package | Installed | Fixed in | Location | State |\n"
               "|---|---|---|---|---|---|---|---|---|")


def render(verdict) -> str:
    v = verdict
    parts: list[str] = [MARKER, f"## {_ICON[v.status]} {_HEAD[v.status]}", "", f"**{cell(v.summary, 400)}**", ""]
    new = [e for e in v.findings if e.new and e.allowed_by is None]
    old = [e for e in v.findings if not e.new and e.allowed_by is None]
    fixed = getattr(v, "fixed", [])
    if v.baseline is None:
        note = getattr(v, "baseline_note", "")
        base = "no baseline" + (f" ({cell(note, 300)})" if note else "") + ": every finding is treated as new"
    else:
        base = (f"{len(new)} introduced by this PR, {len(fixed)} fixed, {len(old)} already on main "
                f"(baseline: {cell(v.baseline, 100)})")
    parts.append(f"Environment `{cell(v.environment, 30)}` · policy `{cell(v.policy.rsplit('/', 1)[-1], 60)}` · "
                 f"{len(v.findings)} findings: {base} · {v.generated_at}")
    parts.append("")
    if v.baseline is None and getattr(v, "baseline_note", ""):
        parts.append(f"> ⚠️ **No baseline from the base branch**: {cell(v.baseline_note, 300)}. "
                     "Every finding is shown as introduced by this PR; the gate is not failed for that alone.")
        parts.append("")
    for w in getattr(v, "warnings", []):
        parts.append(f"> ⚠️ **Warning**: {cell(w, 600)}")
        parts.append("")
    if v.errors:
        parts.append("### Cannot evaluate")
        parts.extend(f"- ⚠️ {cell(err, 400)}" for err in v.errors[:50])
        if len(v.errors) > 50:
            parts.append(f"- … {len(v.errors) - 50} more")
        parts.append("")
    order_new = by_priority(new)   # blocking, in KEV, EPSS descending, severity
    parts.append(f"### 🆕 Introduced by this PR ({len(new)})" if v.baseline is not None
                 else f"### 🆕 Introduced by this PR ({len(new)}, no baseline: all findings)")
    if order_new:
        nb = sum(e.blocking for e in new)
        parts.append(f"{nb} blocking. Top {min(TOP, len(order_new))}:" if nb else f"None blocking. Top {min(TOP, len(order_new))}:")
        parts.append("")
        parts.append(_TABLE_HEAD)
        parts.extend(_finding_row(e) for e in order_new[:TOP])
    else:
        parts.append("Nothing new. 🎉")
    parts.append("")
    if v.baseline is not None:
        parts.append(f"### ✅ Fixed by this PR ({len(fixed)})")
        if fixed:
            parts.extend(f"- {f.severity} {cell(f.tool, 20)} {link(cell(f.id, 60), f.url)} {cell(f.package, 50)} "
                         f"{cell(f.installed_version, 30)}: {cell(f.title, 80)}" for f in fixed[:TOP_FIXED])
            if len(fixed) > TOP_FIXED:
                parts.append(f"- … {len(fixed) - TOP_FIXED} more (findings.json of the base branch)")
        else:
            parts.append("None.")
        parts.append("")
    plan = plan_for(v)
    if plan:
        useful = [p for p in plan if p.status in (UPGRADE, PARTIAL)]
        new_fps = {e.finding.fingerprint for e in new}
        new_blocking = {e.finding.fingerprint for e in new if e.blocking}
        if v.baseline is not None:   # what this PR introduced first, then the plan's own order
            plan = sorted(plan, key=lambda p: (-len(p.cleared & new_blocking), -len(p.cleared & new_fps)))
        parts.append(f"### 🔧 Fix plan (top {min(TOP_PLAN, len(plan))} of {len(plan)} packages; "
                     f"{len(useful)} with an upgrade; all in report.html and verdict.json)")
        for i, p in enumerate(plan[:TOP_PLAN], 1):
            mine = len(p.cleared & new_fps) if v.baseline is not None else 0
            parts.append(f"{i}. {plan_line(p)}" + (f" — {mine} introduced by this PR" if mine else ""))
        parts.append("")
    if old:
        sev = {s: sum(e.finding.severity == s for e in old) for s in SEVERITIES}
        parts.append(f"### Already on main ({len(old)})")
        parts.append(", ".join(f"{n} {s}" for s, n in sev.items() if n)
                     + f"; {sum(e.blocking for e in old)} blocking (listed in the details below and in report.html).")
        parts.append("")
    # counts by severity and tool
    counts = v.counts(only="all")
    parts.append("| Tool | Scanner | " + " | ".join(SEVERITIES) + " | Total | Blocking |")
    parts.append("|---|---|" + "---:|" * (len(SEVERITIES) + 2))
    blocking = v.counts(only="blocking")
    for tool in sorted(set(counts) | set(v.tools)):
        c = counts.get(tool, dict.fromkeys(SEVERITIES, 0))
        status = v.tools.get(tool, "report")
        label = {"skipped": "⏭️ skipped", "error": "⚠️ error", "ok": "ran", "report": "report"}.get(status, status)
        parts.append(f"| {cell(tool, 30)} | {label} | " + " | ".join(str(c[s]) for s in SEVERITIES)
                     + f" | {sum(c.values())} | {sum(blocking.get(tool, {}).values())} |")
    parts.append("")
    parts.append("### Gate rules")
    for r in v.rules[:100]:
        parts.append(f"- {_ICON.get(r.status, '•')} **{cell(r.tool, 30)}** {cell(r.name, 40)}: {cell(r.message, 300)}")
    parts.append("")
    if v.expired:
        parts.append("### Expired allowlist entries (no longer suppress)")
        parts.extend(f"- {cell(a.label, 80)} — owner {cell(a.owner, 40)}, expired {a.expires.isoformat()}: "
                     f"{cell(a.reason, 200)}" for a in v.expired[:50])
        parts.append("")
    stale = getattr(v, "stale", [])
    if stale:
        parts.append(f"### Stale allowlist entries ({len(stale)}: match no finding, remove them)")
        parts.extend(f"- {cell(a.label, 80)} — owner {cell(a.owner, 40)}, expires {a.expires.isoformat()}: "
                     f"{cell(a.reason, 200)}" for a in stale[:50])
        parts.append("")
    if v.suppressed:
        parts.append(f"{len(v.suppressed)} finding(s) suppressed by the scanner's own suppression file "
                     "(not counted; listed in report.html).")
        parts.append("")
    links = {k: u for k, u in v.links.items() if _URL.match(u or "")}
    footer_lines = []
    if links:
        footer_lines.append("### Links")
        footer_lines.extend(f"- {link(cell(k, 60), u)}" for k, u in links.items())
    footer_lines.append("")
    footer_lines.append("<sub>Full details: report.html, report.sarif, junit.xml, findings.json in the build artifacts.</sub>")
    footer = "\n".join(footer_lines)

    head = "\n".join(parts)
    budget = MAX_CHARS - len(footer) - 400
    if v.findings and len(head) < budget:
        rows_all = by_priority(v.findings)
        details = [f"<details><summary>All findings ({len(rows_all)})</summary>", "", _TABLE_HEAD]
        used = len(head) + sum(len(x) + 1 for x in details) + 40
        shown = 0
        for e in rows_all:
            row = _finding_row(e)
            if used + len(row) + 1 > budget:
                break
            details.append(row)
            used += len(row) + 1
            shown += 1
        if shown < len(rows_all):
            details.append("")
            details.append(f"_Truncated: {len(rows_all) - shown} more findings not shown (comment size limit); "
                           "see findings.json / report.html._")
        details += ["", "</details>", ""]
        head = head + "\n" + "\n".join(details)
    text = head + "\n" + footer + "\n"
    if len(text) > MAX_CHARS:   # last resort: never fail, never exceed
        note = "\n\n_Truncated to the comment size limit; see report.html._\n"
        text = text[: MAX_CHARS - len(note)] + note
    return text

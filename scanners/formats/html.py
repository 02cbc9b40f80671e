"""``report.html``: one self-contained page (inline CSS, no scripts, no external resources)."""

from __future__ import annotations

from html import escape

from ..base import SEVERITIES

FILENAME = "report.html"
_CSS = """body{font:14px/1.4 system-ui,sans-serif;margin:2em;color:#222}h1{font-size:1.5em}
.pass{color:#1a7f37}.fail{color:#cf222e}.error{color:#9a6700}.skipped{color:#6e7781}
table{border-collapse:collapse;margin:1em 0}td,th{border:1px solid #d0d7de;padding:3px 6px;text-align:left;vertical-align:top}
th{background:#f6f8fa}.CRITICAL{background:#ffebe9}.HIGH{background:#fff1e5}.num{text-align:right}
code{font-size:90%}details{margin:1em 0}"""
_TITLE = {"pass": "Security gate passed", "fail": "Security gate failed", "error": "Security gate cannot evaluate (failed)"}


def e(value: object, limit: int = 300) -> str:
    text = "" if value is None else str(value)
    return escape(text if len(text) <= limit else text[: limit - 1] + "…")


def _url(u: str | None) -> str | None:
    return u if u and u.startswith(("https://", "http://")) and len(u) < 500 else None


def _row(ev) -> str:
    f = ev.finding
    ident = f'<a href="{escape(_url(f.url))}">{e(f.id)}</a>' if _url(f.url) else e(f.id)
    state = "allowlisted: " + e(ev.allowed_by.reason, 100) if ev.allowed_by else ("new" if ev.new else "existing")
    loc = e(f.target) + (f":{f.line}" if f.line else "")
    return (f'<tr class="{f.severity}"><td>{f.severity}</td><td>{e(f.tool)}</td><td>{e(f.kind)}</td><td>{ident}</td>'
            f"<td>{e(f.title)}</td><td>{e(f.package)}</td><td>{e(f.installed_version)}</td>"
            f"<td>{e(f.fixed_version)}</td><td>{loc}</td><td>{state}{' · blocking' if ev.blocking else ''}</td>"
            f"<td><code>{e(f.fingerprint)}</code></td></tr>")


def render(verdict) -> str:
    v = verdict
    out = ["<!DOCTYPE html>", '<html lang="en"><head><meta charset="utf-8">',
           f"<title>{e(_TITLE[v.status])}</title><style>{_CSS}</style></head><body>",
           f'<h1 class="{v.status}">{e(_TITLE[v.status])}</h1>', f"<p><strong>{e(v.summary, 600)}</strong></p>",
           f"<p>Environment <code>{e(v.environment)}</code> · policy <code>{e(v.policy)}</code> · "
           f"generated {e(v.generated_at)}{' · baseline ' + e(v.baseline) if v.baseline else ''}</p>"]
    if v.errors:
        out.append('<h2 class="error">Cannot evaluate</h2><ul>' + "".join(f"<li>{e(x, 600)}</li>" for x in v.errors) + "</ul>")
    counts = v.counts(only="all")
    out.append("<h2>Findings by tool and severity</h2><table><tr><th>Tool</th><th>Scanner</th>"
               + "".join(f"<th>{s}</th>" for s in SEVERITIES) + "<th>Total</th></tr>")
    for tool in sorted(set(counts) | set(v.tools)):
        c = counts.get(tool, dict.fromkeys(SEVERITIES, 0))
        st = v.tools.get(tool, "report")
        out.append(f'<tr><td>{e(tool)}</td><td class="{e(st)}">{e(st)}</td>'
                   + "".join(f'<td class="num">{c[s]}</td>' for s in SEVERITIES) + f'<td class="num">{sum(c.values())}</td></tr>')
    out.append("</table><h2>Gate rules</h2><table><tr><th>Status</th><th>Tool</th><th>Rule</th><th>Detail</th></tr>")
    for r in v.rules:
        det = e(r.message, 600) + ("<br>" + "<br>".join(e(d) for d in r.details[:50]) if r.details else "")
        out.append(f'<tr><td class="{r.status}">{r.status}</td><td>{e(r.tool)}</td><td>{e(r.name)}</td><td>{det}</td></tr>')
    out.append("</table>")
    if v.links:
        out.append("<h2>Links</h2><ul>" + "".join(
            f'<li><a href="{escape(u)}">{e(k)}</a></li>' for k, u in v.links.items() if _url(u)) + "</ul>")
    out.append(f"<h2>All findings ({len(v.findings)})</h2><table><tr><th>Severity</th><th>Tool</th><th>Kind</th>"
               "<th>ID</th><th>Title</th><th>Package</th><th>Installed</th><th>Fixed in</th><th>Location</th>"
               "<th>State</th><th>Fingerprint</th></tr>")
    out.extend(_row(x) for x in sorted(v.findings, key=lambda x: (-x.finding.rank, x.finding.tool, x.finding.id)))
    out.append("</table>")
    if v.suppressed:
        out.append(f"<details><summary>Suppressed by the scanner ({len(v.suppressed)})</summary><table>"
                   "<tr><th>Severity</th><th>Tool</th><th>ID</th><th>Package</th><th>Location</th><th>Note</th></tr>")
        out.extend(f"<tr><td>{s.finding.severity}</td><td>{e(s.finding.tool)}</td><td>{e(s.finding.id)}</td>"
                   f"<td>{e(s.finding.package)}</td><td>{e(s.finding.target)}</td><td>{e(s.note)}</td></tr>"
                   for s in v.suppressed)
        out.append("</table></details>")
    if v.expired:
        out.append("<h2>Expired allowlist entries</h2><ul>" + "".join(
            f"<li>{e(a.label)} — owner {e(a.owner)}, expired {a.expires.isoformat()}: {e(a.reason)}</li>"
            for a in v.expired) + "</ul>")
    out.append("</body></html>\n")
    return "\n".join(out)

"""``report.html``: one self-contained page — verdict and counts first, an inline SVG severity
chart, the whole fix plan, and the findings filterable (tool, severity, state, text) and sortable.

Content-Security-Policy: Jenkins serves archived files and the HTML Publisher's reports with
``sandbox; default-src 'none'; img-src 'self'; style-src 'self';`` unless an admin relaxes it or
sets a Resource Root URL (https://www.jenkins.io/doc/book/security/configuring-content-security-policy/).
That policy blocks every script and every inline style (``<style>`` and ``style=""``), so no
interactivity is possible inside one self-contained file under it — not even CSS-only filtering
(``:checked`` selectors need a stylesheet). The page is therefore built by progressive enhancement:

- without styles or scripts it is a plain, readable document: HTML presentational attributes
  (``border``, ``cellpadding``) draw the tables, the SVG chart uses presentation attributes (not
  CSS), findings are grouped by severity in ``<tbody id="sev-…">`` reached from a "jump to" line,
  and a note says why the filters are missing (the filter form is ``hidden`` until a script runs);
- where the CSP allows inline styles and scripts (relaxed CSP, a Resource Root URL, a file opened
  locally), one inline stylesheet makes it compact and phone-friendly and one inline script (no
  inline event handlers) reveals the filters and the sortable column headers.

All untrusted text is escaped; only http(s) URLs become links.
"""

from __future__ import annotations

import re
from html import escape

from ..base import SEVERITIES, SEVERITY_RANK
from ..fixplan import PARTIAL, UPGRADE
from ..gate import by_priority
from .json import plan_for
from .markdown import exploit_text

FILENAME = "report.html"
_TITLE = {"pass": "Security gate passed", "fail": "Security gate failed", "error": "Security gate cannot evaluate (failed)"}
# Status marks drawn as inline SVG (presentation attributes: they render under Jenkins' CSP too),
# not emoji: a plain Chromium without an emoji font shows ✅/❌/⚠️ as an empty box.
_MARK_COLOR = {"pass": "#1a7f37", "fail": "#cf222e", "error": "#9a6700"}
_MARK_PATH = {"pass": "M6.5 12.5l3.5 3.5 7.5-8", "fail": "M8 8l8 8M16 8l-8 8", "error": "M12 6.5v7M12 16.8v.4"}


def _mark(status: str) -> str:
    return (f'<svg class="mark" xmlns="http://www.w3.org/2000/svg" viewBox="0 0 24 24" width="26" height="26" '
            f'aria-hidden="true" focusable="false"><circle cx="12" cy="12" r="11" fill="{_MARK_COLOR[status]}"/>'
            f'<path d="{_MARK_PATH[status]}" fill="none" stroke="#ffffff" stroke-width="2.6" stroke-linecap="round" '
            f'stroke-linejoin="round"/></svg>')


_COLOR = {"CRITICAL": "#8b0000", "HIGH": "#cf222e", "MEDIUM": "#bf8700", "LOW": "#0969da", "INFO": "#6e7781",
          "UNKNOWN": "#8250df"}
STATES = ("new", "existing", "allowlisted")
_OPACITY = ("1", "0.45", "0.2")   # per state, in the bars and in the legend
_CSS = """*{box-sizing:border-box}body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",sans-serif;margin:0 auto;
padding:1em 1.5em;max-width:1400px;color:#1f2328}h1{font-size:1.6em;margin:.2em 0}h2{font-size:1.2em;margin:1.4em 0 .4em}
.pass{color:#1a7f37}.fail{color:#cf222e}.error{color:#9a6700}.skipped{color:#6e7781}[hidden]{display:none!important}
table{border-collapse:collapse;margin:.4em 0;border:0}td,th{border:1px solid #d0d7de;padding:3px 6px;text-align:left;vertical-align:top}
th{background:#f6f8fa;position:sticky;top:0}.num{text-align:right;font-variant-numeric:tabular-nums}
.sev{font-weight:600;white-space:nowrap}.sev-CRITICAL{color:#8b0000}.sev-HIGH{color:#cf222e}.sev-MEDIUM{color:#9a6700}
.sev-LOW{color:#0969da}.blocking{font-weight:600;color:#cf222e;white-space:nowrap}code{font-size:90%;overflow-wrap:anywhere}
#findings-table td:nth-child(10) code{word-break:break-all}h1 .mark{vertical-align:-4px}
.scroll{overflow-x:auto;max-width:100%}.kpi td{font-size:1.2em}svg{max-width:100%;height:auto}
#filters{display:flex;flex-wrap:wrap;gap:.4em 1.2em;align-items:center;background:#f6f8fa;padding:.6em;border-radius:6px;
position:sticky;top:0;z-index:2}#filters fieldset{border:0;padding:0;margin:0}#filters legend{font-weight:600;float:left;margin-right:.4em}
#filters input[type=search]{min-width:14em;padding:3px}th button{font:inherit;font-weight:600;background:none;border:0;
padding:0;cursor:pointer}th button:after{content:" \\2195";color:#8c959f}th[aria-sort=ascending] button:after{content:" \\2191"}
th[aria-sort=descending] button:after{content:" \\2193"}#findings-table td{overflow-wrap:break-word}#findings-table{font-size:13px}#findings-table td.title{min-width:12em;max-width:26em;overflow-wrap:anywhere}
#findings-table td:nth-child(3),#findings-table td:nth-child(5),td.pkg{overflow-wrap:normal;word-break:keep-all}td.pkg code{overflow-wrap:normal}
.nw{white-space:nowrap}#findings-table td:nth-child(8){overflow-wrap:anywhere;min-width:8em}#findings-table td:nth-child(10){min-width:5em}
@media (max-width:700px){body{padding:.5em}#findings-table thead{display:none}#findings-table tr{display:block;
border:1px solid #d0d7de;margin:.4em 0;padding:.3em}#findings-table td{display:block;border:0;padding:1px 4px}
#findings-table td:before{color:#57606a;font-weight:600}#findings-table td.title,#findings-table td:nth-child(8){min-width:0}
#findings-table td:nth-child(3),#findings-table td:nth-child(5){white-space:normal;overflow-wrap:break-word}
#filters input[type=search]{min-width:0;width:100%}#filters{position:static}}"""
_JS = """(function(){
var table=document.getElementById('findings-table'),form=document.getElementById('filters');
if(!table||!form)return;
var rows=Array.prototype.slice.call(table.querySelectorAll('tbody tr')),text=null,out=document.getElementById('shown');
form.hidden=false;document.getElementById('nojs').hidden=true;
function set(name){var s={};Array.prototype.forEach.call(form.querySelectorAll('input[name="'+name+'"]:checked'),
function(i){s[i.value]=1;});return s;}
function apply(){var sev=set('sev'),tool=set('tool'),st=set('state'),blk=form.elements.blocking.checked,
q=form.elements.q.value.trim().toLowerCase(),n=0;
if(q&&!text)text=rows.map(function(r){return r.textContent.toLowerCase();});
rows.forEach(function(r,i){var d=r.dataset,ok=sev[d.sev]&&tool[d.tool]&&st[d.state]&&(!blk||d.blocking==='1')&&
(!q||text[i].indexOf(q)>=0);r.hidden=!ok;if(ok)n++;});
out.textContent=n+' of '+rows.length+' findings shown';}
form.addEventListener('input',apply);form.addEventListener('change',apply);
form.addEventListener('submit',function(e){e.preventDefault();});
var heads=table.querySelectorAll('thead th'),body=table.tBodies[0];
Array.prototype.forEach.call(heads,function(th,col){var b=th.querySelector('button');if(!b)return;
b.addEventListener('click',function(){var asc=th.getAttribute('aria-sort')!=='ascending';
Array.prototype.forEach.call(heads,function(h){h.removeAttribute('aria-sort');});
th.setAttribute('aria-sort',asc?'ascending':'descending');
var key=function(r){return col===0?Number(r.dataset.rank):r.cells[col].textContent.toLowerCase();};
var idx=rows.map(function(r,i){return [key(r),i];});
idx.sort(function(a,b){return (a[0]<b[0]?-1:a[0]>b[0]?1:a[1]-b[1])*(asc?1:-1);});
rows=idx.map(function(p){return rows[p[1]];});text=null;
var frag=document.createDocumentFragment();rows.forEach(function(r){frag.appendChild(r);});body.appendChild(frag);});});
apply();})();"""
_COLS = ("Severity", "Tool", "ID", "Title", "Package", "Installed", "Fixed in", "Location", "State", "Fingerprint")
# phone layout: each cell on its own line, labelled from the column (no per-cell attribute: 10 000 rows)
_CSS += "@media (max-width:700px){" + "".join(
    f'#findings-table td:nth-child({i}):before{{content:"{c}: "}}' for i, c in enumerate(_COLS, 1)) + "}"


def e(value: object, limit: int = 300) -> str:
    text = "" if value is None else str(value)
    return escape(text if len(text) <= limit else text[: limit - 1] + "…")


_LONG_WORD = 24
_NOWRAP = {True: " nowrap", False: ""}
_SEAM = re.compile(r"(?<=:)(?=.)")                                 # group:artifact, repo:rule
_LONG_SEAM = re.compile(r"(?<=[a-z])(?=[A-Z])|(?<=[./_])(?=.)")    # camelCase, dotted, path, snake


def unbroken(value: object, limit: int = 300) -> tuple[str, bool]:
    """An id or package name that must not break mid-word → (escaped HTML, is one unbreakable word).

    One word (``CVE-2021-44228``, ``GHSA-xvch-5gv4-984h``, ``log4j-core``): the cell gets ``nowrap``
    (an HTML attribute, so it holds under Jenkins' CSP too). Otherwise each part is a
    ``<span class="nw">`` (nowrap by the stylesheet) and a line may break only between parts: at a
    space, after a ``:`` (``group:artifact``), and in a word longer than 24 characters at a
    camelCase, ``.``, ``/`` or ``_`` seam (``<wbr>``); the text itself is unchanged.
    """
    text = "" if value is None else value if value.__class__ is str else str(value)
    if len(text) <= _LONG_WORD and " " not in text and ":" not in text:
        return escape(text), True                               # the common case: CVE/GHSA ids, names
    text = text if len(text) <= limit else text[: limit - 1] + "…"
    words = text.split(" ")
    pieces = [[p for part in _SEAM.split(w) for p in (_LONG_SEAM.split(part) if len(part) > _LONG_WORD else [part])]
              for w in words]
    if len(pieces) == 1 and len(pieces[0]) == 1:
        return escape(text), True
    return " ".join("<wbr>".join(f'<span class="nw">{escape(x)}</span>' for x in ps if x) for ps in pieces), False




def _url(u: str | None) -> str | None:
    return u if u and u.startswith(("https://", "http://")) and len(u) < 500 else None


def _a(text: str, url: str | None) -> str:
    u = _url(url)
    return f'<a href="{escape(u)}" rel="noopener noreferrer">{text}</a>' if u else text


def state_of(ev) -> str:
    return "allowlisted" if ev.allowed_by is not None else ("new" if ev.new else "existing")


def _row(ev) -> str:
    f = ev.finding
    st = state_of(ev)
    sv = f.severity
    tool = e(f.tool)
    detail = (f"allowlisted: {e(ev.allowed_by.reason, 100)}" if ev.allowed_by else st) + e(exploit_text(ev))
    loc = e(f.target) + (f":{f.line}" if f.line else "")
    vid, one_id = unbroken(f.id)
    pkg, one_pkg = unbroken(f.package)
    return (f'<tr data-sev="{sv}" data-rank="{SEVERITY_RANK.get(sv, 3)}" data-tool="{tool}" data-state="{st}" '
            f'data-blocking="{1 if ev.blocking else 0}"><td class="sev sev-{sv}">{sv}</td>'
            f'<td>{tool}</td><td{_NOWRAP[one_id]}>{_a(vid, f.url)}</td>'
            f'<td class="title">{e(f.title)}</td><td{_NOWRAP[one_pkg]}>{pkg}</td>'
            f'<td>{e(f.installed_version)}</td><td>{e(f.fixed_version)}</td>'
            f'<td>{loc}</td><td>{detail}'
            f'{" · <span class=blocking>blocking</span>" if ev.blocking else ""}</td>'
            f'<td><code>{e(f.fingerprint)}</code></td></tr>')


def chart(by_sev: dict[str, dict[str, int]]) -> str:
    """Inline SVG: one horizontal bar per severity, stacked new / existing / allowlisted.

    Presentation attributes only (no CSS), so it renders under Jenkins' default CSP.
    """
    width, label_w, bar_h, gap = 600, 90, 22, 8
    total_max = max([sum(c.values()) for c in by_sev.values()] + [1])
    scale = (width - label_w - 70) / total_max
    h = len(SEVERITIES) * (bar_h + gap) + 30
    desc = "; ".join(f"{s}: {sum(by_sev[s].values())} ({by_sev[s]['new']} new)" for s in SEVERITIES)
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {h}" width="{width}" height="{h}" role="img" '
           f'aria-labelledby="chart-title"><title id="chart-title">Findings by severity: {desc}</title>']
    for i, s in enumerate(SEVERITIES):
        y = i * (bar_h + gap)
        out.append(f'<text x="0" y="{y + 16}" font-size="13" font-family="sans-serif" fill="#1f2328">{s}</text>')
        x = float(label_w)
        for st, opacity in zip(STATES, _OPACITY):
            n = by_sev[s][st]
            if n:
                w = max(n * scale, 1.5)
                out.append(f'<rect class="bar" data-sev="{s}" data-state="{st}" x="{x:.1f}" y="{y}" width="{w:.1f}" '
                           f'height="{bar_h}" fill="{_COLOR[s]}" fill-opacity="{opacity}"><title>{s} {st}: {n}</title></rect>')
                x += w
        out.append(f'<text x="{x + 6:.1f}" y="{y + 16}" font-size="13" font-family="sans-serif" fill="#1f2328">'
                   f'{sum(by_sev[s].values())}</text>')
    # legend: a state is an opacity of every severity's colour, so each swatch is one strip per
    # severity in exactly the bars' fill and fill-opacity (not a grey stand-in)
    ly = len(SEVERITIES) * (bar_h + gap) + 12
    strip = 5
    for j, (st, opacity) in enumerate(zip(STATES, _OPACITY)):
        lx = label_w + j * 150
        out.append(f'<g class="legend" data-state="{st}">' + "".join(
            f'<rect x="{lx + k * strip}" y="{ly}" width="{strip}" height="14" fill="{_COLOR[s]}" '
            f'fill-opacity="{opacity}"/>' for k, s in enumerate(SEVERITIES))
            + f'<text x="{lx + strip * len(SEVERITIES) + 6}" y="{ly + 12}" font-size="12" font-family="sans-serif" '
              f'fill="#1f2328">{st}</text></g>')
    out.append("</svg>")
    return "".join(out)


def _plan_table(plan) -> str:
    if not plan:
        return "<p>No vulnerable package findings: nothing to upgrade.</p>"
    out = ['<div class="scroll"><table id="fix-plan" border="1" cellpadding="3"><thead><tr><th>#</th><th>Package</th>'
           "<th>Installed</th><th>Upgrade to</th><th>Fixes</th><th>Blocking removed</th><th>Status</th><th>Findings</th>"
           "</tr></thead><tbody>"]
    for i, p in enumerate(plan, 1):
        status = {UPGRADE: "clears all", PARTIAL: f"{len(p.remaining)} have no fix"}.get(p.status, p.status)
        if p.status not in (UPGRADE, PARTIAL):
            status = e(p.summary(), 400)
        ids = ", ".join(e(i_, 60) for i_ in p.finding_ids[:12]) + (f" … (+{len(p.finding_ids) - 12})" if len(p.finding_ids) > 12 else "")
        pkg, one = unbroken(p.package)
        out.append(f'<tr><td class="num">{i}</td><td class="pkg"{" nowrap" if one else ""}><code>{pkg}</code> '
                   f'<small>{e(p.ecosystem)}</small></td>'
                   f"<td>{e(p.installed)}</td><td><strong>{e(p.to_version) if p.to_version else '—'}</strong></td>"
                   f'<td>{f"{p.fixes} ({e(p.severity_text())})" if p.fixes else "—"}</td><td class="num">{p.blocking_fixed} of {p.blocking_total}</td>'
                   f"<td>{status}{' · ' + e(p.note) if p.note and p.status in (UPGRADE, PARTIAL) else ''}</td>"
                   f"<td>{ids}</td></tr>")
    out.append("</tbody></table></div>")
    return "".join(out)


def render(verdict) -> str:
    v = verdict
    title = _TITLE[v.status]
    by_sev = {s: dict.fromkeys(STATES, 0) for s in SEVERITIES}
    tools: dict[str, int] = {}
    for ev in v.findings:
        by_sev.setdefault(ev.finding.severity, dict.fromkeys(STATES, 0))[state_of(ev)] += 1
        tools[ev.finding.tool] = tools.get(ev.finding.tool, 0) + 1
    fixed = getattr(v, "fixed", [])
    n_new = sum(c["new"] for c in by_sev.values())
    n_old = sum(c["existing"] for c in by_sev.values())
    n_allow = sum(c["allowlisted"] for c in by_sev.values())
    out = ["<!DOCTYPE html>", '<html lang="en"><head><meta charset="utf-8">',
           '<meta name="viewport" content="width=device-width,initial-scale=1">',
           f"<title>{e(title)}</title><style>{_CSS}</style></head><body>",
           f'<header><h1 class="{v.status}">{_mark(v.status)} {e(title)}</h1><p><strong>{e(v.summary, 600)}</strong></p>',
           '<div class="scroll"><table class="kpi" border="1" cellpadding="4"><tr><th>Findings</th><th>Blocking</th><th>New in this change</th>'
           "<th>Fixed</th><th>Already on main</th><th>Allowlisted</th><th>Suppressed by scanner</th></tr>",
           f'<tr><td class="num">{len(v.findings)}</td><td class="num blocking">{len(v.blocking)}</td>'
           f'<td class="num">{n_new}</td><td class="num">{len(fixed) if v.baseline else "—"}</td>'
           f'<td class="num">{n_old if v.baseline else "—"}</td><td class="num">{n_allow}</td>'
           f'<td class="num">{len(v.suppressed)}</td></tr></table></div>',
           f"<p>Environment <code>{e(v.environment)}</code> · policy <code>{e(v.policy)}</code> · generated "
           f"{e(v.generated_at)} · "
           + (f"baseline <code>{e(v.baseline)}</code>" if v.baseline else
              "no baseline" + (f": {e(getattr(v, 'baseline_note', ''), 400)}" if getattr(v, "baseline_note", "") else "")
              + " (every finding counts as new)") + "</p></header>"]
    if v.errors:
        out.append('<h2 class="error">Cannot evaluate</h2><ul>' + "".join(f"<li>{e(x, 600)}</li>" for x in v.errors) + "</ul>")
    for w in getattr(v, "warnings", []):
        out.append(f'<p class="warning"><strong>⚠️ Warning:</strong> {e(w, 600)}</p>')
    out.append('<section id="chart"><h2>Findings by severity</h2>' + chart(by_sev) + "</section>")
    counts = v.counts(only="all")
    blocking = v.counts(only="blocking")
    out.append('<h2>By tool</h2><div class="scroll"><table border="1" cellpadding="3"><tr><th>Tool</th><th>Scanner</th>'
               + "".join(f"<th>{s}</th>" for s in SEVERITIES) + "<th>Total</th><th>Blocking</th></tr>")
    for tool in sorted(set(counts) | set(v.tools)):
        c = counts.get(tool, dict.fromkeys(SEVERITIES, 0))
        st = v.tools.get(tool, "report")
        out.append(f'<tr><td>{e(tool)}</td><td class="{e(st)}">{e(st)}</td>'
                   + "".join(f'<td class="num">{c[s]}</td>' for s in SEVERITIES)
                   + f'<td class="num">{sum(c.values())}</td><td class="num">{sum(blocking.get(tool, {}).values())}</td></tr>')
    out.append("</table></div>")
    plan = plan_for(v)
    out.append(f'<section><h2 id="fix-plan-title">Fix plan ({len(plan)} package(s), most blocking findings removed first)</h2>'
               + _plan_table(plan) + "</section>")
    if fixed:
        out.append(f"<details><summary>Fixed since the baseline ({len(fixed)})</summary><ul>" + "".join(
            f"<li>{f.severity} {e(f.tool)} {_a(e(f.id), f.url)} {e(f.package)} {e(f.installed_version)}: {e(f.title)}</li>"
            for f in fixed[:2000]) + "</ul></details>")
    urgent = [x for x in by_priority(v.findings) if x.exploit.kev or x.exploit.epss is not None][:100]
    if urgent:   # exploit-aware priority: in KEV first, then EPSS descending, then severity
        out.append(f'<section id="priority"><h2>Exploited or likely exploited ({len(urgent)})</h2>'
                   '<div class="scroll"><table border="1" cellpadding="3"><tr><th>#</th><th>ID</th><th>Severity</th>'
                   "<th>Package</th><th>KEV</th><th>EPSS</th><th>State</th></tr>" + "".join(
                       f'<tr><td class="num">{i}</td><td>{_a(e(x.finding.id), x.finding.url)}</td><td>{x.finding.severity}</td>'
                       f"<td>{e(x.finding.package)}</td><td>{'yes' if x.exploit.kev else ''}</td>"
                       f"<td>{'' if x.exploit.epss is None else f'{x.exploit.epss:.3f}'}</td>"
                       f"<td>{state_of(x)}{' · blocking' if x.blocking else ''}</td></tr>"
                       for i, x in enumerate(urgent, 1)) + "</table></div></section>")
    # findings: filters (revealed by the script), jump links (work everywhere), one table
    sev_present = [s for s in SEVERITIES if sum(by_sev[s].values())]
    out.append(f'<section id="findings"><h2>Findings ({len(v.findings)})</h2>')
    out.append("<p>Jump to: " + " · ".join(f'<a href="#sev-{s}">{s} ({sum(by_sev[s].values())})</a>' for s in sev_present)
               + "</p>" if sev_present else "<p>No findings.</p>")
    out.append('<p id="nojs"><em>Filters and sorting need JavaScript, which this server\'s Content-Security-Policy '
               "blocks (Jenkins' default). The table is grouped by severity, most severe first; download the file "
               "or use report.sarif / findings.json for other views.</em></p>")
    box = lambda name, val, label: (f'<label><input type="checkbox" name="{name}" value="{e(val)}" checked> '  # noqa: E731
                                    f"{label}</label>")
    out.append('<form id="filters" hidden><fieldset><legend>Severity</legend>'
               + " ".join(box("sev", s, f"{s} ({sum(by_sev[s].values())})") for s in SEVERITIES) + "</fieldset>"
               + "<fieldset><legend>Tool</legend>" + " ".join(box("tool", t, f"{e(t)} ({n})") for t, n in sorted(tools.items()))
               + "</fieldset><fieldset><legend>State</legend>"
               + " ".join(box("state", st, f"{st} ({sum(by_sev[s][st] for s in SEVERITIES)})") for st in STATES)
               + '</fieldset><label><input type="checkbox" name="blocking"> blocking only</label>'
               + '<input type="search" name="q" placeholder="Filter text (id, package, title…)" aria-label="Filter text">'
               + '<output id="shown"></output></form>')
    out.append('<div class="scroll"><table id="findings-table" border="1" cellpadding="3"><thead><tr>'
               + "".join(f'<th scope="col"><button type="button">{c}</button></th>' if c != "Fingerprint" else f"<th>{c}</th>"
                         for c in _COLS) + "</tr></thead>")
    ordered = sorted(v.findings, key=lambda x: (-x.finding.rank, SEVERITIES.index(x.finding.severity)
                                                if x.finding.severity in SEVERITIES else 9,
                                                not x.blocking, state_of(x) != "new", x.finding.tool, x.finding.id))
    current = None
    for ev in ordered:
        if ev.finding.severity != current:
            out.append(("</tbody>" if current is not None else "") + f'<tbody id="sev-{ev.finding.severity}">')
            current = ev.finding.severity
        out.append(_row(ev))
    out.append(("</tbody>" if current is not None else "<tbody></tbody>") + "</table></div></section>")
    out.append('<h2>Gate rules</h2><div class="scroll"><table border="1" cellpadding="3"><tr><th>Status</th><th>Tool</th>'
               "<th>Rule</th><th>Detail</th></tr>")
    for r in v.rules:
        det = e(r.message, 600) + ("<br>" + "<br>".join(e(d) for d in r.details[:50]) if r.details else "")
        out.append(f'<tr><td class="{r.status}">{r.status}</td><td>{e(r.tool)}</td><td>{e(r.name)}</td><td>{det}</td></tr>')
    out.append("</table></div>")
    links = [(k, u) for k, u in v.links.items() if _url(u)]
    if links:
        out.append("<h2>Links</h2><ul>" + "".join(f"<li>{_a(e(k), u)}</li>" for k, u in links) + "</ul>")
    if v.suppressed:
        out.append(f"<details><summary>Suppressed by the scanner ({len(v.suppressed)})</summary>"
                   '<div class="scroll"><table border="1" cellpadding="3">'
                   "<tr><th>Severity</th><th>Tool</th><th>ID</th><th>Package</th><th>Location</th><th>Note</th></tr>")
        out.extend(f"<tr><td>{s.finding.severity}</td><td>{e(s.finding.tool)}</td><td>{_a(e(s.finding.id), s.finding.url)}</td>"
                   f"<td>{e(s.finding.package)}</td><td>{e(s.finding.target)}</td><td>{e(s.note)}</td></tr>"
                   for s in v.suppressed)
        out.append("</table></div></details>")
    if v.expired:
        out.append("<h2>Expired allowlist entries</h2><ul>" + "".join(
            f"<li>{e(a.label)} — owner {e(a.owner)}, expired {a.expires.isoformat()}: {e(a.reason)}</li>"
            for a in v.expired) + "</ul>")
    stale = getattr(v, "stale", [])
    if stale:
        out.append('<h2 id="stale-allowlist">Stale allowlist entries (match no finding: remove them)</h2><ul>' + "".join(
            f"<li>{e(a.label)} — owner {e(a.owner)}, expires {a.expires.isoformat()}: {e(a.reason)}</li>"
            for a in stale) + "</ul>")
    out.append(f"<script>{_JS}</script></body></html>\n")
    return "\n".join(out)

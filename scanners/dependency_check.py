"""OWASP Dependency-Check: run the CLI and parse its JSON and XML reports.

Severity mapping (Dependency-Check): the vulnerability's ``severity`` text —
critical→CRITICAL, high→HIGH, medium/moderate→MEDIUM, low→LOW, info/informational/none→INFO;
when it is missing or unrecognised, the highest CVSS base score (v4, v3, v2) in CVSS v3 bands
(≥9 CRITICAL, ≥7 HIGH, ≥4 MEDIUM, >0 LOW); otherwise UNKNOWN.

Findings: one per (dependency file path, vulnerability name). Entries under
``suppressedVulnerabilities`` (a suppression file matched them) are kept apart in
``ParsedReport.suppressed`` and are never findings. A vulnerability without a name gets the id
``UNNAMED-<hash of its description>``. Dependency-Check gives no fixed version.
"""

from __future__ import annotations

import os
import re
import shutil
import time
from pathlib import Path
TYPE_CHECKING = False   # typing's, without importing typing (~3 ms of a `gantry scan`'s start-up)
if TYPE_CHECKING:
    from typing import Any

from pipeline_lib.core.errors import GantryError, TimeoutExceeded

from .base import (MAX_REFERENCES, Finding, FindingSet, ParsedReport, ScanOutcome, ScanRun, Suppressed, clip,
                   fingerprint, severity_from_score, normalize_severity, utc_second)
from .jsonstream import load_json
from .options import Option
from .registry import ParseOptions, register

if TYPE_CHECKING:
    import xml.etree.ElementTree as ET

    from pipeline_lib.core.settingsmodel import Settings

TOOL = "dependency-check"
REPORT_JSON = "dependency-check-report.json"
REPORT_XML = "dependency-check-report.xml"
REPORT_NAME = REPORT_JSON
#: ``gantry scan dependency-check`` (a source tree): keywords of :func:`run`
OPTIONS = (
    Option("--dc-cli", "cli", "dependency-check.sh (default: $DEPENDENCY_CHECK_HOME or PATH)"),
    Option("--data-dir", "data_dir", "Dependency-Check data/cache directory", kind="path"),
    Option("--suppression", "suppression", "suppression file", kind="path"),
    Option("--no-update", "no_update", "do not update the NVD data", kind="switch", default=False),
)
_SEVERITY = {"critical": "CRITICAL", "high": "HIGH", "medium": "MEDIUM", "moderate": "MEDIUM",
             "low": "LOW", "info": "INFO", "informational": "INFO", "none": "INFO"}


def map_severity(text: Any, scores: list[float]) -> tuple[str, str | None]:
    """Dependency-Check severity (a name, or a bare CVSS score as OSS Index findings carry it),
    else the best CVSS score → (normalized severity, problem); see :func:`normalize_severity`."""
    sev, problem = normalize_severity(text, _SEVERITY)
    if sev == "UNKNOWN" and problem is None and scores:
        return severity_from_score(max(scores)), None
    return sev, problem


# patterns are compiled on first use (re caches them): every `gantry scan` imports this module
_SARIF_SHORT = r"^\s*([A-Za-z]+) severity - "


def sarif_rule_severity(rule: dict) -> str:
    """The severity of a Dependency-Check SARIF rule, read as the JSON report of the same run is.

    Dependency-Check's SARIF (``sarifReport.vsl``) carries no ``severity`` field: the JSON's
    ``severity`` text (the advisory's own rating for unscored npm/GHSA advisories, else the CVSS
    v4/v3/v2 base severity) appears only as the start of the rule's ``shortDescription``
    (``"High severity - GHSA-… vulnerability in pkg:npm/…"``, written by ReportTool.determineScore
    from the unscored severity, else CVSS v3, else v2), and the scores as rule properties
    ``cvssv4_baseScore``, ``cvssv3_baseScore``/``cvssv3_baseSeverity``, ``cvssv2_score``/``cvssv2_severity``.
    Order, as :func:`map_severity` on the JSON: a CVSS v4 score (the JSON prefers the v4 severity,
    which determineScore ignores), the shortDescription's name, the v3 then v2 severity names, the
    highest score; nothing → UNKNOWN (as the JSON; never the SARIF ``level``, which Dependency-Check
    always writes as "warning"). Known difference: Dependency-Check writes an unscored "info"
    advisory as "Low" in the SARIF (INFO in the JSON), and an unscored bare score as "Unknown".
    """
    props = rule.get("properties") if isinstance(rule.get("properties"), dict) else {}
    v4 = _num(props.get("cvssv4_baseScore"))
    if v4 is not None:
        return severity_from_score(v4)
    short = rule.get("shortDescription")
    text = short.get("text") if isinstance(short, dict) else None
    m = re.match(_SARIF_SHORT, text) if isinstance(text, str) else None
    names = [m.group(1)] if m else []
    names += [props.get("cvssv3_baseSeverity"), props.get("cvssv2_severity")]
    for name in names:
        if isinstance(name, str) and name.strip().lower() in _SEVERITY:
            return _SEVERITY[name.strip().lower()]
    scores = [s for s in (_num(props.get("cvssv3_baseScore")), _num(props.get("cvssv2_score"))) if s is not None]
    return severity_from_score(max(scores)) if scores else "UNKNOWN"


# ---------------------------------------------------------------------------------------
# running
# ---------------------------------------------------------------------------------------

def find_cli(cli: str | None = None, home: str | None = None) -> str | None:
    """The CLI: ``cli``, ``home``/bin/dependency-check.sh (the caller's $DEPENDENCY_CHECK_HOME), or PATH."""
    if cli:
        return cli if Path(cli).is_file() or shutil.which(cli) else None
    if home and (Path(home) / "bin" / "dependency-check.sh").is_file():
        return str(Path(home) / "bin" / "dependency-check.sh")
    return shutil.which("dependency-check.sh") or shutil.which("dependency-check")


def from_settings(settings: Settings) -> dict[str, Any]:
    """``run`` keywords from the settings the CLI read: ``$DEPENDENCY_CHECK_HOME``, ``$NVD_API_KEY``."""
    return {"home": settings.dependency_check_home, "nvd_api_key": settings.nvd_api_key}


def run(project_dir: Path, out_dir: Path, *, cli: str | None = None, data_dir: Path | None = None,
        suppression: Path | None = None, project: str | None = None, timeout: float = 3600,
        home: str | None = None, nvd_api_key: str | None = None, no_update: bool = False,
        extra_args: tuple[str, ...] = (), **_: Any) -> ScanOutcome:
    """Scan ``project_dir``; writes ``dependency-check-report.json`` (and ``.xml``) in ``out_dir``.

    Skipped (not an error) when the CLI is not installed. ``home``: the install directory
    (``$DEPENDENCY_CHECK_HOME``). The NVD API key (``$NVD_API_KEY``) is handed over in a private
    properties file, never on the command line. ``--failOnCVSS`` is not used: the gate decides.
    """
    start = time.monotonic()
    binary = find_cli(cli, home)
    if binary is None:
        return ScanOutcome(TOOL, "skipped", [], "dependency-check CLI not found (set DEPENDENCY_CHECK_HOME "
                                                 "or put dependency-check.sh on PATH)")
    if not Path(project_dir).is_dir():
        return ScanOutcome(TOOL, "error", [], f"{project_dir}: not a directory")
    out_dir = Path(out_dir).resolve()
    work = out_dir / "dependency-check"
    work.mkdir(parents=True, exist_ok=True)
    cmd = [binary, "--scan", str(project_dir), "--out", str(work), "--format", "JSON", "--format", "XML",
           "--project", project or Path(project_dir).resolve().name, *(["--noupdate"] if no_update else []),
           *extra_args]
    if data_dir:
        cmd += ["--data", str(data_dir)]
    if suppression:
        if not Path(suppression).is_file():
            return ScanOutcome(TOOL, "error", [], f"{suppression}: suppression file not found")
        cmd += ["--suppression", str(suppression)]
    from pipeline_lib.core.process import TAIL_OUTPUT, run as run_command   # subprocess: only when it runs

    key = nvd_api_key or ""
    props = None
    try:
        if key:
            import stat
            import tempfile

            fd, props = tempfile.mkstemp(prefix=".dc-", suffix=".properties", dir=work)
            os.fchmod(fd, stat.S_IRUSR | stat.S_IWUSR)
            with os.fdopen(fd, "w") as fh:
                fh.write(f"nvd.api.key={key}\n")
            cmd += ["--propertyfile", props]
        res = run_command(cmd, timeout=timeout, max_output=TAIL_OUTPUT)
    except TimeoutExceeded:
        return ScanOutcome(TOOL, "error", [], f"dependency-check timed out after {timeout:g}s",
                           time.monotonic() - start)
    finally:
        if props:
            Path(props).unlink(missing_ok=True)
    report = work / REPORT_JSON
    if res.returncode != 0 or not report.is_file():
        why = res.last_line((key,)) or f"exit code {res.returncode}"
        return ScanOutcome(TOOL, "error", [], f"dependency-check failed: {why}", time.monotonic() - start)
    return ScanOutcome(TOOL, "ok", [report], "", time.monotonic() - start)


# ---------------------------------------------------------------------------------------
# parsing
# ---------------------------------------------------------------------------------------

def _package_from_purl(purl: str) -> tuple[str | None, str | None]:
    m = re.match(r"pkg:([^/]+)/([^@?#]+)(?:@([^?#]+))?", purl.strip())
    if not m:
        return None, None
    ptype, name, version = m.groups()
    name = name.replace("/", ":") if ptype == "maven" else name
    return name, version


package_from_purl = _package_from_purl


def dependency_name(file_path: str | None, file_name: str | None = None) -> str | None:
    """The dependency as every report format names it: the last part of its file path."""
    if file_path:
        return file_path.replace("\\", "/").rstrip("/").rsplit("/", 1)[-1] or file_name
    return file_name


def vulnerability_fingerprint(vid: str, file_path: str | None, file_name: str | None = None) -> str:
    """Fingerprint (scheme 2, see scanners.base.FINGERPRINT_SCHEME): the vulnerability and the
    dependency's file name (from its path, which JSON, XML and SARIF all carry; the purl is only
    partly in the SARIF form, and a virtual dependency's ``fileName`` not at all)."""
    return fingerprint(TOOL, "vulnerability", vid, dependency_name(file_path, file_name))


def dependencies_digest(paths: list[str | None]) -> str:
    """One value for the set of scanned dependency files (a report's scan subject)."""
    norm = sorted({p.replace("\\", "/").lstrip("/") for p in paths if p})
    return fingerprint(*norm)


def _vuln_id(name: Any, description: str) -> str:
    if isinstance(name, str) and name.strip():
        return clip(name.strip(), 200)
    return "UNNAMED-" + fingerprint(description)[:8]


def _url_for(vid: str, refs: tuple[str, ...]) -> str | None:
    if re.fullmatch(r"CVE-\d{4}-\d{4,}", vid):
        return f"https://nvd.nist.gov/vuln/detail/{vid}"
    return refs[0] if refs else None


def _num(v: Any) -> float | None:
    try:
        f = float(v)
    except (TypeError, ValueError):
        return None
    return f if 0.0 <= f <= 10.0 else None


_ANALYZER = r"\.analyzer\.([A-Za-z0-9_$]+Analyzer)\b"
MAX_ANALYSIS_ERRORS = 20


def _exception_text(message: str | None) -> str:
    """``org.owasp…AnalysisException: Failed to …`` → ``AnalysisException: Failed to …``."""
    text = (message or "").strip().split("\n")[0]
    m = re.match(r"([\w$.]+?)([A-Za-z0-9_$]+)(:\s|$)", text)
    if m and "." in m.group(1):
        text = text[len(m.group(1)):]
    return clip(text or "no message", 200)


def analysis_errors(exceptions: list[tuple[str | None, list[str], str | None]]) -> list[str]:
    """Dependency-Check's ``scanInfo.analysisExceptions`` → one line per failing analyzer.

    Each exception is (message, stack trace lines, innermost cause's message). The analyzer is the
    first ``org.owasp.dependencycheck.analyzer.<Name>Analyzer`` frame of the trace ("unknown
    analyzer" without one); equal messages of one analyzer are counted, not repeated:
    ``"OssIndexAnalyzer: AnalysisException: Failed to request component-reports (caused by
    SocketTimeoutException: connect timed out) ×3"``.
    """
    grouped: dict[tuple[str, str], int] = {}
    for message, trace, cause in exceptions:
        analyzer = next((m.group(1) for t in trace for m in [re.search(_ANALYZER, t)] if m), None)
        if analyzer is None:
            m = re.search(_ANALYZER, message or "")
            analyzer = m.group(1) if m else "unknown analyzer"
        text = _exception_text(message)
        if cause:
            text += f" (caused by {_exception_text(cause)})"
        grouped[(analyzer, text)] = grouped.get((analyzer, text), 0) + 1
    lines = [f"{a}: {t}" + (f" ×{n}" if n > 1 else "") for (a, t), n in grouped.items()]
    if len(lines) > MAX_ANALYSIS_ERRORS:
        lines = lines[:MAX_ANALYSIS_ERRORS] + [f"… and {len(lines) - MAX_ANALYSIS_ERRORS} more"]
    return lines


def _json_exceptions(scan_info: Any, where: str) -> list[tuple[str | None, list[str], str | None]]:
    items = scan_info.get("analysisExceptions") if isinstance(scan_info, dict) else None
    if items is None:
        return []
    if not isinstance(items, list):
        raise GantryError(where, "scanInfo.analysisExceptions must be a list")
    out = []
    for item in items:
        ex = item.get("exception", item) if isinstance(item, dict) else None
        if not isinstance(ex, dict):
            out.append((str(item), [], None))
            continue
        trace = [t for t in ex.get("stackTrace") or [] if isinstance(t, str)]
        cause, depth, c = None, 0, ex.get("cause")
        while isinstance(c, dict) and depth < 20:
            cause = _str(c.get("message")) or cause
            c, depth = c.get("cause"), depth + 1
        out.append((_str(ex.get("message")), trace, cause))
    return out


class _Builder:
    def __init__(self, path: Path, fmt: str) -> None:
        self.report = ParsedReport(path, TOOL, fmt)
        self.out = FindingSet()
        self.paths: list[str | None] = []   # every dependency's filePath: the run's subject
        self.report_date: Any = None

    def dependency(self, file_path: str | None) -> None:
        self.paths.append(file_path)

    def add(self, *, file_name: str | None, file_path: str | None, package: str | None, version: str | None,
            name: Any, severity: Any, scores: list[float], description: str, refs: tuple[str, ...],
            suppressed: bool, note: str = "") -> None:
        vid = _vuln_id(name, description)
        sev, problem = map_severity(severity, scores)
        if problem and problem not in self.report.errors:
            self.report.errors.append(f"{problem} ({vid}); cannot place it against the threshold")
        first = description.strip().split("\n")[0] if description else ""
        finding = Finding(TOOL, "vulnerability", vid, sev, clip(first or vid, 200),
                          vulnerability_fingerprint(vid, file_path, file_name),
                          package=clip(package or file_name, 300) or None, installed_version=clip(version, 200) or None,
                          target=clip(file_path or file_name, 500) or None, url=_url_for(vid, refs), references=refs,
                          cvss=scores[-1] if scores else None)
        if suppressed:
            self.report.suppressed.append(Suppressed(finding, clip(note, 300)))
        else:
            self.out.add((file_path, vid), finding)

    def done(self) -> ParsedReport:
        self.report.findings = self.out.findings
        self.report.run = ScanRun(TOOL, (("deps", dependencies_digest(self.paths)),) if any(self.paths) else (),
                                  utc_second(self.report_date))
        return self.report


def _sniff_json(head: str) -> bool:
    return head.startswith("{") and '"reportSchema"' in head


def _str(v: Any) -> str | None:
    return v if isinstance(v, str) and v else None


@register("dependency-check-json", TOOL, _sniff_json, label="Dependency-Check JSON")
def parse_json(path: Path, options: ParseOptions = ParseOptions()) -> ParsedReport:
    where = str(path)
    doc = load_json(path)
    if not isinstance(doc, dict) or "reportSchema" not in doc:
        raise GantryError(where, "not a Dependency-Check JSON report (no reportSchema)")
    deps = doc.get("dependencies") or []
    if not isinstance(deps, list):
        raise GantryError(where, "dependencies must be a list")
    b = _Builder(Path(path), "dependency-check-json")
    b.report.analysis_errors = analysis_errors(_json_exceptions(doc.get("scanInfo"), where))
    info = doc.get("projectInfo")
    b.report_date = info.get("reportDate") if isinstance(info, dict) else None
    for di, dep in enumerate(deps):
        if not isinstance(dep, dict):
            raise GantryError(where, f"dependencies[{di}]: expected an object")
        b.dependency(_str(dep.get("filePath")))
        pkg, ver = None, None
        for p in dep.get("packages") or []:
            if isinstance(p, dict) and isinstance(p.get("id"), str):
                pkg, ver = _package_from_purl(p["id"])
                if pkg:
                    break
        for field, suppressed in (("vulnerabilities", False), ("suppressedVulnerabilities", True)):
            vulns = dep.get(field) or []
            if not isinstance(vulns, list):
                raise GantryError(where, f"dependencies[{di}].{field} must be a list")
            for vi, v in enumerate(vulns):
                if not isinstance(v, dict):
                    raise GantryError(where, f"dependencies[{di}].{field}[{vi}]: expected an object")
                for key in ("name", "severity", "description"):
                    if v.get(key) is not None and not isinstance(v[key], str):
                        raise GantryError(where, f"dependencies[{di}].{field}[{vi}].{key} must be a string")
                scores = []
                for key, sub in (("cvssv2", "score"), ("cvssv3", "baseScore"), ("cvssv4", "baseScore")):
                    c = v.get(key)
                    if isinstance(c, dict):
                        s = _num(c.get(sub))
                        if s is None and isinstance(c.get("cvssData"), dict):
                            s = _num(c["cvssData"].get("baseScore"))
                        if s is not None:
                            scores.append(s)
                refs = tuple(clip(r.get("url"), 300) for r in (v.get("references") or [])
                             if isinstance(r, dict) and isinstance(r.get("url"), str))[:MAX_REFERENCES]
                b.add(file_name=_str(dep.get("fileName")), file_path=_str(dep.get("filePath")), package=pkg,
                      version=ver, name=v.get("name"), severity=v.get("severity"), scores=scores,
                      description=_str(v.get("description")) or "", refs=refs, suppressed=suppressed,
                      note=_str(v.get("notes")) or "")
    return b.done()


def _sniff_xml(head: str) -> bool:
    return head.startswith("<") and "<analysis" in head and "dependencycheck" in head.lower()


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def _child(el: ET.Element, name: str) -> ET.Element | None:
    for c in el:
        if _local(c.tag) == name:
            return c
    return None


def _text(el: ET.Element | None, name: str | None = None) -> str | None:
    if el is not None and name is not None:
        el = _child(el, name)
    if el is None or el.text is None:
        return None
    t = el.text.strip()
    return t or None


def load_xml(path: Path) -> ET.Element:
    """Parse an XML report; DTDs/entities are refused (no entity expansion from hostile files)."""
    where = str(path)
    head = path.read_bytes()[:65536]
    if re.search(rb"<!(DOCTYPE|ENTITY)", head, re.I):
        raise GantryError(where, "XML with a DOCTYPE/ENTITY declaration is refused")
    import xml.etree.ElementTree as ET   # only when an XML report is read: ~2 ms at start-up

    try:
        return ET.parse(path).getroot()
    except ET.ParseError as exc:
        msg = str(exc)
        what = "truncated XML" if ("no element found" in msg or "unclosed token" in msg) else "invalid XML"
        raise GantryError(where, f"{what}: {msg}") from None


def _xml_exceptions(root: ET.Element) -> list[tuple[str | None, list[str], str | None]]:
    """``<scanInfo><analysisExceptions><exception><message/><stackTrace><trace/>…<cause>…`` (xmlReport.vsl)."""
    info = _child(root, "scanInfo")
    box = _child(info, "analysisExceptions") if info is not None else None
    out = []
    for ex in (box if box is not None else []):
        if _local(ex.tag) != "exception":
            continue
        st = _child(ex, "stackTrace")
        trace = [t.text.strip() for t in (st if st is not None else []) if t.text]
        cause, depth, c = None, 0, _child(ex, "cause")
        while c is not None and depth < 20:
            cause = _text(c, "message") or cause
            c, depth = _child(c, "cause"), depth + 1
        out.append((_text(ex, "message"), trace, cause))
    return out


@register("dependency-check-xml", TOOL, _sniff_xml, label="Dependency-Check XML")
def parse_xml(path: Path, options: ParseOptions = ParseOptions()) -> ParsedReport:
    where = str(path)
    root = load_xml(Path(path))
    if _local(root.tag) != "analysis":
        raise GantryError(where, "not a Dependency-Check XML report (root is not <analysis>)")
    b = _Builder(Path(path), "dependency-check-xml")
    b.report.analysis_errors = analysis_errors(_xml_exceptions(root))
    b.report_date = _text(_child(root, "projectInfo"), "reportDate")
    deps = _child(root, "dependencies")
    for dep in (deps if deps is not None else []):
        if _local(dep.tag) != "dependency":
            continue
        b.dependency(_text(dep, "filePath"))
        pkg, ver = None, None
        idents = _child(dep, "identifiers")
        if idents is not None:
            for el in idents.iter():
                tag = _local(el.tag)
                if tag == "package" and _text(el, "id"):
                    pkg, ver = _package_from_purl(_text(el, "id") or "")
                elif tag == "identifier" and el.get("type") == "maven" and _text(el, "name"):
                    parts = (_text(el, "name") or "").split(":")
                    if len(parts) >= 3:
                        pkg, ver = ":".join(parts[:-1]), parts[-1]
                if pkg:
                    break
        vulns = _child(dep, "vulnerabilities")
        for v in (vulns if vulns is not None else []):
            tag = _local(v.tag)
            if tag not in ("vulnerability", "suppressedVulnerability"):
                continue
            scores = []
            for val in (_text(v, "cvssScore"), _text(_child(v, "cvssV2"), "score"),
                        _text(_child(v, "cvssV3"), "baseScore"), _text(_child(v, "cvssV4"), "baseScore")):
                s = _num(val)
                if s is not None:
                    scores.append(s)
            refs_el = _child(v, "references")
            refs = tuple(clip(_text(r, "url"), 300) for r in (refs_el if refs_el is not None else [])
                         if _text(r, "url"))[:MAX_REFERENCES]
            b.add(file_name=_text(dep, "fileName"), file_path=_text(dep, "filePath"), package=pkg, version=ver,
                  name=_text(v, "name"), severity=_text(v, "severity"), scores=scores,
                  description=_text(v, "description") or "", refs=refs,
                  suppressed=tag == "suppressedVulnerability", note=_text(v, "notes") or "")
    return b.done()


def parse(path: Path, **opts: Any) -> ParsedReport:
    from .registry import parse_report

    return parse_report(path)

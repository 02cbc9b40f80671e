"""The one small typed interface every scanner module implements, and the normalized finding.

A scanner module (one per tool, listed in :data:`scanners.registry.SCANNERS`) satisfies
:class:`Scanner`: ``TOOL``, ``REPORT_NAME``, ``run(...) -> ScanOutcome`` and
``parse(path) -> ParsedReport``, plus its declarations (:mod:`scanners.options`). Parsing is
pure; subprocess and HTTP live in ``run``.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from dataclasses import dataclass, field
from pathlib import Path
TYPE_CHECKING = False   # typing's, without importing typing (~3 ms of a `gantry scan`'s start-up)
if TYPE_CHECKING:
    from typing import Any

from pipeline_lib.core.errors import GantryError

try:   # hashlib.blake2b is this builtin's; hashlib itself loads OpenSSL (~3 ms of a scan's start-up)
    from _blake2 import blake2b
except ImportError:  # pragma: no cover - a Python built without it
    from hashlib import blake2b

SEVERITIES: tuple[str, ...] = ("CRITICAL", "HIGH", "MEDIUM", "LOW", "INFO", "UNKNOWN")
#: Rank used for thresholds: higher is worse. UNKNOWN ranks with MEDIUM so that an unrated
#: finding is never silently below a MEDIUM threshold (fail closed) but does not fail a HIGH gate.
SEVERITY_RANK: dict[str, int] = {"CRITICAL": 5, "HIGH": 4, "MEDIUM": 3, "UNKNOWN": 3, "LOW": 2, "INFO": 1}
OUTCOME_STATUSES = ("ok", "skipped", "error")
#: a report whose name ends so is an SBOM (CycloneDX), not a findings report of its scan
SBOM_SUFFIX = ".cdx.json"
MAX_TEXT = 500          # titles/messages are cut to this many characters (hostile reports)
MAX_REFERENCES = 8
#: The fingerprint scheme: raised whenever a scanner's fingerprints change. ``findings.json``
#: records it on every row, so a baseline written before a change is recognised (and said)
#: instead of silently matching nothing. Scheme 2: a Trivy or Dependency-Check finding has the
#: same fingerprint whatever format it was read from; a SARIF result of any other tool is one
#: finding (its own fingerprints when it has them). Rows without the field are scheme 1.
FINGERPRINT_SCHEME = 2
#: tool → the scheme in which its fingerprints last changed (tools not listed: FINGERPRINT_SCHEME)
FINGERPRINT_SINCE: dict[str, int] = {"sonarqube": 1, "checkov": 1}


def fingerprints_comparable(tool: str, scheme: int | None) -> bool:
    """Whether fingerprints of ``tool`` written under ``scheme`` (None: scheme 1) can match this gantry's."""
    return (scheme or 1) >= FINGERPRINT_SINCE.get(tool, FINGERPRINT_SCHEME)


def clip(value: Any, limit: int = MAX_TEXT) -> str:
    """A one-line string of at most ``limit`` characters (None becomes "")."""
    if value.__class__ is str and len(value) <= limit and value.isprintable():
        return value
    if value is None:
        return ""
    text = value if isinstance(value, str) else str(value)
    if len(text) > limit:
        text = text[: limit - 1] + "…"
    return " ".join(text.split()) if ("\n" in text or "\r" in text or "\t" in text) else text


def severity_from_score(score: float | None) -> str:
    """CVSS v2/v3/v4 base score → severity (the CVSS v3 qualitative bands)."""
    if score is None:
        return "UNKNOWN"
    if score >= 9.0:
        return "CRITICAL"
    if score >= 7.0:
        return "HIGH"
    if score >= 4.0:
        return "MEDIUM"
    if score > 0.0:
        return "LOW"
    return "INFO"


def normalize_severity(value: Any, names: dict[str, str]) -> tuple[str, str | None]:
    """A tool's severity value → (normalized severity, problem or None).

    ``names`` maps the tool's lower-case severity names to :data:`SEVERITIES`. A number (or a
    numeric string such as Dependency-Check's ``"9.8"`` for OSS Index findings) is a CVSS base
    score, mapped by the CVSS v3.1 qualitative rating scale (FIRST, CVSS v3.1 specification §5):
    0.1–3.9 LOW, 4.0–6.9 MEDIUM, 7.0–8.9 HIGH, 9.0–10.0 CRITICAL, and 0.0 ("None") → INFO.
    No value at all is UNKNOWN with no problem; any other value is UNKNOWN *with* a problem, which
    the gate reports (an unreadable severity never falls below the threshold silently).
    """
    if value is None or (isinstance(value, str) and value.strip() in ("", "UNKNOWN", "unknown")):
        return "UNKNOWN", None
    if isinstance(value, str):
        key = value.strip().lower()
        if key in names:
            return names[key], None
        try:
            score = float(key)
        except ValueError:
            return "UNKNOWN", f"unknown severity {clip(value, 40)!r}"
    elif isinstance(value, (int, float)) and not isinstance(value, bool):
        score = float(value)
    else:
        return "UNKNOWN", f"unknown severity {clip(value, 40)!r}"
    if not 0.0 <= score <= 10.0:
        return "UNKNOWN", f"severity score {score:g} is outside the CVSS range 0-10"
    return severity_from_score(score), None


def fingerprint(*parts: object) -> str:
    """A stable id from the identifying parts of a finding (never its line number)."""
    text = "\x1f".join([p if p.__class__ is str else ("" if p is None else str(p)) for p in parts])
    return blake2b(text.encode("utf-8", "replace"), digest_size=16).hexdigest()


@dataclass(slots=True)
class Finding:
    """One normalized finding, the same shape for every tool.

    ``kind`` is vulnerability | misconfiguration | secret | license | hotspot.
    ``fingerprint`` identifies the same finding across runs; ``line`` is informative only.
    """

    tool: str
    kind: str
    id: str
    severity: str
    title: str
    fingerprint: str
    package: str | None = None
    installed_version: str | None = None
    fixed_version: str | None = None
    target: str | None = None
    line: int | None = None
    url: str | None = None
    references: tuple[str, ...] = ()
    cvss: float | None = None   # the CVSS base score the tool reported (v4, else v3, else v2)

    def to_json(self) -> dict[str, Any]:
        return {"tool": self.tool, "id": self.id, "severity": self.severity, "title": self.title,
                "package": self.package, "installed_version": self.installed_version,
                "fixed_version": self.fixed_version, "target": self.target, "line": self.line,
                "fingerprint": self.fingerprint, "kind": self.kind, "cvss": self.cvss, "url": self.url,
                "references": list(self.references), "fingerprint_scheme": FINGERPRINT_SCHEME}

    @property
    def rank(self) -> int:
        return SEVERITY_RANK.get(self.severity, 3)


@dataclass(slots=True)
class Suppressed:
    """A finding the scanner itself suppressed (e.g. a Dependency-Check suppression file)."""

    finding: Finding
    note: str = ""


#: subject kinds of a :class:`ScanRun`, strongest first: the first kind both runs name decides
SUBJECT_KINDS = ("image-id", "deps", "revision", "path", "name")


def _same_path(a: str, b: str) -> bool:
    """Two spellings of one scanned directory: equal, or a relative one that ends the absolute one."""
    a, b = a.replace("\\", "/").rstrip("/") or "/", b.replace("\\", "/").rstrip("/") or "/"
    if a == b:
        return True
    rel, other = (a, b) if not a.startswith("/") else (b, a)
    if rel.startswith("/"):
        return False
    rel = rel[2:] if rel.startswith("./") else rel
    return rel in ("", ".") or other.endswith("/" + rel)


@dataclass(frozen=True)
class ScanRun:
    """Which run of a tool a report records, as far as its format says.

    ``subject``: (kind, value) pairs naming what was scanned (kinds in :data:`SUBJECT_KINDS`:
    an image id, a digest of the scanned dependency files, a VCS revision, a directory, a
    name); ``time``: when the scan ran, UTC to the second ("" when the format does not say);
    ``run_id``: the tool's own id of the run ("" when it has none). Reports of one run (one
    tool run written as JSON and SARIF, say) are merged by the gate; different runs are not.
    """

    tool: str
    subject: tuple[tuple[str, str], ...] = ()
    time: str = ""
    run_id: str = ""

    def same_run(self, other: ScanRun) -> bool:
        """Same tool, and nothing the two formats both say tells the runs apart."""
        if self.tool != other.tool:
            return False
        if self.run_id and other.run_id:
            return self.run_id == other.run_id
        if self.time and other.time and self.time != other.time:
            return False
        mine, theirs = dict(self.subject), dict(other.subject)
        for kind in SUBJECT_KINDS:
            if kind in mine and kind in theirs:
                if kind == "path":
                    return _same_path(mine[kind], theirs[kind])
                return mine[kind] == theirs[kind]
        return True


def utc_second(stamp: Any) -> str:
    """An RFC 3339 / ISO 8601 time → ``YYYY-MM-DDTHH:MM:SSZ`` (UTC), "" when it is not one."""
    if not isinstance(stamp, str):
        return ""
    m = re.match(r"(\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}:\d{2})(?:\.\d+)?(Z|[+-]\d{2}:?\d{2})?$", stamp.strip())
    if not m:
        return ""
    zone = m.group(2) or "Z"
    zone = "+00:00" if zone == "Z" else (zone if ":" in zone else zone[:3] + ":" + zone[3:])
    try:
        when = dt.datetime.fromisoformat(m.group(1).replace(" ", "T") + zone)
    except ValueError:
        return ""
    return when.astimezone(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass
class ParsedReport:
    """What one report file yields: findings, scanner-side suppressions and gate facts."""

    path: Path
    tool: str
    format: str
    findings: list[Finding] = field(default_factory=list)
    suppressed: list[Suppressed] = field(default_factory=list)
    #: external quality gates reported by the tool itself: (name, passed, detail)
    tool_gates: list[tuple[str, bool, str]] = field(default_factory=list)
    links: dict[str, str] = field(default_factory=dict)
    #: why this report is no evidence of a completed scan (e.g. a SARIF log with no run);
    #: each line makes the gate "cannot evaluate"
    errors: list[str] = field(default_factory=list)
    #: False for a document that is no evidence a vulnerability analysis ran (a CycloneDX SBOM)
    vulnerability_scan: bool = True
    #: parts of the analysis the tool itself says failed while the report was still written
    #: (Dependency-Check ``scanInfo.analysisExceptions``: "<analyzer>: <exception>"); the policy's
    #: ``analysis_errors`` (fail | warn) decides whether they make the gate "cannot evaluate"
    analysis_errors: list[str] = field(default_factory=list)
    #: which tool run this report records (None: the format does not say; the gate then merges
    #: it with the other reports of its tool that do not say either)
    run: ScanRun | None = None


class FindingSet:
    """Collects findings for one report: one per identity key; equal fingerprints get an ordinal."""

    def __init__(self) -> None:
        self.findings: list[Finding] = []
        self._keys: set[tuple] = set()
        self._fps: dict[str, int] = {}

    def add(self, key: tuple | None, finding: Finding, *, fingerprint_is_key: bool = False) -> bool:
        """Add unless ``key`` was seen; ``key`` None means "always a distinct finding".

        ``fingerprint_is_key``: the fingerprint hashes exactly the key's parts, so it cannot repeat
        for a new key (the fast path for Trivy vulnerabilities).
        """
        if key is not None:
            if key in self._keys:
                return False
            self._keys.add(key)
            if fingerprint_is_key:
                self.findings.append(finding)
                return True
        n = self._fps.get(finding.fingerprint, 0)
        self._fps[finding.fingerprint] = n + 1
        if n:
            finding.fingerprint = f"{finding.fingerprint}-{n + 1}"
        self.findings.append(finding)
        return True


@dataclass
class ScanOutcome:
    """What running one scanner produced: ok (reports written), skipped (not configured) or error."""

    tool: str
    status: str
    reports: list[Path] = field(default_factory=list)
    reason: str = ""
    duration: float = 0.0
    #: what the tool was asked to scan for (e.g. Trivy's ``vuln``, ``secret``), when it says
    scanners: list[str] = field(default_factory=list)
    #: the vulnerability DB's / Java DB's metadata.json UpdatedAt (RFC 3339), when one was used
    db_updated_at: str = ""
    java_db_updated_at: str = ""

    def __post_init__(self) -> None:
        if self.status not in OUTCOME_STATUSES:
            raise ValueError(f"outcome status must be one of {OUTCOME_STATUSES}, not {self.status!r}")
        self.reports = [Path(p) for p in self.reports]

    def to_json(self) -> str:
        data: dict[str, Any] = {"tool": self.tool, "status": self.status,
                                "reports": [str(p) for p in self.reports], "reason": self.reason,
                                "duration": round(self.duration, 3), "scanners": list(self.scanners)}
        for key in ("db_updated_at", "java_db_updated_at"):
            if getattr(self, key):
                data[key] = getattr(self, key)
        return json.dumps(data, indent=2) + "\n"

    @classmethod
    def from_json(cls, text: str | bytes, where: str = "outcome") -> ScanOutcome:
        try:
            data = json.loads(text)
        except (ValueError, UnicodeDecodeError) as exc:
            raise GantryError(where, f"not a scan outcome (invalid JSON: {exc})") from None
        if not isinstance(data, dict):
            raise GantryError(where, "not a scan outcome (expected a JSON object)")
        tool, status = data.get("tool"), data.get("status")
        reports, reason, duration = data.get("reports", []), data.get("reason", ""), data.get("duration", 0.0)
        if not isinstance(tool, str) or not tool:
            raise GantryError(where, "scan outcome has no 'tool'")
        if status not in OUTCOME_STATUSES:
            raise GantryError(where, f"scan outcome status must be one of {', '.join(OUTCOME_STATUSES)}")
        if not isinstance(reports, list) or not all(isinstance(r, str) for r in reports):
            raise GantryError(where, "scan outcome 'reports' must be a list of paths")
        if not isinstance(reason, str) or not isinstance(duration, (int, float)) or isinstance(duration, bool):
            raise GantryError(where, "scan outcome 'reason'/'duration' have wrong types")
        scanners = data.get("scanners", [])
        if not isinstance(scanners, list) or not all(isinstance(x, str) for x in scanners):
            raise GantryError(where, "scan outcome 'scanners' must be a list of names")
        stamps = [data.get(k) or "" for k in ("db_updated_at", "java_db_updated_at")]
        if not all(isinstance(x, str) for x in stamps):
            raise GantryError(where, "scan outcome 'db_updated_at'/'java_db_updated_at' must be strings")
        return cls(tool, status, [Path(r) for r in reports], reason, float(duration), scanners, *stamps)

    def write(self, out_dir: Path) -> Path:
        from pipeline_lib.core.fileio import write_atomic

        return write_atomic(Path(out_dir) / f"{self.tool}.outcome.json", self.to_json())

    @classmethod
    def read(cls, path: Path) -> ScanOutcome:
        try:
            raw = Path(path).read_bytes()
        except OSError as exc:
            raise GantryError(str(path), f"cannot read: {exc.strerror or exc}") from None
        if len(raw) > 1_000_000:
            raise GantryError(str(path), "scan outcome is too large")
        return cls.from_json(raw, str(path))


if TYPE_CHECKING:   # a protocol for type checkers (defining it at run time imports typing)
    from typing import Protocol

    class Scanner(Protocol):
        """What a scanner module provides (modules satisfy this protocol structurally).

        Optional declarations (:mod:`scanners.options`; read through :mod:`scanners.registry`):
        ``OPTIONS`` (its ``gantry scan`` flags, default none), ``SUBJECTS`` (default: a source tree
        only), ``IMAGE_ARCHIVES``, ``to_options(values) -> run keywords``; a module whose
        ``SUBJECTS`` name an image has ``run_image(reference, out_dir, *, input_tar=None, **opts)``.
        """

        TOOL: str
        REPORT_NAME: str

        def run(self, project_dir: Path, out_dir: Path, **opts: Any) -> ScanOutcome: ...

        def parse(self, path: Path, **opts: Any) -> ParsedReport: ...

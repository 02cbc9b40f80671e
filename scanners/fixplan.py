"""The fix plan: per package, the smallest upgrade that clears its findings.

``fix_plan(findings, blocking)`` groups vulnerability findings by (package, installed version,
ecosystem) and computes, from the scanners' "fixed in" versions, the lowest version that clears
as many of them as possible, ordered by the blocking findings the upgrade removes. Pure: no I/O.

Fixed-version lists (Trivy writes ``"6.0.1, 5.0.1, 4.1.1, 3.0.1"``: one fix per release line) are
read as release lines: a version ``V`` clears a finding when ``V`` is at least its highest fix, or
``V >= F_i`` while staying on ``F_i``'s line, i.e. sharing the leading release numbers up to and
including the first one where ``F_i`` and the next fix ``F_{i+1}`` differ (``5.0.3`` is fixed by ``5.0.1`` above; ``4.0.0`` is not).

Versions are compared with ``packaging.version`` (PEP 440) where the ecosystem's scheme is
PEP 440 (pip) or plain dotted numbers (npm/Maven/Go/RubyGems/Cargo releases, with an optional
``-alpha.N``/``-beta.N``/``-rc.N`` pre-release, and Alpine's
``1.2.3[a-z]-rN``: ``-rN`` orders as a PEP 440 post-release and the letter as a 7th release
number, as apk orders them). Anything else
(Debian ``1:2.3-4+deb12u1``, pre-releases outside pip, …) is not compared: the entry says
``cannot-compare`` and lists the fixed versions, unless every finding names the same one.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Collection, Iterable
from dataclasses import dataclass, field
from typing import Any

from packaging.version import InvalidVersion, Version

from .base import SEVERITIES, SEVERITY_RANK, Finding

UPGRADE, PARTIAL, NO_FIX, CANNOT_COMPARE = "upgrade", "partial", "no-fix", "cannot-compare"
_OS = re.compile(r"\((alpine|wolfi|chainguard|debian|ubuntu|redhat|centos|rocky|alma|amazon|oracle|photon|"
                 r"suse|opensuse[^ ]*|sles|mariner|azurelinux|fedora)[ )]", re.I)
_NUMERIC = re.compile(r"^v?\d+(\.\d+)*(-(alpha|beta|rc)\.?\d+)?$")   # semver pre-releases order as PEP 440's
_ALPINE = re.compile(r"^(\d+(?:\.\d+){0,5})([a-z]?)(-r\d+)?$")
_LANG = {  # Trivy's language-aggregate targets and lock/manifest file names → ecosystem
    "python": "pip", "node.js": "npm", "java": "maven", "ruby": "gem", "go": "go", "rust": "cargo",
    "requirements.txt": "pip", "pipfile.lock": "pip", "poetry.lock": "pip", "uv.lock": "pip", "pyproject.toml": "pip",
    "setup.py": "pip", "package.json": "npm", "package-lock.json": "npm", "yarn.lock": "npm", "pnpm-lock.yaml": "npm",
    "pom.xml": "maven", "gradle.lockfile": "maven", "gemfile.lock": "gem", "go.mod": "go", "go.sum": "go",
    "cargo.lock": "cargo", "composer.lock": "composer", "packages.lock.json": "nuget",
}
_OS_SCHEMES = {"debian": 1, "ubuntu": 1, "redhat": 1, "centos": 1, "rocky": 1, "alma": 1, "amazon": 1, "oracle": 1,
               "fedora": 1, "suse": 1, "sles": 1, "photon": 1, "mariner": 1, "azurelinux": 1}   # dpkg/rpm: never PEP 440
_SUFFIX = {".jar": "maven", ".war": "maven", ".ear": "maven", ".gemspec": "gem", ".whl": "pip", ".egg": "pip"}


@dataclass(frozen=True)
class FixPlanEntry:
    """One package's smallest upgrade.

    ``status``: ``upgrade`` (``to_version`` clears every finding of the group), ``partial``
    (it clears some; ``remaining`` lists the ids it cannot), ``no-fix`` (no fixed version is
    known) or ``cannot-compare`` (several fixed versions in a scheme gantry does not order;
    ``candidates`` lists them). Counts are numbers of findings.
    """

    package: str
    installed: str | None
    ecosystem: str
    status: str
    to_version: str | None
    fixes: int                          # findings cleared by upgrading to ``to_version``
    fixes_by_severity: dict[str, int]
    blocking_fixed: int
    blocking_total: int                 # blocking findings of this package (cleared or not)
    findings: int                       # findings of this package
    finding_ids: tuple[str, ...]
    remaining: tuple[str, ...] = ()     # ids not cleared by the upgrade
    candidates: tuple[str, ...] = ()    # distinct fixed versions the scanners listed
    targets: tuple[str, ...] = ()
    note: str = ""
    max_rank: int = field(default=0, compare=False)
    cleared: frozenset[str] = field(default=frozenset(), compare=False, repr=False)   # fingerprints cleared

    def severity_text(self) -> str:
        """``"1 HIGH, 2 MEDIUM"`` for the cleared findings."""
        return ", ".join(f"{self.fixes_by_severity[s]} {s}" for s in SEVERITIES if self.fixes_by_severity.get(s))

    def blocking_text(self) -> str:
        if not self.blocking_total:
            return "none blocking"
        if self.blocking_fixed == self.blocking_total:
            return f"all {self.blocking_total} blocking one(s) for this package" if self.blocking_total > 1 \
                else "the blocking one for this package"
        return f"{self.blocking_fixed} of {self.blocking_total} blocking"

    def summary(self) -> str:
        """One plain-text line (callers escape it for their format)."""
        inst = self.installed or "?"
        if self.status in (UPGRADE, PARTIAL):
            text = (f"upgrade {self.package} {inst} → {self.to_version}: fixes {self.fixes} finding(s) "
                    f"({self.severity_text()}), {self.blocking_text()}")
            if self.remaining:
                text += f"; {len(self.remaining)} not fixed by any known version"
        elif self.status == CANNOT_COMPARE:
            text = (f"{self.package} {inst}: {self.findings} finding(s) fixed in different versions gantry cannot "
                    f"compare ({self.ecosystem} scheme): {', '.join(self.candidates[:6])}"
                    + ("…" if len(self.candidates) > 6 else "") + " — pick the highest your distribution ships")
        else:
            text = f"{self.package} {inst}: no fixed version known for {self.findings} finding(s)"
        return text + (f" ({self.note})" if self.note else "")

    def to_json(self) -> dict[str, Any]:
        return {"package": self.package, "installed": self.installed, "ecosystem": self.ecosystem,
                "status": self.status, "to_version": self.to_version, "fixes": self.fixes,
                "fixes_by_severity": {s: n for s, n in self.fixes_by_severity.items() if n},
                "blocking_fixed": self.blocking_fixed, "blocking_total": self.blocking_total,
                "findings": self.findings, "finding_ids": list(self.finding_ids), "remaining": list(self.remaining),
                "candidates": list(self.candidates), "targets": list(self.targets), "note": self.note,
                "summary": self.summary()}


def ecosystem_of(f: Finding) -> str:
    """The package ecosystem inferred from the finding's target (Trivy's target naming)."""
    target = f.target or ""
    m = _OS.search(target)
    if m:
        name = m.group(1).lower()
        return "alpine" if name in ("alpine", "wolfi", "chainguard") else name
    base = target.replace("\\", "/").rsplit("/", 1)[-1].lower()
    if base in _LANG:
        return _LANG[base]
    for suffix, eco in _SUFFIX.items():
        if base.endswith(suffix):
            return eco
    if f.package and f.package.startswith("pkg:"):
        return f.package[4:].split("/", 1)[0]
    return "unknown"


def parse_version(text: str | None, ecosystem: str) -> Version | None:
    """A comparable version, or None when this ecosystem's scheme is not safely PEP 440."""
    if not text:
        return None
    text = text.strip()
    if ecosystem == "pip":
        pass
    elif ecosystem == "alpine":
        m = _ALPINE.match(text)
        if not m:
            return None
        if m.group(2):   # apk's letter suffix (1.1.1b > 1.1.1a > 1.1.1): a 7th release number
            nums = m.group(1).split(".")
            text = ".".join(nums + ["0"] * (6 - len(nums)) + [str(ord(m.group(2)) - 96)]) + (m.group(3) or "")
    elif _OS_SCHEMES.get(ecosystem) or not _NUMERIC.match(text):
        return None
    try:
        return Version(text)
    except InvalidVersion:
        return None


def split_fixed(text: str | None) -> list[str]:
    """``"6.0.1, 5.0.1"`` → ``["6.0.1", "5.0.1"]`` (Trivy and SARIF "Fixed Version" lists)."""
    return [p.strip() for p in re.split(r"[,|]|\s+or\s+", text or "") if p.strip()]


def _release(v: Version, n: int) -> tuple[int, ...]:
    r = v.release
    return tuple(r[:n]) + (0,) * max(0, n - len(r))


def clears(v: Version, fixes: list[Version]) -> bool:
    """Does version ``v`` clear a finding fixed in ``fixes`` (ascending, one per release line)?"""
    for i, fx in enumerate(fixes):
        if v < fx:
            return False
        if i == len(fixes) - 1:
            return True
        nxt = fixes[i + 1]
        if v >= nxt:
            continue
        width = max(len(fx.release), len(nxt.release))
        a, b = _release(fx, width), _release(nxt, width)
        k = next((j for j in range(width) if a[j] != b[j]), width)
        return _release(v, k + 1) == a[: k + 1]
    return False


def _group(package: str, installed: str | None, eco: str, items: list[Finding], blocking: Collection[str]) -> FixPlanEntry:
    ids = tuple(dict.fromkeys(f.id for f in items))
    targets = tuple(dict.fromkeys(f.target for f in items if f.target))[:10]
    nblock = sum(f.fingerprint in blocking for f in items)
    max_rank = max(SEVERITY_RANK.get(f.severity, 3) for f in items)
    fixes_of: dict[str | None, list[str]] = {}
    for f in items:
        if f.fixed_version not in fixes_of:
            fixes_of[f.fixed_version] = split_fixed(f.fixed_version)
    fixable = [f for f in items if fixes_of[f.fixed_version]]
    listed = tuple(dict.fromkeys(x for xs in fixes_of.values() for x in xs))
    base = dict(package=package, installed=installed, ecosystem=eco, blocking_total=nblock, findings=len(items),
                finding_ids=ids, targets=targets, candidates=listed, max_rank=max_rank)

    def entry(to: str | None, cleared: list[Finding], note: str = "") -> FixPlanEntry:
        cleared_fps = {id(f) for f in cleared}
        rest = tuple(dict.fromkeys(f.id for f in items if id(f) not in cleared_fps))
        sev = Counter(f.severity for f in cleared)
        status = NO_FIX if to is None else (UPGRADE if not rest else PARTIAL)
        return FixPlanEntry(status=status, to_version=to, fixes=len(cleared), remaining=rest,
                            cleared=frozenset(f.fingerprint for f in cleared),
                            fixes_by_severity={s: sev.get(s, 0) for s in SEVERITIES},
                            blocking_fixed=sum(f.fingerprint in blocking for f in cleared), note=note, **base)

    if not fixable:
        return entry(None, [])
    if len(listed) == 1:   # every finding names the same single fix: nothing to compare
        only = listed[0]
        note = "" if parse_version(only, eco) else f"{eco} version scheme not compared by gantry"
        return entry(only, fixable, note)
    inst = parse_version(installed, eco) if installed else None
    parsed: list[tuple[Finding, list[Version]]] = []
    versions = {x: parse_version(x, eco) for x in listed}
    for f in fixable:
        vs = [versions[x] for x in fixes_of[f.fixed_version]]
        if any(v is None for v in vs) or (installed and inst is None):
            return FixPlanEntry(status=CANNOT_COMPARE, to_version=None, fixes=0,
                                fixes_by_severity=dict.fromkeys(SEVERITIES, 0), blocking_fixed=0,
                                remaining=ids, **base)
        parsed.append((f, sorted(set(vs))))   # type: ignore[arg-type]
    candidates = sorted({v for _, vs in parsed for v in vs if inst is None or v > inst})
    if not candidates:
        return entry(None, [], "every listed fixed version is at or below the installed one")
    best = candidates[-1]
    target = [f for f, vs in parsed if clears(best, vs)]
    for v in candidates:
        cleared = [f for f, vs in parsed if clears(v, vs)]
        if len(cleared) >= len(target):
            best, target = v, cleared
            break
    note = ""
    if inst is not None and best.release[:1] != inst.release[:1]:
        note = f"major upgrade {inst.release[0]} → {best.release[0]}"
    original = next(x for x in listed if versions[x] == best)
    return entry(original, target, note)


def fix_plan(findings: Iterable[Finding], blocking: Collection[str] = frozenset()) -> list[FixPlanEntry]:
    """Fix plan entries for ``findings`` (vulnerabilities with a package; others are ignored).

    ``blocking``: fingerprints of the findings that block the gate. Ordered by blocking findings
    removed, then worst severity cleared, then findings cleared, then package name.
    """
    blocking = blocking if isinstance(blocking, (set, frozenset, dict)) else set(blocking)
    groups: dict[tuple[str, str | None, str], list[Finding]] = {}
    eco_of_target: dict[str | None, str] = {}
    for f in findings:
        if f.kind != "vulnerability" or not f.package:
            continue
        eco = eco_of_target.get(f.target) if not f.package.startswith("pkg:") else None
        if eco is None:
            eco = ecosystem_of(f)
            if not f.package.startswith("pkg:"):
                eco_of_target[f.target] = eco
        groups.setdefault((f.package, f.installed_version, eco), []).append(f)
    entries = [_group(p, inst, eco, items, blocking) for (p, inst, eco), items in groups.items()]
    entries.sort(key=lambda e: (-e.blocking_fixed, e.status in (NO_FIX, CANNOT_COMPARE),
                                -max((SEVERITY_RANK.get(s, 3) for s, n in e.fixes_by_severity.items() if n), default=0),
                                -e.fixes, -e.max_rank, e.package, e.installed or ""))
    return entries

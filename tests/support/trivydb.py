"""A real, small Trivy DB for the tests: build the Go builder, write a DB, and say what Trivy
must report for a set of pins — computed from the GitHub Security Advisory files themselves.

The builder and its inputs live in ``examples/`` (``gantry demo`` uses them too):
``examples/trivydb`` (Go; ``make trivydb``), ``examples/advisories/ghsa``, ``examples/trivy-db``.
:func:`builder` rebuilds the builder when the binary is missing or older than its source (Debian's Go packages, offline).
"""

from __future__ import annotations

import datetime as dt
import json
import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from packaging.version import Version

from tests.support.paths import PROJECT_ROOT

EXAMPLES = PROJECT_ROOT / "examples"
TOOL_DIR = EXAMPLES / "trivydb"
BINARY = TOOL_DIR / "bin" / "trivydb"
GHSA_DIR = EXAMPLES / "advisories" / "ghsa"
TRIVY_FIXTURES = EXAMPLES / "trivy-db"
GO_ENV = {"GO111MODULE": "off", "GOPATH": "/usr/share/gocode", "GOPROXY": "off", "GOFLAGS": ""}
_GHSA_SEVERITY = {"LOW": "LOW", "MODERATE": "MEDIUM", "MEDIUM": "MEDIUM", "HIGH": "HIGH", "CRITICAL": "CRITICAL"}


class BuilderUnavailable(RuntimeError):
    """Go (or Debian's bbolt / yaml.v3 sources) is not installed: run ``make deps``."""


def builder() -> Path:
    """The builder binary, (re)built with ``go build`` when missing or stale."""
    sources = list(TOOL_DIR.glob("*.go"))
    if BINARY.is_file() and BINARY.stat().st_mtime >= max(p.stat().st_mtime for p in sources):
        return BINARY
    go = shutil.which("go")
    if go is None or not Path("/usr/share/gocode/src/go.etcd.io/bbolt").is_dir():
        raise BuilderUnavailable("go and Debian's golang-github-coreos-bbolt-dev / golang-gopkg-yaml.v3-dev "
                                 "are needed (make deps installs them)")
    BINARY.parent.mkdir(exist_ok=True)
    tmp = BINARY.with_name(f".trivydb.{os.getpid()}")
    proc = subprocess.run([go, "build", "-o", str(tmp), "."], cwd=TOOL_DIR, capture_output=True, text=True,
                          env={**os.environ, **GO_ENV}, timeout=300)
    if proc.returncode != 0:
        raise RuntimeError(f"go build of the Trivy DB builder failed: {proc.stderr[-2000:]}")
    tmp.replace(BINARY)
    return BINARY


def build_db(out: Path, *, updated_at: dt.datetime | None = None, ghsa: Path = GHSA_DIR,
             fixtures: Path | None = TRIVY_FIXTURES) -> Path:
    """Write ``out/trivy.db`` + ``out/metadata.json`` from the advisories (and Trivy's fixtures)."""
    argv = [str(builder()), "-out", str(out), "-ghsa", str(ghsa)]
    if fixtures is not None:
        argv += ["-fixtures", str(fixtures)]
    if updated_at is not None:
        argv += ["-updated-at", updated_at.astimezone(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")]
    subprocess.run(argv, check=True, capture_output=True, timeout=120)
    return out


def install_db(db_dir: Path, cache_dir: Path) -> Path:
    """Copy a built DB to where Trivy reads it: ``<cache_dir>/db/``."""
    (cache_dir / "db").mkdir(parents=True, exist_ok=True)
    for name in ("trivy.db", "metadata.json"):
        shutil.copy2(db_dir / name, cache_dir / "db" / name)
    return cache_dir


# ---------------------------------------------------------------------------------------
# what Trivy must report, from the advisory files
# ---------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Expected:
    id: str
    package: str
    installed: str
    severity: str
    fixed: str


def pypi_name(name: str) -> str:
    return name.lower().replace("_", "-")


def _in_range(version: Version, events: list[dict]) -> bool:
    lo = Version(next((e["introduced"] for e in events if "introduced" in e), "0"))
    fixed = next((e["fixed"] for e in events if "fixed" in e), None)
    last = next((e["last_affected"] for e in events if "last_affected" in e), None)
    if version < lo:
        return False
    if fixed is not None:
        return version < Version(fixed)
    if last is not None:
        return version <= Version(last)
    return True


def expected_findings(pins: dict[str, str], ecosystem: str = "PyPI") -> set[Expected]:
    """Every (advisory, package) of ``GHSA_DIR`` whose ranges contain the pinned version.

    The id is the CVE alias when there is one (else the GHSA id), the severity GitHub's
    ``database_specific.severity``, the fixed versions every ``fixed`` event of the package's
    affected entries, joined by ", " in file order (how Trivy prints PatchedVersions).
    """
    out = set()
    pins = {pypi_name(k): v for k, v in pins.items()}
    for path in sorted(GHSA_DIR.glob("*.json")):
        adv = json.loads(path.read_text())
        vid = next((a for a in adv.get("aliases", []) if a.startswith("CVE-")), adv["id"])
        severity = _GHSA_SEVERITY[adv["database_specific"]["severity"].upper()]
        by_package: dict[str, list[list[dict]]] = {}
        for aff in adv["affected"]:
            if aff["package"]["ecosystem"] != ecosystem:
                continue
            by_package.setdefault(pypi_name(aff["package"]["name"]), []).extend(
                r["events"] for r in aff.get("ranges", []) if r["type"] == "ECOSYSTEM")
        for name, ranges in by_package.items():
            if name not in pins:
                continue
            version = Version(pins[name])
            if any(_in_range(version, events) for events in ranges):
                fixed = ", ".join(e["fixed"] for events in ranges for e in events if "fixed" in e)
                out.add(Expected(vid, name, pins[name], severity, fixed))
    return out


def pins_of(requirements: Path) -> dict[str, str]:
    pins = {}
    for line in requirements.read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if "==" in line:
            name, version = line.split("==", 1)
            pins[name.strip()] = version.strip()
    return pins

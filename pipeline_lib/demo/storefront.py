"""The two storefront builds ``gantry demo`` runs: a pull request that pins a vulnerable
dependency, and main with the fixed version.

PR change: ``requests==2.32.3`` → ``requests==2.19.1`` in ``requirements.txt``. With the test
Trivy DB (built from ``examples/advisories/ghsa``) the PR build must report, for
requests 2.19.1:

- CVE-2018-18074 (GHSA-x84v-xcm2-53pg), HIGH, fixed in 2.20.0 — blocks the gate (fail_on HIGH);
- CVE-2023-32681 (GHSA-j8r2-6x86-q33q), MEDIUM, fixed in 2.31.0;
- CVE-2024-35195 (GHSA-9wx4-h78v-vm56), MEDIUM, fixed in 2.32.0.

Main keeps the example's pins (each at or above every advisory's fixed version): no finding,
the gate passes. ``tests/trivy`` checks both against the advisory files themselves.
"""

from __future__ import annotations

import difflib
import re
import shutil
from dataclasses import dataclass
from pathlib import Path

from pipeline_lib.core.errors import GantryError
from pipeline_lib.core.fileio import write_atomic
from pipeline_lib.core.process import run
from pipeline_lib.image.registry import RegistryClient
from pipeline_lib.image.trivydb import DbMetadata, parse_ref, push_db

REQUIREMENTS = "requirements.txt"
PR_PACKAGE = "requests"
PR_VERSION = "2.19.1"
#: what the PR build's report must name (see the module docstring; derived from the GHSA files)
PR_EXPECTED_IDS = ("CVE-2018-18074", "CVE-2023-32681", "CVE-2024-35195")
PR_BLOCKING_IDS = ("CVE-2018-18074",)
_IGNORE = shutil.ignore_patterns("__pycache__", ".pytest_cache", "site-packages", "*.pyc")


@dataclass(frozen=True)
class Variant:
    """One build of the storefront: its source tree and the branch it stands for."""

    name: str        # "pr" | "main"
    branch: str
    source: Path
    expect_blocked: bool


@dataclass(frozen=True)
class Variants:
    pr: Variant
    main: Variant
    diff: str        # the PR's change to requirements.txt (unified diff)
    package: str
    vulnerable: str  # the version the PR pins
    fixed: str       # the version main pins

    def __iter__(self):
        return iter((self.pr, self.main))


def pin_version(requirements: Path, package: str, version: str) -> tuple[str, str]:
    """Rewrite ``package==…`` in ``requirements`` to ``version`` → (old text, new text)."""
    old = requirements.read_text(encoding="utf-8")
    pattern = re.compile(rf"^({re.escape(package)}\s*==\s*)(\S+)", re.I | re.M)
    if not pattern.search(old):
        raise GantryError(str(requirements), f"no {package}==… pin to change")
    new = pattern.sub(lambda m: m.group(1) + version, old, count=1)
    write_atomic(requirements, new)
    return old, new


def prepare_variants(workdir: Path, source: Path) -> Variants:
    """Copy ``source`` (examples/storefront) to ``workdir/variants/{main,pr}``; pin the PR's
    requests at the vulnerable version. Returns both trees and the PR's diff."""
    source = Path(source)
    if not (source / REQUIREMENTS).is_file():
        raise GantryError(str(source), f"no {REQUIREMENTS}: not the storefront example")
    base = Path(workdir) / "variants"
    trees = {}
    for name in ("main", "pr"):
        dest = base / name
        shutil.rmtree(dest, ignore_errors=True)
        shutil.copytree(source, dest, ignore=_IGNORE)
        trees[name] = dest
    fixed = re.search(rf"^{PR_PACKAGE}\s*==\s*(\S+)", (source / REQUIREMENTS).read_text(), re.I | re.M)
    if fixed is None:
        raise GantryError(str(source / REQUIREMENTS), f"no {PR_PACKAGE}==… pin")
    old, new = pin_version(trees["pr"] / REQUIREMENTS, PR_PACKAGE, PR_VERSION)
    diff = "".join(difflib.unified_diff(old.splitlines(True), new.splitlines(True),
                                        f"a/{REQUIREMENTS}", f"b/{REQUIREMENTS}"))
    return Variants(Variant("pr", "pr/pin-requests", trees["pr"], True),
                    Variant("main", "main", trees["main"], False), diff, PR_PACKAGE, PR_VERSION, fixed.group(1))


#: The example Trivy DB builder (``make trivydb``) and its inputs, relative to the gantry checkout
#: (all under ``examples/``; the tests build their DB from the same files).
DB_BUILDER = Path("examples/trivydb/bin/trivydb")
DB_INPUTS = {"-ghsa": Path("examples/advisories/ghsa"), "-fixtures": Path("examples/trivy-db")}
DB_REPOSITORY = "aquasecurity/trivy-db"


def publish_demo_db(workdir: Path, registry_host: str, project_root: Path) -> tuple[str, DbMetadata]:
    """Build the demo's Trivy DB from the real advisory files (``examples/trivydb``) and push it
    to ``registry_host`` as Trivy's OCI artifact → (``--db-repository`` reference, metadata).

    Raises GantryError when the builder is missing (``make trivydb`` builds it) or fails.
    """
    binary = project_root / DB_BUILDER
    if not binary.is_file():
        raise GantryError(str(binary), "the Trivy DB builder is missing: run 'make trivydb'")
    out = Path(workdir) / "trivy-db"
    argv = [str(binary), "-out", str(out)]
    for flag, rel in DB_INPUTS.items():
        argv += [flag, str(project_root / rel)]
    run(argv, timeout=300, check=True, what="trivy-db builder")
    ref = parse_ref(f"{registry_host}/{DB_REPOSITORY}:2")
    _digest, meta = push_db(RegistryClient(registry_host), ref, out)
    return str(ref), meta

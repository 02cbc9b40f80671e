"""Re-scanning what already runs: an image's CycloneDX SBOM (or, without one, the image itself)
scanned for vulnerabilities with today's DB — ``gantry watch``'s scanner, named here so that
``pipeline_lib`` names no tool (``tests/test_scanner_names.py``).

Trivy does both (``trivy sbom``, ``trivy image --scanners vuln`` + its CycloneDX SBOM); the
outcome records the DB's ``UpdatedAt`` so the gate checks its age (:mod:`scanners.dbage`).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from . import trivy
from .base import ScanOutcome
from .dbage import VulnDbSettings

if TYPE_CHECKING:
    from pipeline_lib.core.settingsmodel import Settings

#: the SBOM file an image scan leaves next to its report
SBOM_NAME = trivy.SBOM_NAME
#: the tool whose findings a re-scan reports (the policy's rules for it apply)
TOOL = trivy.TOOL


def tool_options(settings: Settings | None, *, skip_db_update: bool = False) -> dict[str, Any]:
    """The scanner's binary and cache directory from the settings the CLI read, plus
    ``skip_db_update`` (use the DB already in the cache; its age is still checked)."""
    opts = trivy.from_settings(settings) if settings is not None else {}
    if skip_db_update:
        opts["skip_db_update"] = True
    return opts


def scan_sbom(sbom: Path, out_dir: Path, db: VulnDbSettings, **opts: Any) -> ScanOutcome:
    """Vulnerabilities of the packages ``sbom`` lists → ``out_dir``'s report, the DB pulled from
    ``db``'s mirror (outcome "error" when the scan fails: never a pass). ``opts``: :func:`tool_options`."""
    return trivy.run_sbom(sbom, out_dir, **db.trivy_options(), **opts)


def scan_image(reference: str, out_dir: Path, db: VulnDbSettings, **opts: Any) -> ScanOutcome:
    """Pull ``reference`` (``host/repo@digest``), scan it for vulnerabilities and write its SBOM
    (``out_dir/SBOM_NAME``) too."""
    return trivy.run_image(reference, out_dir, scanners=("vuln",), sbom=True, **db.trivy_options(), **opts)

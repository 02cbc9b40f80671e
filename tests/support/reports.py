"""The real scanner files under ``tests/fixtures``, sorted into findings reports and API responses.

Derived from the files themselves, so adding a real fixture never needs a test edited.
"""

from __future__ import annotations

import json
from pathlib import Path

from .paths import FIXTURES

SCANNER_DIRS = ("trivy", "dependency-check", "sonarqube")


def scanner_files() -> list[Path]:
    return sorted(p for d in SCANNER_DIRS for p in (FIXTURES / d).iterdir() if p.is_file())


def is_api_status(path: Path) -> bool:
    """A SonarQube Web API status response (api/ce/task, api/qualitygates/project_status):
    a real file from the tool's world that carries no findings."""
    if path.suffix != ".json":
        return False
    doc = json.loads(path.read_text())
    return isinstance(doc, dict) and ("task" in doc or "projectStatus" in doc) and not {"issues", "hotspots"} & set(doc)


def findings_reports() -> list[Path]:
    return [p for p in scanner_files() if not is_api_status(p)]


def api_status_files() -> list[Path]:
    return [p for p in scanner_files() if is_api_status(p)]

"""The catalog's fixed vocabulary, importable without loading YAML: the environment names a
catalog may define and the default catalog path (relative to the working directory)."""

from __future__ import annotations

from pathlib import Path

DEFAULT_CATALOG = Path("jobs/catalog.yaml")
ENVIRONMENT_NAMES = ("dev", "prod", "event")

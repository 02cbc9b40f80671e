"""The shipped catalog for tests that are not about signed evidence.

A catalog with no ``signing:`` section requires evidence in prod and event (issue 23's default),
and the shipped ``jobs/catalog.yaml`` lists no trusted key (the shop's KMS key is not here), so a
test that bumps, promotes or fails over prod/event for another reason uses a copy that opts out
explicitly, the way a catalog must (``signing: {<env>: {evidence: off}}``).
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from pipeline_lib.core.catalog import Catalog, SigningPolicy, load_catalog

from .paths import PROJECT_ROOT

SHIPPED = PROJECT_ROOT / "jobs" / "catalog.yaml"
_OFF = "\n    signing:\n      prod: {evidence: off}\n      event: {evidence: off}\n"


def evidence_off(catalog: Catalog) -> Catalog:
    """``catalog`` with evidence ``off`` in prod and event (dev keeps its default, warn)."""
    signing = dict(catalog.signing or {})
    for env in ("prod", "event"):
        signing[env] = SigningPolicy(env, "off")
    return replace(catalog, signing=signing)


def shipped_evidence_off(directory: Path) -> Path:
    """A copy of ``jobs/catalog.yaml`` in ``directory`` with the opt-out appended; its path."""
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / "catalog.yaml"
    path.write_text(SHIPPED.read_text(encoding="utf-8").rstrip("\n") + "\n" + _OFF, encoding="utf-8")
    load_catalog(path)   # still a valid catalog
    return path

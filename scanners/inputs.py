"""Reading the gate's inputs: report files, ``<tool>.outcome.json`` files and a baseline.

This is the I/O half of the gate (:mod:`scanners.gate` is the pure half). Problems with the
inputs do not raise: they are collected in :attr:`GateInputs.errors` so the verdict is "cannot
evaluate" (exit 2) and the reports still explain why. Two rules decide what a missing file means:

- a report file that does not exist, named as the report of a scanner whose outcome says
  ``skipped`` (``sonarqube.json`` when SonarQube is not configured), is no error: the skip is
  already in the verdict, and whether that tool was *required* is the policy's call;
- every other missing or unreadable report is an input error.
"""

from __future__ import annotations

import contextlib
import gc
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from pipeline_lib.core.errors import GantryError

from .base import SBOM_SUFFIX, ParsedReport, ScanOutcome
from .baseline import BaselineFingerprints, read_baseline
from .registry import parse_report, report_names


@dataclass
class GateInputs:
    """Everything :func:`scanners.gate.evaluate` needs, read from disk."""

    parsed: list[ParsedReport] = field(default_factory=list)
    outcomes: list[ScanOutcome] = field(default_factory=list)
    baseline: set[str] | None = None
    baseline_source: str | None = None
    errors: list[str] = field(default_factory=list)


def load_baseline(path: Path) -> BaselineFingerprints:
    """The baseline's fingerprints: :func:`scanners.baseline.read_baseline` (the one reader of
    ``findings.json``; this name stays for existing callers)."""
    return read_baseline(path)


def read_outcomes(directory: Path) -> list[ScanOutcome]:
    """Every ``<tool>.outcome.json`` in ``directory`` (sorted by name); a bad one raises."""
    if not Path(directory).is_dir():
        raise GantryError(str(directory), "not a directory (expected <tool>.outcome.json files)")
    return [ScanOutcome.read(p) for p in sorted(Path(directory).glob("*.outcome.json"))]


def outcome_reports(outcomes: Sequence[ScanOutcome]) -> list[Path]:
    """The findings reports of the scanners that ran ("ok"), SBOMs left out."""
    return [Path(p) for o in outcomes if o.status == "ok" for p in o.reports if not str(p).endswith(SBOM_SUFFIX)]


def _skipped_report(path: Path, outcomes: Sequence[ScanOutcome]) -> bool:
    skipped = {o.tool for o in outcomes if o.status == "skipped"}
    names = report_names()
    return not path.exists() and any(path.name == names.get(tool) for tool in skipped)


def read_inputs(reports: Sequence[Path], outcomes: Sequence[ScanOutcome] = (), *, baseline: Path | None = None,
                licenses: bool = False, report_format: str | None = None) -> GateInputs:
    """Parse ``reports`` (or, when none are given, the reports of the "ok" ``outcomes``)."""
    inputs = GateInputs(outcomes=list(outcomes))
    paths = list(dict.fromkeys(Path(p) for p in (reports or outcome_reports(inputs.outcomes))))
    for p in paths:
        if _skipped_report(p, inputs.outcomes):
            continue
        try:
            inputs.parsed.append(parse_report(p, licenses=licenses, format=report_format))
        except GantryError as exc:
            inputs.errors.append(str(exc))
    if baseline is not None:
        inputs.baseline_source = str(baseline)
        try:
            inputs.baseline = load_baseline(baseline)
        except GantryError as exc:
            inputs.errors.append(str(exc))
    return inputs


@contextlib.contextmanager
def no_cyclic_gc() -> Iterator[None]:
    """Pause the cyclic GC: parsing makes many long-lived small objects and no cycles."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()

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
import json
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from pipeline_lib.core.errors import GantryError

from .base import ParsedReport, ScanOutcome
from .baseline import BaselineFingerprints
from .registry import parse_report, report_names

MAX_BASELINE_BYTES = 512 * 1024 * 1024
SBOM_SUFFIX = ".cdx.json"


@dataclass
class GateInputs:
    """Everything :func:`scanners.gate.evaluate` needs, read from disk."""

    parsed: list[ParsedReport] = field(default_factory=list)
    outcomes: list[ScanOutcome] = field(default_factory=list)
    baseline: set[str] | None = None
    baseline_source: str | None = None
    errors: list[str] = field(default_factory=list)


def load_baseline(path: Path) -> BaselineFingerprints:
    """Fingerprints from a previous ``findings.json`` (array, or ``{"findings": [...]}``): a set,
    with the fingerprint scheme and tool of its rows (see :class:`scanners.baseline.BaselineFingerprints`).

    Raises :class:`GantryError` naming the file when it is missing, empty, too large or malformed.
    """
    where = str(path)
    try:
        size = Path(path).stat().st_size
        if size > MAX_BASELINE_BYTES:
            raise GantryError(where, "baseline is too large")
        if size == 0:
            raise GantryError(where, "empty baseline file")
        with open(path, encoding="utf-8") as fh:
            data = json.load(fh)
    except FileNotFoundError:
        raise GantryError(where, "no such file") from None
    except UnicodeDecodeError:
        raise GantryError(where, "baseline is not UTF-8 text") from None
    except json.JSONDecodeError as exc:
        raise GantryError(where, f"baseline is not valid JSON ({exc.msg} at character {exc.pos})") from None
    except OSError as exc:
        raise GantryError(where, f"cannot read: {exc.strerror or exc}") from None
    items = data.get("findings") if isinstance(data, dict) else data
    if not isinstance(items, list):
        raise GantryError(where, "baseline must be a findings.json array")
    fps = BaselineFingerprints()
    for i, item in enumerate(items):
        if not isinstance(item, dict) or not isinstance(item.get("fingerprint"), str):
            raise GantryError(where, f"baseline entry {i} has no fingerprint")
        fps.add_row(item)
    return fps


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

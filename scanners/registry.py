"""The scanner registry: the one list of scanners, and the report formats they parse.

:data:`SCANNERS` maps each tool name to the module that implements it (the :class:`Scanner`
protocol of :mod:`scanners.base`: ``TOOL``, ``REPORT_NAME``, ``run(src, out, **opts)``,
``parse(path)``). Adding a scanner is one module plus one line here; the CLI's choices, the
gate's report names and the demo read this list, never their own copy. Modules are imported on
first use, so ``gantry --help`` does not pay for them.

Each scanner module registers its report formats with :func:`register`. A format is ``(name, tool, sniff, parse)``. ``sniff`` looks at the first 64 KiB of the file
(decoded text); the first registered format whose sniff matches wins. An unknown, empty or
binary file is a :class:`GantryError` naming the file.
"""

from __future__ import annotations

import importlib
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from pipeline_lib.core.errors import GantryError

from .base import ParsedReport, Scanner

HEAD_BYTES = 64 * 1024
MAX_REPORT_BYTES = 2 * 1024 * 1024 * 1024
#: tool name → module: the only list of scanners.
SCANNERS: dict[str, str] = {
    "trivy": "scanners.trivy",
    "dependency-check": "scanners.dependency_check",
    "sonarqube": "scanners.sonarqube",
    "checkov": "scanners.checkov",
}
SCANNER_MODULES = tuple(SCANNERS.values())


@dataclass(frozen=True)
class ParseOptions:
    licenses: bool = False


@dataclass(frozen=True)
class ReportFormat:
    name: str
    tool: str
    sniff: Callable[[str], bool]
    parse: Callable[[Path, ParseOptions], ParsedReport]


FORMATS: dict[str, ReportFormat] = {}
#: files a scanner's tooling writes that are *not* findings reports: (sniff, what it is)
NOT_REPORTS: list[tuple[Callable[[str], bool], str]] = []


def register(name: str, tool: str, sniff: Callable[[str], bool]):
    """Decorator: register ``parse(path, options) -> ParsedReport`` as format ``name``."""

    def deco(func: Callable[[Path, ParseOptions], ParsedReport]):
        FORMATS[name] = ReportFormat(name, tool, sniff, func)
        return func

    return deco


def register_not_report(sniff: Callable[[str], bool], what: str) -> None:
    """Recognise a file that is no findings report (e.g. an API status response) and say what it is."""
    NOT_REPORTS.append((sniff, what))


def _load() -> None:
    for mod in SCANNER_MODULES:
        importlib.import_module(mod)


def tool_names() -> tuple[str, ...]:
    """Every registered scanner, in registration order (no module is imported)."""
    return tuple(SCANNERS)


def scanner(tool: str) -> Scanner:
    """The module implementing ``tool``; an unknown name is a :class:`GantryError`."""
    if tool not in SCANNERS:
        raise GantryError("scanner", f"unknown scanner {tool!r} (known: {', '.join(SCANNERS)})")
    return importlib.import_module(SCANNERS[tool])  # type: ignore[return-value]


def report_names() -> dict[str, str]:
    """tool → the file name its ``run`` writes its findings report as."""
    return {tool: scanner(tool).REPORT_NAME for tool in SCANNERS}


def format_names() -> list[str]:
    _load()
    return list(FORMATS)


def read_head(path: Path) -> str:
    """Check the file is a readable, non-empty text file and return its first 64 KiB."""
    where = str(path)
    try:
        st = os.stat(path)
    except FileNotFoundError:
        raise GantryError(where, "no such file") from None
    except OSError as exc:
        raise GantryError(where, f"cannot read: {exc.strerror or exc}") from None
    if not Path(path).is_file():
        raise GantryError(where, "not a regular file")
    if st.st_size == 0:
        raise GantryError(where, "empty file (the scanner wrote nothing)")
    if st.st_size > MAX_REPORT_BYTES:
        raise GantryError(where, f"file is {st.st_size} bytes, over the {MAX_REPORT_BYTES} byte limit")
    try:
        with open(path, "rb") as fh:
            head = fh.read(HEAD_BYTES)
    except OSError as exc:
        raise GantryError(where, f"cannot read: {exc.strerror or exc}") from None
    if b"\x00" in head:
        raise GantryError(where, "binary data, not a scan report")
    text = head.decode("utf-8", errors="ignore").lstrip("\ufeff \t\r\n")
    if not text:
        raise GantryError(where, "empty file (only whitespace)")
    return text


def detect(path: Path, head: str | None = None) -> ReportFormat:
    """The registered format whose sniff matches the start of ``path``.

    The formats of the scanner modules already imported are tried first (e.g. trivy's after
    ``gantry scan trivy``): the first match among them is the one the full, ordered list would
    give too (they precede the rest in :data:`FORMATS`). Only without a match are the other
    modules imported and every format tried.
    """
    head = read_head(path) if head is None else head
    for fmt in FORMATS.values():
        if fmt.sniff(head):
            return fmt
    _load()
    for fmt in FORMATS.values():
        if fmt.sniff(head):
            return fmt
    for sniff, what in NOT_REPORTS:
        if sniff(head):
            raise GantryError(str(path), f"{what}, not a findings report")
    raise GantryError(str(path), "unknown report format (not a Trivy JSON/SARIF, CycloneDX, "
                                 "Dependency-Check JSON/XML or SonarQube report)")


def parse_report(path: Path, *, format: str | None = None, licenses: bool = False) -> ParsedReport:
    """Parse one report file into normalized findings (format detected unless given)."""
    path = Path(path)
    head = read_head(path)
    if format:
        _load()
        fmt = FORMATS.get(format)
        if fmt is None:
            raise GantryError(str(path), f"unknown format {format!r} (known: {', '.join(FORMATS)})")
    else:
        fmt = detect(path, head)
    try:
        return fmt.parse(path, ParseOptions(licenses=licenses))
    except GantryError:
        raise
    except UnicodeDecodeError as exc:
        raise GantryError(str(path), f"not UTF-8 text ({exc.reason})") from None
    except RecursionError:
        raise GantryError(str(path), "nested too deeply") from None
    except (ValueError, TypeError, KeyError, AttributeError, IndexError) as exc:
        raise GantryError(str(path), f"malformed {fmt.name} report ({type(exc).__name__}: {exc})"[:300]) from None
    except OSError as exc:
        raise GantryError(str(path), f"cannot read: {exc.strerror or exc}") from None


def parse_reports(paths: list[Path], *, licenses: bool = False) -> list[ParsedReport]:
    return [parse_report(p, licenses=licenses) for p in paths]

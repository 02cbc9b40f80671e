"""Report formats: each scanner module registers its parsers here; detection picks one by content.

A format is ``(name, tool, sniff, parse)``. ``sniff`` looks at the first 64 KiB of the file
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

from .base import ParsedReport

HEAD_BYTES = 64 * 1024
MAX_REPORT_BYTES = 2 * 1024 * 1024 * 1024
SCANNER_MODULES = ("scanners.trivy", "scanners.dependency_check", "scanners.sonarqube")


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


def register(name: str, tool: str, sniff: Callable[[str], bool]):
    """Decorator: register ``parse(path, options) -> ParsedReport`` as format ``name``."""

    def deco(func: Callable[[Path, ParseOptions], ParsedReport]):
        FORMATS[name] = ReportFormat(name, tool, sniff, func)
        return func

    return deco


def _load() -> None:
    for mod in SCANNER_MODULES:
        importlib.import_module(mod)


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
    """The registered format whose sniff matches the start of ``path``."""
    _load()
    head = read_head(path) if head is None else head
    for fmt in FORMATS.values():
        if fmt.sniff(head):
            return fmt
    raise GantryError(str(path), "unknown report format (not a Trivy JSON/SARIF, CycloneDX, "
                                 "Dependency-Check JSON/XML or SonarQube report)")


def parse_report(path: Path, *, format: str | None = None, licenses: bool = False) -> ParsedReport:
    """Parse one report file into normalized findings (format detected unless given)."""
    _load()
    path = Path(path)
    head = read_head(path)
    if format:
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

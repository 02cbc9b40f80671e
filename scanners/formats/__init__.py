"""Report writers: one module per format, each ``FILENAME`` + ``render(verdict) -> str``.

:func:`write_all` renders every format from one :class:`~scanners.gate.Verdict` and writes them
atomically: ``report.md`` (the PR comment), ``report.sarif``, ``junit.xml``, ``report.html``,
``findings.json`` and ``verdict.json`` (the machine summary ``gantry pr-report`` reads).
"""

from __future__ import annotations

import importlib
import re
from pathlib import Path

from pipeline_lib.core.fileio import write_atomic

WRITER_MODULES = ("markdown", "sarif", "junit", "html", "json")
_XML_BAD = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")


def xml_safe(text: object) -> str:
    """Text without the characters XML 1.0 cannot carry (hostile reports may contain them)."""
    return _XML_BAD.sub("\ufffd", "" if text is None else str(text))


def writers() -> list:
    return [importlib.import_module(f"{__name__}.{m}") for m in WRITER_MODULES]


def render_all(verdict) -> dict[str, str]:
    out: dict[str, str] = {}
    for mod in writers():
        out.update(mod.render_files(verdict) if hasattr(mod, "render_files") else {mod.FILENAME: mod.render(verdict)})
    return out


def write_all(verdict, out_dir: Path) -> dict[str, Path]:
    """Write every report for ``verdict`` into ``out_dir``; returns file name → path."""
    out_dir = Path(out_dir)
    return {name: write_atomic(out_dir / name, text) for name, text in render_all(verdict).items()}

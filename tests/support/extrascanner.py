"""A scanner added the documented way (one module + one ``scanners.registry.SCANNERS`` line),
for tests that show nothing outside ``scanners/`` needs to know it: ``gantry scan`` grows its
option group, the scan stage runs it on a source tree or an image archive, ``gantry findings``
and the gate read its report.

Its "scan" is real work, not a stand-in for gantry code: it lists the files of the subject
(every file under the source tree; the entries of the image layout's ``index.json``) and reports
one LOW finding per file whose name contains ``--extra-word``. A test adds it with
``monkeypatch.setitem(registry.SCANNERS, TOOL, __name__)`` on a copy of ``registry.FORMATS``.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

from pipeline_lib.core.fileio import write_atomic
from scanners.base import Finding, ParsedReport, ScanOutcome, fingerprint
from scanners.options import IMAGE_ARCHIVE, SOURCE, Option
from scanners.registry import ParseOptions, register

TOOL = "extra-lint"
REPORT_NAME = "extra-lint.json"
MARK = "extra-lint/1"
SUBJECTS = (SOURCE, IMAGE_ARCHIVE)
IMAGE_ARCHIVES = ("oci-layout",)        # reads layout directories only: an OCI archive is unpacked for it
OPTIONS = (
    Option("--extra-word", "word", "report files whose name contains WORD", default="secret", metavar="WORD"),
    Option("--extra-max", "max_files", "stop after this many files", kind="number", default=1000.0),
    Option("--extra-kinds", "kinds", "finding kinds to report", kind="list", default=("file",)),
    Option("--extra-quiet", "quiet", "report nothing", kind="switch", default=False),
)


def to_options(values: dict[str, Any]) -> dict[str, Any]:
    values["max_files"] = int(values["max_files"])
    return values


def _write(out_dir: Path, subject: str, names: list[str], word: str, quiet: bool, start: float) -> ScanOutcome:
    out_dir.mkdir(parents=True, exist_ok=True)
    hits = [] if quiet else [n for n in names if word in Path(n).name]
    report = out_dir / REPORT_NAME
    write_atomic(report, json.dumps({"format": MARK, "subject": subject, "files": len(names), "hits": hits}))
    return ScanOutcome(TOOL, "ok", [report], "", time.monotonic() - start)


def run(project_dir: Path, out_dir: Path, *, word: str = "secret", max_files: int = 1000,
        kinds: tuple[str, ...] = ("file",), quiet: bool = False, timeout: float = 60) -> ScanOutcome:
    start = time.monotonic()
    names = sorted(str(p.relative_to(project_dir)) for p in Path(project_dir).rglob("*") if p.is_file())
    return _write(out_dir, str(project_dir), names[:max_files], word, quiet, start)


def run_image(image: str, out_dir: Path, *, input_tar: Path | None = None, word: str = "secret",
              max_files: int = 1000, kinds: tuple[str, ...] = ("file",), quiet: bool = False,
              timeout: float = 60) -> ScanOutcome:
    start = time.monotonic()
    if input_tar is None or not (input_tar / "oci-layout").is_file():
        return ScanOutcome(TOOL, "error", [], f"{input_tar}: not an OCI layout directory", 0.0)
    index = json.loads((input_tar / "index.json").read_text())
    names = [m["digest"] for m in index["manifests"]]
    return _write(out_dir, "layout", names[:max_files], word, quiet, start)


@register("extra-lint-json", TOOL, lambda head: head.startswith('{"format": "' + MARK + '"'),
          label="extra-lint JSON")
def parse_json(path: Path, options: ParseOptions = ParseOptions()) -> ParsedReport:
    doc = json.loads(Path(path).read_text())
    return ParsedReport(Path(path), TOOL, "extra-lint-json",
                        [Finding(TOOL, "misconfiguration", "EXTRA-1", "LOW", f"{name} names the word",
                                 fingerprint(TOOL, name), target=name) for name in doc["hits"]])


def parse(path: Path, **opts: Any) -> ParsedReport:
    return parse_json(path)

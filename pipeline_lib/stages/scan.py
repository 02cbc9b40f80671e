"""The ``Analysis`` and ``Trivy`` stages: run one registered scanner, write its report and outcome.

Jenkinsfile: ``gantry scan sonarqube|dependency-check --src . --out "$REPORTS/scans"`` and
``gantry scan trivy --src . --input image.oci.tar --scanners vuln,secret --out "$REPORTS/scans"``.

The outcome file (``<tool>.outcome.json``) is the evidence the gate reads: ``ok`` (reports
written and readable), ``skipped`` (not configured, with the reason) or ``error``. A report the
scanner wrote but gantry cannot read turns an ``ok`` into an ``error``: no unreadable evidence
reaches the gate as a pass.
"""

from __future__ import annotations

import tempfile
import tarfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pipeline_lib.core.errors import GantryError
from scanners.base import ScanOutcome
from scanners.inputs import SBOM_SUFFIX
from scanners.registry import parse_report, scanner

from . import FAILED, PASSED, SKIPPED, StageResult

_STATUS = {"ok": PASSED, "skipped": SKIPPED, "error": FAILED}


@dataclass(frozen=True)
class ScanOptions:
    """One scanner run: ``tool`` (a name from :data:`scanners.registry.SCANNERS`), the source
    tree, the output directory, and the tool's own options (e.g. trivy's ``scanners``,
    ``db_repository``; see each scanner module's ``run``)."""

    tool: str
    src: Path
    out: Path
    timeout: float | None = None
    image: str | None = None          # trivy: scan this image reference instead of src
    input: Path | None = None         # trivy: image archive (OCI archive tar, OCI layout dir or docker-archive)
    options: dict[str, Any] = field(default_factory=dict)


def _is_oci_archive(path: Path) -> bool:
    try:
        with tarfile.open(path) as tar:
            return any(m.name.lstrip("./") == "oci-layout" for m in tar)   # stops at the first match
    except (tarfile.TarError, OSError):
        return False


def _run(opts: ScanOptions, tmp: Path) -> ScanOutcome:
    mod = scanner(opts.tool)
    kwargs = dict(opts.options)
    if opts.timeout is not None:
        kwargs["timeout"] = opts.timeout
    if opts.image or opts.input:
        if opts.tool != "trivy":
            raise GantryError("scan", f"--image/--input are trivy options, not {opts.tool}'s")
        subject = opts.input
        if subject is not None and subject.is_file() and _is_oci_archive(subject):
            # trivy image --input reads an OCI layout directory or a docker-archive, not an OCI archive
            from pipeline_lib.image.copy import extract_archive   # imports the registry client (requests)
            subject = extract_archive(subject, tmp / "layout").root
        return mod.run_image(opts.image or "", opts.out, input_tar=subject, **kwargs)
    return mod.run(opts.src, opts.out, **kwargs)


def run(opts: ScanOptions) -> StageResult:
    """Run the scanner; write ``<out>/<tool>.outcome.json``; passed / skipped / failed."""
    if opts.timeout is not None and opts.timeout <= 0:
        raise GantryError("--timeout", "must be positive")
    try:
        opts.out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise GantryError(str(opts.out), f"cannot create: {exc.strerror or exc}") from None
    if not opts.src.is_dir():
        raise GantryError(str(opts.src), "not a directory")
    with tempfile.TemporaryDirectory(prefix="gantry-scan-") as tmp:
        outcome = _run(opts, Path(tmp))
    findings = 0
    if outcome.status == "ok":
        try:
            findings = sum(len(parse_report(p).findings) for p in outcome.reports
                           if not str(p).endswith(SBOM_SUFFIX))
        except GantryError as exc:
            outcome = ScanOutcome(outcome.tool, "error", outcome.reports, f"unreadable report: {exc}",
                                  outcome.duration)
    outcome.write(opts.out)
    detail = (f"{findings} findings in {outcome.duration:.1f}s" if outcome.status == "ok" else outcome.reason)
    return StageResult(opts.tool, _STATUS[outcome.status], detail,
                       data={"outcome": outcome.status, "reports": [str(p) for p in outcome.reports],
                             "findings": findings, "reason": outcome.reason,
                             "seconds": round(outcome.duration, 3)})

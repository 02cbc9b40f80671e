"""The ``Analysis`` and ``Trivy`` stages: run one registered scanner, write its report and outcome.

Jenkinsfile: ``gantry scan sonarqube|dependency-check --src . --out "$REPORTS/scans"`` and
``gantry scan trivy --src . --input image.oci.tar --scanners vuln,secret --out "$REPORTS/scans"``.

The outcome file (``<tool>.outcome.json``) is the evidence the gate reads: ``ok`` (reports
written and readable), ``skipped`` (not configured, with the reason) or ``error``. A report the
scanner wrote but gantry cannot read turns an ``ok`` into an ``error``: no unreadable evidence
reaches the gate as a pass.

The stage names no scanner: what a tool can scan (a source tree, an image reference, an image
archive) and which archive forms it reads are its module's declarations
(:mod:`scanners.options`, read through :mod:`scanners.registry`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
TYPE_CHECKING = False   # typing's, without importing typing (~3 ms of a `gantry scan`'s start-up)
if TYPE_CHECKING:
    from typing import Any

from pipeline_lib.core.errors import GantryError
from pipeline_lib.core.settingsmodel import Settings
from scanners.base import SBOM_SUFFIX, ScanOutcome
from scanners.options import IMAGE_ARCHIVE, IMAGE_REFERENCE, SOURCE, SUBJECT_LABELS
from scanners.registry import image_archives, parse_report, scanner, subjects, tools_for
from scanners.registry import settings_options as registry_settings_options

from . import FAILED, PASSED, SKIPPED, StageResult

_STATUS = {"ok": PASSED, "skipped": SKIPPED, "error": FAILED}


@dataclass(frozen=True)
class ScanOptions:
    """One scanner run: ``tool`` (a name from :data:`scanners.registry.SCANNERS`), the source
    tree, the output directory, and the tool's own options (the keywords of its module's
    ``run``/``run_image``, e.g. from its declared ``OPTIONS`` through ``to_options``)."""

    tool: str
    src: Path
    out: Path
    timeout: float | None = None
    image: str | None = None          # scan this image reference instead of src (a tool that scans images)
    input: Path | None = None         # image archive (OCI archive tar, OCI layout dir or docker-archive)
    options: dict[str, Any] = field(default_factory=dict)


def settings_options(tool: str, settings: Settings) -> dict[str, Any]:
    """The options of ``tool``'s ``run`` that come from the settings (secrets and tool knobs; the
    scanner's own ``from_settings``), for :attr:`ScanOptions.options`; an option the command line
    gives wins over these."""
    return registry_settings_options(tool, settings)


def _is_oci_archive(path: Path) -> bool:
    import tarfile   # only for a tool that cannot read OCI archives itself: ~2 ms at start-up

    for mode in ("r:", "r:*"):   # a plain tar first: "r:*" tries (and imports) every compression first
        try:
            with tarfile.open(path, mode) as tar:
                return any(m.name.lstrip("./") == "oci-layout" for m in tar)   # stops at the first match
        except (tarfile.TarError, OSError):
            continue
    return False


def _subject(opts: ScanOptions) -> str:
    """What ``opts`` asks to scan; a tool that does not scan it is a :class:`GantryError`."""
    subject, flag = ((IMAGE_ARCHIVE, "--input") if opts.input else (IMAGE_REFERENCE, "--image") if opts.image
                     else (SOURCE, "--src"))
    if subject not in subjects(opts.tool):
        able = tools_for(subject)
        raise GantryError("scan", f"{flag}: {opts.tool} does not scan {SUBJECT_LABELS[subject]} "
                                  f"(scanners that do: {', '.join(able) or 'none'})")
    return subject


def _run(opts: ScanOptions) -> ScanOutcome:
    mod = scanner(opts.tool)
    kwargs = dict(opts.options)
    if opts.timeout is not None:
        kwargs["timeout"] = opts.timeout
    subject = _subject(opts)
    if subject == SOURCE:
        return mod.run(opts.src, opts.out, **kwargs)
    archive = opts.input
    if (archive is not None and archive.is_file() and "oci-archive" not in image_archives(opts.tool)
            and "oci-layout" in image_archives(opts.tool) and _is_oci_archive(archive)):
        # the tool reads an OCI layout directory but not an OCI archive (a tar of one): unpack it
        import tempfile

        from pipeline_lib.image.copy import extract_archive   # imports the registry client (requests)
        with tempfile.TemporaryDirectory(prefix="gantry-scan-") as tmp:
            archive = extract_archive(archive, Path(tmp) / "layout").root
            return mod.run_image(opts.image or "", opts.out, input_tar=archive, **kwargs)  # type: ignore[attr-defined]
    return mod.run_image(opts.image or "", opts.out, input_tar=archive, **kwargs)   # type: ignore[attr-defined]


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
    outcome = _run(opts)
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

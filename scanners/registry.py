"""The scanner registry: the one list of scanners, and the report formats they parse.

:data:`SCANNERS` maps each tool name to the module that implements it (the :class:`Scanner`
protocol of :mod:`scanners.base`: ``TOOL``, ``REPORT_NAME``, ``run(src, out, **opts)``,
``parse(path)``, and its declarations of :mod:`scanners.options`: ``OPTIONS``, ``SUBJECTS``,
``IMAGE_ARCHIVES``, ``to_options``). Adding a scanner is one module plus one line here; the CLI's
choices and option groups (:func:`options`), what may scan an image (:func:`tools_for`), the
gate's report names, the messages below and the demo read this list, never their own copy.
Modules are imported on first use, so ``gantry --help`` does not pay for them.

Each scanner module registers its report formats with :func:`register`. A format is ``(name,
tool, sniff, parse)`` plus a ``label`` for messages and whether it reports license findings.
``sniff`` looks at the first 64 KiB of the file (decoded text); the first registered format whose
sniff matches wins. An unknown, empty or binary file is a :class:`GantryError` naming the file.
"""

from __future__ import annotations

import importlib
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
TYPE_CHECKING = False   # typing's, without importing typing (~3 ms of a `gantry scan`'s start-up)

from pipeline_lib.core.errors import GantryError

from .base import ParsedReport
if TYPE_CHECKING:
    from .base import Scanner
    from pipeline_lib.core.settingsmodel import Settings

from .options import ARCHIVE_FORMATS, IMAGE_ARCHIVE, RESERVED_FLAGS, SOURCE, SUBJECT_KINDS, Option

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
    label: str = ""          # how messages name it, e.g. "Trivy JSON" (default: the name)
    licenses: bool = False   # reports license findings when ParseOptions.licenses



FORMATS: dict[str, ReportFormat] = {}
#: files a scanner's tooling writes that are *not* findings reports: (sniff, what it is)
NOT_REPORTS: list[tuple[Callable[[str], bool], str]] = []


def register(name: str, tool: str, sniff: Callable[[str], bool], *, label: str = "", licenses: bool = False):
    """Decorator: register ``parse(path, options) -> ParsedReport`` as format ``name``.

    ``label`` names the format in messages ("Trivy JSON"; default ``name``); ``licenses``: the
    format has license findings, reported only with ``ParseOptions(licenses=True)``.
    """

    def deco(func: Callable[[Path, ParseOptions], ParsedReport]):
        FORMATS[name] = ReportFormat(name, tool, sniff, func, label or name, licenses)
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


def options(tool: str) -> tuple[Option, ...]:
    """The flags ``tool`` declares (its module's ``OPTIONS``), in its order."""
    return tuple(getattr(scanner(tool), "OPTIONS", ()))


def subjects(tool: str) -> tuple[str, ...]:
    """What ``tool`` scans (its module's ``SUBJECTS``; default: a source tree only)."""
    return tuple(getattr(scanner(tool), "SUBJECTS", (SOURCE,)))


def image_archives(tool: str) -> tuple[str, ...]:
    """The image archive forms ``tool`` reads itself (its module's ``IMAGE_ARCHIVES``)."""
    return tuple(getattr(scanner(tool), "IMAGE_ARCHIVES", ()))


def tools_for(subject: str) -> tuple[str, ...]:
    """Every registered scanner that scans ``subject`` (a :data:`scanners.options.SUBJECT_KINDS` name)."""
    return tuple(tool for tool in SCANNERS if subject in subjects(tool))


def run_options(tool: str, values: dict[str, object]) -> dict[str, object]:
    """The declared option values of ``tool`` (by ``Option.dest``) → its ``run`` keywords
    (the module's ``to_options``, else the values as they are)."""
    convert = getattr(scanner(tool), "to_options", None)
    return dict(convert(dict(values)) if convert is not None else values)


def settings_options(tool: str, settings: Settings) -> dict[str, object]:
    """The ``run`` keywords of ``tool`` that come from the settings the CLI read
    (:class:`pipeline_lib.core.settings.Settings`: secrets and tool knobs), by its module's
    ``from_settings``; empty when it declares none. A declared option given on the command line
    wins over these (the caller merges)."""
    convert = getattr(scanner(tool), "from_settings", None)
    return dict(convert(settings)) if convert is not None else {}


def declaration_problems() -> list[str]:
    """What is wrong with the scanners' declarations (empty when nothing): a flag two scanners
    declare, an unknown subject or archive form, an image subject without ``run_image``."""
    problems: list[str] = []
    seen: dict[str, str] = {}
    for tool in SCANNERS:
        mod = scanner(tool)
        if getattr(mod, "TOOL", None) != tool:
            problems.append(f"{SCANNERS[tool]}: TOOL is {getattr(mod, 'TOOL', None)!r}, registered as {tool!r}")
        for opt in options(tool):
            if isinstance(opt, Option) and opt.flag in RESERVED_FLAGS:
                problems.append(f"{tool}: {opt.flag} is an option of gantry scan itself")
            if not isinstance(opt, Option):
                problems.append(f"{tool}: {opt!r} is not an Option")
                continue
            if opt.flag in seen:
                problems.append(f"{tool}: {opt.flag} is declared by {seen[opt.flag]} already")
            seen.setdefault(opt.flag, tool)
        kinds = subjects(tool)
        problems += [f"{tool}: unknown subject {k!r}" for k in kinds if k not in SUBJECT_KINDS]
        problems += [f"{tool}: unknown image archive form {a!r}" for a in image_archives(tool)
                     if a not in ARCHIVE_FORMATS]
        if any(k != SOURCE for k in kinds) and not callable(getattr(mod, "run_image", None)):
            problems.append(f"{tool}: scans images but has no run_image")
        if (IMAGE_ARCHIVE in kinds) != bool(image_archives(tool)):
            problems.append(f"{tool}: an image-archive subject needs IMAGE_ARCHIVES, and only it")
    return problems


def format_labels() -> list[str]:
    """How messages name every registered format, in registration order."""
    _load()
    return [fmt.label for fmt in FORMATS.values()]


def license_tools() -> list[str]:
    """The scanners with a format that reports license findings."""
    _load()
    return list(dict.fromkeys(fmt.tool for fmt in FORMATS.values() if fmt.licenses))


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
    *labels, last = format_labels()
    raise GantryError(str(path), f"unknown report format (not a {', '.join(labels)} or {last} report)")


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

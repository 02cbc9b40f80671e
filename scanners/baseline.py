"""The base branch's findings: what a pull request fixed, from a previous ``findings.json``.

``findings.json`` (written by :mod:`scanners.formats.json`) is the baseline format: a JSON array
of finding rows, each with at least ``fingerprint``; ``tool``, ``id``, ``severity``, ``title``,
``package``… are used when present. :func:`read_baseline` is the one reader of that file: it
returns the fingerprints the gate matches (a :class:`BaselineFingerprints`) carrying the rows the
reports need to list the baseline's findings that are gone ("fixed by this PR", :func:`annotate`).
Pure apart from reading the file.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path

from pipeline_lib.core.errors import GantryError

from .base import FINGERPRINT_SCHEME, SEVERITIES, Finding, clip, fingerprints_comparable

MAX_BASELINE_BYTES = 512 * 1024 * 1024


def row_scheme(row: dict) -> int:
    """The fingerprint scheme a ``findings.json`` row was written under (no field: scheme 1)."""
    scheme = row.get("fingerprint_scheme")
    return scheme if isinstance(scheme, int) and not isinstance(scheme, bool) and scheme > 0 else 1


class BaselineFingerprints(set):
    """A baseline's fingerprints (a plain ``set[str]`` to whoever only matches them) plus what the
    file says about them: ``schemes`` maps each tool of the baseline to the oldest fingerprint
    scheme its rows were written under (rows without ``fingerprint_scheme`` are scheme 1), and
    ``by_tool`` its fingerprints per tool; ``rows`` the findings of the file with the scheme of
    each (what :func:`annotate` compares with this run). :func:`read_baseline` returns one.
    """

    def __init__(self, fingerprints=(), schemes: dict[str, int] | None = None,
                 by_tool: dict[str, set[str]] | None = None) -> None:
        super().__init__(fingerprints)
        self.schemes: dict[str, int] = dict(schemes or {})
        self.by_tool: dict[str, set[str]] = dict(by_tool or {})
        self.rows: list[tuple[Finding, int]] = []

    def add_row(self, row: dict) -> None:
        fp, tool = row["fingerprint"], row.get("tool") if isinstance(row.get("tool"), str) else "unknown"
        scheme = row_scheme(row)
        self.add(fp)
        self.by_tool.setdefault(tool, set()).add(fp)
        self.schemes[tool] = min(self.schemes.get(tool, scheme), scheme)
        self.rows.append((_finding(row), scheme))

    def stale_tools(self) -> list[str]:
        """Tools whose baseline fingerprints were written under a scheme this gantry's cannot match."""
        return sorted(t for t, s in self.schemes.items() if not fingerprints_comparable(t, s))

    def usable(self) -> set[str]:
        """The fingerprints that can match this gantry's (those of the stale tools left out)."""
        stale = self.stale_tools()
        return set(self).difference(*(self.by_tool[t] for t in stale)) if stale else set(self)


def check(baseline: set[str] | None, current: Iterable[Finding], source: str | None = None,
          min_findings: int = 3) -> tuple[set[str] | None, list[str]]:
    """The fingerprints the gate may match against, and the warnings a reader must see.

    A baseline whose rows were written under an older fingerprint scheme for a tool (an older
    gantry: see :data:`scanners.base.FINGERPRINT_SCHEME`) cannot match that tool's findings:
    its fingerprints are left out (those findings count as new, none as fixed) and a warning says
    so. A tool with at least ``min_findings`` findings both in the baseline and now, none of them
    matching, gets a warning too (a baseline of another target, or written by other means).
    Pure. A plain set (no scheme information) is returned unchanged with no warnings.
    """
    if not isinstance(baseline, BaselineFingerprints):
        return baseline, []
    where = f"baseline {source}" if source else "baseline"
    warnings: list[str] = []
    stale = baseline.stale_tools()
    if stale:
        old = sorted({baseline.schemes[t] for t in stale})
        warnings.append(f"{where}: the fingerprints of {', '.join(stale)} were written by an older gantry "
                        f"(fingerprint scheme {', '.join(map(str, old))}; this gantry writes scheme "
                        f"{FINGERPRINT_SCHEME}) and cannot match: every {' and '.join(stale)} finding counts as "
                        "new and none as fixed until the base branch is scanned again")
    usable = baseline.usable()
    now: dict[str, set[str]] = {}
    for f in current:
        now.setdefault(f.tool, set()).add(f.fingerprint)
    for tool in sorted(set(now) & set(baseline.by_tool) - set(stale)):
        mine, theirs = now[tool], baseline.by_tool[tool]
        if len(mine) >= min_findings and len(theirs) >= min_findings and not mine & theirs:
            warnings.append(f"{where}: none of its {len(theirs)} {tool} finding(s) matches any of this run's "
                            f"{len(mine)}: is it the baseline of another scan target? Every {tool} finding "
                            "counts as new")
    return usable, warnings


def _s(row: dict, key: str) -> str | None:
    v = row.get(key)
    return clip(v) if isinstance(v, str) and v else None


def read_baseline(path: Path) -> BaselineFingerprints:
    """Read a ``findings.json`` (array, or ``{"findings": [...]}``): its fingerprints, with the
    scheme, tool and finding of each row (see :class:`BaselineFingerprints`). The one reader of
    that file: the gate's ``--baseline``, the baseline fetched from Jenkins and :func:`annotate`
    all go through it.

    Raises :class:`GantryError` naming the file when it is missing, empty, larger than
    :data:`MAX_BASELINE_BYTES`, not UTF-8 JSON, or has a row without a ``fingerprint`` string.
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


def read_findings(path: Path) -> list[Finding]:
    """The findings of a ``findings.json`` (:func:`read_baseline`'s rows, in file order).

    Raises GantryError(path, …) when the file is unreadable or not a baseline.
    """
    return [f for f, _scheme in read_baseline(path).rows]


def _finding(row: dict) -> Finding:
    sev = row.get("severity") if row.get("severity") in SEVERITIES else "UNKNOWN"
    return Finding(_s(row, "tool") or "unknown", _s(row, "kind") or "vulnerability", _s(row, "id") or "?",
                   sev, _s(row, "title") or "", row["fingerprint"], _s(row, "package"),
                   _s(row, "installed_version"), _s(row, "fixed_version"), _s(row, "target"),
                   row["line"] if isinstance(row.get("line"), int) else None, _s(row, "url"))


def fixed_since(baseline: Iterable[Finding], current: Iterable[Finding]) -> list[Finding]:
    """Baseline findings whose fingerprint no longer appears in ``current`` (worst first)."""
    now = {f.fingerprint for f in current}
    gone = [f for f in baseline if f.fingerprint not in now]
    gone.sort(key=lambda f: (-f.rank, f.tool, f.id))
    return gone


def annotate(verdict, baseline: BaselineFingerprints | Path | None, note: str = "") -> None:
    """Set ``verdict.baseline_note`` and ``verdict.fixed`` (baseline findings gone) after the gate.

    ``baseline``: the baseline the gate used, as :func:`read_baseline` returned it (a path is
    read through it). ``note``: why there is no baseline ("" when one was used or none was asked
    for). An unreadable baseline leaves ``fixed`` empty: the gate has already reported it. Only tools that
    ran this time count: a skipped or failed scanner's findings are not "fixed", just unseen; nor
    do rows written under a fingerprint scheme that cannot match this gantry's (see :func:`check`).
    """
    verdict.baseline_note = note
    verdict.fixed = []
    if baseline is not None and not verdict.errors:
        ran = {tool for tool, status in verdict.tools.items() if status in ("ok", "report")}
        if isinstance(baseline, (str, Path)):
            try:
                baseline = read_baseline(Path(baseline))
            except GantryError:
                return
        if not isinstance(baseline, BaselineFingerprints):   # bare fingerprints: no rows to list
            return
        gone = fixed_since([f for f, scheme in baseline.rows if fingerprints_comparable(f.tool, scheme)],
                           (e.finding for e in verdict.findings))
        verdict.fixed = [f for f in gone if f.tool in ran]

"""Compare rendered jobs with the live Jenkins and bring Jenkins in line.

The comparison is always against the live ``config.xml`` (normalized), never a local cache,
so a job edited by hand in the UI shows up as "update" and is reset. Orphans are items that
carry gantry's managed marker (:func:`is_managed`) but are no longer rendered; they are deleted
only on request (``--prune``), never more than the limits of :class:`PruneLimits` at once, and
never an item of the rendered set (which is the set ``jenkins-jobs`` generates from the same
files and ini, see :func:`pipeline_lib.jobs.render.jjb_files`).
Views (``view:`` definitions) are planned and applied like jobs, as ``jenkins-jobs update``
does: read ``view/NAME/config.xml``, create (``createView?name=``) or reconfigure it; a managed
top-level view no longer defined is an orphan.
"""

from __future__ import annotations

import difflib
import xml.etree.ElementTree as ET
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from pipeline_lib.core.errors import GantryError
from ..jenkins.client import JenkinsClient
from .render import RenderedJob

JJB_MARKER = "<!-- Managed by Jenkins Job Builder -->"  # jenkins_jobs.constants.MAGIC_MANAGE_STRING
MANAGED_MARKER = JJB_MARKER  # old name
GANTRY_MARKER = "Managed by gantry"  # starts a description line: jobs/defaults.yaml, jobs/templates.yaml


def normalize_xml(text: str | bytes) -> str:
    """Canonical form for comparison: no declaration, no layout whitespace, sorted attributes,
    plugin versions dropped (Jenkins writes ``plugin="git@5.2.1"`` for our ``plugin="git"``)."""
    try:
        root = ET.fromstring(text.encode("utf-8") if isinstance(text, str) else text)
    except ET.ParseError as exc:
        raise ValueError(f"not well-formed XML: {exc}") from None
    for el in root.iter():
        if el.text is not None and not el.text.strip() and len(el):
            el.text = None
        if el.tail is not None and not el.tail.strip():
            el.tail = None
        if el.text == "":
            el.text = None
        plugin = el.attrib.get("plugin")
        if plugin and "@" in plugin:
            el.attrib["plugin"] = plugin.split("@", 1)[0]
    return ET.canonicalize(ET.tostring(root, encoding="unicode"), strip_text=False)


def fingerprint(text: str | bytes) -> str:
    """Same equality as :func:`normalize_xml`, several times faster (used for every job)."""
    try:
        root = ET.fromstring(text.encode("utf-8") if isinstance(text, str) else text)
    except ET.ParseError as exc:
        raise ValueError(f"not well-formed XML: {exc}") from None
    out: list[str] = []

    def walk(el: ET.Element) -> None:
        attrs = sorted((k, v.split("@", 1)[0] if k == "plugin" else v) for k, v in el.attrib.items())
        out.append(f"<{el.tag!r}{attrs!r}")
        text = el.text or ""
        if text and (text.strip() or not len(el)):
            out.append(repr(text))
        for child in el:
            walk(child)
            tail = child.tail
            if tail and tail.strip():
                out.append(repr(tail))
        out.append(">")

    walk(root)
    return "".join(out)


def _pretty(text: str) -> list[str]:
    """Readable lines for a unified diff (one element per line)."""
    try:
        root = ET.fromstring(normalize_xml(text))
    except (ValueError, ET.ParseError):
        return text.splitlines(keepends=True)
    ET.indent(root)
    return [line + "\n" for line in ET.tostring(root, encoding="unicode").splitlines()]


def description_is_gantrys(text: str | None) -> bool:
    """Does a description carry gantry's marker: a line starting with ``Managed by gantry`` and,
    at its end, the comment jenkins-job-builder appends to every description it writes?"""
    text = (text or "").rstrip()
    if not text.endswith(JJB_MARKER):
        return False
    return any(line.lstrip().startswith(GANTRY_MARKER) for line in text[:-len(JJB_MARKER)].splitlines())


def is_managed(xml: str | bytes | None) -> bool:
    """Is this live item gantry's (see :func:`description_is_gantrys`)? Jobs another JJB setup
    created on the same controller carry JJB's comment but not gantry's line: never pruned."""
    if not xml:
        return False
    try:
        root = ET.fromstring(xml.encode("utf-8") if isinstance(xml, str) else xml)
    except ET.ParseError:
        return False
    desc = root.find("description")
    return desc is not None and description_is_gantrys(desc.text)


@dataclass(frozen=True)
class PruneLimits:
    """``--prune`` refuses (nothing changed) to delete more than ``max_deletions`` items or more
    than ``max_percent`` % of the managed items (jobs, folders and views on the controller that
    carry gantry's marker). Items inside a deleted folder count too: Jenkins deletes them with it."""

    max_deletions: int = 5
    max_percent: float = 10.0

    def check(self, deletions: int, managed: int) -> str | None:
        """None when allowed, else why not (one line)."""
        if deletions == 0:
            return None
        share = 100.0 * deletions / managed if managed else 100.0
        if deletions > self.max_deletions:
            return (f"would delete {deletions} items, more than --max-deletions {self.max_deletions}")
        if share > self.max_percent:
            return (f"would delete {deletions} of the {managed} items gantry manages ({share:.0f}%), "
                    f"more than --max-deletion-percent {self.max_percent:g}")
        return None


@dataclass
class Plan:
    """What ``update`` would do; ``live`` holds the live XML read while planning."""

    create: list[RenderedJob] = field(default_factory=list)
    update: list[RenderedJob] = field(default_factory=list)
    unchanged: list[RenderedJob] = field(default_factory=list)
    orphans: list[str] = field(default_factory=list)
    kept_orphans: list[str] = field(default_factory=list)  # managed folders holding unmanaged items
    orphan_views: list[str] = field(default_factory=list)
    live: dict[str, str] = field(default_factory=dict)  # keyed by RenderedJob.key
    managed_unrendered: int = 0  # live items carrying gantry's marker that are not rendered
    doomed: dict[str, list[str]] = field(default_factory=dict)  # orphan folder -> live items inside it

    @property
    def managed(self) -> int:
        """Live jobs, folders and views carrying gantry's marker (read only when a prune is checked:
        parsing every live config.xml is a noticeable share of an unchanged ``update``)."""
        return self.managed_unrendered + sum(1 for xml in self.live.values() if is_managed(xml))

    def deletions(self) -> list[str]:
        """Every live item ``--prune`` deletes: orphans, the items inside orphan folders, orphan views."""
        out: list[str] = []
        for name in sorted(self.orphans):
            out.append(name)
            out.extend(self.doomed.get(name, []))
        return out + [f"view {v}" for v in self.orphan_views]

    def summary(self) -> str:
        return (f"{len(self.create)} to create, {len(self.update)} to update, "
                f"{len(self.unchanged)} unchanged, "
                f"{len(self.orphans) + len(self.kept_orphans) + len(self.orphan_views)} orphaned")

    def diff(self, job: RenderedJob) -> str:
        before = _pretty(self.live[job.key]) if job.key in self.live else []
        after = _pretty(job.xml.decode("utf-8"))
        kind = "view/" if job.is_view else ""
        return "".join(difflib.unified_diff(before, after, f"jenkins/{kind}{job.name}/config.xml",
                                            f"rendered/{kind}{job.name}/config.xml"))


def _effective(job: RenderedJob, live_xml: str | None) -> str:
    """Our XML as it should be sent: like JJB, keep a live ``<disabled>`` we do not set."""
    ours = job.xml.decode("utf-8")
    if live_xml is None:
        return ours
    try:
        root = ET.fromstring(job.xml)
        if root.find("disabled") is not None:
            return ours
        live_disabled = ET.fromstring(live_xml.encode("utf-8")).find("disabled")
    except ET.ParseError:
        return ours
    if live_disabled is None or (live_disabled.text or "").strip() != "true":
        return ours
    ET.SubElement(root, "disabled").text = "true"
    return "<?xml version='1.0' encoding='UTF-8'?>\n" + ET.tostring(root, encoding="unicode")


def _same(job: RenderedJob, live_xml: str) -> bool:
    if live_xml.encode("utf-8") == job.xml:  # Jenkins kept our bytes: nothing to normalize
        return True
    try:
        return fingerprint(_effective(job, live_xml)) == fingerprint(live_xml)
    except ValueError:
        return False  # live XML is garbage: rewrite it


def _classify(items: Sequence[RenderedJob], fetched: dict[str, str | None], result: Plan) -> None:
    """create (no live XML), unchanged or update, keeping the live XML for diffs."""
    for item in items:
        live_xml = fetched.get(item.name)
        if live_xml is None:
            result.create.append(item)
            continue
        result.live[item.key] = live_xml
        (result.unchanged if _same(item, live_xml) else result.update).append(item)


def plan(client: JenkinsClient, rendered: Sequence[RenderedJob], workers: int = 4, *,
         update: str = "all") -> Plan:
    """Read the live job list and each relevant config.xml, and classify every job and view.

    ``update`` is JJB's ``[job_builder] update``: ``jobs`` leaves views alone (none created,
    updated or orphaned), ``views`` leaves jobs alone, as ``jenkins-jobs update [--delete-old]`` does.
    """
    jobs = [j for j in rendered if not j.is_view]
    views = [j for j in rendered if j.is_view]
    result = Plan()
    if update in ("all", "jobs"):
        _plan_jobs(client, jobs, result, workers)
    if update in ("all", "views"):
        _plan_views(client, views, result, workers)
    return result


def _plan_jobs(client: JenkinsClient, jobs: Sequence[RenderedJob], result: Plan, workers: int) -> None:
    live_names = client.list_jobs()
    live_set = set(live_names)
    wanted = {j.name for j in jobs}
    existing = [j for j in jobs if j.name in live_set]
    candidates = [n for n in live_names if n not in wanted]

    fetched = client.get_configs([j.name for j in existing] + candidates, workers=workers)
    _classify(jobs, fetched, result)
    managed = {n for n in candidates if is_managed(fetched.get(n))}
    result.managed_unrendered += len(managed)
    for name in candidates:
        if name not in managed:
            continue
        children = [n for n in live_names if n.startswith(name + "/")]
        if any(c not in managed and c not in wanted for c in children) or any(c in wanted for c in children):
            result.kept_orphans.append(name)
        elif not any(name.startswith(o + "/") for o in result.orphans):
            result.orphans.append(name)
            if children:
                result.doomed[name] = children


def _plan_views(client: JenkinsClient, views: Sequence[RenderedJob], result: Plan, workers: int) -> None:
    wanted = {v.name for v in views}
    live_top = [n for n in client.list_views() if n not in wanted]
    names = [v.name for v in views] + live_top
    with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
        fetched = dict(zip(names, pool.map(client.get_view_config, names)))
    _classify(views, fetched, result)
    result.orphan_views = [n for n in live_top if is_managed(fetched.get(n))]
    result.managed_unrendered += len(result.orphan_views)


Reporter = Callable[[str], None]


def check_prune(p: Plan, limits: PruneLimits, *, dry_run: bool = False, report: Reporter = print) -> None:
    """Refuse a bulk prune before anything is changed: report every item it would delete, then
    raise :class:`GantryError` (exit 2) naming the limit it exceeds."""
    doomed = p.deletions()
    if not doomed:
        return
    why = limits.check(len(doomed), p.managed)
    if why is None:
        return
    for name in doomed:
        report(f"would delete {name} (refused)")
    raise GantryError("jobs update --prune", f"{why}: refused, nothing {'would be ' if dry_run else ''}changed; "
                      "check the list, then raise the limit if these deletions are intended")


def apply(client: JenkinsClient, p: Plan, *, prune: bool = False, dry_run: bool = False,
          workers: int = 4, report: Reporter = print, limits: PruneLimits | None = PruneLimits()) -> dict[str, int]:
    """Create folders first, then create/update jobs in parallel, then delete orphans if asked.

    With ``prune``, :func:`check_prune` runs first (``limits=None``: no limit): a prune over the
    limits changes nothing at all, not even the creates and updates.
    """
    if prune and limits is not None:
        check_prune(p, limits, dry_run=dry_run, report=report)
    counts = {"created": 0, "updated": 0, "unchanged": len(p.unchanged), "deleted": 0, "orphaned": 0}
    prefix = "would " if dry_run else ""
    # Folders in depth order: a job's folder always exists before the job is created; views
    # (which list jobs and may live in folders) after every job, as jenkins-jobs update does.
    folders = sorted([j for j in p.create + p.update if j.is_folder], key=lambda j: j.name.count("/"))
    others = [j for j in p.create + p.update if not j.is_folder and not j.is_view]
    views = [j for j in p.create + p.update if j.is_view]
    creating = {j.key for j in p.create}

    def do(job: RenderedJob) -> str:
        kind = "view " if job.is_view else ""
        if job.key in creating:
            if not dry_run:
                (client.create_view if job.is_view else client.create)(job.name, job.xml.decode("utf-8"))
            return f"{prefix}create {kind}{job.name}"
        if not dry_run:
            if job.is_view:
                client.reconfigure_view(job.name, job.xml.decode("utf-8"))
            else:
                client.reconfigure(job.name, _effective(job, p.live.get(job.key)))
        return f"{prefix}update {kind}{job.name}"

    for job in folders:
        report(do(job))
    errors: list[GantryError] = []
    for batch in (others, views):
        with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
            futures = [pool.submit(do, j) for j in batch]
            for fut in futures:
                try:
                    report(fut.result())
                except GantryError as err:
                    errors.append(err)
    if errors:
        raise GantryError(errors[0].where, errors[0].what, problems=[str(e) for e in errors])
    counts["created"] = len(p.create)
    counts["updated"] = len(p.update)
    def orphan(name: str, kind: str, delete: Callable[[str], None]) -> None:
        if prune:
            if not dry_run:
                delete(name)
            report(f"{prefix}delete {kind}{name}")
            inside = p.doomed.get(name, []) if not kind else []
            for child in inside:  # Jenkins deletes a folder's items with it
                report(f"{prefix}delete {child} (inside {name})")
            counts["deleted"] += 1 + len(inside)
        else:
            counts["orphaned"] += 1
            report(f"orphan {kind}{name} (kept: pass --prune to delete it)")

    for name in sorted(p.orphans, key=lambda n: -n.count("/")):
        orphan(name, "", client.delete)
    for name in p.kept_orphans:
        counts["orphaned"] += 1
        report(f"orphan {name} (kept: it holds items gantry does not manage)")
    for name in p.orphan_views:
        orphan(name, "view ", client.delete_view)
    return counts

"""Render the JJB YAML in ``jobs/`` to Jenkins XML in-process, with jenkins-job-builder's own API.

The output is byte-identical to ``jenkins-jobs test --config-xml -o DIR`` on the same files:
the same loader, registry, XML generators (``XmlJobGenerator`` for jobs, ``XmlViewGenerator``
for ``view:`` definitions) and ``output()`` are used, and files are laid out as
``DIR/<folder>/<name>/config.xml`` — jobs first, then views, as ``jenkins-jobs test`` writes them
(so a view named like a job overwrites the job's file there too). The input files are those
``jenkins-jobs --conf CONF test|update DIR`` reads (:func:`jjb_files`: ``[job_builder] recursive``
and ``exclude`` through JJB's own ``recurse_path``), and every other ini option reaches JJB
through its own ``JJBConfig``, so both tools produce the same job set from the same inputs.

JJB errors become one line: JJB's own message at its own location. For a duplicate definition
JJB raises "Previous <kind> definition" at the first definition and carries the real message
("Duplicate <kind>: 'name'", at the duplicate) as context; gantry prints the real message at
the duplicate's location and names the previous definition after it.
"""

from __future__ import annotations

import base64
import hashlib
import json
import logging
import os
import sys
import warnings
from concurrent.futures import ThreadPoolExecutor
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import yaml

from pipeline_lib.core.errors import GantryError
from pipeline_lib.core.fileio import write_atomic

log = logging.getLogger(__name__)

JJB_SUFFIXES = (".yaml", ".yml")


@dataclass(frozen=True)
class RenderedJob:
    """One job or view: its full name (``folder/name``), XML bytes, and whether it is a folder or a view."""

    name: str
    xml: bytes
    is_folder: bool = False
    is_view: bool = False

    @property
    def key(self) -> str:
        """Unique among jobs and views (a view may share a job's name)."""
        return f"view:{self.name}" if self.is_view else self.name

    @property
    def folder(self) -> str | None:
        return self.name.rsplit("/", 1)[0] if "/" in self.name else None


@dataclass(frozen=True)
class JJBOptions:
    """What ``jenkins-jobs`` reads from its ini besides what ``JJBConfig`` hands the loader.

    ``conf`` is the ini it reads: the ``--conf`` file, else the first of
    ``<jenkins_jobs package>/jenkins_jobs.ini``, ``~/.config/jenkins_jobs/jenkins_jobs.ini``,
    ``/etc/jenkins_jobs/jenkins_jobs.ini`` that exists (None: JJB's built-in defaults).
    ``recursive`` and ``excludes`` are ``[job_builder] recursive`` (default False) and
    ``exclude`` (default ``.*``, split on ``os.pathsep``): how the path argument becomes YAML
    files. ``query_plugins_info`` is ``[jenkins] query_plugins_info`` (default False): render
    with the controller's plugin versions (``pluginManager/api/json``). ``update`` is
    ``[job_builder] update`` (``all``, ``jobs`` or ``views``; default ``all``): what
    ``jenkins-jobs update`` (and ``--delete-old``) touch. Read as
    ``JJBConfig._setup`` reads them. The loader's own options (``keep_descriptions``,
    ``allow_duplicates``, ``allow_empty_variables``, ``retain_anchors``, ``include_path``,
    ``filter_modules``) reach JJB through ``JJBConfig`` itself (:func:`jjb_config`).
    """

    conf: Path | None
    recursive: bool = False
    excludes: tuple[str, ...] = (".*",)
    query_plugins_info: bool = False
    update: str = "all"


def default_jjb_conf() -> Path | None:
    """The ini ``jenkins-jobs`` reads without ``--conf`` (``JJBConfig.__init__``'s search order)."""
    from importlib.util import find_spec

    spec = find_spec("jenkins_jobs")  # the package's directory, without importing it
    package_dirs = list(spec.submodule_search_locations or []) if spec is not None else []
    candidates = [Path(d) / "jenkins_jobs.ini" for d in package_dirs[:1]]
    candidates += [Path(os.path.expanduser("~")) / ".config" / "jenkins_jobs" / "jenkins_jobs.ini",
                   Path("/etc/jenkins_jobs/jenkins_jobs.ini")]
    return next((c for c in candidates if c.is_file()), None)


def jjb_options(conf: str | os.PathLike[str] | None = None) -> JJBOptions:
    """The :class:`JJBOptions` of the ini ``jenkins-jobs --conf CONF`` reads.

    Read with configparser over JJB's own defaults, exactly as ``JJBConfig`` does, but without
    importing jenkins_jobs (``gantry jobs diff|update`` on a warm render cache never loads it);
    ``tests/jobs/test_jjb_config.py`` checks the result against ``JJBConfig`` itself. An
    explicit ``conf`` that does not exist is an error (JJB would fall back to its defaults,
    silently dropping ``recursive=True``).
    """
    import configparser

    if conf is not None:
        path: Path | None = Path(conf)
        if not path.is_file():
            raise GantryError(str(conf), "no such file (the JJB ini given with --conf)")
    else:
        path = default_jjb_conf()
    parser = configparser.ConfigParser()
    parser.read_string("[job_builder]\nrecursive=False\nexclude=.*\n[jenkins]\nquery_plugins_info=False\n")
    where = str(path)
    try:
        if path is not None:
            with open(path, encoding="utf-8") as fh:
                parser.read_file(fh)
        option = "[job_builder] recursive"
        recursive = parser.getboolean("job_builder", "recursive")
        excludes = tuple(parser.get("job_builder", "exclude").split(os.pathsep))
        option = "[jenkins] query_plugins_info"
        query = parser.getboolean("jenkins", "query_plugins_info")
        update = parser.get("job_builder", "update", fallback=None) or "all"
    except (OSError, UnicodeDecodeError) as exc:
        raise GantryError(where, f"unreadable: {exc.__class__.__name__}") from None
    except ValueError as exc:
        raise GantryError(f"{where}: {option}", f"not a boolean: {exc}") from None
    except configparser.Error as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else exc.__class__.__name__
        raise GantryError(where, f"invalid JJB configuration: {first}") from None
    if update not in ("all", "jobs", "views"):
        raise GantryError(f"{where}: [job_builder] update", f"must be all, jobs or views, got {update!r}")
    return JJBOptions(path, recursive, excludes, query, update)


def jjb_files(jobs_dir: Path, exclude: Sequence[Path] = (), conf: str | os.PathLike[str] | None = None,
              *, options: JJBOptions | None = None) -> list[Path]:
    """The YAML files ``jenkins-jobs --conf CONF update|test JOBS_DIR`` loads, in its order, minus ``exclude``.

    As ``jenkins_jobs.cli.entry`` does: with ``[job_builder] recursive=True`` the directory and
    every subdirectory ``jenkins_jobs.utils.recurse_path`` keeps (``exclude`` globs: names, paths
    relative to the working directory, or absolute paths) are read, each directory's ``*.yaml``
    and ``*.yml`` files sorted by name (``jenkins_jobs.loader.enum_expanded_paths``); a file
    reached twice (symlinks) is read once. Raises :class:`GantryError` when there is none.
    """
    if not jobs_dir.is_dir():
        raise GantryError(str(jobs_dir), "not a directory")
    opts = options if options is not None else jjb_options(conf)
    if opts.recursive:
        from jenkins_jobs.utils import recurse_path

        dirs = [Path(d) for d in recurse_path(str(jobs_dir), list(opts.excludes))]
    else:
        dirs = [jobs_dir]
    skip = {p.resolve() for p in exclude}
    seen: set[Path] = set()
    files: list[Path] = []
    for directory in dirs:
        for p in sorted(directory.iterdir()):
            if p.suffix not in JJB_SUFFIXES or not p.is_file():
                continue
            real = p.resolve()
            if real in seen:
                continue
            seen.add(real)
            if real not in skip:
                files.append(p)
    if not files:
        where = f"{jobs_dir} and its subdirectories" if opts.recursive else str(jobs_dir)
        raise GantryError(where, "no JJB YAML files (*.yaml, *.yml)")
    return files


def _quiet_jjb_import() -> None:
    """Import JJB once without its pkg_resources deprecation warning on every command."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        warnings.simplefilter("ignore", DeprecationWarning)
        import jenkins_jobs.registry  # noqa: F401
        import jenkins_jobs.xml_config  # noqa: F401


def jjb_config(conf: str | os.PathLike[str] | None = None, plugins_info: list | None = None):
    """A JJBConfig as ``jenkins-jobs`` builds it; plugin info never queried from Jenkins."""
    _quiet_jjb_import()
    from jenkins_jobs.config import JJBConfig
    from jenkins_jobs.errors import JenkinsJobsException

    logging.getLogger("jenkins_jobs").setLevel(logging.ERROR)
    try:
        cfg = JJBConfig(str(conf) if conf is not None else None)
        cfg.validate()
    except JenkinsJobsException as exc:
        raise GantryError(str(conf or "jenkins_jobs.ini"), str(exc).strip().splitlines()[0]) from None
    except Exception as exc:  # configparser errors and the like
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else exc.__class__.__name__
        raise GantryError(str(conf or "jenkins_jobs.ini"), f"invalid JJB configuration: {first}") from None
    cfg.builder["plugins_info"] = plugins_info if plugins_info is not None else []
    return cfg


def _where(pos) -> str | None:
    if pos is None or not getattr(pos, "path", None):
        return None
    return f"{pos.path}:{pos.line + 1}:{pos.column + 1}"


def _jjb_error(exc: Exception) -> GantryError:
    """JJB's real message and location, one line (see the module docstring)."""
    text = str(getattr(exc, "message", None) or exc).strip()
    message = text.splitlines()[0] if text else exc.__class__.__name__
    pos = getattr(exc, "pos", None)
    ctx = list(getattr(exc, "ctx", []) or [])
    if message.startswith("Previous ") and message.endswith(" definition"):
        dup = next((c for c in ctx if str(c.message).startswith("Duplicate ")), None)
        if dup is not None and _where(dup.pos):
            prev = _where(pos)
            return GantryError(str(_where(dup.pos)), f"{dup.message}" + (f" (previous definition: {prev})" if prev else ""))
    where = _where(pos)
    outer = [c for c in ctx if _where(c.pos)]
    if where is None and outer:  # the innermost context with a location (the template) names the place
        inner = outer.pop()
        return GantryError(str(_where(inner.pos)), f"{inner.message}: {message}")
    if where is None:
        return GantryError("jobs", message)
    if outer:
        return GantryError(where, f"{message} ({outer[-1].message} at {_where(outer[-1].pos)})")
    return GantryError(where, message)


def render_jobs(paths: Sequence[Path], conf: str | os.PathLike[str] | None = None,
                plugins_info: list | None = None) -> list[RenderedJob]:
    """Load the JJB ``paths`` and return every job's XML, sorted as JJB sorts them."""
    _quiet_jjb_import()
    from jenkins_jobs.alphanum import AlphanumSort
    from jenkins_jobs.errors import JenkinsJobsException
    from jenkins_jobs.loader import load_files
    from jenkins_jobs.registry import ModuleRegistry
    from jenkins_jobs.roots import Roots
    from jenkins_jobs.xml_config import XmlJobGenerator, XmlViewGenerator

    cfg = jjb_config(conf, plugins_info)
    try:
        roots = Roots(cfg)
        load_files(cfg, roots, [Path(p) for p in paths])
        registry = ModuleRegistry(cfg, cfg.builder["plugins_info"])
        registry.set_macros(roots.macros)
        jobs = roots.generate_jobs()
        views = roots.generate_views()
        registry.amend_job_dicts(jobs)
        xml_views = XmlViewGenerator(registry).generateXML(views)
        xml_views.sort(key=AlphanumSort)
        rendered_views = [RenderedJob(v.name, v.output(), False, True) for v in xml_views]
        parallel = _generate_parallel(registry, jobs)
        if parallel is not None:
            return parallel + rendered_views
        xml_jobs = XmlJobGenerator(registry).generateXML(jobs)
    except JenkinsJobsException as exc:
        raise _jjb_error(exc) from None
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = f"{mark.name}:{mark.line + 1}" if mark is not None else "jobs"
        raise GantryError(where, f"invalid YAML: {exc.problem or exc.context}") from None
    except yaml.YAMLError as exc:
        raise GantryError("jobs", f"invalid YAML: {exc}") from None
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise GantryError("jobs", f"jenkins-job-builder could not render the jobs: "
                                  f"{exc.__class__.__name__}: {exc}") from None
    xml_jobs.sort(key=AlphanumSort)
    out: list[RenderedJob] = []
    seen: set[str] = set()
    for job in xml_jobs:
        if job.name in seen:
            raise GantryError("jobs", f"job {job.name!r} is defined twice")
        seen.add(job.name)
        is_folder = job.xml.tag == "com.cloudbees.hudson.plugins.folder.Folder"
        out.append(RenderedJob(job.name, job.output(), is_folder))
    return out + rendered_views


# -- parallel XML generation ----------------------------------------------------------------------
# After expansion every job's XML is generated independently by JJB's XmlJobGenerator; forked
# workers each generate a contiguous slice (same code, same bytes). Any failure falls back to
# the serial path, which reports errors exactly as jenkins-jobs does.
PARALLEL_MIN_JOBS = 200
_FORK_STATE: tuple | None = None


def _generate_slice(bounds: tuple[int, int]) -> list[tuple[str, bytes, bool]]:
    from jenkins_jobs.xml_config import XmlJobGenerator

    assert _FORK_STATE is not None
    registry, jobs = _FORK_STATE
    xml_jobs = XmlJobGenerator(registry).generateXML(jobs[bounds[0]:bounds[1]])
    return [(j.name, j.output(), j.xml.tag == "com.cloudbees.hudson.plugins.folder.Folder") for j in xml_jobs]


def _generate_parallel(registry, jobs) -> list[RenderedJob] | None:
    import multiprocessing

    from jenkins_jobs.alphanum import AlphanumSort

    global _FORK_STATE
    workers = min(len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1), 8)
    if len(jobs) < PARALLEL_MIN_JOBS or workers < 2 or "fork" not in multiprocessing.get_all_start_methods():
        return None
    step = -(-len(jobs) // workers)
    bounds = [(i, min(i + step, len(jobs))) for i in range(0, len(jobs), step)]
    _FORK_STATE = (registry, jobs)
    try:
        with multiprocessing.get_context("fork").Pool(len(bounds)) as pool:
            parts = pool.map(_generate_slice, bounds)
    except Exception as exc:  # noqa: BLE001 - the serial path reports the real error
        log.debug("parallel XML generation failed, falling back: %s", exc)
        return None
    finally:
        _FORK_STATE = None
    rendered = [RenderedJob(name, xml, folder) for part in parts for name, xml, folder in part]
    rendered.sort(key=lambda j: AlphanumSort(j.name))
    names = [j.name for j in rendered]
    if len(set(names)) != len(names):
        return None
    return rendered


def output_path(out_dir: Path, name: str) -> Path:
    """``jenkins-jobs test --config-xml`` layout: ``OUT/<folder>/<job>/config.xml``."""
    parts = [p for p in os.path.normpath(name).split(os.sep) if p not in ("", ".", "..")]
    return out_dir.joinpath(*parts, "config.xml")


def write_jobs(jobs: Sequence[RenderedJob], out_dir: Path, workers: int = 8) -> list[Path]:
    """Write every job, then every view, atomically; in parallel, since each file is fsynced."""
    with ThreadPoolExecutor(max_workers=workers) as pool:
        written = list(pool.map(lambda j: write_atomic(output_path(out_dir, j.name), j.xml),
                                [j for j in jobs if not j.is_view]))
        return written + list(pool.map(lambda j: write_atomic(output_path(out_dir, j.name), j.xml),
                                       [j for j in jobs if j.is_view]))


# -- render cache ---------------------------------------------------------------------------------
# Rendering is a pure function of the JJB files, the JJB ini and the JJB version; caching it
# makes `gantry jobs diff|update` on unchanged input fast. The cache never replaces the
# comparison with the live Jenkins: it only saves re-running jenkins-job-builder.
CACHE_FORMAT = 2
_DYNAMIC_TAGS = ("!include", "!j2", "!include-raw", "!include-jinja2")


def cache_dir(configured: str | None = None, xdg_cache_home: str | None = None) -> Path:
    """``configured`` (the caller's ``$GANTRY_CACHE_DIR``), else ``xdg_cache_home``/gantry (the
    caller's ``$XDG_CACHE_HOME``), else ``~/.cache/gantry``."""
    if configured:
        return Path(configured)
    base = xdg_cache_home or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "gantry"


def _cache_key(paths: Sequence[Path], conf: str | os.PathLike[str] | None,
               plugins_info: list | None = None) -> str | None:
    from importlib.metadata import PackageNotFoundError, version

    h = hashlib.sha256()
    try:
        jjb_version = version("jenkins-job-builder")
    except PackageNotFoundError:
        jjb_version = "?"
    h.update(f"{CACHE_FORMAT}|{jjb_version}|{sys.version_info[:2]}\n".encode())
    if plugins_info:  # the controller's plugin versions change the XML
        h.update(json.dumps(plugins_info, sort_keys=True, default=str).encode() + b"\n")
    try:
        effective = Path(conf) if conf is not None else default_jjb_conf()  # what JJBConfig reads
        for p in [Path(x) for x in paths] + ([effective] if effective is not None else []):
            data = p.read_bytes()
            if any(tag.encode() in data for tag in _DYNAMIC_TAGS):
                return None  # included files are not hashed: never cache
            h.update(str(p.resolve()).encode() + b"\0" + hashlib.sha256(data).digest())
    except OSError:
        return None
    return h.hexdigest()


def render_jobs_cached(paths: Sequence[Path], conf: str | os.PathLike[str] | None = None,
                       plugins_info: list | None = None, cache: Path | None = None) -> list[RenderedJob]:
    """:func:`render_jobs`, reusing the previous result (kept in ``cache``, default
    :func:`cache_dir`) when no input changed."""
    key = _cache_key(paths, conf, plugins_info)
    path = (cache or cache_dir()) / f"jobs-render-{key}.json" if key else None
    if path is not None:
        try:
            raw = json.loads(path.read_text(encoding="utf-8"))
            return [RenderedJob(j["name"], base64.b64decode(j["xml"]), bool(j["folder"]), bool(j.get("view")))
                    for j in raw]
        except (OSError, ValueError, KeyError, TypeError):
            pass
    jobs = render_jobs(paths, conf, plugins_info)
    if path is not None:
        try:
            for old in sorted(path.parent.glob("jobs-render-*.json"), key=lambda p: p.stat().st_mtime)[:-7]:
                old.unlink(missing_ok=True)
            write_atomic(path, json.dumps([{"name": j.name, "folder": j.is_folder, "view": j.is_view,
                                            "xml": base64.b64encode(j.xml).decode()} for j in jobs]))
        except OSError as exc:
            log.debug("render cache not written: %s", exc)
    return jobs

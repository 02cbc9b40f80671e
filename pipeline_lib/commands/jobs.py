"""``gantry jobs generate|render|diff|update``: Jenkins jobs from the catalog."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from pipeline_lib.core.catalog import DEFAULT_CATALOG, load_catalog
from pipeline_lib.core.errors import EXIT_CHECK_FAILED, GantryError
from .options import add_catalog, add_dry_run

DEFAULT_JOBS_DIR = Path("jobs")
# pipeline_lib.jobs.sync.PruneLimits' defaults (not imported here: it loads the Jenkins client)
DEFAULT_MAX_DELETIONS = 5
DEFAULT_MAX_DELETION_PERCENT = 10.0


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--jobs-dir", type=Path, default=DEFAULT_JOBS_DIR,
                   help="directory of JJB YAML (default: jobs)")
    add_catalog(p, default=None, derived="<jobs-dir>/catalog.yaml")
    p.add_argument("--conf", default=None,
                   help="JJB ini file: [job_builder] options and, unless JENKINS_* are set, [jenkins] url/user/password")


def _workers(p: argparse.ArgumentParser) -> None:
    p.add_argument("--workers", type=int, default=4, metavar="N",
                   help="parallel requests to Jenkins (default 4)")


def register(subparsers: argparse._SubParsersAction) -> None:
    jobs = subparsers.add_parser("jobs", help="render, diff and update Jenkins jobs from the catalog")
    sub = jobs.add_subparsers(dest="jobs_command", metavar="ACTION", parser_class=type(jobs))
    jobs.set_defaults(func=lambda args: (jobs.print_help(sys.stderr), 2)[1])

    gen = sub.add_parser("generate", help="write <jobs-dir>/projects.generated.yaml from the catalog")
    _common(gen)
    gen.add_argument("--check", action="store_true", help="only check it is up to date (exit 1 if not)")
    gen.set_defaults(func=cmd_generate)

    render = sub.add_parser("render", help="render every job to DIR/<folder>/<job>/config.xml")
    _common(render)
    render.add_argument("-o", "--output", type=Path, default=Path("out"), metavar="DIR",
                        help="output directory (default: out)")
    _no_catalog(render)
    render.set_defaults(func=cmd_render)

    diff = sub.add_parser("diff", help="unified diff of each job against the live Jenkins (exit 1 on drift)")
    _common(diff)
    _workers(diff)
    _no_catalog(diff)
    diff.set_defaults(func=cmd_diff)

    update = sub.add_parser("update", help="create/update jobs whose live XML differs; --prune deletes orphans")
    _common(update)
    _workers(update)
    _no_catalog(update)
    update.add_argument("--prune", action="store_true",
                        help="delete the jobs carrying gantry's marker ('Managed by gantry' in the description) "
                             "that the JJB files no longer define")
    update.add_argument("--max-deletions", type=int, default=DEFAULT_MAX_DELETIONS, metavar="N",
                        help="--prune refuses, changing nothing, to delete more than N items "
                             f"(default {DEFAULT_MAX_DELETIONS}; items inside a deleted folder count)")
    update.add_argument("--max-deletion-percent", type=float, default=DEFAULT_MAX_DELETION_PERCENT, metavar="P",
                        help="--prune refuses, changing nothing, to delete more than P %% of the items "
                             f"carrying gantry's marker (default {DEFAULT_MAX_DELETION_PERCENT:g})")
    add_dry_run(update, help="report the actions (and every deletion --prune would make), change nothing")
    update.set_defaults(func=cmd_update)


def _no_catalog(p: argparse.ArgumentParser) -> None:
    p.add_argument("--no-catalog", action="store_true",
                   help="use the JJB files of --jobs-dir as they are (no catalog, no generated-file drift "
                        "check): what `jenkins-jobs test --config-xml|update` reads")


def _catalog_path(args: argparse.Namespace) -> Path:
    if args.catalog is not None:
        return args.catalog
    if args.jobs_dir == DEFAULT_JOBS_DIR:
        return DEFAULT_CATALOG
    return args.jobs_dir / "catalog.yaml"


def rendered(args: argparse.Namespace, cached: bool = True, client: Callable[[], Any] | None = None):
    """Catalog -> drift check of the generated projects -> JJB render of the files, with the ini
    options, that ``jenkins-jobs --conf CONF update|test <jobs-dir>`` uses.

    Jenkins is asked for nothing but its plugin list, and that only when the ini sets
    ``[jenkins] query_plugins_info=True``, as ``jenkins-jobs update|test`` do: through ``client()``
    (default: the configured Jenkins). No answer is an error, never a render without it.
    """
    from ..jobs.generate import check_generated_cached
    from ..jobs.render import cache_dir, jjb_files, jjb_options, render_jobs, render_jobs_cached

    options = jjb_options(args.conf)
    exclude: list[Path] = []
    if not getattr(args, "no_catalog", False):
        catalog_path = _catalog_path(args)
        check_generated_cached(catalog_path, args.jobs_dir, cache_dir())
        exclude.append(catalog_path)
    # [job_builder] recursive / exclude: the files `jenkins-jobs --conf CONF update <jobs-dir>` reads
    files = jjb_files(args.jobs_dir, exclude=exclude, options=options)
    plugins = _plugins_info(args, client) if options.query_plugins_info else None
    return (render_jobs_cached if cached else render_jobs)(files, conf=args.conf, plugins_info=plugins)


def _plugins_info(args: argparse.Namespace, client: Callable[[], Any] | None) -> list:
    return (client or _client(args))().plugins_info()


def _update_kinds(args: argparse.Namespace) -> str:
    """The ini's ``[job_builder] update``: all, jobs or views (what ``jenkins-jobs update`` touches)."""
    from ..jobs.render import jjb_options
    return jjb_options(args.conf).update


def _check_workers(args: argparse.Namespace) -> None:
    if not 1 <= args.workers <= 64:
        raise GantryError("--workers", f"must be from 1 to 64, got {args.workers}")


def cmd_generate(args: argparse.Namespace) -> int:
    from ..jobs.generate import check_generated, generated_path, write_generated

    catalog_path = _catalog_path(args)
    catalog = load_catalog(catalog_path)
    if args.check:
        check_generated(catalog, args.jobs_dir, str(catalog_path))
        print(f"{generated_path(args.jobs_dir)}: up to date")
        return 0
    changed = write_generated(catalog, args.jobs_dir, str(catalog_path))
    print(f"{generated_path(args.jobs_dir)}: {'written' if changed else 'up to date'}")
    return 0


def cmd_render(args: argparse.Namespace) -> int:
    from ..jobs.render import write_jobs

    jobs = rendered(args, cached=False)  # `render` always runs jenkins-job-builder itself
    try:
        write_jobs(jobs, args.output)
    except OSError as exc:
        raise GantryError(str(args.output), f"cannot write: {exc.strerror or exc}") from None
    views = sum(1 for j in jobs if j.is_view)
    print(f"rendered {len(jobs) - views} jobs and {views} views to {args.output}")
    return 0


def _client(args: argparse.Namespace) -> Callable[[], Any]:
    """The Jenkins client, made (settings read) on first use only."""
    from functools import cache

    from ..jenkins.client import client_from
    return cache(lambda: client_from(args.conf))


def cmd_diff(args: argparse.Namespace) -> int:
    from ..jobs.sync import plan

    _check_workers(args)
    client = _client(args)
    jobs = rendered(args, client=client)
    p = plan(client(), jobs, workers=args.workers, update=_update_kinds(args))
    for job in p.create + p.update:
        sys.stdout.write(p.diff(job))
    for name in p.orphans + p.kept_orphans:
        print(f"orphan {name}: managed by gantry/JJB but no longer in the catalog")
    for name in p.orphan_views:
        print(f"orphan view {name}: managed by gantry/JJB but no longer defined")
    print(p.summary())
    return EXIT_CHECK_FAILED if (p.create or p.update or p.orphans or p.kept_orphans or p.orphan_views) else 0


def cmd_update(args: argparse.Namespace) -> int:
    from ..jobs.sync import PruneLimits, apply, plan

    _check_workers(args)
    if args.max_deletions < 0:
        raise GantryError("--max-deletions", f"must be 0 or more, got {args.max_deletions}")
    if not 0 <= args.max_deletion_percent <= 100:
        raise GantryError("--max-deletion-percent", f"must be from 0 to 100, got {args.max_deletion_percent:g}")
    limits = PruneLimits(args.max_deletions, args.max_deletion_percent)
    client = _client(args)
    jobs = rendered(args, client=client)
    p = plan(client(), jobs, workers=args.workers, update=_update_kinds(args))
    counts = apply(client(), p, prune=args.prune, dry_run=args.dry_run, workers=args.workers,
                   report=lambda line: print(line, flush=True), limits=limits)
    verb = "would be " if args.dry_run else ""
    print(f"{counts['created']} {verb}created, {counts['updated']} {verb}updated, "
          f"{counts['unchanged']} unchanged, {counts['deleted']} {verb}deleted, "
          f"{counts['orphaned']} orphaned")
    return 0

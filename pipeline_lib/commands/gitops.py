"""``gantry gitops init|bump|promote|revoke|rollback|hold|freeze|history|apps|pins|check|wait``: the
GitOps repository and Argo CD."""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from pipeline_lib.core.errors import EXIT_CHECK_FAILED, GantryError
from pipeline_lib.core.settingsmodel import FromSetting

from .bumpqueue import print_answer, print_bump
from .options import add_catalog, add_dry_run, add_env, add_format, add_registry_for

if TYPE_CHECKING:
    from pipeline_lib.core.catalog import Catalog
    from pipeline_lib.core.settingsmodel import Settings


def _load_catalog(path: Path) -> Catalog:
    # YAML and the catalog model load when a command runs, not for `--help` (start-up time)
    from pipeline_lib.core.catalog import load_catalog
    return load_catalog(path)


def _digest(value: str) -> str:
    """argparse ``type=`` for ``--digest`` (the light core check: parsing loads no GitOps module)."""
    from pipeline_lib.core.reference import check_digest
    try:
        return check_digest(value)
    except GantryError as exc:
        raise argparse.ArgumentTypeError(exc.what) from None


def _freight_id(value: str) -> str:
    from gitops.freight import check_id
    try:
        return check_id(value)
    except GantryError as exc:
        raise argparse.ArgumentTypeError(exc.what) from None


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("gitops", help="bump, promote and scaffold the GitOps repo; Argo CD apps")
    gsub = p.add_subparsers(dest="gitops_command", metavar="ACTION", required=True)

    init = gsub.add_parser("init", help="create a GitOps repo (bare, local path) with the catalog's layout, "
                                        "or add what an existing one lacks",
                           description="Create the repository, or add to an existing one the files a newer "
                                       "gantry generates. A file a person changed is never overwritten: it is "
                                       "reported and the exit code is 1.")
    add_catalog(init)
    init.add_argument("--repo", required=True, type=Path, help="bare repository path (created if missing)")
    add_env(init, required=True)
    init.add_argument("--service", action="append", help="service (repeatable; default: all in --env)")
    init.add_argument("--registry", help="registry host (default: the catalog's ECR host)")
    add_dry_run(init, help="report what would change; change nothing")
    init.add_argument("--diff", action="store_true", help="show how each kept file differs from gantry's version")
    add_format(init)
    init.set_defaults(func=_init)

    check = gsub.add_parser("check", help="render every kustomization (kubectl kustomize) and validate it: "
                                          "Kubernetes and CRD schemas, HPA CPU requests, zone spread",
                            description="Exit 0: all valid; 1: a problem (one line each); 2: cannot check.")
    check.add_argument("--repo", type=Path, default=Path("."),
                       help="checkout (or bare repository) of the GitOps repo (default: .)")
    add_env(check, repeatable=True, help="only this environment's overlays and platform")
    check.add_argument("--kubernetes-version", default=None, help="API schemas to validate against "
                       "(default: the EKS version in infra/modules/eks)")
    add_format(check)
    check.set_defaults(func=_check)

    bump = gsub.add_parser("bump", help="pin a service's image by digest in one environment")
    add_catalog(bump)
    bump.add_argument("--repo", help="GitOps repository URL (default: the catalog's gitops_repo)")
    add_env(bump, required=True)
    bump.add_argument("--service", required=True)
    bump.add_argument("--digest", required=True, type=_digest, help="sha256:<64 hex>")
    bump.add_argument("--tag", help="image tag recorded beside the digest")
    bump.add_argument("--image", help="image repository host/name (default: catalog ECR repository)")
    bump.add_argument("--build-url", default=FromSetting("build_url"), help="default: $BUILD_URL")
    _mode_opts(bump)
    bump.add_argument("--workdir", type=Path, help="reuse this checkout directory")
    add_format(bump, help="output format (default: text; json: the result with its timings in seconds: "
                          "queue_wait, render, push, total; batch: bumps written together, commit_edits: "
                          "bumps in its commit)")
    bump.add_argument("--json", action="store_true", help="same as --format json")
    add_guard_opts(bump)
    bump.set_defaults(func=_bump, stage="bump")

    promote = gsub.add_parser(
        "promote", help="promote a freight (the digests one build pinned in dev) to another environment",
        description="Promotes a freight, never whatever the source runs now: --freight ID, or --service S "
                    "(repeatable) for the newest freight holding them. Checked inside the write, right before the "
                    "commit: not revoked; the source's Argo CD Application Synced and Healthy at the pinning commit "
                    "for the catalog's promotion.soak; signed evidence verifies for the target (gate verdict under "
                    "its policy); every replica region (Tokyo) holds the digest and its evidence. Exit 1: a "
                    "condition is not met (one line each), nothing written; a failed re-verification also revokes "
                    "the freight.")
    add_catalog(promote)
    promote.add_argument("--repo", help="GitOps repository URL (default: the catalog's gitops_repo)")
    promote.add_argument("--from", dest="source", required=True)
    promote.add_argument("--to", dest="target", required=True)
    what = promote.add_mutually_exclusive_group(required=True)
    what.add_argument("--service", action="append", help="promote the newest freight holding this service (repeatable)")
    what.add_argument("--freight", type=_freight_id, help="freight ID (12 hex digits)")
    promote.add_argument("--argocd-server", default=FromSetting("argocd_server"),
                         help="Argo CD API of the source environment (default: $ARGOCD_SERVER)")
    promote.add_argument("--insecure", action="store_true", help="do not verify Argo CD's TLS certificate")
    add_registry_for(promote, help="registry host of a replica region to check (default: its ECR host)")
    promote.add_argument("--build-url", default=FromSetting("build_url"))
    _mode_opts(promote)
    add_dry_run(promote, help="check every condition; write nothing")
    add_format(promote)
    promote.add_argument("--json", action="store_true", help="same as --format json")
    add_guard_opts(promote)
    promote.set_defaults(func=_promote, stage="promote")

    revoke = gsub.add_parser("revoke", help="mark a freight unusable: it is never promoted again",
                             description="One commit in the GitOps repo (.gantry/freight/ID.json) with the trailers "
                                         "Gantry-Action: revoke, Freight, By and Reason. Already revoked: nothing "
                                         "written.")
    add_catalog(revoke)
    revoke.add_argument("--repo", help="GitOps repository URL (default: the catalog's gitops_repo)")
    revoke.add_argument("--freight", required=True, type=_freight_id)
    revoke.add_argument("--reason", required=True, help="why (the Reason: trailer)")
    revoke.add_argument("--by", default=FromSetting("actor", "gantry"),
                        help="who (the By: trailer; default: $GANTRY_ACTOR, $BUILD_USER_ID, $GIT_AUTHOR_NAME or gantry)")
    add_dry_run(revoke, help="check the freight exists; write nothing")
    add_format(revoke)
    revoke.set_defaults(func=_revoke)

    apps = gsub.add_parser("apps", help="generate Argo CD Applications (or one ApplicationSet)")
    add_catalog(apps)
    apps.add_argument("--repo", help="GitOps repository URL Argo CD reads (default: catalog gitops_repo)")
    apps.add_argument("--revision", help="branch Argo CD tracks (default: the catalog's gitops_branch, "
                      "the branch bump/promote/pins use; another value must be confirmed with --allow-other-revision)")
    apps.add_argument("--allow-other-revision", action="store_true",
                      help="let Applications track a revision other than the branch gantry writes to")
    apps.add_argument("--argocd-namespace", default="argocd")
    apps.add_argument("--project", default="default")
    apps.add_argument("--appset", action="store_true", help="one ApplicationSet instead of Applications")
    apps.add_argument("--out", type=Path, help="write files under this directory instead of stdout")
    apps.set_defaults(func=_apps)

    pins = gsub.add_parser("pins", help="the digests the GitOps repo pins for one environment "
                                        "(--tfvars: the event stack's images.auto.tfvars.json)")
    add_catalog(pins)
    add_env(pins, required=True)
    pins.add_argument("--repo", help="GitOps repository URL (default: the catalog's gitops_repo)")
    add_format(pins, human="table")
    pins.add_argument("--tfvars", type=Path, help="write {\"image_digests\": …, \"image_registry\": host} here for "
                                                  "Terraform (every service must have a digest pinned; the "
                                                  "registry is the active one, see gantry dr)")
    pins.set_defaults(func=_pins)

    wait = gsub.add_parser("wait", help="poll the Argo CD API until an app is Synced and Healthy")
    wait.add_argument("--app", required=True)
    wait.add_argument("--server", default=FromSetting("argocd_server"), help="default: $ARGOCD_SERVER")
    wait.add_argument("--timeout", type=float, default=300.0)
    wait.add_argument("--revision", help="also require this synced revision (commit)")
    wait.add_argument("--insecure", action="store_true", help="do not verify TLS")
    wait.set_defaults(func=_wait)
    register_records(gsub)


def _mode_opts(p: argparse.ArgumentParser) -> None:
    p.add_argument("--mode", choices=("commit", "pr"), help="push to main, or open a pull request "
                   "(default: the environment's deploy setting in the catalog)")
    p.add_argument("--github-api", default=FromSetting("github_api_url"),
                   help="GitHub REST API base for --mode pr (default: $GITHUB_API_URL or api.github.com)")
    p.add_argument("--github-repo", help="owner/name for --mode pr (default: parsed from --repo)")


def _init(args: argparse.Namespace) -> int:
    from gitops.hostlock import Writers
    from gitops.layout import init_repo
    catalog = _load_catalog(args.catalog)
    services = [catalog.service(s) for s in args.service] if args.service else catalog.services_in(args.env)
    result = init_repo(args.repo, catalog, services, args.env, args.registry or catalog.registry_host,
                       dry_run=args.dry_run, writers=Writers.from_settings(args.settings))
    report = result.report
    if args.format == "json":
        print(json.dumps({"repo": str(args.repo), "created": result.created, "commit": result.commit,
                          "dry_run": args.dry_run, **report.as_dict()}, indent=2))
    else:
        verb = "would " if args.dry_run else ""
        for path in report.added:
            print(f"{verb}add     {path}")
        for path in report.updated:
            print(f"{verb}update  {path}")
        for path in report.merged:
            print(f"{verb}merge   {path} (+ {', '.join(report.merge_added.get(path, []))})")
        for path in report.kept:
            print(f"kept    {path}: changed by a person since gantry wrote it; not overwritten")
            if args.diff:
                sys.stdout.write(report.diffs.get(path, ""))
        for note in report.notes:
            print(f"note    {note}")
        state = "created" if result.created else ("up to date" if not report.written else "updated")
        print(f"{args.repo}: {'dry run, ' if args.dry_run else ''}{state}: {len(report.added)} added, "
              f"{len(report.updated)} updated, {len(report.merged)} merged, {len(report.kept)} kept"
              + (f"; commit {result.commit[:12]}" if result.commit else ""))
    if report.kept:
        print(f"gantry: gitops init: {len(report.kept)} file(s) changed by a person were kept; merge gantry's "
              "version by hand (see --diff)", file=sys.stderr)
        return EXIT_CHECK_FAILED
    return 0


def _check(args: argparse.Namespace) -> int:
    import shutil
    import tempfile

    from gitops.validate import KUBERNETES_VERSION, check_repo, summary
    repo: Path = args.repo
    tmp = None
    if (repo / "HEAD").is_file() and not (repo / ".git").exists() and (repo / "objects").is_dir():
        from gitops.git import checkout  # a bare repository: check its main branch
        tmp = Path(tempfile.mkdtemp(prefix="gantry-gitops-check-"))
        repo = checkout(repo.resolve().as_uri(), "main", tmp / "repo")
    try:
        ctx, problems = check_repo(repo, args.env or (), kubernetes_version=args.kubernetes_version
                                   or KUBERNETES_VERSION)
    finally:
        if tmp is not None:
            shutil.rmtree(tmp, ignore_errors=True)
    if args.format == "json":
        print(json.dumps({**summary(ctx), "problems": [{**p.__dict__, "line": p.line()} for p in problems]},
                         indent=2))
    elif not problems:
        s = summary(ctx)
        print(f"{args.repo}: ok: {s['objects']} objects in {s['kustomizations']} kustomizations valid")
    if problems:
        raise GantryError("gitops check", problems[0].line(), exit_code=EXIT_CHECK_FAILED,
                          problems=[f"gitops check: {p.line()}" for p in problems])
    return 0


def _bump(args: argparse.Namespace) -> int:
    if _queues(args) and _queued_bump(args):
        return 0
    from gitops.hostlock import Writers

    from ..stages.bump import BumpOptions, run
    catalog = _load_catalog(args.catalog)
    result = run(_bump_options(args, catalog, Writers.from_settings(args.settings), stamp(args, catalog, args.env))).value
    print_bump(result, args.json or args.format == "json", f"{args.service} {args.env}")
    announce_break_glass(args, [(args.service, result)], args.env)
    return 0


def _bump_options(args: argparse.Namespace, catalog: Catalog, writers, stamp_):
    from ..stages.bump import BumpOptions
    return BumpOptions(catalog, args.service, args.env, args.digest, args.tag, args.repo, args.image, args.build_url,
                       args.mode, args.github_api, args.github_repo, args.workdir, writers,
                       args.settings.github_token, stamp_)


# -- a bump that queues for a GitOps batch (issue 21: 50 at once) ---------------------------------
# The waiting process stays thin: it writes its command line to the spool and queues on the host's
# writer lock; the process that gets the lock (the leader) loads the catalog once and runs, for each
# queued command line, the checks a lone bump runs (same order, same errors) before the batch writes
# them. pipeline_lib.commands.bumpqueue queues before the CLI loads; _queued_bump after it parsed.


def _queues(args: argparse.Namespace) -> bool:
    """The bump can queue raw: batching and the lock on, no --workdir, no --break-glass (announced
    by its own process), not --mode pr (a review branch of its own)."""
    s = args.settings
    return (s.gitops_no_lock != "1" and s.gitops_no_batch != "1" and args.workdir is None and not args.break_glass
            and args.mode != "pr")


def _queued_bump(args: argparse.Namespace) -> bool:
    """Queue the command line and print its answer as a lone bump would (its error raised); False:
    the leader deferred it (e.g. evidence read from a registry, a pull request): run it yourself."""
    from gitops import batch
    from gitops.hostlock import Writers
    from pipeline_lib.core.settings import process_environ

    if process_environ(os.getpid()) is None:   # the leader could not read our settings
        return False
    url = args.repo or _load_catalog(args.catalog).gitops_repo
    request = {"argv": list(args.argv[2:]), "cwd": os.getcwd(), "service": args.service, "env": args.env}
    answer = batch.submit_request(url, request, prepare_requests(), writers=Writers.from_settings(args.settings))
    if answer.get("defer"):
        return False
    print_answer(answer, args.json or args.format == "json", f"{args.service} {args.env}")
    return True


def lead_requests(url: str, spool: str, settings: Settings) -> None:
    """Run the batches of ``url``'s spool as their leader (the caller holds the writer lock):
    :func:`gitops.batch.run_requests` with :func:`prepare_requests`."""
    from gitops.batch import run_requests
    from gitops.hostlock import Writers
    run_requests(url, Path(spool), prepare_requests(), writers=Writers.from_settings(settings))


def _bump_parser() -> argparse.ArgumentParser:
    """gantry's parser with the ``gitops`` command alone (no settings default: given per request)."""
    from .parser import root_parser
    parser, sub = root_parser()
    register(sub)
    return parser


def _parse_queued(parser: argparse.ArgumentParser, raw: dict) -> argparse.Namespace | None:
    """A queued command line as its own process parses it: ``gantry gitops bump ARGV`` with the
    settings of that process's environment; None (defer) when that environment cannot be read,
    the line does not parse (its process then reports it) or the bump would not queue."""
    import contextlib
    import io

    from pipeline_lib.core.settings import process_environ
    from pipeline_lib.core.settingsmodel import Settings
    env = process_environ(int(raw.get("pid", 0)))
    if env is None or not isinstance(raw.get("argv"), list):
        return None
    namespace = argparse.Namespace(settings=Settings.from_env(env))
    try:
        with contextlib.redirect_stderr(io.StringIO()), contextlib.redirect_stdout(io.StringIO()):
            args = parser.parse_args(["gitops", "bump", *map(str, raw["argv"])], namespace=namespace)
    except SystemExit:
        return None
    return args if getattr(args, "func", None) is _bump and _queues(args) else None


def prepare_requests():
    """The leader's :data:`gitops.batch.Prepare`: each queued command line parsed
    (:func:`_parse_queued`), then through the lone bump's checks, in its order (catalog, freeze
    windows, service and environment, evidence, the pin edit, the batch window); deferred (None)
    when it cannot be parsed here or the checks would read more than the catalog (an event
    calendar, evidence from a registry) or it delivers a pull request."""
    def prepare(raws):
        from gitops.batch import Prepared, Ready, window_seconds
        from gitops.bump import pin_edit
        from pipeline_lib.core.catalog import load_catalog

        from ..stages.bump import evidence_is_local, plan
        catalogs: dict[str, Catalog | GantryError] = {}
        parser = _bump_parser()
        out = []
        for raw in raws:
            args = _parse_queued(parser, raw)
            if args is None:
                out.append(Prepared(None))
                continue
            try:
                path = Path(raw["cwd"]) / args.catalog   # as its process reads it; errors name it as given
                if str(path) not in catalogs:
                    try:
                        catalogs[str(path)] = load_catalog(path, display=str(args.catalog))
                    except GantryError as exc:
                        catalogs[str(path)] = exc
                catalog = catalogs[str(path)]
                if isinstance(catalog, GantryError):
                    raise catalog
                if catalog.freeze_for(args.env).event_calendar:
                    out.append(Prepared(None))
                    continue
                stamp_ = stamp(args, catalog, args.env)
                env = catalog.service(args.service).environment(args.env)
                if (args.mode or env.deploy) != "commit" or not evidence_is_local(catalog, args.env):
                    out.append(Prepared(None))
                    continue
                planned = plan(_bump_options(args, catalog, None, stamp_))
            except GantryError as exc:
                out.append(Prepared(exc))
                continue
            notes = [f"gantry: warning: {line}" for line in planned.evidence.warnings]
            try:
                edit = pin_edit(catalog, args.service, args.env, planned.image, args.digest, args.tag,
                                args.build_url, "deploy", stamp_, planned.freight)
                out.append(Prepared(Ready(catalog.gitops_branch, edit,
                                          window_seconds(catalog.gitops_batch_window_ms,
                                                         args.settings.gitops_batch_window_ms)),
                                    notes))
            except GantryError as exc:
                out.append(Prepared(exc, notes))
        return out
    return prepare


def _promote(args: argparse.Namespace) -> int:
    from gitops.hostlock import Writers

    from ..stages.promote import PromoteOptions, run
    catalog = _load_catalog(args.catalog)
    replicas = None
    if args.registry_for:
        replicas = {r: catalog.ecr_host(r) for r in catalog.replica_regions}
        replicas.update(dict(args.registry_for))
    st = stamp(args, catalog, args.target)   # who, why, break-glass, the target's freeze windows
    stage = run(PromoteOptions(catalog, args.source, args.target, args.freight, tuple(args.service or ()),
                               args.repo, args.argocd_server, args.settings.argocd_token, not args.insecure,
                               replica_hosts=replicas, build_url=args.build_url, mode=args.mode,
                               github_api=args.github_api, github_repo=args.github_repo,
                               github_token=args.settings.github_token, writers=Writers.from_settings(args.settings),
                               by=st.by or "gantry", dry_run=args.dry_run, freeze=st.freeze,
                               break_glass=st.break_glass, reason=st.reason))
    result = stage.value
    if stage.data.get("break_glass"):
        from types import SimpleNamespace
        announce_break_glass(args, [(f"freight {result.freight}", SimpleNamespace(
            break_glass="a freeze window", commit=result.commit))], args.target)
    for line in result.warnings:
        print(f"gantry: warning: {line}", file=sys.stderr)
    if args.json or args.format == "json":
        from dataclasses import asdict
        print(json.dumps(asdict(result), indent=2))
        return 0
    for pin in result.pins:
        print(f"{pin['service']} {args.target}: {pin['old_digest'] or 'none'} -> {pin['digest']}")
    state = ("dry run, nothing written" if result.dry_run else
             f"commit {result.commit[:12]} on {result.branch}" if result.commit else f"{args.target} already pins it")
    print(f"freight {result.freight} {args.source} -> {args.target}: {state}; checks passed: {', '.join(result.checks)}"
          + (f"; pull request {result.pull_request}" if result.pull_request else ""))
    return 0


def _revoke(args: argparse.Namespace) -> int:
    from gitops.freight import revoke
    from gitops.hostlock import Writers
    catalog = _load_catalog(args.catalog)
    result = revoke(args.repo or catalog.gitops_repo, catalog.gitops_branch, args.freight,
                    by=args.by or "gantry", reason=args.reason,
                    writers=Writers.from_settings(args.settings), dry_run=args.dry_run)
    if args.format == "json":
        from dataclasses import asdict
        print(json.dumps(asdict(result), indent=2))
    elif result.already:
        print(f"freight {args.freight} was already revoked by {result.already.by} at {result.already.at}: "
              f"{result.already.reason}; nothing written")
    elif result.commit:
        print(f"freight {args.freight} revoked: commit {result.commit[:12]}")
    else:
        print(f"freight {args.freight}: dry run, would revoke")
    return 0


def _apps(args: argparse.Namespace) -> int:
    from gitops.argocd import application_set, applications, dump_all
    catalog = _load_catalog(args.catalog)
    repo = args.repo or catalog.gitops_repo
    revision = args.revision or catalog.gitops_branch
    if revision != catalog.gitops_branch and not args.allow_other_revision:
        raise GantryError("gitops apps", f"--revision {revision} differs from the catalog's gitops_branch "
                                         f"{catalog.gitops_branch!r}, where bump, promote and pins write and read: "
                                         "Argo CD would not deploy gantry's pins (set defaults.gitops_branch, or pass "
                                         "--allow-other-revision)")
    args.revision = revision
    docs = ([application_set(catalog, repo, args.revision, args.argocd_namespace, args.project)]
            if args.appset else applications(catalog, repo, args.revision, args.argocd_namespace, args.project))
    if args.out is None:
        sys.stdout.write(dump_all(docs))
        return 0
    from pipeline_lib.core.fileio import write_atomic
    for doc in docs:
        path = args.out / f"{doc['metadata']['name']}.yaml"
        write_atomic(path, dump_all([doc]))
        print(path)
    return 0


def _pins(args: argparse.Namespace) -> int:
    from gitops.pins import active_registry, image_digests, read_environment, write_tfvars
    catalog = _load_catalog(args.catalog)
    pins, state = read_environment(args.repo or catalog.gitops_repo, catalog, args.env)
    if args.tfvars:
        write_tfvars(args.tfvars, image_digests(pins, args.env), active_registry(catalog, state))
        if state and state.failed_over:
            print(f"{args.env} is failed over: image_registry {state.active_registry} ({state.active_region})",
                  file=sys.stderr)
    if args.format == "json":
        print(json.dumps({name: {"image": p.name, "tag": p.tag, "digest": p.digest} for name, p in pins.items()},
                         indent=2))
    else:
        for name, pin in pins.items():
            print(f"{name:<20} {pin.tag or '-':<20} {pin.digest or 'not pinned'}")
    if args.tfvars:
        print(f"wrote {args.tfvars}", file=sys.stderr)
    return 0


def _wait(args: argparse.Namespace) -> int:
    from gitops.argocd import wait_synced
    if not args.server:
        raise GantryError("gitops wait", "--server (or $ARGOCD_SERVER) is required")
    token = args.settings.argocd_token
    return wait_synced(args.server, args.app, token=token, timeout=args.timeout, revision=args.revision,
                       verify=not args.insecure)


# -- holds, rollback, freeze windows, history (issue 24: a rollback that sticks, freezes, records) --
BY_HELP = "who asks (the By: trailer; default: $GANTRY_ACTOR, $BUILD_USER_ID, $GIT_AUTHOR_NAME or gantry)"


def add_guard_opts(p: argparse.ArgumentParser, *, reason_required: bool = False) -> None:
    """``--by``, ``--break-glass``, ``--reason`` of a command that writes pins (``reason_required``:
    the command always needs ``--reason``, e.g. rollback; checked by the command, one line)."""
    p.add_argument("--by", default=FromSetting("actor", "gantry"), help=BY_HELP)
    p.add_argument("--break-glass", action="store_true",
                   help="write even inside a freeze window: one commit with Break-Glass: true and Reason: trailers, "
                        "announced on Slack ($SLACK_WEBHOOK_URL, required); needs --reason")
    p.add_argument("--reason", help="why (the Reason: trailer; required)" if reason_required
                   else "why (the Reason: trailer; required with --break-glass)")


def freeze_specs(catalog: Catalog, environment: str, *, calendar: bool = True) -> list:
    """The environment's freeze windows: the catalog's ``freeze:`` entries plus, when it names an
    ``event_calendar`` (a Scheduler group), the sale windows of the events scheduled there
    (:func:`pipeline_lib.event.schedule.read_calendar`, read with boto3 in the event
    environment's region). An unreadable calendar is an error (exit 2), never "no window"."""
    from pipeline_lib.core.freeze import Window
    policy = catalog.freeze_for(environment)
    specs = list(policy.windows)
    if calendar and policy.event_calendar:
        import boto3
        from botocore.exceptions import BotoCoreError

        from ..event.schedule import read_calendar
        env = catalog.environments.get("event") or catalog.environments[environment]
        try:
            scheduler = boto3.client("scheduler", region_name=env.aws_region)
        except BotoCoreError as exc:
            raise GantryError(f"event calendar {policy.event_calendar}", str(exc)) from None
        specs += [Window(f"event {w.name}", w.start, w.end, "event calendar")
                  for w in read_calendar(scheduler, policy.event_calendar)]
    return specs


def stamp(args: argparse.Namespace, catalog: Catalog, environment: str):
    """The :class:`gitops.writeback.Stamp` of a pin-writing command: who, why, break-glass, and
    the environment's freeze windows (checked by the write path at write time)."""
    from gitops.writeback import Stamp
    from pipeline_lib.core.freeze import to_json
    if args.break_glass:   # checked before anything is written: the announcement must be possible
        url = args.settings.slack_webhook_url
        if not url:
            raise GantryError("gitops: --break-glass", "needs $SLACK_WEBHOOK_URL: breaking glass is announced on Slack")
        from urllib.parse import urlsplit
        parts = urlsplit(url)
        if parts.scheme not in ("https", "http") or not parts.hostname:
            raise GantryError("gitops: --break-glass", "$SLACK_WEBHOOK_URL is not an http(s) URL "
                                                       "(breaking glass is announced on Slack)")
    return Stamp(by=args.by, reason=args.reason, break_glass=args.break_glass,
                 freeze=tuple(to_json(freeze_specs(catalog, environment))))


def announce_break_glass(args: argparse.Namespace, results: list, environment: str) -> None:
    """Post one Slack message per break-glass commit (service, window, commit, who, why). A failed
    post comes after the commit was pushed: the write happened, so it is not an error (the exit
    code stays the write's) but a loud warning on stderr naming the commit, to announce by hand."""
    from ..notify.slack import post_slack
    for service, result in results:
        if isinstance(result, GantryError) or not getattr(result, "break_glass", None):
            continue
        text = (f":rotating_light: gantry break-glass: {service} in {environment} written inside freeze window "
                f"{result.break_glass} by {args.by}: {args.reason} (commit {str(result.commit)[:12]})")
        try:
            post_slack(args.settings.slack_webhook_url, text)
        except GantryError as exc:
            print(f"gantry: warning: gitops: --break-glass: {service} {environment}: commit "
                  f"{str(result.commit)[:12]} was written and pushed, but its Slack announcement failed "
                  f"({exc.what}): announce it by hand", file=sys.stderr)


def register_records(gsub: argparse._SubParsersAction) -> None:
    """``rollback``, ``hold set|release|list``, ``freeze status``, ``history``."""
    rb = gsub.add_parser("rollback", help="pin the previous promoted image of services and hold them",
                         description="Pins, per --service, the digest the newest non-rollback record replaced "
                                     "(or --to FREIGHT's), effect-checked, one commit per service that also sets a "
                                     "hold (.gantry/holds/ENV/SERVICE.json): bump and promote then refuse the "
                                     "service until 'gantry gitops hold release'. --reason is required (recorded in "
                                     "the hold and the commit). Inside a freeze window it needs --break-glass; --dry-run meets the same window. Exit 1: refused "
                                     "(freeze); 2: nothing to roll back to, bad input.")
    add_catalog(rb)
    rb.add_argument("--repo", help="GitOps repository URL (default: the catalog's gitops_repo)")
    add_env(rb, required=True)
    rb.add_argument("--service", action="append", required=True, help="service (repeatable)")
    rb.add_argument("--to", dest="freight", metavar="FREIGHT", help="pin this freight's digest instead")
    rb.add_argument("--build-url", default=FromSetting("build_url"))
    add_guard_opts(rb, reason_required=True)
    add_dry_run(rb, help="show what would be pinned and whether a freeze window refuses it; write nothing")
    add_format(rb)
    rb.set_defaults(func=_rollback)

    hold = gsub.add_parser("hold", help="holds: services bump and promote must not change")
    hsub = hold.add_subparsers(dest="hold_command", metavar="ACTION", required=True)
    hs = hsub.add_parser("set", help="hold a service (one commit); holds are not frozen")
    hr = hsub.add_parser("release", help="release a service's hold (one commit)")
    for hp in (hs, hr):
        add_catalog(hp)
        hp.add_argument("--repo", help="GitOps repository URL (default: the catalog's gitops_repo)")
        add_env(hp, required=True)
        hp.add_argument("--service", required=True)
        hp.add_argument("--by", default=FromSetting("actor", "gantry"), help=BY_HELP)
        add_dry_run(hp, help="show the hold in force and what would change; write nothing")
        add_format(hp)
    hs.add_argument("--reason", required=True)
    hr.add_argument("--reason", default="released", help="why (default: released)")
    hs.set_defaults(func=_hold_set)
    hr.set_defaults(func=_hold_release)
    hl = hsub.add_parser("list", help="the holds in force")
    add_catalog(hl)
    hl.add_argument("--repo", help="GitOps repository URL (default: the catalog's gitops_repo)")
    add_env(hl, default=None, help="only this environment")
    add_format(hl, human="table")
    hl.set_defaults(func=_hold_list)

    fr = gsub.add_parser("freeze", help="freeze windows: when an environment's pins must not change")
    fsub = fr.add_subparsers(dest="freeze_command", metavar="ACTION", required=True)
    fs = fsub.add_parser("status", help="the windows in force now and the next ones (catalog + event calendar)",
                         description="Exit 0 either way (frozen or not), or with --check 1 when an environment "
                                     "shown is frozen (e.g. a required status check on GitOps pull requests, which "
                                     "a person may merge later than gantry wrote them); 2: the catalog or calendar "
                                     "cannot be read.")
    fs.add_argument("--check", action="store_true", help="exit 1 when frozen")
    add_catalog(fs)
    add_env(fs, default=None, help="only this environment")
    fs.add_argument("--at", help="evaluate at this ISO date-time with offset instead of now")
    add_format(fs)
    fs.set_defaults(func=_freeze_status)

    hi = gsub.add_parser("history", help="gantry's records: bumps, promotions, revocations, rollbacks, holds, "
                                         "break-glass (from the GitOps repo's commit trailers)")
    add_catalog(hi)
    hi.add_argument("--repo", help="GitOps repository URL (default: the catalog's gitops_repo)")
    add_env(hi, default=None, help="only this environment")
    hi.add_argument("--service")
    hi.add_argument("--limit", type=_positive, default=None, help="read at most this many commits")
    add_format(hi, human="table")
    hi.set_defaults(func=_history)


def _positive(value: str) -> int:
    try:
        number = int(value)
    except ValueError:
        number = 0
    if number < 1:
        raise argparse.ArgumentTypeError(f"{value!r} is not a positive integer")
    return number


def _checkout_of(repo: str, branch: str):
    import contextlib
    import shutil
    import tempfile

    from gitops.git import checkout

    @contextlib.contextmanager
    def cm():
        tmp = Path(tempfile.mkdtemp(prefix="gantry-gitops-read-"))
        try:
            yield checkout(repo, branch, tmp / "repo")
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
    return cm()


def _rollback(args: argparse.Namespace) -> int:
    from dataclasses import asdict

    from gitops.hostlock import Writers
    from gitops.rollback import rollback
    catalog = _load_catalog(args.catalog)
    targets, results = rollback(args.repo or catalog.gitops_repo, catalog=catalog, services=args.service,
                                environment=args.env, by=args.by, reason=args.reason or "", freight=args.freight,
                                stamp=stamp(args, catalog, args.env), writers=Writers.from_settings(args.settings),
                                dry_run=args.dry_run, build_url=args.build_url)
    failed = [r for r in results if isinstance(r, GantryError)]
    if args.format == "json":
        print(json.dumps({"dry_run": args.dry_run, "targets": [asdict(t) for t in targets],
                          "results": [({"error": r.what, "exit_code": r.exit_code} if isinstance(r, GantryError)
                                       else None if r is None else asdict(r)) for r in results]}, indent=2))
    else:
        for i, t in enumerate(targets):
            r = results[i] if i < len(results) else None
            would = "would be " if args.dry_run else ""
            state = ("would pin" if r is None
                     else f"{would}{r.what if r.what.startswith('refused') else 'refused: ' + r.what}"
                     if isinstance(r, GantryError)
                     else f"pinned, held; commit {str(r.commit)[:12]}" if r.commit else "already pinned; hold unchanged")
            print(f"rollback {t.service} {args.env}: {t.image}@{t.digest} ({t.source}): {state}")
    announce_break_glass(args, list(zip(args.service, results)), args.env)
    if failed:   # each refusal already names its service and environment (its `where`)
        raise GantryError("gitops rollback", f"{len(failed)} of {len(results)} service(s) "
                                             f"{'would not be' if args.dry_run else 'not'} rolled back: "
                                             f"{failed[0].where}: {failed[0].what}",
                          exit_code=max(e.exit_code for e in failed),
                          problems=[f"{e.where}: {e.what}" for e in failed])
    return 0


def _hold_set(args: argparse.Namespace) -> int:
    from datetime import datetime, timezone

    from gitops.holds import Hold, require_line, set_hold
    from gitops.hostlock import Writers
    by, reason = (require_line("gitops hold set", opt, v) for opt, v in (("--by", args.by), ("--reason", args.reason)))
    catalog = _load_catalog(args.catalog)
    catalog.service(args.service).environment(args.env)
    hold = Hold(args.env, args.service, by, reason,
                datetime.now(timezone.utc).isoformat(timespec="seconds"))
    if args.dry_run:
        return _hold_dry_run(args, catalog, "set", hold)
    commit = set_hold(args.repo or catalog.gitops_repo, catalog.gitops_branch, hold,
                      writers=Writers.from_settings(args.settings))
    if args.format == "json":
        print(json.dumps({"hold": hold.__dict__, "commit": commit}, indent=2))
    else:
        print(f"hold {args.service} {args.env}: {hold.describe()}; "
              + (f"commit {commit[:12]}" if commit else "already held so; no commit"))
    return 0


def _hold_release(args: argparse.Namespace) -> int:
    from gitops.holds import release_hold, require_line
    from gitops.hostlock import Writers
    by, reason = (require_line("gitops hold release", opt, v) for opt, v in (("--by", args.by), ("--reason", args.reason)))
    catalog = _load_catalog(args.catalog)
    if args.dry_run:
        return _hold_dry_run(args, catalog, "release", None)
    commit, hold, corrupt = release_hold(args.repo or catalog.gitops_repo, catalog.gitops_branch, args.env,
                                         args.service, by=by, reason=reason,
                                         writers=Writers.from_settings(args.settings))
    if corrupt:
        print(f"gantry: warning: gitops hold release {args.service} {args.env}: the hold file was unreadable "
              f"({corrupt}); removed it", file=sys.stderr)
    if args.format == "json":
        print(json.dumps({"released": None if corrupt else hold.__dict__, "corrupt": corrupt, "commit": commit},
                         indent=2))
    else:
        print(f"released {args.service} {args.env} ({'unreadable hold file' if corrupt else hold.describe()}); "
              f"commit {commit[:12]}")
    return 0


def _hold_dry_run(args: argparse.Namespace, catalog: Catalog, action: str, new) -> int:
    from gitops.holds import read_hold
    from pipeline_lib.core.errors import BadInput
    with _checkout_of(args.repo or catalog.gitops_repo, catalog.gitops_branch) as wd:
        try:
            current = read_hold(wd, args.env, args.service)
        except BadInput as exc:
            if action != "release":
                raise
            print(f"gantry: warning: {exc.where}: {exc.what}; release would remove it", file=sys.stderr)
            print(json.dumps({"dry_run": True, "action": action, "current": None, "corrupt": exc.what, "new": None},
                             indent=2) if args.format == "json"
                  else f"would release the hold on {args.service} {args.env} (an unreadable hold file)")
            return 0
    if action == "release" and current is None:
        raise GantryError(f"gitops hold release {args.service} {args.env}", "no hold is set")
    if args.format == "json":
        print(json.dumps({"dry_run": True, "action": action, "current": current and current.__dict__,
                          "new": new and new.__dict__}, indent=2))
    else:
        print(f"would {action} the hold on {args.service} {args.env}"
              + (f" (now: {current.describe()})" if current else " (none now)"))
    return 0


def _hold_list(args: argparse.Namespace) -> int:
    from gitops.holds import list_holds
    catalog = _load_catalog(args.catalog)
    with _checkout_of(args.repo or catalog.gitops_repo, catalog.gitops_branch) as wd:
        holds = list_holds(wd, args.env)
    if args.format == "json":
        print(json.dumps([h.__dict__ for h in holds], indent=2))
    elif not holds:
        print("no holds")
    else:
        print(f"{'ENV':<6} {'SERVICE':<20} {'BY':<14} {'SINCE':<26} {'DIGEST':<20} REASON")
        for h in holds:
            print(f"{h.environment:<6} {h.service:<20} {h.by:<14} {h.at:<26} {(h.digest or '-')[:19]:<20} {h.reason}")
    return 0


def _freeze_status(args: argparse.Namespace) -> int:
    from datetime import datetime, timezone

    from pipeline_lib.core.freeze import active_at, parse_datetime, upcoming
    catalog = _load_catalog(args.catalog)
    try:
        at = parse_datetime(args.at) if args.at is not None else datetime.now(timezone.utc).replace(microsecond=0)
    except ValueError as exc:
        raise GantryError("gitops freeze status: --at", str(exc)) from None
    envs = [args.env] if args.env else list(catalog.environments)
    report = []
    for env in envs:
        specs = freeze_specs(catalog, env)
        report.append({"environment": env, "at": at.isoformat(), "frozen": bool(active_at(specs, at)),
                       "active": [w.to_json() for w in active_at(specs, at)],
                       "next": [w.to_json() for w in upcoming(specs, at)[:3]],
                       "windows": len(specs)})
    if args.format == "json":
        print(json.dumps(report, indent=2))
        return _frozen_exit(args, report)
    for r in report:
        state = "FROZEN" if r["frozen"] else "open"
        print(f"{r['environment']}: {state} at {r['at']} ({r['windows']} window(s) configured)")
        for w in r["active"]:
            print(f"  in force: {w['name']} ({w['source']}) {w['start']} .. {w['end']}")
        for w in r["next"]:
            print(f"  next:     {w['name']} ({w['source']}) {w['start']} .. {w['end']}")
    return _frozen_exit(args, report)


def _frozen_exit(args: argparse.Namespace, report: list[dict]) -> int:
    frozen = [r for r in report if r["frozen"]]
    if args.check and frozen:
        first = frozen[0]["active"][0]
        raise GantryError("gitops freeze status", f"{frozen[0]['environment']} is frozen by window {first['name']!r} "
                                                  f"({first['source']}) until {first['end']}",
                          exit_code=EXIT_CHECK_FAILED)
    return 0


def _history(args: argparse.Namespace) -> int:
    from dataclasses import asdict

    from gitops.history import read_history
    catalog = _load_catalog(args.catalog)
    if args.service is not None:
        catalog.service(args.service)   # an unknown service is an error, not an empty history
    with _checkout_of(args.repo or catalog.gitops_repo, catalog.gitops_branch) as wd:
        records = read_history(wd, environment=args.env, service=args.service, limit=args.limit)
    if args.format == "json":
        print(json.dumps([asdict(r) for r in records], indent=2))
        return 0
    print(f"{'DATE':<25} {'COMMIT':<12} {'ACTION':<9} {'ENV':<6} {'SERVICE':<18} {'DIGEST':<20} {'BY':<12} REASON")
    for r in records:
        action = r.action + ("!" if r.break_glass else "")
        print(f"{r.date:<25} {r.commit[:12]:<12} {action:<9} {r.environment or '-':<6} {r.service or '-':<18} "
              f"{(r.digest or '-')[:19]:<20} {r.by or '-':<12} {r.reason or ''}")
    return 0

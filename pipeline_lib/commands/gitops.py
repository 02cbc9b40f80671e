"""``gantry gitops init|bump|promote|revoke|apps|pins|check|wait``: the GitOps repository and Argo CD."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from pipeline_lib.core.errors import EXIT_CHECK_FAILED, GantryError
from pipeline_lib.core.settings import FromSetting

from .options import add_catalog, add_dry_run, add_env, add_format, add_registry_for

if TYPE_CHECKING:
    from pipeline_lib.core.catalog import Catalog


def _load_catalog(path: Path) -> Catalog:
    # YAML and the catalog model load when a command runs, not for `--help` (start-up time)
    from pipeline_lib.core.catalog import load_catalog
    return load_catalog(path)


def _digest(value: str) -> str:
    from gitops.bump import parse_digest_arg
    return parse_digest_arg(value)


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
    promote.set_defaults(func=_promote, stage="promote")

    revoke = gsub.add_parser("revoke", help="mark a freight unusable: it is never promoted again",
                             description="One commit in the GitOps repo (.gantry/freight/ID.json) with the trailers "
                                         "Gantry-Action: revoke, Freight, By and Reason. Already revoked: nothing "
                                         "written.")
    add_catalog(revoke)
    revoke.add_argument("--repo", help="GitOps repository URL (default: the catalog's gitops_repo)")
    revoke.add_argument("--freight", required=True, type=_freight_id)
    revoke.add_argument("--reason", required=True)
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


def _print_bump(result, as_json: bool, what: str) -> None:
    _warn(result)
    if as_json:
        from dataclasses import asdict
        print(json.dumps(asdict(result), indent=2))
        return
    if not result.changed:
        print(f"{what}: {result.manifest} already pins {result.new_digest}; no commit")
        return
    print(f"{what}: {result.manifest}: {result.old_tag or 'none'} -> {result.new_tag or 'none'}, "
          f"{result.old_digest or 'none'} -> {result.new_digest}; commit {result.commit} on {result.branch}"
          + (f" ({result.commit_edits} of a batch of {result.batch} bumps)" if result.batch > 1 else "")
          + (f"; pull request {result.pull_request}" if result.pull_request else ""))


def _bump(args: argparse.Namespace) -> int:
    from gitops.hostlock import Writers

    from ..stages.bump import BumpOptions, run
    stage = run(BumpOptions(_load_catalog(args.catalog), args.service, args.env, args.digest, args.tag,
                            args.repo, args.image, args.build_url, args.mode, args.github_api, args.github_repo,
                            args.workdir, Writers.from_settings(args.settings),
                            args.settings.github_token))
    _print_bump(stage.value, args.json or args.format == "json", f"{args.service} {args.env}")
    if stage.data.get("freight") and not (args.json or args.format == "json"):
        print(f"freight {stage.data['freight']} recorded: gantry gitops promote --freight {stage.data['freight']}")
    return 0


def _warn(result) -> None:
    for line in result.warnings:
        print(f"gantry: warning: {line}", file=sys.stderr)


def _promote(args: argparse.Namespace) -> int:
    from gitops.hostlock import Writers

    from ..stages.promote import PromoteOptions, run
    catalog = _load_catalog(args.catalog)
    replicas = None
    if args.registry_for:
        replicas = {r: catalog.ecr_host(r) for r in catalog.replica_regions}
        replicas.update(dict(args.registry_for))
    result = run(PromoteOptions(catalog, args.source, args.target, args.freight, tuple(args.service or ()),
                                args.repo, args.argocd_server, args.settings.argocd_token, not args.insecure,
                                replica_hosts=replicas, build_url=args.build_url, mode=args.mode,
                                github_api=args.github_api, github_repo=args.github_repo,
                                github_token=args.settings.github_token, writers=Writers.from_settings(args.settings),
                                by=args.settings.actor or "gantry", dry_run=args.dry_run)).value
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
                    by=args.settings.actor or "gantry", reason=args.reason,
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

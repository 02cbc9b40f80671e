"""``gantry dr failover|failback|status``: run an environment from the replica registry, and back.

Exit codes: 0 switched (or already there; ``--dry-run``: the switch would go ahead); 1 a pinned
digest is not usable in the target registry (missing manifest, child manifest or blob) — nothing
written; 2 bad input, a registry or the GitOps repo cannot be reached, or an edit would not take
effect.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import TYPE_CHECKING

from pipeline_lib.core.errors import GantryError

from .options import add_catalog, add_dry_run, add_env, add_format, add_registry_for

if TYPE_CHECKING:
    from pipeline_lib.core.catalog import Catalog


def load_catalog(path) -> Catalog:
    # YAML and the catalog model load when a command runs, not for `gantry --help` (start-up time)
    from pipeline_lib.core.catalog import load_catalog as load
    return load(path)


def _common(p: argparse.ArgumentParser) -> None:
    add_catalog(p)
    p.add_argument("--repo", help="GitOps repository URL (default: the catalog's gitops_repo)")
    add_env(p, required=True)
    add_format(p)


def _switch_opts(p: argparse.ArgumentParser) -> None:
    _common(p)
    p.add_argument("--service", action="append", metavar="NAME",
                   help="move only this service (repeatable; default: every service deployed in --env)")
    add_dry_run(p, help="check the target registry and print the plan; write nothing")
    add_registry_for(p)


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("dr", help="image disaster recovery: fail an environment over to the replica "
                                  "registry (and back)")
    dsub = p.add_subparsers(dest="dr_command", metavar="ACTION", required=True)

    fo = dsub.add_parser("failover", help="pin every service of an environment to the replica registry, same "
                                          "digests, one commit (after checking the replica has them all)")
    _switch_opts(fo)
    fo.add_argument("--to", required=True, metavar="REGION", help="replica region (catalog replica_regions)")
    fo.set_defaults(func=_failover)

    fb = dsub.add_parser("failback", help="pin the environment back to the primary registry once it has "
                                          "every pinned digest")
    _switch_opts(fb)
    fb.set_defaults(func=_failback)

    st = dsub.add_parser("status", help="the registry an environment pulls from (the GitOps repo's DR state)")
    _common(st)
    st.set_defaults(func=_status)


def _host_for(catalog: Catalog, overrides: dict[str, str]):
    known = {catalog.registry_region, *catalog.replica_regions}
    unknown = set(overrides) - known
    if unknown:
        raise GantryError("dr", f"--registry-for: region(s) {', '.join(sorted(unknown))} are neither the "
                                f"registry region nor a replica region ({', '.join(sorted(known))})")
    return lambda region: overrides.get(region) or catalog.ecr_host(region)


def _failover(args: argparse.Namespace) -> int:
    catalog = load_catalog(args.catalog)
    if args.to == catalog.registry_region:
        raise GantryError("dr failover", f"--to {args.to} is the primary registry region: use 'gantry dr failback'")
    if args.to not in catalog.replica_regions:
        raise GantryError("dr failover", f"--to {args.to} is not a replica region (catalog replica_regions: "
                                         f"{', '.join(catalog.replica_regions) or 'none'})")
    return _switch(args, catalog, args.to, "failover")


def _failback(args: argparse.Namespace) -> int:
    catalog = load_catalog(args.catalog)
    return _switch(args, catalog, catalog.registry_region, "failback")


def _switch(args: argparse.Namespace, catalog: Catalog, region: str, action: str) -> int:
    from gitops.failover import Move, switch_registry
    from gitops.hostlock import Writers

    from ..dr.presence import Presence, check_presence
    from ..dr.verdict import Unusable, unusable_error
    from ..image.registry import registry_for

    host_for = _host_for(catalog, dict(args.registry_for))
    target = host_for(region)
    client = registry_for(target)
    checks: dict[str, Presence] = {}
    text = args.format == "text"

    def verify(moves: list[Move]) -> None:
        checks.clear()
        for move in moves:
            if text:
                print(f"dr {action}: checking {move.service}: {target}/{move.repository}@{move.digest[:19]}",
                      file=sys.stderr, flush=True)
            checks[move.service] = check_presence(client, move.repository, move.digest)
        bad = [Unusable(m.service, m.current, m.tag, checks[m.service]) for m in moves if not checks[m.service].ok]
        if bad:
            raise unusable_error(action, args.env, region, target, bad, len(moves), repush=action == "failback")
        # the cluster will pull from `target`: its copy of each digest's evidence must verify there
        from ..attest.enforce import check_all
        for decision in check_all(catalog, args.env, [(f"{target}/{m.repository}", m.digest) for m in moves],
                                  what=f"dr {action}", client_for=lambda host: client):
            for line in decision.warnings:
                print(f"gantry: warning: {line}", file=sys.stderr)

    result = None
    try:
        result = switch_registry(args.repo or catalog.gitops_repo, catalog, args.env, region=region, registry=target,
                                 primary_registry=host_for(catalog.registry_region), verify=verify,
                                 services=args.service, reason=action, dry_run=args.dry_run,
                                 writers=Writers.from_settings(args.settings))
    except GantryError as exc:
        if not text:
            print(json.dumps({"action": action, "environment": args.env, "region": region, "registry": target,
                              "ok": False, "exit_code": exc.exit_code, "error": f"{exc.where}: {exc.what}",
                              "commit": None, "images": [c.to_json() for c in checks.values()]}, indent=2))
        raise
    if not text:
        print(json.dumps({"action": action, "environment": args.env, "region": region, "registry": target,
                          "ok": True, "dry_run": args.dry_run, "commit": result.commit,
                          "services": [{"service": m.service, "from": m.current, "to": m.target, "digest": m.digest,
                                        "manifest": m.manifest, "changed": m.changed,
                                        "presence": checks[m.service].to_json()} for m in result.moves]}, indent=2))
        return 0
    head = f"dr {action} {args.env} -> {region} ({target})"
    print(head + (" — dry run, nothing written" if args.dry_run else ""))
    for m in result.moves:
        c = checks[m.service]
        print(f"  {m.service:<16} {m.current}\n  {'':<16} -> {m.target}  "
              f"({c.manifests} manifest(s), {c.blobs} blob(s) present)")
    if args.dry_run:
        return 0
    if result.commit is None:
        print(f"{args.env} already pulls every service from {target}; no commit")
    else:
        platform = catalog.environments[args.env].platform if args.env in catalog.environments else ""
        nxt = (f"roll the ECS services to it: gantry event deploy --env {args.env} --service <service> (or the "
               f"event runner's terraform apply: gantry gitops pins --tfvars carries {target})"
               if platform == "ecs-fargate" else
               f"Argo CD syncs it (watch: gantry gitops wait --app <service>-{args.env} --revision {result.commit})")
        print(f"commit {result.commit} on {catalog.gitops_branch}: {len(result.moves)} service(s) in one commit; {nxt}")
    return 0


def _status(args: argparse.Namespace) -> int:
    from gitops.drstate import fetch_state
    catalog = load_catalog(args.catalog)
    state = fetch_state(args.repo or catalog.gitops_repo, args.env, catalog.gitops_branch)
    data = {"environment": args.env, "failed_over": bool(state and state.failed_over),
            "active_region": state.active_region if state else catalog.registry_region,
            "active_registry": state.active_registry if state else catalog.registry_host,
            "primary_region": catalog.registry_region,
            "changed_at": state.changed_at if state else None}
    if args.format == "json":
        print(json.dumps(data, indent=2))
    else:
        print(f"{args.env}: {'FAILED OVER to' if data['failed_over'] else 'on the primary,'} "
              f"{data['active_region']} ({data['active_registry']})"
              + (f" since {data['changed_at']}" if data["changed_at"] else ""))
    return 0

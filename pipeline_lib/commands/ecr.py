"""``gantry ecr ensure|login``: ECR repositories, replication Seoul -> Tokyo, registry auth."""

from __future__ import annotations

import argparse

from pipeline_lib.core.catalog import load_catalog
from .options import add_catalog, add_dry_run


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("ecr", help="ensure ECR repositories and Seoul -> Tokyo replication")
    esub = p.add_subparsers(dest="ecr_command", metavar="ACTION", required=True)
    ensure = esub.add_parser("ensure", help="create/fix repositories and the replication rule (idempotent)")
    add_catalog(ensure)
    add_dry_run(ensure)
    ensure.add_argument("--keep-releases", type=int, default=30, metavar="N", help="release tags kept (default 30)")
    ensure.add_argument("--untagged-days", type=int, default=7, metavar="D",
                        help="expire untagged images after D days (default 7)")
    ensure.add_argument("--kms-key", help="KMS key ARN for new repositories (default: the AWS managed key)")
    ensure.set_defaults(func=_ensure)


def _ensure(args: argparse.Namespace) -> int:
    from ..ecr.ensure import plan_ensure
    catalog = load_catalog(args.catalog)
    plan = plan_ensure(catalog, keep_releases=args.keep_releases, untagged_days=args.untagged_days,
                       kms_key=args.kms_key)
    for warning in plan.warnings:
        print(f"warning: {warning}")
    if not plan.actions:
        print(f"ecr ensure: 0 changes; {len(catalog.ecr_repositories())} repositories in "
              f"{1 + len(catalog.replica_regions)} regions and the replication rule are as the catalog says")
        return 0
    verb = "would" if args.dry_run else "will"
    print(f"ecr ensure: {len(plan.actions)} change(s) {verb} be made:")
    for action in plan.actions:
        print(f"  {action.line()}")
    if args.dry_run:
        print("ecr ensure: dry run, nothing changed")
        return 0
    plan.apply()
    print(f"ecr ensure: {len(plan.actions)} change(s) applied")
    return 0

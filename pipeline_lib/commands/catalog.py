"""``gantry catalog check|list``: validate and show the service catalog."""

from __future__ import annotations

import argparse
import json

from pipeline_lib.core.catalog import load_catalog

from .options import add_catalog, add_format


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("catalog", help="validate or list the service catalog")
    csub = p.add_subparsers(dest="catalog_command", metavar="ACTION", required=True)
    check = csub.add_parser("check", help="validate the catalog; exit 2 listing every problem")
    add_catalog(check)
    check.set_defaults(func=_check)
    ls = csub.add_parser("list", help="list services and their environments")
    add_catalog(ls)
    add_format(ls, human="table")
    ls.set_defaults(func=_list)


def _check(args: argparse.Namespace) -> int:
    catalog = load_catalog(args.catalog)
    print(f"{args.catalog}: ok ({len(catalog.services)} services, "
          f"{len(catalog.environments)} environments)")
    return 0


def _list(args: argparse.Namespace) -> int:
    catalog = load_catalog(args.catalog)
    if args.format == "json":
        rows = [{"name": s.name, "repo": s.repo, "ecr_repository": s.ecr_repository,
                 "environments": {e.name: {"manifest": e.manifest, "ecr_repository": e.ecr_repository,
                                           "deploy": e.deploy} for e in s.environments.values()}}
                for s in catalog.services]
        print(json.dumps(rows, indent=2))
        return 0
    width = max(len(s.name) for s in catalog.services)
    for s in catalog.services:
        print(f"{s.name:<{width}}  {s.repo:<28}  {','.join(s.environments):<16}  {s.ecr_repository}")
    return 0

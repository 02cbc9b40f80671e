"""``gantry demo``: run the whole pipeline once on local parts (see :mod:`pipeline_lib.demo.run`)."""

from __future__ import annotations

import argparse
from pathlib import Path

from ..demo.run import DEFAULT_REGISTRY_PORT, Demo, DemoConfig
from .options import add_catalog, add_env, add_format


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "demo", help="run the whole pipeline once, locally, on real local parts",
        description="Run test, scans, build, gate, push and GitOps bump for an example service on a "
                    "local registry, podman's Docker API and a local bare git repo, all on 127.0.0.1. "
                    "Two builds: a pull request pinning a vulnerable dependency (the gate must block it "
                    "with the real advisory ids; nothing pushed) and main with the fixed version (passes, "
                    "pushes, replicates, bumps). Exit 0 when both behave so (--single-build: when every "
                    "stage passed or was honestly skipped), 1 otherwise, "
                    "2 when the demo cannot start.")
    p.add_argument("--workdir", type=Path, default=Path("demo-out"),
                   help="work directory for reports, registry storage and the GitOps repo (default: %(default)s)")
    p.add_argument("--service", default="storefront", help="catalog service to run (default: %(default)s)")
    add_env(p, dest="environment", help="target environment of the bump")
    add_catalog(p, default=None, derived="jobs/catalog.yaml of the gantry checkout")
    p.add_argument("--source", type=Path, default=None, help="service source (default: examples/SERVICE)")
    p.add_argument("--registry-port", type=int, default=DEFAULT_REGISTRY_PORT,
                   help="port of the local registry on 127.0.0.1 (default: %(default)s; 0 picks a free one)")
    p.add_argument("--engine", choices=("auto", "docker", "podman"), default="auto",
                   help="container engine behind the Docker API (default: a running Docker engine, else podman)")
    p.add_argument("--policy", type=Path, default=None, help="gate policy file (default: the packaged policy)")
    p.add_argument("--single-build", action="store_true",
                   help="one main-branch build only (default: a pull request pinning a vulnerable "
                        "dependency, which the gate must block, then main with the fixed version)")
    add_format(p, help="json: progress on stderr, the stage results as one JSON array on stdout")
    p.set_defaults(func=_run)


def _run(args: argparse.Namespace) -> int:
    if not 0 <= args.registry_port <= 65535:
        from pipeline_lib.core.errors import GantryError
        raise GantryError("--registry-port", f"{args.registry_port} is not a port number")
    import sys

    from ..stages import results_json

    config = DemoConfig(workdir=args.workdir, service=args.service, environment=args.environment,
                        catalog=args.catalog, source=args.source, registry_port=args.registry_port,
                        engine=args.engine, policy=args.policy, story=not args.single_build,
                        out=sys.stderr if args.format == "json" else None)
    demo = Demo(config)
    code = demo.run()
    if args.format == "json":
        print(results_json(demo.results))
    return code

"""``gantry test``: the pipeline's test stage (the service's tests, JUnit XML out)."""

from __future__ import annotations

import argparse
from pathlib import Path

from pipeline_lib.core.catalog import load_catalog
from ..stages import run_stage
from ..stages.test import TestOptions, run as run_test_stage
from .options import add_catalog


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("test", help="run a service's tests and write JUnit XML",
                       description="Run the service's test command (catalog: test_command) in --src "
                                   "and write OUT/test-results.xml. Exit 1 when a test failed or none ran.")
    add_catalog(p)
    p.add_argument("--service", required=True, help="catalog service name")
    p.add_argument("--src", type=Path, default=Path("."), help="service source checkout (default: .)")
    p.add_argument("--out", type=Path, default=Path("gantry-out"), help="output directory (default: %(default)s)")
    p.add_argument("--timeout", type=float, default=1800, help="seconds before the run is stopped")
    p.set_defaults(func=_run, stage="test")


def _run(args: argparse.Namespace) -> int:
    service = load_catalog(args.catalog).service(args.service)
    opts = TestOptions(args.src, args.out, service.test_command, args.timeout)
    result = run_stage("test", lambda: run_test_stage(opts), settings=args.settings)
    return 0 if result.ok else 1

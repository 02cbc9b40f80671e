"""``gantry infra``: check (fmt, validate, structure, drift, checkov, plan), sync and cli-config."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from pipeline_lib.core.catalog import load_catalog
from pipeline_lib.core.errors import EXIT_CHECK_FAILED, EXIT_OK, GantryError
from ..infra.catalogvars import sync
from ..infra.check import STEPS, StepResult, run_check
from ..infra.cliconfig import find_mirror, write_cli_config
from .options import add_catalog


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser("infra", help="Terraform in infra/: check, sync catalog values, CLI config")
    isub = parser.add_subparsers(dest="infra_command", metavar="ACTION", parser_class=type(parser))
    parser.set_defaults(func=lambda a: parser.print_help() or 2)

    check = isub.add_parser("check", help="fmt, validate, structure, catalog drift, checkov and plan",
                            description="plan runs 'terraform plan' of every env root against a moto server "
                                        "the check starts (python -m moto.server); skip it with --steps. "
                                        "Needs: terraform on PATH (fmt, validate, plan); moto, the 'infra' extra: "
                                        "pip install 'gantry[infra]' (plan); checkov, in its own venv "
                                        ".venv-checkov (make deps) or $GANTRY_CHECKOV (checkov).")
    check.add_argument("--infra", type=Path, default=Path("infra"), help="infra directory (default: infra)")
    add_catalog(check)
    check.add_argument("--steps", default=",".join(STEPS),
                       help=f"comma-separated steps to run (default: {','.join(STEPS)}; "
                            "leave out plan without moto)")
    check.add_argument("--cli-config", type=Path, default=None,
                       help="Terraform CLI config (default: $TF_CLI_CONFIG_FILE, .venv/terraform.rc, or found mirror)")
    check.set_defaults(func=_check)

    syncp = isub.add_parser("sync", help="write infra/envs/<env>/catalog.auto.tfvars.json from the catalog")
    syncp.add_argument("--infra", type=Path, default=Path("infra"))
    add_catalog(syncp)
    syncp.set_defaults(func=_sync)

    cfg = isub.add_parser("cli-config", help="write a Terraform CLI config using a local provider mirror if any")
    cfg.add_argument("--output", type=Path, required=True, help="file to write (e.g. .venv/terraform.rc)")
    cfg.add_argument("--plugin-cache", type=Path, default=None, help="plugin cache dir when there is no mirror")
    cfg.set_defaults(func=_cli_config)


def _steps(raw: str) -> tuple[str, ...]:
    steps = tuple(s.strip() for s in raw.split(",") if s.strip())
    if not steps:
        raise GantryError("infra check: --steps", "names no step")
    bad = [s for s in steps if s not in STEPS]
    if bad:
        raise GantryError("infra check: --steps", f"unknown step {bad[0]!r} (steps: {', '.join(STEPS)})")
    return steps


def _print_step(result: StepResult) -> None:
    status = "ok" if not result.findings else f"{len(result.findings)} problem(s)"
    note = f"; {result.note}" if result.note else ""
    print(f"{result.step}: {status} ({result.seconds:.1f}s{note})", flush=True)
    for f in result.findings:
        print(f"gantry: infra check: {f.line()}", file=sys.stderr, flush=True)


def _check(args: argparse.Namespace) -> int:
    project = Path.cwd()
    report = run_check(args.infra, args.catalog, _steps(args.steps), args.cli_config, project,
                       progress=_print_step)
    total = sum(r.seconds for r in report.results)
    if report.ok:
        print(f"infra check: ok ({', '.join(r.step for r in report.results)}; {total:.1f}s)")
        return EXIT_OK
    failed = [r.step for r in report.results if r.findings]
    print(f"infra check: {len(report.findings)} problem(s) in {', '.join(failed)} ({total:.1f}s)")
    return EXIT_CHECK_FAILED


def _sync(args: argparse.Namespace) -> int:
    changed = sync(load_catalog(args.catalog), args.infra)
    for path in changed:
        print(f"wrote {path}")
    if not changed:
        print("infra sync: up to date")
    return EXIT_OK


def _cli_config(args: argparse.Namespace) -> int:
    mirror = find_mirror()
    path = write_cli_config(args.output, mirror=mirror, plugin_cache_dir=args.plugin_cache, search=False)
    where = f"filesystem mirror {mirror}" if mirror else "no local mirror: providers are downloaded"
    print(f"wrote {path} ({where})")
    return EXIT_OK

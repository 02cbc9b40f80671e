"""The ``gantry`` command: a registry of subcommand modules and one error policy.

Each module in :data:`COMMAND_MODULES` exposes ``register(subparsers)``, which adds its
parser and sets ``func(args) -> int``. Errors the user can fix are one line on stderr
(``gantry: <where>: <what>``) with exit code 2; the check said no is exit 1; Ctrl-C is 130.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

from . import __version__
from .errors import EXIT_BAD_INPUT, EXIT_INTERRUPTED, GantryError

COMMAND_MODULES: tuple[str, ...] = (
    "pipeline_lib.commands.catalog",
    "pipeline_lib.commands.image",
    "pipeline_lib.commands.ecr",
    "pipeline_lib.commands.gitops",
    "pipeline_lib.commands.jobs",
    "pipeline_lib.commands.webhook",
    "pipeline_lib.commands.infra",
    "pipeline_lib.commands.event",
    "pipeline_lib.commands.test",
    "pipeline_lib.commands.demo",
    "pipeline_lib.commands.security",
)


class _Parser(argparse.ArgumentParser):
    """argparse that reports usage errors as one ``gantry: …`` line and exit code 2."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(EXIT_BAD_INPUT, f"gantry: {self.prog.removeprefix('gantry').strip() or 'usage'}: {message}"
                  f" (see '{self.prog} --help')\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="gantry", description="Catalog-driven Jenkins pipelines with security gates, ECR delivery and GitOps deployment.")
    parser.add_argument("--version", action="version", version=f"gantry {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    for name in COMMAND_MODULES:
        importlib.import_module(name).register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    func = getattr(args, "func", None)
    if func is None:
        parser.print_help(sys.stderr if args.command is None else sys.stdout)
        return EXIT_BAD_INPUT
    try:
        return int(func(args) or 0)
    except GantryError as exc:
        for line in exc.lines():
            print(line, file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("gantry: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except BrokenPipeError:
        return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())

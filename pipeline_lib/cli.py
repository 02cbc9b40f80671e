"""The ``gantry`` command: a registry of subcommand modules and one error policy.

Each module in :data:`COMMAND_MODULES` exposes ``register(subparsers)``, which adds its
parser and sets ``func(args) -> int``. Errors the user can fix are one line on stderr
(``gantry: <where>: <what>``) with exit code 2; the check said no is exit 1; Ctrl-C is 130.
SIGTERM (Jenkins abort, pod eviction) unwinds the same way and is exit 143: the process groups of
running children are killed, servers stopped, nothing is left running
(:func:`pipeline_lib.core.process.terminate_on_sigterm`).
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

from . import __version__
from pipeline_lib.core.errors import EXIT_BAD_INPUT, EXIT_INTERRUPTED, EXIT_TERMINATED, GantryError
from pipeline_lib.core.process import Terminated, kill_running, stop_servers, terminate_on_sigterm

# Command name -> the module that registers it. Only the module of the command being run is
# imported, so `gantry gitops bump` does not pay for boto3, docker or hcl2 at start-up.
COMMANDS: dict[str, str] = {
    "catalog": "pipeline_lib.commands.catalog",
    "test": "pipeline_lib.commands.test",
    "scan": "pipeline_lib.commands.security",
    "findings": "pipeline_lib.commands.security",
    "gate": "pipeline_lib.commands.security",
    "pr-report": "pipeline_lib.commands.security",
    "code-scanning": "pipeline_lib.commands.codescanning",
    "image": "pipeline_lib.commands.image",
    "ecr": "pipeline_lib.commands.ecr",
    "gitops": "pipeline_lib.commands.gitops",
    "monitoring": "pipeline_lib.commands.monitoring",
    "jobs": "pipeline_lib.commands.jobs",
    "webhook": "pipeline_lib.commands.webhook",
    "infra": "pipeline_lib.commands.infra",
    "event": "pipeline_lib.commands.event",
    "dr": "pipeline_lib.commands.dr",
    "notify": "pipeline_lib.commands.notify",
    "demo": "pipeline_lib.commands.demo",
    "trivy-db": "pipeline_lib.commands.trivydb",
}
COMMAND_MODULES: tuple[str, ...] = tuple(dict.fromkeys(COMMANDS.values()))


class _Parser(argparse.ArgumentParser):
    """argparse that reports usage errors as one ``gantry: …`` line and exit code 2."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(EXIT_BAD_INPUT, f"gantry: {self.prog.removeprefix('gantry').strip() or 'usage'}: {message}"
                  f" (see '{self.prog} --help')\n")


def build_parser(command: str | None = None) -> argparse.ArgumentParser:
    """The parser for ``command`` alone when it is known, else for every command."""
    parser = _Parser(prog="gantry", description="Catalog-driven Jenkins pipelines with security gates, ECR delivery and GitOps deployment.")
    parser.add_argument("--version", action="version", version=f"gantry {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    modules = (COMMANDS[command],) if command in COMMANDS else COMMAND_MODULES
    for name in modules:
        importlib.import_module(name).register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    command = next((a for a in argv if not a.startswith("-")), None)
    parser = build_parser(command)
    args = parser.parse_args(argv)
    func = getattr(args, "func", None)
    if func is None:
        parser.print_help(sys.stderr if args.command is None else sys.stdout)
        return EXIT_BAD_INPUT
    with terminate_on_sigterm():
        try:   # the outer try: SIGTERM may also arrive while an error below is being reported
            try:
                return int(func(args) or 0)
            except GantryError as exc:
                for line in exc.lines():
                    print(line, file=sys.stderr)
                return exc.exit_code
            except Terminated:
                raise
            except KeyboardInterrupt:
                _stop_children()
                print("gantry: interrupted", file=sys.stderr)
                return EXIT_INTERRUPTED
            except BrokenPipeError:
                return 0
        except Terminated:
            _stop_children()
            print("gantry: terminated by SIGTERM; its processes were stopped", file=sys.stderr)
            return EXIT_TERMINATED


def _stop_children() -> None:
    """After an interrupt: whatever the unwinding left running (children of worker threads,
    a server started outside a ``with``) is ended before gantry exits."""
    kill_running()
    stop_servers()


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())

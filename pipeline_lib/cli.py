"""The ``gantry`` command: a registry of subcommand modules and one error policy.

Each module in :data:`COMMAND_MODULES` exposes ``register(subparsers)``, which adds its
parser and sets ``func(args) -> int``; it is imported only when its command runs (the
top-level parser comes from :data:`COMMANDS` alone). Errors the user can fix are one line on
stderr (``gantry: <where>: <what>``) with exit code 2; the check said no is exit 1; Ctrl-C is 130.
SIGTERM (Jenkins abort, pod eviction) unwinds the same way and is exit 143: the process groups of
running children are killed, servers stopped, nothing is left running
(:func:`pipeline_lib.core.process.terminate_on_sigterm`).
"""

from __future__ import annotations

import argparse
import atexit
import gc
import importlib
import sys
from collections import namedtuple
from collections.abc import Sequence

from . import __version__
from pipeline_lib.core.errors import EXIT_BAD_INPUT, EXIT_INTERRUPTED, EXIT_TERMINATED, GantryError

# Command name -> (the module that registers it, its one-line help). The top-level parser
# (`gantry`, `gantry --help`, `gantry --version`, an unknown command) is built from this table
# alone; only the module of the command being run is imported (import on dispatch), so start-up
# does not pay for boto3, docker, requests or hcl2. The help must equal the module's own
# (tests/pipeline_lib/test_cli_imports.py checks).
# (collections.namedtuple, not typing.NamedTuple: `typing` alone is ~10% of the start-up budget.)
Command = namedtuple("Command", "module help")


_SEC = "pipeline_lib.commands.security"
COMMANDS: dict[str, Command] = {
    "catalog": Command("pipeline_lib.commands.catalog", "validate or list the service catalog"),
    "test": Command("pipeline_lib.commands.test", "run a service's tests and write JUnit XML"),
    "scan": Command(_SEC, "run one security scanner and write its report and outcome"),
    "findings": Command(_SEC, "print the normalized findings of scan reports"),
    "gate": Command(_SEC, "evaluate scan reports against the security policy (0 pass, 1 fail, 2 cannot evaluate)"),
    "pr-report": Command(_SEC, "post/update the security comment and commit status on a pull request"),
    "code-scanning": Command("pipeline_lib.commands.codescanning",
                             "upload SARIF to GitHub code scanning and wait until it is processed"),
    "image": Command("pipeline_lib.commands.image", "build, push and verify replication of service images"),
    "ecr": Command("pipeline_lib.commands.ecr", "ensure ECR repositories and Seoul -> Tokyo replication"),
    "gitops": Command("pipeline_lib.commands.gitops", "bump, promote and scaffold the GitOps repo; Argo CD apps"),
    "monitoring": Command("pipeline_lib.commands.monitoring",
                          "Prometheus rules, Grafana dashboards and Alertmanager config from the catalog, "
                          "checked by promtool and amtool"),
    "jobs": Command("pipeline_lib.commands.jobs", "render, diff and update Jenkins jobs from the catalog"),
    "webhook": Command("pipeline_lib.commands.webhook", "GitHub webhook receiver that starts Jenkins builds"),
    "infra": Command("pipeline_lib.commands.infra", "Terraform in infra/: check, sync catalog values, CLI config"),
    "event": Command("pipeline_lib.commands.event", "event environment: schedule, lifecycle, cost, deploy, load gate, readiness, sweep"),
    "dr": Command("pipeline_lib.commands.dr",
                  "image disaster recovery: fail an environment over to the replica registry (and back)"),
    "notify": Command("pipeline_lib.commands.notify", "post the build result to Slack"),
    "watch": Command("pipeline_lib.commands.watch", "re-scan the digests an environment runs with today's advisories; "
                                                    "ledger, Slack, GitHub issues, metrics"),
    "demo": Command("pipeline_lib.commands.demo", "run the whole pipeline once, locally, on real local parts"),
    "trivy-db": Command("pipeline_lib.commands.trivydb", "mirror Trivy's vulnerability DB between OCI registries"),
    "feeds": Command("pipeline_lib.commands.feeds", "mirror the KEV/EPSS exploit feeds to an OCI registry and pull "
                                                    "them into a local cache"),
    "config": Command("pipeline_lib.commands.config", "show the settings gantry reads from the environment "
                                                      "(secrets masked)"),
}
COMMAND_MODULES: tuple[str, ...] = tuple(dict.fromkeys(c.module for c in COMMANDS.values()))


_PROG = "_gantry_parser_prog"   # the namespace attribute naming the innermost (sub)command parsed


class _Parser(argparse.ArgumentParser):
    """argparse that reports usage errors as one ``gantry: …`` line and exit code 2, naming the
    (sub)command: arguments no parser knows are reported by the root parser, so each parser
    records its ``prog`` in the namespace and the innermost one (recorded first) names them."""

    def parse_args(self, args=None, namespace=None):  # type: ignore[override]
        ns, rest = self.parse_known_args(args, namespace)
        prog = vars(ns).pop(_PROG, self.prog)
        if rest:
            self._fail(prog, f"unrecognized arguments: {' '.join(rest)}")
        return ns

    def parse_known_args(self, args=None, namespace=None):  # type: ignore[override]
        """Also replaces each :class:`~pipeline_lib.core.settings.FromSetting` default by its value in
        ``settings`` (the root parser's, set by :func:`build_parser`)."""
        ns, rest = super().parse_known_args(args, namespace)
        if not hasattr(ns, _PROG):   # set already: a subcommand's parser (inner) ran
            setattr(ns, _PROG, self.prog)
        settings = getattr(ns, "settings", None)
        if settings is not None:
            from pipeline_lib.core.settings import FromSetting

            for key, value in vars(ns).items():
                if isinstance(value, FromSetting):
                    setattr(ns, key, value.resolve(settings))
        return ns, rest

    def error(self, message: str) -> None:  # type: ignore[override]
        self._fail(self.prog, message)

    def _fail(self, prog: str, message: str) -> None:
        self.exit(EXIT_BAD_INPUT, f"gantry: {prog.removeprefix('gantry').strip() or 'usage'}: {message}"
                  f" (see '{prog} --help')\n")


def _root_parser() -> tuple[argparse.ArgumentParser, argparse._SubParsersAction]:
    parser = _Parser(prog="gantry", description="Catalog-driven Jenkins pipelines with security gates, ECR delivery and GitOps deployment.")
    parser.add_argument("--version", action="version", version=f"gantry {__version__}")
    return parser, parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)


def build_parser(command: str | None = None) -> argparse.ArgumentParser:
    """The full parser for ``command`` alone when it is known, else for every command; its
    namespaces carry ``settings`` (:func:`read_settings`).

    Imports the command's module (every module without a known command: for tools and tests
    that walk the whole tree; ``main`` uses :func:`index_parser` instead).
    """
    parser, sub = _root_parser()
    modules = (COMMANDS[command].module,) if command in COMMANDS else COMMAND_MODULES
    for name in modules:
        importlib.import_module(name).register(sub)
    parser.set_defaults(settings=read_settings())
    return parser


def read_settings():
    """The environment, read once for the command being run (``args.settings``): handlers pass
    its values down in stage options and parameters; nothing below the CLI reads the environment."""
    from pipeline_lib.core.settings import Settings   # not on the --help/--version path

    return Settings.from_env()


def index_parser() -> argparse.ArgumentParser:
    """The top-level parser from :data:`COMMANDS` alone: every command and its help, no import."""
    parser, sub = _root_parser()
    for name, cmd in COMMANDS.items():
        sub.add_parser(name, help=cmd.help, add_help=False)
    return parser


def parser_for(argv: Sequence[str]) -> argparse.ArgumentParser:
    """The parser ``main`` needs for ``argv``: the named command's module's, else the index."""
    command = next((a for a in argv if not a.startswith("-")), None)
    return build_parser(command) if command in COMMANDS else index_parser()


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = parser_for(argv)
    args = parser.parse_args(argv)
    func = getattr(args, "func", None)
    if func is None:
        parser.print_help(sys.stderr if args.command is None else sys.stdout)
        return EXIT_BAD_INPUT
    # At exit the interpreter's last garbage collection walks every object the imports made (~15-20 ms
    # of a short command); freezing them first leaves them to the operating system. Once, however
    # often main runs in one process (tests).
    atexit.unregister(gc.freeze)
    atexit.register(gc.freeze)
    # the process runner (subprocess, socket, threading) loads once a command runs, not for --help
    from pipeline_lib.core.process import Terminated, terminate_on_sigterm
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
    from pipeline_lib.core.process import kill_running, stop_servers
    kill_running()
    stop_servers()


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())

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

import atexit
import gc
import importlib
import sys
from collections import namedtuple
from collections.abc import Sequence

from pipeline_lib.core.errors import EXIT_BAD_INPUT, EXIT_INTERRUPTED, EXIT_TERMINATED, GantryError

TYPE_CHECKING = False   # typing.TYPE_CHECKING without importing typing (~5 ms of start-up)
if TYPE_CHECKING:
    import argparse

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


def build_parser(command: str | None = None) -> argparse.ArgumentParser:
    """The full parser for ``command`` alone when it is known, else for every command; its
    namespaces carry ``settings`` (:func:`read_settings`).

    Imports the command's module (every module without a known command: for tools and tests
    that walk the whole tree; ``main`` uses :func:`index_parser` instead).
    """
    from pipeline_lib.commands.parser import root_parser

    parser, sub = root_parser()
    modules = (COMMANDS[command].module,) if command in COMMANDS else COMMAND_MODULES
    for name in modules:
        importlib.import_module(name).register(sub)
    parser.set_defaults(settings=read_settings())
    return parser


def read_settings():
    """The environment, read once for the command being run (``args.settings``): handlers pass
    its values down in stage options and parameters; nothing below the CLI reads the environment."""
    from pipeline_lib.core.settingsmodel import Settings   # not on the --help/--version path

    return Settings.from_env()


def index_parser() -> argparse.ArgumentParser:
    """The top-level parser from :data:`COMMANDS` alone: every command and its help, no import."""
    from pipeline_lib.commands.parser import root_parser

    parser, sub = root_parser()
    for name, cmd in COMMANDS.items():
        sub.add_parser(name, help=cmd.help, add_help=False)
    return parser


def parser_for(argv: Sequence[str]) -> argparse.ArgumentParser:
    """The parser ``main`` needs for ``argv``: the named command's module's, else the index."""
    command = next((a for a in argv if not a.startswith("-")), None)
    return build_parser(command) if command in COMMANDS else index_parser()


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    # At exit the interpreter's last garbage collection walks every object the imports made (~15-20 ms
    # of a short command); freezing them first leaves them to the operating system. Once, however
    # often main runs in one process (tests).
    atexit.unregister(gc.freeze)
    atexit.register(gc.freeze)
    if argv[:2] == ["gitops", "bump"]:   # queued for a GitOps batch before anything else loads
        code = _queued_bump(argv[2:])
        if code is not None:
            return code
    parser = parser_for(argv)
    args = parser.parse_args(argv)
    func = getattr(args, "func", None)
    if func is None:
        parser.print_help(sys.stderr if args.command is None else sys.stdout)
        return EXIT_BAD_INPUT
    args.argv = argv   # the command line as given (a queued bump hands it to its batch's leader)
    # the process runner (subprocess, socket, threading) loads once a command runs, not for --help
    from pipeline_lib.core.process import Terminated, terminate_on_sigterm
    with terminate_on_sigterm():
        try:   # the outer try: SIGTERM may also arrive while an error below is being reported
            try:
                return int(func(args) or 0)
            except GantryError as exc:
                return _report(exc)
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


def _lead_bumps(url: str, spool: str, settings) -> None:
    from pipeline_lib.commands.gitops import lead_requests
    lead_requests(url, spool, settings)


def _report(exc: GantryError) -> int:
    """Print ``exc`` (its one-line message, and hints) on stderr; its exit code."""
    for line in exc.lines():
        print(line, file=sys.stderr)
    return exc.exit_code


def _queued_bump(argv: list[str]) -> int | None:
    """``gitops bump ARGV`` queued raw (:mod:`pipeline_lib.commands.bumpqueue`): its exit code,
    or None when the full CLI runs it. The same error policy as :func:`main`: a waiting process
    has no children and SIGTERM simply ends it (a request not yet in a batch is then dropped,
    never applied); the one that leads a batch turns SIGTERM into ``Terminated`` as any command."""
    from pipeline_lib.commands.bumpqueue import queue
    try:
        return queue(argv, read_settings, _lead_bumps)
    except GantryError as exc:
        return _report(exc)
    except KeyboardInterrupt as exc:   # Terminated too: the process runner is loaded only by a leader
        _stop_children()
        process = sys.modules.get("pipeline_lib.core.process")
        if process is not None and isinstance(exc, process.Terminated):
            print("gantry: terminated by SIGTERM; its processes were stopped", file=sys.stderr)
            return EXIT_TERMINATED
        print("gantry: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except BrokenPipeError:
        return 0


def _stop_children() -> None:
    """After an interrupt: whatever the unwinding left running (children of worker threads,
    a server started outside a ``with``) is ended before gantry exits."""
    from pipeline_lib.core.process import kill_running, stop_servers
    kill_running()
    stop_servers()


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())

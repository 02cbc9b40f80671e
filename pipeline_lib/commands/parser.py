"""gantry's argparse parser: usage errors as one ``gantry: …`` line with exit code 2, and the
settings the CLI read resolved into option defaults (:class:`~pipeline_lib.core.settings.FromSetting`).

Kept out of :mod:`pipeline_lib.cli` so a command that needs no parser (a queued ``gitops bump``,
:mod:`pipeline_lib.commands.bumpqueue`) starts without argparse.
"""

from __future__ import annotations

import argparse

from pipeline_lib import __version__
from pipeline_lib.core.errors import EXIT_BAD_INPUT

_PROG = "_gantry_parser_prog"   # the namespace attribute naming the innermost (sub)command parsed


class GantryParser(argparse.ArgumentParser):
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
            from pipeline_lib.core.settingsmodel import FromSetting

            for key, value in vars(ns).items():
                if isinstance(value, FromSetting):
                    setattr(ns, key, value.resolve(settings))
        return ns, rest

    def error(self, message: str) -> None:  # type: ignore[override]
        self._fail(self.prog, message)

    def _fail(self, prog: str, message: str) -> None:
        self.exit(EXIT_BAD_INPUT, f"gantry: {prog.removeprefix('gantry').strip() or 'usage'}: {message}"
                  f" (see '{prog} --help')\n")


def root_parser() -> tuple[argparse.ArgumentParser, argparse._SubParsersAction]:
    parser = GantryParser(prog="gantry", description="Catalog-driven Jenkins pipelines with security gates, ECR delivery and GitOps deployment.")
    parser.add_argument("--version", action="version", version=f"gantry {__version__}")
    return parser, parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=GantryParser)

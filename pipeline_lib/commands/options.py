"""The options many commands share, declared once: ``--catalog``, ``--env``, ``--format``, ``--dry-run``.

Every command module adds them through these functions, so each has one default, one
validation and one help text everywhere:

- ``--catalog FILE`` (``pathlib.Path``; default ``jobs/catalog.yaml``, relative to the working
  directory). A command whose default is derived from another option passes ``default=None``
  and says what it derives in ``derived``.
- ``--env ENV``: one of the catalog's :data:`~pipeline_lib.core.catalog.ENVIRONMENT_NAMES`;
  required, or defaulting to ``dev``.
- ``--format {text|table,json}``: human output first (the default), ``json`` for machines.
- ``--dry-run``: report what would change, change nothing.
- ``--registry-for REGION=HOST`` (repeatable): the registry host of a region, instead of the
  catalog account's ECR host there.

Only :mod:`pipeline_lib.core.environments` is imported (no YAML), so start-up time does not grow.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from pipeline_lib.core.environments import DEFAULT_CATALOG, ENVIRONMENT_NAMES

DEFAULT_ENV = "dev"
ENV_HELP = "environment: " + ", ".join(ENVIRONMENT_NAMES)


def nonempty_path(value: str) -> Path:
    """argparse ``type=`` for a path option: an empty value (an unset ``$VAR`` in a Jenkins step)
    is refused as a usage error naming the option, never read as ``.``."""
    if not value.strip():
        raise argparse.ArgumentTypeError("an empty path (name a file)")
    return Path(value)


def add_catalog(parser: argparse.ArgumentParser, *, default: Path | None = DEFAULT_CATALOG,
                derived: str | None = None) -> None:
    """``--catalog FILE``; ``default=None`` with ``derived`` (what it defaults to) when the
    command works the path out itself (e.g. from ``--jobs-dir``). An empty value is refused."""
    shown = derived if default is None and derived else str(default)
    parser.add_argument("--catalog", type=nonempty_path, default=default, metavar="FILE",
                        help=f"service catalog file (default: {shown})")


def add_env(parser: argparse.ArgumentParser, *, required: bool = False, dest: str = "env",
            help: str | None = None, default: str | None = DEFAULT_ENV, repeatable: bool = False) -> None:
    """``--env ENV`` validated against the catalog's environment names (``repeatable``: a list)."""
    text = help or ENV_HELP
    if repeatable:
        parser.add_argument("--env", dest=dest, action="append", choices=ENVIRONMENT_NAMES, metavar="ENV",
                            help=text + " (repeatable; default: every environment)")
        return
    parser.add_argument("--env", dest=dest, required=required, default=None if required else default,
                        choices=ENVIRONMENT_NAMES, metavar="ENV",
                        help=text + ("" if required or default is None else f" (default: {default})"))


def add_format(parser: argparse.ArgumentParser, *, human: str = "text", help: str | None = None) -> None:
    """``--format {human,json}``, ``human`` (``text`` or ``table``) by default."""
    parser.add_argument("--format", choices=(human, "json"), default=human,
                        help=help or f"output format (default: {human}; json for machines)")


def add_dry_run(parser: argparse.ArgumentParser, *, help: str = "show what would be done, change nothing") -> None:
    """``--dry-run``: the command reports its plan and changes nothing."""
    parser.add_argument("--dry-run", action="store_true", help=help)


def region_host(value: str) -> tuple[str, str]:
    """argparse ``type=`` for ``REGION=HOST``: the region and its registry host."""
    region, sep, host = value.partition("=")
    if not sep or not region or not host:
        raise argparse.ArgumentTypeError(f"expected REGION=HOST, got {value!r}")
    return region, host


def add_registry_for(parser: argparse.ArgumentParser, *, help: str | None = None) -> None:
    """``--registry-for REGION=HOST`` (repeatable) into ``args.registry_for`` (a list of pairs)."""
    parser.add_argument("--registry-for", action="append", type=region_host, default=[], metavar="REGION=HOST",
                        help=help or "registry host of a region (default: the catalog account's ECR host there)")

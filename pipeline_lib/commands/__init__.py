"""Subcommand modules of the ``gantry`` CLI, one per command group (see ``pipeline_lib.cli``)."""

from __future__ import annotations

import argparse


def region_host(value: str) -> tuple[str, str]:
    """argparse ``type=`` for ``REGION=HOST`` (``--registry-for``): the region and its registry host."""
    region, sep, host = value.partition("=")
    if not sep or not region or not host:
        raise argparse.ArgumentTypeError(f"expected REGION=HOST, got {value!r}")
    return region, host

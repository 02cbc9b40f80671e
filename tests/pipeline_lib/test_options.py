"""Shared options (--catalog, --env, --format, --dry-run) behave the same in every command."""

from __future__ import annotations

import argparse
from collections.abc import Iterator
from pathlib import Path

import pytest

from pipeline_lib.cli import build_parser, main
from pipeline_lib.commands.options import nonempty_path
from pipeline_lib.core.catalog import ENVIRONMENT_NAMES


def _parsers(parser: argparse.ArgumentParser) -> Iterator[argparse.ArgumentParser]:
    yield parser
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for child in dict.fromkeys(action.choices.values()):
                yield from _parsers(child)


def _options(flag: str) -> list[tuple[str, argparse.Action]]:
    found = []
    for p in _parsers(build_parser()):
        for action in p._actions:
            if flag in action.option_strings:
                found.append((p.prog, action))
    return found


def test_catalog_is_a_path_with_one_help_text() -> None:
    found = _options("--catalog")
    assert len(found) > 5
    for prog, action in found:
        assert action.type is nonempty_path and action.type("x") == Path("x"), prog
        assert action.default in (None, Path("jobs/catalog.yaml")), prog
        assert action.help.startswith("service catalog file (default: "), prog


def test_env_is_validated_against_the_catalog_names() -> None:
    found = _options("--env")
    assert len(found) > 5
    for prog, action in found:
        assert tuple(action.choices) == ENVIRONMENT_NAMES, prog
        if isinstance(action, argparse._AppendAction):      # repeatable filter: none given = every env
            assert action.default is None, prog
        elif prog.endswith(("event deploy", "event loadtest", "event readiness", "event sweep")):   # the event stack's own commands
            assert action.default == "event", prog
        elif prog.endswith("image verify"):                  # --env ENV or --key PUB, one required
            assert action.default is None, prog
        elif action.help == "only this environment":         # a listing's filter: none given = every env
            assert action.default is None, prog
        elif "(required)" in action.help:                     # required, checked by the handler
            assert action.default is None, prog
        else:
            assert action.required or action.default == "dev", prog


def test_format_and_dry_run_are_uniform() -> None:
    for prog, action in _options("--format"):
        assert action.choices[-1] == "json" and action.default == action.choices[0], prog
    dry = _options("--dry-run")
    assert dry and all(isinstance(a, argparse._StoreTrueAction) for _, a in dry)


@pytest.mark.parametrize("argv", [
    ["gate", "--env", "staging"],
    ["notify", "slack", "--service", "s", "--env", "qa", "--status", "SUCCESS"],
    ["gitops", "bump", "--env", "test", "--service", "s", "--digest", "sha256:" + "a" * 64],
])
def test_an_unknown_environment_is_one_usage_error(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        main(argv)
    assert info.value.code == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "argument --env: invalid choice" in err


@pytest.mark.parametrize("argv", [["catalog", "check"], ["gitops", "history"], ["gitops", "freeze", "status"]])
def test_an_empty_catalog_path_is_refused_naming_the_option(argv: list[str],
                                                            capsys: pytest.CaptureFixture[str]) -> None:
    """Trial item 18: ``--catalog ""`` (an unset $VAR) was read as '.': "is a directory"."""
    with pytest.raises(SystemExit) as info:
        main([*argv, "--catalog", ""])
    assert info.value.code == 2
    err = capsys.readouterr().err
    assert err == (f"gantry: {' '.join(argv)}: argument --catalog: an empty path (name a file) "
                   f"(see 'gantry {' '.join(argv)} --help')\n")

"""One stage contract: every ``pipeline_lib/stages/<x>.py`` is a frozen ``XOptions`` plus
``run(opts) -> StageResult``, and every command tagged ``stage=<x>`` only maps its arguments to
those options, calls that ``run`` and prints (it calls nothing of the domain packages itself).

Read from the code (AST of each handler, resolved against its module), in the style of
``test_demo_is_jenkinsfile.py``: a handler that grows its own push path, or a stage without
options, fails here.
"""

from __future__ import annotations

import argparse
import ast
import dataclasses
import importlib
import inspect
import pkgutil
import sys
import textwrap
import typing
from collections.abc import Callable, Iterator
from types import ModuleType

import pytest

import pipeline_lib.stages as stages_pkg
from pipeline_lib.cli import build_parser
from pipeline_lib.stages import StageResult

STAGE_MODULES = sorted(m.name for m in pkgutil.iter_modules(stages_pkg.__path__))
#: what a handler may call besides its stage: argument mapping, printing and shared plumbing
ALLOWED_CALLEES = ("pipeline_lib.stages", "pipeline_lib.commands", "pipeline_lib.core", "scanners.formats")


def _parsers(parser: argparse.ArgumentParser) -> Iterator[argparse.ArgumentParser]:
    yield parser
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for sub in dict.fromkeys(action.choices.values()):
                yield from _parsers(sub)


def stage_handlers() -> list[tuple[str, str, Callable]]:
    """``(prog, stage, func)`` of every parser that sets ``stage=`` (``gantry --help``'s parser: all commands)."""
    found = []
    for p in _parsers(build_parser()):
        stage = p.get_default("stage")
        if stage:
            found.append((p.prog, stage, p.get_default("func")))
    return found


def _local_imports(func: Callable, tree: ast.AST) -> dict[str, object]:
    """Names bound by ``from … import …`` inside the handler, resolved to their objects."""
    names: dict[str, object] = {}
    package = func.__module__.rsplit(".", 1)[0]
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            module = importlib.import_module(("." * node.level) + (node.module or ""), package) if node.level \
                else importlib.import_module(node.module or "")
            for alias in node.names:
                names[alias.asname or alias.name] = getattr(module, alias.name)
        elif isinstance(node, ast.Import):
            for alias in node.names:
                names[alias.asname or alias.name.split(".")[0]] = importlib.import_module(alias.name.split(".")[0])
    return names


def callees(func: Callable) -> list[object]:
    """The objects the handler calls by name (``f(…)``, ``module.f(…)``); calls on values are left out."""
    tree = ast.parse(textwrap.dedent(inspect.getsource(func)))
    scope = {**vars(sys.modules[func.__module__]), **_local_imports(func, tree)}
    found = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call):
            continue
        target = node.func
        if isinstance(target, ast.Name) and target.id in scope:
            found.append(scope[target.id])
        elif isinstance(target, ast.Attribute) and isinstance(target.value, ast.Name):
            owner = scope.get(target.value.id)
            if isinstance(owner, ModuleType) and hasattr(owner, target.attr):
                found.append(getattr(owner, target.attr))
    return found


def _stage_module(stage: str) -> ModuleType:
    return importlib.import_module(f"pipeline_lib.stages.{stage}")


def test_every_stage_module_is_frozen_options_and_run() -> None:
    assert STAGE_MODULES, "no stage modules found"
    for name in STAGE_MODULES:
        mod = _stage_module(name)
        options = [obj for attr, obj in vars(mod).items() if attr.endswith("Options") and inspect.isclass(obj)
                   and obj.__module__ == mod.__name__]
        assert len(options) == 1, f"stages/{name}.py: expected one XOptions class, found {[o.__name__ for o in options]}"
        opts = options[0]
        assert dataclasses.is_dataclass(opts) and opts.__dataclass_params__.frozen, \
            f"stages/{name}.py: {opts.__name__} is not a frozen dataclass"
        run = getattr(mod, "run", None)
        assert callable(run) and run.__module__ == mod.__name__, f"stages/{name}.py: no run(opts)"
        params = list(inspect.signature(run).parameters.values())
        hints = typing.get_type_hints(run)
        assert [p.name for p in params] == ["opts"] and hints.get("opts") is opts, \
            f"stages/{name}.py: run must take exactly one parameter opts: {opts.__name__}"
        assert hints.get("return") is StageResult, f"stages/{name}.py: run must return StageResult"


def test_every_stage_has_a_command() -> None:
    tagged = {stage for _, stage, _ in stage_handlers()}
    assert tagged == set(STAGE_MODULES), (sorted(tagged), STAGE_MODULES)


@pytest.mark.parametrize("prog,stage,func", stage_handlers(), ids=lambda v: v if isinstance(v, str) else "")
def test_stage_tagged_handler_calls_its_stages_run(prog: str, stage: str, func: Callable) -> None:
    run = _stage_module(stage).run
    assert any(c is run for c in callees(func)), \
        f"{prog} (stage={stage}): {func.__module__}.{func.__name__} does not call pipeline_lib.stages.{stage}.run"


@pytest.mark.parametrize("prog,stage,func", stage_handlers(), ids=lambda v: v if isinstance(v, str) else "")
def test_stage_tagged_handler_only_maps_runs_and_prints(prog: str, stage: str, func: Callable) -> None:
    """No domain work in a handler: calls go to stages, commands' helpers, core, report formats
    or the standard library (e.g. no DR state read, no second push path)."""
    for callee in callees(func):
        module = getattr(callee, "__module__", None) or getattr(callee, "__name__", "")
        top = module.split(".")[0]
        assert module.startswith(ALLOWED_CALLEES) or top in sys.stdlib_module_names, \
            f"{prog} (stage={stage}): {func.__name__} calls {module}.{getattr(callee, '__qualname__', callee)}"

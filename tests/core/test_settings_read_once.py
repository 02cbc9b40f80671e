"""Configuration is read once, at the edge (issue 22).

Only ``pipeline_lib/core/settings.py`` touches the process environment: ``Settings.from_env``
(the full table), ``variable`` (a variable a user named on the command line) and ``child_env``
(the environment of a child process: Terraform, Trivy, git, a scanner). Everything else gets its
values as ``args.settings``, stage options or parameters. ``Settings.from_env()`` without an
explicit mapping is called only by the CLI entry and the demo.
"""

from __future__ import annotations

import ast
from pathlib import Path

from tests.support.paths import PROJECT_ROOT

PACKAGES = ("pipeline_lib", "scanners", "gitops")
#: the one module that reads the environment
ALLOWED = {"pipeline_lib/core/settings.py"}
#: where ``Settings.from_env()`` (no mapping: the real environment) may be called
FROM_ENV_CALLERS = {"pipeline_lib/cli.py", "pipeline_lib/demo/run.py"}
_OS_NAMES = {"environ", "environb", "getenv", "getenvb", "putenv", "unsetenv"}


def environment_reads(source: str) -> list[tuple[int, str]]:
    """``(line, what)`` for each use of the process environment in ``source``: ``os.environ``
    (``.get``, ``[…]``, ``dict(os.environ)``, ``{**os.environ}``), ``os.getenv``, ``os.putenv``,
    and ``environ``/``getenv`` imported from ``os``."""
    tree = ast.parse(source)
    imported = set()
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module == "os":
            for alias in node.names:
                if alias.name in _OS_NAMES:
                    imported.add(alias.asname or alias.name)
                    found.append((node.lineno, f"from os import {alias.name}"))
    for node in ast.walk(tree):
        if (isinstance(node, ast.Attribute) and node.attr in _OS_NAMES and isinstance(node.value, ast.Name)
                and node.value.id == "os"):
            found.append((node.lineno, f"os.{node.attr}"))
        elif isinstance(node, ast.Name) and node.id in imported and isinstance(node.ctx, ast.Load):
            found.append((node.lineno, node.id))
        elif (isinstance(node, ast.Attribute) and node.attr == "get" and isinstance(node.value, ast.Name)
              and node.value.id == "environ"):
            found.append((node.lineno, "environ.get"))
    return sorted(set(found))


def from_env_calls(source: str) -> list[int]:
    """Lines calling ``….from_env()`` with no arguments (the real environment)."""
    return [node.lineno for node in ast.walk(ast.parse(source))
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "from_env"
            and isinstance(node.func.value, ast.Name) and node.func.value.id == "Settings"
            and not node.args and not node.keywords]


def _sources() -> list[tuple[str, str]]:
    return [(str(p.relative_to(PROJECT_ROOT)), p.read_text(encoding="utf-8"))
            for top in PACKAGES for p in sorted((PROJECT_ROOT / top).rglob("*.py"))]


def test_the_finder_finds_every_form() -> None:
    src = ("import os\nfrom os import environ, getenv as ge\n"
           "a = os.environ.get('A')\nb = os.environ['B']\nc = dict(os.environ)\nd = {**os.environ}\n"
           "e = os.getenv('E')\nf = environ.get('F')\ng = ge('G')\nh = 'H' in os.environ\n")
    lines = {line for line, _ in environment_reads(src)}
    assert lines == set(range(2, 11))
    assert environment_reads("env = {}\nenv.get('X')\nos_environ = 1\n") == []
    assert from_env_calls("Settings.from_env()\nSettings.from_env({})\nSettings.from_env(env=e)\n") == [1]


def test_only_core_settings_reads_the_environment() -> None:
    sources = _sources()
    assert len(sources) > 100 and "pipeline_lib/core/settings.py" in dict(sources)
    assert environment_reads(dict(sources)["pipeline_lib/core/settings.py"])   # the finder sees its reads
    offenders = [f"{path}:{line}: {what}" for path, text in sources if path not in ALLOWED
                 for line, what in environment_reads(text)]
    assert offenders == [], ("read the setting in core/settings.py (a SETTINGS row) and pass it down; "
                             "a child process's environment is core.settings.child_env(**extra)")


def test_settings_from_env_is_called_only_at_the_edge() -> None:
    callers = {path: from_env_calls(text) for path, text in _sources()}
    assert callers["pipeline_lib/cli.py"]     # the finder sees the CLI's call
    offenders = [f"{path}:{line}" for path, lines in callers.items() if path not in FROM_ENV_CALLERS
                 for line in lines]
    assert offenders == [], "use args.settings (the CLI) or the demo's settings, passed down"

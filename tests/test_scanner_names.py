"""Only ``scanners/`` names a scanner: everything else reaches the tools through the registry.

Every module of ``pipeline_lib/`` and ``gitops/`` is read with :mod:`ast`. An identifier (a name,
attribute, argument, keyword, function or class name, an imported module or name) or a string
literal (f-string parts included) that names a registered scanner is a finding; prose — comments,
docstrings, any string that is a statement of its own — is not code and is not read. A name
matches case-insensitively as a whole word, ``-``/``_``/space alike (``"trivy"``, ``Trivy's``,
``run_checkov``, ``DEPENDENCY_CHECK_HOME``, ``"trivy-db"``).

:data:`ALLOWED` is the short list of modules that must name a tool, each with why.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

from scanners.registry import tool_names
from tests.support.paths import PROJECT_ROOT

PACKAGES = ("pipeline_lib", "gitops")
ALL = "*"
#: module → (the tools it may name, or ALL; why)
ALLOWED: dict[str, tuple[tuple[str, ...] | str, str]] = {
    "pipeline_lib/image/trivydb.py": (("trivy",), "the mirror of Trivy's vulnerability DB: Trivy's data, not the scanner"),
    "pipeline_lib/commands/trivydb.py": (("trivy",), "`gantry trivy-db`, the command of that mirror"),
    "pipeline_lib/cli.py": (("trivy",), "the `trivy-db` command's name and help in the command table"),
    "pipeline_lib/demo/run.py": (ALL, "the demo runs the Jenkinsfile's stages, named after the scanners they run"),
    "pipeline_lib/demo/storefront.py": (("trivy",), "the demo builds the Trivy DB its image scan uses"),
    "pipeline_lib/core/settings.py": (ALL, "the table of every environment variable gantry reads, the scanners' "
                                           "too (TRIVY_BIN, DEPENDENCY_CHECK_HOME…); core cannot import scanners"),
    "pipeline_lib/core/settingsmodel.py": (("trivy", "dependency-check", "checkov"),
                                           "… and the Settings fields of those rows (trivy_bin, checkov…)"),
    "pipeline_lib/infra/checkov.py": (("checkov",), "`gantry infra check`'s checkov step (Terraform checks)"),
    "pipeline_lib/infra/check.py": (("checkov",), "… whose steps name it: --steps fmt,…,checkov,plan"),
    "pipeline_lib/commands/infra.py": (("checkov",), "… and the help listing those steps"),
    "gitops/monitoring/runbook.py": (("sonarqube",), "an alert's runbook text tells the operator what to check"),
}


def _pattern(tool: str) -> re.Pattern[str]:
    words = r"[-_ ]".join(re.escape(w) for w in re.split(r"[-_ ]", tool))
    return re.compile(rf"(?<![a-z0-9]){words}(?![a-z0-9])", re.IGNORECASE)


def _prose(tree: ast.AST) -> set[int]:
    """ids of the string constants that are statements of their own (docstrings and the like)."""
    return {id(node.value) for node in ast.walk(tree)
            if isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant) and isinstance(node.value.value, str)}


def _texts(tree: ast.AST):
    """(line, text) of every identifier and string literal in ``tree``, prose left out."""
    prose = _prose(tree)
    for node in ast.walk(tree):
        line = getattr(node, "lineno", 0)
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in prose:
            yield line, node.value
        elif isinstance(node, ast.Name):
            yield line, node.id
        elif isinstance(node, ast.Attribute):
            yield line, node.attr
        elif isinstance(node, ast.arg):
            yield line, node.arg
        elif isinstance(node, ast.keyword) and node.arg:
            yield line, node.arg
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            yield line, node.name
        elif isinstance(node, ast.ImportFrom) and node.module:
            yield line, node.module
        elif isinstance(node, ast.alias):
            yield line, node.name + (f" {node.asname}" if node.asname else "")


def named_tools(source: str, tools: tuple[str, ...]) -> list[tuple[int, str, str]]:
    """(line, tool, text) for each identifier or string literal of ``source`` that names a tool."""
    patterns = {tool: _pattern(tool) for tool in tools}
    return sorted((line, tool, text) for line, text in _texts(ast.parse(source))
                  for tool, pat in patterns.items() if pat.search(text))


def _modules() -> list[Path]:
    return sorted(p for pkg in PACKAGES for p in (PROJECT_ROOT / pkg).rglob("*.py"))


def _violations() -> tuple[list[str], dict[str, set[str]]]:
    """The names no allowance covers, and which allowances were used (module → tools)."""
    tools = tool_names()
    bad, used = [], {}
    for path in _modules():
        rel = path.relative_to(PROJECT_ROOT).as_posix()
        may, _why = ALLOWED.get(rel, ((), ""))
        for line, tool, text in named_tools(path.read_text(encoding="utf-8"), tools):
            if may == ALL or tool in may:
                used.setdefault(rel, set()).add(tool)
            else:
                bad.append(f"{rel}:{line}: names {tool}: {text[:80]!r}")
    return bad, used


def test_no_module_outside_scanners_names_a_scanner() -> None:
    bad, _ = _violations()
    assert bad == [], ("name scanners through scanners.registry (options, subjects, messages), "
                       "or add the module to ALLOWED with the reason:\n" + "\n".join(bad))


def test_every_allowance_is_still_needed() -> None:
    _, used = _violations()
    stale = [f"{rel}: {tool}" for rel, (may, _) in ALLOWED.items()
             for tool in ((may,) if may == ALL else may) if (tool == ALL and rel not in used)
             or (tool != ALL and tool not in used.get(rel, set()))]
    assert stale == []


@pytest.mark.parametrize(("code", "found"), [
    ('if tool == "trivy":\n    pass\n', [(1, "trivy", "trivy")]),
    ('raise E("scan", f"--image is a Trivy option, not {tool}\'s")\n', [(1, "trivy", "--image is a Trivy option, not ")]),
    ("from scanners import dependency_check\n", [(1, "dependency-check", "dependency_check")]),
    ("from scanners.sonarqube import run\n", [(1, "sonarqube", "scanners.sonarqube")]),
    ("def run_checkov(): pass\n", [(1, "checkov", "run_checkov")]),
    ("home = env['DEPENDENCY_CHECK_HOME']\n", [(1, "dependency-check", "DEPENDENCY_CHECK_HOME")]),
    # prose is not code: a docstring, a comment, a string statement
    ('"""Runs trivy."""\n# and checkov\ndef f():\n    """Like SonarQube."""\n', []),
    # other words that contain a name are not the name
    ('x = "pysonar", "trivyish", "SONAR_HOST_URL"\n', []),
])
def test_the_guard_sees_what_names_a_tool(code: str, found: list[tuple[int, str, str]]) -> None:
    assert named_tools(code, ("trivy", "dependency-check", "sonarqube", "checkov")) == found

"""The CLI starts fast: commands are registered without importing them (import on dispatch).

Each check runs a fresh interpreter (the test process has long imported everything) and reads
which modules it loaded: ``sys.modules`` after ``import pipeline_lib.cli``, or at the exit of a
whole ``gantry …`` run.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from pipeline_lib.cli import COMMANDS, build_parser

# Heavy third-party packages: none of them may load before a command is dispatched.
HEAVY = ("boto3", "botocore", "jenkins_jobs", "ruamel", "requests", "fastapi", "starlette", "uvicorn",
         "docker", "yaml", "hcl2", "prometheus_client", "urllib3", "tenacity", "jinja2")


def _python(*args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in sys.path if p)}
    return subprocess.run([sys.executable, *args], capture_output=True, text=True, timeout=60, env=env)


def _heavy(modules: list[str]) -> list[str]:
    """The HEAVY packages among ``modules`` (top-level names, so a failure reads short)."""
    return sorted({m.split(".")[0] for m in modules} & set(HEAVY))


# Runs gantry as the console script does, then writes sys.modules at exit (after SystemExit
# too). `-X importtime` would not do: it misses modules loaded through importlib.import_module.
_RUN = """
import atexit, json, sys
out = sys.argv.pop(1)
atexit.register(lambda: open(out, "w").write(json.dumps(sorted(sys.modules))))
from pipeline_lib.cli import main
sys.argv[0] = "gantry"
sys.exit(main())
"""


def _imported_by_run(tmp_path: Path, *argv: str) -> list[str]:
    """Every module a ``gantry ARGV`` process has imported when it exits."""
    out = tmp_path / "modules.json"
    _python("-c", _RUN, str(out), *argv)
    return json.loads(out.read_text())


def test_importing_the_cli_imports_no_heavy_library() -> None:
    proc = _python("-c", "import json, sys, pipeline_lib.cli; print(json.dumps(sorted(sys.modules)))")
    assert proc.returncode == 0, proc.stderr
    modules = json.loads(proc.stdout)
    assert "pipeline_lib.cli" in modules
    assert _heavy(modules) == []
    assert [m for m in modules if m.startswith("pipeline_lib.commands.")] == []


@pytest.mark.parametrize("argv", [["--help"], ["--version"], [], ["frobnicate"]])
def test_top_level_runs_import_no_command_module(argv: list[str], tmp_path: Path) -> None:
    modules = _imported_by_run(tmp_path, *argv)
    assert "pipeline_lib.cli" in modules and "argparse" in modules
    # gantry's parser class lives in pipeline_lib.commands.parser (a queued `gitops bump` starts without it)
    assert [m for m in modules if m.startswith(("pipeline_lib.commands", "scanners", "gitops"))
            and m not in ("pipeline_lib.commands", "pipeline_lib.commands.parser")] == []
    assert _heavy(modules) == []
    assert "typing" not in modules       # ~10% of the 60 ms budget; nothing on this path needs it


def test_a_command_imports_its_own_module_only(tmp_path: Path) -> None:
    modules = _imported_by_run(tmp_path, "catalog", "--help")
    commands = {m for m in modules if m.startswith("pipeline_lib.commands.")}
    assert commands <= {"pipeline_lib.commands.catalog", "pipeline_lib.commands.options", "pipeline_lib.commands.parser"}
    assert "pipeline_lib.commands.catalog" in commands


def test_the_index_help_is_each_modules_own_help() -> None:
    """The static table in cli.py says what the modules register (names and one-line help)."""
    registered = {}
    for action in build_parser()._actions:
        if isinstance(action, argparse._SubParsersAction):
            registered = {a.dest: a.help for a in action._choices_actions}
    assert registered == {name: cmd.help for name, cmd in COMMANDS.items()}


@pytest.mark.parametrize(("code", "forbidden"), [
    # gantry scan trivy: the command, the stage, every scanner's report formats, the policy
    ("import pipeline_lib.commands.security, pipeline_lib.stages.scan, scanners.policy, scanners.registry as r; "
     "r._load()", {"requests", "urllib3", "tenacity", "prometheus_client", "boto3", "docker"}),
    # gantry image push: the registry client needs requests, not the Pushgateway client
    ("import pipeline_lib.commands.image, pipeline_lib.stages.push",
     {"prometheus_client", "boto3", "botocore", "docker", "jenkins_jobs"}),
    # gantry gitops bump: a bump that queues for a GitOps batch (issue 21: 50 at once) loads no render
    # machinery (ruamel, concurrent.futures) and, with `signing: off`, no signature crypto
    ("import pipeline_lib.commands.gitops, pipeline_lib.stages.bump, gitops.batch",
     {"cryptography", "ruamel", "concurrent", "requests", "urllib3", "prometheus_client", "boto3", "docker"}),
    # a bump that queues raw for a GitOps batch and waits: no YAML (catalog), render, git or HTTP machinery
    ("import pipeline_lib.commands.gitops, gitops.batch",
     {"yaml", "ruamel", "cryptography", "concurrent", "requests", "urllib3", "tenacity", "boto3", "docker"}),
])
def test_a_stage_process_imports_what_it_uses(code: str, forbidden: set[str]) -> None:
    proc = _python("-c", f"{code}; import json, sys; print(json.dumps(sorted(sys.modules)))")
    assert proc.returncode == 0, proc.stderr
    assert sorted({m.split(".")[0] for m in json.loads(proc.stdout)} & forbidden) == []


FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"


@pytest.mark.parametrize(("report", "fmt", "imported"), [
    # after `gantry scan trivy`: its own report needs no other scanner module
    ("trivy/alpine-3.9-image.json", "trivy-json", {"scanners.trivy"}),
    # any other report still finds its format: the rest are imported when trivy's do not match
    ("dependency-check/single-vuln.xml", "dependency-check-xml",
     {"scanners.trivy", "scanners.dependency_check", "scanners.sonarqube", "scanners.checkov"}),
])
def test_a_report_is_detected_importing_only_what_it_needs(report: str, fmt: str, imported: set[str]) -> None:
    code = ("import json, sys, scanners.trivy; from scanners.registry import SCANNERS, detect; "
            f"f = detect({str(FIXTURES / report)!r}); "
            "print(json.dumps([f.name, sorted(m for m in sys.modules if m in SCANNERS.values())]))")
    proc = _python("-c", code)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout) == [fmt, sorted(imported)]


def test_an_image_push_run_imports_only_what_the_push_runs(tmp_path: Path, registry) -> None:
    """``gantry image push`` of an OCI layout (no DR state, no signing key, first try succeeds):
    no git machinery, signing, freeze windows, tar reader or retry library is loaded."""
    from tests.support.oci import image_layout

    layout, _ = image_layout(tmp_path / "layout", "push-imports")
    catalog = Path(__file__).resolve().parents[2] / "jobs" / "catalog.yaml"
    out = tmp_path / "image.json"
    modules = _imported_by_run(tmp_path, "image", "push", "--catalog", str(catalog), "--service", "storefront",
                               "--registry", registry.host, "--oci-layout", str(layout), "--ref", "app",
                               "--tag", "push-imports", "--output", str(out))
    assert json.loads(out.read_text())["digest"].startswith("sha256:")   # the push did run
    assert "requests" in modules
    unused = {"tenacity", "tarfile", "boto3", "docker", "gitops.git", "gitops.hostlock", "pipeline_lib.attest",
              "pipeline_lib.core.freeze"}
    assert sorted(m for m in modules if m in unused or m.split(".")[0] in unused
                  or m.startswith("pipeline_lib.attest.")) == []

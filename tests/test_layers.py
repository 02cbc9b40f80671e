"""import-linter keeps the layers: the real contracts pass, and an upward import breaks them."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.paths import PROJECT_ROOT

LINT = Path(sys.executable).with_name("lint-imports")
PACKAGES = ("pipeline_lib", "scanners", "gitops")

pytestmark = pytest.mark.skipif(not LINT.is_file(), reason="import-linter not installed (make test installs it)")


def lint(root: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(LINT), "--config", str(root / "setup.cfg"), "--no-cache"], cwd=root,
                          env={"PYTHONPATH": str(root), "PATH": "/usr/bin:/bin"}, capture_output=True,
                          text=True, timeout=300)


def copy_project(tmp_path: Path) -> Path:
    for pkg in PACKAGES:
        shutil.copytree(PROJECT_ROOT / pkg, tmp_path / pkg, ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(PROJECT_ROOT / "setup.cfg", tmp_path / "setup.cfg")
    return tmp_path


def test_contracts_kept() -> None:
    proc = lint(PROJECT_ROOT)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "0 broken" in proc.stdout


@pytest.mark.parametrize("module,upward", [
    ("scanners/base.py", "import pipeline_lib.stages.gate"),          # domain -> stages
    ("pipeline_lib/core/catalog.py", "import gitops.layout"),           # core -> domain
    ("gitops/bump.py", "import pipeline_lib.image.registry"),          # gitops -> non-core pipeline_lib
    ("pipeline_lib/stages/gate.py", "import pipeline_lib.demo"),       # stages -> demo
])
def test_an_upward_import_breaks_a_contract(tmp_path: Path, module: str, upward: str) -> None:
    root = copy_project(tmp_path)
    path = root / module
    path.write_text(path.read_text() + f"\n{upward}  # injected by the test\n")
    proc = lint(root)
    assert proc.returncode != 0, proc.stdout
    assert "BROKEN" in proc.stdout and upward.split()[-1] in proc.stdout


EXPECTED_LAYERS = [
    "pipeline_lib.cli : pipeline_lib.commands",
    "pipeline_lib.demo",
    "pipeline_lib.stages",
    None,   # the domain packages, checked below
    "pipeline_lib.core",
]
DOMAIN = {"scanners", "gitops", "pipeline_lib.jobs", "pipeline_lib.webhook", "pipeline_lib.image", "pipeline_lib.ecr",
          "pipeline_lib.infra", "pipeline_lib.event", "pipeline_lib.attest"}


def test_the_layer_rules_are_all_there() -> None:
    """Removing a layer or a contract from setup.cfg fails here (the linter alone would pass)."""
    import configparser

    cfg = configparser.ConfigParser()
    cfg.read(PROJECT_ROOT / "setup.cfg")
    layers = [ln.strip() for ln in cfg["importlinter:contract:layers"]["layers"].strip().splitlines()]
    assert len(layers) == len(EXPECTED_LAYERS)
    for got, want in zip(layers, EXPECTED_LAYERS):
        if want is None:
            assert DOMAIN <= {m.strip() for m in got.split(":")}
        else:
            assert got == want
    forbidden = cfg["importlinter:contract:core-only"]
    assert forbidden["type"] == "forbidden"
    assert set(forbidden["source_modules"].split()) == {"scanners", "gitops"}
    assert {"pipeline_lib.stages", "pipeline_lib.demo", "pipeline_lib.commands"} <= set(forbidden["forbidden_modules"].split())
    assert cfg["importlinter:contract:independent"]["type"] == "independence"

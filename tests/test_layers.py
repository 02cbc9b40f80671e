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
    ("pipeline_lib/core/catalog.py", "import pipeline_lib.codescanning.upload"),  # core -> domain (was unlayered)
    ("pipeline_lib/core/catalog.py", "import pipeline_lib.jenkins.artifacts"),    # core -> domain (was unlayered)
    ("pipeline_lib/stages/gate.py", "import pipeline_lib.demo.storefront"),       # stages -> demo (was unlayered)
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


# ---------------------------------------------------------------------------------------------
# closed contracts: every child of pipeline_lib has a layer, and the core-only rule names it
# ---------------------------------------------------------------------------------------------

def _cfg(root: Path):
    import configparser

    cfg = configparser.ConfigParser()
    cfg.read(root / "setup.cfg")
    return cfg


def pipeline_lib_children(root: Path) -> set[str]:
    """``pipeline_lib``'s direct children as import-linter sees them: subpackages and modules."""
    pkg = root / "pipeline_lib"
    children = {p.name for p in pkg.iterdir() if p.is_dir() and (p / "__init__.py").is_file()}
    children |= {p.stem for p in pkg.glob("*.py") if p.name != "__init__.py"}
    return {f"pipeline_lib.{c}" for c in children}


def core_only_gaps(root: Path) -> set[str]:
    """Children of pipeline_lib other than core that the core-only contract does not forbid."""
    forbidden = set(_cfg(root)["importlinter:contract:core-only"]["forbidden_modules"].split())
    return pipeline_lib_children(root) - {"pipeline_lib.core"} - forbidden


def test_the_core_only_rule_forbids_every_non_core_package() -> None:
    """A deny-list lets new packages slip past; here a new child of pipeline_lib must be listed."""
    assert not core_only_gaps(PROJECT_ROOT), (
        "add these to [importlinter:contract:core-only] forbidden_modules in setup.cfg (scanners/ and "
        f"gitops/ may use only pipeline_lib.core): {sorted(core_only_gaps(PROJECT_ROOT))}")


def test_a_new_package_is_a_gap_in_the_core_only_rule(tmp_path: Path) -> None:
    root = copy_project(tmp_path)
    (root / "pipeline_lib" / "newpkg").mkdir()
    (root / "pipeline_lib" / "newpkg" / "__init__.py").write_text("")
    (root / "pipeline_lib" / "newmod.py").write_text("")
    assert core_only_gaps(root) == {"pipeline_lib.newpkg", "pipeline_lib.newmod"}
    cfg = (root / "setup.cfg").read_text()
    (root / "setup.cfg").write_text(cfg.replace("    pipeline_lib.notify\n", "", 1))
    assert "pipeline_lib.notify" in core_only_gaps(root)


def test_only_init_and_cli_at_the_root_of_pipeline_lib() -> None:
    assert {p.name for p in (PROJECT_ROOT / "pipeline_lib").glob("*.py")} == {"__init__.py", "cli.py"}


def _layers(cfg, contract: str) -> list[set[str]]:
    return [{m.strip() for m in ln.replace("|", ":").split(":")}
            for ln in cfg[f"importlinter:contract:{contract}"]["layers"].strip().splitlines()]


def test_the_exhaustive_layers_match_the_cross_package_layers() -> None:
    """Both layers contracts place each pipeline_lib child at the same level (scanners and gitops
    sit in the domain layer of the cross-package one only)."""
    cfg = _cfg(PROJECT_ROOT)
    inner = cfg["importlinter:contract:pipeline-lib-layers"]
    assert inner["type"] == "layers" and inner["exhaustive"].strip() == "true"
    assert inner["containers"].split() == ["pipeline_lib"]
    assert not inner.get("exhaustive_ignores", "").split()
    prefixed = [{f"pipeline_lib.{m}" for m in layer} for layer in _layers(cfg, "pipeline-lib-layers")]
    outer = [layer - {"scanners", "gitops"} for layer in _layers(cfg, "layers")]
    assert outer == prefixed
    assert set().union(*prefixed) == pipeline_lib_children(PROJECT_ROOT)


def test_a_package_outside_the_layers_breaks_the_exhaustive_contract(tmp_path: Path) -> None:
    root = copy_project(tmp_path)
    (root / "pipeline_lib" / "newpkg").mkdir()
    (root / "pipeline_lib" / "newpkg" / "__init__.py").write_text("import pipeline_lib.core.errors\n")
    proc = lint(root)
    assert proc.returncode != 0, proc.stdout
    assert "every child package sits in a layer (exhaustive) BROKEN" in proc.stdout
    assert "not listed as layers" in proc.stdout and "pipeline_lib.newpkg" in proc.stdout


@pytest.mark.parametrize("module,cycle,package", [
    ("scanners/base.py", "import scanners.trivy", "scanners"),                  # trivy imports base
    ("pipeline_lib/stages/code_scanning.py", "import pipeline_lib.stages.pr_report",  # pr_report imports it
     "pipeline_lib.stages"),
    ("gitops/git.py", "import gitops.bump", "gitops"),                            # bump imports git
])
def test_an_import_cycle_between_siblings_breaks_a_contract(tmp_path: Path, module: str, cycle: str,
                                                            package: str) -> None:
    root = copy_project(tmp_path)
    path = root / module
    path.write_text(path.read_text() + f"\n{cycle}  # injected by the test\n")
    proc = lint(root)
    assert proc.returncode != 0, proc.stdout
    assert "no import cycle between siblings BROKEN" in proc.stdout
    assert f"No cycles are allowed in {package}." in proc.stdout


def test_the_acyclic_siblings_contract_covers_every_root_package() -> None:
    contract = _cfg(PROJECT_ROOT)["importlinter:contract:siblings-acyclic-all"]
    assert contract["type"] == "acyclic_siblings"
    assert set(contract["ancestors"].split()) == set(PACKAGES)

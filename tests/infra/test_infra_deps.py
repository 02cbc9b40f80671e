"""What ``gantry infra check`` runs is a declared dependency or extra, and its ``--help`` says so."""

from __future__ import annotations

import configparser
import os
import re
import subprocess
import sys

from tests.support.paths import PROJECT_ROOT


def _extras() -> dict[str, list[str]]:
    cfg = configparser.ConfigParser()
    cfg.read(PROJECT_ROOT / "setup.cfg")
    section = cfg["options.extras_require"]
    return {name: [ln.split("#")[0].strip() for ln in section[name].strip().splitlines()] for name in section}


def test_moto_is_the_infra_extra_and_make_installs_it() -> None:
    infra = _extras()["infra"]
    assert any(re.match(r"moto\[server\]>=", req) for req in infra), infra
    installed = re.search(r"-e '\.\[([a-z,]+)\]'", (PROJECT_ROOT / "Makefile").read_text())
    assert installed and "infra" in installed.group(1).split(","), "make installs the infra extra"


def test_the_help_names_what_the_check_needs() -> None:
    proc = subprocess.run([sys.executable, "-m", "pipeline_lib.cli", "infra", "check", "--help"],
                          capture_output=True, text=True, timeout=60, cwd=PROJECT_ROOT,
                          env={**os.environ, "PYTHONPATH": str(PROJECT_ROOT), "COLUMNS": "200"})
    assert proc.returncode == 0, proc.stderr
    text = " ".join(proc.stdout.split())
    assert "pip install 'gantry[infra]'" in text       # moto (plan)
    assert "terraform on PATH" in text
    assert ".venv-checkov (make deps) or $GANTRY_CHECKOV" in text

"""``gantry config show``: the full settings table (core/settings.py), secrets masked."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from dataclasses import fields
from pathlib import Path

import pytest

from pipeline_lib.core import settings as settings_mod
from pipeline_lib.core import settingsmodel
from pipeline_lib.core.settings import SETTINGS
from pipeline_lib.core.settingsmodel import Settings, settings_table

ROOT = Path(__file__).resolve().parents[2]

# Variables the code reads by name that are not gantry settings: another tool's own variables,
# read from the environment gantry hands to that tool (core.settings.child_env) to behave like it.
NOT_SETTINGS = {
    "GIT_CONFIG_COUNT": "git's own per-process configuration, extended, not replaced",
    "TF_PLUGIN_CACHE_DIR": "Terraform's own variable, passed through",
}
_READ = re.compile(r'(?:os\.environ\.get|os\.getenv|environ\.get|\benv\.get)\(\s*"([A-Z][A-Z0-9_]+)"'
                   r'|os\.environ\["([A-Z][A-Z0-9_]+)"\](?!\s*=[^=])')


def _gantry(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "pipeline_lib.cli", *args], capture_output=True, text=True,
                          timeout=60, env={**os.environ, "PYTHONPATH": str(ROOT), **env})


def _clean_env(**extra: str) -> dict[str, str]:
    """This process's environment without any setting's variable, plus ``extra``."""
    names = {v for s in SETTINGS for v in s.variables}
    return {**{k: v for k, v in os.environ.items() if k not in names}, **extra}


def test_every_settings_field_is_in_the_table_and_read_the_same_way() -> None:
    table = {s.name: s for s in SETTINGS}
    assert [f.name for f in fields(Settings)] == list(table)   # every row is a field, in order
    for f in fields(Settings):
        row = table[f.name]
        assert row.secret == (f.name in settingsmodel._SECRETS), f.name
        # a rule default ("<…>") is applied by the code that uses the setting: None in Settings
        assert (None if row.is_rule else row.default) == (f.default if isinstance(f.default, str) else None), f.name
        for var in row.variables:
            assert getattr(Settings.from_env({var: " v "}), f.name) == "v", (f.name, var)
            assert row.lookup({var: " v "}) == ("v", var)
    assert len({s.name for s in SETTINGS}) == len(SETTINGS)
    assert all(s.help and s.group in settings_mod.GROUPS for s in SETTINGS)


def test_every_variable_the_code_reads_by_name_is_in_the_table() -> None:
    known = {v for s in SETTINGS for v in s.variables}
    read: dict[str, set[str]] = {}
    for top in ("pipeline_lib", "scanners", "gitops"):
        for path in (ROOT / top).rglob("*.py"):
            for m in _READ.finditer(path.read_text()):
                read.setdefault(m.group(1) or m.group(2), set()).add(str(path.relative_to(ROOT)))
    assert "TF_PLUGIN_CACHE_DIR" in read and "GIT_TOKEN" in read   # the scan finds reads
    missing = {name: sorted(where) for name, where in read.items() if name not in known | set(NOT_SETTINGS)}
    assert missing == {}


def test_text_shows_values_defaults_and_masks_secrets() -> None:
    secrets = {v: f"s3cr3t-{i}" for i, v in enumerate(s.variables[0] for s in SETTINGS if s.secret)}
    env = _clean_env(**secrets, JENKINS_URL="https://bot:pa55word@jenkins.example/", GIT_USER="deployer",
                     SONAR_HOST_URL="https://sonar.example/s3cr3t-0", ARGOCD_TOKEN="s3cr3t-argo")
    proc = _gantry("config", "show", env=env)
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout
    assert "s3cr3t" not in out and "pa55word" not in out
    assert "https://bot:***@jenkins.example/" in out and "https://sonar.example/***" in out
    assert re.search(r"^GIT_USER +deployer$", out, re.M)
    assert re.search(r"^GITHUB_API_URL +https://api\.github\.com \(default\)$", out, re.M)
    assert re.search(r"^ARGOCD_AUTH_TOKEN \| ARGOCD_TOKEN +\*\*\* \(from ARGOCD_AUTH_TOKEN\)$", out, re.M)
    assert re.search(r"^SONAR_HOST_URL +", out, re.M) and re.search(r"^GANTRY_TERRAFORM +terraform \(default\)$",
                                                                      out, re.M)


def test_json_rows_mask_secrets() -> None:
    env = _clean_env(GH_TOKEN="ghp_s3cr3t", PUSHGATEWAY_URL="http://pg:9091", GANTRY_TERRAFORM="/opt/tf")
    proc = _gantry("config", "show", "--format", "json", env=env)
    assert proc.returncode == 0, proc.stderr
    assert "s3cr3t" not in proc.stdout
    rows = {r["name"]: r for r in json.loads(proc.stdout)["settings"]}
    assert [r["name"] for r in json.loads(proc.stdout)["settings"]] == [s.name for s in SETTINGS]
    assert rows["github_token"] == {"name": "github_token", "variables": ["GITHUB_TOKEN", "GH_TOKEN"],
                                         "value": "***", "source": "GH_TOKEN", "default": None, "secret": True,
                                         "group": "services", "help": rows["github_token"]["help"]}
    assert (rows["pushgateway_url"]["value"], rows["pushgateway_url"]["source"]) == ("http://pg:9091",
                                                                                     "PUSHGATEWAY_URL")
    assert (rows["terraform"]["value"], rows["terraform"]["source"]) == ("/opt/tf", "GANTRY_TERRAFORM")
    assert (rows["sonar_token"]["value"], rows["sonar_token"]["source"]) == (None, None)
    assert (rows["github_api_url"]["value"], rows["github_api_url"]["source"]) == ("https://api.github.com",
                                                                                   "default")


@pytest.mark.parametrize("value", ["tok", "https://hooks.slack.com/services/T/B/tok"])
def test_no_secret_value_in_any_row(value: str) -> None:
    env = {v: value + "-" + v for s in SETTINGS if s.secret for v in s.variables}
    text = json.dumps(settings_table(env))
    assert all(v not in text for v in env.values())

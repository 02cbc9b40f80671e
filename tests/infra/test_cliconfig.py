"""The Terraform CLI config finds a provider mirror at run time."""

from __future__ import annotations

from pathlib import Path

import pytest

from pipeline_lib.infra.cliconfig import find_mirror, render_cli_config, write_cli_config


def test_finds_mirror_below_a_search_root(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("GANTRY_TF_PROVIDER_MIRROR", raising=False)
    mirror = tmp_path / "vendor" / "tf-plugins"
    (mirror / "registry.terraform.io" / "hashicorp" / "aws" / "5.100.0" / "linux_amd64").mkdir(parents=True)
    assert find_mirror([str(tmp_path / "missing"), str(tmp_path)]) == mirror
    assert find_mirror([str(tmp_path)], version="4.0.0") is None
    text = write_cli_config(tmp_path / "rc", mirror=mirror).read_text()
    assert f'path    = "{mirror}"' in text and "direct {" in text


def test_without_mirror_only_a_plugin_cache(tmp_path: Path) -> None:
    text = render_cli_config(None, tmp_path / "cache")
    assert "provider_installation" not in text
    assert f'plugin_cache_dir = "{tmp_path / "cache"}"' in text

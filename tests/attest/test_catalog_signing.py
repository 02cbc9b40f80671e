"""The catalog's ``signing:`` section: per-environment evidence mode, trusted keys, signing key."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from pipeline_lib.core.catalog import load_catalog, parse_catalog
from pipeline_lib.core.errors import GantryError
from tests.support.paths import PROJECT_ROOT


def _with(signing, tmp_path: Path) -> Path:
    raw = yaml.safe_load((PROJECT_ROOT / "jobs" / "catalog.yaml").read_text())
    raw[0]["_catalog"]["signing"] = signing
    path = tmp_path / "jobs" / "catalog.yaml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(raw, sort_keys=False))
    return path


def test_no_section_means_the_defaults_unconfigured() -> None:
    """No ``signing:`` section is not an opt-out: required in prod and event, warn in dev."""
    catalog = load_catalog(PROJECT_ROOT / "jobs" / "catalog.yaml")
    got = {env: (catalog.signing_for(env).evidence, catalog.signing_for(env).configured)
           for env in ("dev", "prod", "event")}
    assert got == {"dev": ("warn", False), "prod": ("required", False), "event": ("required", False)}


def test_unquoted_off_is_off(tmp_path: Path) -> None:
    """YAML 1.1 reads ``evidence: off`` as false; the catalog reads it as the mode it means."""
    catalog = load_catalog(_with({"prod": {"evidence": False}}, tmp_path))
    assert catalog.signing_for("prod").evidence == "off"


def test_defaults_paths_and_kms_keys(tmp_path: Path) -> None:
    (tmp_path / "jobs" / "keys").mkdir(parents=True)
    (tmp_path / "jobs" / "keys" / "prod.pub").write_text("pem")
    dev_key = tmp_path / "dev.pub"
    dev_key.write_text("pem")
    catalog = load_catalog(_with({"prod": {"trusted_keys": ["keys/prod.pub"], "key": "awskms:///alias/gantry-prod"},
                                  "dev": {"trusted_keys": [str(dev_key)], "require": ["sbom"]}}, tmp_path))
    prod, dev, event = (catalog.signing_for(e) for e in ("prod", "dev", "event"))
    assert prod.evidence == "required" and prod.trusted_keys == (str(tmp_path / "jobs" / "keys" / "prod.pub"),)
    assert prod.key == "awskms:///alias/gantry-prod" and prod.require == ("provenance", "sbom", "verdict")
    assert dev.evidence == "warn" and dev.trusted_keys == (str(dev_key),) and dev.require == ("sbom",)
    assert event.evidence == "required" and event.trusted_keys == ()     # listed nowhere: required, no key


def test_problems_are_named(tmp_path: Path) -> None:
    with pytest.raises(GantryError) as err:
        load_catalog(_with({"prod": {"evidence": "required"}, "dev": {"evidence": "maybe", "require": ["magic"]},
                            "staging": {}}, tmp_path))
    text = "\n".join(err.value.problems)
    assert "signing.prod.trusted_keys: evidence is required: list at least one trusted public key" in text
    assert "signing.dev.evidence: must be one of required, warn, off" in text
    assert "signing.dev.require[0]: unknown attestation 'magic'" in text
    assert "signing.staging: unknown key" in text


def test_trusted_keys_must_be_existing_files(tmp_path: Path, capsys) -> None:
    """A trusted key that is missing or a directory is named by catalog check (trial: /etc passed)."""
    from pipeline_lib.cli import main
    path = _with({"prod": {"trusted_keys": ["keys/missing.pub", "/etc"]}}, tmp_path)
    assert main(["catalog", "check", "--catalog", str(path)]) == 2
    err = capsys.readouterr().err
    assert f"signing.prod.trusted_keys[0]: {tmp_path / 'jobs' / 'keys' / 'missing.pub'}: no such file" in err
    assert "signing.prod.trusted_keys[1]: /etc: not a regular file" in err

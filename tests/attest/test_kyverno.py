"""Kyverno in prod: the chart pinned, a ClusterPolicy generated from the catalog's ``signing:``
(the trusted key, the services' ECR repositories in both regions, provenance + verdict required),
written by ``gantry gitops init`` and validated by ``gantry gitops check`` against Kyverno's own
ClusterPolicy CRD (v1.14.5, tests/fixtures/crds/kyverno.io_clusterpolicies.yaml)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from gitops import validate
from gitops.kyverno import KYVERNO, cluster_policy
from gitops.layout import init_repo
from pipeline_lib.cli import main
from pipeline_lib.core.catalog import load_catalog
from tests.support.paths import FIXTURES, PROJECT_ROOT

from .conftest import signed_catalog


def _errors(doc: dict) -> list[str]:
    validator = validate._crd_validator(doc["apiVersion"], doc["kind"])
    assert validator is not None, "the Kyverno ClusterPolicy CRD is packaged"
    return [e.message for e in validator.iter_errors(doc)]


def test_the_packaged_crd_is_the_fixture() -> None:
    assert (PROJECT_ROOT / "gitops" / "crds" / "kyverno.io_clusterpolicies.yaml").read_bytes() == \
        (FIXTURES / "crds" / "kyverno.io_clusterpolicies.yaml").read_bytes()


def test_policy_is_valid_and_names_key_repositories_and_attestations(keyset, tmp_path: Path) -> None:
    catalog = load_catalog(signed_catalog(tmp_path, keyset))
    policy = cluster_policy(catalog)
    assert _errors(policy) == []
    rule = policy["spec"]["rules"][0]["verifyImages"][0]
    assert rule["failureAction"] == "Enforce" and rule["required"] and rule["verifyDigest"]
    assert "123456789012.dkr.ecr.ap-northeast-2.amazonaws.com/shop/storefront*" in rule["imageReferences"]
    assert "123456789012.dkr.ecr.ap-northeast-1.amazonaws.com/shop/storefront*" in rule["imageReferences"]
    assert [a["type"] for a in rule["attestations"]] == ["https://slsa.dev/provenance/v1",
                                                         "https://gantry.flashshop.dev/attestations/gate-verdict/v1"]
    pem = Path(keyset.prod.source).with_name("gantry.pub").read_text()
    assert rule["attestations"][0]["attestors"][0]["entries"][0]["keys"]["publicKeys"].strip() == pem.strip()
    # the schema check can fail: a misspelt field or a wrong enum value is refused
    broken = yaml.safe_load(yaml.safe_dump(policy))
    broken["spec"]["rules"][0]["verifyImages"][0]["type"] = "Cosine"
    broken["spec"]["rules"][0]["verifyImages"][0]["attestation"] = []
    assert len(_errors(broken)) == 2


@pytest.mark.skipif(shutil.which("kubectl") is None, reason="kubectl not installed")
def test_init_writes_kyverno_for_prod_and_check_validates_it(keyset, tmp_path: Path, capsys) -> None:
    catalog = load_catalog(signed_catalog(tmp_path, keyset))
    bare = tmp_path / "g.git"
    init_repo(bare, catalog, catalog.services_in("prod"), "prod", "127.0.0.1:5000")
    work = tmp_path / "work"
    subprocess.run(["git", "clone", "-q", str(bare), str(work)], check=True)
    apps = work / "platform" / "prod" / "apps"
    chart = yaml.safe_load((apps / "kyverno.yaml").read_text())
    assert chart["spec"]["source"]["targetRevision"] == KYVERNO.version == "3.4.5"
    assert "kyverno.yaml" in yaml.safe_load((apps / "kustomization.yaml").read_text())["resources"]
    assert (work / "platform" / "prod" / "kyverno" / "cluster-policy.yaml").is_file()
    assert main(["gitops", "check", "--repo", str(work), "--env", "prod"]) == 0
    capsys.readouterr()
    # a hand edit that breaks the policy's schema is caught by the check
    path = work / "platform" / "prod" / "kyverno" / "cluster-policy.yaml"
    doc = yaml.safe_load(path.read_text())
    doc["spec"]["rules"][0]["verifyImages"][0]["failureAction"] = "Block"
    path.write_text(yaml.safe_dump(doc))
    assert main(["gitops", "check", "--repo", str(work), "--env", "prod"]) == 1
    assert "ClusterPolicy" in capsys.readouterr().err


def test_no_trusted_key_no_kyverno(tmp_path: Path) -> None:
    catalog = load_catalog(PROJECT_ROOT / "jobs" / "catalog.yaml")     # no signing: section
    from gitops.kyverno import layout_files
    from gitops.layout import LayoutContext
    assert list(layout_files(LayoutContext(catalog, tuple(catalog.services), ("prod",), "127.0.0.1:5000"))) == []

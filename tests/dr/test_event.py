"""The event stack (Helm values, ECS through Terraform): failover rewrites the values and the tfvars
``gantry gitops pins --tfvars`` writes carry the active registry with the same digests."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from gitops.bump import bump
from pipeline_lib.image.copy import LayoutSource, copy_image
from pipeline_lib.image.registry import RegistryClient
from tests.gitops.conftest import PROJECT_ROOT, catalog, clone, gantry, gitops_repo  # noqa: F401 (fixtures)
from tests.support.catalogs import shipped_evidence_off
from tests.support.oci import image_layout

pytestmark = pytest.mark.integration


def test_event_failover_moves_helm_values_and_tfvars(catalog, gitops_repo: Path, registry, registry_tokyo,
                                                     tmp_path: Path) -> None:
    tokyo = RegistryClient(registry_tokyo.host)
    services = [s for s in catalog.services_in("event")]
    digests = {}
    for svc in services:
        repo = svc.environment("event").ecr_repository
        layout, digests[svc.name] = image_layout(tmp_path / svc.name, f"event {svc.name} {tmp_path.name}")
        copy_image(LayoutSource(layout), "app", tokyo, repo, [f"e-{tmp_path.name[-8:]}"])
        bump(gitops_repo.as_uri(), catalog=catalog, service=svc.name, environment="event",
             image=f"{registry.host}/{repo}", digest=digests[svc.name], tag="v1")
    CATALOG = str(shipped_evidence_off(tmp_path / "catalog"))
    regs = ["--registry-for", f"ap-northeast-2={registry.host}", "--registry-for", f"ap-northeast-1={registry_tokyo.host}"]
    proc = gantry("dr", "failover", "--catalog", CATALOG, "--repo", gitops_repo.as_uri(), "--env", "event",
                  "--to", "ap-northeast-1", *regs)
    assert proc.returncode == 0, proc.stderr
    assert "2 service(s) in one commit" in proc.stdout

    wd = clone(gitops_repo, tmp_path / "after")
    for svc in services:
        env = svc.environment("event")
        values = yaml.safe_load((wd / env.manifest).read_text())["image"]
        ref = values["repository"] if "registry" not in values else f"{values['registry']}/{values['repository']}"
        assert ref == f"{registry_tokyo.host}/{env.ecr_repository}"
        assert values["digest"] == digests[svc.name] and values["tag"] == "v1"

    tfvars = tmp_path / "images.auto.tfvars.json"
    proc = gantry("gitops", "pins", "--catalog", CATALOG, "--repo", gitops_repo.as_uri(), "--env", "event",
                  "--tfvars", str(tfvars))
    assert proc.returncode == 0, proc.stderr
    assert json.loads(tfvars.read_text()) == {"image_digests": digests, "image_registry": registry_tokyo.host}
    assert f"event is failed over: image_registry {registry_tokyo.host}" in proc.stderr

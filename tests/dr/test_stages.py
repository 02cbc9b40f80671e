"""The push and replicate stages take the DR state as an option: what the demo (or any caller of
the stages) runs during a failover, without the CLI.

Two real registries (Seoul, Tokyo), a real GitOps repository whose ``.gantry/dr/prod.yaml``
(written by :func:`gitops.drstate.write_state`, as ``gantry dr failover`` does) says prod is
failed over to Tokyo: the push stage pushes to Tokyo and records it in image.json; the replicate
stage checks Tokyo -> Seoul. Without the state (or without ``dr_repo``) both use the primary.
"""

from __future__ import annotations

import json
import subprocess
import uuid
from pathlib import Path

import pytest

from gitops.drstate import RegistryState, write_state
from pipeline_lib.core.errors import GantryError
from pipeline_lib.image.copy import LayoutSource, copy_image
from pipeline_lib.image.registry import RegistryClient
from pipeline_lib.stages import push, replicate
from tests.conftest import git
from tests.support.oci import image_layout

pytestmark = pytest.mark.integration

SEOUL, TOKYO = "ap-northeast-2", "ap-northeast-1"


def _gitops(tmp_path: Path, state: RegistryState | None) -> str:
    bare = tmp_path / "gitops.git"
    subprocess.run(["git", "init", "--bare", "-q", "-b", "main", str(bare)], check=True)
    work = tmp_path / "gitops-work"
    subprocess.run(["git", "clone", "-q", str(bare), str(work)], check=True, capture_output=True)
    (work / "README.md").write_text("gitops\n")
    if state is not None:
        write_state(work, state)
    git(work, "add", "-A")
    git(work, "-c", "user.name=t", "-c", "user.email=t@example.com", "commit", "-q", "-m", "state")
    git(work, "push", "-q", "origin", "HEAD:main")
    return bare.as_uri()


def test_failed_over_push_goes_to_the_replica_and_replication_is_checked_back(
        registry, registry_tokyo, tmp_path: Path) -> None:
    state = RegistryState("prod", TOKYO, registry_tokyo.host, SEOUL, registry.host, "2026-12-05T00:00:00Z", "failover")
    repo_url = _gitops(tmp_path, state)
    layout, digest = image_layout(tmp_path / "oci", f"dr stage {uuid.uuid4()}")
    repository, tag = f"shop/dr-{uuid.uuid4().hex[:8]}", "v2"
    record = tmp_path / "reports" / "image.json"
    result = push.run(push.PushOptions(registry.host, repository, [tag], oci_layout=layout, ref="app", output=record,
                                       dr_repo=repo_url, environment="prod"))
    assert result.data["registry"] == registry_tokyo.host and result.data["failed_over_to"] == TOKYO
    assert json.loads(record.read_text())["digest"] == digest == result.data["digest"]
    assert RegistryClient(registry_tokyo.host).head_manifest(repository, tag).digest == digest
    assert RegistryClient(registry.host).head_manifest(repository, tag) is None   # Seoul is down: not pushed there

    opts = replicate.ReplicateOptions(repository, digest, registry.host, {TOKYO: registry_tokyo.host}, timeout=5,
                                      interval=0.2, source_region=SEOUL, dr_repo=repo_url, environment="prod")
    with pytest.raises(GantryError, match=f"missing in {SEOUL}"):   # not yet back in Seoul: the check says no
        replicate.run(opts)
    copy_image(LayoutSource(layout), "app", RegistryClient(registry.host), repository, [tag])   # the re-push
    checked = replicate.run(opts)
    assert checked.data["source_region"] == TOKYO and list(checked.data["present"]) == [SEOUL]


def test_without_a_failover_both_stages_use_the_primary(registry, registry_tokyo, tmp_path: Path) -> None:
    repo_url = _gitops(tmp_path, None)   # no .gantry/dr/prod.yaml: prod pulls from the primary
    layout, digest = image_layout(tmp_path / "oci", f"primary {uuid.uuid4()}")
    repository, tag = f"shop/dr-{uuid.uuid4().hex[:8]}", "v1"
    result = push.run(push.PushOptions(registry.host, repository, [tag], oci_layout=layout, ref="app",
                                       dr_repo=repo_url, environment="prod"))
    assert result.data["registry"] == registry.host and "failed_over_to" not in result.data
    copy_image(LayoutSource(layout), "app", RegistryClient(registry_tokyo.host), repository, [tag])  # "replication"
    checked = replicate.run(replicate.ReplicateOptions(repository, digest, registry.host, {TOKYO: registry_tokyo.host},
                                                       timeout=5, source_region=SEOUL, dr_repo=repo_url,
                                                       environment="prod"))
    assert checked.data["source_region"] == SEOUL and list(checked.data["present"]) == [TOKYO]


def test_failed_over_push_signs_its_evidence_where_it_pushed(registry, registry_tokyo, tmp_path: Path) -> None:
    """The push stage signs in the registry it pushed to: while failed over, Tokyo holds the image
    and its referrers (what the cluster will pull and the bump will verify); Seoul holds neither."""
    from pipeline_lib.attest.publish import EvidenceFiles
    from pipeline_lib.attest.store import verify_in_registry
    from pipeline_lib.attest.verify import trusted_keys
    from tests.attest.helpers import build_info, new_key

    state = RegistryState("prod", TOKYO, registry_tokyo.host, SEOUL, registry.host, "2026-12-05T00:00:00Z", "failover")
    repo_url = _gitops(tmp_path, state)
    layout, digest = image_layout(tmp_path / "oci", f"dr signed {uuid.uuid4()}")
    repository = f"shop/dr-{uuid.uuid4().hex[:8]}"
    signer = new_key(tmp_path / "key")
    result = push.run(push.PushOptions(registry.host, repository, ["v3"], oci_layout=layout, ref="app",
                                       dr_repo=repo_url, environment="prod", sign_key=str(tmp_path / "key" / "gantry.key"),
                                       evidence=EvidenceFiles(), provenance=build_info("prod")))
    assert result.data["registry"] == registry_tokyo.host and result.data["attestations"] == ["provenance"]
    trusted = trusted_keys([signer.public_key])
    tokyo = verify_in_registry(RegistryClient(registry_tokyo.host), repository, digest, trusted, ("provenance",), "prod")
    assert tokyo.problems == [] and list(tokyo.verified) == ["provenance"]
    seoul = verify_in_registry(RegistryClient(registry.host), repository, digest, trusted, ("provenance",), "prod")
    assert seoul.problems and "is not in this registry" in seoul.problems[0]

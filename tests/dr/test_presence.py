"""The presence check against a real registry: index children and blobs, each one missing in turn."""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import pytest

from pipeline_lib.core.errors import GantryError
from pipeline_lib.dr.presence import check_presence
from pipeline_lib.image.copy import LayoutSource, copy_image
from pipeline_lib.image.registry import RegistryClient
from tests.support.oci import image_layout

pytestmark = pytest.mark.integration


def _pushed(registry, tmp_path: Path, platforms=("amd64", "arm64")) -> tuple[RegistryClient, str, str, dict]:
    client = RegistryClient(registry.host)
    repo = f"dr/{uuid.uuid4().hex[:8]}"
    layout, digest = image_layout(tmp_path / repo, repo, platforms=platforms)
    copy_image(LayoutSource(layout), "app", client, repo, ["v1"])
    index = json.loads(client.get_manifest(repo, digest)[0])
    return client, repo, digest, index


def test_everything_present_counts_every_manifest_and_blob(registry, tmp_path: Path) -> None:
    client, repo, digest, index = _pushed(registry, tmp_path)
    result = check_presence(client, repo, digest)
    assert result.ok and result.missing == []
    assert result.manifests == 1 + len(index["manifests"])
    children = [json.loads(client.get_manifest(repo, c["digest"])[0]) for c in index["manifests"]]
    assert result.blobs == sum(1 + len(c["layers"]) for c in children)


def test_a_missing_blob_of_a_child_manifest_is_named(registry, tmp_path: Path) -> None:
    client, repo, digest, index = _pushed(registry, tmp_path)
    child = index["manifests"][1]
    layer = json.loads(client.get_manifest(repo, child["digest"])[0])["layers"][0]["digest"]
    assert client.request("DELETE", f"/v2/{repo}/blobs/{layer}", ok=(202,)).status_code == 202
    result = check_presence(client, repo, digest)
    assert not result.ok
    assert result.missing == [f"blob {layer} (of {child['digest'][:19]})"]


def test_a_missing_child_manifest_and_a_missing_image(registry, tmp_path: Path) -> None:
    client, repo, digest, index = _pushed(registry, tmp_path)
    child = index["manifests"][0]
    assert client.request("DELETE", f"/v2/{repo}/manifests/{child['digest']}", ok=(202,)).status_code == 202
    assert check_presence(client, repo, digest).missing == [f"child manifest linux/amd64 {child['digest']}"]
    other = "sha256:" + "0" * 64
    assert check_presence(client, repo, other).missing == [f"manifest {other}"]


def test_an_unreachable_registry_cannot_be_evaluated(tmp_path: Path) -> None:
    from pipeline_lib.core.process import free_port
    client = RegistryClient(f"127.0.0.1:{free_port()}", attempts=2, backoff=0.01)
    with pytest.raises(GantryError) as err:
        check_presence(client, "shop/app", "sha256:" + "1" * 64)
    assert err.value.exit_code == 2

"""Bundles as OCI referrers in a real docker-registry 2.8 (no referrers API: the tag schema),
behind a stand-in that adds the OCI 1.1 referrers API, and across two registries (Seoul, Tokyo)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from pipeline_lib.attest.bundle import BUNDLE_MEDIA_TYPE
from pipeline_lib.attest.store import fetch_bundles, push_bundles, verify_in_registry
from pipeline_lib.attest.verify import trusted_keys
from pipeline_lib.image.copy import RegistrySource, copy_image
from pipeline_lib.image.referrers import (OCI_INDEX, copy_referrers, list_referrers, push_artifact, subject_of,
                                          tag_schema_tag)
from pipeline_lib.image.registry import RegistryClient

from .helpers import new_key, signed
from .registry_helpers import ReferrersProxy, push_image

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def signer(tmp_path_factory: pytest.TempPathFactory):
    return new_key(tmp_path_factory.mktemp("key"))


def test_push_then_verify_through_the_tag_schema(registry, signer, tmp_path: Path) -> None:
    client = RegistryClient(registry.host)
    repo, digest = push_image(client, tmp_path)
    pushed = push_bundles(client, repo, digest, signed(signer, digest=digest, image=f"{registry.host}/{repo}"))
    assert [p.referrers_api for p in pushed] == [False, False, False]      # docker-registry 2.8
    body, info = client.get_manifest(repo, tag_schema_tag(digest))
    index = json.loads(body)
    assert info.media_type == OCI_INDEX and index["mediaType"] == OCI_INDEX
    assert sorted(m["digest"] for m in index["manifests"]) == sorted(p.digest for p in pushed)
    assert {m["artifactType"] for m in index["manifests"]} == {BUNDLE_MEDIA_TYPE}
    refs = list_referrers(client, repo, digest)
    assert len(refs) == 3 and all(r.found_by == ("tag schema",) for r in refs)
    # the artifact manifest is an OCI 1.1 manifest with the image as subject and the empty config
    art, _ = client.get_manifest(repo, pushed[0].digest)
    doc = json.loads(art)
    assert doc["subject"]["digest"] == digest and doc["config"]["mediaType"] == "application/vnd.oci.empty.v1+json"
    ev = verify_in_registry(client, repo, digest, trusted_keys([signer.public_key]),
                            ("provenance", "sbom", "verdict"), "prod")
    assert ev.ok, ev.problems


def test_the_referrers_api_is_read_when_the_registry_has_it(registry, signer, tmp_path: Path) -> None:
    proxy = ReferrersProxy(registry.url)
    with proxy.running():
        client = RegistryClient(proxy.host)
        repo, digest = push_image(client, tmp_path)
        pushed = push_bundles(client, repo, digest, signed(signer, digest=digest))
        assert all(p.referrers_api for p in pushed)
        proxy.hide_tag_schema = True          # from now on only the API can find them
        refs = list_referrers(client, repo, digest)
        assert proxy.api_calls >= 1
        assert len(refs) == 3 and all(r.found_by == ("referrers API",) for r in refs)
        assert verify_in_registry(client, repo, digest, trusted_keys([signer.public_key]),
                                  ("provenance", "sbom", "verdict"), "prod").ok
    # and the tag schema was written too: a client of the bare registry finds the same three
    plain = RegistryClient(registry.host)
    assert len(list_referrers(plain, repo, digest)) == 3


def test_evidence_reachable_only_by_a_tag_is_missing(registry, signer, tmp_path: Path) -> None:
    client = RegistryClient(registry.host)
    repo, digest = push_image(client, tmp_path)
    bundles = signed(signer, digest=digest)
    # the bundles are in the repository, but as plain tagged artifacts with no subject
    from pipeline_lib.image.referrers import EMPTY_BLOB, EMPTY_DIGEST
    import hashlib
    for kind, data in bundles.items():
        layer = "sha256:" + hashlib.sha256(data).hexdigest()
        client.upload_blob(repo, layer, lambda data=data: data, len(data))
        if not client.has_blob(repo, EMPTY_DIGEST):
            client.upload_blob(repo, EMPTY_DIGEST, lambda: EMPTY_BLOB, 2)
        manifest = {"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
                    "artifactType": BUNDLE_MEDIA_TYPE,
                    "config": {"mediaType": "application/vnd.oci.empty.v1+json", "digest": EMPTY_DIGEST, "size": 2},
                    "layers": [{"mediaType": BUNDLE_MEDIA_TYPE, "digest": layer, "size": len(data)}]}
        client.put_manifest(repo, f"att-{kind}", json.dumps(manifest).encode(), "application/vnd.oci.image.manifest.v1+json")
    ev = verify_in_registry(client, repo, digest, trusted_keys([signer.public_key]),
                            ("provenance", "sbom", "verdict"), "prod")
    assert sorted(p.split(":")[0] for p in ev.problems) == ["provenance", "sbom", "verdict"]
    assert all("missing" in p for p in ev.problems)


def test_an_index_entry_of_another_images_artifact_is_refused(registry, signer, tmp_path: Path) -> None:
    client = RegistryClient(registry.host)
    repo, digest = push_image(client, tmp_path)
    _, other = push_image(client, tmp_path, repository=repo, tag="v2")
    pushed = push_bundles(client, repo, other, signed(signer, digest=other))
    # someone lists the other image's provenance artifact in this digest's tag schema index
    from pipeline_lib.image.referrers import Referrer, add_to_tag_schema
    body, _ = client.get_manifest(repo, pushed[0].digest)
    add_to_tag_schema(client, repo, digest, Referrer(pushed[0].digest, BUNDLE_MEDIA_TYPE, len(body),
                                                     annotations={"dev.sigstore.bundle.predicateType":
                                                                  "https://slsa.dev/provenance/v1"}))
    got = fetch_bundles(client, repo, digest)
    assert got.bundles == [] and len(got.problems) == 1
    assert got.problems[0].startswith("provenance: ") and "listed under another image" in got.problems[0]


def test_replication_carries_the_referrers(registry, registry_tokyo, signer, tmp_path: Path) -> None:
    seoul, tokyo = RegistryClient(registry.host), RegistryClient(registry_tokyo.host)
    repo, digest = push_image(seoul, tmp_path)
    push_bundles(seoul, repo, digest, signed(signer, digest=digest))
    copy_image(RegistrySource(seoul, repo), digest, tokyo, repo, ["v1"])
    trusted = trusted_keys([signer.public_key])
    ev = verify_in_registry(tokyo, repo, digest, trusted, ("provenance", "sbom", "verdict"), "prod")
    assert sorted(p.split(":")[0] for p in ev.problems) == ["provenance", "sbom", "verdict"]
    copied = copy_referrers(seoul, tokyo, repo, digest)
    assert len(copied) == 3
    assert verify_in_registry(tokyo, repo, digest, trusted, ("provenance", "sbom", "verdict"), "prod").ok
    assert copy_referrers(seoul, tokyo, repo, digest) == []        # idempotent


def test_push_artifact_needs_the_image(registry, tmp_path: Path) -> None:
    from pipeline_lib.core.errors import NotFound
    client = RegistryClient(registry.host)
    with pytest.raises(NotFound, match="no image"):
        subject_of(client, "shop/nothing-here", "sha256:" + "0" * 64)


def test_one_index_write_per_signing_and_immutable_tags_are_explained(registry, signer, tmp_path: Path) -> None:
    """ECR repositories are IMMUTABLE: the tag schema index is written once per signing (all
    bundles at once); a second signing of the same digest cannot rewrite it, and says why."""
    from pipeline_lib.core.errors import GantryError
    proxy = ReferrersProxy(registry.url, api=False, immutable_tags=True)
    with proxy.running():
        client = RegistryClient(proxy.host)
        repo, digest = push_image(client, tmp_path)
        proxy.tag_puts.clear()
        push_bundles(client, repo, digest, signed(signer, digest=digest))
        assert proxy.tag_puts == [tag_schema_tag(digest)]
        assert len(list_referrers(client, repo, digest)) == 3
        with pytest.raises(GantryError, match="exempt sha256-\\* tags"):
            push_bundles(client, repo, digest, signed(signer, digest=digest))

"""``gantry gitops bump`` verifies the digest's evidence before it writes: the twelve tamper cases
are each exit 1 with one line per problem and no commit; good evidence bumps and says so; dev
(``evidence: warn``) bumps with warnings."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from pipeline_lib.attest.bundle import BUNDLE_MEDIA_TYPE
from pipeline_lib.attest.store import push_bundles
from pipeline_lib.cli import main
from pipeline_lib.image.referrers import EMPTY_BLOB, EMPTY_DIGEST, push_artifact, subject_of
from pipeline_lib.image.registry import RegistryClient
from tests.conftest import git

from . import tamper
from .conftest import signed_catalog
from .helpers import signed
from .registry_helpers import push_image

pytestmark = pytest.mark.integration


def _refs(bare: Path) -> str:
    return git(bare, "for-each-ref", "--format=%(refname) %(objectname)")


def _bump(catalog: Path, bare: Path, env: str, image: str, digest: str) -> int:
    return main(["gitops", "bump", "--catalog", str(catalog), "--repo", bare.as_uri(), "--env", env,
                 "--service", "storefront", "--digest", digest, "--image", image, "--mode", "commit"])


def _push_list(client: RegistryClient, repo: str, digest: str, bundles: list[bytes]) -> None:
    subject = subject_of(client, repo, digest)
    for data in bundles:
        push_artifact(client, repo, subject, BUNDLE_MEDIA_TYPE, data)


def _push_tag_only(client: RegistryClient, repo: str, bundles: list[bytes]) -> None:
    """The evidence is in the repository, tagged, but not a referrer of the digest (no subject)."""
    if not client.has_blob(repo, EMPTY_DIGEST):
        client.upload_blob(repo, EMPTY_DIGEST, lambda: EMPTY_BLOB, 2)
    for i, data in enumerate(bundles):
        layer = "sha256:" + hashlib.sha256(data).hexdigest()
        client.upload_blob(repo, layer, lambda data=data: data, len(data))
        manifest = {"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
                    "artifactType": BUNDLE_MEDIA_TYPE,
                    "config": {"mediaType": "application/vnd.oci.empty.v1+json", "digest": EMPTY_DIGEST, "size": 2},
                    "layers": [{"mediaType": BUNDLE_MEDIA_TYPE, "digest": layer, "size": len(data)}]}
        client.put_manifest(repo, f"evidence-{i}", json.dumps(manifest).encode(),
                            "application/vnd.oci.image.manifest.v1+json")


@pytest.mark.parametrize("case", sorted(tamper.CASES))
def test_bump_refuses_tampered_evidence_and_writes_nothing(case: str, registry, keyset, gitops_bare: Path,
                                                          tmp_path: Path, capsys) -> None:
    client = RegistryClient(registry.host)
    repo, digest = push_image(client, tmp_path)
    good = signed(keyset.prod, digest=digest, image=f"{registry.host}/{repo}")
    if case == "tag-only-subject":      # also the registry form: reachable only by a tag
        _push_tag_only(client, repo, list(good.values()))
        kind = "provenance"
    else:
        bundles, kind = tamper.CASES[case](good, keyset, digest)
        _push_list(client, repo, digest, bundles)
    catalog = signed_catalog(tmp_path, keyset)
    before = _refs(gitops_bare)
    capsys.readouterr()
    assert _bump(catalog, gitops_bare, "prod", f"{registry.host}/{repo}", digest) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert err and all(line.startswith("gantry: gitops bump: ") for line in err), err
    assert any(f"for prod: {kind}: " in line for line in err), err
    assert _refs(gitops_bare) == before                      # nothing written


def test_bump_with_good_evidence_commits_and_says_what_was_verified(registry, keyset, gitops_bare: Path,
                                                                   tmp_path: Path, capsys) -> None:
    client = RegistryClient(registry.host)
    repo, digest = push_image(client, tmp_path)
    push_bundles(client, repo, digest, signed(keyset.prod, digest=digest))
    catalog = signed_catalog(tmp_path, keyset)
    before = _refs(gitops_bare)
    from pipeline_lib.core.catalog import load_catalog
    from pipeline_lib.stages.bump import BumpOptions, run
    result = run(BumpOptions(load_catalog(catalog), "storefront", "prod", digest, repo_url=gitops_bare.as_uri(),
                             image=f"{registry.host}/{repo}", mode="commit"))
    assert result.value.changed and _refs(gitops_bare) != before
    assert f"evidence verified for prod: provenance, sbom, verdict in {registry.host}" in result.detail
    # a digest gated and signed for dev is not evidence for prod, even with dev's key trusted
    repo2, digest2 = push_image(client, tmp_path)
    push_bundles(client, repo2, digest2, signed(keyset.prod, digest=digest2, environment="dev"))
    before = _refs(gitops_bare)
    assert _bump(catalog, gitops_bare, "prod", f"{registry.host}/{repo2}", digest2) == 1
    assert "no gate verdict for prod" in capsys.readouterr().err
    assert _refs(gitops_bare) == before


def test_dev_warns_and_bumps(registry, keyset, gitops_bare: Path, tmp_path: Path, capsys) -> None:
    client = RegistryClient(registry.host)
    repo, digest = push_image(client, tmp_path)
    catalog = signed_catalog(tmp_path, keyset)
    assert _bump(catalog, gitops_bare, "dev", f"{registry.host}/{repo}", digest) == 0
    err = capsys.readouterr().err
    assert err.count("gantry: warning: gitops bump:") == 3 and "missing" in err

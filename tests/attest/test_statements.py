"""The three statements, DSSE PAE and the keyed Sigstore bundle v0.3, checked field by field."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest

from pipeline_lib.attest import keys
from pipeline_lib.attest.bundle import BUNDLE_MEDIA_TYPE
from pipeline_lib.attest.dsse import pae
from pipeline_lib.attest.statement import (BUILD_TYPE, PROVENANCE_TYPE, SBOM_TYPE, STATEMENT_TYPE, VERDICT_TYPE,
                                           BuildInfo, sbom_predicate)
from pipeline_lib.core.errors import BadInput
from scanners.policy import DEFAULT_POLICY

from .helpers import DIGEST, IMAGE, SBOM, new_key, signed


def test_pae_is_the_dsse_v1_encoding() -> None:
    # the worked example of the DSSE protocol: PAE("http://example.com/HelloWorld", "hello world")
    assert pae("http://example.com/HelloWorld", b"hello world") == \
        b"DSSEv1 29 http://example.com/HelloWorld 11 hello world"


def test_bundles_have_the_v03_keyed_shape_and_the_statements_their_fields(tmp_path: Path) -> None:
    signer = new_key(tmp_path)
    bundles = signed(signer)
    assert set(bundles) == {"provenance", "sbom", "verdict"}
    statements = {}
    for kind, data in bundles.items():
        doc = json.loads(data)
        assert doc["mediaType"] == BUNDLE_MEDIA_TYPE
        assert doc["verificationMaterial"] == {"publicKey": {"hint": signer.hint}, "tlogEntries": []}
        env = doc["dsseEnvelope"]
        assert env["payloadType"] == "application/vnd.in-toto+json"
        assert [s["keyid"] for s in env["signatures"]] == [signer.hint]
        payload = base64.b64decode(env["payload"])
        sig = base64.b64decode(env["signatures"][0]["sig"])
        assert keys.verify_signature(signer.public_key, sig, pae(env["payloadType"], payload))
        st = json.loads(payload)
        assert st["_type"] == STATEMENT_TYPE
        assert st["subject"] == [{"name": IMAGE, "digest": {"sha256": DIGEST.split(":")[1]}}]
        statements[kind] = st
    prov = statements["provenance"]
    assert prov["predicateType"] == PROVENANCE_TYPE
    bd, rd = prov["predicate"]["buildDefinition"], prov["predicate"]["runDetails"]
    assert bd["buildType"] == BUILD_TYPE
    assert bd["externalParameters"] == {"repository": "https://github.com/flashshop/storefront.git",
                                        "commit": "0123456789abcdef" * 2 + "01234567", "ref": "refs/heads/main",
                                        "service": "storefront", "environment": "prod"}
    assert [d["name"] for d in bd["resolvedDependencies"]] == ["base-image", "requirements"]
    assert bd["resolvedDependencies"][0]["digest"] == {"sha256": "12" * 32}
    assert rd["builder"]["id"] == "https://jenkins.flashshop.example/job/storefront/"
    assert rd["metadata"] == {"invocationId": "https://jenkins.flashshop.example/job/storefront/42/",
                              "startedOn": "2026-12-05T10:00:00Z", "finishedOn": "2026-12-05T10:04:00Z"}
    sbom = statements["sbom"]
    assert sbom["predicateType"] == SBOM_TYPE
    assert sbom["predicate"] == json.loads(SBOM.read_text())
    verdict = statements["verdict"]
    assert verdict["predicateType"] == VERDICT_TYPE and VERDICT_TYPE.endswith("/v1")
    p = verdict["predicate"]
    import hashlib
    assert p["policy"]["digest"] == {"sha256": hashlib.sha256(DEFAULT_POLICY.read_bytes()).hexdigest()}
    assert (p["environment"], p["passed"], p["exitCode"], p["counts"]["blocking"]) == ("prod", True, 0, 0)
    assert p["vulnerabilityDb"] == {"updatedAt": "2026-12-05T06:00:00Z", "ageHours": 4.0}


def test_failed_gate_counts_by_severity(tmp_path: Path) -> None:
    st = json.loads(base64.b64decode(json.loads(signed(new_key(tmp_path), passing=False)["verdict"])
                                     ["dsseEnvelope"]["payload"]))
    p = st["predicate"]
    assert p["passed"] is False and p["exitCode"] == 1 and p["counts"]["blocking"] == 2
    assert p["counts"]["bySeverity"]["CRITICAL"] == 1 and p["counts"]["bySeverity"]["MEDIUM"] == 3


def test_only_p256_keys(tmp_path: Path) -> None:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    key = ec.generate_private_key(ec.SECP384R1())
    path = tmp_path / "p384.key"
    path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                       serialization.NoEncryption()))
    with pytest.raises(BadInput, match="not P-256"):
        keys.load_private_key(path)
    (tmp_path / "p384.pub").write_text(keys.public_pem(key.public_key()))
    with pytest.raises(BadInput, match="not P-256"):
        keys.load_public_key(tmp_path / "p384.pub")


def test_keygen_never_overwrites_and_keeps_the_private_key_private(tmp_path: Path) -> None:
    private, public = keys.generate(tmp_path)
    assert private.stat().st_mode & 0o777 == 0o600
    assert keys.key_hint(keys.load_public_key(public)) == keys.load_private_key(private).hint
    with pytest.raises(BadInput, match="never overwrites"):
        keys.generate(tmp_path)


def test_inputs_are_checked() -> None:
    with pytest.raises(BadInput, match="CycloneDX"):
        sbom_predicate({"spdxVersion": "SPDX-2.3"})
    with pytest.raises(BadInput, match="missing or empty: commit"):
        BuildInfo.from_json({"builder_id": "j", "repository": "r", "ref": "x", "service": "s", "environment": "dev",
                             "build_url": "b", "started_on": "t", "finished_on": "t"}, "--provenance")

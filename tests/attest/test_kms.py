"""The KMS signer (``awskms:///alias/NAME``), on two stand-ins for AWS KMS.

- moto (server mode), ``MessageType=RAW`` with a message under 4 KB: moto ignores ``DIGEST`` (it
  hashes the digest again; fix pending in getmoto/moto PR #10202), so the RAW path is what moto
  can check — keys, GetPublicKey, Sign — and a P-384 key is refused.
- the ``DIGEST`` path — what gantry uses for real, since Sign takes at most 4 096 RAW bytes and an
  SBOM statement is ~260 KB — on a small KMS stand-in (pytest-httpserver) that follows AWS's
  documentation of Sign, Verify and GetPublicKey (JSON 1.1 protocol, ``X-Amz-Target:
  TrentService.<Action>``, base64 blobs; DIGEST messages must be exactly the hash length; RAW
  messages at most 4 096 bytes): https://docs.aws.amazon.com/kms/latest/APIReference/API_Sign.html,
  API_Verify.html, API_GetPublicKey.html.
"""

from __future__ import annotations

import base64
import json
from pathlib import Path

import boto3
import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import Prehashed
from werkzeug import Request, Response

from pipeline_lib.attest.bundle import dumps, sign_statement
from pipeline_lib.attest.dsse import pae
from pipeline_lib.attest.kms import KmsSigner, parse_uri
from pipeline_lib.attest.sign import attest_image
from pipeline_lib.attest.statement import KINDS, canonical, provenance_predicate, statement
from pipeline_lib.attest.verify import check_evidence, trusted_keys
from pipeline_lib.core.errors import BadInput

from .helpers import DIGEST, IMAGE, build_info, predicates


def test_uri_forms() -> None:
    assert parse_uri("awskms:///alias/gantry-prod") == ("", "alias/gantry-prod")
    arn = "arn:aws:kms:ap-northeast-2:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab"
    assert parse_uri(f"awskms:///{arn}") == ("", arn)
    assert parse_uri("awskms://127.0.0.1:4566/alias/x") == ("127.0.0.1:4566", "alias/x")
    with pytest.raises(BadInput):
        parse_uri("awskms:///gantry-prod")


def test_moto_raw_under_4kb(aws_env) -> None:
    kms = boto3.client("kms", region_name="ap-northeast-2")
    key = kms.create_key(KeySpec="ECC_NIST_P256", KeyUsage="SIGN_VERIFY")["KeyMetadata"]["KeyId"]
    kms.create_alias(AliasName="alias/gantry-test", TargetKeyId=key)
    signer = KmsSigner.from_uri("awskms:///alias/gantry-test", message_type="RAW")
    st = statement(IMAGE, DIGEST, KINDS["provenance"], provenance_predicate(build_info()))
    assert len(pae("application/vnd.in-toto+json", canonical(st))) < 4096
    bundle = dumps(sign_statement(st, signer))
    ev = check_evidence(DIGEST, [("kms", bundle)], trusted_keys([signer.public_key]), ("provenance",))
    assert ev.ok, ev.problems
    # KMS verifies its own signature too (the PAE, RAW)
    sig = base64.b64decode(json.loads(bundle)["dsseEnvelope"]["signatures"][0]["sig"])
    assert kms.verify(KeyId="alias/gantry-test", Message=pae("application/vnd.in-toto+json", canonical(st)),
                      MessageType="RAW", Signature=sig, SigningAlgorithm="ECDSA_SHA_256")["SignatureValid"]
    big = KmsSigner.from_uri("awskms:///alias/gantry-test", message_type="RAW")
    with pytest.raises(BadInput, match="at most 4096 bytes"):
        big.sign(b"x" * 5000)


def test_moto_p384_key_is_refused(aws_env) -> None:
    kms = boto3.client("kms", region_name="ap-northeast-2")
    key = kms.create_key(KeySpec="ECC_NIST_P384", KeyUsage="SIGN_VERIFY")["KeyMetadata"]["Arn"]
    with pytest.raises(BadInput, match="not ECC_NIST_P256"):
        KmsSigner.from_uri(f"awskms:///{key}").public_key


class KmsStandIn:
    """Sign / Verify / GetPublicKey of one ECC_NIST_P256 key, as AWS documents them."""

    def __init__(self) -> None:
        self.key = ec.generate_private_key(ec.SECP256R1())
        self.calls: list[tuple[str, str]] = []

    def handle(self, request: Request) -> Response:
        action = request.headers.get("X-Amz-Target", "").removeprefix("TrentService.")
        body = json.loads(request.get_data() or b"{}")

        def error(code: str, message: str) -> Response:
            return Response(json.dumps({"__type": code, "message": message}), status=400,
                            content_type="application/x-amz-json-1.1")

        def ok(doc: dict) -> Response:
            return Response(json.dumps(doc), status=200, content_type="application/x-amz-json-1.1")

        if action == "GetPublicKey":
            self.calls.append((action, ""))
            der = self.key.public_key().public_bytes(serialization.Encoding.DER,
                                                     serialization.PublicFormat.SubjectPublicKeyInfo)
            return ok({"KeyId": "arn:aws:kms:ap-northeast-2:123456789012:key/standin", "KeySpec": "ECC_NIST_P256",
                       "KeyUsage": "SIGN_VERIFY", "PublicKey": base64.b64encode(der).decode(),
                       "SigningAlgorithms": ["ECDSA_SHA_256"]})
        if action in ("Sign", "Verify"):
            message = base64.b64decode(body.get("Message", ""))
            kind = body.get("MessageType", "RAW")
            self.calls.append((action, kind))
            if body.get("SigningAlgorithm") != "ECDSA_SHA_256":
                return error("ValidationException", "SigningAlgorithm must be ECDSA_SHA_256 for this key")
            if kind == "RAW" and len(message) > 4096:
                return error("ValidationException", "Message must be at most 4096 bytes when MessageType is RAW")
            if kind == "DIGEST" and len(message) != 32:
                return error("ValidationException", "Digest is invalid length for algorithm ECDSA_SHA_256.")
            algo = ec.ECDSA(Prehashed(hashes.SHA256())) if kind == "DIGEST" else ec.ECDSA(hashes.SHA256())
            if action == "Sign":
                return ok({"KeyId": "standin", "SigningAlgorithm": "ECDSA_SHA_256",
                           "Signature": base64.b64encode(self.key.sign(message, algo)).decode()})
            try:
                self.key.public_key().verify(base64.b64decode(body["Signature"]), message, algo)
            except Exception:
                return error("KMSInvalidSignatureException", "")
            return ok({"KeyId": "standin", "SignatureValid": True, "SigningAlgorithm": "ECDSA_SHA_256"})
        return error("UnknownOperationException", action)


@pytest.fixture()
def standin(httpserver, monkeypatch) -> tuple[KmsStandIn, object]:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    stand = KmsStandIn()
    httpserver.expect_request("/", method="POST").respond_with_handler(stand.handle)
    client = boto3.client("kms", region_name="ap-northeast-2", endpoint_url=httpserver.url_for("/").rstrip("/"))
    return stand, client


def test_digest_path_signs_statements_far_over_4kb(standin) -> None:
    stand, client = standin
    signer = KmsSigner.from_uri("awskms:///alias/gantry-prod", client=client)
    bundles = attest_image(IMAGE, DIGEST, signer, predicates())
    assert len(base64.b64decode(json.loads(bundles["sbom"])["dsseEnvelope"]["payload"])) > 100_000
    ev = check_evidence(DIGEST, list(bundles.items()), trusted_keys([stand.key.public_key()]), environment="prod")
    assert ev.ok, ev.problems
    assert [c for c in stand.calls if c[0] == "Sign"] == [("Sign", "DIGEST")] * 3
    # the stand-in's own Verify (DIGEST) agrees with gantry's verifier
    doc = json.loads(bundles["sbom"])["dsseEnvelope"]
    import hashlib
    digest = hashlib.sha256(pae(doc["payloadType"], base64.b64decode(doc["payload"]))).digest()
    assert client.verify(KeyId="alias/gantry-prod", Message=digest, MessageType="DIGEST",
                         Signature=base64.b64decode(doc["signatures"][0]["sig"]),
                         SigningAlgorithm="ECDSA_SHA_256")["SignatureValid"]


def test_raw_over_4kb_is_refused_before_kms_is_asked(standin) -> None:
    stand, client = standin
    signer = KmsSigner.from_uri("awskms:///alias/gantry-prod", client=client, message_type="RAW")
    with pytest.raises(BadInput, match="use MessageType DIGEST"):
        attest_image(IMAGE, DIGEST, signer, {"sbom": predicates()["sbom"]})
    assert [c for c in stand.calls if c[0] == "Sign"] == []


@pytest.mark.integration
def test_image_sign_with_a_kms_uri_end_to_end(standin, registry, httpserver, monkeypatch, tmp_path: Path,
                                              capsys) -> None:
    """``gantry image sign IMAGE@DIGEST --key awskms:///alias/…`` (boto3 finds the stand-in through
    AWS_ENDPOINT_URL), then ``gantry image verify --key`` with the public key KMS gave out."""
    from pipeline_lib.cli import main
    from pipeline_lib.image.registry import RegistryClient

    from .helpers import SBOM
    from .registry_helpers import push_image
    stand, _ = standin
    monkeypatch.setenv("AWS_ENDPOINT_URL", httpserver.url_for("/").rstrip("/"))
    monkeypatch.setenv("AWS_DEFAULT_REGION", "ap-northeast-2")
    repo, digest = push_image(RegistryClient(registry.host), tmp_path)
    ref = f"{registry.host}/{repo}@{digest}"
    assert main(["image", "sign", ref, "--key", "awskms:///alias/gantry-prod", "--sbom", str(SBOM)]) == 0
    assert "signed by key" in capsys.readouterr().out
    pub = tmp_path / "kms.pub"
    pub.write_bytes(stand.key.public_key().public_bytes(serialization.Encoding.PEM,
                                                        serialization.PublicFormat.SubjectPublicKeyInfo))
    assert main(["image", "verify", ref, "--key", str(pub), "--require", "sbom"]) == 0
    assert ("Sign", "DIGEST") in stand.calls

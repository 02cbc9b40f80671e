"""Sigstore bundle v0.3 (JSON) holding one DSSE envelope, keyed: no certificate, no tlog entry.

Source: https://github.com/sigstore/protobuf-specs/blob/main/protos/sigstore_bundle.proto —
``mediaType`` ``application/vnd.dev.sigstore.bundle.v0.3+json``; ``verificationMaterial.publicKey.hint``
names the key; ``dsseEnvelope`` carries exactly one signature. Verifiers that check such bundles
offline with a trusted public key: cosign ``verify-blob-attestation --key --insecure-ignore-tlog``,
npm ``@sigstore/verify`` with ``tlogThreshold: 0`` (gantry's interop test).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from .dsse import IN_TOTO_PAYLOAD_TYPE, b64, pae, unb64
from .keys import Signer
from .statement import canonical

BUNDLE_MEDIA_TYPE = "application/vnd.dev.sigstore.bundle.v0.3+json"
#: the same version in the older media type form the protobuf-specs also define
_LEGACY_V03 = "application/vnd.dev.sigstore.bundle+json;version=0.3"


def sign_statement(statement: dict[str, Any], signer: Signer) -> dict[str, Any]:
    """Sign ``statement`` (canonical JSON payload) and wrap it as a keyed v0.3 bundle."""
    payload = canonical(statement)
    signature = signer.sign(pae(IN_TOTO_PAYLOAD_TYPE, payload))
    return {
        "mediaType": BUNDLE_MEDIA_TYPE,
        "verificationMaterial": {"publicKey": {"hint": signer.hint}, "tlogEntries": []},
        "dsseEnvelope": {"payload": b64(payload), "payloadType": IN_TOTO_PAYLOAD_TYPE,
                         "signatures": [{"sig": b64(signature), "keyid": signer.hint}]},
    }


def dumps(bundle: dict[str, Any]) -> bytes:
    """The bundle as stored and pushed: JSON, sorted keys, one trailing newline."""
    return (json.dumps(bundle, indent=2, sort_keys=True) + "\n").encode("utf-8")


@dataclass
class Signature:
    keyid: str
    sig: bytes


@dataclass
class ParsedBundle:
    """A bundle read back: structure checked, nothing verified yet."""

    hint: str
    payload_type: str
    payload: bytes
    signatures: list[Signature]


class BundleError(ValueError):
    """A bundle that is not a keyed Sigstore v0.3 DSSE bundle; the message says which part."""


def parse(data: bytes | str) -> ParsedBundle:
    """Parse and check the bundle's shape (BundleError names the part that is wrong)."""
    try:
        doc = json.loads(data)
    except (ValueError, UnicodeDecodeError) as exc:
        raise BundleError(f"not JSON: {str(exc)[:120]}") from None
    if not isinstance(doc, dict):
        raise BundleError("not a JSON object")
    if doc.get("mediaType") not in (BUNDLE_MEDIA_TYPE, _LEGACY_V03):
        raise BundleError(f"mediaType {doc.get('mediaType')!r} is not {BUNDLE_MEDIA_TYPE}")
    material = doc.get("verificationMaterial")
    if not isinstance(material, dict):
        raise BundleError("no verificationMaterial")
    if "certificate" in material or "x509CertificateChain" in material:
        raise BundleError("certificate-based bundle: gantry verifies keyed bundles only")
    key = material.get("publicKey")
    hint = key.get("hint") if isinstance(key, dict) else None
    if not isinstance(hint, str) or not hint:
        raise BundleError("no verificationMaterial.publicKey.hint")
    env = doc.get("dsseEnvelope")
    if not isinstance(env, dict):
        raise BundleError("no dsseEnvelope (message signatures are not attestations)")
    payload_type = env.get("payloadType")
    if not isinstance(payload_type, str):
        raise BundleError("dsseEnvelope.payloadType missing")
    try:
        payload = unb64(env.get("payload"))
    except ValueError:
        raise BundleError("dsseEnvelope.payload is not base64") from None
    sigs = env.get("signatures")
    if not isinstance(sigs, list) or not sigs:
        raise BundleError("dsseEnvelope has no signature")
    signatures = []
    for i, s in enumerate(sigs):
        if not isinstance(s, dict):
            raise BundleError(f"dsseEnvelope.signatures[{i}] is not an object")
        try:
            raw = unb64(s.get("sig"))
        except ValueError:
            raise BundleError(f"dsseEnvelope.signatures[{i}].sig is not base64") from None
        keyid = s.get("keyid") if isinstance(s.get("keyid"), str) else ""
        signatures.append(Signature(keyid, raw))
    return ParsedBundle(hint, payload_type, payload, signatures)

"""The twelve tampered-evidence cases of issue 23, as functions of a good bundle set.

Each case takes the good bundles (kind → bytes, for :data:`helpers.DIGEST`, signed by the prod key)
and the keys at hand, and returns the bundle list a verifier of ``helpers.DIGEST`` for prod sees,
plus the kind whose problem line must name it. Cases 10 and 11 also exist at the registry level
(tests/image/test_referrers.py): a bundle pushed under a tag only, a replica missing a referrer.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from dataclasses import dataclass

from pipeline_lib.attest.bundle import dumps, sign_statement
from pipeline_lib.attest.keys import LocalSigner

from .helpers import DIGEST, OTHER, signed


@dataclass
class Keys:
    prod: LocalSigner
    dev: LocalSigner
    stranger: LocalSigner


def _doc(data: bytes) -> dict:
    return json.loads(data)


def _statement(data: bytes) -> dict:
    return json.loads(base64.b64decode(_doc(data)["dsseEnvelope"]["payload"]))


def _resign(statement: dict, signer: LocalSigner) -> bytes:
    return dumps(sign_statement(statement, signer))


def payload_byte(good: dict[str, bytes], k: Keys, digest: str = DIGEST) -> tuple[list, str]:
    doc = _doc(good["provenance"])
    raw = bytearray(base64.b64decode(doc["dsseEnvelope"]["payload"]))
    i = raw.index(b"refs/heads/main")
    raw[i + 11] ^= 0x01                                # main -> "lain": one byte changed
    doc["dsseEnvelope"]["payload"] = base64.b64encode(bytes(raw)).decode()
    return [dumps(doc), good["sbom"], good["verdict"]], "provenance"


def subject_swapped(good: dict[str, bytes], k: Keys, digest: str = DIGEST) -> tuple[list, str]:
    doc = _doc(good["sbom"])
    st = _statement(good["sbom"])
    st["subject"][0]["digest"]["sha256"] = (OTHER if digest != OTHER else DIGEST).split(":")[1]
    doc["dsseEnvelope"]["payload"] = base64.b64encode(json.dumps(st).encode()).decode()
    return [good["provenance"], dumps(doc), good["verdict"]], "sbom"


def payload_type(good: dict[str, bytes], k: Keys, digest: str = DIGEST) -> tuple[list, str]:
    doc = _doc(good["verdict"])
    doc["dsseEnvelope"]["payloadType"] = "application/json"
    return [good["provenance"], good["sbom"], dumps(doc)], "verdict"


def untrusted_key(good: dict[str, bytes], k: Keys, digest: str = DIGEST) -> tuple[list, str]:
    return [_resign(_statement(good["provenance"]), k.stranger), good["sbom"], good["verdict"]], "provenance"


def dev_key_for_prod(good: dict[str, bytes], k: Keys, digest: str = DIGEST) -> tuple[list, str]:
    return [good["provenance"], good["sbom"], _resign(_statement(good["verdict"]), k.dev)], "verdict"


def wrong_predicate_type(good: dict[str, bytes], k: Keys, digest: str = DIGEST) -> tuple[list, str]:
    st = _statement(good["provenance"])
    st["predicateType"] = "https://slsa.dev/provenance/v0.2"
    return [_resign(st, k.prod), good["sbom"], good["verdict"]], "provenance"


def truncated_signature(good: dict[str, bytes], k: Keys, digest: str = DIGEST) -> tuple[list, str]:
    doc = _doc(good["sbom"])
    sig = base64.b64decode(doc["dsseEnvelope"]["signatures"][0]["sig"])
    doc["dsseEnvelope"]["signatures"][0]["sig"] = base64.b64encode(sig[:-8]).decode()
    return [good["provenance"], dumps(doc), good["verdict"]], "sbom"


def duplicated_signatures(good: dict[str, bytes], k: Keys, digest: str = DIGEST) -> tuple[list, str]:
    doc = _doc(good["provenance"])
    sig = dict(doc["dsseEnvelope"]["signatures"][0])
    bad = bytearray(base64.b64decode(sig["sig"]))
    bad[-1] ^= 0xFF
    doc["dsseEnvelope"]["signatures"].append({**sig, "sig": base64.b64encode(bytes(bad)).decode()})
    return [dumps(doc), good["sbom"], good["verdict"]], "provenance"


def copied_from_other_digest(good: dict[str, bytes], k: Keys, digest: str = DIGEST) -> tuple[list, str]:
    other = signed(k.prod, digest=OTHER if digest != OTHER else DIGEST)
    return [good["provenance"], good["sbom"], other["verdict"]], "verdict"


def tag_only(good: dict[str, bytes], k: Keys, digest: str = DIGEST) -> tuple[list, str]:
    st = _statement(good["provenance"])
    st["subject"] = [{"name": st["subject"][0]["name"] + ":0123456789ab", "digest": {}}]
    return [_resign(st, k.prod), good["sbom"], good["verdict"]], "provenance"


def missing_in_replica(good: dict[str, bytes], k: Keys, digest: str = DIGEST) -> tuple[list, str]:
    return [good["provenance"], good["verdict"]], "sbom"      # the replica holds two of the three


def failed_gate(good: dict[str, bytes], k: Keys, digest: str = DIGEST) -> tuple[list, str]:
    failed = signed(k.prod, digest=digest, passing=False)
    return [good["provenance"], good["sbom"], failed["verdict"]], "verdict"


CASES: dict[str, Callable[..., tuple[list, str]]] = {
    "payload-byte-changed": payload_byte, "subject-digest-swapped": subject_swapped,
    "payload-type-changed": payload_type, "untrusted-key": untrusted_key, "dev-key-for-prod": dev_key_for_prod,
    "wrong-predicate-type": wrong_predicate_type, "truncated-signature": truncated_signature,
    "duplicated-signatures-one-bad": duplicated_signatures, "copied-from-other-digest": copied_from_other_digest,
    "tag-only-subject": tag_only, "referrer-missing-in-replica": missing_in_replica, "failed-gate-verdict": failed_gate,
}

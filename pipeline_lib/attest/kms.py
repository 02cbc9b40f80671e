"""An AWS KMS signing key, named as cosign names it: ``awskms:///alias/NAME``, ``awskms:///arn:aws:kms:…``
(``awskms://ENDPOINT/…`` to talk to another endpoint; default: boto3's, e.g. ``AWS_ENDPOINT_URL``).

AWS KMS ``Sign`` (https://docs.aws.amazon.com/kms/latest/APIReference/API_Sign.html) takes at most
4 096 bytes with ``MessageType=RAW``; a DSSE PAE holding an SBOM is far larger, so the signer sends
the PAE's SHA-256 with ``MessageType=DIGEST`` and ``SigningAlgorithm=ECDSA_SHA_256`` — the same
signature as RAW over the whole message. ``GetPublicKey`` must say ``KeySpec=ECC_NIST_P256`` and
``KeyUsage=SIGN_VERIFY`` (P-384/P-521 keys break cosign, sigstore/cosign#946).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Any

from cryptography.hazmat.primitives.asymmetric import ec

from pipeline_lib.core.answer import require
from pipeline_lib.core.errors import BadInput, GantryError

from .keys import check_p256, key_hint

RAW_LIMIT = 4096
ALGORITHM = "ECDSA_SHA_256"


def parse_uri(uri: str) -> tuple[str, str]:
    """``awskms://[ENDPOINT]/KEY`` → (endpoint or "", key id/alias/ARN)."""
    if not uri.startswith("awskms://"):
        raise BadInput("--key", f"{uri!r} is not an awskms:// URI")
    endpoint, sep, key = uri[len("awskms://"):].partition("/")
    if not sep or not key or not (key.startswith(("alias/", "arn:aws")) or len(key) == 36):
        raise BadInput("--key", f"{uri!r}: expected awskms:///alias/NAME or awskms:///arn:aws:kms:REGION:ACCOUNT:key/ID")
    return endpoint, key


def _region_of(key: str) -> str | None:
    parts = key.split(":")
    return parts[3] if key.startswith("arn:") and len(parts) > 4 and parts[3] else None


@dataclass
class KmsSigner:
    """Signs DSSE PAEs with a KMS key; ``message_type`` DIGEST (default) or RAW (≤ 4 096 bytes)."""

    key_id: str
    client: Any
    message_type: str = "DIGEST"
    _public: ec.EllipticCurvePublicKey | None = field(default=None, repr=False)

    @classmethod
    def from_uri(cls, uri: str, *, client: Any = None, message_type: str = "DIGEST") -> KmsSigner:
        endpoint, key = parse_uri(uri)
        if client is None:
            import boto3
            kwargs: dict[str, Any] = {}
            if _region_of(key):
                kwargs["region_name"] = _region_of(key)
            if endpoint:
                local = endpoint.split(":")[0] in ("127.0.0.1", "localhost")
                kwargs["endpoint_url"] = f"{'http' if local else 'https'}://{endpoint}"
            client = boto3.client("kms", **kwargs)
        return cls(key, client, message_type)

    def _call(self, name: str, **kwargs: Any) -> dict:
        from botocore.exceptions import BotoCoreError, ClientError
        try:
            return getattr(self.client, name)(**kwargs)
        except ClientError as exc:
            err = exc.response.get("Error", {})
            raise GantryError(f"kms {self.key_id}", f"{name}: {err.get('Code')}: {err.get('Message')}") from None
        except BotoCoreError as exc:
            raise GantryError(f"kms {self.key_id}", f"{name}: {exc}") from None

    @property
    def public_key(self) -> ec.EllipticCurvePublicKey:
        if self._public is None:
            from cryptography.hazmat.primitives import serialization
            answer = self._call("get_public_key", KeyId=self.key_id)
            where = f"kms {self.key_id}"
            # KeySpec; CustomerMasterKeySpec is its deprecated name, still answered (and all moto answers)
            spec = answer.get("KeySpec") or answer.get("CustomerMasterKeySpec")
            if spec != "ECC_NIST_P256":
                raise BadInput(where, f"KeySpec {spec} is not ECC_NIST_P256: P-384/P-521 keys break "
                                      "cosign (sigstore/cosign#946)")
            if answer.get("KeyUsage") != "SIGN_VERIFY":
                raise BadInput(where, f"KeyUsage {answer.get('KeyUsage')} is not SIGN_VERIFY")
            if ALGORITHM not in (answer.get("SigningAlgorithms") or []):
                raise BadInput(where, f"the key does not offer {ALGORITHM}")
            key = serialization.load_der_public_key(bytes(require(answer, "PublicKey", kind=(bytes, bytearray),
                                                                         where=f"{where} GetPublicKey")))
            check_p256(key, where)
            self._public = key  # type: ignore[assignment]
        return self._public  # type: ignore[return-value]

    @property
    def hint(self) -> str:
        return key_hint(self.public_key)

    def sign(self, message: bytes) -> bytes:
        """DER ECDSA over SHA-256(``message``)."""
        if self.message_type == "RAW":
            if len(message) > RAW_LIMIT:
                raise BadInput(f"kms {self.key_id}", f"a RAW message is at most {RAW_LIMIT} bytes "
                                                     f"({len(message)} given): use MessageType DIGEST")
            payload, kind = message, "RAW"
        else:
            payload, kind = hashlib.sha256(message).digest(), "DIGEST"
        answer = self._call("sign", KeyId=self.key_id, Message=payload, MessageType=kind, SigningAlgorithm=ALGORITHM)
        return bytes(require(answer, "Signature", kind=(bytes, bytearray), where=f"kms {self.key_id} Sign"))

"""Signing keys: ECDSA P-256 only, a local PKCS#8 PEM pair or an AWS KMS key (see :mod:`.kms`).

P-384/P-521 are refused: cosign cannot verify KMS keys of those curves (sigstore/cosign#946), and
Kyverno's ``verifyImages`` uses cosign. A key is named by its *hint*: the hex SHA-256 of its DER
SubjectPublicKeyInfo — the ``verificationMaterial.publicKey.hint`` of a bundle and the ``keyid``
of its DSSE signature, so a verifier picks the trusted key without trying them all.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import Prehashed

from pipeline_lib.core.errors import BadInput, NotFound
from pipeline_lib.core.fileio import write_atomic

PRIVATE_NAME = "gantry.key"
PUBLIC_NAME = "gantry.pub"


class Signer(Protocol):
    """Signs a message (the DSSE PAE) with ECDSA P-256 / SHA-256; ``hint`` names its public key."""

    hint: str
    public_key: ec.EllipticCurvePublicKey

    def sign(self, message: bytes) -> bytes:
        """DER-encoded ECDSA signature over SHA-256(``message``)."""
        ...


def spki_der(key: ec.EllipticCurvePublicKey) -> bytes:
    return key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)


def public_pem(key: ec.EllipticCurvePublicKey) -> str:
    return key.public_bytes(serialization.Encoding.PEM,
                            serialization.PublicFormat.SubjectPublicKeyInfo).decode("ascii")


def key_hint(key: ec.EllipticCurvePublicKey) -> str:
    """The hex SHA-256 of the key's DER SubjectPublicKeyInfo."""
    return hashlib.sha256(spki_der(key)).hexdigest()


def check_p256(key: object, where: str) -> None:
    """BadInput unless ``key`` is an EC key on P-256 (secp256r1)."""
    curve = getattr(key, "curve", None)
    if not isinstance(key, (ec.EllipticCurvePrivateKey, ec.EllipticCurvePublicKey)):
        raise BadInput(where, f"not an ECDSA key ({type(key).__name__}); gantry signs with ECDSA P-256 only")
    if not isinstance(curve, ec.SECP256R1):
        raise BadInput(where, f"curve {curve.name} is not P-256; P-384/P-521 keys break cosign "
                              "(sigstore/cosign#946), use ECDSA P-256")


@dataclass
class LocalSigner:
    """A PKCS#8 PEM private key on disk (``gantry image keygen``)."""

    private_key: ec.EllipticCurvePrivateKey
    source: str = ""

    @property
    def public_key(self) -> ec.EllipticCurvePublicKey:
        return self.private_key.public_key()

    @property
    def hint(self) -> str:
        return key_hint(self.public_key)

    def sign(self, message: bytes) -> bytes:
        return self.private_key.sign(message, ec.ECDSA(hashes.SHA256()))

    def sign_digest(self, digest: bytes) -> bytes:
        """Sign a SHA-256 digest already computed (what KMS does with ``MessageType=DIGEST``)."""
        return self.private_key.sign(digest, ec.ECDSA(Prehashed(hashes.SHA256())))


def _read_key_file(path: Path, where: str) -> bytes:
    """The bytes of a key file; NotFound / BadInput naming ``where`` otherwise."""
    try:
        return Path(path).read_bytes()
    except FileNotFoundError:
        raise NotFound(where, "no such file") from None
    except OSError as exc:
        raise BadInput(where, f"cannot read: {exc.strerror or exc}") from None


def load_private_key(path: Path, password: str | None = None) -> LocalSigner:
    """A PEM private key (PKCS#8; unencrypted, or encrypted with ``password``: the setting
    ``GANTRY_KEY_PASSWORD``, passed down by the command)."""
    where = f"--key {path}"
    data = _read_key_file(path, where)
    try:
        key = serialization.load_pem_private_key(data, password.encode() if password else None)
    except TypeError:
        raise BadInput(where, "the key is encrypted: set GANTRY_KEY_PASSWORD") from None
    except ValueError as exc:
        raise BadInput(where, f"not a PEM private key: {str(exc).splitlines()[0][:160]}") from None
    check_p256(key, where)
    return LocalSigner(key, str(path))


def load_public_key(source: str | Path | bytes, where: str = "public key") -> ec.EllipticCurvePublicKey:
    """A PEM SubjectPublicKeyInfo, from a file path or the PEM bytes themselves; P-256 only."""
    if isinstance(source, bytes):
        data = source
    else:
        text = str(source)
        if text.lstrip().startswith("-----BEGIN"):
            data = text.encode()
        else:
            where = f"{where} {text}"
            data = _read_key_file(Path(text), where)
    try:
        key = serialization.load_pem_public_key(data)
    except ValueError as exc:
        raise BadInput(where, f"not a PEM public key: {str(exc).splitlines()[0][:160]}") from None
    check_p256(key, where)
    return key  # type: ignore[return-value]


def verify_signature(key: ec.EllipticCurvePublicKey, signature: bytes, message: bytes) -> bool:
    """True when ``signature`` (DER ECDSA) is ``key``'s over SHA-256(``message``)."""
    try:
        key.verify(signature, message, ec.ECDSA(hashes.SHA256()))
        return True
    except (InvalidSignature, ValueError):
        return False


def generate(out: Path) -> tuple[Path, Path]:
    """Write a new P-256 pair: ``out/gantry.key`` (PKCS#8 PEM, mode 0600) and ``out/gantry.pub``.

    Refuses (BadInput) to overwrite an existing private key: a lost key orphans its evidence.
    """
    out = Path(out)
    private_path, public_path = out / PRIVATE_NAME, out / PUBLIC_NAME
    if private_path.exists():
        raise BadInput(str(private_path), "exists; gantry never overwrites a signing key (remove it first)")
    key = ec.generate_private_key(ec.SECP256R1())
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                            serialization.NoEncryption())
    write_atomic(private_path, pem)       # mkstemp: 0600
    os.chmod(private_path, 0o600)
    write_atomic(public_path, public_pem(key.public_key()))
    os.chmod(public_path, 0o644)
    return private_path, public_path

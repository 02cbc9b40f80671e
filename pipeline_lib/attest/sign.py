"""Sign the predicates of one image digest: kind → bundle bytes, ready to store or push."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pipeline_lib.core.errors import BadInput

from .bundle import dumps, sign_statement
from .keys import Signer, load_private_key
from .statement import KINDS, statement


def signer_for(key: str, password: str | None = None) -> Signer:
    """``awskms:///alias/NAME`` / ``awskms:///arn:…`` → :class:`.kms.KmsSigner`; else a PEM path
    (:func:`.keys.load_private_key`). Here, not in :mod:`.keys`, which :mod:`.kms` imports."""
    if key.startswith("awskms://"):
        from .kms import KmsSigner
        return KmsSigner.from_uri(key)
    return load_private_key(Path(key), password)


def attest_image(image: str, digest: str, signer: Signer, predicates: dict[str, dict[str, Any]]) -> dict[str, bytes]:
    """One bundle per predicate; ``image`` is the repository (``host/name``), ``digest`` its
    manifest digest; ``predicates`` kind (provenance, sbom, verdict) → predicate."""
    if not predicates:
        raise BadInput("image sign", "nothing to attest: give --provenance, --sbom or --verdict")
    out: dict[str, bytes] = {}
    for kind, predicate in predicates.items():
        if kind not in KINDS:
            raise BadInput("image sign", f"unknown attestation kind {kind!r}")
        out[kind] = dumps(sign_statement(statement(image, digest, KINDS[kind], predicate), signer))
    return out

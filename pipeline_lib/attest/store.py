"""Bundles stored next to the image as OCI referrers (see :mod:`pipeline_lib.image.referrers`).

Each bundle is one artifact of type ``application/vnd.dev.sigstore.bundle.v0.3+json`` whose
``subject`` is the image, annotated like cosign's bundle format (``dev.sigstore.bundle.content``,
``dev.sigstore.bundle.predicateType``) so other clients find it by predicate type.
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass, field

from cryptography.hazmat.primitives.asymmetric import ec

from pipeline_lib.core.errors import GantryError
from pipeline_lib.image.referrers import (add_to_tag_schema, fetch_artifact, list_referrers, push_artifact,
                                          subject_of)
from pipeline_lib.image.registry import RegistryClient

from .bundle import BUNDLE_MEDIA_TYPE
from .statement import KIND_OF, KINDS
from .verify import Evidence, check_evidence

PREDICATE_ANNOTATION = "dev.sigstore.bundle.predicateType"
CONTENT_ANNOTATION = "dev.sigstore.bundle.content"


@dataclass
class Pushed:
    kind: str
    digest: str
    referrers_api: bool


def _predicate_type(data: bytes) -> str:
    try:
        payload = json.loads(base64.b64decode(json.loads(data)["dsseEnvelope"]["payload"]))
        return str(payload.get("predicateType") or "")
    except (ValueError, KeyError, TypeError):
        return ""


def push_bundles(client: RegistryClient, repository: str, digest: str, bundles: dict[str, bytes]) -> list[Pushed]:
    """Push each bundle as a referrer of ``repository@digest`` (which must exist there)."""
    subject = subject_of(client, repository, digest)
    out, refs = [], []
    for kind, data in bundles.items():
        annotations = {CONTENT_ANNOTATION: "dsse-envelope", PREDICATE_ANNOTATION: KINDS.get(kind) or _predicate_type(data)}
        d, api, ref = push_artifact(client, repository, subject, BUNDLE_MEDIA_TYPE, data, annotations, index=False)
        out.append(Pushed(kind, d, api))
        refs.append(ref)
    add_to_tag_schema(client, repository, digest, *refs)     # one index write for all of them
    return out


@dataclass
class Fetched:
    """The bundles of one digest in one registry: (source label, bytes), and fetch problems."""

    host: str
    bundles: list[tuple[str, bytes]] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    referrers: list[str] = field(default_factory=list)


def fetch_bundles(client: RegistryClient, repository: str, digest: str) -> Fetched:
    """Every Sigstore bundle referring to ``repository@digest``; a referrer that cannot be used
    (subject of another image, blob not matching its digest) is a problem line, not a bundle."""
    got = Fetched(client.host)
    for ref in list_referrers(client, repository, digest, BUNDLE_MEDIA_TYPE):
        got.referrers.append(ref.digest)
        kind = KIND_OF.get(ref.annotations.get(PREDICATE_ANNOTATION, ""), "attestation")
        try:
            art = fetch_artifact(client, repository, digest, ref)
        except GantryError as exc:
            if exc.exit_code != 1:
                raise
            got.problems.append(f"{kind}: {exc.what}")
            continue
        got.bundles.append((f"{client.host}/{repository}@{ref.digest[:19]}", art.data))
    return got


def verify_in_registry(client: RegistryClient, repository: str, digest: str,
                       trusted: dict[str, ec.EllipticCurvePublicKey], require: tuple[str, ...],
                       environment: str | None) -> Evidence:
    """Fetch and verify; problems of the fetch come first, prefixed by nothing more than their kind."""
    if client.head_manifest(repository, digest) is None:
        ev = Evidence(digest)
        ev.problems.append(f"image: {client.host}/{repository}@{digest[:19]}… is not in this registry")
        return ev
    got = fetch_bundles(client, repository, digest)
    ev = check_evidence(digest, got.bundles, trusted, require, environment)
    ev.problems[:0] = got.problems
    return ev


def kind_of_bundle(data: bytes) -> str:
    """The kind a bundle *claims* (provenance, sbom, verdict; else "attestation"), unverified:
    for file names, never for decisions."""
    return KIND_OF.get(_predicate_type(data), "attestation")

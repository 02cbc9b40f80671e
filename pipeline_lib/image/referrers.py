"""OCI 1.1 referrers: artifacts stored next to an image, found by the image's digest.

Sources: OCI distribution spec v1.1 "Listing Referrers" and "Referrers Tag Schema"
(https://github.com/opencontainers/distribution-spec/blob/v1.1.0/spec.md#listing-referrers), OCI
image spec v1.1 ``subject``/``artifactType`` and the empty descriptor
(https://github.com/opencontainers/image-spec/blob/v1.1.0/manifest.md#guidance-for-an-empty-descriptor).

An artifact is an OCI image manifest whose ``subject`` is the image's descriptor, with the empty
config and one layer (the artifact itself). It is put by digest; a registry with the referrers API
answers the ``PUT`` with ``OCI-Subject``. gantry *always* also maintains the tag schema index
``<alg>-<hex>`` (an OCI index listing the referrers), which registries without the API need —
Debian's docker-registry 2.8, ECR — and which replication copies like any tag. Reading asks the
referrers API (``GET /v2/<name>/referrers/<digest>``) and reads the tag schema index, and returns the
union. A referrer's manifest is checked on fetch: its ``subject`` must be the image (an index entry
pointing at another image's artifact is reported, never used).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from typing import Any

from pipeline_lib.core.answer import optional, parse as parse_answer
from pipeline_lib.core.errors import BadAnswer, GantryError, NotFound
from pipeline_lib.core.reference import check_digest

from .registry import ManifestInfo, RegistryClient

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
EMPTY_MEDIA_TYPE = "application/vnd.oci.empty.v1+json"
EMPTY_BLOB = b"{}"
EMPTY_DIGEST = "sha256:" + hashlib.sha256(EMPTY_BLOB).hexdigest()


def tag_schema_tag(digest: str) -> str:
    """The referrers tag schema tag of ``digest``: ``sha256:<hex>`` → ``sha256-<hex>``."""
    algo, _, hexd = check_digest(digest).partition(":")
    return f"{algo[:32]}-{hexd[:64]}"


@dataclass
class Referrer:
    """One referrer descriptor (from the referrers API or the tag schema index)."""

    digest: str
    artifact_type: str
    size: int
    media_type: str = OCI_MANIFEST
    annotations: dict[str, str] = field(default_factory=dict)
    found_by: tuple[str, ...] = ()

    def descriptor(self) -> dict[str, Any]:
        d: dict[str, Any] = {"mediaType": self.media_type, "digest": self.digest, "size": self.size,
                             "artifactType": self.artifact_type}
        if self.annotations:
            d["annotations"] = dict(self.annotations)
        return d


@dataclass
class Artifact:
    """A fetched referrer: its manifest digest, artifact type, annotations and the layer bytes."""

    digest: str
    artifact_type: str
    annotations: dict[str, str]
    data: bytes


def _blob(client: RegistryClient, repository: str, digest: str, data: bytes) -> None:
    if not client.has_blob(repository, digest):
        client.upload_blob(repository, digest, lambda: data, len(data))


def subject_of(client: RegistryClient, repository: str, digest: str) -> ManifestInfo:
    """The image's descriptor fields; NotFound when the registry does not hold ``digest``."""
    info = client.head_manifest(repository, check_digest(digest))
    if info is None:
        raise NotFound(f"registry {client.host}", f"no image {repository}@{digest}")
    if not info.media_type or not info.size:
        _, info = client.get_manifest(repository, digest)
    return info


def push_artifact(client: RegistryClient, repository: str, subject: ManifestInfo, artifact_type: str,
                  data: bytes, annotations: dict[str, str] | None = None,
                  index: bool = True) -> tuple[str, bool] | tuple[str, bool, Referrer]:
    """Push ``data`` as an artifact referring to ``subject``; add it to the tag schema index
    (``index=False``: not yet — the caller adds several at once with :func:`add_to_tag_schema`,
    one index write, and gets the :class:`Referrer` as a third item).

    Returns (the artifact manifest's digest, whether the registry announced the referrers API).
    """
    layer_digest = "sha256:" + hashlib.sha256(data).hexdigest()
    _blob(client, repository, EMPTY_DIGEST, EMPTY_BLOB)
    _blob(client, repository, layer_digest, data)
    manifest: dict[str, Any] = {
        "schemaVersion": 2, "mediaType": OCI_MANIFEST, "artifactType": artifact_type,
        "config": {"mediaType": EMPTY_MEDIA_TYPE, "digest": EMPTY_DIGEST, "size": len(EMPTY_BLOB),
                   "data": "e30="},
        "layers": [{"mediaType": artifact_type, "digest": layer_digest, "size": len(data)}],
        "subject": {"mediaType": subject.media_type, "digest": subject.digest, "size": subject.size},
    }
    if annotations:
        manifest["annotations"] = dict(annotations)
    body = json.dumps(manifest, separators=(",", ":"), sort_keys=True).encode()
    digest = "sha256:" + hashlib.sha256(body).hexdigest()
    resp = client.request("PUT", f"/v2/{repository}/manifests/{digest}", ok=(201, 200),
                          headers={"Content-Type": OCI_MANIFEST}, data=body)
    if resp.status_code not in (200, 201):
        raise client._fail(resp, f"PUT artifact manifest {repository}@{digest[:19]}")
    api = resp.headers.get("OCI-Subject") == subject.digest
    ref = Referrer(digest, artifact_type, len(body), OCI_MANIFEST, dict(annotations or {}))
    if not index:
        return digest, api, ref
    add_to_tag_schema(client, repository, subject.digest, ref)
    return digest, api


def _index_entries(body: bytes, where: str) -> list[Referrer]:
    doc = parse_answer(body, where)
    if not isinstance(doc, dict):
        raise BadAnswer(where, "the index is not a JSON object")
    out = []
    for i, m in enumerate(optional(doc, "manifests", kind=list, where=where) or []):
        w = f"{where} manifests[{i}]"
        if not isinstance(m, dict):
            raise BadAnswer(w, "not an object")
        d = optional(m, "digest", kind=str, where=w)
        if not d:
            raise BadAnswer(w, "answer has no field 'digest'")
        out.append(Referrer(d, optional(m, "artifactType", kind=str, where=w) or "",
                            optional(m, "size", kind=int, where=w) or 0,
                            optional(m, "mediaType", kind=str, where=w) or OCI_MANIFEST,
                            {str(k): str(v) for k, v in (optional(m, "annotations", kind=dict, where=w) or {}).items()}))
    return out


def _tag_schema(client: RegistryClient, repository: str, digest: str) -> list[Referrer]:
    tag = tag_schema_tag(digest)
    if client.head_manifest(repository, tag) is None:
        return []
    body, _ = client.get_manifest(repository, tag)
    return _index_entries(body, f"registry {client.host} {repository}:{tag}")


def add_to_tag_schema(client: RegistryClient, repository: str, subject_digest: str, *refs: Referrer) -> None:
    """Put the tag schema index with ``refs`` added (those already listed are kept as they are):
    one write for all of them.

    Not atomic across concurrent writers (the OCI spec's own caveat for the tag schema): the
    push stage is the one writer of a digest's evidence; a lost update shows as missing evidence
    at verification, never as a false pass. A repository with immutable tags (ECR ``IMMUTABLE``)
    refuses a second write of the index: the error says to exempt ``sha256-*`` tags.
    """
    entries = _tag_schema(client, repository, subject_digest)
    existed = bool(entries)
    new = [r for r in refs if all(e.digest != r.digest for e in entries)]
    if not new:
        return
    entries.extend(new)
    index = {"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": [e.descriptor() for e in entries]}
    body = json.dumps(index, separators=(",", ":"), sort_keys=True).encode()
    tag = tag_schema_tag(subject_digest)
    try:
        client.put_manifest(repository, tag, body, OCI_INDEX)
    except GantryError as exc:
        if not existed:
            raise
        raise type(exc)(exc.where, f"{exc.what} (updating the referrers tag schema index {repository}:{tag}; "
                                   "with immutable tags, exempt sha256-* tags, e.g. ECR IMMUTABLE_WITH_EXCLUSION)",
                        exit_code=exc.exit_code) from None


def _referrers_api(client: RegistryClient, repository: str, digest: str) -> list[Referrer] | None:
    """The referrers API's answer; None when the registry does not have the API (404, not an index)."""
    resp = client.request("GET", f"/v2/{repository}/referrers/{digest}", ok=(200, 404, 400, 405),
                          headers={"Accept": OCI_INDEX})
    if resp.status_code != 200 or not resp.headers.get("Content-Type", "").startswith(OCI_INDEX):
        return None
    return _index_entries(resp.content, f"registry {client.host} GET /v2/{repository}/referrers/{digest[:19]}")


def list_referrers(client: RegistryClient, repository: str, digest: str,
                   artifact_type: str | None = None) -> list[Referrer]:
    """Referrers of ``digest`` from the referrers API and the tag schema index, merged by digest
    (``found_by`` says where each was seen), filtered by ``artifact_type`` when given."""
    check_digest(digest)
    merged: dict[str, Referrer] = {}
    for source, entries in (("referrers API", _referrers_api(client, repository, digest) or []),
                            ("tag schema", _tag_schema(client, repository, digest))):
        for e in entries:
            if artifact_type and e.artifact_type != artifact_type:
                continue
            have = merged.setdefault(e.digest, e)
            have.found_by = tuple(dict.fromkeys((*have.found_by, source)))
    return list(merged.values())


def fetch_artifact(client: RegistryClient, repository: str, subject_digest: str, ref: Referrer) -> Artifact:
    """The referrer's manifest and its one layer, checked: GantryError when the manifest's
    ``subject`` is not ``subject_digest`` or the layer's bytes do not match their digest."""
    where = f"registry {client.host} {repository}@{ref.digest[:19]}"
    body, _ = client.get_manifest(repository, ref.digest)
    doc = parse_answer(body, where)
    if not isinstance(doc, dict):
        raise BadAnswer(where, "the artifact manifest is not a JSON object")
    subject = optional(doc, "subject", kind=dict, where=where) or {}
    if subject.get("digest") != subject_digest:
        raise GantryError(where, f"artifact's subject is {str(subject.get('digest'))[:19]}…, not "
                                 f"{subject_digest[:19]}… (listed under another image)", exit_code=1)
    layers = optional(doc, "layers", kind=list, where=where) or []
    if len(layers) != 1 or not isinstance(layers[0], dict):
        raise GantryError(where, f"artifact has {len(layers)} layers, expected 1", exit_code=1)
    layer_digest = check_digest(str(layers[0].get("digest")), where)
    resp = client.get_blob(repository, layer_digest)
    try:
        data = resp.content
    finally:
        resp.close()
    if "sha256:" + hashlib.sha256(data).hexdigest() != layer_digest:
        raise GantryError(where, f"blob {layer_digest[:19]} does not match its digest", exit_code=1)
    return Artifact(ref.digest, optional(doc, "artifactType", kind=str, where=where) or ref.artifact_type,
                    {str(k): str(v) for k, v in (optional(doc, "annotations", kind=dict, where=where) or {}).items()},
                    data)


def copy_referrers(src: RegistryClient, dst: RegistryClient, repository: str, digest: str,
                   artifact_type: str | None = None, dst_repository: str | None = None) -> list[str]:
    """Copy every referrer of ``digest`` (blobs, manifest by digest, tag schema entry) from ``src``
    to ``dst``, where the image must already be; returns the digests copied (those missing there)."""
    dst_repo = dst_repository or repository
    there = {r.digest for r in list_referrers(dst, dst_repo, digest, artifact_type)}
    copied, refs = [], []
    for ref in list_referrers(src, repository, digest, artifact_type):
        if ref.digest in there:
            continue
        body, info = src.get_manifest(repository, ref.digest)
        doc = parse_answer(body, f"registry {src.host} {repository}@{ref.digest[:19]}")
        blobs = [doc.get("config") or {}, *(doc.get("layers") or [])] if isinstance(doc, dict) else []
        for b in blobs:
            d = b.get("digest") if isinstance(b, dict) else None
            if not isinstance(d, str) or dst.has_blob(dst_repo, d):
                continue
            resp = src.get_blob(repository, d)
            try:
                data = resp.content
            finally:
                resp.close()
            dst.upload_blob(dst_repo, d, lambda data=data: data, len(data))
        dst.put_manifest(dst_repo, ref.digest, body, info.media_type or OCI_MANIFEST)
        refs.append(Referrer(ref.digest, ref.artifact_type, len(body), OCI_MANIFEST, ref.annotations))
        copied.append(ref.digest)
    if refs:
        add_to_tag_schema(dst, dst_repo, digest, *refs)
    return copied

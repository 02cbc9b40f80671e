"""Is ``repository@digest`` usable in a registry: the manifest and everything it references?

Checked over the OCI distribution API (https://github.com/opencontainers/distribution-spec,
"Pulling manifests" / "Checking if content exists"): the manifest by digest is fetched (``GET``;
its content must hash to the digest), then every blob it references (config and layers) is
``HEAD``ed; for an image index (OCI index or Docker manifest list) each child manifest is
fetched and its blobs ``HEAD``ed the same way. A registry that answers 404 for any of them cannot
serve a pull; a registry that cannot be reached is an error (exit 2: cannot evaluate).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Protocol

from pipeline_lib.core.answer import optional, require
from pipeline_lib.core.errors import GantryError

INDEX_TYPES = ("application/vnd.oci.image.index.v1+json",
               "application/vnd.docker.distribution.manifest.list.v2+json")


class Registry(Protocol):
    """What the check needs of a registry client (:class:`pipeline_lib.image.registry.RegistryClient`)."""

    host: str

    def head_manifest(self, repository: str, reference: str) -> object | None: ...
    def get_manifest(self, repository: str, reference: str) -> tuple[bytes, object]: ...
    def has_blob(self, repository: str, digest: str) -> bool: ...


@dataclass
class Presence:
    """The outcome for one image: ``missing`` lists what the registry does not have."""

    host: str
    repository: str
    digest: str
    manifests: int = 0
    blobs: int = 0
    missing: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.missing

    def to_json(self) -> dict[str, object]:
        return {"host": self.host, "repository": self.repository, "digest": self.digest, "present": self.ok,
                "manifests": self.manifests, "blobs": self.blobs, "missing": list(self.missing)}


def _manifest(reg: Registry, repository: str, digest: str) -> dict | None:
    if reg.head_manifest(repository, digest) is None:
        return None
    body, _ = reg.get_manifest(repository, digest)  # checks the content hashes to the digest
    try:
        doc = json.loads(body)
    except ValueError:
        raise GantryError(f"registry {reg.host}", f"{repository}@{digest}: manifest is not JSON") from None
    if not isinstance(doc, dict):
        raise GantryError(f"registry {reg.host}", f"{repository}@{digest}: manifest is not a JSON object")
    return doc


def _blob_digests(doc: dict, where: str) -> list[str]:
    """The config and layer digests of an image manifest; both fields are required (OCI image
    spec, Docker schema 2): one missing is BadAnswer, never "nothing to check"."""
    out = [require(doc, "config", "digest", kind=str, where=where)]
    layers = require(doc, "layers", kind=list, where=where)
    out += [require(doc, "layers", i, "digest", kind=str, where=where) for i in range(len(layers))]
    return out


def check_presence(reg: Registry, repository: str, digest: str) -> Presence:
    """Check ``repository@digest`` in ``reg``; GantryError (exit 2) when the registry cannot be asked."""
    result = Presence(reg.host, repository, digest)
    pending = [(digest, "manifest")]
    while pending:
        current, what = pending.pop(0)
        doc = _manifest(reg, repository, current)
        result.manifests += 1
        if doc is None:
            result.missing.append(f"{what} {current}")
            continue
        where = f"registry {reg.host} GET /v2/{repository}/manifests/{current}"
        if doc.get("mediaType") in INDEX_TYPES or "manifests" in doc:
            children = require(doc, "manifests", kind=list, where=where)
            for i in range(len(children)):
                child_digest = require(doc, "manifests", i, "digest", kind=str, where=where)
                platform = optional(doc, "manifests", i, "platform", kind=dict, default={}, where=where)
                label = "/".join(str(platform[k]) for k in ("os", "architecture") if platform.get(k))
                pending.append((child_digest, f"child manifest{' ' + label if label else ''}"))
            continue
        for blob in _blob_digests(doc, where):
            result.blobs += 1
            if not reg.has_blob(repository, blob):
                result.missing.append(f"blob {blob} (of {current[:19]})")
    return result

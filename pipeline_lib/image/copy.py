"""Copy an image to a registry without a container engine: from another registry, an OCI
layout directory or an OCI archive (tar of a layout).

Each blob is checked with ``HEAD`` first and skipped when present; from the same registry it
is mounted across repositories; otherwise uploaded (with retries, each from the start). The
manifest is put last, so a registry never serves a manifest whose blobs are missing. Tags
are immutable: a tag already at another digest is an error, at the same digest a no-op.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO, Protocol

from pipeline_lib.core.answer import optional, parse as parse_answer, require
from pipeline_lib.core.errors import GantryError
from pipeline_lib.core.reference import check_tag
from .registry import RegistryClient, TransferStats

INDEX_TYPES = ("application/vnd.oci.image.index.v1+json",
               "application/vnd.docker.distribution.manifest.list.v2+json")
REF_NAME = "org.opencontainers.image.ref.name"


class Source(Protocol):
    def manifest(self, reference: str) -> tuple[bytes, str]: ...
    def blob(self, digest: str) -> BinaryIO: ...
    def mount_from(self, host: str) -> str | None: ...


def _media_type(body: bytes, fallback: str = "") -> str:
    doc = require(parse_answer(body, "copy: manifest"), kind=dict, where="copy: manifest")
    return optional(doc, "mediaType", kind=str, where="copy: manifest") or fallback \
        or "application/vnd.oci.image.manifest.v1+json"


@dataclass
class RegistrySource:
    client: RegistryClient
    repository: str

    @property
    def where(self) -> str:
        return f"registry {self.client.host}/{self.repository}"

    def manifest(self, reference: str) -> tuple[bytes, str]:
        body, info = self.client.get_manifest(self.repository, reference)
        return body, info.media_type or _media_type(body)

    def blob(self, digest: str) -> BinaryIO:
        return self.client.get_blob(self.repository, digest).raw

    def mount_from(self, host: str) -> str | None:
        return self.repository if host == self.client.host else None


@dataclass
class LayoutSource:
    """An OCI image layout directory (``oci-layout``, ``index.json``, ``blobs/sha256/…``)."""

    root: Path

    @property
    def where(self) -> str:
        return str(self.root)

    def __post_init__(self) -> None:
        if not (self.root / "index.json").is_file():
            raise GantryError(str(self.root), "not an OCI layout (no index.json)")

    def _path(self, digest: str) -> Path:
        algo, _, hexpart = digest.partition(":")
        path = self.root / "blobs" / algo / hexpart
        if not path.is_file():
            raise GantryError(str(self.root), f"blob {digest[:19]} missing from the OCI layout")
        return path

    def manifest(self, reference: str) -> tuple[bytes, str]:
        if reference.startswith("sha256:"):
            body = self._path(reference).read_bytes()
            return body, _media_type(body)
        index = json.loads((self.root / "index.json").read_text())
        entries = index.get("manifests", [])
        named = [m for m in entries if (m.get("annotations") or {}).get(REF_NAME) == reference]
        pick = named or (entries if len(entries) == 1 and reference in ("", "latest") else [])
        if not pick and len(entries) == 1 and not (entries[0].get("annotations") or {}).get(REF_NAME):
            pick = entries
        if not pick:
            names = [(m.get("annotations") or {}).get(REF_NAME, "?") for m in entries]
            raise GantryError(str(self.root), f"no image {reference!r} in the OCI layout (has: {', '.join(names)})")
        body = self._path(pick[0]["digest"]).read_bytes()
        return body, pick[0].get("mediaType") or _media_type(body)

    def blob(self, digest: str) -> BinaryIO:
        return open(self._path(digest), "rb")  # noqa: SIM115 - closed by the uploader

    def mount_from(self, host: str) -> str | None:
        return None


def extract_archive(archive: Path, dest: Path) -> LayoutSource:
    """Unpack an OCI archive (tar of a layout) safely (no absolute paths, no ``..``, no links)."""
    import tarfile   # not on the OCI layout path

    try:
        with tarfile.open(archive) as tar:
            tar.extractall(dest, filter="data")
    except (tarfile.TarError, OSError) as exc:
        raise GantryError(str(archive), f"cannot read OCI archive: {exc}") from None
    return LayoutSource(dest)


@dataclass
class CopyResult:
    repository: str
    tags: list[str]
    digest: str
    stats: TransferStats = field(default_factory=TransferStats)
    skipped: bool = False


def _blobs(manifest: dict, where: str) -> list[tuple[str, int]]:
    """(digest, size) of the config and every layer; both fields are required (OCI image spec)."""
    out = [(require(manifest, "config", "digest", kind=str, where=where),
            require(manifest, "config", "size", kind=int, where=where))]
    for i in range(len(require(manifest, "layers", kind=list, where=where))):
        out.append((require(manifest, "layers", i, "digest", kind=str, where=where),
                    require(manifest, "layers", i, "size", kind=int, where=where)))
    return out


def _copy_blob(source: Source, dest: RegistryClient, repository: str, digest: str, size: int,
               stats: TransferStats, mount_hint: str | None) -> None:
    if dest.has_blob(repository, digest):
        stats.blobs_skipped += 1
        return
    mount = source.mount_from(dest.host) or mount_hint
    if mount and mount != repository and dest.mount_blob(repository, digest, mount):
        stats.blobs_mounted += 1
        return
    dest.upload_blob(repository, digest, lambda: source.blob(digest), size)
    stats.blobs_uploaded += 1
    stats.bytes_uploaded += size


def _copy_manifest(source: Source, dest: RegistryClient, repository: str, reference: str,
                   stats: TransferStats, mount_hint: str | None) -> tuple[bytes, str, str]:
    body, media_type = source.manifest(reference)
    digest = "sha256:" + hashlib.sha256(body).hexdigest()
    where = f"{getattr(source, 'where', 'copy')}: manifest {reference}"
    doc = require(parse_answer(body, where), kind=dict, where=where)
    if media_type in INDEX_TYPES or doc.get("manifests"):
        for i in range(len(require(doc, "manifests", kind=list, where=where))):
            child_body, child_type, child_digest = _copy_manifest(
                source, dest, repository, require(doc, "manifests", i, "digest", kind=str, where=where),
                stats, mount_hint)
            if dest.head_manifest(repository, child_digest) is None:
                dest.put_manifest(repository, child_digest, child_body, child_type)
    else:
        for blob_digest, size in _blobs(doc, where):
            _copy_blob(source, dest, repository, blob_digest, size, stats, mount_hint)
    return body, media_type, digest


def copy_image(source: Source, reference: str, dest: RegistryClient, repository: str, tags: list[str], *,
               mount_hint: str | None = None) -> CopyResult:
    """Copy ``reference`` from ``source`` to ``dest``/``repository`` under every tag in ``tags``."""
    if not tags:
        raise GantryError("copy", "at least one tag is required")
    for tag in tags:
        check_tag(tag, "copy")
    stats = TransferStats()
    body, media_type = source.manifest(reference)
    digest = "sha256:" + hashlib.sha256(body).hexdigest()
    pending = []
    for tag in tags:
        existing = dest.head_manifest(repository, tag)
        if existing is None:
            pending.append(tag)
        elif existing.digest != digest:
            raise GantryError("push", f"tag {dest.host}/{repository}:{tag} already exists with digest "
                                      f"{existing.digest}, not {digest} (tags are immutable)")
    if not pending:
        return CopyResult(repository, tags, digest, stats, skipped=True)
    body, media_type, digest = _copy_manifest(source, dest, repository, reference, stats, mount_hint)
    for tag in pending:
        stored = dest.put_manifest(repository, tag, body, media_type)
        if stored != digest:
            raise GantryError("push", f"registry stored {repository}:{tag} as {stored}, expected {digest}")
    return CopyResult(repository, tags, digest, stats)

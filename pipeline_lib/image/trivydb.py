"""Trivy's vulnerability DB as an OCI artifact: read its metadata, package it, mirror it.

Format (what ``trivy --db-repository`` pulls; aquasecurity/trivy pkg/db and pkg/oci): an OCI
image manifest with a config of media type ``application/vnd.aquasec.trivy.config.v1+json``
and exactly one layer, ``application/vnd.aquasec.trivy.db.layer.v1.tar+gzip`` (the Java DB:
``application/vnd.aquasec.trivy.javadb.layer.v1.tar+gzip``), annotated
``org.opencontainers.image.title: db.tar.gz`` (``javadb.tar.gz``). The layer is a gzipped tar
with ``trivy.db`` (``trivy-java.db``) and ``metadata.json`` at its root;
``metadata.json`` is ``{"Version": 2, "NextUpdate", "UpdatedAt", "DownloadedAt"}`` (RFC 3339
times; the Java DB has Version 1). Tags: ``trivy-db:2`` and ``trivy-java-db:1``; the upstream
tags move every few hours, so a mirror's tag moves too (unlike service image tags).

The mirror copies by digest: the destination ends with the source manifest byte for byte,
blobs already present are skipped (same host: mounted), the manifest is put last.
"""

from __future__ import annotations

import datetime as dt
import gzip
import hashlib
import json
import tarfile
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

from pipeline_lib.core.errors import GantryError
from pipeline_lib.core.reference import DIGEST_RE, check_tag, parse_repository
from scanners.dbage import parse_db_time
from .registry import RegistryClient, TransferStats

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
CONFIG_MEDIA_TYPE = "application/vnd.aquasec.trivy.config.v1+json"
TITLE = "org.opencontainers.image.title"
METADATA_NAME = "metadata.json"
MAX_METADATA_BYTES = 1 << 20


@dataclass(frozen=True)
class DbKind:
    """One of Trivy's two DB artifacts."""

    name: str            # "db" | "java-db"
    layer_media_type: str
    title: str           # the layer's org.opencontainers.image.title
    db_file: str         # the bbolt file inside the layer
    schema_version: int  # metadata.json "Version" and the usual tag
    repository: str      # the upstream repository name (last path component)


DB = DbKind("db", "application/vnd.aquasec.trivy.db.layer.v1.tar+gzip", "db.tar.gz", "trivy.db", 2, "trivy-db")
JAVA_DB = DbKind("java-db", "application/vnd.aquasec.trivy.javadb.layer.v1.tar+gzip", "javadb.tar.gz",
                 "trivy-java.db", 1, "trivy-java-db")
KINDS = (DB, JAVA_DB)

Progress = Callable[[str, int, int], None]   # (blob digest, bytes done, bytes total)


# ---------------------------------------------------------------------------------------
# metadata.json
# ---------------------------------------------------------------------------------------

def _time(value: object, key: str, where: str, required: bool) -> dt.datetime | None:
    if value in (None, "") and not required:
        return None
    if not isinstance(value, str):
        raise GantryError(where, f"metadata.json {key} must be an RFC 3339 time, not {value!r}")
    parsed = parse_db_time(value)
    if parsed is None:
        raise GantryError(where, f"metadata.json {key} {value!r} is not an RFC 3339 time")
    return parsed


@dataclass(frozen=True)
class DbMetadata:
    """A Trivy DB's ``metadata.json``: schema version and times (timezone-aware, UTC)."""

    version: int
    updated_at: dt.datetime
    next_update: dt.datetime | None = None
    downloaded_at: dt.datetime | None = None

    @classmethod
    def from_bytes(cls, raw: bytes, where: str = METADATA_NAME) -> DbMetadata:
        """Parse ``metadata.json``; GantryError when it is not JSON or lacks Version/UpdatedAt."""
        try:
            data = json.loads(raw)
        except (ValueError, UnicodeDecodeError) as exc:
            raise GantryError(where, f"metadata.json is not JSON: {exc}") from None
        if not isinstance(data, dict):
            raise GantryError(where, "metadata.json must be a JSON object")
        version = data.get("Version")
        if not isinstance(version, int) or isinstance(version, bool):
            raise GantryError(where, f"metadata.json Version must be an integer, not {version!r}")
        updated = _time(data.get("UpdatedAt"), "UpdatedAt", where, True)
        assert updated is not None
        return cls(version, updated, _time(data.get("NextUpdate"), "NextUpdate", where, False),
                   _time(data.get("DownloadedAt"), "DownloadedAt", where, False))

    @classmethod
    def read(cls, path: Path) -> DbMetadata:
        try:
            raw = Path(path).read_bytes()
        except OSError as exc:
            raise GantryError(str(path), f"cannot read: {exc.strerror or exc}") from None
        return cls.from_bytes(raw, str(path))

    def age(self, now: dt.datetime | None = None) -> dt.timedelta:
        return (now or dt.datetime.now(dt.timezone.utc)) - self.updated_at

    def to_json(self) -> dict[str, object]:
        iso = lambda t: t.astimezone(dt.timezone.utc).isoformat().replace("+00:00", "Z") if t else None  # noqa: E731
        return {"Version": self.version, "UpdatedAt": iso(self.updated_at), "NextUpdate": iso(self.next_update),
                "DownloadedAt": iso(self.downloaded_at)}


def metadata_from_layer(stream: BinaryIO, where: str) -> DbMetadata:
    """Stream a DB layer (tar.gz) until its root ``metadata.json``; GantryError when absent."""
    try:
        with tarfile.open(fileobj=stream, mode="r|gz") as tar:
            for member in tar:
                if member.name.removeprefix("./") != METADATA_NAME:
                    continue
                if not member.isfile() or member.size > MAX_METADATA_BYTES:
                    raise GantryError(where, "metadata.json in the DB layer is not a small regular file")
                fh = tar.extractfile(member)
                assert fh is not None
                return DbMetadata.from_bytes(fh.read(), f"{where} metadata.json")
    except (tarfile.TarError, OSError, EOFError, gzip.BadGzipFile) as exc:
        raise GantryError(where, f"DB layer is not a readable tar.gz: {exc}") from None
    raise GantryError(where, "DB layer has no metadata.json at its root")


# ---------------------------------------------------------------------------------------
# references
# ---------------------------------------------------------------------------------------

@dataclass(frozen=True)
class ArtifactRef:
    """``host/repository:tag`` or ``host/repository@sha256:…``."""

    host: str
    repository: str
    reference: str

    def __str__(self) -> str:
        sep = "@" if self.reference.startswith("sha256:") else ":"
        return f"{self.host}/{self.repository}{sep}{self.reference}"


def parse_ref(ref: str, kind: DbKind = DB, where: str = "reference") -> ArtifactRef:
    """Parse a DB artifact reference; the tag defaults to the kind's schema version (2 or 1)."""
    return parse_artifact_ref(ref, str(kind.schema_version), where)


def parse_artifact_ref(ref: str, default_tag: str, where: str = "reference") -> ArtifactRef:
    """``host/repo[:tag]`` or ``host/repo@sha256:…`` → :class:`ArtifactRef` (no tag:
    ``default_tag``). Raises :class:`GantryError` naming ``where`` for a bad digest, tag or name."""
    name, at, digest = ref.partition("@")
    if at:
        if not DIGEST_RE.match(digest):
            raise GantryError(where, f"invalid digest in {ref!r}")
        reference = digest
    else:
        head, slash, last = name.rpartition("/")
        last, colon, tag = last.partition(":")
        name = f"{head}{slash}{last}"
        reference = check_tag(tag, where) if colon else default_tag
    image = parse_repository(name, where)
    return ArtifactRef(image.host, image.repository, reference)


def java_db_ref(db_ref: ArtifactRef) -> ArtifactRef:
    """The Java DB beside a DB repository: ``…/trivy-db:2`` → ``…/trivy-java-db:1``."""
    head, _, last = db_ref.repository.rpartition("/")
    if last != DB.repository:
        raise GantryError(str(db_ref), f"cannot derive the Java DB repository (the name is not {DB.repository!r}): "
                                       "pass the Java DB references explicitly")
    return ArtifactRef(db_ref.host, f"{head}/{JAVA_DB.repository}" if head else JAVA_DB.repository,
                       str(JAVA_DB.schema_version))


# ---------------------------------------------------------------------------------------
# manifests
# ---------------------------------------------------------------------------------------

@dataclass(frozen=True)
class DbArtifact:
    """A fetched DB manifest: its bytes, digest and the one DB layer."""

    body: bytes
    media_type: str
    digest: str
    config: tuple[str, int]
    layer: tuple[str, int]

    @property
    def size(self) -> int:
        return self.config[1] + self.layer[1]


def _descriptor(d: object, where: str) -> tuple[str, int]:
    if not isinstance(d, dict) or not isinstance(d.get("digest"), str) or not DIGEST_RE.match(d["digest"]) \
            or not isinstance(d.get("size"), int):
        raise GantryError(where, "manifest has a malformed descriptor")
    return d["digest"], d["size"]


def check_artifact(body: bytes, media_type: str, kind: DbKind, where: str) -> DbArtifact:
    """Validate a manifest as a Trivy DB artifact of ``kind`` (one layer of its media type)."""
    try:
        doc = json.loads(body)
    except ValueError:
        raise GantryError(where, "manifest is not JSON") from None
    if not isinstance(doc, dict) or "manifests" in doc:
        raise GantryError(where, "is an index, not a Trivy DB artifact manifest")
    layers = doc.get("layers")
    if not isinstance(layers, list) or len(layers) != 1 or not isinstance(layers[0], dict) \
            or layers[0].get("mediaType") != kind.layer_media_type:
        found = [lay.get("mediaType") for lay in layers or [] if isinstance(lay, dict)]
        raise GantryError(where, f"not a Trivy {kind.name} artifact: expected one layer of media type "
                                 f"{kind.layer_media_type}, found {found or 'none'}")
    return DbArtifact(body, media_type or doc.get("mediaType") or OCI_MANIFEST,
                      "sha256:" + hashlib.sha256(body).hexdigest(), _descriptor(doc.get("config"), where),
                      _descriptor(layers[0], where))


def fetch_artifact(client: RegistryClient, ref: ArtifactRef, kind: DbKind) -> DbArtifact:
    body, info = client.get_manifest(ref.repository, ref.reference)
    return check_artifact(body, info.media_type, kind, str(ref))


def read_metadata(client: RegistryClient, ref: ArtifactRef, artifact: DbArtifact) -> DbMetadata:
    """Stream the artifact's layer from ``client`` and read its metadata.json."""
    resp = client.get_blob(ref.repository, artifact.layer[0])
    try:
        return metadata_from_layer(resp.raw, f"{ref} layer {artifact.layer[0][:19]}")
    finally:
        resp.close()


# ---------------------------------------------------------------------------------------
# packaging (a DB directory → an artifact in a registry)
# ---------------------------------------------------------------------------------------

def pack_layer(db_dir: Path, kind: DbKind, dest: Path) -> tuple[str, int, DbMetadata]:
    """Write ``dest`` = tar.gz of ``db_dir``'s DB file and metadata.json → (digest, size, metadata)."""
    db_dir = Path(db_dir)
    meta = DbMetadata.read(db_dir / METADATA_NAME)
    if not (db_dir / kind.db_file).is_file():
        raise GantryError(str(db_dir), f"no {kind.db_file} here")
    with open(dest, "wb") as raw:
        with gzip.GzipFile(fileobj=raw, mode="wb", mtime=0) as gz, tarfile.open(fileobj=gz, mode="w") as tar:
            for name in (kind.db_file, METADATA_NAME):
                info = tar.gettarinfo(db_dir / name, arcname=name)
                info.uid = info.gid = 0
                info.uname = info.gname = ""
                with open(db_dir / name, "rb") as fh:
                    tar.addfile(info, fh)
    digest = hashlib.sha256()
    with open(dest, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return "sha256:" + digest.hexdigest(), dest.stat().st_size, meta


def push_db(client: RegistryClient, ref: ArtifactRef, db_dir: Path, kind: DbKind = DB) -> tuple[str, DbMetadata]:
    """Package ``db_dir`` (DB file + metadata.json) as Trivy's OCI artifact and push it to ``ref``.

    Returns (manifest digest, metadata). The tag moves to the new manifest.
    """
    config = b"{}"
    config_digest = "sha256:" + hashlib.sha256(config).hexdigest()
    with tempfile.TemporaryDirectory(prefix="gantry-trivydb-") as tmp:
        layer_path = Path(tmp) / kind.title
        layer_digest, layer_size, meta = pack_layer(db_dir, kind, layer_path)
        if not client.has_blob(ref.repository, config_digest):
            client.upload_blob(ref.repository, config_digest, lambda: config, len(config))
        if not client.has_blob(ref.repository, layer_digest):
            client.upload_blob(ref.repository, layer_digest, lambda: open(layer_path, "rb"), layer_size)
    manifest = json.dumps({
        "schemaVersion": 2, "mediaType": OCI_MANIFEST,
        "config": {"mediaType": CONFIG_MEDIA_TYPE, "digest": config_digest, "size": len(config)},
        "layers": [{"mediaType": kind.layer_media_type, "digest": layer_digest, "size": layer_size,
                    "annotations": {TITLE: kind.title}}],
    }, separators=(",", ":")).encode()
    digest = client.put_manifest(ref.repository, ref.reference, manifest, OCI_MANIFEST)
    return digest, meta


# ---------------------------------------------------------------------------------------
# mirroring
# ---------------------------------------------------------------------------------------

class _Counting:
    """A read-only stream that reports bytes read to ``progress`` (at most every 0.2 s).

    It has ``__len__`` and no ``tell``/``seek``, so requests sends ``Content-Length`` and
    http.client streams it with ``read``.
    """

    def __init__(self, inner: BinaryIO, digest: str, total: int, progress: Progress | None) -> None:
        self.inner, self.digest, self.total, self.progress = inner, digest, total, progress
        self.done = 0
        self._last = 0.0

    def __len__(self) -> int:
        return self.total - self.done

    def read(self, size: int = -1) -> bytes:
        data = self.inner.read(size if size is not None and size >= 0 else max(self.total - self.done, 0))
        self.done += len(data)
        now = time.monotonic()
        if self.progress and data and (now - self._last >= 0.2 or self.done >= self.total):
            self._last = now
            self.progress(self.digest, self.done, self.total)
        return data

    def close(self) -> None:
        self.inner.close()


@dataclass
class MirrorResult:
    """What one mirror did (``already_present``: the destination tag had the digest already)."""

    kind: str
    source: str
    destination: str
    digest: str
    size: int
    already_present: bool
    dry_run: bool
    metadata: DbMetadata | None
    stats: TransferStats = field(default_factory=TransferStats)
    blobs_missing: int = 0
    bytes_missing: int = 0

    def to_json(self) -> dict[str, object]:
        return {"kind": self.kind, "source": self.source, "destination": self.destination, "digest": self.digest,
                "size": self.size, "already_present": self.already_present, "dry_run": self.dry_run,
                "metadata": self.metadata.to_json() if self.metadata else None,
                "blobs_skipped": self.stats.blobs_skipped, "blobs_mounted": self.stats.blobs_mounted,
                "blobs_uploaded": self.stats.blobs_uploaded, "bytes_uploaded": self.stats.bytes_uploaded,
                "blobs_missing": self.blobs_missing, "bytes_missing": self.bytes_missing}


def mirror(src: RegistryClient, src_ref: ArtifactRef, dst: RegistryClient, dst_ref: ArtifactRef, *,
           kind: DbKind = DB, dry_run: bool = False, progress: Progress | None = None) -> MirrorResult:
    """Copy the DB artifact ``src_ref`` to ``dst_ref`` by digest (idempotent).

    The destination tag is moved to the source digest (DB tags are mutable upstream). With
    ``dry_run`` nothing is written: the result says which blobs and bytes are missing. The
    DB's metadata is read from the destination's layer after the copy (from the source's in a
    dry run). Raises GantryError when the source is not a DB artifact of ``kind`` or a
    registry call fails.
    """
    if dst_ref.reference.startswith("sha256:"):
        raise GantryError(str(dst_ref), "the destination needs a tag (e.g. :2), not a digest")
    artifact = fetch_artifact(src, src_ref, kind)
    result = MirrorResult(kind.name, str(src_ref), str(dst_ref), artifact.digest, artifact.size, False, dry_run, None)
    existing = dst.head_manifest(dst_ref.repository, dst_ref.reference)
    if existing is not None and existing.digest == artifact.digest:
        result.already_present = True
        result.metadata = read_metadata(dst, dst_ref, artifact)
        return result
    blobs = (artifact.config, artifact.layer)
    if dry_run:
        for digest, size in blobs:
            if not dst.has_blob(dst_ref.repository, digest):
                result.blobs_missing += 1
                result.bytes_missing += size
        result.metadata = read_metadata(src, src_ref, artifact)
        return result
    stats = result.stats
    for digest, size in blobs:
        if dst.has_blob(dst_ref.repository, digest):
            stats.blobs_skipped += 1
            continue
        if src.host == dst.host and src_ref.repository != dst_ref.repository \
                and dst.mount_blob(dst_ref.repository, digest, src_ref.repository):
            stats.blobs_mounted += 1
            continue

        def opener(digest: str = digest, size: int = size) -> BinaryIO:
            return _Counting(src.get_blob(src_ref.repository, digest).raw, digest, size, progress)  # type: ignore[return-value]

        dst.upload_blob(dst_ref.repository, digest, opener, size)
        stats.blobs_uploaded += 1
        stats.bytes_uploaded += size
    stored = dst.put_manifest(dst_ref.repository, dst_ref.reference, artifact.body, artifact.media_type)
    if stored != artifact.digest:
        raise GantryError(str(dst_ref), f"registry stored the manifest as {stored}, expected {artifact.digest}")
    result.metadata = read_metadata(dst, dst_ref, artifact)
    return result

"""The exploit feeds (CISA KEV, FIRST EPSS) as OCI artifacts: mirror them in, pull them to a cache.

Like the Trivy DB mirror (:mod:`pipeline_lib.image.trivydb`), build agents without Internet
access read the feeds from the registry they already trust (ECR), and the gate checks the age
of what it reads (:mod:`scanners.feeds`). The artifact is what ``oras push`` writes for one file
(OCI image-spec 1.1 "artifacts" guidance): an image manifest with ``artifactType``
:data:`ARTIFACT_TYPE`, the empty config (``application/vnd.oci.empty.v1+json``, ``{}``) and
one layer — the feed's bytes unchanged — of media type :data:`LAYER_TYPES` ``[name]``,
annotated ``org.opencontainers.image.title`` (the file name) and the manifest
``org.opencontainers.image.created`` (the feed's own date: KEV ``dateReleased``, EPSS
``score_date``). A feed is parsed (KEV: against CISA's schema) before it is pushed and again
when it is pulled: a broken feed is never mirrored nor cached. Tags move (``:latest``), like
the upstream files.
"""

from __future__ import annotations

import datetime as dt
import gzip
import hashlib
import json
from collections.abc import Callable
from typing import TYPE_CHECKING
from dataclasses import dataclass
from pathlib import Path

from pipeline_lib.core.errors import GantryError
from pipeline_lib.core.fileio import write_atomic
from pipeline_lib.core.reference import DIGEST_RE
from scanners.feeds import EPSS, FILES, KEV, MAX_FEED_BYTES, NAMES, parse_feed
from .registry import RegistryClient
from .trivydb import OCI_MANIFEST, TITLE, ArtifactRef, parse_artifact_ref

if TYPE_CHECKING:
    from urllib3.util.retry import Retry

ARTIFACT_TYPE = "application/vnd.gantry.feed.v1"
EMPTY_CONFIG_TYPE = "application/vnd.oci.empty.v1+json"
EMPTY_CONFIG = b"{}"
CREATED = "org.opencontainers.image.created"
LAYER_TYPES = {KEV: "application/vnd.gantry.feed.kev.v1+json", EPSS: "application/vnd.gantry.feed.epss.v1+csv"}
#: where each feed is published upstream (``gantry feeds mirror`` default source)
UPSTREAM = {KEV: "https://www.cisa.gov/sites/default/files/feeds/known_exploited_vulnerabilities.json",
            EPSS: "https://epss.empiricalsecurity.com/epss_scores-current.csv.gz"}
DEFAULT_TAG = "latest"
#: the file beside a cached feed recording where it came from
SOURCE_SUFFIX = ".source.json"


def check_name(name: str, where: str = "--feed") -> str:
    if name not in NAMES:
        raise GantryError(where, f"unknown feed {name!r} (known: {', '.join(NAMES)})")
    return name


def parse_ref(ref: str, where: str = "reference") -> ArtifactRef:
    """``host/repo[:tag]`` or ``host/repo@sha256:…``; the tag defaults to ``latest``."""
    return parse_artifact_ref(ref.strip(), DEFAULT_TAG, where)


def _iso(t: dt.datetime) -> str:
    return t.astimezone(dt.timezone.utc).isoformat().replace("+00:00", "Z")


@dataclass(frozen=True)
class FeedArtifact:
    """One feed as pushed or pulled: where, its manifest digest, the feed's date and size."""

    name: str
    reference: str
    digest: str
    date: dt.datetime
    size: int
    path: str | None = None          # the cached file (pull)
    already_present: bool = False    # push: the tag already pointed at these bytes
    dry_run: bool = False

    def to_json(self) -> dict[str, object]:
        return {"feed": self.name, "reference": self.reference, "digest": self.digest, "date": _iso(self.date),
                "size": self.size, "path": self.path, "already_present": self.already_present,
                "dry_run": self.dry_run}


def manifest_for(name: str, layer_digest: str, layer_size: int, title: str, date: dt.datetime) -> bytes:
    """The artifact manifest (compact JSON, keys in a fixed order: same feed → same digest)."""
    return json.dumps({
        "schemaVersion": 2, "mediaType": OCI_MANIFEST, "artifactType": ARTIFACT_TYPE,
        "config": {"mediaType": EMPTY_CONFIG_TYPE, "digest": "sha256:" + hashlib.sha256(EMPTY_CONFIG).hexdigest(),
                   "size": len(EMPTY_CONFIG)},
        "layers": [{"mediaType": LAYER_TYPES[name], "digest": layer_digest, "size": layer_size,
                    "annotations": {TITLE: title}}],
        "annotations": {CREATED: _iso(date)},
    }, separators=(",", ":")).encode()


def push_feed(client: RegistryClient, ref: ArtifactRef, name: str, raw: bytes, *, source: str = "feed",
              dry_run: bool = False) -> FeedArtifact:
    """Validate ``raw`` as feed ``name`` and push it to ``ref`` (the tag moves; idempotent).

    Raises GantryError(source, …) when the feed does not parse, GantryError(registry…) when the
    registry refuses. With ``dry_run`` the registry is not contacted (the result says what would
    be pushed; it cannot know whether the tag already holds these bytes).
    """
    check_name(name)
    if ref.reference.startswith("sha256:"):
        raise GantryError(str(ref), "the destination needs a tag (e.g. :latest), not a digest")
    feed = parse_feed(name, raw, source)
    layer_digest = "sha256:" + hashlib.sha256(raw).hexdigest()
    title = FILES[name] + (".gz" if raw[:2] == b"\x1f\x8b" else "")
    body = manifest_for(name, layer_digest, len(raw), title, feed.date)
    digest = "sha256:" + hashlib.sha256(body).hexdigest()
    if dry_run:
        return FeedArtifact(name, str(ref), digest, feed.date, len(raw), dry_run=True)
    existing = client.head_manifest(ref.repository, ref.reference)
    if existing is not None and existing.digest == digest:
        return FeedArtifact(name, str(ref), digest, feed.date, len(raw), already_present=True)
    config_digest = "sha256:" + hashlib.sha256(EMPTY_CONFIG).hexdigest()
    if not client.has_blob(ref.repository, config_digest):
        client.upload_blob(ref.repository, config_digest, lambda: EMPTY_CONFIG, len(EMPTY_CONFIG))
    if not client.has_blob(ref.repository, layer_digest):
        client.upload_blob(ref.repository, layer_digest, lambda: raw, len(raw))
    stored = client.put_manifest(ref.repository, ref.reference, body, OCI_MANIFEST)
    if stored != digest:
        raise GantryError(str(ref), f"registry stored the manifest as {stored}, expected {digest}")
    return FeedArtifact(name, str(ref), digest, feed.date, len(raw))


def _layer(body: bytes, name: str, where: str) -> tuple[str, int]:
    try:
        doc = json.loads(body)
    except ValueError:
        raise GantryError(where, "manifest is not JSON") from None
    layers = doc.get("layers") if isinstance(doc, dict) else None
    if not isinstance(layers, list) or len(layers) != 1 or not isinstance(layers[0], dict) \
            or layers[0].get("mediaType") != LAYER_TYPES[name]:
        found = [lay.get("mediaType") for lay in layers or [] if isinstance(lay, dict)]
        raise GantryError(where, f"not a gantry {name} feed artifact: expected one layer of media type "
                                 f"{LAYER_TYPES[name]}, found {found or 'none'}")
    digest, size = layers[0].get("digest"), layers[0].get("size")
    if not isinstance(digest, str) or not DIGEST_RE.match(digest) or not isinstance(size, int) or isinstance(size, bool):
        raise GantryError(where, "manifest has a malformed layer descriptor")
    if size > MAX_FEED_BYTES:
        raise GantryError(where, f"feed layer of {size} bytes is larger than {MAX_FEED_BYTES}")
    return digest, size


def pull_feed(client: RegistryClient, ref: ArtifactRef, name: str, cache_dir: Path, *,
              accept: Callable[[str, dt.datetime], None] | None = None) -> FeedArtifact:
    """Fetch feed ``name`` from ``ref`` into ``cache_dir`` (``FILES[name]``, plain text, written
    atomically, with ``<file>.source.json``: reference, digest, date). The bytes are checked
    against the layer digest and parsed, and ``accept(name, feed date)`` (e.g. an age check that
    raises) is called, before anything is written. Raises GantryError."""
    check_name(name)
    where = str(ref)
    body, info = client.get_manifest(ref.repository, ref.reference)
    digest, size = _layer(body, name, where)
    resp = client.get_blob(ref.repository, digest)
    try:
        raw = resp.raw.read(size + 1, decode_content=True)
    finally:
        resp.close()
    if len(raw) != size or "sha256:" + hashlib.sha256(raw).hexdigest() != digest:
        raise GantryError(where, f"feed layer {digest[:19]} does not match its descriptor (size or digest)")
    feed = parse_feed(name, raw, f"{where} ({FILES[name]})")
    if accept is not None:
        accept(name, feed.date)
    if raw[:2] == b"\x1f\x8b":
        raw = gzip.decompress(raw)
    path = write_atomic(Path(cache_dir) / FILES[name], raw)
    write_atomic(Path(cache_dir) / (FILES[name] + SOURCE_SUFFIX), json.dumps(
        {"reference": str(ref), "digest": info.digest, "layer": digest, "date": _iso(feed.date)}, indent=2) + "\n")
    return FeedArtifact(name, str(ref), info.digest, feed.date, size, path=str(path))


def check_url(url: str) -> str:
    """``url`` if it is http(s); GantryError("--from-url", …) otherwise."""
    if not url.startswith(("https://", "http://")):
        raise GantryError("--from-url", f"expected an http(s) URL, not {url!r}")
    return url


def download(url: str, *, progress: Callable[[int], None] | None = None, timeout: float = 120.0,
             retry: Retry | None = None) -> bytes:
    """GET ``url`` (http/https, through :func:`pipeline_lib.core.http.session`), at most
    :data:`MAX_FEED_BYTES`; GantryError(url, …) on an HTTP error or an oversized answer,
    Unavailable/TimeoutExceeded(url, …) when the server cannot be reached (after ``retry``, a
    urllib3 ``Retry``; default :func:`pipeline_lib.core.http.retry_policy`)."""
    from pipeline_lib.core.http import send, session

    check_url(url)
    with session(timeout=timeout, retry=retry) as s:
        resp = send(s, "GET", url, where=url, stream=True)
        chunks, total = [], 0
        for chunk in resp.iter_content(1 << 16):
            total += len(chunk)
            if total > MAX_FEED_BYTES:
                raise GantryError(url, f"answer is larger than {MAX_FEED_BYTES} bytes")
            chunks.append(chunk)
            if progress:
                progress(total)
    return b"".join(chunks)

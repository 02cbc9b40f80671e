"""Tiny OCI image layouts built in tests (image spec: https://github.com/opencontainers/image-spec).

:func:`image_layout` writes an ``oci-layout`` directory holding one image named ``name``: a single
manifest, or an image index with one child manifest per platform. Every blob is real (gzip'd tar
layers, a config whose ``diff_ids`` match), so registries and skopeo accept it.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import tarfile
from pathlib import Path

MANIFEST = "application/vnd.oci.image.manifest.v1+json"
INDEX = "application/vnd.oci.image.index.v1+json"
LAYER = "application/vnd.oci.image.layer.v1.tar+gzip"
CONFIG = "application/vnd.oci.image.config.v1+json"


def blob(root: Path, data: bytes) -> tuple[str, int]:
    """Store ``data`` under ``blobs/sha256/``; return its digest and size."""
    digest = hashlib.sha256(data).hexdigest()
    path = root / "blobs" / "sha256" / digest
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return f"sha256:{digest}", len(data)


def layer(files: dict[str, bytes]) -> tuple[bytes, str]:
    """A gzip'd tar layer (reproducible) and its diff_id (digest of the uncompressed tar)."""
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w") as tar:
        for name, content in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(content)
            info.mtime = 0
            tar.addfile(info, io.BytesIO(content))
    uncompressed = raw.getvalue()
    return gzip.compress(uncompressed, mtime=0), "sha256:" + hashlib.sha256(uncompressed).hexdigest()


def _manifest(root: Path, content: str, arch: str) -> tuple[str, int]:
    data, diff_id = layer({"app.txt": f"{content} {arch}".encode()})
    ld, lsize = blob(root, data)
    config = json.dumps({"architecture": arch, "os": "linux",
                         "rootfs": {"type": "layers", "diff_ids": [diff_id]}}).encode()
    cd, csize = blob(root, config)
    manifest = {"schemaVersion": 2, "mediaType": MANIFEST,
                "config": {"mediaType": CONFIG, "digest": cd, "size": csize},
                "layers": [{"mediaType": LAYER, "digest": ld, "size": lsize}]}
    return blob(root, json.dumps(manifest).encode())


def image_layout(root: Path, content: str, *, name: str = "app", platforms: tuple[str, ...] = ()) -> tuple[Path, str]:
    """Write the layout at ``root``; return it and the image's digest (the index's with ``platforms``)."""
    root.mkdir(parents=True, exist_ok=True)
    (root / "oci-layout").write_text('{"imageLayoutVersion": "1.0.0"}')
    if platforms:
        children = []
        for arch in platforms:
            d, size = _manifest(root, content, arch)
            children.append({"mediaType": MANIFEST, "digest": d, "size": size,
                             "platform": {"os": "linux", "architecture": arch}})
        top, size = blob(root, json.dumps({"schemaVersion": 2, "mediaType": INDEX, "manifests": children}).encode())
        media = INDEX
    else:
        (top, size), media = _manifest(root, content, "amd64"), MANIFEST
    (root / "index.json").write_text(json.dumps({"schemaVersion": 2, "manifests": [
        {"mediaType": media, "digest": top, "size": size, "annotations": {"org.opencontainers.image.ref.name": name}}]}))
    return root, top

"""OCI layout push without an engine: HEAD-before-upload, cross-repo mount, immutable tags, faults."""

from __future__ import annotations

import hashlib
import json
import tarfile
import uuid
from pathlib import Path

import pytest
import requests

from pipeline_lib.core.errors import GantryError
from pipeline_lib.image.copy import LayoutSource, RegistrySource, copy_image
from pipeline_lib.core.reference import MANIFEST_ACCEPT
from pipeline_lib.image.registry import RegistryClient
from tests.image.helpers import FaultyProxy
from tests.support.oci import blob as _blob
from tests.support.oci import layer as _layer

pytestmark = pytest.mark.integration


def layout_with(tmp: Path, top: str, base_size: int = 64 * 1024, name: str = "app") -> tuple[Path, dict]:
    """An OCI layout: a fixed base layer and a top layer with ``top`` as content."""
    root = tmp / f"layout-{uuid.uuid4().hex[:8]}"
    root.mkdir(parents=True)
    (root / "oci-layout").write_text('{"imageLayoutVersion": "1.0.0"}')
    import random
    base, base_diff = _layer({"base.bin": random.Random(0).randbytes(base_size)})
    upper, upper_diff = _layer({"app.txt": top.encode()})
    layers = []
    for data in (base, upper):
        d, size = _blob(root, data)
        layers.append({"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", "digest": d, "size": size})
    config = json.dumps({"architecture": "amd64", "os": "linux",
                         "rootfs": {"type": "layers", "diff_ids": [base_diff, upper_diff]}}).encode()
    cd, csize = _blob(root, config)
    manifest = {"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
                "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": cd, "size": csize},
                "layers": layers}
    md, msize = _blob(root, json.dumps(manifest).encode())
    (root / "index.json").write_text(json.dumps({"schemaVersion": 2, "manifests": [
        {"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": md, "size": msize,
         "annotations": {"org.opencontainers.image.ref.name": name}}]}))
    return root, {"digest": md, "layers": layers}


def test_push_layout_skips_existing_and_mounts(registry, tmp_path: Path) -> None:
    reg = RegistryClient(registry.host)
    repo = f"shop/oci-{uuid.uuid4().hex[:6]}"
    v1, info1 = layout_with(tmp_path, "v1")
    first = copy_image(LayoutSource(v1), "app", reg, repo, ["v1"])
    assert first.digest == info1["digest"] and first.stats.blobs_uploaded == 3
    # only the top layer (and config) changed: the base layer is not uploaded again
    v2, info2 = layout_with(tmp_path, "v2")
    second = copy_image(LayoutSource(v2), "app", reg, repo, ["v2"])
    assert second.stats.blobs_skipped == 1 and second.stats.blobs_uploaded == 2
    assert second.stats.bytes_uploaded < info2["layers"][0]["size"] // 10
    # same tag, same digest: no-op; same tag, other digest: error
    assert copy_image(LayoutSource(v2), "app", reg, repo, ["v2"]).skipped
    with pytest.raises(GantryError, match="already exists with digest"):
        copy_image(LayoutSource(v1), "app", reg, repo, ["v2"])
    # registry -> registry in the same host: blobs are mounted, not uploaded
    other = f"shop/mounted-{uuid.uuid4().hex[:6]}"
    mounted = copy_image(RegistrySource(reg, repo), "v2", reg, other, ["v2"])
    assert mounted.digest == second.digest and mounted.stats.blobs_mounted == 3
    assert mounted.stats.bytes_uploaded == 0
    head = requests.head(f"{registry.url}/v2/{other}/manifests/v2", headers={"Accept": MANIFEST_ACCEPT}, timeout=5)
    assert head.headers["Docker-Content-Digest"] == second.digest


def test_cli_push_oci_archive(registry, tmp_path: Path, capsys) -> None:
    from pipeline_lib.cli import main
    layout, info = layout_with(tmp_path, "archive")
    archive = tmp_path / "image.tar"
    with tarfile.open(archive, "w") as tar:
        for path in layout.rglob("*"):
            tar.add(path, arcname=str(path.relative_to(layout)))
    catalog = str(Path(__file__).resolve().parents[2] / "jobs" / "catalog.yaml")
    tag = uuid.uuid4().hex[:12]
    record = tmp_path / "reports" / "image.json"
    assert main(["image", "push", "--catalog", catalog, "--service", "product-api", "--registry", registry.host,
                 "--oci-archive", str(archive), "--ref", "app", "--tag", tag, "--output", str(record)]) == 0
    assert f"digest {info['digest']}" in capsys.readouterr().out
    pushed = json.loads(record.read_text())   # what the Jenkinsfile's readJSON and the next stages read
    assert (pushed["digest"], pushed["registry"], pushed["tag"]) == (info["digest"], registry.host, tag)
    assert pushed["repository"] == f"{registry.host}/shop/product-api"


def test_transient_faults_are_retried_without_corrupt_manifest(registry, tmp_path: Path) -> None:
    """503s and a connection dropped mid-upload: retried; the manifest and every blob are intact."""
    seen: dict[str, int] = {}

    def faults(method: str, path: str):
        key = f"{method} {path.split('?')[0] if 'digest=' not in path else 'PUT-UPLOAD'}"
        seen[key] = seen.get(key, 0) + 1
        if method == "PUT" and "digest=" in path and seen[key] <= 2:
            return "drop"  # connection lost mid-upload, twice
        if method == "HEAD" and seen[key] == 1:
            return 503
        if method == "PUT" and "/manifests/" in path and seen[key] == 1:
            return 502
        return None

    proxy = FaultyProxy(registry.url, faults)
    layout, info = layout_with(tmp_path, "faulty")
    repo = f"shop/faulty-{uuid.uuid4().hex[:6]}"
    with proxy.running():
        result = copy_image(LayoutSource(layout), "app", RegistryClient(proxy.host, backoff=0.01), repo, ["t1"])
    assert result.digest == info["digest"]
    assert any(f == "drop" for _, _, f in proxy.log) and any(f == "503" for _, _, f in proxy.log)
    body = requests.get(f"{registry.url}/v2/{repo}/manifests/t1", headers={"Accept": MANIFEST_ACCEPT},
                        timeout=5).content
    assert "sha256:" + hashlib.sha256(body).hexdigest() == info["digest"]
    for layer in json.loads(body)["layers"]:
        blob = requests.get(f"{registry.url}/v2/{repo}/blobs/{layer['digest']}", timeout=5).content
        assert "sha256:" + hashlib.sha256(blob).hexdigest() == layer["digest"]


def test_persistent_5xx_fails_with_one_line(registry, tmp_path: Path) -> None:
    proxy = FaultyProxy(registry.url, lambda m, p: 503 if "/blobs/uploads/" in p else None)
    layout, _ = layout_with(tmp_path, "down")
    with proxy.running():
        with pytest.raises(GantryError) as info:
            copy_image(LayoutSource(layout), "app", RegistryClient(proxy.host, backoff=0.01, attempts=3),
                       "shop/down", ["t1"])
    assert "failed after 3 attempts" in str(info.value) and "503" in str(info.value)
    # nothing was tagged
    assert requests.head(f"{registry.url}/v2/shop/down/manifests/t1", headers={"Accept": MANIFEST_ACCEPT},
                         timeout=5).status_code == 404


def test_chunked_upload_resumes_after_drop_and_5xx(registry, tmp_path: Path) -> None:
    """Blobs above chunk_size go in PATCH chunks; a dropped or 503'd chunk resumes at the registry's Range."""
    seen = {"patch": 0}

    def faults(method: str, path: str):
        if method == "PATCH":
            seen["patch"] += 1
            return {2: "drop", 4: 503}.get(seen["patch"])
        return None

    proxy = FaultyProxy(registry.url, faults)
    layout, info = layout_with(tmp_path, "chunky", base_size=300 * 1024)
    repo = f"shop/chunked-{uuid.uuid4().hex[:6]}"
    with proxy.running():
        client = RegistryClient(proxy.host, backoff=0.01, chunk_size=64 * 1024)
        result = copy_image(LayoutSource(layout), "app", client, repo, ["t1"])
    assert result.digest == info["digest"]
    assert seen["patch"] >= 7  # 5 chunks of the base layer + the retried ones
    statuses = [path for method, path, _ in proxy.log if method == "GET" and "/blobs/uploads/" in path]
    assert len(statuses) == 2  # asked the registry twice where to resume
    base = info["layers"][0]["digest"]
    blob = requests.get(f"{registry.url}/v2/{repo}/blobs/{base}", timeout=5).content
    assert "sha256:" + hashlib.sha256(blob).hexdigest() == base


def test_copy_between_two_registries(registry, registry_tokyo, tmp_path: Path) -> None:
    """Blobs streamed from one registry into another (the source stream has no length requests can see)."""
    from tests.support.oci import image_layout
    seoul, tokyo = RegistryClient(registry.host, timeout=20), RegistryClient(registry_tokyo.host, timeout=20)
    repo = f"shop/copy-{uuid.uuid4().hex[:8]}"
    layout, digest = image_layout(tmp_path / "layout", repo, platforms=("amd64", "arm64"))
    copy_image(LayoutSource(layout), "app", seoul, repo, ["v1"])
    result = copy_image(RegistrySource(seoul, repo), digest, tokyo, repo, ["v1"])
    assert result.digest == digest and result.stats.blobs_uploaded == 4
    assert tokyo.head_manifest(repo, "v1").digest == digest

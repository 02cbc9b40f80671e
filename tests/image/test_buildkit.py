"""``gantry image build --builder buildkit`` → OCI archive → ``gantry image push --oci-archive``.

BuildKit cannot run here, so a stand-in ``buildctl`` on PATH records its arguments and writes a
real OCI archive (made by skopeo from an image podman built and pushed to the local registry).
The push then goes to the real registry; the digest must match the archive's manifest.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tarfile
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parents[2]
STANDIN = """#!/bin/sh
# stand-in for buildctl: record argv, then copy the prepared image into the requested OCI archive
printf '%s\\n' "$@" > "$BUILDCTL_ARGS"
for a in "$@"; do case "$a" in type=oci,dest=*) out=${a#type=oci,dest=}; out=${out%%,name=*};; esac; done
exec skopeo copy --quiet --src-tls-verify=false "docker://$BUILDCTL_SOURCE" "oci-archive:$out:$BUILDCTL_TAG"
"""


def run(*args: str, env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "pipeline_lib.cli", *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=300)


def test_buildkit_archive_is_pushed_by_digest(podman, registry, tmp_path: Path) -> None:
    (tmp_path / "ctx").mkdir()
    (tmp_path / "ctx" / "hello.txt").write_text("buildkit\n")
    (tmp_path / "ctx" / "Dockerfile").write_text("FROM scratch\nCOPY hello.txt /\n")
    client = podman.client()
    try:
        client.images.build(path=str(tmp_path / "ctx"), tag=f"{registry.host}/prep/bk:src", rm=True)
        assert not [e for e in client.images.push(f"{registry.host}/prep/bk", tag="src", stream=True,
                                                  decode=True) if "error" in e]
    finally:
        client.close()
    bindir = tmp_path / "bin"
    bindir.mkdir()
    (bindir / "buildctl").write_text(STANDIN)
    (bindir / "buildctl").chmod(0o755)
    tag = "0123456789ab"
    env = dict(os.environ, PATH=f"{bindir}:{os.environ['PATH']}", BUILDCTL_ARGS=str(tmp_path / "argv"),
               BUILDCTL_SOURCE=f"{registry.host}/prep/bk:src", BUILDCTL_TAG=tag)
    archive = tmp_path / "out" / "image.oci.tar"
    proc = run("image", "build", "--builder", "buildkit", "--catalog", str(ROOT / "jobs" / "catalog.yaml"),
               "--service", "storefront", "--source", str(tmp_path / "ctx"), "--registry", registry.host,
               "--tag", tag, "--output-oci", str(archive), env=env, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    argv = (tmp_path / "argv").read_text().splitlines()
    assert argv[:3] == ["build", "--frontend", "dockerfile.v0"]
    assert f"context={tmp_path / 'ctx'}" in argv and "filename=Dockerfile" in argv
    assert f"type=oci,dest={archive}.partial,name={registry.host}/shop/storefront:{tag}" in argv
    assert archive.is_file() and not archive.with_name(archive.name + ".partial").exists()
    with tarfile.open(archive) as tar:
        index = json.load(tar.extractfile("index.json"))
    manifest_digest = index["manifests"][0]["digest"]

    proc = run("image", "push", "--catalog", str(ROOT / "jobs" / "catalog.yaml"), "--service", "storefront",
               "--registry", registry.host, "--tag", tag, "--oci-archive", str(archive), env=env, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip().splitlines()[-1] == f"digest {manifest_digest}"
    head = requests.head(f"{registry.url}/v2/shop/storefront/manifests/{tag}", timeout=5, headers={
        "Accept": "application/vnd.oci.image.manifest.v1+json, application/vnd.docker.distribution.manifest.v2+json"})
    assert head.headers["Docker-Content-Digest"] == manifest_digest


def test_buildkit_missing_or_failing_is_one_line(tmp_path: Path) -> None:
    (tmp_path / "Dockerfile").write_text("FROM scratch\n")
    env = dict(os.environ, PATH=str(tmp_path / "nobin"))
    base = ("image", "build", "--builder", "buildkit", "--catalog", str(ROOT / "jobs" / "catalog.yaml"),
            "--service", "storefront", "--source", str(tmp_path), "--tag", "abc", "--output-oci",
            str(tmp_path / "i.tar"))
    proc = subprocess.run([sys.executable, "-m", "pipeline_lib.cli", *base], env=env, capture_output=True,
                          text=True, timeout=60, cwd=tmp_path)
    assert proc.returncode == 2
    assert proc.stderr.strip() == ("gantry: build: BuildKit not found: put buildctl-daemonless.sh or buildctl "
                                   "on PATH (the Jenkins pod's buildkit container has them)")
    bindir = tmp_path / "bin"
    bindir.mkdir()
    (bindir / "buildctl").write_text("#!/bin/sh\necho 'error: failed to solve: no such file' >&2\nexit 1\n")
    (bindir / "buildctl").chmod(0o755)
    env["PATH"] = f"{bindir}:/usr/bin:/bin"
    proc = subprocess.run([sys.executable, "-m", "pipeline_lib.cli", *base], env=env, capture_output=True,
                          text=True, timeout=60, cwd=tmp_path)
    assert proc.returncode == 2
    assert proc.stderr.strip() == "gantry: build: BuildKit failed (exit 1): error: failed to solve: no such file"
    assert not (tmp_path / "i.tar").exists()

"""``gantry dr failover|failback`` against two real registries (Seoul, Tokyo) and a real GitOps repo.

Three services are pushed to "Seoul" (one as a two-platform image index) and copied to "Tokyo";
Seoul is then stopped. The failover is refused (exit 1, nothing written) while one digest is
missing in Tokyo, then goes through in one commit once it is there: every rendered overlay pulls
from Tokyo by the same digest and every blob it references is fetchable from Tokyo. While failed
over, bump pins to Tokyo, pins --tfvars names Tokyo and verify-replication runs Tokyo -> Seoul.
Failback is refused while Seoul lacks a digest pushed during the failover (the message gives
the re-push command, which is run), then goes through once Seoul has it.
"""

from __future__ import annotations

import hashlib
import json
import shlex
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from gitops.bump import bump
from gitops.layout import init_repo
from pipeline_lib.core.catalog import Catalog, load_catalog
from pipeline_lib.image.copy import LayoutSource, copy_image
from pipeline_lib.image.registry import RegistryClient
from pipeline_lib.localparts.registry import LocalRegistry
from tests.gitops.conftest import clone, gantry
from tests.support.oci import image_layout

pytestmark = pytest.mark.integration

SERVICES = ("storefront", "order-api", "product-api")
PLATFORMS = {"order-api": ("amd64", "arm64")}  # one image index: its child manifests are checked too


def write_catalog(path: Path) -> Path:
    lines = ["version: 1", "defaults:", '  aws_account_id: "123456789012"', "  registry_region: ap-northeast-2",
             "  replica_regions: [ap-northeast-1]", "  gitops_repo: https://github.com/example/gitops.git",
             "environments:", "  prod:", "    platform: eks", "    aws_region: ap-northeast-2",
             "    domain: shop.example.com", "    namespace: shop",
             "signing:", "  prod: {evidence: \"off\"}",   # not about evidence: an explicit opt-out
             "services:"]
    for name in SERVICES:
        lines += [f"  - name: {name}", f"    repo: example/{name}", f"    ecr_repository: shop/{name}",
                  f"    manifest_path: apps/{name}", "    environments:", "      prod: {}"]
    path.write_text("\n".join(lines) + "\n")
    return path


@pytest.fixture()
def regions(tmp_path: Path) -> Iterator[tuple[LocalRegistry, LocalRegistry]]:
    """Seoul and Tokyo registries owned by this test (it stops and restarts Seoul)."""
    with LocalRegistry(tmp_path / "seoul", name="dr-seoul") as seoul, \
            LocalRegistry(tmp_path / "tokyo", name="dr-tokyo") as tokyo:
        yield seoul, tokyo


def render(checkout: Path, service: str) -> list[dict]:
    proc = subprocess.run(["kubectl", "kustomize", str(checkout / "apps" / service / "overlays" / "prod")],
                          capture_output=True, text=True, check=True, timeout=60)
    return [d for d in yaml.safe_load_all(proc.stdout) if d]


def rendered_images(bare: Path, dest: Path) -> dict[str, str]:
    wd = clone(bare, dest)
    out = {}
    for name in SERVICES:
        deployments = [d for d in render(wd, name) if d["kind"] == "Deployment"]
        images = {c["image"] for d in deployments for c in d["spec"]["template"]["spec"]["containers"]}
        assert len(images) == 1, images
        out[name] = images.pop()
    return out


def fetch_everything(client: RegistryClient, repository: str, digest: str) -> int:
    """GET the manifest, its children and every blob from ``client``; check each hashes right."""
    body, _ = client.get_manifest(repository, digest)
    doc = json.loads(body)
    count = 0
    for child in doc.get("manifests", []):
        count += fetch_everything(client, repository, child["digest"])
    for ref in [doc["config"]] + doc["layers"] if "config" in doc else []:
        data = client.get_blob(repository, ref["digest"]).content
        assert "sha256:" + hashlib.sha256(data).hexdigest() == ref["digest"]
        count += 1
    return count


def skopeo(policy: Path, command: str) -> None:
    """Run a ``skopeo copy …`` command line against the local (plain HTTP) registries."""
    argv = shlex.split(command)
    assert argv[:2] == ["skopeo", "copy"], argv
    subprocess.run([argv[0], "--policy", str(policy), argv[1], "--src-tls-verify=false", "--dest-tls-verify=false",
                    *argv[2:]], check=True, capture_output=True, timeout=60)


def head(bare: Path) -> str:
    return subprocess.run(["git", "rev-parse", "main"], cwd=bare, capture_output=True, text=True,
                          check=True).stdout.strip()


@pytest.mark.slow   # stops and restarts a registry, waits for both directions (~35 s)
def test_failover_then_failback(regions, tmp_path: Path) -> None:
    seoul, tokyo = regions
    catalog_path = write_catalog(tmp_path / "catalog.yaml")
    catalog: Catalog = load_catalog(catalog_path)
    seoul_c, tokyo_c = RegistryClient(seoul.host), RegistryClient(tokyo.host)
    layouts, digests = {}, {}
    for name in SERVICES:
        layouts[name], digests[name] = image_layout(tmp_path / "oci" / name, f"{name} v1",
                                                    platforms=PLATFORMS.get(name, ()))
        copy_image(LayoutSource(layouts[name]), "app", seoul_c, f"shop/{name}", ["v1"])
    policy = tmp_path / "policy.json"
    policy.write_text('{"default": [{"type": "insecureAcceptAnything"}]}')
    for name in SERVICES[:2]:  # "replication" of two of the three
        skopeo(policy, f"skopeo copy --all --preserve-digests docker://{seoul.host}/shop/{name}@{digests[name]} "
                       f"docker://{tokyo.host}/shop/{name}:v1")

    bare = tmp_path / "gitops.git"
    assert init_repo(bare, catalog, list(catalog.services), "prod", seoul.host)
    for name in SERVICES:
        bump(bare.as_uri(), catalog=catalog, service=name, environment="prod", image=f"{seoul.host}/shop/{name}",
             digest=digests[name], tag="v1")
    regs = ["--registry-for", f"ap-northeast-2={seoul.host}", "--registry-for", f"ap-northeast-1={tokyo.host}"]
    common = ["--catalog", str(catalog_path), "--repo", bare.as_uri(), "--env", "prod", *regs]
    seoul.stop()  # ECR Seoul is down

    before = head(bare)
    proc = gantry("dr", "failover", *common, "--to", "ap-northeast-1")
    assert proc.returncode == 1, proc.stderr
    error = proc.stderr.strip().splitlines()[-1]
    assert error.startswith("gantry: dr failover: prod: 1 of 3 service(s) not usable in ap-northeast-1")
    assert f"product-api (shop/product-api@{digests['product-api']}: manifest" in error
    assert error.endswith("nothing written")
    assert head(bare) == before

    proc = gantry("dr", "failover", *common, "--to", "ap-northeast-1", "--dry-run", "--format", "json")
    assert proc.returncode == 1
    report = json.loads(proc.stdout)
    assert report["ok"] is False and report["commit"] is None
    assert {i["repository"]: i["present"] for i in report["images"]} == {
        "shop/storefront": True, "shop/order-api": True, "shop/product-api": False}

    copy_image(LayoutSource(layouts["product-api"]), "app", tokyo_c, "shop/product-api", ["v1"])  # now replicated
    proc = gantry("dr", "failover", *common, "--to", "ap-northeast-1", "--dry-run")
    assert proc.returncode == 0, proc.stderr
    assert "dry run, nothing written" in proc.stdout and head(bare) == before
    assert proc.stdout.count(f"-> {tokyo.host}/shop/") == 3

    proc = gantry("dr", "failover", *common, "--to", "ap-northeast-1", "--format", "json")
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout)
    assert result["ok"] and result["commit"] == head(bare)
    assert subprocess.run(["git", "rev-list", "--count", f"{before}..main"], cwd=bare, capture_output=True,
                          text=True, check=True).stdout.strip() == "1"
    changed = subprocess.run(["git", "show", "--name-only", "--format=", "main"], cwd=bare, capture_output=True,
                             text=True, check=True).stdout.split()
    assert sorted(changed) == sorted([f"apps/{n}/overlays/prod/kustomization.yaml" for n in SERVICES]
                                     + [".gantry/dr/prod.yaml"])
    again = gantry("dr", "failover", *common, "--to", "ap-northeast-1")
    assert again.returncode == 0 and "already pulls every service" in again.stdout and head(bare) == result["commit"]
    images = rendered_images(bare, tmp_path / "after-failover")
    assert images == {n: f"{tokyo.host}/shop/{n}:v1@{digests[n]}" for n in SERVICES}
    assert sum(fetch_everything(tokyo_c, f"shop/{n}", digests[n]) for n in SERVICES) == 2 * 3 + 2  # 4 images' blobs
    check = gantry("gitops", "check", "--repo", str(bare), "--env", "prod", "--format", "json")
    assert check.returncode == 0, check.stdout + check.stderr  # schemas (Kubernetes API, CRDs), HPA, zone spread
    checked = json.loads(check.stdout)
    assert checked["problems"] == [] and checked["kustomizations"] >= len(SERVICES) and checked["objects"] > 0

    proc = gantry("dr", "status", "--catalog", str(catalog_path), "--repo", bare.as_uri(), "--env", "prod",
                  "--format", "json")
    assert json.loads(proc.stdout)["active_registry"] == tokyo.host and json.loads(proc.stdout)["failed_over"]

    # while failed over: a build pushes to Tokyo, bump pins Tokyo even when told Seoul, pins name Tokyo
    v2_layout, v2 = image_layout(tmp_path / "oci" / "storefront-v2", "storefront v2")
    proc = gantry("image", "push", "--catalog", str(catalog_path), "--service", "storefront", "--env", "prod",
                  "--tag", "v2", "--oci-layout", str(v2_layout), "--ref", "app", "--repo", bare.as_uri())
    assert proc.returncode == 0, proc.stderr
    assert f"pushing to {tokyo.host}" in proc.stderr and f"digest {v2}" in proc.stdout
    assert tokyo_c.head_manifest("shop/storefront", "v2").digest == v2
    proc = gantry("gitops", "bump", "--catalog", str(catalog_path), "--repo", bare.as_uri(), "--env", "prod",
                  "--service", "storefront", "--digest", v2, "--tag", "v2", "--image", f"{seoul.host}/shop/storefront",
                  "--json")
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["image"] == f"{tokyo.host}/shop/storefront"
    assert "prod is failed over to ap-northeast-1" in proc.stderr
    tfvars = tmp_path / "images.auto.tfvars.json"
    proc = gantry("gitops", "pins", "--catalog", str(catalog_path), "--repo", bare.as_uri(), "--env", "prod",
                  "--tfvars", str(tfvars))
    assert proc.returncode == 0, proc.stderr
    assert json.loads(tfvars.read_text()) == {"image_registry": tokyo.host,
                                              "image_digests": {**digests, "storefront": v2}}

    seoul.start()  # Seoul is back, without v2 (replication runs Seoul -> Tokyo only)
    tip = head(bare)
    proc = gantry("dr", "failback", *common)
    assert proc.returncode == 1
    error = proc.stderr.strip().splitlines()[-1]
    assert "1 of 3 service(s) not usable in ap-northeast-2" in error and "storefront" in error
    command = error.split("re-push it: ", 1)[1].split(";", 1)[0]
    assert command.startswith("skopeo copy --all --preserve-digests docker://")
    assert head(bare) == tip  # nothing written by the refused failback
    skopeo(policy, command)

    proc = gantry("image", "verify-replication", "--catalog", str(catalog_path), "--service", "storefront",
                  "--env", "prod", "--digest", v2, "--repo", bare.as_uri(), "--no-status-api", "--timeout", "10",
                  *regs)
    assert proc.returncode == 0, proc.stderr
    assert "checking ap-northeast-1 -> ap-northeast-2" in proc.stdout

    proc = gantry("dr", "failback", *common)
    assert proc.returncode == 0, proc.stderr
    assert subprocess.run(["git", "rev-list", "--count", f"{tip}..main"], cwd=bare, capture_output=True,
                          text=True, check=True).stdout.strip() == "1"
    images = rendered_images(bare, tmp_path / "after-failback")
    expected = {**{n: f"{seoul.host}/shop/{n}:v1@{digests[n]}" for n in SERVICES},
                "storefront": f"{seoul.host}/shop/storefront:v2@{v2}"}
    assert images == expected
    state = yaml.safe_load((tmp_path / "after-failback" / ".gantry" / "dr" / "prod.yaml").read_text())
    assert state["active_registry"] == state["primary_registry"] == seoul.host


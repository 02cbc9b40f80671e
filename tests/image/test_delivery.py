"""Push -> verify-replication -> bump, end to end on two real registries, podman and moto."""

from __future__ import annotations

import threading
import time
import uuid
from pathlib import Path

import pytest

from gitops.layout import init_repo
from pipeline_lib.core.catalog import load_catalog
from pipeline_lib.cli import main
from tests.conftest import git
from tests.image.conftest import make_context
from tests.image.helpers import skopeo_copy

pytestmark = pytest.mark.integration
PROJECT_ROOT = Path(__file__).resolve().parents[2]
CATALOG = str(PROJECT_ROOT / "jobs" / "catalog.yaml")


def test_push_verify_bump_end_to_end(podman, registry, registry_tokyo, aws_env, tmp_path: Path,
                                     monkeypatch, capsys) -> None:
    monkeypatch.setenv("DOCKER_HOST", podman.base_url)
    source = tmp_path / "src"
    make_context(source, f"storefront {uuid.uuid4()}")
    sha = uuid.uuid4().hex[:12]
    common = ["--catalog", CATALOG, "--service", "storefront", "--env", "dev", "--registry", registry.host]
    assert main(["image", "build", *common, "--source", str(source), "--tag", sha]) == 0
    record = tmp_path / "image.json"
    assert main(["image", "push", *common, "--tag", sha, "--tag", "v1.2.3", "--output", str(record)]) == 0
    out = capsys.readouterr().out
    import json
    pushed = json.loads(record.read_text())
    digest = pushed["digest"]
    assert f"digest {digest}" in out and pushed["tags"] == [sha, "v1.2.3"]

    # "ECR replication": a thread copies the image to Tokyo after a delay
    def replicate() -> None:
        time.sleep(1.5)
        skopeo_copy(f"docker://{registry.host}/shop/storefront@{digest}",
                    f"docker://{registry_tokyo.host}/shop/storefront:{sha}")
    thread = threading.Thread(target=replicate)
    thread.start()
    try:
        code = main(["image", "verify-replication", *common, "--digest", digest, "--timeout", "60",
                     "--interval", "0.3", "--registry-for", f"ap-northeast-1={registry_tokyo.host}"])
    finally:
        thread.join()
    out = capsys.readouterr().out
    assert code == 0, out
    assert "waiting for ap-northeast-1" in out and "ap-northeast-1: shop/storefront@" in out

    catalog = load_catalog(CATALOG)
    bare = tmp_path / "gitops.git"
    init_repo(bare, catalog, [catalog.service("storefront")], "dev", registry.host)
    assert main(["gitops", "bump", "--catalog", CATALOG, "--repo", bare.as_uri(), "--env", "dev",
                 "--service", "storefront", "--digest", digest, "--tag", sha,
                 "--image", f"{registry.host}/shop/storefront", "--build-url", "https://ci/9"]) == 0
    assert digest in git(bare, "log", "-1", "--format=%B", "main")


def test_verify_replication_times_out_cleanly(registry, registry_tokyo, aws_env, tmp_path: Path, capsys) -> None:
    from tests.image.test_oci import layout_with
    layout, _ = layout_with(tmp_path, "never replicated")
    from pipeline_lib.image.copy import LayoutSource, copy_image
    from pipeline_lib.image.registry import RegistryClient
    result = copy_image(LayoutSource(layout), "app", RegistryClient(registry.host), "shop/order-api",
                        [uuid.uuid4().hex[:10]])
    t0 = time.monotonic()
    code = main(["image", "verify-replication", "--catalog", CATALOG, "--service", "order-api",
                 "--registry", registry.host, "--digest", result.digest, "--timeout", "1.5", "--interval", "0.2",
                 "--registry-for", f"ap-northeast-1={registry_tokyo.host}"])
    captured = capsys.readouterr()
    assert code == 1
    assert time.monotonic() - t0 < 10
    err = captured.err.strip().splitlines()
    assert len(err) == 1 and "timed out after 2s" in err[0]
    assert f"missing in ap-northeast-1 ({registry_tokyo.host})" in err[0]


def test_verify_replication_bad_input(capsys) -> None:
    with pytest.raises(SystemExit) as info:
        main(["image", "verify-replication", "--catalog", CATALOG, "--service", "storefront", "--digest", "sha256:1"])
    assert info.value.code == 2
    assert "invalid digest" in capsys.readouterr().err
    assert main(["image", "verify-replication", "--catalog", CATALOG, "--service", "nope",
                 "--digest", "sha256:" + "a" * 64]) == 2
    assert "unknown service 'nope'" in capsys.readouterr().err

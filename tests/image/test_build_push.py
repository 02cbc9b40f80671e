"""Build and push through podman's Docker API to a real docker-registry."""

from __future__ import annotations

import hashlib
import uuid
from pathlib import Path

import pytest
import requests

from pipeline_lib.core.errors import GantryError
from pipeline_lib.image.build import build_image
from pipeline_lib.image.push import push_image
from pipeline_lib.core.reference import MANIFEST_ACCEPT

pytestmark = pytest.mark.integration


def test_build_push_digest_matches_registry(podman, registry, context: Path) -> None:
    client = podman.client()
    repo = f"{registry.host}/shop/storefront"
    tag = uuid.uuid4().hex[:12]
    built = build_image(client, context, "Dockerfile", [f"{repo}:{tag}"], labels={"a": "b"})
    assert built.id.startswith("sha256:") and built.tags == [f"{repo}:{tag}"]
    result = push_image(client, repo, tag)
    assert result.reference == f"{repo}:{tag}"
    body = requests.get(f"{registry.url}/v2/shop/storefront/manifests/{tag}",
                        headers={"Accept": MANIFEST_ACCEPT}, timeout=10).content
    assert result.digest == "sha256:" + hashlib.sha256(body).hexdigest()
    # same image again: no-op with the same digest
    again = push_image(client, repo, tag)
    assert again.digest == result.digest and again.skipped


def test_immutable_tag_with_other_image_is_error(podman, registry, tmp_path: Path) -> None:
    from tests.image.conftest import make_context
    client = podman.client()
    repo = f"{registry.host}/shop/immutable"
    tag = uuid.uuid4().hex[:12]
    build_image(client, make_context(tmp_path / "a", "one"), "Dockerfile", [f"{repo}:{tag}"])
    push_image(client, repo, tag)
    build_image(client, make_context(tmp_path / "b", "two"), "Dockerfile", [f"{repo}:{tag}"])
    with pytest.raises(GantryError, match="already exists"):
        push_image(client, repo, tag)


def test_build_error_is_one_line(podman, registry, tmp_path: Path) -> None:
    ctx = tmp_path / "bad"
    ctx.mkdir()
    (ctx / "Dockerfile").write_text("FROM scratch\nCOPY missing.txt /x\n")
    with pytest.raises(GantryError) as info:
        build_image(podman.client(), ctx, "Dockerfile", [f"{registry.host}/shop/bad:t1"])
    assert info.value.where == "build" and "missing.txt" in info.value.what


def test_missing_dockerfile(podman, registry, tmp_path: Path) -> None:
    with pytest.raises(GantryError, match="not found"):
        build_image(podman.client(), tmp_path, "Dockerfile", [f"{registry.host}/shop/x:t"])


def test_default_tags_from_jenkins_environment() -> None:
    from pipeline_lib.commands.image import default_tags
    sha = "0123456789abcdef0123456789abcdef01234567"
    assert default_tags({"GIT_COMMIT": sha}) == ["0123456789ab"]
    assert default_tags({"GIT_COMMIT": sha, "TAG_NAME": "v1.4.0"}) == ["0123456789ab", "v1.4.0"]
    assert default_tags({"GIT_COMMIT": sha, "TAG_NAME": "nightly"}) == ["0123456789ab"]
    assert default_tags({}) == []


def test_push_to_unreachable_registry_is_one_line_error(podman, tmp_path: Path) -> None:
    from tests.image.conftest import make_context
    from pipeline_lib.core.process import free_port
    repo = f"127.0.0.1:{free_port()}/shop/down"
    build_image(podman.client(), make_context(tmp_path / "c", "down"), "Dockerfile", [f"{repo}:t1"])
    with pytest.raises(GantryError) as info:
        push_image(podman.client(), repo, "t1")
    assert "failed after 5 attempts" in info.value.what and "Connection" in info.value.what
    assert "\n" not in str(info.value)

"""verify-replication with DescribeImageReplicationStatus answered (moto lacks it): a local HTTP
server replays the ECR JSON API shape (X-Amz-Target AmazonEC2ContainerRegistry_V20150921.*)."""

from __future__ import annotations

import io
import json
import uuid
from pathlib import Path

import boto3
import pytest
from werkzeug import Response

from pipeline_lib.core.errors import GantryError
from pipeline_lib.image.copy import LayoutSource, copy_image
from pipeline_lib.image.registry import RegistryClient
from pipeline_lib.image.replication import Destination, verify_replication
from tests.image.test_oci import layout_with

pytestmark = pytest.mark.integration
TARGET = "AmazonEC2ContainerRegistry_V20150921.DescribeImageReplicationStatus"


def _ecr(httpserver, statuses: list[list[dict]], monkeypatch):
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    answers = iter(statuses)
    seen = []

    def handler(request):
        assert request.headers["X-Amz-Target"] == TARGET
        body = json.loads(request.data)
        seen.append(body)
        try:
            current = next(answers)
        except StopIteration:
            current = statuses[-1]
        return Response(json.dumps({"repositoryName": body["repositoryName"], "imageId": body["imageId"],
                                    "replicationStatuses": current}),
                        content_type="application/x-amz-json-1.1")
    httpserver.expect_request("/", method="POST").respond_with_handler(handler)
    client = boto3.session.Session().client("ecr", region_name="ap-northeast-2",
                                            endpoint_url=httpserver.url_for("/"))
    return client, seen


def _pushed(registry, tmp_path: Path) -> str:
    layout, _ = layout_with(tmp_path, f"status {uuid.uuid4()}")
    return copy_image(LayoutSource(layout), "app", RegistryClient(registry.host), "shop/storefront",
                      [uuid.uuid4().hex[:10]]).digest


def test_failed_status_fails_at_once_naming_the_region(registry, registry_tokyo, httpserver, monkeypatch,
                                                       tmp_path: Path) -> None:
    digest = _pushed(registry, tmp_path)
    ecr, seen = _ecr(httpserver, [[{"region": "ap-northeast-1", "registryId": "123456789012",
                                    "status": "FAILED", "failureCode": "KMS_KEY_ACCESS_DENIED"}]], monkeypatch)
    with pytest.raises(GantryError) as info:
        verify_replication("shop/storefront", digest, [Destination("ap-northeast-1", RegistryClient(registry_tokyo.host))],
                           source=RegistryClient(registry.host), ecr=ecr, registry_id="123456789012",
                           timeout=30, interval=0.05, out=io.StringIO())
    assert info.value.exit_code == 1
    assert "ap-northeast-1 FAILED: KMS_KEY_ACCESS_DENIED" in info.value.what
    assert seen[0]["imageId"] == {"imageDigest": digest} and seen[0]["registryId"] == "123456789012"


def test_complete_status_still_needs_the_manifest(registry, registry_tokyo, httpserver, monkeypatch,
                                                  tmp_path: Path) -> None:
    """The status API says COMPLETE, but only a HEAD by digest on the destination is proof."""
    digest = _pushed(registry, tmp_path)
    ecr, _ = _ecr(httpserver, [[{"region": "ap-northeast-1", "registryId": "123456789012", "status": "IN_PROGRESS"}],
                               [{"region": "ap-northeast-1", "registryId": "123456789012", "status": "COMPLETE"}]],
                  monkeypatch)
    out = io.StringIO()
    with pytest.raises(GantryError, match="missing in ap-northeast-1"):
        verify_replication("shop/storefront", digest, [Destination("ap-northeast-1", RegistryClient(registry_tokyo.host))],
                           source=RegistryClient(registry.host), ecr=ecr, timeout=0.6, interval=0.05, out=out)
    assert "not available" not in out.getvalue()

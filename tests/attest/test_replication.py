"""``verify-replication`` counts a region only once the image *and* every referrer (its signed
evidence) are there; the local replication stand-in copies referrers like ECR's replication."""

from __future__ import annotations

import io
import uuid
from pathlib import Path

import pytest

from pipeline_lib.attest.store import push_bundles
from pipeline_lib.core.errors import CheckFailed
from pipeline_lib.image.copy import RegistrySource, copy_image
from pipeline_lib.image.referrers import copy_referrers
from pipeline_lib.image.registry import RegistryClient
from pipeline_lib.image.replication import Destination, verify_replication

from .helpers import signed
from .registry_helpers import push_image

pytestmark = pytest.mark.integration


def test_a_region_without_the_referrers_is_not_replicated(registry, registry_tokyo, keyset, tmp_path: Path) -> None:
    seoul, tokyo = RegistryClient(registry.host), RegistryClient(registry_tokyo.host)
    repo, digest = push_image(seoul, tmp_path, repository=f"r{uuid.uuid4().hex[:8]}/storefront")
    good = signed(keyset.prod, digest=digest)
    push_bundles(seoul, repo, digest, good)
    copy_image(RegistrySource(seoul, repo), digest, tokyo, repo, ["v1"])
    push_bundles(tokyo, repo, digest, {"provenance": good["provenance"]})      # 1 of 3
    out = io.StringIO()
    with pytest.raises(CheckFailed) as err:
        verify_replication(repo, digest, [Destination("ap-northeast-1", tokyo)], source=seoul, timeout=0.5,
                           interval=0.1, out=out)
    assert "2 of 3 referrers missing" in err.value.what and registry_tokyo.host in err.value.what
    assert "not there yet" in out.getvalue()
    copy_referrers(seoul, tokyo, repo, digest)
    report = verify_replication(repo, digest, [Destination("ap-northeast-1", tokyo)], source=seoul, timeout=5,
                                interval=0.1, out=io.StringIO())
    assert report.referrers == 3 and "ap-northeast-1" in report.present


def test_local_replication_stand_in_copies_the_referrers(registry, registry_tokyo, keyset, tmp_path: Path) -> None:
    from pipeline_lib.localparts.stack import LocalStack
    seoul, tokyo = RegistryClient(registry.host), RegistryClient(registry_tokyo.host)
    repo, digest = push_image(seoul, tmp_path, repository=f"l{uuid.uuid4().hex[:8]}/storefront")
    push_bundles(seoul, repo, digest, signed(keyset.prod, digest=digest))
    stack = LocalStack(tmp_path, primary=registry.host, replica=registry_tokyo.host)   # not entered: no parts started
    stack.replicate(repo, digest, ["v1"])
    report = verify_replication(repo, digest, [Destination("ap-northeast-1", tokyo)], source=seoul, timeout=5,
                                interval=0.1, out=io.StringIO())
    assert report.referrers == 3

"""ECR registry credentials from GetAuthorizationToken (moto), cached and refreshed before expiry."""

from __future__ import annotations

import pytest

from pipeline_lib.ecr.auth import EcrTokenProvider, credentials_for, ecr_host_region
from pipeline_lib.image.registry import registry_for

pytestmark = pytest.mark.integration


def test_token_is_cached_then_refreshed_before_expiry(aws_env) -> None:
    import time
    provider = EcrTokenProvider("ap-northeast-2", "123456789012")
    user, password = provider()
    assert user == "AWS" and password
    # moto answers expiresAt = 2015-01-01: an expired token is never reused
    provider()
    assert provider.fetches == 2
    provider._expires = time.time() + 12 * 3600  # as real ECR: valid for 12 hours -> cached
    provider()
    assert provider.fetches == 2
    provider._expires = time.time() + 60  # within the refresh margin -> fetched again
    provider()
    assert provider.fetches == 3


def test_ecr_hosts_get_credentials_others_not(aws_env) -> None:
    host = "123456789012.dkr.ecr.ap-northeast-1.amazonaws.com"
    assert ecr_host_region(host) == ("123456789012", "ap-northeast-1")
    assert ecr_host_region("127.0.0.1:5000") is None
    assert credentials_for("127.0.0.1:5000") is None
    reg = registry_for(host)
    assert reg.scheme == "https" and reg.credentials is not None
    assert reg._auth_headers()["Authorization"].startswith("Basic ")
    assert registry_for("127.0.0.1:5000").scheme == "http"

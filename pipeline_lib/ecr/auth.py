"""ECR registry credentials from ``GetAuthorizationToken``, cached and refreshed before expiry.

The token is valid for 12 hours; a cached token is reused until ``refresh_margin`` before its
``expiresAt`` and then fetched again, so long pushes and polls never run on an expired token.
"""

from __future__ import annotations

import base64
import re
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime

from pipeline_lib.core.answer import require
from pipeline_lib.core.errors import GantryError

ECR_HOST_RE = re.compile(r"^(?P<account>\d{12})\.dkr\.ecr(?:-fips)?\.(?P<region>[a-z0-9-]+)\.amazonaws\.com(?:\.cn)?$")


def ecr_host_region(host: str) -> tuple[str, str] | None:
    """``(account, region)`` when ``host`` is an ECR registry host, else None."""
    m = ECR_HOST_RE.match(host)
    return (m["account"], m["region"]) if m else None


def ecr_client(region: str):
    """boto3 ECR client; endpoints and credentials come from the standard boto3 settings."""
    import boto3
    import botocore.exceptions
    try:
        return boto3.session.Session().client("ecr", region_name=region)
    except botocore.exceptions.BotoCoreError as exc:
        raise GantryError(f"ecr {region}", str(exc)) from None


@dataclass
class EcrTokenProvider:
    """Callable returning ``(user, password)`` for one registry, refreshing the token as needed."""

    region: str
    registry_id: str | None = None
    refresh_margin: float = 15 * 60
    _token: tuple[str, str] | None = field(default=None, repr=False)
    _expires: float = 0.0
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)
    fetches: int = 0

    def __call__(self) -> tuple[str, str]:
        with self._lock:
            if self._token is None or time.time() >= self._expires - self.refresh_margin:
                self._token, self._expires = self._fetch()
                self.fetches += 1
            return self._token

    def _fetch(self) -> tuple[tuple[str, str], float]:
        import botocore.exceptions
        client = ecr_client(self.region)
        kwargs = {"registryIds": [self.registry_id]} if self.registry_id else {}
        try:
            answer = client.get_authorization_token(**kwargs)
        except (botocore.exceptions.BotoCoreError, botocore.exceptions.ClientError) as exc:
            raise GantryError(f"ecr {self.region}", f"GetAuthorizationToken failed: {exc}") from None
        where = f"ecr {self.region} GetAuthorizationToken"
        token = require(answer, "authorizationData", 0, "authorizationToken", kind=str, where=where)
        user, _, password = base64.b64decode(token).decode().partition(":")
        expires = answer["authorizationData"][0].get("expiresAt")
        ts = expires.timestamp() if isinstance(expires, datetime) else time.time() + 12 * 3600
        return (user, password), ts


_PROVIDERS: dict[str, EcrTokenProvider] = {}


def credentials_for(host: str) -> EcrTokenProvider | None:
    """A shared token provider for an ECR host, None for any other registry."""
    parsed = ecr_host_region(host)
    if parsed is None:
        return None
    account, region = parsed
    if host not in _PROVIDERS:
        _PROVIDERS[host] = EcrTokenProvider(region, account)
    return _PROVIDERS[host]

"""Slack incoming-webhook notifications (the URL is a secret: never logged)."""

from __future__ import annotations

import json
import urllib.parse

import requests

from pipeline_lib.core.errors import GantryError, Unavailable, error_for_status
from pipeline_lib.core.http import session

DEFAULT_TIMEOUT = 10.0


def post_slack(webhook_url: str, text: str, timeout: float = DEFAULT_TIMEOUT) -> None:
    """POST ``{"text": text}`` to a Slack incoming webhook; a failure is a :class:`GantryError`
    whose message names the host only (the path of a webhook URL is its secret). Retries: the
    :mod:`pipeline_lib.core.http` policy (a POST is resent only after a 429 rate limit)."""
    parts = urllib.parse.urlsplit(webhook_url)
    if parts.scheme not in ("https", "http") or not parts.netloc:
        raise GantryError("slack", "webhook URL must be an http(s) URL")
    host = parts.netloc
    try:
        with session(timeout=timeout) as s:
            resp = s.post(webhook_url, data=json.dumps({"text": text}),
                          headers={"Content-Type": "application/json"})
    except requests.RequestException as exc:
        raise Unavailable("slack", f"cannot reach {host}: {type(exc).__name__}") from None
    if resp.status_code >= 300:
        raise error_for_status(resp.status_code, "slack", f"{host} answered HTTP {resp.status_code}: {resp.text[:200]}")

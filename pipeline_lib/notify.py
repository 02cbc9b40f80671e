"""Slack incoming-webhook notifications (the URL is a secret: never logged)."""

from __future__ import annotations

import json
import urllib.parse

import requests

from pipeline_lib.core.errors import GantryError

DEFAULT_TIMEOUT = 10.0


def post_slack(webhook_url: str, text: str, timeout: float = DEFAULT_TIMEOUT) -> None:
    """POST ``{"text": text}`` to a Slack incoming webhook; a failure is a :class:`GantryError`
    whose message names the host only (the path of a webhook URL is its secret)."""
    parts = urllib.parse.urlsplit(webhook_url)
    if parts.scheme not in ("https", "http") or not parts.netloc:
        raise GantryError("slack", "webhook URL must be an http(s) URL")
    host = parts.netloc
    try:
        resp = requests.post(webhook_url, data=json.dumps({"text": text}),
                             headers={"Content-Type": "application/json"}, timeout=timeout)
    except requests.RequestException as exc:
        raise GantryError("slack", f"cannot reach {host}: {type(exc).__name__}") from None
    if resp.status_code >= 300:
        raise GantryError("slack", f"{host} answered HTTP {resp.status_code}: {resp.text[:200]}")

"""Push a built image through the Docker API and read its digest back from the registry.

The digest is taken from the registry (``HEAD /v2/<name>/manifests/<tag>``), never from the
push stream (podman reports sizes that differ from the stored manifest). Tags are treated as
immutable: a tag that already points at another image is an error; at the same image, a no-op.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import docker
import requests

from pipeline_lib.core.answer import optional, parse as parse_answer
from pipeline_lib.core.errors import GantryError
from pipeline_lib.core.reference import check_tag, parse_repository
from pipeline_lib.core.retry import retrying
from .registry import RegistryClient, registry_for

TRANSIENT_MARKERS = ("connection reset", "broken pipe", "eof", "timeout", "timed out", "too many requests",
                     "connection refused", "temporarily", "service unavailable", "bad gateway")
_TRANSIENT_STATUS = re.compile(r"\b(?:5\d\d|429)\b")


class _StreamError(GantryError):
    """An error item in the engine's push stream; ``detail`` is the engine's message alone."""

    def __init__(self, reference: str, detail: str) -> None:
        super().__init__("push", f"{reference}: {detail}")
        self.detail = detail

    @property
    def transient(self) -> bool:
        low = self.detail.lower()
        return any(m in low for m in TRANSIENT_MARKERS) or bool(_TRANSIENT_STATUS.search(low))


@dataclass
class PushResult:
    reference: str
    repository: str
    tag: str
    digest: str
    skipped: bool = False


def _config_digest(reg: RegistryClient, repository: str, reference: str) -> str | None:
    body, _ = reg.get_manifest(repository, reference)
    where = f"registry {reg.host} GET /v2/{repository}/manifests/{reference}"
    return optional(parse_answer(body, where), "config", "digest", kind=str, where=where)


def _push_once(client: docker.DockerClient, repository: str, tag: str, auth: dict[str, str] | None) -> None:
    kwargs = {"auth_config": auth} if auth else {}
    for item in client.images.push(repository, tag=tag, stream=True, decode=True, **kwargs):
        if isinstance(item, dict) and (item.get("error") or item.get("errorDetail")):
            detail = item.get("error") or (item.get("errorDetail") or {}).get("message") or str(item)
            raise _StreamError(f"{repository}:{tag}", str(detail).strip())


def _push_transient(exc: BaseException) -> bool:
    """Worth another push: a transient stream error, an engine API error, a dropped connection."""
    if isinstance(exc, _StreamError):
        return exc.transient
    if isinstance(exc, docker.errors.APIError):
        return True
    return isinstance(exc, requests.RequestException) and not isinstance(exc, docker.errors.DockerException)


def push_image(client: docker.DockerClient, repository: str, tag: str, *, attempts: int = 3) -> PushResult:
    """Push ``repository:tag`` (``host/name``) and return the digest the registry stores."""
    name = parse_repository(repository, "push")
    check_tag(tag, "push")
    reg = registry_for(name.host)
    reference = f"{repository}:{tag}"
    try:
        local = client.images.get(reference)
    except docker.errors.ImageNotFound:
        raise GantryError("push", f"no local image {reference}; build it first") from None
    except docker.errors.DockerException as exc:
        raise GantryError("push", str(exc)) from None

    existing = reg.head_manifest(name.repository, tag)
    if existing is not None:
        config = _config_digest(reg, name.repository, tag)
        if config and config == local.id:
            return PushResult(reference, repository, tag, existing.digest, skipped=True)
        raise GantryError("push", f"tag {reference} already exists with digest {existing.digest} "
                                  f"for another image (tags are immutable); use a new tag")

    creds = reg.credentials() if reg.credentials else None
    auth = {"username": creds[0], "password": creds[1]} if creds else None
    try:
        for attempt in retrying((_StreamError, docker.errors.DockerException, requests.RequestException),
                                when=_push_transient, attempts=attempts, first=0.5, max_wait=8.0):
            with attempt:
                _push_once(client, repository, tag, auth)
    except _StreamError:
        raise
    except docker.errors.APIError as exc:
        raise GantryError("push", f"{reference}: {exc.explanation or exc}") from None
    except docker.errors.DockerException as exc:
        raise GantryError("push", f"{reference}: {exc}") from None
    except requests.RequestException as exc:  # the engine's API connection dropped
        raise GantryError("push", f"{reference}: {type(exc).__name__}: {str(exc)[:200]}") from None
    info = reg.head_manifest(name.repository, tag)
    if info is None:
        raise GantryError("push", f"{reference}: pushed, but the registry has no manifest for the tag")
    return PushResult(reference, repository, tag, info.digest)

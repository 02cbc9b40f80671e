"""Image references, digests and tags: parsing and validation with one-line errors."""

from __future__ import annotations

import re
from dataclasses import dataclass

from .errors import GantryError

DIGEST_RE = re.compile(r"^sha256:[a-f0-9]{64}$")
TAG_RE = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$")
_REPO_RE = re.compile(r"^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*(?:/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)*$")

MANIFEST_ACCEPT = ", ".join((
    "application/vnd.oci.image.manifest.v1+json",
    "application/vnd.docker.distribution.manifest.v2+json",
    "application/vnd.oci.image.index.v1+json",
    "application/vnd.docker.distribution.manifest.list.v2+json",
))


def check_digest(digest: str, where: str = "digest") -> str:
    if not isinstance(digest, str) or not DIGEST_RE.match(digest):
        raise GantryError(where, f"invalid digest {digest!r}: expected sha256: and 64 lower-case hex digits")
    return digest


def check_tag(tag: str, where: str = "tag") -> str:
    if not isinstance(tag, str) or not TAG_RE.match(tag):
        raise GantryError(where, f"invalid tag {tag!r}: letters, digits, '_', '.', '-', at most 128, "
                                 f"not starting with '.' or '-'")
    return tag


@dataclass(frozen=True)
class ImageName:
    """``host/repository`` split at the first component that looks like a registry host."""

    host: str
    repository: str

    def __str__(self) -> str:
        return f"{self.host}/{self.repository}"


def parse_repository(name: str, where: str = "image") -> ImageName:
    """Split ``127.0.0.1:5000/shop/storefront`` (no tag, no digest) into host and repository."""
    first, sep, rest = name.partition("/")
    if not sep or not ("." in first or ":" in first or first == "localhost"):
        raise GantryError(where, f"{name!r} must start with a registry host, e.g. 127.0.0.1:5000/shop/app")
    if "@" in rest or ":" in rest or not _REPO_RE.match(rest):
        raise GantryError(where, f"invalid repository {rest!r} in {name!r} (no tag or digest here)")
    return ImageName(first, rest)


def strip_reference(image: str) -> str:
    """``host/repo:tag@sha256:…`` -> ``host/repo``."""
    image = image.split("@", 1)[0]
    head, _, last = image.rpartition("/")
    if ":" in last:
        last = last.split(":", 1)[0]
    return f"{head}/{last}" if head else last

"""Build an image through the Docker API (Docker engine or podman's compatible service)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import docker

from pipeline_lib.core.errors import GantryError
from pipeline_lib.core.reference import check_tag, parse_repository


@dataclass
class BuiltImage:
    id: str
    tags: list[str] = field(default_factory=list)


def _split(ref: str) -> tuple[str, str]:
    repo, _, tag = ref.rpartition(":")
    if not repo or "/" in tag:
        raise GantryError("build", f"tag {ref!r} must be repository:tag")
    return repo, tag


def build_image(client: docker.DockerClient, context: Path, dockerfile: str, tags: list[str], *,
                labels: dict[str, str] | None = None) -> BuiltImage:
    """Build ``dockerfile`` (relative to ``context``) and tag it with every ``repo:tag`` in ``tags``."""
    if not tags:
        raise GantryError("build", "at least one tag is required")
    for ref in tags:
        repo, tag = _split(ref)
        parse_repository(repo, "build")
        check_tag(tag, "build")
    context = Path(context)
    if not context.is_dir():
        raise GantryError("build", f"context {context} is not a directory")
    if not (context / dockerfile).is_file():
        raise GantryError("build", f"Dockerfile {dockerfile} not found in {context}")
    try:
        image, _logs = client.images.build(path=str(context), dockerfile=dockerfile, tag=tags[0],
                                           labels=labels or None, rm=True, forcerm=True, pull=False)
        for ref in tags[1:]:
            repo, tag = _split(ref)
            image.tag(repo, tag)
    except docker.errors.BuildError as exc:
        raise GantryError("build", str(exc.msg).strip().splitlines()[-1] if str(exc.msg).strip()
                          else "build failed") from None
    except docker.errors.APIError as exc:
        raise GantryError("build", str(exc.explanation or exc).strip()) from None
    except docker.errors.DockerException as exc:
        raise GantryError("build", str(exc).strip()) from None
    return BuiltImage(image.id, list(tags))

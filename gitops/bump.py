"""``gantry gitops bump``: pin a service's image by digest in one environment's manifest.

The edit is round-trip YAML (comments, order and formatting kept), committed with a message
naming service, environment, old -> new tag and digest and the build URL, and pushed with
fetch-rebase-retry (:func:`gitops.git.transact`). No change means no commit.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from pipeline_lib.catalog import Catalog
from pipeline_lib.errors import GantryError
from pipeline_lib.fileio import write_atomic
from pipeline_lib.image.reference import check_digest, check_tag, parse_repository, strip_reference

from .git import transact
from .manifest import ImagePin, manifest_file, pin_helm, pin_kustomize
from .yamlrt import RoundTrip


@dataclass
class BumpResult:
    changed: bool
    commit: str | None
    old_tag: str | None
    new_tag: str | None
    old_digest: str | None
    new_digest: str
    manifest: str
    attempts: int = 1
    branch: str = "main"
    pull_request: str | None = None


def _short(value: str | None, n: int = 19) -> str:
    return value[:n] if value else "none"


def commit_message(service: str, environment: str, image: str, old: ImagePin, tag: str | None,
                   digest: str, build_url: str | None, verb: str = "deploy") -> str:
    old_tag = old.tag or "none"
    new_tag = tag or "none"
    lines = [f"{verb}({service}): {environment} {old_tag} -> {new_tag} ({_short(old.digest)} -> {_short(digest)})",
             "",
             f"Service: {service}",
             f"Environment: {environment}",
             f"Image: {image}",
             f"Tag: {old_tag} -> {new_tag}",
             f"Digest: {old.digest or 'none'} -> {digest}",
             f"Build: {build_url or 'n/a'}",
             ""]
    return "\n".join(lines)


def default_image(catalog: Catalog, service: str, environment: str) -> str:
    """``<account>.dkr.ecr.<region>.amazonaws.com/<ecr_repository>`` for the environment."""
    return f"{catalog.registry_host}/{catalog.service(service).environment(environment).ecr_repository}"


def bump(repo_url: str, *, catalog: Catalog, service: str, environment: str, image: str, digest: str,
         tag: str | None = None, build_url: str | None = None, workdir: Path | None = None,
         branch: str = "main", push_branch: str | None = None, verb: str = "deploy") -> BumpResult:
    """Pin ``image@digest`` (and ``tag``) for ``service`` in ``environment`` and push the commit."""
    svc = catalog.service(service)
    env = svc.environment(environment)
    check_digest(digest, "bump: --digest")
    if tag is not None:
        check_tag(tag, "bump: --tag")
    image = strip_reference(image) if "@" in image else image
    parse_repository(image, "bump: image")
    state: dict[str, object] = {"manifest": env.manifest, "old": ImagePin(None, None, None)}

    def change(checkout: Path):
        path, rel = manifest_file(checkout, env)
        state["manifest"] = rel
        doc = RoundTrip.read(path, rel)
        if env.manifest_format == "kustomize":
            old, changed = pin_kustomize(doc, svc, env, image, tag, digest)
        else:
            old, changed = pin_helm(doc, env, image, tag, digest)
        state["old"] = old
        if not changed:
            return None
        text = doc.dump()
        write_atomic(path, text)
        return commit_message(svc.name, environment, image, old, tag, digest, build_url, verb), [rel], None

    tx = transact(repo_url, change, branch=branch, push_branch=push_branch, workdir=workdir)
    old = state["old"]
    assert isinstance(old, ImagePin)
    return BumpResult(tx.commit is not None, tx.commit, old.tag, tag, old.digest, digest,
                      str(state["manifest"]), tx.attempts, push_branch or branch)


def parse_digest_arg(value: str) -> str:
    """argparse ``type=`` for ``--digest``: a clear message for a malformed digest."""
    try:
        return check_digest(value)
    except GantryError as exc:
        import argparse
        raise argparse.ArgumentTypeError(exc.what) from None

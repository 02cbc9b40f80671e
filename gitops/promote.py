"""Deliver a bump as a direct commit or as a pull request, and promote a digest between environments."""

from __future__ import annotations

import tempfile
import shutil
from pathlib import Path
from collections.abc import Callable

from pipeline_lib.core.catalog import Catalog
from pipeline_lib.core.errors import GantryError

from .bump import BumpResult, bump, default_image
from .hostlock import Writers
from .writeback import Stamp


def review_branch(service: str, environment: str, digest: str) -> str:
    return f"gantry/{service}-{environment}-{digest.removeprefix('sha256:')[:12]}"


def deliver(repo_url: str, *, catalog: Catalog, service: str, environment: str, image: str, digest: str,
            tag: str | None = None, build_url: str | None = None, mode: str = "commit",
            github_api: str = "https://api.github.com", github_repo: str | None = None,
            workdir: Path | None = None, verb: str = "deploy", writers: Writers | None = None,
            github_token: str | None = None, stamp: Stamp | None = None) -> BumpResult:
    """``mode='commit'``: push to the catalog's GitOps branch. ``mode='pr'``: push a review branch
    and open a pull request against it (with ``github_token``, the caller's ``GITHUB_TOKEN``)."""
    branch_base = catalog.gitops_branch
    if mode not in ("commit", "pr"):
        raise GantryError("gitops", f"unknown mode {mode!r} (commit or pr)")
    if mode == "commit":
        return bump(repo_url, catalog=catalog, service=service, environment=environment, image=image,
                    digest=digest, tag=tag, build_url=build_url, workdir=workdir, verb=verb, branch=branch_base,
                    writers=writers, stamp=stamp)
    from .github import GitHub, repo_from_url
    gh_repo = github_repo or repo_from_url(repo_url)
    client = GitHub(github_api, github_token)  # fail on a missing token before pushing anything
    branch = review_branch(service, environment, digest)
    result = bump(repo_url, catalog=catalog, service=service, environment=environment, image=image,
                  digest=digest, tag=tag, build_url=build_url, workdir=workdir, push_branch=branch, verb=verb,
                  branch=branch_base, writers=writers, stamp=stamp)
    if result.changed:
        title = (f"{verb}({service}): {environment} {result.old_tag or 'none'} -> {result.new_tag or 'none'} "
                 f"({digest[:19]})")
        body = (f"Service: {service}\nEnvironment: {environment}\nImage: {image}\n"
                f"Tag: {result.old_tag or 'none'} -> {result.new_tag or 'none'}\n"
                f"Digest: {result.old_digest or 'none'} -> {digest}\nBuild: {build_url or 'n/a'}\n")
        result.pull_request = client.open_pull_request(gh_repo, branch, branch_base, title, body)
    return result


def promote(repo_url: str, *, catalog: Catalog, service: str, source: str, target: str,
            build_url: str | None = None, mode: str | None = None,
            github_api: str = "https://api.github.com", github_repo: str | None = None,
            writers: Writers | None = None, github_token: str | None = None,
            before_write: Callable[[str, str], None] | None = None, stamp: Stamp | None = None) -> BumpResult:
    """Pin in ``target`` the exact digest (and tag) that ``source`` runs (read from its render).
    ``before_write(image, digest)`` runs once the digest is known and before anything is written
    (the command's evidence check); it raises to stop the promotion."""
    from .effect import running_pin  # the render machinery loads when a promotion runs, not for a bump
    from .git import checkout
    svc = catalog.service(service)
    src_env = svc.environment(source)
    dst_env = svc.environment(target)
    if source == target:
        raise GantryError("gitops promote", "--from and --to are the same environment")
    tmp = Path(tempfile.mkdtemp(prefix="gantry-promote-"))
    try:
        pin = running_pin(checkout(repo_url, catalog.gitops_branch, tmp / "repo"), svc, src_env)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    if not pin.digest:
        raise GantryError(f"gitops promote {service}", f"{source} pins no digest yet; nothing to promote")
    if src_env.ecr_repository == dst_env.ecr_repository and pin.name:
        image = str(pin.name)
    else:
        image = default_image(catalog, service, target)
    if before_write is not None:
        before_write(image, str(pin.digest))
    return deliver(repo_url, catalog=catalog, service=service, environment=target, image=image,
                   digest=str(pin.digest), tag=pin.tag, build_url=build_url, mode=mode or dst_env.deploy,
                   github_api=github_api, github_repo=github_repo, verb="promote", writers=writers,
                   github_token=github_token, stamp=stamp)

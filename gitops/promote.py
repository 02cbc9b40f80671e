"""Deliver a bump as a direct commit or as a pull request (promotion between environments is
:mod:`gitops.promotion`: a freight, never whatever the source runs now)."""

from __future__ import annotations

from pathlib import Path

from pipeline_lib.core.catalog import Catalog
from pipeline_lib.core.errors import GantryError

from .bump import BumpResult, bump
from .hostlock import Writers
from .writeback import Stamp


def review_branch(service: str, environment: str, digest: str) -> str:
    return f"gantry/{service}-{environment}-{digest.removeprefix('sha256:')[:12]}"


def deliver(repo_url: str, *, catalog: Catalog, service: str, environment: str, image: str, digest: str,
            tag: str | None = None, build_url: str | None = None, mode: str = "commit",
            github_api: str = "https://api.github.com", github_repo: str | None = None,
            workdir: Path | None = None, verb: str = "deploy", writers: Writers | None = None,
            github_token: str | None = None, stamp: Stamp | None = None, freight: bool = False) -> BumpResult:
    """``mode='commit'``: push to the catalog's GitOps branch. ``mode='pr'``: push a review branch
    and open a pull request against it (with ``github_token``, the caller's ``GITHUB_TOKEN``).
    ``freight``: record the freight in the pin commit (direct commits only)."""
    branch_base = catalog.gitops_branch
    if mode not in ("commit", "pr"):
        raise GantryError("gitops", f"unknown mode {mode!r} (commit or pr)")
    if mode == "commit":
        return bump(repo_url, catalog=catalog, service=service, environment=environment, image=image,
                    digest=digest, tag=tag, build_url=build_url, workdir=workdir, verb=verb, branch=branch_base,
                    writers=writers, stamp=stamp, freight=freight)
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

"""``gantry gitops bump``: pin a service's image by digest in one environment's manifest.

The edit changes only the lines that hold the pin (:mod:`gitops.yamlrt`) and is kept only when
the rendered manifest runs exactly the pin (:func:`gitops.effect.apply_intents`). It is committed
with a message naming service, environment, the tag and digest that were running (from the
render before the edit) -> the new ones and the build URL, and pushed with fetch-rebase-retry
(:func:`gitops.git.transact`). No change means no commit.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from pipeline_lib.core.catalog import Catalog, Service, ServiceEnvironment
from pipeline_lib.core.errors import GantryError
from pipeline_lib.core.reference import check_digest, check_tag, parse_repository, strip_reference

from .drstate import read_state, state_rel
from .effect import Intent, apply_intents
from .git import Writers, transact
from .manifest import ImagePin


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
    warnings: list[str] = field(default_factory=list)
    image: str = ""  # the repository pinned (the active registry's while failed over)


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


@dataclass
class BumpSpec:
    """One bump, self-contained (JSON-serialisable) so another gantry process can apply it."""

    service: str
    environment: str
    ecr_repository: str
    manifest: str
    manifest_format: str
    values_key: str
    image: str
    digest: str
    tag: str | None = None
    build_url: str | None = None
    verb: str = "deploy"

    def __post_init__(self) -> None:
        self.rel = self.manifest
        self.old = ImagePin(None, None, None)
        self.warnings: list[str] = []

    def _objects(self) -> tuple[Service, ServiceEnvironment]:
        env = ServiceEnvironment(self.environment, self.manifest, self.ecr_repository, self.manifest_format,
                                 self.values_key)
        svc = Service(self.service, "", "", ".", self.ecr_repository, "", {self.environment: env})
        return svc, env

    @property
    def reference(self) -> str:
        """The full reference the service must run: ``image[:tag]@digest``."""
        return ImagePin(self.image, self.tag, self.digest).reference

    def apply(self, checkout: Path) -> tuple[str, list[str], None] | None:
        """Edit the manifest in ``checkout`` through the effect check; None when it already pins this image.

        While the environment is failed over (:mod:`gitops.drstate`), an image on the primary
        registry is pinned on the active one instead (same repository), with a warning.
        """
        svc, env = self._objects()
        state = read_state(checkout, self.environment)
        moved = state.follow(self.image) if state else self.image
        notes = []
        if moved != self.image:
            notes.append(f"{self.environment} is failed over to {state.active_region} ({state_rel(self.environment)}): "
                         f"pinning {moved} instead of {self.image}")
            self.image = moved
        applied = apply_intents(checkout, [Intent(svc, env, self.reference)])[0]
        self.rel, self.old, self.warnings = applied.manifest, applied.running, notes + applied.warnings
        if not applied.changed:
            return None
        return (commit_message(self.service, self.environment, self.image, self.old, self.tag, self.digest,
                               self.build_url, self.verb), [self.rel], None)

    def result(self, commit: str | None, attempts: int = 1, branch: str = "main") -> BumpResult:
        return BumpResult(commit is not None, commit, self.old.tag, self.tag, self.old.digest, self.digest,
                          self.rel, attempts, branch, warnings=list(self.warnings), image=self.image)

    def to_json(self) -> dict:
        return {k: getattr(self, k) for k in self.__dataclass_fields__}


def bump(repo_url: str, *, catalog: Catalog, service: str, environment: str, image: str, digest: str,
         tag: str | None = None, build_url: str | None = None, workdir: Path | None = None,
         branch: str | None = None, push_branch: str | None = None, verb: str = "deploy",
         writers: Writers | None = None) -> BumpResult:
    """Pin ``image@digest`` (and ``tag``) for ``service`` in ``environment`` and push the commit.

    Concurrent bumps of one repository from this host are group-committed (:mod:`gitops.batch`):
    each keeps its own commit, and they share one push. ``branch`` defaults to the catalog's
    ``gitops_branch``.
    """
    branch = branch or catalog.gitops_branch
    svc = catalog.service(service)
    env = svc.environment(environment)
    check_digest(digest, "bump: --digest")
    if tag is not None:
        check_tag(tag, "bump: --tag")
    image = strip_reference(image) if "@" in image else image
    parse_repository(image, "bump: image")
    spec = BumpSpec(svc.name, environment, env.ecr_repository, env.manifest, env.manifest_format,
                    env.values_key, image, digest, tag, build_url, verb)
    from . import batch
    if push_branch is None and workdir is None and batch.enabled(writers):
        return batch.submit(repo_url, branch, spec, writers)
    tx = transact(repo_url, spec.apply, branch=branch, push_branch=push_branch, workdir=workdir, writers=writers)
    return spec.result(tx.commit, tx.attempts, push_branch or branch)


def parse_digest_arg(value: str) -> str:
    """argparse ``type=`` for ``--digest``: a clear message for a malformed digest."""
    try:
        return check_digest(value)
    except GantryError as exc:
        import argparse
        raise argparse.ArgumentTypeError(exc.what) from None

"""``gantry gitops bump``: pin a service's image by digest in one environment's manifest.

The edit changes only the lines that hold the pin (:mod:`gitops.yamlrt`) and is kept only when
the rendered manifest runs exactly the pin (:func:`gitops.effect.apply_each`). It is committed
with a message naming service, environment, the tag and digest that were running (from the
render before the edit) -> the new ones and the build URL, and pushed with fetch-rebase-retry,
all through the one write path, :func:`gitops.writeback.write_edits`. No change means no commit.
"""

from __future__ import annotations

import time
from pathlib import Path

from pipeline_lib.core.catalog import Catalog
from pipeline_lib.core.errors import GantryError
from pipeline_lib.core.reference import check_digest, check_tag, parse_repository, strip_reference

from . import batch
from .hostlock import Writers
from .writeback import BumpResult, PinEdit, Stamp, commit_message, write_edits

# the names this module had before the write path moved to gitops.writeback
BumpSpec = PinEdit
__all__ = ["BumpResult", "BumpSpec", "PinEdit", "bump", "commit_message", "default_image", "parse_digest_arg", "pin_edit"]


def default_image(catalog: Catalog, service: str, environment: str) -> str:
    """``<account>.dkr.ecr.<region>.amazonaws.com/<ecr_repository>`` for the environment."""
    return f"{catalog.registry_host}/{catalog.service(service).environment(environment).ecr_repository}"


def pin_edit(catalog: Catalog, service: str, environment: str, image: str, digest: str, tag: str | None = None,
             build_url: str | None = None, verb: str = "deploy", stamp: Stamp | None = None,
             freight: bool = False) -> PinEdit:
    """The checked :class:`PinEdit` of a bump (what :func:`bump` writes; a batch's leader makes
    it for a queued raw request); ``freight``: see :func:`bump`. Raises the GantryError of an
    unknown service or environment, a malformed digest, tag or image."""
    svc = catalog.service(service)
    env = svc.environment(environment)
    check_digest(digest, "bump: --digest")
    if tag is not None:
        check_tag(tag, "bump: --tag")
    image = strip_reference(image) if "@" in image else image
    parse_repository(image, "bump: image")
    return PinEdit(svc.name, environment, env.ecr_repository, env.manifest, env.manifest_format,
                   env.values_key, image, digest, tag, build_url, verb,
                   per_service=catalog.gitops_commits == "per-service", freight=freight,
                   **(stamp or Stamp()).fields())


def bump(repo_url: str, *, catalog: Catalog, service: str, environment: str, image: str, digest: str,
         tag: str | None = None, build_url: str | None = None, workdir: Path | None = None,
         branch: str | None = None, push_branch: str | None = None, verb: str = "deploy",
         writers: Writers | None = None, stamp: Stamp | None = None, freight: bool = False) -> BumpResult:
    """Pin ``image@digest`` (and ``tag``) for ``service`` in ``environment`` and push the commit.

    Concurrent bumps of one repository and branch from this host are group-committed
    (:mod:`gitops.batch`): one commit for the bumps that arrive within the catalog's batch
    window (``writers.window_ms`` overrides it), unless ``defaults.gitops_commits`` is
    ``per-service``. ``branch`` defaults to the catalog's ``gitops_branch``. ``writers``: how
    this host's writers coordinate (:class:`gitops.hostlock.Writers`; the CLI's from the
    settings). ``stamp``: who asks, why, break-glass and the freeze windows the write path checks
    (:class:`gitops.writeback.Stamp`). ``freight``: record the bump's freight (:mod:`gitops.freight`)
    in its pin commit (``result.freight``: its ID). Raises the bump's own GantryError (exit 2 when its edit would not take effect),
    whether it ran alone or in a batch.
    """
    branch = branch or catalog.gitops_branch
    edit = pin_edit(catalog, service, environment, image, digest, tag, build_url, verb, stamp, freight)
    writers = writers or Writers()
    if push_branch is None and workdir is None and batch.enabled(writers):
        return batch.submit(repo_url, branch, edit,
                            window=batch.window_seconds(catalog.gitops_batch_window_ms, writers.window_ms),
                            writers=writers)
    started = time.monotonic()
    (outcome,) = write_edits(repo_url, branch, [edit], push_branch=push_branch, workdir=workdir,
                             writers=writers)
    if isinstance(outcome, GantryError):
        raise outcome
    outcome.timings.update(queue_wait=0.0, total=round(time.monotonic() - started, 3))
    return outcome


def parse_digest_arg(value: str) -> str:
    """argparse ``type=`` for ``--digest``: a clear message for a malformed digest."""
    try:
        return check_digest(value)
    except GantryError as exc:
        import argparse
        raise argparse.ArgumentTypeError(exc.what) from None

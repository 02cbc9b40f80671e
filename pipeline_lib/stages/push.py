"""The ``Push`` stage: push the build's image to the registry (ECR Seoul) by digest.

Jenkinsfile: ``gantry image push --service "$SERVICE" --env "$TARGET_ENV" --tag "$TAG"
--oci-archive image.oci.tar --output "$REPORTS/image.json" --evidence "$REPORTS"``. Blobs the registry already has are
not uploaded again; the digest is the registry's, recorded in ``image.json`` (``digest``,
``repository``, ``tag``, ``registry``, …), which the next stages read (the Jenkinsfile's
``readJSON``). The image comes from an OCI archive or layout, or else from the container
engine's local image store (``docker_client``, ``gantry image build --builder docker``).

While the environment is failed over (``dr_repo``: the GitOps repository whose DR state,
:mod:`gitops.drstate`, names the active registry) the image goes to the active registry instead.

When the environment has a signing key (catalog ``signing.<env>.key``) the stage then signs the
digest's evidence — provenance, the Trivy SBOM, the gate's verdict — and pushes each Sigstore
bundle as an OCI referrer of the image in the registry it was pushed to
(:func:`pipeline_lib.attest.publish.sign_image`).
"""

from __future__ import annotations

import datetime as dt
import json
import sys
import tempfile
from dataclasses import dataclass, field
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

from gitops.drstate import fetch_state
from pipeline_lib.core.errors import GantryError
from pipeline_lib.core.fileio import write_atomic
from pipeline_lib.image.copy import CopyResult, LayoutSource, copy_image, extract_archive
from pipeline_lib.image.registry import registry_for

from . import PASSED, StageResult

if TYPE_CHECKING:   # signing (attest) is imported when the environment signs
    from pipeline_lib.attest.publish import EvidenceFiles
    from pipeline_lib.attest.statement import BuildInfo


@dataclass(frozen=True)
class PushOptions:
    """``host``/``repository``: where to push (``host``: the primary registry); ``tags``: the
    first names the image inside the archive unless ``ref`` is given; at most one of
    ``oci_archive`` / ``oci_layout`` (neither: the image ``host/repository:tags[0]`` of the
    container engine behind ``docker_client``); ``output``: where ``image.json`` goes.

    ``dr_repo`` (None: not read): the GitOps repository (branch ``gitops_branch``) whose DR state
    for ``environment`` names the active registry, pushed to instead of ``host`` while failed
    over (said on ``out``, default stderr)."""

    host: str
    repository: str
    tags: list[str]
    oci_archive: Path | None = None
    oci_layout: Path | None = None
    ref: str = ""
    mount_from: str | None = None
    output: Path | None = None
    docker_client: Any = field(default=None, repr=False)
    dr_repo: str | None = None
    environment: str = ""
    gitops_branch: str = "main"
    out: TextIO | None = field(default=None, repr=False)
    #: sign after the push with this key (PEM path or awskms://…; None: no signing)
    sign_key: str | None = None
    #: password of an encrypted PEM ``sign_key`` (the setting GANTRY_KEY_PASSWORD)
    key_password: str | None = field(default=None, repr=False)
    evidence: EvidenceFiles | None = None
    provenance: BuildInfo | None = None


def evidence_from_reports(reports: Path, env: Mapping[str, str], *, service: str, environment: str,
                          context: Path, dockerfile: Path) -> tuple[EvidenceFiles, BuildInfo]:
    """What ``--evidence REPORTS`` signs: ``REPORTS/scans/sbom.cdx.json``, ``REPORTS/gate/verdict.json``
    (scan outcomes in ``REPORTS/scans`` date the vulnerability DB) and provenance from Jenkins'
    environment ``env`` (:func:`pipeline_lib.attest.publish.build_info_from_env`; BadInput when
    ``JOB_URL``/``BUILD_URL``/``GIT_COMMIT`` are missing). The build started no later than its
    first report (the Test stage's), and finished now."""
    from pipeline_lib.attest.publish import EvidenceFiles, build_info_from_env

    files = EvidenceFiles(sbom=reports / "scans" / "sbom.cdx.json", verdict=reports / "gate" / "verdict.json",
                          outcomes=reports / "scans")
    try:
        first = min(p.stat().st_mtime for p in reports.rglob("*") if p.is_file())
    except (ValueError, OSError):
        first = dt.datetime.now(dt.timezone.utc).timestamp()
    info = build_info_from_env(dict(env), service=service, environment=environment,
                               started_on=dt.datetime.fromtimestamp(first, dt.timezone.utc),
                               finished_on=dt.datetime.now(dt.timezone.utc), context=context, dockerfile=dockerfile)
    return files, info


def active_host(opts: PushOptions) -> tuple[str, str | None]:
    """The registry to push to and, while failed over, the region it is in (else None)."""
    if not opts.dr_repo:
        return opts.host, None
    if not opts.environment:
        raise GantryError("push", "reading the DR state needs the environment (--env)")
    state = fetch_state(opts.dr_repo, opts.environment, opts.gitops_branch)
    if state is None or not state.failed_over:
        return opts.host, None
    print(f"push: {opts.environment} is failed over to {state.active_region}: pushing to {state.active_registry}",
          file=opts.out or sys.stderr, flush=True)
    return state.active_registry, state.active_region


def _push_engine(opts: PushOptions, host: str) -> dict[str, Any]:
    """Push the engine's local image under every tag; one digest for all, or GantryError."""
    import docker

    from pipeline_lib.image.push import push_image

    if opts.docker_client is None:
        raise GantryError("push", "give an OCI archive, an OCI layout or a container engine (Docker API)")
    first = f"{host}/{opts.repository}:{opts.tags[0]}"
    try:
        image = opts.docker_client.images.get(first)
        for tag in opts.tags[1:]:
            image.tag(f"{host}/{opts.repository}", tag)
    except docker.errors.ImageNotFound:
        raise GantryError("push", f"no local image {first}; run 'gantry image build' first") from None
    results = [push_image(opts.docker_client, f"{host}/{opts.repository}", tag) for tag in opts.tags]
    digests = {r.digest for r in results}
    if len(digests) != 1:
        raise GantryError("push", f"tags of one image got different digests: {', '.join(sorted(digests))}")
    return {"digest": results[0].digest, "references": [r.reference for r in results]}


def run(opts: PushOptions) -> StageResult:
    """Push; ``data`` (= ``image.json``): repository, registry, tag(s), digest, references, the
    region pushed to while failed over, and blob statistics (OCI sources)."""
    if opts.oci_archive is not None and opts.oci_layout is not None:
        raise GantryError("push", "give exactly one of an OCI archive or an OCI layout")
    if not opts.tags:
        raise GantryError("push", "at least one tag is required")
    host, failed_over_to = active_host(opts)
    record: dict[str, Any] = {"repository": f"{host}/{opts.repository}", "registry": host, "tag": opts.tags[0],
                              "tags": list(opts.tags)}
    if opts.oci_archive is None and opts.oci_layout is None:
        record.update(_push_engine(opts, host))
    else:
        def push(source: LayoutSource) -> CopyResult:
            return copy_image(source, opts.ref or opts.tags[0], registry_for(host), opts.repository, opts.tags,
                              mount_hint=opts.mount_from)

        if opts.oci_layout is not None:
            result = push(LayoutSource(opts.oci_layout))
        else:   # an archive is unpacked into a temporary layout
            with tempfile.TemporaryDirectory(prefix="gantry-oci-") as tmp:
                result = push(extract_archive(opts.oci_archive, Path(tmp)))
        record.update({"digest": result.digest,
                       "references": [f"{host}/{opts.repository}:{t}" for t in opts.tags],
                       "blobs_skipped": result.stats.blobs_skipped, "blobs_mounted": result.stats.blobs_mounted,
                       "blobs_uploaded": result.stats.blobs_uploaded, "bytes_uploaded": result.stats.bytes_uploaded})
    if failed_over_to:
        record["failed_over_to"] = failed_over_to
    detail = f"{record['references'][0]}@{record['digest']}" + (f" (failed over to {failed_over_to})"
                                                                  if failed_over_to else "")
    if opts.sign_key:
        from pipeline_lib.attest.publish import EvidenceFiles, predicates, sign_image
        published = sign_image(f"{host}/{opts.repository}", record["digest"], opts.sign_key,
                               predicates(opts.evidence or EvidenceFiles(), opts.provenance),
                               key_password=opts.key_password)
        record.update({"attestations": published.kinds, "signed_by": published.hint,
                       "signing_seconds": round(published.seconds, 3)})
        detail += f"; signed {', '.join(published.kinds)} ({published.seconds:.2f}s)"
    if opts.output is not None:
        write_atomic(opts.output, json.dumps(record, indent=2) + "\n")
    return StageResult("push", PASSED, detail, data=record)

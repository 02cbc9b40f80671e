"""The ``Push`` stage: push the build's OCI archive to the registry (ECR Seoul) by digest.

Jenkinsfile: ``gantry image push --service "$SERVICE" --env "$TARGET_ENV" --tag "$TAG"
--oci-archive image.oci.tar --output "$REPORTS/image.json"``. Blobs the registry already has are
not uploaded again; the digest is the registry's, recorded in ``image.json``. When the
environment has a signing key (catalog ``signing.<env>.key``) the stage then signs the digest's
evidence — provenance, the Trivy SBOM, the gate's verdict — and pushes each Sigstore bundle as an
OCI referrer of the image (:func:`pipeline_lib.attest.publish.sign_image`).
"""

from __future__ import annotations

import json
import tempfile
from dataclasses import dataclass
from pathlib import Path

from pipeline_lib.attest.publish import EvidenceFiles, predicates, sign_image
from pipeline_lib.attest.statement import BuildInfo
from pipeline_lib.core.errors import GantryError
from pipeline_lib.core.fileio import write_atomic
from pipeline_lib.image.copy import LayoutSource, copy_image, extract_archive
from pipeline_lib.image.registry import registry_for

from . import PASSED, StageResult


@dataclass
class PushOptions:
    """``host``/``repository``: where to push; ``tags``: the first names the image inside the
    archive unless ``ref`` is given; exactly one of ``oci_archive`` / ``oci_layout``."""

    host: str
    repository: str
    tags: list[str]
    oci_archive: Path | None = None
    oci_layout: Path | None = None
    ref: str = ""
    mount_from: str | None = None
    output: Path | None = None
    #: sign after the push with this key (PEM path or awskms://…; None: no signing)
    sign_key: str | None = None
    evidence: EvidenceFiles | None = None
    provenance: BuildInfo | None = None


def run(opts: PushOptions) -> StageResult:
    """Push; ``data``: repository, tags, digest, references and blob statistics."""
    if (opts.oci_archive is None) == (opts.oci_layout is None):
        raise GantryError("push", "give exactly one of an OCI archive or an OCI layout")
    if not opts.tags:
        raise GantryError("push", "at least one tag is required")
    with tempfile.TemporaryDirectory(prefix="gantry-oci-") as tmp:
        source = (LayoutSource(opts.oci_layout) if opts.oci_layout is not None
                  else extract_archive(opts.oci_archive, Path(tmp)))
        result = copy_image(source, opts.ref or opts.tags[0], registry_for(opts.host), opts.repository,
                            opts.tags, mount_hint=opts.mount_from)
    record = {"repository": f"{opts.host}/{opts.repository}", "tags": opts.tags, "digest": result.digest,
              "references": [f"{opts.host}/{opts.repository}:{t}" for t in opts.tags],
              "blobs_skipped": result.stats.blobs_skipped, "blobs_mounted": result.stats.blobs_mounted,
              "blobs_uploaded": result.stats.blobs_uploaded, "bytes_uploaded": result.stats.bytes_uploaded}
    detail = f"{record['references'][0]}@{result.digest}"
    if opts.sign_key:
        published = sign_image(f"{opts.host}/{opts.repository}", result.digest, opts.sign_key,
                               predicates(opts.evidence or EvidenceFiles(), opts.provenance))
        record.update({"attestations": published.kinds, "signed_by": published.hint,
                       "signing_seconds": round(published.seconds, 3)})
        detail += f"; signed {', '.join(published.kinds)} ({published.seconds:.2f}s)"
    if opts.output is not None:
        write_atomic(opts.output, json.dumps(record, indent=2) + "\n")
    return StageResult("push", PASSED, detail, data=record)

"""The ``Build`` stage: build the service image into an OCI archive.

Jenkinsfile: ``gantry image build --builder buildkit --service "$SERVICE" --env "$TARGET_ENV"
--tag "$TAG" --output-oci image.oci.tar``. Both builders end in the same artifact, the OCI
archive that the ``Trivy`` stage scans and the ``Push`` stage pushes:

- ``buildkit``: rootless BuildKit writes the archive itself (Jenkins' pod);
- ``docker``: the Docker API (a Docker engine or podman's service, where BuildKit is absent, as
  in the local demo) builds the image, which ``skopeo copy docker-daemon: → oci-archive:`` is not
  able to read from podman, so the engine's ``docker save`` stream is converted with
  ``skopeo copy docker-archive: oci-archive:`` instead.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass, field, replace
from pathlib import Path

from pipeline_lib.core.errors import GantryError, TimeoutExceeded
from pipeline_lib.core.process import TAIL_OUTPUT, require_tool, run as run_command
from pipeline_lib.image.build import build_image
from pipeline_lib.image.buildkit import build_oci_archive
from pipeline_lib.image.pydeps import prepare_build_context

from . import PASSED, StageResult

BUILDERS = ("buildkit", "docker")


@dataclass(frozen=True)
class BuildOptions:
    """``context``/``dockerfile``: what to build; ``refs``: ``host/repository:tag`` names (the
    first is recorded in the archive); ``output_oci``: the OCI archive to write."""

    context: Path
    dockerfile: str
    refs: list[str]
    output_oci: Path
    builder: str = "buildkit"
    labels: dict[str, str] = field(default_factory=dict)
    docker_client: object | None = field(default=None, repr=False)
    timeout: float = 1800
    #: when set, ``context`` is copied here and its pinned requirements.txt installed into
    #: ``site-packages/`` (pipeline_lib/image/pydeps.py); wheels are cached in ``wheel_cache``
    vendor_to: Path | None = None
    wheel_cache: Path | None = None


def _docker_to_oci(client: object, ref: str, output: Path, timeout: float) -> None:
    skopeo = require_tool("skopeo", "skopeo")   # converts the engine's image to an OCI archive
    with tempfile.TemporaryDirectory(prefix="gantry-build-") as tmp:
        saved = Path(tmp) / "image.docker.tar"
        with open(saved, "wb") as fh:
            for chunk in client.images.get(ref).save(named=True):  # type: ignore[attr-defined]
                fh.write(chunk)
        partial = output.with_name(output.name + ".partial")
        partial.unlink(missing_ok=True)
        name = ref.rsplit(":", 1)[-1]   # org.opencontainers.image.ref.name: the tag, as BuildKit writes it
        try:
            proc = run_command([skopeo, "copy", "--quiet", f"docker-archive:{saved}",
                                f"oci-archive:{partial}:{name}"], timeout=timeout, what="build",
                               max_output=TAIL_OUTPUT)
        except TimeoutExceeded:
            partial.unlink(missing_ok=True)
            raise TimeoutExceeded("build", f"skopeo timed out after {timeout:.0f}s") from None
        if proc.returncode != 0:
            partial.unlink(missing_ok=True)
            lines = [ln for ln in proc.stderr.splitlines() if ln.strip()]
            raise GantryError("build", f"skopeo could not write the OCI archive: {lines[-1] if lines else proc.returncode}")
        partial.replace(output)


def run(opts: BuildOptions) -> StageResult:
    """Build; the OCI archive at ``opts.output_oci`` is the stage's artifact."""
    if opts.builder not in BUILDERS:
        raise GantryError("build", f"unknown builder {opts.builder!r} (known: {', '.join(BUILDERS)})")
    if not opts.refs:
        raise GantryError("build", "at least one image name (--tag) is required")
    opts.output_oci.parent.mkdir(parents=True, exist_ok=True)
    pins = ""
    if opts.vendor_to is not None:
        vendored = prepare_build_context(opts.context, opts.vendor_to,
                                         wheel_cache=opts.wheel_cache or opts.vendor_to.parent / "wheels")
        opts = replace(opts, context=opts.vendor_to)
        pins = f" ({len(vendored)} pinned packages vendored)"
    if opts.builder == "buildkit":
        build_oci_archive(opts.context, opts.dockerfile, opts.output_oci, opts.refs[0], labels=opts.labels,
                          timeout=opts.timeout)
        image_id = ""
    else:
        if opts.docker_client is None:
            raise GantryError("build", "the docker builder needs a Docker API client")
        image = build_image(opts.docker_client, opts.context, opts.dockerfile, opts.refs, labels=opts.labels)
        _docker_to_oci(opts.docker_client, opts.refs[0], opts.output_oci, opts.timeout)
        image_id = image.id
    return StageResult("build", PASSED, f"{opts.builder}: {opts.refs[0]} -> {opts.output_oci.name}{pins}",
                       data={"oci_archive": str(opts.output_oci), "refs": opts.refs, "image_id": image_id})

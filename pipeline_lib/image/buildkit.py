"""Build an image with BuildKit (rootless, no Docker socket) into an OCI archive.

Jenkins' pod runs ``buildctl-daemonless.sh`` in the ``buildkit`` container; the archive is then
pushed by ``gantry image push --oci-archive`` (blob HEAD first, digest recorded).
"""

from __future__ import annotations

import shutil
from pathlib import Path

from pipeline_lib.core.errors import GantryError, TimeoutExceeded
from pipeline_lib.core.process import TAIL_OUTPUT, run

BUILDCTL_CANDIDATES = ("buildctl-daemonless.sh", "buildctl")


def buildctl_argv(buildctl: str, context: Path, dockerfile: str, output: Path, ref: str,
                  labels: dict[str, str] | None = None) -> list[str]:
    """The ``buildctl build`` command line (dockerfile frontend, OCI archive output)."""
    dockerfile_path = context / dockerfile
    argv = [buildctl, "build", "--frontend", "dockerfile.v0",
            "--local", f"context={context}", "--local", f"dockerfile={dockerfile_path.parent}",
            "--opt", f"filename={dockerfile_path.name}",
            "--output", f"type=oci,dest={output},name={ref}"]
    for key, value in sorted((labels or {}).items()):
        argv += ["--opt", f"label:{key}={value}"]
    return argv


def build_oci_archive(context: Path, dockerfile: str, output: Path, ref: str, *,
                      labels: dict[str, str] | None = None, buildctl: str | None = None,
                      timeout: float = 1800) -> Path:
    """Run BuildKit; the archive is written beside ``output`` and renamed into place when complete."""
    tool = buildctl or next((t for t in BUILDCTL_CANDIDATES if shutil.which(t)), None)
    if tool is None:
        raise GantryError("build", "BuildKit not found: put buildctl-daemonless.sh or buildctl on PATH "
                                   "(the Jenkins pod's buildkit container has them)")
    if not (context / dockerfile).is_file():
        raise GantryError("build", f"Dockerfile {dockerfile} not found in {context}")
    output.parent.mkdir(parents=True, exist_ok=True)
    partial = output.with_name(output.name + ".partial")
    partial.unlink(missing_ok=True)
    try:
        proc = run(buildctl_argv(tool, context, dockerfile, partial, ref, labels), timeout=timeout,
                   what="build", max_output=TAIL_OUTPUT)
    except TimeoutExceeded:
        partial.unlink(missing_ok=True)
        raise TimeoutExceeded("build", f"BuildKit timed out after {timeout:.0f}s") from None
    if proc.returncode != 0 or not partial.is_file():
        partial.unlink(missing_ok=True)
        lines = [ln for ln in (proc.stderr or proc.stdout).splitlines() if ln.strip()]
        raise GantryError("build", f"BuildKit failed (exit {proc.returncode}): {lines[-1] if lines else 'no output'}")
    partial.replace(output)
    return output

"""The one ``kubectl kustomize`` renderer: what Argo CD will deploy from a kustomization.

Used by the effect check of every manifest edit (:mod:`gitops.effect`) and by ``gantry gitops
check`` (:mod:`gitops.validate`). kubectl's built-in kustomize (v5) renders; the process runs
through :func:`pipeline_lib.core.process.run` (timeout, process-group kill).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from pipeline_lib.core.errors import GantryError, TimeoutExceeded
from pipeline_lib.core.process import require_tool, run as run_command

KUBECTL_TIMEOUT = 120.0   # seconds per render


def render_kustomize(target: Path, where: str, *, failure_exit: int = 2,
                     timeout: float = KUBECTL_TIMEOUT) -> list[dict[str, Any]]:
    """``kubectl kustomize TARGET`` parsed into its documents (mappings only).

    Raises :class:`GantryError` naming ``where``: kubectl missing (exit 2), a render that fails
    (``failure_exit``: 2 when gantry cannot check its own edit, 1 when a check found a broken
    kustomization), unreadable output (exit 2); :class:`TimeoutExceeded` after ``timeout`` s.
    """
    kubectl = require_tool("kubectl", "kubernetes-client")
    try:
        proc = run_command([kubectl, "kustomize", str(target)], timeout=timeout, what=where)
    except TimeoutExceeded:
        raise TimeoutExceeded(where, f"kubectl kustomize did not finish in {timeout:.0f}s") from None
    if proc.returncode != 0:
        lines = [ln for ln in proc.stderr.strip().splitlines() if ln.strip()]
        raise GantryError(where, f"kubectl kustomize failed: {lines[-1] if lines else 'exit ' + str(proc.returncode)}",
                          exit_code=failure_exit)
    try:
        return [d for d in yaml.safe_load_all(proc.stdout) if isinstance(d, dict)]
    except yaml.YAMLError as exc:
        raise GantryError(where, f"kubectl kustomize printed unreadable YAML: {exc}") from None

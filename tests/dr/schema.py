"""Schema check of rendered manifests: Kubernetes' own API schemas (``kubernetes-validate``, strict:
unknown fields are errors, as ``kubectl apply --validate=strict``), for the EKS version gantry targets."""

from __future__ import annotations

from typing import Any

import kubernetes_validate

KUBERNETES_VERSION = "1.31"  # infra/modules/eks variable kubernetes_version


def check_rendered(docs: list[dict[str, Any]]) -> None:
    """Raise ``kubernetes_validate.ValidationError`` for the first document that does not validate."""
    assert docs, "nothing rendered"
    for doc in docs:
        kubernetes_validate.validate(doc, KUBERNETES_VERSION, strict=True)

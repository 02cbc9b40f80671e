"""Kyverno in the prod platform: the chart (pinned) and a generated ``ClusterPolicy`` whose
``verifyImages`` rule admits a Pod only when its image — any of the services' ECR repositories,
in the registry region and every replica region — carries gantry's signed evidence: a SLSA
provenance of gantry's build type and a gate verdict that passed under prod's policy, each
signed by one of the keys the catalog trusts for prod (``signing.prod.trusted_keys``).

Generated only when the catalog trusts a key for prod (there is nothing to verify against
otherwise). Sources: Kyverno's ``verifyImages`` reference (https://kyverno.io/docs/policy-types/
cluster-policy/verify-images/) and the ClusterPolicy CRD of Kyverno v1.14.5 (chart 3.4.5), which
``gantry gitops check`` validates the policy against (gitops/crds/kyverno.io_clusterpolicies.yaml).
Attestations are Sigstore bundles stored as OCI 1.1 referrers (``type: SigstoreBundle``), keyed:
no transparency log, no SCT (``rekor.ignoreTlog``, ``ctlog.ignoreSCT``).
"""

from __future__ import annotations

import posixpath
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from pipeline_lib.core.catalog import Catalog
from pipeline_lib.core.errors import GantryError

from .layout import LayoutContext, LayoutFile
from .platform import Chart, _application, _chart_app, platform_root
from .workloads import dump_docs

KYVERNO = Chart("kyverno", "https://kyverno.github.io/kyverno/", "3.4.5", "kyverno")
ENVIRONMENT = "prod"
POLICY_NAME = "gantry-verify-images"
# pipeline_lib.attest.statement's predicate types (gitops/ imports only pipeline_lib.core)
PROVENANCE_TYPE = "https://slsa.dev/provenance/v1"
VERDICT_TYPE = "https://gantry.flashshop.dev/attestations/gate-verdict/v1"
BUILD_TYPE = "https://gantry.flashshop.dev/buildtypes/jenkins-image/v1"


def trusted_public_keys(catalog: Catalog, environment: str = ENVIRONMENT) -> list[str]:
    """The PEM text of every key the catalog trusts for ``environment`` (GantryError if unreadable)."""
    out = []
    for path in catalog.signing_for(environment).trusted_keys:
        try:
            out.append(Path(path).read_text(encoding="ascii").strip() + "\n")
        except (OSError, UnicodeDecodeError) as exc:
            raise GantryError(f"catalog signing.{environment}.trusted_keys", f"{path}: cannot read: {exc}") from None
    return out


def image_references(catalog: Catalog, environment: str = ENVIRONMENT) -> list[str]:
    """``<account>.dkr.ecr.<region>.amazonaws.com/<repo>*`` for every service repository of the
    environment, in the registry region and each replica region (a failover pulls from Tokyo)."""
    repos = sorted({s.environment(environment).ecr_repository for s in catalog.services_in(environment)})
    regions = [catalog.registry_region, *catalog.replica_regions]
    return [f"{catalog.ecr_host(r)}/{repo}*" for r in regions for repo in repos]


def cluster_policy(catalog: Catalog, environment: str = ENVIRONMENT) -> dict[str, Any]:
    """The ``kyverno.io/v1`` ClusterPolicy (GantryError when no key is trusted for the environment)."""
    keys = trusted_public_keys(catalog, environment)
    if not keys:
        raise GantryError(f"catalog signing.{environment}", "no trusted public key: no image verification policy")
    attestors = [{"count": 1, "entries": [{"keys": {"publicKeys": pem, "signatureAlgorithm": "sha256",
                                                    "rekor": {"ignoreTlog": True}, "ctlog": {"ignoreSCT": True}}}
                                          for pem in keys]}]
    return {
        "apiVersion": "kyverno.io/v1", "kind": "ClusterPolicy",
        "metadata": {"name": POLICY_NAME,
                     "annotations": {"policies.kyverno.io/title": "gantry: signed evidence for every image",
                                     "policies.kyverno.io/description":
                                         "Pods may run a service image only when it carries gantry's signed SLSA "
                                         "provenance and a passed gate verdict for " + environment + "."}},
        "spec": {
            "background": False, "webhookTimeoutSeconds": 30,
            "rules": [{
                "name": "verify-gantry-evidence",
                "match": {"any": [{"resources": {"kinds": ["Pod"]}}]},
                "verifyImages": [{
                    "type": "SigstoreBundle",
                    "imageReferences": image_references(catalog, environment),
                    "failureAction": "Enforce",
                    "mutateDigest": False, "verifyDigest": True, "required": True,
                    "attestations": [
                        {"type": PROVENANCE_TYPE, "attestors": attestors,
                         "conditions": [{"all": [{"key": "{{ buildDefinition.buildType }}", "operator": "Equals",
                                                  "value": BUILD_TYPE}]}]},
                        {"type": VERDICT_TYPE, "attestors": attestors,
                         "conditions": [{"all": [{"key": "{{ passed }}", "operator": "Equals", "value": True},
                                                 {"key": "{{ environment }}", "operator": "Equals",
                                                  "value": environment}]}]},
                    ],
                }],
            }],
        },
    }


def layout_files(ctx: LayoutContext) -> Iterable[LayoutFile]:
    """Generator (:data:`gitops.layout.GENERATORS`): prod's Kyverno chart app, the app that syncs
    ``platform/prod/kyverno/`` and the ClusterPolicy there — when prod is scaffolded, runs on EKS
    and the catalog trusts a key for it."""
    catalog = ctx.catalog
    env = catalog.environments.get(ENVIRONMENT)
    if ENVIRONMENT not in ctx.environments or env is None or env.platform != "eks" \
            or not catalog.signing_for(ENVIRONMENT).trusted_keys:
        return
    root = platform_root(ENVIRONMENT)
    header = f"# {ENVIRONMENT} platform: generated by 'gantry gitops init' from the catalog (signing:).\n"
    server = "https://kubernetes.default.svc"
    chart = _chart_app(KYVERNO, ENVIRONMENT, {"admissionController": {"replicas": 3}}, 0, server)
    policies = _application(f"image-verification-{ENVIRONMENT}", ENVIRONMENT,
                            {"repoURL": catalog.gitops_repo, "targetRevision": catalog.gitops_branch,
                             "path": posixpath.join(root, "kyverno")}, KYVERNO.namespace, 1, server)
    apps = posixpath.join(root, "apps")
    yield LayoutFile(posixpath.join(apps, "kyverno.yaml"), dump_docs([chart], header), apps)
    yield LayoutFile(posixpath.join(apps, f"image-verification-{ENVIRONMENT}.yaml"), dump_docs([policies], header), apps)
    yield LayoutFile(posixpath.join(root, "kyverno", "cluster-policy.yaml"),
                     dump_docs([cluster_policy(catalog)], header))
    yield LayoutFile(posixpath.join(root, "kyverno", "kustomization.yaml"), dump_docs([{
        "apiVersion": "kustomize.config.k8s.io/v1beta1", "kind": "Kustomization", "resources": ["cluster-policy.yaml"]}]))

"""Argo CD: ``Application`` manifests (or one ``ApplicationSet``) from the catalog, and sync wait.

Every catalog service × environment becomes one Application with automated sync, prune and
self-heal — except environments whose platform Argo CD does not deploy to (``ecs-fargate``: the
event stack runs on ECS through Terraform and ``gantry event deploy``; see :data:`ARGOCD_PLATFORMS`). The destination is the environment's ``argocd_destination``: an ``https://`` URL is
a cluster ``server`` (prod on EKS), anything else (or nothing) a cluster registered by ``name``
(the event environment's own destination defaults to a cluster named ``event``).
Spec: https://argo-cd.readthedocs.io/en/stable/operator-manual/declarative-setup/
"""

from __future__ import annotations

import io
import posixpath
import sys
from typing import Any

import requests

from pipeline_lib.core.catalog import Catalog, Environment, Service, ServiceEnvironment
from pipeline_lib.core.answer import json_of, optional
from pipeline_lib.core.errors import CheckFailed, NotFound, TimeoutExceeded, Unauthorized
from pipeline_lib.core.http import retry_policy
from pipeline_lib.core.http import session as http_session
from pipeline_lib.core.retry import poll

API_VERSION = "argoproj.io/v1alpha1"
# Platforms Argo CD syncs to: Kubernetes clusters (dev runs on the Jenkins cluster, prod on EKS).
ARGOCD_PLATFORMS = ("jenkins", "eks")


def argocd_environments(catalog: Catalog) -> list[str]:
    """The catalog environments Argo CD deploys to (never an ECS Fargate one)."""
    return [name for name, env in catalog.environments.items() if env.platform in ARGOCD_PLATFORMS]


def _destination(env: Environment) -> dict[str, str]:
    dest = env.argocd_destination
    if dest and dest.startswith(("https://", "http://")):
        return {"server": dest, "namespace": env.namespace}
    return {"name": dest or env.name, "namespace": env.namespace}


def _source(se: ServiceEnvironment, repo: str, revision: str) -> dict[str, Any]:
    if se.manifest_format == "helm":
        chart_dir = posixpath.dirname(se.manifest) or "."
        return {"repoURL": repo, "targetRevision": revision, "path": chart_dir,
                "helm": {"valueFiles": [posixpath.basename(se.manifest)]}}
    return {"repoURL": repo, "targetRevision": revision, "path": se.manifest.rstrip("/")}


def app_name(svc: Service, env: str) -> str:
    return f"{svc.name}-{env}"


def applications(catalog: Catalog, repo: str, revision: str | None = None, namespace: str = "argocd",
                 project: str = "default") -> list[dict[str, Any]]:
    """One Application per service × environment, tracking ``revision`` (default: the catalog's
    ``gitops_branch``, the branch gantry writes pins to)."""
    revision = revision or catalog.gitops_branch
    docs = []
    targets = set(argocd_environments(catalog))
    for svc in catalog.services:
        for env_name, se in svc.environments.items():
            if env_name not in targets:
                continue
            env = catalog.environments[env_name]
            docs.append({
                "apiVersion": API_VERSION,
                "kind": "Application",
                "metadata": {
                    "name": app_name(svc, env_name),
                    "namespace": namespace,
                    "labels": {"app.kubernetes.io/part-of": "gantry", "gantry.io/service": svc.name,
                               "gantry.io/environment": env_name},
                    "finalizers": ["resources-finalizer.argocd.argoproj.io"],
                },
                "spec": {
                    "project": project,
                    "source": _source(se, repo, revision),
                    "destination": _destination(env),
                    "syncPolicy": {
                        "automated": {"prune": True, "selfHeal": True},
                        "syncOptions": ["CreateNamespace=true"],
                        "retry": {"limit": 5, "backoff": {"duration": "5s", "factor": 2, "maxDuration": "3m"}},
                    },
                },
            })
    return docs


_TEMPLATE_PATCH = """\
spec:
  source:
    path: '{{ .path }}'
    {{- if .valueFile }}
    helm:
      valueFiles:
        - '{{ .valueFile }}'
    {{- end }}
  destination:
    namespace: '{{ .namespace }}'
    {{- if .server }}
    server: '{{ .server }}'
    {{- else }}
    name: '{{ .cluster }}'
    {{- end }}
"""


def application_set(catalog: Catalog, repo: str, revision: str | None = None, namespace: str = "argocd",
                    project: str = "default") -> dict[str, Any]:
    revision = revision or catalog.gitops_branch
    elements = []
    for app in applications(catalog, repo, revision, namespace, project):
        src, dest, labels = app["spec"]["source"], app["spec"]["destination"], app["metadata"]["labels"]
        elements.append({"name": app["metadata"]["name"], "service": labels["gantry.io/service"],
                         "environment": labels["gantry.io/environment"], "path": src["path"],
                         "valueFile": (src.get("helm") or {}).get("valueFiles", [""])[0],
                         "namespace": dest["namespace"], "server": dest.get("server", ""),
                         "cluster": dest.get("name", "")})
    return {
        "apiVersion": API_VERSION,
        "kind": "ApplicationSet",
        "metadata": {"name": "gantry-services", "namespace": namespace},
        "spec": {
            "goTemplate": True,
            "goTemplateOptions": ["missingkey=error"],
            "generators": [{"list": {"elements": elements}}],
            "template": {
                "metadata": {"name": "{{ .name }}",
                             "labels": {"app.kubernetes.io/part-of": "gantry",
                                        "gantry.io/service": "{{ .service }}",
                                        "gantry.io/environment": "{{ .environment }}"},
                             "finalizers": ["resources-finalizer.argocd.argoproj.io"]},
                "spec": {
                    "project": project,
                    "source": {"repoURL": repo, "targetRevision": revision, "path": "{{ .path }}"},
                    "destination": {"namespace": "{{ .namespace }}"},
                    "syncPolicy": {"automated": {"prune": True, "selfHeal": True},
                                   "syncOptions": ["CreateNamespace=true"]},
                },
            },
            "templatePatch": _TEMPLATE_PATCH,
        },
    }


def dump_all(docs: list[dict[str, Any]]) -> str:
    from ruamel.yaml import YAML
    from ruamel.yaml.scalarstring import LiteralScalarString
    yaml = YAML(typ="rt")
    yaml.indent(mapping=2, sequence=4, offset=2)
    yaml.width = 4096
    buf = io.StringIO()
    for doc in docs:
        if "templatePatch" in doc.get("spec", {}):
            doc["spec"]["templatePatch"] = LiteralScalarString(doc["spec"]["templatePatch"])
        buf.write("---\n")
        yaml.dump(doc, buf)
    return buf.getvalue()


def wait_synced(server: str, app: str, *, token: str | None = None, timeout: float = 300.0,
                revision: str | None = None, verify: bool = True, interval: float = 2.0,
                out=None) -> int:
    """Poll ``GET /api/v1/applications/{app}`` until Synced and Healthy: 0, or CheckFailed
    (exit 1) after ``timeout`` seconds; Unauthorized / NotFound (exit 2) at once. Each request is
    retried by the :mod:`pipeline_lib.core.http` session; the polling is :func:`core.retry.poll`
    (waits growing to ``interval * 4`` seconds)."""
    out = out or sys.stdout
    base = server if server.startswith(("http://", "https://")) else f"https://{server}"
    last = "no answer"

    def synced() -> bool:
        nonlocal last
        try:
            resp = session.get(f"{base.rstrip('/')}/api/v1/applications/{app}", timeout=10, verify=verify)
        except (requests.ConnectionError, requests.Timeout) as exc:
            last = f"{type(exc).__name__}"
            return False
        if resp.status_code in (401, 403):
            raise Unauthorized("argocd", f"{app}: HTTP {resp.status_code}: check ARGOCD_AUTH_TOKEN")
        if resp.status_code == 404:
            raise NotFound("argocd", f"no application {app!r} on {base}")
        if resp.status_code != 200:
            last = f"HTTP {resp.status_code}"
            return False
        # a new application has no status until the controller's first reconcile: "Unknown", poll on
        where = f"argocd GET /api/v1/applications/{app}"
        doc = json_of(resp, where)
        sync = optional(doc, "status", "sync", "status", kind=str, default="Unknown", where=where)
        health = optional(doc, "status", "health", "status", kind=str, default="Unknown", where=where)
        synced_rev = optional(doc, "status", "sync", "revision", kind=str, default="", where=where)
        last = f"sync {sync}, health {health}" + (f", revision {synced_rev[:12]}" if synced_rev else "")
        print(f"argocd {app}: {last}", file=out, flush=True)
        return sync == "Synced" and health == "Healthy" and (not revision or synced_rev.startswith(revision))

    with http_session(retry=retry_policy(total=2), headers={"Authorization": f"Bearer {token}"} if token else None) \
            as session:
        try:
            poll(synced, timeout=timeout, what="argocd", first=min(interval, 0.5), interval=interval * 4)
        except TimeoutExceeded:
            raise CheckFailed("argocd", f"{app} not Synced and Healthy after {timeout:.0f}s (last: {last})") from None
    return 0

"""Scaffold a GitOps repository from the catalog: kustomize base + overlays, Helm values.

``<manifest_path>/base/{deployment,service,kustomization}.yaml`` and, per environment,
``<manifest_path>/overlays/<env>/kustomization.yaml`` with an ``images:`` entry for the
service; a Helm environment gets its values file (``manifest``) with ``image:`` keys.
"""

from __future__ import annotations

import posixpath
import shutil
import tempfile
from pathlib import Path

from pipeline_lib.core.catalog import Catalog, Service, ServiceEnvironment
from pipeline_lib.core.errors import GantryError
from pipeline_lib.core.fileio import write_atomic

from .git import git, out

PORT = 8080


def _deployment(svc: Service, replicas: str, image: str, header: str = "") -> str:
    """The one Deployment both layouts use; kustomize and Helm differ only in replicas and image."""
    return f"""\
{header}apiVersion: apps/v1
kind: Deployment
metadata:
  name: {svc.name}
  labels:
    app.kubernetes.io/name: {svc.name}
spec:
  replicas: {replicas}
  selector:
    matchLabels:
      app.kubernetes.io/name: {svc.name}
  template:
    metadata:
      labels:
        app.kubernetes.io/name: {svc.name}
    spec:
      securityContext:
        runAsNonRoot: true
        runAsUser: 10001
      containers:
        - name: {svc.name}
          image: {image}
          ports:
            - containerPort: {PORT}
              name: http
          readinessProbe:
            httpGet:
              path: /healthz
              port: http
          securityContext:
            allowPrivilegeEscalation: false
            readOnlyRootFilesystem: true
"""


def _kustomize_deployment(svc: Service, env: ServiceEnvironment | None) -> str:
    return _deployment(svc, str(env.replicas_min if env else 1),
                       f"{svc.name}  # replaced by the overlay's images: entry",
                       f"# {svc.name}: the Deployment every environment overlays (image pinned by the overlay)\n")


def _service(svc: Service) -> str:
    return f"""\
apiVersion: v1
kind: Service
metadata:
  name: {svc.name}
spec:
  selector:
    app.kubernetes.io/name: {svc.name}
  ports:
    - name: http
      port: 80
      targetPort: http
"""


_BASE_KUSTOMIZATION = """\
apiVersion: kustomize.config.k8s.io/v1beta1
kind: Kustomization
resources:
  - deployment.yaml
  - service.yaml
"""


def _overlay(svc: Service, env: ServiceEnvironment, namespace: str, base_rel: str, image: str) -> str:
    return f"""\
# {svc.name} in {env.name}: gantry gitops bump pins the image below by digest.
apiVersion: kustomize.config.k8s.io/v1beta1
kind: Kustomization
namespace: {namespace}
resources:
  - {base_rel}
images:
  - name: {svc.name}  # the image name used in base/deployment.yaml
    newName: {image}
"""


def _helm_values(svc: Service, env: ServiceEnvironment, image: str, domain: str) -> str:
    key_path = env.values_key.split(".")
    lines = [f"# {svc.name} in {env.name}: Helm values; gantry gitops bump pins the image by digest."]
    indent = ""
    for key in key_path:
        lines.append(f"{indent}{key}:")
        indent += "  "
    lines += [f"{indent}repository: {image}", f'{indent}tag: ""', f'{indent}digest: ""',
              f"replicaCount: {env.replicas_min}",
              "autoscaling:", f"  minReplicas: {env.replicas_min}", f"  maxReplicas: {env.replicas_max}",
              f"domain: {env.domain or domain}", ""]
    return "\n".join(lines)


def _helm_deployment(svc: Service, image: str) -> str:
    ref = ('{{ ' + image + '.repository }}{{ if ' + image + '.tag }}:{{ ' + image + '.tag }}{{ end }}'
           '{{ if ' + image + '.digest }}@{{ ' + image + '.digest }}{{ end }}')
    return _deployment(svc, "{{ .Values.replicaCount }}", f'"{ref}"')


def scaffold(root: Path, catalog: Catalog, services: list[Service], environments: list[str],
             registry_host: str) -> list[str]:
    """Write the layout for ``services`` × ``environments`` under ``root``; return relative paths."""
    written: list[str] = []

    def put(rel: str, text: str) -> None:
        path = root / rel
        if not path.exists():
            write_atomic(path, text)
            written.append(rel)

    for svc in services:
        base = posixpath.join(svc.manifest_path, "base")
        for env_name in environments:
            env = svc.environments.get(env_name)
            if env is None:
                continue
            environment = catalog.environments[env_name]
            image = f"{registry_host}/{env.ecr_repository}"
            if env.manifest_format == "kustomize":
                put(posixpath.join(base, "deployment.yaml"), _kustomize_deployment(svc, env))
                put(posixpath.join(base, "service.yaml"), _service(svc))
                put(posixpath.join(base, "kustomization.yaml"), _BASE_KUSTOMIZATION)
                overlay = env.manifest.rstrip("/")
                put(posixpath.join(overlay, "kustomization.yaml"),
                    _overlay(svc, env, environment.namespace, posixpath.relpath(base, overlay), image))
            else:
                put(env.manifest, _helm_values(svc, env, image, environment.domain))
                chart_dir = posixpath.dirname(env.manifest)
                put(posixpath.join(chart_dir, "Chart.yaml"),
                    f"apiVersion: v2\nname: {svc.name}\nversion: 0.1.0\ntype: application\n")
                put(posixpath.join(chart_dir, "templates", "deployment.yaml"),
                    _helm_deployment(svc, ".Values." + env.values_key))
    return written


def init_repo(bare: Path, catalog: Catalog, services: list[Service], environment: str,
              registry_host: str) -> bool:
    """Create ``bare`` with the layout on ``main``; False (and no change) when it has content."""
    bare = Path(bare)
    for svc in services:
        svc.environment(environment)
    if bare.exists():
        if not (bare / "HEAD").is_file():
            if any(bare.iterdir()):
                raise GantryError(str(bare), "exists and is not a bare git repository")
        elif git(bare, "for-each-ref", "--count=1", "refs/heads").stdout.strip():
            return False
    if not (bare / "HEAD").is_file():
        bare.parent.mkdir(parents=True, exist_ok=True)
        git(None, "init", "--bare", "-q", "-b", catalog.gitops_branch, str(bare))
    tmp = Path(tempfile.mkdtemp(prefix="gantry-gitops-init-"))
    try:
        work = tmp / "repo"
        git(None, "init", "-q", "-b", catalog.gitops_branch, str(work))
        scaffold(work, catalog, services, [environment], registry_host)
        write_atomic(work / "README.md", "# GitOps repository\n\nManaged by gantry: one directory per "
                     "service (kustomize base + overlays, or Helm values). Argo CD syncs it.\n")
        git(work, "add", "-A")
        git(work, "commit", "-q", "-m", f"gantry: initial layout for {environment}")
        proc = git(work, "push", "-q", str(bare.resolve()), f"HEAD:refs/heads/{catalog.gitops_branch}", check=False)
        if proc.returncode != 0:
            if out(bare, "for-each-ref", "--count=1", "refs/heads"):
                return False  # someone else initialised it first
            raise GantryError("git", f"cannot push initial layout to {bare}: {proc.stderr.strip()[-200:]}")
        return True
    finally:
        shutil.rmtree(tmp, ignore_errors=True)

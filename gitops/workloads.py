"""A service's Kubernetes workload, from the catalog: kustomize base + one overlay per environment.

``<manifest_path>/base/``: Deployment (requests/limits, readiness/liveness/startup probes, spread
over zones and hosts, non-root securityContext), HorizontalPodAutoscaler (``autoscaling/v2``, CPU),
PodDisruptionBudget, Service, Ingress (AWS Load Balancer Controller) and ServiceMonitor
(prometheus-operator). ``<manifest_path>/overlays/<env>/``: ``kustomization.yaml`` (namespace, the
``images:`` entry ``gantry gitops bump`` pins) and ``workload.yaml``, strategic-merge patches with
the environment's values (resources, HPA min/max/target, PDB minAvailable, Ingress host and TLS).

Sources of the formats: Kubernetes API reference (apps/v1 Deployment, autoscaling/v2 HPA,
policy/v1 PDB, networking.k8s.io/v1 Ingress), AWS Load Balancer Controller ingress annotations
(https://kubernetes-sigs.github.io/aws-load-balancer-controller/latest/guide/ingress/annotations/),
prometheus-operator ServiceMonitor (monitoring.coreos.com/v1).
"""

from __future__ import annotations

import json
import posixpath
from typing import Any

from pipeline_lib.core.catalog import Environment, Resources, Service, ServiceEnvironment

from .yamldoc import dump_new

PORT = 8080
ZONE_KEY = "topology.kubernetes.io/zone"
HOST_KEY = "kubernetes.io/hostname"
INGRESS_CLASS = "alb"
# TLS 1.3 + 1.2 policy recommended by the ELB docs for ALB HTTPS listeners.
SSL_POLICY = "ELBSecurityPolicy-TLS13-1-2-2021-06"


def dump_docs(docs: list[dict[str, Any]], header: str = "") -> str:
    """YAML documents (``---`` between them), keys in the order given, lists indented (the style
    ``gantry gitops bump`` keeps), after a comment header."""
    return header + "---\n".join(dump_new(d) for d in docs)


def _labels(svc: Service) -> dict[str, str]:
    return {"app.kubernetes.io/name": svc.name, "app.kubernetes.io/part-of": "gantry"}


def _selector(svc: Service) -> dict[str, str]:
    return {"app.kubernetes.io/name": svc.name}


def _resources(se: ServiceEnvironment | None) -> dict[str, Any]:
    r = se.resources if se is not None else Resources()
    return {"requests": {"cpu": r.cpu_request, "memory": r.memory_request},
            "limits": {"cpu": r.cpu_limit, "memory": r.memory_limit}}


def _probe(path: str, period: int, failures: int) -> dict[str, Any]:
    return {"httpGet": {"path": path, "port": "http"}, "periodSeconds": period,
            "timeoutSeconds": 2, "failureThreshold": failures}


def deployment(svc: Service, image: str) -> dict[str, Any]:
    """The Deployment every environment overlays. No ``replicas``: the HPA owns the count, so
    Argo CD's self-heal does not fight it. Probes: startup gives a slow start up to 5 min
    (30 x 10 s) before liveness applies; readiness gates traffic."""
    spread = [{"maxSkew": 1, "topologyKey": key, "whenUnsatisfiable": when,
               "labelSelector": {"matchLabels": _selector(svc)}, "matchLabelKeys": ["pod-template-hash"]}
              for key, when in ((ZONE_KEY, "DoNotSchedule"), (HOST_KEY, "ScheduleAnyway"))]
    return {
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": svc.name, "labels": _labels(svc)},
        "spec": {
            "revisionHistoryLimit": 5,
            "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": "25%", "maxUnavailable": 0}},
            "selector": {"matchLabels": _selector(svc)},
            "template": {
                "metadata": {"labels": _labels(svc)},
                "spec": {
                    "securityContext": {"runAsNonRoot": True, "runAsUser": 10001,
                                        "seccompProfile": {"type": "RuntimeDefault"}},
                    "terminationGracePeriodSeconds": 30,
                    "topologySpreadConstraints": spread,
                    "containers": [{
                        "name": svc.name,
                        "image": image,
                        "ports": [{"containerPort": PORT, "name": "http"}],
                        "resources": _resources(None),
                        "startupProbe": _probe(svc.health.startup, 10, 30),
                        "readinessProbe": _probe(svc.health.readiness, 5, 3),
                        "livenessProbe": _probe(svc.health.liveness, 10, 3),
                        "securityContext": {"allowPrivilegeEscalation": False, "readOnlyRootFilesystem": True,
                                            "capabilities": {"drop": ["ALL"]}},
                    }],
                },
            },
        },
    }


def hpa(svc: Service, se: ServiceEnvironment | None = None) -> dict[str, Any]:
    lo, hi, target = (se.replicas_min, se.replicas_max, se.hpa_cpu_utilization) if se else (1, 1, 70)
    return {
        "apiVersion": "autoscaling/v2", "kind": "HorizontalPodAutoscaler",
        "metadata": {"name": svc.name, "labels": _labels(svc)},
        "spec": {
            "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": svc.name},
            "minReplicas": max(lo, 1), "maxReplicas": hi,
            "metrics": [{"type": "Resource", "resource": {
                "name": "cpu", "target": {"type": "Utilization", "averageUtilization": target}}}],
            # scale up at once, scale down slowly (the Kubernetes defaults, stated so a reader sees them)
            "behavior": {"scaleDown": {"stabilizationWindowSeconds": 300}},
        },
    }


def pdb(svc: Service, se: ServiceEnvironment | None = None) -> dict[str, Any]:
    return {
        "apiVersion": "policy/v1", "kind": "PodDisruptionBudget",
        "metadata": {"name": svc.name, "labels": _labels(svc)},
        "spec": {"minAvailable": se.min_available if se else 0, "selector": {"matchLabels": _selector(svc)}},
    }


def service(svc: Service) -> dict[str, Any]:
    return {
        "apiVersion": "v1", "kind": "Service",
        "metadata": {"name": svc.name, "labels": _labels(svc)},
        "spec": {"selector": _selector(svc),
                 "ports": [{"name": "http", "port": 80, "targetPort": "http", "protocol": "TCP"}]},
    }


def _ingress_rules(svc: Service, host: str) -> list[dict[str, Any]]:
    return [{"host": host, "http": {"paths": [{
        "path": "/", "pathType": "Prefix",
        "backend": {"service": {"name": svc.name, "port": {"name": "http"}}}}]}}]


def ingress(svc: Service, namespace_group: str = "shop") -> dict[str, Any]:
    """An ALB Ingress: HTTPS with redirect from HTTP, pods as IP targets, one ALB per namespace
    (``group.name``); the host and certificate come from the overlay."""
    host = f"{svc.name}.example.invalid"
    return {
        "apiVersion": "networking.k8s.io/v1", "kind": "Ingress",
        "metadata": {"name": svc.name, "labels": _labels(svc), "annotations": {
            "alb.ingress.kubernetes.io/scheme": "internet-facing",
            "alb.ingress.kubernetes.io/target-type": "ip",
            "alb.ingress.kubernetes.io/group.name": namespace_group,
            "alb.ingress.kubernetes.io/listen-ports": json.dumps([{"HTTP": 80}, {"HTTPS": 443}]),
            "alb.ingress.kubernetes.io/ssl-redirect": "443",
            "alb.ingress.kubernetes.io/ssl-policy": SSL_POLICY,
            "alb.ingress.kubernetes.io/healthcheck-path": svc.health.readiness,
            "alb.ingress.kubernetes.io/success-codes": "200",
        }},
        "spec": {"ingressClassName": INGRESS_CLASS, "tls": [{"hosts": [host]}],
                 "rules": _ingress_rules(svc, host)},
    }


def service_monitor(svc: Service) -> dict[str, Any]:
    return {
        "apiVersion": "monitoring.coreos.com/v1", "kind": "ServiceMonitor",
        "metadata": {"name": svc.name, "labels": _labels(svc)},
        "spec": {"selector": {"matchLabels": _selector(svc)},
                 "endpoints": [{"port": "http", "path": svc.health.metrics, "interval": "30s",
                                "scrapeTimeout": "10s"}]},
    }


BASE_RESOURCES = ("deployment.yaml", "hpa.yaml", "pdb.yaml", "service.yaml", "ingress.yaml",
                  "servicemonitor.yaml")


def base_files(svc: Service) -> dict[str, str]:
    """Relative name -> text of ``<manifest_path>/base/`` (environment-neutral)."""
    image_comment = f"# {svc.name}: the workload every environment overlays (image pinned by the overlay)\n"
    files = {
        "deployment.yaml": dump_docs([deployment(svc, svc.name)], image_comment),
        "hpa.yaml": dump_docs([hpa(svc)]),
        "pdb.yaml": dump_docs([pdb(svc)]),
        "service.yaml": dump_docs([service(svc)]),
        "ingress.yaml": dump_docs([ingress(svc)]),
        "servicemonitor.yaml": dump_docs([service_monitor(svc)]),
    }
    files["kustomization.yaml"] = dump_docs([{
        "apiVersion": "kustomize.config.k8s.io/v1beta1", "kind": "Kustomization",
        "resources": list(BASE_RESOURCES)}])
    return files


def overlay_patch(svc: Service, se: ServiceEnvironment, env: Environment) -> str:
    """``overlays/<env>/workload.yaml``: the environment's values as strategic-merge patches."""
    host = svc.ingress_host(se, env)
    annotations = {"alb.ingress.kubernetes.io/group.name": env.namespace}
    if env.certificate_arn:
        annotations["alb.ingress.kubernetes.io/certificate-arn"] = env.certificate_arn
    docs = [
        {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": svc.name},
         "spec": {"template": {"spec": {"containers": [{"name": svc.name, "resources": _resources(se)}]}}}},
        {"apiVersion": "autoscaling/v2", "kind": "HorizontalPodAutoscaler", "metadata": {"name": svc.name},
         "spec": {k: v for k, v in hpa(svc, se)["spec"].items() if k in ("minReplicas", "maxReplicas", "metrics")}},
        {"apiVersion": "policy/v1", "kind": "PodDisruptionBudget", "metadata": {"name": svc.name},
         "spec": {"minAvailable": se.min_available}},
        {"apiVersion": "networking.k8s.io/v1", "kind": "Ingress",
         "metadata": {"name": svc.name, "annotations": annotations},
         "spec": {"tls": [{"hosts": [host]}], "rules": _ingress_rules(svc, host)}},
    ]
    return dump_docs(docs, f"# {svc.name} in {env.name}: values from the catalog (jobs/catalog.yaml); "
                           "regenerate with 'gantry gitops init'.\n")


def overlay_kustomization(svc: Service, se: ServiceEnvironment, env: Environment, base_rel: str,
                          image: str) -> str:
    return f"""\
# {svc.name} in {env.name}: gantry gitops bump pins the image below by digest.
apiVersion: kustomize.config.k8s.io/v1beta1
kind: Kustomization
namespace: {env.namespace}
resources:
  - {base_rel}
patches:
  - path: workload.yaml  # the environment's values from the catalog (gantry gitops init)
images:
  - name: {svc.name}  # the image name used in base/deployment.yaml
    newName: {image}
"""


def workload_files(svc: Service, se: ServiceEnvironment, env: Environment, image: str) -> dict[str, str]:
    """Repository-relative path -> text of the service's base and its ``env`` overlay."""
    base = posixpath.join(svc.manifest_path, "base")
    overlay = se.manifest.rstrip("/")
    files = {posixpath.join(base, name): text for name, text in base_files(svc).items()}
    files[posixpath.join(overlay, "kustomization.yaml")] = overlay_kustomization(
        svc, se, env, posixpath.relpath(base, overlay), image)
    files[posixpath.join(overlay, "workload.yaml")] = overlay_patch(svc, se, env)
    return files

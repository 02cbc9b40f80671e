"""Platform applications of an EKS environment, as an Argo CD app-of-apps under ``platform/<env>/``.

``platform/<env>/root.yaml``: the one Application applied by hand (``kubectl apply -f``) that
syncs ``platform/<env>/apps/``: one Application per component, Helm charts pinned by version —
Karpenter, metrics-server (the HPAs need it), the AWS Load Balancer Controller (the Ingresses
need it), kube-prometheus-stack (Prometheus, Alertmanager → Slack, Grafana) — and one for
``platform/<env>/karpenter/``: the NodePool and EC2NodeClass. Sync waves order them: the
controllers (wave 0) before the Karpenter resources (wave 1).

The Karpenter names follow infra/modules/eks (``<cluster>-karpenter-controller`` role,
``<cluster>-karpenter`` interruption queue, ``<cluster>-node`` node role) and
infra/modules/network (private subnets tagged ``karpenter.sh/discovery: <cluster>``; the eks
module tags the cluster security group alike). Slack's webhook URL is never in git: Alertmanager
reads it from the file the Secret ``alertmanager-slack`` (key ``url``) mounts.
Sources: Argo CD declarative setup, Karpenter v1 NodePool/EC2NodeClass reference, chart values
of each chart's repository.
"""

from __future__ import annotations

import posixpath
from dataclasses import dataclass
from typing import Any

from pipeline_lib.core.catalog import Catalog, Environment
from pipeline_lib.core.errors import GantryError

from .monitoring.alertmanager import SLACK_SECRET, alertmanager_values
from .monitoring.resources import MONITORING_DIR, MONITORING_NAMESPACE
from .workloads import dump_docs

API_VERSION = "argoproj.io/v1alpha1"
DISCOVERY_TAG = "karpenter.sh/discovery"


@dataclass(frozen=True)
class Chart:
    """A Helm chart pinned by version: Argo CD ``repoURL`` + ``chart`` + ``targetRevision``."""

    name: str
    repo: str
    version: str
    namespace: str


# Pinned chart versions (bump deliberately; Renovate's argocd manager can propose updates).
# Karpenter's chart is in an OCI registry: Argo CD reads it through a Helm repository declared
# with enableOCI: "true" for public.ecr.aws/karpenter (argocd-repositories Secret).
KARPENTER = Chart("karpenter", "public.ecr.aws/karpenter", "1.14.1", "karpenter")
METRICS_SERVER = Chart("metrics-server", "https://kubernetes-sigs.github.io/metrics-server/", "3.13.0",
                       "kube-system")
AWS_LBC = Chart("aws-load-balancer-controller", "https://aws.github.io/eks-charts", "1.14.0", "kube-system")
KUBE_PROMETHEUS_STACK = Chart("kube-prometheus-stack", "https://prometheus-community.github.io/helm-charts",
                              "75.9.0", "monitoring")
CHARTS = (KARPENTER, METRICS_SERVER, AWS_LBC, KUBE_PROMETHEUS_STACK)

# Instance shapes for shop workloads: current-generation general purpose / compute, Nitro.
INSTANCE_CATEGORIES = ["c", "m", "r"]
MIN_GENERATION = "5"


def platform_root(env_name: str) -> str:
    return posixpath.join("platform", env_name)


def _require(env: Environment) -> tuple[str, tuple[str, ...]]:
    if env.platform != "eks":
        raise GantryError(f"environments.{env.name}", f"platform is {env.platform}: platform apps are "
                                                      "for eks environments only")
    if not env.cluster_name:
        raise GantryError(f"environments.{env.name}.cluster_name", "required for the platform apps "
                          "(the karpenter.sh/discovery tag value of the network module)")
    if not env.zones:
        raise GantryError(f"environments.{env.name}.zones", "required for the platform apps (Karpenter "
                          "provisions nodes in these zones)")
    return env.cluster_name, env.zones


def _application(name: str, env_name: str, source: dict[str, Any], namespace: str, wave: int,
                 server: str = "https://kubernetes.default.svc", extra_sync: tuple[str, ...] = ()) -> dict[str, Any]:
    return {
        "apiVersion": API_VERSION, "kind": "Application",
        "metadata": {"name": name, "namespace": "argocd",
                     "labels": {"app.kubernetes.io/part-of": "gantry-platform", "gantry.io/environment": env_name},
                     "annotations": {"argocd.argoproj.io/sync-wave": str(wave)},
                     "finalizers": ["resources-finalizer.argocd.argoproj.io"]},
        "spec": {
            "project": "default",
            "source": source,
            "destination": {"server": server, "namespace": namespace},
            "syncPolicy": {"automated": {"prune": True, "selfHeal": True},
                           "syncOptions": ["CreateNamespace=true", "ServerSideApply=true", *extra_sync],
                           "retry": {"limit": 5, "backoff": {"duration": "10s", "factor": 2, "maxDuration": "5m"}}},
        },
    }


def _chart_app(chart: Chart, env_name: str, values: dict[str, Any], wave: int, server: str) -> dict[str, Any]:
    source = {"repoURL": chart.repo, "chart": chart.name, "targetRevision": chart.version,
              "helm": {"releaseName": chart.name, "valuesObject": values}}
    return _application(chart.name, env_name, source, chart.namespace, wave, server)


def _alertmanager(catalog: Catalog) -> dict[str, Any]:
    """kube-prometheus-stack's ``alertmanager:`` values: the one Alertmanager configuration
    (:mod:`gitops.monitoring.alertmanager`: Slack by severity and team, the URL from the mounted
    Secret), two replicas."""
    values = alertmanager_values(catalog)
    values["alertmanagerSpec"]["replicas"] = 2
    return values


def applications(catalog: Catalog, env_name: str) -> list[dict[str, Any]]:
    """The child Applications of ``env_name``'s platform (raises GantryError if not eks)."""
    env = catalog.environments[env_name]
    cluster, _ = _require(env)
    account, region = catalog.aws_account_id, env.aws_region
    server = "https://kubernetes.default.svc"
    role = f"arn:aws:iam::{account}:role"
    karpenter = _chart_app(KARPENTER, env_name, {
        "settings": {"clusterName": cluster, "interruptionQueue": f"{cluster}-karpenter"},
        "serviceAccount": {"annotations": {"eks.amazonaws.com/role-arn": f"{role}/{cluster}-karpenter-controller"}},
        "replicas": 2,
        "controller": {"resources": {"requests": {"cpu": "500m", "memory": "512Mi"},
                                     "limits": {"cpu": "1", "memory": "1Gi"}}},
    }, 0, server)
    metrics = _chart_app(METRICS_SERVER, env_name, {
        "replicas": 2, "podDisruptionBudget": {"enabled": True, "minAvailable": 1},
    }, 0, server)
    lbc = _chart_app(AWS_LBC, env_name, {
        "clusterName": cluster, "region": region, "replicaCount": 2,
        "serviceAccount": {"annotations": {"eks.amazonaws.com/role-arn":
                                           f"{role}/{cluster}-aws-load-balancer-controller"}},
    }, 0, server)
    prometheus = _chart_app(KUBE_PROMETHEUS_STACK, env_name, {
        "prometheus": {"prometheusSpec": {
            "serviceMonitorSelectorNilUsesHelmValues": False,
            "ruleSelectorNilUsesHelmValues": False,
            "podMonitorSelectorNilUsesHelmValues": False,
            "retention": "15d", "replicas": 2}},
        "alertmanager": _alertmanager(catalog),
        "grafana": {"sidecar": {"dashboards": {"enabled": True, "label": "grafana_dashboard",
                                               "searchNamespace": "ALL"}}},
    }, 0, server)
    nodepools = _application(f"karpenter-nodepools-{env_name}", env_name,
                             {"repoURL": catalog.gitops_repo, "targetRevision": catalog.gitops_branch,
                              "path": posixpath.join(platform_root(env_name), "karpenter")},
                             "karpenter", 1, server)
    monitoring = _application(f"monitoring-{env_name}", env_name,
                              {"repoURL": catalog.gitops_repo, "targetRevision": catalog.gitops_branch,
                               "path": posixpath.join(MONITORING_DIR, env_name)},
                              MONITORING_NAMESPACE, 2, server)
    return [karpenter, metrics, lbc, prometheus, nodepools, monitoring]


def root_application(catalog: Catalog, env_name: str) -> dict[str, Any]:
    """The app-of-apps: syncs ``platform/<env>/apps`` into the argocd namespace."""
    return _application(f"platform-{env_name}", env_name,
                        {"repoURL": catalog.gitops_repo, "targetRevision": catalog.gitops_branch,
                         "path": posixpath.join(platform_root(env_name), "apps")}, "argocd", -1)


def node_resources(catalog: Catalog, env_name: str) -> list[dict[str, Any]]:
    """One EC2NodeClass and one on-demand NodePool across the catalog's zones (consolidation on)."""
    env = catalog.environments[env_name]
    cluster, zones = _require(env)
    node_class = {
        "apiVersion": "karpenter.k8s.aws/v1", "kind": "EC2NodeClass",
        "metadata": {"name": "default"},
        "spec": {
            "role": f"{cluster}-node",
            "amiSelectorTerms": [{"alias": "al2023@latest"}],
            "subnetSelectorTerms": [{"tags": {DISCOVERY_TAG: cluster}}],
            "securityGroupSelectorTerms": [{"tags": {DISCOVERY_TAG: cluster}}],
            "metadataOptions": {"httpEndpoint": "enabled", "httpTokens": "required",
                                "httpPutResponseHopLimit": 1},
            "blockDeviceMappings": [{"deviceName": "/dev/xvda", "ebs": {
                "volumeSize": "50Gi", "volumeType": "gp3", "encrypted": True, "deleteOnTermination": True}}],
            "tags": {"Environment": env_name, "ManagedBy": "karpenter"},
        },
    }
    node_pool = {
        "apiVersion": "karpenter.sh/v1", "kind": "NodePool",
        "metadata": {"name": "workloads"},
        "spec": {
            "template": {
                "metadata": {"labels": {"gantry.io/pool": "workloads"}},
                "spec": {
                    "nodeClassRef": {"group": "karpenter.k8s.aws", "kind": "EC2NodeClass", "name": "default"},
                    "requirements": [
                        {"key": "topology.kubernetes.io/zone", "operator": "In", "values": list(zones)},
                        {"key": "karpenter.sh/capacity-type", "operator": "In", "values": ["on-demand"]},
                        {"key": "kubernetes.io/arch", "operator": "In", "values": ["amd64", "arm64"]},
                        {"key": "karpenter.k8s.aws/instance-category", "operator": "In",
                         "values": INSTANCE_CATEGORIES},
                        {"key": "karpenter.k8s.aws/instance-generation", "operator": "Gt",
                         "values": [MIN_GENERATION]},
                    ],
                    "expireAfter": "720h",
                },
            },
            "disruption": {"consolidationPolicy": "WhenEmptyOrUnderutilized", "consolidateAfter": "1m",
                           # at most 10% of nodes disrupted at once; PDBs still apply per workload
                           "budgets": [{"nodes": "10%"}]},
            "limits": {"cpu": "1000", "memory": "4000Gi"},
        },
    }
    return [node_class, node_pool]


def platform_files(catalog: Catalog, env_name: str) -> dict[str, str]:
    """Repository-relative path -> text of ``platform/<env>/``."""
    root = platform_root(env_name)
    header = f"# {env_name} platform: generated by 'gantry gitops init' from the catalog.\n"
    files: dict[str, str] = {
        posixpath.join(root, "root.yaml"): dump_docs(
            [root_application(catalog, env_name)],
            header + "# Apply once: kubectl apply -n argocd -f root.yaml (Argo CD then syncs apps/).\n"),
    }
    apps = applications(catalog, env_name)
    names = []
    for app in apps:
        name = f"{app['metadata']['name']}.yaml"
        names.append(name)
        files[posixpath.join(root, "apps", name)] = dump_docs([app], header)
    files[posixpath.join(root, "apps", "kustomization.yaml")] = dump_docs([{
        "apiVersion": "kustomize.config.k8s.io/v1beta1", "kind": "Kustomization", "resources": names}])
    node_docs = node_resources(catalog, env_name)
    files[posixpath.join(root, "karpenter", "nodeclass.yaml")] = dump_docs([node_docs[0]], header)
    files[posixpath.join(root, "karpenter", "nodepool.yaml")] = dump_docs([node_docs[1]], header)
    files[posixpath.join(root, "karpenter", "kustomization.yaml")] = dump_docs([{
        "apiVersion": "kustomize.config.k8s.io/v1beta1", "kind": "Kustomization",
        "resources": ["nodeclass.yaml", "nodepool.yaml"]}])
    return files

"""`gantry gitops init`: workloads with the production traits, the prod platform apps, and the
upgrade of an existing repository that never overwrites a person's change."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from gitops import platform, workloads
from gitops.bump import bump
from gitops.hostlock import lock_path
from gitops.layout import RECORD, init_repo
from pipeline_lib.cli import main
from tests.conftest import git
from tests.gitops.conftest import PROJECT_ROOT, REGISTRY, clone, digest


def _docs(path: Path) -> list[dict]:
    return [d for d in yaml.safe_load_all(path.read_text()) if d]


def _one(path: Path) -> dict:
    (doc,) = _docs(path)
    return doc


@pytest.fixture()
def prod_and_event(tmp_path: Path, catalog) -> Path:
    bare = tmp_path / "g.git"
    for env in ("prod", "event"):
        assert init_repo(bare, catalog, catalog.services_in(env), env, REGISTRY)
    return clone(bare, tmp_path / "work")


def test_prod_workloads_carry_the_catalog_settings(prod_and_event: Path, catalog) -> None:
    work, prod = prod_and_event, catalog.environments["prod"]
    for svc in catalog.services_in("prod"):
        se = svc.environment("prod")
        base, overlay = work / svc.manifest_path / "base", work / se.manifest
        assert sorted(_one(base / "kustomization.yaml")["resources"]) == sorted(workloads.BASE_RESOURCES)
        dep = _one(base / "deployment.yaml")
        pod = dep["spec"]["template"]["spec"]
        (container,) = pod["containers"]
        assert "replicas" not in dep["spec"]  # the HPA owns the count
        assert {c["topologyKey"] for c in pod["topologySpreadConstraints"]} == {
            "topology.kubernetes.io/zone", "kubernetes.io/hostname"}
        assert pod["securityContext"]["runAsNonRoot"] is True
        assert container["securityContext"]["readOnlyRootFilesystem"] is True
        for probe, path in (("readinessProbe", svc.health.readiness), ("livenessProbe", svc.health.liveness),
                            ("startupProbe", svc.health.startup)):
            assert container[probe]["httpGet"]["path"] == path
        patches = {d["kind"]: d for d in _docs(overlay / "workload.yaml")}
        res = patches["Deployment"]["spec"]["template"]["spec"]["containers"][0]["resources"]
        assert res == {"requests": {"cpu": se.resources.cpu_request, "memory": se.resources.memory_request},
                       "limits": {"cpu": se.resources.cpu_limit, "memory": se.resources.memory_limit}}
        hpa = patches["HorizontalPodAutoscaler"]["spec"]
        assert (hpa["minReplicas"], hpa["maxReplicas"]) == (se.replicas_min, se.replicas_max)
        assert hpa["metrics"][0]["resource"]["target"]["averageUtilization"] == se.hpa_cpu_utilization
        assert patches["PodDisruptionBudget"]["spec"]["minAvailable"] == se.min_available
        assert patches["Ingress"]["spec"]["rules"][0]["host"] == svc.ingress_host(se, prod)
        assert patches["Ingress"]["spec"]["tls"] == [{"hosts": [svc.ingress_host(se, prod)]}]
        kust = _one(overlay / "kustomization.yaml")
        assert kust["namespace"] == prod.namespace and kust["patches"] == [{"path": "workload.yaml"}]
        assert _one(base / "servicemonitor.yaml")["kind"] == "ServiceMonitor"


def test_event_gets_values_only_and_platform_apps_are_pinned(prod_and_event: Path, catalog) -> None:
    work = prod_and_event
    for svc in catalog.services_in("event"):
        values = work / svc.environment("event").manifest
        assert values.is_file()
        assert not (values.parent / "templates").exists()  # ECS: nothing renders a chart
    root = work / "platform" / "prod"
    apps = {d["metadata"]["name"]: d for f in (root / "apps").glob("*.yaml") if f.name != "kustomization.yaml"
            for d in _docs(f)}
    assert set(_one(root / "apps" / "kustomization.yaml")["resources"]) == {
        f.name for f in (root / "apps").glob("*.yaml") if f.name != "kustomization.yaml"}
    charts = {a["spec"]["source"]["chart"]: a["spec"]["source"] for a in apps.values() if "chart" in a["spec"]["source"]}
    assert {"karpenter", "metrics-server", "aws-load-balancer-controller", "kube-prometheus-stack"} <= set(charts)
    for source in charts.values():
        assert re.fullmatch(r"\d+\.\d+\.\d+", source["targetRevision"]), source  # pinned, no range
    assert _one(root / "root.yaml")["spec"]["source"]["path"] == "platform/prod/apps"
    # Alertmanager -> Slack: the webhook URL is read from a mounted Secret, never written to git
    am = charts["kube-prometheus-stack"]["helm"]["valuesObject"]["alertmanager"]
    slack = [r for r in am["config"]["receivers"] if r["name"].startswith("slack-")]
    assert slack and all("api_url" not in c for r in slack for c in r["slack_configs"])
    assert am["config"]["global"]["slack_api_url_file"].startswith(f"/etc/alertmanager/secrets/{platform.SLACK_SECRET}/")
    assert am["alertmanagerSpec"]["secrets"] == [platform.SLACK_SECRET]
    text = "".join(p.read_text() for p in work.rglob("*.yaml"))
    assert "hooks.slack.com" not in text and "api_url:" not in text


def test_karpenter_selects_what_terraform_tags(prod_and_event: Path, catalog) -> None:
    network = (PROJECT_ROOT / "infra/modules/network/main.tf").read_text()
    tag = re.search(r'"(karpenter\.sh/discovery)"\s*=\s*var\.name', network).group(1)
    eks = (PROJECT_ROOT / "infra/modules/eks/main.tf").read_text()
    assert re.search(r'key\s*=\s*"karpenter\.sh/discovery"', eks), "eks module tags the cluster security group"
    prod = catalog.environments["prod"]
    node_class = _one(prod_and_event / "platform/prod/karpenter/nodeclass.yaml")
    assert node_class["spec"]["subnetSelectorTerms"] == [{"tags": {tag: prod.cluster_name}}]
    assert node_class["spec"]["securityGroupSelectorTerms"] == [{"tags": {tag: prod.cluster_name}}]
    assert node_class["spec"]["role"] == f"{prod.cluster_name}-node"  # infra/modules/eks aws_iam_role.node
    pool = _one(prod_and_event / "platform/prod/karpenter/nodepool.yaml")
    zones = [r for r in pool["spec"]["template"]["spec"]["requirements"] if r["key"] == "topology.kubernetes.io/zone"]
    assert zones == [{"key": "topology.kubernetes.io/zone", "operator": "In", "values": list(prod.zones)}]
    assert pool["spec"]["disruption"]["consolidationPolicy"] == "WhenEmptyOrUnderutilized"


# What gantry wrote before the production traits (a GitOps repo created by an older gantry).
OLD_DEPLOYMENT = """\
# {name}: the Deployment every environment overlays (image pinned by the overlay)
apiVersion: apps/v1
kind: Deployment
metadata:
  name: {name}
  labels:
    app.kubernetes.io/name: {name}
spec:
  replicas: 1
  selector:
    matchLabels:
      app.kubernetes.io/name: {name}
  template:
    metadata:
      labels:
        app.kubernetes.io/name: {name}
    spec:
      securityContext:
        runAsNonRoot: true
        runAsUser: 10001
      containers:
        - name: {name}
          image: {name}  # replaced by the overlay's images: entry
          ports:
            - containerPort: 8080
              name: http
          readinessProbe:
            httpGet:
              path: /healthz
              port: http
          securityContext:
            allowPrivilegeEscalation: false
            readOnlyRootFilesystem: true
"""
OLD_BASE = "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nresources:\n  - deployment.yaml\n  - service.yaml\n"
OLD_OVERLAY = """\
# {name} in dev: gantry gitops bump pins the image below by digest.
apiVersion: kustomize.config.k8s.io/v1beta1
kind: Kustomization
namespace: shop-dev
resources:
  - ../../base
images:
  - name: {name}  # the image name used in base/deployment.yaml
    newName: {registry}/shop/{name}
"""
OLD_SERVICE = """\
apiVersion: v1
kind: Service
metadata:
  name: {name}
spec:
  selector:
    app.kubernetes.io/name: {name}
  ports:
    - name: http
      port: 80
      targetPort: http
"""


@pytest.fixture()
def old_repo(tmp_path: Path, catalog) -> Path:
    """A repo in the old layout for dev; order-api's Deployment was then edited by a person."""
    bare = tmp_path / "old.git"
    work = tmp_path / "seed"
    git(tmp_path, "init", "-q", "--bare", "-b", "main", str(bare))
    git(tmp_path, "init", "-q", "-b", "main", str(work))
    for svc in catalog.services_in("dev"):
        base, overlay = work / svc.manifest_path / "base", work / svc.environment("dev").manifest
        base.mkdir(parents=True)
        overlay.mkdir(parents=True)
        (base / "deployment.yaml").write_text(OLD_DEPLOYMENT.format(name=svc.name))
        (base / "service.yaml").write_text(OLD_SERVICE.format(name=svc.name))
        (base / "kustomization.yaml").write_text(OLD_BASE)
        (overlay / "kustomization.yaml").write_text(OLD_OVERLAY.format(name=svc.name, registry=REGISTRY))
    edited = work / "apps/order-api/base/deployment.yaml"
    edited.write_text(edited.read_text().replace("          ports:\n",
                                                 "          env:\n            - {name: FEATURE, value: on}\n"
                                                 "          ports:\n"))
    git(work, "add", "-A")
    git(work, "commit", "-qm", "old layout")
    git(work, "push", "-q", str(bare), "main")
    bump(bare.as_uri(), catalog=catalog, service="storefront", environment="dev",
         image=f"{REGISTRY}/shop/storefront", digest=digest("c"), tag="c1")
    return bare


def test_init_upgrades_an_old_repo_and_keeps_a_persons_change(old_repo: Path, tmp_path: Path, catalog, capsys) -> None:
    before = clone(old_repo, tmp_path / "before")
    assert main(["gitops", "init", "--repo", str(old_repo), "--env", "dev", "--registry", REGISTRY]) == 1
    captured = capsys.readouterr()
    assert "kept    apps/order-api/base/deployment.yaml: changed by a person since gantry wrote it; not overwritten" \
        in captured.out
    assert captured.err.strip() == ("gantry: gitops init: 1 file(s) changed by a person were kept; merge gantry's "
                                    "version by hand (see --diff)")
    after = clone(old_repo, tmp_path / "after")
    # the person's file is byte for byte what they wrote
    rel = "apps/order-api/base/deployment.yaml"
    assert (after / rel).read_text() == (before / rel).read_text()
    # untouched old files were upgraded; kustomizations merged; the pin bump wrote survives
    dep = _one(after / "apps/storefront/base/deployment.yaml")
    assert dep["spec"]["template"]["spec"]["topologySpreadConstraints"]
    base = _one(after / "apps/storefront/base/kustomization.yaml")
    assert base["resources"][:2] == ["deployment.yaml", "service.yaml"]
    assert set(base["resources"]) == set(workloads.BASE_RESOURCES)
    overlay_text = (after / "apps/storefront/overlays/dev/kustomization.yaml").read_text()
    assert f"digest: {digest('c')}" in overlay_text and "newTag: c1" in overlay_text
    assert "# the image name used in base/deployment.yaml" in overlay_text
    assert _one(after / "apps/storefront/overlays/dev/kustomization.yaml")["patches"] == [{"path": "workload.yaml"}]
    assert (after / "apps/storefront/overlays/dev/workload.yaml").is_file()
    assert (after / RECORD).is_file()
    # the upgrade queued on the host lock in $GANTRY_LOCK_DIR (conftest), read by the CLI
    assert lock_path(old_repo.resolve().as_uri(), str(tmp_path / "locks")).is_file()

    # a second run changes nothing and still reports the kept file
    head = git(old_repo, "rev-parse", "main")
    assert main(["gitops", "init", "--repo", str(old_repo), "--env", "dev", "--diff"]) == 1
    out = capsys.readouterr().out
    assert "kept    apps/order-api/base/deployment.yaml" in out and "+++ b/apps/order-api/base/deployment.yaml (gantry)" in out
    assert "0 added, 0 updated, 0 merged, 1 kept" in out
    assert git(old_repo, "rev-parse", "main") == head

    # a file gantry wrote and nobody touched since is updated when the catalog changes
    raw = yaml.safe_load((PROJECT_ROOT / "jobs/catalog.yaml").read_text())
    raw[0]["_catalog"]["services"][0]["health"] = {"readiness": "/ready-now"}
    changed = tmp_path / "catalog.yaml"
    changed.write_text(yaml.safe_dump(raw))
    assert main(["gitops", "init", "--repo", str(old_repo), "--env", "dev", "--catalog", str(changed),
                 "--format", "json"]) == 1
    import json
    report = json.loads(capsys.readouterr().out)
    assert "apps/storefront/base/deployment.yaml" in report["updated"]
    assert report["kept"] == ["apps/order-api/base/deployment.yaml"]


def test_dry_run_changes_nothing(old_repo: Path, capsys) -> None:
    head = git(old_repo, "rev-parse", "main")
    assert main(["gitops", "init", "--repo", str(old_repo), "--env", "dev", "--dry-run"]) == 1
    out = capsys.readouterr().out
    assert "would add     apps/storefront/base/hpa.yaml" in out and "dry run, updated" in out
    assert git(old_repo, "rev-parse", "main") == head


def test_extra_generators_join_the_layout(tmp_path: Path, catalog, monkeypatch) -> None:
    """The extension point monitoring uses: generators named in GENERATORS add files, listed in a base."""
    import sys
    import types

    from gitops import layout
    mod = types.ModuleType("gantry_test_extra_generator")

    def rules(ctx):
        for svc in ctx.services:
            base = f"{svc.manifest_path}/base"
            yield layout.LayoutFile(f"{base}/extra.yaml", f"apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {svc.name}-extra\n",
                                    include_in=base)
    mod.rules = rules
    monkeypatch.setitem(sys.modules, mod.__name__, mod)
    monkeypatch.setattr(layout, "GENERATORS", [])
    layout.register_generator(f"{mod.__name__}:rules")
    bare = tmp_path / "x.git"
    init_repo(bare, catalog, [catalog.service("order-api")], "dev", REGISTRY)
    work = clone(bare, tmp_path / "w")
    assert "extra.yaml" in _one(work / "apps/order-api/base/kustomization.yaml")["resources"]
    assert (work / "apps/order-api/base/extra.yaml").is_file()

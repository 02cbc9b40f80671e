"""`gantry gitops check`: real `kubectl kustomize`, the Kubernetes API schemas of
kubernetes-validate and the packaged CRDs; one clear line per problem."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import yaml

from gitops import validate
from gitops.layout import init_repo
from pipeline_lib.cli import main
from tests.gitops.conftest import REGISTRY, clone
from tests.support.paths import FIXTURES

pytestmark = pytest.mark.skipif(shutil.which("kubectl") is None, reason="kubectl not installed")


@pytest.fixture(scope="module")
def generated(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A checkout of a repo `gantry gitops init` made for dev, prod and event (built once)."""
    from pipeline_lib.core.catalog import load_catalog
    catalog = load_catalog(Path(__file__).resolve().parents[2] / "jobs" / "catalog.yaml")
    tmp = tmp_path_factory.mktemp("check")
    bare = tmp / "g.git"
    for env in ("prod", "dev", "event"):
        init_repo(bare, catalog, catalog.services_in(env), env, REGISTRY)
    return clone(bare, tmp / "work")


@pytest.fixture()
def copy(generated: Path, tmp_path: Path) -> Path:
    dest = tmp_path / "copy"
    shutil.copytree(generated, dest, ignore=shutil.ignore_patterns(".git"))
    return dest


def _edit(path: Path, change) -> None:
    docs = [d for d in yaml.safe_load_all(path.read_text()) if d]
    for d in docs:
        change(d)
    path.write_text(yaml.safe_dump_all(docs, sort_keys=False))


def test_generated_repo_validates(generated: Path, capsys) -> None:
    assert main(["gitops", "check", "--repo", str(generated)]) == 0
    out = capsys.readouterr().out
    assert out.startswith(f"{generated}: ok: ") and "valid" in out
    ctx, problems = validate.check_repo(generated)
    assert problems == []
    kinds = {d["kind"] for r in ctx.rendered for d in r.docs}
    # every kind gantry generates was rendered and checked, custom resources included
    assert {"Deployment", "HorizontalPodAutoscaler", "PodDisruptionBudget", "Service", "Ingress",
            "ServiceMonitor", "Application", "NodePool", "EC2NodeClass", "PrometheusRule", "ConfigMap"} <= kinds
    targets = {r.target for r in ctx.rendered}
    assert {"platform/prod/apps", "platform/prod/karpenter", "platform/prod/root.yaml"} <= targets
    assert not any(t.endswith("/base") for t in targets)  # bases are checked through their overlays


def test_hpa_without_cpu_requests_fails_with_one_clear_line(copy: Path, capsys) -> None:
    def drop_cpu(doc: dict) -> None:
        if doc["kind"] == "Deployment":
            for c in doc["spec"]["template"]["spec"]["containers"]:
                for part in ("requests", "limits"):
                    c.get("resources", {}).get(part, {}).pop("cpu", None)
    _edit(copy / "apps/order-api/base/deployment.yaml", drop_cpu)
    _edit(copy / "apps/order-api/overlays/prod/workload.yaml", drop_cpu)
    assert main(["gitops", "check", "--repo", str(copy), "--env", "prod"]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [
        "gantry: gitops check: apps/order-api/overlays/prod (apps/order-api/base/deployment.yaml): "
        "HorizontalPodAutoscaler/order-api: spec.metrics: scales Deployment/order-api on CPU utilisation but "
        "its container order-api has no resources.requests.cpu (utilisation is a percentage of the request; "
        "the HPA cannot scale)"]


def test_deployment_without_zone_spread_fails(copy: Path, capsys) -> None:
    def no_zone(doc: dict) -> None:
        spec = doc["spec"]["template"]["spec"]
        spec["topologySpreadConstraints"] = [c for c in spec["topologySpreadConstraints"]
                                             if c["topologyKey"] != "topology.kubernetes.io/zone"]
    _edit(copy / "apps/storefront/base/deployment.yaml", no_zone)
    assert main(["gitops", "check", "--repo", str(copy), "--env", "prod", "--format", "json"]) == 1
    captured = capsys.readouterr()
    report = json.loads(captured.out)
    assert [(p["check"], p["kind"], p["name"], p["target"]) for p in report["problems"]] == [
        ("zone-spread", "Deployment", "storefront", "apps/storefront/overlays/prod")]
    assert captured.err.strip() == (
        "gantry: gitops check: apps/storefront/overlays/prod (apps/storefront/base/deployment.yaml): "
        "Deployment/storefront: spec.template.spec.topologySpreadConstraints: no spread across "
        "topology.kubernetes.io/zone: one availability zone's loss can take every replica")


def test_schema_violations_name_file_kind_name_and_field(copy: Path, capsys) -> None:
    _edit(copy / "apps/product-api/base/deployment.yaml",
          lambda d: d["spec"].update(replicas="three"))
    _edit(copy / "apps/product-api/base/servicemonitor.yaml",
          lambda d: d["spec"]["endpoints"][0].update(intervall="30s"))  # a typo: unknown field
    _edit(copy / "platform/prod/karpenter/nodepool.yaml",
          lambda d: d["spec"]["disruption"].update(consolidationPolicy="Sometimes"))
    assert main(["gitops", "check", "--repo", str(copy), "--env", "prod"]) == 1
    err = capsys.readouterr().err
    assert ("gantry: gitops check: apps/product-api/overlays/prod (apps/product-api/base/deployment.yaml): "
            "Deployment/product-api: spec.replicas: 'three' is not of type 'integer'") in err
    assert ("ServiceMonitor/product-api: spec.endpoints[0]: Additional properties are not allowed "
            "('intervall' was unexpected)") in err
    assert ("gantry: gitops check: platform/prod/karpenter (platform/prod/karpenter/nodepool.yaml): "
            "NodePool/workloads: spec.disruption.consolidationPolicy: 'Sometimes' is not one of") in err
    assert len(err.strip().splitlines()) == 3


def test_unknown_kind_and_broken_kustomization(copy: Path, capsys) -> None:
    assert validate.validate_doc({"apiVersion": "example.com/v1", "kind": "Widget", "metadata": {"name": "w"}}) == [
        ("apiVersion", "no schema for example.com/v1 Widget (not a Kubernetes 1.31 kind and no packaged CRD)")]
    (copy / "apps/storefront/overlays/dev/kustomization.yaml").write_text("resources:\n  - ../../nowhere\n")
    assert main(["gitops", "check", "--repo", str(copy), "--env", "dev"]) == 1
    err = capsys.readouterr().err.strip()
    assert err.startswith("gantry: apps/storefront/overlays/dev: kubectl kustomize failed:")
    assert main(["gitops", "check", "--repo", str(copy / "nope")]) == 2


def test_packaged_crds_are_the_fixtures_byte_for_byte() -> None:
    from importlib import resources
    packaged = [p for p in resources.files("gitops").joinpath("crds").iterdir() if p.name.endswith(".yaml")]
    assert packaged
    for p in packaged:
        assert p.read_bytes() == (FIXTURES / "crds" / p.name).read_bytes(), p.name
    schemas = validate.crd_schemas()
    for kind in ("Application", "NodePool", "EC2NodeClass", "ServiceMonitor", "PrometheusRule",
                 "TargetGroupBinding", "IngressClassParams"):
        assert any(k == kind for _, k in schemas), kind


def test_registered_checks_run_too(copy: Path, monkeypatch) -> None:
    """The registry other checks (promtool, amtool) join."""
    monkeypatch.setattr(validate, "CHECKS", dict(validate.CHECKS))

    @validate.register_check("no-latest")
    def no_latest(ctx):
        for r in ctx.rendered:
            for d in r.docs:
                if d["kind"] == "Ingress" and "certificate-arn" not in str(d["metadata"].get("annotations")):
                    yield validate.Problem(r.target, "Ingress", d["metadata"]["name"], "metadata.annotations",
                                           "no certificate-arn annotation")
    _, problems = validate.check_repo(copy, ["prod"])
    assert problems and {p.check for p in problems} == {"no-latest"}


@pytest.mark.skipif(shutil.which("promtool") is None, reason="promtool not installed (make test installs it)")
def test_broken_alert_rule_fails_with_the_file_named(copy: Path, capsys) -> None:
    """The monitoring generated into the layout is checked by promtool through `gitops check`."""
    rules = sorted((copy / "monitoring" / "prod" / "rules").glob("*.yaml"))
    assert rules, "the layout has no PrometheusRules"
    text = rules[0].read_text()
    rules[0].write_text(text.replace("expr: ", "expr: sum(( ", 1))
    assert main(["gitops", "check", "--repo", str(copy)]) != 0
    err = capsys.readouterr().err
    rel = rules[0].relative_to(copy).as_posix()
    assert any(ln.startswith(f"gantry: gitops check: {rel}: PrometheusRule/") and "parse error" in ln
               for ln in err.splitlines()), err

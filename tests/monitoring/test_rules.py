"""Generated rules, unit tests, dashboards and Alertmanager config, checked by promtool and amtool."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import yaml

from gitops.monitoring import (SLACK_URL_FILE, alertmanager_config, alertmanager_values, check_monitoring,
                               monitoring_resources, render_alertmanager_config)
from gitops.monitoring.dashboards import dashboard_exprs
from pipeline_lib import cli
from pipeline_lib.core import pipelinemetrics as pm
from pipeline_lib.core.catalog import Catalog, load_catalog
from pipeline_lib.core.errors import GantryError

from .parts import need

PROJECT_ROOT = Path(__file__).resolve().parents[2]
REQUIRED_ANNOTATIONS = {"summary", "description", "why", "runbook_url"}


@pytest.fixture(scope="module")
def catalog() -> Catalog:
    return load_catalog(PROJECT_ROOT / "jobs" / "catalog.yaml")


@pytest.fixture(scope="module")
def tools() -> None:
    need("promtool", "prometheus")
    need("amtool", "prometheus-alertmanager")


def _render(catalog: Catalog, root: Path, environments: list[str]) -> dict[str, str]:
    files: dict[str, str] = {}
    for env in environments:
        files.update(monitoring_resources(catalog, env))
    for rel, text in files.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(text)
    (root / "monitoring" / "alertmanager.yaml").write_text(render_alertmanager_config(alertmanager_config(catalog)))
    return files


@pytest.fixture()
def repo(catalog: Catalog, tmp_path: Path, tools: None) -> Path:
    """A GitOps repository holding prod's monitoring and the Alertmanager configuration."""
    _render(catalog, tmp_path, ["prod"])
    return tmp_path


def _docs(path: Path) -> list[dict]:
    return [d for d in yaml.safe_load_all(path.read_text()) if d]


def _alerts(path: Path) -> list[dict]:
    spec = _docs(path)[0]["spec"]
    return [r for g in spec["groups"] for r in g["rules"] if "alert" in r]


def test_every_kubernetes_environment_gets_rules_per_service_and_all_pass_the_tools(
        catalog: Catalog, tmp_path: Path, tools: None) -> None:
    repo = tmp_path
    _render(catalog, repo, list(catalog.environments))
    assert check_monitoring(repo) == []
    for name, env in catalog.environments.items():
        root = repo / "monitoring" / name
        if env.platform == "ecs-fargate":
            assert not root.exists()
            continue
        for svc in catalog.services_in(name):
            rule_file = root / "rules" / f"{svc.name}.yaml"
            manifest = _docs(rule_file)[0]
            assert manifest["apiVersion"] == "monitoring.coreos.com/v1" and manifest["kind"] == "PrometheusRule"
            alerts = _alerts(rule_file)
            assert {a["alert"] for a in alerts} >= {"ServiceErrorBudgetBurnFast", "ServiceLatencyP99High",
                                                    "ServiceHPAAtMaxReplicas", "ServicePodRestarting"}
            for alert in alerts:
                assert REQUIRED_ANNOTATIONS <= set(alert["annotations"]), alert["alert"]
                assert alert["labels"]["severity"] in (("critical", "warning") if env.platform != "jenkins" else ("warning",))
                assert alert["labels"]["env"] == name
                assert alert["labels"]["team"] == svc.owners[0]
                assert f'service="{svc.name}"' in alert["expr"] or f'="{svc.name}"' in alert["expr"]
            hpa = next(a for a in alerts if a["alert"] == "ServiceHPAAtMaxReplicas")
            assert hpa["for"] == "15m" and "kube_horizontalpodautoscaler_spec_max_replicas" in hpa["expr"]
            kustomization = _docs(root / "kustomization.yaml")[0]
            assert f"rules/{svc.name}.yaml" in kustomization["resources"]
    # gantry's own rules exist once, in the eks environment.
    gantry = [p for p in repo.glob("monitoring/*/rules/gantry.yaml")]
    assert [p.parts[-3] for p in gantry] == [n for n, e in catalog.environments.items() if e.platform == "eks"]
    names = {a["alert"] for a in _alerts(gantry[0])}
    assert {"GantryWebhookTriggersPending", "GantryWebhookTriggerStuck", "GantryGateFailing",
            "GantryImageReplicationFailing"} <= names


def test_every_alert_has_a_firing_and_a_silent_promtool_case(repo: Path) -> None:
    for rule_file in repo.glob("monitoring/*/rules/*.yaml"):
        test = _docs(rule_file.parent.parent / "tests" / f"{rule_file.stem}.test.yaml")[0]
        assert test["rule_files"] == [f"../rules/{rule_file.name}"]
        checks = [c for t in test["tests"] for c in t["alert_rule_test"]]
        for alert in _alerts(rule_file):
            mine = [c for c in checks if c["alertname"] == alert["alert"]]
            assert any(c["exp_alerts"] for c in mine), f"{alert['alert']}: no case where it fires"
            assert any(not c["exp_alerts"] for c in mine), f"{alert['alert']}: no case where it stays silent"


def _edit(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert old in text, f"{old!r} not in {path}"
    path.write_text(text.replace(old, new, 1))


def test_a_rule_that_does_not_parse_is_reported_by_promtool(repo: Path) -> None:
    rule = next(repo.glob("monitoring/prod/rules/storefront.yaml"))
    _edit(rule, "> 0.5", "> > 0.5")
    problems = check_monitoring(repo)
    assert any(p.startswith("monitoring/prod/rules/storefront.yaml: promtool check rules failed:") for p in problems), problems


def test_a_changed_threshold_fails_the_unit_tests(repo: Path) -> None:
    # The HPA alert waits 30m instead of 15m: the shipped test expects it at 20m.
    rule = repo / "monitoring" / "prod" / "rules" / "order-api.yaml"
    manifest = _docs(rule)[0]
    hpa = next(r for g in manifest["spec"]["groups"] for r in g["rules"] if r.get("alert") == "ServiceHPAAtMaxReplicas")
    hpa["for"] = "30m"
    rule.write_text(yaml.safe_dump(manifest))
    problems = check_monitoring(repo)
    assert len(problems) == 1, problems
    assert problems[0].startswith("monitoring/prod/tests/order-api.test.yaml: promtool test rules failed:")
    assert "ServiceHPAAtMaxReplicas" in problems[0]


def test_alerts_without_tests_or_annotations_are_reported(repo: Path) -> None:
    (repo / "monitoring" / "prod" / "tests" / "gantry.test.yaml").unlink()
    rule = repo / "monitoring" / "prod" / "rules" / "gantry.yaml"
    manifest = _docs(rule)[0]
    del manifest["spec"]["groups"][0]["rules"][0]["annotations"]["summary"]
    rule.write_text(yaml.safe_dump(manifest))
    problems = check_monitoring(repo)
    assert "monitoring/prod/rules/gantry.yaml: alert GantryWebhookTriggersPending: missing annotations.summary" in problems
    assert any(p.startswith("monitoring/prod/rules/gantry.yaml: ") and "no promtool test file" in p for p in problems)


def test_dashboards_are_sidecar_configmaps_whose_queries_parse(repo: Path) -> None:
    dashboards = sorted(repo.glob("monitoring/prod/dashboards/*.yaml"))
    assert {p.stem for p in dashboards} == {"services", "pipeline"}
    for path in dashboards:
        cm = _docs(path)[0]
        assert cm["kind"] == "ConfigMap" and cm["metadata"]["labels"]["grafana_dashboard"] == "1"
        (key, text), = cm["data"].items()
        board = json.loads(text)
        assert key == f"{path.stem}.json" and board["uid"] and board["panels"]
        assert all(p["targets"] for p in board["panels"])
    pipeline = json.loads(next(iter(_docs(repo / "monitoring/prod/dashboards/pipeline.yaml")[0]["data"].values())))
    queries = " ".join(e for _, e in dashboard_exprs(pipeline))
    for metric in (pm.STAGE_OUTCOME, pm.STAGE_DURATION, pm.STAGE_LAST_FAILURE):
        assert metric in queries

    path = repo / "monitoring" / "prod" / "dashboards" / "services.yaml"
    _edit(path, "histogram_quantile(0.99, sum by (le)", "histogram_quantile(0.99, sum by (le")
    problems = check_monitoring(repo)
    assert len(problems) == 1 and problems[0].startswith(
        "monitoring/prod/dashboards/services.yaml[services.json]: a dashboard query does not parse:"), problems


def test_alertmanager_reads_the_slack_url_from_a_file_and_amtool_checks_it(catalog: Catalog, repo: Path) -> None:
    config = alertmanager_config(catalog)
    assert config["global"]["slack_api_url_file"] == SLACK_URL_FILE
    text = render_alertmanager_config(config)
    assert "hooks.slack.com" not in text and "api_url:" not in text
    teams = {o for s in catalog.services for o in s.owners}
    assert {r["name"] for r in config["receivers"]} >= {f"slack-{t}" for t in teams}

    path = repo / "monitoring" / "alertmanager.yaml"
    broken = yaml.safe_load(path.read_text())
    broken["route"]["routes"].append({"receiver": "slack-nobody", "matchers": ['team="nobody"']})
    broken["receivers"][0]["slack_configs"][0]["api_url"] = "https://hooks.slack.com/services/T0/B0/leaked"
    path.write_text(yaml.safe_dump(broken))
    problems = check_monitoring(repo)
    assert "monitoring/alertmanager.yaml: receiver slack-alerts: slack api_url is inline: use api_url_file" in problems
    assert any(p.startswith("monitoring/alertmanager.yaml: amtool check-config failed:") and "slack-nobody" in p
               for p in problems), problems


def test_helm_values_embedding_the_config_are_checked_too(catalog: Catalog, tmp_path: Path, tools: None) -> None:
    values = {"alertmanager": alertmanager_values(catalog)}
    assert values["alertmanager"]["alertmanagerSpec"]["secrets"] == [SLACK_URL_FILE.split("/")[-2]]
    (tmp_path / "values.yaml").write_text(yaml.safe_dump(values))
    assert check_monitoring(tmp_path) == []
    values["alertmanager"]["config"]["route"]["receiver"] = "nobody"
    (tmp_path / "values.yaml").write_text(yaml.safe_dump(values))
    problems = check_monitoring(tmp_path)
    assert len(problems) == 1 and problems[0].startswith("values.yaml[alertmanager.config]: amtool check-config failed:")


def test_event_environment_on_ecs_gets_no_kubernetes_monitoring(catalog: Catalog) -> None:
    fargate = [n for n, e in catalog.environments.items() if e.platform == "ecs-fargate"]
    assert fargate and all(monitoring_resources(catalog, n) == {} for n in fargate)
    with pytest.raises(GantryError, match="unknown environment 'staging'"):
        monitoring_resources(catalog, "staging")


def test_cli_render_then_check(repo: Path, tmp_path: Path, capsys) -> None:
    out = tmp_path / "gitops"
    catalog = str(PROJECT_ROOT / "jobs" / "catalog.yaml")
    assert cli.main(["monitoring", "render", "--catalog", catalog, "--env", "prod", "--output", str(out)]) == 0
    written = [ln.split(" ", 1)[1] for ln in capsys.readouterr().out.splitlines()]
    assert written and all((out / rel).is_file() for rel in written)
    assert cli.main(["monitoring", "check", str(out)]) == 0
    assert capsys.readouterr().out.strip() == f"{out}: monitoring ok"
    _edit(out / "monitoring/prod/rules/storefront.yaml", "> 0.5", "> > 0.5")
    assert cli.main(["monitoring", "check", str(out), "--format", "json"]) == 1
    report = json.loads(capsys.readouterr().out)
    assert report["ok"] is False and report["problems"][0].startswith("monitoring/prod/rules/storefront.yaml:")


def test_check_refuses_to_pass_without_promtool(repo: Path, monkeypatch) -> None:
    monkeypatch.setenv("PATH", str(repo))  # nothing there
    with pytest.raises(GantryError, match="promtool: not found on PATH: install the Debian package prometheus"):
        check_monitoring(repo)


def test_every_runbook_url_leads_to_a_section_of_the_rendered_runbook(catalog: Catalog) -> None:
    files = monitoring_resources(catalog, "prod")
    runbook = files["monitoring/prod/RUNBOOK.md"]
    headings = {line[3:] for line in runbook.splitlines() if line.startswith("## ")}
    page = catalog.gitops_repo.removesuffix(".git") + "/blob/main/monitoring/prod/RUNBOOK.md"
    for rel, text in files.items():
        if "/rules/" not in rel:
            continue
        for alert in _alerts_of(text):
            url = alert["annotations"]["runbook_url"]
            assert url.startswith(page + "#") and url.split("#", 1)[1] in headings, (alert["alert"], url)
            assert alert["annotations"]["why"] in runbook


def _alerts_of(text: str) -> list[dict]:
    spec = yaml.safe_load(text)["spec"]
    return [r for g in spec["groups"] for r in g["rules"] if "alert" in r]

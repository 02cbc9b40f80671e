"""The catalog model: the shipped catalog, and one clear error per problem in bad ones."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest
import yaml

from pipeline_lib.core.catalog import load_catalog, parse_catalog, unwrap
from pipeline_lib.cli import main
from pipeline_lib.core.errors import GantryError

ROOT = Path(__file__).resolve().parents[2]
CATALOG = ROOT / "jobs" / "catalog.yaml"


@pytest.fixture()
def raw() -> dict:
    return unwrap(yaml.safe_load(CATALOG.read_text()))


def problems(data: object) -> list[str]:
    with pytest.raises(GantryError) as info:
        parse_catalog(data, "jobs/catalog.yaml")
    assert info.value.exit_code == 2
    return info.value.lines()


def test_shipped_catalog_has_the_shop_services() -> None:
    catalog = load_catalog(CATALOG)
    names = [s.name for s in catalog.services]
    assert {"storefront", "order-api", "event-api"} <= set(names)
    assert list(catalog.service("event-api").environments) == ["event"]
    assert catalog.registry_region == "ap-northeast-2"
    assert catalog.replica_regions == ("ap-northeast-1",)
    storefront = catalog.service("storefront")
    assert storefront.environment("dev").manifest == "apps/storefront/overlays/dev"
    # the event stack's images stay apart from prod's
    assert storefront.environment("event").ecr_repository != storefront.environment("prod").ecr_repository
    assert catalog.environments["event"].domain != catalog.environments["prod"].domain


def test_derived_repositories_and_prefixes(raw: dict) -> None:
    catalog = parse_catalog(raw)
    expected = sorted({s["ecr_repository"] for s in raw["services"]} |
                      {e["ecr_repository"] for s in raw["services"]
                       for e in (s["environments"] or {}).values() if e and "ecr_repository" in e})
    assert catalog.ecr_repositories() == expected
    assert catalog.replication_prefixes() == sorted({r.split("/")[0] + "/" for r in expected})


def test_missing_required_key_names_file_and_path(raw: dict) -> None:
    del raw["services"][2]["ecr_repository"]
    assert problems(raw) == ["gantry: jobs/catalog.yaml: services[2].ecr_repository: required"]


def test_every_problem_is_reported_once(raw: dict) -> None:
    bad = copy.deepcopy(raw)
    bad["services"][0]["name"] = "Store Front"
    bad["services"][1]["repo"] = "not-a-repo"
    bad["services"][1]["environments"]["staging"] = {}
    bad["services"][3]["ecr_repository"] = "UPPER/case"
    bad["defaults"]["aws_account_id"] = 123456789012
    bad["services"][0]["colour"] = "blue"
    lines = problems(bad)
    assert len(lines) == 6, lines
    joined = "\n".join(lines)
    for path in ("services[0].name", "services[1].repo", "services[1].environments.staging",
                 "services[3].ecr_repository", "defaults.aws_account_id", "services[0].colour"):
        assert f"jobs/catalog.yaml: {path}: " in joined


def test_duplicate_service_and_shared_repository(raw: dict) -> None:
    raw["services"].append(copy.deepcopy(raw["services"][0]))
    raw["services"][1]["ecr_repository"] = raw["services"][0]["ecr_repository"]
    lines = problems(raw)
    assert any("services[4].name: duplicate service 'storefront'" in ln for ln in lines)
    assert any("services[1].environments.dev.ecr_repository: repository 'shop/storefront' is already used"
               in ln for ln in lines)


@pytest.mark.parametrize("data, expected", [
    (None, "must be a mapping, got nothing"),
    ([], "must be a mapping or a one-item list holding"),
    ({"version": 1, "defaults": {}, "environments": {}, "services": "x"}, "services: must be a list"),
    ({"version": 2, "defaults": {}, "environments": {}, "services": []}, "unsupported catalog version 2"),
])
def test_wrong_shapes(data: object, expected: str) -> None:
    assert any(expected in ln for ln in problems(data))


def test_path_escapes_are_refused(raw: dict) -> None:
    raw["services"][0]["dockerfile"] = "../../etc/passwd"
    raw["services"][1]["manifest_path"] = "/abs/path"
    lines = problems(raw)
    assert any("services[0].dockerfile: must be a relative path" in ln for ln in lines)
    assert any("services[1].manifest_path: must be a relative path" in ln for ln in lines)


def test_replicas_min_above_max(raw: dict) -> None:
    raw["services"][0]["environments"]["prod"]["replicas"] = {"min": 9, "max": 3}
    assert problems(raw) == ["gantry: jobs/catalog.yaml: services[0].environments.prod.replicas: "
                             "min (9) is greater than max (3)"]


def test_jenkins_job_builder_skips_the_wrapped_catalog() -> None:
    data = yaml.safe_load(CATALOG.read_text())
    # JJB: a top-level list of single-key dicts; keys starting with "_" are skipped
    assert isinstance(data, list) and len(data) == 1 and list(data[0]) == ["_catalog"]
    assert unwrap(data) is data[0]["_catalog"]
    with pytest.raises(GantryError, match="one-item list holding '_catalog:'"):
        parse_catalog([{"job": {}}])


def test_cli_check_exit_codes(tmp_path: Path, capsys: pytest.CaptureFixture[str], raw: dict) -> None:
    assert main(["catalog", "check", "--catalog", str(CATALOG)]) == 0
    del raw["services"][2]["ecr_repository"]
    bad = tmp_path / "catalog.yaml"
    bad.write_text(yaml.safe_dump(raw))
    assert main(["catalog", "check", "--catalog", str(bad)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [f"gantry: {bad}: services[2].ecr_repository: required"]


@pytest.mark.parametrize("content, expected", [
    ("services: [\n", ":2: invalid YAML"),
    ("a: 1\na: 2\n", ":2: invalid YAML: duplicate key 'a' (first on line 1)"),
    (b"\xff\xfe\x00garbage", "not UTF-8 text"),
    ("", "must be a mapping, got nothing"),
])
def test_cli_broken_files(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                          content: str | bytes, expected: str) -> None:
    bad = tmp_path / "catalog.yaml"
    bad.write_bytes(content if isinstance(content, bytes) else content.encode())
    assert main(["catalog", "check", "--catalog", str(bad)]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"gantry: {bad}")
    assert expected in err
    assert "Traceback" not in err


def test_cli_missing_file_and_directory(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["catalog", "check", "--catalog", str(tmp_path / "nope.yaml")]) == 2
    assert main(["catalog", "check", "--catalog", str(tmp_path)]) == 2
    err = capsys.readouterr().err.splitlines()
    assert err == [f"gantry: {tmp_path / 'nope.yaml'}: no such file",
                   f"gantry: {tmp_path}: is a directory, expected a YAML file"]


def test_list_json(capsys: pytest.CaptureFixture[str]) -> None:
    import json
    assert main(["catalog", "list", "--catalog", str(CATALOG), "--format", "json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert [r["name"] for r in rows] == [s.name for s in load_catalog(CATALOG).services]


def test_control_characters_are_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "catalog.yaml"
    bad.write_bytes(b"\x00\x01garbage")
    assert main(["catalog", "check", "--catalog", str(bad)]) == 2
    err = capsys.readouterr().err
    assert err == f"gantry: {bad}: invalid YAML: special characters are not allowed (character 0)\n"


@pytest.mark.parametrize("branch", ["main", "release/2026-11", "gitops.prod"])
def test_gitops_branch_is_read(raw: dict, branch: str) -> None:
    assert parse_catalog(raw).gitops_branch == "main"  # the default
    raw["defaults"]["gitops_branch"] = branch
    assert parse_catalog(raw).gitops_branch == branch


@pytest.mark.parametrize("branch", ["a..b", "x.lock", "/x", "x/", "has space", "a:b", "@{1}", "", 7])
def test_gitops_branch_must_be_a_git_branch_name(raw: dict, branch: object) -> None:
    raw["defaults"]["gitops_branch"] = branch
    (line,) = [p for p in problems(raw) if "gitops_branch" in p]
    assert line.startswith("gantry: jobs/catalog.yaml: defaults.gitops_branch: ")


def test_production_settings_of_the_shipped_catalog(raw: dict) -> None:
    catalog = parse_catalog(raw)
    prod = catalog.environments["prod"]
    raw_prod = raw["environments"]["prod"]
    assert prod.zones == tuple(raw_prod["zones"]) and all(z.startswith(prod.aws_region) for z in prod.zones)
    assert prod.cluster_name == raw_prod["cluster_name"]
    for i, svc in enumerate(catalog.services):
        for env_name, se in svc.environments.items():
            given = raw["services"][i]["environments"][env_name] or {}
            if "resources" in given:
                assert se.resources.cpu_request == str(given["resources"]["requests"]["cpu"])
                assert se.resources.memory_limit == str(given["resources"]["limits"]["memory"])
            assert 1 <= se.hpa_cpu_utilization <= 100
            assert se.min_available == given.get("pdb_min_available", se.min_available)
    # defaults keep a catalog without the new keys valid
    se = catalog.service("order-api").environment("dev")
    assert (se.resources.cpu_request, se.hpa_cpu_utilization, se.min_available) == ("250m", 70, 0)
    assert catalog.service("order-api").health.readiness == "/healthz"
    storefront = catalog.service("storefront")
    assert storefront.ingress_host(storefront.environment("prod"), prod) == "shop.flashshop.example"
    assert storefront.ingress_host(storefront.environment("dev"), catalog.environments["dev"]) == \
        f"storefront.{catalog.environments['dev'].domain}"


@pytest.mark.parametrize("edit, path, message", [
    (lambda s: s.update(resources={"requests": {"cpu": "2"}, "limits": {"cpu": "500m"}}),
     "resources.limits.cpu", "500m is below the request 2"),
    (lambda s: s.update(resources={"requests": {"memory": "1Gi"}, "limits": {"memory": "512Mi"}}),
     "resources.limits.memory", "512Mi is below the request 1Gi"),
    (lambda s: s.update(resources={"requests": {"cpu": "lots"}}), "resources.requests.cpu", "invalid value 'lots'"),
    (lambda s: s.update(resources={"requests": {"gpu": 1}}), "resources.requests.gpu", "unknown key"),
    (lambda s: s.update(hpa_cpu_utilization=150), "hpa_cpu_utilization", "integer from 1 to 100"),
    (lambda s: s.update(pdb_min_available=4), "pdb_min_available", "leaves no pod to evict"),
    (lambda s: s.update(pdb_min_available="half"), "pdb_min_available", "percentage"),
    (lambda s: s.update(host="Shop.Example"), "host", "lower-case DNS name"),
])
def test_production_settings_are_validated(raw: dict, edit, path: str, message: str) -> None:
    svc_env = raw["services"][0]["environments"]["prod"]
    svc_env.pop("resources", None)
    edit(svc_env)
    lines = problems(raw)
    assert len(lines) == 1, lines
    assert f"services[0].environments.prod.{path}: " in lines[0] and message in lines[0]


def test_zones_health_and_cluster_are_validated(raw: dict) -> None:
    raw["environments"]["prod"]["zones"] = ["ap-northeast-1a", "ap-northeast-2b"]
    raw["environments"]["dev"]["zones"] = ["ap-northeast-2a", "ap-northeast-2a"]
    raw["environments"]["prod"]["certificate_arn"] = "arn:aws:acm:nope"
    raw["services"][0]["health"] = {"readiness": "readyz", "startup": "/ok"}
    joined = "\n".join(problems(raw))
    assert "environments.prod.zones: every zone must be in ap-northeast-2" in joined
    assert "environments.dev.zones: lists a zone twice" in joined
    assert "environments.prod.certificate_arn: invalid value" in joined
    assert "services[0].health.readiness: invalid value 'readyz'" in joined

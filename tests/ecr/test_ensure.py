"""gantry ecr ensure against moto in server mode (standard AWS_ENDPOINT_URL settings)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import boto3
import pytest

from pipeline_lib.core.catalog import load_catalog
from pipeline_lib.cli import main
from pipeline_lib.ecr.ensure import lifecycle_policy, merge_rules, plan_ensure
from pipeline_lib.ecr.replication import desired_rule

PROJECT_ROOT = Path(__file__).resolve().parents[2]
CATALOG = PROJECT_ROOT / "jobs" / "catalog.yaml"
# someone else's rule: replicates ml/ to Tokyo (moto allows only one rule per registry)
FOREIGN = {"destinations": [{"region": "ap-northeast-1", "registryId": "123456789012"}],
           "repositoryFilters": [{"filter": "ml/", "filterType": "PREFIX_MATCH"}]}
OTHER_DEST = {"destinations": [{"region": "us-west-2", "registryId": "123456789012"}],
              "repositoryFilters": [{"filter": "ml/", "filterType": "PREFIX_MATCH"}]}

pytestmark = pytest.mark.integration


def test_ensure_twice_second_run_zero_changes_and_foreign_rule_kept(aws_env, capsys) -> None:
    seoul = boto3.client("ecr", region_name="ap-northeast-2")
    seoul.put_replication_configuration(replicationConfiguration={"rules": [FOREIGN]})
    seoul.create_repository(repositoryName="shop/order-api", imageTagMutability="MUTABLE")

    assert main(["ecr", "ensure", "--catalog", str(CATALOG), "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert "would be made" in out and "dry run" in out
    assert "create repository shop/storefront" in out and "shop/order-api: set tag mutability IMMUTABLE" in out
    assert len(seoul.describe_repositories()["repositories"]) == 1  # dry run changed nothing

    assert main(["ecr", "ensure", "--catalog", str(CATALOG)]) == 0
    assert "applied" in capsys.readouterr().out
    catalog = load_catalog(CATALOG)
    for region in ("ap-northeast-2", "ap-northeast-1"):
        client = boto3.client("ecr", region_name=region)
        repos = {r["repositoryName"]: r for r in client.describe_repositories()["repositories"]}
        assert sorted(repos) == catalog.ecr_repositories()
        for name, repo in repos.items():
            assert repo["imageTagMutability"] == "IMMUTABLE"
            assert repo["imageScanningConfiguration"]["scanOnPush"] is True
            policy = json.loads(client.get_lifecycle_policy(repositoryName=name)["lifecyclePolicyText"])
            assert policy == lifecycle_policy()
        if region == "ap-northeast-2":
            assert repos["shop/storefront"]["encryptionConfiguration"]["encryptionType"] == "KMS"
    rules = seoul.describe_registry()["replicationConfiguration"]["rules"]
    assert len(rules) == 1  # the foreign rule survives, with our prefixes added
    assert rules[0]["destinations"] == FOREIGN["destinations"]
    assert sorted(f["filter"] for f in rules[0]["repositoryFilters"]) == ["event/", "ml/", "shop/"]

    assert main(["ecr", "ensure", "--catalog", str(CATALOG)]) == 0
    assert "0 changes" in capsys.readouterr().out
    assert seoul.describe_registry()["replicationConfiguration"]["rules"] == rules


def test_merge_rules_never_drops_a_rule() -> None:
    catalog = load_catalog(CATALOG)
    desired = desired_rule(catalog)
    merged = merge_rules([OTHER_DEST], desired)
    assert merged == [OTHER_DEST, desired]
    assert merge_rules(merged, desired) is None
    everything = {"destinations": desired["destinations"]}  # no filters: replicates all repositories
    assert merge_rules([everything], desired) is None
    assert merge_rules([{**desired, "repositoryFilters": [{"filter": "shop", "filterType": "PREFIX_MATCH"},
                                                          {"filter": "event", "filterType": "PREFIX_MATCH"}]}],
                       desired) is None


def test_registry_refusing_a_second_rule_keeps_the_foreign_one(aws_env, capsys) -> None:
    """moto (like a registry at its rule limit) refuses a second rule: clear error, nothing dropped."""
    seoul = boto3.client("ecr", region_name="ap-northeast-2")
    seoul.put_replication_configuration(replicationConfiguration={"rules": [OTHER_DEST]})
    assert main(["ecr", "ensure", "--catalog", str(CATALOG)]) == 2
    err = capsys.readouterr().err
    assert "will not drop the 1 existing rule" in err and len(err.strip().splitlines()) == 1
    assert seoul.describe_registry()["replicationConfiguration"]["rules"] == [OTHER_DEST]


def test_ensure_uses_standard_endpoint_setting_in_a_subprocess(aws_env, tmp_path: Path) -> None:
    """The CLI as Jenkins runs it: only AWS_ENDPOINT_URL points it at moto."""
    import os
    proc = subprocess.run([sys.executable, "-m", "pipeline_lib.cli", "ecr", "ensure", "--catalog", str(CATALOG)],
                          capture_output=True, text=True, env=dict(os.environ), timeout=120)
    assert proc.returncode == 0, proc.stderr
    plan = plan_ensure(load_catalog(CATALOG))
    assert plan.actions == []


def test_bad_catalog_is_exit_2(tmp_path: Path, capsys) -> None:
    bad = tmp_path / "c.yaml"
    bad.write_text("version: 1\n")
    assert main(["ecr", "ensure", "--catalog", str(bad)]) == 2
    assert capsys.readouterr().err.startswith("gantry: ")

"""Apply infra/modules/ecr against moto (server mode) and read the result back with boto3.

The test root feeds the module the values `gantry infra sync` writes for prod (the replication
rule from pipeline_lib.ecr.replication.desired_rule), with a provider pointed at moto. The real
env roots are untouched: moto settings live only in this generated root.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import boto3
import pytest

from pipeline_lib.core.catalog import Catalog
from pipeline_lib.ecr.replication import desired_rule
from pipeline_lib.infra.catalogvars import env_values
from pipeline_lib.infra.cliconfig import write_cli_config

from .conftest import INFRA

pytestmark = pytest.mark.integration

ROOT_TF = '''
terraform {
  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = "5.100.0"
    }
  }
}

variable "ecr_repositories" {
  type = list(string)
}

variable "ecr_replication_rule" {
  type = any
}

provider "aws" {
  region                      = "%(region)s"
  access_key                  = "testing"
  secret_key                  = "testing"
  skip_credentials_validation = true
  skip_metadata_api_check     = true
  skip_region_validation      = true
  s3_use_path_style           = true
  # sts points at moto too: the provider asks it for the account id (the replication
  # configuration's id), so skip_requesting_account_id stays false.
  endpoints {
    ecr = "%(url)s"
    sts = "%(url)s"
    iam = "%(url)s"
    kms = "%(url)s"
  }
}

module "ecr" {
  source           = "%(module)s"
  repositories     = var.ecr_repositories
  replication_rule = var.ecr_replication_rule
}
'''


def _tf(root: Path, env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["terraform", *args, "-input=false", "-no-color"], cwd=root, env=env,
                          capture_output=True, text=True, timeout=240)


@pytest.mark.slow   # a real terraform apply against moto (~40 s): run beside the other slow ones
def test_ecr_module_applies_the_catalog_rule(aws_env, catalog: Catalog, tmp_path: Path) -> None:
    region = catalog.registry_region
    root = tmp_path / "ecr-moto"
    root.mkdir()
    (root / "main.tf").write_text(ROOT_TF % {"region": region, "url": aws_env.url,
                                             "module": INFRA / "modules" / "ecr"}, encoding="utf-8")
    prod = env_values(catalog, "prod")
    (root / "catalog.auto.tfvars.json").write_text(json.dumps(
        {k: prod[k] for k in ("ecr_repositories", "ecr_replication_rule")}), encoding="utf-8")
    env = dict(os.environ, TF_IN_AUTOMATION="1", CHECKPOINT_DISABLE="1",
               TF_CLI_CONFIG_FILE=str(write_cli_config(tmp_path / "terraform.rc")))
    for k in ("AWS_ENDPOINT_URL", "AWS_PROFILE"):
        env.pop(k, None)

    init = _tf(root, env, "init")
    assert init.returncode == 0, init.stderr
    apply = _tf(root, env, "apply", "-auto-approve")
    assert apply.returncode == 0, apply.stdout[-2000:] + apply.stderr

    ecr = boto3.client("ecr", region_name=region, endpoint_url=aws_env.url)
    repos = {r["repositoryName"]: r for r in ecr.describe_repositories()["repositories"]}
    assert sorted(repos) == catalog.ecr_repositories()
    assert all(r["imageTagMutability"] == "IMMUTABLE" for r in repos.values())
    assert all(r["imageScanningConfiguration"]["scanOnPush"] for r in repos.values())

    rules = ecr.describe_registry()["replicationConfiguration"]["rules"]
    assert rules == [desired_rule(catalog)]  # one rule, one definition
    assert [d["region"] for d in rules[0]["destinations"]] == ["ap-northeast-1"]
    assert {f["filter"] for f in rules[0]["repositoryFilters"]} == {"event/", "shop/"}

    # `gantry ecr ensure` puts the same rule through the ECR API: Terraform sees no change.
    ecr.put_replication_configuration(replicationConfiguration={"rules": [desired_rule(catalog)]})
    plan = _tf(root, env, "plan", "-detailed-exitcode")
    assert plan.returncode == 0, plan.stdout[-2000:] + plan.stderr

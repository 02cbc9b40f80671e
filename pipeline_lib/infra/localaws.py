"""Point a COPY of an env root at a local AWS endpoint (moto): override files and a local state.

Terraform merges ``*_override.tf`` files into the root's blocks (Terraform docs, "Override
Files"): a ``provider`` block with the same name and alias gets its arguments replaced, nested
blocks such as ``endpoints`` are replaced, everything else (``allowed_account_ids``,
``default_tags``) stays as written. So the real provider configuration is what runs — only
credentials and service endpoints change. STS is pointed at the endpoint too, so the provider's
account-id lookup (and ``allowed_account_ids``) runs for real against moto's account.

Never call these on ``infra/`` itself: the callers copy the tree first.
"""

from __future__ import annotations

import json
import re
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pipeline_lib.core.fileio import write_atomic
from .hcl import load_root

OVERRIDE_FILE = "zz_gantry_localaws_override.tf"
# Endpoint names of the AWS provider 5.x ``endpoints`` block for every service infra/ uses.
# Anything not listed still goes to AWS_ENDPOINT_URL, which callers also set.
SERVICES = ("acm", "applicationautoscaling", "autoscaling", "chatbot", "cloudfront", "cloudwatch",
            "codebuild", "dms", "dynamodb", "ec2", "ecr", "ecs", "eks", "elasticache", "elbv2",
            "events", "firehose", "iam", "kms", "lambda", "logs", "rds", "route53",
            "resourcegroupstaggingapi", "s3", "scheduler", "secretsmanager", "sns", "sqs", "ssm",
            "sts", "wafv2")
_KEY = re.compile(r"envs/([A-Za-z0-9_-]+)/terraform\.tfstate")


@dataclass(frozen=True)
class ProviderRef:
    """One ``provider "aws"`` block of a root: its alias (``None`` for the default) and region."""

    alias: str | None
    region: str


def aws_providers(root: Path) -> list[ProviderRef]:
    """The root's ``provider "aws"`` blocks (region kept as written, e.g. ``var.environment.aws_region``)."""
    out = []
    for block in load_root(root).of("provider", "aws"):
        region = str(block.get("region", ""))
        if region.startswith("${") and region.endswith("}"):
            region = region[2:-1]
        out.append(ProviderRef(block.get("alias"), region))
    return out


def _hcl_region(region: str) -> str:
    return region if re.match(r"^(var|local)\.", region) else json.dumps(region)


def render_provider_override(providers: list[ProviderRef], url: str) -> str:
    """``provider "aws"`` override blocks: static test credentials and every endpoint at ``url``."""
    endpoints = "\n".join(f"    {s:<24} = {json.dumps(url)}" for s in SERVICES)
    blocks = []
    for p in providers:
        alias = f"  alias                       = {json.dumps(p.alias)}\n" if p.alias else ""
        blocks.append(
            f'provider "aws" {{\n{alias}'
            f"  region                      = {_hcl_region(p.region)}\n"
            '  access_key                  = "testing"\n'
            '  secret_key                  = "testing"\n'
            "  skip_credentials_validation = true\n"
            "  skip_metadata_api_check     = true\n"
            "  skip_region_validation      = true\n"
            "  s3_use_path_style           = true\n"
            f"  endpoints {{\n{endpoints}\n  }}\n}}\n")
    return "\n".join(blocks)


def remote_states(root: Path) -> dict[str, str]:
    """``terraform_remote_state`` data sources of ``root`` => the env whose state they read."""
    out = {}
    for block in load_root(root).of("data", "terraform_remote_state"):
        config = block.get("config") or {}
        m = _KEY.search(str(config.get("key", "")))
        out[block.labels[1]] = m.group(1) if m else block.labels[1]
    return out


def remote_state_outputs(root: Path, name: str) -> set[str]:
    """Output names ``root`` reads from ``data.terraform_remote_state.<name>``."""
    pattern = re.compile(rf"data\.terraform_remote_state\.{re.escape(name)}\.outputs\.([A-Za-z0-9_]+)")
    return {m.group(1) for tf in root.glob("*.tf") for m in pattern.finditer(tf.read_text(encoding="utf-8"))}


def write_local_state(path: Path, outputs: dict[str, Any]) -> Path:
    """A Terraform state (format version 4) holding only ``outputs`` — what remote state reads."""
    state = {
        "version": 4, "terraform_version": "1.11.0", "serial": 1, "lineage": str(uuid.uuid4()),
        "outputs": {k: {"value": v, "type": _tf_type(v)} for k, v in outputs.items()},
        "resources": [], "check_results": None,
    }
    return write_atomic(path, json.dumps(state, indent=2) + "\n")


def _tf_type(value: Any) -> Any:
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, (int, float)):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return ["tuple", [_tf_type(v) for v in value]]
    if isinstance(value, dict):
        return ["object", {k: _tf_type(v) for k, v in value.items()}]
    raise TypeError(f"no Terraform type for {type(value).__name__}")


def write_overrides(root: Path, url: str, state_path: Path,
                    remote_state_paths: dict[str, Path] | None = None) -> Path:
    """Write the override file into ``root`` (a copy): local backend at ``state_path``, the AWS
    providers at ``url``, and each ``terraform_remote_state`` read from a local state file.

    ``remote_state_paths`` maps a data source name to its state file (see
    :func:`write_local_state`). Returns the override file's path.
    """
    parts = [f'terraform {{\n  backend "local" {{\n    path = {json.dumps(str(state_path))}\n  }}\n}}\n',
             render_provider_override(aws_providers(root), url)]
    for name, path in sorted((remote_state_paths or {}).items()):
        parts.append(f'data "terraform_remote_state" {json.dumps(name)} {{\n  backend = "local"\n'
                     f"  config = {{\n    path = {json.dumps(str(path))}\n  }}\n}}\n")
    return write_atomic(root / OVERRIDE_FILE, "\n".join(parts))

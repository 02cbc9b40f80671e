"""``gantry ecr ensure``: repositories and registry replication as the catalog says, idempotently.

For every catalog repository, in the registry region and every replica region: the repository
exists with immutable tags, scan-on-push, KMS encryption and the lifecycle policy (keep N
release tags, expire untagged images after D days). In the registry region the replication
configuration holds :func:`~pipeline_lib.ecr.replication.desired_rule`, merged with rules that
already exist: someone else's rule is never dropped. A second run plans nothing.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from pipeline_lib.core.answer import parse as parse_answer, require
from pipeline_lib.core.catalog import Catalog
from pipeline_lib.core.errors import GantryError
from .auth import ecr_client
from .replication import desired_rule

DEFAULT_KEEP_RELEASES = 30
DEFAULT_UNTAGGED_DAYS = 7
RELEASE_TAG_PREFIXES = ("v",)


@dataclass
class Action:
    """One change to make: a line for the plan and the call that makes it."""

    region: str
    what: str
    apply: Callable[[], Any] = field(repr=False)

    def line(self) -> str:
        return f"{self.region}: {self.what}"


@dataclass
class Plan:
    actions: list[Action] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    def apply(self) -> None:
        for action in self.actions:
            action.apply()


def lifecycle_policy(keep_releases: int = DEFAULT_KEEP_RELEASES,
                     untagged_days: int = DEFAULT_UNTAGGED_DAYS) -> dict[str, Any]:
    """The ECR lifecycle policy document (``PutLifecyclePolicy``)."""
    return {"rules": [
        {"rulePriority": 1, "description": f"expire untagged images after {untagged_days} days",
         "selection": {"tagStatus": "untagged", "countType": "sinceImagePushed", "countUnit": "days",
                       "countNumber": untagged_days},
         "action": {"type": "expire"}},
        {"rulePriority": 2, "description": f"keep the last {keep_releases} release tags",
         "selection": {"tagStatus": "tagged", "tagPrefixList": list(RELEASE_TAG_PREFIXES),
                       "countType": "imageCountMoreThan", "countNumber": keep_releases},
         "action": {"type": "expire"}},
    ]}


def _covers(rule: dict[str, Any], region: str, registry: str, prefix: str) -> bool:
    """Does ``rule`` replicate repositories starting with ``prefix`` to ``region``?"""
    dests = {(d.get("region"), d.get("registryId")) for d in rule.get("destinations", [])}
    if (region, registry) not in dests:
        return False
    filters = [f.get("filter", "") for f in rule.get("repositoryFilters") or []
               if f.get("filterType", "PREFIX_MATCH") == "PREFIX_MATCH"]
    return not (rule.get("repositoryFilters") or []) or any(prefix.startswith(f) for f in filters)


def merge_rules(existing: list[dict[str, Any]], desired: dict[str, Any]) -> list[dict[str, Any]] | None:
    """The replication rules with ``desired`` in force; None when the existing rules already do it.

    Nothing is ever removed. A rule with exactly our destinations gets our missing prefix
    filters added (a rule replicates the union of its filters, so its owner's repositories are
    still replicated exactly as before); otherwise ``desired`` is appended as a rule of its own.
    """
    prefixes = [f["filter"] for f in desired["repositoryFilters"]]
    pairs = [(d["region"], d["registryId"], p) for d in desired["destinations"] for p in prefixes]
    if all(any(_covers(r, *pair) for r in existing) for pair in pairs):
        return None
    want = sorted((d["region"], d["registryId"]) for d in desired["destinations"])
    merged = [dict(r) for r in existing]
    for rule in merged:
        if sorted((d.get("region"), d.get("registryId")) for d in rule.get("destinations", [])) == want \
                and rule.get("repositoryFilters"):
            have = {f.get("filter") for f in rule["repositoryFilters"]}
            rule["repositoryFilters"] = list(rule["repositoryFilters"]) + [
                f for f in desired["repositoryFilters"] if f["filter"] not in have]
            return merged
    return merged + [desired]


def _call(region: str, what: str, fn: Callable[..., Any], **kwargs: Any) -> Any:
    import botocore.exceptions
    try:
        return fn(**kwargs)
    except botocore.exceptions.ClientError as exc:
        err = exc.response.get("Error", {})
        raise GantryError(f"ecr {region}", f"{what}: {err.get('Code')}: {err.get('Message')}") from None
    except botocore.exceptions.BotoCoreError as exc:
        raise GantryError(f"ecr {region}", f"{what}: {exc}") from None


def _repository_actions(client: Any, region: str, name: str, policy: dict[str, Any],
                        kms_key: str | None, plan: Plan) -> None:
    import botocore.exceptions
    try:
        repo = require(client.describe_repositories(repositoryNames=[name]), "repositories", 0, kind=dict,
                       where=f"ecr {region} DescribeRepositories {name}")
    except client.exceptions.RepositoryNotFoundException:
        repo = None
    except (botocore.exceptions.ClientError, botocore.exceptions.BotoCoreError) as exc:
        raise GantryError(f"ecr {region}", f"DescribeRepositories {name}: {exc}") from None
    policy_text = json.dumps(policy, sort_keys=True)
    if repo is None:
        encryption = {"encryptionType": "KMS", **({"kmsKey": kms_key} if kms_key else {})}

        def create() -> None:
            _call(region, f"CreateRepository {name}", client.create_repository, repositoryName=name,
                  imageTagMutability="IMMUTABLE", imageScanningConfiguration={"scanOnPush": True},
                  encryptionConfiguration=encryption, tags=[{"Key": "managed-by", "Value": "gantry"}])
            _call(region, f"PutLifecyclePolicy {name}", client.put_lifecycle_policy, repositoryName=name,
                  lifecyclePolicyText=policy_text)
        plan.actions.append(Action(region, f"create repository {name} (immutable tags, scan on push, "
                                           f"KMS encryption, lifecycle policy)", create))
        return
    if repo.get("imageTagMutability") != "IMMUTABLE":
        plan.actions.append(Action(region, f"{name}: set tag mutability IMMUTABLE (was {repo.get('imageTagMutability')})",
                                   lambda: _call(region, f"PutImageTagMutability {name}", client.put_image_tag_mutability,
                                                 repositoryName=name, imageTagMutability="IMMUTABLE")))
    if not (repo.get("imageScanningConfiguration") or {}).get("scanOnPush"):
        plan.actions.append(Action(region, f"{name}: enable scan on push",
                                   lambda: _call(region, f"PutImageScanningConfiguration {name}",
                                                 client.put_image_scanning_configuration, repositoryName=name,
                                                 imageScanningConfiguration={"scanOnPush": True})))
    enc = repo.get("encryptionConfiguration") or {}
    if enc.get("encryptionType") != "KMS" or (kms_key and enc.get("kmsKey") not in (None, kms_key)):
        plan.warnings.append(f"{region}: {name}: encryption is {enc.get('encryptionType', 'unknown')}"
                             f"{' ' + enc['kmsKey'] if enc.get('kmsKey') else ''}, not KMS as wanted; ECR cannot "
                             f"change a repository's encryption: recreate it to fix")
    try:
        where = f"ecr {region} GetLifecyclePolicy {name}"
        current = require(client.get_lifecycle_policy(repositoryName=name), "lifecyclePolicyText", kind=str,
                          where=where)
        current_norm = json.dumps(parse_answer(current, f"{where}: lifecyclePolicyText"), sort_keys=True)
    except client.exceptions.LifecyclePolicyNotFoundException:
        current_norm = None
    if current_norm != policy_text:
        plan.actions.append(Action(region, f"{name}: {'update' if current_norm else 'put'} lifecycle policy",
                                   lambda: _call(region, f"PutLifecyclePolicy {name}", client.put_lifecycle_policy,
                                                 repositoryName=name, lifecyclePolicyText=policy_text)))


def _put_replication(client: Any, region: str, rules: list[dict[str, Any]], existing: int) -> None:
    import botocore.exceptions
    try:
        client.put_replication_configuration(replicationConfiguration={"rules": rules})
    except botocore.exceptions.ClientError as exc:
        err = exc.response.get("Error", {})
        if len(rules) > 1 and err.get("Code") == "ValidationException":
            raise GantryError(f"ecr {region}", f"the registry refused {len(rules)} replication rules "
                              f"({err.get('Message')}); gantry will not drop the {existing} existing rule(s): "
                              f"merge them by hand or allow more rules") from None
        raise GantryError(f"ecr {region}", f"PutReplicationConfiguration: {err.get('Code')}: "
                                           f"{err.get('Message')}") from None


def plan_ensure(catalog: Catalog, *, keep_releases: int = DEFAULT_KEEP_RELEASES,
                untagged_days: int = DEFAULT_UNTAGGED_DAYS, kms_key: str | None = None,
                client_factory: Callable[[str], Any] = ecr_client) -> Plan:
    """Read the current state and list what must change (nothing is changed here)."""
    if keep_releases < 1 or untagged_days < 1:
        raise GantryError("ecr ensure", "--keep-releases and --untagged-days must be at least 1")
    plan = Plan()
    policy = lifecycle_policy(keep_releases, untagged_days)
    for region in (catalog.registry_region, *catalog.replica_regions):
        client = client_factory(region)
        for name in catalog.ecr_repositories():
            _repository_actions(client, region, name, policy, kms_key, plan)

    region = catalog.registry_region
    client = client_factory(region)
    desired = desired_rule(catalog)
    if desired["destinations"]:
        registry = _call(region, "DescribeRegistry", client.describe_registry)
        existing = (registry.get("replicationConfiguration") or {}).get("rules", []) or []
        merged = merge_rules(existing, desired)
        if merged is not None:
            dests = ", ".join(d["region"] for d in desired["destinations"])
            prefixes = ", ".join(f["filter"] for f in desired["repositoryFilters"])
            added = len(merged) > len(existing)
            what = ("add rule" if added else "add our prefixes to the existing rule for these destinations")
            plan.actions.append(Action(
                region, f"replication {region} -> {dests} for prefixes {prefixes} ({what}; "
                        f"{len(existing)} existing rule(s) kept)",
                lambda: _put_replication(client, region, merged, len(existing))))
    return plan

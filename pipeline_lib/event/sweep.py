"""After ``terraform destroy``: find (and optionally delete) what the event stack left behind.

Sources, each an AWS API (boto3):

- the Resource Groups Tagging API ``GetResources`` with the stack's tags (``Environment=<env>``
  and ``Lifetime=event``: ``local.tags`` of infra/envs/event, applied as provider default tags);
- what it does not cover or a destroy typically forgets: ECR images (tagged or not) in the
  event-only repositories of the catalog (``ListImages``/``DescribeImages``), CloudWatch log
  groups by the stack's name prefixes or tags (``DescribeLogGroups``, ``ListTagsForResource``),
  Secrets Manager secrets pending deletion (``ListSecrets`` with ``IncludePlannedDeletion``),
  ENIs (``DescribeNetworkInterfaces``), EBS snapshots (``DescribeSnapshots``) and manual RDS
  snapshots (``DescribeDBSnapshots``) carrying the stack's tags or of its DB.

The final snapshots the lifecycle takes (``<db>-<event>-final``) are kept on purpose: they are
listed as ``kept``, never as leftovers and never deleted. Each leftover gets an estimated monthly
cost from :data:`pipeline_lib.event.cost.LEFTOVER_PRICES` (None when the table has no price for
its type: still a leftover).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from pipeline_lib.core.catalog import Catalog
from pipeline_lib.core.errors import GantryError

from .cost import HOURS_PER_MONTH, LEFTOVER_PRICES, PRICES

GB = 1024 ** 3
_FINAL_SNAPSHOT = re.compile(r"-final$")


def stack_tags(environment: str) -> dict[str, str]:
    """The tags every resource of the event stack carries (infra/envs/event ``local.tags``)."""
    return {"Environment": environment, "Lifetime": "event"}


def log_prefixes(environment: str) -> tuple[str, ...]:
    """Log group name prefixes of the event stack's modules (ecs-fargate, network, edge, rds)."""
    return (f"/ecs/{environment}/", f"/vpc/{environment}/", f"aws-waf-logs-{environment}-",
            f"/aws/rds/instance/{environment}/")


def secret_names(environment: str) -> tuple[str, ...]:
    """Secrets the event stack creates (infra/modules/rds ``<name>/dms-replication``)."""
    return (f"{environment}/dms-replication",)


def event_only_repositories(catalog: Catalog, environment: str = "event") -> list[str]:
    """ECR repositories only ``environment`` uses (catalog ``ecr_repository`` per environment)."""
    used: dict[str, set[str]] = {}
    for svc in catalog.services:
        for env in svc.environments:
            used.setdefault(svc.environment(env).ecr_repository, set()).add(env)
    return sorted(repo for repo, envs in used.items() if envs == {environment})


@dataclass
class Leftover:
    """One resource found. ``monthly_usd`` None: no price in the table. ``status``: ``left``,
    ``kept`` (on purpose), ``deleted``, or ``not deleted: <why>``."""

    kind: str
    key: str
    arn: str
    detail: str
    monthly_usd: float | None
    price: str
    status: str = "left"
    delete: dict[str, Any] = field(default_factory=dict, repr=False)

    @property
    def remains(self) -> bool:
        return self.status not in ("kept", "deleted")

    def to_json(self) -> dict[str, Any]:
        return {"kind": self.kind, "id": self.key, "arn": self.arn, "detail": self.detail,
                "monthly_usd": None if self.monthly_usd is None else round(self.monthly_usd, 4),
                "price": self.price, "status": self.status}


def _price(name: str) -> tuple[float, str]:
    return LEFTOVER_PRICES[name]


def _gb_month(name: str, size_bytes: float) -> tuple[float, str]:
    unit, what = _price(name)
    gb = size_bytes / GB
    return gb * unit, f"{gb:.3f} GB x {unit} USD ({what})"


# Hourly resources a destroy may leave, priced from the stack's table (ARN "service:type").
_HOURLY = {"ec2:natgateway": "nat_gateway", "elasticloadbalancing:loadbalancer": "alb",
           "rds:db": "rds_r6g_large", "elasticache:replicationgroup": "redis_r6g_large",
           "elasticache:cluster": "redis_r6g_large", "dms:rep": "dms_c6i_large",
           "ec2:vpc-endpoint": "vpc_endpoint", "wafv2:regional": "waf_acl", "wafv2:global": "waf_acl"}


def _arn_parts(arn: str) -> tuple[str, str, str]:
    """``arn:aws:svc:region:acct:type/id`` or ``…:type:id`` -> (svc, type, id)."""
    parts = arn.split(":", 5)
    if len(parts) < 6:
        return "", "", arn
    svc, rest = parts[2], parts[5]
    if svc == "logs" and rest.startswith("log-group:"):
        return svc, "log-group", rest[len("log-group:"):].removesuffix(":*")
    slash, colon = rest.find("/"), rest.find(":")
    sep = "/" if slash >= 0 and (colon < 0 or slash < colon) else ":"
    typ, found, rid = rest.partition(sep)
    return (svc, typ, rid) if found else (svc, "", rest)


def _key(arn: str) -> str:
    svc, typ, rid = _arn_parts(arn)
    if svc == "logs":
        return f"log-group:{rid}"
    if svc == "ec2":
        return f"ec2:{rid}"
    if svc == "rds" and typ == "snapshot":
        return f"rds-snapshot:{rid}"
    return arn


def _aws(where: str, exc: Exception) -> GantryError:
    if isinstance(exc, ClientError):
        err = exc.response.get("Error", {})
        return GantryError(f"event sweep: {where}", f"{err.get('Code', 'error')}: {err.get('Message', '')}".strip())
    return GantryError(f"event sweep: {where}", f"{type(exc).__name__}: {exc}")


def _matches(tags: dict[str, str], wanted: dict[str, str]) -> bool:
    return all(tags.get(k) == v for k, v in wanted.items())


def _tag_dict(pairs: list[dict[str, str]] | None) -> dict[str, str]:
    return {p.get("Key", ""): p.get("Value", "") for p in pairs or []}


class Sweeper:
    """Finds leftovers with ``aws(service)`` boto3 clients (one region)."""

    def __init__(self, aws: Callable[[str], Any], catalog: Catalog, environment: str = "event",
                 db_instance_id: str = "event") -> None:
        self.aws = aws
        self.catalog = catalog
        self.environment = environment
        self.db_instance_id = db_instance_id
        self.tags = stack_tags(environment)

    def _pages(self, service: str, op: str, key: str, **kw: Any) -> list[dict[str, Any]]:
        client = self.aws(service)
        try:
            if client.can_paginate(op):
                return [x for page in client.get_paginator(op).paginate(**kw) for x in page.get(key, [])]
            return list(getattr(client, op)(**kw).get(key, []))
        except (ClientError, BotoCoreError) as exc:
            raise _aws(f"{service} {op}", exc) from None

    def _alive(self, svc: str, typ: str, rid: str, arn: str) -> bool:
        """Whether a resource the tagging API lists still exists: it also lists resources deleted a
        short while ago (NAT gateways ``deleted``, peerings ``deleted``, ECS clusters, services and
        task definitions ``INACTIVE``, instances ``terminated``), and KMS keys a destroy can only
        schedule for deletion (7-30 days, ``PendingDeletion``: not charged), which bill nothing. A type not
        checked here counts as existing (fail closed)."""
        try:
            if svc == "ec2" and typ == "natgateway":
                found = self.aws("ec2").describe_nat_gateways(NatGatewayIds=[rid])["NatGateways"]
                return any(g.get("State") not in ("deleted", "failed") for g in found)
            if svc == "ec2" and typ == "vpc-peering-connection":
                found = self.aws("ec2").describe_vpc_peering_connections(VpcPeeringConnectionIds=[rid])[
                    "VpcPeeringConnections"]
                return any((p.get("Status") or {}).get("Code") not in ("deleted", "rejected", "failed", "expired")
                           for p in found)
            if svc == "ec2" and typ == "instance":
                found = self.aws("ec2").describe_instances(InstanceIds=[rid])["Reservations"]
                return any(i.get("State", {}).get("Name") != "terminated" for r in found for i in r["Instances"])
            if svc == "kms" and typ == "key":
                state = self.aws("kms").describe_key(KeyId=arn)["KeyMetadata"].get("KeyState")
                return state not in ("PendingDeletion", "PendingReplicaDeletion")
            if svc == "ecs" and typ == "cluster":
                found = self.aws("ecs").describe_clusters(clusters=[arn])["clusters"]
                return any(c.get("status") != "INACTIVE" for c in found)
            if svc == "ecs" and typ == "service":
                cluster = rid.split("/")[0]
                found = self.aws("ecs").describe_services(cluster=cluster, services=[arn])["services"]
                return any(x.get("status") != "INACTIVE" for x in found)
            if svc == "ecs" and typ == "task-definition":
                td = self.aws("ecs").describe_task_definition(taskDefinition=arn)["taskDefinition"]
                return td.get("status") == "ACTIVE"
        except ClientError as exc:
            code = str(exc.response.get("Error", {}).get("Code", ""))
            if "NotFound" in code or (code == "ClientException" and typ == "task-definition"):
                return False
            raise _aws(f"{svc} {rid}", exc) from None
        except BotoCoreError as exc:
            raise _aws(f"{svc} {rid}", exc) from None
        return True

    # --- sources ---
    def tagged(self) -> list[Leftover]:
        out = []
        filters = [{"Key": k, "Values": [v]} for k, v in self.tags.items()]
        for res in self._pages("resourcegroupstaggingapi", "get_resources", "ResourceTagMappingList",
                               TagFilters=filters):
            arn = res["ResourceARN"]
            svc, typ, rid = _arn_parts(arn)
            if not self._alive(svc, typ, rid, arn):
                continue
            price_key = _HOURLY.get(f"{svc}:{typ}")
            if svc in ("secretsmanager", "kms"):
                unit, what = _price("secret_month" if svc == "secretsmanager" else "kms_key_month")
                monthly, price = unit, f"1 x {unit} USD/month ({what})"
            elif price_key:
                unit, what = PRICES[price_key]
                monthly, price = unit * HOURS_PER_MONTH, f"{unit:.5f} USD/h x {HOURS_PER_MONTH:g} h ({what})"
            else:
                monthly, price = None, "no price in the table (free while idle or billed by usage)"
            out.append(Leftover(f"tagged {svc}:{typ}", _key(arn), arn, f"{typ} {rid}".strip(), monthly, price))
        return out

    def ecr_images(self) -> list[Leftover]:
        out = []
        for repo in event_only_repositories(self.catalog, self.environment):
            try:
                images = self._pages("ecr", "describe_images", "imageDetails", repositoryName=repo)
            except GantryError as exc:
                if "RepositoryNotFoundException" in exc.what:
                    continue
                raise
            for img in images:
                digest = img.get("imageDigest", "?")
                tags = img.get("imageTags") or []
                monthly, price = _gb_month("ecr_gb_month", float(img.get("imageSizeInBytes") or 0))
                out.append(Leftover("ecr-image", f"ecr:{repo}@{digest}", f"{repo}@{digest}",
                                    f"{repo}@{digest[:19]}… ({', '.join(tags) if tags else 'untagged'})",
                                    monthly, price, delete={"repositoryName": repo, "imageDigest": digest}))
        return out

    def log_groups(self) -> list[Leftover]:
        out = []
        logs = self.aws("logs")
        prefixes = log_prefixes(self.environment)
        for group in self._pages("logs", "describe_log_groups", "logGroups"):
            name = group["logGroupName"]
            hit = name.startswith(prefixes)
            if not hit:
                try:
                    tags = logs.list_tags_log_group(logGroupName=name).get("tags", {})
                except (ClientError, BotoCoreError) as exc:
                    raise _aws(f"log group {name}", exc) from None
                hit = _matches(tags, self.tags)
            if hit:
                monthly, price = _gb_month("logs_gb_month", float(group.get("storedBytes") or 0))
                out.append(Leftover("log-group", f"log-group:{name}", str(group.get("arn", name)).removesuffix(":*"),
                                    f"log group {name}", monthly, price, delete={"logGroupName": name}))
        return out

    def secrets(self) -> list[Leftover]:
        out = []
        for sec in self._pages("secretsmanager", "list_secrets", "SecretList", IncludePlannedDeletion=True):
            if not sec.get("DeletedDate"):
                continue   # a live tagged secret is found through the tagging API
            name = sec.get("Name", "")
            if _matches(_tag_dict(sec.get("Tags")), self.tags) or name in secret_names(self.environment):
                unit, what = _price("secret_month")
                out.append(Leftover("secret pending deletion", sec["ARN"], sec["ARN"],
                                    f"secret {name} (deletion scheduled {sec['DeletedDate']})", unit,
                                    f"1 x {unit} USD/month ({what})", delete={"SecretId": sec["ARN"]}))
        return out

    def enis(self) -> list[Leftover]:
        out = []
        filters = [{"Name": f"tag:{k}", "Values": [v]} for k, v in self.tags.items()]
        for eni in self._pages("ec2", "describe_network_interfaces", "NetworkInterfaces", Filters=filters):
            eid = eni["NetworkInterfaceId"]
            public = (eni.get("Association") or {}).get("PublicIp")
            unit, what = _price("public_ipv4")
            monthly = unit * HOURS_PER_MONTH if public else 0.0
            out.append(Leftover("eni", f"ec2:{eid}", eid, f"ENI {eid} ({eni.get('Status', '?')}"
                                f"{', public ' + public if public else ''})", monthly,
                                f"{unit} USD/h x {HOURS_PER_MONTH:g} h ({what})" if public else "no public IPv4: free",
                                delete={"NetworkInterfaceId": eid}))
        return out

    def ebs_snapshots(self) -> list[Leftover]:
        out = []
        filters = [{"Name": f"tag:{k}", "Values": [v]} for k, v in self.tags.items()]
        for snap in self._pages("ec2", "describe_snapshots", "Snapshots", OwnerIds=["self"], Filters=filters):
            sid = snap["SnapshotId"]
            monthly, price = _gb_month("ebs_snapshot_gb_month", float(snap.get("VolumeSize") or 0) * GB)
            out.append(Leftover("ebs-snapshot", f"ec2:{sid}", sid, f"EBS snapshot {sid} ({snap.get('VolumeSize')} GB)",
                                monthly, price, delete={"SnapshotId": sid}))
        return out

    def rds_snapshots(self) -> list[Leftover]:
        out = []
        for snap in self._pages("rds", "describe_db_snapshots", "DBSnapshots", SnapshotType="manual"):
            sid = snap["DBSnapshotIdentifier"]
            ours = snap.get("DBInstanceIdentifier") == self.db_instance_id or _matches(
                _tag_dict(snap.get("TagList")), self.tags)
            if not ours:
                continue
            monthly, price = _gb_month("rds_snapshot_gb_month", float(snap.get("AllocatedStorage") or 0) * GB)
            kept = sid.startswith(f"{self.db_instance_id}-") and bool(_FINAL_SNAPSHOT.search(sid))
            out.append(Leftover("rds-snapshot", f"rds-snapshot:{sid}", snap.get("DBSnapshotArn", sid),
                                f"RDS snapshot {sid} ({snap.get('AllocatedStorage')} GB"
                                f"{', the final snapshot: kept' if kept else ''})", monthly, price,
                                status="kept" if kept else "left", delete={"DBSnapshotIdentifier": sid}))
        return out

    def find(self) -> list[Leftover]:
        """Everything found, one entry per resource (a specific source wins over the tag search)."""
        found: dict[str, Leftover] = {}
        for item in self.tagged():
            found[item.key] = item
        for source in (self.ecr_images, self.log_groups, self.secrets, self.enis, self.ebs_snapshots,
                       self.rds_snapshots):
            for item in source():
                found[item.key] = item
        return sorted(found.values(), key=lambda x: (x.kind, x.key))

    # --- deletion ---
    def _delete_one(self, item: Leftover) -> None:
        d = item.delete
        if item.kind == "ecr-image":
            resp = self.aws("ecr").batch_delete_image(repositoryName=d["repositoryName"],
                                                      imageIds=[{"imageDigest": d["imageDigest"]}])
            if resp.get("failures"):
                raise GantryError("ecr", str(resp["failures"][0].get("failureReason", "failed")))
        elif item.kind == "log-group" or item.kind == "tagged logs:log-group":
            self.aws("logs").delete_log_group(logGroupName=d.get("logGroupName") or item.key.split(":", 1)[1])
        elif item.kind.startswith("secret") or item.kind == "tagged secretsmanager:secret":
            self.aws("secretsmanager").delete_secret(SecretId=d.get("SecretId") or item.arn,
                                                     ForceDeleteWithoutRecovery=True)
        elif item.kind == "eni":
            self.aws("ec2").delete_network_interface(**d)
        elif item.kind == "ebs-snapshot":
            self.aws("ec2").delete_snapshot(**d)
        elif item.kind == "rds-snapshot":
            self.aws("rds").delete_db_snapshot(**d)
        else:
            raise GantryError("event sweep", "no automatic deletion for this type: delete it by hand")

    def delete(self, items: list[Leftover]) -> list[Leftover]:
        """Delete every leftover that is not kept; each gets ``deleted`` or ``not deleted: why``."""
        out = []
        for item in items:
            if not item.remains:
                out.append(item)
                continue
            try:
                self._delete_one(item)
                out.append(replace(item, status="deleted"))
            except (ClientError, BotoCoreError) as exc:
                out.append(replace(item, status=f"not deleted: {_aws('', exc).what}"))
            except GantryError as exc:
                out.append(replace(item, status=f"not deleted: {exc.what}"))
        return out


def remaining(items: list[Leftover]) -> list[Leftover]:
    return [i for i in items if i.remains]


def monthly_total(items: list[Leftover]) -> float:
    """Estimated USD per month of what remains (unpriced items count 0; they are still listed)."""
    return sum(i.monthly_usd or 0.0 for i in remaining(items))


def summary(items: list[Leftover]) -> str:
    """One line: how many remain, their estimated monthly cost and the first few ids."""
    left = remaining(items)
    if not left:
        return "nothing left behind"
    names = ", ".join(i.key for i in left[:5]) + (" …" if len(left) > 5 else "")
    return f"{len(left)} resource(s) left behind (est. {monthly_total(items):.2f} USD/month): {names}"


def render(items: list[Leftover]) -> str:
    lines = [f"{i.status:<10} {i.kind:<28} {i.detail}  "
             f"{'?' if i.monthly_usd is None else f'{i.monthly_usd:.4f}'} USD/month  [{i.price}]" for i in items]
    return "\n".join(lines + [summary(items)])

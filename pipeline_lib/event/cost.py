"""What the event stack costs for its lifetime, against the same stack left always on.

The price table is small and documented: AWS on-demand list prices for ap-northeast-2 (Seoul),
USD, as published on the AWS pricing pages (:data:`PRICE_TABLE_DATE`; rounded; each row names its
page in :data:`PRICE_SOURCES`). Monthly-billed items
(WAF web ACLs and rules) are prorated over 730 hours, the month AWS bills by. Data transfer,
requests and storage growth are excluded: they scale with traffic, not with the stack's lifetime.
The quantities mirror infra/envs/event (terraform.tfvars and modules) and the catalog's replicas.
"""

from __future__ import annotations

from dataclasses import dataclass

from pipeline_lib.core.catalog import Catalog
from .schedule import EventWindow

HOURS_PER_MONTH = 730.0
PRICE_TABLE_DATE = "2026-11-15"      # when the rows below were read off the pricing pages
PRICE_TABLE_SOURCE = "AWS on-demand list prices, ap-northeast-2, USD (https://aws.amazon.com/pricing/)"

# USD per hour (per unit), ap-northeast-2 on-demand.
PRICES: dict[str, tuple[float, str]] = {
    "fargate_vcpu": (0.04656, "Fargate Linux/x86 per vCPU-hour"),
    "fargate_gb": (0.00511, "Fargate per GB-hour"),
    "rds_r6g_large": (0.293, "RDS PostgreSQL db.r6g.large, per instance-hour (Multi-AZ = 2)"),
    "redis_r6g_large": (0.261, "ElastiCache cache.r6g.large, per node-hour"),
    "dms_c6i_large": (0.174, "DMS dms.c6i.large, per instance-hour (Multi-AZ = 2)"),
    "nat_gateway": (0.059, "NAT gateway, per hour"),
    "alb": (0.0225, "Application Load Balancer, per hour (LCUs excluded)"),
    "vpc_endpoint": (0.013, "Interface VPC endpoint, per AZ-hour"),
    "waf_acl": (5.0 / HOURS_PER_MONTH, "WAF web ACL, $5/month prorated"),
    "waf_rule": (1.0 / HOURS_PER_MONTH, "WAF rule, $1/month prorated"),
}
# Where each row comes from (the service's pricing page, region Asia Pacific (Seoul)).
PRICE_SOURCES: dict[str, str] = {
    "fargate_vcpu": "https://aws.amazon.com/fargate/pricing/",
    "fargate_gb": "https://aws.amazon.com/fargate/pricing/",
    "rds_r6g_large": "https://aws.amazon.com/rds/postgresql/pricing/",
    "redis_r6g_large": "https://aws.amazon.com/elasticache/pricing/",
    "dms_c6i_large": "https://aws.amazon.com/dms/pricing/",
    "nat_gateway": "https://aws.amazon.com/vpc/pricing/",
    "alb": "https://aws.amazon.com/elasticloadbalancing/pricing/",
    "vpc_endpoint": "https://aws.amazon.com/privatelink/pricing/",
    "waf_acl": "https://aws.amazon.com/waf/pricing/",
    "waf_rule": "https://aws.amazon.com/waf/pricing/",
    "rds_snapshot_gb_month": "https://aws.amazon.com/rds/postgresql/pricing/ (backup storage)",
    "ebs_snapshot_gb_month": "https://aws.amazon.com/ebs/pricing/ (snapshots, standard)",
    "ecr_gb_month": "https://aws.amazon.com/ecr/pricing/ (storage)",
    "logs_gb_month": "https://aws.amazon.com/cloudwatch/pricing/ (logs, archival storage)",
    "secret_month": "https://aws.amazon.com/secrets-manager/pricing/",
    "public_ipv4": "https://aws.amazon.com/vpc/pricing/ (public IPv4 address)",
    "kms_key_month": "https://aws.amazon.com/kms/pricing/ (customer managed key; none while pending deletion)",
}
# What a resource left behind costs, per month (storage) or per hour (USD; same date and pages).
LEFTOVER_PRICES: dict[str, tuple[float, str]] = {
    "rds_snapshot_gb_month": (0.095, "RDS snapshot storage, per GB-month"),
    "ebs_snapshot_gb_month": (0.05, "EBS snapshot (standard), per GB-month"),
    "ecr_gb_month": (0.10, "ECR storage, per GB-month"),
    "logs_gb_month": (0.0314, "CloudWatch Logs stored data, per GB-month"),
    "secret_month": (0.40, "Secrets Manager secret, per month (charged as stored: an upper bound)"),
    "public_ipv4": (0.005, "public IPv4 address, per hour"),
    "kms_key_month": (1.0, "KMS customer managed key, per month"),
}
SNAPSHOT_GB_MONTH = LEFTOVER_PRICES["rds_snapshot_gb_month"][0]   # RDS snapshot storage beyond the free allowance, per GB-month
FARGATE_TASK = (0.5, 1.0)   # vCPU, GB: the ecs-fargate module's defaults (cpu 512, memory 1024)
AZS = 2
INTERFACE_ENDPOINTS = 5     # ecr.api, ecr.dkr, sts, logs, secretsmanager
DB_STORAGE_GB = 100


@dataclass(frozen=True)
class Line:
    item: str
    quantity: float
    unit_price: float

    @property
    def hourly(self) -> float:
        return self.quantity * self.unit_price


def stack_lines(catalog: Catalog) -> list[Line]:
    """The event stack's hourly cost lines (Fargate tasks from the catalog's replicas.min)."""
    tasks = sum(s.environments["event"].replicas_min for s in catalog.services_in("event"))
    vcpu, gb = FARGATE_TASK
    return [
        Line(f"Fargate vCPU ({tasks} tasks x {vcpu})", tasks * vcpu, PRICES["fargate_vcpu"][0]),
        Line(f"Fargate memory ({tasks} tasks x {gb} GB)", tasks * gb, PRICES["fargate_gb"][0]),
        Line("RDS db.r6g.large Multi-AZ", 2, PRICES["rds_r6g_large"][0]),
        Line("ElastiCache cache.r6g.large primary + replica", 2, PRICES["redis_r6g_large"][0]),
        Line("DMS dms.c6i.large Multi-AZ", 2, PRICES["dms_c6i_large"][0]),
        Line(f"NAT gateways ({AZS} AZs)", AZS, PRICES["nat_gateway"][0]),
        Line("ALB", 1, PRICES["alb"][0]),
        Line(f"Interface endpoints ({INTERFACE_ENDPOINTS} x {AZS} AZs)", INTERFACE_ENDPOINTS * AZS, PRICES["vpc_endpoint"][0]),
        Line("WAF web ACLs (CloudFront + ALB)", 2, PRICES["waf_acl"][0]),
        Line("WAF rules (6 + 5)", 11, PRICES["waf_rule"][0]),
    ]


@dataclass(frozen=True)
class Estimate:
    lines: list[Line]
    lifetime_hours: float
    period_hours: float
    snapshot_cost: float

    @property
    def hourly(self) -> float:
        return sum(line.hourly for line in self.lines)

    @property
    def event_cost(self) -> float:
        return self.hourly * self.lifetime_hours + self.snapshot_cost

    @property
    def always_on_cost(self) -> float:
        return self.hourly * self.period_hours

    @property
    def saving(self) -> float:
        return 1 - self.event_cost / self.always_on_cost


def estimate(catalog: Catalog, window: EventWindow, period_hours: float = HOURS_PER_MONTH) -> Estimate:
    """Event stack for its lifetime (create at D-1 22:00 .. destroy) + one month of the final
    snapshot, vs the same stack always on for ``period_hours`` (a month by default)."""
    if period_hours < window.lifetime_hours:
        raise ValueError("the comparison period is shorter than the event stack's lifetime")
    return Estimate(stack_lines(catalog), window.lifetime_hours, period_hours, DB_STORAGE_GB * SNAPSHOT_GB_MONTH)


def render(est: Estimate, window: EventWindow) -> str:
    w = max(len(line.item) for line in est.lines)
    out = [f"event {window.name}: stack lives {window.create_at:%Y-%m-%d %H:%M} -> {window.destroy_at:%Y-%m-%d %H:%M} "
           f"{window.tz} = {est.lifetime_hours:g} h", "", f"{'item':<{w}}  {'qty':>6}  {'USD/h each':>10}  {'USD/h':>8}"]
    for line in est.lines:
        out.append(f"{line.item:<{w}}  {line.quantity:>6g}  {line.unit_price:>10.5f}  {line.hourly:>8.4f}")
    out += [
        f"{'stack per hour':<{w}}  {'':>6}  {'':>10}  {est.hourly:>8.4f}", "",
        f"event stack : {est.hourly:.4f} USD/h x {est.lifetime_hours:g} h + final snapshot "
        f"{DB_STORAGE_GB} GB x {SNAPSHOT_GB_MONTH} USD/GB-month = {est.event_cost:,.2f} USD",
        f"always on   : {est.hourly:.4f} USD/h x {est.period_hours:g} h = {est.always_on_cost:,.2f} USD",
        f"saving      : 1 - {est.event_cost:,.2f} / {est.always_on_cost:,.2f} = {est.saving * 100:.1f} %",
    ]
    return "\n".join(out)

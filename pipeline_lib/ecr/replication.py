"""The one definition of the registry replication rule (Seoul -> Tokyo).

``gantry ecr ensure`` applies it through boto3 and ``infra/`` feeds it to Terraform's
``aws_ecr_replication_configuration``; both derive it from the catalog here.
"""

from __future__ import annotations

from typing import Any

from pipeline_lib.core.catalog import Catalog

RULE_MARKER_FILTER_TYPE = "PREFIX_MATCH"


def desired_rule(catalog: Catalog) -> dict[str, Any]:
    """The replication rule in the ECR API shape (``PutReplicationConfiguration``)."""
    return {
        "destinations": [{"region": region, "registryId": catalog.aws_account_id}
                         for region in catalog.replica_regions],
        "repositoryFilters": [{"filter": prefix, "filterType": RULE_MARKER_FILTER_TYPE}
                              for prefix in catalog.replication_prefixes()],
    }

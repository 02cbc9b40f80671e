# Event DB -> prod DB: VPC peering, a DMS replication instance, two endpoints and two tasks:
#   <name>-cdc         full load + ongoing changes for the whole event;
#   <name>-final-sync  a full load the lifecycle handler runs (and waits for) before destroy.

data "aws_caller_identity" "current" {}

resource "aws_vpc_peering_connection" "to_prod" {
  vpc_id      = var.vpc_id
  peer_vpc_id = var.peer_vpc_id
  auto_accept = true # same account and region

  accepter {
    allow_remote_vpc_dns_resolution = true
  }

  requester {
    allow_remote_vpc_dns_resolution = true
  }

  tags = merge(var.tags, { Name = "${var.name}-to-prod" })
}

resource "aws_route" "to_prod" {
  count = length(var.route_table_ids)

  route_table_id            = var.route_table_ids[count.index]
  destination_cidr_block    = var.peer_vpc_cidr_block
  vpc_peering_connection_id = aws_vpc_peering_connection.to_prod.id
}

resource "aws_route" "from_prod" {
  count = length(var.peer_route_table_ids)

  route_table_id            = var.peer_route_table_ids[count.index]
  destination_cidr_block    = var.vpc_cidr_block
  vpc_peering_connection_id = aws_vpc_peering_connection.to_prod.id
}

resource "aws_dms_replication_subnet_group" "this" {
  replication_subnet_group_id          = var.name
  replication_subnet_group_description = "${var.name} replication subnets"
  subnet_ids                           = var.subnet_ids
  tags                                 = var.tags
}

resource "aws_security_group" "this" {
  name        = "${var.name}-dms"
  description = "DMS replication instance: PostgreSQL out to both databases"
  vpc_id      = var.vpc_id
  tags        = var.tags
}

resource "aws_vpc_security_group_egress_rule" "postgres" {
  for_each = toset([var.vpc_cidr_block, var.peer_vpc_cidr_block])

  security_group_id = aws_security_group.this.id
  description       = "PostgreSQL to ${each.value}"
  cidr_ipv4         = each.value
  ip_protocol       = "tcp"
  from_port         = 5432
  to_port           = 5432
}

resource "aws_vpc_security_group_egress_rule" "https" {
  security_group_id = aws_security_group.this.id
  description       = "HTTPS to Secrets Manager and KMS endpoints in the VPC"
  cidr_ipv4         = var.vpc_cidr_block
  ip_protocol       = "tcp"
  from_port         = 443
  to_port           = 443
}

resource "aws_dms_replication_instance" "this" {
  replication_instance_id     = var.name
  replication_instance_class  = var.instance_class
  allocated_storage           = 100
  multi_az                    = var.multi_az
  publicly_accessible         = false
  kms_key_arn                 = var.kms_key_arn
  auto_minor_version_upgrade  = true
  replication_subnet_group_id = aws_dms_replication_subnet_group.this.id
  vpc_security_group_ids      = [aws_security_group.this.id]
  tags                        = var.tags

  depends_on = [aws_route.to_prod, aws_route.from_prod]
}

data "aws_iam_policy_document" "secrets_assume" {
  statement {
    actions = ["sts:AssumeRole"]
    principals {
      type        = "Service"
      identifiers = ["dms.${data.aws_region.current.name}.amazonaws.com"]
    }
  }
}

data "aws_region" "current" {}

resource "aws_iam_role" "secrets" {
  name               = "${var.name}-dms-secrets"
  assume_role_policy = data.aws_iam_policy_document.secrets_assume.json
  tags               = var.tags
}

data "aws_iam_policy_document" "secrets" {
  statement {
    actions   = ["secretsmanager:GetSecretValue"]
    resources = [var.source_db.secret_arn, var.target_db.secret_arn]
  }
  statement {
    actions   = ["kms:Decrypt"]
    resources = distinct([var.kms_key_arn, var.source_db.kms_key_arn, var.target_db.kms_key_arn])
  }
}

resource "aws_iam_role_policy" "secrets" {
  name   = "read-db-secrets"
  role   = aws_iam_role.secrets.id
  policy = data.aws_iam_policy_document.secrets.json
}

# Credentials, host and port come from the Secrets Manager secret only: the provider (and the DMS
# API) refuse server_name/port/username/password next to secrets_manager_arn.
resource "aws_dms_endpoint" "source" {
  endpoint_id                     = "${var.name}-event-db"
  endpoint_type                   = "source"
  engine_name                     = "postgres"
  database_name                   = var.source_db.database
  secrets_manager_arn             = var.source_db.secret_arn
  secrets_manager_access_role_arn = aws_iam_role.secrets.arn
  ssl_mode                        = "require"
  kms_key_arn                     = var.kms_key_arn
  tags                            = var.tags
}

resource "aws_dms_endpoint" "target" {
  endpoint_id                     = "${var.name}-prod-db"
  endpoint_type                   = "target"
  engine_name                     = "postgres"
  database_name                   = var.target_db.database
  secrets_manager_arn             = var.target_db.secret_arn
  secrets_manager_access_role_arn = aws_iam_role.secrets.arn
  ssl_mode                        = "require"
  kms_key_arn                     = var.kms_key_arn
  tags                            = var.tags
}

locals {
  table_mappings = jsonencode({
    rules = [for i, t in var.tables : {
      rule-type      = "selection"
      rule-id        = tostring(i + 1)
      rule-name      = "include-${replace(t, "%", "all")}"
      object-locator = { schema-name = split(".", t)[0], table-name = split(".", t)[1] }
      rule-action    = "include"
    }]
  })
  task_settings = jsonencode({
    Logging = { EnableLogging = true }
    # Upserts: rows that already reached prod through CDC are updated, never duplicated.
    FullLoadSettings = { TargetTablePrepMode = "DO_NOTHING" }
    ErrorBehavior    = { ApplyErrorInsertPolicy = "INSERT_RECORD", ApplyErrorUpdatePolicy = "UPDATE_RECORD" }
  })
}

resource "aws_dms_replication_task" "cdc" {
  replication_task_id       = "${var.name}-cdc"
  migration_type            = "full-load-and-cdc"
  replication_instance_arn  = aws_dms_replication_instance.this.replication_instance_arn
  source_endpoint_arn       = aws_dms_endpoint.source.endpoint_arn
  target_endpoint_arn       = aws_dms_endpoint.target.endpoint_arn
  table_mappings            = local.table_mappings
  replication_task_settings = local.task_settings
  start_replication_task    = true
  tags                      = var.tags

  lifecycle {
    ignore_changes = [replication_task_settings]
  }
}

resource "aws_dms_replication_task" "final_sync" {
  replication_task_id       = "${var.name}-final-sync"
  migration_type            = "full-load"
  replication_instance_arn  = aws_dms_replication_instance.this.replication_instance_arn
  source_endpoint_arn       = aws_dms_endpoint.source.endpoint_arn
  target_endpoint_arn       = aws_dms_endpoint.target.endpoint_arn
  table_mappings            = local.table_mappings
  replication_task_settings = local.task_settings
  start_replication_task    = false # started by pipeline_lib/event/lifecycle.py before destroy
  tags                      = var.tags

  lifecycle {
    ignore_changes = [replication_task_settings]
  }
}

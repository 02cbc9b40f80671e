# event: a short-lived stack for one sale, created at D-1 22:00 and destroyed after the event by
# the event runner (see pipeline_lib/event). ECS Fargate behind CloudFront/ALB/WAF, its own
# Multi-AZ DB and Redis, and DMS carrying orders to the prod DB over VPC peering.
# Nothing here outlives the event except the Terraform state and the final DB snapshot the
# lifecycle handler takes before destroy: no deletion protection, no prevent_destroy.

locals {
  name = "event"
  tags = {
    Project     = "flashshop"
    Environment = var.environment.name
    ManagedBy   = "terraform"
    Lifetime    = "event"
  }
}

data "aws_caller_identity" "current" {}

data "terraform_remote_state" "prod" {
  backend = "s3"
  config = {
    bucket = var.state_bucket
    key    = "envs/prod/terraform.tfstate"
    region = "ap-northeast-2"
  }
}

data "aws_iam_policy_document" "kms" {
  # checkov:skip=CKV_AWS_109:Key policy; "*" is this key and the account-root statement is the AWS default key policy
  # checkov:skip=CKV_AWS_111:Key policy; "*" is this key and the account-root statement is the AWS default key policy
  # checkov:skip=CKV_AWS_356:Key policy; in a key policy the resource "*" means this key only
  statement {
    sid       = "AccountAdmin"
    actions   = ["kms:*"]
    resources = ["*"] # in a key policy "*" is this key
    principals {
      type        = "AWS"
      identifiers = ["arn:aws:iam::${data.aws_caller_identity.current.account_id}:root"]
    }
  }
  statement {
    sid       = "CloudWatchLogs"
    actions   = ["kms:Encrypt*", "kms:Decrypt*", "kms:ReEncrypt*", "kms:GenerateDataKey*", "kms:Describe*"]
    resources = ["*"] # in a key policy "*" is this key
    principals {
      type        = "Service"
      identifiers = ["logs.${var.environment.aws_region}.amazonaws.com", "logs.us-east-1.amazonaws.com"]
    }
  }
}

resource "aws_kms_key" "this" {
  description             = "${local.name} data at rest"
  enable_key_rotation     = true
  deletion_window_in_days = 7
  policy                  = data.aws_iam_policy_document.kms.json
}

resource "aws_kms_key" "us_east_1" {
  provider = aws.us_east_1

  description             = "${local.name} WAF logs (us-east-1)"
  enable_key_rotation     = true
  deletion_window_in_days = 7
  policy                  = data.aws_iam_policy_document.kms.json
}

module "network" {
  source = "../../modules/network"

  name               = local.name
  cidr_block         = var.vpc_cidr
  availability_zones = var.availability_zones
  single_nat_gateway = false
  kms_key_arn        = aws_kms_key.this.arn
}

module "rds" {
  source = "../../modules/rds"

  name                  = local.name
  vpc_id                = module.network.vpc_id
  subnet_ids            = module.network.db_subnet_ids
  allowed_cidr_blocks   = [var.vpc_cidr]
  instance_class        = var.db_instance_class
  multi_az              = true
  backup_retention_days = 1
  deletion_protection   = false
  skip_final_snapshot   = true # the lifecycle handler takes "<event>-final" after the final DMS sync
  kms_key_arn           = aws_kms_key.this.arn
}

module "redis" {
  source = "../../modules/redis"

  name                    = local.name
  vpc_id                  = module.network.vpc_id
  subnet_ids              = module.network.private_subnet_ids
  allowed_cidr_blocks     = [var.vpc_cidr]
  node_type               = var.redis_node_type
  multi_az                = true
  snapshot_retention_days = 0
  auth_token              = var.redis_auth_token
  kms_key_arn             = aws_kms_key.this.arn
}

module "monitoring" {
  source = "../../modules/monitoring"

  name                  = local.name
  kms_key_arn           = aws_kms_key.this.arn
  slack_workspace_id    = var.slack_workspace_id
  slack_channel_id      = var.slack_alarm_channel_id
  force_destroy_archive = true
  log_group_names       = [for name in keys(var.services) : "/ecs/${local.name}/${name}"]

  alarms = {
    rds-cpu = {
      namespace   = "AWS/RDS"
      metric_name = "CPUUtilization"
      dimensions  = { DBInstanceIdentifier = module.rds.instance_id }
      threshold   = 80
    }
  }
}

module "edge" {
  source = "../../modules/edge"
  providers = {
    aws           = aws
    aws.us_east_1 = aws.us_east_1
  }

  name                          = local.name
  domain_names                  = distinct(concat([var.environment.domain], compact([for s in values(var.services) : s.domain])))
  origin_domain                 = "origin.${var.environment.domain}"
  vpc_id                        = module.network.vpc_id
  public_subnet_ids             = module.network.public_subnet_ids
  routes                        = { for name, svc in var.services : name => var.service_routes[name] }
  log_bucket_id                 = module.monitoring.archive_bucket
  log_bucket_domain_name        = module.monitoring.archive_bucket_regional_domain_name
  waf_log_kms_key_arn           = aws_kms_key.this.arn
  waf_log_kms_key_arn_us_east_1 = aws_kms_key.us_east_1.arn
  deletion_protection           = false
}

module "ecs" {
  source = "../../modules/ecs-fargate"

  cluster_name          = local.name
  vpc_id                = module.network.vpc_id
  subnet_ids            = module.network.private_subnet_ids
  alb_security_group_id = module.edge.alb_security_group_id
  kms_key_arn           = aws_kms_key.this.arn

  services = {
    for name, svc in var.services : name => {
      image            = "${var.registry.host}/${svc.ecr_repository}@${var.image_digests[name]}"
      min_count        = svc.replicas_min
      max_count        = svc.replicas_max
      target_group_arn = module.edge.target_group_arns[name]
    }
  }
}

module "dms" {
  source = "../../modules/dms"

  name                 = local.name
  vpc_id               = module.network.vpc_id
  vpc_cidr_block       = module.network.vpc_cidr_block
  subnet_ids           = module.network.private_subnet_ids
  route_table_ids      = concat(module.network.private_route_table_ids, [module.network.db_route_table_id])
  peer_vpc_id          = data.terraform_remote_state.prod.outputs.vpc_id
  peer_vpc_cidr_block  = data.terraform_remote_state.prod.outputs.vpc_cidr_block
  peer_route_table_ids = data.terraform_remote_state.prod.outputs.private_route_table_ids
  kms_key_arn          = aws_kms_key.this.arn

  source_db = {
    server_name = module.rds.address
    port        = module.rds.port
    database    = "shop"
    secret_arn  = module.rds.master_user_secret_arn
  }

  target_db = {
    server_name = data.terraform_remote_state.prod.outputs.db.address
    port        = data.terraform_remote_state.prod.outputs.db.port
    database    = "shop"
    secret_arn  = data.terraform_remote_state.prod.outputs.db.secret_arn
  }
}

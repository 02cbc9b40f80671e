# prod: EKS (system node group + Karpenter) behind CloudFront/ALB/WAF, Multi-AZ RDS and Redis,
# the ECR registry (all catalog repositories, replicated Seoul -> Tokyo) and the event runner.

locals {
  name = "shop-prod"
  tags = {
    Project     = "flashshop"
    Environment = var.environment.name
    ManagedBy   = "terraform"
  }
}

module "kms" {
  source = "../../modules/kms"

  description             = "${local.name} data at rest"
  log_regions             = [var.environment.aws_region, "us-east-1"]
  deletion_window_in_days = 30
  alias                   = local.name
}

module "kms_us_east_1" {
  source    = "../../modules/kms"
  providers = { aws = aws.us_east_1 }

  description             = "${local.name} WAF logs (us-east-1)"
  log_regions             = [var.environment.aws_region, "us-east-1"]
  deletion_window_in_days = 30
}

moved {
  from = aws_kms_key.this
  to   = module.kms.aws_kms_key.this
}

moved {
  from = aws_kms_alias.this
  to   = module.kms.aws_kms_alias.this[0]
}

moved {
  from = aws_kms_key.us_east_1
  to   = module.kms_us_east_1.aws_kms_key.this
}

module "network" {
  source = "../../modules/network"

  name               = local.name
  cidr_block         = var.vpc_cidr
  availability_zones = var.availability_zones
  single_nat_gateway = false
  kms_key_arn        = module.kms.key_arn
}

module "ecr" {
  source = "../../modules/ecr"

  repositories     = var.ecr_repositories
  replication_rule = var.ecr_replication_rule
}

module "eks" {
  source = "../../modules/eks"

  name              = local.name
  vpc_id            = module.network.vpc_id
  subnet_ids        = module.network.private_subnet_ids
  kms_key_arn       = module.kms.key_arn
  system_node_min   = 3
  system_node_max   = 6
  karpenter_enabled = true
}

module "rds" {
  source = "../../modules/rds"

  name                  = local.name
  vpc_id                = module.network.vpc_id
  subnet_ids            = module.network.db_subnet_ids
  allowed_cidr_blocks   = [var.vpc_cidr, "10.30.0.0/16"] # workloads + the event VPC (DMS over peering)
  instance_class        = var.db_instance_class
  multi_az              = true
  backup_retention_days = 35
  deletion_protection   = true
  replication_secret    = true # the event stack's DMS writes its orders here
  kms_key_arn           = module.kms.key_arn
}

module "redis" {
  source = "../../modules/redis"

  name                    = local.name
  vpc_id                  = module.network.vpc_id
  subnet_ids              = module.network.private_subnet_ids
  allowed_cidr_blocks     = [var.vpc_cidr]
  node_type               = var.redis_node_type
  replicas_per_node_group = 2
  multi_az                = true
  auth_token              = var.redis_auth_token
  kms_key_arn             = module.kms.key_arn
}

module "monitoring" {
  source = "../../modules/monitoring"

  name               = local.name
  kms_key_arn        = module.kms.key_arn
  slack_workspace_id = var.slack_workspace_id
  slack_channel_id   = var.slack_alarm_channel_id
  log_group_names    = ["/aws/eks/${local.name}/cluster"]

  alarms = {
    rds-cpu = {
      namespace   = "AWS/RDS"
      metric_name = "CPUUtilization"
      dimensions  = { DBInstanceIdentifier = module.rds.instance_id }
      threshold   = 80
    }
    redis-cpu = {
      namespace   = "AWS/ElastiCache"
      metric_name = "EngineCPUUtilization"
      dimensions  = { ReplicationGroupId = local.name }
      threshold   = 75
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
  waf_log_kms_key_arn           = module.kms.key_arn
  waf_log_kms_key_arn_us_east_1 = module.kms_us_east_1.key_arn
  deletion_protection           = true
}

module "event_runner" {
  source = "../../modules/event-runner"

  name                  = "event"
  source_repository_url = var.gantry_repository_url
  state_bucket_arn      = "arn:aws:s3:::flashshop-terraform-state-${var.aws_account_id}"
  lock_table_arn        = "arn:aws:dynamodb:ap-northeast-2:${var.aws_account_id}:table/flashshop-terraform-locks"
  kms_key_arn           = module.kms.key_arn
  vpc_id                = module.network.vpc_id
  subnet_ids            = module.network.private_subnet_ids
}

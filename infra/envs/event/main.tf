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

data "terraform_remote_state" "prod" {
  backend = "s3"
  config = {
    bucket = var.state_bucket
    key    = "envs/prod/terraform.tfstate"
    region = "ap-northeast-2"
  }
}

module "kms" {
  source = "../../modules/kms"

  description             = "${local.name} data at rest"
  log_regions             = [var.environment.aws_region, "us-east-1"]
  deletion_window_in_days = 7
}

module "kms_us_east_1" {
  source    = "../../modules/kms"
  providers = { aws = aws.us_east_1 }

  description             = "${local.name} WAF logs (us-east-1)"
  log_regions             = [var.environment.aws_region, "us-east-1"]
  deletion_window_in_days = 7
}

moved {
  from = aws_kms_key.this
  to   = module.kms.aws_kms_key.this
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
  replication_secret    = true # DMS reads the event orders with it
  kms_key_arn           = module.kms.key_arn
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
  kms_key_arn             = module.kms.key_arn
}

module "monitoring" {
  source = "../../modules/monitoring"

  name                  = local.name
  kms_key_arn           = module.kms.key_arn
  slack_workspace_id    = var.slack_workspace_id
  slack_channel_id      = var.slack_alarm_channel_id
  force_destroy_archive = true
  log_group_names       = module.ecs.log_group_names # a reference: the subscription filters wait for the groups

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
  waf_log_kms_key_arn           = module.kms.key_arn
  waf_log_kms_key_arn_us_east_1 = module.kms_us_east_1.key_arn
  deletion_protection           = false
}

module "ecs" {
  source = "../../modules/ecs-fargate"

  cluster_name          = local.name
  vpc_id                = module.network.vpc_id
  subnet_ids            = module.network.private_subnet_ids
  alb_security_group_id = module.edge.alb_security_group_id
  kms_key_arn           = module.kms.key_arn

  services = {
    for name, svc in var.services : name => {
      image            = "${coalesce(var.image_registry, var.registry.host)}/${svc.ecr_repository}@${var.image_digests[name]}"
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
  kms_key_arn          = module.kms.key_arn

  source_db = {
    database    = "shop"
    secret_arn  = module.rds.replication_secret_arn
    kms_key_arn = module.kms.key_arn
  }

  target_db = {
    database    = "shop"
    secret_arn  = data.terraform_remote_state.prod.outputs.db.secret_arn
    kms_key_arn = data.terraform_remote_state.prod.outputs.db.kms_key_arn
  }
}

# dev: the CI environment. A Jenkins controller and autoscaled agents in a two-AZ VPC with a
# single NAT gateway, and monitoring. Images go to the prod-owned ECR registry.

locals {
  name = "shop-dev"
  tags = {
    Project     = "flashshop"
    Environment = var.environment.name
    ManagedBy   = "terraform"
  }
}

module "kms" {
  source = "../../modules/kms"

  description             = "${local.name} data at rest"
  log_regions             = [var.environment.aws_region]
  deletion_window_in_days = 30
}

moved {
  from = aws_kms_key.this
  to   = module.kms.aws_kms_key.this
}

module "network" {
  source = "../../modules/network"

  name               = local.name
  cidr_block         = var.vpc_cidr
  availability_zones = var.availability_zones
  single_nat_gateway = true
  kms_key_arn        = module.kms.key_arn
}

module "jenkins" {
  source = "../../modules/jenkins"

  name                = "${local.name}-jenkins"
  vpc_id              = module.network.vpc_id
  subnet_ids          = module.network.private_subnet_ids
  allowed_cidr_blocks = var.office_cidr_blocks
  ami_id              = var.jenkins_ami_id
  kms_key_arn         = module.kms.key_arn
  ecr_repository_arns = [for s in values(var.services) : "arn:aws:ecr:${var.registry.region}:${var.aws_account_id}:repository/${s.ecr_repository}"]
}

module "monitoring" {
  source = "../../modules/monitoring"

  name               = local.name
  kms_key_arn        = module.kms.key_arn
  slack_workspace_id = var.slack_workspace_id
  slack_channel_id   = var.slack_alarm_channel_id
}

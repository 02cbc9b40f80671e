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

data "aws_caller_identity" "current" {}

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
      identifiers = ["logs.${var.environment.aws_region}.amazonaws.com"]
    }
  }
}

resource "aws_kms_key" "this" {
  description             = "${local.name} data at rest"
  enable_key_rotation     = true
  deletion_window_in_days = 30
  policy                  = data.aws_iam_policy_document.kms.json
}

module "network" {
  source = "../../modules/network"

  name               = local.name
  cidr_block         = var.vpc_cidr
  availability_zones = var.availability_zones
  single_nat_gateway = true
  kms_key_arn        = aws_kms_key.this.arn
}

module "jenkins" {
  source = "../../modules/jenkins"

  name                = "${local.name}-jenkins"
  vpc_id              = module.network.vpc_id
  subnet_ids          = module.network.private_subnet_ids
  allowed_cidr_blocks = var.office_cidr_blocks
  ami_id              = var.jenkins_ami_id
  kms_key_arn         = aws_kms_key.this.arn
  ecr_repository_arns = [for s in values(var.services) : "arn:aws:ecr:${var.registry.region}:${var.aws_account_id}:repository/${s.ecr_repository}"]
}

module "monitoring" {
  source = "../../modules/monitoring"

  name               = local.name
  kms_key_arn        = aws_kms_key.this.arn
  slack_workspace_id = var.slack_workspace_id
  slack_channel_id   = var.slack_alarm_channel_id
}

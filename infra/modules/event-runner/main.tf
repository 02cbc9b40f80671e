# The event stack's runner, which outlives every event: a CodeBuild project that runs
# `gantry event lifecycle` (final DMS sync, final snapshot, then terraform apply/destroy of
# infra/envs/event), the EventBridge Scheduler group and role that start it, and the Slack
# webhook secret the handler reads. No SSH key anywhere.

data "aws_caller_identity" "current" {}
data "aws_region" "current" {}

resource "aws_secretsmanager_secret" "slack_webhook" {
  # checkov:skip=CKV2_AWS_57:A Slack incoming-webhook URL is issued by Slack and cannot be rotated by a rotation Lambda
  name        = "${var.name}/slack-webhook"
  description = "Slack incoming-webhook URL for event lifecycle failures (value set out of band)."
  kms_key_id  = var.kms_key_arn
  tags        = var.tags
}

resource "aws_cloudwatch_log_group" "runner" {
  name              = "/codebuild/${var.name}-runner"
  retention_in_days = 365
  kms_key_id        = var.kms_key_arn
  tags              = var.tags
}

data "aws_iam_policy_document" "codebuild_assume" {
  statement {
    actions = ["sts:AssumeRole"]
    principals {
      type        = "Service"
      identifiers = ["codebuild.amazonaws.com"]
    }
  }
}

resource "aws_iam_role" "runner" {
  name               = "${var.name}-runner"
  assume_role_policy = data.aws_iam_policy_document.codebuild_assume.json
  tags               = var.tags
}

# terraform apply/destroy of the whole event stack needs broad rights; they are bounded to
# the account and region, and the role can only be assumed by this CodeBuild project.
resource "aws_iam_role_policy_attachment" "runner_poweruser" {
  role       = aws_iam_role.runner.name
  policy_arn = "arn:aws:iam::aws:policy/PowerUserAccess"
}

data "aws_iam_policy_document" "runner" {
  statement {
    sid       = "State"
    actions   = ["s3:GetObject", "s3:PutObject", "s3:ListBucket", "dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:DeleteItem"]
    resources = [var.state_bucket_arn, "${var.state_bucket_arn}/envs/event/*", var.lock_table_arn]
  }
  statement {
    sid = "EventRoles"
    actions = [
      "iam:CreateRole", "iam:DeleteRole", "iam:GetRole", "iam:PassRole", "iam:TagRole",
      "iam:AttachRolePolicy", "iam:DetachRolePolicy", "iam:PutRolePolicy", "iam:DeleteRolePolicy",
      "iam:GetRolePolicy", "iam:ListRolePolicies", "iam:ListAttachedRolePolicies", "iam:ListInstanceProfilesForRole",
    ]
    resources = ["arn:aws:iam::${data.aws_caller_identity.current.account_id}:role/event-*"]
  }
  statement {
    sid     = "RunnerSecrets"
    actions = ["secretsmanager:GetSecretValue"]
    resources = [
      aws_secretsmanager_secret.slack_webhook.arn,
      "arn:aws:secretsmanager:${data.aws_region.current.name}:${data.aws_caller_identity.current.account_id}:secret:${var.redis_auth_token_secret}-*",
    ]
  }
}

resource "aws_iam_role_policy" "runner" {
  name   = "event-stack"
  role   = aws_iam_role.runner.id
  policy = data.aws_iam_policy_document.runner.json
}

resource "aws_security_group" "runner" {
  name        = "${var.name}-runner"
  description = "Event runner: HTTPS out only"
  vpc_id      = var.vpc_id
  tags        = var.tags
}

resource "aws_vpc_security_group_egress_rule" "runner_https" {
  security_group_id = aws_security_group.runner.id
  description       = "HTTPS to AWS APIs, GitHub and Slack"
  cidr_ipv4         = "0.0.0.0/0"
  ip_protocol       = "tcp"
  from_port         = 443
  to_port           = 443
}

resource "aws_codebuild_project" "runner" {
  name           = "${var.name}-runner"
  description    = "Creates and destroys the event stack (gantry event lifecycle)"
  service_role   = aws_iam_role.runner.arn
  build_timeout  = 180
  encryption_key = var.kms_key_arn

  artifacts {
    type = "NO_ARTIFACTS"
  }

  environment {
    compute_type    = "BUILD_GENERAL1_SMALL"
    image           = "aws/codebuild/standard:7.0"
    type            = "LINUX_CONTAINER"
    privileged_mode = false

    environment_variable {
      name  = "SLACK_WEBHOOK_SECRET_ID"
      value = aws_secretsmanager_secret.slack_webhook.name
    }

    environment_variable {
      name  = "GITOPS_REPO"
      value = var.gitops_repo_url
    }

    environment_variable {
      name  = "TF_VAR_redis_auth_token"
      type  = "SECRETS_MANAGER"
      value = var.redis_auth_token_secret
    }
  }

  source {
    type            = "GITHUB"
    location        = var.source_repository_url
    git_clone_depth = 1
    buildspec       = <<-YAML
      version: 0.2
      phases:
        install:
          commands:
            - python3 -m pip install --quiet .
        build:
          commands:
            - gantry event lifecycle --name "$EVENT_NAME" --step "$EVENT_STEP" --event-end "$EVENT_END" $${GITOPS_REPO:+--gitops-repo "$GITOPS_REPO"}
    YAML
  }

  vpc_config {
    vpc_id             = var.vpc_id
    subnets            = var.subnet_ids
    security_group_ids = [aws_security_group.runner.id]
  }

  logs_config {
    cloudwatch_logs {
      group_name = aws_cloudwatch_log_group.runner.name
    }
  }

  tags = var.tags
}

resource "aws_scheduler_schedule_group" "events" {
  name = "${var.name}-events"
  tags = var.tags
}

data "aws_iam_policy_document" "scheduler_assume" {
  statement {
    actions = ["sts:AssumeRole"]
    principals {
      type        = "Service"
      identifiers = ["scheduler.amazonaws.com"]
    }
    condition {
      test     = "StringEquals"
      variable = "aws:SourceAccount"
      values   = [data.aws_caller_identity.current.account_id]
    }
  }
}

resource "aws_iam_role" "scheduler" {
  name               = "${var.name}-scheduler"
  assume_role_policy = data.aws_iam_policy_document.scheduler_assume.json
  tags               = var.tags
}

data "aws_iam_policy_document" "scheduler" {
  statement {
    actions   = ["codebuild:StartBuild"]
    resources = [aws_codebuild_project.runner.arn]
  }
}

resource "aws_iam_role_policy" "scheduler" {
  name   = "start-runner"
  role   = aws_iam_role.scheduler.id
  policy = data.aws_iam_policy_document.scheduler.json
}

# kms: one customer-managed key (rotation on) for an environment's data at rest and its logs.
# The key policy is the AWS default (the account administers the key) plus CloudWatch Logs in
# `log_regions`, so log groups in those regions can encrypt with it.

data "aws_caller_identity" "current" {}

data "aws_iam_policy_document" "this" {
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
      identifiers = [for region in var.log_regions : "logs.${region}.amazonaws.com"]
    }
  }
}

resource "aws_kms_key" "this" {
  description             = var.description
  enable_key_rotation     = true
  deletion_window_in_days = var.deletion_window_in_days
  policy                  = data.aws_iam_policy_document.this.json
  tags                    = var.tags
}

resource "aws_kms_alias" "this" {
  count = var.alias == null ? 0 : 1

  name          = "alias/${var.alias}"
  target_key_id = aws_kms_key.this.key_id
}

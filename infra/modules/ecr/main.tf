# ECR repositories and registry replication (Seoul -> Tokyo), both driven by the catalog.

resource "aws_ecr_repository" "this" {
  for_each = toset(var.repositories)

  name                 = each.value
  image_tag_mutability = "IMMUTABLE"

  image_scanning_configuration {
    scan_on_push = true
  }

  encryption_configuration {
    encryption_type = "KMS"
    kms_key         = var.kms_key_arn
  }

  tags = var.tags
}

resource "aws_ecr_lifecycle_policy" "this" {
  for_each = aws_ecr_repository.this

  repository = each.value.name
  policy = jsonencode({
    rules = [
      {
        rulePriority = 1
        description  = "Expire untagged images"
        selection = {
          tagStatus   = "untagged"
          countType   = "sinceImagePushed"
          countUnit   = "days"
          countNumber = var.untagged_image_days
        }
        action = { type = "expire" }
      },
      {
        rulePriority = 2
        description  = "Keep the newest tagged images"
        selection = {
          tagStatus   = "any"
          countType   = "imageCountMoreThan"
          countNumber = var.max_tagged_images
        }
        action = { type = "expire" }
      },
    ]
  })
}

# Registry-level: one rule, the same one `gantry ecr ensure` puts through the ECR API.
resource "aws_ecr_replication_configuration" "this" {
  count = length(var.replication_rule.destinations) > 0 ? 1 : 0

  replication_configuration {
    rule {
      dynamic "destination" {
        for_each = var.replication_rule.destinations
        content {
          region      = destination.value.region
          registry_id = destination.value.registryId
        }
      }

      dynamic "repository_filter" {
        for_each = var.replication_rule.repositoryFilters
        content {
          filter      = repository_filter.value.filter
          filter_type = repository_filter.value.filterType
        }
      }
    }
  }
}

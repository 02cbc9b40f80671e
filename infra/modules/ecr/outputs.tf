output "repository_urls" {
  description = "Repository name => repository URL."
  value       = { for name, repo in aws_ecr_repository.this : name => repo.repository_url }
}

output "repository_arns" {
  description = "Repository name => ARN."
  value       = { for name, repo in aws_ecr_repository.this : name => repo.arn }
}

output "replication_destinations" {
  description = "Regions images are replicated to."
  value       = [for d in var.replication_rule.destinations : d.region]
}

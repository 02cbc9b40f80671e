# Read by infra/envs/event (terraform_remote_state) for the DMS target and the VPC peering.

output "vpc_id" {
  description = "Prod VPC id."
  value       = module.network.vpc_id
}

output "vpc_cidr_block" {
  description = "Prod VPC CIDR block."
  value       = module.network.vpc_cidr_block
}

output "private_route_table_ids" {
  description = "Prod private route tables (routes back to the event VPC)."
  value       = concat(module.network.private_route_table_ids, [module.network.db_route_table_id])
}

output "db" {
  description = "Prod DB endpoint and the DMS replication user's secret (DMS target)."
  value = {
    address     = module.rds.address
    port        = module.rds.port
    secret_arn  = module.rds.replication_secret_arn
    kms_key_arn = module.kms.key_arn
  }
}

output "ecr_repository_urls" {
  description = "ECR repositories."
  value       = module.ecr.repository_urls
}

output "karpenter" {
  description = "Karpenter values for the GitOps repository."
  value       = module.eks.karpenter
}

output "event_runner" {
  description = "What `gantry event schedule` needs."
  value = {
    project        = module.event_runner.runner_project
    project_arn    = module.event_runner.runner_project_arn
    schedule_group = module.event_runner.schedule_group
    role_arn       = module.event_runner.scheduler_role_arn
    slack_secret   = module.event_runner.slack_webhook_secret
  }
}

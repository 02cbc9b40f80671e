# Read by the lifecycle handler (pipeline_lib/event/lifecycle.py) before destroy.

output "db_instance_id" {
  description = "Event DB (snapshotted as <event>-final before destroy)."
  value       = module.rds.instance_id
}

output "final_sync_task_id" {
  description = "DMS task the handler runs and waits for before destroy."
  value       = module.dms.final_sync_task_id
}

output "cloudfront_domain_name" {
  description = "CloudFront domain for the event DNS records."
  value       = module.edge.cloudfront_domain_name
}

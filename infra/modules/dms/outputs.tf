output "peering_connection_id" {
  description = "Event <-> prod VPC peering."
  value       = aws_vpc_peering_connection.to_prod.id
}

output "cdc_task_arn" {
  description = "Continuous event -> prod replication task."
  value       = aws_dms_replication_task.cdc.replication_task_arn
}

output "final_sync_task_id" {
  description = "Task the lifecycle handler runs before destroy."
  value       = aws_dms_replication_task.final_sync.replication_task_id
}

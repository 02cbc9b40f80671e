output "cluster_arn" {
  description = "ECS cluster ARN."
  value       = aws_ecs_cluster.this.arn
}

output "service_names" {
  description = "ECS service names."
  value       = [for s in aws_ecs_service.this : s.name]
}

output "task_security_group_ids" {
  description = "Service name => security group of its tasks."
  value       = { for k, sg in aws_security_group.this : k => sg.id }
}

output "log_group_names" {
  description = "The services' log group names (a reference: whatever subscribes to them waits for them)."
  value       = [for lg in aws_cloudwatch_log_group.this : lg.name]
}

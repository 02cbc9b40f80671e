output "runner_project" {
  description = "CodeBuild project `gantry event schedule` targets."
  value       = aws_codebuild_project.runner.name
}

output "runner_project_arn" {
  description = "CodeBuild project ARN."
  value       = aws_codebuild_project.runner.arn
}

output "schedule_group" {
  description = "EventBridge Scheduler group of the per-event schedules."
  value       = aws_scheduler_schedule_group.events.name
}

output "scheduler_role_arn" {
  description = "Role the schedules assume to start the runner."
  value       = aws_iam_role.scheduler.arn
}

output "slack_webhook_secret" {
  description = "Secrets Manager secret with the Slack webhook URL."
  value       = aws_secretsmanager_secret.slack_webhook.name
}

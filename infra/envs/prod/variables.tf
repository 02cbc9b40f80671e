variable "vpc_cidr" {
  description = "Prod VPC CIDR block."
  type        = string
}

variable "availability_zones" {
  description = "AZs of the prod VPC (three for Multi-AZ data stores and nodes)."
  type        = list(string)
}

variable "db_instance_class" {
  description = "Prod PostgreSQL instance class."
  type        = string
}

variable "redis_node_type" {
  description = "Prod Redis node type."
  type        = string
}

variable "redis_auth_token" {
  description = "Redis AUTH token (TF_VAR_redis_auth_token from the CI secret store)."
  type        = string
  sensitive   = true
}

variable "service_routes" {
  description = "Service name => ALB path patterns and rule priority (every catalog service needs one)."
  type = map(object({
    path_patterns = list(string)
    priority      = number
  }))
}

variable "slack_workspace_id" {
  description = "AWS Chatbot Slack workspace id."
  type        = string
}

variable "slack_alarm_channel_id" {
  description = "Slack channel for prod alarms."
  type        = string
}

variable "gantry_repository_url" {
  description = "Repository the event runner checks out (gantry + infra/envs/event)."
  type        = string
}

variable "vpc_cidr" {
  description = "Event VPC CIDR block (must not overlap prod: the VPCs are peered)."
  type        = string
}

variable "availability_zones" {
  description = "AZs of the event VPC."
  type        = list(string)
}

variable "image_digests" {
  description = "Service name => image digest pinned in the GitOps repo, written to images.auto.tfvars.json by `gantry gitops pins --env event --tfvars` before apply."
  type        = map(string)

  validation {
    condition     = alltrue([for d in values(var.image_digests) : can(regex("^sha256:[0-9a-f]{64}$", d))])
    error_message = "Every image_digests value must be sha256: followed by 64 lower-case hex digits."
  }
}

variable "image_registry" {
  description = "Registry host the event stack pulls from, written to images.auto.tfvars.json by `gantry gitops pins --env event --tfvars`: the active registry (the Tokyo replica after `gantry dr failover --env event`). null: var.registry.host."
  type        = string
  default     = null
}

variable "service_routes" {
  description = "Service name => ALB path patterns and rule priority (every catalog service needs one)."
  type = map(object({
    path_patterns = list(string)
    priority      = number
  }))
}

variable "db_instance_class" {
  description = "Event PostgreSQL instance class."
  type        = string
}

variable "redis_node_type" {
  description = "Event Redis node type."
  type        = string
}

variable "redis_auth_token" {
  description = "Redis AUTH token (TF_VAR_redis_auth_token from the CI secret store)."
  type        = string
  sensitive   = true
}

variable "slack_workspace_id" {
  description = "AWS Chatbot Slack workspace id."
  type        = string
}

variable "slack_alarm_channel_id" {
  description = "Slack channel for event alarms."
  type        = string
}

variable "state_bucket" {
  description = "Bucket of the Terraform states (prod's outputs are read from it)."
  type        = string
  default     = "flashshop-terraform-state-123456789012"
}

variable "name" {
  description = "Replication group id and prefix."
  type        = string
}

variable "vpc_id" {
  description = "VPC the cache lives in."
  type        = string
}

variable "subnet_ids" {
  description = "Subnets in at least two AZs."
  type        = list(string)
}

variable "allowed_cidr_blocks" {
  description = "CIDR blocks allowed to reach Redis."
  type        = list(string)
}

variable "node_type" {
  description = "Cache node type."
  type        = string
}

variable "replicas_per_node_group" {
  description = "Replicas per shard (>= 1 for Multi-AZ failover)."
  type        = number
  default     = 1
}

variable "multi_az" {
  description = "Multi-AZ with automatic failover."
  type        = bool
}

variable "engine_version" {
  description = "Redis OSS engine version."
  type        = string
  default     = "7.1"
}

variable "auth_token" {
  description = "AUTH token (from the CI secret store, never committed)."
  type        = string
  sensitive   = true
}

variable "kms_key_arn" {
  description = "KMS key for encryption at rest."
  type        = string
}

variable "snapshot_retention_days" {
  description = "Days daily snapshots are kept (0 disables)."
  type        = number
  default     = 7
}

variable "tags" {
  description = "Tags for every resource."
  type        = map(string)
  default     = {}
}

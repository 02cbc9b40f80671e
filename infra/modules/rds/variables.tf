variable "name" {
  description = "Identifier of the DB instance and prefix of its companions."
  type        = string
}

variable "vpc_id" {
  description = "VPC the database lives in."
  type        = string
}

variable "subnet_ids" {
  description = "DB subnets, in at least two AZs."
  type        = list(string)
}

variable "allowed_cidr_blocks" {
  description = "CIDR blocks allowed to reach PostgreSQL (workload subnets, peered DMS)."
  type        = list(string)
}

variable "engine_version" {
  description = "PostgreSQL major.minor version."
  type        = string
  default     = "16.4"
}

variable "parameter_group_family" {
  description = "Parameter group family matching engine_version."
  type        = string
  default     = "postgres16"
}

variable "instance_class" {
  description = "DB instance class."
  type        = string
}

variable "allocated_storage" {
  description = "Initial storage in GiB."
  type        = number
  default     = 100
}

variable "max_allocated_storage" {
  description = "Storage autoscaling ceiling in GiB."
  type        = number
  default     = 1000
}

variable "multi_az" {
  description = "Synchronous standby in a second AZ."
  type        = bool
}

variable "backup_retention_days" {
  description = "Days automated backups are kept."
  type        = number
  default     = 14
}

variable "deletion_protection" {
  description = "Refuse deletion (true for long-lived environments)."
  type        = bool
  default     = true
}

variable "skip_final_snapshot" {
  description = "Skip Terraform's final snapshot (the event lifecycle handler takes its own)."
  type        = bool
  default     = false
}

variable "kms_key_arn" {
  description = "KMS key for storage, Performance Insights and the master secret."
  type        = string
}

variable "database_name" {
  description = "Initial database."
  type        = string
  default     = "shop"
}

variable "tags" {
  description = "Tags for every resource."
  type        = map(string)
  default     = {}
}

variable "replication_secret" {
  description = "Create the Secrets Manager secret of a DMS replication user (the DB is a DMS source or target)."
  type        = bool
  default     = false
}

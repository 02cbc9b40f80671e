variable "name" {
  description = "Name prefix (replication instance, endpoints, tasks)."
  type        = string
}

variable "vpc_id" {
  description = "Event VPC (where the replication instance runs)."
  type        = string
}

variable "vpc_cidr_block" {
  description = "Event VPC CIDR block."
  type        = string
}

variable "subnet_ids" {
  description = "Event private subnets in two or more AZs."
  type        = list(string)
}

variable "route_table_ids" {
  description = "Event route tables that get a route to the prod VPC over the peering."
  type        = list(string)
}

variable "peer_vpc_id" {
  description = "Prod VPC id."
  type        = string
}

variable "peer_vpc_cidr_block" {
  description = "Prod VPC CIDR block."
  type        = string
}

variable "peer_route_table_ids" {
  description = "Prod route tables that get a route back to the event VPC."
  type        = list(string)
}

variable "instance_class" {
  description = "Replication instance class."
  type        = string
  default     = "dms.c6i.large"
}

variable "multi_az" {
  description = "Standby replication instance in a second AZ."
  type        = bool
  default     = true
}

variable "source_db" {
  description = "Event DB (source): database name and the Secrets Manager secret DMS connects with (it carries host, port, username and password) and its KMS key."
  type = object({
    database    = string
    secret_arn  = string
    kms_key_arn = string # the key the secret is encrypted with
  })
}

variable "target_db" {
  description = "Prod DB (target): database name and the Secrets Manager secret DMS connects with (it carries host, port, username and password) and its KMS key."
  type = object({
    database    = string
    secret_arn  = string
    kms_key_arn = string # the key the secret is encrypted with
  })
}

variable "tables" {
  description = "Schema-qualified tables carried from the event DB to prod (schema.table, % wildcards allowed)."
  type        = list(string)
  default     = ["shop.orders", "shop.order_items", "shop.payments"]
}

variable "kms_key_arn" {
  description = "KMS key for the replication instance storage and endpoints."
  type        = string
}

variable "tags" {
  description = "Tags for every resource."
  type        = map(string)
  default     = {}
}

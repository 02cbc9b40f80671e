# Values from jobs/catalog.yaml, written to catalog.auto.tfvars.json by `gantry infra sync`
# and checked for drift by `gantry infra check`. Do not set them anywhere else.

variable "aws_account_id" {
  description = "AWS account of the environment and the registry (catalog defaults.aws_account_id)."
  type        = string
}

variable "environment" {
  description = "This environment as the catalog defines it."
  type = object({
    name       = string
    platform   = string
    aws_region = string
    domain     = string
    namespace  = string
  })
}

variable "registry" {
  description = "ECR registry: host, region and replica regions (catalog defaults)."
  type = object({
    host            = string
    region          = string
    replica_regions = list(string)
  })
}

variable "services" {
  description = "Services deployed to this environment: repository, replicas and public domain."
  type = map(object({
    ecr_repository = string
    replicas_min   = number
    replicas_max   = number
    domain         = optional(string)
  }))
}

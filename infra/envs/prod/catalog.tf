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

variable "ecr_repositories" {
  description = "Every ECR repository of every service in every environment (prod owns the registry)."
  type        = list(string)
}

variable "ecr_replication_rule" {
  description = "The registry replication rule from pipeline_lib.ecr.replication.desired_rule()."
  type = object({
    destinations = list(object({
      region     = string
      registryId = string
    }))
    repositoryFilters = list(object({
      filter     = string
      filterType = string
    }))
  })
}

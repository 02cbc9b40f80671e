variable "repositories" {
  description = "ECR repository names (from jobs/catalog.yaml via `gantry infra sync`)."
  type        = list(string)

  validation {
    condition     = length(var.repositories) == length(distinct(var.repositories))
    error_message = "Repository names must be unique."
  }
}

variable "replication_rule" {
  description = <<-EOT
    The registry replication rule in the ECR API shape, exactly as
    pipeline_lib.ecr.replication.desired_rule() returns it (one definition of the rule):
    { destinations = [{ region, registryId }], repositoryFilters = [{ filter, filterType }] }.
  EOT
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

variable "kms_key_arn" {
  description = "Customer-managed KMS key for image encryption; null uses the AWS-managed aws/ecr key."
  type        = string
  default     = null
}

variable "untagged_image_days" {
  description = "Days after which untagged images are expired."
  type        = number
  default     = 14
}

variable "max_tagged_images" {
  description = "Tagged images kept per repository."
  type        = number
  default     = 200
}

variable "tags" {
  description = "Tags for every resource."
  type        = map(string)
  default     = {}
}

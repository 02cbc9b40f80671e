variable "cluster_name" {
  description = "ECS cluster name."
  type        = string
}

variable "services" {
  description = "Services (from the catalog): image, task size, catalog replicas and ALB target group."
  type = map(object({
    image            = string
    min_count        = number
    max_count        = number
    target_group_arn = string
    container_port   = optional(number, 8080)
    cpu              = optional(number, 512)
    memory           = optional(number, 1024)
    environment      = optional(map(string), {})
  }))
}

variable "cpu_target_percent" {
  description = "Average CPU the autoscaler keeps."
  type        = number
  default     = 60
}

variable "vpc_id" {
  description = "VPC of the service."
  type        = string
}

variable "subnet_ids" {
  description = "Private subnets in two or more AZs."
  type        = list(string)
}

variable "alb_security_group_id" {
  description = "Security group of the ALB allowed to reach the tasks."
  type        = string
}

variable "kms_key_arn" {
  description = "KMS key for the log group."
  type        = string
}

variable "log_retention_days" {
  description = "Days container logs are kept."
  type        = number
  default     = 365
}

variable "tags" {
  description = "Tags for every resource."
  type        = map(string)
  default     = {}
}

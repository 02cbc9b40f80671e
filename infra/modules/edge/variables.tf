variable "name" {
  description = "Name prefix."
  type        = string
}

variable "domain_names" {
  description = "Public host names served by CloudFront (first one is the certificate's main name)."
  type        = list(string)
}

variable "vpc_id" {
  description = "VPC of the ALB."
  type        = string
}

variable "public_subnet_ids" {
  description = "Public subnets (two or more AZs) of the ALB."
  type        = list(string)
}

variable "origin_domain" {
  description = "DNS name CloudFront uses for the ALB origin (covered by the regional certificate)."
  type        = string
}

variable "routes" {
  description = "Service name => ALB routing (path patterns, rule priority, target port)."
  type = map(object({
    path_patterns = list(string)
    priority      = number
    port          = optional(number, 8080)
  }))
}

variable "target_type" {
  description = "ALB target type: ip (Fargate, EKS pods) or instance."
  type        = string
  default     = "ip"
}

variable "health_check_path" {
  description = "Health check path of the target group."
  type        = string
  default     = "/healthz"
}

variable "log_bucket_domain_name" {
  description = "S3 bucket (regional domain name) for CloudFront access logs."
  type        = string
}

variable "log_bucket_id" {
  description = "S3 bucket (id) for ALB access logs."
  type        = string
}

variable "deletion_protection" {
  description = "ALB deletion protection (false for the event stack)."
  type        = bool
  default     = true
}

variable "rate_limit_per_5min" {
  description = "Requests per client IP per 5 minutes before WAF blocks."
  type        = number
  default     = 2000
}

variable "price_class" {
  description = "CloudFront price class."
  type        = string
  default     = "PriceClass_200"
}

variable "waf_log_kms_key_arn" {
  description = "KMS key (this region) for the regional WAF log group."
  type        = string
}

variable "waf_log_kms_key_arn_us_east_1" {
  description = "KMS key in us-east-1 for the CloudFront WAF log group."
  type        = string
}

variable "waf_log_retention_days" {
  description = "Days WAF logs are kept."
  type        = number
  default     = 365
}

variable "tags" {
  description = "Tags for every resource."
  type        = map(string)
  default     = {}
}

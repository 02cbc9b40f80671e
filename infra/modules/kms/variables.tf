variable "description" {
  description = "What the key protects (shown in the KMS console)."
  type        = string
}

variable "log_regions" {
  description = "Regions whose CloudWatch Logs service may use the key."
  type        = list(string)
}

variable "deletion_window_in_days" {
  description = "Waiting period before a scheduled deletion (7 to 30 days)."
  type        = number
  default     = 30

  validation {
    condition     = var.deletion_window_in_days >= 7 && var.deletion_window_in_days <= 30
    error_message = "deletion_window_in_days must be from 7 to 30."
  }
}

variable "alias" {
  description = "Alias name without the alias/ prefix (null: no alias)."
  type        = string
  default     = null
}

variable "tags" {
  description = "Tags for the key."
  type        = map(string)
  default     = {}
}

variable "name" {
  description = "Name prefix."
  type        = string
}

variable "kms_key_arn" {
  description = "KMS key for the topic, the log archive and the stream."
  type        = string
}

variable "slack_workspace_id" {
  description = "AWS Chatbot Slack workspace (team) id."
  type        = string
}

variable "slack_channel_id" {
  description = "Slack channel the alarms go to."
  type        = string
}

variable "alarms" {
  description = "CloudWatch alarms: name => metric, threshold and comparison."
  type = map(object({
    namespace           = string
    metric_name         = string
    dimensions          = map(string)
    statistic           = optional(string, "Average")
    comparison_operator = optional(string, "GreaterThanThreshold")
    threshold           = number
    period              = optional(number, 60)
    evaluation_periods  = optional(number, 5)
  }))
  default = {}
}

variable "log_group_names" {
  description = "Log groups streamed to the S3 archive through Firehose."
  type        = list(string)
  default     = []
}

variable "archive_retention_days" {
  description = "Days archived logs are kept in S3 (Glacier after 30)."
  type        = number
  default     = 400
}

variable "force_destroy_archive" {
  description = "Allow destroying the archive bucket with objects in it (event stack only)."
  type        = bool
  default     = false
}

variable "tags" {
  description = "Tags for every resource."
  type        = map(string)
  default     = {}
}

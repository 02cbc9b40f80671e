variable "name" {
  description = "Name prefix (the CodeBuild project is <name>-runner)."
  type        = string
}

variable "source_repository_url" {
  description = "HTTPS URL of the repository holding gantry and infra/envs/event."
  type        = string
}

variable "gitops_repo_url" {
  description = "GitOps repository whose event pins give the event images' digests (empty: use images.auto.tfvars.json as committed)."
  type        = string
  default     = ""
}

variable "state_bucket_arn" {
  description = "S3 bucket of the Terraform state (the runner reads and writes envs/event)."
  type        = string
}

variable "lock_table_arn" {
  description = "DynamoDB lock table of the Terraform state."
  type        = string
}

variable "kms_key_arn" {
  description = "KMS key for logs, artifacts and the Slack secret."
  type        = string
}

variable "vpc_id" {
  description = "VPC the runner builds in."
  type        = string
}

variable "subnet_ids" {
  description = "Private subnets of the runner."
  type        = list(string)
}

variable "redis_auth_token_secret" {
  description = "Secrets Manager secret name holding the event Redis AUTH token (TF_VAR_redis_auth_token)."
  type        = string
  default     = "event/redis-auth-token"
}

variable "tags" {
  description = "Tags for every resource."
  type        = map(string)
  default     = {}
}

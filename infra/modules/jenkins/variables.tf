variable "name" {
  description = "Name prefix."
  type        = string
}

variable "vpc_id" {
  description = "VPC of the controller and agents."
  type        = string
}

variable "subnet_ids" {
  description = "Private subnets (two or more AZs) for the controller and agents."
  type        = list(string)
}

variable "allowed_cidr_blocks" {
  description = "Networks allowed to reach the controller UI (VPN, the internal ALB)."
  type        = list(string)
}

variable "ami_id" {
  description = "Hardened AMI with Jenkins (controller) / the build toolchain (agents)."
  type        = string
}

variable "controller_instance_type" {
  description = "Controller instance type."
  type        = string
  default     = "m6i.large"
}

variable "agent_instance_type" {
  description = "Agent instance type."
  type        = string
  default     = "c6i.xlarge"
}

variable "agent_max" {
  description = "Maximum agents the EC2 Fleet plugin may scale to."
  type        = number
  default     = 6
}

variable "ecr_repository_arns" {
  description = "ECR repositories the agents push to."
  type        = list(string)
}

variable "kms_key_arn" {
  description = "KMS key for EBS volumes."
  type        = string
}

variable "tags" {
  description = "Tags for every resource."
  type        = map(string)
  default     = {}
}

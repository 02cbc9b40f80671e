variable "vpc_cidr" {
  description = "Dev VPC CIDR block."
  type        = string
}

variable "availability_zones" {
  description = "AZs of the dev VPC."
  type        = list(string)
}

variable "jenkins_ami_id" {
  description = "Hardened Jenkins AMI (built by the image pipeline)."
  type        = string
}

variable "office_cidr_blocks" {
  description = "VPN networks allowed to reach the Jenkins UI."
  type        = list(string)
}

variable "slack_workspace_id" {
  description = "AWS Chatbot Slack workspace id."
  type        = string
}

variable "slack_alarm_channel_id" {
  description = "Slack channel for dev alarms."
  type        = string
}

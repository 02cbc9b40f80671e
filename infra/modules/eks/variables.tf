variable "name" {
  description = "Cluster name."
  type        = string
}

variable "kubernetes_version" {
  description = "EKS Kubernetes version."
  type        = string
  default     = "1.31"
}

variable "vpc_id" {
  description = "VPC of the cluster."
  type        = string
}

variable "subnet_ids" {
  description = "Private subnets in at least two AZs (control plane ENIs and system nodes)."
  type        = list(string)

  validation {
    condition     = length(var.subnet_ids) >= 2
    error_message = "The system node group spans at least two AZs."
  }
}

variable "kms_key_arn" {
  description = "KMS key for Kubernetes secrets envelope encryption and logs."
  type        = string
}

variable "system_node_instance_types" {
  description = "Instance types of the managed node group for system pods."
  type        = list(string)
  default     = ["m6i.large"]
}

variable "system_node_min" {
  description = "Minimum system nodes (>= 2 for Multi-AZ)."
  type        = number
  default     = 2
}

variable "system_node_max" {
  description = "Maximum system nodes."
  type        = number
  default     = 4
}

variable "karpenter_enabled" {
  description = "Create the IAM, SQS and EventBridge pieces Karpenter needs for workload nodes."
  type        = bool
  default     = true
}

variable "addons" {
  description = "EKS add-ons and pinned versions (null = the default for the cluster version)."
  type        = map(string)
  default = {
    "vpc-cni"                = null
    "coredns"                = null
    "kube-proxy"             = null
    "aws-ebs-csi-driver"     = null
    "eks-pod-identity-agent" = null
  }
}

variable "log_retention_days" {
  description = "Days control-plane logs are kept."
  type        = number
  default     = 365
}

variable "tags" {
  description = "Tags for every resource."
  type        = map(string)
  default     = {}
}

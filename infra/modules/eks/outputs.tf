output "cluster_name" {
  description = "EKS cluster name."
  value       = aws_eks_cluster.this.name
}

output "cluster_endpoint" {
  description = "Private API endpoint."
  value       = aws_eks_cluster.this.endpoint
}

output "oidc_provider_arn" {
  description = "OIDC provider for IRSA roles."
  value       = aws_iam_openid_connect_provider.this.arn
}

output "karpenter" {
  description = "Values for the Karpenter Helm chart in the GitOps repository."
  value = var.karpenter_enabled ? {
    controller_role_arn = aws_iam_role.karpenter_controller[0].arn
    interruption_queue  = aws_sqs_queue.karpenter[0].name
    node_role_name      = aws_iam_role.node.name
  } : null
}

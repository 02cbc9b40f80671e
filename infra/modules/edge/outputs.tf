output "cloudfront_domain_name" {
  description = "CloudFront domain for the DNS alias records."
  value       = aws_cloudfront_distribution.this.domain_name
}

output "alb_dns_name" {
  description = "ALB DNS name (the origin record points here)."
  value       = aws_lb.this.dns_name
}

output "target_group_arns" {
  description = "Service name => target group its tasks or pods register in."
  value       = { for k, tg in aws_lb_target_group.this : k => tg.arn }
}

output "alb_security_group_id" {
  description = "Security group of the ALB (workloads admit traffic from it)."
  value       = aws_security_group.alb.id
}

output "certificate_validation_records" {
  description = "DNS records to create for certificate validation."
  value = concat(
    [for o in aws_acm_certificate.cloudfront.domain_validation_options : { name = o.resource_record_name, type = o.resource_record_type, value = o.resource_record_value }],
    [for o in aws_acm_certificate.alb.domain_validation_options : { name = o.resource_record_name, type = o.resource_record_type, value = o.resource_record_value }],
  )
}

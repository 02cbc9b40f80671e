output "alarm_topic_arn" {
  description = "SNS topic alarms publish to (and the event lifecycle notifies)."
  value       = aws_sns_topic.alarms.arn
}

output "archive_bucket" {
  description = "S3 log archive bucket."
  value       = aws_s3_bucket.archive.id
}

output "archive_bucket_regional_domain_name" {
  description = "Regional domain name of the archive (CloudFront access logs)."
  value       = aws_s3_bucket.archive.bucket_regional_domain_name
}

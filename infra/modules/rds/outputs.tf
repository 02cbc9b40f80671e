output "instance_id" {
  description = "DB instance identifier (the lifecycle handler snapshots it)."
  value       = aws_db_instance.this.identifier
}

output "address" {
  description = "DB host name."
  value       = aws_db_instance.this.address
}

output "port" {
  description = "DB port."
  value       = aws_db_instance.this.port
}

output "master_user_secret_arn" {
  description = "Secrets Manager secret holding the master credentials."
  value       = aws_db_instance.this.master_user_secret[0].secret_arn
}

output "replication_secret_arn" {
  description = "Secret of the DMS replication user (host, port, username, password); null unless replication_secret."
  value       = one(aws_secretsmanager_secret.replication[*].arn)
}

output "security_group_id" {
  description = "Security group of the DB."
  value       = aws_security_group.this.id
}

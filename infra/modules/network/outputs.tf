output "vpc_id" {
  description = "VPC id."
  value       = aws_vpc.this.id
}

output "vpc_cidr_block" {
  description = "VPC CIDR block."
  value       = aws_vpc.this.cidr_block
}

output "public_subnet_ids" {
  description = "Public subnets (ALB, NAT), one per AZ."
  value       = aws_subnet.public[*].id
}

output "private_subnet_ids" {
  description = "Private subnets (workloads), one per AZ."
  value       = aws_subnet.private[*].id
}

output "db_subnet_ids" {
  description = "Database subnets (no internet route), one per AZ."
  value       = aws_subnet.db[*].id
}

output "private_route_table_ids" {
  description = "Route tables of the private subnets."
  value       = aws_route_table.private[*].id
}

output "db_route_table_id" {
  description = "Route table of the db subnets."
  value       = aws_route_table.db.id
}

output "controller_private_ip" {
  description = "Private address of the controller."
  value       = aws_instance.controller.private_ip
}

output "agent_autoscaling_group" {
  description = "Autoscaling group the EC2 Fleet plugin drives."
  value       = aws_autoscaling_group.agents.name
}

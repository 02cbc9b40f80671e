output "jenkins_controller_ip" {
  description = "Private address of the Jenkins controller."
  value       = module.jenkins.controller_private_ip
}

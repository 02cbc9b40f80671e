vpc_cidr               = "10.10.0.0/16"
availability_zones     = ["ap-northeast-2a", "ap-northeast-2c"]
jenkins_ami_id         = "ami-0a1b2c3d4e5f60718"
office_cidr_blocks     = ["10.100.0.0/16"]
slack_workspace_id     = "T0FLASHSHOP"
slack_alarm_channel_id = "C0DEVALARMS"

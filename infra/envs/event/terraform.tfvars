vpc_cidr           = "10.30.0.0/16"
availability_zones = ["ap-northeast-2a", "ap-northeast-2c"]
db_instance_class  = "db.r6g.large"
redis_node_type    = "cache.r6g.large"

service_routes = {
  storefront = { path_patterns = ["/*"], priority = 100 }
  event-api  = { path_patterns = ["/api", "/api/*"], priority = 10 }
}

slack_workspace_id     = "T0FLASHSHOP"
slack_alarm_channel_id = "C0EVENTALRM"

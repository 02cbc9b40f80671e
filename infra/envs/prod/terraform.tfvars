vpc_cidr           = "10.20.0.0/16"
availability_zones = ["ap-northeast-2a", "ap-northeast-2b", "ap-northeast-2c"]
db_instance_class  = "db.r6g.xlarge"
redis_node_type    = "cache.r6g.large"

service_routes = {
  storefront  = { path_patterns = ["/*"], priority = 100 }
  order-api   = { path_patterns = ["/api/orders", "/api/orders/*"], priority = 10 }
  product-api = { path_patterns = ["/api/products", "/api/products/*"], priority = 20 }
}

slack_workspace_id     = "T0FLASHSHOP"
slack_alarm_channel_id = "C0PRODALARM"
gantry_repository_url  = "https://github.com/flashshop/gantry.git"

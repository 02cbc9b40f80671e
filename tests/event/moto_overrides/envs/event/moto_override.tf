# moto 5: ElastiCache parameter groups are not implemented, replication groups get no member
# clusters and subnet groups cannot be deleted, so the event Redis is left out.
module "redis" {
  count = 0
}

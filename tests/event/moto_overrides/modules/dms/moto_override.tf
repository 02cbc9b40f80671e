# moto 5 returns DMS dates as strings, which the provider cannot read back: no replication
# instance and no tasks (the test stands in a boto3-made task for the final sync).
resource "aws_dms_replication_instance" "this" {
  count = 0
}

resource "aws_dms_replication_task" "cdc" {
  count                    = 0
  replication_instance_arn = "arn:aws:dms:ap-northeast-2:123456789012:rep:SWITCHEDOFFFORMOTO"
}

resource "aws_dms_replication_task" "final_sync" {
  count                    = 0
  replication_instance_arn = "arn:aws:dms:ap-northeast-2:123456789012:rep:SWITCHEDOFFFORMOTO"
}

output "cdc_task_arn" {
  value = null
}

output "final_sync_task_id" {
  value = "${var.name}-final-sync"
}

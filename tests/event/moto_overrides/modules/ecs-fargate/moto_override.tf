# moto 5 does not implement Application Auto Scaling ListTagsForResource: no scaling target
# and no scaling policy.
resource "aws_appautoscaling_target" "this" {
  for_each = {}
}

resource "aws_appautoscaling_policy" "cpu" {
  for_each = {}
}

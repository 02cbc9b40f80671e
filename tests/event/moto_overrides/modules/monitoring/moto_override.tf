# moto 5 does not implement AWS Chatbot: no Slack channel configuration.
resource "aws_chatbot_slack_channel_configuration" "alarms" {
  count = 0
}

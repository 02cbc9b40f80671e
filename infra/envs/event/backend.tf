# State in S3 (encrypted, versioned bucket) with a DynamoDB lock table; both are created once
# per account by the bootstrap stack and outlive every environment.
terraform {
  backend "s3" {
    bucket         = "flashshop-terraform-state-123456789012"
    key            = "envs/event/terraform.tfstate"
    region         = "ap-northeast-2"
    dynamodb_table = "flashshop-terraform-locks"
    encrypt        = true
  }
}

# moto 5 does not implement CloudFront response-headers policies: none, and the distribution's
# default behaviour is the module's without response_headers_policy_id.
resource "aws_cloudfront_response_headers_policy" "security" {
  count = 0
}

resource "aws_cloudfront_distribution" "this" {
  default_cache_behavior {
    target_origin_id         = "alb"
    viewer_protocol_policy   = "redirect-to-https"
    allowed_methods          = ["GET", "HEAD", "OPTIONS", "PUT", "POST", "PATCH", "DELETE"]
    cached_methods           = ["GET", "HEAD"]
    compress                 = true
    cache_policy_id          = "4135ea2d-6df8-44a3-9df3-4b5a84be39ad"
    origin_request_policy_id = "216adef6-5c7f-47e4-b989-5492eafa07d3"
  }
}

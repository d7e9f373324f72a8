"""CDN: CloudFront serves derivatives only, through Origin Access Control."""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

# AWS managed policies (fixed ids, same in every account).
CACHING_OPTIMIZED_POLICY_ID = "658327ea-f89d-4fab-a63d-7e88639e58f6"
SECURITY_HEADERS_POLICY_ID = "67f7725c-6f97-4210-82d7-5512b31e9d03"
ORIGIN_ID = "media-bucket"
MIN_TLS = "TLSv1.2_2021"
# Viewer-request function on every path except derivatives: originals are quarantined and must
# never be reachable through the CDN, even if the bucket policy were widened by mistake.
NOT_FOUND_FUNCTION = """function handler(event) {
  return { statusCode: 404, statusDescription: "Not Found" };
}
"""


@dataclass(frozen=True)
class CdnArgs:
    bucket_regional_domain_name: pulumi.Input[str]
    derivatives_prefix: str
    price_class: str


class Cdn(pulumi.ComponentResource):
    """OAC (sigv4, always) + distribution: `derivatives/*` from S3, everything else 404."""

    def __init__(
        self, name: str, args: CdnArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("mediakit:stack:Cdn", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)

        self.oac = aws.cloudfront.OriginAccessControl(
            f"{name}-oac",
            description="mediakit: signed requests to the media bucket",
            origin_access_control_origin_type="s3",
            signing_behavior="always",
            signing_protocol="sigv4",
            opts=child,
        )
        not_found = aws.cloudfront.Function(
            f"{name}-not-found",
            runtime="cloudfront-js-2.0",
            comment="404 for everything outside derivatives/",
            code=NOT_FOUND_FUNCTION,
            publish=True,
            opts=child,
        )
        derivatives: aws.cloudfront.DistributionOrderedCacheBehaviorArgsDict = {
            "path_pattern": f"{args.derivatives_prefix}*",
            "target_origin_id": ORIGIN_ID,
            "viewer_protocol_policy": "https-only",
            "allowed_methods": ["GET", "HEAD"],
            "cached_methods": ["GET", "HEAD"],
            "compress": True,
            "cache_policy_id": CACHING_OPTIMIZED_POLICY_ID,
            "response_headers_policy_id": SECURITY_HEADERS_POLICY_ID,
        }
        everything_else: aws.cloudfront.DistributionDefaultCacheBehaviorArgsDict = {
            "target_origin_id": ORIGIN_ID,
            "viewer_protocol_policy": "https-only",
            "allowed_methods": ["GET", "HEAD"],
            "cached_methods": ["GET", "HEAD"],
            "compress": True,
            "cache_policy_id": CACHING_OPTIMIZED_POLICY_ID,
            "response_headers_policy_id": SECURITY_HEADERS_POLICY_ID,
            "function_associations": [
                {"event_type": "viewer-request", "function_arn": not_found.arn}
            ],
        }
        origin: aws.cloudfront.DistributionOriginArgsDict = {
            "origin_id": ORIGIN_ID,
            "domain_name": args.bucket_regional_domain_name,
            "origin_access_control_id": self.oac.id,
        }
        self.distribution = aws.cloudfront.Distribution(
            f"{name}-distribution",
            enabled=True,
            is_ipv6_enabled=True,
            http_version="http2and3",
            comment="mediakit derivatives",
            price_class=args.price_class,
            origins=[origin],
            ordered_cache_behaviors=[derivatives],
            default_cache_behavior=everything_else,
            restrictions={"geo_restriction": {"restriction_type": "none"}},
            viewer_certificate={
                "cloudfront_default_certificate": True,
                # Applies once a custom certificate is attached; the default one is fixed by AWS.
                "minimum_protocol_version": MIN_TLS,
            },
            opts=child,
        )
        self.register_outputs(
            {
                "distribution_arn": self.distribution.arn,
                "domain_name": self.distribution.domain_name,
            }
        )

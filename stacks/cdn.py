"""CDN: CloudFront serves derivatives only, through Origin Access Control."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

# AWS managed policies (fixed ids, same in every account).
CACHING_OPTIMIZED_POLICY_ID = "658327ea-f89d-4fab-a63d-7e88639e58f6"
SECURITY_HEADERS_POLICY_ID = "67f7725c-6f97-4210-82d7-5512b31e9d03"
ORIGIN_ID = "media-bucket"
# Viewer TLS minimum with a custom certificate. With the default *.cloudfront.net certificate
# CloudFront applies TLSv1 whatever is set ("CloudFront automatically sets the security policy
# to TLSv1 regardless of the value that you set here", CloudFront API Reference,
# ViewerCertificate), and the provider documents that TLSv1 must then be given: setting TLSv1.2
# there only yields a perpetual diff, so the kit sets no minimum without a custom domain.
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
    tags: Mapping[str, str]
    delivery_mode: str = "private"  # runtime.settings: deliveryMode
    url_ttl_seconds: int = 3600  # deliveryUrlTtlSeconds
    cache_seconds: int = 300  # deliveryCacheSeconds
    key_group_id: pulumi.Input[str] | None = None  # required in private mode
    domain_name: str = ""  # custom domain (an alias), with certificate_arn in us-east-1
    certificate_arn: str = ""
    web_acl_arn: str = ""  # WAFv2, scope CLOUDFRONT


def edge_ttl(args: CdnArgs) -> int:
    """How long the edge keeps a derivative: a private one as long as a URL lives (access is
    checked on every request, cached or not), a public one `cache_seconds`, the bound a deleted
    derivative is served for if its invalidation fails."""
    return args.url_ttl_seconds if args.delivery_mode == "private" else args.cache_seconds


def browser_cache_control(args: CdnArgs) -> str:
    """What every derivative response tells browsers, whatever the object says (runtime/delivery
    writes the same on new objects): never longer than a private URL lives."""
    scope = "private" if args.delivery_mode == "private" else "public"
    return f"{scope}, max-age={args.cache_seconds}"


def viewer_certificate(
    domain_name: str, certificate_arn: str
) -> aws.cloudfront.DistributionViewerCertificateArgsDict:
    """The custom certificate with SNI and TLSv1.2_2021, else the default certificate alone."""
    if not domain_name:
        return {"cloudfront_default_certificate": True}
    return {
        "acm_certificate_arn": certificate_arn,
        "ssl_support_method": "sni-only",
        "minimum_protocol_version": MIN_TLS,
    }


class Cdn(pulumi.ComponentResource):
    """OAC (sigv4, always) + distribution: `derivatives/*` from S3, everything else 404; served
    on a custom domain and behind a WAF web ACL when configured (DNS stays the user's)."""

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
            tags=dict(args.tags),
            opts=child,
        )
        private = args.delivery_mode == "private"
        key_group_id = args.key_group_id
        if private and key_group_id is None:
            raise ValueError("private delivery needs the trusted key group")
        ttl = edge_ttl(args)
        self.cache_policy = aws.cloudfront.CachePolicy(
            f"{name}-derivatives-cache",
            comment=f"mediakit derivatives, {args.delivery_mode}: edge TTL at most {ttl} s",
            min_ttl=0,
            default_ttl=ttl,
            max_ttl=ttl,
            parameters_in_cache_key_and_forwarded_to_origin={
                "cookies_config": {"cookie_behavior": "none"},
                "headers_config": {"header_behavior": "none"},
                # Signed URLs' Policy/Signature/Key-Pair-Id never split the cache.
                "query_strings_config": {"query_string_behavior": "none"},
                # CloudFront refuses compression in the cache key of a policy that caches nothing.
                "enable_accept_encoding_gzip": ttl > 0,
                "enable_accept_encoding_brotli": ttl > 0,
            },
            opts=child,
        )
        # AWS's SecurityHeadersPolicy, plus a Cache-Control that overrides the object's own, so
        # derivatives written before the mode or the bound changed obey it too.
        self.response_headers = aws.cloudfront.ResponseHeadersPolicy(
            f"{name}-derivatives-headers",
            comment="mediakit derivatives: security headers and the delivery mode's caching",
            security_headers_config={
                "content_type_options": {"override": True},
                "frame_options": {"frame_option": "SAMEORIGIN", "override": True},
                "referrer_policy": {
                    "referrer_policy": "strict-origin-when-cross-origin",
                    "override": True,
                },
                "strict_transport_security": {
                    "access_control_max_age_sec": 31536000,
                    "include_subdomains": True,
                    # Meaningful only if the owner submits the domain to the preload list.
                    "preload": True,
                    "override": True,
                },
                "xss_protection": {"protection": True, "mode_block": True, "override": True},
            },
            custom_headers_config={
                "items": [
                    {
                        "header": "Cache-Control",
                        "value": browser_cache_control(args),
                        "override": True,
                    }
                ]
            },
            opts=child,
        )
        derivatives: aws.cloudfront.DistributionOrderedCacheBehaviorArgsDict = {
            "path_pattern": f"{args.derivatives_prefix}*",
            "target_origin_id": ORIGIN_ID,
            "viewer_protocol_policy": "https-only",
            "allowed_methods": ["GET", "HEAD"],
            "cached_methods": ["GET", "HEAD"],
            "compress": True,
            "cache_policy_id": self.cache_policy.id,
            "response_headers_policy_id": self.response_headers.id,
        }
        if key_group_id is not None and private:
            # Unsigned or expired requests are refused at the edge (403).
            derivatives["trusted_key_groups"] = [key_group_id]
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
            aliases=[args.domain_name] if args.domain_name else None,
            viewer_certificate=viewer_certificate(args.domain_name, args.certificate_arn),
            web_acl_id=args.web_acl_arn or None,
            tags=dict(args.tags),
            opts=child,
        )
        # Where derivative URLs point: the custom domain once configured (its DNS record must
        # point at `distribution.domain_name`, the `cdn_dns_target` output).
        self.domain: pulumi.Output[str] = (
            pulumi.Output.from_input(args.domain_name)
            if args.domain_name
            else self.distribution.domain_name
        )
        self.register_outputs(
            {
                "distribution_arn": self.distribution.arn,
                "domain_name": self.domain,
            }
        )

"""MKIT_AWS_009: every cache behaviour attaches a security-headers response policy: AWS's managed
SecurityHeadersPolicy, or a policy of this stack that sets Strict-Transport-Security.

checkov's CKV2_AWS_32 only recognises a policy resource in the same plan, so it fails on the
managed policy, which is referenced by id; this check covers both and is what the stack relies on.
"""

import mkit_conf as mc
from checkov.common.models.enums import CheckCategories, CheckResult
from checkov.terraform.checks.resource.base_resource_check import BaseResourceCheck

# AWS managed response headers policies that set HSTS, X-Content-Type-Options, X-Frame-Options,
# Referrer-Policy and X-XSS-Protection (SecurityHeadersPolicy; CORS-and-SecurityHeadersPolicy).
MANAGED_SECURITY_HEADERS = frozenset(
    {"67f7725c-6f97-4210-82d7-5512b31e9d03", "e61eb60c-9c35-4d20-a928-2b84e02af89c"}
)


def _stack_policies_with_hsts(graph, file_path):
    found = set()
    for policy in mc.resources_in_file(graph, file_path, "aws_cloudfront_response_headers_policy"):
        for config in mc.blocks(policy, "security_headers_config"):
            if mc.blocks(config, "strict_transport_security"):
                found.add(mc.first(policy, "id"))
    return found


class CloudFrontSecurityHeaders(BaseResourceCheck):
    def __init__(self) -> None:
        super().__init__(
            name="CloudFront cache behaviours attach a security-headers response policy",
            id="MKIT_AWS_009",
            categories=(CheckCategories.NETWORKING,),
            supported_resources=("aws_cloudfront_distribution",),
        )

    def scan_resource_conf(self, conf):
        allowed = MANAGED_SECURITY_HEADERS | _stack_policies_with_hsts(self.graph, mc.file_of(conf))
        behaviours = mc.blocks(conf, "default_cache_behavior") + mc.blocks(
            conf, "ordered_cache_behavior"
        )
        if behaviours and all(
            mc.first(b, "response_headers_policy_id") in allowed for b in behaviours
        ):
            return CheckResult.PASSED
        return CheckResult.FAILED


check = CloudFrontSecurityHeaders()

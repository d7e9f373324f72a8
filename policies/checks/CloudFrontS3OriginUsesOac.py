"""MKIT_AWS_003: every S3 origin is reached through an Origin Access Control of this stack.

Fails on a legacy origin access identity, on an S3 origin without OAC, and on the bucket served as
a custom origin (website endpoint or plain HTTP), which only works if the bucket is public.
"""

import mkit_conf as mc
from checkov.common.models.enums import CheckCategories, CheckResult
from checkov.terraform.checks.resource.base_resource_check import BaseResourceCheck


def _is_s3(domain):
    return ".s3." in domain or ".s3-" in domain or domain.endswith(".s3.amazonaws.com")


class CloudFrontS3OriginUsesOac(BaseResourceCheck):
    def __init__(self) -> None:
        super().__init__(
            name="CloudFront S3 origins use this stack's OAC, never an OAI or a public endpoint",
            id="MKIT_AWS_003",
            categories=(CheckCategories.NETWORKING,),
            supported_resources=("aws_cloudfront_distribution",),
        )

    def scan_resource_conf(self, conf):
        file_path = mc.file_of(conf)
        buckets = {
            mc.first(b, "bucket")
            for b in mc.resources_in_file(self.graph, file_path, "aws_s3_bucket")
        }
        oacs = {
            mc.first(o, "id")
            for o in mc.resources_in_file(
                self.graph, file_path, "aws_cloudfront_origin_access_control"
            )
        }
        origins = mc.blocks(conf, "origin")
        if not origins:
            return CheckResult.FAILED
        for origin in origins:
            domain = str(mc.first(origin, "domain_name", ""))
            ours = any(b and domain.startswith(f"{b}.") for b in buckets)
            if not (_is_s3(domain) or ours):
                continue
            if "s3-website" in domain or mc.blocks(origin, "custom_origin_config"):
                return CheckResult.FAILED
            if any(
                mc.first(c, "origin_access_identity") for c in mc.blocks(origin, "s3_origin_config")
            ):
                return CheckResult.FAILED
            if mc.first(origin, "origin_access_control_id") not in oacs:
                return CheckResult.FAILED
        return CheckResult.PASSED


check = CloudFrontS3OriginUsesOac()

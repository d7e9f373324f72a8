"""MKIT_AWS_004: the Origin Access Control signs every request with SigV4 (never `no-override`
or `never`, which would let unsigned requests through to a bucket that must stay private)."""

import mkit_conf as mc
from checkov.common.models.enums import CheckCategories, CheckResult
from checkov.terraform.checks.resource.base_resource_check import BaseResourceCheck


class CloudFrontOacSignsAlways(BaseResourceCheck):
    def __init__(self) -> None:
        super().__init__(
            name="CloudFront Origin Access Control signs always with sigv4 for an S3 origin",
            id="MKIT_AWS_004",
            categories=(CheckCategories.NETWORKING,),
            supported_resources=("aws_cloudfront_origin_access_control",),
        )

    def scan_resource_conf(self, conf):
        if (
            mc.first(conf, "signing_behavior") == "always"
            and mc.first(conf, "signing_protocol") == "sigv4"
            and mc.first(conf, "origin_access_control_origin_type") == "s3"
        ):
            return CheckResult.PASSED
        return CheckResult.FAILED


check = CloudFrontOacSignsAlways()

"""MKIT_AWS_001: the bucket policy denies every non-TLS request to the bucket and its objects."""

import mkit_conf as mc
from checkov.common.models.enums import CheckCategories, CheckResult
from checkov.terraform.checks.resource.base_resource_check import BaseResourceCheck


def _is_everyone(principal):
    return principal == "*" or (
        isinstance(principal, dict) and mc.as_list(principal.get("AWS")) == ["*"]
    )


def _denies_plain_http(statement):
    flag = (statement.get("Condition") or {}).get("Bool", {}).get("aws:SecureTransport")
    return (
        statement.get("Effect") == "Deny"
        and _is_everyone(statement.get("Principal"))
        and {"s3:*", "*"} & set(mc.as_list(statement.get("Action")))
        and [str(v).lower() for v in mc.as_list(flag)] == ["false"]
    )


class S3PolicyDeniesInsecureTransport(BaseResourceCheck):
    def __init__(self) -> None:
        super().__init__(
            name="S3 bucket policy denies requests not made over TLS (bucket and objects)",
            id="MKIT_AWS_001",
            categories=(CheckCategories.ENCRYPTION,),
            supported_resources=("aws_s3_bucket_policy",),
        )

    def scan_resource_conf(self, conf):
        bucket = mc.first(conf, "bucket")
        covered = set()
        for statement in mc.statements(mc.document(conf.get("policy"))):
            if _denies_plain_http(statement):
                covered.update(mc.as_list(statement.get("Resource")))
        # Both the bucket (ListBucket, config calls) and every object (Get/Put) must be covered.
        names = {r.split(":::", 1)[-1] for r in covered if r.startswith("arn:")}
        if bucket in names and f"{bucket}/*" in names:
            return CheckResult.PASSED
        return CheckResult.FAILED


check = S3PolicyDeniesInsecureTransport()

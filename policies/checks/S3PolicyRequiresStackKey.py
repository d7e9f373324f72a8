"""MKIT_AWS_002: a bucket whose default encryption is SSE-KMS refuses PutObject naming any key
other than its default key, and that key is the stack's own (an aws_kms_key in the same plan)."""

import mkit_conf as mc
from checkov.common.models.enums import CheckCategories, CheckResult
from checkov.terraform.checks.resource.base_resource_check import BaseResourceCheck

KEY_CONDITION = "s3:x-amz-server-side-encryption-aws-kms-key-id"
# StringNotEquals* on the key id: a Deny that fires whenever another key is named.
NEGATED = ("StringNotEquals", "StringNotEqualsIfExists", "ArnNotEquals", "ArnNotEqualsIfExists")


def _default_kms_key(graph, file_path, bucket):
    """The KMS key of the bucket's SSE-KMS default encryption, or None if it is not SSE-KMS."""
    for sse in mc.resources_in_file(
        graph, file_path, "aws_s3_bucket_server_side_encryption_configuration"
    ):
        if mc.first(sse, "bucket") != bucket:
            continue
        for rule in mc.blocks(sse, "rule"):
            for default in mc.blocks(rule, "apply_server_side_encryption_by_default"):
                if str(mc.first(default, "sse_algorithm", "")).startswith("aws:kms"):
                    return mc.first(default, "kms_master_key_id") or ""
    return None


def _required_keys(statements):
    """Key ARNs a Deny on PutObject insists on."""
    keys = set()
    for s in statements:
        actions = set(mc.as_list(s.get("Action")))
        if s.get("Effect") != "Deny" or not {"s3:PutObject", "s3:*", "*"} & actions:
            continue
        for operator in NEGATED:
            value = (s.get("Condition") or {}).get(operator, {}).get(KEY_CONDITION)
            keys.update(mc.as_list(value))
    return keys


class S3PolicyRequiresStackKey(BaseResourceCheck):
    def __init__(self) -> None:
        super().__init__(
            name="S3 bucket policy denies PutObject with any KMS key but the stack's key",
            id="MKIT_AWS_002",
            categories=(CheckCategories.ENCRYPTION,),
            supported_resources=("aws_s3_bucket_policy",),
        )

    def scan_resource_conf(self, conf):
        file_path = mc.file_of(conf)
        default_key = _default_kms_key(self.graph, file_path, mc.first(conf, "bucket"))
        if default_key is None:
            # Not an SSE-KMS bucket (the access-log bucket must use SSE-S3): nothing to require.
            return CheckResult.UNKNOWN
        stack_keys = {
            mc.first(k, "arn") for k in mc.resources_in_file(self.graph, file_path, "aws_kms_key")
        }
        required = _required_keys(mc.statements(mc.document(conf.get("policy"))))
        if required and required <= stack_keys and default_key in required:
            return CheckResult.PASSED
        return CheckResult.FAILED


check = S3PolicyRequiresStackKey()

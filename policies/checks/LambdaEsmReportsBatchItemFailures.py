"""MKIT_AWS_006: a queue or stream event source mapping reports partial batch failures, so one bad
message is retried alone instead of failing (and re-delivering) the whole batch."""

import mkit_conf as mc
from checkov.common.models.enums import CheckCategories, CheckResult
from checkov.terraform.checks.resource.base_resource_check import BaseResourceCheck

BATCHED_SOURCES = (":sqs:", ":kinesis:", ":dynamodb:")


class LambdaEsmReportsBatchItemFailures(BaseResourceCheck):
    def __init__(self) -> None:
        super().__init__(
            name="Lambda event source mapping reports batch item failures",
            id="MKIT_AWS_006",
            categories=(CheckCategories.GENERAL_SECURITY,),
            supported_resources=("aws_lambda_event_source_mapping",),
        )

    def scan_resource_conf(self, conf):
        source = str(mc.first(conf, "event_source_arn", ""))
        if not any(kind in source for kind in BATCHED_SOURCES):
            return CheckResult.UNKNOWN
        types = conf.get("function_response_types") or []
        if types and isinstance(types[0], list):
            types = types[0]
        if "ReportBatchItemFailures" in types:
            return CheckResult.PASSED
        return CheckResult.FAILED


check = LambdaEsmReportsBatchItemFailures()

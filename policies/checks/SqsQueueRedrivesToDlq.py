"""MKIT_AWS_005: a source queue redrives to a dead-letter queue of the same stack, with a sane
maxReceiveCount, and the DLQ keeps messages longer than the source (SQS keeps a message's original
enqueue time, so a DLQ with the same retention would drop redriven messages early)."""

import json

import mkit_conf as mc
from checkov.common.models.enums import CheckCategories, CheckResult
from checkov.terraform.checks.resource.base_resource_check import BaseResourceCheck

# AWS's Lambda guidance: at least 5, so throttled or briefly failing batches are retried before
# the DLQ; above 100 a poison message cycles for hours before the DLQ alarm can fire.
MIN_RECEIVE_COUNT = 5
MAX_RECEIVE_COUNT = 100
DEFAULT_RETENTION_SECONDS = 345600  # SQS default: 4 days


def _redrive(conf, graph, file_path):
    """The queue's redrive policy: inline, or from an aws_sqs_queue_redrive_policy resource."""
    policy = mc.first(conf, "redrive_policy")
    if not policy:
        ids = {mc.first(conf, "id"), mc.first(conf, "url")} - {None}
        for res in mc.resources_in_file(graph, file_path, "aws_sqs_queue_redrive_policy"):
            if mc.first(res, "queue_url") in ids:
                policy = mc.first(res, "redrive_policy")
    if isinstance(policy, str):
        try:
            policy = json.loads(policy)
        except json.JSONDecodeError:
            return None
    return policy if isinstance(policy, dict) else None


def _retention(conf):
    return int(mc.first(conf, "message_retention_seconds") or DEFAULT_RETENTION_SECONDS)


class SqsQueueRedrivesToDlq(BaseResourceCheck):
    def __init__(self) -> None:
        super().__init__(
            name="SQS queue redrives to a DLQ (maxReceiveCount 5..100, DLQ retention longer)",
            id="MKIT_AWS_005",
            categories=(CheckCategories.GENERAL_SECURITY,),
            supported_resources=("aws_sqs_queue",),
        )

    def scan_resource_conf(self, conf):
        file_path = mc.file_of(conf)
        queues = list(mc.resources_in_file(self.graph, file_path, "aws_sqs_queue"))
        arn = mc.first(conf, "arn")
        targets = {
            (_redrive(q, self.graph, file_path) or {}).get("deadLetterTargetArn") for q in queues
        }
        if arn and arn in targets:
            return CheckResult.PASSED  # this queue is a DLQ; its sources are checked instead
        redrive = _redrive(conf, self.graph, file_path)
        if not redrive:
            return CheckResult.FAILED
        try:
            count = int(redrive.get("maxReceiveCount"))
        except (TypeError, ValueError):
            return CheckResult.FAILED
        if not MIN_RECEIVE_COUNT <= count <= MAX_RECEIVE_COUNT:
            return CheckResult.FAILED
        dlq = next(
            (q for q in queues if mc.first(q, "arn") == redrive.get("deadLetterTargetArn")), None
        )
        if dlq is None or _retention(dlq) <= _retention(conf):
            return CheckResult.FAILED
        return CheckResult.PASSED


check = SqsQueueRedrivesToDlq()

"""Alarms: the signals that something is stuck or failing, to an encrypted SNS topic.

Each alarm is one `AlarmSpec`; adding one (e.g. on an EMF metric from runtime.telemetry, whose
`MetricRef` carries namespace, name and the exact dimension set) is one more entry in `specs`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from runtime import telemetry


@dataclass(frozen=True)
class AlarmsArgs:
    dlq_name: pulumi.Input[str]
    queue_name: pulumi.Input[str]
    ingest_mapping_uuid: pulumi.Input[str]
    key_arn: pulumi.Input[str]
    # The topic is encrypted with the key: CloudWatch can publish (and the first notification
    # arrive) only once the key policy admits it. None for an existing key.
    key_policy: pulumi.Resource | None
    queue_age_seconds: int
    processor_errors: int
    upload_failures: int
    # The `pipeline` dimension of the functions' EMF metrics (`<project>-<stack>`).
    pipeline: str
    email: str  # empty: no subscription
    tags: Mapping[str, str]
    # The function whose EMF metrics the alarms watch (the media function has its own).
    service: str = telemetry.PROCESSOR


@dataclass(frozen=True)
class AlarmSpec:
    """One CloudWatch alarm on one metric: `role` names the resource (`<component>-<role>`)."""

    role: str
    description: str
    namespace: str
    metric: str
    dimensions: Mapping[str, pulumi.Input[str]]
    statistic: str
    period: int
    threshold: float
    comparison: str


def specs(args: AlarmsArgs) -> list[AlarmSpec]:
    """DLQ not empty, oldest ingest message too old, ingest messages failing."""
    return [
        AlarmSpec(
            "dlq-not-empty",
            "Messages reached the DLQ: processing failed maxReceiveCount times.",
            "AWS/SQS",
            "ApproximateNumberOfMessagesVisible",
            {"QueueName": args.dlq_name},
            "Maximum",
            60,
            0,
            "GreaterThanThreshold",
        ),
        AlarmSpec(
            "ingest-oldest-message",
            "Uploads wait too long for processing.",
            "AWS/SQS",
            "ApproximateAgeOfOldestMessage",
            {"QueueName": args.queue_name},
            "Maximum",
            300,
            args.queue_age_seconds,
            "GreaterThanThreshold",
        ),
        # Not Lambda's Errors: the handler reports per-message failures in batchItemFailures and
        # returns normally, so Errors counts only crashes and timeouts and retries stayed silent
        # until the DLQ alarm, maxReceiveCount visibility timeouts later. The event source
        # mapping's FailedInvokeEventCount (metrics_config EventCount, stacks/compute.py) counts
        # events of failed invocations and of responses with batchItemFailures, per mapping, so
        # per stack; it also counts crashes and timeouts, which the EMF ProcessingRetries metric
        # (below, dimensioned by service and pipeline) cannot see.
        AlarmSpec(
            "processor-errors",
            "Ingest messages failed processing and return for retry (batchItemFailures, "
            "function errors, timeouts).",
            "AWS/Lambda",
            "FailedInvokeEventCount",
            {"EventSourceMappingUUID": args.ingest_mapping_uuid},
            "Sum",
            300,
            args.processor_errors,
            "GreaterThanOrEqualToThreshold",
        ),
        # The processor's own EMF metrics (runtime.telemetry): CloudWatch matches an alarm to
        # them only on exactly this namespace, name and dimension set.
        _emf(
            "processing-retries",
            "The processor returned uploads for retry (transient faults: throttling, 5xx, "
            "starved processing).",
            telemetry.MetricRef(telemetry.RETRIES.name, args.service),
            args.pipeline,
            args.processor_errors,
        ),
        _emf(
            "uploads-failed",
            "Many uploads ended failed (not an image, bombs, corrupt files, processing limits).",
            telemetry.MetricRef(telemetry.FAILURES.name, args.service),
            args.pipeline,
            args.upload_failures,
        ),
    ]


def _emf(
    role: str, description: str, ref: telemetry.MetricRef, pipeline: str, threshold: int
) -> AlarmSpec:
    return AlarmSpec(
        role,
        description,
        ref.namespace,
        ref.name,
        ref.dimensions(pipeline),
        "Sum",
        300,
        threshold,
        "GreaterThanOrEqualToThreshold",
    )


class Alarms(pulumi.ComponentResource):
    """The alarm topic (KMS-encrypted), its optional email subscription, and one alarm per spec."""

    def __init__(
        self, name: str, args: AlarmsArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("mediakit:stack:Alarms", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        tags = dict(args.tags)
        after_key_policy = pulumi.ResourceOptions(
            parent=self, depends_on=[args.key_policy] if args.key_policy is not None else []
        )

        self.topic = aws.sns.Topic(
            f"{name}-topic", kms_master_key_id=args.key_arn, tags=tags, opts=after_key_policy
        )
        if args.email:
            # Delivers nothing until the address confirms the subscription (docs/deploy.md).
            aws.sns.TopicSubscription(
                f"{name}-email",
                topic=self.topic.arn,
                protocol="email",
                endpoint=args.email,
                opts=child,
            )
        actions = [self.topic.arn]
        self.alarms: dict[str, aws.cloudwatch.MetricAlarm] = {}
        for spec in specs(args):
            self.alarms[spec.role] = aws.cloudwatch.MetricAlarm(
                f"{name}-{spec.role}",
                alarm_description=spec.description,
                namespace=spec.namespace,
                metric_name=spec.metric,
                dimensions=dict(spec.dimensions),
                statistic=spec.statistic,
                period=spec.period,
                evaluation_periods=1,
                threshold=spec.threshold,
                comparison_operator=spec.comparison,
                # No datapoints means nothing is happening, not that something is broken.
                treat_missing_data="notBreaching",
                alarm_actions=actions,
                ok_actions=actions,
                tags=tags,
                opts=after_key_policy,
            )
        self.register_outputs({"topic_arn": self.topic.arn})

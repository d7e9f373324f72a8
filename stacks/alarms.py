"""Alarms: the three signals that something is stuck or failing, to an encrypted SNS topic."""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_aws as aws


@dataclass(frozen=True)
class AlarmsArgs:
    dlq_name: pulumi.Input[str]
    queue_name: pulumi.Input[str]
    processor_function_name: pulumi.Input[str]
    key_arn: pulumi.Input[str]
    queue_age_seconds: int
    processor_errors: int
    email: str  # empty: no subscription


class Alarms(pulumi.ComponentResource):
    """DLQ not empty, oldest ingest message too old, processor errors."""

    def __init__(
        self, name: str, args: AlarmsArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("mediakit:stack:Alarms", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)

        self.topic = aws.sns.Topic(f"{name}-topic", kms_master_key_id=args.key_arn, opts=child)
        if args.email:
            aws.sns.TopicSubscription(
                f"{name}-email",
                topic=self.topic.arn,
                protocol="email",
                endpoint=args.email,
                opts=child,
            )
        actions = [self.topic.arn]

        def alarm(
            role: str,
            description: str,
            namespace: str,
            metric: str,
            dimensions: dict[str, pulumi.Input[str]],
            statistic: str,
            period: int,
            threshold: float,
            comparison: str,
        ) -> aws.cloudwatch.MetricAlarm:
            return aws.cloudwatch.MetricAlarm(
                f"{name}-{role}",
                alarm_description=description,
                namespace=namespace,
                metric_name=metric,
                dimensions=dimensions,
                statistic=statistic,
                period=period,
                evaluation_periods=1,
                threshold=threshold,
                comparison_operator=comparison,
                # No datapoints means nothing is happening, not that something is broken.
                treat_missing_data="notBreaching",
                alarm_actions=actions,
                ok_actions=actions,
                opts=child,
            )

        self.dlq_alarm = alarm(
            "dlq-not-empty",
            "Messages reached the DLQ: processing failed maxReceiveCount times.",
            "AWS/SQS",
            "ApproximateNumberOfMessagesVisible",
            {"QueueName": args.dlq_name},
            "Maximum",
            60,
            0,
            "GreaterThanThreshold",
        )
        self.age_alarm = alarm(
            "ingest-oldest-message",
            "Uploads wait too long for processing.",
            "AWS/SQS",
            "ApproximateAgeOfOldestMessage",
            {"QueueName": args.queue_name},
            "Maximum",
            300,
            args.queue_age_seconds,
            "GreaterThanThreshold",
        )
        self.errors_alarm = alarm(
            "processor-errors",
            "The processor Lambda failed invocations.",
            "AWS/Lambda",
            "Errors",
            {"FunctionName": args.processor_function_name},
            "Sum",
            300,
            args.processor_errors,
            "GreaterThanOrEqualToThreshold",
        )
        self.register_outputs({"topic_arn": self.topic.arn})
